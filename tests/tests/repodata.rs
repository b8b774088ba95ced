//! The rpm-md writer checked by real consumers: the albs solver, libsolv
//! (through Debian's python3-solv) and createrepo_c's own output for the
//! same packages.
//!
//! rpmbuild is required (scripts/setup.sh installs it); the other checks are
//! skipped (with a message) when the tool they need is not
//! installed.

use std::path::{Path, PathBuf};
use std::process::Command;

use albs_core::repo::{RepoWriteError, write_repo};
use albs_core::solve::{Job, Pool, Solver};
use albs_tests::fixtures::{self, files_under};

/// Arch-specific, with an epoch-less `Requires: foo >= 1.0` and a file
/// requires only filelists.xml can answer; its summary needs escaping.
const APP: &str = "%global debug_package %{nil}\nName: app\nVersion: 1.0\nRelease: 1\n\
Summary: a <tiny> & \"quoted\" app\nLicense: MIT\nURL: https://example.invalid/?a=1&b=2\n\
Requires: foo >= 1.0\nRequires: /usr/share/foo/data\nConflicts: bar < 2\n\
%description\nApp & <friends>.\n%files\n";

/// With an epoch, an extra versioned provide and a file outside primary.xml.
const FOO: &str = "Name: foo\nEpoch: 2\nVersion: 1.5\nRelease: 3\nSummary: foo\nLicense: MIT\n\
BuildArch: noarch\nProvides: libfoo = 1.5-3\nObsoletes: oldfoo < 1\n%description\nfoo\n\
%install\nmkdir -p %{buildroot}/usr/share/foo\necho x > %{buildroot}/usr/share/foo/data\n\
%files\n/usr/share/foo\n";

/// Noarch with a file under /usr/bin (listed in primary.xml).
const TOOL: &str = "Name: tool\nVersion: 0.1\nRelease: 1\nSummary: tool\nLicense: MIT\n\
BuildArch: noarch\nRequires: libfoo\n%description\ntool\n\
%install\nmkdir -p %{buildroot}/usr/bin\necho x > %{buildroot}/usr/bin/tool\n\
%files\n/usr/bin/tool\n";

/// Scriptlet, weak and ordering dependencies, config and ghost files and a
/// changelog: the parts of primary.xml and other.xml the others lack. Not
/// installable here (nothing provides its requires).
const MISC: &str = "Name: misc\nVersion: 3\nRelease: 1%{?dist}\nSummary: misc\nLicense: MIT\n\
BuildArch: noarch\nBuildRequires: make >= 4\nRequires(pre): shadow-utils\nRequires(post): coreutils >= 8\n\
Requires(preun): misc-helper = 1:2-3\nRequires: misc-lib\nRecommends: misc-doc\n\
Suggests: misc-extra > 1\nSupplements: bar\nEnhances: baz <= 4\nProvides: config(misc) = 3-1\n\
%description\nmisc\n%install\nmkdir -p %{buildroot}/etc %{buildroot}/var/log\n\
echo x > %{buildroot}/etc/misc.conf\ntouch %{buildroot}/var/log/misc.log\n\
%post\ntrue\n%files\n%config(noreplace) /etc/misc.conf\n%ghost /var/log/misc.log\n\
%changelog\n* Mon Nov 23 2026 A <a@example.invalid> - 3-1\n- second & <last>\n\n\
* Sun Nov 22 2026 B <b@example.invalid> - 2-1\n- first\n";

/// Builds the binary package of `spec` under `top`.
fn rpmbuild(top: &Path, name: &str, spec: &str) -> PathBuf {
    fixtures::rpmbuild(top, "-bb", name, spec)
        .rpm
        .expect("a binary package")
}

/// Builds the source package of `spec` under `top`.
fn srpm(top: &Path, name: &str, spec: &str) -> PathBuf {
    fixtures::rpmbuild(top, "-bs", name, spec)
        .srpm
        .expect("a source package")
}

/// Builds the four packages and copies them into `<repo>/Packages/`;
/// returns the copies.
fn packages(top: &Path, repo: &Path) -> Vec<PathBuf> {
    let built: Vec<PathBuf> = [("app", APP), ("foo", FOO), ("tool", TOOL), ("misc", MISC)]
        .into_iter()
        .map(|(n, s)| rpmbuild(top, n, s))
        .collect();
    copy_into(&built, repo)
}

fn copy_into(rpms: &[PathBuf], repo: &Path) -> Vec<PathBuf> {
    let dir = repo.join("Packages");
    std::fs::create_dir_all(&dir).unwrap();
    rpms.iter()
        .map(|p| {
            let to = dir.join(p.file_name().unwrap());
            std::fs::copy(p, &to).unwrap();
            to
        })
        .collect()
}

fn repodata_file(repo: &Path, kind: &str) -> PathBuf {
    let hits: Vec<PathBuf> = files_under(&repo.join("repodata"))
        .into_iter()
        .filter(|p| p.to_string_lossy().ends_with(&format!("-{kind}.xml.gz")))
        .collect();
    assert_eq!(hits.len(), 1, "{hits:?}");
    hits.into_iter().next().unwrap()
}

/// The machine arch rpmbuild built `app` for.
fn app_arch(rpms: &[PathBuf]) -> String {
    let name = rpms[0].file_name().unwrap().to_string_lossy().into_owned();
    let stem = name.strip_suffix(".rpm").unwrap();
    stem.rsplit('.').next().unwrap().to_owned()
}

/// Runs a Python script with Debian's python3 (where python3-solv lives);
/// `None` when it cannot run or `module` is not importable.
fn python(module: &str, script: &str, args: &[&Path]) -> Option<String> {
    let probe = Command::new("/usr/bin/python3")
        .args(["-c", &format!("import {module}")])
        .output()
        .ok()?;
    if !probe.status.success() {
        return None;
    }
    let out = Command::new("/usr/bin/python3")
        .arg("-c")
        .arg(script)
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    Some(String::from_utf8(out.stdout).unwrap())
}

#[test]
fn written_repository_loads_into_the_albs_solver() {
    let tmp = tempfile::tempdir().unwrap();
    let repo = tmp.path().join("repo");
    let rpms = packages(tmp.path(), &repo);
    let summary = write_repo(&repo, &rpms).unwrap();
    assert_eq!(summary.packages, 4);
    let kinds: Vec<&str> = summary.data.iter().map(|d| d.kind).collect();
    assert_eq!(kinds, ["primary", "filelists", "other"]);
    let repomd = std::fs::read_to_string(&summary.repomd).unwrap();
    for d in &summary.data {
        assert!(repomd.contains(&format!("<location href=\"{}\"/>", d.href)));
        assert!(repo.join(&d.href).is_file());
    }

    let arch = app_arch(&rpms);
    let mut pool = Pool::new();
    pool.set_arch(&arch);
    assert_eq!(pool.add_repo(&repo).unwrap(), 4);
    assert!(pool.ids().all(|p| pool.pkgid(p).is_some()));
    let mut nevras: Vec<String> = pool.ids().map(|p| pool.nevra(p)).collect();
    nevras.sort();
    assert_eq!(
        nevras,
        [
            format!("app-1.0-1.{arch}"),
            "foo-2:1.5-3.noarch".into(),
            "misc-3-1.noarch".into(),
            "tool-0.1-1.noarch".into()
        ]
    );
    // app's `Requires: /usr/share/foo/data` is answered by filelists.xml only.
    let sol = Solver::new(&pool)
        .solve(&[Job::Install("app".into()), Job::Install("tool".into())])
        .map_err(|p| p.lines.join("\n"))
        .unwrap();
    let mut got: Vec<String> = sol.packages.iter().map(|&p| pool.nevra(p)).collect();
    got.sort();
    nevras.retain(|n| !n.starts_with("misc-"));
    assert_eq!(got, nevras);
    // Without filelists.xml the file requires is unresolvable.
    let only_primary = Pool::from_primary(&repodata_file(&repo, "primary")).unwrap();
    assert!(
        Solver::new(&only_primary)
            .solve(&[Job::Install("app".into())])
            .is_err()
    );

    // Writing again replaces the metadata: still one file of each kind.
    let again = write_repo(&repo, &rpms[1..]).unwrap();
    assert_eq!(again.packages, 3);
    let mut pool = Pool::new();
    assert_eq!(pool.add_repo(&repo).unwrap(), 3);
}

const LIBSOLV: &str = r#"
import json, sys, solv
pool = solv.Pool()
pool.setdisttype(solv.Pool.DISTTYPE_RPM)
pool.setarch(sys.argv[4])
repo = pool.add_repo("albs")
assert repo.add_repomdxml(solv.xfopen(sys.argv[1]), 0)
assert repo.add_rpmmd(solv.xfopen(sys.argv[2]), None, 0)
assert repo.add_rpmmd(solv.xfopen(sys.argv[3]), "FL", solv.Repo.REPO_EXTEND_SOLVABLES)
pool.addfileprovides()
pool.createwhatprovides()
jobs = [pool.Job(solv.Job.SOLVER_INSTALL | solv.Job.SOLVER_SOLVABLE_NAME, pool.str2id(n))
        for n in ("app", "tool")]
solver = pool.Solver()
problems = solver.solve(jobs)
assert not problems, [str(p) for p in problems]
installed = sorted(str(s) for s in solver.transaction().newsolvables())
print(json.dumps({"nevras": sorted(str(s) for s in repo.solvables), "installed": installed}))
"#;

#[test]
fn libsolv_reads_the_written_repository() {
    let tmp = tempfile::tempdir().unwrap();
    let repo = tmp.path().join("repo");
    let rpms = packages(tmp.path(), &repo);
    let summary = write_repo(&repo, &rpms).unwrap();
    let arch = app_arch(&rpms);
    let Some(out) = python(
        "solv",
        LIBSOLV,
        &[
            &summary.repomd,
            &repodata_file(&repo, "primary"),
            &repodata_file(&repo, "filelists"),
            Path::new(&arch),
        ],
    ) else {
        eprintln!("python3-solv is not installed: skipped");
        return;
    };
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    let installed = serde_json::json!([
        format!("app-1.0-1.{arch}"),
        "foo-2:1.5-3.noarch",
        "tool-0.1-1.noarch"
    ]);
    let all = serde_json::json!([
        format!("app-1.0-1.{arch}"),
        "foo-2:1.5-3.noarch",
        "misc-3-1.noarch",
        "tool-0.1-1.noarch"
    ]);
    assert_eq!(v["nevras"], all, "{out}");
    assert_eq!(v["installed"], installed, "{out}");
}

/// Prints, per package of a primary.xml.gz, its filelists.xml.gz and
/// other.xml.gz, what
/// must agree between two writers (times, ordering and duplicate
/// dependencies left out; changelogs keep their order).
const DESCRIBE: &str = r#"
import gzip, json, sys
import xml.etree.ElementTree as ET
C = "{http://linux.duke.edu/metadata/common}"
R = "{http://linux.duke.edu/metadata/rpm}"
F = "{http://linux.duke.edu/metadata/filelists}"
O = "{http://linux.duke.edu/metadata/other}"
out = {}
root = ET.parse(gzip.open(sys.argv[1])).getroot()
assert int(root.get("packages")) == len(root)
for p in root.findall(C + "package"):
    v = p.find(C + "version")
    fmt = p.find(C + "format")
    d = {
        "arch": p.findtext(C + "arch"),
        "version": [v.get("epoch"), v.get("ver"), v.get("rel")],
        "pkgid": p.findtext(C + "checksum"),
        "checksum_type": p.find(C + "checksum").get("type"),
        "summary": p.findtext(C + "summary"),
        "description": p.findtext(C + "description"),
        "url": p.findtext(C + "url"),
        "location": p.find(C + "location").get("href"),
        "size": p.find(C + "size").get("package"),
        "installed": p.find(C + "size").get("installed"),
        "license": fmt.findtext(R + "license"),
        "sourcerpm": fmt.findtext(R + "sourcerpm"),
        "header_range": [fmt.find(R + "header-range").get("start"), fmt.find(R + "header-range").get("end")],
        "primary_files": sorted(([f.text, f.get("type")] for f in fmt.findall(C + "file")), key=json.dumps),
    }
    for kind in ("provides", "requires", "conflicts", "obsoletes", "recommends", "suggests", "supplements", "enhances"):
        el = fmt.find(R + kind)
        entries = [] if el is None else el.findall(R + "entry")
        d[kind] = sorted(set(tuple(e.get(a) for a in ("name", "flags", "epoch", "ver", "rel", "pre")) for e in entries), key=json.dumps)
    out[p.findtext(C + "name") + "." + p.findtext(C + "arch")] = d
fl = ET.parse(gzip.open(sys.argv[2])).getroot()
for p in fl.findall(F + "package"):
    d = out[p.get("name") + "." + p.get("arch")]
    assert d["pkgid"] == p.get("pkgid")
    d["files"] = sorted(([f.text, f.get("type")] for f in p.findall(F + "file")), key=json.dumps)
other = ET.parse(gzip.open(sys.argv[3])).getroot()
assert int(other.get("packages")) == len(other)
for p in other.findall(O + "package"):
    d = out[p.get("name") + "." + p.get("arch")]
    assert d["pkgid"] == p.get("pkgid")
    v = p.find(O + "version")
    assert [v.get("epoch"), v.get("ver"), v.get("rel")] == d["version"]
    d["changelogs"] = [[c.get("author"), c.get("date"), c.text] for c in p.findall(O + "changelog")]
print(json.dumps(out, sort_keys=True, indent=1))
"#;

#[test]
fn metadata_agrees_with_createrepo_c() {
    let tmp = tempfile::tempdir().unwrap();
    let ours = tmp.path().join("ours");
    let mut rpms = packages(tmp.path(), &ours);
    // A source package too: arch `src`, BuildRequires as requires.
    rpms.extend(copy_into(&[srpm(tmp.path(), "misc", MISC)], &ours));
    write_repo(&ours, &rpms).unwrap();
    let theirs = tmp.path().join("theirs");
    copy_into(&rpms, &theirs);
    let Ok(out) = Command::new("createrepo_c")
        .arg("--no-database")
        .arg(&theirs)
        .output()
    else {
        eprintln!("createrepo_c is not installed: skipped");
        return;
    };
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let describe = |repo: &Path| {
        python(
            "xml",
            DESCRIBE,
            &[
                &repodata_file(repo, "primary"),
                &repodata_file(repo, "filelists"),
                &repodata_file(repo, "other"),
            ],
        )
    };
    let Some(a) = describe(&ours) else {
        eprintln!("/usr/bin/python3 is not installed: skipped");
        return;
    };
    let b = describe(&theirs).unwrap();
    let a: serde_json::Value = serde_json::from_str(&a).unwrap();
    let b: serde_json::Value = serde_json::from_str(&b).unwrap();
    assert_eq!(a.as_object().unwrap().len(), 5);
    let (a, b) = (a.as_object().unwrap(), b.as_object().unwrap());
    assert_eq!(a.keys().collect::<Vec<_>>(), b.keys().collect::<Vec<_>>());
    let mut diffs = Vec::new();
    for (name, ours) in a {
        let ours = ours.as_object().unwrap();
        let theirs = b[name].as_object().unwrap();
        for (key, mine) in ours {
            if theirs.get(key) != Some(mine) {
                diffs.push(format!(
                    "{name} {key}: ours {mine} createrepo_c {}",
                    theirs.get(key).unwrap_or(&serde_json::Value::Null)
                ));
            }
        }
    }
    assert!(diffs.is_empty(), "{}", diffs.join("\n"));
}

#[test]
fn corrupt_package_fails_and_keeps_the_existing_repository() {
    let tmp = tempfile::tempdir().unwrap();
    let repo = tmp.path().join("repo");
    let rpms = packages(tmp.path(), &repo);
    let first = write_repo(&repo, &rpms).unwrap();
    let before = std::fs::read(&first.repomd).unwrap();
    let listing = files_under(&repo.join("repodata"));

    // A truncated copy of a real package.
    let bad = repo.join("Packages/broken-1-1.noarch.rpm");
    let bytes = std::fs::read(&rpms[1]).unwrap();
    std::fs::write(&bad, &bytes[..bytes.len().min(200)]).unwrap();
    let mut inputs = rpms.clone();
    inputs.insert(1, bad);
    let err = write_repo(&repo, &inputs).unwrap_err();
    assert!(matches!(err, RepoWriteError::Package { .. }), "{err}");
    assert!(err.to_string().contains("broken-1-1.noarch.rpm"), "{err}");
    assert_eq!(std::fs::read(&first.repomd).unwrap(), before);
    assert_eq!(files_under(&repo.join("repodata")), listing);
    let mut pool = Pool::new();
    assert_eq!(pool.add_repo(&repo).unwrap(), 4);

    // Into an empty directory: nothing is written.
    let empty = tmp.path().join("empty");
    let inputs = copy_into(&[repo.join("Packages/broken-1-1.noarch.rpm")], &empty);
    assert!(write_repo(&empty, &inputs).is_err());
    assert!(!empty.join("repodata").exists());
}

//! Publishing repositories that dnf trusts: incremental updates, atomic
//! swaps of `repomd.xml`, generations kept for a grace period, revert, and
//! `repomd.xml.asc` signed with an albs-sign key. The oracles are dnf
//! (install with `gpgcheck=1` and `repo_gpgcheck=1`, repoquery), sq,
//! createrepo_c and the writer that `repodata.rs` checks against
//! createrepo_c field by field.
//!
//! rpmbuild, dnf, sq and createrepo_c are installed by scripts/setup.sh; a
//! missing tool fails the test.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;
use std::time::Duration;

use albs_core::repo::{
    MdCompression, Repo, RepoError, RetainPolicy, STATE_DIR, verify_repo, write_repo,
};
use albs_sign::{KeyAlgorithm, SigningKey, sign_rpm};
use albs_tests::fixtures::{self, files_under};

/// Arch-specific, with a versioned requires and a file requires only
/// filelists.xml answers.
const APP: &str = "%global debug_package %{nil}\nName: app\nVersion: 1.0\nRelease: 1\n\
Summary: a <tiny> & \"quoted\" app\nLicense: MIT\nURL: https://example.invalid/?a=1&b=2\n\
Requires: foo >= 1.0\nRequires: /usr/share/foo/data\nConflicts: bar < 2\n\
%description\nApp & <friends>.\n%files\n";

/// With an epoch, an extra versioned provide and a file outside primary.xml.
const FOO: &str = "Name: foo\nEpoch: 2\nVersion: 1.5\nRelease: 3\nSummary: foo\nLicense: MIT\n\
BuildArch: noarch\nProvides: libfoo = 1.5-3\nObsoletes: oldfoo < 1\n%description\nfoo\n\
%install\nmkdir -p %{buildroot}/usr/share/foo\necho x > %{buildroot}/usr/share/foo/data\n\
%files\n/usr/share/foo\n";

/// Noarch with a file under /usr/bin, needing foo's libfoo.
const TOOL: &str = "Name: tool\nVersion: 0.1\nRelease: 1\nSummary: tool\nLicense: MIT\n\
BuildArch: noarch\nRequires: libfoo\n%description\ntool\n\
%install\nmkdir -p %{buildroot}/usr/bin\necho x > %{buildroot}/usr/bin/tool\n\
%files\n/usr/bin/tool\n";

/// Scriptlet, weak and ordering dependencies, config and ghost files and a
/// changelog.
const MISC: &str = "Name: misc\nVersion: 3\nRelease: 1\nSummary: misc\nLicense: MIT\n\
BuildArch: noarch\nRequires(pre): shadow-utils\nRequires(post): coreutils >= 8\n\
Requires(preun): misc-helper = 1:2-3\nRequires: misc-lib\nRecommends: misc-doc\n\
Suggests: misc-extra > 1\nSupplements: bar\nEnhances: baz <= 4\nProvides: config(misc) = 3-1\n\
%description\nmisc\n%install\nmkdir -p %{buildroot}/etc %{buildroot}/var/log\n\
echo x > %{buildroot}/etc/misc.conf\ntouch %{buildroot}/var/log/misc.log\n\
%post\ntrue\n%files\n%config(noreplace) /etc/misc.conf\n%ghost /var/log/misc.log\n\
%changelog\n* Mon Nov 23 2026 A <a@example.invalid> - 3-1\n- second & <last>\n";

/// A leaf package `name`, noarch.
fn leaf(name: &str, version: &str) -> String {
    format!(
        "Name: {name}\nVersion: {version}\nRelease: 1\nSummary: {name}\nLicense: MIT\n\
BuildArch: noarch\n%description\n{name}\n%install\nmkdir -p %{{buildroot}}/usr/share/{name}\n\
echo {version} > %{{buildroot}}/usr/share/{name}/v\n%files\n/usr/share/{name}\n"
    )
}

/// The example packages, built once per test binary.
fn built() -> &'static BTreeMap<&'static str, PathBuf> {
    static BUILT: OnceLock<(tempfile::TempDir, BTreeMap<&'static str, PathBuf>)> = OnceLock::new();
    &BUILT
        .get_or_init(|| {
            let top = tempfile::tempdir().unwrap();
            let mut out = BTreeMap::new();
            let extra: Vec<(&'static str, String)> = vec![
                ("leaf1", leaf("leaf1", "1")),
                ("leaf2", leaf("leaf2", "2")),
                ("leaf3", leaf("leaf3", "3")),
            ];
            for (name, spec) in [
                ("app", APP.to_owned()),
                ("foo", FOO.to_owned()),
                ("tool", TOOL.to_owned()),
                ("misc", MISC.to_owned()),
            ]
            .into_iter()
            .chain(extra)
            {
                let rpm = fixtures::rpmbuild(top.path(), "-bb", name, &spec)
                    .rpm
                    .expect("a binary package");
                out.insert(name, rpm);
            }
            (top, out)
        })
        .1
}

/// An RSA key made for this test binary.
fn key() -> &'static SigningKey {
    static KEY: OnceLock<SigningKey> = OnceLock::new();
    KEY.get_or_init(|| {
        SigningKey::generate("albs repo test <repo@albs.invalid>", KeyAlgorithm::Rsa4096).unwrap()
    })
}

/// Copies the packages `names` into `repo/Packages/`, signed with `key`
/// when given; returns the copies.
fn stock(repo: &Path, names: &[&str], key: Option<&SigningKey>) -> Vec<PathBuf> {
    let dir = repo.join("Packages");
    std::fs::create_dir_all(&dir).unwrap();
    names
        .iter()
        .map(|n| {
            let from = &built()[n];
            let to = dir.join(from.file_name().unwrap());
            match key {
                Some(k) => sign_rpm(from, &to, k).unwrap(),
                None => {
                    std::fs::copy(from, &to).unwrap();
                }
            }
            to
        })
        .collect()
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// dnf with no system configuration, its cache and installroot in `work`.
fn dnf(work: &Path, conf: &str, args: &[&str]) -> Output {
    std::fs::create_dir_all(work).unwrap();
    let conf_path = work.join("dnf.conf");
    std::fs::write(
        &conf_path,
        format!(
            "[main]\nreposdir=/dev/null\ncachedir={}\ngpgcheck=0\nkeepcache=0\n{conf}",
            work.join("cache").display()
        ),
    )
    .unwrap();
    Command::new("dnf")
        .arg(format!("--installroot={}", work.join("root").display()))
        .arg(format!("--config={}", conf_path.display()))
        .args(["--releasever=9", "--setopt=install_weak_deps=0"])
        .args(args)
        .output()
        .expect("dnf is not installed: run scripts/setup.sh")
}

/// A dnf repository section with signatures enforced.
fn signed_repo_conf(name: &str, repo: &Path, key: &Path) -> String {
    format!(
        "[{name}]\nname={name}\nbaseurl=file://{}\nenabled=1\ngpgcheck=1\nrepo_gpgcheck=1\ngpgkey=file://{}\n",
        repo.display(),
        key.display()
    )
}

/// Sorted lines of `dnf repoquery` over the repository in `repo`.
fn repoquery(work: &Path, repo: &Path, qf: &str) -> Vec<String> {
    let out = dnf(
        work,
        "",
        &[
            "-q",
            &format!("--repofrompath=q,file://{}", repo.display()),
            "--repo=q",
            "repoquery",
            "--qf",
            qf,
        ],
    );
    assert!(out.status.success(), "dnf repoquery: {}", text(&out));
    let mut lines: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_owned)
        .filter(|l| !l.is_empty())
        .collect();
    lines.sort();
    lines
}

/// Opens `dir`, makes the package set the .rpm files in it, and publishes,
/// signing with `key` when given.
fn publish_dir(dir: &Path, key: Option<&SigningKey>) -> albs_core::repo::Published {
    let mut repo = Repo::open(dir).unwrap();
    repo.sync().unwrap();
    let staged = repo.stage().unwrap();
    let sig = key.map(|k| k.sign_detached(staged.repomd()).unwrap());
    repo.commit(staged, sig.as_deref()).unwrap()
}

#[test]
fn dnf_installs_from_a_signed_repository_and_refuses_a_tampered_repomd() {
    let tmp = tempfile::tempdir().unwrap();
    let repo = tmp.path().join("repo");
    stock(&repo, &["foo", "tool", "leaf1"], Some(key()));
    let published = publish_dir(&repo, Some(key()));
    assert!(published.signed);
    assert!(repo.join("repodata/repomd.xml.asc").is_file());
    let key_file = tmp.path().join("RPM-GPG-KEY-albs");
    std::fs::write(&key_file, key().public_key_armored()).unwrap();
    let conf = signed_repo_conf("albs", &repo, &key_file);

    let work = tmp.path().join("install");
    let out = dnf(
        &work,
        &conf,
        &[
            "-y",
            "--disablerepo=*",
            "--enablerepo=albs",
            "install",
            "tool",
        ],
    );
    assert!(out.status.success(), "dnf install: {}", text(&out));
    // tool's libfoo came from foo: both are installed.
    assert!(work.join("root/usr/bin/tool").is_file(), "{}", text(&out));
    assert!(
        work.join("root/usr/share/foo/data").is_file(),
        "{}",
        text(&out)
    );

    // One byte more in repomd.xml: the signature no longer matches.
    let repomd = repo.join("repodata/repomd.xml");
    let mut bytes = std::fs::read(&repomd).unwrap();
    bytes.extend_from_slice(b"<!-- -->\n");
    std::fs::write(&repomd, &bytes).unwrap();
    let out = dnf(
        &tmp.path().join("tampered"),
        &conf,
        &[
            "-y",
            "--disablerepo=*",
            "--enablerepo=albs",
            "install",
            "leaf1",
        ],
    );
    assert!(!out.status.success(), "dnf accepted a tampered repomd.xml");
    assert!(
        text(&out).contains("GPG signature verification error"),
        "{}",
        text(&out)
    );
    assert!(!tmp.path().join("tampered/root/usr/share/leaf1").exists());
}

#[test]
fn sq_verifies_repomd_signature_and_rejects_a_modified_repomd() {
    let tmp = tempfile::tempdir().unwrap();
    let repo = tmp.path().join("repo");
    stock(&repo, &["foo", "leaf2"], None);
    // Published unsigned, then signed afterwards (as `albs repo sign` does).
    let mut r = Repo::open(&repo).unwrap();
    r.sync().unwrap();
    r.publish().unwrap();
    let repomd = repo.join("repodata/repomd.xml");
    let asc = repo.join("repodata/repomd.xml.asc");
    assert!(!asc.exists());
    r.attach_signature(
        &key()
            .sign_detached(&std::fs::read(&repomd).unwrap())
            .unwrap(),
    )
    .unwrap();
    let cert = tmp.path().join("cert.asc");
    std::fs::write(&cert, key().public_key_armored()).unwrap();
    let sq = |file: &Path| {
        Command::new("sq")
            .arg("verify")
            .arg("--signer-cert")
            .arg(&cert)
            .arg("--detached")
            .arg(&asc)
            .arg(file)
            .output()
            .expect("sq is not installed: run scripts/setup.sh")
    };
    let out = sq(&repomd);
    assert!(out.status.success(), "sq verify: {}", text(&out));
    let modified = tmp.path().join("repomd.xml");
    let good = std::fs::read_to_string(&repomd).unwrap();
    std::fs::write(&modified, good.replacen("<revision>", "<revision>1", 1)).unwrap();
    let out = sq(&modified);
    assert!(!out.status.success(), "sq accepted a modified repomd.xml");

    // Publishing a change without a key drops the stale signature.
    drop(r);
    stock(&repo, &["leaf3"], None);
    let p = publish_dir(&repo, None);
    assert!(p.changed && !p.signed);
    assert!(
        !asc.exists(),
        "a signature of the previous repomd.xml was left"
    );
}

#[test]
fn dnf_repoquery_sees_the_same_packages_as_with_createrepo_c() {
    let tmp = tempfile::tempdir().unwrap();
    let names = ["app", "foo", "tool", "misc"];
    let ours = tmp.path().join("ours");
    stock(&ours, &names, None);
    let theirs = tmp.path().join("theirs");
    stock(&theirs, &names, None);
    let out = Command::new("createrepo_c")
        .arg("--no-database")
        .arg(&theirs)
        .output()
        .expect("createrepo_c is not installed: run scripts/setup.sh");
    assert!(out.status.success(), "createrepo_c: {}", text(&out));

    let qf = "%{name}-%{epoch}:%{version}-%{release}.%{arch}\n\
provides %{provides}\nrequires %{requires}\nrequires_pre %{requires_pre}\n\
conflicts %{conflicts}\nobsoletes %{obsoletes}\nrecommends %{recommends}\n\
suggests %{suggests}\nsupplements %{supplements}\nenhances %{enhances}\n\
files %{files}\nsize %{size}";
    for compression in [MdCompression::Gz, MdCompression::Zst] {
        let mut repo = Repo::open(&ours).unwrap();
        repo.set_compression(compression);
        repo.sync().unwrap();
        let p = repo.publish().unwrap();
        assert!(
            p.files
                .iter()
                .all(|f| f.ends_with(&format!(".xml.{}", compression.extension()))),
            "{:?}",
            p.files
        );
        drop(repo);
        let a = repoquery(
            &tmp.path().join(format!("q-ours-{compression:?}")),
            &ours,
            qf,
        );
        let b = repoquery(&tmp.path().join("q-theirs"), &theirs, qf);
        assert!(a.iter().any(|l| l.starts_with("app-0:1.0-1.")), "{a:?}");
        assert!(a.iter().any(|l| l == "libfoo = 1.5-3"), "{a:?}");
        assert!(a.iter().any(|l| l == "/usr/share/foo/data"), "{a:?}");
        assert!(a.iter().any(|l| l.contains("recommends misc-doc")), "{a:?}");
        assert_eq!(a, b, "{compression:?}");
    }
}

/// The open checksums (uncompressed content) of primary, filelists, other.
fn contents(dir: &Path) -> Vec<(String, String)> {
    verify_repo(dir)
        .unwrap()
        .into_iter()
        .map(|f| (f.kind, f.open_checksum))
        .collect()
}

/// Copies the package files into `to`, same relative paths and mtimes.
fn mirror(from: &Path, to: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for f in files_under(&from.join("Packages")) {
        let dest = to.join(f.strip_prefix(from).unwrap());
        std::fs::create_dir_all(dest.parent().unwrap()).unwrap();
        std::fs::copy(&f, &dest).unwrap();
        let mtime = std::fs::metadata(&f).unwrap().modified().unwrap();
        std::fs::File::options()
            .write(true)
            .open(&dest)
            .unwrap()
            .set_modified(mtime)
            .unwrap();
        out.push(dest);
    }
    out
}

#[test]
fn incremental_add_and_remove_give_the_metadata_of_a_full_rewrite() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("repo");
    let first = stock(&dir, &["foo", "tool", "leaf1"], None);
    let mut repo = Repo::open(&dir).unwrap();
    assert_eq!(repo.add(&first).unwrap().len(), 3);
    repo.publish().unwrap();
    drop(repo);

    // Reopened: a new package is read, the others come from their fragments.
    let more = stock(&dir, &["misc", "leaf2"], None);
    let mut repo = Repo::open(&dir).unwrap();
    let sync = repo.sync().unwrap();
    assert_eq!((sync.read, sync.reused, sync.removed), (2, 3, 0));
    repo.publish().unwrap();
    let removed = repo.remove(&["tool-0.1-1.noarch".into()]).unwrap();
    assert_eq!(removed, ["tool-0.1-1.noarch"]);
    // Removal by path and by NEVRA with epoch.
    repo.remove(&[more[1].display().to_string()]).unwrap();
    assert_eq!(
        repo.add(&stock(&dir, &["leaf3"], None)).unwrap(),
        ["leaf3-3-1.noarch"]
    );
    assert!(matches!(
        repo.remove(&["foo-1.5-3.noarch".into()]),
        Err(RepoError::NoMatch { .. })
    ));
    repo.remove(&["foo-2:1.5-3.noarch".into()]).unwrap();
    repo.add(&[first[0].clone()]).unwrap();
    let p = repo.publish().unwrap();
    assert_eq!(p.packages, 4);
    let mut listed: Vec<String> = repo.packages().into_iter().map(|p| p.nevra).collect();
    listed.sort();
    assert_eq!(
        listed,
        [
            "foo-2:1.5-3.noarch",
            "leaf1-1-1.noarch",
            "leaf3-3-1.noarch",
            "misc-3-1.noarch"
        ]
    );
    drop(repo);

    // The same files (paths and mtimes) written from scratch, twice: by a
    // fresh Repo and by write_repo, the writer checked against createrepo_c.
    let incremental = contents(&dir);
    let full = tmp.path().join("full");
    let mut files = mirror(&dir, &full);
    files.retain(|f| {
        let n = f.file_name().unwrap().to_string_lossy();
        !n.starts_with("tool-") && !n.starts_with("leaf2-")
    });
    files.sort();
    write_repo(&full, &files).unwrap();
    assert_eq!(contents(&full), incremental);
    let fresh = tmp.path().join("fresh");
    for f in mirror(&full, &fresh) {
        let n = f.file_name().unwrap().to_string_lossy().into_owned();
        if n.starts_with("tool-") || n.starts_with("leaf2-") {
            std::fs::remove_file(f).unwrap();
        }
    }
    publish_dir(&fresh, None);
    assert_eq!(contents(&fresh), incremental);
}

/// Every file under `repodata/`, with its bytes.
fn snapshot(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    files_under(&dir.join("repodata"))
        .into_iter()
        .map(|f| {
            (
                f.file_name().unwrap().to_string_lossy().into_owned(),
                std::fs::read(&f).unwrap(),
            )
        })
        .collect()
}

/// The names of packages dnf sees in `dir`.
fn dnf_names(work: &Path, dir: &Path) -> Vec<String> {
    repoquery(work, dir, "%{name}")
}

#[test]
fn revert_restores_the_previous_repodata_byte_for_byte() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("repo");
    stock(&dir, &["foo", "leaf1"], None);
    let first = publish_dir(&dir, Some(key()));
    let before = snapshot(&dir);
    assert!(before.contains_key("repomd.xml.asc"));

    stock(&dir, &["leaf2"], None);
    let second = publish_dir(&dir, None);
    assert_ne!(second.generation, first.generation);
    assert!(!dir.join("repodata/repomd.xml.asc").exists());
    assert_eq!(
        dnf_names(&tmp.path().join("q2"), &dir),
        ["foo", "leaf1", "leaf2"]
    );

    let mut repo = Repo::open(&dir).unwrap();
    let back = repo.revert().unwrap();
    assert_eq!(back.generation, first.generation);
    // The second generation's files stay within the grace period; the files
    // the first names, repomd.xml and its signature are the old bytes.
    let after = snapshot(&dir);
    for (name, bytes) in &before {
        assert_eq!(after.get(name), Some(bytes), "{name} differs after revert");
    }
    for f in &second.files {
        assert!(
            after.contains_key(f),
            "{f} was pruned within the grace period"
        );
    }
    verify_repo(&dir).unwrap();
    assert_eq!(dnf_names(&tmp.path().join("q1"), &dir), ["foo", "leaf1"]);
    // The package set is the first generation's again.
    let mut nevras: Vec<String> = repo.packages().into_iter().map(|p| p.nevra).collect();
    nevras.sort();
    assert_eq!(nevras, ["foo-2:1.5-3.noarch", "leaf1-1-1.noarch"]);
    // Nothing before the first generation.
    assert!(matches!(repo.revert(), Err(RepoError::NoPrevious { .. })));
}

#[test]
fn a_crash_between_staging_and_commit_leaves_the_old_repository() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("repo");
    stock(&dir, &["foo", "tool"], None);
    publish_dir(&dir, None);
    let before = snapshot(&dir);

    stock(&dir, &["leaf1", "misc"], None);
    let mut repo = Repo::open(&dir).unwrap();
    repo.sync().unwrap();
    let staged = repo.stage().unwrap();
    // The new metadata is on disk...
    for d in staged.data() {
        assert!(dir.join(&d.href).is_file(), "{} not staged", d.href);
    }
    // ...and then the process dies before repomd.xml is replaced.
    drop(staged);
    drop(repo);

    let after = snapshot(&dir);
    assert_eq!(after["repomd.xml"], before["repomd.xml"]);
    for (name, bytes) in &before {
        assert_eq!(after.get(name), Some(bytes), "{name} changed");
    }
    assert_eq!(verify_repo(&dir).unwrap().len(), 3);
    assert_eq!(dnf_names(&tmp.path().join("q"), &dir), ["foo", "tool"]);

    // The next writer publishes normally.
    let p = publish_dir(&dir, None);
    assert_eq!(p.packages, 4);
    verify_repo(&dir).unwrap();
    assert_eq!(
        dnf_names(&tmp.path().join("q-next"), &dir),
        ["foo", "leaf1", "misc", "tool"]
    );
}

#[test]
fn old_generations_are_kept_within_the_grace_period_and_pruned_after() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("repo");
    stock(&dir, &["foo"], None);
    let open = |grace: u64| {
        let mut r = Repo::open(&dir).unwrap();
        r.set_retain(RetainPolicy {
            generations: 1,
            grace: Duration::from_secs(grace),
        });
        r
    };
    let mut repo = open(3600);
    repo.sync().unwrap();
    let g1 = repo.publish().unwrap();
    let g1_repomd = std::fs::read(&g1.repomd).unwrap();
    drop(repo);

    stock(&dir, &["leaf1"], None);
    let mut repo = open(3600);
    repo.sync().unwrap();
    let g2 = repo.publish().unwrap();
    assert!(g2.pruned.is_empty(), "{:?}", g2.pruned);
    // A client holding g1's repomd.xml still finds every file it names.
    for f in &g1.files {
        assert!(dir.join("repodata").join(f).is_file(), "{f} is gone");
    }
    assert_eq!(repo.generations().0.len(), 2);
    drop(repo);

    // The retention is saved with the repository: a writer that does not
    // set it keeps the earlier one.
    stock(&dir, &["leaf2"], None);
    let mut repo = Repo::open(&dir).unwrap();
    assert_eq!(repo.retain().grace, Duration::from_secs(3600));
    repo.set_retain(RetainPolicy {
        generations: 1,
        grace: Duration::ZERO,
    });
    repo.sync().unwrap();
    let g3 = repo.publish().unwrap();
    let mut gone: Vec<String> = g1.files.iter().chain(&g2.files).cloned().collect();
    gone.sort();
    assert_eq!(g3.pruned, gone);
    for f in &gone {
        assert!(!dir.join("repodata").join(f).exists(), "{f} was kept");
    }
    for f in &g3.files {
        assert!(dir.join("repodata").join(f).is_file());
    }
    assert_eq!(
        repo.generations(),
        (vec![g3.generation], Some(g3.generation))
    );
    let copies = files_under(&dir.join(STATE_DIR).join("generations"));
    assert_eq!(copies.len(), 1, "{copies:?}");
    assert!(matches!(repo.revert(), Err(RepoError::NoPrevious { .. })));
    assert_ne!(std::fs::read(&g3.repomd).unwrap(), g1_repomd);
    verify_repo(&dir).unwrap();
}

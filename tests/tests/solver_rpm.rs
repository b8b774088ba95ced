//! The solver on real packages: `.rpm` headers read into the pool, a
//! repository made by createrepo_c (file requires resolved through
//! filelists.xml), and the build order of SRPMs made by rpmbuild.
//!
//! rpmbuild is required (scripts/setup.sh installs it); the createrepo_c
//! check is skipped (with a message) when createrepo_c is not installed.

use std::path::{Path, PathBuf};
use std::process::Command;

use albs_core::solve::order::{build_order, input_from_srpm};
use albs_core::solve::{DepKind, Job, Pool, Solver};
use albs_tests::fixtures::{self, files_under};

const FOO: &str = "Name: foo\nEpoch: 1\nVersion: 2.0\nRelease: 3\nSummary: t\nLicense: MIT\n\
BuildArch: noarch\nBuildRequires: make >= 4\nProvides: libfoo = 2.0\nObsoletes: oldfoo < 2\n\
Conflicts: bar < 1\nRecommends: foo-doc\n%description\nt\n%install\n\
mkdir -p %{buildroot}/usr/libexec/foo %{buildroot}/usr/bin\n\
echo x > %{buildroot}/usr/libexec/foo/helper\necho x > %{buildroot}/usr/bin/foo\n\
%files\n/usr/libexec/foo\n/usr/bin/foo\n";

const APP: &str = "Name: app\nVersion: 1\nRelease: 1\nSummary: t\nLicense: MIT\n\
BuildArch: noarch\nBuildRequires: libfoo\nRequires: /usr/libexec/foo/helper\nRequires: libfoo >= 2\n\
%description\nt\n%files\n";

/// Builds binary and source packages of `spec` under `top`.
fn rpmbuild(top: &Path, name: &str, spec: &str) -> (PathBuf, PathBuf) {
    let built = fixtures::rpmbuild(top, "-ba", name, spec);
    (
        built.rpm.expect("a binary package"),
        built.srpm.expect("a source package"),
    )
}

fn strs(pool: &Pool, pkg: albs_core::solve::PkgId, kind: DepKind) -> Vec<String> {
    let mut v: Vec<String> = pool
        .deps(pkg, kind)
        .iter()
        .map(|&d| pool.dep_str(d))
        .collect();
    v.sort();
    v
}

fn install(pool: &Pool, name: &str) -> Result<Vec<String>, String> {
    let sol = Solver::new(pool)
        .solve(&[Job::Install(name.into())])
        .map_err(|p| p.lines.join("\n"))?;
    let mut v: Vec<String> = sol.packages.iter().map(|&p| pool.nevra(p)).collect();
    v.sort();
    Ok(v)
}

#[test]
fn rpm_headers_into_the_pool() {
    let tmp = tempfile::tempdir().unwrap();
    let (foo, foo_src) = rpmbuild(tmp.path(), "foo", FOO);
    let (app, _) = rpmbuild(tmp.path(), "app", APP);
    let mut pool = Pool::new();
    let ids = pool.add_rpms([&foo, &app]).unwrap();
    let (f, a) = (ids[0], ids[1]);
    assert_eq!(pool.nevra(f), "foo-1:2.0-3.noarch");
    assert_eq!(pool.nevra(a), "app-1-1.noarch");
    let provides = strs(&pool, f, DepKind::Provides);
    assert!(
        provides.contains(&"libfoo = 2.0".to_string()),
        "{provides:?}"
    );
    assert!(
        provides.contains(&"foo = 1:2.0-3".to_string()),
        "{provides:?}"
    );
    assert_eq!(strs(&pool, f, DepKind::Obsoletes), ["oldfoo < 2"]);
    assert_eq!(strs(&pool, f, DepKind::Conflicts), ["bar < 1"]);
    assert_eq!(strs(&pool, f, DepKind::Recommends), ["foo-doc"]);
    let files = strs(&pool, f, DepKind::Files);
    assert!(
        files.contains(&"/usr/libexec/foo/helper".to_string())
            && files.contains(&"/usr/libexec/foo".to_string()),
        "{files:?}"
    );
    let requires = strs(&pool, a, DepKind::Requires);
    assert_eq!(requires, ["/usr/libexec/foo/helper", "libfoo >= 2"]);
    assert!(requires.iter().all(|r| !r.starts_with("rpmlib(")));
    assert_eq!(
        install(&pool, "app").unwrap(),
        ["app-1-1.noarch", "foo-1:2.0-3.noarch"]
    );

    // A source package keeps its arch as `src` and its BuildRequires as requires.
    let s = pool.add_rpm(&foo_src).unwrap();
    assert_eq!(pool.nevra(s), "foo-1:2.0-3.src");
    assert_eq!(strs(&pool, s, DepKind::Requires), ["make >= 4"]);
    let input = input_from_srpm(&foo_src, None).unwrap();
    assert_eq!(input.build_requires, ["make >= 4"]);
    assert_eq!(input.produces[0], "foo = 1:2.0-3");
    // A binary package is not an SRPM.
    assert!(input_from_srpm(&foo, None).is_err());
}

#[test]
fn createrepo_c_repository_resolves_file_requires_through_filelists() {
    let tmp = tempfile::tempdir().unwrap();
    let (foo, foo_src) = rpmbuild(tmp.path(), "foo", FOO);
    let (app, app_src) = rpmbuild(tmp.path(), "app", APP);
    let repo = tmp.path().join("repo");
    std::fs::create_dir(&repo).unwrap();
    for p in [&foo, &app] {
        std::fs::copy(p, repo.join(p.file_name().unwrap())).unwrap();
    }
    let Ok(out) = Command::new("createrepo_c")
        .arg("--no-database")
        .arg(&repo)
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

    // primary.xml alone lists /usr/bin/foo but not /usr/libexec/foo/helper.
    let primary = files_under(&repo.join("repodata"))
        .into_iter()
        .find(|p| p.to_string_lossy().contains("primary.xml"))
        .unwrap();
    let only_primary = Pool::from_primary(&primary).unwrap();
    let err = install(&only_primary, "app").unwrap_err();
    assert!(err.contains("/usr/libexec/foo/helper"), "{err}");
    assert!(
        only_primary
            .lookup("/usr/bin/foo")
            .is_some_and(|id| !only_primary.providers_of_name(id).is_empty())
    );

    let mut pool = Pool::new();
    assert_eq!(pool.add_repo(&repo).unwrap(), 2);
    // createrepo_c records pkgids, so filelists entries match by checksum.
    assert!(pool.ids().all(|p| pool.pkgid(p).is_some()));
    assert_eq!(
        install(&pool, "app").unwrap(),
        ["app-1-1.noarch", "foo-1:2.0-3.noarch"]
    );

    // The SRPMs order: app build-requires libfoo, which foo produces when
    // its binary provides are given.
    let mut a = input_from_srpm(&app_src, None).unwrap();
    let mut f = input_from_srpm(&foo_src, None).unwrap();
    assert_eq!(a.build_requires, ["libfoo"]);
    let o = build_order(&[a.clone(), f.clone()]).unwrap();
    assert_eq!(o.external.len(), 2, "without subpackage provides: {o:?}");
    f.produces = strs(
        &pool,
        pool.by_name(pool.lookup("foo").unwrap())[0],
        DepKind::Provides,
    );
    a.produces.clear();
    let o = build_order(&[a, f]).unwrap();
    let names: Vec<&str> = o.steps.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, ["foo", "app"]);
    assert_eq!(o.external, [("foo".to_string(), "make >= 4".to_string())]);
}

/// A spec of a package without files: `name`, `version`, extra tag lines.
fn tiny(name: &str, version: &str, tags: &str) -> String {
    format!(
        "Name: {name}\nVersion: {version}\nRelease: 1\nSummary: t\nLicense: MIT\nBuildArch: noarch\n\
         {tags}%description\nt\n%files\n"
    )
}

/// Runs rpm on a database of its own; returns (success, stdout + stderr).
fn rpm(db: &Path, args: &[&str]) -> (bool, String) {
    let out = Command::new("rpm")
        .arg("--dbpath")
        .arg(db)
        .args(args)
        .output()
        .expect("rpm is not installed: run scripts/setup.sh");
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    (out.status.success(), text)
}

fn rpm_qa(db: &Path) -> Vec<String> {
    let (ok, text) = rpm(db, &["-qa", "--qf", "%{NEVRA}\\n"]);
    assert!(ok, "{text}");
    let mut v: Vec<String> = text.lines().map(str::to_owned).collect();
    v.sort();
    v
}

/// Update and erase transactions computed by albs, applied by rpm itself
/// (with its dependency checks on) to an rpm database: rpm accepts them and
/// ends with exactly the packages albs predicted; what albs refuses, rpm
/// refuses too.
#[test]
fn transactions_applied_by_rpm() {
    let tmp = tempfile::tempdir().unwrap();
    let specs = [
        ("lib", "1", "Provides: libx = 1\n"),
        ("lib", "2", "Provides: libx = 2\n"),
        ("app", "1", "Requires: libx\n"),
        ("app", "2", "Requires: lib >= 2\n"),
        ("kernel", "1", ""),
        ("kernel", "2", ""),
        ("old", "1", ""),
        ("new", "2", "Obsoletes: old < 2\nProvides: old = 2\n"),
    ];
    let mut files = Vec::new();
    for (i, (name, version, tags)) in specs.iter().enumerate() {
        let top = tmp.path().join(format!("b{i}"));
        std::fs::create_dir_all(&top).unwrap();
        let built = fixtures::rpmbuild(&top, "-bb", name, &tiny(name, version, tags));
        files.push(built.rpm.expect("a binary package"));
    }
    let mut pool = Pool::new();
    let ids = pool.add_rpms(&files).unwrap();
    let file_of = |p: albs_core::solve::PkgId| -> String {
        let k = ids.iter().position(|&q| q == p).expect("built");
        files[k].display().to_string()
    };
    let db = tmp.path().join("db");
    std::fs::create_dir_all(&db).unwrap();
    let (ok, text) = rpm(&db, &["--initdb"]);
    assert!(ok, "{text}");
    let first: Vec<String> = [0, 2, 4, 6]
        .iter()
        .map(|&k| files[k].display().to_string())
        .collect();
    let mut args = vec!["-i", "--justdb", "--nosignature"];
    args.extend(first.iter().map(String::as_str));
    let (ok, text) = rpm(&db, &args);
    assert!(ok, "{text}");
    let installed: Vec<_> = rpm_qa(&db)
        .iter()
        .map(|n| {
            pool.find_nevra(n)
                .unwrap_or_else(|| panic!("{n} not in the pool"))
        })
        .collect();
    assert_eq!(installed.len(), 4);

    // Erasing lib: albs refuses while app needs it, and so does rpm.
    let mut solver = Solver::new(&pool);
    solver.set_installed(&installed);
    let err = solver.solve(&[Job::Erase("lib".into())]).unwrap_err();
    assert!(
        err.to_string().contains("app-1-1.noarch requires libx"),
        "{err}"
    );
    let (ok, text) = rpm(&db, &["-e", "--test", "--justdb", "lib"]);
    assert!(!ok && text.contains("is needed by"), "{text}");
    // With erasing allowed, albs takes app along and rpm agrees.
    solver.set_allow_erase(true);
    let sol = solver.solve(&[Job::Erase("lib".into())]).unwrap();
    let tx = solver.transaction(&sol);
    let names: Vec<String> = tx.steps.iter().map(|s| s.describe(&pool)).collect();
    assert_eq!(names, ["erase app-1-1.noarch", "erase lib-1-1.noarch"]);
    let (ok, text) = rpm(&db, &["-e", "--test", "--justdb", "lib", "app"]);
    assert!(ok, "{text}");

    // Update everything, then let rpm apply it: kernel installs next to
    // the old one, lib and app upgrade together, new replaces old.
    let mut solver = Solver::new(&pool);
    solver.set_installed(&installed);
    let sol = solver.solve(&[Job::UpdateAll]).unwrap();
    let tx = solver.transaction(&sol);
    let names: Vec<String> = tx.steps.iter().map(|s| s.describe(&pool)).collect();
    assert_eq!(
        names,
        [
            "upgrade app-1-1.noarch -> app-2-1.noarch",
            "install kernel-2-1.noarch",
            "upgrade lib-1-1.noarch -> lib-2-1.noarch",
            "install new-2-1.noarch (obsoletes old-1-1.noarch)",
        ]
    );
    let (mut side, mut upgrade) = (Vec::new(), Vec::new());
    for s in &tx.steps {
        let p = s.new_package().expect("no erasures here");
        if solver.is_installonly(p) {
            side.push(file_of(p));
        } else {
            upgrade.push(file_of(p));
        }
    }
    let mut args = vec!["-i", "--justdb", "--nosignature"];
    args.extend(side.iter().map(String::as_str));
    let (ok, text) = rpm(&db, &args);
    assert!(ok, "{text}");
    let mut args = vec!["-U", "--justdb", "--nosignature"];
    args.extend(upgrade.iter().map(String::as_str));
    let (ok, text) = rpm(&db, &args);
    assert!(ok, "{text}");
    let mut want: Vec<String> = sol.packages.iter().map(|&p| pool.nevra(p)).collect();
    want.sort();
    assert_eq!(rpm_qa(&db), want);
}

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

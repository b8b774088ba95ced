//! The test system's [`RootTester`] on packages made by rpmbuild: the example
//! packages pass every stage, a dangling symlink fails `integrity`, failing
//! third-party tests fail `third-party`, and after `uninstall` the root's rpm
//! database (read by rpm itself) is empty.
//!
//! Needs rpm, rpmbuild, bubblewrap, rpmlint, bats and git (scripts/setup.sh).

use std::path::{Path, PathBuf};
use std::process::Command;

use albs_core::build::Sandbox;
use albs_core::model::Arch;
use albs_core::platform::Platforms;
use albs_core::test::{TestReport, TestStage, Tester};
use albs_core::tester::{DBPATH, RootTester};
use albs_tests::fixtures;

/// Builds the binary packages of the examples (hello, hello-extras(-devel), albs-docs).
fn build_examples(dir: &Path) -> Vec<PathBuf> {
    let ex = fixtures::make_examples(&dir.join("fx"));
    let top = dir.join("top");
    for name in ["hello", "hello-extras", "albs-docs"] {
        let repo = ex.repo(name);
        let sources = if repo.join("SOURCES").is_dir() {
            repo.join("SOURCES")
        } else {
            repo.clone()
        };
        if name == "hello" {
            let blob = std::fs::read_dir(&ex.lookaside)
                .unwrap()
                .next()
                .expect("the hello tarball in the lookaside store")
                .unwrap()
                .path();
            std::fs::copy(blob, sources.join("hello-1.0.tar.gz")).unwrap();
        }
        let spec = fixtures::files_under(&repo)
            .into_iter()
            .find(|p| p.extension().is_some_and(|e| e == "spec"))
            .unwrap();
        let out = Command::new("rpmbuild")
            .args(["-bb", "--nodeps", "--define"])
            .arg(format!("_topdir {}", top.display()))
            .arg("--define")
            .arg(format!("_sourcedir {}", sources.display()))
            .args(["--define", "dist .el9"])
            .arg(&spec)
            .output()
            .expect("rpmbuild is not installed: run scripts/setup.sh");
        assert!(
            out.status.success(),
            "rpmbuild {name}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let rpms = fixtures::files_under(&top.join("RPMS"));
    assert_eq!(rpms.len(), 4, "{rpms:?}");
    rpms
}

fn write(path: &Path, text: &str) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
}

/// A git repository of third-party tests made of `files` (path, content).
fn tests_repo(dir: &Path, files: &[(&str, &str)]) -> PathBuf {
    std::fs::create_dir_all(dir).unwrap();
    for (p, text) in files {
        write(&dir.join(p), text);
    }
    fixtures::git(dir, &["init", "-q", "-b", "main"]);
    fixtures::git(dir, &["add", "-A"]);
    fixtures::git(dir, &["commit", "-q", "-m", "tests"]);
    dir.to_owned()
}

async fn run(tester: &RootTester, rpms: &[PathBuf]) -> TestReport {
    let platforms = Platforms::bundled();
    let platform = platforms.get("almalinux-9").unwrap();
    tester.test(rpms, platform, &Arch::host()).await.unwrap()
}

fn stage<'a>(report: &'a TestReport, name: &str) -> &'a TestStage {
    report
        .stages
        .iter()
        .find(|s| s.name == name)
        .unwrap_or_else(|| panic!("no {name} stage in {report:#?}"))
}

fn rpm_qa(root: &Path) -> Vec<String> {
    let out = Command::new("rpm")
        .arg("--root")
        .arg(root)
        .args(["--dbpath", DBPATH, "-qa"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_owned)
        .collect()
}

const PASSING_TESTS: &[(&str, &str)] = &[
    (
        "hello/01-greets.sh",
        "#!/bin/sh\nset -e\nout=$(hello tester)\ntest \"$out\" = 'Hello, tester! (built from git by albs)'\n",
    ),
    (
        "hello/02-tap.sh",
        "echo 'TAP version 13'\necho 1..2\necho 'ok 1 - hello is on PATH'\necho 'ok 2 - network # SKIP none in the sandbox'\n",
    ),
    (
        "hello-extras/extras.bats",
        "@test \"hello-extras greets everyone\" {\n  run hello-extras ann bob\n  [ \"$status\" -eq 0 ]\n  [ \"${lines[1]}\" = 'Hello, bob! (built from git by albs)' ]\n}\n",
    ),
    (
        "albs-docs/readme.py",
        "import os, sys\np = os.path.join(os.environ['ALBS_TEST_ROOT'], 'usr/share/doc/albs-docs/README.examples')\nsys.exit(0 if os.path.getsize(p) > 0 else 1)\n",
    ),
];

#[tokio::test]
async fn examples_pass_every_stage_and_uninstall_empties_the_rpm_db() {
    let tmp = tempfile::tempdir().unwrap();
    let rpms = build_examples(tmp.path());
    let tests = tests_repo(&tmp.path().join("tests-git"), PASSING_TESTS);
    let work = tmp.path().join("work");
    let tester = RootTester::detect()
        .with_tests(format!("{}#main", tests.display()))
        .with_work_dir(&work);
    let report = run(&tester, &rpms).await;
    let names: Vec<&str> = report.stages.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "install",
            "integrity",
            "rpmlint",
            "third-party",
            "uninstall"
        ]
    );
    assert!(report.passed(), "{report:#?}");

    let install = stage(&report, "install");
    assert!(
        install
            .log
            .contains("host-provided: libc.so.6(GLIBC_2.34)(64bit)"),
        "{}",
        install.log
    );
    assert!(
        install.log.contains("host-provided: /bin/sh"),
        "{}",
        install.log
    );
    let integrity = stage(&report, "integrity");
    assert!(
        integrity
            .log
            .contains("/usr/bin/hello needs libc.so.6: host library"),
        "{}",
        integrity.log
    );
    let third = stage(&report, "third-party");
    assert!(
        third.log.contains("third-party tests cloned from "),
        "{}",
        third.log
    );
    for t in [
        "hello/01-greets.sh",
        "hello/02-tap.sh",
        "hello-extras/extras.bats",
        "albs-docs/readme.py",
    ] {
        assert!(
            third.tap.contains(&format!(": {t}\n")),
            "{t} ran: {}",
            third.tap
        );
    }
    assert!(
        third.tap.contains("# SKIP no tests for hello-extras-devel"),
        "{}",
        third.tap
    );
    // Shell tests before bats before Python: file type, then name.
    let at = |t: &str| third.log.find(&format!("== {t} ")).unwrap();
    assert!(at("hello/01-greets.sh") < at("hello/02-tap.sh"));
    let lint = stage(&report, "rpmlint");
    assert!(lint.passed, "rpmlint never fails the report");
    assert!(lint.log.contains("hello.x86_64: "), "{}", lint.log);
    assert!(
        lint.tap
            .contains("hello-1.0-1.el9.x86_64.rpm # TODO rpmlint is informative: "),
        "{}",
        lint.tap
    );

    // rpm itself reads the root's database: nothing is installed any more.
    let root = work.join("root");
    assert!(
        root.join("var/lib/rpm").is_dir(),
        "the database is at the explicit dbpath"
    );
    assert_eq!(rpm_qa(&root), Vec::<String>::new());
    assert!(!root.join("usr/bin/hello").exists());
    assert!(
        !root.join("root/.rpmdb").exists(),
        "not Debian's default dbpath"
    );
}

#[tokio::test]
async fn the_examples_conform_and_dependencies_come_from_a_repository() {
    let tmp = tempfile::tempdir().unwrap();
    let rpms = build_examples(tmp.path());
    let tester = RootTester::detect();
    albs_core::conformance::tester(&tester, &rpms).await;
    // The same without bubblewrap, as on machines where it cannot make a sandbox.
    albs_core::conformance::tester(&RootTester::new(Sandbox::None), &rpms).await;

    // hello-extras alone: hello comes from a createrepo_c repository.
    let repo = tmp.path().join("repo");
    std::fs::create_dir_all(&repo).unwrap();
    let hello = rpms
        .iter()
        .find(|p| {
            p.file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with("hello-1.0")
        })
        .unwrap();
    std::fs::copy(hello, repo.join(hello.file_name().unwrap())).unwrap();
    let out = Command::new("createrepo_c")
        .arg("-q")
        .arg(&repo)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let extras: Vec<PathBuf> = rpms
        .iter()
        .filter(|p| {
            p.file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with("hello-extras-0")
        })
        .cloned()
        .collect();
    let without = run(&RootTester::detect(), &extras).await;
    let install = stage(&without, "install");
    assert!(!install.passed, "hello is missing without the repository");
    assert!(install.log.contains("hello"), "{}", install.log);
    assert!(!without.passed());

    let with = run(&RootTester::detect().with_repos([repo.clone()]), &extras).await;
    assert!(with.passed(), "{with:#?}");
    let install = stage(&with, "install");
    assert!(
        install
            .log
            .contains("dependency hello-1.0-1.el9.x86_64 from"),
        "{}",
        install.log
    );
}

#[tokio::test]
async fn a_dangling_symlink_fails_integrity_and_a_missing_require_fails_install() {
    let tmp = tempfile::tempdir().unwrap();
    let top = tmp.path().join("top");
    std::fs::create_dir_all(&top).unwrap();
    let dangling = fixtures::rpmbuild(
        &top,
        "-bb",
        "dangle",
        "Name: dangle\nVersion: 1\nRelease: 1\nSummary: s\nLicense: MIT\nBuildArch: noarch\n\
         %description\nd\n%install\nmkdir -p %{buildroot}/usr/share/dangle\n\
         echo hi > %{buildroot}/usr/share/dangle/real\n\
         ln -s real %{buildroot}/usr/share/dangle/good\n\
         ln -s ../dangle/missing-target %{buildroot}/usr/share/dangle/broken\n\
         %files\n/usr/share/dangle\n",
    )
    .rpm
    .unwrap();
    let report = run(&RootTester::detect(), std::slice::from_ref(&dangling)).await;
    assert!(!report.passed());
    assert!(stage(&report, "install").passed, "{report:#?}");
    let integrity = stage(&report, "integrity");
    assert!(!integrity.passed);
    assert!(
        integrity
            .log
            .contains("/usr/share/dangle/broken -> ../dangle/missing-target is dangling"),
        "{}",
        integrity.log
    );
    assert!(
        !integrity
            .log
            .contains("/usr/share/dangle/good -> real is dangling")
    );
    assert!(
        integrity
            .tap
            .contains("not ok 4 - dangle-1-1.noarch.rpm: symlinks resolve"),
        "{}",
        integrity.tap
    );
    assert!(
        integrity
            .tap
            .contains("ok 3 - dangle-1-1.noarch.rpm: files verified"),
        "{}",
        integrity.tap
    );

    let needy = fixtures::rpmbuild(
        &top,
        "-bb",
        "needy",
        "Name: needy\nVersion: 1\nRelease: 1\nSummary: s\nLicense: MIT\nBuildArch: noarch\n\
         Requires: albs-no-such-capability\n%description\nd\n%files\n",
    )
    .rpm
    .unwrap();
    let report = run(&RootTester::detect(), &[needy]).await;
    let install = stage(&report, "install");
    assert!(!install.passed);
    assert!(
        install.log.contains("albs-no-such-capability"),
        "{}",
        install.log
    );
    assert!(
        install.tap.contains("albs-no-such-capability"),
        "{}",
        install.tap
    );
    assert_eq!(
        report
            .stages
            .iter()
            .map(|s| s.name.as_str())
            .collect::<Vec<_>>(),
        ["install", "rpmlint"],
        "nothing runs in a root that was not installed"
    );

    // An ELF whose NEEDED library is nowhere (AutoReq off, so rpm cannot tell).
    let needlib = fixtures::rpmbuild(
        &top,
        "-bb",
        "needlib",
        "%global debug_package %{nil}\nName: needlib\nVersion: 1\nRelease: 1\nSummary: s\n\
         License: MIT\nAutoReq: no\n%description\nd\n%build\n\
         printf 'int f(void){return 1;}\\n' > f.c\n\
         gcc -shared -fPIC -Wl,-soname,libalbsgone.so.1 -o libalbsgone.so.1 f.c\n\
         printf 'int f(void);\\nint main(void){return f();}\\n' > m.c\n\
         gcc -o needlib m.c ./libalbsgone.so.1\n\
         %install\ninstall -D -m 0755 needlib %{buildroot}/usr/bin/needlib\n\
         %files\n/usr/bin/needlib\n",
    )
    .rpm
    .unwrap();
    let report = run(&RootTester::detect(), &[needlib]).await;
    assert!(stage(&report, "install").passed, "{report:#?}");
    let integrity = stage(&report, "integrity");
    assert!(!integrity.passed);
    assert!(
        integrity.tap.contains(
            "/usr/bin/needlib needs libalbsgone.so.1, found neither in the root nor on the host"
        ),
        "{}",
        integrity.tap
    );
    assert!(
        integrity
            .log
            .contains("/usr/bin/needlib needs libc.so.6: host library"),
        "{}",
        integrity.log
    );

    // rpm only warns when %post fails; the install stage does not let it pass.
    let post = fixtures::rpmbuild(
        &top,
        "-bb",
        "withpost",
        "Name: withpost\nVersion: 1\nRelease: 1\nSummary: s\nLicense: MIT\nBuildArch: noarch\n\
         %description\nd\n%post\necho post ran\n%files\n",
    )
    .rpm
    .unwrap();
    let report = run(&RootTester::detect(), &[post]).await;
    let install = stage(&report, "install");
    assert!(!install.passed, "{report:#?}");
    assert!(
        install
            .tap
            .contains("%post(withpost-1-1.noarch) scriptlet failed"),
        "{}",
        install.tap
    );
    assert!(
        install
            .log
            .contains("the scriptlet interpreter /bin/sh is not in the test root"),
        "{}",
        install.log
    );
}

#[tokio::test]
async fn failing_third_party_tests_fail_the_stage_by_name() {
    let tmp = tempfile::tempdir().unwrap();
    let top = tmp.path().join("top");
    std::fs::create_dir_all(&top).unwrap();
    let pkg = fixtures::rpmbuild(
        &top,
        "-bb",
        "greeter",
        "Name: greeter\nVersion: 2\nRelease: 1\nSummary: s\nLicense: MIT\nBuildArch: noarch\n\
         %description\nd\n%install\nmkdir -p %{buildroot}/usr/bin\n\
         printf '#!/bin/sh\\necho hi\\n' > %{buildroot}/usr/bin/greeter\n\
         chmod 755 %{buildroot}/usr/bin/greeter\n%files\n/usr/bin/greeter\n",
    )
    .rpm
    .unwrap();
    let tests = tests_repo(
        &tmp.path().join("tests-git"),
        &[
            ("greeter/a-passes.sh", "test \"$(greeter)\" = hi\n"),
            (
                "greeter/b-tap.sh",
                "echo 1..3\necho 'ok 1 - greets'\necho 'not ok 2 - says goodbye'\necho 'not ok 3 - later # TODO not written'\n",
            ),
            ("greeter/c-exit.sh", "echo 'no TAP here'\nexit 3\n"),
            (
                "greeter/d-short.py",
                "print('1..2')\nprint('ok 1 - only one ran')\n",
            ),
            ("greeter/e-hangs.sh", "echo 1..1\nsleep 600\necho 'ok 1'\n"),
        ],
    );
    let tester = RootTester::detect()
        .with_tests(tests.display().to_string())
        .with_test_timeout(std::time::Duration::from_secs(2));
    let report = run(&tester, std::slice::from_ref(&pkg)).await;
    assert!(!report.passed());
    let third = stage(&report, "third-party");
    assert!(!third.passed, "{third:#?}");
    for s in ["install", "integrity", "uninstall"] {
        assert!(stage(&report, s).passed, "{s}: {report:#?}");
    }
    let tap = &third.tap;
    assert!(
        tap.contains("ok 1 - greeter-2-1.noarch.rpm: greeter/a-passes.sh\n"),
        "{tap}"
    );
    assert!(
        tap.contains("not ok 2 - greeter-2-1.noarch.rpm: greeter/b-tap.sh\n"),
        "{tap}"
    );
    assert!(
        tap.contains("not ok 2 - says goodbye"),
        "the failing TAP test is named: {tap}"
    );
    assert!(
        !tap.contains("not ok 3 - later"),
        "TODO is not a failure: {tap}"
    );
    assert!(
        tap.contains("not ok 3 - greeter-2-1.noarch.rpm: greeter/c-exit.sh\n"),
        "{tap}"
    );
    assert!(tap.contains("the test ended with exit status: 3"), "{tap}");
    assert!(
        tap.contains("not ok 5 - greeter-2-1.noarch.rpm: greeter/d-short.py\n"),
        "{tap}"
    );
    assert!(tap.contains("planned 2 tests but 1 ran"), "{tap}");
    assert!(
        tap.contains("not ok 4 - greeter-2-1.noarch.rpm: greeter/e-hangs.sh\n"),
        "{tap}"
    );
    assert!(
        tap.contains("the test ended with a kill after the timeout of 2s"),
        "{tap}"
    );
    assert!(
        third.log.contains("greeter/c-exit.sh failed"),
        "{}",
        third.log
    );
    assert!(
        third.log.contains("no TAP here"),
        "the log is kept: {}",
        third.log
    );

    // A branch that does not exist: the stage fails and says what could not be cloned.
    let tester = RootTester::detect().with_tests(format!("{}#no-such-branch", tests.display()));
    let report = run(&tester, std::slice::from_ref(&pkg)).await;
    let third = stage(&report, "third-party");
    assert!(!third.passed);
    assert!(
        third.log.contains("git clone of the tests from ")
            && third.log.contains("#no-such-branch failed"),
        "{}",
        third.log
    );
}

//! The rpmbuild executor with real rpmbuild, in bubblewrap: the conformance
//! suite, the example packages, failures, timeouts, cancellation, exclusion,
//! and what the sandbox hides (network, the caller's HOME).

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use albs_core::build::{
    BuildContext, BuildError, BuildExecutor, BuildOutcome, LogStream, MemoryLog, RpmbuildExecutor,
    Sandbox,
};
use albs_core::conformance::{BuildFixture, build_executor};
use albs_core::platform::Platforms;
use albs_core::source::{FetchedSource, SourceRef};
use albs_core::{Arch, Platform};
use tokio_util::sync::CancellationToken;

fn el9() -> Platform {
    Platforms::bundled().get("almalinux-9").unwrap().clone()
}

fn bwrap() -> RpmbuildExecutor {
    RpmbuildExecutor::new(Sandbox::Bubblewrap)
}

fn ctx(arch: Arch, timeout: Duration) -> (BuildContext, Arc<MemoryLog>) {
    let log = Arc::new(MemoryLog::default());
    let ctx = BuildContext {
        platform: el9(),
        arch,
        timeout,
        cancel: CancellationToken::new(),
        log: log.clone(),
    };
    (ctx, log)
}

const LONG: Duration = Duration::from_secs(300);

/// A source tree holding only `<name>.spec`.
fn spec_tree(dir: &Path, name: &str, release: &str, tags: &str, body: &str) -> FetchedSource {
    let root = dir.join(name);
    std::fs::create_dir_all(&root).unwrap();
    std::fs::write(
        root.join(format!("{name}.spec")),
        format!(
            "%global debug_package %{{nil}}\nName: {name}\nVersion: 1.0\nRelease: {release}%{{?dist}}\n\
             Summary: albs test package\nLicense: MIT\n{tags}\n%description\nA test package.\n\n{body}"
        ),
    )
    .unwrap();
    FetchedSource {
        source: SourceRef::Git {
            url: root.display().to_string(),
            reference: None,
        },
        root,
        commit: None,
        spec: Some(format!("{name}.spec").into()),
        sources_dir: ".".into(),
        lookaside: vec![],
        srpm: None,
    }
}

/// Builds the SRPM of `src`, panicking unless it is built.
async fn srpm(e: &dyn BuildExecutor, src: &FetchedSource, out: &Path) -> PathBuf {
    let (c, log) = ctx(Arch::src(), LONG);
    match e.build_srpm(src, &c, out).await.unwrap() {
        BuildOutcome::Built { files } if files.len() == 1 => files[0].clone(),
        other => panic!("SRPM: {other:?}\n{:#?}", log.lines()),
    }
}

/// Builds `src` all the way for `arch` and returns the outcome and the log.
async fn build(
    e: &dyn BuildExecutor,
    src: &FetchedSource,
    arch: Arch,
    dir: &Path,
) -> (BuildOutcome, Arc<MemoryLog>) {
    let s = srpm(e, src, &dir.join("srpm")).await;
    let (c, log) = ctx(arch, LONG);
    let outcome = e.build_rpms(&s, &c, &dir.join("rpms")).await.unwrap();
    (outcome, log)
}

fn logged(log: &MemoryLog, text: &str) -> bool {
    log.lines().iter().any(|(_, l)| l.contains(text))
}

fn survivors(marker: &str) -> Vec<String> {
    let me = std::process::id().to_string();
    std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter(|e| {
            let n = e.file_name().to_string_lossy().into_owned();
            n.bytes().all(|b| b.is_ascii_digit()) && n != me
        })
        .filter_map(|e| std::fs::read(e.path().join("cmdline")).ok())
        .map(|c| String::from_utf8_lossy(&c).replace('\0', " "))
        .filter(|c| c.contains(marker))
        .collect()
}

/// Asserts that within a generous bound nothing with `marker` runs.
async fn assert_none_left(marker: &str) {
    let start = Instant::now();
    while !survivors(marker).is_empty() {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "survivors: {:?}",
            survivors(marker)
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn marker(tag: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    format!("albs{tag}{}x{nanos}", std::process::id())
}

/// A package whose %build sleeps for five minutes; `marker` is in its
/// release (so in rpmbuild's command line) and in the sleeping commands.
fn hanging(dir: &Path, marker: &str) -> FetchedSource {
    spec_tree(
        dir,
        "albs-hang",
        &format!("1.{marker}"),
        "",
        &format!(
            "%build\necho started\ncp \"$(command -v sleep)\" ./{marker}-sleep\n\
             sh -c './{marker}-sleep 300; echo {marker}'\n\n%files\n"
        ),
    )
}

fn rpm_accepts(file: &Path) {
    for args in [&["-K", "--nosignature"][..], &["-qpi"][..]] {
        let o = Command::new("rpm").args(args).arg(file).output().unwrap();
        assert!(
            o.status.success(),
            "rpm {args:?} {} refused it: {}",
            file.display(),
            String::from_utf8_lossy(&o.stderr)
        );
        if args[0] == "-qpi" {
            let text = String::from_utf8_lossy(&o.stdout);
            assert!(text.contains("Release     : "), "{text}");
            assert!(text.contains(".el9"), "the dist tag is applied: {text}");
        }
    }
}

#[tokio::test]
async fn conformance_bubblewrap() {
    let dir = tempfile::tempdir().unwrap();
    let fx = BuildFixture::write(dir.path()).unwrap();
    build_executor(&bwrap(), &fx).await;
}

#[tokio::test]
async fn conformance_without_sandbox() {
    let dir = tempfile::tempdir().unwrap();
    let fx = BuildFixture::write(dir.path()).unwrap();
    build_executor(&RpmbuildExecutor::new(Sandbox::None), &fx).await;
}

#[test]
fn detect_finds_bubblewrap_here() {
    assert_eq!(Sandbox::detect(), Sandbox::Bubblewrap);
}

/// The three examples, as the fetcher would leave them: hello with its
/// lookaside tarball in SOURCES/, albs-docs (noarch), hello-extras (two
/// binary packages).
#[tokio::test]
async fn examples_build_and_rpm_accepts_every_package() {
    let dir = tempfile::tempdir().unwrap();
    let fixtures = dir.path().join("fixtures");
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/make-fixtures.sh");
    let o = Command::new("bash")
        .arg(&script)
        .arg(&fixtures)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let tarball = std::fs::read_dir(fixtures.join("lookaside"))
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let host = Arch::host();
    let cases: [(&str, &str, &str, Vec<String>); 3] = [
        (
            "hello",
            "SPECS/hello.spec",
            "SOURCES",
            vec![format!("hello-1.0-1.el9.{host}.rpm")],
        ),
        (
            "albs-docs",
            "albs-docs.spec",
            ".",
            vec!["albs-docs-2.1-3.el9.noarch.rpm".into()],
        ),
        (
            "hello-extras",
            "hello-extras.spec",
            ".",
            vec![
                format!("hello-extras-0.3-1.el9.{host}.rpm"),
                format!("hello-extras-devel-0.3-1.el9.{host}.rpm"),
            ],
        ),
    ];
    let e = bwrap();
    for (name, spec, sources, want) in cases {
        let root = dir.path().join("trees").join(name);
        std::fs::create_dir_all(root.parent().unwrap()).unwrap();
        let o = Command::new("cp")
            .arg("-r")
            .arg(fixtures.join("git").join(name))
            .arg(&root)
            .output()
            .unwrap();
        assert!(o.status.success());
        if name == "hello" {
            std::fs::copy(&tarball, root.join("SOURCES/hello-1.0.tar.gz")).unwrap();
        }
        let src = FetchedSource {
            source: SourceRef::Git {
                url: fixtures.join("git").join(name).display().to_string(),
                reference: None,
            },
            root,
            commit: None,
            spec: Some(spec.into()),
            sources_dir: sources.into(),
            lookaside: vec![],
            srpm: None,
        };
        let out = dir.path().join("out").join(name);
        let s = srpm(&e, &src, &out.join("srpm")).await;
        rpm_accepts(&s);
        let (c, log) = ctx(host.clone(), LONG);
        let outcome = e.build_rpms(&s, &c, &out.join("rpms")).await.unwrap();
        let BuildOutcome::Built { files } = outcome else {
            panic!("{name}: {outcome:?}\n{:#?}", log.lines());
        };
        let names: Vec<String> = files
            .iter()
            .map(|f| f.file_name().unwrap().to_string_lossy().into_owned())
            .collect();
        assert_eq!(names, want, "{name}");
        for f in &files {
            rpm_accepts(f);
        }
    }
}

#[tokio::test]
async fn a_failing_build_names_the_failing_line() {
    let dir = tempfile::tempdir().unwrap();
    let src = spec_tree(
        dir.path(),
        "albs-fails",
        "1",
        "",
        "%build\necho step one\ntest -f /nonexistent/albs-needed-file\necho never\n\n%files\n",
    );
    let (outcome, log) = build(&bwrap(), &src, Arch::host(), dir.path()).await;
    let BuildOutcome::Failed { reason, log_tail } = outcome else {
        panic!("{outcome:?}");
    };
    assert!(
        reason.starts_with("%build failed at: + test -f /nonexistent/albs-needed-file"),
        "{reason}"
    );
    assert!(reason.contains("error: Bad exit status"), "{reason}");
    assert!(
        log_tail.iter().any(|l| l.contains("Bad exit status")),
        "{log_tail:?}"
    );
    assert!(logged(&log, "step one"));
    assert!(!logged(&log, "never"));
}

#[tokio::test]
async fn a_failing_command_shows_its_own_error_output() {
    let dir = tempfile::tempdir().unwrap();
    let src = spec_tree(
        dir.path(),
        "albs-fails-cat",
        "1",
        "",
        "%install\ncat /nonexistent/albs-input\n\n%files\n",
    );
    let (outcome, _) = build(&bwrap(), &src, Arch::host(), dir.path()).await;
    let BuildOutcome::Failed { reason, .. } = outcome else {
        panic!("{outcome:?}");
    };
    assert!(
        reason.starts_with(
            "%install failed at: + cat /nonexistent/albs-input (cat: /nonexistent/albs-input: No such file or directory)"
        ),
        "{reason}"
    );
}

#[tokio::test]
async fn a_spec_error_names_its_line() {
    let dir = tempfile::tempdir().unwrap();
    // Line 7 of the written spec: the debug_package line comes first.
    let src = spec_tree(dir.path(), "albs-bad-tag", "1", "Foo: bar", "%files\n");
    let (c, _) = ctx(Arch::src(), LONG);
    let outcome = bwrap()
        .build_srpm(&src, &c, &dir.path().join("out"))
        .await
        .unwrap();
    let BuildOutcome::Failed { reason, .. } = outcome else {
        panic!("{outcome:?}");
    };
    assert!(
        reason.contains("error: line 7: Unknown tag: Foo: bar"),
        "{reason}"
    );
}

#[tokio::test]
async fn timeout_kills_the_build_and_every_process() {
    let dir = tempfile::tempdir().unwrap();
    let m = marker("timeout");
    let e = bwrap();
    let s = srpm(&e, &hanging(dir.path(), &m), &dir.path().join("srpm")).await;
    let (c, log) = ctx(Arch::host(), Duration::from_secs(2));
    let start = Instant::now();
    let outcome = e
        .build_rpms(&s, &c, &dir.path().join("rpms"))
        .await
        .unwrap();
    let BuildOutcome::TimedOut { after, log_tail } = outcome else {
        panic!("{outcome:?}");
    };
    assert_eq!(after, Duration::from_secs(2));
    assert!(start.elapsed() < Duration::from_secs(60));
    assert!(log_tail.iter().any(|l| l == "started"), "{log_tail:?}");
    assert!(logged(&log, "killed after the timeout"));
    assert_none_left(&m).await;
}

#[tokio::test]
async fn cancel_kills_the_build_and_every_process() {
    let dir = tempfile::tempdir().unwrap();
    let m = marker("cancel");
    for (sandbox, sub) in [(Sandbox::Bubblewrap, "bwrap"), (Sandbox::None, "none")] {
        let e = RpmbuildExecutor::new(sandbox);
        let d = dir.path().join(sub);
        let s = srpm(&e, &hanging(&d, &m), &d.join("srpm")).await;
        let (c, log) = ctx(Arch::host(), LONG);
        let cancel = c.cancel.clone();
        let watch = log.clone();
        let m2 = m.clone();
        let start = Instant::now();
        let out = d.join("rpms");
        let (outcome, ()) = tokio::join!(e.build_rpms(&s, &c, &out), async move {
            // Cancel once the sleep deep in the tree runs (which also shows
            // that the survivor probe sees it).
            let start = Instant::now();
            while !logged(&watch, "started")
                || !survivors(&m2).iter().any(|c| c.contains("-sleep 300"))
            {
                assert!(start.elapsed() < Duration::from_secs(60), "never started");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            cancel.cancel();
        });
        assert_eq!(outcome.unwrap(), BuildOutcome::Cancelled, "{sub}");
        assert!(start.elapsed() < Duration::from_secs(60), "{sub}");
        assert_none_left(&m).await;
    }
}

#[tokio::test]
async fn exclusive_arch_s390x_is_excluded_on_this_host() {
    let dir = tempfile::tempdir().unwrap();
    let src = spec_tree(
        dir.path(),
        "albs-s390x-only",
        "1",
        "ExclusiveArch: s390x",
        "%files\n",
    );
    let host = Arch::host();
    if host.as_str() == "s390x" {
        return;
    }
    let (outcome, log) = build(&bwrap(), &src, host.clone(), dir.path()).await;
    assert_eq!(
        outcome,
        BuildOutcome::Excluded {
            reason: format!("ExclusiveArch (s390x) does not include {host}")
        }
    );
    assert!(
        !log.lines().iter().any(|(_, l)| l.contains("rpmbuild")),
        "rpmbuild did not run: {:?}",
        log.lines()
    );
    let src = spec_tree(
        dir.path(),
        "albs-not-here",
        "1",
        &format!("ExcludeArch: {host}"),
        "%files\n",
    );
    let (outcome, _) = build(&bwrap(), &src, host.clone(), &dir.path().join("x")).await;
    let BuildOutcome::Excluded { reason } = outcome else {
        panic!("{outcome:?}");
    };
    assert!(reason.starts_with("ExcludeArch"), "{reason}");
}

#[tokio::test]
async fn noarch_builds_for_the_host_and_for_other_arches() {
    let dir = tempfile::tempdir().unwrap();
    let src = spec_tree(
        dir.path(),
        "albs-noarch",
        "1",
        "BuildArch: noarch",
        "%install\nmkdir -p %{buildroot}/usr/share/albs-noarch\necho hi > %{buildroot}/usr/share/albs-noarch/hi\n\n\
         %files\n/usr/share/albs-noarch/hi\n",
    );
    let e = bwrap();
    let s = srpm(&e, &src, &dir.path().join("srpm")).await;
    let other: Arch = if Arch::host().as_str() == "aarch64" {
        "x86_64"
    } else {
        "aarch64"
    }
    .parse()
    .unwrap();
    for arch in [Arch::host(), other] {
        let (c, log) = ctx(arch.clone(), LONG);
        let out = dir.path().join(arch.as_str());
        let outcome = e.build_rpms(&s, &c, &out).await.unwrap();
        assert_eq!(
            outcome,
            BuildOutcome::Built {
                files: vec![out.join("albs-noarch-1.0-1.el9.noarch.rpm")]
            },
            "{arch}: {:#?}",
            log.lines()
        );
        rpm_accepts(&out.join("albs-noarch-1.0-1.el9.noarch.rpm"));
    }
}

#[tokio::test]
async fn an_arch_package_for_a_foreign_arch_is_bad_input() {
    let dir = tempfile::tempdir().unwrap();
    let src = spec_tree(dir.path(), "albs-arch", "1", "", "%files\n");
    let e = bwrap();
    let s = srpm(&e, &src, &dir.path().join("srpm")).await;
    let other: Arch = if Arch::host().as_str() == "riscv64" {
        "x86_64"
    } else {
        "riscv64"
    }
    .parse()
    .unwrap();
    let (c, _) = ctx(other, LONG);
    let err = e
        .build_rpms(&s, &c, &dir.path().join("rpms"))
        .await
        .unwrap_err();
    assert!(matches!(err, BuildError::BadInput { .. }), "{err:?}");
    let msg = err.to_string();
    assert!(msg.contains("albs-arch-1.0-1.el9.src.rpm"), "{msg}");
    assert!(msg.contains("cannot build riscv64 packages"), "{msg}");
}

/// A %build that connects to a port this test listens on: refused inside
/// the sandbox, accepted without it (which shows the probe works).
#[tokio::test]
async fn no_network_inside_the_sandbox() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let port = listener.local_addr().unwrap().port();
    let dir = tempfile::tempdir().unwrap();
    let src = spec_tree(
        dir.path(),
        "albs-net",
        "1",
        "",
        &format!(
            "%build\nif bash -c 'exec 3<>/dev/tcp/127.0.0.1/{port}'; then echo NET-OPEN; exit 1; else echo NET-CLOSED; fi\n\n%files\n"
        ),
    );
    let (outcome, log) = build(&bwrap(), &src, Arch::host(), &dir.path().join("bwrap")).await;
    assert!(logged(&log, "NET-CLOSED"), "{:#?}", log.lines());
    assert!(matches!(outcome, BuildOutcome::Built { .. }), "{outcome:?}");
    assert!(
        listener.accept().is_err(),
        "nothing connected from the sandbox"
    );

    let (outcome, log) = build(
        &RpmbuildExecutor::new(Sandbox::None),
        &src,
        Arch::host(),
        &dir.path().join("none"),
    )
    .await;
    assert!(logged(&log, "NET-OPEN"), "{:#?}", log.lines());
    assert!(
        matches!(outcome, BuildOutcome::Failed { .. }),
        "{outcome:?}"
    );
    assert!(listener.accept().is_ok(), "the probe reaches the listener");
}

#[tokio::test]
async fn home_is_private_and_the_environment_is_clean() {
    let dir = tempfile::tempdir().unwrap();
    // The caller's variables (cargo's, here) must not reach the build.
    let src = spec_tree(
        dir.path(),
        "albs-home",
        "1",
        "",
        "%build\necho \"albs-home=$HOME\"\necho \"albs-cargo=${CARGO_MANIFEST_DIR:-unset}\"\n\
         touch \"$HOME/albs-probe\"\ntest \"$HOME\" != /root\n\n\
         %install\nmkdir -p %{buildroot}/usr/share/albs-home\necho hi > %{buildroot}/usr/share/albs-home/hi\n\n\
         %files\n/usr/share/albs-home/hi\n",
    );
    let (outcome, log) = build(&bwrap(), &src, Arch::host(), dir.path()).await;
    assert!(
        matches!(outcome, BuildOutcome::Built { .. }),
        "{outcome:?}: {:#?}",
        log.lines()
    );
    let home = log
        .lines()
        .into_iter()
        .find_map(|(_, l)| l.strip_prefix("albs-home=").map(str::to_owned))
        .expect("HOME was printed");
    assert_ne!(home, "/root");
    assert!(home.ends_with("/home"), "{home}");
    assert!(
        !Path::new(&home).exists(),
        "the private HOME {home} is removed after the build"
    );
    assert!(logged(&log, "albs-cargo=unset"), "{:#?}", log.lines());
    assert!(log.lines().iter().any(|(s, _)| *s == LogStream::Stdout));
    assert!(log.lines().iter().any(|(s, _)| *s == LogStream::Stderr));
}

#[tokio::test]
async fn an_srpm_ref_is_copied_and_a_tree_without_spec_is_bad_input() {
    let dir = tempfile::tempdir().unwrap();
    let e = bwrap();
    let src = spec_tree(dir.path(), "albs-copy", "1", "", "%files\n");
    let s = srpm(&e, &src, &dir.path().join("first")).await;
    let from_srpm = FetchedSource {
        source: SourceRef::Srpm {
            url: s.display().to_string(),
        },
        root: dir.path().join("first"),
        commit: None,
        spec: None,
        sources_dir: ".".into(),
        lookaside: vec![],
        srpm: Some(s.file_name().unwrap().into()),
    };
    let (c, _) = ctx(Arch::src(), LONG);
    let out = dir.path().join("second");
    let outcome = e.build_srpm(&from_srpm, &c, &out).await.unwrap();
    let copied = out.join(s.file_name().unwrap());
    assert_eq!(
        outcome,
        BuildOutcome::Built {
            files: vec![copied.clone()]
        }
    );
    assert_eq!(std::fs::read(&copied).unwrap(), std::fs::read(&s).unwrap());

    let nothing = FetchedSource {
        srpm: None,
        ..from_srpm
    };
    let err = e.build_srpm(&nothing, &c, &out).await.unwrap_err();
    assert!(matches!(err, BuildError::BadInput { .. }), "{err:?}");
    assert!(
        err.to_string().contains("neither a spec file nor an SRPM"),
        "{err}"
    );

    let not_an_srpm = dir.path().join("junk.src.rpm");
    std::fs::write(&not_an_srpm, b"junk").unwrap();
    let (c, _) = ctx(Arch::host(), LONG);
    let err = e
        .build_rpms(&not_an_srpm, &c, &dir.path().join("junk"))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("junk.src.rpm"), "{err}");
}

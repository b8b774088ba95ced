//! The [`BuildExecutor`] suite: a good package builds an SRPM and then
//! binary RPMs, a spec error and a failing `%build` are reported as failures
//! that name the failing line, an excluded architecture is not built, a stuck
//! build is killed at its timeout or on cancellation and leaves no process
//! behind, and log lines reach the sink.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio_util::sync::CancellationToken;

use crate::build::{
    BuildContext, BuildExecutor, BuildOutcome, MemoryLog, Scripted, ScriptedExecutor, When,
};
use crate::model::Arch;
use crate::platform::{Platform, Platforms};
use crate::source::{FetchedSource, SourceRef};

/// A generous bound for anything that should end "soon" (a killed build).
const SOON: Duration = Duration::from_secs(30);

/// The inputs the suite builds, one source tree per case.
#[derive(Debug, Clone)]
pub struct BuildFixture {
    /// The platform to build for.
    pub platform: Platform,
    /// The binary architecture to build (the host's).
    pub arch: Arch,
    /// Builds an SRPM, then at least one binary RPM for `arch`.
    pub good: FetchedSource,
    /// Its SRPM builds; its binary build fails.
    pub failing: FetchedSource,
    /// Text the failure's reason must contain (the failing line).
    pub failing_reason: String,
    /// A line the failing build prints, which must reach the log sink.
    pub failing_log: String,
    /// Its spec cannot be parsed: the SRPM build fails.
    pub broken: FetchedSource,
    /// Text the SRPM failure's reason must contain.
    pub broken_reason: String,
    /// Its SRPM builds; its ExclusiveArch leaves `arch` out.
    pub excluded: FetchedSource,
    /// Its SRPM builds; its binary build never ends by itself.
    pub hanging: FetchedSource,
    /// When set, no process whose command line contains this text may
    /// survive a killed build of `hanging`.
    pub hang_marker: Option<String>,
}

impl BuildFixture {
    /// Writes one source tree per case under `dir` (spec and sources at the
    /// tree root) and describes them, for the host architecture and
    /// `almalinux-9`.
    pub fn write(dir: &Path) -> std::io::Result<BuildFixture> {
        let platform = Platforms::bundled()
            .get("almalinux-9")
            .expect("bundled platform")
            .clone();
        let arch = Arch::host();
        let other = if arch.as_str() == "s390x" {
            "x86_64"
        } else {
            "s390x"
        };
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        let marker = format!("albshang{}x{nanos}", std::process::id());
        let failing_log = "albs-fx: this build fails on purpose".to_owned();

        let good = tree(
            dir,
            "albs-fx-good",
            "1",
            "",
            "%build\necho 'albs-fx: building'\n\n\
             %install\n\
             mkdir -p %{buildroot}%{_bindir}\n\
             printf '#!/bin/sh\\necho good\\n' > %{buildroot}%{_bindir}/albs-fx-good\n\
             chmod 0755 %{buildroot}%{_bindir}/albs-fx-good\n\n\
             %files\n%{_bindir}/albs-fx-good\n",
        )?;
        let failing = tree(
            dir,
            "albs-fx-failing",
            "1",
            "",
            &format!("%build\necho 'about to fail'\necho '{failing_log}' >&2\nexit 3\n\n%files\n"),
        )?;
        let broken = tree(dir, "albs-fx-broken", "1", "Foo: bar\n", "%files\n")?;
        let excluded = tree(
            dir,
            "albs-fx-excluded",
            "1",
            &format!("ExclusiveArch: {other}\n"),
            "%files\n",
        )?;
        // The release carries the marker, so rpmbuild's and bwrap's command
        // lines (the SRPM's file name) show it, and so do the shell and the
        // sleep that hang.
        let hanging = tree(
            dir,
            "albs-fx-hanging",
            &format!("1.{marker}"),
            "",
            &format!(
                "%build\necho 'albs-fx: hanging'\n\
                 cp \"$(command -v sleep)\" ./{marker}-sleep\n\
                 sh -c './{marker}-sleep 300; echo {marker}'\n\n%files\n"
            ),
        )?;
        Ok(BuildFixture {
            platform,
            arch,
            good,
            failing,
            failing_reason: "%build failed at: + exit 3".into(),
            failing_log,
            broken,
            broken_reason: "Unknown tag: Foo".into(),
            excluded,
            hanging,
            hang_marker: Some(marker),
        })
    }

    /// Adds to `exec` the rules that make a [`ScriptedExecutor`] act out
    /// this fixture the way rpmbuild does.
    pub fn script(&self, exec: ScriptedExecutor) -> ScriptedExecutor {
        let other = format!("ExclusiveArch (s390x) does not include {}", self.arch);
        exec.when(
            When::srpm().package("albs-fx-broken"),
            Scripted::failed(
                format!("error: line 6: {}: bar", self.broken_reason),
                [format!("error: line 6: {}: bar", self.broken_reason)],
            ),
        )
        .when(
            When::rpms().package("albs-fx-failing"),
            Scripted::failed(
                format!(
                    "{} ({}); error: Bad exit status from rpm-tmp (%build)",
                    self.failing_reason, self.failing_log
                ),
                [
                    "+ echo 'about to fail'".to_owned(),
                    self.failing_log.clone(),
                    "+ exit 3".to_owned(),
                ],
            ),
        )
        .when(
            When::rpms().package("albs-fx-excluded"),
            Scripted::Excluded(other),
        )
        .when(When::rpms().package("albs-fx-hanging"), Scripted::Hang)
    }
}

/// Writes `<dir>/<name>/<name>.spec` and returns the tree as fetched.
fn tree(
    dir: &Path,
    name: &str,
    release: &str,
    extra_tags: &str,
    body: &str,
) -> std::io::Result<FetchedSource> {
    let root = dir.join(name);
    std::fs::create_dir_all(&root)?;
    let spec = format!(
        "%global debug_package %{{nil}}\n\
         Name: {name}\nVersion: 1.0\nRelease: {release}%{{?dist}}\n\
         Summary: albs build conformance fixture\nLicense: MIT\n{extra_tags}\n\
         %description\nA package of the albs build conformance suite.\n\n{body}"
    );
    std::fs::write(root.join(format!("{name}.spec")), spec)?;
    Ok(FetchedSource {
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
    })
}

fn context(fx: &BuildFixture, arch: Arch, timeout: Duration) -> (BuildContext, Arc<MemoryLog>) {
    let log = Arc::new(MemoryLog::default());
    let ctx = BuildContext {
        platform: fx.platform.clone(),
        arch,
        timeout,
        cancel: CancellationToken::new(),
        log: log.clone(),
    };
    (ctx, log)
}

fn assert_files(files: &[PathBuf], out: &Path, what: &str) {
    assert!(!files.is_empty(), "{what}: Built lists no files");
    for f in files {
        assert!(
            f.starts_with(out),
            "{what}: {} is not in {}",
            f.display(),
            out.display()
        );
        let len = std::fs::metadata(f)
            .unwrap_or_else(|e| panic!("{what}: {} does not exist: {e}", f.display()))
            .len();
        assert!(len > 0, "{what}: {} is empty", f.display());
        assert!(
            f.to_string_lossy().ends_with(".rpm"),
            "{what}: {} is not an .rpm",
            f.display()
        );
    }
}

/// Builds the SRPM of `src` and returns its path, asserting it was built.
async fn srpm_of(
    e: &dyn BuildExecutor,
    fx: &BuildFixture,
    src: &FetchedSource,
    out: &Path,
) -> PathBuf {
    let (ctx, _) = context(fx, Arch::src(), SOON * 4);
    let what = format!("SRPM of {}", src.root.display());
    let outcome = e
        .build_srpm(src, &ctx, out)
        .await
        .unwrap_or_else(|err| panic!("{what}: executor error: {err}"));
    let BuildOutcome::Built { files } = outcome else {
        panic!("{what}: expected Built, got {outcome:?}");
    };
    assert_files(&files, out, &what);
    assert_eq!(files.len(), 1, "{what}: one SRPM");
    assert!(
        files[0].to_string_lossy().ends_with(".src.rpm"),
        "{what}: {} is a .src.rpm",
        files[0].display()
    );
    files[0].clone()
}

/// Waits up to [`SOON`] for every process whose command line holds `marker`
/// to be gone; panics naming the survivors.
async fn assert_no_survivors(marker: &str, what: &str) {
    let start = Instant::now();
    loop {
        let left = processes_with(marker);
        if left.is_empty() {
            return;
        }
        assert!(
            start.elapsed() < SOON,
            "{what}: processes survived the kill: {left:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Command lines (from /proc) that contain `marker`, this process excepted.
fn processes_with(marker: &str) -> Vec<String> {
    let me = std::process::id().to_string();
    let Ok(rd) = std::fs::read_dir("/proc") else {
        return vec![];
    };
    rd.flatten()
        .filter(|e| {
            let n = e.file_name();
            let n = n.to_string_lossy();
            n.bytes().all(|b| b.is_ascii_digit()) && n != me
        })
        .filter_map(|e| std::fs::read(e.path().join("cmdline")).ok())
        .map(|c| String::from_utf8_lossy(&c).replace('\0', " "))
        .filter(|c| c.contains(marker))
        .collect()
}

/// Runs the [`BuildExecutor`] suite on `e` with the inputs of `fx`.
pub async fn build_executor(e: &dyn BuildExecutor, fx: &BuildFixture) {
    let tmp = tempfile::tempdir().expect("temporary directory");
    let out = |case: &str| {
        let p = tmp.path().join(case);
        std::fs::create_dir_all(&p).expect("output directory");
        p
    };

    // A good package: SRPM, then binary RPMs; its log reaches the sink.
    let srpm = srpm_of(e, fx, &fx.good, &out("good-srpm")).await;
    let (ctx, log) = context(fx, fx.arch.clone(), SOON * 4);
    let dir = out("good-rpms");
    let outcome = e
        .build_rpms(&srpm, &ctx, &dir)
        .await
        .expect("good RPMs: executor error");
    let BuildOutcome::Built { files } = outcome else {
        panic!("good RPMs: expected Built, got {outcome:?}");
    };
    assert_files(&files, &dir, "good RPMs");
    assert!(
        files
            .iter()
            .all(|f| !f.to_string_lossy().ends_with(".src.rpm")),
        "good RPMs: binary packages only: {files:?}"
    );
    assert!(
        !log.lines().is_empty(),
        "good RPMs: no log line reached the sink"
    );

    // A spec that does not parse: the SRPM build fails and says why.
    let (ctx, _) = context(fx, Arch::src(), SOON * 4);
    let outcome = e
        .build_srpm(&fx.broken, &ctx, &out("broken-srpm"))
        .await
        .expect("broken SRPM: executor error");
    match &outcome {
        BuildOutcome::Failed { reason, .. } => assert!(
            reason.contains(&fx.broken_reason),
            "broken SRPM: reason {reason:?} lacks {:?}",
            fx.broken_reason
        ),
        other => panic!("broken SRPM: expected Failed, got {other:?}"),
    }

    // A failing %build: Failed, naming the failing line, with a log tail.
    let srpm = srpm_of(e, fx, &fx.failing, &out("failing-srpm")).await;
    let (ctx, log) = context(fx, fx.arch.clone(), SOON * 4);
    let outcome = e
        .build_rpms(&srpm, &ctx, &out("failing-rpms"))
        .await
        .expect("failing RPMs: executor error");
    match &outcome {
        BuildOutcome::Failed { reason, log_tail } => {
            assert!(
                reason.contains(&fx.failing_reason),
                "failing RPMs: reason {reason:?} lacks {:?}",
                fx.failing_reason
            );
            assert!(!log_tail.is_empty(), "failing RPMs: empty log tail");
        }
        other => panic!("failing RPMs: expected Failed, got {other:?}"),
    }
    assert!(
        log.lines().iter().any(|(_, l)| l.contains(&fx.failing_log)),
        "failing RPMs: the line {:?} did not reach the sink",
        fx.failing_log
    );

    // An excluded architecture: Excluded, naming ExclusiveArch.
    let srpm = srpm_of(e, fx, &fx.excluded, &out("excluded-srpm")).await;
    let (ctx, _) = context(fx, fx.arch.clone(), SOON * 4);
    let dir = out("excluded-rpms");
    let outcome = e
        .build_rpms(&srpm, &ctx, &dir)
        .await
        .expect("excluded RPMs: executor error");
    match &outcome {
        BuildOutcome::Excluded { reason } => assert!(
            reason.contains("ExclusiveArch"),
            "excluded RPMs: reason {reason:?} does not name ExclusiveArch"
        ),
        other => panic!("excluded RPMs: expected Excluded, got {other:?}"),
    }
    assert!(
        std::fs::read_dir(&dir).map(|d| d.count()).unwrap_or(0) == 0,
        "excluded RPMs: files were written to {}",
        dir.display()
    );

    // A stuck build with a short timeout: TimedOut soon after it, nothing left.
    let srpm = srpm_of(e, fx, &fx.hanging, &out("hanging-srpm")).await;
    let timeout = Duration::from_secs(2);
    let (ctx, _) = context(fx, fx.arch.clone(), timeout);
    let start = Instant::now();
    let outcome = e
        .build_rpms(&srpm, &ctx, &out("hanging-timeout"))
        .await
        .expect("timeout: executor error");
    let took = start.elapsed();
    match &outcome {
        BuildOutcome::TimedOut { after, .. } => {
            assert_eq!(*after, timeout, "timeout: after is the context's timeout")
        }
        other => panic!("timeout: expected TimedOut, got {other:?}"),
    }
    assert!(
        took >= timeout,
        "timeout: ended after {took:?}, before its timeout"
    );
    assert!(took < timeout + SOON, "timeout: took {took:?}");
    if let Some(m) = &fx.hang_marker {
        assert_no_survivors(m, "timeout").await;
    }

    // The same build cancelled after a second: Cancelled, nothing left.
    let (ctx, _) = context(fx, fx.arch.clone(), Duration::from_secs(600));
    let cancel = ctx.cancel.clone();
    let start = Instant::now();
    let dir = out("hanging-cancel");
    let (outcome, ()) = tokio::join!(e.build_rpms(&srpm, &ctx, &dir), async {
        tokio::time::sleep(Duration::from_secs(1)).await;
        cancel.cancel();
    });
    let took = start.elapsed();
    let outcome = outcome.expect("cancel: executor error");
    assert_eq!(
        outcome,
        BuildOutcome::Cancelled,
        "cancel: expected Cancelled"
    );
    assert!(took < SOON, "cancel: took {took:?}");
    if let Some(m) = &fx.hang_marker {
        assert_no_survivors(m, "cancel").await;
    }

    // A context cancelled before the build starts: Cancelled at once.
    let (ctx, _) = context(fx, fx.arch.clone(), Duration::from_secs(600));
    ctx.cancel.cancel();
    let outcome = e
        .build_rpms(&srpm, &ctx, &out("hanging-precancelled"))
        .await
        .expect("pre-cancelled: executor error");
    assert_eq!(
        outcome,
        BuildOutcome::Cancelled,
        "pre-cancelled: expected Cancelled"
    );
}

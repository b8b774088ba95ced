//! A build executor whose outcomes are given in advance, for tests of what
//! sits above the executor (pipeline, scheduler, CLI).
//!
//! ```
//! use albs_core::build::{Scripted, ScriptedExecutor, When};
//!
//! let exec = ScriptedExecutor::new()
//!     .when(When::rpms().package("hello").arch("s390x".parse().unwrap()),
//!           Scripted::Excluded("ExclusiveArch (x86_64) does not include s390x".into()))
//!     .when(When::rpms().package("broken"),
//!           Scripted::failed("%build failed at: + make", ["make: *** [all] Error 1"]))
//!     .when(When::rpms().package("slow"), Scripted::Hang);
//! // Everything else builds: placeholder packages named after the input.
//! ```

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use async_trait::async_trait;

use super::{BuildContext, BuildError, BuildExecutor, BuildOutcome, LOG_TAIL_LINES, LogStream};
use crate::evr::Nevra;
use crate::model::Arch;
use crate::source::FetchedSource;

/// A build step.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// [`BuildExecutor::build_srpm`].
    Srpm,
    /// [`BuildExecutor::build_rpms`].
    Rpms,
}

/// Which calls a scripted outcome applies to; unset fields match anything.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct When {
    /// The step.
    pub step: Option<Step>,
    /// The package name: the spec file's stem (`hello` for `SPECS/hello.spec`)
    /// for source trees, the name in the file name for SRPMs.
    pub package: Option<String>,
    /// The target architecture (`ctx.arch`).
    pub arch: Option<Arch>,
}

impl When {
    /// Any call.
    pub fn any() -> Self {
        When::default()
    }
    /// SRPM builds.
    pub fn srpm() -> Self {
        When {
            step: Some(Step::Srpm),
            ..When::default()
        }
    }
    /// Binary builds.
    pub fn rpms() -> Self {
        When {
            step: Some(Step::Rpms),
            ..When::default()
        }
    }
    /// Only for the package `name`.
    pub fn package(mut self, name: impl Into<String>) -> Self {
        self.package = Some(name.into());
        self
    }
    /// Only for the target architecture `arch`.
    pub fn arch(mut self, arch: Arch) -> Self {
        self.arch = Some(arch);
        self
    }

    fn matches(&self, call: &Call) -> bool {
        self.step.is_none_or(|s| s == call.step)
            && self.package.as_ref().is_none_or(|p| *p == call.package)
            && self.arch.as_ref().is_none_or(|a| *a == call.arch)
    }
}

/// What a scripted call does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scripted {
    /// Writes a small placeholder file per name into the output directory
    /// and returns [`BuildOutcome::Built`] with them.
    Built(Vec<String>),
    /// Builds placeholders named after the input, as an unscripted call does:
    /// `<name>-1.0-1<dist>.src.rpm` for an SRPM, `<name>-<version>-<release>.<arch>.rpm`
    /// (from the SRPM's file name) for binaries.
    Default,
    /// Returns [`BuildOutcome::Excluded`] with this reason.
    Excluded(String),
    /// Sends `log` to the log sink and returns [`BuildOutcome::Failed`].
    Failed {
        /// The reason.
        reason: String,
        /// Log lines the "build" printed.
        log: Vec<String>,
    },
    /// Waits until the timeout ([`BuildOutcome::TimedOut`]) or the
    /// cancellation ([`BuildOutcome::Cancelled`]), like a stuck build.
    Hang,
    /// Returns [`BuildError::BadInput`] with this message.
    Error(String),
}

impl Scripted {
    /// [`Scripted::Built`] with these file names.
    pub fn built<S: Into<String>>(files: impl IntoIterator<Item = S>) -> Self {
        Scripted::Built(files.into_iter().map(Into::into).collect())
    }
    /// [`Scripted::Failed`] with this reason and log.
    pub fn failed<S: Into<String>>(
        reason: impl Into<String>,
        log: impl IntoIterator<Item = S>,
    ) -> Self {
        Scripted::Failed {
            reason: reason.into(),
            log: log.into_iter().map(Into::into).collect(),
        }
    }
}

/// A call the executor received.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Call {
    /// The step.
    pub step: Step,
    /// The package name (see [`When::package`]).
    pub package: String,
    /// The target architecture.
    pub arch: Arch,
}

/// Returns outcomes given in advance by [`when`](ScriptedExecutor::when)
/// rules; the first rule that matches a call decides it, and a call no rule
/// matches builds placeholders ([`Scripted::Default`]). Every call is
/// recorded ([`calls`](ScriptedExecutor::calls)) and logs a line or more.
#[derive(Default)]
pub struct ScriptedExecutor {
    rules: Vec<(When, Scripted)>,
    calls: Mutex<Vec<Call>>,
}

impl ScriptedExecutor {
    /// An executor with no rules: everything builds.
    pub fn new() -> Self {
        ScriptedExecutor::default()
    }

    /// Adds a rule: calls matching `when` do `then` (earlier rules win).
    pub fn when(mut self, when: When, then: Scripted) -> Self {
        self.rules.push((when, then));
        self
    }

    /// The calls received so far, in order.
    pub fn calls(&self) -> Vec<Call> {
        self.calls.lock().expect("calls lock").clone()
    }

    fn decide(&self, call: Call) -> Scripted {
        let then = self
            .rules
            .iter()
            .find(|(w, _)| w.matches(&call))
            .map(|(_, t)| t.clone())
            .unwrap_or(Scripted::Default);
        self.calls.lock().expect("calls lock").push(call);
        then
    }
}

#[async_trait]
impl BuildExecutor for ScriptedExecutor {
    async fn build_srpm(
        &self,
        source: &FetchedSource,
        ctx: &BuildContext,
        out: &Path,
    ) -> Result<BuildOutcome, BuildError> {
        let from_srpm = source.srpm.as_deref().and_then(nevra_of);
        let package = match (&from_srpm, &source.spec) {
            (Some(n), _) => n.name.clone(),
            (None, Some(spec)) => spec
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_else(|| "package".into()),
            (None, None) => {
                return Err(BuildError::BadInput {
                    input: source.root.display().to_string(),
                    message: "the source tree has neither a spec file nor an SRPM".into(),
                });
            }
        };
        let default = match from_srpm {
            Some(n) => n.file_name(),
            None => format!("{package}-1.0-1{}.src.rpm", ctx.platform.dist_tag),
        };
        let then = self.decide(Call {
            step: Step::Srpm,
            package,
            arch: ctx.arch.clone(),
        });
        perform(then, vec![default], ctx, out).await
    }

    async fn build_rpms(
        &self,
        srpm: &Path,
        ctx: &BuildContext,
        out: &Path,
    ) -> Result<BuildOutcome, BuildError> {
        let nevra = nevra_of(srpm);
        let package = match &nevra {
            Some(n) => n.name.clone(),
            None => srpm
                .file_name()
                .map(|f| f.to_string_lossy().trim_end_matches(".src.rpm").to_owned())
                .unwrap_or_else(|| "package".into()),
        };
        let default = match nevra {
            Some(n) => Nevra {
                arch: ctx.arch.clone(),
                ..n
            }
            .file_name(),
            None => format!("{package}-1.0-1.{}.rpm", ctx.arch),
        };
        let then = self.decide(Call {
            step: Step::Rpms,
            package,
            arch: ctx.arch.clone(),
        });
        perform(then, vec![default], ctx, out).await
    }
}

fn nevra_of(p: &Path) -> Option<Nevra> {
    Nevra::from_file_name(&p.file_name()?.to_string_lossy()).ok()
}

async fn perform(
    then: Scripted,
    default: Vec<String>,
    ctx: &BuildContext,
    out: &Path,
) -> Result<BuildOutcome, BuildError> {
    if ctx.cancel.is_cancelled() {
        return Ok(BuildOutcome::Cancelled);
    }
    ctx.log
        .line(LogStream::Albs, &format!("albs: scripted {then:?}"));
    match then {
        Scripted::Built(names) => write_placeholders(&names, ctx, out).await,
        Scripted::Default => write_placeholders(&default, ctx, out).await,
        Scripted::Excluded(reason) => Ok(BuildOutcome::Excluded { reason }),
        Scripted::Failed { reason, log } => {
            for l in &log {
                ctx.log.line(LogStream::Stderr, l);
            }
            let skip = log.len().saturating_sub(LOG_TAIL_LINES);
            Ok(BuildOutcome::Failed {
                reason,
                log_tail: log.into_iter().skip(skip).collect(),
            })
        }
        Scripted::Hang => {
            ctx.log
                .line(LogStream::Stdout, "hanging until timeout or cancel");
            tokio::select! {
                _ = tokio::time::sleep(ctx.timeout) => Ok(BuildOutcome::TimedOut {
                    after: ctx.timeout,
                    log_tail: vec!["hanging until timeout or cancel".into()],
                }),
                _ = ctx.cancel.cancelled() => Ok(BuildOutcome::Cancelled),
            }
        }
        Scripted::Error(message) => Err(BuildError::BadInput {
            input: out.display().to_string(),
            message,
        }),
    }
}

async fn write_placeholders(
    names: &[String],
    ctx: &BuildContext,
    out: &Path,
) -> Result<BuildOutcome, BuildError> {
    tokio::fs::create_dir_all(out)
        .await
        .map_err(|source| BuildError::Io {
            what: format!("cannot create the output directory {}", out.display()),
            source,
        })?;
    let mut files: Vec<PathBuf> = Vec::new();
    for name in names {
        let path = out.join(name);
        let body = format!("albs scripted placeholder for {name} ({})\n", ctx.arch);
        tokio::fs::write(&path, body)
            .await
            .map_err(|source| BuildError::Io {
                what: format!("cannot write {}", path.display()),
                source,
            })?;
        ctx.log
            .line(LogStream::Stdout, &format!("Wrote: {}", path.display()));
        files.push(path);
    }
    Ok(BuildOutcome::Built { files })
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::time::Duration;

    use tokio_util::sync::CancellationToken;

    use super::*;
    use crate::build::MemoryLog;
    use crate::conformance::{BuildFixture, build_executor};
    use crate::platform::Platforms;

    fn ctx(arch: &str) -> BuildContext {
        BuildContext {
            platform: Platforms::bundled().get("almalinux-9").unwrap().clone(),
            arch: arch.parse().unwrap(),
            timeout: Duration::from_secs(60),
            cancel: CancellationToken::new(),
            log: Arc::new(MemoryLog::default()),
        }
    }

    #[tokio::test]
    async fn conformance() {
        let dir = tempfile::tempdir().unwrap();
        let fx = BuildFixture::write(dir.path()).unwrap();
        let exec = fx.script(ScriptedExecutor::new());
        build_executor(&exec, &fx).await;
    }

    #[tokio::test]
    async fn defaults_follow_the_input_names_and_calls_are_recorded() {
        let dir = tempfile::tempdir().unwrap();
        let exec = ScriptedExecutor::new().when(
            When::rpms().package("hello").arch("s390x".parse().unwrap()),
            Scripted::Excluded("ExclusiveArch (x86_64) does not include s390x".into()),
        );
        let src = FetchedSource {
            source: crate::source::SourceRef::Srpm { url: "x".into() },
            root: dir.path().into(),
            commit: None,
            spec: Some("SPECS/hello.spec".into()),
            sources_dir: "SOURCES".into(),
            lookaside: vec![],
            srpm: None,
        };
        let out = dir.path().join("srpm");
        let BuildOutcome::Built { files } = exec.build_srpm(&src, &ctx("src"), &out).await.unwrap()
        else {
            panic!("default builds");
        };
        assert_eq!(files, vec![out.join("hello-1.0-1.el9.src.rpm")]);
        let rpms = exec
            .build_rpms(&files[0], &ctx("x86_64"), &dir.path().join("x86_64"))
            .await
            .unwrap();
        assert_eq!(
            rpms,
            BuildOutcome::Built {
                files: vec![dir.path().join("x86_64/hello-1.0-1.el9.x86_64.rpm")]
            }
        );
        let ex = exec
            .build_rpms(&files[0], &ctx("s390x"), &dir.path().join("s390x"))
            .await
            .unwrap();
        assert!(matches!(ex, BuildOutcome::Excluded { .. }), "{ex:?}");
        let calls = exec.calls();
        assert_eq!(calls.len(), 3);
        assert_eq!(calls[0].step, Step::Srpm);
        assert_eq!(calls[2].arch.as_str(), "s390x");
        assert!(calls.iter().all(|c| c.package == "hello"));
    }

    #[tokio::test]
    async fn errors_and_prior_cancellation() {
        let dir = tempfile::tempdir().unwrap();
        let exec = ScriptedExecutor::new().when(When::any(), Scripted::Error("boom".into()));
        let srpm = dir.path().join("a-1-1.src.rpm");
        let e = exec
            .build_rpms(&srpm, &ctx("x86_64"), dir.path())
            .await
            .unwrap_err();
        assert!(e.to_string().contains("boom"), "{e}");
        let c = ctx("x86_64");
        c.cancel.cancel();
        let out = ScriptedExecutor::new()
            .build_rpms(&srpm, &c, dir.path())
            .await
            .unwrap();
        assert_eq!(out, BuildOutcome::Cancelled);
    }
}

//! Building: a source tree becomes an SRPM, an SRPM becomes binary RPMs for an
//! architecture.
//!
//! The [`BuildExecutor`] port has two implementations here: [`RpmbuildExecutor`]
//! (real `rpmbuild` in a bubblewrap sandbox with no network, a private HOME and
//! topdir, a timeout and cancellation) and [`ScriptedExecutor`] (outcomes given
//! in advance, for tests of what sits above the executor).

mod rpmbuild;
mod run;
mod scripted;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use tokio_util::sync::CancellationToken;

use crate::model::{Arch, TaskState};
use crate::platform::Platform;
use crate::source::FetchedSource;

pub use rpmbuild::{ArchRules, RpmbuildExecutor, Sandbox};
pub use scripted::{Call, Scripted, ScriptedExecutor, Step, When};

/// How many log lines a failed outcome carries.
pub const LOG_TAIL_LINES: usize = 40;

/// Which output stream a log line came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogStream {
    /// Standard output.
    Stdout,
    /// Standard error.
    Stderr,
    /// A line albs itself wrote.
    Albs,
}

/// Receives build log lines as they are produced.
pub trait LogSink: Send + Sync {
    /// One line, without its newline.
    fn line(&self, stream: LogStream, line: &str);
}

/// A sink that drops every line.
pub struct NullLog;

impl LogSink for NullLog {
    fn line(&self, _: LogStream, _: &str) {}
}

/// A sink that keeps every line in memory.
#[derive(Default)]
pub struct MemoryLog {
    lines: Mutex<Vec<(LogStream, String)>>,
}

impl MemoryLog {
    /// The lines received so far.
    pub fn lines(&self) -> Vec<(LogStream, String)> {
        self.lines.lock().expect("log lock").clone()
    }
}

impl LogSink for MemoryLog {
    fn line(&self, stream: LogStream, line: &str) {
        self.lines
            .lock()
            .expect("log lock")
            .push((stream, line.to_owned()));
    }
}

/// Everything a build step needs besides its input.
#[derive(Clone)]
pub struct BuildContext {
    /// The platform (dist tag and macros).
    pub platform: Platform,
    /// The target architecture (`src` for the SRPM step).
    pub arch: Arch,
    /// Wall-clock limit; the build is killed past it.
    pub timeout: Duration,
    /// Cancels the build when triggered; the process tree is killed.
    pub cancel: CancellationToken,
    /// Where log lines go while the build runs.
    pub log: Arc<dyn LogSink>,
}

/// How a build step ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "outcome")]
pub enum BuildOutcome {
    /// Built; the files are in the output directory given.
    Built {
        /// The packages produced (absolute paths in the output directory).
        files: Vec<PathBuf>,
    },
    /// The package does not build on this architecture.
    Excluded {
        /// Why (the ExcludeArch/ExclusiveArch that applies).
        reason: String,
    },
    /// rpmbuild failed.
    Failed {
        /// A one-line summary, naming the failing line when one is found.
        reason: String,
        /// The last lines of the log, which explain the failure.
        log_tail: Vec<String>,
    },
    /// Killed after the timeout.
    TimedOut {
        /// The timeout that was exceeded.
        after: Duration,
        /// The last lines of the log.
        log_tail: Vec<String>,
    },
    /// Cancelled through the context's token.
    Cancelled,
}

impl BuildOutcome {
    /// The task state this outcome leads to.
    pub fn state(&self) -> TaskState {
        match self {
            BuildOutcome::Built { .. } => TaskState::Succeeded,
            BuildOutcome::Excluded { .. } => TaskState::Excluded,
            BuildOutcome::Failed { .. } => TaskState::Failed,
            BuildOutcome::TimedOut { .. } => TaskState::TimedOut,
            BuildOutcome::Cancelled => TaskState::Cancelled,
        }
    }
}

/// Errors of the executor itself (not of the package being built).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BuildError {
    /// A tool the executor needs is missing.
    #[error("{tool} is not installed or not runnable: {message}; run scripts/setup.sh")]
    ToolMissing {
        /// The tool.
        tool: String,
        /// What happened when it was started.
        message: String,
    },
    /// The input is not usable (no spec, not an SRPM).
    #[error("{input}: {message}")]
    BadInput {
        /// The input at fault.
        input: String,
        /// What is wrong.
        message: String,
    },
    /// Local I/O failed.
    #[error("{what}: {source}")]
    Io {
        /// What was being done.
        what: String,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
}

/// Builds SRPMs from source trees and RPMs from SRPMs.
#[async_trait]
pub trait BuildExecutor: Send + Sync {
    /// Builds the SRPM of `source` into the empty directory `out`.
    async fn build_srpm(
        &self,
        source: &FetchedSource,
        ctx: &BuildContext,
        out: &Path,
    ) -> Result<BuildOutcome, BuildError>;

    /// Builds the binary RPMs of `srpm` for `ctx.arch` into the empty directory `out`.
    async fn build_rpms(
        &self,
        srpm: &Path,
        ctx: &BuildContext,
        out: &Path,
    ) -> Result<BuildOutcome, BuildError>;
}

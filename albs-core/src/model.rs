//! The build domain: architectures, builds, tasks, their states and artifacts.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::evr::Nevra;
use crate::hash::Sha256;
use crate::source::SourceRef;

/// Errors from the model types.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ModelError {
    /// The architecture name has characters rpm does not allow.
    #[error("{0:?} is not an architecture name: use letters, digits and '_' only")]
    BadArch(String),
    /// A state change that the task state machine forbids.
    #[error("a task cannot go from {from} to {to}")]
    BadTransition {
        /// The current state.
        from: TaskState,
        /// The requested state.
        to: TaskState,
    },
}

/// An RPM architecture (`x86_64`, `aarch64`, `noarch`, `src` …).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Arch(String);

impl Arch {
    /// The architecture of source packages.
    pub fn src() -> Self {
        Arch("src".into())
    }
    /// The architecture of architecture-independent packages.
    pub fn noarch() -> Self {
        Arch("noarch".into())
    }
    /// The name, as rpm spells it.
    pub fn as_str(&self) -> &str {
        &self.0
    }
    /// `src` or `nosrc`.
    pub fn is_source(&self) -> bool {
        self.0 == "src" || self.0 == "nosrc"
    }
    /// `noarch`.
    pub fn is_noarch(&self) -> bool {
        self.0 == "noarch"
    }
    /// The architecture of this machine, as rpm names it.
    pub fn host() -> Self {
        let a = match std::env::consts::ARCH {
            "x86" => "i686",
            "powerpc64" => "ppc64le",
            other => other,
        };
        Arch(a.to_owned())
    }
}

impl FromStr for Arch {
    type Err = ModelError;
    fn from_str(s: &str) -> Result<Self, ModelError> {
        if s.is_empty() || !s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
            return Err(ModelError::BadArch(s.to_owned()));
        }
        Ok(Arch(s.to_owned()))
    }
}

impl TryFrom<String> for Arch {
    type Error = ModelError;
    fn try_from(s: String) -> Result<Self, ModelError> {
        s.parse()
    }
}

impl From<Arch> for String {
    fn from(a: Arch) -> String {
        a.0
    }
}

impl fmt::Display for Arch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The state of a build task.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TaskState {
    /// Waiting for its dependencies or for a node.
    Pending,
    /// Claimed by a node and running.
    Running,
    /// Finished with artifacts.
    Succeeded,
    /// Finished without artifacts; the reason is on the task.
    Failed,
    /// The package does not build on this architecture (ExcludeArch/ExclusiveArch).
    Excluded,
    /// Killed after its timeout.
    TimedOut,
    /// Cancelled by a user.
    Cancelled,
}

impl TaskState {
    /// Whether the task has ended.
    pub fn is_final(self) -> bool {
        !matches!(self, TaskState::Pending | TaskState::Running)
    }

    /// Checks a transition of the task state machine: pending → running →
    /// final; running → pending (a lost lease); failed/timed-out/cancelled →
    /// pending (a restart).
    pub fn transition(self, to: TaskState) -> Result<TaskState, ModelError> {
        use TaskState::*;
        let ok = matches!(
            (self, to),
            (Pending, Running)
                | (Pending, Cancelled)
                | (Pending, Excluded)
                | (Pending, Failed)
                | (Running, Pending)
                | (
                    Running,
                    Succeeded | Failed | Excluded | TimedOut | Cancelled
                )
                | (Failed | TimedOut | Cancelled, Pending)
        );
        if ok {
            Ok(to)
        } else {
            Err(ModelError::BadTransition { from: self, to })
        }
    }
}

impl fmt::Display for TaskState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            TaskState::Pending => "pending",
            TaskState::Running => "running",
            TaskState::Succeeded => "succeeded",
            TaskState::Failed => "failed",
            TaskState::Excluded => "excluded",
            TaskState::TimedOut => "timed_out",
            TaskState::Cancelled => "cancelled",
        })
    }
}

/// What a task does.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind", content = "arch")]
pub enum TaskKind {
    /// Build the SRPM of a ref.
    Src,
    /// Build the binary RPMs of an SRPM for an architecture.
    Arch(Arch),
}

/// What an artifact is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ArtifactKind {
    /// A source RPM.
    Srpm,
    /// A binary RPM.
    Rpm,
    /// A build log.
    Log,
}

/// A file a task produced, named by its sha256.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Artifact {
    /// Content digest: the key in the artifact store.
    pub sha256: Sha256,
    /// Size in bytes.
    pub size: u64,
    /// The file name as produced (for display and downloads, never a path).
    pub name: String,
    /// What the file is.
    pub kind: ArtifactKind,
    /// The package inside, for SRPMs and RPMs.
    pub nevra: Option<Nevra>,
}

/// One unit of work in a build.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BuildTask {
    /// Identifier, unique in its store.
    pub id: u64,
    /// The build it belongs to.
    pub build_id: u64,
    /// Index of the build's ref this task builds.
    pub ref_index: usize,
    /// What it does.
    pub kind: TaskKind,
    /// Where it stands.
    pub state: TaskState,
    /// Tasks that must succeed first.
    pub depends_on: Vec<u64>,
    /// How many times a node has started it.
    pub attempts: u32,
    /// Why it failed, timed out or was excluded.
    pub reason: Option<String>,
    /// What it produced.
    pub artifacts: Vec<Artifact>,
    /// The package name (from the ref, then from the SRPM once built).
    #[serde(default)]
    pub package: Option<String>,
    /// The node running it or that ran it last.
    #[serde(default)]
    pub node: Option<String>,
}

/// Options of a build request.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BuildOptions {
    /// Per-task timeout in seconds, overriding the platform's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout_secs: Option<u64>,
    /// The product the build belongs to (fair scheduling shares the queue
    /// between products and owners).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub product: Option<String>,
    /// Node labels every task of the build requires.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub labels: Vec<String>,
    /// Build the refs in dependency order: the arch tasks of a ref wait for
    /// the arch tasks (of the same arch) of the refs whose packages it
    /// build-requires. The order is computed once every SRPM is built, from
    /// their BuildRequires and the packages their specs produce; refs in a
    /// build-requires cycle are built side by side.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub dependency_order: bool,
}

/// A request to build one or more refs for a platform.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Build {
    /// Identifier, unique in its store.
    pub id: u64,
    /// Platform name.
    pub platform: String,
    /// Architectures to build for.
    pub arches: Vec<Arch>,
    /// The sources to build.
    pub refs: Vec<SourceRef>,
    /// Who asked for it.
    pub owner: String,
    /// Creation time.
    #[serde(with = "time::serde::rfc3339")]
    pub created: time::OffsetDateTime,
    /// Options given at creation.
    #[serde(default)]
    pub options: BuildOptions,
    /// Its tasks.
    pub tasks: Vec<BuildTask>,
    /// The last sign task that signed all its packages.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signed: Option<BuildSignature>,
}

/// How a build's packages were signed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BuildSignature {
    /// The sign task.
    pub task_id: u64,
    /// Fingerprint of the key that signed.
    pub fingerprint: String,
    /// When the sign task ended.
    #[serde(with = "time::serde::rfc3339")]
    pub time: time::OffsetDateTime,
}

impl Build {
    /// The state of the whole build: running while any task is not final,
    /// failed when any task failed, timed out or was cancelled.
    pub fn state(&self) -> TaskState {
        use TaskState::*;
        if self.tasks.iter().any(|t| !t.state.is_final()) {
            return if self.tasks.iter().any(|t| t.state == Running) {
                Running
            } else {
                Pending
            };
        }
        for bad in [Cancelled, TimedOut, Failed] {
            if self.tasks.iter().any(|t| t.state == bad) {
                return bad;
            }
        }
        Succeeded
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arch_names_are_checked() {
        assert!("x86_64".parse::<Arch>().is_ok());
        assert!("../x".parse::<Arch>().is_err());
        assert!("".parse::<Arch>().is_err());
        assert!(Arch::src().is_source());
    }

    #[test]
    fn state_machine_refuses_leaving_success() {
        use TaskState::*;
        assert_eq!(Pending.transition(Running), Ok(Running));
        assert_eq!(Running.transition(Pending), Ok(Pending));
        assert!(Succeeded.transition(Pending).is_err());
        assert!(Excluded.transition(Running).is_err());
        assert!(Pending.transition(Succeeded).is_err());
    }
}

//! The wire types of the `/api/v1` REST API, shared by the server, the
//! client, the CLI and the bindings.
//!
//! Every write needs `Authorization: Bearer <token>`; reads of builds, logs
//! and artifacts are public. Errors come back as [`ApiError`] with a 4xx/5xx
//! status and a message that says what to fix.

use serde::{Deserialize, Serialize};

pub use crate::db::testing::{TestAssignment, TestClaimResponse, TestResult, TestState, TestTask};
pub use crate::model::BuildOptions;
use crate::model::{Arch, Artifact, Build, BuildTask, TaskKind, TaskState};
use crate::platform::Platform;
use crate::source::SourceRef;

/// The error body of every failed request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiError {
    /// What went wrong and what to do about it.
    pub error: String,
}

/// `POST /api/v1/builds`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CreateBuild {
    /// Platform name.
    pub platform: String,
    /// Architectures (default: every arch of the platform).
    #[serde(default)]
    pub arches: Vec<Arch>,
    /// What to build.
    pub refs: Vec<SourceRef>,
    /// Options.
    #[serde(default)]
    pub options: BuildOptions,
}

/// Filters and page of `GET /api/v1/builds`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BuildQuery {
    /// Builds with a ref whose package name is this.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub package: Option<String>,
    /// Builds of this owner.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner: Option<String>,
    /// Builds for this platform.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub platform: Option<String>,
    /// Builds in this state.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<TaskState>,
    /// Builds created at or after this time (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub since: Option<String>,
    /// Builds created before this time (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub until: Option<String>,
    /// Return builds with an id lower than this (keyset pagination, newest first).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub before: Option<u64>,
    /// Page size (default 50, at most 500).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<u32>,
}

/// One line of the build list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BuildSummary {
    /// Build id.
    pub id: u64,
    /// Platform name.
    pub platform: String,
    /// Owner.
    pub owner: String,
    /// Package names of its refs.
    pub packages: Vec<String>,
    /// Overall state.
    pub state: TaskState,
    /// Creation time (RFC 3339).
    #[serde(with = "time::serde::rfc3339")]
    pub created: time::OffsetDateTime,
}

/// A page of the build list, newest first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BuildPage {
    /// The builds.
    pub builds: Vec<BuildSummary>,
    /// Pass as `before` to get the next page; `None` on the last page.
    pub next: Option<u64>,
}

/// `GET /api/v1/builds/{id}`: the build with its tasks and artifacts.
pub type BuildDetail = Build;

/// `POST /api/v1/nodes`: a node registers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RegisterNode {
    /// Unique node name.
    pub name: String,
    /// Architectures it builds.
    pub arches: Vec<Arch>,
    /// Labels builds may require.
    #[serde(default)]
    pub labels: Vec<String>,
    /// How many tasks it runs at once.
    #[serde(default = "one")]
    pub capacity: u32,
    /// Package names it refuses to build.
    #[serde(default)]
    pub excluded_packages: Vec<String>,
}

fn one() -> u32 {
    1
}

/// The answer to [`RegisterNode`]: the node's token, shown once.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeRegistered {
    /// Node id.
    pub id: u64,
    /// Bearer token for the node protocol.
    pub token: String,
}

/// A task handed to a node by `POST /api/v1/node/claim`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaskAssignment {
    /// Task id.
    pub task_id: u64,
    /// Build id.
    pub build_id: u64,
    /// What to do.
    pub kind: TaskKind,
    /// The ref to build.
    pub source: SourceRef,
    /// The platform, whole (macros, dist tag).
    pub platform: Platform,
    /// The SRPM to build from, for arch tasks.
    pub srpm: Option<Artifact>,
    /// Wall-clock limit of the task.
    pub timeout_secs: u64,
    /// The lease: heartbeat before this many seconds pass.
    pub lease_secs: u64,
    /// Which attempt this is (1 for the first).
    pub attempt: u32,
}

/// The answer to `POST /api/v1/node/claim`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClaimResponse {
    /// The task, or `None` when nothing is ready for this node.
    pub task: Option<TaskAssignment>,
}

/// The answer to `POST /api/v1/node/tasks/{id}/heartbeat`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HeartbeatResponse {
    /// The user cancelled the task: stop the build and complete as cancelled.
    pub cancel: bool,
    /// Seconds until the lease expires.
    pub lease_secs: u64,
}

/// `POST /api/v1/node/tasks/{id}/log`: lines to append.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogLines {
    /// Lines, without newlines.
    pub lines: Vec<String>,
}

/// `GET /api/v1/tasks/{id}/log?from=N`: lines from N on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogChunk {
    /// The lines.
    pub lines: Vec<String>,
    /// Pass as `from` to read on.
    pub next: u64,
    /// The task has ended: no more lines will come.
    pub done: bool,
}

/// `POST /api/v1/node/tasks/{id}/complete`: how the task ended. Sending the
/// same completion twice is harmless.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaskResult {
    /// Final state.
    pub state: TaskState,
    /// Why it failed, timed out or was excluded.
    #[serde(default)]
    pub reason: Option<String>,
    /// Artifacts, each uploaded before with `PUT /api/v1/node/tasks/{id}/artifacts/{sha256}`.
    #[serde(default)]
    pub artifacts: Vec<Artifact>,
    /// For src tasks: every binary package of the SRPM is noarch.
    #[serde(default)]
    pub noarch: bool,
    /// The commit built (src tasks).
    #[serde(default)]
    pub commit: Option<String>,
    /// For src tasks: the SRPM's BuildRequires, as rpm prints them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub build_requires: Vec<String>,
    /// For src tasks: what the spec's binary packages provide (their names
    /// included), as rpm prints them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub produces: Vec<String>,
}

/// The answer to an artifact upload.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Uploaded {
    /// The digest checked.
    pub sha256: crate::hash::Sha256,
    /// Bytes stored.
    pub size: u64,
}

/// A task as a list shows it (for `albs status`).
pub type TaskView = BuildTask;

/// A ledger record with its place in the log, as the public ledger API
/// serves it (`GET /api/v1/ledger/records/{index}`, and a list of them from
/// `GET /api/v1/ledger/artifacts/{sha256}`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LedgerEntryView {
    /// 0-based position in the log.
    pub index: u64,
    /// RFC 9162 leaf hash of the record's canonical bytes (hex).
    pub leaf_hash: String,
    /// The record.
    pub record: crate::ledger::LedgerRecord,
}

/// `GET /api/v1/ledger/proof/inclusion?index=I&size=N`: the RFC 9162 audit
/// path of record `index` in the tree of the first `size` records.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InclusionProofView {
    /// The record's index.
    pub index: u64,
    /// The tree size the proof is for.
    pub size: u64,
    /// The record's leaf hash (hex).
    pub leaf_hash: String,
    /// The proof's hashes, deepest first (hex).
    pub proof: Vec<String>,
}

/// `GET /api/v1/ledger/proof/consistency?old=M&new=N`: the RFC 9162
/// consistency proof between two tree sizes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConsistencyProofView {
    /// The older tree size.
    pub old: u64,
    /// The newer tree size.
    pub new: u64,
    /// The proof's hashes (hex).
    pub proof: Vec<String>,
}

/// Whether a signing key signs new packages.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum KeyState {
    /// The platform's (or product's) signing key.
    Active,
    /// Replaced or withdrawn: kept to verify what it signed, signs nothing new.
    Archived,
}

/// `POST /api/v1/keys` (admin): the public half of a signing key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RegisterKey {
    /// The ASCII-armored OpenPGP public certificate (never a secret key).
    pub public_key: String,
    /// The platform whose packages it signs.
    pub platform: String,
    /// The product within the platform, when the key is not the platform's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub product: Option<String>,
}

/// A registered signing key (`GET /api/v1/keys`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignKey {
    /// OpenPGP fingerprint (upper hex).
    pub fingerprint: String,
    /// The ASCII-armored public certificate.
    pub public_key: String,
    /// The platform whose packages it signs.
    pub platform: String,
    /// The product, when the key is not the platform's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub product: Option<String>,
    /// Active or archived.
    pub state: KeyState,
    /// When it was registered.
    #[serde(with = "time::serde::rfc3339")]
    pub created: time::OffsetDateTime,
    /// When it was archived.
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub archived: Option<time::OffsetDateTime>,
}

/// `POST /api/v1/builds/{id}/sign`: which key signs (default: the active key
/// of the build's platform).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CreateSignTask {
    /// Fingerprint of an active registered key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
}

/// One package of a sign task.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignPackage {
    /// The unsigned package as the build made it.
    pub unsigned: crate::hash::Sha256,
    /// Its file name.
    pub name: String,
    /// The package inside.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nevra: Option<crate::evr::Nevra>,
    /// The signed package, once uploaded and checked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signed: Option<crate::hash::Sha256>,
}

/// A sign task: the packages of one build, signed by one key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignTask {
    /// Task id.
    pub id: u64,
    /// The build whose packages it signs.
    pub build_id: u64,
    /// Fingerprint of the key that signs.
    pub fingerprint: String,
    /// Who asked for it.
    pub owner: String,
    /// Pending, running, succeeded or failed.
    pub state: TaskState,
    /// Why it failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Claims so far.
    pub attempts: u32,
    /// The sign node that holds or held it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node: Option<String>,
    /// When it was created.
    #[serde(with = "time::serde::rfc3339")]
    pub created: time::OffsetDateTime,
    /// When it ended.
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub finished: Option<time::OffsetDateTime>,
    /// The packages, in build order.
    pub packages: Vec<SignPackage>,
}

/// `POST /api/v1/sign/claim`: the keys the sign node holds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignClaim {
    /// Fingerprints of the keys it can sign with.
    pub fingerprints: Vec<String>,
}

/// A sign task handed to a sign node.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignAssignment {
    /// The task, its packages included.
    pub task: SignTask,
    /// The build's platform name.
    pub platform: String,
    /// The lease: heartbeat before this many seconds pass.
    pub lease_secs: u64,
}

/// The answer to `POST /api/v1/sign/claim`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignClaimResponse {
    /// The task, or `None` when no task waits for these keys.
    pub task: Option<SignAssignment>,
}

/// `POST /api/v1/sign/tasks/{id}/complete`: how a sign task ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignResult {
    /// Succeeded (every package uploaded) or failed.
    pub state: TaskState,
    /// Why it failed: the package and the check that refused it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// The answer to a signed-package upload.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignedUploaded {
    /// The unsigned package it replaces.
    pub unsigned: crate::hash::Sha256,
    /// The signed package's digest.
    pub signed: crate::hash::Sha256,
    /// The key whose signature the server checked.
    pub fingerprint: String,
    /// Index of its ledger record.
    pub ledger_index: u64,
}

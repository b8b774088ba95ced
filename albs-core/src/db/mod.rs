//! The `Store` port: persistent state of builds, tasks, nodes, users and
//! platforms, with the queue that nodes claim tasks from.
//!
//! Two implementations: [`SqliteStore`] (the embedded default, one file in the
//! data directory, WAL) and [`PgStore`] (PostgreSQL, for fleets; claims use
//! `FOR UPDATE SKIP LOCKED`). Both pass the one suite in
//! `conformance::store`.
//!
//! The rules every implementation keeps:
//! - a claim hands a node at most one task it can run: pending, its
//!   `not_before` passed, every dependency succeeded, its arch among the
//!   node's (src tasks run on any node), the build's labels among the node's,
//!   its package not in the node's exclusions; between owners (and products)
//!   the queue is served round robin, oldest task first within one;
//! - a claim sets the task running under a lease and counts an attempt;
//!   heartbeats extend the lease; [`Store::expire_leases`] puts a task whose
//!   lease ran out back to pending with a backoff, or fails it with the reason
//!   once it has had `max_attempts`;
//! - completion is idempotent: the same node completing the same task again
//!   changes nothing; a node that lost its lease gets [`DbError::LeaseLost`];
//! - a failed, timed-out or cancelled src task fails its arch tasks
//!   ("SRPM failed"); a noarch-only SRPM is built by one arch task and its
//!   packages appear in every arch task of the ref;
//! - cancel: pending tasks end cancelled at once, running ones are flagged
//!   and end when their node completes them (it learns on heartbeat);
//! - restart: failed, timed-out and cancelled tasks go back to pending with
//!   their attempts reset (a failed src task is rebuilt, and so are the arch
//!   tasks it failed).

mod common;
pub mod errata;
pub mod ledger;
pub mod pages;
mod postgres;
pub mod products;
pub mod rbac;
pub mod release;
pub mod sign;
mod sqlite;
pub mod testing;

use std::time::Duration;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::api::{BuildPage, BuildQuery, TaskResult};
use crate::hash::Sha256;
use crate::model::{Arch, Build, BuildOptions, BuildTask, TaskKind, TaskState};
use crate::platform::Platform;
use crate::source::SourceRef;

pub use errata::ErrataStore;
pub use ledger::DbLedger;
pub use pages::{PageStore, TaskTimes};
pub use postgres::PgStore;
pub use products::{PendingTask, Product, ProductStore, TaskCount};
pub use rbac::{AuditRecord, RbacStore, Team, TeamMember};
pub use release::ReleaseStore;
pub use sign::SignStore;
pub use sqlite::SqliteStore;
pub use testing::TestStore;

/// Errors from stores.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DbError {
    /// No such object.
    #[error("{what} {id} does not exist")]
    NotFound {
        /// The kind of object (`build`, `task`, `node`, `platform`, `user`).
        what: &'static str,
        /// Its id or name.
        id: String,
    },
    /// The object exists already.
    #[error("{what} {id} already exists")]
    Conflict {
        /// The kind of object.
        what: &'static str,
        /// Its id or name.
        id: String,
    },
    /// The node does not hold the task (its lease expired and the task went
    /// back to the queue or to another node).
    #[error("node {node} does not hold task {task}: its lease expired or it was never claimed")]
    LeaseLost {
        /// The node id.
        node: u64,
        /// The task id.
        task: u64,
    },
    /// The request contradicts the task's state.
    #[error("task {task} is {state}: {message}")]
    BadState {
        /// The task id.
        task: u64,
        /// Its state.
        state: TaskState,
        /// What cannot be done.
        message: String,
    },
    /// The request itself is malformed (a bad time filter, a plan whose
    /// dependencies point outside it, a bad schema name).
    #[error("invalid request: {0}")]
    Invalid(String),
    /// The database failed.
    #[error("database error: {0}")]
    Backend(String),
}

/// A task of a new build, as the planner makes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlannedTask {
    /// Index of the ref in the build.
    pub ref_index: usize,
    /// What it does.
    pub kind: TaskKind,
    /// Indices (into the plan) of the tasks it waits for.
    pub depends_on: Vec<usize>,
    /// The package name as far as it is known (the repository name).
    pub package: Option<String>,
}

/// A build to create.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewBuild {
    /// Platform name.
    pub platform: String,
    /// Architectures.
    pub arches: Vec<Arch>,
    /// The refs.
    pub refs: Vec<SourceRef>,
    /// Owner (user name).
    pub owner: String,
    /// Options.
    pub options: BuildOptions,
    /// Timeout of each task, seconds (the build's, else the platform's).
    pub timeout_secs: u64,
    /// The tasks, from [`crate::plan::plan`].
    pub tasks: Vec<PlannedTask>,
}

/// A user.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct User {
    /// Id.
    pub id: u64,
    /// Unique name.
    pub name: String,
    /// May manage platforms, users and other people's builds.
    pub admin: bool,
}

/// A registered build node.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Node {
    /// Id.
    pub id: u64,
    /// Unique name.
    pub name: String,
    /// Arches it builds.
    pub arches: Vec<Arch>,
    /// Labels it has.
    pub labels: Vec<String>,
    /// Tasks it runs at once.
    pub capacity: u32,
    /// Packages it refuses.
    pub excluded_packages: Vec<String>,
    /// Last time it claimed or sent a heartbeat.
    #[serde(with = "time::serde::rfc3339::option")]
    pub last_seen: Option<OffsetDateTime>,
}

/// A node to register.
pub type NewNode = crate::api::RegisterNode;

/// What the token lookup found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TokenLookup<T> {
    /// A valid token of this principal.
    Valid(T),
    /// The token existed but expired.
    Expired,
    /// No such token.
    Unknown,
}

/// A claimed task: the task, its build, and the SRPM for arch tasks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Claim {
    /// The task (state running, attempts counted).
    pub task: BuildTask,
    /// Its build's ref.
    pub source: SourceRef,
    /// The build's platform name.
    pub platform: String,
    /// The SRPM artifact, for arch tasks.
    pub srpm: Option<crate::model::Artifact>,
    /// Timeout of the task, seconds.
    pub timeout_secs: u64,
    /// When the lease expires.
    pub lease_until: OffsetDateTime,
}

/// The answer to a heartbeat.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Lease {
    /// The lease now ends then.
    pub until: OffsetDateTime,
    /// The task was cancelled: the node should stop it.
    pub cancel: bool,
}

/// How lease expiry treats a task.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts before the task fails.
    pub max_attempts: u32,
    /// Backoff after the first lost lease; doubles each attempt.
    pub backoff: Duration,
    /// Backoff cap.
    pub max_backoff: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_attempts: 3,
            backoff: Duration::from_secs(5),
            max_backoff: Duration::from_secs(300),
        }
    }
}

impl RetryPolicy {
    /// Backoff after `attempts` lost leases (1-based).
    pub fn backoff_after(&self, attempts: u32) -> Duration {
        let factor = 1u32 << attempts.saturating_sub(1).min(16);
        (self.backoff * factor).min(self.max_backoff)
    }
}

/// A chunk of a task log.
pub type LogChunk = crate::api::LogChunk;

/// Persistent state of the build system (signing keys and sign tasks
/// through [`SignStore`], products and web sessions through
/// [`ProductStore`]).
#[async_trait]
pub trait Store:
    SignStore
    + ProductStore
    + TestStore
    + RbacStore
    + ErrataStore
    + ReleaseStore
    + PageStore
    + Send
    + Sync
{
    /// Creates or replaces a platform.
    async fn put_platform(&self, platform: &Platform) -> Result<(), DbError>;
    /// Every platform, by name.
    async fn platforms(&self) -> Result<Vec<Platform>, DbError>;
    /// The platform `name`.
    async fn platform(&self, name: &str) -> Result<Option<Platform>, DbError>;

    /// Creates a user.
    async fn create_user(&self, name: &str, admin: bool) -> Result<User, DbError>;
    /// Stores the hash of a user's API token.
    async fn add_user_token(
        &self,
        user_id: u64,
        token_hash: &Sha256,
        expires: Option<OffsetDateTime>,
    ) -> Result<(), DbError>;
    /// The user whose token hashes to `token_hash`.
    async fn user_by_token(
        &self,
        token_hash: &Sha256,
        now: OffsetDateTime,
    ) -> Result<TokenLookup<User>, DbError>;

    /// Creates a build and its tasks (all pending).
    async fn create_build(&self, build: &NewBuild, now: OffsetDateTime) -> Result<Build, DbError>;
    /// A build with its tasks and their artifacts.
    async fn build(&self, id: u64) -> Result<Option<Build>, DbError>;
    /// Builds matching `query`, newest first.
    async fn list_builds(&self, query: &BuildQuery) -> Result<BuildPage, DbError>;
    /// Deletes a build whose tasks have all ended (artifacts stay in the
    /// artifact store and the ledger). Running builds must be cancelled first.
    async fn delete_build(&self, id: u64) -> Result<(), DbError>;
    /// Cancels a build; returns it.
    async fn cancel_build(&self, id: u64, now: OffsetDateTime) -> Result<Build, DbError>;
    /// Restarts its failed, timed-out and cancelled tasks; returns it.
    async fn restart_build(&self, id: u64) -> Result<Build, DbError>;

    /// Registers a node with the hash of its token.
    async fn register_node(
        &self,
        node: &NewNode,
        token_hash: &Sha256,
        now: OffsetDateTime,
    ) -> Result<Node, DbError>;
    /// The node whose token hashes to `token_hash`.
    async fn node_by_token(&self, token_hash: &Sha256) -> Result<Option<Node>, DbError>;
    /// Every node.
    async fn nodes(&self) -> Result<Vec<Node>, DbError>;

    /// Hands `node` at most one task it can run, under a lease of `lease`.
    async fn claim(
        &self,
        node: &Node,
        now: OffsetDateTime,
        lease: Duration,
    ) -> Result<Option<Claim>, DbError>;
    /// Extends the lease of a task the node holds.
    async fn heartbeat(
        &self,
        node_id: u64,
        task_id: u64,
        now: OffsetDateTime,
        lease: Duration,
    ) -> Result<Lease, DbError>;
    /// Ends a task the node holds (idempotent). Artifacts must already be in
    /// the artifact store.
    async fn complete(
        &self,
        node_id: u64,
        task_id: u64,
        result: &TaskResult,
        now: OffsetDateTime,
    ) -> Result<BuildTask, DbError>;
    /// Puts tasks whose lease expired back in the queue (or fails them after
    /// `policy.max_attempts`); returns their ids.
    async fn expire_leases(
        &self,
        now: OffsetDateTime,
        policy: &RetryPolicy,
    ) -> Result<Vec<u64>, DbError>;

    /// Appends log lines to a running task the node holds; returns the new
    /// line count.
    async fn append_log(
        &self,
        node_id: u64,
        task_id: u64,
        lines: &[String],
    ) -> Result<u64, DbError>;
    /// Reads up to `limit` log lines of a task from line `from`.
    async fn read_log(&self, task_id: u64, from: u64, limit: u32) -> Result<LogChunk, DbError>;

    /// Records that a git listener saw `tag` in `repo`; false if it was known.
    async fn mark_tag_seen(&self, repo: &str, tag: &str) -> Result<bool, DbError>;
}

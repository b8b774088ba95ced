//! # albs-core
//!
//! The heart of albs, an RPM distribution build system: the domain types
//! (NEVRA, EVR, platforms, builds, tasks, artifacts, digests), the ports that
//! the engine talks through ([`SourceFetcher`](source::SourceFetcher),
//! [`BuildExecutor`](build::BuildExecutor), [`Tester`](test::Tester),
//! [`Signer`](sign::Signer), [`ArtifactStore`](store::ArtifactStore),
//! [`Ledger`](ledger::Ledger)), their default adapters and the local build
//! pipeline that runs a package from git to RPMs.
//!
//! Data types know nothing of I/O; async lives in the adapters.
#![deny(missing_docs)]

pub mod api;
pub mod auth;
pub mod build;
pub mod checkpoint;
pub mod client;
#[cfg(any(test, feature = "conformance"))]
pub mod conformance;
pub mod db;
pub mod evr;
pub mod fsutil;
pub mod hash;
pub mod ledger;
pub mod merkle;
pub mod model;
pub mod node;
pub mod pipeline;
pub mod plan;
pub mod platform;
pub mod rbac;
pub mod release;
pub mod repo;
pub mod rpmfile;
pub mod sign;
pub mod solve;
pub mod source;
pub mod spec;
pub mod store;
pub mod test;
pub mod tester;

pub use evr::{Evr, Nevra};
pub use hash::Sha256;
pub use model::{Arch, Artifact, ArtifactKind, Build, BuildTask, TaskKind, TaskState};
pub use platform::Platform;

//! # albs-server
//!
//! The master service of albs. This crate will hold the axum router over the
//! engine — `router(state)` and `serve(listener, shutdown)` — with the
//! `/api/v1` REST API (builds, platforms, artifacts, task logs), the node and
//! sign-node protocols (registration, leased claims, heartbeats, idempotent
//! completion, streamed uploads checked by sha256), authentication and the
//! read-only web pages, with state in SQLite or PostgreSQL behind the `Store`
//! port.
//!
//! Today the local pipeline of albs-core is the only engine; it re-exports it.
#![deny(missing_docs)]

pub use albs_core::pipeline::{LocalPipeline, PipelineReport, PipelineRequest};

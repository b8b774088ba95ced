//! # albs-sbom
//!
//! Software bills of materials and build provenance. This crate will turn the
//! ledger records and build model of albs-core into CycloneDX and SPDX
//! documents (one per build and per package) and in-toto/SLSA provenance that
//! names every input: git URL, commit, lookaside checksums, build host and
//! the artifact hashes.
//!
//! Today it holds the input it will read: the ledger record type.
#![deny(missing_docs)]

pub use albs_core::ledger::LedgerRecord;

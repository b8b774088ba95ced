//! # albs-sign
//!
//! The trust chain of albs. This crate will hold OpenPGP keys on
//! sequoia-openpgp (keyrings encrypted at rest), RPM header signing through the
//! `rpm` crate's `Signing`/`Verifying` traits implemented on our own sequoia,
//! detached signatures of `repomd.xml`, verification that fails closed, and the
//! sign-node worker that keeps keys on the sign nodes. Its signers implement
//! the [`Signer`] port of albs-core.
//!
//! Today it re-exports the port so that code written against it compiles.
#![deny(missing_docs)]

pub use albs_core::sign::{HashAlgo, SignError, Signer, SignerIdentity};

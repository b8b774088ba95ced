//! # albs-oval
//!
//! Security data. This crate will hold the errata model (advisories with
//! severity, CVEs, fixed packages), the writer of `updateinfo.xml` for
//! repositories, and OVAL 5.10 definitions that OpenSCAP evaluates
//! (`rpminfo_test` "EVR less than" on the fixed packages).
//!
//! Today it holds the comparison OVAL checks rest on: rpm's EVR ordering.
#![deny(missing_docs)]

pub use albs_core::evr::{Evr, rpmvercmp};

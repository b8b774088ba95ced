//! # albs-oval
//!
//! Security data: the errata model (advisories with type, severity, CVEs,
//! references and the fixed packages of one platform), `updateinfo.xml` for
//! rpm-md repositories, the OVAL 5.10 feed OpenSCAP evaluates, and JSON and
//! OSV exports.
//!
//! Everything that leaves this crate is generated from the stored advisory
//! records at export time and sorted, so the same records always give the
//! same bytes, and an advisory whose packages belong to another platform is
//! refused before anything is written.
#![deny(missing_docs)]

pub mod errata;
pub mod export;
pub mod oval;
pub mod package;
pub mod updateinfo;
mod xml;

pub use albs_core::evr::{Evr, rpmvercmp};
pub use errata::{
    Advisory, AdvisoryPackage, AdvisoryType, BuiltPackage, ErrataError, ModuleStream, Reference,
    ReferenceKind, Severity, Wanted, match_packages,
};
pub use oval::{OvalError, oval_xml};
pub use updateinfo::{AddedUpdateinfo, UpdateinfoError, add_to_repo, updateinfo_xml};

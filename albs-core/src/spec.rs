//! Spec queries: what a spec file builds and needs, read with `rpmspec -q`
//! under a platform's macros.

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::evr::Evr;
use crate::platform::Platform;

/// What a spec file says about itself, with the platform's macros applied.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SpecInfo {
    /// Source package name.
    pub name: String,
    /// Its EVR (release with the platform's dist tag).
    pub evr: Evr,
    /// Names of the binary packages it builds.
    pub packages: Vec<String>,
    /// Everything the binary packages provide, as rpm prints it (`hello = 1.0-1.el9`).
    pub provides: Vec<String>,
    /// BuildRequires, as rpm prints them (`gcc`, `hello >= 1.0`).
    pub build_requires: Vec<String>,
    /// ExclusiveArch entries (empty: any).
    pub exclusive_arch: Vec<String>,
    /// ExcludeArch entries.
    pub exclude_arch: Vec<String>,
    /// Whether every binary package is noarch.
    pub noarch: bool,
}

/// Errors from spec queries.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SpecError {
    /// rpmspec could not be run.
    #[error("rpmspec is not installed or not runnable: {0}; run scripts/setup.sh")]
    ToolMissing(String),
    /// rpmspec refused the spec.
    #[error("spec {spec} cannot be parsed: {message}")]
    Parse {
        /// The spec file.
        spec: String,
        /// rpmspec's error lines.
        message: String,
    },
}

/// Reads `spec` with `rpmspec -q` under `platform`'s macros.
pub async fn query(_spec: &Path, _platform: &Platform) -> Result<SpecInfo, SpecError> {
    todo!("spec queries")
}

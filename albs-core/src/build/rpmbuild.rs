//! rpmbuild in a sandbox.
use std::path::Path;

use async_trait::async_trait;

use super::{BuildContext, BuildError, BuildExecutor, BuildOutcome};
use crate::source::FetchedSource;

/// How builds are isolated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sandbox {
    /// bubblewrap, no network.
    Bubblewrap,
    /// No isolation.
    None,
}

/// Runs rpmbuild.
pub struct RpmbuildExecutor {
    #[allow(dead_code)]
    sandbox: Sandbox,
}

impl RpmbuildExecutor {
    /// An executor with `sandbox`.
    pub fn new(sandbox: Sandbox) -> Self {
        RpmbuildExecutor { sandbox }
    }
}

#[async_trait]
impl BuildExecutor for RpmbuildExecutor {
    async fn build_srpm(
        &self,
        _s: &FetchedSource,
        _c: &BuildContext,
        _o: &Path,
    ) -> Result<BuildOutcome, BuildError> {
        todo!()
    }
    async fn build_rpms(
        &self,
        _s: &Path,
        _c: &BuildContext,
        _o: &Path,
    ) -> Result<BuildOutcome, BuildError> {
        todo!()
    }
}

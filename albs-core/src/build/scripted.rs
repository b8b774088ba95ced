//! Scripted executor.
use std::path::Path;

use async_trait::async_trait;

use super::{BuildContext, BuildError, BuildExecutor, BuildOutcome};
use crate::source::FetchedSource;

/// Returns outcomes given in advance.
#[derive(Default)]
pub struct ScriptedExecutor;

#[async_trait]
impl BuildExecutor for ScriptedExecutor {
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

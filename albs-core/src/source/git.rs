//! The gix-based fetcher.
use std::path::Path;

use async_trait::async_trait;

use super::{FetchedSource, Lookaside, SourceError, SourceFetcher, SourceRef};

/// Fetches dist-git repositories with gix and lookaside sources from a [`Lookaside`].
pub struct GitFetcher {
    #[allow(dead_code)]
    lookaside: Lookaside,
}

impl GitFetcher {
    /// A fetcher that takes lookaside blobs from `lookaside`.
    pub fn new(lookaside: Lookaside) -> Self {
        GitFetcher { lookaside }
    }
}

#[async_trait]
impl SourceFetcher for GitFetcher {
    async fn fetch(&self, _source: &SourceRef, _dest: &Path) -> Result<FetchedSource, SourceError> {
        todo!()
    }
}

//! The in-memory fetcher.
use std::path::Path;

use async_trait::async_trait;

use super::{FetchedSource, SourceError, SourceFetcher, SourceRef};

/// Replays source trees held in memory.
#[derive(Default)]
pub struct MemoryFetcher;

#[async_trait]
impl SourceFetcher for MemoryFetcher {
    async fn fetch(&self, _source: &SourceRef, _dest: &Path) -> Result<FetchedSource, SourceError> {
        todo!()
    }
}

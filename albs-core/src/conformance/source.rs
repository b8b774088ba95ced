//! The [`SourceFetcher`](crate::source::SourceFetcher) suite.
// Filled in with the git fetcher.

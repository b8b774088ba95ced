//! Lookaside stores.
use std::path::PathBuf;

/// Where lookaside blobs are found by checksum.
#[derive(Debug, Clone)]
pub enum Lookaside {
    /// No lookaside store.
    None,
    /// A local directory.
    Dir(PathBuf),
    /// An HTTP base URL.
    Http(String),
}

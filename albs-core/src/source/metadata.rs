//! dist-git metadata files.
use std::path::PathBuf;

use super::SourceError;
use crate::hash::Checksum;

/// One line of `.<name>.metadata` or `sources`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LookasideEntry {
    /// Relative path in the tree.
    pub path: String,
    /// Its checksum.
    pub checksum: Checksum,
}

/// Parses `.<name>.metadata`.
pub fn parse_metadata(_file: &str, _text: &str) -> Result<Vec<LookasideEntry>, SourceError> {
    todo!()
}

/// Parses `sources`.
pub fn parse_sources(_file: &str, _text: &str) -> Result<Vec<LookasideEntry>, SourceError> {
    todo!()
}

/// Checks a relative path.
pub fn safe_relative_path(_origin: &str, _path: &str) -> Result<PathBuf, SourceError> {
    todo!()
}

/// Checks an archive's members.
pub fn check_archive(_path: &std::path::Path) -> Result<(), SourceError> {
    todo!()
}

//! File-system helpers shared by the writers of albs-core and its users.

use std::io::Write;
use std::path::Path;

/// Writes `bytes` to `path` through a synced temporary file in the same
/// directory and a rename: a reader sees the old file or the new one, never
/// a part. The directory must exist.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let mut tmp = tempfile::NamedTempFile::new_in(dir)?;
    tmp.write_all(bytes)?;
    tmp.as_file().sync_all()?;
    tmp.persist(path).map_err(|e| e.error)?;
    Ok(())
}

//! File-system helpers shared by the writers of albs-core and its users.

use std::io::Write;
use std::path::Path;

/// Writes `bytes` to `path` through a synced temporary file in the same
/// directory and a rename: a reader sees the old file or the new one, never
/// a part. The directory must exist.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    write_atomic_with_mode(path, bytes, None)
}

/// [`write_atomic`], the file taking permission bits `mode` (such as
/// `0o600` for a secret) before it gets its name; without a mode it keeps
/// the temporary file's (owner read and write only).
pub fn write_atomic_with_mode(path: &Path, bytes: &[u8], mode: Option<u32>) -> std::io::Result<()> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let mut tmp = tempfile::NamedTempFile::new_in(dir)?;
    tmp.write_all(bytes)?;
    if let Some(mode) = mode {
        use std::os::unix::fs::PermissionsExt;
        tmp.as_file()
            .set_permissions(std::fs::Permissions::from_mode(mode))?;
    }
    tmp.as_file().sync_all()?;
    tmp.persist(path).map_err(|e| e.error)?;
    Ok(())
}

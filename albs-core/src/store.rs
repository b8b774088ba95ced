//! The artifact store: content-addressed by sha256.
//!
//! [`DirStore`] keeps blobs in a directory (`<root>/sha256/ab/abcdef…`);
//! [`MemoryStore`] keeps them in memory for tests. Writes stream through a
//! hasher into a temporary file that is renamed into place only once its
//! digest is known (and matches the one expected), so a failed or refused put
//! leaves nothing behind. No name from the input is ever used as a path: the
//! only path component taken from outside is the hex digest we computed.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use sha2::Digest as _;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};

use crate::hash::Sha256;

/// A readable stream of bytes.
pub type ByteStream<'a> = Pin<Box<dyn AsyncRead + Send + 'a>>;

/// Errors from artifact stores.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The content did not hash to the digest the caller expected.
    #[error("upload has sha256 {got}, expected {want}; nothing was stored")]
    DigestMismatch {
        /// What the caller expected.
        want: Sha256,
        /// What the content hashed to.
        got: Sha256,
    },
    /// No blob has that digest.
    #[error("no artifact with sha256 {0}")]
    NotFound(Sha256),
    /// Local I/O failed.
    #[error("artifact store {root}: {what}: {source}")]
    Io {
        /// The store root.
        root: String,
        /// What was being done.
        what: &'static str,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
}

/// What a put stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stored {
    /// The content digest.
    pub sha256: Sha256,
    /// Size in bytes.
    pub size: u64,
    /// False when the blob was already there.
    pub new: bool,
}

/// A content-addressed blob store.
#[async_trait]
pub trait ArtifactStore: Send + Sync {
    /// Streams `data` in; when `expected` is given the content must hash to it,
    /// or nothing is stored.
    async fn put(
        &self,
        data: ByteStream<'_>,
        expected: Option<Sha256>,
    ) -> Result<Stored, StoreError>;

    /// Opens the blob `digest` for reading.
    async fn get(&self, digest: &Sha256) -> Result<ByteStream<'static>, StoreError>;

    /// Whether the blob `digest` is stored.
    async fn has(&self, digest: &Sha256) -> Result<bool, StoreError>;

    /// The blob's path on the local file system, for stores that have one.
    fn local_path(&self, _digest: &Sha256) -> Option<PathBuf> {
        None
    }
}

/// Convenience on top of [`ArtifactStore`].
#[async_trait]
pub trait ArtifactStoreExt: ArtifactStore {
    /// Stores the file at `path`.
    async fn put_file(&self, path: &Path) -> Result<Stored, StoreError> {
        let file = tokio::fs::File::open(path)
            .await
            .map_err(|source| StoreError::Io {
                root: path.display().to_string(),
                what: "opening the file to store",
                source,
            })?;
        self.put(Box::pin(file), None).await
    }

    /// Reads a whole blob into memory.
    async fn get_bytes(&self, digest: &Sha256) -> Result<Vec<u8>, StoreError> {
        let mut out = Vec::new();
        let mut r = self.get(digest).await?;
        r.read_to_end(&mut out)
            .await
            .map_err(|source| StoreError::Io {
                root: "<stream>".into(),
                what: "reading a blob",
                source,
            })?;
        Ok(out)
    }
}

impl<T: ArtifactStore + ?Sized> ArtifactStoreExt for T {}

/// A store in a local directory.
#[derive(Debug, Clone)]
pub struct DirStore {
    root: PathBuf,
}

impl DirStore {
    /// A store rooted at `root`, created if missing.
    pub fn open(root: impl Into<PathBuf>) -> Result<Self, StoreError> {
        let root = root.into();
        let store = DirStore { root };
        for dir in [store.blobs(), store.tmp()] {
            std::fs::create_dir_all(&dir).map_err(|e| store.io("creating the store", e))?;
        }
        Ok(store)
    }

    fn blobs(&self) -> PathBuf {
        self.root.join("sha256")
    }

    fn tmp(&self) -> PathBuf {
        self.root.join("tmp")
    }

    fn path_of(&self, d: &Sha256) -> PathBuf {
        let hex = d.to_hex();
        self.blobs().join(&hex[..2]).join(hex)
    }

    fn io(&self, what: &'static str, source: std::io::Error) -> StoreError {
        StoreError::Io {
            root: self.root.display().to_string(),
            what,
            source,
        }
    }
}

#[async_trait]
impl ArtifactStore for DirStore {
    async fn put(
        &self,
        mut data: ByteStream<'_>,
        expected: Option<Sha256>,
    ) -> Result<Stored, StoreError> {
        let tmp = tempfile::NamedTempFile::new_in(self.tmp())
            .map_err(|e| self.io("creating a temporary file", e))?;
        let (std_file, tmp_path) = tmp.into_parts();
        let mut file = tokio::fs::File::from_std(std_file);
        let mut hasher = sha2::Sha256::new();
        let mut size = 0u64;
        let mut buf = vec![0u8; 128 * 1024];
        loop {
            let n = data
                .read(&mut buf)
                .await
                .map_err(|e| self.io("reading the upload", e))?;
            if n == 0 {
                break;
            }
            hasher.update(&buf[..n]);
            size += n as u64;
            file.write_all(&buf[..n])
                .await
                .map_err(|e| self.io("writing a temporary file", e))?;
        }
        let got = Sha256(hasher.finalize().into());
        if let Some(want) = expected
            && want != got
        {
            return Err(StoreError::DigestMismatch { want, got });
        }
        let dest = self.path_of(&got);
        if tokio::fs::try_exists(&dest).await.unwrap_or(false) {
            return Ok(Stored {
                sha256: got,
                size,
                new: false,
            });
        }
        file.sync_all()
            .await
            .map_err(|e| self.io("syncing a temporary file", e))?;
        drop(file);
        let parent = dest.parent().expect("blob paths have a parent");
        tokio::fs::create_dir_all(parent)
            .await
            .map_err(|e| self.io("creating a blob directory", e))?;
        tmp_path
            .persist(&dest)
            .map_err(|e| self.io("moving a blob into place", e.error))?;
        Ok(Stored {
            sha256: got,
            size,
            new: true,
        })
    }

    async fn get(&self, digest: &Sha256) -> Result<ByteStream<'static>, StoreError> {
        match tokio::fs::File::open(self.path_of(digest)).await {
            Ok(f) => Ok(Box::pin(f)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                Err(StoreError::NotFound(*digest))
            }
            Err(e) => Err(self.io("opening a blob", e)),
        }
    }

    async fn has(&self, digest: &Sha256) -> Result<bool, StoreError> {
        tokio::fs::try_exists(self.path_of(digest))
            .await
            .map_err(|e| self.io("looking up a blob", e))
    }

    fn local_path(&self, digest: &Sha256) -> Option<PathBuf> {
        Some(self.path_of(digest))
    }
}

/// A store in memory, for tests.
#[derive(Debug, Clone, Default)]
pub struct MemoryStore {
    blobs: Arc<Mutex<HashMap<Sha256, Arc<Vec<u8>>>>>,
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// Number of blobs stored.
    pub fn len(&self) -> usize {
        self.blobs.lock().expect("store lock").len()
    }

    /// Whether no blob is stored.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[async_trait]
impl ArtifactStore for MemoryStore {
    async fn put(
        &self,
        mut data: ByteStream<'_>,
        expected: Option<Sha256>,
    ) -> Result<Stored, StoreError> {
        let mut bytes = Vec::new();
        data.read_to_end(&mut bytes)
            .await
            .map_err(|source| StoreError::Io {
                root: "memory".into(),
                what: "reading the upload",
                source,
            })?;
        let got = Sha256::of(&bytes);
        if let Some(want) = expected
            && want != got
        {
            return Err(StoreError::DigestMismatch { want, got });
        }
        let size = bytes.len() as u64;
        let mut blobs = self.blobs.lock().expect("store lock");
        let new = !blobs.contains_key(&got);
        blobs.entry(got).or_insert_with(|| Arc::new(bytes));
        Ok(Stored {
            sha256: got,
            size,
            new,
        })
    }

    async fn get(&self, digest: &Sha256) -> Result<ByteStream<'static>, StoreError> {
        let blob = self
            .blobs
            .lock()
            .expect("store lock")
            .get(digest)
            .cloned()
            .ok_or(StoreError::NotFound(*digest))?;
        Ok(Box::pin(std::io::Cursor::new(blob.as_ref().clone())))
    }

    async fn has(&self, digest: &Sha256) -> Result<bool, StoreError> {
        Ok(self.blobs.lock().expect("store lock").contains_key(digest))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::conformance;

    #[tokio::test]
    async fn memory_store_conforms() {
        conformance::artifact_store(&MemoryStore::new()).await;
    }

    #[tokio::test]
    async fn dir_store_conforms() {
        let dir = tempfile::tempdir().unwrap();
        let store = DirStore::open(dir.path()).unwrap();
        conformance::artifact_store(&store).await;
        // A refused put leaves no temporary file behind.
        let tmp_entries = std::fs::read_dir(dir.path().join("tmp")).unwrap().count();
        assert_eq!(tmp_entries, 0);
    }

    #[tokio::test]
    async fn dir_store_blob_path_is_the_digest_only() {
        let dir = tempfile::tempdir().unwrap();
        let store = DirStore::open(dir.path()).unwrap();
        let s = store.put(Box::pin(&b"x"[..]), None).await.unwrap();
        let p = store.local_path(&s.sha256).unwrap();
        assert!(p.starts_with(dir.path().join("sha256")));
        assert_eq!(p.file_name().unwrap().to_str().unwrap(), s.sha256.to_hex());
        assert_eq!(std::fs::read(p).unwrap(), b"x");
    }
}

//! Lookaside stores: where large sources are found by their checksum.
use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::Arc;

use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::SourceError;
use crate::hash::{AnyHasher, Checksum};

/// Where lookaside blobs are found by checksum: a blob whose checksum is
/// `<hex>` is `<dir>/<hex>` or `<base URL>/<hex>`.
#[derive(Debug, Clone)]
pub enum Lookaside {
    /// No lookaside store: a tree that lists lookaside sources fails unless
    /// they are already in it.
    None,
    /// A local directory.
    Dir(PathBuf),
    /// An HTTP base URL.
    Http(String),
    /// Blobs held in memory, keyed by lower-case checksum hex (for tests and
    /// [`MemoryFetcher`](super::MemoryFetcher)).
    Memory(Arc<HashMap<String, Vec<u8>>>),
}

impl Lookaside {
    /// A store in the local directory `dir`.
    pub fn dir(dir: impl Into<PathBuf>) -> Self {
        Lookaside::Dir(dir.into())
    }

    /// A store under the HTTP(S) base URL `base`.
    pub fn http(base: impl Into<String>) -> Self {
        Lookaside::Http(base.into())
    }

    /// A store in memory; keys are checksum hex of any kind.
    pub fn memory(blobs: impl IntoIterator<Item = (String, Vec<u8>)>) -> Self {
        Lookaside::Memory(Arc::new(
            blobs
                .into_iter()
                .map(|(k, v)| (k.to_ascii_lowercase(), v))
                .collect(),
        ))
    }
}

impl fmt::Display for Lookaside {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Lookaside::None => f.write_str("(no lookaside store)"),
            Lookaside::Dir(d) => write!(f, "{}", d.display()),
            Lookaside::Http(u) => f.write_str(u),
            Lookaside::Memory(m) => write!(f, "(memory, {} blobs)", m.len()),
        }
    }
}

impl FromStr for Lookaside {
    type Err = std::convert::Infallible;

    /// `http://…`/`https://…` is a URL, `none` or an empty string no store,
    /// anything else a directory (a `file://` prefix is dropped).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(if s.is_empty() || s == "none" {
            Lookaside::None
        } else if s.starts_with("http://") || s.starts_with("https://") {
            Lookaside::Http(s.to_owned())
        } else {
            Lookaside::Dir(PathBuf::from(s.strip_prefix("file://").unwrap_or(s)))
        })
    }
}

/// A stream of a blob's bytes, whichever store it comes from.
enum Body {
    File(tokio::fs::File),
    Http(reqwest::Response),
    Memory(Vec<u8>, bool),
}

impl Body {
    async fn next(&mut self, buf: &mut Vec<u8>) -> Result<bool, String> {
        buf.clear();
        match self {
            Body::File(f) => {
                buf.resize(64 * 1024, 0);
                let n = f.read(buf).await.map_err(|e| e.to_string())?;
                buf.truncate(n);
                Ok(n > 0)
            }
            Body::Http(r) => match r.chunk().await.map_err(|e| e.to_string())? {
                Some(c) => {
                    buf.extend_from_slice(&c);
                    Ok(true)
                }
                None => Ok(false),
            },
            Body::Memory(data, done) => {
                if *done {
                    return Ok(false);
                }
                *done = true;
                std::mem::swap(buf, data);
                Ok(true)
            }
        }
    }
}

/// Fetches blobs from one [`Lookaside`] for the duration of one fetch.
pub(crate) struct BlobFetcher<'a> {
    store: &'a Lookaside,
    client: Option<reqwest::Client>,
}

impl<'a> BlobFetcher<'a> {
    pub(crate) fn new(store: &'a Lookaside) -> Self {
        BlobFetcher {
            store,
            client: None,
        }
    }

    fn unreachable(&self, message: impl fmt::Display) -> SourceError {
        SourceError::Lookaside {
            store: self.store.to_string(),
            message: message.to_string(),
        }
    }

    async fn open(&mut self, path: &str, checksum: &Checksum) -> Result<Body, SourceError> {
        let missing = || SourceError::LookasideMissing {
            store: self.store.to_string(),
            path: path.to_owned(),
            checksum: checksum.clone(),
        };
        match self.store {
            Lookaside::None => Err(missing()),
            Lookaside::Dir(dir) => match tokio::fs::File::open(dir.join(&checksum.hex)).await {
                Ok(f) => Ok(Body::File(f)),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(missing()),
                Err(e) => Err(self.unreachable(format!("{}: {e}", checksum.hex))),
            },
            Lookaside::Memory(blobs) => blobs
                .get(&checksum.hex)
                .map(|b| Body::Memory(b.clone(), false))
                .ok_or_else(missing),
            Lookaside::Http(base) => {
                if self.client.is_none() {
                    let client = reqwest::Client::builder()
                        .connect_timeout(std::time::Duration::from_secs(30))
                        .build()
                        .map_err(|e| self.unreachable(e))?;
                    self.client = Some(client);
                }
                let Some(client) = &self.client else {
                    return Err(self.unreachable("no HTTP client"));
                };
                let url = format!("{}/{}", base.trim_end_matches('/'), checksum.hex);
                let resp = client
                    .get(&url)
                    .send()
                    .await
                    .map_err(|e| self.unreachable(format!("GET {url}: {e}")))?;
                match resp.status() {
                    s if s.is_success() => Ok(Body::Http(resp)),
                    reqwest::StatusCode::NOT_FOUND | reqwest::StatusCode::GONE => Err(missing()),
                    s => Err(self.unreachable(format!("GET {url}: HTTP {s}"))),
                }
            }
        }
    }

    /// Streams the blob for `path` (as named in the metadata) into a
    /// temporary file in `tmp_dir` while hashing it; renames it to `target`
    /// when it matches `checksum`, else deletes it. Returns its size.
    pub(crate) async fn fetch_into(
        &mut self,
        path: &str,
        checksum: &Checksum,
        tmp_dir: &Path,
        target: &Path,
    ) -> Result<u64, SourceError> {
        let mut body = self.open(path, checksum).await?;
        let io = |what: String| move |source| SourceError::Io { what, source };
        let tmp = tempfile::Builder::new()
            .prefix(".lookaside-")
            .tempfile_in(tmp_dir)
            .map_err(io(format!(
                "creating a temporary file in {}",
                tmp_dir.display()
            )))?;
        let handle = tmp
            .reopen()
            .map_err(io(format!("opening {}", tmp.path().display())))?;
        let mut out = tokio::fs::File::from_std(handle);
        let mut hasher = AnyHasher::new(checksum.kind);
        let mut size = 0u64;
        let mut buf = Vec::with_capacity(64 * 1024);
        while body
            .next(&mut buf)
            .await
            .map_err(|e| self.unreachable(format!("reading {}: {e}", checksum.hex)))?
        {
            hasher.update(&buf);
            size += buf.len() as u64;
            out.write_all(&buf)
                .await
                .map_err(io(format!("writing {}", tmp.path().display())))?;
        }
        out.flush()
            .await
            .map_err(io(format!("writing {}", tmp.path().display())))?;
        drop(out);
        let got = hasher.finish();
        if got.hex != checksum.hex {
            // `tmp` is removed when dropped.
            return Err(SourceError::ChecksumMismatch {
                path: path.to_owned(),
                kind: checksum.kind,
                got: got.hex,
                want: checksum.hex.clone(),
            });
        }
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(tmp.path(), std::fs::Permissions::from_mode(0o644))
                .map_err(io(format!("setting the mode of {}", tmp.path().display())))?;
        }
        tmp.persist(target).map_err(|e| SourceError::Io {
            what: format!("moving the blob for {path} to {}", target.display()),
            source: e.error,
        })?;
        Ok(size)
    }
}

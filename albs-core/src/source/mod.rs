//! Sources: a git ref or an SRPM URL becomes a checked-out tree with its
//! lookaside sources fetched and verified.
//!
//! The [`SourceFetcher`] port has two implementations here: [`GitFetcher`]
//! (gix, plus a [`Lookaside`] store reached as a directory or over HTTP) and
//! [`MemoryFetcher`] (record/replay of trees held in memory, for tests).
//!
//! Both prepare a checked-out tree the same way: the spec is found at the
//! root or in `SPECS/` (several: the one named after the repository);
//! sources live in `SOURCES/` (when it exists or the spec is in `SPECS/`) or
//! at the root; every line of `.<name>.metadata` and `sources` is fetched
//! from the [`Lookaside`] store by checksum unless the tree already has the
//! file with that checksum, streamed through a temporary file and verified
//! before it is moved into place. Paths that leave the tree, writes through
//! symlinks of the tree, and tar archives whose members or links escape are
//! refused with [`SourceError::UnsafePath`].

mod git;
mod lookaside;
mod memory;
mod metadata;
mod srpm;
mod tree;

use std::fmt;
use std::path::{Path, PathBuf};

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::hash::{Checksum, HashError};

pub use git::GitFetcher;
pub use lookaside::Lookaside;
pub use memory::MemoryFetcher;
pub use metadata::{
    LookasideEntry, check_archive, is_archive_name, parse_metadata, parse_sources,
    safe_relative_path,
};

/// Which commit of a repository to build.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "type", content = "name")]
pub enum GitRef {
    /// A branch (`c9`, `a9`).
    Branch(String),
    /// A tag (`imports/c9/bash-5.1.8-6.el9`).
    Tag(String),
    /// A full or abbreviated commit id.
    Commit(String),
    /// A name tried as a branch, then a tag, then a commit.
    Auto(String),
}

impl fmt::Display for GitRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            GitRef::Branch(n) => write!(f, "branch {n}"),
            GitRef::Tag(n) => write!(f, "tag {n}"),
            GitRef::Commit(n) => write!(f, "commit {n}"),
            GitRef::Auto(n) => f.write_str(n),
        }
    }
}

/// What to build: a git repository at a ref, or a ready SRPM.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "type")]
pub enum SourceRef {
    /// A dist-git repository: a plain path, `file://`, `http://` or `https://` URL.
    Git {
        /// Where the repository is.
        url: String,
        /// The ref; `None` means the remote's default branch.
        #[serde(rename = "ref", default, skip_serializing_if = "Option::is_none")]
        reference: Option<GitRef>,
    },
    /// A source RPM at a path, `file://` or `http(s)://` URL.
    Srpm {
        /// Where the SRPM is.
        url: String,
    },
}

impl SourceRef {
    /// The URL or path of the ref.
    pub fn url(&self) -> &str {
        match self {
            SourceRef::Git { url, .. } | SourceRef::Srpm { url } => url,
        }
    }
}

impl fmt::Display for SourceRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SourceRef::Git {
                url,
                reference: Some(r),
            } => write!(f, "{url} ({r})"),
            SourceRef::Git { url, .. } => f.write_str(url),
            SourceRef::Srpm { url } => write!(f, "SRPM {url}"),
        }
    }
}

/// A lookaside source that was fetched and verified.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VerifiedSource {
    /// Path relative to the tree root (`SOURCES/hello-1.0.tar.gz`).
    pub path: String,
    /// The checksum the metadata file gave, which the content matched.
    pub checksum: Checksum,
    /// Size in bytes.
    pub size: u64,
}

/// A checked-out source tree ready for rpmbuild.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FetchedSource {
    /// The ref it came from.
    pub source: SourceRef,
    /// The tree root (inside the destination the caller gave).
    pub root: PathBuf,
    /// The commit checked out (full hex id), for git refs.
    pub commit: Option<String>,
    /// The spec file, relative to `root` (`hello.spec` or `SPECS/hello.spec`),
    /// for git refs.
    pub spec: Option<PathBuf>,
    /// The directory holding sources and patches, relative to `root`
    /// (`.` or `SOURCES`).
    pub sources_dir: PathBuf,
    /// Lookaside sources fetched into the tree, verified.
    pub lookaside: Vec<VerifiedSource>,
    /// The SRPM file, relative to `root` like `spec`, for SRPM refs.
    pub srpm: Option<PathBuf>,
}

/// Errors from fetching sources. Each names the input at fault.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SourceError {
    /// The repository could not be cloned or fetched.
    #[error("cannot fetch git repository {url}: {message}")]
    Git {
        /// Repository URL.
        url: String,
        /// What went wrong.
        message: String,
    },
    /// The ref is neither a branch, a tag nor a commit of the repository.
    #[error("{reference} is not a branch, tag or commit of {url}")]
    RefNotFound {
        /// Repository URL.
        url: String,
        /// The ref asked for.
        reference: String,
    },
    /// No spec file at the root or in `SPECS/`.
    #[error("{url} has no spec file at its root or in SPECS/ ({found})")]
    NoSpec {
        /// Repository URL.
        url: String,
        /// What was found instead.
        found: String,
    },
    /// A metadata or sources file line cannot be parsed.
    #[error("{file} line {line}: {message}")]
    BadMetadata {
        /// The metadata file.
        file: String,
        /// 1-based line number.
        line: usize,
        /// What is wrong.
        message: String,
    },
    /// A path from the input tries to leave its directory.
    #[error("{origin}: path {path:?} is not allowed: {why}")]
    UnsafePath {
        /// Where the path came from (metadata file, archive).
        origin: String,
        /// The offending path.
        path: String,
        /// Why it is refused.
        why: &'static str,
    },
    /// A lookaside blob does not match its checksum.
    #[error("lookaside source {path} has {kind} {got}, metadata says {want}")]
    ChecksumMismatch {
        /// The source path from the metadata.
        path: String,
        /// Digest kind.
        kind: crate::hash::ChecksumKind,
        /// What the content hashes to.
        got: String,
        /// What the metadata says.
        want: String,
    },
    /// The lookaside store does not have the blob.
    #[error("lookaside store {store} has no blob for {path} ({checksum})")]
    LookasideMissing {
        /// The store (directory or base URL).
        store: String,
        /// The source path from the metadata.
        path: String,
        /// The checksum looked up.
        checksum: Checksum,
    },
    /// The lookaside store could not be reached.
    #[error("lookaside store {store}: {message}")]
    Lookaside {
        /// The store.
        store: String,
        /// What went wrong.
        message: String,
    },
    /// A checksum in a metadata file is malformed.
    #[error(transparent)]
    Hash(#[from] HashError),
    /// A source archive cannot be read.
    #[error("source archive {path} cannot be read: {message}")]
    BadArchive {
        /// The archive.
        path: String,
        /// What went wrong.
        message: String,
    },
    /// The SRPM could not be fetched.
    #[error("cannot fetch SRPM {url}: {message}")]
    Srpm {
        /// The SRPM URL.
        url: String,
        /// What went wrong.
        message: String,
    },
    /// Local I/O failed.
    #[error("{what}: {source}")]
    Io {
        /// What was being done.
        what: String,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
}

/// Turns a git ref or an SRPM URL into a source tree on disk.
#[async_trait]
pub trait SourceFetcher: Send + Sync {
    /// Fetches `source` into the empty directory `dest` and verifies every
    /// lookaside source. On error, nothing outside `dest` has been written.
    async fn fetch(&self, source: &SourceRef, dest: &Path) -> Result<FetchedSource, SourceError>;
}

/// Why a source location or ref name is refused; the message completes a
/// sentence that starts with the value (`"rpms/bash" is a relative path …`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum LocationError {
    /// Nothing was given.
    #[error("is empty")]
    Empty,
    /// It would read as an option to git.
    #[error("starts with `-`; give an absolute path or an http://, https:// or file:// URL")]
    Option,
    /// Whitespace or control characters.
    #[error("contains whitespace or control characters")]
    Space,
    /// Neither a URL nor an absolute path.
    #[error("is a relative path; give an absolute path or an http://, https:// or file:// URL")]
    Relative,
    /// An http(s) URL without a host.
    #[error("has no host")]
    NoHost,
    /// A `file://` URL whose path is not absolute.
    #[error("needs an absolute path (file:///path)")]
    RelativeFile,
    /// A scheme albs does not fetch.
    #[error("has scheme {0}, which albs does not fetch; use http, https, file or an absolute path")]
    Scheme(String),
    /// A ref name with `..`.
    #[error("contains `..`")]
    DotDot,
}

fn has_space_or_control(s: &str) -> bool {
    s.chars().any(|c| c.is_whitespace() || c.is_control())
}

/// Checks a git URL or SRPM location before anything fetches it: an
/// absolute path, or an `http://`, `https://` (with a host) or `file://`
/// URL (with an absolute path).
pub fn check_location(url: &str) -> Result<(), LocationError> {
    if url.is_empty() {
        return Err(LocationError::Empty);
    }
    if url.starts_with('-') {
        return Err(LocationError::Option);
    }
    if has_space_or_control(url) {
        return Err(LocationError::Space);
    }
    if url.starts_with('/') {
        return Ok(());
    }
    let Some((scheme, rest)) = url.split_once("://") else {
        return Err(LocationError::Relative);
    };
    match scheme.to_ascii_lowercase().as_str() {
        "http" | "https" => {
            let host = rest.split(['/', '?', '#']).next().unwrap_or_default();
            if host.is_empty() {
                Err(LocationError::NoHost)
            } else {
                Ok(())
            }
        }
        "file" if rest.starts_with('/') => Ok(()),
        "file" => Err(LocationError::RelativeFile),
        _ => Err(LocationError::Scheme(scheme.to_owned())),
    }
}

/// Checks a branch, tag or commit name: non-empty, no whitespace, control
/// characters or `..`, and not an option (`-x`).
pub fn check_ref_name(name: &str) -> Result<(), LocationError> {
    if name.is_empty() {
        return Err(LocationError::Empty);
    }
    if has_space_or_control(name) {
        return Err(LocationError::Space);
    }
    if name.contains("..") {
        return Err(LocationError::DotDot);
    }
    if name.starts_with('-') {
        return Err(LocationError::Option);
    }
    Ok(())
}

#[cfg(test)]
mod location_tests {
    use super::*;

    #[test]
    fn locations_and_ref_names_are_checked() {
        for ok in [
            "/srv/git/bash.git",
            "file:///x",
            "https://git.example/rpms/bash",
        ] {
            assert_eq!(check_location(ok), Ok(()), "{ok}");
        }
        assert_eq!(check_location("rpms/bash"), Err(LocationError::Relative));
        assert_eq!(
            check_location("--upload-pack=x"),
            Err(LocationError::Option)
        );
        assert_eq!(check_location("https:///x"), Err(LocationError::NoHost));
        assert_eq!(check_location("file://x"), Err(LocationError::RelativeFile));
        assert_eq!(
            check_location("ssh://host/x"),
            Err(LocationError::Scheme("ssh".into()))
        );
        assert_eq!(check_ref_name("a9"), Ok(()));
        assert_eq!(check_ref_name("a/../b"), Err(LocationError::DotDot));
        assert_eq!(check_ref_name("-x"), Err(LocationError::Option));
        assert_eq!(check_ref_name("a b"), Err(LocationError::Space));
    }
}

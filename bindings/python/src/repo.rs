//! rpm-md repositories from Python: a full write, and the incremental,
//! atomic publisher.

use std::path::{Path, PathBuf};

use albs_core::repo::{self, MdCompression, Published, RepoError};
use serde_json::{Value, json};

use crate::{Error, Result};

fn repo_error(e: RepoError) -> Error {
    match e {
        RepoError::Io { .. } => Error::Io(e.to_string()),
        other => Error::Repo(other.to_string()),
    }
}

/// Writes rpm-md repodata for `rpms` into `dir` in one go; returns
/// `{"packages": n, "repomd": path, "data": [{type, href, checksum, open_checksum, size, open_size}]}`.
pub fn write_repo(dir: &Path, rpms: &[PathBuf]) -> Result<Value> {
    let s = repo::write_repo(dir, rpms).map_err(|e| Error::Repo(e.to_string()))?;
    Ok(json!({
        "packages": s.packages,
        "repomd": s.repomd.display().to_string(),
        "data": s.data.iter().map(|d| json!({
            "type": d.kind,
            "href": d.href,
            "checksum": d.checksum,
            "open_checksum": d.open_checksum,
            "size": d.size,
            "open_size": d.open_size,
        })).collect::<Vec<_>>(),
    }))
}

/// Checks every metadata file `repomd.xml` names in `dir` against its
/// checksums; returns them as `[{type, href, checksum, open_checksum, open_size}]`.
pub fn verify_repo(dir: &Path) -> Result<Value> {
    let files = repo::verify_repo(dir).map_err(repo_error)?;
    Ok(Value::Array(
        files
            .iter()
            .map(|f| {
                json!({
                    "type": f.kind,
                    "href": f.href,
                    "checksum": f.checksum,
                    "open_checksum": f.open_checksum,
                    "open_size": f.open_size,
                })
            })
            .collect(),
    ))
}

fn published(p: &Published) -> Value {
    json!({
        "generation": p.generation,
        "packages": p.packages,
        "repomd": p.repomd.display().to_string(),
        "files": p.files,
        "changed": p.changed,
        "signed": p.signed,
        "pruned": p.pruned,
    })
}

/// A repository under incremental, atomic publishing (holds its lock while
/// open).
#[derive(Debug)]
pub struct Repository(repo::Repo);

impl Repository {
    /// Opens (or creates) the repository in `dir`; `compression` is `gz` or
    /// `zst` when given.
    pub fn open(dir: &Path, compression: Option<&str>) -> Result<Self> {
        let mut r = repo::Repo::open(dir).map_err(repo_error)?;
        if let Some(c) = compression {
            let c: MdCompression = c
                .parse()
                .map_err(|_| Error::Parse(format!("compression {c:?}: use gz or zst")))?;
            r.set_compression(c);
        }
        Ok(Repository(r))
    }

    /// Adds (or updates) package files, which must be inside the
    /// repository directory; returns their NEVRAs.
    pub fn add(&mut self, paths: &[PathBuf]) -> Result<Vec<String>> {
        self.0.add(paths).map_err(repo_error)
    }

    /// Removes packages by NEVRA or path; returns the NEVRAs removed.
    pub fn remove(&mut self, specs: &[String]) -> Result<Vec<String>> {
        self.0.remove(specs).map_err(repo_error)
    }

    /// Publishes the package set: new metadata first, `repomd.xml` last.
    pub fn publish(&mut self) -> Result<Value> {
        Ok(published(&self.0.publish().map_err(repo_error)?))
    }

    /// Serves the previous generation again, byte for byte.
    pub fn revert(&mut self) -> Result<Value> {
        Ok(published(&self.0.revert().map_err(repo_error)?))
    }

    /// The packages of the working set: `(nevra, href, sha256)`.
    pub fn packages(&self) -> Vec<(String, String, String)> {
        self.0
            .packages()
            .into_iter()
            .map(|p| (p.nevra, p.href, p.pkgid))
            .collect()
    }
}

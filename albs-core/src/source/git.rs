//! The gix-based fetcher.
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;

use async_trait::async_trait;

use super::tree::{blocking, io_err, prepare_tree, repo_name};
use super::{FetchedSource, GitRef, Lookaside, SourceError, SourceFetcher, SourceRef};

/// Fetches dist-git repositories with gix and lookaside sources from a [`Lookaside`].
///
/// A git ref is cloned into `dest/<repository name>` (all branches and tags
/// are fetched, then the asked ref is checked out with a detached `HEAD`);
/// an SRPM ref is copied or downloaded into `dest`. Local clones (plain
/// paths, `file://`) run the `git` binary's `upload-pack`.
#[derive(Debug, Clone)]
pub struct GitFetcher {
    lookaside: Lookaside,
}

impl GitFetcher {
    /// A fetcher that takes lookaside blobs from `lookaside`.
    pub fn new(lookaside: Lookaside) -> Self {
        GitFetcher { lookaside }
    }

    /// The lookaside store it uses.
    pub fn lookaside(&self) -> &Lookaside {
        &self.lookaside
    }
}

#[async_trait]
impl SourceFetcher for GitFetcher {
    async fn fetch(&self, source: &SourceRef, dest: &Path) -> Result<FetchedSource, SourceError> {
        tokio::fs::create_dir_all(dest)
            .await
            .map_err(io_err(format!("creating {}", dest.display())))?;
        let (url, reference) = match source {
            SourceRef::Srpm { url } => return super::srpm::fetch_srpm(url, dest).await,
            SourceRef::Git { url, reference } => (url, reference),
        };
        let name = repo_name(url);
        let root = dest.join(&name);
        let commit = {
            let (url, reference, root) = (url.clone(), reference.clone(), root.clone());
            blocking(move || clone_at(&url, reference.as_ref(), &root)).await?
        };
        let prepared = prepare_tree(url, &name, dest, &root, &self.lookaside).await?;
        Ok(FetchedSource {
            source: source.clone(),
            root,
            commit: Some(commit),
            spec: Some(prepared.spec),
            sources_dir: prepared.sources_dir,
            lookaside: prepared.lookaside,
            srpm: None,
        })
    }
}

/// The gix URL for a plain path, `file://`, `http://` or `https://` location.
fn location(url: &str) -> Result<gix::Url, SourceError> {
    let bad = |message: String| SourceError::Git {
        url: url.to_owned(),
        message,
    };
    if let Some((scheme, _)) = url.split_once("://") {
        if !matches!(scheme, "file" | "http" | "https") {
            return Err(bad(format!(
                "unsupported URL scheme {scheme}:// (want a path, file://, http:// or https://)"
            )));
        }
        return gix::Url::try_from(url).map_err(|e| bad(chain(&e)));
    }
    let path = std::path::absolute(url).map_err(|e| bad(e.to_string()))?;
    gix::Url::try_from(path).map_err(|e| bad(chain(&e)))
}

/// An error and its causes, `: `-separated, each said once.
fn chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut out = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        let text = c.to_string();
        if !out.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        cause = c.source();
    }
    out
}

/// Clones `url` into `root`, checks out `reference` (the remote `HEAD` when
/// `None`) and returns the full hex id of the commit checked out.
fn clone_at(url: &str, reference: Option<&GitRef>, root: &Path) -> Result<String, SourceError> {
    let git = |e: gix::Error| SourceError::Git {
        url: url.to_owned(),
        message: chain(&e),
    };
    let interrupt = AtomicBool::new(false);
    let mut prepare = gix::prepare_clone(location(url)?, root)
        .map_err(git)?
        .with_remote_name("origin")
        .map_err(git)?;
    let (mut checkout, _) = prepare
        .fetch_then_checkout(gix::progress::Discard, &interrupt)
        .map_err(git)?;
    let repo = checkout.repo();
    let id = match reference {
        None => repo
            .head_id()
            .map_err(|e| SourceError::Git {
                url: url.to_owned(),
                message: format!("the repository has no HEAD commit: {}", chain(&e)),
            })?
            .detach(),
        Some(r) => {
            let id = resolve(repo, r)
                .map_err(git)?
                .ok_or_else(|| SourceError::RefNotFound {
                    url: url.to_owned(),
                    reference: r.to_string(),
                })?;
            let head = gix::refs::FullName::try_from("HEAD").map_err(|e| SourceError::Git {
                url: url.to_owned(),
                message: e.to_string(),
            })?;
            repo.edit_reference(gix::refs::transaction::RefEdit::update(
                head,
                id,
                gix::refs::transaction::PreviousValue::Any,
                format!("albs: checkout {r}"),
            ))
            .map_err(git)?;
            id
        }
    };
    let (_repo, outcome) = checkout
        .main_worktree(gix::progress::Discard, &interrupt)
        .map_err(git)?;
    if let Some(e) = outcome.errors.first() {
        return Err(SourceError::Git {
            url: url.to_owned(),
            message: format!(
                "checking out {} failed: {}",
                PathBuf::from(e.path.to_string()).display(),
                e.error
            ),
        });
    }
    if let Some(c) = outcome.collisions.first() {
        return Err(SourceError::Git {
            url: url.to_owned(),
            message: format!("checking out {} collided with another path", c.path),
        });
    }
    Ok(id.to_hex().to_string())
}

/// The commit `reference` names in the freshly cloned `repo`, if any.
fn resolve(
    repo: &gix::Repository,
    reference: &GitRef,
) -> Result<Option<gix::ObjectId>, gix::Error> {
    match reference {
        GitRef::Branch(n) => {
            let n = n.strip_prefix("refs/heads/").unwrap_or(n);
            peel_ref(repo, &format!("refs/remotes/origin/{n}"))
        }
        GitRef::Tag(n) => {
            let n = n.strip_prefix("refs/tags/").unwrap_or(n);
            peel_ref(repo, &format!("refs/tags/{n}"))
        }
        GitRef::Commit(c) => commit_by_id(repo, c),
        GitRef::Auto(n) => {
            for r in [GitRef::Branch(n.clone()), GitRef::Tag(n.clone())] {
                if let Some(id) = resolve(repo, &r)? {
                    return Ok(Some(id));
                }
            }
            commit_by_id(repo, n)
        }
    }
}

/// The commit the full reference `name` points to (through annotated tags).
fn peel_ref(repo: &gix::Repository, name: &str) -> Result<Option<gix::ObjectId>, gix::Error> {
    // A name git would refuse is simply not there.
    let Ok(full) = gix::refs::FullName::try_from(name) else {
        return Ok(None);
    };
    let Some(mut r) = repo.try_find_reference(full.as_ref())? else {
        return Ok(None);
    };
    Ok(Some(r.peel_to_commit()?.id))
}

/// The commit whose id is or starts with `hex` (at least 4 hex digits).
fn commit_by_id(repo: &gix::Repository, hex: &str) -> Result<Option<gix::ObjectId>, gix::Error> {
    if hex.len() < 4 || hex.len() > 40 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Ok(None);
    }
    // Not found and ambiguous prefixes both mean "no such commit".
    let Ok(id) = repo.rev_parse_single(hex) else {
        return Ok(None);
    };
    let object = id.object()?;
    if object.kind != gix::object::Kind::Commit {
        return Ok(None);
    }
    Ok(Some(object.id))
}

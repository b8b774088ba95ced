//! `updateinfo.xml` in the release repositories: whenever the released
//! errata of a platform change (an erratum released, a release committed or
//! reverted), each repository a release of the platform published gets the
//! released advisories whose fixed packages it holds, listing only those
//! packages.
//!
//! `Repo` writes `repomd.xml` without updateinfo; the updateinfo entry is
//! layered on the generation `Repo` published. The layering is recorded in
//! `{repos_dir}/.updateinfo/{repo}` (never served) as the sha256 of the
//! generation's `repomd.xml` and of the one served, so that the repository
//! still counts as what its release published (for a revert, and for the
//! sign node, which is offered the new `repomd.xml` to sign). A revert
//! restores the generation's own files byte for byte; the updateinfo of the
//! errata released then is layered again afterwards.

use std::collections::{BTreeSet, HashSet};
use std::path::{Path, PathBuf};

use albs_core::hash::Sha256;
use albs_core::release::ReleaseState;
use albs_core::repo::Repo;
use albs_oval::Advisory;

use crate::AppState;

/// Where the layering of `repo` is recorded.
fn record_path(root: &Path, repo: &str) -> PathBuf {
    root.join(".updateinfo").join(repo)
}

/// The sha256 of the `repomd.xml` `Repo` published for `repo` and of the
/// one served with updateinfo layered on it, when updateinfo was layered.
pub(crate) fn layered(root: &Path, repo: &str) -> Option<(Sha256, Sha256)> {
    let text = std::fs::read_to_string(record_path(root, repo)).ok()?;
    let (base, served) = text.trim().split_once(' ')?;
    Some((base.parse().ok()?, served.parse().ok()?))
}

/// Whether a repository serving a `repomd.xml` with sha256 `served` still
/// serves what a release that published `published` left, updateinfo
/// layered since included.
pub(crate) fn serves(root: &Path, repo: &str, published: Sha256, served: Sha256) -> bool {
    served == published
        || layered(root, repo).is_some_and(|(base, now)| base == published && now == served)
}

fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    std::fs::create_dir_all(path.parent().unwrap_or(Path::new(".")))?;
    albs_core::fsutil::write_atomic(path, bytes)
}

/// Writes `signature` as the `repomd.xml.asc` of the repository in `dir`
/// when the served `repomd.xml` (with sha256 `served`) has updateinfo
/// layered on it; such a signature is not kept with the `Repo` generation,
/// whose own `repomd.xml` differs. Returns false (nothing written) for a
/// `repomd.xml` as `Repo` published it.
pub(crate) fn attach_layered_signature(
    root: &Path,
    repo: &str,
    served: Sha256,
    signature: &str,
) -> std::io::Result<bool> {
    if layered(root, repo).is_none_or(|(_, now)| now != served) {
        return Ok(false);
    }
    let dir = root.join(repo);
    // Held so that no publish replaces repomd.xml meanwhile.
    let _repo = Repo::open(&dir).map_err(std::io::Error::other)?;
    write_atomic(&dir.join("repodata/repomd.xml.asc"), signature.as_bytes())?;
    Ok(true)
}

/// The advisories of `all` fixed by a package of the repository, each
/// listing only the packages the repository holds.
fn advisories_for(repo: &Repo, all: &[Advisory]) -> Vec<Advisory> {
    let files: HashSet<String> = repo
        .packages()
        .iter()
        .map(|p| p.href.rsplit('/').next().unwrap_or(&p.href).to_owned())
        .collect();
    all.iter()
        .filter_map(|a| {
            let packages: Vec<_> = a
                .packages
                .iter()
                .filter(|p| files.contains(&p.file_name()))
                .cloned()
                .collect();
            (!packages.is_empty()).then(|| Advisory {
                packages,
                ..a.clone()
            })
        })
        .collect()
}

/// Layers the updateinfo of `all` on repository `name`; returns whether
/// `repomd.xml` changed.
fn refresh_repo(root: &Path, name: &str, all: &[Advisory]) -> Result<bool, String> {
    let dir = root.join(name);
    let repodata = dir.join("repodata");
    let repomd_path = repodata.join("repomd.xml");
    if !repomd_path.is_file() {
        return Ok(false);
    }
    let repo = Repo::open(&dir).map_err(|e| e.to_string())?;
    let mine = advisories_for(&repo, all);
    let before =
        std::fs::read(&repomd_path).map_err(|e| format!("{}: {e}", repomd_path.display()))?;
    let before_sha = Sha256::of(&before);
    let text = String::from_utf8_lossy(&before);
    let has = text.contains("<data type=\"updateinfo\">");
    let open = Sha256::of(albs_oval::updateinfo_xml(&mine).as_bytes());
    let current = has
        && text.contains(&format!(
            "<open-checksum type=\"sha256\">{open}</open-checksum>"
        ));
    let added = if (mine.is_empty() && !has) || current {
        None
    } else {
        let base = match layered(root, name) {
            Some((base, now)) if now == before_sha => base,
            _ => before_sha,
        };
        let added = albs_oval::add_to_repo(&dir, &mine).map_err(|e| e.to_string())?;
        let after =
            std::fs::read(&repomd_path).map_err(|e| format!("{}: {e}", repomd_path.display()))?;
        let record = record_path(root, name);
        write_atomic(
            &record,
            format!("{base} {}\n", Sha256::of(&after)).as_bytes(),
        )
        .map_err(|e| format!("{}: {e}", record.display()))?;
        Some(added.path)
    };
    // Updateinfo files left by generations a revert put aside.
    let named: Vec<PathBuf> = std::fs::read_to_string(&repomd_path)
        .unwrap_or_default()
        .split("<location href=\"")
        .skip(1)
        .filter_map(|s| s.split('"').next())
        .map(|h| dir.join(h))
        .collect();
    if let Ok(list) = std::fs::read_dir(&repodata) {
        for f in list.flatten() {
            let path = f.path();
            if f.file_name()
                .to_string_lossy()
                .ends_with("-updateinfo.xml.gz")
                && !named.contains(&path)
            {
                let _ = std::fs::remove_file(&path);
            }
        }
    }
    drop(repo);
    Ok(added.is_some())
}

/// Brings the updateinfo of every repository published by a release of
/// `platform` in line with its released errata. The caller holds the
/// publishing lock. Failures are logged: the next change retries.
pub(crate) async fn refresh(state: &AppState, platform: &str) {
    let Some(root) = state.config.repos_dir.clone() else {
        return;
    };
    let releases = match state.store.releases().await {
        Ok(r) => r,
        Err(e) => {
            tracing::error!(platform, error = %e, "updateinfo: listing releases");
            return;
        }
    };
    let repos: BTreeSet<String> = releases
        .iter()
        .filter(|r| {
            r.platform == platform
                && matches!(r.state, ReleaseState::Committed | ReleaseState::Reverted)
        })
        .flat_map(|r| r.repositories.iter().map(|s| s.name.clone()))
        .collect();
    if repos.is_empty() {
        return;
    }
    let all = match crate::errata::released(state, platform).await {
        Ok(a) => a,
        Err(e) => {
            tracing::error!(platform, error = %e, "updateinfo: loading released errata");
            return;
        }
    };
    let platform = platform.to_owned();
    let done = tokio::task::spawn_blocking(move || {
        for name in &repos {
            match refresh_repo(&root, name, &all) {
                Ok(true) => tracing::info!(repo = %name, %platform, "updateinfo.xml updated"),
                Ok(false) => {}
                Err(e) => tracing::error!(repo = %name, error = %e, "updateinfo: updating"),
            }
        }
    })
    .await;
    if let Err(e) = done {
        tracing::error!(error = %e, "updateinfo: updating");
    }
}

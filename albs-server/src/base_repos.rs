//! The platform's base repositories, for the closure check of a release.
//!
//! A `file://` repository is read in place. An `http(s)://` one is mirrored
//! into a cache under the repository directory (`.cache/base/`, never
//! served): its `repomd.xml` is fetched on every check, and the primary and
//! filelists documents it names only when the cache does not hold them yet
//! with the checksum `repomd.xml` gives.

use std::path::{Path, PathBuf};

use albs_core::hash::Sha256;
use albs_core::platform::Platform;
use albs_core::release::repomd_href;

use crate::error::AppError;

/// The largest metadata document fetched (filelists of a big repository are
/// a few hundred MiB at most).
const MAX_DOCUMENT: usize = 1 << 30;

/// The arch of the release repository `repo` among the platform's arches
/// (the longest that `-arch` appears in the name), else `noarch`.
pub(crate) fn repo_arch<'a>(platform: &'a Platform, repo: &str) -> &'a str {
    platform
        .arches
        .iter()
        .map(|a| a.as_str())
        .filter(|a| repo.contains(&format!("-{a}")))
        .max_by_key(|a| a.len())
        .unwrap_or("noarch")
}

/// Local directories holding the base repositories of `platform` for the
/// arch of `repo`: `file://` ones as they are, remote ones mirrored into
/// `cache`. A remote repository that cannot be read refuses the check with
/// its URL named.
pub(crate) async fn base_repos(
    http: &reqwest::Client,
    platform: &Platform,
    repo: &str,
    cache: &Path,
) -> Result<Vec<PathBuf>, AppError> {
    let arch = repo_arch(platform, repo);
    let mut out = Vec::new();
    for r in &platform.repositories {
        let url = r.url.replace("$basearch", arch);
        if let Some(path) = url.strip_prefix("file://") {
            out.push(PathBuf::from(path));
        } else if url.starts_with("http://") || url.starts_with("https://") {
            let dir = cache.join(Sha256::of(url.as_bytes()).to_string());
            mirror(http, &url, &dir).await.map_err(|reason| {
                AppError::Conflict(format!(
                    "cannot read base repository {} of platform {} ({url}) for the closure \
                     check: {reason}; fix the platform's repository or commit with force",
                    r.name, platform.name
                ))
            })?;
            out.push(dir);
        }
    }
    Ok(out)
}

/// Mirrors `repomd.xml` and the primary and filelists documents of the
/// repository at `url` into `dir`.
async fn mirror(http: &reqwest::Client, url: &str, dir: &Path) -> Result<(), String> {
    let base = if url.ends_with('/') {
        url.to_owned()
    } else {
        format!("{url}/")
    };
    let repomd = fetch(http, &format!("{base}repodata/repomd.xml")).await?;
    let text = std::str::from_utf8(&repomd).map_err(|_| "repomd.xml is not UTF-8".to_owned())?;
    let mut wanted = Vec::new();
    for kind in ["primary", "filelists"] {
        let Some(href) = repomd_href(text, kind) else {
            if kind == "primary" {
                return Err("repomd.xml names no primary".into());
            }
            continue;
        };
        // The remote names files inside our cache: no way out of it.
        if href.starts_with('/')
            || href.contains('\\')
            || href
                .split('/')
                .any(|c| c.is_empty() || c == "." || c == "..")
        {
            return Err(format!("repomd.xml names an unsafe location {href:?}"));
        }
        wanted.push((href.clone(), checksum_of(text, kind)));
    }
    for (href, checksum) in wanted {
        let path = dir.join(&href);
        let cached = match (&checksum, tokio::fs::read(&path).await) {
            (Some(want), Ok(bytes)) => Sha256::of(&bytes).to_string() == *want,
            _ => false,
        };
        if cached {
            continue;
        }
        let bytes = fetch(http, &format!("{base}{href}")).await?;
        if let Some(want) = &checksum
            && Sha256::of(&bytes).to_string() != *want
        {
            return Err(format!("{href} does not have the sha256 repomd.xml gives"));
        }
        write(&path, &bytes).await?;
    }
    write(&dir.join("repodata/repomd.xml"), &repomd).await
}

/// The sha256 that `repomd.xml` gives for the document of `kind`, when it
/// gives one (other algorithms are not checked).
fn checksum_of(repomd: &str, kind: &str) -> Option<String> {
    let start = repomd.find(&format!("<data type=\"{kind}\""))?;
    let rest = &repomd[start..];
    let rest = &rest[..rest.find("</data>")?];
    let at = rest.find("<checksum ")?;
    let tag = &rest[at..];
    let close = tag.find('>')?;
    if !tag[..close].contains("type=\"sha256\"") {
        return None;
    }
    let value = &tag[close + 1..];
    Some(value[..value.find('<')?].trim().to_ascii_lowercase())
}

async fn fetch(http: &reqwest::Client, url: &str) -> Result<Vec<u8>, String> {
    let resp = http
        .get(url)
        .send()
        .await
        .map_err(|e| format!("GET {url}: {e}"))?;
    if !resp.status().is_success() {
        return Err(format!("GET {url}: {}", resp.status()));
    }
    if resp
        .content_length()
        .is_some_and(|n| n > MAX_DOCUMENT as u64)
    {
        return Err(format!("GET {url}: larger than {MAX_DOCUMENT} bytes"));
    }
    let bytes = resp.bytes().await.map_err(|e| format!("GET {url}: {e}"))?;
    if bytes.len() > MAX_DOCUMENT {
        return Err(format!("GET {url}: larger than {MAX_DOCUMENT} bytes"));
    }
    Ok(bytes.to_vec())
}

/// Writes `bytes` to `path` through a temporary file and a rename.
async fn write(path: &Path, bytes: &[u8]) -> Result<(), String> {
    let parent = path.parent().ok_or("a cache path has no parent")?;
    tokio::fs::create_dir_all(parent)
        .await
        .map_err(|e| format!("creating {}: {e}", parent.display()))?;
    let tmp = path.with_extension("part");
    tokio::fs::write(&tmp, bytes)
        .await
        .map_err(|e| format!("writing {}: {e}", tmp.display()))?;
    tokio::fs::rename(&tmp, path)
        .await
        .map_err(|e| format!("writing {}: {e}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checksums_are_read_from_repomd() {
        let repomd = r#"<repomd><data type="primary"><checksum type="sha256">ABC</checksum>
            <location href="repodata/abc-primary.xml.gz"/></data>
            <data type="filelists"><checksum type="sha1">def</checksum></data></repomd>"#;
        assert_eq!(checksum_of(repomd, "primary").as_deref(), Some("abc"));
        assert_eq!(checksum_of(repomd, "filelists"), None);
        assert_eq!(checksum_of(repomd, "other"), None);
    }
}

//! SRPM refs: a ready source RPM copied or downloaded into the destination
//! and checked to be a source package.
use std::path::{Path, PathBuf};

use tokio::io::AsyncWriteExt;

use super::tree::{blocking, io_err};
use super::{FetchedSource, SourceError, SourceRef};

/// The file name an SRPM from `url` gets in the destination.
pub(crate) fn file_name(url: &str) -> String {
    let trimmed = url.split(['?', '#']).next().unwrap_or(url);
    let last = trimmed.rsplit('/').next().unwrap_or("");
    let ok = !last.is_empty()
        && !last.starts_with('.')
        && last
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.+~^".contains(&b));
    if ok {
        last.to_owned()
    } else {
        "source.src.rpm".into()
    }
}

fn srpm_err(url: &str, message: impl std::fmt::Display) -> SourceError {
    SourceError::Srpm {
        url: url.to_owned(),
        message: message.to_string(),
    }
}

/// Checks that `path` (fetched from `url`) is a source RPM by reading its
/// lead and headers.
pub(crate) fn check_srpm(url: &str, path: &Path) -> Result<(), SourceError> {
    let meta = rpm::PackageMetadata::open(path)
        .map_err(|e| srpm_err(url, format!("not an RPM package: {e}")))?;
    if !meta.is_source_package() {
        let name = meta.get_name().unwrap_or("?");
        return Err(srpm_err(
            url,
            format!("{name} is a binary RPM, not a source RPM"),
        ));
    }
    Ok(())
}

/// Fetches the SRPM `url` into `dest` and checks it.
pub(crate) async fn fetch_srpm(url: &str, dest: &Path) -> Result<FetchedSource, SourceError> {
    let name = file_name(url);
    let target = dest.join(&name);
    if url.starts_with("http://") || url.starts_with("https://") {
        download(url, &target).await?;
    } else if url.contains("://") && !url.starts_with("file://") {
        return Err(srpm_err(
            url,
            "unsupported URL scheme (want a path, file://, http:// or https://)",
        ));
    } else {
        let from = PathBuf::from(url.strip_prefix("file://").unwrap_or(url));
        tokio::fs::copy(&from, &target)
            .await
            .map_err(|e| srpm_err(url, e))?;
    }
    finish(url, dest, name).await
}

/// Checks the SRPM `name` already written into `dest` and describes it;
/// removes it when it is not a source RPM.
pub(crate) async fn finish(
    url: &str,
    dest: &Path,
    name: String,
) -> Result<FetchedSource, SourceError> {
    let target = dest.join(&name);
    let checked = {
        let (url, target) = (url.to_owned(), target.clone());
        blocking(move || check_srpm(&url, &target)).await
    };
    if let Err(e) = checked {
        let _ = tokio::fs::remove_file(&target).await;
        return Err(e);
    }
    Ok(FetchedSource {
        source: SourceRef::Srpm {
            url: url.to_owned(),
        },
        root: dest.to_path_buf(),
        commit: None,
        spec: None,
        sources_dir: PathBuf::from("."),
        lookaside: vec![],
        srpm: Some(PathBuf::from(name)),
    })
}

async fn download(url: &str, target: &Path) -> Result<(), SourceError> {
    let client = reqwest::Client::builder()
        .connect_timeout(std::time::Duration::from_secs(30))
        .build()
        .map_err(|e| srpm_err(url, e))?;
    let mut resp = client.get(url).send().await.map_err(|e| srpm_err(url, e))?;
    if !resp.status().is_success() {
        return Err(srpm_err(url, format!("HTTP {}", resp.status())));
    }
    let mut out = tokio::fs::File::create(target)
        .await
        .map_err(io_err(format!("creating {}", target.display())))?;
    while let Some(chunk) = resp.chunk().await.map_err(|e| srpm_err(url, e))? {
        out.write_all(&chunk)
            .await
            .map_err(io_err(format!("writing {}", target.display())))?;
    }
    out.flush()
        .await
        .map_err(io_err(format!("writing {}", target.display())))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_names_are_plain() {
        assert_eq!(
            file_name("https://x/a/hello-1.0-1.src.rpm?x=1"),
            "hello-1.0-1.src.rpm"
        );
        assert_eq!(file_name("/tmp/../.."), "source.src.rpm");
        assert_eq!(file_name("https://x/"), "source.src.rpm");
    }
}

//! The published repositories, read-only, at `GET /repos/{name}/...`
//! (`{name}` is `{platform}-{arch}` or `{product}/{platform}-{arch}`), as
//! dnf reads them over HTTP. Paths are checked segment by segment: empty,
//! `.`, `..` and hidden segments (the `.albs` state of a repository) are
//! refused, and the file must resolve inside the repository directory. A
//! private product's repositories exist for its members and admins only.

use std::path::{Path, PathBuf};

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};

use crate::AppState;
use crate::error::AppError;
use crate::extract::{ApiPath, Reader};

fn not_found(path: &str) -> AppError {
    AppError::NotFound(format!("/repos/{path} does not exist"))
}

/// The file under `root` that `path` names, when it is a safe relative path.
pub(crate) fn resolve(root: &Path, path: &str) -> Option<PathBuf> {
    let mut out = root.to_path_buf();
    for seg in path.split('/') {
        if seg.is_empty() || seg.starts_with('.') || seg.contains('\\') || seg.contains('\0') {
            return None;
        }
        out.push(seg);
    }
    Some(out)
}

fn content_type(path: &Path) -> &'static str {
    match path.extension().and_then(|e| e.to_str()) {
        Some("xml") => "application/xml",
        Some("asc") => "application/pgp-signature",
        Some("rpm") => "application/x-rpm",
        Some("gz") => "application/gzip",
        Some("zst") => "application/zstd",
        _ => "application/octet-stream",
    }
}

/// `GET /repos/{*path}`.
pub(crate) async fn serve(
    State(state): State<AppState>,
    Reader(reader): Reader,
    ApiPath(path): ApiPath<String>,
) -> Result<Response, AppError> {
    let Some(root) = state.config.repos_dir.clone() else {
        return Err(not_found(&path));
    };
    let file = resolve(&root, &path).ok_or_else(|| {
        AppError::BadRequest(format!(
            "/repos/{path} is not a repository path: empty, '.', '..' and hidden segments are \
             refused"
        ))
    })?;
    let first = path.split('/').next().unwrap_or_default();
    if state
        .store
        .hidden_products(reader.as_ref())
        .await?
        .contains(first)
    {
        return Err(not_found(&path));
    }
    // No link may lead outside the repositories.
    let (Ok(real), Ok(real_root)) = (
        tokio::fs::canonicalize(&file).await,
        tokio::fs::canonicalize(&root).await,
    ) else {
        return Err(not_found(&path));
    };
    if !real.starts_with(&real_root) {
        return Err(not_found(&path));
    }
    let f = match tokio::fs::File::open(&real).await {
        Ok(f) => f,
        Err(_) => return Err(not_found(&path)),
    };
    let meta = f
        .metadata()
        .await
        .map_err(|e| AppError::internal("reading a repository file", e))?;
    if !meta.is_file() {
        return Err(not_found(&path));
    }
    let body = Body::from_stream(tokio_util::io::ReaderStream::new(f));
    let mut resp = body.into_response();
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(content_type(&real)),
    );
    h.insert(header::CONTENT_LENGTH, HeaderValue::from(meta.len()));
    Ok(resp)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn traversal_is_refused() {
        let root = Path::new("/srv/repos");
        assert_eq!(
            resolve(root, "almalinux-9-x86_64/repodata/repomd.xml"),
            Some(PathBuf::from(
                "/srv/repos/almalinux-9-x86_64/repodata/repomd.xml"
            ))
        );
        for bad in [
            "../etc/passwd",
            "a/../../etc",
            "a/./b",
            "a//b",
            "a/.albs/repo.json",
            "",
            "a/",
            ".work/release-1/x.rpm",
        ] {
            assert_eq!(resolve(root, bad), None, "{bad}");
        }
    }
}

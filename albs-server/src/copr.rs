//! Community repositories for dnf: a product's published repositories
//! (`/repos/{product}/{platform}-{arch}/`) described by a `.repo` file, the
//! public keys its packages and `repomd.xml` are signed with, and the
//! COPR-compatible endpoints that dnf's `copr` plugin
//! (`dnf copr enable --hub URL OWNER/PRODUCT CHROOT`) reads.
//!
//! * `GET /products/{name}/{platform}.repo`: one repository per platform,
//!   `baseurl` ending in `{platform}-$basearch`, `gpgcheck=1`,
//!   `repo_gpgcheck=1` and `gpgkey=` naming the product's keys for the
//!   platform, else the platform's.
//! * `GET /api/v1/keys/{fingerprint}.asc`: a registered public key.
//! * `GET /coprs/{owner}/{product}/repo/{platform}/dnf.repo?arch=`: the same
//!   repository under the section name the plugin expects
//!   (`copr:{host}:{owner}:{product}`); the owner is the product's team, or
//!   `albs` for a product without one.
//! * `GET /api_3/project?ownername=&projectname=`,
//!   `GET /api_3/project/list?ownername=`, `GET /api_3/project/search?query=`:
//!   the products as COPR projects.
//!
//! Private products exist only for their readers here too. A `.repo` file
//! always enforces signatures: without a registered key it is refused.

use albs_core::api::{KeyState, SignKey};
use albs_core::db::{Product, User};
use albs_core::platform::Platform;
use axum::Json;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::AppState;
use crate::error::AppError;
use crate::extract::{ApiPath, Reader};

/// The COPR owner of a product that belongs to no team.
pub const DEFAULT_OWNER: &str = "albs";

/// The COPR owner of `product`: its team, else [`DEFAULT_OWNER`].
pub(crate) fn copr_owner(product: &Product) -> &str {
    product
        .team
        .as_deref()
        .filter(|t| !t.is_empty())
        .unwrap_or(DEFAULT_OWNER)
}

/// The product `name` when it exists and `reader` may see it.
pub(crate) async fn visible_product(
    state: &AppState,
    reader: Option<&User>,
    name: &str,
) -> Result<Product, AppError> {
    let missing = || AppError::NotFound(format!("product {name} does not exist"));
    let product = state
        .store
        .products()
        .await?
        .into_iter()
        .find(|p| p.name == name)
        .ok_or_else(missing)?;
    if state.store.hidden_products(reader).await?.contains(name) {
        return Err(missing());
    }
    Ok(product)
}

/// Every product `reader` may see.
pub(crate) async fn visible_products(
    state: &AppState,
    reader: Option<&User>,
) -> Result<Vec<Product>, AppError> {
    let hidden = state.store.hidden_products(reader).await?;
    let mut all = state.store.products().await?;
    all.retain(|p| !hidden.contains(&p.name));
    Ok(all)
}

/// The server's own URL as a client reached it: `public_base_url`, else
/// `http://` and the request's `Host`.
fn base_url(state: &AppState, headers: &HeaderMap) -> Result<String, AppError> {
    if let Some(b) = &state.config.public_base_url {
        return Ok(b.trim_end_matches('/').to_owned());
    }
    Ok(format!("http://{}", host(headers)?))
}

/// The `Host` of the request, checked so that it cannot change the shape
/// of a generated file.
fn host(headers: &HeaderMap) -> Result<String, AppError> {
    let h = headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let ok = !h.is_empty()
        && h.len() <= 255
        && h.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | ':' | '[' | ']'));
    if ok {
        Ok(h.to_owned())
    } else {
        Err(AppError::BadRequest(format!(
            "the Host header {h:?} is not a host name (and no public base URL is configured)"
        )))
    }
}

/// The host part of a base URL or `Host` value, without scheme and port
/// (how the copr plugin names the repository).
fn host_name(base: &str) -> &str {
    let h = base.split_once("://").map_or(base, |(_, rest)| rest);
    let h = h.split('/').next().unwrap_or(h);
    if h.starts_with('[') {
        return h
            .split_once(']')
            .map_or(h, |(a, _)| a)
            .trim_start_matches('[');
    }
    h.rsplit_once(':').map_or(h, |(a, _)| a)
}

async fn find_platform(state: &AppState, name: &str) -> Result<Platform, AppError> {
    state
        .store
        .platform(name)
        .await?
        .ok_or_else(|| AppError::NotFound(format!("platform {name} does not exist")))
}

/// The keys that sign `product`'s packages for `platform`: the product's
/// own when it has any, else the platform's; active ones first, archived
/// ones after (they still verify what they signed).
async fn repo_keys(
    state: &AppState,
    product: &str,
    platform: &str,
) -> Result<Vec<SignKey>, AppError> {
    let all: Vec<SignKey> = state
        .store
        .sign_keys()
        .await?
        .into_iter()
        .filter(|k| k.platform == platform)
        .collect();
    let own: Vec<SignKey> = all
        .iter()
        .filter(|k| k.product.as_deref() == Some(product))
        .cloned()
        .collect();
    let mut keys = if own.is_empty() {
        all.into_iter().filter(|k| k.product.is_none()).collect()
    } else {
        own
    };
    keys.sort_by_key(|k| (k.state != KeyState::Active, std::cmp::Reverse(k.created)));
    if keys.is_empty() {
        return Err(AppError::Conflict(format!(
            "no signing key is registered for platform {platform} (or product {product}); \
             register one with `albs key register --platform {platform}` before publishing \
             repositories that dnf verifies"
        )));
    }
    Ok(keys)
}

/// The text of a dnf `.repo` section for `product` on `platform`.
async fn repo_section(
    state: &AppState,
    base: &str,
    section: &str,
    product: &str,
    platform: &Platform,
) -> Result<String, AppError> {
    let keys = repo_keys(state, product, &platform.name).await?;
    let gpgkey = keys
        .iter()
        .map(|k| format!("{base}/api/v1/keys/{}.asc", k.fingerprint))
        .collect::<Vec<_>>()
        .join("\n       ");
    Ok(format!(
        "[{section}]\n\
         name={product} for {platform} ($basearch)\n\
         baseurl={base}/repos/{product}/{platform}-$basearch/\n\
         enabled=1\n\
         gpgcheck=1\n\
         repo_gpgcheck=1\n\
         gpgkey={gpgkey}\n\
         skip_if_unavailable=False\n",
        platform = platform.name,
    ))
}

fn repo_file(text: String, filename: &str) -> Response {
    let mut resp = text.into_response();
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    if let Ok(v) = HeaderValue::from_str(&format!("inline; filename=\"{filename}\"")) {
        h.insert(header::CONTENT_DISPOSITION, v);
    }
    resp
}

/// `GET /products/{name}/{platform}.repo`: the product's repositories of
/// one platform, for `/etc/yum.repos.d`.
pub(crate) async fn product_repo(
    State(state): State<AppState>,
    Reader(reader): Reader,
    headers: HeaderMap,
    ApiPath((name, file)): ApiPath<(String, String)>,
) -> Result<Response, AppError> {
    let Some(platform) = file.strip_suffix(".repo") else {
        return Err(AppError::NotFound(format!(
            "no page /products/{name}/{file}; a product's repository file is /products/{name}/{{platform}}.repo"
        )));
    };
    let product = visible_product(&state, reader.as_ref(), &name).await?;
    let platform = find_platform(&state, platform).await?;
    let base = base_url(&state, &headers)?;
    let section = format!("albs-{}-{}", product.name, platform.name);
    let text = repo_section(&state, &base, &section, &product.name, &platform).await?;
    Ok(repo_file(
        text,
        &format!("{}-{}.repo", product.name, platform.name),
    ))
}

/// `GET /api/v1/keys/{fingerprint}.asc`: a registered public key, armored.
pub(crate) async fn key_asc(
    State(state): State<AppState>,
    ApiPath(file): ApiPath<String>,
) -> Result<Response, AppError> {
    let Some(fpr) = file.strip_suffix(".asc") else {
        return Err(AppError::NotFound(format!(
            "no route /api/v1/keys/{file}; a public key is /api/v1/keys/{{fingerprint}}.asc"
        )));
    };
    let key = state
        .store
        .sign_key(&fpr.to_ascii_uppercase())
        .await?
        .ok_or_else(|| AppError::NotFound(format!("signing key {fpr} is not registered")))?;
    let mut resp = key.public_key.into_response();
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/pgp-keys"),
    );
    Ok(resp)
}

/// The query of `dnf.repo`.
#[derive(Debug, Default, Deserialize)]
struct ArchQuery {
    arch: Option<String>,
}

/// `GET /coprs/{owner}/{project}/repo/{chroot}/dnf.repo?arch=`, as the copr
/// plugin of dnf asks for it; `chroot` is the platform's name.
pub(crate) async fn copr_dnf_repo(
    State(state): State<AppState>,
    Reader(reader): Reader,
    headers: HeaderMap,
    ApiPath((owner, project, chroot)): ApiPath<(String, String, String)>,
    RawQuery(raw): RawQuery,
) -> Result<Response, AppError> {
    let q: ArchQuery = serde_urlencoded::from_str(raw.as_deref().unwrap_or(""))
        .map_err(|e| AppError::BadRequest(format!("query: {e}")))?;
    let product = visible_product(&state, reader.as_ref(), &project).await?;
    if copr_owner(&product) != owner {
        return Err(AppError::NotFound(format!(
            "project {owner}/{project} does not exist; it is {}/{project}",
            copr_owner(&product)
        )));
    }
    let platforms = state.store.platforms().await?;
    let chroots = |platforms: &[Platform]| -> Vec<String> {
        platforms
            .iter()
            .flat_map(|p| {
                p.arches
                    .iter()
                    .map(move |a| format!("{}-{}", p.name, a.as_str()))
            })
            .collect()
    };
    let platform = platforms.iter().find(|p| p.name == chroot);
    let arch_ok = |p: &Platform| {
        q.arch
            .as_deref()
            .is_none_or(|a| p.arches.iter().any(|pa| pa.as_str() == a))
    };
    let Some(platform) = platform.filter(|p| arch_ok(p)) else {
        let wanted = match &q.arch {
            Some(a) => format!("{chroot}-{a}"),
            None => chroot.clone(),
        };
        let data = json!({ "available chroots": chroots(&platforms) });
        let mut resp =
            AppError::NotFound(format!("project {owner}/{project} has no chroot {wanted}"))
                .into_response();
        if let Ok(v) = HeaderValue::from_str(&base64(data.to_string().as_bytes())) {
            resp.headers_mut().insert("Copr-Error-Data", v);
        }
        return Ok(resp);
    };
    let base = base_url(&state, &headers)?;
    let section = format!("copr:{}:{owner}:{project}", host_name(&base));
    let text = repo_section(&state, &base, &section, &product.name, platform).await?;
    Ok(repo_file(text, "dnf.repo"))
}

/// A product as a COPR project.
fn project_json(p: &Product, platforms: &[Platform], base: &str) -> Value {
    let owner = copr_owner(p);
    let chroots: Vec<String> = platforms
        .iter()
        .flat_map(|pl| {
            pl.arches
                .iter()
                .map(move |a| format!("{}-{}", pl.name, a.as_str()))
        })
        .collect();
    json!({
        "name": p.name,
        "ownername": owner,
        "full_name": format!("{owner}/{}", p.name),
        "description": format!("packages of {} built by albs", p.name),
        "instructions": format!(
            "dnf copr enable --hub {base} {owner}/{} PLATFORM-ARCH, or download {base}/products/{}/PLATFORM.repo",
            p.name, p.name
        ),
        "chroot_repos": platforms.iter().flat_map(|pl| pl.arches.iter().map(move |a| (
            format!("{}-{}", pl.name, a.as_str()),
            Value::from(format!("{base}/repos/{}/{}-{}/", p.name, pl.name, a.as_str())),
        ))).collect::<serde_json::Map<String, Value>>(),
        "chroots": chroots,
        "unlisted_on_hp": false,
    })
}

/// The query of the `api_3` project routes.
#[derive(Debug, Default, Deserialize)]
struct ProjectQuery {
    ownername: Option<String>,
    projectname: Option<String>,
    query: Option<String>,
}

fn project_query(raw: Option<&str>) -> Result<ProjectQuery, AppError> {
    serde_urlencoded::from_str(raw.unwrap_or(""))
        .map_err(|e| AppError::BadRequest(format!("query: {e}")))
}

/// `GET /api_3/project?ownername=&projectname=`.
pub(crate) async fn api3_project(
    State(state): State<AppState>,
    Reader(reader): Reader,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Result<Json<Value>, AppError> {
    let q = project_query(raw.as_deref())?;
    let (Some(owner), Some(name)) = (q.ownername, q.projectname) else {
        return Err(AppError::BadRequest(
            "query: ownername and projectname are required".into(),
        ));
    };
    let p = visible_product(&state, reader.as_ref(), &name).await?;
    if copr_owner(&p) != owner {
        return Err(AppError::NotFound(format!(
            "project {owner}/{name} does not exist"
        )));
    }
    let platforms = state.store.platforms().await?;
    let base = base_url(&state, &headers)?;
    Ok(Json(project_json(&p, &platforms, &base)))
}

/// `GET /api_3/project/list?ownername=`: the owner's projects.
pub(crate) async fn api3_project_list(
    State(state): State<AppState>,
    Reader(reader): Reader,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Result<Json<Value>, AppError> {
    let q = project_query(raw.as_deref())?;
    let platforms = state.store.platforms().await?;
    let base = base_url(&state, &headers)?;
    let items: Vec<Value> = visible_products(&state, reader.as_ref())
        .await?
        .iter()
        .filter(|p| q.ownername.as_deref().is_none_or(|o| copr_owner(p) == o))
        .map(|p| project_json(p, &platforms, &base))
        .collect();
    Ok(Json(
        json!({ "items": items, "meta": { "limit": null, "offset": 0 } }),
    ))
}

/// `GET /api_3/project/search?query=`: projects whose name contains the
/// query.
pub(crate) async fn api3_project_search(
    State(state): State<AppState>,
    Reader(reader): Reader,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Result<Json<Value>, AppError> {
    let q = project_query(raw.as_deref())?;
    let Some(query) = q.query.filter(|s| !s.is_empty()) else {
        return Err(AppError::BadRequest("query: query is required".into()));
    };
    let platforms = state.store.platforms().await?;
    let base = base_url(&state, &headers)?;
    let needle = query.to_lowercase();
    let items: Vec<Value> = visible_products(&state, reader.as_ref())
        .await?
        .iter()
        .filter(|p| {
            p.name.to_lowercase().contains(&needle)
                || copr_owner(p).to_lowercase().contains(&needle)
        })
        .map(|p| project_json(p, &platforms, &base))
        .collect();
    Ok(Json(
        json!({ "items": items, "meta": { "limit": null, "offset": 0 } }),
    ))
}

/// Standard base64 with padding (the `Copr-Error-Data` header).
fn base64(data: &[u8]) -> String {
    const ABC: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(data.len().div_ceil(3) * 4);
    for chunk in data.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ABC[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_matches_rfc_4648() {
        for (plain, enc) in [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("fooba", "Zm9vYmE="),
            ("foobar", "Zm9vYmFy"),
        ] {
            assert_eq!(base64(plain.as_bytes()), enc, "{plain}");
        }
    }

    #[test]
    fn host_names_drop_scheme_port_and_path() {
        assert_eq!(host_name("http://127.0.0.1:8080"), "127.0.0.1");
        assert_eq!(host_name("https://albs.example/sub"), "albs.example");
        assert_eq!(host_name("http://[::1]:80"), "::1");
        assert_eq!(host_name("albs.example"), "albs.example");
    }

    #[test]
    fn hosts_that_would_break_a_repo_file_are_refused() {
        let mut h = HeaderMap::new();
        h.insert(header::HOST, HeaderValue::from_static("a.example:8080"));
        assert_eq!(host(&h).unwrap(), "a.example:8080");
        h.insert(header::HOST, HeaderValue::from_static("a.example/x?y"));
        assert!(host(&h).unwrap_err().to_string().contains("a.example/x?y"));
        h.remove(header::HOST);
        assert!(host(&h).is_err());
    }
}

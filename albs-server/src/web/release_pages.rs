//! `GET /releases`, `/releases/{id}`, `/errata` and `/errata/{id}`: the
//! release plans and the errata a reader may see.
//!
//! A release of a private product (or of any build of one) exists for the
//! product's members and admins only, as in the JSON API. Released errata
//! are for everyone; drafts and approved errata for signed-in users only.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use albs_core::db::User;
use albs_core::db::errata::{Erratum, ErratumState};
use albs_core::release::Release;
use axum::extract::{RawQuery, State};
use serde::Serialize;

use super::{Page, WebError, access, fmt_time, render, user_name};
use crate::AppState;
use crate::error::AppError;
use crate::extract::{ApiPath, Reader};

fn no_release(id: u64) -> AppError {
    AppError::NotFound(format!("release {id} does not exist"))
}

fn no_erratum(id: &str) -> AppError {
    AppError::NotFound(format!("erratum {id} does not exist"))
}

/// The product (`""` when none) of each of these builds, asked in chunks.
async fn products_of(state: &AppState, builds: &[u64]) -> Result<HashMap<u64, String>, AppError> {
    let mut out = HashMap::new();
    for chunk in builds.chunks(500) {
        out.extend(state.store.build_products(chunk).await?);
    }
    Ok(out)
}

/// Whether a reader from whom `hidden` products are hidden may see release
/// `r`: not when its product, or the product of one of its builds (in
/// `products`), is hidden.
fn may_read_release(
    hidden: &BTreeSet<String>,
    products: &HashMap<u64, String>,
    r: &Release,
) -> bool {
    if r.product.as_ref().is_some_and(|p| hidden.contains(p)) {
        return false;
    }
    !r.builds
        .iter()
        .filter_map(|b| products.get(b))
        .any(|p| hidden.contains(p))
}

/// Drafts and approved errata are for signed-in users (as in the API).
fn readable(e: &Erratum, reader: Option<&User>) -> bool {
    e.state == ErratumState::Released || reader.is_some()
}

#[derive(Serialize)]
struct ReleaseRow {
    id: u64,
    state: String,
    platform: String,
    product: Option<String>,
    owner: String,
    packages: usize,
    builds: Vec<u64>,
    created: String,
    committed: Option<String>,
    reverted: Option<String>,
}

impl From<&Release> for ReleaseRow {
    fn from(r: &Release) -> Self {
        ReleaseRow {
            id: r.id,
            state: r.state.to_string(),
            platform: r.platform.clone(),
            product: r.product.clone(),
            owner: r.owner.clone(),
            packages: r.entries.len(),
            builds: r.builds.clone(),
            created: fmt_time(r.created),
            committed: r.committed.map(fmt_time),
            reverted: r.reverted.map(fmt_time),
        }
    }
}

/// `GET /releases`: the releases the reader may see, newest first.
pub(super) async fn releases_page(
    State(state): State<AppState>,
    Reader(reader): Reader,
) -> Result<Page, WebError> {
    let hidden = state.store.hidden_products(reader.as_ref()).await?;
    let mut rows = Vec::new();
    let mut all = state.store.releases().await?;
    all.sort_by(|a, b| b.created.cmp(&a.created).then(b.id.cmp(&a.id)));
    let products = if hidden.is_empty() {
        HashMap::new()
    } else {
        let mut ids: Vec<u64> = all.iter().flat_map(|r| r.builds.iter().copied()).collect();
        ids.sort_unstable();
        ids.dedup();
        products_of(&state, &ids).await?
    };
    for r in &all {
        if may_read_release(&hidden, &products, r) {
            rows.push(ReleaseRow::from(r));
        }
    }
    Ok(render(
        "releases.html",
        minijinja::context! { user => user_name(&reader), releases => rows },
    ))
}

#[derive(Serialize)]
struct EntryRow {
    nevra: String,
    name: String,
    build_id: u64,
    sha256: String,
    repos: Vec<String>,
}

#[derive(Serialize)]
struct RepoStateRow {
    name: String,
    repomd_sha256: String,
    generation: u64,
    signed: bool,
}

/// `GET /releases/{id}`: a release's packages and their repositories, its
/// state and the repositories as its commit left them.
pub(super) async fn release_page(
    State(state): State<AppState>,
    Reader(reader): Reader,
    ApiPath(id): ApiPath<u64>,
) -> Result<Page, WebError> {
    let r = state
        .store
        .release(id)
        .await?
        .ok_or_else(|| no_release(id))?;
    let hidden = state.store.hidden_products(reader.as_ref()).await?;
    let products = products_of(&state, &r.builds).await?;
    if !may_read_release(&hidden, &products, &r) {
        return Err(no_release(id).into());
    }
    // One row per package, with every repository it goes to.
    let mut entries: BTreeMap<(String, u64, String), EntryRow> = BTreeMap::new();
    for e in &r.entries {
        let nevra = e.nevra.to_string();
        let sha = e.sha256.to_string();
        entries
            .entry((nevra.clone(), e.build_id, sha.clone()))
            .or_insert_with(|| EntryRow {
                nevra,
                name: e.name.clone(),
                build_id: e.build_id,
                sha256: sha,
                repos: Vec::new(),
            })
            .repos
            .push(e.repo.clone());
    }
    let root = state.config.repos_dir.clone();
    let repositories: Vec<RepoStateRow> = r
        .repositories
        .iter()
        .map(|s| RepoStateRow {
            signed: root
                .as_ref()
                .is_some_and(|d| d.join(&s.name).join("repodata/repomd.xml.asc").is_file()),
            name: s.name.clone(),
            repomd_sha256: s.repomd_sha256.to_string(),
            generation: s.generation,
        })
        .collect();
    Ok(render(
        "release.html",
        minijinja::context! {
            user => user_name(&reader),
            release => ReleaseRow::from(&r),
            reason => r.reason.clone(),
            entries => entries.into_values().collect::<Vec<_>>(),
            repositories => repositories,
        },
    ))
}

#[derive(Serialize)]
struct ErratumRow {
    id: String,
    platform: String,
    kind: String,
    severity: Option<String>,
    title: String,
    state: String,
    cves: Vec<String>,
    packages: usize,
    updated: String,
    released: Option<String>,
}

impl From<&Erratum> for ErratumRow {
    fn from(e: &Erratum) -> Self {
        ErratumRow {
            id: e.id.clone(),
            platform: e.platform.clone(),
            kind: e.content.kind.clone(),
            severity: e.content.severity.clone(),
            title: e.content.title.clone(),
            state: e.state.to_string(),
            cves: e.content.cves.clone(),
            packages: e.content.packages.len(),
            updated: fmt_time(e.updated),
            released: e.released.map(fmt_time),
        }
    }
}

/// `GET /errata[?platform=]`: the errata the reader may see, newest first.
pub(super) async fn errata_page(
    State(state): State<AppState>,
    Reader(reader): Reader,
    RawQuery(raw): RawQuery,
) -> Result<Page, WebError> {
    let pairs: Vec<(String, String)> = serde_urlencoded::from_str(raw.as_deref().unwrap_or(""))
        .map_err(|e| AppError::BadRequest(format!("the query string does not parse: {e}")))?;
    let mut platform = None;
    for (k, v) in pairs {
        match k.as_str() {
            "platform" => platform = Some(v).filter(|v| !v.is_empty()),
            other => {
                return Err(AppError::BadRequest(format!(
                    "unknown query parameter {other:?}; this page takes platform"
                ))
                .into());
            }
        }
    }
    let platforms: Vec<String> = state
        .store
        .platforms()
        .await?
        .into_iter()
        .map(|p| p.name)
        .collect();
    if let Some(p) = &platform
        && !platforms.contains(p)
    {
        return Err(AppError::NotFound(format!("platform {p} does not exist")).into());
    }
    let mut all = state.store.list_errata(platform.as_deref(), None).await?;
    all.retain(|e| readable(e, reader.as_ref()));
    all.sort_by(|a, b| b.updated.cmp(&a.updated).then(b.id.cmp(&a.id)));
    let rows: Vec<ErratumRow> = all.iter().map(ErratumRow::from).collect();
    Ok(render(
        "errata.html",
        minijinja::context! {
            user => user_name(&reader),
            platforms => platforms,
            platform => platform,
            errata => rows,
        },
    ))
}

#[derive(Serialize)]
struct FixedRow {
    nevra: String,
    sha256: Option<String>,
    signing_key: Option<String>,
    source_rpm: Option<String>,
    /// The build, when the reader may see it.
    build_id: Option<u64>,
}

/// `GET /errata/{id}`: an erratum with its fixed packages and the
/// platform's exports.
pub(super) async fn erratum_page(
    State(state): State<AppState>,
    Reader(reader): Reader,
    ApiPath(id): ApiPath<String>,
) -> Result<Page, WebError> {
    let e = state
        .store
        .erratum(&id)
        .await?
        .filter(|e| readable(e, reader.as_ref()))
        .ok_or_else(|| no_erratum(&id))?;
    let mut packages = Vec::new();
    for p in &e.content.packages {
        let build_id = match p.build_id {
            Some(b) if access::may_read_build_id(&state, reader.as_ref(), b).await? => Some(b),
            _ => None,
        };
        packages.push(FixedRow {
            nevra: p.nevra.to_string(),
            sha256: p.sha256.map(|s| s.to_string()),
            signing_key: p.signing_key.clone(),
            source_rpm: p.source_rpm.clone(),
            build_id,
        });
    }
    let module = e.content.module.as_ref().map(|m| {
        let mut s = format!("{}:{}", m.name, m.stream);
        if let Some(v) = m.version {
            s.push_str(&format!(":{v}"));
        }
        if let Some(c) = &m.context {
            s.push_str(&format!(":{c}"));
        }
        s
    });
    let references: Vec<_> = e
        .content
        .references
        .iter()
        .map(|r| {
            minijinja::context! {
                kind => r.kind.clone(),
                id => r.id.clone(),
                // Only web links become links.
                href => r.href.clone(),
                linked => r.href.starts_with("https://") || r.href.starts_with("http://"),
                title => r.title.clone(),
            }
        })
        .collect();
    Ok(render(
        "erratum.html",
        minijinja::context! {
            user => user_name(&reader),
            erratum => ErratumRow::from(&e),
            description => e.content.description.clone(),
            created => fmt_time(e.created),
            created_by => e.created_by.clone(),
            updated_by => e.updated_by.clone(),
            module => module,
            references => references,
            packages => packages,
        },
    ))
}

//! `GET /products` and `GET /products/{name}`: the products a reader may
//! see, and one product's recent builds, members and repositories (with
//! its `.repo` files and the `dnf copr enable` line that finds them).

use albs_core::api::BuildQuery;
use axum::extract::State;
use axum::http::HeaderMap;
use serde::Serialize;

use super::{BuildRow, Page, WebError, render, user_name};
use crate::AppState;
use crate::copr::{copr_owner, visible_product, visible_products};
use crate::extract::{ApiPath, Reader};

/// Builds shown on a product's page.
const PRODUCT_BUILDS: usize = 50;
/// Build pages read to find them.
const PAGES_READ: usize = 10;

#[derive(Serialize)]
struct ProductRow {
    name: String,
    private: bool,
    team: Option<String>,
    owner: String,
}

/// `GET /products`.
pub(super) async fn products_page(
    State(state): State<AppState>,
    Reader(reader): Reader,
) -> Result<Page, WebError> {
    let rows: Vec<ProductRow> = visible_products(&state, reader.as_ref())
        .await?
        .into_iter()
        .map(|p| ProductRow {
            owner: copr_owner(&p).to_owned(),
            name: p.name,
            private: p.private,
            team: p.team,
        })
        .collect();
    Ok(render(
        "products.html",
        minijinja::context! { user => user_name(&reader), products => rows },
    ))
}

#[derive(Serialize)]
struct RepoRow {
    platform: String,
    repo_file: String,
    repos: Vec<(String, bool)>,
    chroot: String,
}

/// `GET /products/{name}`.
pub(super) async fn product_page(
    State(state): State<AppState>,
    Reader(reader): Reader,
    headers: HeaderMap,
    ApiPath(name): ApiPath<String>,
) -> Result<Page, WebError> {
    let product = visible_product(&state, reader.as_ref(), &name).await?;
    // The newest builds of the product, from the newest pages of builds.
    let mut builds: Vec<BuildRow> = Vec::new();
    let mut q = BuildQuery {
        limit: Some(200),
        ..Default::default()
    };
    for _ in 0..PAGES_READ {
        let page = state.store.list_builds(&q).await?;
        let ids: Vec<u64> = page.builds.iter().map(|b| b.id).collect();
        let products = state.store.build_products(&ids).await?;
        for b in page.builds {
            if products.get(&b.id).map(String::as_str) == Some(name.as_str()) {
                builds.push(BuildRow::from(b));
            }
        }
        match page.next {
            Some(next) if builds.len() < PRODUCT_BUILDS => q.before = Some(next),
            _ => break,
        }
    }
    builds.truncate(PRODUCT_BUILDS);
    let members = state.store.product_member_count(&name).await?;
    let base = state
        .config
        .public_base_url
        .clone()
        .or_else(|| {
            headers
                .get(axum::http::header::HOST)
                .and_then(|h| h.to_str().ok())
                .map(|h| format!("http://{h}"))
        })
        .unwrap_or_default();
    let repos_dir = state.config.repos_dir.clone();
    let repos: Vec<RepoRow> = state
        .store
        .platforms()
        .await?
        .into_iter()
        .map(|p| {
            let mut names: Vec<String> = p
                .arches
                .iter()
                .map(|a| format!("{}-{}", p.name, a.as_str()))
                .collect();
            names.push(format!("{}-src", p.name));
            let repos = names
                .into_iter()
                .map(|n| {
                    let published = repos_dir.as_ref().is_some_and(|d| {
                        d.join(&name).join(&n).join("repodata/repomd.xml").is_file()
                    });
                    (n, published)
                })
                .collect();
            RepoRow {
                repo_file: format!("/products/{name}/{}.repo", p.name),
                chroot: p.name.clone(),
                platform: p.name,
                repos,
            }
        })
        .collect();
    Ok(render(
        "product.html",
        minijinja::context! {
            user => user_name(&reader),
            product => minijinja::context! {
                name => product.name,
                private => product.private,
                team => product.team,
                owner => copr_owner(&product),
                members => members,
            },
            base => base.trim_end_matches('/'),
            builds => builds,
            repos => repos,
        },
    ))
}

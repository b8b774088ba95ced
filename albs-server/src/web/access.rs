//! Who may read what: builds of a private product are visible to its
//! members, the members of the team owning it and admins only. To everyone
//! else they do not exist (404, absent from lists), on the web pages and in
//! the JSON API alike, and so do their tasks, logs, test and sign tasks,
//! artifacts and the ledger's records of them. An artifact is hidden when
//! every build that made or signed it is hidden (one public build of the
//! same bytes makes them public).

use albs_core::api::BuildPage;
use albs_core::db::User;
use albs_core::hash::Sha256;
use albs_core::model::Build;

use crate::AppState;
use crate::error::AppError;

fn no_build(id: u64) -> AppError {
    AppError::NotFound(format!("build {id} does not exist"))
}

/// Whether `reader` may see a build of `product`.
async fn may_read(
    state: &AppState,
    reader: Option<&User>,
    product: Option<&str>,
) -> Result<bool, AppError> {
    let Some(product) = product.filter(|p| !p.is_empty()) else {
        return Ok(true);
    };
    Ok(!state.store.hidden_products(reader).await?.contains(product))
}

/// Refuses a build that `reader` may not see as if it did not exist.
pub(crate) async fn check_build(
    state: &AppState,
    reader: Option<&User>,
    build: &Build,
) -> Result<(), AppError> {
    if may_read(state, reader, build.options.product.as_deref()).await? {
        Ok(())
    } else {
        Err(no_build(build.id))
    }
}

/// The build `id`, when it exists and `reader` may see it.
pub(crate) async fn visible_build(
    state: &AppState,
    reader: Option<&User>,
    id: u64,
) -> Result<Build, AppError> {
    let build = state.store.build(id).await?.ok_or_else(|| no_build(id))?;
    check_build(state, reader, &build).await?;
    Ok(build)
}

/// The build of task `task_id`, when the task exists and `reader` may see
/// its build.
pub(crate) async fn visible_task(
    state: &AppState,
    reader: Option<&User>,
    task_id: u64,
) -> Result<u64, AppError> {
    let missing = || AppError::NotFound(format!("task {task_id} does not exist"));
    let build_id = state.store.task_build(task_id).await?.ok_or_else(missing)?;
    let products = state.store.build_products(&[build_id]).await?;
    let product = products.get(&build_id).map(String::as_str);
    if may_read(state, reader, product).await? {
        Ok(build_id)
    } else {
        Err(missing())
    }
}

/// The page without the builds `reader` may not see (a page may then be
/// shorter than asked; `next` still pages on).
pub(crate) async fn visible_page(
    state: &AppState,
    reader: Option<&User>,
    mut page: BuildPage,
) -> Result<BuildPage, AppError> {
    let hidden = state.store.hidden_products(reader).await?;
    if hidden.is_empty() || page.builds.is_empty() {
        return Ok(page);
    }
    let ids: Vec<u64> = page.builds.iter().map(|b| b.id).collect();
    let products = state.store.build_products(&ids).await?;
    page.builds.retain(|b| {
        products
            .get(&b.id)
            .is_none_or(|p| p.is_empty() || !hidden.contains(p))
    });
    Ok(page)
}

/// Whether `reader` may see build `id` (true for a build the store does not
/// know: nothing of it is left to hide).
pub(crate) async fn may_read_build_id(
    state: &AppState,
    reader: Option<&User>,
    id: u64,
) -> Result<bool, AppError> {
    let products = state.store.build_products(&[id]).await?;
    may_read(state, reader, products.get(&id).map(String::as_str)).await
}

/// Whether `reader` may see the artifact `sha256`: not when every build
/// that made or signed it is of a product hidden from `reader`.
pub(crate) async fn may_read_artifact(
    state: &AppState,
    reader: Option<&User>,
    sha256: &Sha256,
) -> Result<bool, AppError> {
    let products = state.store.artifact_products(sha256).await?;
    if products.is_empty() || products.iter().any(|p| p.is_empty()) {
        return Ok(true);
    }
    let hidden = state.store.hidden_products(reader).await?;
    Ok(!products.iter().all(|p| hidden.contains(p)))
}

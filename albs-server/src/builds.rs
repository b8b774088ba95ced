//! Handlers of platforms, builds and task logs: the routes users call.

use albs_core::api::{BuildPage, CreateBuild, LogChunk};
use albs_core::db::{NewBuild, User};
use albs_core::model::Build;
use albs_core::plan;
use albs_core::platform::{Platform, PlatformError};
use axum::Json;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::IntoResponse;

use crate::authz::{Action, Scope, authorize};
use crate::error::AppError;
use crate::extract::{ApiJson, ApiPath, Reader, UserAuth};
use crate::validate;
use crate::{AppState, now};

/// Most log lines one read returns.
pub(crate) const MAX_LOG_READ: u32 = 10_000;

/// `GET /api/v1/platforms`.
pub(crate) async fn list_platforms(
    State(state): State<AppState>,
) -> Result<Json<Vec<Platform>>, AppError> {
    Ok(Json(state.store.platforms().await?))
}

/// `POST /api/v1/platforms` (admin).
pub(crate) async fn put_platform(
    State(state): State<AppState>,
    UserAuth(admin): UserAuth,
    ApiJson(platform): ApiJson<Platform>,
) -> Result<(StatusCode, Json<Platform>), AppError> {
    authorize(&state, &admin, Action::PutPlatform, Scope::Global).await?;
    validate::check_platform(&platform)?;
    state.store.put_platform(&platform).await?;
    tracing::info!(platform = %platform.name, by = %admin.name, "platform stored");
    Ok((StatusCode::CREATED, Json(platform)))
}

/// `POST /api/v1/builds`.
pub(crate) async fn create_build(
    State(state): State<AppState>,
    UserAuth(user): UserAuth,
    ApiJson(req): ApiJson<CreateBuild>,
) -> Result<impl IntoResponse, AppError> {
    let scope = Scope::Owned {
        product: req.options.product.as_deref(),
        owner: &user.name,
    };
    authorize(&state, &user, Action::CreateBuild, scope).await?;
    let Some(platform) = state.store.platform(&req.platform).await? else {
        let known = state
            .store
            .platforms()
            .await?
            .into_iter()
            .map(|p| p.name)
            .collect::<Vec<_>>()
            .join(", ");
        return Err(AppError::Unprocessable(format!(
            "platform: {}",
            PlatformError::Unknown {
                name: req.platform.clone(),
                known,
            }
        )));
    };
    let arches = validate::build_arches(&platform, &req.arches)?;
    validate::check_build(&req)?;
    let new = NewBuild {
        tasks: plan::plan_with(&req.refs, &arches, &req.options),
        timeout_secs: plan::timeout_secs(&platform, &req.options),
        platform: platform.name,
        arches,
        refs: req.refs,
        owner: user.name,
        options: req.options,
    };
    let build = state.store.create_build(&new, now()).await?;
    tracing::info!(build = build.id, owner = %build.owner, tasks = build.tasks.len(), "build created");
    crate::webhooks::emit(
        &state,
        crate::webhooks::Event::build(&state, "created", &build),
    );
    let mut headers = HeaderMap::new();
    let location = format!(
        "{}/api/v1/builds/{}",
        state
            .config
            .public_base_url
            .as_deref()
            .unwrap_or("")
            .trim_end_matches('/'),
        build.id
    );
    if let Ok(v) = HeaderValue::from_str(&location) {
        headers.insert(header::LOCATION, v);
    }
    Ok((StatusCode::CREATED, headers, Json(build)))
}

/// `GET /api/v1/builds?…`.
pub(crate) async fn list_builds(
    State(state): State<AppState>,
    Reader(reader): Reader,
    RawQuery(raw): RawQuery,
) -> Result<Json<BuildPage>, AppError> {
    let q = validate::build_query(raw.as_deref())?;
    let page = state.store.list_builds(&q).await?;
    Ok(Json(
        crate::web::access::visible_page(&state, reader.as_ref(), page).await?,
    ))
}

async fn find_build(state: &AppState, id: u64) -> Result<Build, AppError> {
    state
        .store
        .build(id)
        .await?
        .ok_or_else(|| AppError::NotFound(format!("build {id} does not exist")))
}

/// `GET /api/v1/builds/{id}`.
pub(crate) async fn get_build(
    State(state): State<AppState>,
    Reader(reader): Reader,
    ApiPath(id): ApiPath<u64>,
) -> Result<Json<Build>, AppError> {
    let build = find_build(&state, id).await?;
    crate::web::access::check_build(&state, reader.as_ref(), &build).await?;
    Ok(Json(build))
}

/// The build `id`, when `user` sees it (else 404) and may do `action` to
/// it (else 403; see [`crate::authz`]).
pub(crate) async fn owned_build(
    state: &AppState,
    user: &User,
    id: u64,
    action: Action,
) -> Result<Build, AppError> {
    let build = find_build(state, id).await?;
    crate::web::access::check_build(state, Some(user), &build).await?;
    authorize(state, user, action, Scope::Build(&build)).await?;
    Ok(build)
}

/// `POST /api/v1/builds/{id}/cancel` (see [`crate::authz`]).
pub(crate) async fn cancel_build(
    State(state): State<AppState>,
    UserAuth(user): UserAuth,
    ApiPath(id): ApiPath<u64>,
) -> Result<Json<Build>, AppError> {
    let before = owned_build(&state, &user, id, Action::CancelBuild).await?;
    let build = state.store.cancel_build(id, now()).await?;
    tracing::info!(build = id, by = %user.name, "build cancelled");
    if !before.state().is_final() {
        crate::webhooks::emit(
            &state,
            crate::webhooks::Event::build(&state, "cancelled", &build),
        );
    }
    Ok(Json(build))
}

/// `POST /api/v1/builds/{id}/restart` (see [`crate::authz`]).
pub(crate) async fn restart_build(
    State(state): State<AppState>,
    UserAuth(user): UserAuth,
    ApiPath(id): ApiPath<u64>,
) -> Result<Json<Build>, AppError> {
    owned_build(&state, &user, id, Action::RestartBuild).await?;
    let build = state.store.restart_build(id).await?;
    tracing::info!(build = id, by = %user.name, "build restarted");
    Ok(Json(build))
}

/// `DELETE /api/v1/builds/{id}` (see [`crate::authz`]): only once every
/// task ended.
pub(crate) async fn delete_build(
    State(state): State<AppState>,
    UserAuth(user): UserAuth,
    ApiPath(id): ApiPath<u64>,
) -> Result<StatusCode, AppError> {
    let build = owned_build(&state, &user, id, Action::DeleteBuild).await?;
    let open = build.tasks.iter().filter(|t| !t.state.is_final()).count();
    if open > 0 {
        return Err(AppError::Conflict(format!(
            "build {id} has {open} task(s) pending or running; cancel it (`albs cancel {id}`) and wait for its tasks to end before deleting it"
        )));
    }
    state.store.delete_build(id).await?;
    tracing::info!(build = id, by = %user.name, "build deleted");
    Ok(StatusCode::NO_CONTENT)
}

/// `GET /api/v1/tasks/{id}/log?from=N&limit=M`.
pub(crate) async fn read_log(
    State(state): State<AppState>,
    Reader(reader): Reader,
    ApiPath(id): ApiPath<u64>,
    RawQuery(raw): RawQuery,
) -> Result<Json<LogChunk>, AppError> {
    let (from, limit) = validate::log_query(raw.as_deref(), MAX_LOG_READ)?;
    crate::web::access::visible_task(&state, reader.as_ref(), id).await?;
    Ok(Json(state.store.read_log(id, from, limit).await?))
}

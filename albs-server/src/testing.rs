//! Test tasks: created once a build has succeeded (one per arch that built
//! packages), run by build nodes under a lease, read, cancelled and
//! restarted by users.
//!
//! Nodes claim a test task for one of their arches, get the build's
//! packages of that arch (and its noarch ones) to download by digest, send
//! heartbeats and log lines, and complete with the tester's report. Readers
//! see the stages with their TAP and logs; the build's owner or an admin may
//! cancel and restart them.

use albs_core::api::{
    HeartbeatResponse, LogLines, TestAssignment, TestClaimResponse, TestResult, TestTask,
};
use albs_core::model::{Arch, Artifact, ArtifactKind, Build, TaskKind, TaskState};
use axum::Json;
use axum::extract::State;

use crate::authz::Action;
use crate::error::AppError;
use crate::extract::{ApiJson, ApiPath, NodeAuth, Reader, UserAuth};
use crate::node::{MAX_LOG_LINE, MAX_LOG_LINES, Next};
use crate::{AppState, now};

/// The arches of a succeeded build whose arch tasks produced packages.
fn tested_arches(build: &Build) -> Vec<Arch> {
    build
        .arches
        .iter()
        .filter(|a| {
            build.tasks.iter().any(|t| {
                t.kind == TaskKind::Arch((*a).clone())
                    && t.artifacts.iter().any(|x| x.kind == ArtifactKind::Rpm)
            })
        })
        .cloned()
        .collect()
}

/// The packages a test task of `arch` installs: the RPMs of the build's
/// tasks of that arch (noarch ones included), each once.
fn packages(build: &Build, arch: &Arch) -> Vec<Artifact> {
    let mut out: Vec<Artifact> = Vec::new();
    for t in &build.tasks {
        if t.kind != TaskKind::Arch(arch.clone()) {
            continue;
        }
        for a in &t.artifacts {
            if a.kind == ArtifactKind::Rpm && !out.iter().any(|o| o.sha256 == a.sha256) {
                out.push(a.clone());
            }
        }
    }
    out
}

/// Creates the test tasks of build `id` when it has succeeded and has none
/// yet (called after every completion that may have ended a build, and when
/// its tests are read); returns its test tasks.
pub(crate) async fn ensure_test_tasks(
    state: &AppState,
    build: &Build,
) -> Result<Vec<TestTask>, AppError> {
    if build.state() != TaskState::Succeeded {
        return Ok(state.store.build_test_tasks(build.id).await?);
    }
    let arches = tested_arches(build);
    let tasks = state
        .store
        .create_test_tasks(build.id, &arches, now())
        .await?;
    Ok(tasks)
}

async fn find_build(state: &AppState, id: u64) -> Result<Build, AppError> {
    state
        .store
        .build(id)
        .await?
        .ok_or_else(|| AppError::NotFound(format!("build {id} does not exist")))
}

/// `GET /api/v1/builds/{id}/tests`: the build's test tasks by arch.
pub(crate) async fn list(
    State(state): State<AppState>,
    Reader(reader): Reader,
    ApiPath(id): ApiPath<u64>,
) -> Result<Json<Vec<TestTask>>, AppError> {
    let build = find_build(&state, id).await?;
    crate::web::access::check_build(&state, reader.as_ref(), &build).await?;
    Ok(Json(ensure_test_tasks(&state, &build).await?))
}

/// `POST /api/v1/builds/{id}/tests/restart` (see [`crate::authz`]): failed and
/// cancelled test tasks go back to pending.
pub(crate) async fn restart(
    State(state): State<AppState>,
    UserAuth(user): UserAuth,
    ApiPath(id): ApiPath<u64>,
) -> Result<Json<Vec<TestTask>>, AppError> {
    crate::builds::owned_build(&state, &user, id, Action::RestartTests).await?;
    let tasks = state.store.restart_test_tasks(id).await?;
    tracing::info!(build = id, by = %user.name, "test tasks restarted");
    Ok(Json(tasks))
}

/// `POST /api/v1/builds/{id}/tests/cancel` (see [`crate::authz`]).
pub(crate) async fn cancel(
    State(state): State<AppState>,
    UserAuth(user): UserAuth,
    ApiPath(id): ApiPath<u64>,
) -> Result<Json<Vec<TestTask>>, AppError> {
    crate::builds::owned_build(&state, &user, id, Action::CancelTests).await?;
    let tasks = state.store.cancel_test_tasks(id, now()).await?;
    tracing::info!(build = id, by = %user.name, "test tasks cancelled");
    Ok(Json(tasks))
}

/// `POST /api/v1/node/test/claim`.
pub(crate) async fn claim(
    State(state): State<AppState>,
    NodeAuth(node): NodeAuth,
) -> Result<Json<TestClaimResponse>, AppError> {
    let t = now();
    let Some(c) = state
        .store
        .claim_test_task(&node, t, state.config.lease)
        .await?
    else {
        return Ok(Json(TestClaimResponse { task: None }));
    };
    // The lease runs out on its own if the assignment cannot be made.
    let build = find_build(&state, c.task.build_id).await?;
    let platform = state
        .store
        .platform(&build.platform)
        .await?
        .ok_or_else(|| {
            AppError::internal(
                "test claim",
                format!(
                    "build {} names platform {}, which does not exist",
                    build.id, build.platform
                ),
            )
        })?;
    let secs = (c.lease_until - t).as_seconds_f64().round();
    tracing::info!(test = c.task.id, build = build.id, node = %node.name, attempt = c.task.attempts, "test task claimed");
    Ok(Json(TestClaimResponse {
        task: Some(TestAssignment {
            task_id: c.task.id,
            build_id: build.id,
            packages: packages(&build, &c.task.arch),
            arch: c.task.arch,
            platform,
            tests: None,
            lease_secs: if secs > 0.0 { secs as u64 } else { 0 },
            attempt: c.task.attempts,
        }),
    }))
}

/// `POST /api/v1/node/test/{id}/heartbeat`.
pub(crate) async fn heartbeat(
    State(state): State<AppState>,
    NodeAuth(node): NodeAuth,
    ApiPath(task): ApiPath<u64>,
) -> Result<Json<HeartbeatResponse>, AppError> {
    let t = now();
    let lease = state
        .store
        .test_heartbeat(node.id, task, t, state.config.lease)
        .await?;
    let secs = (lease.until - t).as_seconds_f64().round();
    Ok(Json(HeartbeatResponse {
        cancel: lease.cancel,
        lease_secs: if secs > 0.0 { secs as u64 } else { 0 },
    }))
}

/// `POST /api/v1/node/test/{id}/log`.
pub(crate) async fn append_log(
    State(state): State<AppState>,
    NodeAuth(node): NodeAuth,
    ApiPath(task): ApiPath<u64>,
    ApiJson(body): ApiJson<LogLines>,
) -> Result<Json<Next>, AppError> {
    if body.lines.len() > MAX_LOG_LINES {
        return Err(AppError::TooLarge(format!(
            "{} log lines in one request; send at most {MAX_LOG_LINES}",
            body.lines.len()
        )));
    }
    for (i, l) in body.lines.iter().enumerate() {
        if l.len() > MAX_LOG_LINE || l.contains('\n') {
            return Err(AppError::BadRequest(format!(
                "lines[{i}] is longer than {MAX_LOG_LINE} bytes or contains a newline; send one line per entry"
            )));
        }
    }
    let next = state
        .store
        .append_test_log(node.id, task, &body.lines)
        .await?;
    Ok(Json(Next { next }))
}

/// `POST /api/v1/node/test/{id}/complete`: idempotent.
pub(crate) async fn complete(
    State(state): State<AppState>,
    NodeAuth(node): NodeAuth,
    ApiPath(task): ApiPath<u64>,
    ApiJson(result): ApiJson<TestResult>,
) -> Result<Json<TestTask>, AppError> {
    let done = state
        .store
        .complete_test_task(node.id, task, &result, now())
        .await?;
    tracing::info!(test = task, node = %node.name, state = %done.state, "test task completed");
    Ok(Json(done))
}

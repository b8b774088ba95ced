//! Node registration and the node protocol: claim, heartbeat, log, complete
//! (the upload is in [`crate::artifacts`]).

use albs_core::api::{
    ClaimResponse, HeartbeatResponse, LogLines, NodeRegistered, RegisterNode, TaskAssignment,
    TaskResult,
};
use albs_core::auth::{hash_token, new_token};
use albs_core::db::Node;
use albs_core::ledger::{Inputs, LedgerRecord, RecordKind, TaskInfo};
use albs_core::model::{Arch, ArtifactKind, BuildTask, TaskKind, TaskState};
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::authz::{Action, Scope, authorize};
use crate::error::AppError;
use crate::extract::{ApiJson, ApiPath, NodeAuth, UserAuth};
use crate::validate;
use crate::{AppState, now};

/// Most log lines one append takes.
pub(crate) const MAX_LOG_LINES: usize = 10_000;
/// Longest log line, in bytes.
pub(crate) const MAX_LOG_LINE: usize = 64 * 1024;

/// `POST /api/v1/nodes` (admin): the token is in the answer, and only there.
pub(crate) async fn register_node(
    State(state): State<AppState>,
    UserAuth(admin): UserAuth,
    ApiJson(req): ApiJson<RegisterNode>,
) -> Result<(StatusCode, Json<NodeRegistered>), AppError> {
    authorize(&state, &admin, Action::RegisterNode, Scope::Global).await?;
    validate::check_node(&req)?;
    let token = new_token().map_err(|e| AppError::internal("making a node token", e))?;
    let node = state
        .store
        .register_node(&req, &hash_token(&token), now())
        .await?;
    tracing::info!(node = %node.name, id = node.id, by = %admin.name, "node registered");
    Ok((
        StatusCode::CREATED,
        Json(NodeRegistered { id: node.id, token }),
    ))
}

/// `GET /api/v1/nodes` (any user).
pub(crate) async fn list_nodes(
    State(state): State<AppState>,
    UserAuth(_): UserAuth,
) -> Result<Json<Vec<Node>>, AppError> {
    Ok(Json(state.store.nodes().await?))
}

/// Seconds from `now` to `until`, rounded to the nearest (a store may keep
/// times to the microsecond only).
fn lease_secs(until: OffsetDateTime, now: OffsetDateTime) -> u64 {
    let secs = (until - now).as_seconds_f64().round();
    if secs > 0.0 { secs as u64 } else { 0 }
}

/// `POST /api/v1/node/claim`.
pub(crate) async fn claim(
    State(state): State<AppState>,
    NodeAuth(node): NodeAuth,
) -> Result<Json<ClaimResponse>, AppError> {
    let t = now();
    let Some(c) = state.store.claim(&node, t, state.config.lease).await? else {
        return Ok(Json(ClaimResponse { task: None }));
    };
    // The lease runs out on its own if the platform cannot be sent.
    let platform = state.store.platform(&c.platform).await?.ok_or_else(|| {
        AppError::internal(
            "claim",
            format!(
                "task {} names platform {}, which does not exist",
                c.task.id, c.platform
            ),
        )
    })?;
    tracing::info!(task = c.task.id, build = c.task.build_id, node = %node.name, attempt = c.task.attempts, "task claimed");
    crate::web::task_started(&state, c.task.id, t).await;
    Ok(Json(ClaimResponse {
        task: Some(TaskAssignment {
            task_id: c.task.id,
            build_id: c.task.build_id,
            kind: c.task.kind,
            source: c.source,
            platform,
            srpm: c.srpm,
            timeout_secs: c.timeout_secs,
            lease_secs: lease_secs(c.lease_until, t),
            attempt: c.task.attempts,
        }),
    }))
}

/// `POST /api/v1/node/tasks/{id}/heartbeat`.
pub(crate) async fn heartbeat(
    State(state): State<AppState>,
    NodeAuth(node): NodeAuth,
    ApiPath(task): ApiPath<u64>,
) -> Result<Json<HeartbeatResponse>, AppError> {
    let t = now();
    let lease = state
        .store
        .heartbeat(node.id, task, t, state.config.lease)
        .await?;
    Ok(Json(HeartbeatResponse {
        cancel: lease.cancel,
        lease_secs: lease_secs(lease.until, t),
    }))
}

/// The answer to a log append.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct Next {
    /// The line count of the log now.
    pub next: u64,
}

/// `POST /api/v1/node/tasks/{id}/log`.
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
        if l.len() > MAX_LOG_LINE {
            return Err(AppError::BadRequest(format!(
                "lines[{i}] is {} bytes long; a log line is at most {MAX_LOG_LINE} bytes",
                l.len()
            )));
        }
        if l.contains('\n') {
            return Err(AppError::BadRequest(format!(
                "lines[{i}] contains a newline; send one line per entry"
            )));
        }
    }
    let next = state.store.append_log(node.id, task, &body.lines).await?;
    Ok(Json(Next { next }))
}

/// `POST /api/v1/node/tasks/{id}/complete`: idempotent; a succeeded task's
/// SRPMs and RPMs are recorded in the ledger once.
pub(crate) async fn complete(
    State(state): State<AppState>,
    NodeAuth(node): NodeAuth,
    ApiPath(task_id): ApiPath<u64>,
    ApiJson(result): ApiJson<TaskResult>,
) -> Result<Json<BuildTask>, AppError> {
    if !result.state.is_final() {
        return Err(AppError::BadRequest(format!(
            "state: a task completes as succeeded, failed, excluded, timed_out or cancelled, not {}",
            result.state
        )));
    }
    validate::check_artifacts(&result.artifacts)?;
    for (i, a) in result.artifacts.iter().enumerate() {
        if !state.artifacts.has(&a.sha256).await? {
            return Err(AppError::BadRequest(format!(
                "artifacts[{i}] ({}) has sha256 {}, which was never uploaded; PUT it to /api/v1/node/tasks/{task_id}/artifacts/{} first",
                a.name, a.sha256, a.sha256
            )));
        }
    }
    // One completion at a time, so that the ledger check below and its
    // appends are not interleaved with a repeated completion.
    let _guard = state.completions.lock().await;
    let ended_before = crate::webhooks::build_of_task_ended(&state, task_id).await;
    let task = state
        .store
        .complete(node.id, task_id, &result, now())
        .await?;
    if task.state == TaskState::Succeeded {
        record(&state, &node, &task, &result).await?;
    }
    if matches!(task.state, TaskState::Succeeded | TaskState::Excluded)
        && let Some(build) = state.store.build(task.build_id).await?
    {
        // The last task of a build that succeeds makes its test tasks.
        crate::testing::ensure_test_tasks(&state, &build).await?;
    }
    crate::webhooks::task_ended(&state, task.build_id, ended_before).await;
    crate::web::task_finished(&state, task_id).await;
    tracing::info!(task = task_id, node = %node.name, state = %task.state, "task completed");
    Ok(Json(task))
}

/// Appends a ledger record for each SRPM and RPM of a succeeded task that has
/// none from this task yet, so that a repeated completion, or a retry after
/// a failed append, records each artifact exactly once.
async fn record(
    state: &AppState,
    node: &Node,
    task: &BuildTask,
    result: &TaskResult,
) -> Result<(), AppError> {
    let build = state.store.build(task.build_id).await?.ok_or_else(|| {
        AppError::internal(
            "ledger",
            format!("build {} of task {} is gone", task.build_id, task.id),
        )
    })?;
    let source = build.refs.get(task.ref_index).cloned().ok_or_else(|| {
        AppError::internal(
            "ledger",
            format!(
                "task {} names ref {} of build {}",
                task.id, task.ref_index, build.id
            ),
        )
    })?;
    let (arch, srpm) = match &task.kind {
        TaskKind::Src => (Arch::src(), None),
        TaskKind::Arch(a) => {
            let srpm = build
                .tasks
                .iter()
                .filter(|t| t.ref_index == task.ref_index && t.kind == TaskKind::Src)
                .flat_map(|t| &t.artifacts)
                .find(|a| a.kind == ArtifactKind::Srpm)
                .map(|a| a.sha256);
            (a.clone(), srpm)
        }
    };
    for artifact in &task.artifacts {
        let kind = match artifact.kind {
            ArtifactKind::Srpm => RecordKind::Srpm,
            ArtifactKind::Rpm => RecordKind::Rpm,
            _ => continue,
        };
        let mut known = false;
        for i in state.ledger.find_artifact(&artifact.sha256).await? {
            if let Some(e) = state.ledger.get(i).await?
                && e.record.task.task_id == Some(task.id)
            {
                known = true;
                break;
            }
        }
        if known {
            continue;
        }
        let rec = LedgerRecord {
            kind,
            artifact: Some(artifact.sha256),
            nevra: artifact.nevra.clone(),
            task: TaskInfo {
                build_id: Some(build.id),
                task_id: Some(task.id),
                arch: arch.clone(),
                host: node.name.clone(),
                platform: build.platform.clone(),
            },
            inputs: Inputs {
                source: source.clone(),
                commit: result.commit.clone(),
                lookaside: vec![],
                srpm,
            },
            time: now(),
            signature: None,
            release: None,
        };
        let at = state.ledger.append(&rec).await?;
        tracing::info!(artifact = %artifact.sha256, task = task.id, index = at.index, "ledger record appended");
    }
    Ok(())
}

//! Signing keys, sign tasks and the sign-node protocol.
//!
//! Admins register the public half of each signing key for a platform
//! (registering a new one archives the old: rotation); the owner of a
//! finished build, or an admin, asks for its packages to be signed; sign
//! nodes (registered like build nodes, authenticated by their token) claim
//! sign tasks for the keys they hold, upload each signed package and
//! complete. The server keeps a signed package only when its signature
//! verifies with the task key's certificate and it is its unsigned twin
//! plus that signature; each one gets a ledger record linking the unsigned
//! package and the signer's fingerprint. Secret keys never reach the server.

use albs_core::api::{
    CreateSignTask, HeartbeatResponse, KeyState, RegisterKey, SignAssignment, SignClaim,
    SignClaimResponse, SignKey, SignPackage, SignResult, SignTask, SignedUploaded,
};
use albs_core::db::sign::{NewSignKey, NewSignTask};
use albs_core::hash::Sha256;
use albs_core::ledger::{Inputs, LedgerRecord, RecordKind, SignatureInfo, TaskInfo};
use albs_core::model::{ArtifactKind, TaskState};
use albs_core::store::ArtifactStoreExt as _;
use axum::Json;
use axum::body::Body;
use axum::extract::State;
use axum::http::StatusCode;

use crate::authz::{Action, Scope, authorize};
use crate::error::AppError;
use crate::extract::{ApiJson, ApiPath, NodeAuth, UserAuth, parse_sha256};
use crate::{AppState, now};

/// `POST /api/v1/keys`: a platform's key by admins, a product's by its
/// team's maintainers and signers.
pub(crate) async fn register_key(
    State(state): State<AppState>,
    UserAuth(admin): UserAuth,
    ApiJson(req): ApiJson<RegisterKey>,
) -> Result<(StatusCode, Json<SignKey>), AppError> {
    let scope = match req.product.as_deref() {
        Some(p) => Scope::Product(p),
        None => Scope::Global,
    };
    authorize(&state, &admin, Action::RegisterKey, scope).await?;
    let fingerprint = albs_sign::node::public_key_fingerprint(req.public_key.as_bytes())
        .map_err(|e| AppError::BadRequest(format!("public_key: {e}")))?;
    if state.store.platform(&req.platform).await?.is_none() {
        return Err(AppError::Unprocessable(format!(
            "platform {} does not exist",
            req.platform
        )));
    }
    if let Some(p) = &req.product
        && (p.is_empty() || p.len() > 128)
    {
        return Err(AppError::BadRequest(
            "product must be 1-128 characters when given".into(),
        ));
    }
    let key = state
        .store
        .add_sign_key(
            &NewSignKey {
                fingerprint,
                public_key: req.public_key.clone(),
                platform: req.platform.clone(),
                product: req.product.clone(),
            },
            now(),
        )
        .await?;
    tracing::info!(key = %key.fingerprint, platform = %key.platform, by = %admin.name, "signing key registered");
    Ok((StatusCode::CREATED, Json(key)))
}

/// `GET /api/v1/keys`.
pub(crate) async fn list_keys(
    State(state): State<AppState>,
) -> Result<Json<Vec<SignKey>>, AppError> {
    Ok(Json(state.store.sign_keys().await?))
}

/// `POST /api/v1/keys/{fingerprint}/archive`: as for registering it.
pub(crate) async fn archive_key(
    State(state): State<AppState>,
    UserAuth(admin): UserAuth,
    ApiPath(fpr): ApiPath<String>,
) -> Result<Json<SignKey>, AppError> {
    let known = state.store.sign_key(&fpr).await?;
    let scope = match known.as_ref().and_then(|k| k.product.as_deref()) {
        Some(p) => Scope::Product(p),
        None => Scope::Global,
    };
    authorize(&state, &admin, Action::ArchiveKey, scope).await?;
    let key = state.store.archive_sign_key(&fpr, now()).await?;
    tracing::info!(key = %key.fingerprint, by = %admin.name, "signing key archived");
    Ok(Json(key))
}

/// `POST /api/v1/builds/{id}/sign` (see [`crate::authz`]).
pub(crate) async fn create_sign_task(
    State(state): State<AppState>,
    UserAuth(user): UserAuth,
    ApiPath(id): ApiPath<u64>,
    ApiJson(req): ApiJson<CreateSignTask>,
) -> Result<(StatusCode, Json<SignTask>), AppError> {
    let build = crate::builds::owned_build(&state, &user, id, Action::CreateSignTask).await?;
    if build.state() != TaskState::Succeeded {
        return Err(AppError::Conflict(format!(
            "build {id} is {}; only a succeeded build is signed",
            build.state()
        )));
    }
    let key = match &req.key {
        Some(fpr) => {
            let key = state.store.sign_key(fpr).await?.ok_or_else(|| {
                AppError::NotFound(format!("signing key {fpr} is not registered"))
            })?;
            if key.platform != build.platform {
                return Err(AppError::Unprocessable(format!(
                    "signing key {fpr} signs for platform {}, build {id} is for {}",
                    key.platform, build.platform
                )));
            }
            if key.state != KeyState::Active {
                return Err(AppError::Conflict(format!(
                    "signing key {fpr} is archived; use the platform's active key"
                )));
            }
            key
        }
        None => state
            .store
            .active_sign_key(&build.platform, None)
            .await?
            .ok_or_else(|| {
                AppError::Unprocessable(format!(
                    "platform {} has no active signing key; an admin registers one with \
                     `albs key register`",
                    build.platform
                ))
            })?,
    };
    let mut packages: Vec<SignPackage> = Vec::new();
    for a in build.tasks.iter().flat_map(|t| &t.artifacts) {
        if matches!(a.kind, ArtifactKind::Srpm | ArtifactKind::Rpm)
            && !packages.iter().any(|p| p.unsigned == a.sha256)
        {
            packages.push(SignPackage {
                unsigned: a.sha256,
                name: a.name.clone(),
                nevra: a.nevra.clone(),
                signed: None,
            });
        }
    }
    if packages.is_empty() {
        return Err(AppError::Conflict(format!(
            "build {id} has no packages to sign"
        )));
    }
    let task = state
        .store
        .create_sign_task(
            &NewSignTask {
                build_id: id,
                fingerprint: key.fingerprint.clone(),
                owner: user.name.clone(),
                packages,
            },
            now(),
        )
        .await?;
    tracing::info!(task = task.id, build = id, key = %key.fingerprint, by = %user.name, "sign task created");
    Ok((StatusCode::CREATED, Json(task)))
}

/// `GET /api/v1/builds/{id}/sign`.
pub(crate) async fn build_sign_tasks(
    State(state): State<AppState>,
    crate::extract::Reader(reader): crate::extract::Reader,
    ApiPath(id): ApiPath<u64>,
) -> Result<Json<Vec<SignTask>>, AppError> {
    crate::web::access::visible_build(&state, reader.as_ref(), id).await?;
    Ok(Json(state.store.build_sign_tasks(id).await?))
}

/// `GET /api/v1/sign/tasks/{id}`.
pub(crate) async fn get_sign_task(
    State(state): State<AppState>,
    crate::extract::Reader(reader): crate::extract::Reader,
    ApiPath(id): ApiPath<u64>,
) -> Result<Json<SignTask>, AppError> {
    let missing = || AppError::NotFound(format!("sign task {id} does not exist"));
    let task = state.store.sign_task(id).await?.ok_or_else(missing)?;
    if !crate::web::access::may_read_build_id(&state, reader.as_ref(), task.build_id).await? {
        return Err(missing());
    }
    Ok(Json(task))
}

fn lease_secs(until: time::OffsetDateTime, now: time::OffsetDateTime) -> u64 {
    let secs = (until - now).as_seconds_f64().round();
    if secs > 0.0 { secs as u64 } else { 0 }
}

/// `POST /api/v1/sign/claim` (sign node).
pub(crate) async fn claim(
    State(state): State<AppState>,
    NodeAuth(node): NodeAuth,
    ApiJson(req): ApiJson<SignClaim>,
) -> Result<Json<SignClaimResponse>, AppError> {
    if req.fingerprints.len() > 256 {
        return Err(AppError::BadRequest(format!(
            "{} fingerprints in one claim; send at most 256",
            req.fingerprints.len()
        )));
    }
    let t = now();
    let Some(c) = state
        .store
        .claim_sign_task(&node, &req.fingerprints, t, state.config.lease)
        .await?
    else {
        return Ok(Json(SignClaimResponse { task: None }));
    };
    let build = state.store.build(c.task.build_id).await?.ok_or_else(|| {
        AppError::internal(
            "sign claim",
            format!(
                "build {} of sign task {} is gone",
                c.task.build_id, c.task.id
            ),
        )
    })?;
    tracing::info!(task = c.task.id, node = %node.name, attempt = c.task.attempts, "sign task claimed");
    Ok(Json(SignClaimResponse {
        task: Some(SignAssignment {
            lease_secs: lease_secs(c.lease_until, t),
            task: c.task,
            platform: build.platform,
        }),
    }))
}

/// `POST /api/v1/sign/tasks/{id}/heartbeat` (sign node).
pub(crate) async fn heartbeat(
    State(state): State<AppState>,
    NodeAuth(node): NodeAuth,
    ApiPath(task): ApiPath<u64>,
) -> Result<Json<HeartbeatResponse>, AppError> {
    let t = now();
    let lease = state
        .store
        .sign_heartbeat(node.id, task, t, state.config.lease)
        .await?;
    Ok(Json(HeartbeatResponse {
        cancel: lease.cancel,
        lease_secs: lease_secs(lease.until, t),
    }))
}

/// `PUT /api/v1/sign/tasks/{id}/packages/{unsigned}` (sign node): the
/// signed twin of a package of the task.
pub(crate) async fn upload(
    State(state): State<AppState>,
    NodeAuth(node): NodeAuth,
    ApiPath((task_id, sha)): ApiPath<(u64, String)>,
    body: Body,
) -> Result<(StatusCode, Json<SignedUploaded>), AppError> {
    let unsigned = parse_sha256(&sha)?;
    state
        .store
        .sign_heartbeat(node.id, task_id, now(), state.config.lease)
        .await?;
    let task = state
        .store
        .sign_task(task_id)
        .await?
        .ok_or_else(|| AppError::NotFound(format!("sign task {task_id} does not exist")))?;
    let package = task
        .packages
        .iter()
        .find(|p| p.unsigned == unsigned)
        .cloned()
        .ok_or_else(|| {
            AppError::NotFound(format!(
                "sign task {task_id} has no package with sha256 {unsigned}"
            ))
        })?;
    let built = built_record(&state, &package).await?;
    let key = state
        .store
        .sign_key(&task.fingerprint)
        .await?
        .ok_or_else(|| {
            AppError::internal(
                "signed upload",
                format!("key {} of sign task {task_id} is gone", task.fingerprint),
            )
        })?;
    let max = usize::try_from(state.config.max_upload_bytes).unwrap_or(usize::MAX);
    let signed_bytes = axum::body::to_bytes(body, max).await.map_err(|e| {
        AppError::BadRequest(format!(
            "the signed package could not be read (at most {max} bytes): {e}"
        ))
    })?;
    let unsigned_bytes = state.artifacts.get_bytes(&unsigned).await?;
    let public_key = key.public_key.clone().into_bytes();
    let checked_bytes = signed_bytes.clone();
    let verified = tokio::task::spawn_blocking(move || {
        albs_sign::node::check_signed_twin(&unsigned_bytes, &checked_bytes, &public_key)
    })
    .await
    .map_err(|e| AppError::internal("checking a signed package", e))?
    .map_err(|e| {
        AppError::Forbidden(format!(
            "sign task {task_id}, package {} (sha256 {unsigned}): {e}",
            package.name
        ))
    })?;
    let signed = Sha256::of(&signed_bytes);
    let reader: albs_core::store::ByteStream<'static> =
        Box::pin(std::io::Cursor::new(signed_bytes.to_vec()));
    let stored = state.artifacts.put(reader, Some(signed)).await?;
    // One completion at a time, so that each signed package is recorded once.
    let _guard = state.completions.lock().await;
    state
        .store
        .record_signed(node.id, task_id, &unsigned, &signed)
        .await?;
    let index = record(
        &state,
        &node.name,
        &task,
        &package,
        &signed,
        &verified.fingerprint,
        built,
    )
    .await?;
    tracing::info!(task = task_id, node = %node.name, unsigned = %unsigned, signed = %signed, key = %verified.fingerprint, "signed package accepted");
    let status = if stored.new {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((
        status,
        Json(SignedUploaded {
            unsigned,
            signed,
            fingerprint: verified.fingerprint,
            ledger_index: index,
        }),
    ))
}

/// The ledger's build record of an unsigned package: a package the ledger
/// does not know is refused.
async fn built_record(state: &AppState, package: &SignPackage) -> Result<LedgerRecord, AppError> {
    for i in state.ledger.find_artifact(&package.unsigned).await? {
        if let Some(e) = state.ledger.get(i).await?
            && matches!(e.record.kind, RecordKind::Rpm | RecordKind::Srpm)
        {
            return Ok(e.record);
        }
    }
    Err(AppError::Forbidden(format!(
        "package {} (sha256 {}) has no build record in the ledger; it is not signed",
        package.name, package.unsigned
    )))
}

/// Appends the ledger record of a signed package (once per sign task), made
/// from the unsigned package's build record `built`; returns its index.
async fn record(
    state: &AppState,
    host: &str,
    task: &SignTask,
    package: &SignPackage,
    signed: &Sha256,
    fingerprint: &str,
    built: LedgerRecord,
) -> Result<u64, AppError> {
    for i in state.ledger.find_artifact(signed).await? {
        if let Some(e) = state.ledger.get(i).await?
            && e.record.kind == RecordKind::SignedRpm
            && e.record.task.task_id == Some(task.id)
        {
            return Ok(e.index);
        }
    }
    let rec = LedgerRecord {
        kind: RecordKind::SignedRpm,
        artifact: Some(*signed),
        nevra: package.nevra.clone().or(built.nevra),
        task: TaskInfo {
            build_id: Some(task.build_id),
            task_id: Some(task.id),
            arch: built.task.arch,
            host: host.to_owned(),
            platform: built.task.platform,
        },
        inputs: Inputs {
            source: built.inputs.source,
            commit: built.inputs.commit,
            lookaside: built.inputs.lookaside,
            srpm: built.inputs.srpm,
        },
        time: now(),
        signature: Some(SignatureInfo {
            unsigned: package.unsigned,
            fingerprint: fingerprint.to_owned(),
        }),
        release: None,
    };
    Ok(state.ledger.append(&rec).await?.index)
}

/// `POST /api/v1/sign/tasks/{id}/complete` (sign node; idempotent).
pub(crate) async fn complete(
    State(state): State<AppState>,
    NodeAuth(node): NodeAuth,
    ApiPath(task_id): ApiPath<u64>,
    ApiJson(result): ApiJson<SignResult>,
) -> Result<Json<SignTask>, AppError> {
    if let Some(r) = &result.reason
        && r.len() > 64 * 1024
    {
        return Err(AppError::BadRequest("reason is longer than 64 KiB".into()));
    }
    let task = state
        .store
        .complete_sign_task(node.id, task_id, &result, now())
        .await?;
    tracing::info!(task = task_id, node = %node.name, state = %task.state, "sign task completed");
    Ok(Json(task))
}

//! SBOMs and provenance served from the ledger and the build records.
//!
//! `GET /api/v1/builds/{id}/sbom?format=cyclonedx-json|cyclonedx-xml|spdx`
//! describes a build's packages (the signed files when the build was
//! signed), `GET /api/v1/artifacts/{sha256}/sbom` one package, and
//! `GET /api/v1/builds/{id}/provenance` is the build's SLSA v1 provenance
//! in a DSSE envelope signed with the server's ledger key (verifiable with
//! `GET /api/v1/ledger/key`). Every package carries its ledger leaf index
//! and leaf hash and, when the server signs checkpoints, the checkpoint
//! note that covers it, so each document can itself be checked against
//! the ledger. Builds of private products are hidden from non-members.

use std::collections::HashMap;

use albs_core::hash::Sha256;
use albs_core::ledger::{Entry, LedgerExt as _, RecordKind};
use albs_core::model::{ArtifactKind, Build};
use albs_sbom::{Component, Subject, cyclonedx, provenance, spdx};
use axum::Json;
use axum::extract::{RawQuery, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};

use crate::AppState;
use crate::error::AppError;
use crate::extract::{ApiPath, Reader, parse_sha256};
use crate::web::access::visible_build;

/// The document formats.
#[derive(Debug, Clone, Copy)]
enum Format {
    CyclonedxJson,
    CyclonedxXml,
    Spdx,
}

fn format(raw: Option<String>) -> Result<Format, AppError> {
    let pairs: Vec<(String, String)> = serde_urlencoded::from_str(raw.as_deref().unwrap_or(""))
        .map_err(|e| AppError::BadRequest(format!("the query string does not parse: {e}")))?;
    let mut f = Format::CyclonedxJson;
    for (k, v) in pairs {
        if k != "format" {
            return Err(AppError::BadRequest(format!(
                "unknown query parameter {k:?}; this route takes format"
            )));
        }
        f = match v.as_str() {
            "cyclonedx-json" | "cyclonedx" => Format::CyclonedxJson,
            "cyclonedx-xml" => Format::CyclonedxXml,
            "spdx" | "spdx-json" => Format::Spdx,
            other => {
                return Err(AppError::BadRequest(format!(
                    "format {other:?} is not cyclonedx-json, cyclonedx-xml or spdx"
                )));
            }
        };
    }
    Ok(f)
}

fn document(subject: &Subject, f: Format) -> Response {
    let (ct, text) = match f {
        Format::CyclonedxJson => (
            "application/vnd.cyclonedx+json",
            cyclonedx::to_json(subject),
        ),
        Format::CyclonedxXml => ("application/vnd.cyclonedx+xml", cyclonedx::to_xml(subject)),
        Format::Spdx => ("application/spdx+json", spdx::to_json(subject)),
    };
    ([(header::CONTENT_TYPE, ct)], text).into_response()
}

/// The signed checkpoint note of the current tree and its size, when the
/// server signs checkpoints.
async fn checkpoint(state: &AppState) -> Result<Option<(String, u64)>, AppError> {
    let Some(signer) = &state.ledger_signer else {
        return Ok(None);
    };
    let size = state.ledger.size().await?;
    let root = state.ledger.root_at(size).await?;
    let note = signer
        .sign(signer.name(), size, &root)
        .map_err(|e| AppError::internal("signing the checkpoint", e))?;
    Ok(Some((note, size)))
}

fn build_url(state: &AppState, id: u64) -> Option<String> {
    state
        .config
        .public_base_url
        .as_ref()
        .map(|b| format!("{}/builds/{id}", b.trim_end_matches('/')))
}

/// The newest package record of an artifact in the ledger.
async fn package_entry(state: &AppState, sha256: &Sha256) -> Result<Option<Entry>, AppError> {
    let mut found = None;
    for i in state.ledger.find_artifact(sha256).await? {
        if let Some(e) = state.ledger.get(i).await?
            && e.record.artifact == Some(*sha256)
            && matches!(
                e.record.kind,
                RecordKind::Rpm | RecordKind::Srpm | RecordKind::SignedRpm
            )
        {
            found = Some(e);
        }
    }
    Ok(found)
}

fn with_checkpoint(mut c: Component, cp: Option<&(String, u64)>) -> Component {
    if let (Some(l), Some((note, size))) = (c.ledger.as_mut(), cp)
        && l.index < *size
    {
        l.checkpoint = Some(note.clone());
    }
    c
}

/// The packages of a build: each built package once, the signed file in
/// its place when the build was signed, from its ledger record.
async fn components(
    state: &AppState,
    build: &Build,
    cp: Option<&(String, u64)>,
) -> Result<Vec<Component>, AppError> {
    let mut signed: HashMap<Sha256, Sha256> = HashMap::new();
    if let Some(sig) = &build.signed
        && let Some(task) = state.store.sign_task(sig.task_id).await?
    {
        for p in task.packages {
            if let Some(s) = p.signed {
                signed.insert(p.unsigned, s);
            }
        }
    }
    let url = build_url(state, build.id);
    let mut out: Vec<Component> = Vec::new();
    for a in build.tasks.iter().flat_map(|t| &t.artifacts) {
        if !matches!(a.kind, ArtifactKind::Rpm | ArtifactKind::Srpm) {
            continue;
        }
        let sha = signed.get(&a.sha256).copied().unwrap_or(a.sha256);
        if out.iter().any(|c| c.sha256 == sha) {
            continue;
        }
        let entry = package_entry(state, &sha).await?.ok_or_else(|| {
            AppError::internal(
                "SBOM",
                format!("artifact {sha} of build {} has no ledger record", build.id),
            )
        })?;
        let c = Component::from_ledger(&entry, url.as_deref()).ok_or_else(|| {
            AppError::internal(
                "SBOM",
                format!("ledger record {} is no package", entry.index),
            )
        })?;
        out.push(with_checkpoint(c, cp));
    }
    if out.is_empty() {
        return Err(AppError::NotFound(format!(
            "build {} has no packages yet; an SBOM describes built packages",
            build.id
        )));
    }
    Ok(out)
}

async fn build_subject(state: &AppState, build: &Build) -> Result<Subject, AppError> {
    let cp = checkpoint(state).await?;
    let comps = components(state, build, cp.as_ref()).await?;
    Ok(Subject::build(
        build.id,
        &build.platform,
        build_url(state, build.id),
        comps,
    ))
}

/// `GET /api/v1/builds/{id}/sbom?format=`.
pub(crate) async fn build_sbom(
    State(state): State<AppState>,
    Reader(reader): Reader,
    ApiPath(id): ApiPath<u64>,
    RawQuery(raw): RawQuery,
) -> Result<Response, AppError> {
    let f = format(raw)?;
    let build = visible_build(&state, reader.as_ref(), id).await?;
    Ok(document(&build_subject(&state, &build).await?, f))
}

/// `GET /api/v1/artifacts/{sha256}/sbom?format=`.
pub(crate) async fn artifact_sbom(
    State(state): State<AppState>,
    Reader(reader): Reader,
    ApiPath(sha256): ApiPath<String>,
    RawQuery(raw): RawQuery,
) -> Result<Response, AppError> {
    let f = format(raw)?;
    let digest = parse_sha256(&sha256)?;
    let missing = || AppError::NotFound(format!("the ledger has no package with sha256 {digest}"));
    let entry = package_entry(&state, &digest).await?.ok_or_else(missing)?;
    let build_id = entry.record.task.build_id;
    if let Some(id) = build_id {
        // A package of a build the reader may not see does not exist for it.
        visible_build(&state, reader.as_ref(), id)
            .await
            .map_err(|_| missing())?;
    }
    let url = build_id.and_then(|id| build_url(&state, id));
    let c = Component::from_ledger(&entry, url.as_deref()).ok_or_else(missing)?;
    let cp = checkpoint(&state).await?;
    Ok(document(
        &Subject::Package(Box::new(with_checkpoint(c, cp.as_ref()))),
        f,
    ))
}

/// `GET /api/v1/builds/{id}/provenance`: the DSSE envelope.
pub(crate) async fn build_provenance(
    State(state): State<AppState>,
    Reader(reader): Reader,
    ApiPath(id): ApiPath<u64>,
) -> Result<Json<provenance::Envelope>, AppError> {
    let build = visible_build(&state, reader.as_ref(), id).await?;
    let signer = state.ledger_signer.clone().ok_or_else(|| {
        AppError::NotFound(
            "this server signs no provenance: it was started without a ledger key \
             (set ALBS_LEDGER_KEY to the output of `albs ledger keygen`)"
                .into(),
        )
    })?;
    let subject = build_subject(&state, &build).await?;
    let builder = state
        .config
        .public_base_url
        .clone()
        .unwrap_or_else(|| "https://albs.invalid/albs".into());
    let st = provenance::statement(&subject, &builder);
    Ok(Json(provenance::sign(&st, &signer)))
}

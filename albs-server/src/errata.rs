//! Errata: create, edit, match built packages, approve, release; and the
//! feeds of a platform (OVAL 5.10, updateinfo.xml, JSON, OSV) generated at
//! request time from its released records.
//!
//! Workflow: any user creates a draft and edits it; matching fills its
//! fixed packages from the succeeded builds of the erratum's platform by
//! name, version and arch (the signed package and its key when the build
//! was signed); an admin approves it, then releases it. Approval and
//! release check the whole record as the feeds will read it (its packages
//! belong to its platform, are signed, render into OVAL), so every released
//! erratum is in every feed. Released errata change only by admins.
//!
//! A package of another platform is refused with a 409 that names the
//! package and the platform it was built for. Drafts and approved errata
//! are read by signed-in users only; released ones by anyone.
//!
//! The feeds are sorted and timestamped from the records, so the same
//! records always give the same bytes.

use std::collections::{BTreeMap, HashMap};

use albs_core::api::BuildQuery;
use albs_core::db::User;
use albs_core::db::errata::{
    Erratum, ErratumContent, ErratumModule, ErratumReference, ErratumState, FixedPackage,
    NewErratum,
};
use albs_core::hash::Sha256;
use albs_core::model::{ArtifactKind, Build, TaskKind, TaskState};
use albs_core::platform::{Platform, Platforms};
use albs_oval::errata::{ErrataError, check_package_platform};
use albs_oval::{Advisory, AdvisoryPackage, BuiltPackage, Wanted};
use axum::Json;
use axum::extract::{RawQuery, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};

use crate::authz::{Action, Scope, authorize};
use crate::error::AppError;
use crate::extract::{ApiJson, ApiPath, Reader, UserAuth};
use crate::{AppState, now};

/// Changes to an erratum; absent fields stay as they are.
#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ErratumPatch {
    #[serde(default, rename = "type")]
    kind: Option<String>,
    #[serde(default)]
    severity: Option<Option<String>>,
    #[serde(default)]
    title: Option<String>,
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    cves: Option<Vec<String>>,
    #[serde(default)]
    references: Option<Vec<ErratumReference>>,
    #[serde(default)]
    module: Option<Option<ErratumModule>>,
    #[serde(default)]
    packages: Option<Vec<FixedPackage>>,
}

/// What `POST /api/v1/errata/{id}/match` takes.
#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct MatchRequest {
    /// `NAME-VERSION[-RELEASE][@ARCH,…]`, one per package to take.
    packages: Vec<String>,
}

/// The platforms the server knows, as the errata crate checks them.
async fn platforms(state: &AppState) -> Result<Platforms, AppError> {
    #[derive(Serialize)]
    struct File {
        platform: Vec<Platform>,
    }
    let text = toml::to_string(&File {
        platform: state.store.platforms().await?,
    })
    .map_err(|e| AppError::internal("platforms as TOML", e))?;
    let mut p = Platforms::default();
    p.add_toml(&text, "<store>")
        .map_err(|e| AppError::internal("stored platforms", e))?;
    Ok(p)
}

async fn platform(state: &AppState, name: &str) -> Result<Platform, AppError> {
    state.store.platform(name).await?.ok_or_else(|| {
        AppError::NotFound(format!(
            "platform {name:?} does not exist; GET /api/v1/platforms lists them"
        ))
    })
}

fn rfc3339(t: time::OffsetDateTime) -> String {
    t.to_offset(time::UtcOffset::UTC)
        .replace_nanosecond(0)
        .unwrap_or(t)
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

/// The advisory the errata crate reads from a stored erratum: issued when
/// released (created for drafts), updated when last changed.
fn advisory(e: &Erratum) -> Result<Advisory, AppError> {
    let mut v = serde_json::to_value(&e.content)
        .map_err(|err| AppError::internal("erratum as JSON", err))?;
    let issued = e.released.unwrap_or(e.created);
    let o = v
        .as_object_mut()
        .ok_or_else(|| AppError::internal("erratum as JSON", "not an object"))?;
    o.insert("id".into(), e.id.clone().into());
    o.insert("platform".into(), e.platform.clone().into());
    o.insert("issued".into(), rfc3339(issued).into());
    o.insert("updated".into(), rfc3339(e.updated.max(issued)).into());
    if let Some(pkgs) = o.get_mut("packages").and_then(|p| p.as_array_mut()) {
        for p in pkgs {
            if let Some(p) = p.as_object_mut() {
                p.remove("build_id");
            }
        }
    }
    serde_json::from_value(v).map_err(|err| {
        AppError::BadRequest(format!(
            "erratum {} does not fit the errata model: {err}",
            e.id
        ))
    })
}

/// A refusal of the errata crate as an API error: a package of another
/// platform is a conflict, anything else a bad request.
fn refusal(e: ErrataError) -> AppError {
    match e {
        ErrataError::ForeignPackage { .. } | ErrataError::ForeignArch { .. } => {
            AppError::Conflict(e.to_string())
        }
        ErrataError::NoMatch { .. } => AppError::Unprocessable(e.to_string()),
        other => AppError::BadRequest(other.to_string()),
    }
}

/// Checks what a user wrote (packages optional while it is a draft).
async fn check(state: &AppState, e: &Erratum, complete: bool) -> Result<Advisory, AppError> {
    let adv = advisory(e)?;
    match adv.validate(&platforms(state).await?) {
        Ok(()) => {}
        Err(ErrataError::NoPackages { .. }) if !complete => {}
        Err(err) => return Err(refusal(err)),
    }
    if complete {
        // What the feeds need beyond the record itself.
        albs_oval::oval_xml(
            &e.platform,
            std::slice::from_ref(&adv),
            &platforms(state).await?,
        )
        .map_err(|err| {
            AppError::Conflict(format!("erratum {} cannot be published: {err}", e.id))
        })?;
    }
    Ok(adv)
}

/// Spells type and severity the way the feeds do (`security`, `Important`),
/// whatever case the caller used; refuses unknown ones, naming them.
fn normalize(c: &mut ErratumContent) -> Result<(), AppError> {
    let kind: albs_oval::AdvisoryType = c.kind.parse().map_err(AppError::BadRequest)?;
    c.kind = kind.as_str().to_owned();
    if let Some(sev) = &c.severity {
        let sev: albs_oval::Severity = sev.parse().map_err(AppError::BadRequest)?;
        c.severity = Some(sev.as_str().to_owned());
    }
    for r in &mut c.references {
        r.kind = r.kind.to_ascii_lowercase();
    }
    Ok(())
}

/// Drafts and approved errata are for signed-in users.
fn readable(e: &Erratum, reader: Option<&User>) -> bool {
    e.state == ErratumState::Released || reader.is_some()
}

async fn load(state: &AppState, id: &str) -> Result<Erratum, AppError> {
    state
        .store
        .erratum(id)
        .await?
        .ok_or_else(|| AppError::NotFound(format!("erratum {id} does not exist")))
}

/// `POST /api/v1/errata`: a new draft.
pub(crate) async fn create(
    State(state): State<AppState>,
    UserAuth(user): UserAuth,
    ApiJson(mut new): ApiJson<NewErratum>,
) -> Result<(StatusCode, Json<Erratum>), AppError> {
    normalize(&mut new.content)?;
    let scope = Scope::Owned {
        product: None,
        owner: &user.name,
    };
    authorize(&state, &user, Action::CreateErratum, scope).await?;
    platform(&state, &new.platform).await?;
    let t = now();
    // Check the content under a placeholder id of the right type first, so
    // that a refused draft takes no number.
    let prefix = albs_core::db::errata::id_prefix(&new.content.kind)?;
    let probe = Erratum {
        id: new
            .id
            .clone()
            .unwrap_or_else(|| format!("{prefix}-{}:0001", t.year())),
        platform: new.platform.clone(),
        content: new.content.clone(),
        state: ErratumState::Draft,
        created: t,
        updated: t,
        released: None,
        created_by: user.name.clone(),
        updated_by: user.name.clone(),
    };
    check(&state, &probe, false).await?;
    let e = state.store.create_erratum(&new, &user.name, t).await?;
    tracing::info!(erratum = %e.id, platform = %e.platform, by = %user.name, "erratum created");
    Ok((StatusCode::CREATED, Json(e)))
}

/// `GET /api/v1/errata[?platform=&state=]`.
pub(crate) async fn list(
    State(state): State<AppState>,
    Reader(reader): Reader,
    RawQuery(raw): RawQuery,
) -> Result<Json<Vec<Erratum>>, AppError> {
    let pairs: Vec<(String, String)> = serde_urlencoded::from_str(raw.as_deref().unwrap_or(""))
        .map_err(|e| AppError::BadRequest(format!("the query string does not parse: {e}")))?;
    let (mut platform, mut wanted) = (None, None);
    for (k, v) in pairs {
        match k.as_str() {
            "platform" => platform = Some(v),
            "state" => wanted = Some(v.parse::<ErratumState>()?),
            other => {
                return Err(AppError::BadRequest(format!(
                    "unknown query parameter {other:?}; this route takes platform and state"
                )));
            }
        }
    }
    let all = state.store.list_errata(platform.as_deref(), wanted).await?;
    Ok(Json(
        all.into_iter()
            .filter(|e| readable(e, reader.as_ref()))
            .collect(),
    ))
}

/// `GET /api/v1/errata/{id}`.
pub(crate) async fn get(
    State(state): State<AppState>,
    Reader(reader): Reader,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<Erratum>, AppError> {
    let e = load(&state, &id).await?;
    if !readable(&e, reader.as_ref()) {
        return Err(AppError::NotFound(format!("erratum {id} does not exist")));
    }
    Ok(Json(e))
}

/// Refuses changes by users who may not edit the erratum (its author, or
/// an admin), and changes to a released erratum by anyone but an admin.
async fn may_change(state: &AppState, e: &Erratum, user: &User) -> Result<(), AppError> {
    let scope = Scope::Owned {
        product: None,
        owner: &e.created_by,
    };
    authorize(state, user, Action::EditErratum, scope).await?;
    if e.state == ErratumState::Released && !user.admin {
        return Err(AppError::Forbidden(format!(
            "erratum {} is released and only admins may change it",
            e.id
        )));
    }
    Ok(())
}

/// Stores an edited erratum: an approved one goes back to draft (it must be
/// approved again) unless an admin edits it; a released one is checked as
/// the feeds read it.
async fn save(
    state: &AppState,
    mut e: Erratum,
    read_at: time::OffsetDateTime,
    user: &User,
) -> Result<Erratum, AppError> {
    if e.state == ErratumState::Approved && !user.admin {
        e.state = ErratumState::Draft;
    }
    check(state, &e, e.state == ErratumState::Released).await?;
    e.updated = now().max(read_at + time::Duration::microseconds(1));
    e.updated_by = user.name.clone();
    state.store.save_erratum(&e, read_at).await?;
    Ok(e)
}

/// `PATCH /api/v1/errata/{id}`.
pub(crate) async fn patch(
    State(state): State<AppState>,
    UserAuth(user): UserAuth,
    ApiPath(id): ApiPath<String>,
    ApiJson(p): ApiJson<ErratumPatch>,
) -> Result<Json<Erratum>, AppError> {
    let mut e = load(&state, &id).await?;
    may_change(&state, &e, &user).await?;
    let read_at = e.updated;
    let c: &mut ErratumContent = &mut e.content;
    if let Some(v) = p.kind {
        let kind: albs_oval::AdvisoryType = v.parse().map_err(AppError::BadRequest)?;
        if kind.prefix() != id.split('-').next().unwrap_or("") {
            return Err(AppError::BadRequest(format!(
                "erratum {id} cannot become of type {v}: its id names its type; create a new one"
            )));
        }
        c.kind = kind.as_str().to_owned();
    }
    if let Some(v) = p.severity {
        c.severity = v;
    }
    if let Some(v) = p.title {
        c.title = v;
    }
    if let Some(v) = p.description {
        c.description = v;
    }
    if let Some(v) = p.cves {
        c.cves = v;
    }
    if let Some(v) = p.references {
        c.references = v;
    }
    if let Some(v) = p.module {
        c.module = v;
    }
    if let Some(v) = p.packages {
        c.packages = v;
    }
    normalize(c)?;
    let e = save(&state, e, read_at, &user).await?;
    tracing::info!(erratum = %e.id, by = %user.name, "erratum edited");
    Ok(Json(e))
}

/// The OpenPGP key id of a fingerprint (its last 16 hex digits).
fn key_id(fingerprint: &str) -> String {
    let f = fingerprint.to_ascii_lowercase();
    f[f.len().saturating_sub(16)..].to_owned()
}

/// A package a build made, with the build it comes from.
struct Candidate {
    built: BuiltPackage,
    build_id: u64,
}

/// The packages of a succeeded build: the signed files and their key when
/// the build was signed, else the built ones.
async fn build_packages(state: &AppState, b: &Build) -> Result<Vec<Candidate>, AppError> {
    let mut signed: HashMap<Sha256, Sha256> = HashMap::new();
    let mut key = None;
    if let Some(sig) = &b.signed
        && let Some(task) = state.store.sign_task(sig.task_id).await?
    {
        for p in task.packages {
            if let Some(s) = p.signed {
                signed.insert(p.unsigned, s);
            }
        }
        key = Some(key_id(&sig.fingerprint));
    }
    let srpms: BTreeMap<usize, String> = b
        .tasks
        .iter()
        .filter(|t| t.kind == TaskKind::Src)
        .filter_map(|t| {
            t.artifacts
                .iter()
                .find(|a| a.kind == ArtifactKind::Srpm)
                .map(|a| (t.ref_index, a.name.clone()))
        })
        .collect();
    let mut out: Vec<Candidate> = Vec::new();
    for t in b.tasks.iter().filter(|t| t.state == TaskState::Succeeded) {
        for a in &t.artifacts {
            let Some(nevra) = &a.nevra else { continue };
            if !matches!(a.kind, ArtifactKind::Rpm | ArtifactKind::Srpm)
                || out.iter().any(|c| c.built.package.nevra == *nevra)
            {
                continue;
            }
            let s = signed.get(&a.sha256).copied();
            out.push(Candidate {
                built: BuiltPackage {
                    platform: b.platform.clone(),
                    package: AdvisoryPackage {
                        nevra: nevra.clone(),
                        sha256: Some(s.unwrap_or(a.sha256)),
                        signing_key: s.and(key.clone()),
                        source_rpm: (a.kind == ArtifactKind::Rpm)
                            .then(|| srpms.get(&t.ref_index).cloned())
                            .flatten(),
                    },
                },
                build_id: b.id,
            });
        }
    }
    Ok(out)
}

/// The packages of the succeeded builds `user` may read, on every
/// platform, newest build first: the builds of source package `package`,
/// or every build when `None`.
async fn candidates(
    state: &AppState,
    user: &User,
    package: Option<&str>,
) -> Result<Vec<Candidate>, AppError> {
    let hidden = state.store.hidden_products(Some(user)).await?;
    let mut out = Vec::new();
    let mut before = None;
    loop {
        let page = state
            .store
            .list_builds(&BuildQuery {
                status: Some(TaskState::Succeeded),
                package: package.map(str::to_owned),
                before,
                limit: Some(500),
                ..Default::default()
            })
            .await?;
        for s in &page.builds {
            let Some(b) = state.store.build(s.id).await? else {
                continue;
            };
            if b.options
                .product
                .as_ref()
                .is_some_and(|p| hidden.contains(p))
            {
                continue;
            }
            out.extend(build_packages(state, &b).await?);
        }
        match page.next {
            Some(n) if before != Some(n) => before = Some(n),
            _ => break,
        }
    }
    Ok(out)
}

/// `POST /api/v1/errata/{id}/match`: adds the built packages of the
/// erratum's platform that the request names.
pub(crate) async fn match_packages(
    State(state): State<AppState>,
    UserAuth(user): UserAuth,
    ApiPath(id): ApiPath<String>,
    ApiJson(req): ApiJson<MatchRequest>,
) -> Result<Json<Erratum>, AppError> {
    let mut e = load(&state, &id).await?;
    may_change(&state, &e, &user).await?;
    if req.packages.is_empty() {
        return Err(AppError::BadRequest(
            "packages is empty: name the packages to take as NAME-VERSION[-RELEASE][@ARCH,…]"
                .into(),
        ));
    }
    let wanted = req
        .packages
        .iter()
        .map(|w| {
            w.parse::<Wanted>()
                .map_err(|m| AppError::BadRequest(format!("package {w:?}: {m}")))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let base = advisory(&e)?;
    // Binary packages mostly share their source package's name: look at the
    // builds of those first, and at every build only when that is not enough.
    let mut found = Vec::new();
    let mut names: Vec<&str> = wanted.iter().map(|w| w.name.as_str()).collect();
    names.sort_unstable();
    names.dedup();
    for n in names {
        found.extend(candidates(&state, &user, Some(n)).await?);
    }
    let mut adv = base.clone();
    let mut result = {
        let built: Vec<BuiltPackage> = found.iter().map(|c| c.built.clone()).collect();
        albs_oval::match_packages(&mut adv, &wanted, &built)
    };
    if result.is_err() {
        found = candidates(&state, &user, None).await?;
        adv = base;
        let built: Vec<BuiltPackage> = found.iter().map(|c| c.built.clone()).collect();
        result = albs_oval::match_packages(&mut adv, &wanted, &built);
    }
    if let Err(err) = result {
        // Built on another platform only: name the package and where it was built.
        for w in &wanted {
            let mut others: Vec<&Candidate> = Vec::new();
            for c in found.iter().filter(|c| c.built.platform != e.platform) {
                let mut probe = adv.clone();
                probe.platform = c.built.platform.clone();
                probe.packages.clear();
                if albs_oval::match_packages(
                    &mut probe,
                    std::slice::from_ref(w),
                    std::slice::from_ref(&c.built),
                )
                .is_ok()
                {
                    others.push(c);
                }
            }
            let ours = found.iter().any(|c| {
                let mut probe = adv.clone();
                probe.packages.clear();
                c.built.platform == e.platform
                    && albs_oval::match_packages(
                        &mut probe,
                        std::slice::from_ref(w),
                        std::slice::from_ref(&c.built),
                    )
                    .is_ok()
            });
            if let (false, Some(c)) = (ours, others.first()) {
                let mut names: Vec<String> = others
                    .iter()
                    .filter(|o| o.built.platform == c.built.platform)
                    .map(|o| o.built.package.nevra.to_string())
                    .collect();
                names.sort();
                names.dedup();
                let (what, were) = if names.len() == 1 {
                    ("package", "was")
                } else {
                    ("packages", "were")
                };
                return Err(AppError::Conflict(format!(
                    "{what} {} {were} built for platform {} (build {}), not for {}, the platform of erratum {}; an erratum lists only packages of its own platform",
                    names.join(", "),
                    c.built.platform,
                    c.build_id,
                    e.platform,
                    e.id
                )));
            }
        }
        return Err(refusal(err));
    }
    let plat = platform(&state, &e.platform).await?;
    let by_hash: HashMap<Sha256, u64> = found
        .iter()
        .filter_map(|c| c.built.package.sha256.map(|s| (s, c.build_id)))
        .collect();
    let mut packages = Vec::with_capacity(adv.packages.len());
    for p in adv.packages {
        check_package_platform(&e.id, &plat, &p.nevra).map_err(refusal)?;
        packages.push(FixedPackage {
            build_id: p.sha256.and_then(|s| by_hash.get(&s).copied()).or_else(|| {
                e.content
                    .packages
                    .iter()
                    .find(|o| o.nevra == p.nevra)
                    .and_then(|o| o.build_id)
            }),
            nevra: p.nevra,
            sha256: p.sha256,
            signing_key: p.signing_key,
            source_rpm: p.source_rpm,
        });
    }
    let read_at = e.updated;
    e.content.packages = packages;
    let e = save(&state, e, read_at, &user).await?;
    tracing::info!(erratum = %e.id, by = %user.name, packages = e.content.packages.len(), "erratum matched");
    Ok(Json(e))
}

/// Moves an erratum from `from` to `to` after checking it as the feeds
/// read it.
async fn transition(
    state: &AppState,
    admin: &User,
    id: &str,
    from: ErratumState,
    to: ErratumState,
) -> Result<Erratum, AppError> {
    let mut e = load(state, id).await?;
    if e.state == to {
        return Ok(e);
    }
    if e.state != from {
        return Err(AppError::Conflict(format!(
            "erratum {id} is {}; only a {from} erratum can become {to}",
            e.state
        )));
    }
    check(state, &e, true).await?;
    let read_at = e.updated;
    let t = now().max(read_at + time::Duration::microseconds(1));
    e.state = to;
    e.updated = t;
    e.updated_by = admin.name.clone();
    if to == ErratumState::Released {
        e.released = Some(t);
    }
    state.store.save_erratum(&e, read_at).await?;
    tracing::info!(erratum = %id, by = %admin.name, state = %to, "erratum moved");
    Ok(e)
}

/// `POST /api/v1/errata/{id}/approve` (admin).
pub(crate) async fn approve(
    State(state): State<AppState>,
    UserAuth(admin): UserAuth,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<Erratum>, AppError> {
    authorize(&state, &admin, Action::ApproveErratum, Scope::Global).await?;
    let e = transition(
        &state,
        &admin,
        &id,
        ErratumState::Draft,
        ErratumState::Approved,
    )
    .await?;
    Ok(Json(e))
}

/// `POST /api/v1/errata/{id}/release` (admin).
pub(crate) async fn release(
    State(state): State<AppState>,
    UserAuth(admin): UserAuth,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<Erratum>, AppError> {
    authorize(&state, &admin, Action::ReleaseErratum, Scope::Global).await?;
    let e = transition(
        &state,
        &admin,
        &id,
        ErratumState::Approved,
        ErratumState::Released,
    )
    .await?;
    {
        let _guard = crate::release::PUBLISHING.lock().await;
        crate::updateinfo::refresh(&state, &e.platform).await;
    }
    Ok(Json(e))
}

/// The released advisories of platform `name`.
pub(crate) async fn released(state: &AppState, name: &str) -> Result<Vec<Advisory>, AppError> {
    platform(state, name).await?;
    state
        .store
        .list_errata(Some(name), Some(ErratumState::Released))
        .await?
        .iter()
        .map(advisory)
        .collect()
}

fn body(content_type: &'static str, text: String) -> Response {
    ([(header::CONTENT_TYPE, content_type)], text).into_response()
}

/// A released record the feeds cannot render (stored before its checks).
fn feed_error(what: &str, e: impl std::fmt::Display) -> AppError {
    AppError::Conflict(format!(
        "the {what} cannot be generated: {e}; an admin must correct the erratum"
    ))
}

/// `GET /api/v1/platforms/{name}/oval.xml`.
pub(crate) async fn oval(
    State(state): State<AppState>,
    ApiPath(name): ApiPath<String>,
) -> Result<Response, AppError> {
    let all = released(&state, &name).await?;
    let xml = albs_oval::oval_xml(&name, &all, &platforms(&state).await?)
        .map_err(|e| feed_error("OVAL feed", e))?;
    Ok(body("application/xml", xml))
}

/// `GET /api/v1/platforms/{name}/updateinfo.xml`.
pub(crate) async fn updateinfo(
    State(state): State<AppState>,
    ApiPath(name): ApiPath<String>,
) -> Result<Response, AppError> {
    let all = released(&state, &name).await?;
    Ok(body("application/xml", albs_oval::updateinfo_xml(&all)))
}

/// `GET /api/v1/platforms/{name}/errata.json`.
pub(crate) async fn json(
    State(state): State<AppState>,
    ApiPath(name): ApiPath<String>,
) -> Result<Response, AppError> {
    let all = released(&state, &name).await?;
    Ok(body(
        "application/json",
        albs_oval::export::json_feed(&name, &all),
    ))
}

/// `GET /api/v1/platforms/{name}/osv`: a JSON array of OSV records.
pub(crate) async fn osv(
    State(state): State<AppState>,
    ApiPath(name): ApiPath<String>,
) -> Result<Response, AppError> {
    let mut all = released(&state, &name).await?;
    all.sort_by(|a, b| a.id.cmp(&b.id));
    let records: Vec<serde_json::Value> = all.iter().map(albs_oval::export::osv).collect();
    let mut text =
        serde_json::to_string_pretty(&records).map_err(|e| AppError::internal("OSV records", e))?;
    text.push('\n');
    Ok(body("application/json", text))
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use albs_core::auth::hash_token;
    use albs_core::db::{SqliteStore, Store as _};
    use albs_core::ledger::MemoryLedger;
    use albs_core::store::DirStore;
    use axum::body::Body;
    use axum::http::Request;
    use http_body_util::BodyExt as _;
    use tower::ServiceExt as _;

    use super::*;
    use crate::{ServerConfig, router};

    struct Fixture {
        _dir: tempfile::TempDir,
        state: AppState,
    }

    async fn fixture() -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(SqliteStore::memory().await.unwrap());
        albs_core::conformance::put_bundled_platforms(store.as_ref()).await;
        for (name, admin) in [("root", true), ("alice", false), ("bob", false)] {
            let u = store.create_user(name, admin).await.unwrap();
            store
                .add_user_token(u.id, &hash_token(&format!("token-{name}")), None)
                .await
                .unwrap();
        }
        let artifacts = Arc::new(DirStore::open(dir.path().join("artifacts")).unwrap());
        let state = AppState::new(
            store,
            artifacts,
            Arc::new(MemoryLedger::new()),
            ServerConfig::default(),
        );
        Fixture { _dir: dir, state }
    }

    async fn call(
        state: &AppState,
        method: &str,
        uri: &str,
        user: Option<&str>,
        body: Option<serde_json::Value>,
    ) -> (StatusCode, String) {
        let mut b = Request::builder().method(method).uri(uri);
        if let Some(u) = user {
            b = b.header(header::AUTHORIZATION, format!("Bearer token-{u}"));
        }
        let req = match body {
            Some(v) => b
                .header(header::CONTENT_TYPE, "application/json")
                .body(Body::from(v.to_string()))
                .unwrap(),
            None => b.body(Body::empty()).unwrap(),
        };
        let resp = router(state.clone()).oneshot(req).await.unwrap();
        let status = resp.status();
        let bytes = resp.into_body().collect().await.unwrap().to_bytes();
        (status, String::from_utf8(bytes.to_vec()).unwrap())
    }

    fn draft(platform: &str) -> serde_json::Value {
        serde_json::json!({
            "platform": platform,
            "type": "security",
            "severity": "moderate",
            "title": "hello: overflow",
            "description": "A fix.",
            "cves": ["CVE-2026-1000"],
        })
    }

    fn package(nevra: &str) -> serde_json::Value {
        serde_json::json!({
            "nevra": nevra,
            "sha256": Sha256::of(nevra.as_bytes()).to_hex(),
            "signing_key": "0123456789abcdef",
            "source_rpm": "hello-1.1-1.el9.src.rpm",
        })
    }

    async fn released(s: &AppState, platform: &str, nevra: &str) -> Erratum {
        let (st, body) = call(
            s,
            "POST",
            "/api/v1/errata",
            Some("alice"),
            Some(draft(platform)),
        )
        .await;
        assert_eq!(st, StatusCode::CREATED, "{body}");
        let e: Erratum = serde_json::from_str(&body).unwrap();
        let uri = format!("/api/v1/errata/{}", e.id);
        let patch = serde_json::json!({ "packages": [package(nevra)] });
        let (st, body) = call(s, "PATCH", &uri, Some("alice"), Some(patch)).await;
        assert_eq!(st, StatusCode::OK, "{body}");
        for verb in ["approve", "release"] {
            let (st, body) = call(s, "POST", &format!("{uri}/{verb}"), Some("root"), None).await;
            assert_eq!(st, StatusCode::OK, "{verb}: {body}");
        }
        serde_json::from_str(&call(s, "GET", &uri, None, None).await.1).unwrap()
    }

    #[tokio::test]
    async fn bad_input_is_refused_naming_it() {
        let f = fixture().await;
        let s = &f.state;
        let (st, body) = call(
            s,
            "POST",
            "/api/v1/errata",
            None,
            Some(draft("almalinux-9")),
        )
        .await;
        assert_eq!(st, StatusCode::UNAUTHORIZED, "{body}");
        let (st, body) = call(
            s,
            "POST",
            "/api/v1/errata",
            Some("alice"),
            Some(draft("solaris-11")),
        )
        .await;
        assert_eq!(st, StatusCode::NOT_FOUND, "{body}");
        assert!(body.contains("solaris-11"), "{body}");
        let mut bad = draft("almalinux-9");
        bad["cves"] = serde_json::json!(["CVE-26-1"]);
        let (st, body) = call(s, "POST", "/api/v1/errata", Some("alice"), Some(bad)).await;
        assert_eq!(st, StatusCode::BAD_REQUEST, "{body}");
        assert!(body.contains("CVE-26-1"), "{body}");
        let mut bad = draft("almalinux-9");
        bad["type"] = "feature".into();
        let (st, body) = call(s, "POST", "/api/v1/errata", Some("alice"), Some(bad)).await;
        assert_eq!(st, StatusCode::BAD_REQUEST, "{body}");
        assert!(body.contains("feature"), "{body}");
        let (st, body) = call(s, "GET", "/api/v1/errata?state=gone", Some("alice"), None).await;
        assert_eq!(st, StatusCode::BAD_REQUEST, "{body}");
        assert!(body.contains("gone"), "{body}");
        let (st, body) = call(s, "GET", "/api/v1/platforms/nope/oval.xml", None, None).await;
        assert_eq!(st, StatusCode::NOT_FOUND, "{body}");
        // Nothing was numbered by the refused drafts.
        let (_, body) = call(
            s,
            "POST",
            "/api/v1/errata",
            Some("alice"),
            Some(draft("almalinux-9")),
        )
        .await;
        let e: Erratum = serde_json::from_str(&body).unwrap();
        assert!(e.id.ends_with(":0001"), "{}", e.id);
        // A package of another platform, set by hand.
        let uri = format!("/api/v1/errata/{}", e.id);
        let p = serde_json::json!({ "packages": [package("hello-1.1-1.el8.x86_64")] });
        let (st, body) = call(s, "PATCH", &uri, Some("alice"), Some(p)).await;
        assert_eq!(st, StatusCode::CONFLICT, "{body}");
        assert!(body.contains("hello-1.1-1.el8.x86_64"), "{body}");
        // Another user may not edit alice's draft; a draft is not released
        // without approval; bob is no admin.
        let p = serde_json::json!({ "title": "mine now" });
        let (st, body) = call(s, "PATCH", &uri, Some("bob"), Some(p)).await;
        assert_eq!(st, StatusCode::FORBIDDEN, "{body}");
        let (st, body) = call(s, "POST", &format!("{uri}/release"), Some("root"), None).await;
        assert_eq!(st, StatusCode::CONFLICT, "{body}");
        assert!(body.contains("draft"), "{body}");
        let (st, _) = call(s, "POST", &format!("{uri}/approve"), Some("bob"), None).await;
        assert_eq!(st, StatusCode::FORBIDDEN);
        // Without packages it cannot be approved.
        let (st, body) = call(s, "POST", &format!("{uri}/approve"), Some("root"), None).await;
        assert_eq!(st, StatusCode::BAD_REQUEST, "{body}");
        assert!(body.contains("no packages"), "{body}");
        // Drafts are for signed-in readers.
        assert_eq!(
            call(s, "GET", &uri, None, None).await.0,
            StatusCode::NOT_FOUND
        );
        assert_eq!(
            call(s, "GET", &uri, Some("bob"), None).await.0,
            StatusCode::OK
        );
    }

    #[tokio::test]
    async fn feeds_hold_every_released_erratum_of_their_platform_only() {
        let f = fixture().await;
        let s = &f.state;
        let (st, empty) = call(
            s,
            "GET",
            "/api/v1/platforms/almalinux-9/oval.xml",
            None,
            None,
        )
        .await;
        assert_eq!(st, StatusCode::OK, "{empty}");
        let a = released(s, "almalinux-9", "hello-1.1-1.el9.x86_64").await;
        let b = released(s, "almalinux-8", "hello-1.1-1.el8.x86_64").await;
        assert_eq!(a.state, ErratumState::Released);
        // A draft stays out.
        call(
            s,
            "POST",
            "/api/v1/errata",
            Some("alice"),
            Some(draft("almalinux-9")),
        )
        .await;
        let get = |uri: &'static str| call(s, "GET", uri, None, None);
        let (st, oval9) = get("/api/v1/platforms/almalinux-9/oval.xml").await;
        assert_eq!(st, StatusCode::OK, "{oval9}");
        let def = |id: &str| albs_oval::oval::definition_id(id).unwrap();
        assert!(oval9.contains(&def(&a.id)), "{oval9}");
        assert!(
            !oval9.contains(&def(&b.id)) && !oval9.contains("el8"),
            "{oval9}"
        );
        assert_eq!(get("/api/v1/platforms/almalinux-9/oval.xml").await.1, oval9);
        let (_, oval8) = get("/api/v1/platforms/almalinux-8/oval.xml").await;
        assert!(
            oval8.contains(&def(&b.id)) && !oval8.contains("el9"),
            "{oval8}"
        );
        let (_, json) = get("/api/v1/platforms/almalinux-9/errata.json").await;
        let list: Vec<serde_json::Value> = serde_json::from_str(&json).unwrap();
        assert_eq!(list.len(), 1);
        assert_eq!(list[0]["id"], a.id.as_str());
        let (_, ui) = get("/api/v1/platforms/almalinux-9/updateinfo.xml").await;
        assert!(ui.contains(&a.id) && !ui.contains(&b.id), "{ui}");
        let (_, osv) = get("/api/v1/platforms/almalinux-8/osv").await;
        let osv: Vec<serde_json::Value> = serde_json::from_str(&osv).unwrap();
        assert_eq!(osv.len(), 1);
        // Released: an admin's correction keeps it in the feed, checked.
        let uri = format!("/api/v1/errata/{}", a.id);
        let p = serde_json::json!({ "title": "hello: overflow (corrected)" });
        let (st, body) = call(s, "PATCH", &uri, Some("alice"), Some(p.clone())).await;
        assert_eq!(st, StatusCode::FORBIDDEN, "{body}");
        let (st, body) = call(s, "PATCH", &uri, Some("root"), Some(p)).await;
        assert_eq!(st, StatusCode::OK, "{body}");
        let unsigned = serde_json::json!({ "packages": [{"nevra": "hello-1.1-1.el9.x86_64"}] });
        let (st, body) = call(s, "PATCH", &uri, Some("root"), Some(unsigned)).await;
        assert_eq!(st, StatusCode::CONFLICT, "{body}");
        assert!(body.contains("signing_key"), "{body}");
        let (_, after) = get("/api/v1/platforms/almalinux-9/oval.xml").await;
        assert!(after.contains("(corrected)") && after != oval9, "{after}");
    }
}

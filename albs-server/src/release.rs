//! Release plans and publishing: `POST /api/v1/releases` makes a plan from
//! succeeded builds (every package to the repositories the platform maps it
//! to), `PATCH` edits it, `commit` publishes it and `revert` undoes it.
//!
//! A commit is refused (409) unless every package has a signed twin whose
//! header signature verifies with an allowed key (registered, not archived,
//! of the release's platform and product) and whose `SignedRpm` ledger
//! record links it to the package as built; then unless every target
//! repository stays closed (each requires provided by the repository after
//! the release, or by the platform's local base repositories), which
//! `force` overrides. Then each repository under `{repos_dir}/{name}` gets
//! the packages and new metadata (`Repo`), a `Release` record goes to the
//! ledger and the plan is marked committed in one store transaction. If
//! publishing fails, the repositories already changed are reverted and the
//! plan is marked failed with the reason: it never stays half-committed.
//!
//! A revert puts the previous generation of each repository back byte for
//! byte, only while each still serves what the commit published.
//!
//! `repomd.xml` is signed by a sign node holding the platform's key: it
//! asks for the published files that wait for its keys
//! (`/api/v1/releases/repomd/pending`) and posts detached signatures, which
//! the server keeps (`repomd.xml.asc`) only when they verify with the active
//! key and the file is still the one signed.
//!
//! After a commit or revert, each repository of the platform gets the
//! `updateinfo.xml` of its released errata (see `crate::updateinfo`); the
//! sign node is then offered the new `repomd.xml`.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::sync::LazyLock;

use albs_core::api::KeyState;
use albs_core::db::release::NewRelease;
use albs_core::hash::Sha256;
use albs_core::ledger::{Inputs, LedgerRecord, RecordKind, ReleaseInfo, ReleaseRepo, TaskInfo};
use albs_core::model::{ArtifactKind, Build, TaskState};
use albs_core::release::{
    Candidate, CommitRelease, CreateRelease, EditRelease, Release, ReleaseRepoState, ReleaseState,
    RepomdPending, RepomdSignature, RepomdToSign, apply_edit, check_repo_name, closure_problems,
    is_source_repo, plan_entries,
};
use albs_core::repo::Repo;
use albs_core::store::ArtifactStoreExt as _;
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;

use crate::authz::{Action, Scope, authorize};
use crate::error::AppError;
use crate::extract::{ApiJson, ApiPath, NodeAuth, Reader, UserAuth};
use crate::{AppState, now};

/// One commit or revert at a time: they change files on disk.
pub(crate) static PUBLISHING: LazyLock<tokio::sync::Mutex<()>> = LazyLock::new(Default::default);

/// Most builds in one release.
const MAX_BUILDS: usize = 100;

fn no_release(id: u64) -> AppError {
    AppError::NotFound(format!("release {id} does not exist"))
}

/// The release `id`, when it exists and `reader` may see it (a private
/// product's releases exist for its members and admins only).
async fn visible(
    state: &AppState,
    reader: Option<&albs_core::db::User>,
    id: u64,
) -> Result<Release, AppError> {
    let r = state
        .store
        .release(id)
        .await?
        .ok_or_else(|| no_release(id))?;
    if let Some(p) = &r.product
        && state.store.hidden_products(reader).await?.contains(p)
    {
        return Err(no_release(id));
    }
    Ok(r)
}

/// The directory published repositories live in.
fn repos_dir(state: &AppState) -> Result<PathBuf, AppError> {
    state.config.repos_dir.clone().ok_or_else(|| {
        AppError::Conflict(
            "this server publishes no repositories (it has no repository directory)".into(),
        )
    })
}

/// The packages of the builds, once each.
fn candidates(builds: &[Build]) -> Vec<Candidate> {
    let mut out: Vec<Candidate> = Vec::new();
    for b in builds {
        for a in b.tasks.iter().flat_map(|t| &t.artifacts) {
            if matches!(a.kind, ArtifactKind::Srpm | ArtifactKind::Rpm)
                && let Some(nevra) = &a.nevra
                && !out.iter().any(|c| c.sha256 == a.sha256)
            {
                out.push(Candidate {
                    sha256: a.sha256,
                    build_id: b.id,
                    name: a.name.clone(),
                    nevra: nevra.clone(),
                });
            }
        }
    }
    out
}

async fn load_builds(
    state: &AppState,
    reader: &albs_core::db::User,
    ids: &[u64],
) -> Result<Vec<Build>, AppError> {
    let mut out = Vec::with_capacity(ids.len());
    for &id in ids {
        out.push(crate::web::access::visible_build(state, Some(reader), id).await?);
    }
    Ok(out)
}

/// `POST /api/v1/releases`.
pub(crate) async fn create(
    State(state): State<AppState>,
    UserAuth(user): UserAuth,
    ApiJson(req): ApiJson<CreateRelease>,
) -> Result<(StatusCode, Json<Release>), AppError> {
    if req.builds.is_empty() || req.builds.len() > MAX_BUILDS {
        return Err(AppError::BadRequest(format!(
            "builds must list 1 to {MAX_BUILDS} build ids, not {}",
            req.builds.len()
        )));
    }
    let mut ids = req.builds.clone();
    ids.sort_unstable();
    ids.dedup();
    let builds = load_builds(&state, &user, &ids).await?;
    let platform_name = req
        .platform
        .clone()
        .unwrap_or_else(|| builds[0].platform.clone());
    let product = req
        .product
        .clone()
        .filter(|p| !p.is_empty())
        .or_else(|| builds[0].options.product.clone().filter(|p| !p.is_empty()));
    if let Some(p) = &product {
        check_repo_name(p).map_err(|_| {
            AppError::BadRequest(format!(
                "product {p:?} cannot name repositories: use letters, digits and '._+-'"
            ))
        })?;
    }
    // Who may release the product is asked before what the builds are.
    authorize(
        &state,
        &user,
        Action::CreateRelease,
        Scope::Owned {
            product: product.as_deref(),
            owner: &user.name,
        },
    )
    .await?;
    for b in &builds {
        if b.state() != TaskState::Succeeded {
            return Err(AppError::Conflict(format!(
                "build {} is {}; only succeeded builds are released",
                b.id,
                b.state()
            )));
        }
        if b.platform != platform_name {
            return Err(AppError::Conflict(format!(
                "build {} is for platform {}, the release for {platform_name}",
                b.id, b.platform
            )));
        }
        let bp = b.options.product.clone().filter(|p| !p.is_empty());
        if bp != product {
            return Err(AppError::Conflict(format!(
                "build {} is of product {}, the release of {}",
                b.id,
                bp.as_deref().unwrap_or("(none)"),
                product.as_deref().unwrap_or("(none)")
            )));
        }
    }
    let platform =
        state.store.platform(&platform_name).await?.ok_or_else(|| {
            AppError::NotFound(format!("platform {platform_name} does not exist"))
        })?;
    let entries = plan_entries(&platform, product.as_deref(), &candidates(&builds));
    if entries.is_empty() {
        return Err(AppError::Conflict(
            "the builds have no packages to release".into(),
        ));
    }
    let r = state
        .store
        .create_release(
            &NewRelease {
                platform: platform_name,
                product,
                owner: user.name.clone(),
                builds: ids,
                entries,
            },
            now(),
        )
        .await?;
    tracing::info!(release = r.id, by = %user.name, "release planned");
    Ok((StatusCode::CREATED, Json(r)))
}

/// `GET /api/v1/releases`.
pub(crate) async fn list(
    State(state): State<AppState>,
    Reader(reader): Reader,
) -> Result<Json<Vec<Release>>, AppError> {
    let hidden = state.store.hidden_products(reader.as_ref()).await?;
    let mut all = state.store.releases().await?;
    all.retain(|r| r.product.as_ref().is_none_or(|p| !hidden.contains(p)));
    Ok(Json(all))
}

/// `GET /api/v1/releases/{id}`.
pub(crate) async fn get(
    State(state): State<AppState>,
    Reader(reader): Reader,
    ApiPath(id): ApiPath<u64>,
) -> Result<Json<Release>, AppError> {
    Ok(Json(visible(&state, reader.as_ref(), id).await?))
}

fn check_open(r: &Release, doing: &str) -> Result<(), AppError> {
    if matches!(r.state, ReleaseState::Planned | ReleaseState::Failed) {
        Ok(())
    } else {
        Err(AppError::Conflict(format!(
            "release {} is {}; only a planned or failed release is {doing}",
            r.id, r.state
        )))
    }
}

/// `PATCH /api/v1/releases/{id}`.
pub(crate) async fn edit(
    State(state): State<AppState>,
    UserAuth(user): UserAuth,
    ApiPath(id): ApiPath<u64>,
    ApiJson(req): ApiJson<EditRelease>,
) -> Result<Json<Release>, AppError> {
    let r = visible(&state, Some(&user), id).await?;
    authorize(
        &state,
        &user,
        Action::EditRelease,
        Scope::Owned {
            product: r.product.as_deref(),
            owner: &r.owner,
        },
    )
    .await?;
    check_open(&r, "edited")?;
    let builds = load_builds(&state, &user, &r.builds).await?;
    let entries = apply_edit(&r.entries, &req, &candidates(&builds))
        .map_err(|e| AppError::BadRequest(e.to_string()))?;
    let out = state.store.set_release_entries(id, &entries).await?;
    tracing::info!(release = id, by = %user.name, "release edited");
    Ok(Json(out))
}

/// Who may commit or revert: the product's team roles, else admins.
async fn authorize_publish(
    state: &AppState,
    user: &albs_core::db::User,
    action: Action,
    r: &Release,
) -> Result<(), AppError> {
    let scope = match &r.product {
        Some(p) => Scope::Product(p),
        None => Scope::Global,
    };
    authorize(state, user, action, scope).await
}

/// A package to publish: its signed twin and where it goes.
struct ToPublish {
    signed: Sha256,
    name: String,
    repos: BTreeSet<String>,
}

/// The signed twin of each package, checked: its header signature by an
/// allowed key and its `SignedRpm` ledger record. Files land in `dir`.
async fn signed_packages(
    state: &AppState,
    r: &Release,
    dir: &Path,
) -> Result<Vec<(ToPublish, PathBuf)>, AppError> {
    // The latest succeeded sign task of each build says which twin is signed.
    let mut twins: HashMap<Sha256, Sha256> = HashMap::new();
    for &b in &r.builds {
        for t in state.store.build_sign_tasks(b).await? {
            if t.state == TaskState::Succeeded {
                for p in t.packages {
                    if let Some(s) = p.signed {
                        twins.insert(p.unsigned, s);
                    }
                }
            }
        }
    }
    let mut by_pkg: BTreeMap<Sha256, ToPublish> = BTreeMap::new();
    let mut unsigned = BTreeSet::new();
    for e in &r.entries {
        match twins.get(&e.sha256) {
            Some(s) => {
                by_pkg
                    .entry(e.sha256)
                    .or_insert_with(|| ToPublish {
                        signed: *s,
                        name: e.name.clone(),
                        repos: BTreeSet::new(),
                    })
                    .repos
                    .insert(e.repo.clone());
            }
            None => {
                unsigned.insert(e.nevra.to_string());
            }
        }
    }
    if !unsigned.is_empty() {
        return Err(AppError::Conflict(format!(
            "release {} has unsigned packages: {}; sign their builds first",
            r.id,
            unsigned.into_iter().collect::<Vec<_>>().join(", ")
        )));
    }
    let keys: Vec<_> = state
        .store
        .sign_keys()
        .await?
        .into_iter()
        .filter(|k| {
            k.state == KeyState::Active
                && k.platform == r.platform
                && (k.product.is_none() || k.product == r.product)
        })
        .collect();
    if keys.is_empty() {
        return Err(AppError::Conflict(format!(
            "platform {} has no active signing key{}; no package can be released",
            r.platform,
            r.product
                .as_deref()
                .map(|p| format!(" for product {p}"))
                .unwrap_or_default()
        )));
    }
    let mut out = Vec::new();
    for (unsigned, p) in by_pkg {
        let bytes = state.artifacts.get_bytes(&p.signed).await?;
        let path = dir.join(&p.name);
        tokio::fs::write(&path, &bytes)
            .await
            .map_err(|e| AppError::internal("writing a package to publish", e))?;
        let check = path.clone();
        let armored: Vec<(String, String)> = keys
            .iter()
            .map(|k| (k.fingerprint.clone(), k.public_key.clone()))
            .collect();
        let verified = tokio::task::spawn_blocking(move || {
            let mut why = String::new();
            for (_, key) in &armored {
                match albs_sign::RpmVerifier::from_public_keys(key.as_bytes())
                    .and_then(|v| v.verify_rpm(&check))
                {
                    Ok(v) => return Ok(v),
                    Err(e) => why = e.to_string(),
                }
            }
            Err(why)
        })
        .await
        .map_err(|e| AppError::internal("checking a signature", e))?
        .map_err(|why| {
            AppError::Conflict(format!(
                "package {} (sha256 {}) is not signed by an allowed key of platform {}: {why}",
                p.name, p.signed, r.platform
            ))
        })?;
        let mut recorded = false;
        for i in state.ledger.find_artifact(&p.signed).await? {
            if let Some(e) = state.ledger.get(i).await?
                && e.record.kind == RecordKind::SignedRpm
                && e.record.signature.as_ref().is_some_and(|s| {
                    s.unsigned == unsigned && s.fingerprint == verified.fingerprint
                })
            {
                recorded = true;
                break;
            }
        }
        if !recorded {
            return Err(AppError::Conflict(format!(
                "package {} (sha256 {}) has no signed_rpm record in the ledger linking it to \
                 {unsigned} and key {}; it is not released",
                p.name, p.signed, verified.fingerprint
            )));
        }
        out.push((p, path));
    }
    Ok(out)
}

/// `POST /api/v1/releases/{id}/commit`.
pub(crate) async fn commit(
    State(state): State<AppState>,
    UserAuth(user): UserAuth,
    ApiPath(id): ApiPath<u64>,
    body: axum::body::Bytes,
) -> Result<Json<Release>, AppError> {
    let force = if body.iter().all(u8::is_ascii_whitespace) {
        false
    } else {
        serde_json::from_slice::<CommitRelease>(&body)
            .map_err(|e| AppError::BadRequest(format!("the request body does not fit: {e}")))?
            .force
    };
    let r = visible(&state, Some(&user), id).await?;
    authorize_publish(&state, &user, Action::CommitRelease, &r).await?;
    let root = repos_dir(&state)?;
    let _guard = PUBLISHING.lock().await;
    let r = visible(&state, Some(&user), id).await?;
    check_open(&r, "committed")?;
    if r.entries.is_empty() {
        return Err(AppError::Conflict(format!(
            "release {id} has no packages; add some with an edit"
        )));
    }
    // A work directory inside the (never served) dot-directory.
    let work = root.join(".work").join(format!("release-{id}"));
    let _ = tokio::fs::remove_dir_all(&work).await;
    tokio::fs::create_dir_all(&work)
        .await
        .map_err(|e| AppError::internal("making a work directory", e))?;
    let platform = r.platform.clone();
    let result = commit_in(&state, &user, r, force, &root, &work).await;
    let _ = tokio::fs::remove_dir_all(&work).await;
    if result.is_ok() {
        crate::updateinfo::refresh(&state, &platform).await;
    }
    result
}

async fn commit_in(
    state: &AppState,
    user: &albs_core::db::User,
    r: Release,
    force: bool,
    root: &Path,
    work: &Path,
) -> Result<Json<Release>, AppError> {
    let id = r.id;
    let packages = signed_packages(state, &r, work).await?;
    let platform = state
        .store
        .platform(&r.platform)
        .await?
        .ok_or_else(|| AppError::NotFound(format!("platform {} does not exist", r.platform)))?;

    // Closure, per repository, before anything is written.
    let mut per_repo: BTreeMap<String, Vec<(PathBuf, String, Sha256)>> = BTreeMap::new();
    for (p, path) in &packages {
        for repo in &p.repos {
            per_repo.entry(repo.clone()).or_default().push((
                path.clone(),
                p.name.clone(),
                p.signed,
            ));
        }
    }
    if !force {
        let http = reqwest::Client::builder()
            .connect_timeout(std::time::Duration::from_secs(30))
            .timeout(std::time::Duration::from_secs(600))
            .build()
            .map_err(|e| AppError::internal("an HTTP client", e))?;
        let cache = root.join(".cache").join("base");
        let mut checks: Vec<(String, PathBuf, Vec<PathBuf>, Vec<PathBuf>)> = Vec::new();
        for (repo, files) in per_repo.iter().filter(|(repo, _)| !is_source_repo(repo)) {
            checks.push((
                repo.clone(),
                root.join(repo),
                crate::base_repos::base_repos(&http, &platform, repo, &cache).await?,
                files.iter().map(|f| f.0.clone()).collect(),
            ));
        }
        let problems = tokio::task::spawn_blocking(move || {
            let mut all = Vec::new();
            for (repo, dir, base, files) in checks {
                all.extend(closure_problems(&repo, &dir, &base, &files)?);
            }
            Ok::<_, albs_core::release::ReleaseError>(all)
        })
        .await
        .map_err(|e| AppError::internal("closure check", e))?
        .map_err(|e| AppError::internal("closure check", e))?;
        if !problems.is_empty() {
            let lines: Vec<String> = problems.iter().map(ToString::to_string).collect();
            return Err(AppError::Conflict(format!(
                "release {id} would break repository closure; fix the plan or commit with \
                 force:\n{}",
                lines.join("\n")
            )));
        }
    }

    // Publish, reverting what was changed if a repository fails.
    let jobs: Vec<RepoJob> = per_repo
        .iter()
        .map(|(repo, files)| RepoJob {
            name: repo.clone(),
            dir: root.join(repo),
            files: files.iter().map(|f| (f.0.clone(), f.1.clone())).collect(),
        })
        .collect();
    let published = tokio::task::spawn_blocking(move || publish_all(&jobs))
        .await
        .map_err(|e| AppError::internal("publishing", e))?;
    let repos = match published {
        Ok(repos) => repos,
        Err(reason) => {
            tracing::error!(release = id, %reason, "publishing failed");
            state.store.fail_release(id, &reason).await?;
            return Err(AppError::Conflict(format!(
                "release {id} failed to publish and is marked failed: {reason}"
            )));
        }
    };
    let mut hashes: Vec<Sha256> = packages.iter().map(|(p, _)| p.signed).collect();
    hashes.sort();
    hashes.dedup();
    let appended = match release_record(state, &r, &user.name, "commit", hashes, &repos).await {
        Ok(record) => state
            .ledger
            .append(&record)
            .await
            .map_err(|e| e.to_string()),
        Err(e) => Err(e.to_string()),
    };
    if let Err(e) = appended {
        let reason = format!("the ledger refused the release record: {e}");
        state.store.fail_release(id, &reason).await?;
        return Err(AppError::internal("ledger", reason));
    }
    let out = match state.store.commit_release(id, &repos, now()).await {
        Ok(out) => out,
        Err(e) => {
            // Published and recorded in the ledger, but not marked: say so.
            let reason = format!(
                "published and recorded in the ledger, but the store failed to mark it \
                 committed: {e}"
            );
            let _ = state.store.fail_release(id, &reason).await;
            return Err(AppError::internal("marking a release committed", reason));
        }
    };
    crate::webhooks::emit(state, crate::webhooks::Event::release("committed", &out));
    tracing::info!(release = id, by = %user.name, repos = repos.len(), force, "release committed");
    crate::webhooks::emit(state, crate::webhooks::Event::release("committed", &out));
    Ok(Json(out))
}

/// The ledger record of a commit or revert; its inputs name the first
/// build's first source.
async fn release_record(
    state: &AppState,
    r: &Release,
    host: &str,
    action: &str,
    packages: Vec<Sha256>,
    repos: &[ReleaseRepoState],
) -> Result<LedgerRecord, AppError> {
    let first = r.builds.first().copied().unwrap_or_default();
    let source = state
        .store
        .build(first)
        .await?
        .and_then(|b| b.refs.into_iter().next())
        .ok_or_else(|| AppError::Conflict(format!("build {first} of release {} is gone", r.id)))?;
    Ok(LedgerRecord {
        kind: RecordKind::Release,
        artifact: None,
        nevra: None,
        task: TaskInfo {
            build_id: r.builds.first().copied(),
            task_id: None,
            arch: "noarch".parse().expect("noarch is an arch"),
            host: host.to_owned(),
            platform: r.platform.clone(),
        },
        inputs: Inputs {
            source,
            commit: None,
            lookaside: Vec::new(),
            srpm: None,
        },
        time: now(),
        signature: None,
        release: Some(ReleaseInfo {
            release_id: r.id,
            action: action.to_owned(),
            packages,
            repositories: repos
                .iter()
                .map(|s| ReleaseRepo {
                    name: s.name.clone(),
                    repomd_sha256: s.repomd_sha256,
                })
                .collect(),
        }),
    })
}

fn sha256_file(path: &Path) -> Result<Sha256, String> {
    std::fs::read(path)
        .map(|b| Sha256::of(&b))
        .map_err(|e| format!("{}: {e}", path.display()))
}

/// Publishes each repository; on a failure, reverts those already changed.
/// A repository to publish: its name, directory and packages (file, name).
struct RepoJob {
    name: String,
    dir: PathBuf,
    files: Vec<(PathBuf, String)>,
}

fn publish_all(jobs: &[RepoJob]) -> Result<Vec<ReleaseRepoState>, String> {
    let mut done: Vec<(PathBuf, bool)> = Vec::new();
    let mut out = Vec::new();
    for RepoJob { name, dir, files } in jobs {
        match publish_one(name, dir, files) {
            Ok((state, changed)) => {
                done.push((dir.clone(), changed));
                // A repository the release left as it was is not its to revert.
                if changed {
                    out.push(state);
                }
            }
            Err(e) => {
                for (d, changed) in done.iter().rev() {
                    if *changed && let Err(re) = Repo::open(d).and_then(|mut repo| repo.revert()) {
                        tracing::error!(dir = %d.display(), error = %re, "reverting after a failed release");
                    }
                }
                return Err(format!("repository {name}: {e}"));
            }
        }
    }
    Ok(out)
}

/// Copies the packages into `dir/Packages/` and publishes a new generation
/// (an empty first generation comes before, so that a revert has one to
/// go back to).
fn publish_one(
    name: &str,
    dir: &Path,
    files: &[(PathBuf, String)],
) -> Result<(ReleaseRepoState, bool), String> {
    let err = |e: &dyn std::fmt::Display| e.to_string();
    let mut repo = Repo::open(dir).map_err(|e| err(&e))?;
    if repo.generations().1.is_none() {
        repo.publish().map_err(|e| err(&e))?;
    }
    let pkgs = dir.join("Packages");
    std::fs::create_dir_all(&pkgs).map_err(|e| err(&e))?;
    let mut paths = Vec::new();
    for (src, file) in files {
        let dest = pkgs.join(file);
        let want = sha256_file(src)?;
        match sha256_file(&dest) {
            Ok(have) if have == want => {}
            Ok(_) => {
                return Err(format!(
                    "Packages/{file} already holds another package; a published file is never \
                     replaced"
                ));
            }
            Err(_) => {
                let tmp = pkgs.join(format!(".{file}.tmp"));
                std::fs::copy(src, &tmp).map_err(|e| err(&e))?;
                std::fs::rename(&tmp, &dest).map_err(|e| err(&e))?;
            }
        }
        paths.push(dest);
    }
    repo.add(&paths).map_err(|e| err(&e))?;
    let staged = repo.stage().map_err(|e| err(&e))?;
    let published = repo.commit(staged, None).map_err(|e| err(&e))?;
    let repomd_sha256 = sha256_file(&published.repomd)?;
    Ok((
        ReleaseRepoState {
            name: name.to_owned(),
            repomd_sha256,
            generation: published.generation,
        },
        published.changed,
    ))
}

/// `POST /api/v1/releases/{id}/revert`.
pub(crate) async fn revert(
    State(state): State<AppState>,
    UserAuth(user): UserAuth,
    ApiPath(id): ApiPath<u64>,
) -> Result<Json<Release>, AppError> {
    let r = visible(&state, Some(&user), id).await?;
    authorize_publish(&state, &user, Action::RevertRelease, &r).await?;
    let root = repos_dir(&state)?;
    let _guard = PUBLISHING.lock().await;
    let r = visible(&state, Some(&user), id).await?;
    if r.state != ReleaseState::Committed {
        return Err(AppError::Conflict(format!(
            "release {id} is {}; only a committed release is reverted",
            r.state
        )));
    }
    let repos = r.repositories.clone();
    let reverted = tokio::task::spawn_blocking(move || {
        // Every repository must still serve what the commit published.
        for s in &repos {
            let now_sha = sha256_file(&root.join(&s.name).join("repodata/repomd.xml"))?;
            if !crate::updateinfo::serves(&root, &s.name, s.repomd_sha256, now_sha) {
                return Err(format!(
                    "repository {} changed since release {id} was committed; revert the later \
                     release first",
                    s.name
                ));
            }
        }
        let mut out = Vec::new();
        for s in &repos {
            let dir = root.join(&s.name);
            let mut repo = Repo::open(&dir).map_err(|e| e.to_string())?;
            let p = repo
                .revert()
                .map_err(|e| format!("repository {}: {e}", s.name))?;
            out.push(ReleaseRepoState {
                name: s.name.clone(),
                repomd_sha256: sha256_file(&p.repomd)?,
                generation: p.generation,
            });
        }
        Ok(out)
    })
    .await
    .map_err(|e| AppError::internal("reverting", e))?
    .map_err(AppError::Conflict)?;
    let record = release_record(&state, &r, &user.name, "revert", Vec::new(), &reverted).await?;
    state.ledger.append(&record).await?;
    let out = state.store.revert_release(id, now()).await?;
    crate::updateinfo::refresh(&state, &out.platform).await;
    crate::webhooks::emit(&state, crate::webhooks::Event::release("reverted", &out));
    tracing::info!(release = id, by = %user.name, "release reverted");
    crate::webhooks::emit(&state, crate::webhooks::Event::release("reverted", &out));
    Ok(Json(out))
}

/// The repositories whose `repomd.xml` (as a committed release left it)
/// has no signature yet, with the active key of their platform (and
/// product); `fingerprints` filters the keys.
async fn unsigned_repomds(
    state: &AppState,
    fingerprints: &[String],
) -> Result<Vec<RepomdToSign>, AppError> {
    let Some(root) = state.config.repos_dir.clone() else {
        return Ok(Vec::new());
    };
    let mut out: Vec<RepomdToSign> = Vec::new();
    for r in state.store.releases().await? {
        if r.state != ReleaseState::Committed {
            continue;
        }
        let Some(key) = state
            .store
            .active_sign_key(&r.platform, r.product.as_deref())
            .await?
        else {
            continue;
        };
        if !fingerprints
            .iter()
            .any(|f| f.eq_ignore_ascii_case(&key.fingerprint))
        {
            continue;
        }
        for s in &r.repositories {
            let repodata = root.join(&s.name).join("repodata");
            if out.iter().any(|o| o.repo == s.name) || repodata.join("repomd.xml.asc").exists() {
                continue;
            }
            let Ok(bytes) = tokio::fs::read(repodata.join("repomd.xml")).await else {
                continue;
            };
            let served = Sha256::of(&bytes);
            if !crate::updateinfo::serves(&root, &s.name, s.repomd_sha256, served) {
                continue;
            }
            out.push(RepomdToSign {
                repo: s.name.clone(),
                repomd_sha256: served,
                repomd: String::from_utf8_lossy(&bytes).into_owned(),
                fingerprint: key.fingerprint.clone(),
            });
        }
    }
    Ok(out)
}

/// `POST /api/v1/releases/repomd/pending` (sign node): the published
/// `repomd.xml` files that wait for a signature by one of its keys.
pub(crate) async fn repomd_pending(
    State(state): State<AppState>,
    NodeAuth(_node): NodeAuth,
    ApiJson(req): ApiJson<RepomdPending>,
) -> Result<Json<Vec<RepomdToSign>>, AppError> {
    if req.fingerprints.len() > 256 {
        return Err(AppError::BadRequest(
            "fingerprints: send at most 256".into(),
        ));
    }
    Ok(Json(unsigned_repomds(&state, &req.fingerprints).await?))
}

/// `POST /api/v1/releases/repomd/signature` (sign node): a detached
/// signature of a repository's `repomd.xml`, kept when it verifies with the
/// active key of the repository's platform (and product) and the file is
/// still the one signed.
pub(crate) async fn repomd_signature(
    State(state): State<AppState>,
    NodeAuth(node): NodeAuth,
    ApiJson(req): ApiJson<RepomdSignature>,
) -> Result<StatusCode, AppError> {
    check_repo_name(&req.repo).map_err(|e| AppError::BadRequest(format!("repo: {e}")))?;
    let root = repos_dir(&state)?;
    let _guard = PUBLISHING.lock().await;
    let wanted = unsigned_repomds(&state, std::slice::from_ref(&req.fingerprint)).await?;
    let Some(todo) = wanted.into_iter().find(|w| w.repo == req.repo) else {
        return Err(AppError::Conflict(format!(
            "repository {} has no repomd.xml waiting for a signature by {}",
            req.repo, req.fingerprint
        )));
    };
    if todo.repomd_sha256 != req.repomd_sha256 {
        return Err(AppError::Conflict(format!(
            "repository {} serves repomd.xml sha256 {}, not the {} signed",
            req.repo, todo.repomd_sha256, req.repomd_sha256
        )));
    }
    let key = state
        .store
        .sign_key(&todo.fingerprint)
        .await?
        .ok_or_else(|| AppError::internal("repomd signature", "the key is gone"))?;
    let cert: albs_sign::Cert = key
        .public_key
        .parse()
        .map_err(|e| AppError::internal("reading a registered key", e))?;
    let dir = root.join(&req.repo);
    let signature = req.signature.clone();
    let name = req.repo.clone();
    tokio::task::spawn_blocking(move || {
        let bytes = std::fs::read(dir.join("repodata/repomd.xml"))
            .map_err(|e| AppError::internal("reading repomd.xml", e))?;
        albs_sign::verify_detached(&bytes, signature.as_bytes(), &[cert]).map_err(|e| {
            AppError::Forbidden(format!("the signature of {name}'s repomd.xml: {e}"))
        })?;
        if crate::updateinfo::attach_layered_signature(&root, &name, Sha256::of(&bytes), &signature)
            .map_err(|e| AppError::internal("attaching a signature", e))?
        {
            return Ok(());
        }
        Repo::open(&dir)
            .and_then(|mut r| r.attach_signature(&signature))
            .map_err(|e| AppError::internal("attaching a signature", e))
    })
    .await
    .map_err(|e| AppError::internal("attaching a signature", e))??;
    tracing::info!(repo = %req.repo, node = %node.name, key = %key.fingerprint, "repomd.xml signed");
    Ok(StatusCode::NO_CONTENT)
}

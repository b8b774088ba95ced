//! # albs-server
//!
//! The master service of albs: an axum router over the [`Store`], the
//! [`ArtifactStore`] and the [`Ledger`], serving the `/api/v1` REST API that
//! [`albs_core::client`] lists route by route (builds, platforms, artifacts,
//! task logs), and the node protocol (registration, leased claims,
//! heartbeats, log lines, streamed uploads checked by sha256, idempotent
//! completion that records what was built in the ledger).
//!
//! [`router`] builds the service for a state; [`serve`] runs it on a listener
//! with the ticker that puts tasks whose lease ran out back in the queue,
//! and, when [`ServerConfig::listener`] is set, the [`listener`] that builds
//! new tags of watched git repositories (also on `POST /api/v1/hooks/git`).
//!
//! Authentication is `Authorization: Bearer <token>`; only the token's
//! sha256 is stored and looked up, and request headers are never logged.
//!
//! Beside the API, read-only web pages (the build feed at `/`, builds,
//! following task logs, nodes and the queue), `GET /metrics` in the
//! Prometheus text format, and private products whose builds only their
//! members and admins read (web sign-in with a password or an API token at
//! `/login`). Every write is authorized by one check (`authz.rs`: teams,
//! roles per team, global admins) and recorded in the audit log.
#![deny(missing_docs)]

mod artifacts;
pub(crate) mod authz;
mod base_repos;
mod builds;
mod copr;
mod errata;
mod error;
mod extract;
mod ledger_api;
pub mod listener;
mod metrics;
mod node;
mod release;
mod repos;
mod security_api;
mod sign;
mod teams;
mod testing;
mod updateinfo;
mod validate;
mod web;
pub mod webhooks;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use albs_core::checkpoint::CheckpointSigner;
use albs_core::db::{RetryPolicy, Store};
use albs_core::ledger::Ledger;
use albs_core::store::ArtifactStore;
use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::{Method, Uri};
use axum::routing::{get, post, put};
use time::OffsetDateTime;
use tokio_util::sync::CancellationToken;

pub use error::AppError;
pub use listener::{ListenerConfig, ListenerError, WatchedRepo, glob_match, poll_once};
pub use webhooks::WebhookTarget;

/// Largest JSON request body, in bytes.
pub const JSON_BODY_LIMIT: usize = 1024 * 1024;

/// How the server runs.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// How long a claimed task stays with its node without a heartbeat.
    pub lease: Duration,
    /// What happens to a task whose lease ran out.
    pub retry: RetryPolicy,
    /// Largest artifact upload, in bytes.
    pub max_upload_bytes: u64,
    /// How often expired leases are looked for.
    pub expiry_interval: Duration,
    /// The URL the server is reached at (`https://albs.example`), for the
    /// links it hands out; relative links when `None`.
    pub public_base_url: Option<String>,
    /// The git listener: repositories whose new tags are built; `None`
    /// runs no listener (and the webhook answers 404).
    pub listener: Option<ListenerConfig>,
    /// Where build and release events are POSTed (see [`webhooks`]).
    pub webhooks: Vec<WebhookTarget>,
    /// Where release commits publish repositories (`{data}/repos`), served
    /// at `/repos/`; `None` publishes nothing.
    pub repos_dir: Option<std::path::PathBuf>,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            lease: Duration::from_secs(30),
            retry: RetryPolicy::default(),
            max_upload_bytes: 2 * 1024 * 1024 * 1024,
            expiry_interval: Duration::from_secs(1),
            public_base_url: None,
            listener: None,
            webhooks: Vec::new(),
            repos_dir: None,
        }
    }
}

/// What every handler shares.
#[derive(Clone)]
pub struct AppState {
    store: Arc<dyn Store>,
    artifacts: Arc<dyn ArtifactStore>,
    ledger: Arc<dyn Ledger>,
    /// Signs the ledger's checkpoints; `None` serves records and proofs
    /// without a signed tree head.
    ledger_signer: Option<Arc<CheckpointSigner>>,
    config: ServerConfig,
    /// Serialises completions so that each artifact is recorded once.
    completions: Arc<tokio::sync::Mutex<()>>,
    /// Delivers build and release events to `config.webhooks`.
    webhooks: webhooks::Webhooks,
}

impl AppState {
    /// The state of a server over these ports.
    pub fn new(
        store: Arc<dyn Store>,
        artifacts: Arc<dyn ArtifactStore>,
        ledger: Arc<dyn Ledger>,
        config: ServerConfig,
    ) -> Self {
        AppState {
            store,
            artifacts,
            ledger,
            ledger_signer: None,
            webhooks: webhooks::Webhooks::new(&config.webhooks),
            config,
            completions: Arc::default(),
        }
    }

    /// Signs the ledger's checkpoints with `signer` (served at
    /// `GET /api/v1/ledger/checkpoint`).
    pub fn with_ledger_signer(mut self, signer: CheckpointSigner) -> Self {
        self.ledger_signer = Some(Arc::new(signer));
        self
    }

    /// The configuration.
    pub fn config(&self) -> &ServerConfig {
        &self.config
    }
}

impl std::fmt::Debug for AppState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppState")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

pub(crate) fn now() -> OffsetDateTime {
    OffsetDateTime::now_utc()
}

/// The `/api/v1` service over `state`.
pub fn router(state: AppState) -> Router {
    Router::new()
        .route(
            "/api/v1/platforms",
            get(builds::list_platforms).post(builds::put_platform),
        )
        .route(
            "/api/v1/builds",
            get(builds::list_builds).post(builds::create_build),
        )
        .route(
            "/api/v1/builds/{id}",
            get(builds::get_build).delete(builds::delete_build),
        )
        .route("/api/v1/builds/{id}/cancel", post(builds::cancel_build))
        .route("/api/v1/builds/{id}/restart", post(builds::restart_build))
        .route("/api/v1/tasks/{id}/log", get(builds::read_log))
        .route("/api/v1/artifacts/{sha256}", get(artifacts::download))
        .route(
            "/api/v1/nodes",
            get(node::list_nodes).post(node::register_node),
        )
        .route("/api/v1/node/claim", post(node::claim))
        .route("/api/v1/node/tasks/{id}/heartbeat", post(node::heartbeat))
        .route("/api/v1/node/tasks/{id}/log", post(node::append_log))
        .route(
            "/api/v1/node/tasks/{id}/artifacts/{sha256}",
            put(artifacts::upload),
        )
        .route("/api/v1/node/tasks/{id}/complete", post(node::complete))
        .route("/api/v1/builds/{id}/tests", get(testing::list))
        .route("/api/v1/builds/{id}/tests/restart", post(testing::restart))
        .route("/api/v1/builds/{id}/tests/cancel", post(testing::cancel))
        .route("/api/v1/node/test/claim", post(testing::claim))
        .route("/api/v1/node/test/{id}/heartbeat", post(testing::heartbeat))
        .route("/api/v1/node/test/{id}/log", post(testing::append_log))
        .route("/api/v1/node/test/{id}/complete", post(testing::complete))
        .route("/api/v1/hooks/git", post(listener::git_hook))
        .route(
            "/api/v1/keys",
            get(sign::list_keys).post(sign::register_key),
        )
        .route(
            "/api/v1/keys/{fingerprint}/archive",
            post(sign::archive_key),
        )
        .route(
            "/api/v1/builds/{id}/sign",
            get(sign::build_sign_tasks).post(sign::create_sign_task),
        )
        .route("/api/v1/sign/tasks/{id}", get(sign::get_sign_task))
        .route("/api/v1/sign/claim", post(sign::claim))
        .route("/api/v1/sign/tasks/{id}/heartbeat", post(sign::heartbeat))
        .route(
            "/api/v1/sign/tasks/{id}/packages/{sha256}",
            put(sign::upload),
        )
        .route("/api/v1/sign/tasks/{id}/complete", post(sign::complete))
        .route("/api/v1/ledger/checkpoint", get(ledger_api::checkpoint))
        .route("/api/v1/ledger/key", get(ledger_api::key))
        .route("/api/v1/ledger/records/{index}", get(ledger_api::record))
        .route(
            "/api/v1/ledger/artifacts/{sha256}",
            get(ledger_api::artifact),
        )
        .route("/api/v1/ledger/proof/inclusion", get(ledger_api::inclusion))
        .route(
            "/api/v1/ledger/proof/consistency",
            get(ledger_api::consistency),
        )
        .route(
            "/api/v1/products",
            get(web::products::list_products).post(web::products::create_product),
        )
        .route(
            "/api/v1/products/{name}/members",
            post(web::products::add_member),
        )
        .route(
            "/api/v1/teams",
            get(teams::list_teams).post(teams::create_team),
        )
        .route("/api/v1/teams/{name}/members", post(teams::add_team_member))
        .route("/api/v1/users", post(teams::create_user))
        .route("/api/v1/audit", get(teams::audit))
        .route("/api/v1/errata", get(errata::list).post(errata::create))
        .route("/api/v1/errata/{id}", get(errata::get).patch(errata::patch))
        .route("/api/v1/errata/{id}/match", post(errata::match_packages))
        .route("/api/v1/errata/{id}/approve", post(errata::approve))
        .route("/api/v1/errata/{id}/release", post(errata::release))
        .route("/api/v1/platforms/{name}/oval.xml", get(errata::oval))
        .route(
            "/api/v1/platforms/{name}/updateinfo.xml",
            get(errata::updateinfo),
        )
        .route("/api/v1/platforms/{name}/errata.json", get(errata::json))
        .route("/api/v1/platforms/{name}/osv", get(errata::osv))
        .route("/api/v1/builds/{id}/sbom", get(security_api::build_sbom))
        .route(
            "/api/v1/builds/{id}/provenance",
            get(security_api::build_provenance),
        )
        .route(
            "/api/v1/artifacts/{sha256}/sbom",
            get(security_api::artifact_sbom),
        )
        .route("/api/v1/releases", get(release::list).post(release::create))
        .route(
            "/api/v1/releases/{id}",
            get(release::get).patch(release::edit),
        )
        .route("/api/v1/releases/{id}/commit", post(release::commit))
        .route("/api/v1/releases/{id}/revert", post(release::revert))
        .route(
            "/api/v1/releases/repomd/pending",
            post(release::repomd_pending),
        )
        .route(
            "/api/v1/releases/repomd/signature",
            post(release::repomd_signature),
        )
        .route("/repos/{*path}", get(repos::serve))
        .route("/api/v1/keys/{fingerprint}", get(copr::key_asc))
        .route("/products/{name}/{file}", get(copr::product_repo))
        .route(
            "/coprs/{owner}/{project}/repo/{chroot}/dnf.repo",
            get(copr::copr_dnf_repo),
        )
        .route("/api_3/project", get(copr::api3_project))
        .route("/api_3/project/list", get(copr::api3_project_list))
        .route("/api_3/project/search", get(copr::api3_project_search))
        .route("/metrics", get(metrics::metrics))
        .merge(web::routes())
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(JSON_BODY_LIMIT))
        .with_state(state)
}

async fn not_found(uri: Uri) -> AppError {
    AppError::NotFound(format!("no route {}; the API is under /api/v1", uri.path()))
}

async fn method_not_allowed(method: Method, uri: Uri) -> AppError {
    AppError::MethodNotAllowed(format!("{} does not take {method}", uri.path()))
}

/// Serves `state` on `listener` until `shutdown` resolves, with a ticker
/// that calls [`Store::expire_leases`] every `config.expiry_interval`, and,
/// when `config.listener` is set, the git listener's [`listener::watch`].
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let stop = CancellationToken::new();
    let ticker = tokio::spawn(expire_leases(state.clone(), stop.clone()));
    let watcher = state
        .config
        .listener
        .is_some()
        .then(|| tokio::spawn(crate::listener::watch(state.clone(), stop.clone())));
    let on_shutdown = stop.clone();
    let served = axum::serve(listener, router(state))
        .with_graceful_shutdown(async move {
            shutdown.await;
            on_shutdown.cancel();
        })
        .await;
    stop.cancel();
    if let Err(e) = ticker.await {
        tracing::error!(error = %e, "the lease expiry ticker failed");
    }
    if let Some(w) = watcher
        && let Err(e) = w.await
    {
        tracing::error!(error = %e, "the git listener failed");
    }
    served
}

/// Puts tasks whose lease ran out back in the queue, every
/// `expiry_interval`, until `stop`.
async fn expire_leases(state: AppState, stop: CancellationToken) {
    let every = state.config.expiry_interval.max(Duration::from_millis(10));
    let mut ticks = tokio::time::interval(every);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = stop.cancelled() => break,
            _ = ticks.tick() => {
                match state.store.expire_leases(now(), &state.config.retry).await {
                    Ok(ids) if !ids.is_empty() => {
                        tracing::info!(tasks = ?ids, "leases expired; tasks requeued or failed");
                    }
                    Ok(_) => {}
                    Err(e) => tracing::warn!(error = %e, "expiring leases failed"),
                }
                match state.store.expire_sign_leases(now(), &state.config.retry).await {
                    Ok(ids) if !ids.is_empty() => {
                        tracing::info!(tasks = ?ids, "sign leases expired; sign tasks requeued or failed");
                    }
                    Ok(_) => {}
                    Err(e) => tracing::warn!(error = %e, "expiring sign leases failed"),
                }
                match state.store.expire_test_leases(now(), &state.config.retry).await {
                    Ok(ids) if !ids.is_empty() => {
                        tracing::info!(tasks = ?ids, "test leases expired; test tasks requeued or failed");
                    }
                    Ok(_) => {}
                    Err(e) => tracing::warn!(error = %e, "expiring test leases failed"),
                }
            }
        }
    }
}

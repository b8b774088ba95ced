//! `albs server`, `albs node` and `albs token`: running the service.

use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use albs_core::auth::{hash_token, new_token};
use albs_core::build::{RpmbuildExecutor, Sandbox};
use albs_core::checkpoint::CheckpointSigner;
use albs_core::client::Client;
use albs_core::db::{DbError, DbLedger, PgStore, SqliteStore, Store};
use albs_core::model::Arch;
use albs_core::node::{BuildNode, NodeConfig};
use albs_core::source::{GitFetcher, Lookaside};
use albs_core::store::DirStore;
use albs_server::{AppState, ServerConfig};
use anyhow::Context;
use tokio_util::sync::CancellationToken;

use crate::build::load_platforms;
use crate::cli::{Global, NodeArgs, ServerArgs, TokenCommand};

/// Opens the store: PostgreSQL when a URL is given, else SQLite in the data directory.
pub async fn open_store(global: &Global, url: Option<&str>) -> anyhow::Result<Arc<dyn Store>> {
    Ok(match url {
        Some(url) => Arc::new(
            PgStore::connect(url)
                .await
                .context("connecting to PostgreSQL")?,
        ),
        None => {
            std::fs::create_dir_all(&global.data)
                .with_context(|| format!("creating {}", global.data.display()))?;
            Arc::new(
                SqliteStore::open(&global.data.join("albs.db"))
                    .await
                    .context("opening the SQLite database")?,
            )
        }
    })
}

fn shutdown_signal() -> CancellationToken {
    let token = CancellationToken::new();
    let t = token.clone();
    tokio::spawn(async move {
        let _ = tokio::signal::ctrl_c().await;
        t.cancel();
    });
    token
}

/// Opens the store and the ledger kept in it.
async fn open_store_and_ledger(
    global: &Global,
    url: Option<&str>,
) -> anyhow::Result<(Arc<dyn Store>, Arc<DbLedger>)> {
    Ok(match url {
        Some(url) => {
            let s = PgStore::connect(url)
                .await
                .context("connecting to PostgreSQL")?;
            let l = s.ledger().await.context("opening the ledger")?;
            (Arc::new(s), Arc::new(l))
        }
        None => {
            std::fs::create_dir_all(&global.data)
                .with_context(|| format!("creating {}", global.data.display()))?;
            let s = SqliteStore::open(&global.data.join("albs.db"))
                .await
                .context("opening the SQLite database")?;
            let l = s.ledger().await.context("opening the ledger")?;
            (Arc::new(s), Arc::new(l))
        }
    })
}

/// The checkpoint signer from `ALBS_LEDGER_KEY`, or `None` (and a line
/// saying what that means).
fn ledger_signer(key: Option<&str>) -> anyhow::Result<Option<CheckpointSigner>> {
    let Some(key) = key.map(str::trim).filter(|k| !k.is_empty()) else {
        eprintln!(
            "no ledger key (ALBS_LEDGER_KEY): the ledger's records and proofs are served, \
             but no signed checkpoint; make a key with `albs ledger keygen --name ORIGIN`"
        );
        return Ok(None);
    };
    let signer = CheckpointSigner::from_signer_key(key)
        .context("ALBS_LEDGER_KEY is not a signer key from `albs ledger keygen`")?;
    eprintln!("ledger checkpoints signed by {}", signer.verifier_key());
    Ok(Some(signer))
}

pub async fn server(global: &Global, args: ServerArgs) -> anyhow::Result<ExitCode> {
    // The key comes from the environment only: never on disk, never in `ps`.
    let signer = ledger_signer(std::env::var("ALBS_LEDGER_KEY").ok().as_deref())?;
    let (store, ledger) = open_store_and_ledger(global, args.database_url.as_deref()).await?;
    if let Some(file) = crate::users::bootstrap_admin(store.as_ref(), &global.data).await? {
        // Where, never what: the password and token are only in the file.
        eprintln!(
            "no users yet: created the admin `admin`; its password and API token are in {} (mode 0600)",
            file.display()
        );
    }
    for p in load_platforms(global)?.iter() {
        if store.platform(&p.name).await?.is_none() {
            store.put_platform(p).await?;
        }
    }
    let artifacts = Arc::new(DirStore::open(global.data.join("artifacts"))?);
    let listener_config = match &args.watch {
        Some(file) => {
            let text = std::fs::read_to_string(file)
                .with_context(|| format!("reading {}", file.display()))?;
            let cfg: albs_server::listener::ListenerConfig =
                toml::from_str(&text).with_context(|| {
                    format!("{} is not a valid watch configuration", file.display())
                })?;
            cfg.check()
                .with_context(|| format!("checking {}", file.display()))?;
            Some(cfg)
        }
        None => None,
    };
    let webhooks = webhook_targets(&args.webhooks, &args.webhook_secret_files)?;
    let config = ServerConfig {
        lease: Duration::from_secs(args.lease_secs),
        listener: listener_config,
        webhooks,
        repos_dir: Some(global.data.join("repos")),
        ..ServerConfig::default()
    };
    let mut state = AppState::new(store.clone(), artifacts, ledger, config);
    if let Some(signer) = signer {
        state = state.with_ledger_signer(signer);
    }
    let listener = tokio::net::TcpListener::bind(&args.listen)
        .await
        .with_context(|| format!("listening on {}", args.listen))?;
    let addr: SocketAddr = listener.local_addr()?;
    eprintln!("albs server listening on http://{addr}");
    let shutdown = shutdown_signal();

    let node = if args.with_node {
        let token = new_token()?;
        // Each start registers a node of its own: the token of an earlier
        // run is not kept anywhere.
        let name = format!("{}-local-{}", crate::build::hostname(), &token[5..13]);
        let reg = albs_core::api::RegisterNode {
            name: name.clone(),
            arches: vec![Arch::host()],
            labels: vec![],
            capacity: 1,
            excluded_packages: vec![],
        };
        store
            .register_node(&reg, &hash_token(&token), time::OffsetDateTime::now_utc())
            .await?;
        eprintln!("local build node {name} is running");
        let client = Client::new(&format!("http://{addr}"), Some(token));
        let node = make_node(global, client, args.lookaside.as_deref(), args.no_sandbox);
        let sd = shutdown.clone();
        Some(tokio::spawn(async move { node.run(sd).await }))
    } else {
        None
    };
    let sd = shutdown.clone();
    albs_server::serve(listener, state, async move { sd.cancelled().await }).await?;
    if let Some(n) = node {
        n.await??;
    }
    Ok(ExitCode::SUCCESS)
}

/// The webhook targets of `--webhook` and `--webhook-secret-file`.
fn webhook_targets(
    urls: &[String],
    secret_files: &[std::path::PathBuf],
) -> anyhow::Result<Vec<albs_server::WebhookTarget>> {
    if !secret_files.is_empty() && secret_files.len() != 1 && secret_files.len() != urls.len() {
        anyhow::bail!(
            "{} --webhook-secret-file for {} --webhook: give one secret for all, or one per webhook",
            secret_files.len(),
            urls.len()
        );
    }
    let mut secrets = Vec::new();
    for f in secret_files {
        let text =
            std::fs::read_to_string(f).with_context(|| format!("reading {}", f.display()))?;
        let secret = text.trim().to_owned();
        if secret.is_empty() {
            anyhow::bail!("webhook secret file {} is empty", f.display());
        }
        secrets.push(secret);
    }
    let mut targets = Vec::new();
    for (i, url) in urls.iter().enumerate() {
        let secret = match secrets.len() {
            0 => None,
            1 => Some(secrets[0].clone()),
            _ => Some(secrets[i].clone()),
        };
        let t = albs_server::WebhookTarget {
            url: url.clone(),
            secret,
        };
        t.check().map_err(|e| anyhow::anyhow!("--webhook: {e}"))?;
        targets.push(t);
    }
    if !targets.is_empty() {
        let shown: Vec<String> = targets.iter().map(|t| t.shown_url()).collect();
        eprintln!("webhooks: {}", shown.join(", "));
    }
    Ok(targets)
}

fn make_node(
    global: &Global,
    client: Client,
    lookaside: Option<&str>,
    no_sandbox: bool,
) -> BuildNode {
    let lookaside = match lookaside {
        Some(l) => crate::build::parse_lookaside(l),
        None => Lookaside::Dir(global.data.join("lookaside")),
    };
    let sandbox = if no_sandbox {
        Sandbox::None
    } else {
        Sandbox::detect()
    };
    BuildNode::new(
        client,
        Arc::new(GitFetcher::new(lookaside)),
        Arc::new(RpmbuildExecutor::new(sandbox)),
        NodeConfig {
            work_dir: global.data.join("node-work"),
            ..NodeConfig::default()
        },
    )
}

pub async fn node(global: &Global, args: NodeArgs) -> anyhow::Result<ExitCode> {
    let client = Client::new(&args.server, Some(args.token));
    let node = make_node(global, client, args.lookaside.as_deref(), args.no_sandbox);
    eprintln!("build node polling {}", args.server);
    node.run(shutdown_signal()).await?;
    Ok(ExitCode::SUCCESS)
}

pub async fn token(global: &Global, cmd: TokenCommand) -> anyhow::Result<ExitCode> {
    match cmd {
        TokenCommand::Create {
            user,
            admin,
            database_url,
            days,
        } => {
            let store = open_store(global, database_url.as_deref()).await?;
            let u = match store.create_user(&user, admin).await {
                Ok(u) => u,
                // Another token of a known user (the first admin included).
                Err(DbError::Conflict { .. }) => match store.user_by_name(&user).await? {
                    Some(u) if admin && !u.admin => anyhow::bail!(
                        "user {user} exists and is not an admin; --admin does not make it one"
                    ),
                    Some(u) => u,
                    None => anyhow::bail!("user {user} exists and does not; try again"),
                },
                Err(e) => return Err(e.into()),
            };
            let token = new_token()?;
            let expires =
                days.map(|d| time::OffsetDateTime::now_utc() + time::Duration::days(d as i64));
            store
                .add_user_token(u.id, &hash_token(&token), expires)
                .await?;
            // The token is printed once, to stdout only; only its hash is stored.
            println!("{token}");
        }
    }
    Ok(ExitCode::SUCCESS)
}

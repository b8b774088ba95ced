//! `albs release …`: release plans on a server (plan, show, edit, commit,
//! revert, list).

use std::process::ExitCode;

use albs_core::release::{CommitRelease, CreateRelease, EditRelease, PackageRepo, Release};
use anyhow::{Context, bail};
use clap::{Args, Subcommand};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::cli::Remote;

/// `albs release …`.
#[derive(Debug, Subcommand)]
pub enum ReleaseCommand {
    /// Plan the release of succeeded builds: each package to the
    /// repositories its platform (and product) maps it to.
    Plan {
        /// Server and token.
        #[command(flatten)]
        remote: Remote,
        /// Build ids.
        #[arg(required = true)]
        builds: Vec<u64>,
        /// Platform (default: the builds').
        #[arg(long)]
        platform: Option<String>,
        /// Product (default: the builds').
        #[arg(long)]
        product: Option<String>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Show a release plan.
    Show(IdArgs),
    /// Edit a planned (or failed) release.
    Edit {
        /// Server and token.
        #[command(flatten)]
        remote: Remote,
        /// Release id.
        id: u64,
        /// Move a package: `NEVRA.ARCH=REPO` (repeatable).
        #[arg(long = "move", value_name = "NEVRA=REPO")]
        moves: Vec<String>,
        /// Remove a package: `NEVRA.ARCH` (repeatable).
        #[arg(long = "remove", value_name = "NEVRA")]
        removes: Vec<String>,
        /// Add a package of the plan's builds: `NEVRA.ARCH=REPO` (repeatable).
        #[arg(long = "add", value_name = "NEVRA=REPO")]
        adds: Vec<String>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Publish a release (admins, or the product team's releasers).
    Commit {
        /// Server and token.
        #[command(flatten)]
        remote: Remote,
        /// Release id.
        id: u64,
        /// Publish even when a repository would not be closed.
        #[arg(long)]
        force: bool,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Put back what each repository served before the release.
    Revert(IdArgs),
    /// Act as a sign node for published repositories: sign each
    /// `repomd.xml` that waits for a key of the keyring (one pass).
    SignRepos {
        /// Server and the sign node's token.
        #[command(flatten)]
        remote: Remote,
        /// The albs-sign keyring (secret keys encrypted at rest).
        #[arg(long, value_name = "FILE")]
        keyring: std::path::PathBuf,
        /// Read the passphrase from this file (default: the
        /// ALBS_SIGN_PASSPHRASE environment variable).
        #[arg(long, value_name = "FILE")]
        passphrase_file: Option<std::path::PathBuf>,
    },
    /// Every release plan, newest first.
    List {
        /// Server and token.
        #[command(flatten)]
        remote: Remote,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
}

/// A release id on a server.
#[derive(Debug, Args)]
pub struct IdArgs {
    /// Server and token.
    #[command(flatten)]
    remote: Remote,
    /// Release id.
    id: u64,
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

struct Api(albs_core::client::Client);

impl Api {
    fn new(remote: &Remote) -> Self {
        Api(albs_core::client::Client::new(
            &remote.server,
            remote.token.clone(),
        ))
    }

    async fn call<T: DeserializeOwned>(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<&impl Serialize>,
    ) -> anyhow::Result<T> {
        Ok(self.0.call(method, path, body).await?)
    }
}

fn pair(text: &str, flag: &str) -> anyhow::Result<PackageRepo> {
    let (package, repo) = text
        .split_once('=')
        .with_context(|| format!("{flag} {text:?}: expected NEVRA.ARCH=REPO"))?;
    Ok(PackageRepo {
        package: package.trim().to_owned(),
        repo: repo.trim().to_owned(),
    })
}

fn print(r: &Release, json: bool) -> anyhow::Result<()> {
    if json {
        println!("{}", serde_json::to_string_pretty(r)?);
        return Ok(());
    }
    println!(
        "release {} ({}{}) {} by {}, builds {:?}",
        r.id,
        r.platform,
        r.product
            .as_deref()
            .map(|p| format!(", product {p}"))
            .unwrap_or_default(),
        r.state,
        r.owner,
        r.builds
    );
    if let Some(why) = &r.reason {
        println!("  reason: {why}");
    }
    for e in &r.entries {
        println!("  {:<48} -> {}", e.nevra.to_string(), e.repo);
    }
    for s in &r.repositories {
        println!(
            "  published {} generation {} repomd.xml sha256 {}",
            s.name, s.generation, s.repomd_sha256
        );
    }
    Ok(())
}

const NONE: Option<&()> = None;

/// Runs `albs release …`.
pub async fn run(cmd: ReleaseCommand) -> anyhow::Result<ExitCode> {
    use reqwest::Method;
    match cmd {
        ReleaseCommand::Plan {
            remote,
            builds,
            platform,
            product,
            json,
        } => {
            let req = CreateRelease {
                builds,
                platform,
                product,
            };
            let r: Release = Api::new(&remote)
                .call(Method::POST, "/api/v1/releases", Some(&req))
                .await?;
            print(&r, json)?;
        }
        ReleaseCommand::Show(a) => {
            let r: Release = Api::new(&a.remote)
                .call(Method::GET, &format!("/api/v1/releases/{}", a.id), NONE)
                .await?;
            print(&r, a.json)?;
        }
        ReleaseCommand::Edit {
            remote,
            id,
            moves,
            removes,
            adds,
            json,
        } => {
            if moves.is_empty() && removes.is_empty() && adds.is_empty() {
                bail!("albs release edit needs --move, --remove or --add");
            }
            let edit = EditRelease {
                moves: moves
                    .iter()
                    .map(|m| pair(m, "--move"))
                    .collect::<anyhow::Result<_>>()?,
                removes,
                adds: adds
                    .iter()
                    .map(|m| pair(m, "--add"))
                    .collect::<anyhow::Result<_>>()?,
            };
            let r: Release = Api::new(&remote)
                .call(
                    Method::PATCH,
                    &format!("/api/v1/releases/{id}"),
                    Some(&edit),
                )
                .await?;
            print(&r, json)?;
        }
        ReleaseCommand::Commit {
            remote,
            id,
            force,
            json,
        } => {
            let r: Release = Api::new(&remote)
                .call(
                    Method::POST,
                    &format!("/api/v1/releases/{id}/commit"),
                    Some(&CommitRelease { force }),
                )
                .await?;
            print(&r, json)?;
        }
        ReleaseCommand::Revert(a) => {
            let r: Release = Api::new(&a.remote)
                .call(
                    Method::POST,
                    &format!("/api/v1/releases/{}/revert", a.id),
                    NONE,
                )
                .await?;
            print(&r, a.json)?;
        }
        ReleaseCommand::SignRepos {
            remote,
            keyring,
            passphrase_file,
        } => sign_repos(&remote, &keyring, passphrase_file.as_deref()).await?,
        ReleaseCommand::List { remote, json } => {
            let all: Vec<Release> = Api::new(&remote)
                .call(Method::GET, "/api/v1/releases", NONE)
                .await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&all)?);
            } else {
                for r in &all {
                    println!(
                        "{:>6} {:<10} {:<16} {:<12} {} packages",
                        r.id,
                        r.state.to_string(),
                        r.platform,
                        r.owner,
                        r.entries.len()
                    );
                }
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// One pass of signing the `repomd.xml` files that wait for our keys (what
/// `albs sign-node` also does between sign tasks).
async fn sign_repos(
    remote: &Remote,
    keyring: &std::path::Path,
    passphrase_file: Option<&std::path::Path>,
) -> anyhow::Result<()> {
    let ring = albs_sign::Keyring::open(keyring)?;
    let passphrase = match passphrase_file {
        Some(f) => albs_sign::Passphrase::from_file(f)?,
        None => albs_sign::Passphrase::from_env("ALBS_SIGN_PASSPHRASE")?,
    };
    let keys = ring
        .fingerprints()
        .iter()
        .map(|f| ring.unlock(f, &passphrase))
        .collect::<Result<Vec<_>, _>>()?;
    drop(passphrase);
    let client = albs_core::client::Client::new(&remote.server, remote.token.clone());
    let node = albs_sign::node::SignNode::new(client, keys, Default::default())?;
    let signed = node.sign_repomds().await?;
    eprintln!("signed {signed} repomd.xml");
    Ok(())
}

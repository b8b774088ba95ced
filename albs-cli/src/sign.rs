//! `albs key …`, `albs sign` and `albs sign-node`: signing keys in an
//! encrypted keyring, their public halves on the server, sign tasks, and
//! the sign node that holds the secret keys.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use albs_core::api::{CreateSignTask, RegisterKey};
use albs_core::client::Client;
use albs_core::model::TaskState;
use albs_sign::node::{SignNode, SignNodeConfig, armored_public};
use albs_sign::{KeyAlgorithm, Keyring, Passphrase, SigningKey};
use anyhow::{Context, bail};
use clap::{Args, Subcommand};

use crate::cli::{Global, Remote};

/// The environment variable the keyring passphrase is read from.
const PASSPHRASE_ENV: &str = "ALBS_SIGN_PASSPHRASE";

/// Where the keyring's passphrase comes from (never a command-line value).
#[derive(Debug, Args)]
pub struct PassphraseArgs {
    /// Read the passphrase from this file (default: the environment variable
    /// ALBS_SIGN_PASSPHRASE).
    #[arg(long, value_name = "FILE")]
    pub passphrase_file: Option<PathBuf>,
}

impl PassphraseArgs {
    fn read(&self) -> anyhow::Result<Passphrase> {
        Ok(match &self.passphrase_file {
            Some(f) => Passphrase::from_file(f)?,
            None => Passphrase::from_env(PASSPHRASE_ENV)?,
        })
    }
}

/// `albs key …`.
#[derive(Debug, Subcommand)]
pub enum KeyCommand {
    /// Generate a signing key (RSA-4096 by default) into an encrypted keyring.
    Generate {
        /// The keyring file (created, mode 0600).
        #[arg(long)]
        keyring: PathBuf,
        /// RSA-4096 (the default).
        #[arg(long, conflicts_with = "ed25519")]
        rsa: bool,
        /// Ed25519.
        #[arg(long)]
        ed25519: bool,
        /// User ID: `Name <email>`.
        #[arg(long)]
        uid: String,
        /// The keyring's passphrase.
        #[command(flatten)]
        passphrase: PassphraseArgs,
        /// Print the key as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Print a key's public half as ASCII armor (for `rpmkeys --import`).
    Export {
        /// The keyring file.
        #[arg(long)]
        keyring: PathBuf,
        /// Fingerprint (default: the keyring's only key).
        #[arg(long)]
        key: Option<String>,
        /// Write to this file instead of stdout.
        #[arg(long, short)]
        output: Option<PathBuf>,
    },
    /// List the keys of a keyring, or with --server those registered there.
    List {
        /// The keyring file.
        #[arg(long, required_unless_present = "server")]
        keyring: Option<PathBuf>,
        /// List the server's keys instead.
        #[arg(long, conflicts_with = "keyring")]
        server: Option<String>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Register a key's public half with a server for a platform (admin);
    /// the platform's active key is archived (rotation).
    Register {
        /// Server and an admin token.
        #[command(flatten)]
        remote: Remote,
        /// The keyring file.
        #[arg(long)]
        keyring: PathBuf,
        /// Fingerprint (default: the keyring's only key).
        #[arg(long)]
        key: Option<String>,
        /// The platform whose packages it signs.
        #[arg(long)]
        platform: String,
        /// The product within the platform.
        #[arg(long)]
        product: Option<String>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Archive a key on the server (admin): it signs nothing new.
    Archive {
        /// Server and an admin token.
        #[command(flatten)]
        remote: Remote,
        /// Fingerprint.
        fingerprint: String,
    },
}

/// `albs sign BUILD`.
#[derive(Debug, Args)]
pub struct SignArgs {
    /// Server and a token of the build's owner or an admin.
    #[command(flatten)]
    pub remote: Remote,
    /// Build id.
    pub build: u64,
    /// Fingerprint of the key (default: the platform's active key).
    #[arg(long)]
    pub key: Option<String>,
    /// Wait until the sign task ends; fail unless it succeeded.
    #[arg(long)]
    pub wait: bool,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

/// `albs sign-node`.
#[derive(Debug, Args)]
pub struct SignNodeArgs {
    /// Server URL.
    #[arg(long, env = "ALBS_SERVER", default_value = "http://127.0.0.1:8080")]
    pub server: String,
    /// The node's token (a node registered with `albs node add`).
    #[arg(long, env = "ALBS_NODE_TOKEN", hide_env_values = true)]
    pub token: String,
    /// The keyring that holds the secret keys.
    #[arg(long)]
    pub keyring: PathBuf,
    /// Sign with this key only (repeatable; default: every key of the keyring).
    #[arg(long = "key")]
    pub keys: Vec<String>,
    /// The keyring's passphrase.
    #[command(flatten)]
    pub passphrase: PassphraseArgs,
    /// Seconds between claims when no task waits.
    #[arg(long, default_value_t = 2.0)]
    pub poll: f64,
    /// Run the sign tasks that wait now, then exit.
    #[arg(long)]
    pub once: bool,
}

/// The key `key`, else the keyring's only key.
fn pick(ring: &Keyring, key: Option<&str>, path: &std::path::Path) -> anyhow::Result<String> {
    let fprs = ring.fingerprints();
    match key {
        Some(k) => fprs
            .into_iter()
            .find(|f| f.eq_ignore_ascii_case(k))
            .with_context(|| format!("key {k} is not in keyring {}", path.display())),
        None => match fprs.as_slice() {
            [one] => Ok(one.clone()),
            [] => bail!(
                "keyring {} is empty; make a key with `albs key generate`",
                path.display()
            ),
            _ => bail!(
                "keyring {} holds {} keys; choose one with --key",
                path.display(),
                fprs.len()
            ),
        },
    }
}

fn public_armor(ring: &Keyring, fpr: &str) -> anyhow::Result<String> {
    let cert = ring
        .public_cert(fpr)
        .with_context(|| format!("key {fpr} is not in the keyring"))?;
    Ok(armored_public(&cert)?)
}

/// `albs key …`.
pub async fn key(cmd: KeyCommand) -> anyhow::Result<ExitCode> {
    match cmd {
        KeyCommand::Generate {
            keyring,
            rsa: _,
            ed25519,
            uid,
            passphrase,
            json,
        } => {
            let pass = passphrase.read()?;
            let algo = if ed25519 {
                KeyAlgorithm::Ed25519
            } else {
                KeyAlgorithm::Rsa4096
            };
            let mut ring = Keyring::open(&keyring)?;
            let key =
                tokio::task::spawn_blocking(move || SigningKey::generate(&uid, algo)).await??;
            ring.add(&key, &pass)?;
            ring.save()?;
            if json {
                println!(
                    "{}",
                    serde_json::json!({
                        "fingerprint": key.fingerprint(),
                        "algorithm": key.algorithm(),
                        "keyring": keyring,
                    })
                );
            } else {
                println!("{}", key.fingerprint());
            }
        }
        KeyCommand::Export {
            keyring,
            key,
            output,
        } => {
            let ring = Keyring::open(&keyring)?;
            let fpr = pick(&ring, key.as_deref(), &keyring)?;
            let armor = public_armor(&ring, &fpr)?;
            match output {
                Some(path) => std::fs::write(&path, armor)
                    .with_context(|| format!("writing {}", path.display()))?,
                None => print!("{armor}"),
            }
        }
        KeyCommand::List {
            keyring,
            server,
            json,
        } => {
            if let Some(server) = server {
                let keys = Client::new(&server, None).keys().await?;
                if json {
                    println!("{}", serde_json::to_string_pretty(&keys)?);
                } else {
                    for k in keys {
                        let state = serde_json::to_value(k.state)?;
                        println!(
                            "{}  {}  {}{}",
                            k.fingerprint,
                            state.as_str().unwrap_or_default(),
                            k.platform,
                            k.product.map(|p| format!("/{p}")).unwrap_or_default()
                        );
                    }
                }
            } else if let Some(path) = keyring {
                let ring = Keyring::open(&path)?;
                let fprs = ring.fingerprints();
                if json {
                    println!("{}", serde_json::to_string_pretty(&fprs)?);
                } else {
                    for f in fprs {
                        println!("{f}");
                    }
                }
            }
        }
        KeyCommand::Register {
            remote,
            keyring,
            key,
            platform,
            product,
            json,
        } => {
            let ring = Keyring::open(&keyring)?;
            let fpr = pick(&ring, key.as_deref(), &keyring)?;
            let req = RegisterKey {
                public_key: public_armor(&ring, &fpr)?,
                platform,
                product,
            };
            let k = Client::new(&remote.server, remote.token)
                .register_key(&req)
                .await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&k)?);
            } else {
                println!("{}", k.fingerprint);
            }
        }
        KeyCommand::Archive {
            remote,
            fingerprint,
        } => {
            let k = Client::new(&remote.server, remote.token)
                .archive_key(&fingerprint)
                .await?;
            println!("{} archived", k.fingerprint);
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// `albs sign BUILD`.
pub async fn sign(args: SignArgs) -> anyhow::Result<ExitCode> {
    let client = Client::new(&args.remote.server, args.remote.token);
    let mut task = client
        .sign_build(args.build, &CreateSignTask { key: args.key })
        .await?;
    if args.wait {
        while !task.state.is_final() {
            tokio::time::sleep(Duration::from_millis(500)).await;
            task = client.sign_task(task.id).await?;
        }
    }
    if args.json {
        println!("{}", serde_json::to_string_pretty(&task)?);
    } else {
        println!(
            "sign task {} of build {}: {} with key {}",
            task.id, task.build_id, task.state, task.fingerprint
        );
        if let Some(r) = &task.reason {
            println!("reason: {r}");
        }
    }
    if args.wait && task.state != TaskState::Succeeded {
        return Ok(ExitCode::FAILURE);
    }
    Ok(ExitCode::SUCCESS)
}

/// `albs sign-node`.
pub async fn sign_node(global: &Global, args: SignNodeArgs) -> anyhow::Result<ExitCode> {
    let pass = args.passphrase.read()?;
    let ring = Keyring::open(&args.keyring)?;
    let wanted = if args.keys.is_empty() {
        ring.fingerprints()
    } else {
        args.keys
            .iter()
            .map(|k| pick(&ring, Some(k), &args.keyring))
            .collect::<anyhow::Result<_>>()?
    };
    if wanted.is_empty() {
        bail!(
            "keyring {} is empty; make a key with `albs key generate`",
            args.keyring.display()
        );
    }
    let mut keys = Vec::new();
    for f in &wanted {
        keys.push(ring.unlock(f, &pass)?);
    }
    drop(pass);
    let client = Client::new(&args.server, Some(args.token));
    let config = SignNodeConfig {
        work_dir: global.data.join("sign-work"),
        poll_interval: Duration::from_secs_f64(args.poll.max(0.05)),
    };
    let node = SignNode::new(client, keys, config)?;
    eprintln!(
        "sign node polling {} with keys {}",
        args.server,
        wanted.join(", ")
    );
    if args.once {
        let mut failed = false;
        while let Some(out) = node.run_once().await? {
            eprintln!(
                "sign task {} of build {}: {}{}",
                out.task.id,
                out.task.build_id,
                out.task.state,
                out.task
                    .reason
                    .as_deref()
                    .map(|r| format!(": {r}"))
                    .unwrap_or_default()
            );
            failed |= out.task.state != TaskState::Succeeded;
        }
        let repomds = node.sign_repomds().await?;
        if repomds > 0 {
            eprintln!("signed {repomds} repomd.xml");
        }
        return Ok(if failed {
            ExitCode::FAILURE
        } else {
            ExitCode::SUCCESS
        });
    }
    let stop = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    node.run(stop).await?;
    Ok(ExitCode::SUCCESS)
}

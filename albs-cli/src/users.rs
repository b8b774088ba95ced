//! `albs user …` (on the server's own store, like `albs token create`),
//! `albs team …`, `albs product create` and `albs audit` (over the API),
//! and the first admin a new server makes for itself.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use albs_core::auth::{hash_token, new_token};
use albs_core::db::{DbError, Store};
use albs_core::rbac::{Role, hash_password, new_password};
use anyhow::{Context, bail};
use clap::{Args, Subcommand};
use serde_json::{Value, json};

use crate::cli::{Global, Remote};

/// Where the store is.
#[derive(Debug, Args)]
pub struct StoreArgs {
    /// PostgreSQL URL; default: SQLite in the data directory.
    #[arg(long, env = "ALBS_DATABASE_URL")]
    pub database_url: Option<String>,
}

/// `albs user …`: users in the server's store (run where the store is).
#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Create a user and print its API token (shown once; only its hash is kept).
    Create {
        /// User name.
        name: String,
        /// The user is a global admin.
        #[arg(long)]
        admin: bool,
        /// Set the web password from the first line of this file.
        #[arg(long, value_name = "FILE")]
        password_file: Option<PathBuf>,
        /// The store.
        #[command(flatten)]
        store: StoreArgs,
    },
    /// Set a user's web password (argon2id-hashed) from a file, or from
    /// the first line of standard input.
    Passwd {
        /// User name.
        name: String,
        /// Read the password from the first line of this file.
        #[arg(long, value_name = "FILE")]
        password_file: Option<PathBuf>,
        /// The store.
        #[command(flatten)]
        store: StoreArgs,
    },
}

/// `albs team …` (over the API).
#[derive(Debug, Subcommand)]
pub enum TeamCommand {
    /// Create a team (admin).
    Create {
        /// Team name.
        name: String,
        /// Server and token.
        #[command(flatten)]
        remote: Remote,
    },
    /// Give a user a role in a team (admin or the team's maintainer).
    AddMember {
        /// Team name.
        team: String,
        /// User name.
        user: String,
        /// observer, contributor, maintainer or signer.
        #[arg(long)]
        role: Role,
        /// Server and token.
        #[command(flatten)]
        remote: Remote,
    },
    /// Teams and their members.
    List {
        /// Server and token.
        #[command(flatten)]
        remote: Remote,
    },
}

/// `albs product …` (over the API).
#[derive(Debug, Subcommand)]
pub enum ProductCommand {
    /// Create a product (admin).
    Create {
        /// Product name (builds name it in `options.product`).
        name: String,
        /// Only its team's members, its readers and admins see its builds.
        #[arg(long)]
        private: bool,
        /// The team owning it.
        #[arg(long)]
        team: Option<String>,
        /// Server and token.
        #[command(flatten)]
        remote: Remote,
    },
}

/// `albs audit`.
#[derive(Debug, Args)]
pub struct AuditArgs {
    /// How many records, newest first.
    #[arg(long, default_value_t = 50)]
    pub limit: u32,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
    /// Server and an admin's token.
    #[command(flatten)]
    pub remote: Remote,
}

/// The first line of `file`, without its line end.
fn read_password(file: Option<&Path>) -> anyhow::Result<String> {
    let text = match file {
        Some(f) => std::fs::read_to_string(f)
            .with_context(|| format!("reading the password file {}", f.display()))?,
        None => {
            let mut line = String::new();
            std::io::stdin()
                .read_line(&mut line)
                .context("reading the password from standard input")?;
            line
        }
    };
    let password = text.lines().next().unwrap_or("").to_owned();
    if password.is_empty() {
        bail!("the password is empty; put it on the first line");
    }
    Ok(password)
}

/// `albs user …`.
pub async fn user(global: &Global, cmd: UserCommand) -> anyhow::Result<ExitCode> {
    match cmd {
        UserCommand::Create {
            name,
            admin,
            password_file,
            store,
        } => {
            let password = password_file
                .as_deref()
                .map(|f| read_password(Some(f)))
                .transpose()?;
            let hash = password
                .map(|p| hash_password(&p))
                .transpose()
                .context("--password-file")?;
            let store = crate::server::open_store(global, store.database_url.as_deref()).await?;
            let u = match store.create_user(&name, admin).await {
                Ok(u) => u,
                Err(DbError::Conflict { .. }) => bail!(
                    "user {name} already exists; `albs token create --user {name}` gives it another token"
                ),
                Err(e) => return Err(e.into()),
            };
            if let Some(h) = hash {
                store.set_password_hash(&u.name, &h).await?;
            }
            let token = new_token()?;
            store
                .add_user_token(u.id, &hash_token(&token), None)
                .await?;
            // The token is printed once, to stdout only; only its hash is stored.
            println!("{token}");
        }
        UserCommand::Passwd {
            name,
            password_file,
            store,
        } => {
            let password = read_password(password_file.as_deref())?;
            let hash = hash_password(&password)?;
            let store = crate::server::open_store(global, store.database_url.as_deref()).await?;
            match store.set_password_hash(&name, &hash).await {
                Ok(()) => eprintln!("password of {name} set"),
                Err(DbError::NotFound { .. }) => {
                    bail!("user {name} does not exist; create it with `albs user create {name}`")
                }
                Err(e) => return Err(e.into()),
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Sends a request to the API; the answer's JSON, or the server's message.
async fn call(
    remote: &Remote,
    method: reqwest::Method,
    path: &str,
    body: Option<Value>,
) -> anyhow::Result<Value> {
    let client = albs_core::client::Client::new(&remote.server, remote.token.clone());
    Ok(client.call(method, path, body.as_ref()).await?)
}

/// `albs team …`.
pub async fn team(cmd: TeamCommand) -> anyhow::Result<ExitCode> {
    match cmd {
        TeamCommand::Create { name, remote } => {
            call(
                &remote,
                reqwest::Method::POST,
                "/api/v1/teams",
                Some(json!({ "name": name })),
            )
            .await?;
            println!("team {name} created");
        }
        TeamCommand::AddMember {
            team,
            user,
            role,
            remote,
        } => {
            call(
                &remote,
                reqwest::Method::POST,
                &format!("/api/v1/teams/{team}/members"),
                Some(json!({ "user": user, "role": role })),
            )
            .await?;
            println!("{user} is {role} in team {team}");
        }
        TeamCommand::List { remote } => {
            let teams = call(&remote, reqwest::Method::GET, "/api/v1/teams", None).await?;
            for t in teams.as_array().into_iter().flatten() {
                println!("{}", t["name"].as_str().unwrap_or(""));
                for m in t["members"].as_array().into_iter().flatten() {
                    println!(
                        "  {} {}",
                        m["user"].as_str().unwrap_or(""),
                        m["role"].as_str().unwrap_or("")
                    );
                }
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// `albs product …`.
pub async fn product(cmd: ProductCommand) -> anyhow::Result<ExitCode> {
    match cmd {
        ProductCommand::Create {
            name,
            private,
            team,
            remote,
        } => {
            let mut body = json!({ "name": name, "private": private });
            if let Some(t) = &team {
                body["team"] = json!(t);
            }
            call(
                &remote,
                reqwest::Method::POST,
                "/api/v1/products",
                Some(body),
            )
            .await?;
            match team {
                Some(t) => println!("product {name} created, owned by team {t}"),
                None => println!("product {name} created"),
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// `albs audit`.
pub async fn audit(args: AuditArgs) -> anyhow::Result<ExitCode> {
    let records = call(
        &args.remote,
        reqwest::Method::GET,
        &format!("/api/v1/audit?limit={}", args.limit),
        None,
    )
    .await?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&records)?);
        return Ok(ExitCode::SUCCESS);
    }
    for r in records.as_array().into_iter().flatten() {
        println!(
            "{}  {}  {}  {}  {}",
            r["at"].as_str().unwrap_or(""),
            r["user"].as_str().unwrap_or("-"),
            r["action"].as_str().unwrap_or(""),
            r["object"].as_str().unwrap_or(""),
            r["outcome"].as_str().unwrap_or("")
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// The file the first admin's credentials are written to.
pub const BOOTSTRAP_FILE: &str = "admin-credentials";

/// On a store without users: creates the admin `admin` with a random
/// password and API token, written once to `dir/admin-credentials` (mode
/// 0600, never to the log); returns the file's path.
pub async fn bootstrap_admin(store: &dyn Store, dir: &Path) -> anyhow::Result<Option<PathBuf>> {
    if store.user_count().await? > 0 {
        return Ok(None);
    }
    let password = new_password()?;
    let hash = hash_password(&password)?;
    let token = new_token()?;
    let user = match store.create_user("admin", true).await {
        Ok(u) => u,
        // Another process made it meanwhile.
        Err(DbError::Conflict { .. }) => return Ok(None),
        Err(e) => return Err(e.into()),
    };
    store.set_password_hash(&user.name, &hash).await?;
    store
        .add_user_token(user.id, &hash_token(&token), None)
        .await?;
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let path = dir.join(BOOTSTRAP_FILE);
    let mut file = {
        use std::os::unix::fs::OpenOptionsExt as _;
        std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&path)
            .with_context(|| format!("creating {}", path.display()))?
    };
    writeln!(
        file,
        "# The first admin of this albs server. Sign in at /login, then delete this file.\n\
         user = \"admin\"\npassword = \"{password}\"\ntoken = \"{token}\""
    )
    .with_context(|| format!("writing {}", path.display()))?;
    Ok(Some(path))
}

//! The clap tree: every verb and flag of `albs`, in one place.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

/// albs — build RPM distributions from git, verifiably.
#[derive(Debug, Parser)]
#[command(name = "albs", version, about, propagate_version = true)]
pub struct Cli {
    /// Options every verb takes.
    #[command(flatten)]
    pub global: Global,
    /// The verb.
    #[command(subcommand)]
    pub command: Command,
}

/// Options every verb takes.
#[derive(Debug, Args)]
pub struct Global {
    /// The data directory: artifact store, ledger, results, work space.
    #[arg(long, global = true, env = "ALBS_DATA", default_value = "albs-data")]
    pub data: PathBuf,
    /// Extra platform definitions (TOML, same format as the bundled ones).
    #[arg(long, global = true, env = "ALBS_PLATFORMS")]
    pub platforms: Option<PathBuf>,
}

/// The verbs.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Build packages from git (or SRPMs) on this machine: fetch → SRPM → RPMs → store → ledger.
    Build(BuildArgs),
    /// Platforms albs can build for.
    #[command(subcommand)]
    Platform(PlatformCommand),
    /// The ledger of what was built from what.
    #[command(subcommand)]
    Ledger(LedgerCommand),
}

/// `albs build`.
#[derive(Debug, Args)]
pub struct BuildArgs {
    /// Git repositories (path, file://, http(s)://) or SRPMs (*.src.rpm, path or URL).
    #[arg(required = true, value_name = "GIT-URL-OR-PATH")]
    pub sources: Vec<String>,
    /// Branch, tag or commit to build (default: the repository's HEAD).
    #[arg(long = "ref", value_name = "REF")]
    pub reference: Option<String>,
    /// Architecture to build for (repeatable; default: this machine's).
    #[arg(long = "arch", value_name = "ARCH")]
    pub arches: Vec<String>,
    /// Platform to build for.
    #[arg(long, default_value = "almalinux-9")]
    pub platform: String,
    /// Lookaside store: a directory or an http(s) base URL (default: DATA/lookaside).
    #[arg(long, value_name = "DIR-OR-URL")]
    pub lookaside: Option<String>,
    /// Limit for each build step, in seconds.
    #[arg(long, default_value_t = 3600, value_name = "SECONDS")]
    pub timeout: u64,
    /// Run rpmbuild without the bubblewrap sandbox.
    #[arg(long)]
    pub no_sandbox: bool,
    /// Skip the integrity test of built packages.
    #[arg(long)]
    pub no_test: bool,
    /// Print the result as JSON on stdout.
    #[arg(long)]
    pub json: bool,
}

/// `albs platform …`.
#[derive(Debug, Subcommand)]
pub enum PlatformCommand {
    /// List the platforms.
    List {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
}

/// `albs ledger …`.
#[derive(Debug, Subcommand)]
pub enum LedgerCommand {
    /// Show the ledger's size and tree head.
    Status {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Show the records about an artifact.
    Find {
        /// The artifact's sha256.
        sha256: String,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
}

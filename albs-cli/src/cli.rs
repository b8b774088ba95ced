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
    /// Run the server (SQLite in the data directory unless --database-url).
    Server(ServerArgs),
    /// Build nodes: register one, or run one.
    #[command(subcommand)]
    Node(NodeCommand),
    /// API tokens.
    #[command(subcommand)]
    Token(TokenCommand),
    /// Users of the server's store: create, set a web password.
    #[command(subcommand)]
    User(crate::users::UserCommand),
    /// Teams and their members' roles.
    #[command(subcommand)]
    Team(crate::users::TeamCommand),
    /// Products (SIG namespaces owned by a team).
    #[command(subcommand)]
    Product(crate::users::ProductCommand),
    /// The audit log of writes: who did what, allowed or denied (admin).
    Audit(crate::users::AuditArgs),
    /// Submit a build to a server.
    Submit(SubmitArgs),
    /// Show builds, or one build with its tasks.
    Status(StatusArgs),
    /// Print a task's log (while it runs, with --follow).
    Logs(LogsArgs),
    /// Cancel a build, running tasks included.
    Cancel {
        /// Server and token.
        #[command(flatten)]
        remote: Remote,
        /// Build id.
        build: u64,
    },
    /// Dependency solving on rpm-md repositories.
    #[command(subcommand)]
    Solve(SolveCommand),
    /// rpm-md repositories: create, add, remove, sign, revert.
    #[command(subcommand)]
    Repo(crate::repo::RepoCommand),
    /// Test packages: install into a fresh root, integrity checks, rpmlint, third-party tests, uninstall.
    Test(crate::testcmd::TestArgs),
    /// Test tasks of a build on a server: stages per arch; --restart, --cancel.
    Tests(crate::tests_cmd::TestsArgs),
    /// Restart the failed tasks of a build.
    Restart {
        /// Server and token.
        #[command(flatten)]
        remote: Remote,
        /// Build id.
        build: u64,
    },
    /// Signing keys: generate, export, list, register with a server, archive.
    #[command(subcommand)]
    Key(crate::sign::KeyCommand),
    /// Ask for a finished build's packages to be signed.
    Sign(crate::sign::SignArgs),
    /// Run a sign node: it holds the secret keys and signs the packages of
    /// sign tasks for them.
    SignNode(crate::sign::SignNodeArgs),
    /// Errata: advisory JSON files offline (new, match, show, updateinfo), or
    /// records on a server (create, edit, match, approve, release, list, get, export).
    #[command(subcommand)]
    Errata(crate::security::ErrataCommand),
    /// The OVAL 5.10 feed (or JSON, OSV) of a platform's advisories.
    #[command(subcommand)]
    Oval(crate::security::OvalCommand),
    /// CycloneDX and SPDX documents of packages.
    #[command(subcommand)]
    Sbom(crate::security::SbomCommand),
    /// SLSA provenance in signed DSSE envelopes: make and verify.
    #[command(subcommand)]
    Provenance(crate::security::ProvenanceCommand),
    /// Release plans: plan, show, edit, commit, revert, list.
    #[command(subcommand)]
    Release(crate::release::ReleaseCommand),
}

/// Where the server is and who we are.
#[derive(Debug, Args)]
pub struct Remote {
    /// Server URL.
    #[arg(long, env = "ALBS_SERVER", default_value = "http://127.0.0.1:8080")]
    pub server: String,
    /// API token (a user's; a node's for `albs node`).
    #[arg(long, env = "ALBS_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
}

/// `albs server`.
#[derive(Debug, Args)]
pub struct ServerArgs {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub listen: String,
    /// PostgreSQL URL (postgres://…); default: SQLite in the data directory.
    #[arg(long, env = "ALBS_DATABASE_URL")]
    pub database_url: Option<String>,
    /// Also run a build node in this process.
    #[arg(long)]
    pub with_node: bool,
    /// Lease of a claimed task, seconds: a node silent this long loses it.
    #[arg(long, default_value_t = 30)]
    pub lease_secs: u64,
    /// Lookaside store of the local node.
    #[arg(long, value_name = "DIR-OR-URL")]
    pub lookaside: Option<String>,
    /// Run the local node's rpmbuild without the sandbox.
    #[arg(long)]
    pub no_sandbox: bool,
    /// Watch git repositories for new tags (TOML: `[[repos]]` with url,
    /// tag_pattern, platform, owner; `poll_interval`; `webhook_secret_hash`).
    #[arg(long, value_name = "FILE")]
    pub watch: Option<std::path::PathBuf>,
    /// POST build and release events to this URL (repeatable).
    #[arg(long = "webhook", value_name = "URL")]
    pub webhooks: Vec<String>,
    /// File holding the HMAC secret that signs webhook bodies: one for
    /// every `--webhook`, or one per `--webhook` in the same order.
    #[arg(long = "webhook-secret-file", value_name = "FILE")]
    pub webhook_secret_files: Vec<std::path::PathBuf>,
}

/// `albs node …`.
#[derive(Debug, Subcommand)]
pub enum NodeCommand {
    /// Register a node (admin) and print its token, shown once.
    Add(NodeAddArgs),
    /// Run a build node that claims tasks from a server.
    Run(NodeArgs),
}

/// `albs node add`.
#[derive(Debug, Args)]
pub struct NodeAddArgs {
    /// Server and an admin token.
    #[command(flatten)]
    pub remote: Remote,
    /// Unique node name.
    #[arg(long)]
    pub name: String,
    /// Architecture it builds (repeatable; default: this machine's).
    #[arg(long = "arch")]
    pub arches: Vec<String>,
    /// Label builds may require (repeatable).
    #[arg(long = "label")]
    pub labels: Vec<String>,
    /// Package it refuses to build (repeatable).
    #[arg(long = "exclude")]
    pub excluded_packages: Vec<String>,
    /// Tasks it runs at once.
    #[arg(long, default_value_t = 1)]
    pub capacity: u32,
}

/// `albs node run`.
#[derive(Debug, Args)]
pub struct NodeArgs {
    /// Server URL.
    #[arg(long, env = "ALBS_SERVER", default_value = "http://127.0.0.1:8080")]
    pub server: String,
    /// The node's token (from `POST /api/v1/nodes`).
    #[arg(long, env = "ALBS_NODE_TOKEN", hide_env_values = true)]
    pub token: String,
    /// Lookaside store: a directory or an http(s) base URL.
    #[arg(long, value_name = "DIR-OR-URL")]
    pub lookaside: Option<String>,
    /// Run rpmbuild without the sandbox.
    #[arg(long)]
    pub no_sandbox: bool,
}

/// `albs token …`.
#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Print a new API token of a user (shown once; only its hash is
    /// kept), creating the user when it does not exist.
    Create {
        /// User name.
        #[arg(long)]
        user: String,
        /// The user may manage platforms, nodes and every build.
        #[arg(long)]
        admin: bool,
        /// PostgreSQL URL; default: SQLite in the data directory.
        #[arg(long, env = "ALBS_DATABASE_URL")]
        database_url: Option<String>,
        /// The token expires after this many days.
        #[arg(long)]
        days: Option<u32>,
    },
}

/// `albs submit`.
#[derive(Debug, Args)]
pub struct SubmitArgs {
    /// Server and token.
    #[command(flatten)]
    pub remote: Remote,
    /// Git repositories (URL or path) or SRPM URLs.
    #[arg(required = true, value_name = "GIT-URL-OR-PATH")]
    pub sources: Vec<String>,
    /// Branch, tag or commit.
    #[arg(long = "ref", value_name = "REF")]
    pub reference: Option<String>,
    /// Architecture (repeatable; default: every arch of the platform).
    #[arg(long = "arch", value_name = "ARCH")]
    pub arches: Vec<String>,
    /// Platform.
    #[arg(long, default_value = "almalinux-9")]
    pub platform: String,
    /// Per-task timeout, seconds (default: the platform's).
    #[arg(long)]
    pub timeout: Option<u64>,
    /// Product, for fair scheduling between products.
    #[arg(long)]
    pub product: Option<String>,
    /// Build the refs in dependency order: a ref's RPMs are built after
    /// those of the refs whose packages it build-requires.
    #[arg(long)]
    pub dependency_order: bool,
    /// Wait until the build ends.
    #[arg(long)]
    pub wait: bool,
    /// With --wait: download every artifact into this directory.
    #[arg(long, requires = "wait")]
    pub download: Option<std::path::PathBuf>,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

/// `albs status`.
#[derive(Debug, Args)]
pub struct StatusArgs {
    /// Server and token.
    #[command(flatten)]
    pub remote: Remote,
    /// A build id; without it, the newest builds.
    pub build: Option<u64>,
    /// How many builds to list.
    #[arg(long, default_value_t = 20)]
    pub limit: u32,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

/// `albs logs`.
#[derive(Debug, Args)]
pub struct LogsArgs {
    /// Server and token.
    #[command(flatten)]
    pub remote: Remote,
    /// Task id.
    pub task: u64,
    /// Keep printing until the task ends.
    #[arg(long, short)]
    pub follow: bool,
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
    /// Make a checkpoint signing key; prints it (a secret, shown once) and,
    /// on stderr, the verifier key to publish.
    Keygen {
        /// The log's name (origin), e.g. `albs.example.org/ledger`.
        #[arg(long)]
        name: String,
    },
    /// Sign the current tree head as a checkpoint (C2SP signed note).
    Checkpoint {
        /// The signing key (from `albs ledger keygen`).
        #[arg(long, env = "ALBS_LEDGER_KEY", hide_env_values = true)]
        key: String,
    },
    /// Print a record with its inclusion proof (JSON) for offline checks.
    Prove {
        /// The record's index.
        index: u64,
        /// The tree size the proof is for (default: the current size).
        #[arg(long)]
        size: Option<u64>,
    },
    /// Print a consistency proof between two tree sizes (JSON).
    Consistency {
        /// The older size.
        old: u64,
        /// The newer size.
        new: u64,
    },
    /// Check a record's proof against a signed checkpoint: offline from
    /// files, or with --server against a server's ledger (every record,
    /// or those of --index / --artifact), verified here with --key.
    Verify {
        /// The checkpoint note (with --server: default the server's latest).
        #[arg(long, required_unless_present = "server")]
        checkpoint: Option<PathBuf>,
        /// The verifier key of the log (trusted, published out of band).
        #[arg(long)]
        key: String,
        /// The output of `albs ledger prove`.
        #[arg(long, required_unless_present = "server", conflicts_with = "server")]
        proof: Option<PathBuf>,
        /// Fetch the checkpoint, records and proofs from this albs server.
        #[arg(long, value_name = "URL")]
        server: Option<String>,
        /// With --server: only the record at this index.
        #[arg(long, requires = "server")]
        index: Option<u64>,
        /// With --server: only the records of this artifact (sha256).
        #[arg(long, requires = "server", conflicts_with = "index")]
        artifact: Option<String>,
    },
    /// Check that a newer checkpoint extends an older one: offline from
    /// files, or with --server against a server's latest checkpoint, whose
    /// every record is fetched and rehashed.
    Audit {
        /// The older checkpoint note (optional with --server).
        #[arg(long, required_unless_present = "server")]
        old: Option<PathBuf>,
        /// The newer checkpoint note.
        #[arg(long, required_unless_present = "server", conflicts_with = "server")]
        new: Option<PathBuf>,
        /// The verifier key of the log (trusted, published out of band).
        #[arg(long)]
        key: String,
        /// The output of `albs ledger consistency`.
        #[arg(long, required_unless_present = "server", conflicts_with = "server")]
        proof: Option<PathBuf>,
        /// Fetch the latest checkpoint, the records and the consistency
        /// proof from this albs server.
        #[arg(long, value_name = "URL")]
        server: Option<String>,
        /// With --server: write the checkpoint that was checked to this file
        /// (the --old of the next audit).
        #[arg(long, requires = "server")]
        save: Option<PathBuf>,
    },
}

/// Repositories to solve on.
#[derive(Debug, Args)]
pub struct SolveArgs {
    /// A primary.xml (plain, .gz, .xz, .zst) or a repository directory (repeatable).
    #[arg(long = "repo", required = true, value_name = "PATH")]
    pub repos: Vec<std::path::PathBuf>,
    /// The machine architecture.
    #[arg(long, default_value = "x86_64")]
    pub arch: String,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

/// The installed system that install, erase and update jobs start from.
#[derive(Debug, Args)]
pub struct SystemArgs {
    /// The installed packages as rpm-md: a primary.xml or a repository
    /// directory (repeatable).
    #[arg(long = "installed", value_name = "PATH")]
    pub installed: Vec<std::path::PathBuf>,
    /// A file listing installed packages, one NEVRA a line (as `rpm -qa`
    /// prints them); each must be in one of the repositories.
    #[arg(long = "installed-nevras", value_name = "FILE")]
    pub installed_nevras: Option<std::path::PathBuf>,
    /// Let the solver erase installed packages that stand in the way
    /// (dependents of erased packages, conflicting ones).
    #[arg(long)]
    pub allow_erasing: bool,
}

/// `albs solve …`.
#[derive(Debug, Subcommand)]
pub enum SolveCommand {
    /// The packages that installing NAME… brings in, or why it cannot be done.
    Install {
        /// Package names.
        #[arg(required = true)]
        names: Vec<String>,
        /// Repositories.
        #[command(flatten)]
        repo: SolveArgs,
        /// The installed system, if any.
        #[command(flatten)]
        system: SystemArgs,
    },
    /// Erase installed packages: the transaction, or why it cannot be done.
    Erase {
        /// Package names.
        #[arg(required = true)]
        names: Vec<String>,
        /// Repositories.
        #[command(flatten)]
        repo: SolveArgs,
        /// The installed system.
        #[command(flatten)]
        system: SystemArgs,
    },
    /// Update installed packages (all of them without NAME): the transaction.
    Update {
        /// Package names.
        names: Vec<String>,
        /// Repositories.
        #[command(flatten)]
        repo: SolveArgs,
        /// The installed system.
        #[command(flatten)]
        system: SystemArgs,
    },
    /// Packages with a requires that nothing provides.
    Closure {
        /// Repositories.
        #[command(flatten)]
        repo: SolveArgs,
    },
    /// Packages that cannot be installed, each on its own.
    Check {
        /// Repositories.
        #[command(flatten)]
        repo: SolveArgs,
    },
    /// The order to build source packages in, from their BuildRequires, with cycles marked.
    Order {
        /// Source RPMs, spec files, or directories (git checkouts) holding a
        /// spec at their root or in SPECS/.
        #[arg(required = true, value_name = "SRPM|SPEC|DIR")]
        srpms: Vec<std::path::PathBuf>,
        /// What a source package produces, `NAME=CAP,CAP…` (repeatable); by
        /// default, for a spec, its subpackages and their provides, and for
        /// an SRPM its own name, as an SRPM does not list its subpackages.
        #[arg(long, value_name = "NAME=CAPS")]
        produces: Vec<String>,
        /// Platform whose macros specs are read with (dist tag, conditionals).
        #[arg(long, default_value = "almalinux-9")]
        platform: String,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
}

//! `albs`: the command line of the albs build system.

mod build;
mod cli;
mod ledger;
mod release;
mod remote;
mod repo;
mod security;
mod server;
mod sign;
mod solve;
mod testcmd;
mod tests_cmd;
mod users;

use clap::Parser;

/// mimalloc instead of glibc's allocator: repository and solver work
/// allocates many small short-lived objects on several threads, where
/// glibc's per-thread arenas keep growing and trimming their heaps.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    let cli = cli::Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("ALBS_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .init();
    // Local repository commands need no async runtime: they start
    // without its threads.
    let cli = match cli {
        cli::Cli {
            command: cli::Command::Repo(cmd),
            ..
        } => return exit_code(repo::run(cmd)),
        cli => cli,
    };
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    exit_code(rt.block_on(run(cli)))
}

/// The exit code of a command's result, printing the error if any.
fn exit_code(result: anyhow::Result<std::process::ExitCode>) -> std::process::ExitCode {
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn run(cli: cli::Cli) -> anyhow::Result<std::process::ExitCode> {
    match cli.command {
        cli::Command::Build(args) => build::run(&cli.global, args).await,
        cli::Command::Platform(cmd) => build::platforms(&cli.global, cmd),
        cli::Command::Ledger(cmd) => ledger::run(&cli.global, cmd).await,
        cli::Command::Server(args) => server::server(&cli.global, args).await,
        cli::Command::Node(cli::NodeCommand::Run(args)) => server::node(&cli.global, args).await,
        cli::Command::Node(cli::NodeCommand::Add(args)) => remote::node_add(args).await,
        cli::Command::Token(cmd) => server::token(&cli.global, cmd).await,
        cli::Command::User(cmd) => users::user(&cli.global, cmd).await,
        cli::Command::Team(cmd) => users::team(cmd).await,
        cli::Command::Product(cmd) => users::product(cmd).await,
        cli::Command::Audit(args) => users::audit(args).await,
        cli::Command::Submit(args) => remote::submit(args).await,
        cli::Command::Status(args) => remote::status(args).await,
        cli::Command::Logs(args) => remote::logs(args).await,
        cli::Command::Solve(cmd) => solve::run(cmd),
        cli::Command::Repo(cmd) => repo::run(cmd),
        cli::Command::Test(args) => testcmd::run(&cli.global, args).await,
        cli::Command::Tests(args) => tests_cmd::run(args).await,
        cli::Command::Cancel { remote, build } => remote::cancel(&remote, build).await,
        cli::Command::Restart { remote, build } => remote::restart(&remote, build).await,
        cli::Command::Key(cmd) => sign::key(cmd).await,
        cli::Command::Sign(args) => sign::sign(args).await,
        cli::Command::SignNode(args) => sign::sign_node(&cli.global, args).await,
        cli::Command::Errata(cmd) => security::errata(cmd).await,
        cli::Command::Oval(cmd) => security::oval(cmd),
        cli::Command::Sbom(cmd) => security::sbom(&cli.global, cmd).await,
        cli::Command::Provenance(cmd) => security::provenance(&cli.global, cmd).await,
        cli::Command::Release(cmd) => release::run(cmd).await,
    }
}

//! `albs tests BUILD_ID [--json] [--restart | --cancel]`: the test tasks of a
//! build on a server, per arch with their stages; restart or cancel them.

use std::process::ExitCode;

use albs_core::api::{TestState, TestTask};
use albs_core::client::Client;
use clap::Args;

use crate::cli::Remote;

/// `albs tests`.
#[derive(Debug, Args)]
pub struct TestsArgs {
    /// Server and token.
    #[command(flatten)]
    pub remote: Remote,
    /// Build id.
    pub build: u64,
    /// Print the test tasks as JSON (stages with TAP and logs).
    #[arg(long)]
    pub json: bool,
    /// Put the failed and cancelled test tasks back in the queue (owner or admin).
    #[arg(long, conflicts_with = "cancel")]
    pub restart: bool,
    /// Cancel the pending and running test tasks (owner or admin).
    #[arg(long)]
    pub cancel: bool,
}

/// Runs `albs tests`; exits 1 when a test task failed.
pub async fn run(args: TestsArgs) -> anyhow::Result<ExitCode> {
    let client = Client::new(&args.remote.server, args.remote.token.clone());
    let tasks = if args.restart {
        client.restart_tests(args.build).await?
    } else if args.cancel {
        client.cancel_tests(args.build).await?
    } else {
        client.build_tests(args.build).await?
    };
    if args.json {
        println!("{}", serde_json::to_string_pretty(&tasks)?);
    } else if tasks.is_empty() {
        println!(
            "build {} has no test tasks (they are made once the build has succeeded)",
            args.build
        );
    } else {
        for t in &tasks {
            print!("{}", text(t));
        }
    }
    let failed = tasks.iter().any(|t| t.state == TestState::Failed);
    Ok(if failed && !args.restart {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

/// One test task as text: its arch and state, then a line per stage.
fn text(t: &TestTask) -> String {
    let mut out = format!(
        "{:<10} {:<10} task {} attempt {}{}\n",
        t.arch.as_str(),
        t.state.as_str(),
        t.id,
        t.attempts,
        t.node
            .as_deref()
            .map(|n| format!(" on {n}"))
            .unwrap_or_default()
    );
    if let Some(r) = &t.reason {
        out.push_str(&format!("  reason: {r}\n"));
    }
    for s in t.report.iter().flat_map(|r| &r.stages) {
        let checks = s
            .tap
            .lines()
            .filter(|l| l.starts_with("ok") || l.starts_with("not ok"))
            .count();
        out.push_str(&format!(
            "  {:<12} {}  ({checks} checks)\n",
            s.name,
            if s.passed { "passed" } else { "FAILED" }
        ));
        if !s.passed {
            for l in s.tap.lines().filter(|l| l.starts_with("not ok")) {
                out.push_str(&format!("    {l}\n"));
            }
        }
    }
    out
}

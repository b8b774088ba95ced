//! `albs test RPM…`: install the packages into a fresh root, check them, run
//! their third-party tests and remove them again (the test system's stages).

use std::path::PathBuf;
use std::process::ExitCode;

use albs_core::model::Arch;
use albs_core::test::Tester;
use albs_core::tester::RootTester;
use anyhow::Context;

use crate::cli::Global;

/// Arguments of `albs test`.
#[derive(Debug, clap::Args)]
pub struct TestArgs {
    /// Binary packages to test; their dependencies come from this set and the repositories.
    #[arg(required = true, value_name = "RPM")]
    pub rpms: Vec<PathBuf>,
    /// An rpm-md repository directory dependencies may be taken from (repeatable).
    #[arg(long = "repo", value_name = "DIR")]
    pub repos: Vec<PathBuf>,
    /// Third-party tests: a git URL or directory laid out as <package-name>/*.{sh,bats,py};
    /// append #REF to clone a branch or tag.
    #[arg(long, value_name = "GIT_URL_OR_DIR")]
    pub tests: Option<String>,
    /// The platform the packages were built for.
    #[arg(long, default_value = "almalinux-9")]
    pub platform: String,
    /// The architecture the packages were built for (default: this machine's).
    #[arg(long)]
    pub arch: Option<String>,
    /// Work in DIR and keep it (the install root is DIR/root) instead of a temporary directory.
    #[arg(long, value_name = "DIR")]
    pub keep: Option<PathBuf>,
    /// Seconds each third-party test file may run.
    #[arg(long, default_value_t = 600)]
    pub test_timeout: u64,
    /// Print the report as JSON (stages with their TAP and logs).
    #[arg(long)]
    pub json: bool,
    /// Print each stage's TAP and log, not only its failures.
    #[arg(long, short)]
    pub verbose: bool,
}

/// Runs `albs test`; exits non-zero when a stage failed.
pub async fn run(global: &Global, args: TestArgs) -> anyhow::Result<ExitCode> {
    for rpm in &args.rpms {
        anyhow::ensure!(
            rpm.is_file(),
            "{} is not a file: give paths of .rpm packages",
            rpm.display()
        );
    }
    let platforms = crate::build::load_platforms(global)?;
    let platform = platforms.get(&args.platform).with_context(|| {
        format!(
            "unknown platform {}: see `albs platform list`",
            args.platform
        )
    })?;
    let arch = match &args.arch {
        Some(a) => a
            .parse::<Arch>()
            .map_err(|e| anyhow::anyhow!("--arch {a}: {e}"))?,
        None => Arch::host(),
    };
    let mut tester = RootTester::detect()
        .with_repos(args.repos.iter().cloned())
        .with_test_timeout(std::time::Duration::from_secs(args.test_timeout));
    if let Some(t) = &args.tests {
        tester = tester.with_tests(t.clone());
    }
    if let Some(k) = &args.keep {
        tester = tester.with_work_dir(k.clone());
    }
    let report = tester
        .test(&args.rpms, platform, &arch)
        .await
        .context("the tester could not run")?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        for s in &report.stages {
            let tests = s
                .tap
                .lines()
                .filter(|l| l.starts_with("ok ") || l.starts_with("not ok "))
                .count();
            println!(
                "{:<12} {}  ({tests} checks)",
                s.name,
                if s.passed { "pass" } else { "FAIL" }
            );
            if args.verbose || !s.passed {
                for l in s
                    .tap
                    .lines()
                    .filter(|l| args.verbose || l.starts_with("not ok") || l.starts_with("  "))
                {
                    if !l.contains("# TODO") || args.verbose {
                        println!("    {l}");
                    }
                }
            }
            if args.verbose || !s.passed {
                println!("    --- log of {} ---", s.name);
                for l in s.log.lines() {
                    println!("    {l}");
                }
            }
        }
        println!("{}", if report.passed() { "PASSED" } else { "FAILED" });
    }
    Ok(if report.passed() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

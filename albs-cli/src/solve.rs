//! `albs solve`: install jobs, repository closure and installability checks
//! on rpm-md repositories.

use std::process::ExitCode;

use albs_core::solve::{Job, Pool, Solver, sat};
use anyhow::Context;

use crate::cli::{SolveArgs, SolveCommand};

fn load(args: &SolveArgs) -> anyhow::Result<Pool> {
    let mut pool = Pool::new();
    pool.set_arch(&args.arch);
    for repo in &args.repos {
        pool.add_repo(repo)
            .with_context(|| format!("loading repository {}", repo.display()))?;
    }
    Ok(pool)
}

pub fn run(cmd: SolveCommand) -> anyhow::Result<ExitCode> {
    match cmd {
        SolveCommand::Install { names, repo } => {
            let pool = load(&repo)?;
            let jobs: Vec<Job> = names.iter().map(|n| Job::Install(n.clone())).collect();
            match Solver::new(&pool).solve(&jobs) {
                Ok(solution) => {
                    let mut nevras: Vec<String> =
                        solution.packages.iter().map(|&p| pool.nevra(p)).collect();
                    nevras.sort();
                    if repo.json {
                        println!("{}", serde_json::json!({ "install": nevras }));
                    } else {
                        for n in &nevras {
                            println!("{n}");
                        }
                        eprintln!("{} packages", nevras.len());
                    }
                    Ok(ExitCode::SUCCESS)
                }
                Err(problem) => {
                    if repo.json {
                        println!("{}", serde_json::json!({ "problem": problem.lines }));
                    } else {
                        eprintln!("cannot install {}:", names.join(" "));
                        for l in &problem.lines {
                            eprintln!("  {l}");
                        }
                    }
                    Ok(ExitCode::FAILURE)
                }
            }
        }
        SolveCommand::Closure { repo } => {
            let pool = load(&repo)?;
            let broken = sat::repoclosure(&pool);
            let rows: Vec<(String, String)> = broken
                .iter()
                .map(|&(p, d)| (pool.nevra(p), pool.dep_str(d)))
                .collect();
            if repo.json {
                let v: Vec<_> = rows
                    .iter()
                    .map(|(p, d)| serde_json::json!({ "package": p, "unresolved": d }))
                    .collect();
                println!("{}", serde_json::to_string_pretty(&v)?);
            } else {
                for (p, d) in &rows {
                    println!("{p}: nothing provides {d}");
                }
                eprintln!(
                    "{} of {} packages have an unresolved requires",
                    rows.len(),
                    pool.len()
                );
            }
            Ok(if rows.is_empty() {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            })
        }
        SolveCommand::Check { repo } => {
            let pool = load(&repo)?;
            let bad = sat::installcheck(&pool, pool.ids());
            if repo.json {
                let v: Vec<_> = bad
                    .iter()
                    .map(|(p, problem)| serde_json::json!({ "package": pool.nevra(*p), "problem": problem.lines }))
                    .collect();
                println!("{}", serde_json::to_string_pretty(&v)?);
            } else {
                for (p, problem) in &bad {
                    println!(
                        "{}: {}",
                        pool.nevra(*p),
                        problem
                            .lines
                            .first()
                            .map(String::as_str)
                            .unwrap_or("not installable")
                    );
                }
                eprintln!(
                    "{} of {} packages cannot be installed",
                    bad.len(),
                    pool.len()
                );
            }
            Ok(if bad.is_empty() {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            })
        }
    }
}

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
        SolveCommand::Order {
            srpms,
            produces,
            json,
        } => order(&srpms, &produces, json),
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

/// `albs solve order`: one line per source package, dependencies first.
fn order(
    srpms: &[std::path::PathBuf],
    produces: &[String],
    json: bool,
) -> anyhow::Result<ExitCode> {
    use albs_core::solve::order;
    let mut given = std::collections::HashMap::new();
    for p in produces {
        let (name, caps) = p
            .split_once('=')
            .with_context(|| format!("--produces {p:?}: expected NAME=CAP,CAP…"))?;
        let caps: Vec<String> = caps
            .split(',')
            .map(str::trim)
            .filter(|c| !c.is_empty())
            .map(str::to_owned)
            .collect();
        given.insert(name.trim().to_owned(), caps);
    }
    let inputs = order::inputs_from_srpms(srpms, &given)?;
    let o = order::build_order(&inputs)?;
    if json {
        let steps: Vec<_> = o
            .steps
            .iter()
            .map(|s| {
                serde_json::json!({
                    "name": s.name, "stage": s.stage, "cycle": s.cycle,
                    "bootstrap_without": s.bootstrap_without, "needs_itself": s.needs_itself,
                })
            })
            .collect();
        let edges: Vec<_> = o
            .edges
            .iter()
            .map(|(a, b, r)| serde_json::json!({ "needs": a, "provider": b, "requires": r }))
            .collect();
        let external: Vec<_> = o
            .external
            .iter()
            .map(|(a, r)| serde_json::json!({ "package": a, "requires": r }))
            .collect();
        let v = serde_json::json!({
            "steps": steps, "cycles": o.cycles, "edges": edges, "external": external,
        });
        println!("{}", serde_json::to_string_pretty(&v)?);
    } else {
        for (i, s) in o.steps.iter().enumerate() {
            let mut line = format!("{} {} (stage {})", i + 1, s.name, s.stage);
            if let Some(c) = s.cycle {
                line.push_str(&format!(" [cycle {}: {}", c + 1, o.cycles[c].join(" ")));
                if !s.bootstrap_without.is_empty() {
                    line.push_str(&format!(
                        "; bootstrap without {}",
                        s.bootstrap_without.join(" ")
                    ));
                }
                line.push(']');
            }
            if s.needs_itself {
                line.push_str(" [builds on a previous build of itself]");
            }
            println!("{line}");
        }
        eprintln!(
            "{} source packages, {} cycles, {} external build requires",
            o.steps.len(),
            o.cycles.len(),
            o.external.len()
        );
    }
    Ok(ExitCode::SUCCESS)
}

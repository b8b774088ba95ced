//! `albs solve`: install jobs, repository closure and installability checks
//! on rpm-md repositories.

use std::process::ExitCode;

use albs_core::solve::{Job, PkgId, Pool, Solver, Step, sat};
use anyhow::Context;

use crate::cli::{SolveArgs, SolveCommand, SystemArgs};

fn load(args: &SolveArgs) -> anyhow::Result<Pool> {
    let mut pool = Pool::new();
    pool.set_arch(&args.arch);
    for repo in &args.repos {
        pool.add_repo(repo)
            .with_context(|| format!("loading repository {}", repo.display()))?;
    }
    Ok(pool)
}

/// Loads the installed system (first) and the repositories into one pool;
/// returns it with the installed packages.
fn load_system(args: &SolveArgs, system: &SystemArgs) -> anyhow::Result<(Pool, Vec<PkgId>)> {
    let mut pool = Pool::new();
    pool.set_arch(&args.arch);
    let mut installed = Vec::new();
    for path in &system.installed {
        let first = pool.len() as u32;
        pool.add_repo(path)
            .with_context(|| format!("loading the installed packages {}", path.display()))?;
        installed.extend((first..pool.len() as u32).map(PkgId));
    }
    for repo in &args.repos {
        pool.add_repo(repo)
            .with_context(|| format!("loading repository {}", repo.display()))?;
    }
    if let Some(file) = &system.installed_nevras {
        let text =
            std::fs::read_to_string(file).with_context(|| format!("reading {}", file.display()))?;
        for (i, line) in text.lines().enumerate() {
            let nevra = line.trim();
            if nevra.is_empty() || nevra.starts_with('#') {
                continue;
            }
            let p = pool.find_nevra(nevra).with_context(|| {
                format!(
                    "{}, line {}: installed package {nevra} is in none of the repositories; \
                     give the installed system as rpm-md with --installed instead",
                    file.display(),
                    i + 1
                )
            })?;
            installed.push(p);
        }
    }
    Ok((pool, installed))
}

fn has_system(system: &SystemArgs) -> bool {
    !system.installed.is_empty() || system.installed_nevras.is_some()
}

/// Runs install, erase or update jobs and prints the packages or the
/// transaction (with an installed system), or the problem.
fn transact(
    verb: &str,
    names: &[String],
    jobs: Vec<Job>,
    repo: &SolveArgs,
    system: &SystemArgs,
) -> anyhow::Result<ExitCode> {
    if verb != "install" && !has_system(system) {
        anyhow::bail!(
            "albs solve {verb} works on an installed system: give it with --installed PATH \
             (rpm-md) or --installed-nevras FILE"
        );
    }
    let (pool, installed) = load_system(repo, system)?;
    let mut solver = Solver::new(&pool);
    solver.set_installed(&installed);
    solver.set_allow_erase(system.allow_erasing);
    let solution = match solver.solve(&jobs) {
        Ok(s) => s,
        Err(problem) => {
            if repo.json {
                println!("{}", serde_json::json!({ "problem": problem.lines }));
            } else {
                let what = if names.is_empty() {
                    "everything".to_owned()
                } else {
                    names.join(" ")
                };
                eprintln!("cannot {verb} {what}:");
                for l in &problem.lines {
                    eprintln!("  {l}");
                }
            }
            return Ok(ExitCode::FAILURE);
        }
    };
    let mut nevras: Vec<String> = solution.packages.iter().map(|&p| pool.nevra(p)).collect();
    nevras.sort();
    if !has_system(system) {
        if repo.json {
            println!("{}", serde_json::json!({ "install": nevras }));
        } else {
            for n in &nevras {
                println!("{n}");
            }
            eprintln!("{} packages", nevras.len());
        }
        return Ok(ExitCode::SUCCESS);
    }
    let tx = solver.transaction(&solution);
    if repo.json {
        let steps: Vec<_> = tx
            .steps
            .iter()
            .map(|s| {
                let n = |p: &PkgId| pool.nevra(*p);
                match s {
                    Step::Install(p) | Step::Erase(p) => {
                        serde_json::json!({ "action": s.kind(), "package": n(p) })
                    }
                    Step::Upgrade { from, to }
                    | Step::Downgrade { from, to }
                    | Step::Reinstall { from, to } => {
                        serde_json::json!({ "action": s.kind(), "from": n(from), "package": n(to) })
                    }
                    Step::Obsolete { by, old } => serde_json::json!({
                        "action": s.kind(), "package": n(by),
                        "obsoletes": old.iter().map(n).collect::<Vec<_>>(),
                    }),
                    _ => serde_json::json!({ "action": s.kind() }),
                }
            })
            .collect();
        println!(
            "{}",
            serde_json::to_string_pretty(&serde_json::json!({
                "transaction": steps, "installed_after": nevras,
            }))?
        );
    } else {
        for s in &tx.steps {
            println!("{}", s.describe(&pool));
        }
        if tx.is_empty() {
            eprintln!("nothing to do");
        } else {
            eprintln!(
                "{} steps; {} packages installed after",
                tx.steps.len(),
                nevras.len()
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

pub fn run(cmd: SolveCommand) -> anyhow::Result<ExitCode> {
    match cmd {
        SolveCommand::Order {
            srpms,
            produces,
            platform,
            json,
        } => order(&srpms, &produces, &platform, json),
        SolveCommand::Install {
            names,
            repo,
            system,
        } => {
            let jobs: Vec<Job> = names.iter().map(|n| Job::Install(n.clone())).collect();
            transact("install", &names, jobs, &repo, &system)
        }
        SolveCommand::Erase {
            names,
            repo,
            system,
        } => {
            let jobs: Vec<Job> = names.iter().map(|n| Job::Erase(n.clone())).collect();
            transact("erase", &names, jobs, &repo, &system)
        }
        SolveCommand::Update {
            names,
            repo,
            system,
        } => {
            let jobs: Vec<Job> = if names.is_empty() {
                vec![Job::UpdateAll]
            } else {
                names.iter().map(|n| Job::Update(n.clone())).collect()
            };
            transact("update", &names, jobs, &repo, &system)
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
    platform: &str,
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
    let inputs = order_inputs(srpms, &given, platform)?;
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

/// Reads SRPMs, spec files and source trees (a spec at the root or in
/// SPECS/) into order inputs; `produces` overrides what a package produces.
fn order_inputs(
    paths: &[std::path::PathBuf],
    produces: &std::collections::HashMap<String, Vec<String>>,
    platform: &str,
) -> anyhow::Result<Vec<albs_core::solve::order::OrderInput>> {
    use albs_core::solve::order;
    let mut srpms = Vec::new();
    let mut specs = Vec::new();
    for p in paths {
        if p.is_dir() {
            specs.push(albs_core::spec::find_spec(p)?);
        } else if p.extension().is_some_and(|x| x == "spec") {
            specs.push(p.clone());
        } else {
            srpms.push(p.clone());
        }
    }
    let mut inputs = Vec::new();
    if !specs.is_empty() {
        let platforms = albs_core::platform::Platforms::bundled();
        let plat = platforms.get(platform).with_context(|| {
            format!("no platform {platform:?}; `albs platform list` shows the known ones")
        })?;
        // `albs solve` runs inside the CLI's runtime: wait for the spec
        // queries on this worker thread.
        let infos = tokio::task::block_in_place(|| {
            tokio::runtime::Handle::current().block_on(async {
                let mut out = Vec::new();
                for s in &specs {
                    out.push(albs_core::spec::query(s, plat).await?);
                }
                Ok::<_, albs_core::spec::SpecError>(out)
            })
        })?;
        for info in &infos {
            let mut input = order::input_from_spec(info);
            if let Some(caps) = produces.get(&input.name) {
                input.produces.clone_from(caps);
            }
            inputs.push(input);
        }
    }
    let from_srpms: std::collections::HashMap<String, Vec<String>> = produces
        .iter()
        .filter(|(k, _)| !inputs.iter().any(|i| &i.name == *k))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    inputs.extend(order::inputs_from_srpms(&srpms, &from_srpms)?);
    Ok(inputs)
}

//! Solver benchmark on a real rpm-md universe: load, install jobs,
//! repoclosure and installcheck of every Nth package, printed in the same
//! line format as `/work/shared/bench/libsolv_bench.py` so that
//! `benches/compare/solver.sh` can compute ratios.
//!
//! Usage: `cargo bench -p albs-benches --bench solver -- [PRIMARY] [JOB ...]`
//! (`a+b` installs both; default jobs gnome-core, kde-full, build-essential).
//! `RUNS` (default 3) sets how many runs each phase gets; the median counts.
//! `STEP` (default 20) is the installcheck stride. `DUMP=DIR` writes each
//! job's solution, the repoclosure and the installcheck failures to DIR.

use std::path::PathBuf;
use std::time::Instant;

use albs_core::solve::sat::{installcheck, repoclosure, verify};
use albs_core::solve::{Job, Pool, Solver};

const DEFAULT: &str = "/work/shared/data/universe-bookworm.primary.xml.gz";

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--"))
        .collect();
    let path = PathBuf::from(args.first().cloned().unwrap_or_else(|| DEFAULT.into()));
    let runs: usize = std::env::var("RUNS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(3)
        .max(1);
    let step: usize = std::env::var("STEP")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(20)
        .max(1);
    if !path.exists() {
        eprintln!("solver bench: {} does not exist; skipping", path.display());
        return;
    }
    let mut times = Vec::new();
    let mut pool = None;
    for _ in 0..runs {
        let t = Instant::now();
        let p = Pool::from_primary(&path).unwrap_or_else(|e| panic!("{e}"));
        times.push(t.elapsed().as_secs_f64());
        pool = Some(p);
    }
    let pool = pool.expect("one run");
    println!("load {:.3} {} solvables", median(times), pool.len());

    let jobs: Vec<String> = if args.len() > 1 {
        args[1..].to_vec()
    } else {
        ["gnome-core", "kde-full", "build-essential"]
            .map(String::from)
            .to_vec()
    };
    for job in &jobs {
        let request: Vec<Job> = job.split('+').map(|n| Job::Install(n.to_owned())).collect();
        let mut times = Vec::new();
        let mut detail = String::new();
        for _ in 0..runs {
            let mut solver = Solver::new(&pool);
            let t = Instant::now();
            let res = solver.solve(&request);
            times.push(t.elapsed().as_secs_f64());
            detail = match res {
                Ok(sol) => {
                    if let Ok(dir) = std::env::var("DUMP") {
                        let names: Vec<String> =
                            sol.packages.iter().map(|&p| pool.nevra(p) + "\n").collect();
                        let file = PathBuf::from(dir).join(format!("{job}.txt"));
                        std::fs::write(&file, names.concat())
                            .unwrap_or_else(|e| panic!("{}: {e}", file.display()));
                    }
                    if let Err(e) = verify(&pool, &sol.packages) {
                        panic!("{job}: invalid solution: {e}");
                    }
                    format!("{} ok", sol.packages.len())
                }
                Err(p) => format!("None {p}"),
            };
        }
        println!("install:{job} {:.3} {detail}", median(times));
    }

    let mut times = Vec::new();
    let mut broken = 0;
    for _ in 0..runs {
        let t = Instant::now();
        let list = repoclosure(&pool);
        broken = list.len();
        if let Ok(dir) = std::env::var("DUMP") {
            let names: Vec<String> = list.iter().map(|&(p, _)| pool.nevra(p) + "\n").collect();
            std::fs::write(PathBuf::from(dir).join("closure.txt"), names.concat()).expect("dump");
        }
        times.push(t.elapsed().as_secs_f64());
    }
    println!("closure {:.3} {broken} broken", median(times));

    let mut times = Vec::new();
    let mut bad = 0;
    let checked = pool.ids().step_by(step).count();
    for _ in 0..runs.min(2) {
        let t = Instant::now();
        let list = installcheck(&pool, pool.ids().step_by(step));
        bad = list.len();
        if let Ok(dir) = std::env::var("DUMP") {
            let names: Vec<String> = list
                .iter()
                .map(|(p, why)| format!("{} {} {why}\n", p.0, pool.nevra(*p)))
                .collect();
            std::fs::write(PathBuf::from(dir).join("installcheck.txt"), names.concat())
                .expect("dump");
        }
        times.push(t.elapsed().as_secs_f64());
    }
    println!(
        "installcheck {:.3} checked {checked} uninstallable {bad}",
        median(times)
    );
}

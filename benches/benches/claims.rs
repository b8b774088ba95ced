//! Claims per second: 50 concurrent claimers drain a queue of 20,000 src
//! tasks, on PostgreSQL (`ALBS_BENCH_DATABASE_URL`, else
//! `ALBS_TEST_DATABASE_URL`, in a schema of its own that is dropped after)
//! and on SQLite (a temporary file) for comparison. Prints one line per
//! store.
//!
//! `ALBS_BENCH_TASKS` and `ALBS_BENCH_CLAIMERS` change the sizes.
//!
//! ```sh
//! ALBS_TEST_DATABASE_URL=postgres://postgres@127.0.0.1:5432/test \
//!     cargo bench -p albs-benches --bench claims
//! ```

use std::sync::Arc;
use std::time::{Duration, Instant};

use albs_core::conformance::{T0, add_node, queue_src_tasks};
use albs_core::db::{PgStore, SqliteStore, Store};

/// Tasks per build (refs of one build).
const REFS_PER_BUILD: usize = 100;

fn env_usize(name: &str, default: usize) -> usize {
    match std::env::var(name) {
        Ok(v) => v
            .parse()
            .unwrap_or_else(|_| panic!("{name}={v:?} is not a number")),
        Err(_) => default,
    }
}

/// Queues `tasks`, registers `claimers` nodes and times them draining the
/// queue; returns (queueing time, draining time).
async fn drain(store: Arc<dyn Store>, tasks: usize, claimers: usize) -> (Duration, Duration) {
    let start = Instant::now();
    let builds = tasks.div_ceil(REFS_PER_BUILD);
    let queued = queue_src_tasks(store.as_ref(), "bench", builds, REFS_PER_BUILD).await;
    let queueing = start.elapsed();
    let mut nodes = Vec::with_capacity(claimers);
    for i in 0..claimers {
        nodes.push(add_node(store.as_ref(), &format!("bench-{i}"), &["x86_64"], &[], &[]).await);
    }
    let start = Instant::now();
    let mut loops = Vec::with_capacity(claimers);
    for node in nodes {
        let store = store.clone();
        loops.push(tokio::spawn(async move {
            let mut n = 0usize;
            while store
                .claim(&node, T0, Duration::from_secs(600))
                .await
                .expect("claim")
                .is_some()
            {
                n += 1;
            }
            n
        }));
    }
    let mut claimed = 0;
    for l in loops {
        claimed += l.await.expect("claimer");
    }
    let draining = start.elapsed();
    assert_eq!(claimed, queued.len(), "every task is claimed once");
    (queueing, draining)
}

fn report(store: &str, tasks: usize, claimers: usize, (queueing, draining): (Duration, Duration)) {
    println!(
        "claims/{store}: {tasks} tasks, {claimers} claimers: drained in {:.2} s = {:.0} claims/s \
         (queueing took {:.2} s)",
        draining.as_secs_f64(),
        tasks as f64 / draining.as_secs_f64(),
        queueing.as_secs_f64()
    );
}

fn main() {
    let tasks = env_usize("ALBS_BENCH_TASKS", 20_000);
    let claimers = env_usize("ALBS_BENCH_CLAIMERS", 50);
    let tasks = tasks.div_ceil(REFS_PER_BUILD) * REFS_PER_BUILD;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime");
    rt.block_on(async {
        let url = std::env::var("ALBS_BENCH_DATABASE_URL")
            .or_else(|_| std::env::var("ALBS_TEST_DATABASE_URL"))
            .ok();
        match url {
            None => println!(
                "claims/postgres: skipped because neither ALBS_BENCH_DATABASE_URL nor \
                 ALBS_TEST_DATABASE_URL is set"
            ),
            Some(url) => {
                let schema = format!("albs_bench_claims_{}", std::process::id());
                let pg = PgStore::connect_with(&url, Some(&schema), 50)
                    .await
                    .expect("connecting to PostgreSQL");
                let pg = Arc::new(pg);
                let figures = drain(pg.clone(), tasks, claimers).await;
                report("postgres", tasks, claimers, figures);
                Arc::into_inner(pg)
                    .expect("the claimers are done")
                    .drop_schema()
                    .await
                    .expect("dropping the bench schema");
            }
        }
        let dir = tempfile::tempdir().expect("a temporary directory");
        let sqlite = SqliteStore::open(&dir.path().join("bench.db"))
            .await
            .expect("opening SQLite");
        let figures = drain(Arc::new(sqlite.clone()), tasks, claimers).await;
        report("sqlite", tasks, claimers, figures);
        sqlite.close().await;
    });
}

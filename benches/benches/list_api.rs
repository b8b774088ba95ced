//! Latency of the build list API (`GET /api/v1/builds`) with 100,000
//! builds stored, under an open-loop load of 500 requests/s for 10 s, on
//! PostgreSQL (`ALBS_BENCH_DATABASE_URL`, else `ALBS_TEST_DATABASE_URL`, in
//! a schema of its own that is dropped after) and on SQLite (a temporary
//! file). The goal is a p99 of at most 50 ms.
//!
//! Per store: seeds the builds with a few set-based `INSERT … SELECT`s in
//! one transaction (each build is a planned build of one package for
//! x86_64 and aarch64: a src task, two arch tasks and their dependencies,
//! spread over [`OWNERS`] owners, three platforms, [`PACKAGES`] packages
//! and a few states), starts the real server in-process on `127.0.0.1:0`,
//! checks a few answers, then sends a mix of list queries (first page, by
//! owner, by status, by package, next pages through `before`) at a fixed
//! rate. Every request is spawned at its scheduled time whether or not the
//! earlier ones have finished, and its latency runs from that scheduled
//! time to the end of the response, so a stalled server cannot hide its
//! stall (no coordinated omission). Prints p50/p90/p99/max, the achieved
//! rate and a line per query kind.
//!
//! `ALBS_BENCH_RPS` (default 500) and `ALBS_BENCH_SECS` (default 10)
//! change the load, `ALBS_BENCH_BUILDS` (default 100,000) the size.
//!
//! ```sh
//! ALBS_BENCH_DATABASE_URL=postgres://postgres@127.0.0.1:5432/test \
//!     cargo bench -p albs-benches --bench list_api
//! ```

use std::sync::Arc;
use std::time::Duration;

use albs_core::api::{BuildPage, BuildQuery};
use albs_core::client::Client;
use albs_core::conformance::{T0, git_ref, put_bundled_platforms};
use albs_core::db::{PgStore, SqliteStore, Store};
use albs_core::ledger::MemoryLedger;
use albs_core::model::{Arch, BuildOptions, TaskKind, TaskState};
use albs_core::plan::plan;
use albs_core::store::MemoryStore;
use albs_server::{AppState, ServerConfig};
use sqlx::AssertSqlSafe;
use tokio::time::Instant;

/// Owners `owner-0` … the builds are spread over, round robin.
const OWNERS: u64 = 20;
/// Packages `pkg-0` … the builds are spread over, round robin.
const PACKAGES: u64 = 1000;
/// The newest builds, which are still running.
const RUNNING: u64 = 100;
/// Every this many builds one failed.
const FAILED_EVERY: u64 = 50;
/// Every this many builds one was cancelled (unless failed).
const CANCELLED_EVERY: u64 = 97;
/// Seconds between two builds' creation times.
const CREATED_EVERY_SECS: i64 = 60;
/// The package name in the refs template, replaced per build.
const PLACEHOLDER: &str = "albs-bench-package-placeholder";
/// The architectures of every build.
const ARCHES: [&str; 2] = ["x86_64", "aarch64"];
/// A request slower than this counts as an error (with this latency).
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// The p99 the issue asks for.
const GOAL_P99: Duration = Duration::from_millis(50);

fn env_num<T: std::str::FromStr>(name: &str, default: T) -> T {
    match std::env::var(name) {
        Ok(v) => v
            .parse()
            .unwrap_or_else(|_| panic!("{name}={v:?} is not a number")),
        Err(_) => default,
    }
}

/// A value bound to a seeding statement.
enum Arg {
    Text(String),
    MaybeText(Option<String>),
    Int(i64),
}

/// The seeding statements for `builds` builds, in a dialect that both
/// stores speak; `overriding` is what PostgreSQL needs between the column
/// list and the `SELECT` to write explicit ids (empty for SQLite).
fn seed_statements(builds: u64, overriding: &str) -> Vec<(String, Vec<Arg>)> {
    let arches: Vec<Arch> = ARCHES.iter().map(|a| a.parse().expect("an arch")).collect();
    let refs = vec![git_ref(PLACEHOLDER)];
    let mut out = Vec::new();
    for owner in 0..OWNERS {
        out.push((
            "INSERT INTO queues (owner, product) VALUES ($1, '')".to_owned(),
            vec![Arg::Text(format!("owner-{owner}"))],
        ));
    }
    let t0 = T0.unix_timestamp() * 1_000_000;
    let step = CREATED_EVERY_SECS * 1_000_000;
    out.push((
        format!(
            "WITH RECURSIVE s (i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM s WHERE i < {builds}), \
             r AS (SELECT i, 'owner-' || (i % {OWNERS}) AS owner, \
                   'pkg-' || (i % {PACKAGES}) AS package FROM s) \
             INSERT INTO builds \
             (id, platform, arches, refs, owner, options, timeout_secs, queue_id, state, created) \
             {overriding} \
             SELECT r.i, \
               CASE r.i % 4 WHEN 0 THEN 'almalinux-8' WHEN 1 THEN 'almalinux-10' \
                 ELSE 'almalinux-9' END, \
               $1, REPLACE($2, '{PLACEHOLDER}', r.package), r.owner, $3, 3600, q.id, \
               CASE WHEN r.i > {builds} - {RUNNING} THEN 'running' \
                 WHEN r.i % {FAILED_EVERY} = 0 THEN 'failed' \
                 WHEN r.i % {CANCELLED_EVERY} = 0 THEN 'cancelled' \
                 ELSE 'succeeded' END, \
               {t0} + r.i * CAST({step} AS BIGINT) \
             FROM r JOIN queues q ON q.owner = r.owner AND q.product = '' ORDER BY r.i"
        ),
        vec![
            Arg::Text(serde_json::to_string(&arches).expect("arches encode")),
            Arg::Text(serde_json::to_string(&refs).expect("refs encode")),
            Arg::Text(serde_json::to_string(&BuildOptions::default()).expect("options encode")),
        ],
    ));
    // The tasks of the plan, in plan order for each build in turn.
    for t in plan(&refs, &arches) {
        let arch = match t.kind {
            TaskKind::Src => None,
            TaskKind::Arch(a) => Some(a.as_str().to_owned()),
        };
        out.push((
            format!(
                "INSERT INTO tasks (build_id, queue_id, ref_index, arch, package, state, ready) \
                 SELECT id, queue_id, $1, $2, 'pkg-' || (id % {PACKAGES}), state, FALSE \
                 FROM builds ORDER BY id"
            ),
            vec![
                Arg::Int(i64::try_from(t.ref_index).expect("a small index")),
                Arg::MaybeText(arch),
            ],
        ));
    }
    out.push((
        "INSERT INTO task_deps (task_id, depends_on) \
         SELECT a.id, s.id FROM tasks a JOIN tasks s \
         ON s.build_id = a.build_id AND s.ref_index = a.ref_index AND s.arch IS NULL \
         WHERE a.arch IS NOT NULL"
            .to_owned(),
        vec![],
    ));
    out
}

async fn seed_postgres(pg: &PgStore, builds: u64) {
    let mut tx = pg.pool().begin().await.expect("BEGIN");
    for (sql, args) in seed_statements(builds, "OVERRIDING SYSTEM VALUE") {
        let mut q = sqlx::query(AssertSqlSafe(sql));
        for a in args {
            q = match a {
                Arg::Text(s) => q.bind(s),
                Arg::MaybeText(s) => q.bind(s),
                Arg::Int(n) => q.bind(n),
            };
        }
        q.execute(&mut *tx).await.expect("a seeding statement");
    }
    sqlx::query(
        "SELECT setval(pg_get_serial_sequence('builds', 'id'), (SELECT max(id) FROM builds))",
    )
    .execute(&mut *tx)
    .await
    .expect("moving the build id sequence on");
    tx.commit().await.expect("COMMIT");
    for sql in ["ANALYZE builds", "ANALYZE tasks", "ANALYZE task_deps"] {
        sqlx::query(sql).execute(pg.pool()).await.expect(sql);
    }
}

async fn seed_sqlite(lite: &SqliteStore, builds: u64) {
    let mut tx = lite.pool().begin().await.expect("BEGIN");
    for (sql, args) in seed_statements(builds, "") {
        let mut q = sqlx::query(AssertSqlSafe(sql));
        for a in args {
            q = match a {
                Arg::Text(s) => q.bind(s),
                Arg::MaybeText(s) => q.bind(s),
                Arg::Int(n) => q.bind(n),
            };
        }
        q.execute(&mut *tx).await.expect("a seeding statement");
    }
    tx.commit().await.expect("COMMIT");
    sqlx::query("ANALYZE")
        .execute(lite.pool())
        .await
        .expect("ANALYZE");
}

/// What a request asks for, for the per-kind lines.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    FirstPage,
    Owner,
    Status,
    Package,
    Before,
}

impl Kind {
    const ALL: [Kind; 5] = [
        Kind::FirstPage,
        Kind::Owner,
        Kind::Status,
        Kind::Package,
        Kind::Before,
    ];

    fn name(self) -> &'static str {
        match self {
            Kind::FirstPage => "first page",
            Kind::Owner => "by owner",
            Kind::Status => "by status",
            Kind::Package => "by package",
            Kind::Before => "next page",
        }
    }
}

/// splitmix64: a small deterministic generator, so that runs send the same
/// requests.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// The next request of the mix: 30 % first pages, 20 % by owner, 15 % by
/// status, 15 % by package, 20 % later pages (`before` a random id, half of
/// them of one owner).
fn pick(rng: &mut Rng, builds: u64) -> (Kind, BuildQuery) {
    let mut q = BuildQuery::default();
    let roll = rng.below(100);
    let kind = match roll {
        0..30 => Kind::FirstPage,
        30..50 => Kind::Owner,
        50..65 => Kind::Status,
        65..80 => Kind::Package,
        _ => Kind::Before,
    };
    match kind {
        Kind::FirstPage => {}
        Kind::Owner => q.owner = Some(format!("owner-{}", rng.below(OWNERS))),
        Kind::Status => {
            q.status = Some(
                [TaskState::Failed, TaskState::Running, TaskState::Cancelled]
                    [rng.below(3) as usize],
            );
        }
        Kind::Package => q.package = Some(format!("pkg-{}", rng.below(PACKAGES))),
        Kind::Before => {
            q.before = Some(1 + rng.below(builds));
            if rng.below(2) == 0 {
                q.owner = Some(format!("owner-{}", rng.below(OWNERS)));
            }
        }
    }
    (kind, q)
}

/// Checks a few answers of the server against the seeding rules.
async fn check(client: &Client, builds: u64) {
    let first = client.builds(&BuildQuery::default()).await.expect("page 1");
    assert_eq!(first.builds.len(), 50, "a default page has 50 builds");
    assert_eq!(first.builds[0].id, builds, "newest first");
    assert_eq!(
        first.builds[0].packages,
        [format!("pkg-{}", builds % PACKAGES)]
    );
    let next = client
        .builds(&BuildQuery {
            before: first.next,
            ..BuildQuery::default()
        })
        .await
        .expect("page 2");
    assert_eq!(next.builds[0].id, builds - 50, "page 2 follows page 1");
    let by_owner = client
        .builds(&BuildQuery {
            owner: Some("owner-3".into()),
            ..BuildQuery::default()
        })
        .await
        .expect("by owner");
    assert!(by_owner.builds.iter().all(|b| b.owner == "owner-3"));
    let by_package = client
        .builds(&BuildQuery {
            package: Some("pkg-7".into()),
            limit: Some(500),
            ..BuildQuery::default()
        })
        .await
        .expect("by package");
    assert_eq!(
        by_package.builds.len() as u64,
        builds / PACKAGES + u64::from(builds % PACKAGES >= 7),
        "every build of pkg-7"
    );
    let running = client
        .builds(&BuildQuery {
            status: Some(TaskState::Running),
            limit: Some(500),
            ..BuildQuery::default()
        })
        .await
        .expect("by status");
    assert_eq!(running.builds.len() as u64, RUNNING.min(builds));
    let build = client.build(builds).await.expect("a seeded build decodes");
    assert_eq!(build.tasks.len(), 1 + ARCHES.len(), "a src and arch tasks");
}

/// One finished request.
struct Sample {
    kind: Kind,
    latency: Duration,
    ok: bool,
}

/// What a run measured.
struct Run {
    samples: Vec<Sample>,
    /// From the first scheduled send to the last response.
    wall: Duration,
    /// The latest a request left after its scheduled time.
    worst_send_lag: Duration,
    /// The first error, if any.
    first_error: Option<String>,
}

/// Sends `rps` × `secs` list requests to `base` on schedule.
async fn drive(base: String, builds: u64, rps: f64, secs: f64) -> Run {
    let client = Client::new(&base, None);
    let total = (rps * secs).round() as u64;
    let mut rng = Rng(0x5eed_1157_a1b5);
    let start = Instant::now() + Duration::from_millis(20);
    let mut worst_send_lag = Duration::ZERO;
    let mut handles = Vec::with_capacity(total as usize);
    for k in 0..total {
        let at = start + Duration::from_secs_f64(k as f64 / rps);
        tokio::time::sleep_until(at).await;
        worst_send_lag = worst_send_lag.max(Instant::now() - at);
        let (kind, query) = pick(&mut rng, builds);
        let client = client.clone();
        handles.push(tokio::spawn(async move {
            let answer = tokio::time::timeout(REQUEST_TIMEOUT, client.builds(&query)).await;
            let latency = Instant::now() - at;
            let error = match answer {
                Ok(Ok(BuildPage { builds, .. })) if !builds.is_empty() => None,
                Ok(Ok(_)) => Some(format!("{query:?}: an empty page")),
                Ok(Err(e)) => Some(format!("{query:?}: {e}")),
                Err(_) => Some(format!("{query:?}: no answer in {REQUEST_TIMEOUT:?}")),
            };
            (
                Sample {
                    kind,
                    latency,
                    ok: error.is_none(),
                },
                error,
            )
        }));
    }
    let mut samples = Vec::with_capacity(handles.len());
    let mut first_error = None;
    for h in handles {
        let (sample, error) = h.await.expect("a request task");
        if first_error.is_none() {
            first_error = error;
        }
        samples.push(sample);
    }
    Run {
        samples,
        wall: Instant::now() - start,
        worst_send_lag,
        first_error,
    }
}

/// The nearest-rank `p` quantile of sorted `xs`.
fn quantile(xs: &[Duration], p: f64) -> Duration {
    let rank = ((p * xs.len() as f64).ceil() as usize).clamp(1, xs.len());
    xs[rank - 1]
}

fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1e3)
}

fn report(store: &str, builds: u64, seeding: Duration, rps: f64, secs: f64, run: &Run) {
    let mut all: Vec<Duration> = run.samples.iter().map(|s| s.latency).collect();
    all.sort_unstable();
    let errors = run.samples.iter().filter(|s| !s.ok).count();
    let p99 = quantile(&all, 0.99);
    println!(
        "list_api/{store}: {builds} builds (seeded in {:.1} s); {} requests at {rps:.0}/s for \
         {secs:.0} s: achieved {:.1} req/s, p50 {}, p90 {}, p99 {}, max {}, {errors} errors; \
         p99 goal <= {}: {}",
        seeding.as_secs_f64(),
        all.len(),
        all.len() as f64 / run.wall.as_secs_f64(),
        ms(quantile(&all, 0.50)),
        ms(quantile(&all, 0.90)),
        ms(p99),
        ms(all[all.len() - 1]),
        ms(GOAL_P99),
        if p99 <= GOAL_P99 { "met" } else { "MISSED" },
    );
    for kind in Kind::ALL {
        let mut xs: Vec<Duration> = run
            .samples
            .iter()
            .filter(|s| s.kind == kind)
            .map(|s| s.latency)
            .collect();
        if xs.is_empty() {
            continue;
        }
        xs.sort_unstable();
        println!(
            "list_api/{store}:   {:<10} {:>5} requests: p50 {}, p99 {}, max {}",
            kind.name(),
            xs.len(),
            ms(quantile(&xs, 0.50)),
            ms(quantile(&xs, 0.99)),
            ms(xs[xs.len() - 1]),
        );
    }
    println!(
        "list_api/{store}:   the sender ran at most {} behind schedule",
        ms(run.worst_send_lag)
    );
    if let Some(e) = &run.first_error {
        println!("list_api/{store}:   first error: {e}");
    }
}

/// Serves `store` on a free port, checks it, loads it from a runtime of
/// its own on another thread, and reports.
async fn bench(name: &str, store: Arc<dyn Store>, builds: u64, seeding: Duration) {
    let state = AppState::new(
        store,
        Arc::new(MemoryStore::new()),
        Arc::new(MemoryLedger::default()),
        ServerConfig::default(),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("binding 127.0.0.1:0");
    let base = format!("http://{}", listener.local_addr().expect("an address"));
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(albs_server::serve(listener, state, async move {
        let _ = stopped.await;
    }));
    check(&Client::new(&base, None), builds).await;
    let rps: f64 = env_num("ALBS_BENCH_RPS", 500.0);
    let secs: f64 = env_num("ALBS_BENCH_SECS", 10.0);
    assert!(
        rps > 0.0 && secs > 0.0,
        "ALBS_BENCH_RPS and ALBS_BENCH_SECS must be positive"
    );
    // The load runs on its own runtime so that the server's work does not
    // delay the sender's timer.
    let run = tokio::task::spawn_blocking(move || {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a tokio runtime for the load")
            .block_on(drive(base, builds, rps, secs))
    })
    .await
    .expect("the load thread");
    report(name, builds, seeding, rps, secs, &run);
    let _ = stop.send(());
    server
        .await
        .expect("the server task")
        .expect("the server ends cleanly");
}

/// Drops the bench's schema once the server's connection tasks have let
/// go of the store, or through the pool if they hold on to it for long.
async fn drop_schema(mut pg: Arc<PgStore>, schema: &str) {
    for _ in 0..100 {
        match Arc::try_unwrap(pg) {
            Ok(pg) => {
                pg.drop_schema().await.expect("dropping the bench schema");
                return;
            }
            Err(shared) => pg = shared,
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    sqlx::query(AssertSqlSafe(format!("DROP SCHEMA \"{schema}\" CASCADE")))
        .execute(pg.pool())
        .await
        .expect("dropping the bench schema");
}

fn main() {
    let builds: u64 = env_num("ALBS_BENCH_BUILDS", 100_000);
    assert!(builds >= 1000, "ALBS_BENCH_BUILDS must be at least 1000");
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
                "list_api/postgres: skipped because neither ALBS_BENCH_DATABASE_URL nor \
                 ALBS_TEST_DATABASE_URL is set"
            ),
            Some(url) => {
                let schema = format!("albs_bench_list_api_{}", std::process::id());
                let pg = PgStore::connect_schema(&url, &schema)
                    .await
                    .expect("connecting to PostgreSQL");
                let started = std::time::Instant::now();
                put_bundled_platforms(&pg).await;
                seed_postgres(&pg, builds).await;
                let seeding = started.elapsed();
                let pg = Arc::new(pg);
                bench("postgres", pg.clone(), builds, seeding).await;
                drop_schema(pg, &schema).await;
            }
        }
        let dir = tempfile::tempdir().expect("a temporary directory");
        let sqlite = SqliteStore::open(&dir.path().join("bench.db"))
            .await
            .expect("opening SQLite");
        let started = std::time::Instant::now();
        put_bundled_platforms(&sqlite).await;
        seed_sqlite(&sqlite, builds).await;
        let seeding = started.elapsed();
        bench("sqlite", Arc::new(sqlite.clone()), builds, seeding).await;
        sqlite.close().await;
    });
}

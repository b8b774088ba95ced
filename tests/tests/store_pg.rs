//! The PostgreSQL store under concurrency: many nodes claiming at once never
//! get the same task, and claims, completions and cancels running together
//! neither deadlock nor leave a build's state column wrong. Each test works
//! in its own schema of `ALBS_TEST_DATABASE_URL` and skips when it is unset.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use albs_core::api::{BuildQuery, TaskResult};
use albs_core::conformance::{T0, add_node, queue_src_tasks};
use albs_core::db::{PgStore, Store};
use albs_core::model::TaskState;

const LEASE: Duration = Duration::from_secs(600);

/// The test database, or `None` (and a line saying so) when unset.
fn database_url(test: &str) -> Option<String> {
    let url = std::env::var("ALBS_TEST_DATABASE_URL").ok();
    if url.is_none() {
        eprintln!("{test}: skipped because ALBS_TEST_DATABASE_URL is not set");
    }
    url
}

/// A schema no other test run uses.
fn fresh_schema(test: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!("albs_{test}_{}_{nanos}", std::process::id())
}

fn done(state: TaskState) -> TaskResult {
    TaskResult {
        state,
        reason: None,
        artifacts: vec![],
        noarch: false,
        commit: None,
        build_requires: vec![],
        produces: vec![],
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn fifty_nodes_drain_5000_tasks_and_none_is_received_twice() {
    let Some(url) = database_url("store_pg::fifty_nodes_drain_5000_tasks") else {
        return;
    };
    let store = Arc::new(
        PgStore::connect_with(&url, Some(&fresh_schema("drain")), 40)
            .await
            .unwrap(),
    );
    // 5,000 src tasks: 100 builds of 50 refs, one owner.
    let queued = queue_src_tasks(store.as_ref(), "drain", 100, 50).await;
    assert_eq!(queued.len(), 5000);
    let mut nodes = Vec::new();
    for i in 0..50 {
        nodes.push(add_node(store.as_ref(), &format!("drain-{i}"), &["x86_64"], &[], &[]).await);
    }
    let start = Instant::now();
    let mut loops = Vec::new();
    for node in nodes {
        let store = store.clone();
        loops.push(tokio::spawn(async move {
            let mut got = Vec::new();
            while let Some(c) = store.claim(&node, T0, LEASE).await.unwrap() {
                assert_eq!(c.task.node.as_deref(), Some(node.name.as_str()));
                got.push(c.task.id);
                // Every other task is completed at once, so claims run
                // beside completions that lock the same builds.
                if got.len() % 2 == 0 {
                    store
                        .complete(node.id, c.task.id, &done(TaskState::Succeeded), T0)
                        .await
                        .unwrap();
                }
            }
            got
        }));
    }
    let mut all = Vec::new();
    let mut per_node = Vec::new();
    for l in loops {
        let got = l.await.unwrap();
        per_node.push(got.len());
        all.extend(got);
    }
    let took = start.elapsed();
    let distinct: HashSet<u64> = all.iter().copied().collect();
    assert_eq!(
        distinct.len(),
        all.len(),
        "{} tasks were received more than once",
        all.len() - distinct.len()
    );
    assert_eq!(
        distinct,
        queued.iter().copied().collect::<HashSet<u64>>(),
        "every queued task is received"
    );
    eprintln!(
        "50 nodes drained 5000 tasks in {took:.2?} ({:.0} claims/s); tasks per node {}..{}",
        5000.0 / took.as_secs_f64(),
        per_node.iter().min().unwrap(),
        per_node.iter().max().unwrap()
    );
    let idle = add_node(store.as_ref(), "drain-late", &["x86_64"], &[], &[]).await;
    assert!(store.claim(&idle, T0, LEASE).await.unwrap().is_none());
    let running = store
        .list_builds(&BuildQuery {
            status: Some(TaskState::Running),
            limit: Some(500),
            ..BuildQuery::default()
        })
        .await
        .unwrap();
    assert_eq!(running.builds.len(), 100, "half the tasks still run");
    Arc::into_inner(store).unwrap().drop_schema().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn claims_completions_and_cancels_together_keep_builds_consistent() {
    let Some(url) = database_url("store_pg::claims_completions_and_cancels") else {
        return;
    };
    let store = Arc::new(
        PgStore::connect_with(&url, Some(&fresh_schema("mixed")), 30)
            .await
            .unwrap(),
    );
    let queued = queue_src_tasks(store.as_ref(), "mixed", 20, 40).await;
    let builds: Vec<u64> = {
        let page = store
            .list_builds(&BuildQuery {
                owner: Some("mixed".into()),
                ..BuildQuery::default()
            })
            .await
            .unwrap();
        page.builds.iter().map(|b| b.id).collect()
    };
    assert_eq!((queued.len(), builds.len()), (800, 20));
    let mut loops = Vec::new();
    for i in 0..20 {
        let node = add_node(store.as_ref(), &format!("mixed-{i}"), &["x86_64"], &[], &[]).await;
        let store = store.clone();
        loops.push(tokio::spawn(async move {
            let mut n = 0;
            while let Some(c) = store.claim(&node, T0, LEASE).await.unwrap() {
                let hb = store
                    .heartbeat(node.id, c.task.id, T0, LEASE)
                    .await
                    .unwrap();
                let end = if hb.cancel {
                    TaskState::Cancelled
                } else {
                    TaskState::Succeeded
                };
                store
                    .complete(node.id, c.task.id, &done(end), T0)
                    .await
                    .unwrap();
                n += 1;
            }
            n
        }));
    }
    // Meanwhile every other build is cancelled, one after another.
    let canceller = {
        let store = store.clone();
        let builds = builds.clone();
        tokio::spawn(async move {
            for b in builds.iter().step_by(2) {
                store.cancel_build(*b, T0).await.unwrap();
                tokio::task::yield_now().await;
            }
        })
    };
    let mut claimed = 0;
    for l in loops {
        claimed += l.await.unwrap();
    }
    canceller.await.unwrap();
    assert!(claimed > 0 && claimed <= 800);
    for id in builds {
        let b = store.build(id).await.unwrap().unwrap();
        assert!(
            b.tasks.iter().all(|t| t.state.is_final()),
            "build {id} has tasks left: {:?}",
            b.tasks
                .iter()
                .filter(|t| !t.state.is_final())
                .collect::<Vec<_>>()
        );
        let want = b.state();
        let listed = store
            .list_builds(&BuildQuery {
                owner: Some("mixed".into()),
                status: Some(want),
                limit: Some(500),
                ..BuildQuery::default()
            })
            .await
            .unwrap();
        assert!(
            listed.builds.iter().any(|r| r.id == id && r.state == want),
            "build {id} is {want} by its tasks and in its state column"
        );
    }
    Arc::into_inner(store).unwrap().drop_schema().await.unwrap();
}

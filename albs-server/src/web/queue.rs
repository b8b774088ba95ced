//! `GET /queue`: every task that waits, in the order of the queue, and why
//! it waits: the tasks it depends on, a backoff after a lost lease, no node
//! for its arch, every node of its arch busy, or other builds' tasks served
//! first (nodes take the queues of products and owners in turn).

use std::collections::BTreeMap;

use albs_core::db::{Node, PendingTask, TaskCount};
use albs_core::model::TaskState;
use axum::extract::State;
use serde::Serialize;
use time::OffsetDateTime;

use super::{PENDING_SHOWN, Page, WebError, fmt_time, render, user_name};
use crate::extract::Reader;
use crate::{AppState, now};

/// One waiting task.
#[derive(Serialize)]
pub(super) struct PendingRow {
    pub(super) id: u64,
    pub(super) build_id: u64,
    pub(super) arch: String,
    pub(super) package: Option<String>,
    pub(super) product: String,
    /// `dependencies`, `backoff`, `no-node`, `busy` or `fair-share`.
    pub(super) kind: &'static str,
    pub(super) why: String,
}

/// Why each of `pending` (oldest first) waits, given the nodes and the
/// number of running tasks per arch.
pub(super) fn explain(
    pending: Vec<PendingTask>,
    nodes: &[Node],
    counts: &[TaskCount],
    t: OffsetDateTime,
) -> Vec<PendingRow> {
    let serves = |n: &Node, arch: Option<&str>| {
        arch.is_none_or(|a| n.arches.iter().any(|na| na.as_str() == a || a == "noarch"))
    };
    let mut running: BTreeMap<Option<String>, u64> = BTreeMap::new();
    for c in counts.iter().filter(|c| c.state == TaskState::Running) {
        *running.entry(c.arch.clone()).or_default() += c.count;
    }
    // Ready tasks of the same arch seen so far: ahead in the queue.
    let mut ahead: BTreeMap<Option<String>, u64> = BTreeMap::new();
    let mut rows = Vec::with_capacity(pending.len());
    for p in pending {
        let arch = p.arch.as_deref();
        let capable: Vec<&Node> = nodes.iter().filter(|n| serves(n, arch)).collect();
        let capacity: u64 = capable.iter().map(|n| u64::from(n.capacity)).sum();
        let busy = running.get(&p.arch).copied().unwrap_or(0);
        let before = ahead.get(&p.arch).copied().unwrap_or(0);
        let (kind, why) = if !p.ready {
            (
                "dependencies",
                "waiting for the tasks it depends on to succeed".to_owned(),
            )
        } else if p.not_before > t {
            (
                "backoff",
                format!(
                    "backing off after a lost lease until {}",
                    fmt_time(p.not_before)
                ),
            )
        } else if nodes.is_empty() {
            ("no-node", "no node is registered".to_owned())
        } else if capable.is_empty() {
            (
                "no-node",
                format!("no node builds {}", arch.unwrap_or("sources")),
            )
        } else if busy >= capacity {
            (
                "busy",
                format!(
                    "every node for {} is busy ({busy} running, capacity {capacity})",
                    arch.unwrap_or("sources")
                ),
            )
        } else if before > 0 {
            (
                "fair-share",
                format!(
                    "{before} ready task(s) for {} ahead; nodes serve the queues of products \
                     and owners in turn (fair share)",
                    arch.unwrap_or("sources")
                ),
            )
        } else {
            (
                "fair-share",
                "next for a free node (with the build's labels)".to_owned(),
            )
        };
        if p.ready && p.not_before <= t {
            *ahead.entry(p.arch.clone()).or_default() += 1;
        }
        rows.push(PendingRow {
            id: p.id,
            build_id: p.build_id,
            arch: p.arch.unwrap_or_else(|| "src".into()),
            package: p.package,
            product: p.product,
            kind,
            why,
        });
    }
    rows
}

/// The waiting tasks `reader` may see, explained.
pub(super) async fn visible_rows(
    state: &AppState,
    reader: Option<&albs_core::db::User>,
    nodes: &[Node],
) -> Result<Vec<PendingRow>, WebError> {
    let hidden = state.store.hidden_products(reader).await?;
    let pending = state.store.pending_tasks(PENDING_SHOWN).await?;
    let counts = state.store.task_counts().await?;
    let rows = explain(pending, nodes, &counts, now());
    Ok(rows
        .into_iter()
        .filter(|r| !hidden.contains(&r.product))
        .collect())
}

/// `GET /queue`.
pub(super) async fn queue_page(
    State(state): State<AppState>,
    Reader(reader): Reader,
) -> Result<Page, WebError> {
    let nodes = state.store.nodes().await?;
    let rows = visible_rows(&state, reader.as_ref(), &nodes).await?;
    let mut summary: BTreeMap<&str, u64> = BTreeMap::new();
    for r in &rows {
        *summary.entry(r.kind).or_default() += 1;
    }
    let summary: Vec<_> = summary
        .into_iter()
        .map(|(kind, count)| minijinja::context! { kind => kind, count => count })
        .collect();
    Ok(render(
        "queue.html",
        minijinja::context! {
            user => user_name(&reader),
            pending => rows,
            summary => summary,
            nodes => nodes.len(),
        },
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use albs_core::model::Arch;

    fn task(id: u64, arch: &str, ready: bool) -> PendingTask {
        PendingTask {
            id,
            build_id: 1,
            arch: Some(arch.into()),
            package: Some("p".into()),
            ready,
            not_before: OffsetDateTime::UNIX_EPOCH,
            product: String::new(),
        }
    }

    #[test]
    fn each_reason_is_told() {
        let t = now();
        let node = Node {
            id: 1,
            name: "n".into(),
            arches: vec![Arch::try_from("x86_64".to_owned()).unwrap()],
            labels: vec![],
            capacity: 1,
            excluded_packages: vec![],
            last_seen: None,
        };
        let mut backoff = task(4, "x86_64", true);
        backoff.not_before = t + time::Duration::hours(1);
        let pending = vec![
            task(1, "x86_64", false),
            task(2, "x86_64", true),
            task(3, "x86_64", true),
            backoff,
            task(5, "s390x", true),
        ];
        let rows = explain(pending.clone(), std::slice::from_ref(&node), &[], t);
        let kinds: Vec<&str> = rows.iter().map(|r| r.kind).collect();
        assert_eq!(
            kinds,
            [
                "dependencies",
                "fair-share",
                "fair-share",
                "backoff",
                "no-node"
            ]
        );
        assert!(
            rows[2].why.contains("1 ready task(s) for x86_64 ahead"),
            "{}",
            rows[2].why
        );
        assert!(rows[4].why.contains("no node builds s390x"));
        let full = [TaskCount {
            state: TaskState::Running,
            arch: Some("x86_64".into()),
            count: 1,
        }];
        let rows = explain(pending.clone(), std::slice::from_ref(&node), &full, t);
        assert_eq!(rows[1].kind, "busy");
        assert!(rows[1].why.contains("capacity 1"), "{}", rows[1].why);
        let rows = explain(pending, &[], &[], t);
        assert_eq!(rows[1].why, "no node is registered");
    }
}

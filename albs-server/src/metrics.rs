//! `GET /metrics`: the state of the queue, the tasks, the builds and the
//! nodes in the Prometheus text exposition format (version 0.0.4).
//!
//! Counts only: no build, owner or product name appears, so the page is
//! public like the build feed. Tasks carry no start and end times, so build
//! durations are not exported; builds are counted by state instead.

use std::collections::BTreeMap;
use std::fmt::Write;

use axum::extract::State;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};

use crate::error::AppError;
use crate::{AppState, now};

/// Escapes a label value (backslash, double quote, newline).
fn label(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// `GET /metrics`.
pub(crate) async fn metrics(State(state): State<AppState>) -> Result<Response, AppError> {
    let counts = state.store.task_counts().await?;
    let builds = state.store.build_counts().await?;
    let nodes = state.store.nodes().await?;
    let t = now();

    // Every arch a node builds is listed, with 0 when nothing waits.
    let mut queue: BTreeMap<String, u64> = BTreeMap::new();
    for n in &nodes {
        for a in &n.arches {
            queue.entry(a.as_str().to_owned()).or_default();
        }
    }
    for c in &counts {
        if c.state == albs_core::model::TaskState::Pending {
            *queue
                .entry(c.arch.clone().unwrap_or_else(|| "src".into()))
                .or_default() += c.count;
        }
    }

    let mut out = String::new();
    let _ = writeln!(
        out,
        "# HELP albs_queue_length Pending tasks per arch (src for SRPM tasks)."
    );
    let _ = writeln!(out, "# TYPE albs_queue_length gauge");
    for (arch, n) in &queue {
        let _ = writeln!(out, "albs_queue_length{{arch=\"{}\"}} {n}", label(arch));
    }
    let _ = writeln!(out, "# HELP albs_tasks Tasks by state and arch.");
    let _ = writeln!(out, "# TYPE albs_tasks gauge");
    for c in &counts {
        let _ = writeln!(
            out,
            "albs_tasks{{state=\"{}\",arch=\"{}\"}} {}",
            c.state,
            label(c.arch.as_deref().unwrap_or("src")),
            c.count
        );
    }
    let _ = writeln!(out, "# HELP albs_builds Builds by state.");
    let _ = writeln!(out, "# TYPE albs_builds gauge");
    for (s, n) in &builds {
        let _ = writeln!(out, "albs_builds{{state=\"{s}\"}} {n}");
    }
    let _ = writeln!(out, "# HELP albs_nodes Registered build nodes.");
    let _ = writeln!(out, "# TYPE albs_nodes gauge");
    let _ = writeln!(out, "albs_nodes {}", nodes.len());
    let _ = writeln!(
        out,
        "# HELP albs_node_heartbeat_age_seconds Seconds since each node's last claim or heartbeat."
    );
    let _ = writeln!(out, "# TYPE albs_node_heartbeat_age_seconds gauge");
    for n in &nodes {
        if let Some(seen) = n.last_seen {
            let age = (t - seen).as_seconds_f64().max(0.0);
            let _ = writeln!(
                out,
                "albs_node_heartbeat_age_seconds{{node=\"{}\"}} {age:.3}",
                label(&n.name)
            );
        }
    }
    let mut resp = out.into_response();
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
    );
    Ok(resp)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_values_are_escaped() {
        assert_eq!(label("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
    }
}

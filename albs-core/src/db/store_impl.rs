// The `Store` implementation both SQL backends share, included with
// `include!` by `sqlite.rs` and `postgres.rs` (one source, two
// instantiations). The including module provides:
// - `Db` (the sqlx database) and `Conn` (its connection type);
// - `This` (the store type) with `write()` (a write transaction,
//   `WriteTx`, serialised on SQLite) and `read()` (a consistent read);
// - `lock_build(conn, build, shared)`: claims take a build's lock shared,
//   recomputing its state takes it alone (a no-op where writes are
//   serialised anyway);
// - the SQL fragments `for_update!()` (row lock of a plain select),
//   `skip_locked!()` (row lock of the claim pick, skipping locked rows) and
//   `next_claim_seq!()` (the next number of the round-robin clock).
//
// The SQL is the common dialect of SQLite and PostgreSQL: `$n` binds,
// `RETURNING`, `ON CONFLICT`, partial indexes, recursive CTEs. On
// PostgreSQL every transaction takes its locks in one order (task rows, by
// id, then the build's lock) and claims never wait for a task row (SKIP
// LOCKED), so concurrent claims, completions and cancels never deadlock.

use std::collections::{BTreeSet, HashMap};
use std::time::Duration;

use async_trait::async_trait;
use sqlx::QueryBuilder;
use time::OffsetDateTime;

use super::common::{
    DEFAULT_LIMIT, LOG_BATCH, MAX_LIMIT, api_u32, api_u64, backend, build_state, conflict, db_id,
    dependent_reason, duration_micros, from_json, from_micros, kind_str, micros, missing,
    parse_filter_time, parse_kind, parse_state, state_str, to_json,
};
use super::{
    Claim, DbError, Lease, LogChunk, NewBuild, NewNode, Node, RetryPolicy, Store, TokenLookup, User,
};
use crate::api::{BuildPage, BuildQuery, BuildSummary, TaskResult};
use crate::evr::Nevra;
use crate::hash::Sha256;
use crate::model::{
    Arch, Artifact, ArtifactKind, Build, BuildOptions, BuildTask, TaskKind, TaskState,
};
use crate::platform::Platform;
use crate::source::SourceRef;

/// A task row as the API shows it (without dependencies and artifacts).
#[derive(sqlx::FromRow)]
struct TaskRow {
    id: i64,
    build_id: i64,
    ref_index: i64,
    arch: Option<String>,
    state: String,
    attempts: i64,
    reason: Option<String>,
    package: Option<String>,
    node_name: Option<String>,
}

/// An artifact row.
#[derive(sqlx::FromRow)]
struct ArtifactRow {
    task_id: i64,
    sha256: Vec<u8>,
    size: i64,
    name: String,
    kind: String,
    nevra: Option<String>,
}

/// A build row.
#[derive(sqlx::FromRow)]
struct BuildRow {
    id: i64,
    platform: String,
    arches: String,
    refs: String,
    owner: String,
    options: String,
    created: i64,
}

/// A node row.
#[derive(sqlx::FromRow)]
struct NodeRow {
    id: i64,
    name: String,
    arches: String,
    labels: String,
    capacity: i64,
    excluded_packages: String,
    last_seen: Option<i64>,
}

/// What the completion and expiry paths need to know about the task they
/// end.
#[derive(sqlx::FromRow)]
struct Holding {
    id: i64,
    build_id: i64,
    ref_index: i64,
    arch: Option<String>,
    state: String,
    node_id: Option<i64>,
    node_name: Option<String>,
    attempts: i64,
    cancel_requested: bool,
}

/// The columns of [`Holding`].
macro_rules! holding_cols {
    () => {
        "id, build_id, ref_index, arch, state, node_id, node_name, attempts, cancel_requested"
    };
}

/// A task that just ended: what its dependents need.
struct Ended {
    id: i64,
    build_id: i64,
    ref_index: i64,
    src: bool,
    state: TaskState,
    reason: Option<String>,
    node_name: Option<String>,
    noarch: bool,
    srpm_name: Option<String>,
}

fn to_artifact(r: ArtifactRow) -> Result<Artifact, DbError> {
    let sha256: [u8; 32] = r.sha256.as_slice().try_into().map_err(|_| {
        DbError::Backend(format!(
            "stored artifact digest has {} bytes, not 32",
            r.sha256.len()
        ))
    })?;
    let nevra = match r.nevra {
        Some(n) => Some(
            n.parse::<Nevra>()
                .map_err(|e| DbError::Backend(format!("stored NEVRA {n:?}: {e}")))?,
        ),
        None => None,
    };
    Ok(Artifact {
        sha256: Sha256(sha256),
        size: api_u64(r.size),
        name: r.name,
        kind: parse_kind(&r.kind)?,
        nevra,
    })
}

fn to_kind(arch: Option<String>) -> Result<TaskKind, DbError> {
    match arch {
        None => Ok(TaskKind::Src),
        Some(a) => a
            .parse::<Arch>()
            .map(TaskKind::Arch)
            .map_err(|e| DbError::Backend(format!("stored task arch: {e}"))),
    }
}

fn assemble(
    rows: Vec<TaskRow>,
    deps: Vec<(i64, i64)>,
    arts: Vec<ArtifactRow>,
) -> Result<Vec<BuildTask>, DbError> {
    let mut dep_map: HashMap<i64, Vec<u64>> = HashMap::new();
    for (task, on) in deps {
        dep_map.entry(task).or_default().push(api_u64(on));
    }
    let mut art_map: HashMap<i64, Vec<Artifact>> = HashMap::new();
    for a in arts {
        art_map.entry(a.task_id).or_default().push(to_artifact(a)?);
    }
    rows.into_iter()
        .map(|r| {
            Ok(BuildTask {
                id: api_u64(r.id),
                build_id: api_u64(r.build_id),
                ref_index: usize::try_from(r.ref_index).unwrap_or(usize::MAX),
                kind: to_kind(r.arch)?,
                state: parse_state(&r.state)?,
                depends_on: dep_map.remove(&r.id).unwrap_or_default(),
                attempts: api_u32(r.attempts),
                reason: r.reason,
                artifacts: art_map.remove(&r.id).unwrap_or_default(),
                package: r.package,
                node: r.node_name,
            })
        })
        .collect()
}

/// The tasks of a build, in creation order, with dependencies and artifacts.
async fn load_build_tasks(conn: &mut Conn, build_id: i64) -> Result<Vec<BuildTask>, DbError> {
    let rows: Vec<TaskRow> = sqlx::query_as(
        "SELECT id, build_id, ref_index, arch, state, attempts, reason, package, node_name \
         FROM tasks WHERE build_id = $1 ORDER BY id",
    )
    .bind(build_id)
    .fetch_all(&mut *conn)
    .await
    .map_err(backend)?;
    let deps: Vec<(i64, i64)> = sqlx::query_as(
        "SELECT d.task_id, d.depends_on FROM task_deps d JOIN tasks t ON t.id = d.task_id \
         WHERE t.build_id = $1 ORDER BY d.task_id, d.depends_on",
    )
    .bind(build_id)
    .fetch_all(&mut *conn)
    .await
    .map_err(backend)?;
    let arts: Vec<ArtifactRow> = sqlx::query_as(
        "SELECT a.task_id, a.sha256, a.size, a.name, a.kind, a.nevra \
         FROM artifacts a JOIN tasks t ON t.id = a.task_id WHERE t.build_id = $1 ORDER BY a.id",
    )
    .bind(build_id)
    .fetch_all(&mut *conn)
    .await
    .map_err(backend)?;
    assemble(rows, deps, arts)
}

/// One task with its dependencies and artifacts.
async fn load_task(conn: &mut Conn, task_id: i64) -> Result<BuildTask, DbError> {
    let rows: Vec<TaskRow> = sqlx::query_as(
        "SELECT id, build_id, ref_index, arch, state, attempts, reason, package, node_name \
         FROM tasks WHERE id = $1",
    )
    .bind(task_id)
    .fetch_all(&mut *conn)
    .await
    .map_err(backend)?;
    let deps: Vec<(i64, i64)> = sqlx::query_as(
        "SELECT task_id, depends_on FROM task_deps WHERE task_id = $1 ORDER BY depends_on",
    )
    .bind(task_id)
    .fetch_all(&mut *conn)
    .await
    .map_err(backend)?;
    let arts: Vec<ArtifactRow> = sqlx::query_as(
        "SELECT task_id, sha256, size, name, kind, nevra FROM artifacts \
         WHERE task_id = $1 ORDER BY id",
    )
    .bind(task_id)
    .fetch_all(&mut *conn)
    .await
    .map_err(backend)?;
    assemble(rows, deps, arts)?
        .pop()
        .ok_or_else(|| DbError::NotFound {
            what: "task",
            id: task_id.to_string(),
        })
}

/// A whole build.
async fn load_build(conn: &mut Conn, id: i64) -> Result<Option<Build>, DbError> {
    let row: Option<BuildRow> = sqlx::query_as(
        "SELECT id, platform, arches, refs, owner, options, created FROM builds WHERE id = $1",
    )
    .bind(id)
    .fetch_optional(&mut *conn)
    .await
    .map_err(backend)?;
    let Some(b) = row else {
        return Ok(None);
    };
    let tasks = load_build_tasks(conn, id).await?;
    let signed = sign_build_signature(conn, id).await?;
    Ok(Some(Build {
        id: api_u64(b.id),
        platform: b.platform,
        arches: from_json(&b.arches, "build arches")?,
        refs: from_json(&b.refs, "build refs")?,
        owner: b.owner,
        created: from_micros(b.created)?,
        options: from_json::<BuildOptions>(&b.options, "build options")?,
        tasks,
        signed,
    }))
}

fn to_node(r: NodeRow) -> Result<Node, DbError> {
    Ok(Node {
        id: api_u64(r.id),
        name: r.name,
        arches: from_json(&r.arches, "node arches")?,
        labels: from_json(&r.labels, "node labels")?,
        capacity: api_u32(r.capacity),
        excluded_packages: from_json(&r.excluded_packages, "node exclusions")?,
        last_seen: r.last_seen.map(from_micros).transpose()?,
    })
}

/// Locks the task rows of a build in id order (PostgreSQL) and says whether
/// the build exists; returns the ids and states.
async fn lock_build_tasks(conn: &mut Conn, build_id: i64) -> Result<Vec<(i64, String)>, DbError> {
    let exists: Option<i64> = sqlx::query_scalar("SELECT id FROM builds WHERE id = $1")
        .bind(build_id)
        .fetch_optional(&mut *conn)
        .await
        .map_err(backend)?;
    if exists.is_none() {
        return Err(DbError::NotFound {
            what: "build",
            id: build_id.to_string(),
        });
    }
    sqlx::query_as(concat!(
        "SELECT id, state FROM tasks WHERE build_id = $1 ORDER BY id",
        for_update!()
    ))
    .bind(build_id)
    .fetch_all(&mut *conn)
    .await
    .map_err(backend)
}

/// Recomputes the `state` column of a build from its tasks. Takes the
/// build's lock alone first, so the tasks it reads include every claim and
/// every other change made in the build by transactions that held the lock
/// before (two completions cannot both write a state computed without the
/// other's change, nor a completion miss a claim in flight).
async fn refresh_build_state(conn: &mut Conn, build_id: i64) -> Result<(), DbError> {
    lock_build(conn, build_id, false).await?;
    let states: Vec<String> = sqlx::query_scalar("SELECT state FROM tasks WHERE build_id = $1")
        .bind(build_id)
        .fetch_all(&mut *conn)
        .await
        .map_err(backend)?;
    let states = states
        .iter()
        .map(|s| parse_state(s))
        .collect::<Result<Vec<_>, _>>()?;
    sqlx::query("UPDATE builds SET state = $1 WHERE id = $2 AND state <> $1")
        .bind(state_str(build_state(states)))
        .bind(build_id)
        .execute(&mut *conn)
        .await
        .map_err(backend)?;
    Ok(())
}

/// Pending tasks that wait for `task_id`, lowest id first.
async fn pending_dependents(conn: &mut Conn, task_id: i64) -> Result<Vec<(i64, bool)>, DbError> {
    sqlx::query_as(
        "SELECT t.id, t.arch IS NULL FROM task_deps d JOIN tasks t ON t.id = d.task_id \
         WHERE d.depends_on = $1 AND t.state = 'pending' ORDER BY t.id",
    )
    .bind(task_id)
    .fetch_all(&mut *conn)
    .await
    .map_err(backend)
}

/// What follows from a task ending: the package name from the SRPM, noarch
/// mirrors, dependents becoming ready, or failing with the reason.
async fn settle(conn: &mut Conn, ended: &Ended) -> Result<(), DbError> {
    if ended.state == TaskState::Succeeded {
        if ended.src {
            if let Some(name) = &ended.srpm_name {
                sqlx::query("UPDATE tasks SET package = $1 WHERE build_id = $2 AND ref_index = $3")
                    .bind(name)
                    .bind(ended.build_id)
                    .bind(ended.ref_index)
                    .execute(&mut *conn)
                    .await
                    .map_err(backend)?;
            }
            if ended.noarch {
                // The lowest arch task of the ref builds; the others mirror
                // its packages.
                let arch_tasks: Vec<i64> = sqlx::query_scalar(
                    "SELECT id FROM tasks WHERE build_id = $1 AND ref_index = $2 \
                     AND arch IS NOT NULL AND state = 'pending' ORDER BY id",
                )
                .bind(ended.build_id)
                .bind(ended.ref_index)
                .fetch_all(&mut *conn)
                .await
                .map_err(backend)?;
                if let Some((builder, mirrors)) = arch_tasks.split_first() {
                    for m in mirrors {
                        sqlx::query("UPDATE tasks SET mirror_of = $1, ready = FALSE WHERE id = $2")
                            .bind(builder)
                            .bind(m)
                            .execute(&mut *conn)
                            .await
                            .map_err(backend)?;
                        sqlx::query("INSERT INTO task_deps (task_id, depends_on) VALUES ($1, $2)")
                            .bind(m)
                            .bind(builder)
                            .execute(&mut *conn)
                            .await
                            .map_err(backend)?;
                    }
                }
            }
        }
        let mirrors: Vec<i64> = sqlx::query_scalar(
            "SELECT id FROM tasks WHERE mirror_of = $1 AND state = 'pending' ORDER BY id",
        )
        .bind(ended.id)
        .fetch_all(&mut *conn)
        .await
        .map_err(backend)?;
        for m in mirrors {
            sqlx::query(
                "UPDATE tasks SET state = 'succeeded', reason = NULL, node_name = $1 WHERE id = $2",
            )
            .bind(&ended.node_name)
            .bind(m)
            .execute(&mut *conn)
            .await
            .map_err(backend)?;
            sqlx::query(
                "INSERT INTO artifacts (task_id, sha256, size, name, kind, nevra) \
                 SELECT $1, sha256, size, name, kind, nevra FROM artifacts \
                 WHERE task_id = $2 ORDER BY id",
            )
            .bind(m)
            .bind(ended.id)
            .execute(&mut *conn)
            .await
            .map_err(backend)?;
        }
        if ended.src && dependency_ordered(conn, ended.build_id).await? {
            order_arch_tasks(conn, ended.build_id).await?;
        }
        mark_ready(conn, ended.build_id).await?;
        return Ok(());
    }
    let ordered = ended.src && dependency_ordered(conn, ended.build_id).await?;
    if ordered {
        // Other refs' arch tasks waited for this SRPM only to learn the
        // order; they wait no more.
        sqlx::query(
            "DELETE FROM task_deps WHERE depends_on = $1 AND task_id IN \
             (SELECT id FROM tasks WHERE build_id = $2 AND ref_index <> $3)",
        )
        .bind(ended.id)
        .bind(ended.build_id)
        .bind(ended.ref_index)
        .execute(&mut *conn)
        .await
        .map_err(backend)?;
    }
    fail_dependents(conn, ended).await?;
    if ordered {
        order_arch_tasks(conn, ended.build_id).await?;
        mark_ready(conn, ended.build_id).await?;
    }
    Ok(())
}

/// Whether the build was asked for in dependency order.
async fn dependency_ordered(conn: &mut Conn, build_id: i64) -> Result<bool, DbError> {
    let options: String = sqlx::query_scalar("SELECT options FROM builds WHERE id = $1")
        .bind(build_id)
        .fetch_one(&mut *conn)
        .await
        .map_err(backend)?;
    Ok(from_json::<BuildOptions>(&options, "build options")?.dependency_order)
}

/// Marks ready every pending task of the build (noarch mirrors aside) whose
/// dependencies all succeeded.
async fn mark_ready(conn: &mut Conn, build_id: i64) -> Result<(), DbError> {
    sqlx::query(
        "UPDATE tasks SET ready = TRUE WHERE build_id = $1 AND state = 'pending' \
         AND NOT ready AND mirror_of IS NULL \
         AND NOT EXISTS (SELECT 1 FROM task_deps d JOIN tasks dt ON dt.id = d.depends_on \
                         WHERE d.task_id = tasks.id AND dt.state <> 'succeeded')",
    )
    .bind(build_id)
    .execute(&mut *conn)
    .await
    .map_err(backend)?;
    Ok(())
}

/// A src task's ref, state and what its SRPM needs and produces.
#[derive(sqlx::FromRow)]
struct SrcOrderRow {
    ref_index: i64,
    state: String,
    build_requires: Option<String>,
    produces: Option<String>,
}

/// A JSON list column; NULL is empty.
fn json_list(col: Option<&str>, what: &str) -> Result<Vec<String>, DbError> {
    Ok(col
        .map(|t| from_json::<Vec<String>>(t, what))
        .transpose()?
        .unwrap_or_default())
}

/// In a build in dependency order, once every src task has ended: makes the
/// arch tasks of each ref wait for the arch tasks (same arch) of the refs
/// that produce what it build-requires. Refs in one build-requires cycle
/// do not wait for each other; refs whose SRPM failed take no part.
async fn order_arch_tasks(conn: &mut Conn, build_id: i64) -> Result<(), DbError> {
    let srcs: Vec<SrcOrderRow> = sqlx::query_as(
        "SELECT ref_index, state, build_requires, produces FROM tasks \
         WHERE build_id = $1 AND arch IS NULL ORDER BY ref_index",
    )
    .bind(build_id)
    .fetch_all(&mut *conn)
    .await
    .map_err(backend)?;
    let mut inputs = Vec::with_capacity(srcs.len());
    for s in &srcs {
        let state = parse_state(&s.state)?;
        if !state.is_final() {
            return Ok(());
        }
        if state == TaskState::Succeeded {
            inputs.push(crate::solve::order::OrderInput {
                name: s.ref_index.to_string(),
                build_requires: json_list(s.build_requires.as_deref(), "task build requires")?,
                produces: json_list(s.produces.as_deref(), "task produces")?,
            });
        }
    }
    // An order that cannot be computed (a BuildRequires rpm would not
    // parse) leaves the refs unordered rather than failing the completion.
    let Ok(order) = crate::solve::order::build_order(&inputs) else {
        return Ok(());
    };
    let cycle: HashMap<&str, Option<usize>> = order
        .steps
        .iter()
        .map(|s| (s.name.as_str(), s.cycle))
        .collect();
    let mut edges = BTreeSet::new();
    for (needs, provider, _) in &order.edges {
        let same_cycle = matches!(
            (cycle.get(needs.as_str()), cycle.get(provider.as_str())),
            (Some(Some(a)), Some(Some(b))) if a == b
        );
        if needs != provider
            && !same_cycle
            && let (Ok(n), Ok(p)) = (needs.parse::<i64>(), provider.parse::<i64>())
        {
            edges.insert((n, p));
        }
    }
    for (needs, provider) in edges {
        sqlx::query(
            "INSERT INTO task_deps (task_id, depends_on) \
             SELECT n.id, p.id FROM tasks n JOIN tasks p \
               ON p.build_id = n.build_id AND p.arch = n.arch \
             WHERE n.build_id = $1 AND n.ref_index = $2 AND p.ref_index = $3 \
             ON CONFLICT DO NOTHING",
        )
        .bind(build_id)
        .bind(needs)
        .bind(provider)
        .execute(&mut *conn)
        .await
        .map_err(backend)?;
    }
    Ok(())
}

/// What waits for a task that ended badly cannot run: fails (or excludes)
/// its pending dependents, and theirs, with the reason.
async fn fail_dependents(conn: &mut Conn, ended: &Ended) -> Result<(), DbError> {
    let why = ended
        .reason
        .clone()
        .unwrap_or_else(|| state_str(ended.state).to_owned());
    let mut work = vec![(ended.id, ended.src, ended.state, why)];
    while let Some((id, src, state, why)) = work.pop() {
        for (dep, _) in pending_dependents(conn, id).await? {
            let new = if state == TaskState::Excluded {
                TaskState::Excluded
            } else {
                TaskState::Failed
            };
            let reason = dependent_reason(src, id, state, &why);
            sqlx::query("UPDATE tasks SET state = $1, reason = $2, ready = FALSE WHERE id = $3")
                .bind(state_str(new))
                .bind(&reason)
                .bind(dep)
                .execute(&mut *conn)
                .await
                .map_err(backend)?;
            work.push((dep, false, new, reason));
        }
    }
    Ok(())
}

/// Queues with a task ready to run, the one served longest ago first. The
/// recursive part walks `tasks_ready` one queue at a time (a loose index
/// scan), so the cost follows the number of busy queues, not of tasks.
const ACTIVE_QUEUES: &str = "WITH RECURSIVE active (q) AS ( \
     SELECT MIN(queue_id) FROM tasks WHERE state = 'pending' AND ready \
     UNION ALL \
     SELECT (SELECT MIN(t.queue_id) FROM tasks t \
             WHERE t.state = 'pending' AND t.ready AND t.queue_id > a.q) \
     FROM active a WHERE a.q IS NOT NULL) \
   SELECT a.q FROM active a WHERE a.q IS NOT NULL \
   ORDER BY (SELECT COALESCE(MAX(s.claim_seq), 0) FROM tasks s WHERE s.queue_id = a.q), a.q";

/// Claims for `node` the first task of queue `queue_id` it can run now, in
/// one statement: the pick (skipping rows other claimers hold) and the
/// update to running under a lease until `until`.
async fn take(
    conn: &mut Conn,
    queue_id: i64,
    node: &Node,
    now: i64,
    until: i64,
) -> Result<Option<TaskRow>, DbError> {
    let mut q = QueryBuilder::<Db>::new("UPDATE tasks SET state = 'running', node_id = ");
    q.push_bind(db_id(node.id));
    q.push(", node_name = ");
    q.push_bind(node.name.clone());
    q.push(", lease_until = ");
    q.push_bind(until);
    q.push(", attempts = attempts + 1, cancel_requested = FALSE, claim_seq = ");
    q.push(next_claim_seq!());
    q.push(" WHERE id = (SELECT t.id FROM tasks t WHERE t.queue_id = ");
    q.push_bind(queue_id);
    q.push(" AND t.state = 'pending' AND t.ready AND t.mirror_of IS NULL AND t.not_before <= ");
    q.push_bind(now);
    q.push(
        " AND NOT EXISTS (SELECT 1 FROM task_deps d JOIN tasks dt ON dt.id = d.depends_on \
         WHERE d.task_id = t.id AND dt.state <> 'succeeded')",
    );
    if node.arches.is_empty() {
        q.push(" AND t.arch IS NULL");
    } else {
        q.push(" AND (t.arch IS NULL OR t.arch IN (");
        let mut list = q.separated(", ");
        for a in &node.arches {
            list.push_bind(a.as_str().to_owned());
        }
        q.push("))");
    }
    if !node.excluded_packages.is_empty() {
        q.push(" AND (t.package IS NULL OR t.package NOT IN (");
        let mut list = q.separated(", ");
        for p in &node.excluded_packages {
            list.push_bind(p.clone());
        }
        q.push("))");
    }
    q.push(" AND NOT EXISTS (SELECT 1 FROM build_labels bl WHERE bl.build_id = t.build_id");
    if !node.labels.is_empty() {
        q.push(" AND bl.label NOT IN (");
        let mut list = q.separated(", ");
        for l in &node.labels {
            list.push_bind(l.clone());
        }
        q.push(")");
    }
    q.push(") ORDER BY t.id LIMIT 1");
    q.push(skip_locked!());
    q.push(
        ") RETURNING id, build_id, ref_index, arch, state, attempts, reason, package, node_name",
    );
    q.build_query_as::<TaskRow>()
        .fetch_optional(&mut *conn)
        .await
        .map_err(|e| missing(e, "node", node.id))
}

/// Inserts a task's artifacts in order.
async fn insert_artifacts(conn: &mut Conn, task_id: i64, arts: &[Artifact]) -> Result<(), DbError> {
    for a in arts {
        sqlx::query(
            "INSERT INTO artifacts (task_id, sha256, size, name, kind, nevra) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(task_id)
        .bind(&a.sha256.0[..])
        .bind(i64::try_from(a.size).unwrap_or(i64::MAX))
        .bind(&a.name)
        .bind(kind_str(a.kind))
        .bind(a.nevra.as_ref().map(|n| n.to_string()))
        .execute(&mut *conn)
        .await
        .map_err(backend)?;
    }
    Ok(())
}

/// The `list_builds` query for `query` (after `prefix`, `EXPLAIN` in
/// tests), fetching one row more than the page to tell whether more exist,
/// and the page size. Each filter has its index: `builds (owner, id)`,
/// `(platform, id)`, `(state, id)`, `tasks (package, build_id)`; the id
/// order is the primary key's.
fn list_query(query: &BuildQuery, prefix: &str) -> Result<(QueryBuilder<Db>, u32), DbError> {
    let limit = query.limit.unwrap_or(DEFAULT_LIMIT).clamp(1, MAX_LIMIT);
    let since = query
        .since
        .as_deref()
        .map(|s| parse_filter_time(s, "since"))
        .transpose()?;
    let until = query
        .until
        .as_deref()
        .map(|s| parse_filter_time(s, "until"))
        .transpose()?;
    let mut q = QueryBuilder::<Db>::new(prefix);
    if let Some(package) = &query.package {
        // The builds of one package are few next to all builds: collect them
        // from the package index first, rather than letting the planner walk
        // every build from the newest down and probe the index for each.
        q.push(
            "WITH pkg AS MATERIALIZED (SELECT DISTINCT p.build_id FROM tasks p WHERE p.package = ",
        )
        .push_bind(package.clone())
        .push(") ");
    }
    q.push("SELECT b.id, b.platform, b.owner, b.state, b.created FROM builds b WHERE 1 = 1");
    if let Some(before) = query.before {
        q.push(" AND b.id < ").push_bind(db_id(before));
    }
    if let Some(owner) = &query.owner {
        q.push(" AND b.owner = ").push_bind(owner.clone());
    }
    if let Some(platform) = &query.platform {
        q.push(" AND b.platform = ").push_bind(platform.clone());
    }
    if let Some(status) = query.status {
        q.push(" AND b.state = ").push_bind(state_str(status));
    }
    if let Some(since) = since {
        q.push(" AND b.created >= ").push_bind(since);
    }
    if let Some(until) = until {
        q.push(" AND b.created < ").push_bind(until);
    }
    if query.package.is_some() {
        q.push(" AND b.id IN (SELECT build_id FROM pkg)");
    }
    q.push(" ORDER BY b.id DESC LIMIT ")
        .push_bind(i64::from(limit) + 1);
    Ok((q, limit))
}

/// Filters of [`check_list_at_scale`]: a name, the query, how many of
/// [`SCALE_FILL`]'s builds match, and the index its plan must use.
#[cfg(test)]
fn scale_queries() -> Vec<(&'static str, BuildQuery, usize, &'static str)> {
    let q = |f: fn(&mut BuildQuery)| {
        let mut q = BuildQuery {
            limit: Some(500),
            ..BuildQuery::default()
        };
        f(&mut q);
        q
    };
    vec![
        (
            "status",
            q(|q| q.status = Some(TaskState::Failed)),
            100,
            "builds_state",
        ),
        (
            "owner",
            q(|q| q.owner = Some("rare-owner".into())),
            10,
            "builds_owner",
        ),
        (
            "platform",
            q(|q| q.platform = Some("almalinux-8".into())),
            20,
            "builds_platform",
        ),
        (
            "package",
            q(|q| q.package = Some("rarepkg".into())),
            12,
            "tasks_package",
        ),
        (
            "time",
            q(|q| {
                q.since = Some("1970-01-01T00:16:40Z".into());
                q.until = Some("1970-01-01T00:18:20Z".into());
            }),
            100,
            "",
        ),
    ]
}

/// Checks `list_builds` over 100,000 builds made by `fill` (statements of
/// the backend's dialect that follow the rules in the comment of each
/// backend's test): every filter finds its builds, newest first, and its
/// plan (from `explain`, a prefix such as `EXPLAIN `) names its index.
#[cfg(test)]
async fn check_list_at_scale(s: &This, fill: &[&'static str], explain: &str) {
    let mut tx = s.write().await.unwrap();
    for sql in fill {
        sqlx::query(*sql).execute(tx.conn()).await.unwrap();
    }
    tx.finish(Ok(())).await.unwrap();
    let all = s.list_builds(&BuildQuery::default()).await.unwrap();
    assert_eq!(all.builds.len(), DEFAULT_LIMIT as usize);
    assert_eq!(all.builds[0].id, 100_000, "newest first");
    assert_eq!(all.next, Some(100_000 - u64::from(DEFAULT_LIMIT) + 1));
    let page2 = s
        .list_builds(&BuildQuery {
            before: all.next,
            ..BuildQuery::default()
        })
        .await
        .unwrap();
    assert_eq!(page2.builds[0].id, 100_000 - u64::from(DEFAULT_LIMIT));
    for (name, query, count, index) in scale_queries() {
        let started = std::time::Instant::now();
        let page = s.list_builds(&query).await.unwrap();
        let took = started.elapsed();
        assert_eq!(page.builds.len(), count, "{name} filter");
        assert!(page.builds.windows(2).all(|w| w[0].id > w[1].id));
        let (mut q, _) = list_query(&query, explain).unwrap();
        let rows = q.build().fetch_all(s.pool()).await.unwrap();
        let plan: Vec<String> = rows
            .iter()
            .map(|r| {
                use sqlx::Row;
                // SQLite: (id, parent, notused, detail); PostgreSQL: one text column.
                r.try_get::<String, _>(r.len() - 1).unwrap_or_default()
            })
            .collect();
        let plan = plan.join("\n");
        assert!(
            plan.contains(index),
            "the {name} filter uses index {index}; plan:\n{plan}"
        );
        eprintln!("list_builds by {name} over 100,000 builds: {took:.2?}");
    }
}

#[async_trait]
impl Store for This {
    async fn put_platform(&self, platform: &Platform) -> Result<(), DbError> {
        let mut tx = self.write().await?;
        let r: Result<_, DbError> = async {
            sqlx::query(
                "INSERT INTO platforms (name, body) VALUES ($1, $2) \
             ON CONFLICT (name) DO UPDATE SET body = excluded.body",
            )
            .bind(&platform.name)
            .bind(to_json(platform)?)
            .execute(tx.conn())
            .await
            .map_err(backend)?;
            Ok(())
        }
        .await;
        tx.finish(r).await
    }

    async fn platforms(&self) -> Result<Vec<Platform>, DbError> {
        let bodies: Vec<String> = sqlx::query_scalar("SELECT body FROM platforms ORDER BY name")
            .fetch_all(self.pool())
            .await
            .map_err(backend)?;
        bodies.iter().map(|b| from_json(b, "platform")).collect()
    }

    async fn platform(&self, name: &str) -> Result<Option<Platform>, DbError> {
        let body: Option<String> = sqlx::query_scalar("SELECT body FROM platforms WHERE name = $1")
            .bind(name)
            .fetch_optional(self.pool())
            .await
            .map_err(backend)?;
        body.map(|b| from_json(&b, "platform")).transpose()
    }

    async fn create_user(&self, name: &str, admin: bool) -> Result<User, DbError> {
        let mut tx = self.write().await?;
        let r: Result<_, DbError> = async {
            let id: i64 =
                sqlx::query_scalar("INSERT INTO users (name, admin) VALUES ($1, $2) RETURNING id")
                    .bind(name)
                    .bind(admin)
                    .fetch_one(tx.conn())
                    .await
                    .map_err(|e| conflict(e, "user", name))?;
            Ok(User {
                id: api_u64(id),
                name: name.to_owned(),
                admin,
            })
        }
        .await;
        tx.finish(r).await
    }

    async fn add_user_token(
        &self,
        user_id: u64,
        token_hash: &Sha256,
        expires: Option<OffsetDateTime>,
    ) -> Result<(), DbError> {
        let mut tx = self.write().await?;
        let r: Result<_, DbError> = async {
            sqlx::query(
                "INSERT INTO user_tokens (token_hash, user_id, expires) VALUES ($1, $2, $3)",
            )
            .bind(&token_hash.0[..])
            .bind(db_id(user_id))
            .bind(expires.map(micros))
            .execute(tx.conn())
            .await
            .map_err(|e| match &e {
                sqlx::Error::Database(d) if d.is_foreign_key_violation() => DbError::NotFound {
                    what: "user",
                    id: user_id.to_string(),
                },
                _ => conflict(e, "token", "with this hash"),
            })?;
            Ok(())
        }
        .await;
        tx.finish(r).await
    }

    async fn user_by_token(
        &self,
        token_hash: &Sha256,
        now: OffsetDateTime,
    ) -> Result<TokenLookup<User>, DbError> {
        let row: Option<(i64, String, bool, Option<i64>)> = sqlx::query_as(
            "SELECT u.id, u.name, u.admin, t.expires FROM user_tokens t \
             JOIN users u ON u.id = t.user_id WHERE t.token_hash = $1",
        )
        .bind(&token_hash.0[..])
        .fetch_optional(self.pool())
        .await
        .map_err(backend)?;
        Ok(match row {
            None => TokenLookup::Unknown,
            Some((_, _, _, Some(expires))) if expires <= micros(now) => TokenLookup::Expired,
            Some((id, name, admin, _)) => TokenLookup::Valid(User {
                id: api_u64(id),
                name,
                admin,
            }),
        })
    }

    async fn create_build(&self, build: &NewBuild, now: OffsetDateTime) -> Result<Build, DbError> {
        for (i, t) in build.tasks.iter().enumerate() {
            if let Some(bad) = t
                .depends_on
                .iter()
                .find(|&&d| d >= build.tasks.len() || d == i)
            {
                return Err(DbError::Invalid(format!(
                    "task {i} of the plan depends on task {bad}, \
                     which is not another task of the plan"
                )));
            }
            if t.ref_index >= build.refs.len() {
                return Err(DbError::Invalid(format!(
                    "task {i} of the plan builds ref {}, but the build has {} refs",
                    t.ref_index,
                    build.refs.len()
                )));
            }
        }
        let mut tx = self.write().await?;
        let r: Result<_, DbError> = async {
            let conn = tx.conn();
            let known: Option<String> =
                sqlx::query_scalar("SELECT name FROM platforms WHERE name = $1")
                    .bind(&build.platform)
                    .fetch_optional(&mut *conn)
                    .await
                    .map_err(backend)?;
            if known.is_none() {
                return Err(DbError::NotFound {
                    what: "platform",
                    id: build.platform.clone(),
                });
            }
            let product = build.options.product.clone().unwrap_or_default();
            sqlx::query(
                "INSERT INTO queues (owner, product) VALUES ($1, $2) \
                 ON CONFLICT (owner, product) DO NOTHING",
            )
            .bind(&build.owner)
            .bind(&product)
            .execute(&mut *conn)
            .await
            .map_err(backend)?;
            let queue_id: i64 =
                sqlx::query_scalar("SELECT id FROM queues WHERE owner = $1 AND product = $2")
                    .bind(&build.owner)
                    .bind(&product)
                    .fetch_one(&mut *conn)
                    .await
                    .map_err(backend)?;
            let state = if build.tasks.is_empty() {
                TaskState::Succeeded
            } else {
                TaskState::Pending
            };
            let build_id: i64 = sqlx::query_scalar(
                "INSERT INTO builds \
                 (platform, arches, refs, owner, options, timeout_secs, queue_id, state, created) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING id",
            )
            .bind(&build.platform)
            .bind(to_json(&build.arches)?)
            .bind(to_json(&build.refs)?)
            .bind(&build.owner)
            .bind(to_json(&build.options)?)
            .bind(i64::try_from(build.timeout_secs).unwrap_or(i64::MAX))
            .bind(queue_id)
            .bind(state_str(state))
            .bind(micros(now))
            .fetch_one(&mut *conn)
            .await
            .map_err(backend)?;
            let labels: BTreeSet<&String> = build.options.labels.iter().collect();
            for label in labels {
                sqlx::query("INSERT INTO build_labels (build_id, label) VALUES ($1, $2)")
                    .bind(build_id)
                    .bind(label)
                    .execute(&mut *conn)
                    .await
                    .map_err(backend)?;
            }
            let mut ids = Vec::with_capacity(build.tasks.len());
            for t in &build.tasks {
                let arch = match &t.kind {
                    TaskKind::Src => None,
                    TaskKind::Arch(a) => Some(a.as_str().to_owned()),
                };
                let id: i64 = sqlx::query_scalar(
                    "INSERT INTO tasks (build_id, queue_id, ref_index, arch, package, state, \
                     ready) \
                     VALUES ($1, $2, $3, $4, $5, 'pending', $6) RETURNING id",
                )
                .bind(build_id)
                .bind(queue_id)
                .bind(i64::try_from(t.ref_index).unwrap_or(i64::MAX))
                .bind(arch)
                .bind(&t.package)
                .bind(t.depends_on.is_empty())
                .fetch_one(&mut *conn)
                .await
                .map_err(backend)?;
                ids.push(id);
            }
            for (t, id) in build.tasks.iter().zip(&ids) {
                let on: BTreeSet<usize> = t.depends_on.iter().copied().collect();
                for d in on {
                    sqlx::query("INSERT INTO task_deps (task_id, depends_on) VALUES ($1, $2)")
                        .bind(id)
                        .bind(ids[d])
                        .execute(&mut *conn)
                        .await
                        .map_err(backend)?;
                }
            }
            let created = load_build(conn, build_id)
                .await?
                .ok_or_else(|| DbError::NotFound {
                    what: "build",
                    id: build_id.to_string(),
                })?;
            Ok(created)
        }
        .await;
        tx.finish(r).await
    }

    async fn build(&self, id: u64) -> Result<Option<Build>, DbError> {
        let mut tx = self.read().await?;
        let b = load_build(&mut tx, db_id(id)).await?;
        tx.commit().await.map_err(backend)?;
        Ok(b)
    }

    async fn list_builds(&self, query: &BuildQuery) -> Result<BuildPage, DbError> {
        let (mut q, limit) = list_query(query, "")?;
        let mut tx = self.read().await?;
        let mut rows: Vec<(i64, String, String, String, i64)> = q
            .build_query_as()
            .fetch_all(&mut *tx)
            .await
            .map_err(backend)?;
        let next = if rows.len() > limit as usize {
            rows.truncate(limit as usize);
            rows.last().map(|r| api_u64(r.0))
        } else {
            None
        };
        let mut packages: HashMap<i64, Vec<String>> = HashMap::new();
        if !rows.is_empty() {
            let mut p = QueryBuilder::<Db>::new(
                "SELECT build_id, package FROM tasks \
                 WHERE arch IS NULL AND package IS NOT NULL AND build_id IN (",
            );
            let mut list = p.separated(", ");
            for r in &rows {
                list.push_bind(r.0);
            }
            p.push(") ORDER BY build_id, ref_index");
            let names: Vec<(i64, String)> = p
                .build_query_as()
                .fetch_all(&mut *tx)
                .await
                .map_err(backend)?;
            for (b, name) in names {
                packages.entry(b).or_default().push(name);
            }
        }
        tx.commit().await.map_err(backend)?;
        let builds = rows
            .into_iter()
            .map(|(id, platform, owner, state, created)| {
                Ok(BuildSummary {
                    id: api_u64(id),
                    platform,
                    owner,
                    packages: packages.remove(&id).unwrap_or_default(),
                    state: parse_state(&state)?,
                    created: from_micros(created)?,
                })
            })
            .collect::<Result<Vec<_>, DbError>>()?;
        Ok(BuildPage { builds, next })
    }

    async fn delete_build(&self, id: u64) -> Result<(), DbError> {
        let mut tx = self.write().await?;
        let r: Result<_, DbError> = async {
            let conn = tx.conn();
            let tasks = lock_build_tasks(conn, db_id(id)).await?;
            for (task, state) in tasks {
                let state = parse_state(&state)?;
                if !state.is_final() {
                    return Err(DbError::BadState {
                        task: api_u64(task),
                        state,
                        message: format!(
                            "build {id} has tasks that have not ended: cancel it and let its \
                             running tasks end before deleting it"
                        ),
                    });
                }
            }
            sqlx::query("DELETE FROM builds WHERE id = $1")
                .bind(db_id(id))
                .execute(&mut *conn)
                .await
                .map_err(backend)?;
            Ok(())
        }
        .await;
        tx.finish(r).await
    }

    async fn cancel_build(&self, id: u64, _now: OffsetDateTime) -> Result<Build, DbError> {
        let mut tx = self.write().await?;
        let r: Result<_, DbError> = async {
            let conn = tx.conn();
            lock_build_tasks(conn, db_id(id)).await?;
            sqlx::query(
                "UPDATE tasks SET state = 'cancelled', ready = FALSE \
             WHERE build_id = $1 AND state = 'pending'",
            )
            .bind(db_id(id))
            .execute(&mut *conn)
            .await
            .map_err(backend)?;
            sqlx::query(
            "UPDATE tasks SET cancel_requested = TRUE WHERE build_id = $1 AND state = 'running'",
        )
        .bind(db_id(id))
        .execute(&mut *conn)
        .await
        .map_err(backend)?;
            refresh_build_state(conn, db_id(id)).await?;
            let b = load_build(conn, db_id(id)).await?;
            b.ok_or_else(|| DbError::NotFound {
                what: "build",
                id: id.to_string(),
            })
        }
        .await;
        tx.finish(r).await
    }

    async fn restart_build(&self, id: u64) -> Result<Build, DbError> {
        let mut tx = self.write().await?;
        let r: Result<_, DbError> = async {
            let conn = tx.conn();
            let tasks = lock_build_tasks(conn, db_id(id)).await?;
            for (task, state) in tasks {
                if !matches!(state.as_str(), "failed" | "timed_out" | "cancelled") {
                    continue;
                }
                for sql in [
                    "DELETE FROM artifacts WHERE task_id = $1",
                    "DELETE FROM task_logs WHERE task_id = $1",
                    "UPDATE tasks SET state = 'pending', attempts = 0, reason = NULL, \
                 cancel_requested = FALSE, not_before = 0, lease_until = NULL, node_id = NULL, \
                 node_name = NULL, log_lines = 0, noarch = FALSE, commit_id = NULL WHERE id = $1",
                ] {
                    sqlx::query(sql)
                        .bind(task)
                        .execute(&mut *conn)
                        .await
                        .map_err(backend)?;
                }
            }
            sqlx::query(
                "UPDATE tasks SET ready = (mirror_of IS NULL AND NOT EXISTS \
             (SELECT 1 FROM task_deps d JOIN tasks dt ON dt.id = d.depends_on \
              WHERE d.task_id = tasks.id AND dt.state <> 'succeeded')) \
             WHERE build_id = $1 AND state = 'pending'",
            )
            .bind(db_id(id))
            .execute(&mut *conn)
            .await
            .map_err(backend)?;
            refresh_build_state(conn, db_id(id)).await?;
            let b = load_build(conn, db_id(id)).await?;
            b.ok_or_else(|| DbError::NotFound {
                what: "build",
                id: id.to_string(),
            })
        }
        .await;
        tx.finish(r).await
    }

    async fn register_node(
        &self,
        node: &NewNode,
        token_hash: &Sha256,
        now: OffsetDateTime,
    ) -> Result<Node, DbError> {
        let mut tx = self.write().await?;
        let r: Result<_, DbError> = async {
            let id: i64 = sqlx::query_scalar(
                "INSERT INTO nodes (name, arches, labels, capacity, excluded_packages, token_hash, \
                 last_seen) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id",
            )
            .bind(&node.name)
            .bind(to_json(&node.arches)?)
            .bind(to_json(&node.labels)?)
            .bind(i64::from(node.capacity))
            .bind(to_json(&node.excluded_packages)?)
            .bind(&token_hash.0[..])
            .bind(micros(now))
            .fetch_one(tx.conn())
            .await
            .map_err(|e| conflict(e, "node", &node.name))?;
            Ok(Node {
                id: api_u64(id),
                name: node.name.clone(),
                arches: node.arches.clone(),
                labels: node.labels.clone(),
                capacity: node.capacity,
                excluded_packages: node.excluded_packages.clone(),
                last_seen: Some(from_micros(micros(now))?),
            })
        }
        .await;
        tx.finish(r).await
    }

    async fn node_by_token(&self, token_hash: &Sha256) -> Result<Option<Node>, DbError> {
        let row: Option<NodeRow> = sqlx::query_as(
            "SELECT id, name, arches, labels, capacity, excluded_packages, last_seen \
             FROM nodes WHERE token_hash = $1",
        )
        .bind(&token_hash.0[..])
        .fetch_optional(self.pool())
        .await
        .map_err(backend)?;
        row.map(to_node).transpose()
    }

    async fn nodes(&self) -> Result<Vec<Node>, DbError> {
        let rows: Vec<NodeRow> = sqlx::query_as(
            "SELECT id, name, arches, labels, capacity, excluded_packages, last_seen \
             FROM nodes ORDER BY id",
        )
        .fetch_all(self.pool())
        .await
        .map_err(backend)?;
        rows.into_iter().map(to_node).collect()
    }

    async fn claim(
        &self,
        node: &Node,
        now: OffsetDateTime,
        lease: Duration,
    ) -> Result<Option<Claim>, DbError> {
        let now_us = micros(now);
        let until = now_us.saturating_add(duration_micros(lease));
        let mut tx = self.write().await?;
        let r: Result<_, DbError> = async {
            let conn = tx.conn();
            let queues: Vec<i64> = sqlx::query_scalar(ACTIVE_QUEUES)
                .fetch_all(&mut *conn)
                .await
                .map_err(backend)?;
            let mut taken = None;
            for q in queues {
                taken = take(conn, q, node, now_us, until).await?;
                if taken.is_some() {
                    break;
                }
            }
            let seen = sqlx::query("UPDATE nodes SET last_seen = $1 WHERE id = $2")
                .bind(now_us)
                .bind(db_id(node.id))
                .execute(&mut *conn)
                .await
                .map_err(backend)?;
            if seen.rows_affected() == 0 {
                return Err(DbError::NotFound {
                    what: "node",
                    id: node.id.to_string(),
                });
            }
            let Some(row) = taken else {
                return Ok(None);
            };
            let (task_id, build_id) = (row.id, row.build_id);
            // A claim only ever makes a build running; holding the build's lock
            // shared keeps a concurrent state refresh from missing this claim.
            lock_build(conn, build_id, true).await?;
            sqlx::query("UPDATE builds SET state = 'running' WHERE id = $1 AND state <> 'running'")
                .bind(build_id)
                .execute(&mut *conn)
                .await
                .map_err(backend)?;
            let (refs, platform, timeout): (String, String, i64) =
                sqlx::query_as("SELECT refs, platform, timeout_secs FROM builds WHERE id = $1")
                    .bind(build_id)
                    .fetch_one(&mut *conn)
                    .await
                    .map_err(backend)?;
            let deps: Vec<(i64, i64)> = sqlx::query_as(
                "SELECT task_id, depends_on FROM task_deps WHERE task_id = $1 ORDER BY depends_on",
            )
            .bind(task_id)
            .fetch_all(&mut *conn)
            .await
            .map_err(backend)?;
            // A pending task has no artifacts: restart clears them.
            let task = assemble(vec![row], deps, vec![])?
                .pop()
                .ok_or_else(|| DbError::Backend(format!("claimed task {task_id} vanished")))?;
            let refs: Vec<SourceRef> = from_json(&refs, "build refs")?;
            let source = refs.get(task.ref_index).cloned().ok_or_else(|| {
                DbError::Backend(format!(
                    "task {task_id} builds ref {} that build {build_id} does not have",
                    task.ref_index
                ))
            })?;
            let srpm = match task.kind {
                TaskKind::Src => None,
                TaskKind::Arch(_) => {
                    let row: Option<ArtifactRow> = sqlx::query_as(
                        "SELECT a.task_id, a.sha256, a.size, a.name, a.kind, a.nevra \
                         FROM artifacts a JOIN tasks s ON s.id = a.task_id \
                         WHERE s.build_id = $1 AND s.ref_index = $2 AND s.arch IS NULL \
                         AND a.kind = 'srpm' \
                         ORDER BY a.id LIMIT 1",
                    )
                    .bind(build_id)
                    .bind(i64::try_from(task.ref_index).unwrap_or(i64::MAX))
                    .fetch_optional(&mut *conn)
                    .await
                    .map_err(backend)?;
                    row.map(to_artifact).transpose()?
                }
            };
            Ok(Some(Claim {
                task,
                source,
                platform,
                srpm,
                timeout_secs: api_u64(timeout),
                lease_until: from_micros(until)?,
            }))
        }
        .await;
        tx.finish(r).await
    }

    async fn heartbeat(
        &self,
        node_id: u64,
        task_id: u64,
        now: OffsetDateTime,
        lease: Duration,
    ) -> Result<Lease, DbError> {
        let until = micros(now).saturating_add(duration_micros(lease));
        let mut tx = self.write().await?;
        let r: Result<_, DbError> = async {
            let conn = tx.conn();
            let cancel: Option<bool> = sqlx::query_scalar(
                "UPDATE tasks SET lease_until = $1 \
                 WHERE id = $2 AND node_id = $3 AND state = 'running' \
                 RETURNING cancel_requested",
            )
            .bind(until)
            .bind(db_id(task_id))
            .bind(db_id(node_id))
            .fetch_optional(&mut *conn)
            .await
            .map_err(backend)?;
            let Some(cancel) = cancel else {
                let exists: Option<i64> = sqlx::query_scalar("SELECT id FROM tasks WHERE id = $1")
                    .bind(db_id(task_id))
                    .fetch_optional(&mut *conn)
                    .await
                    .map_err(backend)?;
                return Err(match exists {
                    None => DbError::NotFound {
                        what: "task",
                        id: task_id.to_string(),
                    },
                    Some(_) => DbError::LeaseLost {
                        node: node_id,
                        task: task_id,
                    },
                });
            };
            sqlx::query("UPDATE nodes SET last_seen = $1 WHERE id = $2")
                .bind(micros(now))
                .bind(db_id(node_id))
                .execute(&mut *conn)
                .await
                .map_err(backend)?;
            Ok(Lease {
                until: from_micros(until)?,
                cancel,
            })
        }
        .await;
        tx.finish(r).await
    }

    async fn complete(
        &self,
        node_id: u64,
        task_id: u64,
        result: &TaskResult,
        _now: OffsetDateTime,
    ) -> Result<BuildTask, DbError> {
        let mut tx = self.write().await?;
        let r: Result<_, DbError> = async {
            let conn = tx.conn();
            let held: Option<Holding> = sqlx::query_as(concat!(
                "SELECT ",
                holding_cols!(),
                " FROM tasks WHERE id = $1",
                for_update!()
            ))
            .bind(db_id(task_id))
            .fetch_optional(&mut *conn)
            .await
            .map_err(backend)?;
            let Some(held) = held else {
                return Err(DbError::NotFound {
                    what: "task",
                    id: task_id.to_string(),
                });
            };
            let state = parse_state(&held.state)?;
            if !result.state.is_final() {
                return Err(DbError::BadState {
                    task: task_id,
                    state,
                    message: format!(
                        "a completion ends the task (succeeded, failed, excluded, timed_out or \
                         cancelled), it cannot make it {}",
                        result.state
                    ),
                });
            }
            let ours = held.node_id == Some(db_id(node_id));
            if state.is_final() && ours && state == result.state {
                // The same completion again: nothing changes.
                let task = load_task(conn, held.id).await?;
                return Ok(task);
            }
            if state != TaskState::Running || !ours {
                return Err(DbError::LeaseLost {
                    node: node_id,
                    task: task_id,
                });
            }
            sqlx::query(
                "UPDATE tasks SET state = $1, reason = $2, lease_until = NULL, \
                 cancel_requested = FALSE, \
                 noarch = $3, commit_id = $4, ready = FALSE, build_requires = $5, produces = $6 \
                 WHERE id = $7",
            )
            .bind(state_str(result.state))
            .bind(&result.reason)
            .bind(result.noarch)
            .bind(&result.commit)
            .bind(to_json(&result.build_requires)?)
            .bind(to_json(&result.produces)?)
            .bind(held.id)
            .execute(&mut *conn)
            .await
            .map_err(backend)?;
            insert_artifacts(conn, held.id, &result.artifacts).await?;
            let srpm_name = result
                .artifacts
                .iter()
                .find(|a| a.kind == ArtifactKind::Srpm)
                .and_then(|a| a.nevra.as_ref())
                .map(|n| n.name.clone());
            let ended = Ended {
                id: held.id,
                build_id: held.build_id,
                ref_index: held.ref_index,
                src: held.arch.is_none(),
                state: result.state,
                reason: result.reason.clone(),
                node_name: held.node_name.clone(),
                noarch: result.noarch,
                srpm_name,
            };
            settle(conn, &ended).await?;
            refresh_build_state(conn, held.build_id).await?;
            let task = load_task(conn, held.id).await?;
            Ok(task)
        }
        .await;
        tx.finish(r).await
    }

    async fn expire_leases(
        &self,
        now: OffsetDateTime,
        policy: &RetryPolicy,
    ) -> Result<Vec<u64>, DbError> {
        let now_us = micros(now);
        let mut tx = self.write().await?;
        let r: Result<_, DbError> = async {
            let conn = tx.conn();
            let lost: Vec<Holding> = sqlx::query_as(concat!(
                "SELECT ",
                holding_cols!(),
                " FROM tasks t WHERE t.state = 'running' AND t.lease_until < $1 ORDER BY t.id",
                skip_locked!()
            ))
            .bind(now_us)
            .fetch_all(&mut *conn)
            .await
            .map_err(backend)?;
            let mut builds = BTreeSet::new();
            for t in &lost {
                let attempts = api_u32(t.attempts);
                let node = t.node_name.as_deref().unwrap_or("(unknown)");
                let end = if t.cancel_requested {
                    Some((
                        TaskState::Cancelled,
                        format!("cancelled; node {node} stopped answering"),
                    ))
                } else if attempts >= policy.max_attempts {
                    Some((
                        TaskState::Failed,
                        format!("node {node} stopped answering; gave up after {attempts} attempts"),
                    ))
                } else {
                    None
                };
                match end {
                    Some((state, reason)) => {
                        sqlx::query(
                            "UPDATE tasks SET state = $1, reason = $2, lease_until = NULL, \
                         cancel_requested = FALSE, ready = FALSE WHERE id = $3",
                        )
                        .bind(state_str(state))
                        .bind(&reason)
                        .bind(t.id)
                        .execute(&mut *conn)
                        .await
                        .map_err(backend)?;
                        let ended = Ended {
                            id: t.id,
                            build_id: t.build_id,
                            ref_index: t.ref_index,
                            src: t.arch.is_none(),
                            state,
                            reason: Some(reason),
                            node_name: t.node_name.clone(),
                            noarch: false,
                            srpm_name: None,
                        };
                        settle(conn, &ended).await?;
                    }
                    None => {
                        let backoff = duration_micros(policy.backoff_after(attempts));
                        sqlx::query(
                        "UPDATE tasks SET state = 'pending', not_before = $1, lease_until = NULL, \
                         node_id = NULL, node_name = NULL WHERE id = $2",
                    )
                    .bind(now_us.saturating_add(backoff))
                    .bind(t.id)
                    .execute(&mut *conn)
                    .await
                    .map_err(backend)?;
                    }
                }
                builds.insert(t.build_id);
            }
            for b in builds {
                refresh_build_state(conn, b).await?;
            }
            Ok(lost.iter().map(|t| api_u64(t.id)).collect())
        }
        .await;
        tx.finish(r).await
    }

    async fn append_log(
        &self,
        node_id: u64,
        task_id: u64,
        lines: &[String],
    ) -> Result<u64, DbError> {
        let mut tx = self.write().await?;
        let r: Result<_, DbError> = async {
            let conn = tx.conn();
            let row: Option<(String, Option<i64>, i64)> = sqlx::query_as(concat!(
                "SELECT state, node_id, log_lines FROM tasks WHERE id = $1",
                for_update!()
            ))
            .bind(db_id(task_id))
            .fetch_optional(&mut *conn)
            .await
            .map_err(backend)?;
            let Some((state, holder, count)) = row else {
                return Err(DbError::NotFound {
                    what: "task",
                    id: task_id.to_string(),
                });
            };
            if state != "running" || holder != Some(db_id(node_id)) {
                return Err(DbError::LeaseLost {
                    node: node_id,
                    task: task_id,
                });
            }
            let mut next = count;
            for chunk in lines.chunks(LOG_BATCH) {
                let mut q = QueryBuilder::<Db>::new("INSERT INTO task_logs (task_id, line, text) ");
                q.push_values(chunk, |mut row, text| {
                    row.push_bind(db_id(task_id))
                        .push_bind(next)
                        .push_bind(text.clone());
                    next += 1;
                });
                q.build().execute(&mut *conn).await.map_err(backend)?;
            }
            if next != count {
                sqlx::query("UPDATE tasks SET log_lines = $1 WHERE id = $2")
                    .bind(next)
                    .bind(db_id(task_id))
                    .execute(&mut *conn)
                    .await
                    .map_err(backend)?;
            }
            Ok(api_u64(next))
        }
        .await;
        tx.finish(r).await
    }

    async fn read_log(&self, task_id: u64, from: u64, limit: u32) -> Result<LogChunk, DbError> {
        let mut tx = self.read().await?;
        let row: Option<(String, i64)> =
            sqlx::query_as("SELECT state, log_lines FROM tasks WHERE id = $1")
                .bind(db_id(task_id))
                .fetch_optional(&mut *tx)
                .await
                .map_err(backend)?;
        let Some((state, count)) = row else {
            return Err(DbError::NotFound {
                what: "task",
                id: task_id.to_string(),
            });
        };
        let from_i = i64::try_from(from).unwrap_or(i64::MAX);
        let lines: Vec<String> = sqlx::query_scalar(
            "SELECT text FROM task_logs WHERE task_id = $1 AND line >= $2 ORDER BY line LIMIT $3",
        )
        .bind(db_id(task_id))
        .bind(from_i)
        .bind(i64::from(limit))
        .fetch_all(&mut *tx)
        .await
        .map_err(backend)?;
        tx.commit().await.map_err(backend)?;
        let next = from + lines.len() as u64;
        Ok(LogChunk {
            done: parse_state(&state)?.is_final() && next >= api_u64(count),
            lines,
            next,
        })
    }

    async fn mark_tag_seen(&self, repo: &str, tag: &str) -> Result<bool, DbError> {
        let mut tx = self.write().await?;
        let r: Result<_, DbError> = async {
            let r = sqlx::query(
            "INSERT INTO seen_tags (repo, tag) VALUES ($1, $2) ON CONFLICT (repo, tag) DO NOTHING",
        )
        .bind(repo)
        .bind(tag)
        .execute(tx.conn())
        .await
        .map_err(backend)?;
            Ok(r.rows_affected() == 1)
        }
        .await;
        tx.finish(r).await
    }
}

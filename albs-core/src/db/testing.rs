//! Test tasks in the store.
//!
//! Once a build has succeeded, it gets one test task per arch (created by
//! [`TestStore::create_test_tasks`], at most one per build and arch). Build
//! nodes claim test tasks for their arches under a lease (heartbeats extend
//! it; a lease that runs out puts the task back with a backoff, or fails it
//! after `max_attempts`), append log lines, and complete them with the
//! tester's report: the task passes when every stage passed. Completion is
//! idempotent. The build's owner or an admin may cancel (pending tasks end
//! at once, a running one learns it on its next heartbeat) and restart
//! (failed and cancelled tasks go back to pending, their attempts, report
//! and log cleared).
//!
//! The SQL is shared by both backends: `test_store_impl!` is expanded in
//! `sqlite.rs` and `postgres.rs` beside `store_impl.rs`, whose `write()`,
//! `read()`, `Conn` and `Db` it uses.

use std::time::Duration;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use super::common::{api_u32, api_u64, from_json, from_micros};
use super::{DbError, Lease, Node, RetryPolicy};
use crate::model::Arch;
use crate::test::TestReport;

/// Where a test task is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TestState {
    /// Waiting for a node.
    Pending,
    /// A node runs it.
    Running,
    /// Every stage passed.
    Passed,
    /// A stage failed, or the tester could not run.
    Failed,
    /// Cancelled by a user.
    Cancelled,
}

impl TestState {
    /// The column and wire spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            TestState::Pending => "pending",
            TestState::Running => "running",
            TestState::Passed => "passed",
            TestState::Failed => "failed",
            TestState::Cancelled => "cancelled",
        }
    }

    /// Whether the task has ended.
    pub fn is_final(self) -> bool {
        matches!(
            self,
            TestState::Passed | TestState::Failed | TestState::Cancelled
        )
    }
}

impl std::fmt::Display for TestState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for TestState {
    type Err = DbError;
    fn from_str(s: &str) -> Result<Self, DbError> {
        Ok(match s {
            "pending" => TestState::Pending,
            "running" => TestState::Running,
            "passed" => TestState::Passed,
            "failed" => TestState::Failed,
            "cancelled" => TestState::Cancelled,
            other => {
                return Err(DbError::Backend(format!(
                    "unknown test task state {other:?} stored"
                )));
            }
        })
    }
}

/// A test task of a build, for one arch.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TestTask {
    /// Id.
    pub id: u64,
    /// The build whose packages it tests.
    pub build_id: u64,
    /// The arch whose packages (with the build's noarch ones) it tests.
    pub arch: Arch,
    /// Where it is.
    pub state: TestState,
    /// Why it failed or was cancelled, when the report does not say.
    pub reason: Option<String>,
    /// Claims so far.
    pub attempts: u32,
    /// The node that runs or ran it.
    pub node: Option<String>,
    /// When it was created.
    #[serde(with = "time::serde::rfc3339")]
    pub created: OffsetDateTime,
    /// When it ended.
    #[serde(with = "time::serde::rfc3339::option")]
    pub finished: Option<OffsetDateTime>,
    /// The tester's stages, once completed.
    pub report: Option<TestReport>,
    /// What the node logged while it ran the task.
    pub log: String,
}

/// What a node reports when a test task ends.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct TestResult {
    /// The stages; the task passes when the report passed.
    pub report: TestReport,
    /// Why the tester could not run, if it could not.
    #[serde(default)]
    pub reason: Option<String>,
}

impl TestResult {
    /// The state this result ends a task in.
    pub fn state(&self) -> TestState {
        if self.reason.is_none() && self.report.passed() {
            TestState::Passed
        } else {
            TestState::Failed
        }
    }
}

/// A test task handed to a node (`POST /api/v1/node/test/claim`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TestAssignment {
    /// The test task.
    pub task_id: u64,
    /// Its build.
    pub build_id: u64,
    /// The arch tested.
    pub arch: Arch,
    /// The build's platform.
    pub platform: crate::platform::Platform,
    /// The packages to test: the build's RPMs of this arch and its noarch
    /// ones, to download by digest.
    pub packages: Vec<crate::model::Artifact>,
    /// Third-party tests (a git URL or directory, `#REF` allowed), if any.
    pub tests: Option<String>,
    /// Seconds until the lease ends.
    pub lease_secs: u64,
    /// Which claim of the task this is (1-based).
    pub attempt: u32,
}

/// The answer to a test claim.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TestClaimResponse {
    /// The task, when there is one for the node.
    pub task: Option<TestAssignment>,
}

/// A claimed test task and when its lease ends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TestClaimed {
    /// The task (running, attempt counted).
    pub task: TestTask,
    /// When the lease ends.
    pub lease_until: OffsetDateTime,
}

/// Test tasks.
#[async_trait]
pub trait TestStore: Send + Sync {
    /// Creates a pending test task for each of `arches` of the build that has
    /// none yet; returns every test task of the build.
    async fn create_test_tasks(
        &self,
        build_id: u64,
        arches: &[Arch],
        now: OffsetDateTime,
    ) -> Result<Vec<TestTask>, DbError>;
    /// A test task.
    async fn test_task(&self, id: u64) -> Result<Option<TestTask>, DbError>;
    /// The test tasks of a build, by arch.
    async fn build_test_tasks(&self, build_id: u64) -> Result<Vec<TestTask>, DbError>;
    /// Hands `node` the oldest pending test task of one of its arches.
    async fn claim_test_task(
        &self,
        node: &Node,
        now: OffsetDateTime,
        lease: Duration,
    ) -> Result<Option<TestClaimed>, DbError>;
    /// Extends the lease of a test task the node holds; `cancel` when a user
    /// cancelled it.
    async fn test_heartbeat(
        &self,
        node_id: u64,
        task_id: u64,
        now: OffsetDateTime,
        lease: Duration,
    ) -> Result<Lease, DbError>;
    /// Appends lines to the log of a test task the node holds; returns the
    /// line count.
    async fn append_test_log(
        &self,
        node_id: u64,
        task_id: u64,
        lines: &[String],
    ) -> Result<u64, DbError>;
    /// Ends a test task the node holds with its report (idempotent).
    async fn complete_test_task(
        &self,
        node_id: u64,
        task_id: u64,
        result: &TestResult,
        now: OffsetDateTime,
    ) -> Result<TestTask, DbError>;
    /// Cancels the pending and running test tasks of a build; returns its
    /// test tasks.
    async fn cancel_test_tasks(
        &self,
        build_id: u64,
        now: OffsetDateTime,
    ) -> Result<Vec<TestTask>, DbError>;
    /// Puts the failed and cancelled test tasks of a build back to pending
    /// (attempts, report and log cleared); returns its test tasks.
    async fn restart_test_tasks(&self, build_id: u64) -> Result<Vec<TestTask>, DbError>;
    /// Puts test tasks whose lease ran out back in the queue (or fails them
    /// after `policy.max_attempts`); returns their ids.
    async fn expire_test_leases(
        &self,
        now: OffsetDateTime,
        policy: &RetryPolicy,
    ) -> Result<Vec<u64>, DbError>;
}

/// A test task row.
#[derive(sqlx::FromRow)]
pub(super) struct TestTaskRow {
    pub id: i64,
    pub build_id: i64,
    pub arch: String,
    pub state: String,
    pub reason: Option<String>,
    pub attempts: i64,
    pub node_name: Option<String>,
    pub created: i64,
    pub finished: Option<i64>,
    pub report: Option<String>,
    pub log: String,
}

/// The columns of [`TestTaskRow`].
macro_rules! test_task_cols {
    () => {
        "id, build_id, arch, state, reason, attempts, node_name, created, finished, report, log"
    };
}
pub(super) use test_task_cols;

impl TestTaskRow {
    pub fn into_task(self) -> Result<TestTask, DbError> {
        Ok(TestTask {
            id: api_u64(self.id),
            build_id: api_u64(self.build_id),
            arch: self
                .arch
                .parse()
                .map_err(|e| DbError::Backend(format!("stored arch {:?}: {e}", self.arch)))?,
            state: self.state.parse()?,
            reason: self.reason,
            attempts: api_u32(self.attempts),
            node: self.node_name,
            created: from_micros(self.created)?,
            finished: self.finished.map(from_micros).transpose()?,
            report: self
                .report
                .as_deref()
                .map(|r| from_json(r, "test report"))
                .transpose()?,
            log: self.log,
        })
    }
}

/// The `TestStore` implementation both SQL backends share; expanded in
/// `sqlite.rs` and `postgres.rs`, where `This`, `Conn`, `Db` and the
/// store's `write()`/`read()` are defined.
macro_rules! test_store_impl {
    () => {
        use $crate::db::testing::{
            TestClaimed, TestResult, TestState, TestStore, TestTask, TestTaskRow, test_task_cols,
        };

        async fn test_load(conn: &mut Conn, id: i64) -> Result<Option<TestTask>, DbError> {
            let row: Option<TestTaskRow> = sqlx::query_as(concat!(
                "SELECT ",
                test_task_cols!(),
                " FROM test_tasks WHERE id = $1"
            ))
            .bind(id)
            .fetch_optional(&mut *conn)
            .await
            .map_err(backend)?;
            row.map(TestTaskRow::into_task).transpose()
        }

        async fn test_or_missing(conn: &mut Conn, id: i64) -> Result<TestTask, DbError> {
            test_load(conn, id).await?.ok_or_else(|| DbError::NotFound {
                what: "test task",
                id: id.to_string(),
            })
        }

        async fn test_of_build(conn: &mut Conn, build_id: i64) -> Result<Vec<TestTask>, DbError> {
            let rows: Vec<TestTaskRow> = sqlx::query_as(concat!(
                "SELECT ",
                test_task_cols!(),
                " FROM test_tasks WHERE build_id = $1 ORDER BY arch, id"
            ))
            .bind(build_id)
            .fetch_all(&mut *conn)
            .await
            .map_err(backend)?;
            rows.into_iter().map(TestTaskRow::into_task).collect()
        }

        /// The state and node of a test task, locked for the transaction.
        async fn test_holder(
            conn: &mut Conn,
            task_id: u64,
        ) -> Result<(TestState, Option<i64>), DbError> {
            let row: Option<(String, Option<i64>)> = sqlx::query_as(concat!(
                "SELECT state, node_id FROM test_tasks WHERE id = $1",
                for_update!()
            ))
            .bind(db_id(task_id))
            .fetch_optional(&mut *conn)
            .await
            .map_err(backend)?;
            match row {
                None => Err(DbError::NotFound {
                    what: "test task",
                    id: task_id.to_string(),
                }),
                Some((state, node)) => Ok((state.parse()?, node)),
            }
        }

        #[async_trait]
        impl TestStore for This {
            async fn create_test_tasks(
                &self,
                build_id: u64,
                arches: &[$crate::model::Arch],
                now: OffsetDateTime,
            ) -> Result<Vec<TestTask>, DbError> {
                let mut tx = self.write().await?;
                let r: Result<_, DbError> = async {
                    let conn = tx.conn();
                    for arch in arches {
                        sqlx::query(
                            "INSERT INTO test_tasks (build_id, arch, state, created) \
                             VALUES ($1, $2, 'pending', $3) ON CONFLICT (build_id, arch) DO NOTHING",
                        )
                        .bind(db_id(build_id))
                        .bind(arch.as_str())
                        .bind(micros(now))
                        .execute(&mut *conn)
                        .await
                        .map_err(|e| missing(e, "build", build_id))?;
                    }
                    test_of_build(conn, db_id(build_id)).await
                }
                .await;
                tx.finish(r).await
            }

            async fn test_task(&self, id: u64) -> Result<Option<TestTask>, DbError> {
                let mut tx = self.read().await?;
                test_load(&mut tx, db_id(id)).await
            }

            async fn build_test_tasks(&self, build_id: u64) -> Result<Vec<TestTask>, DbError> {
                let mut tx = self.read().await?;
                test_of_build(&mut tx, db_id(build_id)).await
            }

            async fn claim_test_task(
                &self,
                node: &Node,
                now: OffsetDateTime,
                lease: Duration,
            ) -> Result<Option<TestClaimed>, DbError> {
                let now_us = micros(now);
                let until = now + lease;
                let mut tx = self.write().await?;
                let r: Result<_, DbError> = async {
                    let conn = tx.conn();
                    let pending: Vec<(i64, String)> = sqlx::query_as(
                        "SELECT id, arch FROM test_tasks \
                         WHERE state = 'pending' AND not_before <= $1 ORDER BY id",
                    )
                    .bind(now_us)
                    .fetch_all(&mut *conn)
                    .await
                    .map_err(backend)?;
                    for (id, arch) in pending {
                        if !node.arches.iter().any(|a| a.as_str() == arch) {
                            continue;
                        }
                        // Another server may have taken it meanwhile: the
                        // state check makes the claim one or nothing.
                        let done = sqlx::query(
                            "UPDATE test_tasks SET state = 'running', attempts = attempts + 1, \
                             node_id = $1, node_name = $2, lease_until = $3 \
                             WHERE id = $4 AND state = 'pending'",
                        )
                        .bind(db_id(node.id))
                        .bind(&node.name)
                        .bind(micros(until))
                        .bind(id)
                        .execute(&mut *conn)
                        .await
                        .map_err(backend)?;
                        if done.rows_affected() == 1 {
                            let task = test_or_missing(conn, id).await?;
                            return Ok(Some(TestClaimed {
                                task,
                                lease_until: until,
                            }));
                        }
                    }
                    Ok(None)
                }
                .await;
                tx.finish(r).await
            }

            async fn test_heartbeat(
                &self,
                node_id: u64,
                task_id: u64,
                now: OffsetDateTime,
                lease: Duration,
            ) -> Result<Lease, DbError> {
                let until = now + lease;
                let mut tx = self.write().await?;
                let r: Result<_, DbError> = async {
                    let conn = tx.conn();
                    let (state, node) = test_holder(conn, task_id).await?;
                    if node != Some(db_id(node_id)) {
                        return Err(DbError::LeaseLost {
                            node: node_id,
                            task: task_id,
                        });
                    }
                    match state {
                        TestState::Running => {
                            sqlx::query("UPDATE test_tasks SET lease_until = $1 WHERE id = $2")
                                .bind(micros(until))
                                .bind(db_id(task_id))
                                .execute(&mut *conn)
                                .await
                                .map_err(backend)?;
                            Ok(Lease {
                                until,
                                cancel: false,
                            })
                        }
                        TestState::Cancelled => Ok(Lease {
                            until: now,
                            cancel: true,
                        }),
                        _ => Err(DbError::LeaseLost {
                            node: node_id,
                            task: task_id,
                        }),
                    }
                }
                .await;
                tx.finish(r).await
            }

            async fn append_test_log(
                &self,
                node_id: u64,
                task_id: u64,
                lines: &[String],
            ) -> Result<u64, DbError> {
                let mut tx = self.write().await?;
                let r: Result<_, DbError> = async {
                    let conn = tx.conn();
                    let (state, node) = test_holder(conn, task_id).await?;
                    if state != TestState::Running || node != Some(db_id(node_id)) {
                        return Err(DbError::LeaseLost {
                            node: node_id,
                            task: task_id,
                        });
                    }
                    let mut text = String::new();
                    for l in lines {
                        text.push_str(l);
                        text.push('\n');
                    }
                    let count: i64 = sqlx::query_scalar(
                        "UPDATE test_tasks SET log = log || $1, log_lines = log_lines + $2 \
                         WHERE id = $3 RETURNING log_lines",
                    )
                    .bind(text)
                    .bind(i64::try_from(lines.len()).unwrap_or(i64::MAX))
                    .bind(db_id(task_id))
                    .fetch_one(&mut *conn)
                    .await
                    .map_err(backend)?;
                    Ok(api_u64(count))
                }
                .await;
                tx.finish(r).await
            }

            async fn complete_test_task(
                &self,
                node_id: u64,
                task_id: u64,
                result: &TestResult,
                now: OffsetDateTime,
            ) -> Result<TestTask, DbError> {
                let report = to_json(&result.report)?;
                let mut tx = self.write().await?;
                let r: Result<_, DbError> = async {
                    let conn = tx.conn();
                    let (state, node) = test_holder(conn, task_id).await?;
                    if node != Some(db_id(node_id)) {
                        return Err(DbError::LeaseLost {
                            node: node_id,
                            task: task_id,
                        });
                    }
                    match state {
                        TestState::Running => {}
                        // The same completion again, or a completion of a
                        // task cancelled meanwhile, changes nothing.
                        s if s.is_final() => return test_or_missing(conn, db_id(task_id)).await,
                        _ => {
                            return Err(DbError::LeaseLost {
                                node: node_id,
                                task: task_id,
                            });
                        }
                    }
                    sqlx::query(
                        "UPDATE test_tasks SET state = $1, reason = $2, report = $3, \
                         finished = $4, lease_until = NULL WHERE id = $5",
                    )
                    .bind(result.state().as_str())
                    .bind(&result.reason)
                    .bind(&report)
                    .bind(micros(now))
                    .bind(db_id(task_id))
                    .execute(&mut *conn)
                    .await
                    .map_err(backend)?;
                    test_or_missing(conn, db_id(task_id)).await
                }
                .await;
                tx.finish(r).await
            }

            async fn cancel_test_tasks(
                &self,
                build_id: u64,
                now: OffsetDateTime,
            ) -> Result<Vec<TestTask>, DbError> {
                let mut tx = self.write().await?;
                let r: Result<_, DbError> = async {
                    let conn = tx.conn();
                    sqlx::query(
                        "UPDATE test_tasks SET state = 'cancelled', reason = 'cancelled by a user', \
                         finished = $1, lease_until = NULL \
                         WHERE build_id = $2 AND state IN ('pending', 'running')",
                    )
                    .bind(micros(now))
                    .bind(db_id(build_id))
                    .execute(&mut *conn)
                    .await
                    .map_err(backend)?;
                    test_of_build(conn, db_id(build_id)).await
                }
                .await;
                tx.finish(r).await
            }

            async fn restart_test_tasks(&self, build_id: u64) -> Result<Vec<TestTask>, DbError> {
                let mut tx = self.write().await?;
                let r: Result<_, DbError> = async {
                    let conn = tx.conn();
                    sqlx::query(
                        "UPDATE test_tasks SET state = 'pending', reason = NULL, attempts = 0, \
                         node_id = NULL, node_name = NULL, lease_until = NULL, not_before = 0, \
                         report = NULL, log = '', log_lines = 0, finished = NULL \
                         WHERE build_id = $1 AND state IN ('failed', 'cancelled')",
                    )
                    .bind(db_id(build_id))
                    .execute(&mut *conn)
                    .await
                    .map_err(backend)?;
                    test_of_build(conn, db_id(build_id)).await
                }
                .await;
                tx.finish(r).await
            }

            async fn expire_test_leases(
                &self,
                now: OffsetDateTime,
                policy: &RetryPolicy,
            ) -> Result<Vec<u64>, DbError> {
                let now_us = micros(now);
                let mut tx = self.write().await?;
                let r: Result<_, DbError> = async {
                    let conn = tx.conn();
                    let lost: Vec<(i64, i64, Option<String>)> = sqlx::query_as(concat!(
                        "SELECT id, attempts, node_name FROM test_tasks \
                         WHERE state = 'running' AND lease_until < $1 ORDER BY id",
                        for_update!()
                    ))
                    .bind(now_us)
                    .fetch_all(&mut *conn)
                    .await
                    .map_err(backend)?;
                    let mut ids = Vec::with_capacity(lost.len());
                    for (id, attempts, node) in lost {
                        let attempts = api_u32(attempts);
                        let node = node.as_deref().unwrap_or("(unknown)");
                        if attempts >= policy.max_attempts {
                            sqlx::query(
                                "UPDATE test_tasks SET state = 'failed', reason = $1, \
                                 lease_until = NULL, finished = $2 WHERE id = $3",
                            )
                            .bind(format!(
                                "node {node} stopped answering; gave up after {attempts} attempts"
                            ))
                            .bind(now_us)
                            .bind(id)
                            .execute(&mut *conn)
                            .await
                            .map_err(backend)?;
                        } else {
                            let backoff = duration_micros(policy.backoff_after(attempts));
                            sqlx::query(
                                "UPDATE test_tasks SET state = 'pending', not_before = $1, \
                                 lease_until = NULL, node_id = NULL, node_name = NULL, \
                                 log = '', log_lines = 0 WHERE id = $2",
                            )
                            .bind(now_us.saturating_add(backoff))
                            .bind(id)
                            .execute(&mut *conn)
                            .await
                            .map_err(backend)?;
                        }
                        ids.push(api_u64(id));
                    }
                    Ok(ids)
                }
                .await;
                tx.finish(r).await
            }
        }
    };
}
pub(super) use test_store_impl;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::{SqliteStore, Store};
    use crate::hash::Sha256;
    use crate::test::TestStage;

    fn node(name: &str, arches: &[&str]) -> crate::api::RegisterNode {
        crate::api::RegisterNode {
            name: name.into(),
            arches: arches.iter().map(|a| a.parse().unwrap()).collect(),
            labels: vec![],
            capacity: 1,
            excluded_packages: vec![],
        }
    }

    fn report(integrity: bool) -> TestReport {
        TestReport {
            stages: vec![
                TestStage {
                    name: "install".into(),
                    passed: true,
                    tap: "TAP version 13\n1..1\nok 1 - install\n".into(),
                    log: String::new(),
                },
                TestStage {
                    name: "integrity".into(),
                    passed: integrity,
                    tap: "TAP version 13\n1..1\nnot ok 1 - links\n".into(),
                    log: "dangling symlink /usr/bin/x".into(),
                },
            ],
        }
    }

    /// The rules of test tasks, on any store.
    pub(crate) async fn suite(s: &dyn Store) {
        let t0 = crate::conformance::T0;
        crate::conformance::put_bundled_platforms(s).await;
        let nb = crate::conformance::new_build("tester", &["bash"], &["x86_64", "aarch64"]);
        let b = s.create_build(&nb, t0).await.unwrap();
        let arches: Vec<Arch> = vec!["x86_64".parse().unwrap(), "aarch64".parse().unwrap()];
        assert!(matches!(
            s.create_test_tasks(999_999, &arches, t0).await,
            Err(DbError::NotFound { .. })
        ));
        let tasks = s.create_test_tasks(b.id, &arches, t0).await.unwrap();
        assert_eq!(tasks.len(), 2);
        assert!(tasks.iter().all(|t| t.state == TestState::Pending));
        // Creating again adds nothing.
        let again = s.create_test_tasks(b.id, &arches, t0).await.unwrap();
        assert_eq!(again, tasks);
        let x86 = tasks
            .iter()
            .find(|t| t.arch.as_str() == "x86_64")
            .unwrap()
            .clone();

        // Claims follow the node's arches.
        let ppc = s
            .register_node(&node("ppc", &["ppc64le"]), &Sha256([1; 32]), t0)
            .await
            .unwrap();
        let lease = Duration::from_secs(30);
        assert!(s.claim_test_task(&ppc, t0, lease).await.unwrap().is_none());
        let n = s
            .register_node(&node("x86", &["x86_64"]), &Sha256([2; 32]), t0)
            .await
            .unwrap();
        let c = s.claim_test_task(&n, t0, lease).await.unwrap().unwrap();
        assert_eq!(c.task.id, x86.id);
        assert_eq!(c.task.state, TestState::Running);
        assert_eq!(c.task.attempts, 1);
        assert_eq!(c.task.node.as_deref(), Some("x86"));
        assert!(s.claim_test_task(&n, t0, lease).await.unwrap().is_none());

        // Logs and heartbeats need the lease.
        assert!(matches!(
            s.append_test_log(ppc.id, x86.id, &["x".into()]).await,
            Err(DbError::LeaseLost { .. })
        ));
        assert_eq!(
            s.append_test_log(n.id, x86.id, &["one".into(), "two".into()])
                .await
                .unwrap(),
            2
        );
        assert_eq!(
            s.append_test_log(n.id, x86.id, &["three".into()])
                .await
                .unwrap(),
            3
        );
        let hb = s.test_heartbeat(n.id, x86.id, t0, lease).await.unwrap();
        assert!(!hb.cancel);
        assert!(matches!(
            s.test_heartbeat(ppc.id, x86.id, t0, lease).await,
            Err(DbError::LeaseLost { .. })
        ));

        // A failed stage fails the task; completing again changes nothing.
        let t1 = t0 + time::Duration::seconds(5);
        let failed = TestResult {
            report: report(false),
            reason: None,
        };
        assert_eq!(failed.state(), TestState::Failed);
        let done = s
            .complete_test_task(n.id, x86.id, &failed, t1)
            .await
            .unwrap();
        assert_eq!(done.state, TestState::Failed);
        assert_eq!(done.report.as_ref(), Some(&failed.report));
        assert_eq!(done.log, "one\ntwo\nthree\n");
        assert_eq!(done.finished, Some(t1));
        let same = s
            .complete_test_task(n.id, x86.id, &failed, t1)
            .await
            .unwrap();
        assert_eq!(same, done);
        assert!(matches!(
            s.complete_test_task(ppc.id, x86.id, &failed, t1).await,
            Err(DbError::LeaseLost { .. })
        ));

        // Restart: back to pending, cleared; it runs again and passes.
        let restarted = s.restart_test_tasks(b.id).await.unwrap();
        let r = restarted.iter().find(|t| t.id == x86.id).unwrap();
        assert_eq!(r.state, TestState::Pending);
        assert_eq!(
            (r.attempts, r.report.as_ref(), r.log.as_str()),
            (0, None, "")
        );
        let c = s.claim_test_task(&n, t1, lease).await.unwrap().unwrap();
        assert_eq!(c.task.id, x86.id);
        let passed = TestResult {
            report: report(true),
            reason: None,
        };
        let done = s
            .complete_test_task(n.id, x86.id, &passed, t1)
            .await
            .unwrap();
        assert_eq!(done.state, TestState::Passed);
        // A passed task is not restarted.
        let kept = s.restart_test_tasks(b.id).await.unwrap();
        assert_eq!(
            kept.iter().find(|t| t.id == x86.id).unwrap().state,
            TestState::Passed
        );

        // Cancel: a running task learns it on its heartbeat, its completion
        // changes nothing; a pending one ends at once.
        let arm = s
            .register_node(&node("arm", &["aarch64"]), &Sha256([3; 32]), t0)
            .await
            .unwrap();
        let c = s.claim_test_task(&arm, t1, lease).await.unwrap().unwrap();
        assert_eq!(c.task.arch.as_str(), "aarch64");
        let cancelled = s.cancel_test_tasks(b.id, t1).await.unwrap();
        let a = cancelled.iter().find(|t| t.id == c.task.id).unwrap();
        assert_eq!(a.state, TestState::Cancelled);
        assert!(
            s.test_heartbeat(arm.id, a.id, t1, lease)
                .await
                .unwrap()
                .cancel
        );
        let end = s
            .complete_test_task(arm.id, a.id, &passed, t1)
            .await
            .unwrap();
        assert_eq!(end.state, TestState::Cancelled);

        // Expiry: back to pending with a backoff, then failed.
        s.restart_test_tasks(b.id).await.unwrap();
        let policy = RetryPolicy {
            max_attempts: 2,
            backoff: Duration::from_secs(10),
            max_backoff: Duration::from_secs(10),
        };
        let mut now = t1;
        for attempt in 1..=2u32 {
            let c = s.claim_test_task(&arm, now, lease).await.unwrap().unwrap();
            assert_eq!((c.task.id, c.task.attempts), (a.id, attempt));
            now += time::Duration::seconds(31);
            assert_eq!(
                s.expire_test_leases(now, &policy).await.unwrap(),
                vec![a.id]
            );
            assert!(s.claim_test_task(&arm, now, lease).await.unwrap().is_none());
            now += time::Duration::seconds(11);
        }
        let gone = s.test_task(a.id).await.unwrap().unwrap();
        assert_eq!(gone.state, TestState::Failed);
        assert!(gone.reason.unwrap().contains("arm"), "names the node");
        assert_eq!(s.build_test_tasks(b.id).await.unwrap().len(), 2);
    }

    #[test]
    fn an_empty_report_or_a_reason_fails() {
        assert_eq!(TestResult::default().state(), TestState::Failed);
        let r = TestResult {
            report: report(true),
            reason: Some("rpm is missing".into()),
        };
        assert_eq!(r.state(), TestState::Failed);
    }

    #[tokio::test]
    async fn test_task_rules_on_sqlite() {
        let s = SqliteStore::memory().await.unwrap();
        suite(&s).await;
    }

    #[tokio::test]
    async fn test_task_rules_on_postgres() {
        let Ok(url) = std::env::var("ALBS_TEST_DATABASE_URL") else {
            eprintln!("ALBS_TEST_DATABASE_URL is not set; the PostgreSQL run is skipped");
            return;
        };
        let schema = format!("testing_{}", std::process::id());
        let s = crate::db::PgStore::connect_with(&url, Some(&schema), 4)
            .await
            .unwrap();
        suite(&s).await;
        s.drop_schema().await.unwrap();
    }
}

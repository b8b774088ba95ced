//! Test tasks on build nodes: a node that has no build task claims a test
//! task for one of its arches, downloads the build's packages, runs the
//! [`Tester`] ([`RootTester`] unless another is given), sends what happens
//! to the task log (each stage's result and log as it ends) and completes
//! the task with the report.
//!
//! The lease is kept with heartbeats; a cancel from the server stops the
//! tester and the completion that follows changes nothing; a lost lease
//! stops the run without completing. Completion is retried until the server
//! answers, since it treats a repeated completion as the same one.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::OnceCell;
use tokio_util::sync::CancellationToken;

use super::RootTester;
use crate::api::{TestAssignment, TestResult, TestState};
use crate::client::{Client, ClientError};
use crate::node::{NodeConfig, NodeError};
use crate::test::{TestReport, Tester};

/// Longest log line sent (the server refuses longer ones).
const MAX_LINE: usize = 16 * 1024;
/// Lines per log request.
const LOG_CHUNK: usize = 500;

/// What happened to a test task, as the node saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TestEnd {
    /// Completed; the server now shows this state.
    Completed(TestState),
    /// The lease was lost; another node has the task, or a user restarted it.
    LeaseLost,
}

/// Runs test tasks for a node.
pub struct TestWorker {
    client: Client,
    tester: OnceCell<Arc<dyn Tester>>,
    config: NodeConfig,
}

impl TestWorker {
    /// A worker using `client` (which holds the node token); the
    /// [`RootTester`] is made when the first task comes.
    pub fn new(client: Client, config: NodeConfig) -> Self {
        TestWorker {
            client,
            tester: OnceCell::new(),
            config,
        }
    }

    /// Tests with `tester` instead of a [`RootTester`].
    pub fn with_tester(self, tester: Arc<dyn Tester>) -> Self {
        TestWorker {
            tester: OnceCell::new_with(Some(tester)),
            ..self
        }
    }

    async fn tester(&self, tests: Option<&str>) -> Result<Arc<dyn Tester>, String> {
        if let Some(source) = tests {
            // Third-party tests belong to the task: a tester of its own.
            let source = source.to_owned();
            let t = tokio::task::spawn_blocking(move || RootTester::detect().with_tests(source))
                .await
                .map_err(|e| format!("the tester could not be set up: {e}"))?;
            return Ok(Arc::new(t));
        }
        let t = self
            .tester
            .get_or_try_init(|| async {
                tokio::task::spawn_blocking(|| Arc::new(RootTester::detect()) as Arc<dyn Tester>)
                    .await
                    .map_err(|e| format!("the tester could not be set up: {e}"))
            })
            .await?;
        Ok(t.clone())
    }

    /// Claims one test task and runs it to its end; false when the server
    /// had none for this node (or could not be asked).
    pub async fn run_one(&self, shutdown: &CancellationToken) -> Result<bool, NodeError> {
        let task = match self.client.test_claim().await {
            Ok(c) => c.task,
            Err(e @ ClientError::Api { status: 401, .. }) => return Err(e.into()),
            Err(e) => {
                tracing::warn!(error = %e, "test claim failed");
                None
            }
        };
        let Some(task) = task else {
            return Ok(false);
        };
        let id = task.task_id;
        match self.run_task(task, shutdown).await {
            Ok(end) => tracing::info!(test = id, ?end, "test task ended"),
            Err(e) => tracing::warn!(test = id, error = %e, "test task could not be run"),
        }
        Ok(true)
    }

    /// Runs one claimed test task and completes it on the server.
    pub async fn run_task(
        &self,
        task: TestAssignment,
        shutdown: &CancellationToken,
    ) -> Result<TestEnd, NodeError> {
        let io = |what: &str| {
            let what = what.to_owned();
            move |source| NodeError::Io { what, source }
        };
        std::fs::create_dir_all(&self.config.work_dir)
            .map_err(io("creating the work directory"))?;
        let work = tempfile::Builder::new()
            .prefix(&format!("test-{}-", task.task_id))
            .tempdir_in(&self.config.work_dir)
            .map_err(io("creating a test task directory"))?;
        let cancel = shutdown.child_token();
        let lost = CancellationToken::new();
        let every = self
            .config
            .heartbeat_interval
            .min(Duration::from_millis(task.lease_secs.max(1) * 1000 / 3));
        let heartbeat = tokio::spawn(heartbeats(
            self.client.clone(),
            task.task_id,
            every,
            cancel.clone(),
            lost.clone(),
        ));
        let result = tokio::select! {
            r = self.execute(&task, work.path().to_path_buf(), &lost) => r,
            _ = cancel.cancelled() => Err("the test task was cancelled".to_owned()),
        };
        heartbeat.abort();
        if lost.is_cancelled() {
            return Ok(TestEnd::LeaseLost);
        }
        let result = match result {
            Ok(report) => TestResult {
                report,
                reason: None,
            },
            Err(reason) => {
                self.log(task.task_id, &[format!("error: {reason}")], &lost)
                    .await;
                TestResult {
                    report: TestReport::default(),
                    reason: Some(reason),
                }
            }
        };
        let mut delay = Duration::from_millis(200);
        loop {
            match self.client.test_complete(task.task_id, &result).await {
                Ok(t) => return Ok(TestEnd::Completed(t.state)),
                Err(ClientError::Api { status: 409, .. }) => return Ok(TestEnd::LeaseLost),
                Err(e @ ClientError::Api { .. }) => return Err(e.into()),
                Err(e) => {
                    if shutdown.is_cancelled() {
                        return Err(e.into());
                    }
                    tracing::warn!(error = %e, "completing test task {} failed; retrying", task.task_id);
                    tokio::time::sleep(delay).await;
                    delay = (delay * 2).min(Duration::from_secs(10));
                }
            }
        }
    }

    /// Sends log lines (split at newlines, long ones cut); a lost lease
    /// marks `lost`.
    async fn log(&self, task: u64, lines: &[String], lost: &CancellationToken) {
        let mut out = Vec::new();
        for l in lines {
            for part in l.split('\n') {
                let mut p = part.trim_end_matches('\r').to_owned();
                if p.len() > MAX_LINE {
                    let mut cut = MAX_LINE;
                    while !p.is_char_boundary(cut) {
                        cut -= 1;
                    }
                    p.truncate(cut);
                }
                out.push(p);
            }
        }
        for chunk in out.chunks(LOG_CHUNK) {
            match self.client.test_append_log(task, chunk.to_vec()).await {
                Ok(_) => {}
                Err(ClientError::Api { status: 409, .. }) => {
                    lost.cancel();
                    return;
                }
                Err(e) => tracing::warn!(test = task, error = %e, "log lines could not be sent"),
            }
        }
    }

    /// Downloads the packages and tests them; an `Err` is why the tester
    /// could not run.
    async fn execute(
        &self,
        task: &TestAssignment,
        work: PathBuf,
        lost: &CancellationToken,
    ) -> Result<TestReport, String> {
        let id = task.task_id;
        if task.packages.is_empty() {
            return Err(format!(
                "build {} has no {} packages to test",
                task.build_id, task.arch
            ));
        }
        let mut paths = Vec::with_capacity(task.packages.len());
        for p in &task.packages {
            self.log(
                id,
                &[format!("downloading {} ({})", p.name, p.sha256)],
                lost,
            )
            .await;
            // The file name is ours (from the digest), never the server's.
            let path = work.join(format!("{}.rpm", p.sha256));
            self.client
                .download(&p.sha256, &path)
                .await
                .map_err(|e| format!("cannot download {}: {e}", p.name))?;
            paths.push(path);
        }
        self.log(
            id,
            &[format!(
                "testing {} packages of build {} for {} on {}",
                paths.len(),
                task.build_id,
                task.arch,
                task.platform.name
            )],
            lost,
        )
        .await;
        let tester = self.tester(task.tests.as_deref()).await?;
        let report = tester
            .test(&paths, &task.platform, &task.arch)
            .await
            .map_err(|e| e.to_string())?;
        for s in &report.stages {
            let mut lines = vec![format!(
                "stage {}: {}",
                s.name,
                if s.passed { "passed" } else { "FAILED" }
            )];
            lines.extend(s.log.lines().map(|l| format!("  {l}")));
            self.log(id, &lines, lost).await;
        }
        Ok(report)
    }
}

async fn heartbeats(
    client: Client,
    task: u64,
    every: Duration,
    cancel: CancellationToken,
    lost: CancellationToken,
) {
    loop {
        tokio::time::sleep(every).await;
        match client.test_heartbeat(task).await {
            Ok(h) if h.cancel => {
                tracing::info!(test = task, "the server cancelled the test task");
                cancel.cancel();
                return;
            }
            Ok(_) => {}
            Err(ClientError::Api { status: 409, .. })
            | Err(ClientError::Api { status: 404, .. }) => {
                tracing::warn!(test = task, "lease lost; stopping the tests");
                lost.cancel();
                cancel.cancel();
                return;
            }
            Err(e) => tracing::warn!(test = task, error = %e, "heartbeat failed"),
        }
    }
}

//! The build node: claims tasks from a server, runs them through the ports,
//! streams logs while they run, uploads artifacts and completes the task.
//!
//! A node holds a lease on its task and extends it with heartbeats; when the
//! server answers a heartbeat with `cancel`, the node stops the build (the
//! executor kills rpmbuild) and completes the task as cancelled. When its
//! lease is lost (the server gave the task to another node), it stops and
//! does not complete. Completion is retried until the server answers, since
//! the server treats a repeated completion as the same one.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::api::{TaskAssignment, TaskResult};
use crate::build::{ArchRules, BuildContext, BuildExecutor, BuildOutcome, LogSink, LogStream};
use crate::client::{Client, ClientError};
use crate::model::{Arch, Artifact, ArtifactKind, TaskKind, TaskState};
use crate::rpmfile::read_header;
use crate::source::SourceFetcher;

/// Errors that stop a node (a failing task does not: it is reported).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum NodeError {
    /// The server refused or could not be reached.
    #[error(transparent)]
    Client(#[from] ClientError),
    /// Local I/O failed.
    #[error("{what}: {source}")]
    Io {
        /// What was being done.
        what: String,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
}

/// How a node paces itself.
#[derive(Debug, Clone)]
pub struct NodeConfig {
    /// Scratch space for sources and builds.
    pub work_dir: PathBuf,
    /// Wait between claims when the queue is empty.
    pub poll_interval: Duration,
    /// Heartbeat period (well below the server's lease).
    pub heartbeat_interval: Duration,
    /// How often buffered log lines are sent.
    pub log_flush: Duration,
}

impl Default for NodeConfig {
    fn default() -> Self {
        NodeConfig {
            work_dir: std::env::temp_dir().join("albs-node"),
            poll_interval: Duration::from_secs(2),
            heartbeat_interval: Duration::from_secs(5),
            log_flush: Duration::from_millis(500),
        }
    }
}

/// A build node bound to one server.
pub struct BuildNode {
    client: Client,
    fetcher: Arc<dyn SourceFetcher>,
    executor: Arc<dyn BuildExecutor>,
    config: NodeConfig,
    /// Runs test tasks when there is no build task.
    tests: crate::tester::node::TestWorker,
}

/// What happened to a task, as the node saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TaskEnd {
    /// Completed with this state.
    Completed(TaskState),
    /// The lease was lost; another node has the task.
    LeaseLost,
}

impl BuildNode {
    /// A node using `client` (which holds the node token).
    pub fn new(
        client: Client,
        fetcher: Arc<dyn SourceFetcher>,
        executor: Arc<dyn BuildExecutor>,
        config: NodeConfig,
    ) -> Self {
        BuildNode {
            tests: crate::tester::node::TestWorker::new(client.clone(), config.clone()),
            client,
            fetcher,
            executor,
            config,
        }
    }

    /// Runs test tasks with `tester` instead of a
    /// [`RootTester`](crate::tester::RootTester).
    pub fn with_tester(mut self, tester: Arc<dyn crate::test::Tester>) -> Self {
        self.tests = self.tests.with_tester(tester);
        self
    }

    /// Claims and runs tasks until `shutdown`.
    pub async fn run(&self, shutdown: CancellationToken) -> Result<(), NodeError> {
        while !shutdown.is_cancelled() {
            let claimed = match self.client.claim().await {
                Ok(c) => c.task,
                Err(e @ ClientError::Api { status: 401, .. }) => return Err(e.into()),
                Err(e) => {
                    tracing::warn!(error = %e, "claim failed; retrying");
                    None
                }
            };
            match claimed {
                Some(task) => {
                    let id = task.task_id;
                    match self.run_task(task, &shutdown).await {
                        Ok(end) => tracing::info!(task = id, ?end, "task ended"),
                        Err(e) => tracing::warn!(task = id, error = %e, "task could not be run"),
                    }
                }
                // No build task: a test task, else a pause.
                None if self.tests.run_one(&shutdown).await? => {}
                None => {
                    tokio::select! {
                        _ = shutdown.cancelled() => {}
                        _ = tokio::time::sleep(self.config.poll_interval) => {}
                    }
                }
            }
        }
        Ok(())
    }

    /// Runs one claimed task to its end and completes it on the server.
    pub async fn run_task(
        &self,
        task: TaskAssignment,
        shutdown: &CancellationToken,
    ) -> Result<TaskEnd, NodeError> {
        std::fs::create_dir_all(&self.config.work_dir)
            .map_err(io("creating the work directory"))?;
        let work = tempfile::Builder::new()
            .prefix(&format!("task-{}-", task.task_id))
            .tempdir_in(&self.config.work_dir)
            .map_err(io("creating a task directory"))?;
        let cancel = shutdown.child_token();
        let lost = CancellationToken::new();
        let log = Arc::new(PushLog::default());

        // Three heartbeats per lease, so one lost request does not lose it.
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
        let pusher = tokio::spawn(push_logs(
            self.client.clone(),
            task.task_id,
            log.clone(),
            self.config.log_flush,
            cancel.clone(),
        ));

        let result = self.execute(&task, work.path(), &cancel, log.clone()).await;
        heartbeat.abort();
        // Send the last lines before completing, so the log is whole when the
        // task shows as ended.
        log.closed.cancel();
        let _ = pusher.await;

        if lost.is_cancelled() {
            return Ok(TaskEnd::LeaseLost);
        }
        let result = match result {
            Ok(r) => r,
            Err(reason) => TaskResult {
                state: TaskState::Failed,
                reason: Some(reason),
                artifacts: vec![],
                noarch: false,
                commit: None,
                build_requires: vec![],
                produces: vec![],
            },
        };
        let state = result.state;
        let mut delay = Duration::from_millis(200);
        loop {
            match self.client.complete(task.task_id, &result).await {
                Ok(_) => return Ok(TaskEnd::Completed(state)),
                Err(ClientError::Api { status: 409, .. }) => return Ok(TaskEnd::LeaseLost),
                Err(e @ ClientError::Api { .. }) => return Err(e.into()),
                Err(e) => {
                    if shutdown.is_cancelled() {
                        return Err(e.into());
                    }
                    tracing::warn!(error = %e, "completing task {} failed; retrying", task.task_id);
                    tokio::time::sleep(delay).await;
                    delay = (delay * 2).min(Duration::from_secs(10));
                }
            }
        }
    }

    /// Runs the task; an `Err` is a failure reason.
    async fn execute(
        &self,
        task: &TaskAssignment,
        work: &Path,
        cancel: &CancellationToken,
        log: Arc<PushLog>,
    ) -> Result<TaskResult, String> {
        let arch = match &task.kind {
            TaskKind::Src => Arch::src(),
            TaskKind::Arch(a) => a.clone(),
        };
        let ctx = BuildContext {
            platform: task.platform.clone(),
            arch: arch.clone(),
            timeout: Duration::from_secs(task.timeout_secs),
            cancel: cancel.clone(),
            log: log.clone(),
        };
        let out = work.join("out");
        std::fs::create_dir_all(&out)
            .map_err(|e| format!("cannot create {}: {e}", out.display()))?;
        let mut commit = None;
        let mut noarch = false;
        // What the spec's packages provide, for builds in dependency order.
        let mut spec_provides: Option<Vec<String>> = None;
        let (outcome, kind) = match &task.kind {
            TaskKind::Src => {
                log.line(LogStream::Albs, &format!("fetching {}", task.source));
                let src = work.join("src");
                std::fs::create_dir_all(&src).map_err(|e| e.to_string())?;
                let fetched = self
                    .fetcher
                    .fetch(&task.source, &src)
                    .await
                    .map_err(|e| e.to_string())?;
                commit = fetched.commit.clone();
                if let Some(spec) = &fetched.spec {
                    match crate::spec::query(&fetched.root.join(spec), &ctx.platform).await {
                        Ok(info) => {
                            let mut p = info.packages;
                            p.extend(info.provides);
                            spec_provides = Some(p);
                        }
                        Err(e) => log.line(
                            LogStream::Albs,
                            &format!("cannot read what the spec provides (the build order will not know): {e}"),
                        ),
                    }
                }
                for l in &fetched.lookaside {
                    log.line(
                        LogStream::Albs,
                        &format!("lookaside {} verified ({})", l.path, l.checksum),
                    );
                }
                let outcome = self
                    .executor
                    .build_srpm(&fetched, &ctx, &out)
                    .await
                    .map_err(|e| e.to_string())?;
                (outcome, ArtifactKind::Srpm)
            }
            TaskKind::Arch(_) => {
                let srpm = task
                    .srpm
                    .as_ref()
                    .ok_or("the server sent an arch task without its SRPM")?;
                // The file name is ours (from the digest), never the server's.
                let path = work.join(format!("{}.src.rpm", srpm.sha256));
                log.line(LogStream::Albs, &format!("downloading {}", srpm.name));
                self.client
                    .download(&srpm.sha256, &path)
                    .await
                    .map_err(|e| e.to_string())?;
                let outcome = self
                    .executor
                    .build_rpms(&path, &ctx, &out)
                    .await
                    .map_err(|e| e.to_string())?;
                (outcome, ArtifactKind::Rpm)
            }
        };
        let (state, reason, files) = match outcome {
            BuildOutcome::Built { files } => (TaskState::Succeeded, None, files),
            BuildOutcome::Excluded { reason } => (TaskState::Excluded, Some(reason), vec![]),
            BuildOutcome::Failed { reason, .. } => (TaskState::Failed, Some(reason), vec![]),
            BuildOutcome::TimedOut { after, .. } => (
                TaskState::TimedOut,
                Some(format!(
                    "timed out after {} s and was killed",
                    after.as_secs()
                )),
                vec![],
            ),
            BuildOutcome::Cancelled => (TaskState::Cancelled, Some("cancelled".into()), vec![]),
        };
        let mut artifacts = Vec::new();
        let (mut build_requires, mut produces) = (vec![], vec![]);
        for f in &files {
            let header = read_header(f).map_err(|e| e.to_string())?;
            if kind == ArtifactKind::Srpm {
                noarch = ArchRules::read(f).map(|r| r.noarch_only()).unwrap_or(false);
                match crate::solve::order::input_from_srpm(f, spec_provides.as_deref()) {
                    Ok(input) => {
                        (build_requires, produces) = (input.build_requires, input.produces)
                    }
                    Err(e) => log.line(
                        LogStream::Albs,
                        &format!("cannot read the SRPM's BuildRequires: {e}"),
                    ),
                }
            }
            let (sha256, size) = crate::Sha256::of_reader(
                std::fs::File::open(f).map_err(|e| format!("{}: {e}", f.display()))?,
            )
            .map_err(|e| format!("{}: {e}", f.display()))?;
            log.line(
                LogStream::Albs,
                &format!("uploading {} ({sha256})", header.nevra),
            );
            self.client
                .upload(task.task_id, &sha256, f)
                .await
                .map_err(|e| e.to_string())?;
            artifacts.push(Artifact {
                sha256,
                size,
                name: header.nevra.file_name(),
                kind,
                nevra: Some(header.nevra),
            });
        }
        Ok(TaskResult {
            state,
            reason,
            artifacts,
            noarch,
            commit,
            build_requires,
            produces,
        })
    }
}

fn io(what: &'static str) -> impl FnOnce(std::io::Error) -> NodeError {
    move |source| NodeError::Io {
        what: what.into(),
        source,
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
        match client.heartbeat(task).await {
            Ok(h) if h.cancel => {
                tracing::info!(task, "the server cancelled the task");
                cancel.cancel();
            }
            Ok(_) => {}
            Err(ClientError::Api { status: 409, .. })
            | Err(ClientError::Api { status: 404, .. }) => {
                tracing::warn!(task, "lease lost; stopping the build");
                lost.cancel();
                cancel.cancel();
                return;
            }
            Err(e) => tracing::warn!(task, error = %e, "heartbeat failed"),
        }
    }
}

/// Buffers log lines for the pusher.
#[derive(Default)]
struct PushLog {
    lines: Mutex<Vec<String>>,
    closed: CancellationToken,
}

impl LogSink for PushLog {
    fn line(&self, _stream: LogStream, line: &str) {
        self.lines.lock().expect("log lock").push(line.to_owned());
    }
}

async fn push_logs(
    client: Client,
    task: u64,
    log: Arc<PushLog>,
    every: Duration,
    cancel: CancellationToken,
) {
    loop {
        let closing = tokio::select! {
            _ = log.closed.cancelled() => true,
            _ = tokio::time::sleep(every) => false,
        };
        let lines = std::mem::take(&mut *log.lines.lock().expect("log lock"));
        for chunk in lines.chunks(500) {
            if let Err(e) = client.append_log(task, chunk.to_vec()).await {
                tracing::warn!(task, error = %e, "log lines could not be sent");
                if matches!(e, ClientError::Api { status: 409, .. }) {
                    cancel.cancel();
                    return;
                }
            }
        }
        if closing {
            return;
        }
    }
}

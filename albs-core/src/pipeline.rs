//! The local pipeline: refs → sources → SRPMs → RPMs → artifact store →
//! ledger, on this machine, in BuildRequires order.
//!
//! This is what `albs build` runs. Each step goes through a port, so the same
//! pipeline runs on real adapters (gix, rpmbuild, a directory store, a file
//! ledger) and on the in-memory ones in tests.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio_util::sync::CancellationToken;

use crate::build::{BuildContext, BuildError, BuildExecutor, BuildOutcome, LogSink, LogStream};
use crate::hash::Sha256;
use crate::ledger::{Inputs, Ledger, LedgerError, LedgerExt, LedgerRecord, RecordKind, TaskInfo};
use crate::model::{Arch, Artifact, ArtifactKind, TaskState};
use crate::platform::{Platform, PlatformError};
use crate::rpmfile::{RpmFileError, read_header};
use crate::source::{FetchedSource, SourceFetcher, SourceRef};
use crate::spec::{SpecError, SpecInfo};
use crate::store::{ArtifactStore, ArtifactStoreExt, StoreError};
use crate::test::{TestReport, Tester};

/// Errors that stop the whole pipeline (a failing package does not: it is a
/// result).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PipelineError {
    /// The request is not valid.
    #[error(transparent)]
    Platform(#[from] PlatformError),
    /// Nothing to build.
    #[error("no sources were given to build")]
    NoSources,
    /// The artifact store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The ledger failed.
    #[error(transparent)]
    Ledger(#[from] LedgerError),
    /// The executor itself failed.
    #[error(transparent)]
    Build(#[from] BuildError),
    /// A built file is not a valid package.
    #[error(transparent)]
    Package(#[from] RpmFileError),
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

fn io(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> PipelineError {
    let what = what.into();
    move |source| PipelineError::Io { what, source }
}

/// A step of the pipeline, reported to [`PipelineEvents`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// Fetching the sources of a ref.
    Fetching,
    /// Sources fetched and verified.
    Fetched {
        /// Package name, when a spec was read.
        name: Option<String>,
        /// Commit checked out.
        commit: Option<String>,
    },
    /// Building the SRPM.
    BuildingSrpm,
    /// Building RPMs for an architecture.
    BuildingRpms(Arch),
    /// Testing the RPMs of an architecture.
    Testing(Arch),
    /// The ref is done.
    Done(TaskState),
}

/// Receives progress as the pipeline runs; every method has a no-op default.
pub trait PipelineEvents: Send + Sync {
    /// Ref number `index` moved to `step`.
    fn step(&self, _index: usize, _source: &SourceRef, _step: &Step) {}
    /// A build log line of ref number `index`.
    fn log(&self, _index: usize, _stream: LogStream, _line: &str) {}
    /// A warning about the whole run (a BuildRequires cycle).
    fn warn(&self, _message: &str) {}
}

/// Events that go nowhere.
pub struct NoEvents;
impl PipelineEvents for NoEvents {}

/// What to build.
#[derive(Debug, Clone)]
pub struct PipelineRequest {
    /// The platform to build for.
    pub platform: Platform,
    /// Architectures (each must be in the platform).
    pub arches: Vec<Arch>,
    /// The refs to build.
    pub sources: Vec<SourceRef>,
    /// Wall-clock limit of each build step.
    pub timeout: Duration,
}

/// The result of one architecture of one ref.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ArchResult {
    /// The architecture.
    pub arch: Arch,
    /// How it ended.
    pub state: TaskState,
    /// Why it failed, timed out or was excluded.
    pub reason: Option<String>,
    /// The last log lines, for failures.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub log_tail: Vec<String>,
    /// The binary RPMs (noarch ones appear for every arch).
    pub rpms: Vec<Artifact>,
    /// The build log, stored as an artifact.
    pub log: Option<Artifact>,
    /// The test report, when a tester ran.
    pub test: Option<TestReport>,
    /// Ledger indices of the RPM records.
    pub ledger: Vec<u64>,
}

/// The result of one ref.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RefResult {
    /// What was asked for.
    pub source: SourceRef,
    /// The package name, when known.
    pub name: Option<String>,
    /// The commit built.
    pub commit: Option<String>,
    /// Lookaside sources that were verified.
    pub lookaside: Vec<crate::source::VerifiedSource>,
    /// How the source step ended.
    pub state: TaskState,
    /// Why the source step failed.
    pub reason: Option<String>,
    /// The last log lines of a failed SRPM build.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub log_tail: Vec<String>,
    /// The SRPM.
    pub srpm: Option<Artifact>,
    /// Per architecture.
    pub arches: Vec<ArchResult>,
}

impl RefResult {
    /// Whether the ref built on every arch (excluded arches count as fine).
    pub fn succeeded(&self) -> bool {
        self.state == TaskState::Succeeded
            && self
                .arches
                .iter()
                .all(|a| matches!(a.state, TaskState::Succeeded | TaskState::Excluded))
    }
}

/// The result of a pipeline run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PipelineReport {
    /// Results in the order of the request.
    pub refs: Vec<RefResult>,
    /// The order the refs were built in (indices into `refs`).
    pub order: Vec<usize>,
    /// Ledger size after the run.
    pub ledger_size: u64,
    /// Ledger tree head (hex) after the run.
    pub ledger_root: String,
}

impl PipelineReport {
    /// Whether every ref succeeded.
    pub fn succeeded(&self) -> bool {
        self.refs.iter().all(RefResult::succeeded)
    }
}

/// Reads what a spec builds and needs (the real one is [`crate::spec::query`]).
#[async_trait::async_trait]
pub trait SpecReader: Send + Sync {
    /// Reads `spec` under `platform`'s macros.
    async fn read(&self, spec: &Path, platform: &Platform) -> Result<SpecInfo, SpecError>;
}

/// [`SpecReader`] through `rpmspec`.
pub struct RpmspecReader;

#[async_trait::async_trait]
impl SpecReader for RpmspecReader {
    async fn read(&self, spec: &Path, platform: &Platform) -> Result<SpecInfo, SpecError> {
        crate::spec::query(spec, platform).await
    }
}

/// The ports the pipeline runs on.
#[derive(Clone)]
pub struct LocalPipeline {
    /// Fetches sources.
    pub fetcher: Arc<dyn SourceFetcher>,
    /// Builds SRPMs and RPMs.
    pub executor: Arc<dyn BuildExecutor>,
    /// Keeps artifacts.
    pub store: Arc<dyn ArtifactStore>,
    /// Records what was built from what.
    pub ledger: Arc<dyn Ledger>,
    /// Reads specs for the build order; `None` builds in the order given.
    pub specs: Option<Arc<dyn SpecReader>>,
    /// Tests built RPMs; `None` skips testing.
    pub tester: Option<Arc<dyn Tester>>,
    /// A scratch directory for sources and build outputs.
    pub work_dir: PathBuf,
    /// The name recorded as build host.
    pub host: String,
    /// Cancels the run.
    pub cancel: CancellationToken,
}

struct Prepared {
    fetched: Option<FetchedSource>,
    spec: Option<SpecInfo>,
}

impl LocalPipeline {
    /// Runs `req` to the end and reports every ref.
    pub async fn run(
        &self,
        req: &PipelineRequest,
        events: Arc<dyn PipelineEvents>,
    ) -> Result<PipelineReport, PipelineError> {
        if req.sources.is_empty() {
            return Err(PipelineError::NoSources);
        }
        for arch in &req.arches {
            req.platform.check_arch(arch)?;
        }
        std::fs::create_dir_all(&self.work_dir).map_err(io("creating the work directory"))?;
        let run_dir = tempfile::Builder::new()
            .prefix("run-")
            .tempdir_in(&self.work_dir)
            .map_err(io("creating a run directory"))?;

        let mut results: Vec<RefResult> = req
            .sources
            .iter()
            .map(|s| RefResult {
                source: s.clone(),
                name: None,
                commit: None,
                lookaside: vec![],
                state: TaskState::Pending,
                reason: None,
                log_tail: vec![],
                srpm: None,
                arches: vec![],
            })
            .collect();

        // 1. Fetch every ref and read its spec.
        let mut prepared = Vec::with_capacity(req.sources.len());
        for (i, source) in req.sources.iter().enumerate() {
            events.step(i, source, &Step::Fetching);
            let dest = run_dir.path().join(format!("{i}/src"));
            std::fs::create_dir_all(&dest).map_err(io("creating a source directory"))?;
            let result = &mut results[i];
            match self.fetcher.fetch(source, &dest).await {
                Ok(fetched) => {
                    let spec = match (&self.specs, &fetched.spec) {
                        (Some(reader), Some(spec)) => {
                            match reader.read(&fetched.root.join(spec), &req.platform).await {
                                Ok(info) => Some(info),
                                Err(e) => {
                                    result.state = TaskState::Failed;
                                    result.reason = Some(e.to_string());
                                    None
                                }
                            }
                        }
                        _ => None,
                    };
                    result.name = spec.as_ref().map(|s| s.name.clone());
                    result.commit = fetched.commit.clone();
                    result.lookaside = fetched.lookaside.clone();
                    events.step(
                        i,
                        source,
                        &Step::Fetched {
                            name: result.name.clone(),
                            commit: result.commit.clone(),
                        },
                    );
                    if result.state != TaskState::Failed {
                        self.record_sources(req, &fetched).await?;
                    }
                    prepared.push(Prepared {
                        fetched: Some(fetched),
                        spec,
                    });
                }
                Err(e) => {
                    result.state = TaskState::Failed;
                    result.reason = Some(e.to_string());
                    prepared.push(Prepared {
                        fetched: None,
                        spec: None,
                    });
                }
            }
        }

        // 2. Order by BuildRequires → Provides.
        let specs: Vec<Option<&SpecInfo>> = prepared.iter().map(|p| p.spec.as_ref()).collect();
        let (order, deps, cycles) = build_order(&specs);
        for cycle in cycles {
            events.warn(&format!(
                "BuildRequires cycle between {}; building them in the order given",
                cycle
                    .iter()
                    .map(|&i| results[i].name.clone().unwrap_or_else(|| i.to_string()))
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        }

        // 3. Build in that order.
        for &i in &order {
            if results[i].state == TaskState::Failed {
                events.step(i, &req.sources[i], &Step::Done(TaskState::Failed));
                continue;
            }
            if let Some(&dep) = deps[i]
                .iter()
                .find(|&&d| !results[d].succeeded() && order_pos(&order, d) < order_pos(&order, i))
            {
                let reason = format!(
                    "not built: it needs {}, which failed",
                    results[dep]
                        .name
                        .clone()
                        .unwrap_or_else(|| req.sources[dep].to_string())
                );
                results[i].state = TaskState::Failed;
                results[i].reason = Some(reason);
                events.step(i, &req.sources[i], &Step::Done(TaskState::Failed));
                continue;
            }
            let fetched = prepared[i]
                .fetched
                .as_ref()
                .expect("fetched refs have a tree");
            let dir = run_dir.path().join(i.to_string());
            let mut result = results[i].clone();
            self.build_ref(req, i, fetched, &dir, &mut result, &events)
                .await?;
            let state = if result.succeeded() {
                TaskState::Succeeded
            } else {
                TaskState::Failed
            };
            events.step(i, &req.sources[i], &Step::Done(state));
            results[i] = result;
        }

        let ledger_size = self.ledger.size().await?;
        let ledger_root = hex::encode(self.ledger.root_at(ledger_size).await?);
        Ok(PipelineReport {
            refs: results,
            order,
            ledger_size,
            ledger_root,
        })
    }

    async fn record_sources(
        &self,
        req: &PipelineRequest,
        fetched: &FetchedSource,
    ) -> Result<(), PipelineError> {
        self.ledger
            .append(&self.record(
                req,
                RecordKind::Sources,
                None,
                None,
                Arch::src(),
                fetched,
                None,
            ))
            .await?;
        Ok(())
    }

    #[allow(clippy::too_many_arguments)]
    fn record(
        &self,
        req: &PipelineRequest,
        kind: RecordKind,
        artifact: Option<Sha256>,
        nevra: Option<crate::evr::Nevra>,
        arch: Arch,
        fetched: &FetchedSource,
        srpm: Option<Sha256>,
    ) -> LedgerRecord {
        LedgerRecord {
            kind,
            artifact,
            nevra,
            task: TaskInfo {
                build_id: None,
                task_id: None,
                arch,
                host: self.host.clone(),
                platform: req.platform.name.clone(),
            },
            inputs: Inputs {
                source: fetched.source.clone(),
                commit: fetched.commit.clone(),
                lookaside: fetched.lookaside.clone(),
                srpm,
            },
            time: time::OffsetDateTime::now_utc(),
            signature: None,
            release: None,
        }
    }

    fn context(&self, req: &PipelineRequest, arch: Arch, log: Arc<dyn LogSink>) -> BuildContext {
        BuildContext {
            platform: req.platform.clone(),
            arch,
            timeout: req.timeout,
            cancel: self.cancel.child_token(),
            log,
        }
    }

    async fn build_ref(
        &self,
        req: &PipelineRequest,
        index: usize,
        fetched: &FetchedSource,
        dir: &Path,
        result: &mut RefResult,
        events: &Arc<dyn PipelineEvents>,
    ) -> Result<(), PipelineError> {
        let source = &req.sources[index];
        events.step(index, source, &Step::BuildingSrpm);
        let srpm_out = dir.join("srpm");
        std::fs::create_dir_all(&srpm_out).map_err(io("creating an output directory"))?;
        let log = Arc::new(TaskLog::new(dir.join("src.log"), index, events)?);
        let outcome = self
            .executor
            .build_srpm(
                fetched,
                &self.context(req, Arch::src(), log.clone()),
                &srpm_out,
            )
            .await?;
        let srpm_path = match outcome {
            BuildOutcome::Built { files } if !files.is_empty() => files[0].clone(),
            other => {
                result.state = other.state();
                let (reason, tail) = outcome_reason(&other);
                result.reason = Some(reason);
                result.log_tail = tail;
                return Ok(());
            }
        };
        let srpm = self.store_package(&srpm_path, ArtifactKind::Srpm).await?;
        if result.name.is_none() {
            result.name = srpm.nevra.as_ref().map(|n| n.name.clone());
        }
        self.ledger
            .append(&self.record(
                req,
                RecordKind::Srpm,
                Some(srpm.sha256),
                srpm.nevra.clone(),
                Arch::src(),
                fetched,
                None,
            ))
            .await?;
        result.srpm = Some(srpm.clone());
        result.state = TaskState::Succeeded;

        let mut noarch_result: Option<ArchResult> = None;
        for arch in &req.arches {
            if let Some(done) = &noarch_result {
                // A noarch-only package is built once and appears for every arch.
                let mut copy = done.clone();
                copy.arch = arch.clone();
                result.arches.push(copy);
                continue;
            }
            events.step(index, source, &Step::BuildingRpms(arch.clone()));
            let out = dir.join(format!("rpms-{arch}"));
            std::fs::create_dir_all(&out).map_err(io("creating an output directory"))?;
            let log = Arc::new(TaskLog::new(
                dir.join(format!("{arch}.log")),
                index,
                events,
            )?);
            let outcome = self
                .executor
                .build_rpms(
                    &srpm_path,
                    &self.context(req, arch.clone(), log.clone()),
                    &out,
                )
                .await?;
            let log_artifact = self.store_log(&log, arch).await?;
            let mut ar = ArchResult {
                arch: arch.clone(),
                state: outcome.state(),
                reason: None,
                log_tail: vec![],
                rpms: vec![],
                log: log_artifact,
                test: None,
                ledger: vec![],
            };
            match outcome {
                BuildOutcome::Built { files } => {
                    for f in &files {
                        let a = self.store_package(f, ArtifactKind::Rpm).await?;
                        let rec = self.record(
                            req,
                            RecordKind::Rpm,
                            Some(a.sha256),
                            a.nevra.clone(),
                            arch.clone(),
                            fetched,
                            Some(srpm.sha256),
                        );
                        ar.ledger.push(self.ledger.append(&rec).await?.index);
                        ar.rpms.push(a);
                    }
                    if let Some(tester) = &self.tester
                        && !files.is_empty()
                    {
                        events.step(index, source, &Step::Testing(arch.clone()));
                        match tester.test(&files, &req.platform, arch).await {
                            Ok(report) => {
                                if !report.passed() {
                                    ar.state = TaskState::Failed;
                                    ar.reason = Some("tests failed".into());
                                }
                                ar.test = Some(report);
                            }
                            Err(e) => {
                                ar.state = TaskState::Failed;
                                ar.reason = Some(format!("testing failed: {e}"));
                            }
                        }
                    }
                    let all_noarch = !ar.rpms.is_empty()
                        && ar
                            .rpms
                            .iter()
                            .all(|r| r.nevra.as_ref().is_some_and(|n| n.arch.is_noarch()));
                    if all_noarch && ar.state == TaskState::Succeeded {
                        noarch_result = Some(ar.clone());
                    }
                }
                other => {
                    let (reason, tail) = outcome_reason(&other);
                    ar.reason = Some(reason);
                    ar.log_tail = tail;
                }
            }
            result.arches.push(ar);
        }
        Ok(())
    }

    async fn store_package(
        &self,
        path: &Path,
        kind: ArtifactKind,
    ) -> Result<Artifact, PipelineError> {
        let header = read_header(path)?;
        let stored = self.store.put_file(path).await?;
        Ok(Artifact {
            sha256: stored.sha256,
            size: stored.size,
            name: header.nevra.file_name(),
            kind,
            nevra: Some(header.nevra),
        })
    }

    async fn store_log(
        &self,
        log: &TaskLog,
        arch: &Arch,
    ) -> Result<Option<Artifact>, PipelineError> {
        log.flush()?;
        let stored = self.store.put_file(&log.path).await?;
        Ok(Some(Artifact {
            sha256: stored.sha256,
            size: stored.size,
            name: format!("build-{arch}.log"),
            kind: ArtifactKind::Log,
            nevra: None,
        }))
    }
}

fn order_pos(order: &[usize], i: usize) -> usize {
    order.iter().position(|&x| x == i).unwrap_or(usize::MAX)
}

fn outcome_reason(o: &BuildOutcome) -> (String, Vec<String>) {
    match o {
        BuildOutcome::Built { .. } => ("built nothing".into(), vec![]),
        BuildOutcome::Excluded { reason } => (reason.clone(), vec![]),
        BuildOutcome::Failed { reason, log_tail } => (reason.clone(), log_tail.clone()),
        BuildOutcome::TimedOut { after, log_tail } => (
            format!("timed out after {} s and was killed", after.as_secs()),
            log_tail.clone(),
        ),
        BuildOutcome::Cancelled => ("cancelled".into(), vec![]),
    }
}

/// The name part of a dependency string (`hello >= 1.0` → `hello`).
fn dep_name(dep: &str) -> &str {
    dep.split_whitespace().next().unwrap_or("")
}

/// Orders refs so that each comes after the refs whose packages provide its
/// BuildRequires. Returns the order, each ref's dependencies, and the cycles
/// found (their refs are then built in the order given).
pub fn build_order(
    specs: &[Option<&SpecInfo>],
) -> (Vec<usize>, Vec<BTreeSet<usize>>, Vec<Vec<usize>>) {
    let mut provider: HashMap<&str, usize> = HashMap::new();
    for (i, s) in specs.iter().enumerate() {
        if let Some(s) = s {
            for p in s
                .packages
                .iter()
                .map(String::as_str)
                .chain(s.provides.iter().map(|p| dep_name(p)))
            {
                provider.entry(p).or_insert(i);
            }
        }
    }
    let deps: Vec<BTreeSet<usize>> = specs
        .iter()
        .enumerate()
        .map(|(i, s)| {
            s.map(|s| {
                s.build_requires
                    .iter()
                    .filter_map(|r| provider.get(dep_name(r)).copied())
                    .filter(|&d| d != i)
                    .collect()
            })
            .unwrap_or_default()
        })
        .collect();
    // Kahn's algorithm, taking the lowest ready index first so that the
    // order is stable.
    let n = specs.len();
    let mut remaining: Vec<usize> = deps.iter().map(BTreeSet::len).collect();
    let mut dependents: BTreeMap<usize, Vec<usize>> = BTreeMap::new();
    for (i, d) in deps.iter().enumerate() {
        for &j in d {
            dependents.entry(j).or_default().push(i);
        }
    }
    let mut ready: BTreeSet<usize> = (0..n).filter(|&i| remaining[i] == 0).collect();
    let mut order = Vec::with_capacity(n);
    while let Some(i) = ready.pop_first() {
        order.push(i);
        for &k in dependents.get(&i).into_iter().flatten() {
            remaining[k] -= 1;
            if remaining[k] == 0 {
                ready.insert(k);
            }
        }
    }
    let mut cycles = Vec::new();
    if order.len() < n {
        let stuck: Vec<usize> = (0..n).filter(|i| !order.contains(i)).collect();
        cycles.push(stuck.clone());
        order.extend(stuck);
    }
    (order, deps, cycles)
}

/// A task's log: a file plus the events stream.
struct TaskLog {
    path: PathBuf,
    file: Mutex<std::io::BufWriter<std::fs::File>>,
    index: usize,
    events: Arc<dyn PipelineEvents>,
}

impl TaskLog {
    fn new(
        path: PathBuf,
        index: usize,
        events: &Arc<dyn PipelineEvents>,
    ) -> Result<Self, PipelineError> {
        let file =
            std::fs::File::create(&path).map_err(io(format!("creating {}", path.display())))?;
        Ok(TaskLog {
            path,
            file: Mutex::new(std::io::BufWriter::new(file)),
            index,
            events: events.clone(),
        })
    }

    fn flush(&self) -> Result<(), PipelineError> {
        self.file
            .lock()
            .expect("log lock")
            .flush()
            .map_err(io("writing a build log"))
    }
}

impl LogSink for TaskLog {
    fn line(&self, stream: LogStream, line: &str) {
        let mut f = self.file.lock().expect("log lock");
        // A log that cannot be written must not fail the build: the line still
        // reaches the events stream.
        let _ = writeln!(f, "{line}");
        self.events.log(self.index, stream, line);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::evr::Evr;

    fn spec(name: &str, packages: &[&str], provides: &[&str], brs: &[&str]) -> SpecInfo {
        SpecInfo {
            name: name.into(),
            evr: Evr::new(0, "1", "1"),
            packages: packages.iter().map(|s| s.to_string()).collect(),
            provides: provides.iter().map(|s| s.to_string()).collect(),
            build_requires: brs.iter().map(|s| s.to_string()).collect(),
            exclusive_arch: vec![],
            exclude_arch: vec![],
            noarch: false,
        }
    }

    #[test]
    fn build_order_follows_build_requires() {
        let extras = spec(
            "hello-extras",
            &["hello-extras", "hello-extras-devel"],
            &[],
            &["hello >= 1.0", "gcc"],
        );
        let docs = spec("albs-docs", &["albs-docs"], &["albs-docs = 2.1-3"], &[]);
        let hello = spec("hello", &["hello"], &["greeter = 1.0"], &["gcc", "make"]);
        let tool = spec("tool", &["tool"], &[], &["greeter"]);
        let specs = [Some(&extras), Some(&docs), Some(&hello), Some(&tool)];
        let (order, deps, cycles) = build_order(&specs);
        assert!(cycles.is_empty());
        let pos = |i| order.iter().position(|&x| x == i).unwrap();
        assert!(pos(2) < pos(0), "hello before hello-extras: {order:?}");
        assert!(pos(2) < pos(3), "greeter's provider before tool: {order:?}");
        assert_eq!(deps[0], BTreeSet::from([2]));
        assert_eq!(order.len(), 4);
    }

    #[test]
    fn build_order_reports_cycles_and_keeps_every_ref() {
        let a = spec("a", &["a"], &[], &["b"]);
        let b = spec("b", &["b"], &[], &["a"]);
        let c = spec("c", &["c"], &[], &[]);
        let (order, _, cycles) = build_order(&[Some(&a), Some(&b), Some(&c), None]);
        assert_eq!(order, vec![2, 3, 0, 1]);
        assert_eq!(cycles, vec![vec![0, 1]]);
    }
}

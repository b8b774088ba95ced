//! # albs-python
//!
//! The `albs` Python package: a facade over albs-core built with pyo3 and
//! maturin, with one exception class per error kind, typed stubs and calls
//! that release the GIL.
//!
//! The facade itself is plain Rust (this module), so it is tested without a
//! Python to link against; the `python` feature adds the pyo3 layer
//! ([`py`]) that maps it one to one onto the `albs._albs` extension module.
#![deny(missing_docs)]

use std::cmp::Ordering;
use std::path::Path;
use std::sync::OnceLock;
use std::time::Duration;

use albs_core::api::{BuildOptions, BuildQuery, CreateBuild, LogChunk};
use albs_core::checkpoint::{self, Checkpoint};
use albs_core::client::{Client, ClientError};
use albs_core::evr::{Evr, Nevra};
use albs_core::hash::Sha256;
use albs_core::merkle::TreeHash;
use albs_core::model::{Arch, Build};
use albs_core::solve::order::{self, BuildOrder, OrderInput};
use albs_core::solve::{Job, Pool, Solver, sat};
use albs_core::source::SourceRef;

#[cfg(feature = "python")]
pub mod py;
pub mod repo;
pub mod security;

/// Every failure of the facade, one variant per Python exception class.
#[derive(Debug)]
#[non_exhaustive]
pub enum Error {
    /// Text that should be an EVR, NEVRA, digest, key or package file is not.
    Parse(String),
    /// A repository could not be read.
    Repo(String),
    /// Install jobs cannot be satisfied; one line per rule involved.
    Unsatisfiable(Vec<String>),
    /// A checkpoint, record or consistency proof did not verify.
    Verification(String),
    /// The albs server answered with an error status.
    Api {
        /// HTTP status.
        status: u16,
        /// The whole message (method, route, status, server's words).
        message: String,
    },
    /// The albs server could not be reached.
    Connection(String),
    /// A local file could not be read or written.
    Io(String),
}

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Error::Parse(m)
            | Error::Repo(m)
            | Error::Verification(m)
            | Error::Connection(m)
            | Error::Io(m) => f.write_str(m),
            Error::Unsatisfiable(lines) => write!(f, "cannot install: {}", lines.join("; ")),
            Error::Api { message, .. } => f.write_str(message),
        }
    }
}

impl std::error::Error for Error {}

impl From<ClientError> for Error {
    fn from(e: ClientError) -> Self {
        match &e {
            ClientError::Api { status, .. } => Error::Api {
                status: *status,
                message: e.to_string(),
            },
            ClientError::Io { .. } => Error::Io(e.to_string()),
            _ => Error::Connection(e.to_string()),
        }
    }
}

/// The facade's result.
pub type Result<T, E = Error> = std::result::Result<T, E>;

fn io_error(path: &Path, e: std::io::Error) -> Error {
    Error::Io(format!("{}: {e}", path.display()))
}

/// rpm's version comparison as Python's `cmp` convention: -1, 0 or 1.
pub fn vercmp(a: &str, b: &str) -> i32 {
    ordering(albs_core::evr::rpmvercmp(a, b))
}

/// An [`Ordering`] as -1, 0 or 1.
pub fn ordering(o: Ordering) -> i32 {
    match o {
        Ordering::Less => -1,
        Ordering::Equal => 0,
        Ordering::Greater => 1,
    }
}

/// Parses `[epoch:]version[-release]`.
pub fn parse_evr(text: &str) -> Result<Evr> {
    text.parse().map_err(|e| Error::Parse(format!("{e}")))
}

/// Parses `name-[epoch:]version-release.arch`.
pub fn parse_nevra(text: &str) -> Result<Nevra> {
    text.parse().map_err(|e| Error::Parse(format!("{e}")))
}

/// The NEVRA in the header of the package file at `path` (arch `src` for a
/// source package). A missing file is an I/O error, a non-RPM a parse error.
pub fn read_header(path: &Path) -> Result<Nevra> {
    std::fs::metadata(path).map_err(|e| io_error(path, e))?;
    albs_core::rpmfile::read_header(path)
        .map(|h| h.nevra)
        .map_err(|e| Error::Parse(e.to_string()))
}

/// Lower-case hex sha256 of the file at `path`.
pub fn sha256_file(path: &Path) -> Result<String> {
    let file = std::fs::File::open(path).map_err(|e| io_error(path, e))?;
    let (digest, _) = Sha256::of_reader(file).map_err(|e| io_error(path, e))?;
    Ok(digest.to_hex())
}

/// A package pool for one machine architecture, fed with rpm-md repositories.
#[derive(Debug)]
pub struct Repos {
    pool: Pool,
    installed: Vec<albs_core::solve::PkgId>,
}

/// What [`Repos::solve`] is asked to do.
#[derive(Debug, Default, Clone)]
pub struct Jobs {
    /// Names to install.
    pub install: Vec<String>,
    /// Names to erase.
    pub erase: Vec<String>,
    /// Names to update.
    pub update: Vec<String>,
    /// Update everything installed.
    pub update_all: bool,
    /// Installed packages may be erased to satisfy the jobs.
    pub allow_erasing: bool,
}

impl Repos {
    /// An empty pool for `arch`.
    pub fn new(arch: &str) -> Self {
        let mut pool = Pool::new();
        pool.set_arch(arch);
        Repos {
            pool,
            installed: Vec::new(),
        }
    }

    /// Adds the installed system as rpm-md (a `primary.xml` or repository
    /// directory); returns how many packages it held.
    pub fn add_installed(&mut self, path: &Path) -> Result<usize> {
        let first = self.pool.len() as u32;
        let n = self.add_repo(path)?;
        self.installed
            .extend((first..self.pool.len() as u32).map(albs_core::solve::PkgId));
        Ok(n)
    }

    /// Solves jobs against the installed system: the transaction as
    /// (action, one-line description) pairs, in order.
    pub fn solve(&self, jobs: &Jobs) -> Result<Vec<(String, String)>> {
        let mut list: Vec<Job> = jobs
            .install
            .iter()
            .map(|n| Job::Install(n.clone()))
            .collect();
        list.extend(jobs.erase.iter().map(|n| Job::Erase(n.clone())));
        list.extend(jobs.update.iter().map(|n| Job::Update(n.clone())));
        if jobs.update_all {
            list.push(Job::UpdateAll);
        }
        let mut solver = Solver::new(&self.pool);
        solver.set_installed(&self.installed);
        solver.set_allow_erase(jobs.allow_erasing);
        let solution = solver
            .solve(&list)
            .map_err(|p| Error::Unsatisfiable(p.lines))?;
        Ok(solver
            .transaction(&solution)
            .steps
            .iter()
            .map(|s| (s.kind().to_owned(), s.describe(&self.pool)))
            .collect())
    }

    /// Adds a `primary.xml` file (compressed or not) or a repository
    /// directory; returns how many packages it held.
    pub fn add_repo(&mut self, path: &Path) -> Result<usize> {
        self.pool
            .add_repo(path)
            .map_err(|e| Error::Repo(format!("{e}{}", source_suffix(&e))))
    }

    /// Number of packages in the pool.
    pub fn len(&self) -> usize {
        self.pool.len()
    }

    /// Whether the pool holds no package.
    pub fn is_empty(&self) -> bool {
        self.pool.is_empty()
    }

    /// The sorted NEVRAs to install for the best packages of these names.
    pub fn install(&self, names: &[String]) -> Result<Vec<String>> {
        let jobs: Vec<Job> = names.iter().map(|n| Job::Install(n.clone())).collect();
        let solution = Solver::new(&self.pool)
            .solve(&jobs)
            .map_err(|p| Error::Unsatisfiable(p.lines))?;
        let mut nevras: Vec<String> = solution
            .packages
            .iter()
            .map(|&p| self.pool.nevra(p))
            .collect();
        nevras.sort();
        Ok(nevras)
    }

    /// The packages with a requires nothing provides: (NEVRA, first such requires).
    pub fn repoclosure(&self) -> Vec<(String, String)> {
        sat::repoclosure(&self.pool)
            .into_iter()
            .map(|(p, d)| (self.pool.nevra(p), self.pool.dep_str(d)))
            .collect()
    }

    /// The packages that cannot be installed: (NEVRA, first line of the reason).
    pub fn installcheck(&self) -> Vec<(String, String)> {
        sat::installcheck(&self.pool, self.pool.ids())
            .into_iter()
            .map(|(p, problem)| {
                let why = problem.lines.first().cloned();
                (
                    self.pool.nevra(p),
                    why.unwrap_or_else(|| "not installable".into()),
                )
            })
            .collect()
    }
}

fn source_suffix(e: &dyn std::error::Error) -> String {
    e.source().map(|s| format!(": {s}")).unwrap_or_default()
}

fn verification(e: checkpoint::CheckpointError) -> Error {
    Error::Verification(e.to_string())
}

/// Checks a signed checkpoint note against a verifier key text.
pub fn verify_checkpoint(note: &str, key: &str) -> Result<Checkpoint> {
    checkpoint::verify(note, key).map_err(verification)
}

fn proof_hashes(proof: &[String]) -> Result<Vec<TreeHash>> {
    proof
        .iter()
        .map(|h| {
            hex::decode(h)
                .ok()
                .and_then(|b| TreeHash::try_from(b).ok())
                .ok_or_else(|| Error::Parse(format!("{h:?} is not a 64-character hex hash")))
        })
        .collect()
}

/// Checks that `record` sits at `index` in the log of a verified checkpoint,
/// given the inclusion proof as hex hashes; returns the checkpoint.
pub fn verify_record(
    record: &[u8],
    index: u64,
    proof: &[String],
    note: &str,
    key: &str,
) -> Result<Checkpoint> {
    let cp = verify_checkpoint(note, key)?;
    checkpoint::verify_record(record, index, &proof_hashes(proof)?, &cp).map_err(verification)?;
    Ok(cp)
}

/// Checks that the log of the newer checkpoint extends the older one's,
/// given the consistency proof as hex hashes; both notes are verified first.
pub fn audit(old_note: &str, new_note: &str, proof: &[String], key: &str) -> Result<()> {
    let old = verify_checkpoint(old_note, key)?;
    let new = verify_checkpoint(new_note, key)?;
    checkpoint::audit(&old, &new, &proof_hashes(proof)?).map_err(verification)
}

/// The runtime every client call runs on, made on first use.
fn runtime() -> Result<&'static tokio::runtime::Runtime> {
    static RT: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    if let Some(rt) = RT.get() {
        return Ok(rt);
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .map_err(|e| Error::Io(format!("cannot start the I/O runtime: {e}")))?;
    Ok(RT.get_or_init(|| rt))
}

/// Filters of [`Remote::builds`].
#[derive(Debug, Default, Clone)]
pub struct BuildFilter {
    /// Builds of this package.
    pub package: Option<String>,
    /// Builds of this owner.
    pub owner: Option<String>,
    /// Builds for this platform.
    pub platform: Option<String>,
    /// Builds in this state.
    pub state: Option<String>,
    /// Builds older than this id (the next page).
    pub before: Option<u64>,
    /// Page size.
    pub limit: Option<u32>,
}

/// A build order as JSON: `steps` (name, stage, cycle, bootstrap_without,
/// needs_itself) dependencies first, `cycles`, `edges` (needs, provider,
/// build requires) and `external` (source, build requires no input gives).
pub fn order_json(o: &BuildOrder) -> serde_json::Value {
    serde_json::json!({
        "steps": o.steps.iter().map(|s| serde_json::json!({
            "name": s.name,
            "stage": s.stage,
            "cycle": s.cycle,
            "bootstrap_without": s.bootstrap_without,
            "needs_itself": s.needs_itself,
        })).collect::<Vec<_>>(),
        "cycles": o.cycles,
        "edges": o.edges.iter().map(|(n, p, d)| serde_json::json!([n, p, d])).collect::<Vec<_>>(),
        "external": o.external.iter().map(|(n, d)| serde_json::json!([n, d])).collect::<Vec<_>>(),
    })
}

/// The build order of source packages given as (name, BuildRequires,
/// what its binary packages provide).
pub fn build_order(inputs: Vec<(String, Vec<String>, Vec<String>)>) -> Result<serde_json::Value> {
    let inputs: Vec<OrderInput> = inputs
        .into_iter()
        .map(|(name, build_requires, produces)| OrderInput {
            name,
            build_requires,
            produces,
        })
        .collect();
    let o = order::build_order(&inputs).map_err(|e| Error::Parse(e.to_string()))?;
    Ok(order_json(&o))
}

/// The build order of SRPM files; `produces` maps a source package name to
/// what its binary packages provide (else its own name).
pub fn build_order_srpms(
    paths: &[std::path::PathBuf],
    produces: std::collections::HashMap<String, Vec<String>>,
) -> Result<serde_json::Value> {
    for p in paths {
        if !p.is_file() {
            return Err(Error::Io(format!("{}: no such SRPM file", p.display())));
        }
    }
    let inputs =
        order::inputs_from_srpms(paths, &produces).map_err(|e| Error::Parse(e.to_string()))?;
    let o = order::build_order(&inputs).map_err(|e| Error::Parse(e.to_string()))?;
    Ok(order_json(&o))
}

/// A blocking client of an albs server.
#[derive(Debug)]
pub struct Remote {
    client: Client,
}

/// A ref for the server: `*.src.rpm` is an SRPM, anything else a git
/// repository; local paths become absolute.
pub fn source_ref(text: &str) -> Result<SourceRef> {
    let url = if text.contains("://") {
        text.to_owned()
    } else {
        std::path::absolute(text)
            .map_err(|e| Error::Io(format!("{text}: {e}")))?
            .display()
            .to_string()
    };
    Ok(if text.ends_with(".src.rpm") {
        SourceRef::Srpm { url }
    } else {
        SourceRef::Git {
            url,
            reference: None,
        }
    })
}

/// A build as JSON, with its overall `state` added.
pub fn build_json(b: &Build) -> Result<serde_json::Value> {
    let mut v = serde_json::to_value(b).map_err(|e| Error::Parse(e.to_string()))?;
    if let Some(map) = v.as_object_mut() {
        map.insert("state".into(), b.state().to_string().into());
    }
    Ok(v)
}

impl Remote {
    /// A client of the server at `url`, with an optional API token.
    pub fn new(url: &str, token: Option<String>) -> Self {
        Remote {
            client: Client::new(url, token),
        }
    }

    /// Submits a build of `refs` (paths or URLs) for `platform` (every arch
    /// of the platform when `arches` is empty); in `dependency_order`, a
    /// ref's RPMs are built after those of the refs it build-requires.
    pub fn submit(
        &self,
        platform: &str,
        arches: &[String],
        refs: &[String],
        dependency_order: bool,
    ) -> Result<Build> {
        let arches = arches
            .iter()
            .map(|a| a.parse::<Arch>().map_err(|e| Error::Parse(format!("{e}"))))
            .collect::<Result<Vec<_>>>()?;
        let refs = refs
            .iter()
            .map(|r| source_ref(r))
            .collect::<Result<Vec<_>>>()?;
        let req = CreateBuild {
            platform: platform.to_owned(),
            arches,
            refs,
            options: BuildOptions {
                dependency_order,
                ..BuildOptions::default()
            },
        };
        Ok(runtime()?.block_on(self.client.create_build(&req))?)
    }

    /// Cancels a build: pending tasks end at once, running ones when their
    /// node stops them.
    pub fn cancel(&self, id: u64) -> Result<Build> {
        Ok(runtime()?.block_on(self.client.cancel_build(id))?)
    }

    /// Restarts the failed, timed-out and cancelled tasks of a build.
    pub fn restart(&self, id: u64) -> Result<Build> {
        Ok(runtime()?.block_on(self.client.restart_build(id))?)
    }

    /// The platforms the server builds for, as JSON.
    pub fn platforms(&self) -> Result<serde_json::Value> {
        let p = runtime()?.block_on(self.client.platforms())?;
        serde_json::to_value(p).map_err(|e| Error::Parse(e.to_string()))
    }

    /// One page of the build list, newest first, as JSON
    /// (`{"builds": [...], "next": ...}`); `state` is a task state name.
    pub fn builds(&self, filter: BuildFilter) -> Result<serde_json::Value> {
        let status = filter
            .state
            .map(|s| {
                serde_json::from_value(serde_json::Value::String(s.clone()))
                    .map_err(|_| Error::Parse(format!("state {s:?} is not a build state (pending, running, succeeded, failed, ...)")))
            })
            .transpose()?;
        let q = BuildQuery {
            package: filter.package,
            owner: filter.owner,
            platform: filter.platform,
            status,
            before: filter.before,
            limit: filter.limit,
            ..BuildQuery::default()
        };
        let page = runtime()?.block_on(self.client.builds(&q))?;
        serde_json::to_value(page).map_err(|e| Error::Parse(e.to_string()))
    }

    /// The build with this id.
    pub fn build(&self, id: u64) -> Result<Build> {
        Ok(runtime()?.block_on(self.client.build(id))?)
    }

    /// Sleeps `poll`, then fetches the build again: one step of waiting for
    /// it, so that callers can check for interruptions between steps.
    pub fn poll(&self, id: u64, poll: Duration) -> Result<Build> {
        std::thread::sleep(poll);
        self.build(id)
    }

    /// Log lines of a task from line `from`.
    pub fn log(&self, task: u64, from: u64) -> Result<LogChunk> {
        Ok(runtime()?.block_on(self.client.log(task, from))?)
    }

    /// Downloads the artifact with this sha256 to `dest`.
    pub fn download(&self, sha256: &str, dest: &Path) -> Result<()> {
        let digest: Sha256 = sha256
            .parse()
            .map_err(|e| Error::Parse(format!("artifact digest: {e}")))?;
        Ok(runtime()?.block_on(self.client.download(&digest, dest))?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vercmp_follows_rpm() {
        assert_eq!(vercmp("1.0~rc1", "1.0"), -1);
        assert_eq!(vercmp("1.0^git1", "1.0"), 1);
        assert_eq!(vercmp("010", "10"), 0);
    }

    #[test]
    fn bad_text_is_a_parse_error() {
        assert!(matches!(parse_evr("x:1"), Err(Error::Parse(_))));
        assert!(matches!(parse_nevra("hello"), Err(Error::Parse(_))));
        assert_eq!(parse_nevra("a-1:2-3.noarch").unwrap().evr.epoch, 1);
    }

    #[test]
    fn files_hash_and_missing_files_are_io_errors() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("f");
        std::fs::write(&f, b"abc").unwrap();
        assert_eq!(
            sha256_file(&f).unwrap(),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert!(matches!(
            sha256_file(&dir.path().join("no")),
            Err(Error::Io(_))
        ));
        assert!(matches!(
            read_header(&dir.path().join("no")),
            Err(Error::Io(_))
        ));
        assert!(matches!(read_header(&f), Err(Error::Parse(_))));
    }

    #[test]
    fn a_missing_repository_is_a_repo_error() {
        let mut r = Repos::new("x86_64");
        assert!(matches!(
            r.add_repo(Path::new("/nonexistent/primary.xml")),
            Err(Error::Repo(_))
        ));
        assert!(r.is_empty());
    }

    #[test]
    fn build_order_puts_providers_first_and_reports_cycles() {
        let o = build_order(vec![
            (
                "app".into(),
                vec!["libfoo-devel >= 1".into()],
                vec!["app".into()],
            ),
            ("libfoo".into(), vec![], vec!["libfoo-devel = 1.2-1".into()]),
            ("a".into(), vec!["b".into()], vec!["a".into()]),
            ("b".into(), vec!["a".into()], vec!["b".into()]),
        ])
        .unwrap();
        let names: Vec<&str> = o["steps"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["name"].as_str().unwrap())
            .collect();
        let pos = |n: &str| names.iter().position(|x| *x == n).unwrap();
        assert!(pos("libfoo") < pos("app"), "{names:?}");
        assert_eq!(o["cycles"], serde_json::json!([["a", "b"]]));
        let dup = build_order(vec![
            ("x".into(), vec![], vec![]),
            ("x".into(), vec![], vec![]),
        ]);
        assert!(matches!(dup, Err(Error::Parse(_))), "{dup:?}");
        let missing = build_order_srpms(&["/nonexistent/x.src.rpm".into()], Default::default());
        assert!(matches!(missing, Err(Error::Io(_))), "{missing:?}");
    }

    #[test]
    fn bad_proof_hex_is_a_parse_error() {
        assert!(matches!(proof_hashes(&["zz".into()]), Err(Error::Parse(_))));
        assert_eq!(proof_hashes(&["00".repeat(32)]).unwrap(), vec![[0u8; 32]]);
    }

    #[test]
    fn a_forged_checkpoint_fails_verification() {
        let signer = checkpoint::CheckpointSigner::from_seed("t.example/log", [1; 32]).unwrap();
        let note = signer.sign("t.example/log", 3, &[9; 32]).unwrap();
        let cp = verify_checkpoint(&note, &signer.verifier_key()).unwrap();
        assert_eq!((cp.origin.as_str(), cp.size), ("t.example/log", 3));
        let forged = note.replacen("\n3\n", "\n4\n", 1);
        assert!(matches!(
            verify_checkpoint(&forged, &signer.verifier_key()),
            Err(Error::Verification(_))
        ));
    }
}

//! The pyo3 layer: the `albs._albs` extension module over the facade.
//!
//! Each [`Error`] variant raises its own exception class; long calls (loading
//! repositories, solving, HTTP) run with the GIL released.

use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};
use std::path::PathBuf;
use std::time::Duration;

use pyo3::basic::CompareOp;
use pyo3::create_exception;
use pyo3::exceptions::PyException;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList};

use crate::Error;

create_exception!(
    albs,
    AlbsError,
    PyException,
    "Base class of every albs error."
);
create_exception!(
    albs,
    ParseError,
    AlbsError,
    "Text or a file is not what it should be."
);
create_exception!(
    albs,
    RepoError,
    AlbsError,
    "A repository could not be read."
);
create_exception!(
    albs,
    UnsatisfiableError,
    AlbsError,
    "Install jobs cannot be satisfied; `.lines` explains why."
);
create_exception!(
    albs,
    VerificationError,
    AlbsError,
    "A checkpoint, record or consistency proof did not verify."
);
create_exception!(
    albs,
    ApiError,
    AlbsError,
    "The server answered with an error; `.status` is the HTTP status."
);
create_exception!(
    albs,
    UnreachableError,
    AlbsError,
    "The server could not be reached."
);
create_exception!(
    albs,
    IoError,
    AlbsError,
    "A local file could not be read or written."
);

/// Turns a facade error into its exception, with `.lines` or `.status` set.
fn to_py(py: Python<'_>, e: Error) -> PyErr {
    let msg = e.to_string();
    let err = match &e {
        Error::Parse(_) => ParseError::new_err(msg),
        Error::Repo(_) => RepoError::new_err(msg),
        Error::Unsatisfiable(_) => UnsatisfiableError::new_err(msg),
        Error::Verification(_) => VerificationError::new_err(msg),
        Error::Api { .. } => ApiError::new_err(msg),
        Error::Connection(_) => UnreachableError::new_err(msg),
        Error::Io(_) => IoError::new_err(msg),
    };
    let set = match e {
        Error::Unsatisfiable(lines) => err.value(py).setattr("lines", lines),
        Error::Api { status, .. } => err.value(py).setattr("status", status),
        _ => Ok(()),
    };
    if let Err(set) = set {
        return set;
    }
    err
}

trait IntoPy<T> {
    fn py(self, py: Python<'_>) -> PyResult<T>;
}

impl<T> IntoPy<T> for crate::Result<T> {
    fn py(self, py: Python<'_>) -> PyResult<T> {
        self.map_err(|e| to_py(py, e))
    }
}

fn hash_of(v: &impl Hash) -> u64 {
    let mut h = DefaultHasher::new();
    v.hash(&mut h);
    h.finish()
}

/// Epoch, version and release, ordered the way rpm orders them.
#[pyclass(module = "albs", frozen)]
#[derive(Clone)]
pub struct Evr(albs_core::evr::Evr);

#[pymethods]
impl Evr {
    #[new]
    fn new(py: Python<'_>, text: &str) -> PyResult<Self> {
        crate::parse_evr(text).py(py).map(Evr)
    }
    #[getter]
    fn epoch(&self) -> u32 {
        self.0.epoch
    }
    #[getter]
    fn version(&self) -> &str {
        &self.0.version
    }
    #[getter]
    fn release(&self) -> Option<&str> {
        self.0.release.as_deref()
    }
    fn __str__(&self) -> String {
        self.0.to_string()
    }
    fn __repr__(&self) -> String {
        format!("Evr('{}')", self.0)
    }
    fn __hash__(&self) -> u64 {
        hash_of(&self.0)
    }
    fn __richcmp__(&self, other: PyRef<'_, Evr>, op: CompareOp) -> bool {
        op.matches(self.0.cmp(&other.0))
    }
}

/// A package identity: name, epoch, version, release and architecture.
#[pyclass(module = "albs", frozen)]
#[derive(Clone)]
pub struct Nevra(albs_core::evr::Nevra);

#[pymethods]
impl Nevra {
    #[new]
    fn new(py: Python<'_>, text: &str) -> PyResult<Self> {
        crate::parse_nevra(text).py(py).map(Nevra)
    }
    #[getter]
    fn name(&self) -> &str {
        &self.0.name
    }
    #[getter]
    fn epoch(&self) -> u32 {
        self.0.evr.epoch
    }
    #[getter]
    fn version(&self) -> &str {
        &self.0.evr.version
    }
    #[getter]
    fn release(&self) -> Option<&str> {
        self.0.evr.release.as_deref()
    }
    #[getter]
    fn arch(&self) -> &str {
        self.0.arch.as_str()
    }
    #[getter]
    fn evr(&self) -> Evr {
        Evr(self.0.evr.clone())
    }
    /// The file name rpmbuild gives this package.
    fn file_name(&self) -> String {
        self.0.file_name()
    }
    fn __str__(&self) -> String {
        self.0.to_string()
    }
    fn __repr__(&self) -> String {
        format!("Nevra('{}')", self.0)
    }
    fn __hash__(&self) -> u64 {
        hash_of(&self.0)
    }
    fn __richcmp__(&self, other: PyRef<'_, Nevra>, op: CompareOp) -> bool {
        op.matches(self.0.cmp(&other.0))
    }
}

/// rpm's version comparison: -1, 0 or 1.
#[pyfunction]
fn vercmp(a: &str, b: &str) -> i32 {
    crate::vercmp(a, b)
}

/// The NEVRA in the header of an RPM file.
#[pyfunction]
fn read_header(py: Python<'_>, path: PathBuf) -> PyResult<Nevra> {
    py.detach(|| crate::read_header(&path)).py(py).map(Nevra)
}

/// Lower-case hex sha256 of a file.
#[pyfunction]
fn sha256_file(py: Python<'_>, path: PathBuf) -> PyResult<String> {
    py.detach(|| crate::sha256_file(&path)).py(py)
}

/// A package pool for one architecture, fed with rpm-md repositories.
#[pyclass(module = "albs")]
pub struct Pool(crate::Repos);

#[pymethods]
impl Pool {
    #[new]
    #[pyo3(signature = (arch = "x86_64"))]
    fn new(arch: &str) -> Self {
        Pool(crate::Repos::new(arch))
    }
    /// Adds a primary.xml file or a repository directory; returns its package count.
    fn add_repo(&mut self, py: Python<'_>, path: PathBuf) -> PyResult<usize> {
        py.detach(|| self.0.add_repo(&path)).py(py)
    }
    fn __len__(&self) -> usize {
        self.0.len()
    }
    /// NEVRAs to install for these names.
    fn install(&self, py: Python<'_>, names: Vec<String>) -> PyResult<Vec<String>> {
        py.detach(|| self.0.install(&names)).py(py)
    }
    /// Adds the installed system as rpm-md; returns its package count.
    fn add_installed(&mut self, py: Python<'_>, path: PathBuf) -> PyResult<usize> {
        py.detach(|| self.0.add_installed(&path)).py(py)
    }
    /// Solves install, erase and update jobs against the installed system:
    /// the transaction as (action, description) pairs.
    #[pyo3(signature = (install = vec![], erase = vec![], update = vec![], update_all = false, allow_erasing = false))]
    fn solve(
        &self,
        py: Python<'_>,
        install: Vec<String>,
        erase: Vec<String>,
        update: Vec<String>,
        update_all: bool,
        allow_erasing: bool,
    ) -> PyResult<Vec<(String, String)>> {
        let jobs = crate::Jobs {
            install,
            erase,
            update,
            update_all,
            allow_erasing,
        };
        py.detach(|| self.0.solve(&jobs)).py(py)
    }
    /// (NEVRA, unresolved requires) of each package with a requires nothing provides.
    fn repoclosure(&self, py: Python<'_>) -> Vec<(String, String)> {
        py.detach(|| self.0.repoclosure())
    }
    /// (NEVRA, reason) of each package that cannot be installed.
    fn installcheck(&self, py: Python<'_>) -> Vec<(String, String)> {
        py.detach(|| self.0.installcheck())
    }
}

/// Verifies a signed checkpoint note: (origin, size, root hex).
#[pyfunction]
fn verify_checkpoint(py: Python<'_>, note: &str, key: &str) -> PyResult<(String, u64, String)> {
    let cp = crate::verify_checkpoint(note, key).py(py)?;
    Ok((cp.origin, cp.size, hex::encode(cp.root)))
}

/// Verifies that a record sits at `index` in the log a checkpoint commits to.
#[pyfunction]
fn verify_record(
    py: Python<'_>,
    record: &[u8],
    index: u64,
    proof: Vec<String>,
    note: &str,
    key: &str,
) -> PyResult<()> {
    crate::verify_record(record, index, &proof, note, key)
        .py(py)
        .map(drop)
}

/// Verifies that the newer checkpoint's log extends the older one's.
#[pyfunction]
fn audit(py: Python<'_>, old: &str, new: &str, proof: Vec<String>, key: &str) -> PyResult<()> {
    crate::audit(old, new, &proof, key).py(py)
}

/// JSON into Python's dicts, lists, strings, numbers, booleans and None.
fn json_to_py<'py>(py: Python<'py>, v: &serde_json::Value) -> PyResult<Bound<'py, PyAny>> {
    use serde_json::Value;
    Ok(match v {
        Value::Null => py.None().into_bound(py),
        Value::Bool(b) => b.into_pyobject(py)?.to_owned().into_any(),
        Value::Number(n) => match (n.as_u64(), n.as_i64()) {
            (Some(u), _) => u.into_pyobject(py)?.into_any(),
            (_, Some(i)) => i.into_pyobject(py)?.into_any(),
            _ => n.as_f64().unwrap_or(f64::NAN).into_pyobject(py)?.into_any(),
        },
        Value::String(s) => s.into_pyobject(py)?.into_any(),
        Value::Array(a) => {
            let list = PyList::empty(py);
            for x in a {
                list.append(json_to_py(py, x)?)?;
            }
            list.into_any()
        }
        Value::Object(o) => {
            let dict = PyDict::new(py);
            for (k, x) in o {
                dict.set_item(k, json_to_py(py, x)?)?;
            }
            dict.into_any()
        }
    })
}

/// A blocking client of an albs server.
#[pyclass(module = "albs", frozen)]
pub struct Client(crate::Remote);

#[pymethods]
impl Client {
    #[new]
    #[pyo3(signature = (url, token = None))]
    fn new(url: &str, token: Option<String>) -> Self {
        Client(crate::Remote::new(url, token))
    }
    /// Submits a build; with `wait`, returns once every task has ended
    /// (Ctrl-C interrupts the wait).
    #[pyo3(signature = (platform, arches, refs, wait = false, dependency_order = false))]
    fn submit<'py>(
        &self,
        py: Python<'py>,
        platform: &str,
        arches: Vec<String>,
        refs: Vec<String>,
        wait: bool,
        dependency_order: bool,
    ) -> PyResult<Bound<'py, PyAny>> {
        let mut b = py
            .detach(|| self.0.submit(platform, &arches, &refs, dependency_order))
            .py(py)?;
        while wait && !b.state().is_final() {
            py.check_signals()?;
            b = py
                .detach(|| self.0.poll(b.id, Duration::from_millis(300)))
                .py(py)?;
        }
        json_to_py(py, &crate::build_json(&b).py(py)?)
    }
    /// The build with this id, as a dict.
    fn build<'py>(&self, py: Python<'py>, id: u64) -> PyResult<Bound<'py, PyAny>> {
        let b = py.detach(|| self.0.build(id)).py(py)?;
        json_to_py(py, &crate::build_json(&b).py(py)?)
    }
    /// (lines, next, done) of a task's log from line `from_`.
    #[pyo3(signature = (task, from_ = 0))]
    fn log(&self, py: Python<'_>, task: u64, from_: u64) -> PyResult<(Vec<String>, u64, bool)> {
        let c = py.detach(|| self.0.log(task, from_)).py(py)?;
        Ok((c.lines, c.next, c.done))
    }
    /// Downloads an artifact by sha256 to `dest`.
    fn download(&self, py: Python<'_>, sha256: &str, dest: PathBuf) -> PyResult<()> {
        py.detach(|| self.0.download(sha256, &dest)).py(py)
    }
    /// Cancels a build; returns it as a dict.
    fn cancel<'py>(&self, py: Python<'py>, id: u64) -> PyResult<Bound<'py, PyAny>> {
        let b = py.detach(|| self.0.cancel(id)).py(py)?;
        json_to_py(py, &crate::build_json(&b).py(py)?)
    }
    /// Restarts the failed, timed-out and cancelled tasks of a build.
    fn restart<'py>(&self, py: Python<'py>, id: u64) -> PyResult<Bound<'py, PyAny>> {
        let b = py.detach(|| self.0.restart(id)).py(py)?;
        json_to_py(py, &crate::build_json(&b).py(py)?)
    }
    /// The server's platforms, as dicts.
    fn platforms<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let v = py.detach(|| self.0.platforms()).py(py)?;
        json_to_py(py, &v)
    }
    /// One page of the build list, newest first: `{"builds": [...], "next": id or None}`.
    #[pyo3(signature = (package = None, owner = None, platform = None, state = None, before = None, limit = None))]
    #[allow(clippy::too_many_arguments)]
    fn builds<'py>(
        &self,
        py: Python<'py>,
        package: Option<String>,
        owner: Option<String>,
        platform: Option<String>,
        state: Option<String>,
        before: Option<u64>,
        limit: Option<u32>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let f = crate::BuildFilter {
            package,
            owner,
            platform,
            state,
            before,
            limit,
        };
        let v = py.detach(|| self.0.builds(f)).py(py)?;
        json_to_py(py, &v)
    }
}

/// Writes rpm-md repodata for `rpms` into `dir` in one go.
#[pyfunction]
fn write_repo<'py>(
    py: Python<'py>,
    dir: PathBuf,
    rpms: Vec<PathBuf>,
) -> PyResult<Bound<'py, PyAny>> {
    let v = py.detach(|| crate::repo::write_repo(&dir, &rpms)).py(py)?;
    json_to_py(py, &v)
}

/// Checks the metadata files of the repository in `dir` against repomd.xml.
#[pyfunction]
fn verify_repo<'py>(py: Python<'py>, dir: PathBuf) -> PyResult<Bound<'py, PyAny>> {
    let v = py.detach(|| crate::repo::verify_repo(&dir)).py(py)?;
    json_to_py(py, &v)
}

/// A repository under incremental, atomic publishing.
#[pyclass(module = "albs")]
pub struct Repo(crate::repo::Repository);

#[pymethods]
impl Repo {
    #[new]
    #[pyo3(signature = (dir, compression = None))]
    fn new(py: Python<'_>, dir: PathBuf, compression: Option<String>) -> PyResult<Self> {
        py.detach(|| crate::repo::Repository::open(&dir, compression.as_deref()))
            .py(py)
            .map(Repo)
    }
    /// Adds (or updates) package files inside the repository; returns their NEVRAs.
    fn add(&mut self, py: Python<'_>, paths: Vec<PathBuf>) -> PyResult<Vec<String>> {
        let r = &mut self.0;
        py.detach(|| r.add(&paths)).py(py)
    }
    /// Removes packages by NEVRA or path; returns the NEVRAs removed.
    fn remove(&mut self, py: Python<'_>, specs: Vec<String>) -> PyResult<Vec<String>> {
        let r = &mut self.0;
        py.detach(|| r.remove(&specs)).py(py)
    }
    /// Publishes: new metadata first, repomd.xml last.
    fn publish<'py>(&mut self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let r = &mut self.0;
        let v = py.detach(|| r.publish()).py(py)?;
        json_to_py(py, &v)
    }
    /// Serves the previous generation again, byte for byte.
    fn revert<'py>(&mut self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let r = &mut self.0;
        let v = py.detach(|| r.revert()).py(py)?;
        json_to_py(py, &v)
    }
    /// (nevra, href, sha256) of every package in the working set.
    fn packages(&self) -> Vec<(String, String, String)> {
        self.0.packages()
    }
}

/// An SBOM (cyclonedx-json, cyclonedx-xml or spdx) of package files: one
/// package, or a build with `build_id`; `ledger` is the JSON text of ledger
/// entries that fill in build, sources and ledger position.
#[pyfunction]
#[pyo3(signature = (rpms, platform, format = "cyclonedx-json", build_id = None, url = None, ledger = None))]
fn sbom(
    py: Python<'_>,
    rpms: Vec<PathBuf>,
    platform: &str,
    format: &str,
    build_id: Option<u64>,
    url: Option<String>,
    ledger: Option<String>,
) -> PyResult<String> {
    py.detach(|| crate::security::sbom(&rpms, platform, format, build_id, url, ledger.as_deref()))
        .py(py)
}

/// Verifies a DSSE provenance envelope; returns the in-toto statement.
#[pyfunction]
fn verify_provenance<'py>(
    py: Python<'py>,
    envelope: &str,
    key: &str,
) -> PyResult<Bound<'py, PyAny>> {
    let v = crate::security::verify_provenance(envelope, key).py(py)?;
    json_to_py(py, &v)
}

/// The OVAL 5.10 feed of a platform from the advisory JSON files in `errata`.
#[pyfunction]
fn oval(py: Python<'_>, platform: &str, errata: PathBuf) -> PyResult<String> {
    py.detach(|| crate::security::oval(platform, &errata))
        .py(py)
}

/// updateinfo.xml of the advisory JSON files in `errata`.
#[pyfunction]
fn updateinfo(py: Python<'_>, errata: PathBuf) -> PyResult<String> {
    py.detach(|| crate::security::updateinfo(&errata)).py(py)
}

/// Adds the advisories in `errata` to a repository as its updateinfo.
#[pyfunction]
fn add_updateinfo<'py>(
    py: Python<'py>,
    repo: PathBuf,
    errata: PathBuf,
) -> PyResult<Bound<'py, PyAny>> {
    let v = py
        .detach(|| crate::security::add_updateinfo(&repo, &errata))
        .py(py)?;
    json_to_py(py, &v)
}

/// One advisory JSON file as an OSV record.
#[pyfunction]
fn osv<'py>(py: Python<'py>, path: PathBuf) -> PyResult<Bound<'py, PyAny>> {
    let v = crate::security::osv(&path).py(py)?;
    json_to_py(py, &v)
}

/// The build order of source packages given as (name, BuildRequires, provides).
#[pyfunction]
fn build_order<'py>(
    py: Python<'py>,
    inputs: Vec<(String, Vec<String>, Vec<String>)>,
) -> PyResult<Bound<'py, PyAny>> {
    let v = py.detach(|| crate::build_order(inputs)).py(py)?;
    json_to_py(py, &v)
}

/// The build order of SRPM files; `produces` maps a source name to what its
/// binary packages provide.
#[pyfunction]
#[pyo3(signature = (paths, produces = None))]
fn build_order_srpms<'py>(
    py: Python<'py>,
    paths: Vec<PathBuf>,
    produces: Option<std::collections::HashMap<String, Vec<String>>>,
) -> PyResult<Bound<'py, PyAny>> {
    let v = py
        .detach(|| crate::build_order_srpms(&paths, produces.unwrap_or_default()))
        .py(py)?;
    json_to_py(py, &v)
}

/// The `albs._albs` extension module.
#[pymodule]
#[pyo3(name = "_albs")]
fn albs(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = m.py();
    m.add("AlbsError", py.get_type::<AlbsError>())?;
    m.add("ParseError", py.get_type::<ParseError>())?;
    m.add("RepoError", py.get_type::<RepoError>())?;
    m.add("UnsatisfiableError", py.get_type::<UnsatisfiableError>())?;
    m.add("VerificationError", py.get_type::<VerificationError>())?;
    m.add("ApiError", py.get_type::<ApiError>())?;
    m.add("UnreachableError", py.get_type::<UnreachableError>())?;
    m.add("IoError", py.get_type::<IoError>())?;
    m.add_class::<Evr>()?;
    m.add_class::<Nevra>()?;
    m.add_class::<Pool>()?;
    m.add_class::<Client>()?;
    m.add_function(wrap_pyfunction!(vercmp, m)?)?;
    m.add_function(wrap_pyfunction!(read_header, m)?)?;
    m.add_function(wrap_pyfunction!(sha256_file, m)?)?;
    m.add_function(wrap_pyfunction!(verify_checkpoint, m)?)?;
    m.add_function(wrap_pyfunction!(verify_record, m)?)?;
    m.add_function(wrap_pyfunction!(audit, m)?)?;
    m.add_function(wrap_pyfunction!(build_order, m)?)?;
    m.add_function(wrap_pyfunction!(write_repo, m)?)?;
    m.add_function(wrap_pyfunction!(verify_repo, m)?)?;
    m.add_class::<Repo>()?;
    m.add_function(wrap_pyfunction!(sbom, m)?)?;
    m.add_function(wrap_pyfunction!(verify_provenance, m)?)?;
    m.add_function(wrap_pyfunction!(oval, m)?)?;
    m.add_function(wrap_pyfunction!(updateinfo, m)?)?;
    m.add_function(wrap_pyfunction!(add_updateinfo, m)?)?;
    m.add_function(wrap_pyfunction!(osv, m)?)?;
    m.add_function(wrap_pyfunction!(build_order_srpms, m)?)?;
    Ok(())
}

//! Incremental, atomic publishing of an rpm-md repository: [`Repo`].
//!
//! The repository directory keeps, next to `repodata/`, a state directory
//! `.albs/` that is not meant to be served: per-package XML fragments
//! (primary, filelists, other) keyed by the package's sha256, its location
//! and its file's mtime, and the list of published generations with a copy of
//! each generation's `repomd.xml` (and `repomd.xml.asc`).
//!
//! * Adding or removing packages reads only the new packages; the metadata is
//!   re-emitted from the fragments.
//! * [`Repo::stage`] writes the new metadata files under checksum names
//!   (`<sha256>-primary.xml.gz`, as createrepo_c's unique-md-filenames) and
//!   touches nothing a client reads; [`Repo::commit`] then replaces
//!   `repomd.xml` (and its signature) by rename. A crash in between leaves the
//!   earlier repository whole.
//! * The files of earlier generations stay for a grace period
//!   ([`RetainPolicy`]), so a client that fetched the earlier `repomd.xml`
//!   still finds what it names; older ones are pruned.
//! * [`Repo::revert`] puts the previous generation's `repomd.xml` (and
//!   signature) back byte for byte.
//!
//! One writer at a time: [`Repo::open`] takes an exclusive lock on
//! `.albs/lock` for the life of the [`Repo`].

use std::collections::{BTreeMap, HashMap, HashSet};
use std::io::{Read as _, Write as _};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::{
    MdCompression, RepoData, RepoWriteError, doc_head, doc_tail, filelists_pkg, other_pkg,
    primary_pkg, read_package, repomd_xml, served_mode, write_data_as,
};

/// The state directory inside the repository directory.
pub const STATE_DIR: &str = ".albs";
const STATE_FILE: &str = "repo.json";
const GENERATIONS_DIR: &str = "generations";
const STATE_FORMAT: u32 = 1;

/// Why a repository could not be opened, changed, published, reverted or
/// verified.
#[derive(Debug, thiserror::Error)]
pub enum RepoError {
    /// Reading a package or writing a metadata file failed.
    #[error(transparent)]
    Write(#[from] RepoWriteError),
    /// A file or directory could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file or directory.
        path: String,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The state file is not one this version reads.
    #[error(
        "{path} is not readable albs repository state ({reason}); move the {STATE_DIR} directory away and run `albs repo create` to start over"
    )]
    State {
        /// The state file.
        path: String,
        /// What is wrong.
        reason: String,
    },
    /// Another process holds the repository's lock.
    #[error(
        "{dir} is being changed by another albs process (it holds {STATE_DIR}/lock); wait for it to finish"
    )]
    Locked {
        /// The repository directory.
        dir: String,
    },
    /// A package to remove is not in the repository.
    #[error(
        "no package in {dir} matches {spec:?}: give a NEVRA (name-[epoch:]version-release.arch) or the package's path"
    )]
    NoMatch {
        /// The repository directory.
        dir: String,
        /// What was asked for.
        spec: String,
    },
    /// There is no earlier generation to revert to.
    #[error("{dir} has no earlier generation to revert to (only the last {kept} are kept)")]
    NoPrevious {
        /// The repository directory.
        dir: String,
        /// How many generations are kept.
        kept: usize,
    },
    /// A file a generation needs is gone.
    #[error("generation {generation} of {dir} cannot be restored: {file} is missing")]
    Missing {
        /// The repository directory.
        dir: String,
        /// The generation.
        generation: u64,
        /// The missing file.
        file: String,
    },
    /// The published metadata does not match what `repomd.xml` says.
    #[error("{file}: {reason}")]
    Corrupt {
        /// The file at fault.
        file: String,
        /// What is wrong.
        reason: String,
    },
}

fn io_err(path: &Path) -> impl Fn(std::io::Error) -> RepoError + '_ {
    move |source| RepoError::Io {
        path: path.display().to_string(),
        source,
    }
}

/// How long the files of superseded generations are kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetainPolicy {
    /// The newest generations kept whatever their age (at least the current
    /// one is always kept).
    pub generations: usize,
    /// A generation superseded less than this long ago is kept, so clients
    /// that read its `repomd.xml` can still fetch what it names.
    pub grace: Duration,
}

impl Default for RetainPolicy {
    /// The last 3 generations, and anything superseded within the hour.
    fn default() -> Self {
        RetainPolicy {
            generations: 3,
            grace: Duration::from_secs(3600),
        }
    }
}

/// The stored facts and XML fragments of one package.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Entry {
    href: String,
    size: u64,
    mtime_ns: i64,
    pkgid: String,
    name: String,
    epoch: u32,
    version: String,
    release: String,
    arch: String,
    primary: String,
    filelists: String,
    other: String,
}

impl Entry {
    fn key(&self) -> String {
        format!("{}:{}:{}", self.pkgid, self.mtime_ns, self.href)
    }

    fn nevra(&self) -> String {
        if self.epoch == 0 {
            format!(
                "{}-{}-{}.{}",
                self.name, self.version, self.release, self.arch
            )
        } else {
            format!(
                "{}-{}:{}-{}.{}",
                self.name, self.epoch, self.version, self.release, self.arch
            )
        }
    }
}

/// One published `repomd.xml` and what it names.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Generation {
    id: u64,
    published: u64,
    superseded: Option<u64>,
    reverted: bool,
    signed: bool,
    /// Entry keys, in the order the metadata lists them.
    packages: Vec<String>,
    /// File names inside `repodata/`.
    files: Vec<String>,
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct State {
    format: u32,
    compression: MdCompression,
    /// The retention set with [`Repo::set_retain`], kept for later writers.
    #[serde(default)]
    retain: Option<(usize, u64)>,
    next_id: u64,
    generations: Vec<Generation>,
    entries: BTreeMap<String, Entry>,
}

/// A package of the repository.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RepoPackage {
    /// `name-[epoch:]version-release.arch`.
    pub nevra: String,
    /// Its location, relative to the repository directory.
    pub href: String,
    /// The sha256 of the package file.
    pub pkgid: String,
}

/// What [`Repo::sync`] changed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SyncSummary {
    /// Packages read (new or changed files).
    pub read: usize,
    /// Packages whose stored fragments were reused (unchanged files, and
    /// files seen in a kept generation).
    pub reused: usize,
    /// Packages dropped because their file is gone.
    pub removed: usize,
}

/// New metadata written to `repodata/` but not yet published: `repomd.xml`
/// still names the earlier files. Publish it with [`Repo::commit`]; dropped,
/// it leaves the repository as it was (its files are pruned later).
#[derive(Debug)]
pub struct Staged {
    repomd: Vec<u8>,
    data: Vec<RepoData>,
    packages: Vec<String>,
    unchanged: bool,
}

impl Staged {
    /// The `repomd.xml` that [`Repo::commit`] will publish; sign these bytes.
    pub fn repomd(&self) -> &[u8] {
        &self.repomd
    }

    /// The metadata files it names.
    pub fn data(&self) -> &[RepoData] {
        &self.data
    }

    /// Whether it is the same package set as the current generation, in
    /// which case committing changes nothing.
    pub fn unchanged(&self) -> bool {
        self.unchanged
    }
}

/// What a publish or a revert left in place.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Published {
    /// The generation now served.
    pub generation: u64,
    /// How many packages it lists.
    pub packages: usize,
    /// `repodata/repomd.xml`.
    pub repomd: PathBuf,
    /// The metadata files `repomd.xml` names, inside `repodata/`.
    pub files: Vec<String>,
    /// Whether `repomd.xml` was replaced (false: nothing had changed).
    pub changed: bool,
    /// Whether `repomd.xml.asc` was written with it.
    pub signed: bool,
    /// Metadata files of older generations removed.
    pub pruned: Vec<String>,
}

/// An rpm-md repository under incremental, atomic publishing. See the
/// [module documentation](self).
#[derive(Debug)]
pub struct Repo {
    root: PathBuf,
    state: State,
    /// The package set the next publish writes: href → entry key.
    working: BTreeMap<String, String>,
    _lock: std::fs::File,
}

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

fn mtime_ns(meta: &std::fs::Metadata) -> i64 {
    meta.modified()
        .ok()
        .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_nanos() as i64)
}

/// Writes `bytes` to `path` through a synced temporary file and a rename.
fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), RepoError> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let mut tmp = tempfile::NamedTempFile::new_in(dir).map_err(io_err(dir))?;
    tmp.write_all(bytes)
        .and_then(|()| tmp.as_file().sync_all())
        .map_err(io_err(path))?;
    tmp.persist(path).map_err(|e| io_err(path)(e.error))?;
    Ok(())
}

/// Whether `name` is a checksum-named metadata file as albs and createrepo_c
/// write them.
fn is_md_file(name: &str) -> bool {
    let Some((sum, rest)) = name.split_once('-') else {
        return false;
    };
    sum.len() == 64
        && sum.bytes().all(|b| b.is_ascii_hexdigit())
        && ["primary", "filelists", "other"].iter().any(|k| {
            rest.strip_prefix(k)
                .and_then(|r| r.strip_prefix(".xml."))
                .is_some_and(|ext| ["gz", "zst"].contains(&ext))
        })
}

/// The `repodata/` file names a `repomd.xml` points at.
fn named_files(repomd: &str) -> Vec<String> {
    repomd
        .split("<location href=\"")
        .skip(1)
        .filter_map(|s| s.split('"').next())
        .filter_map(|h| h.strip_prefix("repodata/"))
        .map(str::to_owned)
        .collect()
}

impl Repo {
    /// Opens the repository in `dir` (created if missing), taking its lock.
    /// A directory never published by albs opens empty; its packages come in
    /// with [`Repo::sync`] or [`Repo::add`].
    pub fn open(dir: &Path) -> Result<Repo, RepoError> {
        std::fs::create_dir_all(dir).map_err(io_err(dir))?;
        let root = dir.canonicalize().map_err(io_err(dir))?;
        let state_dir = root.join(STATE_DIR);
        std::fs::create_dir_all(state_dir.join(GENERATIONS_DIR)).map_err(io_err(&state_dir))?;
        let lock_path = state_dir.join("lock");
        let lock = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(io_err(&lock_path))?;
        match lock.try_lock() {
            Ok(()) => {}
            Err(std::fs::TryLockError::WouldBlock) => {
                return Err(RepoError::Locked {
                    dir: root.display().to_string(),
                });
            }
            Err(std::fs::TryLockError::Error(e)) => return Err(io_err(&lock_path)(e)),
        }
        let state_path = state_dir.join(STATE_FILE);
        let state = match std::fs::read(&state_path) {
            Ok(bytes) => {
                let bad = |reason: String| RepoError::State {
                    path: state_path.display().to_string(),
                    reason,
                };
                let state: State =
                    serde_json::from_slice(&bytes).map_err(|e| bad(e.to_string()))?;
                if state.format != STATE_FORMAT {
                    return Err(bad(format!(
                        "format {}, this albs reads {STATE_FORMAT}",
                        state.format
                    )));
                }
                state
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => State {
                format: STATE_FORMAT,
                next_id: 1,
                ..State::default()
            },
            Err(e) => return Err(io_err(&state_path)(e)),
        };
        let mut repo = Repo {
            root,
            state,
            working: BTreeMap::new(),
            _lock: lock,
        };
        if let Some(g) = repo.current() {
            let keys = g.packages.clone();
            for k in keys {
                if let Some(e) = repo.state.entries.get(&k) {
                    repo.working.insert(e.href.clone(), k);
                }
            }
        }
        Ok(repo)
    }

    /// The repository directory.
    pub fn dir(&self) -> &Path {
        &self.root
    }

    /// Sets how long superseded generations are kept; the setting is saved
    /// with the repository at the next publish.
    pub fn set_retain(&mut self, policy: RetainPolicy) {
        self.state.retain = Some((policy.generations, policy.grace.as_secs()));
    }

    /// How long superseded generations are kept.
    pub fn retain(&self) -> RetainPolicy {
        match self.state.retain {
            Some((generations, grace)) => RetainPolicy {
                generations,
                grace: Duration::from_secs(grace),
            },
            None => RetainPolicy::default(),
        }
    }

    /// The compression of the metadata files the next publish writes.
    pub fn compression(&self) -> MdCompression {
        self.state.compression
    }

    /// Sets the compression of the metadata files the next publish writes.
    pub fn set_compression(&mut self, compression: MdCompression) {
        self.state.compression = compression;
    }

    /// The generation ids kept, oldest first, and the one served.
    pub fn generations(&self) -> (Vec<u64>, Option<u64>) {
        (
            self.state.generations.iter().map(|g| g.id).collect(),
            self.current().map(|g| g.id),
        )
    }

    /// The packages the next publish lists, by location.
    pub fn packages(&self) -> Vec<RepoPackage> {
        self.working
            .values()
            .filter_map(|k| self.state.entries.get(k))
            .map(|e| RepoPackage {
                nevra: e.nevra(),
                href: e.href.clone(),
                pkgid: e.pkgid.clone(),
            })
            .collect()
    }

    fn current_index(&self) -> Option<usize> {
        self.state.generations.iter().rposition(|g| !g.reverted)
    }

    fn current(&self) -> Option<&Generation> {
        self.current_index().map(|i| &self.state.generations[i])
    }

    /// The location of `path` relative to the repository, and its metadata.
    fn locate(&self, path: &Path) -> Result<(String, std::fs::Metadata), RepoError> {
        let abs = path.canonicalize().map_err(io_err(path))?;
        let rel = abs
            .strip_prefix(&self.root)
            .map_err(|_| RepoWriteError::OutsideRepo {
                input: path.display().to_string(),
                dir: self.root.display().to_string(),
            })?;
        let href = rel
            .components()
            .map(|c| c.as_os_str().to_string_lossy().into_owned())
            .collect::<Vec<_>>()
            .join("/");
        let meta = std::fs::metadata(&abs).map_err(io_err(path))?;
        Ok((href, meta))
    }

    /// Adds (or updates) the packages at `paths`, which must be inside the
    /// repository directory. Only files not seen before with the same size
    /// and mtime are read. Returns their NEVRAs.
    pub fn add(&mut self, paths: &[PathBuf]) -> Result<Vec<String>, RepoError> {
        Ok(self.add_counted(paths)?.0)
    }

    /// [`Repo::add`], also counting the packages actually read.
    fn add_counted(&mut self, paths: &[PathBuf]) -> Result<(Vec<String>, usize), RepoError> {
        let mut by_file: HashMap<(String, u64, i64), String> = HashMap::new();
        for (k, e) in &self.state.entries {
            by_file.insert((e.href.clone(), e.size, e.mtime_ns), k.clone());
        }
        let mut found = Vec::new();
        let mut to_read = Vec::new();
        for p in paths {
            let (href, meta) = self.locate(p)?;
            match by_file.get(&(href.clone(), meta.len(), mtime_ns(&meta))) {
                Some(k) => found.push((href, k.clone())),
                None => to_read.push(p.clone()),
            }
        }
        let read = read_entries(&self.root, &to_read)?;
        let n_read = read.len();
        let mut nevras = Vec::new();
        for (href, k) in found {
            nevras.push(self.state.entries[&k].nevra());
            self.working.insert(href, k);
        }
        for e in read {
            nevras.push(e.nevra());
            let k = e.key();
            self.working.insert(e.href.clone(), k.clone());
            self.state.entries.insert(k, e);
        }
        Ok((nevras, n_read))
    }

    /// Removes packages named by NEVRA (`name-[epoch:]version-release.arch`,
    /// epoch 0 may be left out), by location or by path. Nothing is removed
    /// unless every spec matches. The package files stay on disk. Returns
    /// the NEVRAs removed.
    pub fn remove(&mut self, specs: &[String]) -> Result<Vec<String>, RepoError> {
        let mut hrefs = Vec::new();
        for spec in specs {
            let as_path = Path::new(spec)
                .canonicalize()
                .ok()
                .and_then(|p| p.strip_prefix(&self.root).ok().map(Path::to_path_buf))
                .map(|p| p.to_string_lossy().into_owned());
            let hits: Vec<String> = self
                .working
                .iter()
                .filter(|(href, k)| {
                    let e = &self.state.entries[*k];
                    let nevra = e.nevra();
                    let zero_epoch = format!("{}-0:{}-{}.{}", e.name, e.version, e.release, e.arch);
                    *spec == nevra
                        || *spec == zero_epoch
                        || *spec == **href
                        || as_path.as_deref() == Some(href.as_str())
                })
                .map(|(h, _)| h.clone())
                .collect();
            if hits.is_empty() {
                return Err(RepoError::NoMatch {
                    dir: self.root.display().to_string(),
                    spec: spec.clone(),
                });
            }
            hrefs.extend(hits);
        }
        let mut out = Vec::new();
        for h in hrefs {
            if let Some(k) = self.working.remove(&h) {
                out.push(self.state.entries[&k].nevra());
            }
        }
        Ok(out)
    }

    /// Makes the package set exactly the `.rpm` files under the repository
    /// directory (hidden directories and `repodata/` left out), reading only
    /// new or changed files.
    pub fn sync(&mut self) -> Result<SyncSummary, RepoError> {
        let mut files = Vec::new();
        walk_rpms(&self.root, &self.root, &mut files)?;
        let mut summary = SyncSummary::default();
        let before = self.working.len();
        let mut present = HashSet::new();
        let mut changed = Vec::new();
        for (href, path, meta) in files {
            present.insert(href.clone());
            let same = self.working.get(&href).is_some_and(|k| {
                let e = &self.state.entries[k];
                e.size == meta.len() && e.mtime_ns == mtime_ns(&meta)
            });
            if same {
                summary.reused += 1;
            } else {
                changed.push(path);
            }
        }
        self.working.retain(|h, _| present.contains(h));
        summary.removed = before - self.working.len();
        let (n, read) = self.add_counted(&changed)?;
        summary.read = read;
        summary.reused += n.len() - read;
        Ok(summary)
    }

    /// Writes the metadata of the current package set into `repodata/`
    /// under checksum names; `repomd.xml` is not touched.
    pub fn stage(&mut self) -> Result<Staged, RepoError> {
        let keys: Vec<String> = self.working.values().cloned().collect();
        let compression = self.state.compression;
        if let Some(g) = self.current()
            && g.packages == keys
            && g.files.iter().all(|f| f.ends_with(compression.extension()))
        {
            let copy = self.generation_path(g.id, "repomd.xml");
            let served = self.root.join("repodata/repomd.xml");
            if let (Ok(a), Ok(b)) = (std::fs::read(&copy), std::fs::read(&served))
                && a == b
            {
                return Ok(Staged {
                    repomd: a,
                    data: Vec::new(),
                    packages: keys,
                    unchanged: true,
                });
            }
        }
        let entries: Vec<&Entry> = keys.iter().map(|k| &self.state.entries[k]).collect();
        let repodata = self.root.join("repodata");
        std::fs::create_dir_all(&repodata).map_err(io_err(&repodata))?;
        let build = |kind: &'static str| -> Result<RepoData, RepoWriteError> {
            let body: usize = entries
                .iter()
                .map(|e| match kind {
                    "primary" => e.primary.len(),
                    "filelists" => e.filelists.len(),
                    _ => e.other.len(),
                })
                .sum();
            let mut xml = doc_head(kind, entries.len());
            xml.reserve(body + 32);
            for e in &entries {
                xml.push_str(match kind {
                    "primary" => &e.primary,
                    "filelists" => &e.filelists,
                    _ => &e.other,
                });
            }
            xml.push_str(doc_tail(kind));
            write_data_as(&repodata, kind, xml.as_bytes(), compression)
        };
        let (primary, filelists, other) = std::thread::scope(|s| {
            let f = s.spawn(|| build("filelists"));
            let o = s.spawn(|| build("other"));
            let p = build("primary");
            (
                p,
                f.join().expect("filelists writer panicked"),
                o.join().expect("other writer panicked"),
            )
        });
        let data = vec![primary?, filelists?, other?];
        let mut revision = now_secs();
        if let Some(g) = self.state.generations.last() {
            revision = revision.max(g.published + 1);
        }
        Ok(Staged {
            repomd: repomd_xml(&data, revision).into_bytes(),
            data,
            packages: keys,
            unchanged: false,
        })
    }

    fn generation_path(&self, id: u64, file: &str) -> PathBuf {
        self.root
            .join(STATE_DIR)
            .join(GENERATIONS_DIR)
            .join(format!("{id}.{file}"))
    }

    fn save_state(&self) -> Result<(), RepoError> {
        let path = self.root.join(STATE_DIR).join(STATE_FILE);
        let bytes = serde_json::to_vec(&self.state).map_err(|e| RepoError::State {
            path: path.display().to_string(),
            reason: e.to_string(),
        })?;
        write_atomic(&path, &bytes)
    }

    /// Publishes staged metadata: `repomd.xml` (and `repomd.xml.asc` when
    /// `signature` is given; an earlier signature is removed otherwise) is
    /// replaced by rename, then older generations beyond the
    /// [`RetainPolicy`] are pruned.
    pub fn commit(
        &mut self,
        staged: Staged,
        signature: Option<&str>,
    ) -> Result<Published, RepoError> {
        let repodata = self.root.join("repodata");
        let final_path = repodata.join("repomd.xml");
        let asc_path = repodata.join("repomd.xml.asc");
        if staged.unchanged {
            let g = self
                .current()
                .expect("unchanged implies a current generation");
            let (id, files, mut signed) = (g.id, g.files.clone(), g.signed);
            if let Some(sig) = signature {
                self.attach_signature(sig)?;
                signed = true;
            }
            return Ok(Published {
                generation: id,
                packages: staged.packages.len(),
                repomd: final_path,
                files,
                changed: false,
                signed,
                pruned: Vec::new(),
            });
        }
        let id = self.state.next_id;
        write_atomic(&self.generation_path(id, "repomd.xml"), &staged.repomd)?;
        if let Some(sig) = signature {
            write_atomic(&self.generation_path(id, "repomd.xml.asc"), sig.as_bytes())?;
        }
        // Both temporaries ready first, so the renames follow each other.
        let tmp_repomd = temp_with(&repodata, &staged.repomd)?;
        let tmp_asc = match signature {
            Some(sig) => Some(temp_with(&repodata, sig.as_bytes())?),
            None => None,
        };
        tmp_repomd
            .persist(&final_path)
            .map_err(|e| io_err(&final_path)(e.error))?;
        match tmp_asc {
            Some(t) => {
                t.persist(&asc_path)
                    .map_err(|e| io_err(&asc_path)(e.error))?;
            }
            None => match std::fs::remove_file(&asc_path) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(io_err(&asc_path)(e)),
            },
        }

        let now = now_secs();
        if let Some(i) = self.current_index() {
            self.state.generations[i].superseded = Some(now);
        }
        let files: Vec<String> = staged
            .data
            .iter()
            .filter_map(|d| d.href.strip_prefix("repodata/"))
            .map(str::to_owned)
            .collect();
        self.state.generations.push(Generation {
            id,
            published: now,
            superseded: None,
            reverted: false,
            signed: signature.is_some(),
            packages: staged.packages.clone(),
            files: files.clone(),
        });
        self.state.next_id = id + 1;
        let pruned = self.prune(now)?;
        Ok(Published {
            generation: id,
            packages: staged.packages.len(),
            repomd: final_path,
            files,
            changed: true,
            signed: signature.is_some(),
            pruned,
        })
    }

    /// [`Repo::stage`] then [`Repo::commit`], unsigned.
    pub fn publish(&mut self) -> Result<Published, RepoError> {
        let staged = self.stage()?;
        self.commit(staged, None)
    }

    /// Writes `signature` as `repodata/repomd.xml.asc` for the `repomd.xml`
    /// served now, and keeps it with the current generation so a revert
    /// restores it.
    pub fn attach_signature(&mut self, signature: &str) -> Result<(), RepoError> {
        let asc_path = self.root.join("repodata/repomd.xml.asc");
        if let Some(i) = self.current_index() {
            let id = self.state.generations[i].id;
            write_atomic(
                &self.generation_path(id, "repomd.xml.asc"),
                signature.as_bytes(),
            )?;
            self.state.generations[i].signed = true;
            self.save_state()?;
        }
        write_atomic(&asc_path, signature.as_bytes())
    }

    /// Serves the previous generation again: its `repomd.xml` (and
    /// signature) restored byte for byte. The generation reverted from is
    /// kept as superseded for the grace period.
    pub fn revert(&mut self) -> Result<Published, RepoError> {
        let dir = self.root.display().to_string();
        let cur = self.current_index().ok_or_else(|| RepoError::NoPrevious {
            dir: dir.clone(),
            kept: self.retain().generations,
        })?;
        let prev = self.state.generations[..cur]
            .iter()
            .rposition(|g| !g.reverted)
            .ok_or_else(|| RepoError::NoPrevious {
                dir: dir.clone(),
                kept: self.retain().generations,
            })?;
        let g = self.state.generations[prev].clone();
        let missing = |file: String| RepoError::Missing {
            dir: dir.clone(),
            generation: g.id,
            file,
        };
        let repodata = self.root.join("repodata");
        for f in &g.files {
            if !repodata.join(f).is_file() {
                return Err(missing(format!("repodata/{f}")));
            }
        }
        let copy = self.generation_path(g.id, "repomd.xml");
        let repomd = std::fs::read(&copy).map_err(|_| missing(copy.display().to_string()))?;
        let asc = if g.signed {
            let p = self.generation_path(g.id, "repomd.xml.asc");
            Some(std::fs::read(&p).map_err(|_| missing(p.display().to_string()))?)
        } else {
            None
        };
        let final_path = repodata.join("repomd.xml");
        let asc_path = repodata.join("repomd.xml.asc");
        let tmp_repomd = temp_with(&repodata, &repomd)?;
        let tmp_asc = match &asc {
            Some(a) => Some(temp_with(&repodata, a)?),
            None => None,
        };
        tmp_repomd
            .persist(&final_path)
            .map_err(|e| io_err(&final_path)(e.error))?;
        match tmp_asc {
            Some(t) => {
                t.persist(&asc_path)
                    .map_err(|e| io_err(&asc_path)(e.error))?;
            }
            None => {
                let _ = std::fs::remove_file(&asc_path);
            }
        }
        let now = now_secs();
        let c = &mut self.state.generations[cur];
        c.reverted = true;
        c.superseded = Some(now);
        self.state.generations[prev].superseded = None;
        self.working.clear();
        for k in &g.packages {
            if let Some(e) = self.state.entries.get(k) {
                self.working.insert(e.href.clone(), k.clone());
            }
        }
        let pruned = self.prune(now)?;
        Ok(Published {
            generation: g.id,
            packages: g.packages.len(),
            repomd: final_path,
            files: g.files,
            changed: true,
            signed: g.signed,
            pruned,
        })
    }

    /// Drops generations outside the policy (their `repomd.xml` copies,
    /// metadata files no kept generation names, fragments no kept
    /// generation lists), saves the state and returns the files removed.
    fn prune(&mut self, now: u64) -> Result<Vec<String>, RepoError> {
        let current = self.current().map(|g| g.id);
        let n = self.state.generations.len();
        let policy = self.retain();
        let grace = policy.grace.as_secs();
        let keep_last = policy.generations.max(1);
        let mut dropped = Vec::new();
        let mut kept = Vec::new();
        for (i, g) in std::mem::take(&mut self.state.generations)
            .into_iter()
            .enumerate()
        {
            let recent = i + keep_last >= n;
            let in_grace = g.superseded.is_some_and(|t| now.saturating_sub(t) < grace);
            if Some(g.id) == current || recent || in_grace {
                kept.push(g);
            } else {
                dropped.push(g);
            }
        }
        self.state.generations = kept;
        let mut referenced: HashSet<String> = self
            .state
            .generations
            .iter()
            .flat_map(|g| g.files.iter().cloned())
            .collect();
        let repodata = self.root.join("repodata");
        if let Ok(served) = std::fs::read_to_string(repodata.join("repomd.xml")) {
            referenced.extend(named_files(&served));
        }
        let live: HashSet<&String> = self
            .state
            .generations
            .iter()
            .flat_map(|g| g.packages.iter())
            .chain(self.working.values())
            .collect();
        let live: HashSet<String> = live.into_iter().cloned().collect();
        self.state.entries.retain(|k, _| live.contains(k));
        self.save_state()?;

        let dropped_files: HashSet<&String> = dropped.iter().flat_map(|g| g.files.iter()).collect();
        let mut pruned = Vec::new();
        for g in &dropped {
            for f in ["repomd.xml", "repomd.xml.asc"] {
                let _ = std::fs::remove_file(self.generation_path(g.id, f));
            }
        }
        let cutoff = SystemTime::now() - policy.grace;
        for e in std::fs::read_dir(&repodata).map_err(io_err(&repodata))? {
            let e = e.map_err(io_err(&repodata))?;
            let name = e.file_name().to_string_lossy().into_owned();
            if !is_md_file(&name) || referenced.contains(&name) {
                continue;
            }
            // A file no generation knows (a crashed or concurrent stage) goes
            // only once it is older than the grace period.
            let old = e
                .metadata()
                .and_then(|m| m.modified())
                .is_ok_and(|t| t <= cutoff);
            if dropped_files.contains(&name) || old {
                std::fs::remove_file(e.path()).map_err(io_err(&e.path()))?;
                pruned.push(name);
            }
        }
        pruned.sort();
        Ok(pruned)
    }
}

/// A synced temporary file in `dir` holding `bytes`.
fn temp_with(dir: &Path, bytes: &[u8]) -> Result<tempfile::NamedTempFile, RepoError> {
    let mut tmp = tempfile::NamedTempFile::new_in(dir).map_err(io_err(dir))?;
    served_mode(tmp.as_file())
        .and_then(|()| tmp.write_all(bytes))
        .and_then(|()| tmp.as_file().sync_all())
        .map_err(io_err(tmp.path()))?;
    Ok(tmp)
}

/// Every `.rpm` under `dir`, skipping hidden directories and `repodata/`.
fn walk_rpms(
    root: &Path,
    dir: &Path,
    out: &mut Vec<(String, PathBuf, std::fs::Metadata)>,
) -> Result<(), RepoError> {
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .map_err(io_err(dir))?
        .collect::<Result<_, _>>()
        .map_err(io_err(dir))?;
    entries.sort_by_key(std::fs::DirEntry::file_name);
    for e in entries {
        let name = e.file_name().to_string_lossy().into_owned();
        let path = e.path();
        let ft = e.file_type().map_err(io_err(&path))?;
        if name.starts_with('.') {
            continue;
        }
        if ft.is_dir() {
            if dir == root && name == "repodata" {
                continue;
            }
            walk_rpms(root, &path, out)?;
        } else if name.ends_with(".rpm") {
            let meta = std::fs::metadata(&path).map_err(io_err(&path))?;
            if !meta.is_file() {
                continue;
            }
            let href = path
                .strip_prefix(root)
                .unwrap_or(&path)
                .components()
                .map(|c| c.as_os_str().to_string_lossy().into_owned())
                .collect::<Vec<_>>()
                .join("/");
            out.push((href, path, meta));
        }
    }
    Ok(())
}

/// Reads packages into entries, on every core.
fn read_entries(root: &Path, paths: &[PathBuf]) -> Result<Vec<Entry>, RepoError> {
    if paths.is_empty() {
        return Ok(Vec::new());
    }
    let workers = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(paths.len());
    let chunk = paths.len().div_ceil(workers);
    let results: Vec<Result<Vec<Entry>, RepoError>> = std::thread::scope(|s| {
        let handles: Vec<_> = paths
            .chunks(chunk)
            .map(|part| s.spawn(move || part.iter().map(|p| read_entry(root, p)).collect()))
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("package reader panicked"))
            .collect()
    });
    let mut out = Vec::with_capacity(paths.len());
    for r in results {
        out.extend(r?);
    }
    Ok(out)
}

fn read_entry(root: &Path, path: &Path) -> Result<Entry, RepoError> {
    let meta = std::fs::metadata(path).map_err(io_err(path))?;
    let p = read_package(root, path)?;
    let mut primary = String::new();
    primary_pkg(&mut primary, &p);
    let mut filelists = String::new();
    filelists_pkg(&mut filelists, &p);
    let mut other = String::new();
    other_pkg(&mut other, &p);
    Ok(Entry {
        href: p.href.clone(),
        size: meta.len(),
        mtime_ns: mtime_ns(&meta),
        pkgid: p.pkgid.clone(),
        name: p.name.clone(),
        epoch: p.epoch,
        version: p.version.clone(),
        release: p.release.clone(),
        arch: p.arch.clone(),
        primary,
        filelists,
        other,
    })
}

/// A metadata file as `repomd.xml` describes it, checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MdFile {
    /// Its type (`primary`, `filelists`, `other`, …).
    pub kind: String,
    /// Its location, relative to the repository directory.
    pub href: String,
    /// The sha256 of the file.
    pub checksum: String,
    /// The sha256 of its uncompressed content.
    pub open_checksum: String,
    /// The uncompressed content's size.
    pub open_size: u64,
}

/// Checks the repository served in `dir` as a client would: every file
/// `repomd.xml` names exists, its size and sha256 match, and its
/// uncompressed content matches the open checksum and size.
pub fn verify_repo(dir: &Path) -> Result<Vec<MdFile>, RepoError> {
    let repomd_path = dir.join("repodata/repomd.xml");
    let text = std::fs::read_to_string(&repomd_path).map_err(io_err(&repomd_path))?;
    let corrupt = |file: &str, reason: String| RepoError::Corrupt {
        file: file.to_owned(),
        reason,
    };
    let mut out = Vec::new();
    for block in text.split("<data type=\"").skip(1) {
        let kind = block.split('"').next().unwrap_or_default().to_owned();
        let field = |open: &str, close: &str| -> Option<String> {
            let start = block.find(open)? + open.len();
            let start = start + block[start..].find('>')? + 1;
            let end = start + block[start..].find(close)?;
            Some(block[start..end].trim().to_owned())
        };
        let missing = |what: &str| {
            corrupt(
                &repomd_path.display().to_string(),
                format!("the {kind} entry has no {what}"),
            )
        };
        let href = named_files(block)
            .into_iter()
            .next()
            .map(|f| format!("repodata/{f}"))
            .ok_or_else(|| missing("location"))?;
        let checksum = field("<checksum", "</checksum>").ok_or_else(|| missing("checksum"))?;
        let open_checksum =
            field("<open-checksum", "</open-checksum>").ok_or_else(|| missing("open-checksum"))?;
        let size: u64 = field("<size", "</size>")
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| missing("size"))?;
        let open_size: u64 = field("<open-size", "</open-size>")
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| missing("open-size"))?;
        let path = dir.join(&href);
        let bytes = std::fs::read(&path).map_err(io_err(&path))?;
        if bytes.len() as u64 != size {
            return Err(corrupt(
                &href,
                format!("{} bytes, repomd.xml says {size}", bytes.len()),
            ));
        }
        let got = hex::encode(Sha256::digest(&bytes));
        if got != checksum {
            return Err(corrupt(
                &href,
                format!("sha256 {got}, repomd.xml says {checksum}"),
            ));
        }
        let open = decompress(&href, &bytes)
            .map_err(|e| corrupt(&href, format!("cannot decompress: {e}")))?;
        let got = hex::encode(Sha256::digest(&open));
        if got != open_checksum || open.len() as u64 != open_size {
            return Err(corrupt(
                &href,
                format!(
                    "uncompressed content {got} ({} bytes), repomd.xml says {open_checksum} ({open_size} bytes)",
                    open.len()
                ),
            ));
        }
        out.push(MdFile {
            kind,
            href,
            checksum,
            open_checksum,
            open_size,
        });
    }
    if out.is_empty() {
        return Err(corrupt(
            &repomd_path.display().to_string(),
            "it names no metadata".into(),
        ));
    }
    Ok(out)
}

/// The uncompressed content of a metadata file, by its extension.
pub fn decompress(name: &str, bytes: &[u8]) -> std::io::Result<Vec<u8>> {
    let mut out = Vec::new();
    if name.ends_with(".gz") {
        flate2::read::MultiGzDecoder::new(bytes).read_to_end(&mut out)?;
    } else if name.ends_with(".zst") {
        out = zstd::decode_all(bytes)?;
    } else if name.ends_with(".xz") {
        liblzma::read::XzDecoder::new(bytes).read_to_end(&mut out)?;
    } else if name.ends_with(".bz2") {
        bzip2::read::BzDecoder::new(bytes).read_to_end(&mut out)?;
    } else {
        out = bytes.to_vec();
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metadata_file_names() {
        let sum = "a".repeat(64);
        assert!(is_md_file(&format!("{sum}-primary.xml.gz")));
        assert!(is_md_file(&format!("{sum}-other.xml.zst")));
        assert!(!is_md_file(&format!("{sum}-primary.sqlite.bz2")));
        assert!(!is_md_file("repomd.xml"));
        assert!(!is_md_file(&format!("{}-primary.xml.gz", "g".repeat(64))));
    }

    #[test]
    fn empty_repository_publishes_reverts_and_verifies() {
        let tmp = tempfile::tempdir().unwrap();
        let mut repo = Repo::open(tmp.path()).unwrap();
        assert!(matches!(repo.revert(), Err(RepoError::NoPrevious { .. })));
        let first = repo.publish().unwrap();
        assert!(first.changed);
        // Served files are readable by a web server running as another user.
        for f in first.files.iter().chain(["repomd.xml".to_owned()].iter()) {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(tmp.path().join("repodata").join(f))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o644, "{f}");
        }
        assert_eq!(verify_repo(tmp.path()).unwrap().len(), 3);
        // Nothing changed: nothing published.
        let again = repo.publish().unwrap();
        assert!(!again.changed);
        assert_eq!(again.generation, first.generation);
        // A second writer is refused while the first holds the lock.
        assert!(matches!(
            Repo::open(tmp.path()),
            Err(RepoError::Locked { .. })
        ));
        drop(repo);
        let mut repo = Repo::open(tmp.path()).unwrap();
        repo.set_compression(MdCompression::Zst);
        let zst = repo.publish().unwrap();
        assert!(zst.files.iter().all(|f| f.ends_with(".xml.zst")));
        assert_eq!(verify_repo(tmp.path()).unwrap().len(), 3);
        let back = repo.revert().unwrap();
        assert_eq!(back.generation, first.generation);
        assert!(
            std::fs::read_to_string(&back.repomd)
                .unwrap()
                .contains(".xml.gz")
        );
    }

    #[test]
    fn removing_an_unknown_package_names_it() {
        let tmp = tempfile::tempdir().unwrap();
        let mut repo = Repo::open(tmp.path()).unwrap();
        let err = repo.remove(&["nope-1-1.noarch".into()]).unwrap_err();
        assert!(err.to_string().contains("nope-1-1.noarch"), "{err}");
    }

    #[test]
    fn tampered_metadata_fails_verification() {
        let tmp = tempfile::tempdir().unwrap();
        let mut repo = Repo::open(tmp.path()).unwrap();
        let p = repo.publish().unwrap();
        let f = tmp.path().join("repodata").join(&p.files[0]);
        let mut bytes = std::fs::read(&f).unwrap();
        let last = bytes.len() - 1;
        bytes[last] ^= 1;
        std::fs::write(&f, bytes).unwrap();
        let err = verify_repo(tmp.path()).unwrap_err();
        assert!(err.to_string().contains(&p.files[0]), "{err}");
    }
}

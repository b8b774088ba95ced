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

use sha2::{Digest, Sha256};

use super::chunked::{self, BlockKey};
use super::state::{self, Entry, FastHash, Generation, Key, Layout, Pack, Span, State};
use super::{
    MdCompression, RepoData, RepoWriteError, doc_head, doc_tail, filelists_pkg, other_pkg,
    primary_pkg, read_package_at, repomd_xml, served_mode,
};

/// The state directory inside the repository directory.
pub const STATE_DIR: &str = ".albs";
/// The index of packages and generations (see [`state`]).
const STATE_FILE: &str = "state.bin";
/// The single JSON state file of format 1, converted on open.
const STATE_FILE_V1: &str = "repo.json";
const GENERATIONS_DIR: &str = "generations";
/// The document kinds, in the order of an entry's fragments.
const KINDS: [&str; 3] = ["primary", "filelists", "other"];

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
    packages: Vec<Key>,
    unchanged: bool,
    /// Where the blocks are in the files written.
    layouts: Vec<Layout>,
    /// The synced temporary in `repodata/` that becomes `repomd.xml`.
    served: Option<tempfile::NamedTempFile>,
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
    working: BTreeMap<String, Key>,
    /// The fragments of the entries.
    pack: Pack,
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
    state::write_atomic(path, bytes).map_err(io_err(path))
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
        let bad = |path: &Path, reason: String| RepoError::State {
            path: path.display().to_string(),
            reason,
        };
        let (state, pack, migrated) = match std::fs::read(&state_path) {
            Ok(bytes) => {
                let state = state::decode(&bytes).map_err(|r| bad(&state_path, r))?;
                let pack_path = state_dir.join(&state.pack);
                let pack = Pack::open(pack_path.clone()).map_err(io_err(&pack_path))?;
                (state, pack, false)
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let v1_path = state_dir.join(STATE_FILE_V1);
                let pack_path = state_dir.join(state::pack_name(1));
                match std::fs::read(&v1_path) {
                    Ok(bytes) => {
                        let old: state::StateV1 = serde_json::from_slice(&bytes)
                            .map_err(|e| bad(&v1_path, e.to_string()))?;
                        if old.format != 1 {
                            return Err(bad(
                                &v1_path,
                                format!("format {}, this albs reads 1 and 2", old.format),
                            ));
                        }
                        // A pack left by an interrupted conversion is
                        // garbage: start it again.
                        let _ = std::fs::remove_file(&pack_path);
                        let mut pack = Pack::open(pack_path.clone()).map_err(io_err(&pack_path))?;
                        let state = state::from_v1(old, &mut pack).map_err(io_err(&pack_path))?;
                        (state, pack, true)
                    }
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                        let pack = Pack::open(pack_path.clone()).map_err(io_err(&pack_path))?;
                        let state = State {
                            next_id: 1,
                            pack: state::pack_name(1),
                            ..State::default()
                        };
                        (state, pack, false)
                    }
                    Err(e) => return Err(io_err(&v1_path)(e)),
                }
            }
            Err(e) => return Err(io_err(&state_path)(e)),
        };
        let mut repo = Repo {
            root,
            state,
            working: BTreeMap::new(),
            pack,
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
        if migrated {
            repo.save_state()?;
            let _ = std::fs::remove_file(repo.root.join(STATE_DIR).join(STATE_FILE_V1));
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
        let mut files = Vec::with_capacity(paths.len());
        for p in paths {
            let (href, meta) = self.locate(p)?;
            files.push((href, p.clone(), Some(meta)));
        }
        self.add_located(files)
    }

    /// Adds the packages at `files` (location in the repository, path,
    /// metadata if known), reading only those not seen before with the
    /// same size and mtime; returns their NEVRAs and the number read.
    fn add_located(
        &mut self,
        files: Vec<(String, PathBuf, Option<std::fs::Metadata>)>,
    ) -> Result<(Vec<String>, usize), RepoError> {
        let mut by_file: HashMap<(&str, u64, i64), &Key, FastHash> =
            HashMap::with_capacity_and_hasher(self.state.entries.len(), FastHash);
        for (k, e) in &self.state.entries {
            by_file.insert((e.href.as_str(), e.size, e.mtime_ns), k);
        }
        let mut found = Vec::new();
        let mut to_read = Vec::new();
        for (href, path, meta) in files {
            let seen = meta.and_then(|m| by_file.get(&(href.as_str(), m.len(), mtime_ns(&m))));
            match seen {
                Some(&k) => found.push((href, k.clone())),
                None => to_read.push((href, path)),
            }
        }
        drop(by_file);
        let read = read_entries(&to_read)?;
        let n_read = read.len();
        // The fragments of the new packages go to the pack in one write.
        let mut buf = Vec::new();
        let mut fresh = Vec::with_capacity(read.len());
        for (mut e, frags) in read {
            for (span, f) in e.frags.iter_mut().zip(&frags) {
                *span = Span {
                    off: buf.len() as u64,
                    len: f.len() as u64,
                };
                buf.extend_from_slice(f.as_bytes());
            }
            fresh.push(e);
        }
        if !buf.is_empty() {
            let base = self.pack.append(&buf).map_err(io_err(&self.pack.path))?;
            for e in &mut fresh {
                for s in &mut e.frags {
                    s.off += base;
                }
            }
        }
        let mut nevras = Vec::new();
        for (href, k) in found {
            nevras.push(self.state.entries[&k].nevra());
            self.working.insert(href, k);
        }
        for e in fresh {
            nevras.push(e.nevra());
            let k: Key = e.key().into();
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
        // Only packages known before need their size and mtime compared
        // (on every core); the others are read, and their metadata comes
        // from the open file.
        let known: HashSet<&str, FastHash> = self
            .state
            .entries
            .values()
            .map(|e| e.href.as_str())
            .collect();
        let stats = run_jobs(files.len(), |i| {
            let (href, path) = &files[i];
            if known.contains(href.as_str()) {
                std::fs::metadata(path).map(Some).map_err(io_err(path))
            } else {
                Ok(None)
            }
        });
        drop(known);
        let mut present = HashSet::new();
        let mut changed = Vec::new();
        for ((href, path), meta) in files.into_iter().zip(stats) {
            let meta = meta?;
            present.insert(href.clone());
            let same = meta.as_ref().is_some_and(|meta| {
                self.working.get(&href).is_some_and(|k| {
                    let e = &self.state.entries[k];
                    e.size == meta.len() && e.mtime_ns == mtime_ns(meta)
                })
            });
            if same {
                summary.reused += 1;
            } else {
                changed.push((href, path, meta));
            }
        }
        self.working.retain(|h, _| present.contains(h));
        summary.removed = before - self.working.len();
        // The walk found them under the repository: their locations are
        // known, no need to resolve them again.
        let (n, read) = self.add_located(changed)?;
        summary.read = read;
        summary.reused += n.len() - read;
        Ok(summary)
    }

    /// Writes the metadata of the current package set into `repodata/`
    /// under checksum names; `repomd.xml` is not touched.
    pub fn stage(&mut self) -> Result<Staged, RepoError> {
        let keys: Vec<Key> = self.working.values().cloned().collect();
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
                    layouts: Vec::new(),
                    served: None,
                });
            }
        }
        let entries: Vec<&Entry> = keys.iter().map(|k| &self.state.entries[k]).collect();
        let repodata = self.root.join("repodata");
        std::fs::create_dir_all(&repodata).map_err(io_err(&repodata))?;
        // The pack and the served files (to copy blocks from) are read side
        // by side.
        let (pack, previous) = std::thread::scope(|s| {
            let previous = s.spawn(|| self.reusable_files(compression));
            let pack = self.pack.read();
            (pack, previous.join().expect("metadata reader panicked"))
        });
        let pack = pack.map_err(io_err(&self.pack.path))?;
        for e in &entries {
            if e.frags.iter().any(|s| s.off + s.len > pack.len() as u64) {
                return Err(RepoError::State {
                    path: self.pack.path.display().to_string(),
                    reason: format!("the fragments of {} are past its end", e.href),
                });
            }
        }
        let frag = |e: &Entry, doc: usize| -> &[u8] {
            let s = e.frags[doc];
            &pack[s.off as usize..(s.off + s.len) as usize]
        };

        let blocks = chunked::blocks(entries.iter().map(|e| e.href.as_str()));
        let per_block: Vec<[BlockKey; 3]> = blocks
            .iter()
            .map(|r| chunked::block_keys(KINDS, compression, keys[r.clone()].iter().map(|k| &**k)))
            .collect();
        let block_keys: Vec<Vec<BlockKey>> = (0..KINDS.len())
            .map(|doc| per_block.iter().map(|k| k[doc]).collect())
            .collect();
        // Blocks of the files served now that the new files can copy.
        let mut reuse: HashMap<BlockKey, &[u8]> = HashMap::new();
        for (layout, bytes) in &previous {
            for (key, off, len) in &layout.blocks {
                if let Some(seg) = bytes.get(*off as usize..(*off + *len) as usize) {
                    reuse.insert(*key, seg);
                }
            }
        }

        // The work: hashing each document whole (its open checksum, and its
        // CRC for gzip) and compressing each block not reused.
        enum Job {
            Hash(usize),
            Compress(usize, usize),
        }
        enum Done {
            Hash(String, flate2::Crc, u64),
            Compressed(Vec<u8>),
        }
        let mut jobs: Vec<Job> = (0..KINDS.len()).map(Job::Hash).collect();
        for (doc, ks) in block_keys.iter().enumerate() {
            for (b, k) in ks.iter().enumerate() {
                if !reuse.contains_key(k) {
                    jobs.push(Job::Compress(doc, b));
                }
            }
        }
        let heads: Vec<String> = KINDS.iter().map(|k| doc_head(k, entries.len())).collect();
        let results = run_jobs(jobs.len(), |i| -> std::io::Result<Done> {
            match jobs[i] {
                Job::Hash(doc) => {
                    let mut sha = Sha256::new();
                    let mut crc = flate2::Crc::new();
                    let mut size = 0u64;
                    let gz = compression == MdCompression::Gz;
                    let parts = std::iter::once(heads[doc].as_bytes())
                        .chain(entries.iter().map(|e| frag(e, doc)))
                        .chain(std::iter::once(doc_tail(KINDS[doc]).as_bytes()));
                    for part in parts {
                        sha.update(part);
                        if gz {
                            crc.update(part);
                        }
                        size += part.len() as u64;
                    }
                    Ok(Done::Hash(hex::encode(sha.finalize()), crc, size))
                }
                Job::Compress(doc, b) => {
                    let r = blocks[b].clone();
                    let len = entries[r.clone()]
                        .iter()
                        .map(|e| e.frags[doc].len)
                        .sum::<u64>();
                    let mut raw = Vec::with_capacity(len as usize);
                    for e in &entries[r] {
                        raw.extend_from_slice(frag(e, doc));
                    }
                    chunked::compress_segment(compression, &raw, false).map(Done::Compressed)
                }
            }
        });
        let mut hashes: Vec<Option<(String, flate2::Crc, u64)>> = vec![None, None, None];
        let mut fresh: HashMap<(usize, usize), Vec<u8>> = HashMap::new();
        for (job, done) in jobs.iter().zip(results) {
            let done = done.map_err(|source| RepoWriteError::Io {
                input: "compressing metadata".to_owned(),
                source,
            })?;
            match (job, done) {
                (Job::Hash(doc), Done::Hash(sum, crc, size)) => {
                    hashes[*doc] = Some((sum, crc, size))
                }
                (Job::Compress(doc, b), Done::Compressed(bytes)) => {
                    fresh.insert((*doc, *b), bytes);
                }
                _ => unreachable!("a job's result matches the job"),
            }
        }

        // Each file: header, the parts in order, trailer; written under its
        // checksum name. Every new file (the three documents, the
        // generation's copy of `repomd.xml` and the temporary that
        // `commit` renames over the served one) is written first and all are
        // made durable in one round, side by side with the pack; only then
        // do the documents take their checksum names.
        let ext = compression.extension();
        let mut revision = now_secs();
        if let Some(g) = self.state.generations.last() {
            revision = revision.max(g.published + 1);
        }
        let gen_copy = self.generation_path(self.state.next_id, "repomd.xml");
        let pack_file = &mut self.pack;
        let (synced, staged) = std::thread::scope(|s| {
            let sync = s.spawn(move || pack_file.sync());
            let staged = write_and_sync(
                run_jobs(KINDS.len(), |doc| -> Result<Document, RepoError> {
                    let kind = KINDS[doc];
                    let (open_checksum, crc, open_size) =
                        hashes[doc].as_ref().expect("every document was hashed");
                    let wrap = |source| RepoWriteError::Io {
                        input: kind.to_owned(),
                        source,
                    };
                    let gz = compression == MdCompression::Gz;
                    let segment = |b: usize, key: &BlockKey| -> &[u8] {
                        match fresh.get(&(doc, b)) {
                            Some(s) => s,
                            None => reuse[key],
                        }
                    };
                    // Sized up front: growing it would copy megabytes.
                    let blocks_len: usize = block_keys[doc]
                        .iter()
                        .enumerate()
                        .map(|(b, key)| segment(b, key).len())
                        .sum();
                    let mut out = Vec::with_capacity(blocks_len + 4096);
                    if gz {
                        out.extend_from_slice(&chunked::GZIP_HEADER);
                    }
                    out.extend(
                        chunked::compress_segment(compression, heads[doc].as_bytes(), false)
                            .map_err(wrap)?,
                    );
                    let mut layout = Layout::default();
                    for (b, key) in block_keys[doc].iter().enumerate() {
                        let seg = segment(b, key);
                        layout
                            .blocks
                            .push((*key, out.len() as u64, seg.len() as u64));
                        out.extend_from_slice(seg);
                    }
                    out.extend(
                        chunked::compress_segment(compression, doc_tail(kind).as_bytes(), true)
                            .map_err(wrap)?,
                    );
                    if gz {
                        out.extend_from_slice(&chunked::gzip_trailer(crc));
                    }
                    let checksum = hex::encode(Sha256::digest(&out));
                    let file = format!("{checksum}-{kind}.xml.{ext}");
                    let path = repodata.join(&file);
                    // A file already there with that name and size is kept.
                    let pending = if std::fs::metadata(&path).ok().map(|m| m.len())
                        == Some(out.len() as u64)
                    {
                        None
                    } else {
                        Some(Unsynced::write(&repodata, path, &out, true)?)
                    };
                    layout.file = file.clone();
                    Ok((
                        RepoData {
                            kind,
                            href: format!("repodata/{file}"),
                            checksum,
                            open_checksum: open_checksum.clone(),
                            size: out.len() as u64,
                            open_size: *open_size,
                        },
                        layout,
                        pending,
                    ))
                }),
                revision,
                &gen_copy,
                &repodata,
            );
            (sync.join().expect("pack sync panicked"), staged)
        });
        synced.map_err(io_err(&self.pack.path))?;
        let (repomd, data, layouts, served) = staged?;
        Ok(Staged {
            repomd,
            data,
            packages: keys,
            unchanged: false,
            layouts,
            served: Some(served),
        })
    }

    /// The metadata files of the served generation compressed as
    /// `compression`, with their block layouts, read back and checked
    /// against the checksum in their names (a damaged file is not copied
    /// from).
    fn reusable_files(&self, compression: MdCompression) -> Vec<(Layout, Vec<u8>)> {
        let Some(g) = self.current() else {
            return Vec::new();
        };
        let suffix = format!(".xml.{}", compression.extension());
        let repodata = self.root.join("repodata");
        let layouts: Vec<&Layout> = g
            .layouts
            .iter()
            .filter(|l| l.file.ends_with(&suffix) && !l.blocks.is_empty())
            .collect();
        run_jobs(layouts.len(), |i| {
            let l = layouts[i];
            let bytes = std::fs::read(repodata.join(&l.file)).ok()?;
            let sum = hex::encode(Sha256::digest(&bytes));
            l.file.starts_with(&sum).then(|| (l.clone(), bytes))
        })
        .into_iter()
        .flatten()
        .collect()
    }

    fn generation_path(&self, id: u64, file: &str) -> PathBuf {
        self.root
            .join(STATE_DIR)
            .join(GENERATIONS_DIR)
            .join(format!("{id}.{file}"))
    }

    /// Saves the state: the pack first (compacted when mostly garbage)
    /// and made durable, then `state.bin`, which names it.
    fn save_state(&mut self) -> Result<(), RepoError> {
        let stale = self.compact_pack()?;
        self.pack.sync().map_err(io_err(&self.pack.path))?;
        let path = self.root.join(STATE_DIR).join(STATE_FILE);
        let repodata = self.root.join("repodata");
        // The renames in `repodata/` are made durable side by side.
        let (saved, dir_synced) = std::thread::scope(|s| {
            let dir = s.spawn(|| match std::fs::File::open(&repodata) {
                Ok(d) => d.sync_all(),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
                Err(e) => Err(e),
            });
            let saved = write_atomic(&path, &state::encode(&self.state));
            (saved, dir.join().expect("directory sync panicked"))
        });
        saved?;
        dir_synced.map_err(io_err(&repodata))?;
        if let Some(old) = stale {
            let _ = std::fs::remove_file(old);
        }
        Ok(())
    }

    /// Rewrites the pack with only the fragments of kept entries when they
    /// are less than half of it; returns the old pack to remove once the
    /// state naming the new one is saved.
    fn compact_pack(&mut self) -> Result<Option<PathBuf>, RepoError> {
        let live: u64 = self
            .state
            .entries
            .values()
            .flat_map(|e| e.frags.iter())
            .map(|s| s.len)
            .sum();
        let size = self.pack.len();
        if size < 8 << 20 || size <= 2 * live {
            return Ok(None);
        }
        let old = self.pack.read().map_err(io_err(&self.pack.path))?;
        let mut buf = Vec::with_capacity(live as usize);
        let mut spans = Vec::with_capacity(self.state.entries.len());
        for e in self.state.entries.values() {
            let mut new = [Span::default(); 3];
            for (n, s) in new.iter_mut().zip(&e.frags) {
                let bytes = old
                    .get(s.off as usize..(s.off + s.len) as usize)
                    .ok_or_else(|| RepoError::State {
                        path: self.pack.path.display().to_string(),
                        reason: format!("the fragments of {} are past its end", e.href),
                    })?;
                *n = Span {
                    off: buf.len() as u64,
                    len: s.len,
                };
                buf.extend_from_slice(bytes);
            }
            spans.push(new);
        }
        let name = state::pack_name(state::pack_number(&self.state.pack) + 1);
        let path = self.root.join(STATE_DIR).join(&name);
        let _ = std::fs::remove_file(&path);
        let mut pack = Pack::open(path.clone()).map_err(io_err(&path))?;
        pack.append(&buf).map_err(io_err(&path))?;
        for (e, new) in self.state.entries.values_mut().zip(spans) {
            e.frags = new;
        }
        let old_pack = std::mem::replace(&mut self.pack, pack);
        self.state.pack = name;
        Ok(Some(old_pack.path))
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
        // The generation's copy was written and the served file's temporary
        // synced by `stage`.
        let tmp_repomd = match staged.served {
            Some(t) => t,
            None => temp_with(&repodata, &staged.repomd)?,
        };
        let gen_copy = self.generation_path(id, "repomd.xml");
        // (Another stage since may have replaced the copy.)
        if std::fs::read(&gen_copy).ok().as_deref() != Some(&staged.repomd[..]) {
            write_atomic(&gen_copy, &staged.repomd)?;
        }
        if let Some(sig) = signature {
            write_atomic(&self.generation_path(id, "repomd.xml.asc"), sig.as_bytes())?;
        }
        // Both temporaries ready first, so the renames follow each other.
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
            listed: true,
            files: files.clone(),
            layouts: staged.layouts,
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
            .filter(|&i| self.state.generations[i].listed)
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
        // Past the newest `keep_last`, a generation kept for its grace
        // period needs only its file names (clients may still fetch them);
        // its package list and block layouts go, so a repository published
        // often keeps a state that does not grow with every publish. A
        // revert goes back to listed generations only.
        let listed_from = kept.len().saturating_sub(keep_last);
        for (i, g) in kept.iter_mut().enumerate() {
            if i < listed_from && Some(g.id) != current && g.listed {
                g.listed = false;
                g.packages = Vec::new();
                g.layouts = Vec::new();
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
        // Keys are shared with the entry map, so liveness is by address; a
        // key allocated elsewhere is matched by its text.
        let entry_keys: HashSet<*const u8, FastHash> =
            self.state.entries.keys().map(|k| k.as_ptr()).collect();
        let mut live: HashSet<*const u8, FastHash> =
            HashSet::with_capacity_and_hasher(entry_keys.len(), FastHash);
        let mut live_text: HashSet<Key, FastHash> = HashSet::with_hasher(FastHash);
        for k in self
            .state
            .generations
            .iter()
            .flat_map(|g| g.packages.iter())
            .chain(self.working.values())
        {
            if entry_keys.contains(&k.as_ptr()) {
                live.insert(k.as_ptr());
            } else {
                live_text.insert(k.clone());
            }
        }
        self.state
            .entries
            .retain(|k, _| live.contains(&k.as_ptr()) || live_text.contains(k));
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

/// A file written in full but not yet durable, under a temporary name in
/// its final directory.
struct Unsynced {
    tmp: tempfile::NamedTempFile,
    path: PathBuf,
}

impl Unsynced {
    /// Writes `bytes` to a temporary file in `dir` that is to become `path`;
    /// `served` files are made readable by everyone.
    fn write(dir: &Path, path: PathBuf, bytes: &[u8], served: bool) -> Result<Unsynced, RepoError> {
        let mut tmp = tempfile::NamedTempFile::new_in(dir).map_err(io_err(dir))?;
        if served {
            served_mode(tmp.as_file()).map_err(io_err(tmp.path()))?;
        }
        tmp.write_all(bytes).map_err(io_err(tmp.path()))?;
        Ok(Unsynced { tmp, path })
    }
}

/// One document written by [`Repo::stage`]: its entry in `repomd.xml`, its
/// block layout and the file when it is new.
type Document = (RepoData, Layout, Option<Unsynced>);

/// What [`Repo::stage`] writes: the new `repomd.xml`, its data, the block
/// layouts and the synced temporary that becomes the served `repomd.xml`.
type Written = (Vec<u8>, Vec<RepoData>, Vec<Layout>, tempfile::NamedTempFile);

/// Writes `repomd.xml` for the documents `written` (temporarily in
/// `repodata`, and as the generation's copy `gen_copy`), makes every new
/// file durable in one round of concurrent syncs, then gives the documents
/// and the copy their names. The served `repomd.xml` stays a temporary for
/// [`Repo::commit`] to rename.
fn write_and_sync(
    written: Vec<Result<Document, RepoError>>,
    revision: u64,
    gen_copy: &Path,
    repodata: &Path,
) -> Result<Written, RepoError> {
    let mut data = Vec::new();
    let mut layouts = Vec::new();
    let mut pending = Vec::new();
    for w in written {
        let (d, l, p) = w?;
        data.push(d);
        layouts.push(l);
        pending.extend(p);
    }
    let repomd = repomd_xml(&data, revision).into_bytes();
    pending.push(Unsynced::write(
        gen_copy.parent().unwrap_or(Path::new(".")),
        gen_copy.to_path_buf(),
        &repomd,
        false,
    )?);
    let served = Unsynced::write(repodata, repodata.join("repomd.xml"), &repomd, true)?;
    std::thread::scope(|s| {
        let handles: Vec<_> = pending
            .iter()
            .chain(std::iter::once(&served))
            .map(|u| s.spawn(move || u.tmp.as_file().sync_all().map_err(io_err(u.tmp.path()))))
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("file sync panicked"))
            .collect::<Result<Vec<()>, RepoError>>()
    })?;
    for u in pending {
        u.tmp
            .persist(&u.path)
            .map_err(|e| io_err(&u.path)(e.error))?;
    }
    Ok((repomd, data, layouts, served.tmp))
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
fn walk_rpms(root: &Path, dir: &Path, out: &mut Vec<(String, PathBuf)>) -> Result<(), RepoError> {
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
            // A regular file is known from the directory listing; a link
            // counts when it leads to one.
            if !ft.is_file() && !std::fs::metadata(&path).map_err(io_err(&path))?.is_file() {
                continue;
            }
            let href = path
                .strip_prefix(root)
                .unwrap_or(&path)
                .components()
                .map(|c| c.as_os_str().to_string_lossy().into_owned())
                .collect::<Vec<_>>()
                .join("/");
            out.push((href, path));
        }
    }
    Ok(())
}

/// Runs `job(0..n)` on every core and returns the results in order. The
/// work runs on rayon's pool, whose threads (and their allocator heaps)
/// stay warm from one call to the next.
fn run_jobs<T: Send>(n: usize, job: impl Fn(usize) -> T + Sync) -> Vec<T> {
    use rayon::prelude::*;
    let job = &job;
    (0..n).into_par_iter().with_max_len(1).map(job).collect()
}

/// Reads packages (location, path) into entries and their fragments, on
/// every core.
fn read_entries(files: &[(String, PathBuf)]) -> Result<Vec<(Entry, [String; 3])>, RepoError> {
    run_jobs(files.len(), |i| read_entry(&files[i].1, files[i].0.clone()))
        .into_iter()
        .collect()
}

fn read_entry(path: &Path, href: String) -> Result<(Entry, [String; 3]), RepoError> {
    let (p, meta) = read_package_at(path, href)?;
    // Sized from the package so that they are built without regrowing.
    let paths: usize = p.files.iter().map(|f| f.path.len() + 32).sum();
    let deps: usize = p
        .deps
        .iter()
        .flat_map(|(_, list)| list.iter())
        .map(|d| d.name.len() + 96)
        .sum();
    let changes: usize = p
        .changelogs
        .iter()
        .map(|c| c.name.len() + c.description.len() + 64)
        .sum();
    let mut primary = String::with_capacity(2048 + p.description.len() + deps + paths / 4);
    primary_pkg(&mut primary, &p);
    let mut filelists = String::with_capacity(256 + paths);
    filelists_pkg(&mut filelists, &p);
    let mut other = String::with_capacity(256 + changes);
    other_pkg(&mut other, &p);
    let entry = Entry {
        href: p.href,
        size: meta.len(),
        mtime_ns: mtime_ns(&meta),
        pkgid: p.pkgid,
        name: p.name,
        epoch: p.epoch,
        version: p.version,
        release: p.release,
        arch: p.arch,
        frags: [Span::default(); 3],
    };
    Ok((entry, [primary, filelists, other]))
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

#[cfg(test)]
mod block_tests {
    use super::*;

    /// A synthetic package `i` with fragments that name it.
    fn synthetic(i: usize) -> (Entry, [String; 3]) {
        let href = format!("Packages/p{i:05}.rpm");
        let pkgid = format!("{:064x}", i + 1);
        let frags = [
            format!(
                "<package type=\"rpm\">\n  <name>p{i:05}</name>\n  <location href=\"{href}\"/>\n</package>\n"
            ),
            format!(
                "<package pkgid=\"{pkgid}\" name=\"p{i:05}\">\n  <file>/usr/share/p{i}/data</file>\n</package>\n"
            ),
            format!("<package pkgid=\"{pkgid}\" name=\"p{i:05}\">\n</package>\n"),
        ];
        let e = Entry {
            href,
            size: 1000 + i as u64,
            mtime_ns: i as i64,
            pkgid,
            name: format!("p{i:05}"),
            epoch: 0,
            version: "1".into(),
            release: "1".into(),
            arch: "noarch".into(),
            frags: [Span::default(); 3],
        };
        (e, frags)
    }

    /// Adds synthetic packages as `Repo::add` adds read ones.
    fn add_synthetic(repo: &mut Repo, ids: impl IntoIterator<Item = usize>) {
        for i in ids {
            let (mut e, frags) = synthetic(i);
            for (s, f) in e.frags.iter_mut().zip(&frags) {
                *s = Span {
                    off: repo.pack.append(f.as_bytes()).unwrap(),
                    len: f.len() as u64,
                };
            }
            let k: Key = e.key().into();
            repo.working.insert(e.href.clone(), k.clone());
            repo.state.entries.insert(k, e);
        }
    }

    /// The uncompressed primary.xml of the served repository.
    fn primary(dir: &Path) -> String {
        let f = verify_repo(dir)
            .unwrap()
            .into_iter()
            .find(|f| f.kind == "primary")
            .unwrap();
        let bytes = std::fs::read(dir.join(&f.href)).unwrap();
        String::from_utf8(decompress(&f.href, &bytes).unwrap()).unwrap()
    }

    fn expected_primary(ids: &[usize]) -> String {
        let mut ids = ids.to_vec();
        ids.sort();
        let mut s = doc_head("primary", ids.len());
        for i in ids {
            s.push_str(&synthetic(i).1[0]);
        }
        s.push_str(doc_tail("primary"));
        s
    }

    #[test]
    fn an_added_package_recompresses_one_block_and_the_output_is_whole() {
        let tmp = tempfile::tempdir().unwrap();
        let mut ids: Vec<usize> = (0..3000).map(|i| i * 2).collect();
        let mut repo = Repo::open(tmp.path()).unwrap();
        add_synthetic(&mut repo, ids.iter().copied());
        repo.publish().unwrap();
        assert_eq!(primary(tmp.path()), expected_primary(&ids));
        let before: HashSet<BlockKey> = repo
            .current()
            .unwrap()
            .layouts
            .iter()
            .flat_map(|l| l.blocks.iter().map(|b| b.0))
            .collect();
        assert!(before.len() > 3 * 20, "{} blocks", before.len());
        drop(repo);

        // Reopened (the state read back), one package added in the middle.
        let mut repo = Repo::open(tmp.path()).unwrap();
        add_synthetic(&mut repo, [1001]);
        ids.push(1001);
        repo.publish().unwrap();
        assert_eq!(primary(tmp.path()), expected_primary(&ids));
        let after: Vec<BlockKey> = repo
            .current()
            .unwrap()
            .layouts
            .iter()
            .flat_map(|l| l.blocks.iter().map(|b| b.0))
            .collect();
        let new = after.iter().filter(|k| !before.contains(*k)).count();
        assert!(
            (3..=6).contains(&new),
            "{new} new blocks of {}",
            after.len()
        );

        // Removed again: the first generation's blocks come back.
        repo.remove(&["Packages/p01001.rpm".into()]).unwrap();
        ids.pop();
        repo.publish().unwrap();
        assert_eq!(primary(tmp.path()), expected_primary(&ids));

        // A damaged served file is not copied from: the next publish
        // compresses everything again and is still right.
        let served = repo.current().unwrap().files[0].clone();
        let path = tmp.path().join("repodata").join(&served);
        let mut bytes = std::fs::read(&path).unwrap();
        let mid = bytes.len() / 2;
        bytes[mid] ^= 0x55;
        std::fs::write(&path, bytes).unwrap();
        add_synthetic(&mut repo, [7]);
        ids.push(7);
        repo.publish().unwrap();
        assert_eq!(primary(tmp.path()), expected_primary(&ids));

        // zstd, then back to gzip.
        repo.set_compression(MdCompression::Zst);
        repo.publish().unwrap();
        assert_eq!(primary(tmp.path()), expected_primary(&ids));
        add_synthetic(&mut repo, [9]);
        ids.push(9);
        repo.publish().unwrap();
        assert_eq!(primary(tmp.path()), expected_primary(&ids));
        let back = repo.revert().unwrap();
        assert!(back.files.iter().all(|f| f.ends_with(".xml.zst")));
        ids.pop();
        assert_eq!(primary(tmp.path()), expected_primary(&ids));
    }

    #[test]
    fn format_one_state_is_converted() {
        let tmp = tempfile::tempdir().unwrap();
        let state_dir = tmp.path().join(STATE_DIR);
        std::fs::create_dir_all(&state_dir).unwrap();
        let (e, frags) = synthetic(3);
        let key = e.key();
        let v1 = serde_json::json!({
            "format": 1,
            "compression": "gz",
            "next_id": 2,
            "generations": [{
                "id": 1, "published": 1, "superseded": null, "reverted": false,
                "signed": false, "packages": [key], "files": []
            }],
            "entries": { key.clone(): {
                "href": e.href, "size": e.size, "mtime_ns": e.mtime_ns, "pkgid": e.pkgid,
                "name": e.name, "epoch": 0, "version": "1", "release": "1", "arch": "noarch",
                "primary": frags[0], "filelists": frags[1], "other": frags[2]
            }}
        });
        std::fs::write(state_dir.join(STATE_FILE_V1), v1.to_string()).unwrap();
        let mut repo = Repo::open(tmp.path()).unwrap();
        assert_eq!(repo.packages()[0].nevra, "p00003-1-1.noarch");
        assert!(!state_dir.join(STATE_FILE_V1).exists());
        assert!(state_dir.join(STATE_FILE).exists());
        repo.publish().unwrap();
        assert_eq!(primary(tmp.path()), expected_primary(&[3]));
        drop(repo);
        let repo = Repo::open(tmp.path()).unwrap();
        assert_eq!(repo.packages().len(), 1);
    }

    #[test]
    fn a_damaged_state_file_is_refused_with_its_name() {
        let tmp = tempfile::tempdir().unwrap();
        let mut repo = Repo::open(tmp.path()).unwrap();
        add_synthetic(&mut repo, [1, 2]);
        repo.publish().unwrap();
        drop(repo);
        let path = tmp.path().join(STATE_DIR).join(STATE_FILE);
        let mut bytes = std::fs::read(&path).unwrap();
        bytes[40] ^= 1;
        std::fs::write(&path, bytes).unwrap();
        let err = Repo::open(tmp.path()).unwrap_err();
        assert!(err.to_string().contains("state.bin"), "{err}");
    }

    /// Publishing many times within the grace period keeps every
    /// generation's files, but package lists only for the newest ones: the
    /// state stops growing with each publish, reverts reach the listed
    /// generations and stop, naming how many are kept.
    #[test]
    fn generations_in_grace_keep_files_but_not_package_lists() {
        let tmp = tempfile::tempdir().unwrap();
        let mut repo = Repo::open(tmp.path()).unwrap();
        add_synthetic(&mut repo, 0..2000);
        repo.publish().unwrap();
        let state = tmp.path().join(STATE_DIR).join(STATE_FILE);
        let mut sizes = Vec::new();
        for i in 2000..2008 {
            add_synthetic(&mut repo, [i]);
            repo.publish().unwrap();
            sizes.push(std::fs::metadata(&state).unwrap().len());
        }
        let gens = &repo.state.generations;
        assert_eq!(gens.len(), 9, "all are within the grace period");
        let listed: Vec<bool> = gens.iter().map(|g| g.listed).collect();
        assert_eq!(
            listed,
            [false, false, false, false, false, false, true, true, true]
        );
        assert!(
            gens.iter()
                .filter(|g| !g.listed)
                .all(|g| g.packages.is_empty())
        );
        // Their files are still served to clients holding an old repomd.xml.
        for g in gens {
            for f in &g.files {
                assert!(tmp.path().join("repodata").join(f).is_file(), "{f}");
            }
        }
        // Steady once past the listed window (each publish adds one package).
        let (a, b) = (sizes[3], sizes[7]);
        assert!(b < a + a / 20, "state grew from {a} to {b} bytes");
        // The listing survives reopening.
        drop(repo);
        let mut repo = Repo::open(tmp.path()).unwrap();
        let listed: Vec<bool> = repo.state.generations.iter().map(|g| g.listed).collect();
        assert_eq!(
            listed,
            [false, false, false, false, false, false, true, true, true]
        );
        repo.revert().unwrap();
        assert_eq!(repo.packages().len(), 2007);
        repo.revert().unwrap();
        assert_eq!(repo.packages().len(), 2006);
        assert_eq!(
            primary(tmp.path()),
            expected_primary(&(0..2006).collect::<Vec<_>>())
        );
        let err = repo.revert().unwrap_err();
        assert!(
            matches!(err, RepoError::NoPrevious { kept: 3, .. }),
            "{err}"
        );
    }
}

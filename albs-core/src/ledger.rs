//! The ledger: an append-only log of what was built from what.
//!
//! Each record notes an artifact's sha256, the task that made it and every
//! input (git URL, ref, commit, lookaside checksums, NEVRA, build host, arch).
//! Records are leaves of an RFC 9162 Merkle tree: the leaf hash is
//! `SHA-256(0x00 || record bytes)`, where the record bytes are its canonical
//! JSON, and [`merkle_root`] gives the tree head over any prefix, so
//! inclusion and consistency proofs can be served from the same leaves
//! ([`LedgerExt::inclusion_proof`], [`LedgerExt::consistency_proof`]; the
//! algorithms live in [`crate::merkle`]). Both ledgers keep a
//! [`CompactTree`] of subtree hashes, so heads and proofs cost O(log² n)
//! hashes, not a rehash of the log.
//!
//! [`FileLedger`] keeps one line per record in `ledger.jsonl`
//! (`<leaf hash hex> <record json>`) and a `#size N` marker line after each
//! batch, fdatasynced before `append` returns and re-verified when opened
//! (the local `albs build`); a batch a crash cut short is dropped then. The
//! server keeps its ledger in the Store's database ([`crate::db::DbLedger`]);
//! [`MemoryLedger`] keeps them in memory. Batches ([`Ledger::append_batch`])
//! are serialised ([`LedgerRecord::write_canonical`]) and hashed on every
//! core, and a `FileLedger` writes each part as soon as it is ready.

use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Seek, SeekFrom, Write};
use std::ops::Range;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use time::format_description::well_known::Rfc3339;

use crate::evr::Nevra;
use crate::hash::Sha256;
use crate::merkle::{CompactTree, ProofError, consistency_ranges, inclusion_ranges};
pub use crate::merkle::{TreeHash, leaf_hash, merkle_root, node_hash};
use crate::model::Arch;
use crate::source::{SourceRef, VerifiedSource};

/// What a record attests.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RecordKind {
    /// Sources were fetched and verified (no artifact).
    Sources,
    /// An SRPM was built.
    Srpm,
    /// A binary RPM was built.
    Rpm,
    /// A built SRPM or RPM was signed (the record's artifact is the signed
    /// package; its [`LedgerRecord::signature`] links the unsigned one).
    SignedRpm,
    /// A release plan was published (no artifact; see
    /// [`LedgerRecord::release`]).
    Release,
}

/// What a release published: its plan, the packages and each repository's
/// new `repomd.xml`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReleaseInfo {
    /// The release plan's id.
    pub release_id: u64,
    /// What was done: `commit` or `revert`.
    pub action: String,
    /// The sha256 of every package file the release put in place.
    pub packages: Vec<Sha256>,
    /// Each repository touched, with the sha256 of the `repomd.xml` it
    /// serves afterwards.
    pub repositories: Vec<ReleaseRepo>,
}

/// A repository of a [`ReleaseInfo`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReleaseRepo {
    /// The repository name (`almalinux-9-x86_64`, `product/almalinux-9-x86_64`).
    pub name: String,
    /// The sha256 of its `repodata/repomd.xml`.
    pub repomd_sha256: Sha256,
}

/// Who signed a package and what it was before.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignatureInfo {
    /// The unsigned package the signed one was made from.
    pub unsigned: Sha256,
    /// Fingerprint of the key whose signature the server checked.
    pub fingerprint: String,
}

/// The task that produced a record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaskInfo {
    /// Build id, when the build has one in a store.
    pub build_id: Option<u64>,
    /// Task id, when the task has one in a store.
    pub task_id: Option<u64>,
    /// Target architecture (`src` for the SRPM step).
    pub arch: Arch,
    /// The host that ran the task.
    pub host: String,
    /// Platform name.
    pub platform: String,
}

/// The inputs a record's artifact was made from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Inputs {
    /// The git URL or SRPM URL, and the ref asked for.
    pub source: SourceRef,
    /// The commit checked out.
    pub commit: Option<String>,
    /// Lookaside sources and their checksums.
    pub lookaside: Vec<VerifiedSource>,
    /// The SRPM a binary RPM was built from.
    pub srpm: Option<Sha256>,
}

/// One ledger entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LedgerRecord {
    /// What it attests.
    pub kind: RecordKind,
    /// The artifact's digest (none for [`RecordKind::Sources`]).
    pub artifact: Option<Sha256>,
    /// The package inside the artifact.
    pub nevra: Option<Nevra>,
    /// The task that produced it.
    pub task: TaskInfo,
    /// What it was made from.
    pub inputs: Inputs,
    /// When it was recorded (RFC 3339).
    #[serde(with = "time::serde::rfc3339")]
    pub time: time::OffsetDateTime,
    /// For [`RecordKind::SignedRpm`]: the unsigned package and the signer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signature: Option<SignatureInfo>,
    /// For [`RecordKind::Release`]: what the release published.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub release: Option<ReleaseInfo>,
}

impl LedgerRecord {
    /// The canonical bytes that are hashed into the leaf.
    pub fn canonical_bytes(&self) -> Vec<u8> {
        // Records are a few hundred bytes: one allocation, no regrowth.
        let mut out = Vec::with_capacity(768);
        self.write_canonical(&mut out);
        out
    }

    /// Appends the record's canonical bytes to `out`: its JSON as `serde_json`
    /// writes it (fields in declaration order, no whitespace, `None`s that
    /// are skipped left out), without the intermediate strings that the
    /// digests and the time would otherwise be formatted into.
    pub fn write_canonical(&self, out: &mut Vec<u8>) {
        let start = out.len();
        // Every field, in declaration order: a field added to the record
        // does not compile here until it is written below as well.
        let LedgerRecord {
            kind,
            artifact,
            nevra,
            task,
            inputs,
            time,
            signature,
            release,
        } = self;
        let TaskInfo {
            build_id,
            task_id,
            arch,
            host,
            platform,
        } = task;
        let Inputs {
            source,
            commit,
            lookaside,
            srpm,
        } = inputs;
        out.extend_from_slice(b"{\"kind\":");
        json_into(out, kind);
        out.extend_from_slice(b",\"artifact\":");
        digest_into(out, artifact.as_ref());
        out.extend_from_slice(b",\"nevra\":");
        json_into(out, nevra);
        out.extend_from_slice(b",\"task\":{\"build_id\":");
        json_into(out, build_id);
        out.extend_from_slice(b",\"task_id\":");
        json_into(out, task_id);
        out.extend_from_slice(b",\"arch\":");
        json_into(out, arch);
        out.extend_from_slice(b",\"host\":");
        json_into(out, host);
        out.extend_from_slice(b",\"platform\":");
        json_into(out, platform);
        out.extend_from_slice(b"},\"inputs\":{\"source\":");
        json_into(out, source);
        out.extend_from_slice(b",\"commit\":");
        json_into(out, commit);
        out.extend_from_slice(b",\"lookaside\":");
        json_into(out, lookaside);
        out.extend_from_slice(b",\"srpm\":");
        digest_into(out, srpm.as_ref());
        // RFC 3339 as `time::serde::rfc3339` formats it; it holds nothing
        // that JSON escapes.
        out.extend_from_slice(b"},\"time\":\"");
        time.format_into(out, &Rfc3339)
            .expect("ledger record times format as RFC 3339");
        out.push(b'"');
        if let Some(s) = signature {
            out.extend_from_slice(b",\"signature\":");
            json_into(out, s);
        }
        if let Some(r) = release {
            out.extend_from_slice(b",\"release\":");
            json_into(out, r);
        }
        out.push(b'}');
        debug_assert_eq!(
            std::str::from_utf8(&out[start..]),
            std::str::from_utf8(&serde_json::to_vec(self).expect("ledger records serialize")),
            "the canonical writer and the record's Serialize agree"
        );
    }
}

/// Appends `value` as `serde_json` writes it.
fn json_into<T: Serialize + ?Sized>(out: &mut Vec<u8>, value: &T) {
    serde_json::to_writer(out, value).expect("ledger record fields serialize");
}

/// Appends a digest as its quoted hex, or `null`.
fn digest_into(out: &mut Vec<u8>, digest: Option<&Sha256>) {
    let Some(d) = digest else {
        out.extend_from_slice(b"null");
        return;
    };
    let mut hex = [0u8; 66];
    hex[0] = b'"';
    hex[65] = b'"';
    hex::encode_to_slice(d.0, &mut hex[1..65]).expect("64 hex digits");
    out.extend_from_slice(&hex);
}

/// Batches at least this long are encoded on every core.
const PARALLEL_BATCH: usize = 512;

/// The canonical bytes and leaf hash of each record, in order. Large batches
/// are serialised and hashed on every available core.
pub fn encode_batch(records: &[LedgerRecord]) -> Vec<(Vec<u8>, TreeHash)> {
    let encode = |r: &LedgerRecord| {
        let bytes = r.canonical_bytes();
        let leaf = leaf_hash(&bytes);
        (bytes, leaf)
    };
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    if cores < 2 || records.len() < PARALLEL_BATCH {
        return records.iter().map(encode).collect();
    }
    let chunk = records.len().div_ceil(cores);
    std::thread::scope(|s| {
        let mut parts = records.chunks(chunk);
        let first = parts.next().unwrap_or_default();
        let others: Vec<_> = parts
            .map(|part| s.spawn(move || part.iter().map(encode).collect::<Vec<_>>()))
            .collect();
        let mut out: Vec<_> = first.iter().map(encode).collect();
        out.reserve(records.len() - out.len());
        for h in others {
            out.extend(h.join().expect("encoding a ledger record does not panic"));
        }
        out
    })
}

/// Where an appended record landed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Appended {
    /// 0-based position in the log.
    pub index: u64,
    /// RFC 9162 leaf hash of the record.
    pub leaf_hash: TreeHash,
}

/// A stored record with its position and leaf hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// 0-based position.
    pub index: u64,
    /// RFC 9162 leaf hash.
    pub leaf_hash: TreeHash,
    /// The record.
    pub record: LedgerRecord,
}

/// Errors from ledgers.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LedgerError {
    /// A stored line does not match its leaf hash or cannot be read.
    #[error("ledger {path} line {line} is corrupt: {why}")]
    Corrupt {
        /// The ledger file.
        path: String,
        /// 1-based line number.
        line: usize,
        /// What is wrong.
        why: String,
    },
    /// Another process holds the ledger.
    #[error("ledger {0} is in use by another albs process")]
    Locked(String),
    /// A tree size past the end of the ledger was asked for.
    #[error("the ledger has {have} records, a tree of {size} was asked for")]
    BeyondEnd {
        /// The tree size (or range end) asked for.
        size: u64,
        /// Records in the ledger.
        have: u64,
    },
    /// A proof was asked for that cannot exist (an index outside the tree,
    /// sizes out of order).
    #[error("no such proof: {0}")]
    Proof(#[from] ProofError),
    /// The database that keeps the ledger failed or holds something that
    /// is not a ledger (a gap in the indices, a hash of the wrong length).
    #[error("ledger database: {0}")]
    Backend(String),
    /// Local I/O failed.
    #[error("ledger {path}: {what}: {source}")]
    Io {
        /// The ledger file.
        path: String,
        /// What was being done.
        what: &'static str,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
}

/// An append-only, tamper-evident log of build records.
#[async_trait]
pub trait Ledger: Send + Sync {
    /// Appends a record; it is durable when this returns.
    async fn append(&self, record: &LedgerRecord) -> Result<Appended, LedgerError>;
    /// The record at `index`.
    async fn get(&self, index: u64) -> Result<Option<Entry>, LedgerError>;
    /// Number of records.
    async fn size(&self) -> Result<u64, LedgerError>;
    /// Indices of the records about `artifact`.
    async fn find_artifact(&self, artifact: &Sha256) -> Result<Vec<u64>, LedgerError>;
    /// Leaf hashes of records `start..end`.
    async fn leaves(&self, start: u64, end: u64) -> Result<Vec<TreeHash>, LedgerError>;

    /// Appends records in order; all are durable when this returns. The
    /// default appends one at a time; a ledger may write them in one go.
    async fn append_batch(&self, records: &[LedgerRecord]) -> Result<Vec<Appended>, LedgerError> {
        let mut out = Vec::with_capacity(records.len());
        for r in records {
            out.push(self.append(r).await?);
        }
        Ok(out)
    }

    /// The RFC 9162 Merkle tree hash of each range of records, in order. The
    /// default reads the leaves and hashes them; a ledger that keeps subtree
    /// hashes answers without rehashing.
    async fn range_hashes(&self, ranges: &[Range<u64>]) -> Result<Vec<TreeHash>, LedgerError> {
        let have = self.size().await?;
        let (mut lo, mut hi) = (u64::MAX, 0);
        for r in ranges {
            if r.end > have || r.start > r.end {
                return Err(LedgerError::BeyondEnd { size: r.end, have });
            }
            lo = lo.min(r.start);
            hi = hi.max(r.end);
        }
        if ranges.is_empty() {
            return Ok(Vec::new());
        }
        let leaves = self.leaves(lo, hi).await?;
        Ok(ranges
            .iter()
            .map(|r| merkle_root(&leaves[(r.start - lo) as usize..(r.end - lo) as usize]))
            .collect())
    }
}

/// Convenience on top of [`Ledger`].
#[async_trait]
pub trait LedgerExt: Ledger {
    /// The RFC 9162 tree head over the first `size` records.
    async fn root_at(&self, size: u64) -> Result<TreeHash, LedgerError> {
        let whole = 0..size;
        Ok(self.range_hashes(std::slice::from_ref(&whole)).await?[0])
    }

    /// The RFC 9162 inclusion proof of record `index` in the tree of the
    /// first `size` records.
    async fn inclusion_proof(&self, index: u64, size: u64) -> Result<Vec<TreeHash>, LedgerError> {
        let have = self.size().await?;
        if size > have {
            return Err(LedgerError::BeyondEnd { size, have });
        }
        self.range_hashes(&inclusion_ranges(index, size)?).await
    }

    /// The RFC 9162 consistency proof between the trees of the first `old`
    /// and the first `new` records.
    async fn consistency_proof(&self, old: u64, new: u64) -> Result<Vec<TreeHash>, LedgerError> {
        let have = self.size().await?;
        if new > have {
            return Err(LedgerError::BeyondEnd { size: new, have });
        }
        self.range_hashes(&consistency_ranges(old, new)?).await
    }
}

impl<T: Ledger + ?Sized> LedgerExt for T {}

/// The records of a ledger in memory: their canonical bytes back to back
/// (one allocation for the lot, no per-record clone on append), the tree
/// of their leaf hashes and the artifact lookup.
#[derive(Default)]
struct Index {
    tree: CompactTree,
    bytes: Vec<u8>,
    /// Where record `i` ends in `bytes`.
    ends: Vec<usize>,
    by_artifact: HashMap<Sha256, Vec<u64>>,
}

impl Index {
    fn push(&mut self, bytes: &[u8], artifact: Option<Sha256>, leaf: TreeHash) -> Appended {
        let index = self.tree.len();
        if let Some(a) = artifact {
            self.by_artifact.entry(a).or_default().push(index);
        }
        self.tree.push(leaf);
        self.bytes.extend_from_slice(bytes);
        self.ends.push(self.bytes.len());
        Appended {
            index,
            leaf_hash: leaf,
        }
    }

    fn record_bytes(&self, i: usize) -> &[u8] {
        let start = if i == 0 { 0 } else { self.ends[i - 1] };
        &self.bytes[start..self.ends[i]]
    }

    fn get(&self, index: u64) -> Result<Option<Entry>, LedgerError> {
        let Some(i) = usize::try_from(index).ok().filter(|&i| i < self.ends.len()) else {
            return Ok(None);
        };
        let record = serde_json::from_slice(self.record_bytes(i))
            .map_err(|e| LedgerError::Backend(format!("record {index} no longer parses: {e}")))?;
        Ok(Some(Entry {
            index,
            leaf_hash: self.tree.leaves()[i],
            record,
        }))
    }

    fn leaves(&self, start: u64, end: u64) -> Vec<TreeHash> {
        let leaves = self.tree.leaves();
        let end = (end as usize).min(leaves.len());
        let start = (start as usize).min(end);
        leaves[start..end].to_vec()
    }

    fn size(&self) -> u64 {
        self.tree.len()
    }

    fn range_hashes(&self, ranges: &[Range<u64>]) -> Result<Vec<TreeHash>, LedgerError> {
        ranges
            .iter()
            .map(|r| {
                self.tree
                    .range_hash(r.clone())
                    .ok_or(LedgerError::BeyondEnd {
                        size: r.end,
                        have: self.tree.len(),
                    })
            })
            .collect()
    }
}

/// A ledger in memory, for tests.
#[derive(Default)]
pub struct MemoryLedger {
    index: Mutex<Index>,
}

impl MemoryLedger {
    /// An empty ledger.
    pub fn new() -> Self {
        Self::default()
    }
}

#[async_trait]
impl Ledger for MemoryLedger {
    async fn append(&self, record: &LedgerRecord) -> Result<Appended, LedgerError> {
        let bytes = record.canonical_bytes();
        let leaf = leaf_hash(&bytes);
        Ok(self
            .index
            .lock()
            .expect("ledger lock")
            .push(&bytes, record.artifact, leaf))
    }
    async fn append_batch(&self, records: &[LedgerRecord]) -> Result<Vec<Appended>, LedgerError> {
        let encoded = encode_batch(records);
        let mut index = self.index.lock().expect("ledger lock");
        Ok(records
            .iter()
            .zip(&encoded)
            .map(|(r, (bytes, leaf))| index.push(bytes, r.artifact, *leaf))
            .collect())
    }
    async fn get(&self, index: u64) -> Result<Option<Entry>, LedgerError> {
        self.index.lock().expect("ledger lock").get(index)
    }
    async fn size(&self) -> Result<u64, LedgerError> {
        Ok(self.index.lock().expect("ledger lock").size())
    }
    async fn find_artifact(&self, artifact: &Sha256) -> Result<Vec<u64>, LedgerError> {
        let idx = self.index.lock().expect("ledger lock");
        Ok(idx.by_artifact.get(artifact).cloned().unwrap_or_default())
    }
    async fn leaves(&self, start: u64, end: u64) -> Result<Vec<TreeHash>, LedgerError> {
        Ok(self.index.lock().expect("ledger lock").leaves(start, end))
    }
    async fn range_hashes(&self, ranges: &[Range<u64>]) -> Result<Vec<TreeHash>, LedgerError> {
        self.index.lock().expect("ledger lock").range_hashes(ranges)
    }
}

/// The marker line that closes each batch in `ledger.jsonl`:
/// `#size <records in the ledger after the batch>`.
const MARKER: &[u8] = b"#size ";

/// Records per unit of work when a batch is encoded on several cores.
const CHUNK: usize = 1024;

/// No earlier record about the same artifact.
const NONE: u64 = u64::MAX;

/// Which records are about which artifact, without a list per artifact:
/// the latest record of each artifact, and for every record the one before
/// it about the same artifact.
#[derive(Default)]
struct ArtifactIndex {
    latest: HashMap<Sha256, u64>,
    previous: Vec<u64>,
}

impl ArtifactIndex {
    /// Notes record `index` (the next one), about `artifact` if any.
    fn push(&mut self, index: u64, artifact: Option<Sha256>) {
        debug_assert_eq!(index, self.previous.len() as u64);
        let previous = artifact.map_or(NONE, |a| self.latest.insert(a, index).unwrap_or(NONE));
        self.previous.push(previous);
    }

    /// Takes out records `len..`, which are `records` (the last ones noted).
    fn truncate(&mut self, len: u64, records: &[LedgerRecord]) {
        let have = self.previous.len() as u64;
        for (i, r) in records.iter().enumerate().rev() {
            let index = len + i as u64;
            if index >= have {
                continue;
            }
            if let Some(a) = r.artifact {
                match self.previous[index as usize] {
                    NONE => self.latest.remove(&a),
                    previous => self.latest.insert(a, previous),
                };
            }
        }
        self.previous.truncate(len as usize);
    }

    /// The records about `artifact`, oldest first.
    fn find(&self, artifact: &Sha256) -> Vec<u64> {
        let mut out = Vec::new();
        let mut at = self.latest.get(artifact).copied().unwrap_or(NONE);
        while at != NONE {
            out.push(at);
            at = self.previous[at as usize];
        }
        out.reverse();
        out
    }
}

/// Lines for `ledger.jsonl` (`<leaf hash hex> <canonical JSON>\n`), and the
/// leaf hash and JSON length of each record.
struct Lines {
    bytes: Vec<u8>,
    leaves: Vec<TreeHash>,
    json_lens: Vec<u32>,
}

/// Position of the JSON in a line: after the leaf hash's hex and a space.
const JSON_AT: usize = 65;

fn encode_lines(records: &[LedgerRecord]) -> Lines {
    let mut bytes = Vec::with_capacity(records.len() * 768);
    let mut leaves = Vec::with_capacity(records.len());
    let mut json_lens = Vec::with_capacity(records.len());
    for r in records {
        let start = bytes.len();
        bytes.resize(start + JSON_AT, b' ');
        r.write_canonical(&mut bytes);
        let json = &bytes[start + JSON_AT..];
        let leaf = leaf_hash(json);
        json_lens.push(u32::try_from(json.len()).expect("a ledger record under 4 GiB"));
        hex::encode_to_slice(leaf, &mut bytes[start..start + 64]).expect("64 hex digits");
        bytes.push(b'\n');
        leaves.push(leaf);
    }
    Lines {
        bytes,
        leaves,
        json_lens,
    }
}

/// Encodes `records` into lines and writes them to `file` in order, handing
/// each piece to `take` once written. Large batches are encoded on every
/// core in chunks; each chunk is written as soon as the ones before it are,
/// and a syncing thread keeps the disk flushing what is written meanwhile,
/// so encoding, writing and the disk's work overlap. The caller still
/// fdatasyncs after the last write; an error of any sync here is returned.
fn write_lines(
    file: &File,
    records: &[LedgerRecord],
    mut take: impl FnMut(Lines),
) -> std::io::Result<()> {
    let mut out = file;
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    if cores < 2 || records.len() < PARALLEL_BATCH {
        let lines = encode_lines(records);
        out.write_all(&lines.bytes)?;
        take(lines);
        return Ok(());
    }
    let chunks: Vec<&[LedgerRecord]> = records.chunks(CHUNK).collect();
    let next = AtomicUsize::new(0);
    let written_chunks = AtomicUsize::new(0);
    let done = AtomicBool::new(false);
    let (tx, rx) = mpsc::channel::<(usize, Lines)>();
    std::thread::scope(|s| {
        for _ in 0..cores {
            let (tx, next, chunks) = (tx.clone(), &next, &chunks);
            s.spawn(move || {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(chunk) = chunks.get(i) else { break };
                    if tx.send((i, encode_lines(chunk))).is_err() {
                        break;
                    }
                }
            });
        }
        drop(tx);
        let syncer = s.spawn(|| {
            let mut synced = 0;
            loop {
                let now = written_chunks.load(Ordering::Acquire);
                if now > synced {
                    file.sync_data()?;
                    synced = now;
                } else if done.load(Ordering::Acquire) {
                    return Ok(());
                } else {
                    std::thread::sleep(std::time::Duration::from_micros(200));
                }
            }
        });
        let mut ready: Vec<Option<Lines>> = chunks.iter().map(|_| None).collect();
        let mut want = 0;
        let mut written = Ok(());
        for (i, lines) in rx {
            ready[i] = Some(lines);
            while let Some(lines) = ready.get_mut(want).and_then(Option::take) {
                if written.is_ok() {
                    written = out.write_all(&lines.bytes);
                }
                take(lines);
                want += 1;
                // The last chunk is left to the caller's sync.
                if want < chunks.len() {
                    written_chunks.store(want, Ordering::Release);
                }
            }
        }
        done.store(true, Ordering::Release);
        let synced = syncer.join().expect("fdatasync does not panic");
        written.and(synced)
    })
}

/// What a [`FileLedger`] holds in memory: the tree, where each record's JSON
/// sits in the file (records are read back from the file, not kept) and
/// the artifact lookup.
struct FileState {
    file: File,
    /// Bytes of the file that hold complete batches.
    len: u64,
    tree: CompactTree,
    /// Where record `i`'s JSON starts in the file, and its length.
    json_at: Vec<u64>,
    json_lens: Vec<u32>,
    artifacts: ArtifactIndex,
}

impl FileState {
    fn push(&mut self, leaf: TreeHash, json_at: u64, json_len: u32, artifact: Option<Sha256>) {
        let index = self.tree.len();
        self.tree.push(leaf);
        self.json_at.push(json_at);
        self.json_lens.push(json_len);
        self.artifacts.push(index, artifact);
    }
}

/// A ledger in a file, one record per line, verified when opened.
///
/// `ledger.jsonl` holds one line per record, `<leaf hash hex> <canonical
/// JSON>`, and after each batch a marker line `#size <n>` (the number of
/// records once the batch is in). A batch and its marker are written in one
/// go and fdatasynced before [`Ledger::append_batch`] returns; the tree
/// state is the leaf hashes in those lines, rebuilt and checked when the
/// ledger is opened. Whatever follows the last marker is a batch that was
/// in flight when a process stopped, never acknowledged, and is cut off
/// when the ledger is next opened. Files written before batches had
/// markers (only record lines) open as one batch and get their marker then.
pub struct FileLedger {
    path: PathBuf,
    state: Mutex<FileState>,
}

/// A record line read back when opening: its leaf hash, where its JSON
/// starts, the JSON's length and the artifact it is about.
type ReadRecord = (TreeHash, u64, u32, Option<Sha256>);

impl FileLedger {
    /// Opens (or creates) `dir/ledger.jsonl`, takes an exclusive lock on it and
    /// verifies every line. A batch cut short by a crash (no marker line
    /// after it; never acknowledged) is dropped; any other damage is
    /// refused, naming the line.
    pub fn open(dir: &Path) -> Result<Self, LedgerError> {
        let path = dir.join("ledger.jsonl");
        let p = path.display().to_string();
        let io = |what, source| LedgerError::Io {
            path: p.clone(),
            what,
            source,
        };
        std::fs::create_dir_all(dir).map_err(|e| io("creating the directory", e))?;
        let mut file = OpenOptions::new()
            .read(true)
            .append(true)
            .create(true)
            .open(&path)
            .map_err(|e| io("opening", e))?;
        file.try_lock().map_err(|e| match e {
            std::fs::TryLockError::WouldBlock => LedgerError::Locked(p.clone()),
            std::fs::TryLockError::Error(e) => io("locking", e),
        })?;
        let file_len = file.metadata().map_err(|e| io("reading", e))?.len();
        let mut reader = BufReader::with_capacity(1 << 20, &file);
        let mut records: Vec<ReadRecord> = Vec::new();
        // Records before the last marker line, and where that line ends.
        let (mut committed, mut committed_len) = (0usize, 0u64);
        let mut markers = 0usize;
        let mut pos = 0u64;
        let mut line = Vec::with_capacity(1024);
        let mut lineno = 0;
        // The first line that does not read, and why.
        let mut bad: Option<(usize, String)> = None;
        loop {
            line.clear();
            let n = reader
                .read_until(b'\n', &mut line)
                .map_err(|e| io("reading", e))?;
            if n == 0 {
                break;
            }
            lineno += 1;
            if line.last() != Some(&b'\n') {
                bad = Some((lineno, "cut short".into()));
                break;
            }
            let body = &line[..n - 1];
            if let Some(size) = body.strip_prefix(MARKER) {
                let size = std::str::from_utf8(size)
                    .ok()
                    .and_then(|s| s.parse::<u64>().ok());
                if size != Some(records.len() as u64) {
                    bad = Some((
                        lineno,
                        format!(
                            "the batch marker {:?} does not count the {} records before it",
                            String::from_utf8_lossy(body),
                            records.len()
                        ),
                    ));
                    break;
                }
                markers += 1;
                committed = records.len();
                committed_len = pos + n as u64;
            } else {
                match read_record_line(body, pos) {
                    Ok(r) => records.push(r),
                    Err(why) => {
                        bad = Some((lineno, why));
                        break;
                    }
                }
            }
            pos += n as u64;
        }
        let mut upgrade = false;
        if let Some((bad_line, why)) = bad {
            // A line that does not read is part of the batch in flight only
            // if no batch was completed after it; when the only marker after
            // it ends the file, the last batch's write was not all on disk
            // when the process stopped, and that batch goes too.
            let mut later = Vec::new();
            for l in (&mut reader).split(b'\n') {
                let l = l.map_err(|e| io("reading", e))?;
                later.push(l.starts_with(MARKER));
            }
            let after = later.iter().filter(|&&m| m).count();
            let marker_ends_file = later.last() == Some(&true);
            // Files from before batch markers refused any damage but a cut
            // short last line.
            let legacy_damage = markers == 0 && !later.is_empty();
            // The last batch's write starts after the marker before it, which
            // is read whole: a bad line holding a marker is damage.
            let holds_marker = line.windows(MARKER.len()).any(|w| w == MARKER);
            if after > 1 || (after == 1 && !marker_ends_file) || legacy_damage || holds_marker {
                return Err(LedgerError::Corrupt {
                    path: p,
                    line: bad_line,
                    why,
                });
            }
            if markers == 0 {
                // Cut short at its end, from before batch markers (or the
                // very first batch): its complete lines count.
                tracing::warn!(ledger = %p, line = bad_line, "dropping a record cut short by a crash");
                committed = records.len();
                committed_len = pos;
                upgrade = committed > 0;
            } else if after == 1 {
                tracing::warn!(ledger = %p, line = bad_line, %why,
                    "dropping the last batch, which was not all written");
            } else {
                tracing::warn!(ledger = %p, line = bad_line, %why,
                    "dropping a batch cut short by a crash");
            }
        } else if committed < records.len() {
            if markers == 0 {
                // Written before batches had markers: all its lines count.
                committed = records.len();
                committed_len = pos;
                upgrade = true;
            } else {
                tracing::warn!(ledger = %p, records = records.len() - committed,
                    "dropping a batch cut short by a crash (no marker after it)");
            }
        }
        drop(reader);
        records.truncate(committed);
        if file_len != committed_len {
            file.set_len(committed_len)
                .and_then(|()| file.sync_all())
                .map_err(|e| io("dropping an unfinished batch", e))?;
        }
        if upgrade {
            let marker = format!("#size {committed}\n");
            file.write_all(marker.as_bytes())
                .and_then(|()| file.sync_data())
                .map_err(|e| io("marking the records as a batch", e))?;
            committed_len += marker.len() as u64;
        }
        file.seek(SeekFrom::End(0)).map_err(|e| io("seeking", e))?;
        let mut state = FileState {
            file,
            len: committed_len,
            tree: CompactTree::new(),
            json_at: Vec::with_capacity(records.len()),
            json_lens: Vec::with_capacity(records.len()),
            artifacts: ArtifactIndex::default(),
        };
        for (leaf, at, len, artifact) in records {
            state.push(leaf, at, len, artifact);
        }
        Ok(FileLedger {
            path,
            state: Mutex::new(state),
        })
    }

    /// The ledger file.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// Checks one record line (without its newline) that starts at `pos` in the
/// file against its leaf hash.
fn read_record_line(body: &[u8], pos: u64) -> Result<ReadRecord, String> {
    if body.len() <= JSON_AT || body[JSON_AT - 1] != b' ' {
        return Err("no leaf hash".into());
    }
    let (leaf_hex, json) = (&body[..JSON_AT - 1], &body[JSON_AT..]);
    let want = leaf_hash(json);
    let mut hex = [0u8; 64];
    hex::encode_to_slice(want, &mut hex).expect("64 hex digits");
    if hex[..] != leaf_hex[..] {
        return Err(format!(
            "leaf hash {} does not match the record (which hashes to {})",
            String::from_utf8_lossy(leaf_hex),
            String::from_utf8_lossy(&hex)
        ));
    }
    let record: LedgerRecord = serde_json::from_slice(json).map_err(|e| e.to_string())?;
    let len = u32::try_from(json.len()).map_err(|_| "a record over 4 GiB".to_string())?;
    Ok((want, pos + JSON_AT as u64, len, record.artifact))
}

#[async_trait]
impl Ledger for FileLedger {
    async fn append(&self, record: &LedgerRecord) -> Result<Appended, LedgerError> {
        let mut done = self.append_batch(std::slice::from_ref(record)).await?;
        Ok(done.pop().expect("one record appended"))
    }
    /// The batch's lines and its marker are appended, then fdatasynced; if
    /// anything fails the file is cut back to where it was and nothing is
    /// appended.
    async fn append_batch(&self, records: &[LedgerRecord]) -> Result<Vec<Appended>, LedgerError> {
        if records.is_empty() {
            return Ok(Vec::new());
        }
        let io = |what, source| LedgerError::Io {
            path: self.path.display().to_string(),
            what,
            source,
        };
        let mut state = self.state.lock().expect("ledger lock");
        let st = &mut *state;
        let before = st.len;
        let first = st.tree.len();
        let mut leaves = Vec::with_capacity(records.len());
        let mut json_at = Vec::with_capacity(records.len());
        let mut json_lens = Vec::with_capacity(records.len());
        let mut at = before;
        let written = write_lines(&st.file, records, |lines| {
            for &len in &lines.json_lens {
                json_at.push(at + JSON_AT as u64);
                at += JSON_AT as u64 + u64::from(len) + 1;
            }
            leaves.extend_from_slice(&lines.leaves);
            json_lens.extend_from_slice(&lines.json_lens);
        })
        .and_then(|()| {
            let marker = format!("#size {}\n", first + records.len() as u64);
            at += marker.len() as u64;
            (&st.file).write_all(marker.as_bytes())
        });
        // The records go into the tree and the lookups while the disk syncs,
        // and come out again if it fails.
        let synced = written.map_err(|e| io("appending", e)).and_then(|()| {
            let FileState {
                file,
                tree,
                json_at: st_at,
                json_lens: st_lens,
                artifacts,
                ..
            } = &mut *st;
            let file = &*file;
            std::thread::scope(|s| {
                let sync = s.spawn(|| file.sync_data());
                for leaf in &leaves {
                    tree.push(*leaf);
                }
                st_at.extend_from_slice(&json_at);
                st_lens.extend_from_slice(&json_lens);
                for (i, r) in records.iter().enumerate() {
                    artifacts.push(first + i as u64, r.artifact);
                }
                sync.join().expect("fdatasync does not panic")
            })
            .map_err(|e| io("syncing", e))
        });
        if let Err(e) = synced {
            st.tree.truncate(first);
            st.json_at.truncate(first as usize);
            st.json_lens.truncate(first as usize);
            st.artifacts.truncate(first, records);
            // Best effort: an unfinished batch is dropped on the next open anyway.
            let _ = st.file.set_len(before);
            return Err(e);
        }
        st.len = at;
        Ok(leaves
            .iter()
            .enumerate()
            .map(|(i, leaf)| Appended {
                index: first + i as u64,
                leaf_hash: *leaf,
            })
            .collect())
    }
    async fn get(&self, index: u64) -> Result<Option<Entry>, LedgerError> {
        let state = self.state.lock().expect("ledger lock");
        let Some(i) = usize::try_from(index)
            .ok()
            .filter(|&i| i < state.json_at.len())
        else {
            return Ok(None);
        };
        let mut json = vec![0u8; state.json_lens[i] as usize];
        state
            .file
            .read_exact_at(&mut json, state.json_at[i])
            .map_err(|e| LedgerError::Io {
                path: self.path.display().to_string(),
                what: "reading a record",
                source: e,
            })?;
        let leaf_hash = state.tree.leaves()[i];
        drop(state);
        if crate::merkle::leaf_hash(&json) != leaf_hash {
            return Err(LedgerError::Backend(format!(
                "{}: record {index} was changed on disk since the ledger was opened",
                self.path.display()
            )));
        }
        let record = serde_json::from_slice(&json)
            .map_err(|e| LedgerError::Backend(format!("record {index} no longer parses: {e}")))?;
        Ok(Some(Entry {
            index,
            leaf_hash,
            record,
        }))
    }
    async fn size(&self) -> Result<u64, LedgerError> {
        Ok(self.state.lock().expect("ledger lock").tree.len())
    }
    async fn find_artifact(&self, artifact: &Sha256) -> Result<Vec<u64>, LedgerError> {
        Ok(self
            .state
            .lock()
            .expect("ledger lock")
            .artifacts
            .find(artifact))
    }
    async fn leaves(&self, start: u64, end: u64) -> Result<Vec<TreeHash>, LedgerError> {
        let state = self.state.lock().expect("ledger lock");
        let leaves = state.tree.leaves();
        let end = (end as usize).min(leaves.len());
        let start = (start as usize).min(end);
        Ok(leaves[start..end].to_vec())
    }
    async fn range_hashes(&self, ranges: &[Range<u64>]) -> Result<Vec<TreeHash>, LedgerError> {
        let state = self.state.lock().expect("ledger lock");
        ranges
            .iter()
            .map(|r| {
                state
                    .tree
                    .range_hash(r.clone())
                    .ok_or(LedgerError::BeyondEnd {
                        size: r.end,
                        have: state.tree.len(),
                    })
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::conformance;

    #[tokio::test]
    async fn memory_ledger_conforms() {
        conformance::ledger(&MemoryLedger::new()).await;
    }

    /// Only the required methods, so the suite runs the trait's defaults.
    struct Plain(MemoryLedger);

    #[async_trait]
    impl Ledger for Plain {
        async fn append(&self, record: &LedgerRecord) -> Result<Appended, LedgerError> {
            self.0.append(record).await
        }
        async fn get(&self, index: u64) -> Result<Option<Entry>, LedgerError> {
            self.0.get(index).await
        }
        async fn size(&self) -> Result<u64, LedgerError> {
            self.0.size().await
        }
        async fn find_artifact(&self, artifact: &Sha256) -> Result<Vec<u64>, LedgerError> {
            self.0.find_artifact(artifact).await
        }
        async fn leaves(&self, start: u64, end: u64) -> Result<Vec<TreeHash>, LedgerError> {
            self.0.leaves(start, end).await
        }
    }

    #[tokio::test]
    async fn default_methods_conform() {
        conformance::ledger(&Plain(MemoryLedger::new())).await;
    }

    #[tokio::test]
    async fn file_ledger_batches_survive_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let records: Vec<LedgerRecord> = (0..50).map(conformance::sample_record).collect();
        let (root, proof) = {
            let l = FileLedger::open(dir.path()).unwrap();
            l.append_batch(&records[..20]).await.unwrap();
            l.append(&records[20]).await.unwrap();
            l.append_batch(&records[21..]).await.unwrap();
            (
                l.root_at(50).await.unwrap(),
                l.inclusion_proof(33, 50).await.unwrap(),
            )
        };
        let text = std::fs::read_to_string(dir.path().join("ledger.jsonl")).unwrap();
        let markers: Vec<&str> = text.lines().filter(|l| l.starts_with('#')).collect();
        assert_eq!(
            text.lines().count(),
            53,
            "one line per record and per batch"
        );
        assert_eq!(markers, ["#size 20", "#size 21", "#size 50"]);
        let l = FileLedger::open(dir.path()).unwrap();
        assert_eq!(l.size().await.unwrap(), 50);
        assert_eq!(l.root_at(50).await.unwrap(), root);
        assert_eq!(l.inclusion_proof(33, 50).await.unwrap(), proof);
        let leaf = leaf_hash(&records[33].canonical_bytes());
        crate::merkle::verify_inclusion(&leaf, 33, 50, &proof, &root).unwrap();
    }

    #[tokio::test]
    async fn file_ledger_conforms_and_survives_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let (size, root) = {
            let l = FileLedger::open(dir.path()).unwrap();
            conformance::ledger(&l).await;
            let size = l.size().await.unwrap();
            (size, l.root_at(size).await.unwrap())
        };
        let l = FileLedger::open(dir.path()).unwrap();
        assert_eq!(l.size().await.unwrap(), size);
        assert_eq!(l.root_at(size).await.unwrap(), root);
    }

    #[tokio::test]
    async fn file_ledger_refuses_a_second_opener() {
        let dir = tempfile::tempdir().unwrap();
        let _l = FileLedger::open(dir.path()).unwrap();
        assert!(matches!(
            FileLedger::open(dir.path()),
            Err(LedgerError::Locked(_))
        ));
    }

    #[tokio::test]
    async fn file_ledger_detects_tampering_and_drops_torn_tail() {
        let dir = tempfile::tempdir().unwrap();
        {
            let l = FileLedger::open(dir.path()).unwrap();
            for i in 0..3 {
                l.append(&conformance::sample_record(i)).await.unwrap();
            }
        }
        let path = dir.path().join("ledger.jsonl");
        let text = std::fs::read_to_string(&path).unwrap();
        // A torn last record is dropped, the others stay.
        std::fs::write(&path, format!("{text}abc")).unwrap();
        let l = FileLedger::open(dir.path()).unwrap();
        assert_eq!(l.size().await.unwrap(), 3);
        drop(l);
        assert_eq!(std::fs::read_to_string(&path).unwrap(), text);
        // An edited record is refused, naming its line.
        let tampered = text.replacen("\"rpm\"", "\"srpm\"", 1);
        assert_ne!(tampered, text);
        std::fs::write(&path, &tampered).unwrap();
        let err = FileLedger::open(dir.path())
            .err()
            .expect("tampering is refused");
        assert!(err.to_string().contains("line"), "{err}");
    }

    /// Records of every shape the canonical writer handles: both sources,
    /// refs or none, lookaside files, no digests, a signature, a release,
    /// strings that JSON escapes, times with offsets and fractions.
    fn varied_records() -> Vec<LedgerRecord> {
        use crate::hash::Checksum;
        use crate::source::GitRef;
        let mut out = Vec::new();
        for i in 0..40u64 {
            let mut r = conformance::sample_record(i);
            match i % 8 {
                0 => {
                    r.kind = RecordKind::Sources;
                    r.artifact = None;
                    r.nevra = None;
                    r.task.build_id = None;
                    r.inputs.commit = None;
                }
                1 => {
                    r.inputs.source = SourceRef::Srpm {
                        url: "file:///srv/srpms/a \"quoted\"\\path\u{7}.src.rpm".into(),
                    };
                }
                2 => {
                    r.inputs.source = SourceRef::Git {
                        url: "https://git.example/rpms/ünïcode".into(),
                        reference: None,
                    };
                    r.inputs.lookaside = vec![VerifiedSource {
                        path: "SOURCES/pkg-1.0.tar.gz".into(),
                        checksum: Checksum::guess(&"ab".repeat(32)).unwrap(),
                        size: 12345,
                    }];
                }
                3 => {
                    r.kind = RecordKind::SignedRpm;
                    r.signature = Some(SignatureInfo {
                        unsigned: Sha256::of(b"unsigned"),
                        fingerprint: "ABCDEF0123456789".into(),
                    });
                    r.inputs.srpm = Some(Sha256::of(b"srpm"));
                }
                4 => {
                    r.kind = RecordKind::Release;
                    r.artifact = None;
                    r.release = Some(ReleaseInfo {
                        release_id: 7,
                        action: "commit".into(),
                        packages: vec![Sha256::of(b"a"), Sha256::of(b"b")],
                        repositories: vec![ReleaseRepo {
                            name: "almalinux-9-x86_64".into(),
                            repomd_sha256: Sha256::of(b"repomd"),
                        }],
                    });
                }
                5 => {
                    r.time =
                        time::OffsetDateTime::from_unix_timestamp_nanos(1_700_000_000_123_456_789)
                            .unwrap()
                            .to_offset(time::UtcOffset::from_hms(5, 30, 0).unwrap());
                    r.task.host = "tab\there\nnewline".into();
                }
                6 => {
                    r.inputs.source = SourceRef::Git {
                        url: "https://git.example/rpms/pkg".into(),
                        reference: Some(GitRef::Commit("deadbeef".into())),
                    };
                    r.task.task_id = Some(u64::MAX);
                }
                _ => {}
            }
            out.push(r);
        }
        out
    }

    #[test]
    fn canonical_bytes_are_the_serde_json_of_the_record() {
        for r in varied_records() {
            let want = serde_json::to_vec(&r).unwrap();
            let mut got = b"prefix".to_vec();
            r.write_canonical(&mut got);
            assert_eq!(
                String::from_utf8(got[6..].to_vec()).unwrap(),
                String::from_utf8(want.clone()).unwrap()
            );
            assert_eq!(r.canonical_bytes(), want);
            let back: LedgerRecord = serde_json::from_slice(&want).unwrap();
            assert_eq!(back, r, "the canonical bytes read back");
        }
    }

    #[tokio::test]
    async fn file_ledger_serves_varied_records_and_finds_artifacts() {
        let dir = tempfile::tempdir().unwrap();
        let mut records = varied_records();
        // The same artifact recorded again later (signed, say).
        let again = records[2].clone();
        records.push(again);
        // Enough for the batch to be encoded on every core, in chunks.
        let many: Vec<LedgerRecord> = (0..3000).map(conformance::sample_record).collect();
        let want_root = {
            let l = FileLedger::open(dir.path()).unwrap();
            l.append_batch(&records).await.unwrap();
            let done = l.append_batch(&many).await.unwrap();
            assert_eq!(done.len(), 3000);
            assert_eq!(done[2999].index, records.len() as u64 + 2999);
            let leaves: Vec<TreeHash> = records
                .iter()
                .chain(&many)
                .map(|r| leaf_hash(&r.canonical_bytes()))
                .collect();
            assert_eq!(l.leaves(0, leaves.len() as u64).await.unwrap(), leaves);
            let root = merkle_root(&leaves);
            assert_eq!(l.root_at(leaves.len() as u64).await.unwrap(), root);
            root
        };
        let l = FileLedger::open(dir.path()).unwrap();
        let size = l.size().await.unwrap();
        assert_eq!(size, records.len() as u64 + 3000);
        assert_eq!(l.root_at(size).await.unwrap(), want_root);
        for (i, r) in records.iter().enumerate() {
            assert_eq!(&l.get(i as u64).await.unwrap().unwrap().record, r);
        }
        let last = l.get(size - 1).await.unwrap().unwrap();
        assert_eq!(last.record, many[2999]);
        assert!(l.get(size).await.unwrap().is_none());
        let a = records[2].artifact.unwrap();
        let last_again = records.len() as u64 - 1;
        // sample_record(2) is in `many` as well.
        assert_eq!(
            l.find_artifact(&a).await.unwrap(),
            [2, last_again, records.len() as u64 + 2]
        );
        assert_eq!(
            l.find_artifact(&many[10].artifact.unwrap()).await.unwrap(),
            // sample_record(10) is also records[10] (unchanged by varied_records).
            [10, records.len() as u64 + 10]
        );
        assert!(
            l.find_artifact(&Sha256::of(b"never"))
                .await
                .unwrap()
                .is_empty()
        );
    }

    /// Two acknowledged batches, then what a crash can leave of a third.
    async fn two_batches_then(tail: impl FnOnce(&str) -> String) -> (tempfile::TempDir, TreeHash) {
        let dir = tempfile::tempdir().unwrap();
        let records: Vec<LedgerRecord> = (0..30).map(conformance::sample_record).collect();
        let root = {
            let l = FileLedger::open(dir.path()).unwrap();
            l.append_batch(&records[..10]).await.unwrap();
            l.append_batch(&records[10..20]).await.unwrap();
            l.root_at(20).await.unwrap()
        };
        let path = dir.path().join("ledger.jsonl");
        let text = std::fs::read_to_string(&path).unwrap();
        let third = {
            let scratch = tempfile::tempdir().unwrap();
            let l = FileLedger::open(scratch.path()).unwrap();
            l.append_batch(&records[20..]).await.unwrap();
            drop(l);
            std::fs::read_to_string(scratch.path().join("ledger.jsonl")).unwrap()
        };
        let third = third.replace("#size 10", "#size 30");
        std::fs::write(&path, format!("{text}{}", tail(&third))).unwrap();
        (dir, root)
    }

    async fn reopens_at_two_batches(dir: &tempfile::TempDir, root: TreeHash) {
        let path = dir.path().join("ledger.jsonl");
        let l = FileLedger::open(dir.path()).unwrap();
        assert_eq!(
            l.size().await.unwrap(),
            20,
            "back at the last complete batch"
        );
        assert_eq!(l.root_at(20).await.unwrap(), root);
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(
            text.ends_with("#size 20\n"),
            "the unfinished batch is cut off"
        );
        // It takes appends again, and they survive the next open.
        l.append_batch(&[conformance::sample_record(99)])
            .await
            .unwrap();
        let proof = l.inclusion_proof(20, 21).await.unwrap();
        let root21 = l.root_at(21).await.unwrap();
        drop(l);
        let l = FileLedger::open(dir.path()).unwrap();
        assert_eq!(l.size().await.unwrap(), 21);
        assert_eq!(l.root_at(21).await.unwrap(), root21);
        let leaf = leaf_hash(&conformance::sample_record(99).canonical_bytes());
        crate::merkle::verify_inclusion(&leaf, 20, 21, &proof, &root21).unwrap();
        crate::merkle::verify_consistency(
            20,
            21,
            &root,
            &root21,
            &l.consistency_proof(20, 21).await.unwrap(),
        )
        .unwrap();
    }

    #[tokio::test]
    async fn file_ledger_drops_a_batch_cut_mid_record() {
        // The write stopped inside the fifth record of the third batch.
        let (dir, root) = two_batches_then(|third| {
            let cut = third.match_indices('\n').nth(3).unwrap().0 + 100;
            third[..cut].to_owned()
        })
        .await;
        reopens_at_two_batches(&dir, root).await;
    }

    #[tokio::test]
    async fn file_ledger_drops_a_batch_without_its_marker() {
        // Every record line of the third batch is there, its marker is not.
        let (dir, root) = two_batches_then(|third| third.replace("#size 30\n", "")).await;
        reopens_at_two_batches(&dir, root).await;
    }

    #[tokio::test]
    async fn file_ledger_drops_a_last_batch_written_out_of_order() {
        // The end of the batch reached the disk, a page inside it did not
        // (it reads back as zeros).
        let (dir, root) = two_batches_then(|third| {
            let mut bytes = third.as_bytes().to_vec();
            bytes[300..900].fill(0);
            String::from_utf8(bytes).unwrap()
        })
        .await;
        reopens_at_two_batches(&dir, root).await;
    }

    #[tokio::test]
    async fn file_ledger_refuses_damage_before_the_last_batch() {
        let (dir, _) = two_batches_then(|third| third.to_owned()).await;
        let path = dir.path().join("ledger.jsonl");
        let text = std::fs::read_to_string(&path).unwrap();
        // Record 12 (line 14, after the first batch's marker) loses a byte.
        let line = text.lines().nth(13).unwrap();
        let damaged = text.replacen(line, &line[..line.len() - 1], 1);
        std::fs::write(&path, damaged).unwrap();
        let err = FileLedger::open(dir.path())
            .err()
            .expect("damage is refused");
        assert!(
            matches!(err, LedgerError::Corrupt { line: 14, .. }),
            "{err}"
        );
        // A marker that miscounts is refused too.
        std::fs::write(&path, text.replacen("#size 20", "#size 19", 1)).unwrap();
        let err = FileLedger::open(dir.path())
            .err()
            .expect("a wrong marker is refused");
        assert!(err.to_string().contains("#size 19"), "{err}");
        // Intact, all three batches are there.
        std::fs::write(&path, &text).unwrap();
        assert_eq!(
            FileLedger::open(dir.path()).unwrap().size().await.unwrap(),
            30
        );
    }

    #[tokio::test]
    async fn file_ledger_opens_files_from_before_batch_markers() {
        let dir = tempfile::tempdir().unwrap();
        let records: Vec<LedgerRecord> = (0..5).map(conformance::sample_record).collect();
        let lines: String = records
            .iter()
            .map(|r| {
                let json = r.canonical_bytes();
                format!(
                    "{} {}\n",
                    hex::encode(leaf_hash(&json)),
                    String::from_utf8(json).unwrap()
                )
            })
            .collect();
        let path = dir.path().join("ledger.jsonl");
        // A cut short last line, as the old format could leave.
        std::fs::write(&path, format!("{lines}0123")).unwrap();
        let l = FileLedger::open(dir.path()).unwrap();
        assert_eq!(l.size().await.unwrap(), 5);
        let leaves: Vec<TreeHash> = records
            .iter()
            .map(|r| leaf_hash(&r.canonical_bytes()))
            .collect();
        assert_eq!(l.root_at(5).await.unwrap(), merkle_root(&leaves));
        assert_eq!(l.get(4).await.unwrap().unwrap().record, records[4]);
        l.append(&conformance::sample_record(5)).await.unwrap();
        drop(l);
        let text = std::fs::read_to_string(&path).unwrap();
        let after = text
            .strip_prefix(&format!("{lines}#size 5\n"))
            .expect("the old lines are kept and marked as one batch");
        assert_eq!(after.lines().count(), 2);
        assert!(after.ends_with("\n#size 6\n"), "{after}");
        assert_eq!(
            FileLedger::open(dir.path()).unwrap().size().await.unwrap(),
            6
        );
    }

    #[test]
    fn merkle_root_matches_rfc9162_shape() {
        let l: Vec<TreeHash> = (0u8..5).map(|i| leaf_hash(&[i])).collect();
        // MTH(5) = H(1 || MTH(l0..4) || l4), MTH(4) = H(MTH(l0,l1), MTH(l2,l3)).
        let left = node_hash(&node_hash(&l[0], &l[1]), &node_hash(&l[2], &l[3]));
        assert_eq!(merkle_root(&l), node_hash(&left, &l[4]));
        assert_eq!(
            hex::encode(merkle_root(&[])),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
    }
}

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
//! [`FileLedger`] keeps one line per record (`<leaf hash hex> <record
//! json>`) in `ledger.zst`, compressed into zstd frames, and a `#size N`
//! marker (a zstd skippable frame) after each batch, fdatasynced before
//! `append` returns and re-verified when opened (the local `albs build`); a
//! batch a crash cut short is dropped then. `zstd -dc ledger.zst` prints the
//! record lines. The
//! server keeps its ledger in the Store's database ([`crate::db::DbLedger`]);
//! [`MemoryLedger`] keeps them in memory. Batches ([`Ledger::append_batch`])
//! are serialised ([`LedgerRecord::write_canonical`]) and hashed on every
//! core, and a `FileLedger` compresses each part there and writes it as
//! soon as it is ready.

use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Read, Seek, SeekFrom, Write};
use std::ops::Range;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
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

/// Where a ledger file is corrupt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CorruptAt {
    /// A record (0-based index) whose line does not read, in the zstd frame
    /// that starts at byte `frame_at` of `ledger.zst`.
    Record {
        /// The record's index in the ledger.
        index: u64,
        /// Where its frame starts in the file.
        frame_at: u64,
    },
    /// A zstd frame of `ledger.zst`, by the byte it starts at, that does not
    /// decompress or whose structure cannot be read.
    Frame(u64),
    /// A batch marker of `ledger.zst`, by the byte its frame starts at.
    Marker(u64),
    /// A line (1-based) of the older `ledger.jsonl`.
    Line(usize),
}

impl std::fmt::Display for CorruptAt {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CorruptAt::Record { index, frame_at } => {
                write!(f, "record {index} (in the zstd frame at byte {frame_at})")
            }
            CorruptAt::Frame(at) => write!(f, "the zstd frame at byte {at}"),
            CorruptAt::Marker(at) => write!(f, "the batch marker at byte {at}"),
            CorruptAt::Line(line) => write!(f, "line {line}"),
        }
    }
}

/// Errors from ledgers.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LedgerError {
    /// A stored record does not match its leaf hash, or a frame, marker
    /// or line cannot be read, before the last complete batch (or
    /// otherwise not as a crash leaves it).
    #[error(
        "ledger {path} is corrupt at {at}: {why} (restore the file from a copy, or move it away to start a new ledger)"
    )]
    Corrupt {
        /// The ledger file.
        path: String,
        /// Where in it.
        at: CorruptAt,
        /// What is wrong.
        why: String,
    },
    /// A directory holds both the ledger file and the older-format file it
    /// replaced, and which one holds the ledger is not for albs to guess.
    #[error(
        "both {new} and {old} exist: {new} is the ledger and {old} the older format, which albs converts into it and then removes; if {new} was converted from {old} by a run that stopped before removing it, remove {old}; otherwise decide which ledger to keep and move the other out of the directory"
    )]
    BothFormats {
        /// The ledger file (`ledger.zst`).
        new: String,
        /// The older-format file (`ledger.jsonl`).
        old: String,
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

/// The marker that closes each batch: `#size <records in the ledger after
/// the batch>`, the payload of a zstd skippable frame in `ledger.zst` (a
/// line of its own in the older `ledger.jsonl`).
const MARKER: &[u8] = b"#size ";

/// The magic number of the skippable frames that hold batch markers (the
/// first of zstd's sixteen skippable magics; little-endian in the file).
const MARKER_MAGIC: u32 = 0x184D_2A50;

/// The magic number of a zstd frame (little-endian in the file).
const ZSTD_MAGIC: u32 = 0xFD2F_B528;

/// The largest block a zstd frame holds (`ZSTD_BLOCKSIZE_MAX`).
const ZSTD_BLOCK_MAX: u64 = 128 << 10;

/// The zstd level record frames are compressed at: one of the fast levels,
/// since compressing is most of the work of an append. A record line of
/// about 650 bytes takes about 158 bytes at -1 (87 at level 1, 165 at -3),
/// and -1 appended 15–20% more records per second than level 1 on a busy
/// 2-core machine (`benches/README.md`).
const LEVEL: i32 = -1;

/// The ledger's file in its directory.
const FILE_NAME: &str = "ledger.zst";

/// The file of the older format (one line per record, uncompressed), which
/// [`FileLedger::open`] converts into [`FILE_NAME`].
const OLD_FILE_NAME: &str = "ledger.jsonl";

/// How much of the file is read at a time when a ledger is opened.
const READ_AHEAD: u64 = 4 << 20;

/// Records per zstd frame, and per unit of work when a batch is encoded on
/// several cores.
const CHUNK: usize = 1024;

/// While a large batch is being written, the disk is asked to flush what
/// is written whenever this much more is: batches below it (about 100,000
/// records compressed) are synced once, at the end, since an fdatasync costs
/// milliseconds however little it flushes.
const SYNC_EVERY: u64 = 8 << 20;

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

/// Position of the JSON in a line: after the leaf hash's hex and a space.
const JSON_AT: usize = 65;

/// Appends the record lines of `records` (`<leaf hash hex> <canonical
/// JSON>\n`) to `bytes`, and the leaf hash and JSON length of each record
/// to `leaves` and `json_lens`.
fn encode_lines(
    records: &[LedgerRecord],
    bytes: &mut Vec<u8>,
    leaves: &mut Vec<TreeHash>,
    json_lens: &mut Vec<u32>,
) {
    for r in records {
        let start = bytes.len();
        bytes.resize(start + JSON_AT, b' ');
        r.write_canonical(bytes);
        let json = &bytes[start + JSON_AT..];
        let leaf = leaf_hash(json);
        json_lens.push(u32::try_from(json.len()).expect("a ledger record under 4 GiB"));
        hex::encode_to_slice(leaf, &mut bytes[start..start + 64]).expect("64 hex digits");
        bytes.push(b'\n');
        leaves.push(leaf);
    }
}

/// A zstd compressor for record frames: [`LEVEL`], with the content size
/// and a checksum of the content in each frame.
fn compressor() -> std::io::Result<zstd::bulk::Compressor<'static>> {
    let mut c = zstd::bulk::Compressor::new(LEVEL)?;
    c.set_parameter(zstd::zstd_safe::CParameter::ChecksumFlag(true))?;
    c.set_parameter(zstd::zstd_safe::CParameter::ContentSizeFlag(true))?;
    Ok(c)
}

/// The skippable frame that closes a batch: its magic, the payload's
/// length and `#size <size>`.
fn marker_frame(size: u64) -> Vec<u8> {
    let payload = format!("#size {size}");
    let mut out = Vec::with_capacity(8 + payload.len());
    out.extend_from_slice(&MARKER_MAGIC.to_le_bytes());
    out.extend_from_slice(&(payload.len() as u32).to_le_bytes());
    out.extend_from_slice(payload.as_bytes());
    out
}

/// Compresses record lines into one zstd frame.
fn compress_frame(
    compressor: &mut zstd::bulk::Compressor<'static>,
    lines: &[u8],
) -> std::io::Result<Vec<u8>> {
    let mut frame = Vec::with_capacity(zstd::zstd_safe::compress_bound(lines.len()));
    compressor.compress_to_buffer(lines, &mut frame)?;
    Ok(frame)
}

/// A part of a batch ready to be written: one zstd frame of record lines,
/// their decompressed length, and each record's leaf hash and JSON length.
struct Chunk {
    frame: Vec<u8>,
    data_len: u64,
    leaves: Vec<TreeHash>,
    json_lens: Vec<u32>,
}

/// Encodes `records` into lines in `lines` (a buffer reused between
/// chunks) and compresses them straight from there into a frame.
fn encode_chunk(
    records: &[LedgerRecord],
    compressor: &mut zstd::bulk::Compressor<'static>,
    lines: &mut Vec<u8>,
) -> std::io::Result<Chunk> {
    lines.clear();
    let mut leaves = Vec::with_capacity(records.len());
    let mut json_lens = Vec::with_capacity(records.len());
    encode_lines(records, lines, &mut leaves, &mut json_lens);
    Ok(Chunk {
        frame: compress_frame(compressor, lines)?,
        data_len: lines.len() as u64,
        leaves,
        json_lens,
    })
}

/// Encodes `records` into zstd frames of at most [`CHUNK`] records and
/// writes them to `file` in order, handing each to `take` once written.
/// Large batches are encoded and compressed on every core (one compressor
/// of `compressors` each); each frame is written as soon as the ones before
/// it are, and for batches of many megabytes a syncing thread keeps the
/// disk flushing what is written meanwhile (every [`SYNC_EVERY`] bytes), so
/// encoding, writing and the disk's work overlap. The caller still
/// fdatasyncs after the last write; an error of any sync here is returned.
fn write_frames(
    file: &File,
    records: &[LedgerRecord],
    compressors: &mut [zstd::bulk::Compressor<'static>],
    mut take: impl FnMut(Chunk),
) -> std::io::Result<()> {
    let mut out = file;
    if compressors.len() < 2 || records.len() < PARALLEL_BATCH {
        let compressor = compressors
            .first_mut()
            .ok_or_else(|| std::io::Error::other("no zstd compressor"))?;
        let mut lines = Vec::with_capacity(records.len().min(CHUNK) * 768);
        for chunk in records.chunks(CHUNK) {
            let chunk = encode_chunk(chunk, compressor, &mut lines)?;
            out.write_all(&chunk.frame)?;
            take(chunk);
        }
        return Ok(());
    }
    let chunks: Vec<&[LedgerRecord]> = records.chunks(CHUNK).collect();
    let next = AtomicUsize::new(0);
    let written = AtomicU64::new(0);
    let done = AtomicBool::new(false);
    let (tx, rx) = mpsc::channel::<(usize, std::io::Result<Chunk>)>();
    std::thread::scope(|s| {
        for compressor in compressors.iter_mut() {
            let (tx, next, chunks) = (tx.clone(), &next, &chunks);
            s.spawn(move || {
                let mut lines = Vec::with_capacity(CHUNK * 768);
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(chunk) = chunks.get(i) else { break };
                    if tx
                        .send((i, encode_chunk(chunk, compressor, &mut lines)))
                        .is_err()
                    {
                        break;
                    }
                }
            });
        }
        drop(tx);
        let syncer = s.spawn(|| {
            let mut synced = 0;
            loop {
                let now = written.load(Ordering::Acquire);
                if now >= synced + SYNC_EVERY {
                    file.sync_data()?;
                    synced = now;
                } else if done.load(Ordering::Acquire) {
                    return Ok(());
                } else {
                    std::thread::sleep(std::time::Duration::from_micros(200));
                }
            }
        });
        let mut ready: Vec<Option<std::io::Result<Chunk>>> = chunks.iter().map(|_| None).collect();
        let mut want = 0;
        let (mut result, mut bytes) = (Ok(()), 0u64);
        for (i, chunk) in rx {
            ready[i] = Some(chunk);
            while let Some(chunk) = ready.get_mut(want).and_then(Option::take) {
                if result.is_ok() {
                    result = chunk.and_then(|chunk| {
                        out.write_all(&chunk.frame)?;
                        bytes += chunk.frame.len() as u64;
                        take(chunk);
                        Ok(())
                    });
                }
                want += 1;
                // The last chunk is left to the caller's sync.
                if want < chunks.len() && result.is_ok() {
                    written.store(bytes, Ordering::Release);
                }
            }
        }
        done.store(true, Ordering::Release);
        let synced = syncer.join().expect("fdatasync does not panic");
        result.and(synced)
    })
}

/// A zstd frame of record lines in a [`FileLedger`]'s file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Frame {
    /// Where its content starts in the decompressed stream (the record
    /// lines of all frames, in order).
    start: u64,
    /// Where the frame starts in the file.
    at: u64,
    /// The frame's length in the file.
    len: u64,
    /// Its content's length.
    data_len: u64,
}

/// What a [`FileLedger`] holds in memory: the tree, where each record's JSON
/// sits in the decompressed stream and which frame holds it (records are
/// read back from the file, not kept) and the artifact lookup.
struct FileState {
    file: File,
    /// Bytes of the file that hold complete batches.
    len: u64,
    /// Decompressed bytes of the record lines in them.
    data_len: u64,
    tree: CompactTree,
    /// Where record `i`'s JSON starts in the decompressed stream, and its
    /// length.
    json_at: Vec<u64>,
    json_lens: Vec<u32>,
    /// The record frames, in file (and stream) order.
    frames: Vec<Frame>,
    artifacts: ArtifactIndex,
    /// One compressor per core, reused by every batch.
    compressors: Vec<zstd::bulk::Compressor<'static>>,
}

/// The frame a [`FileLedger`] read last, decompressed, so that reading its
/// neighbours costs no decompression.
struct FrameCache {
    /// The file offset of the frame held, if any.
    at: Option<u64>,
    data: Vec<u8>,
    decompressor: zstd::bulk::Decompressor<'static>,
}

/// A ledger in a file of zstd frames, verified when opened.
///
/// `ledger.zst` is a sequence of zstd frames. Record lines, `<leaf hash hex>
/// <canonical JSON>\n`, are compressed into ordinary frames (one per
/// 1,024 records at most; each batch starts a new frame), and each batch
/// is closed by a marker, a skippable frame (magic `0x184D2A50`) holding
/// `#size <n>` (the number of records once the batch is in). So
/// `zstd -dc ledger.zst` prints exactly the record lines. A batch and its
/// marker are written in one go and fdatasynced before
/// [`Ledger::append_batch`] returns; the tree state is the leaf hashes in
/// those lines, rebuilt and checked when the ledger is opened. Whatever
/// follows the last marker is a batch that was in flight when a process
/// stopped, never acknowledged, and is cut off when the ledger is next
/// opened. A directory holding the older `ledger.jsonl` (the same lines,
/// uncompressed, with `#size <n>` marker lines, or none in files from
/// before batch markers) is converted when opened.
pub struct FileLedger {
    path: PathBuf,
    state: Mutex<FileState>,
    cache: Mutex<FrameCache>,
}

/// A record line read back when opening: its leaf hash, where its JSON
/// starts (in the decompressed stream, or in an old-format file), the
/// JSON's length and the artifact it is about.
type ReadRecord = (TreeHash, u64, u32, Option<Sha256>);

/// What a frame of a ledger file turned out to be.
enum RawFrame {
    /// A zstd frame of this many bytes (its blocks were walked, not
    /// decompressed).
    Data(u64),
    /// A batch marker of this many bytes saying `#size <the number>`.
    Marker(u64, u64),
    /// Something that is not a frame the ledger writes, or one that the
    /// file ends inside of.
    Unreadable(String),
}

/// Reads a ledger file frame by frame through a buffer.
struct FrameReader<'a> {
    file: &'a File,
    len: u64,
    buf: Vec<u8>,
    buf_at: u64,
}

impl<'a> FrameReader<'a> {
    fn new(file: &'a File, len: u64) -> Self {
        FrameReader {
            file,
            len,
            buf: Vec::new(),
            buf_at: 0,
        }
    }

    /// The bytes at `pos..pos + want` (fewer where the file ends first).
    fn bytes(&mut self, pos: u64, want: u64) -> std::io::Result<&[u8]> {
        let end = pos.saturating_add(want).min(self.len);
        let pos = pos.min(end);
        if pos < self.buf_at || end > self.buf_at + self.buf.len() as u64 {
            let n = (end - pos).max(READ_AHEAD.min(self.len - pos));
            self.buf
                .resize(usize::try_from(n).map_err(std::io::Error::other)?, 0);
            self.file.read_exact_at(&mut self.buf, pos)?;
            self.buf_at = pos;
        }
        let from = (pos - self.buf_at) as usize;
        Ok(&self.buf[from..from + (end - pos) as usize])
    }

    /// What the frame at `pos` is, from its header (and for a zstd frame,
    /// its block headers).
    fn frame(&mut self, pos: u64) -> std::io::Result<RawFrame> {
        let head = self.bytes(pos, 18)?.to_vec();
        let Some(magic) = head.get(..4) else {
            return Ok(RawFrame::Unreadable(format!(
                "{} bytes that are not a frame",
                head.len()
            )));
        };
        let magic = u32::from_le_bytes([magic[0], magic[1], magic[2], magic[3]]);
        if magic == MARKER_MAGIC {
            return self.marker(pos);
        }
        if magic != ZSTD_MAGIC {
            return Ok(RawFrame::Unreadable(format!(
                "not a zstd frame (magic {magic:#010x})"
            )));
        }
        let Some(&descriptor) = head.get(4) else {
            return Ok(RawFrame::Unreadable("a zstd frame cut short".into()));
        };
        if descriptor & 0x08 != 0 {
            return Ok(RawFrame::Unreadable(
                "a zstd frame header with its reserved bit set".into(),
            ));
        }
        let single_segment = descriptor & 0x20 != 0;
        let dictionary_id = [0, 1, 2, 4][usize::from(descriptor & 3)];
        let content_size = match descriptor >> 6 {
            0 => u64::from(single_segment),
            1 => 2,
            2 => 4,
            _ => 8,
        };
        let checksum = if descriptor & 0x04 != 0 { 4 } else { 0 };
        let mut at = pos + 5 + u64::from(!single_segment) + dictionary_id + content_size;
        loop {
            let block = self.bytes(at, 3)?;
            if block.len() < 3 {
                return Ok(RawFrame::Unreadable("a zstd frame cut short".into()));
            }
            let header = u32::from_le_bytes([block[0], block[1], block[2], 0]);
            let (last, kind, size) = (header & 1 != 0, (header >> 1) & 3, u64::from(header >> 3));
            if kind == 3 || size > ZSTD_BLOCK_MAX {
                return Ok(RawFrame::Unreadable(
                    "a zstd frame with an impossible block header".into(),
                ));
            }
            // An RLE block holds one byte, repeated `size` times.
            at += 3 + if kind == 1 { 1 } else { size };
            if last {
                break;
            }
        }
        at += checksum;
        if at > self.len {
            return Ok(RawFrame::Unreadable("a zstd frame cut short".into()));
        }
        Ok(RawFrame::Data(at - pos))
    }

    /// The marker frame at `pos`.
    fn marker(&mut self, pos: u64) -> std::io::Result<RawFrame> {
        let head = self.bytes(pos, 8)?;
        if head.len() < 8 {
            return Ok(RawFrame::Unreadable("a batch marker cut short".into()));
        }
        let len = u64::from(u32::from_le_bytes([head[4], head[5], head[6], head[7]]));
        let payload = self.bytes(pos + 8, len.min(64))?;
        if (payload.len() as u64) < len.min(64) {
            return Ok(RawFrame::Unreadable("a batch marker cut short".into()));
        }
        let size = payload
            .strip_prefix(MARKER)
            .filter(|n| !n.is_empty() && n.iter().all(u8::is_ascii_digit))
            .and_then(|n| std::str::from_utf8(n).ok())
            .and_then(|n| n.parse::<u64>().ok());
        match size {
            Some(size) if len <= 64 => Ok(RawFrame::Marker(8 + len, size)),
            _ => Ok(RawFrame::Unreadable(format!(
                "a skippable frame that is not a batch marker ({:?})",
                String::from_utf8_lossy(payload)
            ))),
        }
    }

    /// Where batch markers start after `pos` (by their magic, length and
    /// `#size `), and whether the last one found ends the file (or is cut
    /// short by its end).
    fn markers_after(&mut self, pos: u64) -> std::io::Result<(usize, bool)> {
        let mut magic = [0u8; 8];
        magic[..4].copy_from_slice(&MARKER_MAGIC.to_le_bytes());
        let (mut found, mut last_ends_file) = (0, false);
        let mut at = pos + 1;
        while at < self.len {
            let window = self.bytes(at, READ_AHEAD)?;
            let window_len = window.len() as u64;
            let mut hits = Vec::new();
            for (i, w) in window.windows(4).enumerate() {
                if w == &magic[..4] {
                    hits.push(at + i as u64);
                }
            }
            for hit in hits {
                let head = self.bytes(hit, 8 + MARKER.len() as u64)?;
                // At the end of the file, a marker may be cut short anywhere.
                let is_marker = if head.len() == 8 + MARKER.len() {
                    head[8..] == *MARKER
                } else {
                    head.len() <= 8 || MARKER.starts_with(&head[8..])
                };
                if !is_marker {
                    continue;
                }
                let end = if head.len() < 8 {
                    self.len + 1
                } else {
                    hit + 8 + u64::from(u32::from_le_bytes([head[4], head[5], head[6], head[7]]))
                };
                found += 1;
                last_ends_file = end >= self.len;
            }
            // Windows overlap by three bytes, so a magic across two of them
            // is seen once.
            if at + window_len >= self.len {
                break;
            }
            at += window_len.saturating_sub(3).max(1);
        }
        Ok((found, last_ends_file))
    }
}

/// A frame that did not read when a ledger was opened.
struct BadFrame {
    at: CorruptAt,
    why: String,
    /// The frame decompressed whole (its checksum matched), yet its lines
    /// are wrong: that was written so, and no crash explains it.
    decoded: bool,
    /// Where the frame starts in the file.
    pos: u64,
}

impl FileLedger {
    /// Opens (or creates) `dir/ledger.zst`, takes an exclusive lock on it and
    /// verifies every frame and record line. A batch cut short by a crash
    /// (no marker after it; never acknowledged) is dropped; any other
    /// damage is refused, naming the record or the frame. A directory with
    /// only the older `dir/ledger.jsonl` has it converted first (its
    /// committed records rewritten into `ledger.zst`, then removed); one
    /// with both files is refused.
    pub fn open(dir: &Path) -> Result<Self, LedgerError> {
        let path = dir.join(FILE_NAME);
        let old = dir.join(OLD_FILE_NAME);
        let p = path.display().to_string();
        let io = |what, source| LedgerError::Io {
            path: p.clone(),
            what,
            source,
        };
        std::fs::create_dir_all(dir).map_err(|e| io("creating the directory", e))?;
        let exists = |path: &Path| {
            path.try_exists().map_err(|e| LedgerError::Io {
                path: path.display().to_string(),
                what: "checking for the file",
                source: e,
            })
        };
        if exists(&old)? {
            if exists(&path)? {
                return Err(LedgerError::BothFormats {
                    new: p,
                    old: old.display().to_string(),
                });
            }
            migrate(dir, &old, &path)?;
        }
        let mut file = OpenOptions::new()
            .read(true)
            .append(true)
            .create(true)
            .open(&path)
            .map_err(|e| io("opening", e))?;
        lock(&file, &p)?;
        let file_len = file.metadata().map_err(|e| io("reading", e))?.len();
        let mut decompressor =
            zstd::bulk::Decompressor::new().map_err(|e| io("setting up zstd", e))?;
        let mut reader = FrameReader::new(&file, file_len);
        let mut records: Vec<ReadRecord> = Vec::new();
        let mut frames: Vec<Frame> = Vec::new();
        // Records, frames and decompressed bytes before the last marker, and
        // where that marker ends.
        let (mut committed, mut committed_frames) = (0usize, 0usize);
        let (mut committed_data, mut committed_len) = (0u64, 0u64);
        let (mut pos, mut data) = (0u64, 0u64);
        let mut content = Vec::new();
        // The first frame that does not read, and why.
        let mut bad: Option<BadFrame> = None;
        while pos < file_len {
            let frame = reader.frame(pos).map_err(|e| io("reading", e))?;
            let len = match frame {
                RawFrame::Marker(len, size) => {
                    if size != records.len() as u64 {
                        return Err(LedgerError::Corrupt {
                            path: p,
                            at: CorruptAt::Marker(pos),
                            why: format!(
                                "the batch marker \"#size {size}\" does not count the {} records before it",
                                records.len()
                            ),
                        });
                    }
                    committed = records.len();
                    committed_frames = frames.len();
                    committed_data = data;
                    committed_len = pos + len;
                    len
                }
                RawFrame::Data(len) => {
                    let bytes = reader.bytes(pos, len).map_err(|e| io("reading", e))?;
                    let index = records.len() as u64;
                    match decompress_frame(&mut decompressor, bytes, &mut content).and_then(|()| {
                        read_record_lines(&content, data, &mut records).map_err(|e| (e, true))
                    }) {
                        Ok(()) => {}
                        Err(((line, why), decoded)) => {
                            bad = Some(BadFrame {
                                at: if decoded {
                                    CorruptAt::Record {
                                        index: index + line as u64,
                                        frame_at: pos,
                                    }
                                } else {
                                    CorruptAt::Frame(pos)
                                },
                                why,
                                decoded,
                                pos,
                            });
                            break;
                        }
                    }
                    let data_len = content.len() as u64;
                    frames.push(Frame {
                        start: data,
                        at: pos,
                        len,
                        data_len,
                    });
                    data += data_len;
                    len
                }
                RawFrame::Unreadable(why) => {
                    bad = Some(BadFrame {
                        at: CorruptAt::Frame(pos),
                        why,
                        decoded: false,
                        pos,
                    });
                    break;
                }
            };
            pos += len;
        }
        if let Some(bad) = bad {
            // A frame that does not read is part of the batch in flight only
            // if no batch was completed after it; when the only marker after
            // it ends the file, the last batch's write was not all on disk
            // when the process stopped, and that batch goes too. A frame
            // that decompressed whole but holds wrong lines was written so:
            // it goes only if no marker follows at all.
            let (after, marker_ends_file) = reader
                .markers_after(bad.pos)
                .map_err(|e| io("reading", e))?;
            if after > 1 || (after == 1 && (!marker_ends_file || bad.decoded)) {
                return Err(LedgerError::Corrupt {
                    path: p,
                    at: bad.at,
                    why: bad.why,
                });
            }
            if after == 1 {
                tracing::warn!(ledger = %p, at = %bad.at, why = %bad.why,
                    "dropping the last batch, which was not all written");
            } else {
                tracing::warn!(ledger = %p, at = %bad.at, why = %bad.why,
                    "dropping a batch cut short by a crash");
            }
        } else if committed < records.len() {
            tracing::warn!(ledger = %p, records = records.len() - committed,
                "dropping a batch cut short by a crash (no marker after it)");
        }
        drop(reader);
        records.truncate(committed);
        frames.truncate(committed_frames);
        if file_len != committed_len {
            file.set_len(committed_len)
                .and_then(|()| file.sync_all())
                .map_err(|e| io("dropping an unfinished batch", e))?;
        }
        file.seek(SeekFrom::End(0)).map_err(|e| io("seeking", e))?;
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        let compressors = (0..cores)
            .map(|_| compressor())
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| io("setting up zstd", e))?;
        let mut state = FileState {
            file,
            len: committed_len,
            data_len: committed_data,
            tree: CompactTree::new(),
            json_at: Vec::with_capacity(records.len()),
            json_lens: Vec::with_capacity(records.len()),
            frames,
            artifacts: ArtifactIndex::default(),
            compressors,
        };
        for (leaf, at, len, artifact) in records {
            let index = state.tree.len();
            state.tree.push(leaf);
            state.json_at.push(at);
            state.json_lens.push(len);
            state.artifacts.push(index, artifact);
        }
        Ok(FileLedger {
            path,
            state: Mutex::new(state),
            cache: Mutex::new(FrameCache {
                at: None,
                data: Vec::new(),
                decompressor,
            }),
        })
    }

    /// The ledger file (`ledger.zst`).
    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// Decompresses one zstd frame into `content`; the error is `(0, why)`
/// and "did not decompress".
fn decompress_frame(
    decompressor: &mut zstd::bulk::Decompressor<'static>,
    frame: &[u8],
    content: &mut Vec<u8>,
) -> Result<(), ((usize, String), bool)> {
    let fail = |why: String| ((0, why), false);
    let size = zstd::zstd_safe::get_frame_content_size(frame)
        .map_err(|_| fail("an unreadable zstd frame header".into()))?
        .ok_or_else(|| fail("a zstd frame without its content size".into()))?;
    // A block of 4 bytes (an RLE block) makes at most 128 KiB.
    let size = usize::try_from(size)
        .ok()
        .filter(|&size| size as u64 <= (frame.len() as u64).saturating_mul(ZSTD_BLOCK_MAX / 4))
        .ok_or_else(|| fail(format!("a zstd frame header claiming {size} bytes")))?;
    content.clear();
    content.reserve(size);
    let n = decompressor
        .decompress_to_buffer(frame, content)
        .map_err(|e| fail(format!("the zstd frame does not decompress: {e}")))?;
    if n != size {
        return Err(fail(format!(
            "the zstd frame holds {n} bytes, its header says {size}"
        )));
    }
    Ok(())
}

/// Checks the record lines of a frame's content, which starts at `start`
/// in the decompressed stream, and adds them to `records`; the error names
/// the line of the frame (0-based) that does not read.
fn read_record_lines(
    content: &[u8],
    start: u64,
    records: &mut Vec<ReadRecord>,
) -> Result<(), (usize, String)> {
    if content.last() != Some(&b'\n') {
        return Err((
            content.iter().filter(|&&b| b == b'\n').count(),
            "the frame's last line is cut short".into(),
        ));
    }
    let mut at = 0usize;
    for (i, line) in content[..content.len() - 1]
        .split(|&b| b == b'\n')
        .enumerate()
    {
        records.push(read_record_line(line, start + at as u64).map_err(|why| (i, why))?);
        at += line.len() + 1;
    }
    Ok(())
}

/// Takes the exclusive lock on the ledger file `file` (at `p`) without
/// waiting: another process holding it is [`LedgerError::Locked`].
fn lock(file: &File, p: &str) -> Result<(), LedgerError> {
    file.try_lock().map_err(|e| match e {
        std::fs::TryLockError::WouldBlock => LedgerError::Locked(p.to_owned()),
        std::fs::TryLockError::Error(source) => LedgerError::Io {
            path: p.to_owned(),
            what: "locking",
            source,
        },
    })
}

/// Syncs a directory, so that the files created, renamed or removed in it
/// stay so.
fn sync_dir(dir: &Path) -> std::io::Result<()> {
    File::open(dir)?.sync_all()
}

/// Converts the older `ledger.jsonl` at `old` into `ledger.zst` at `new`:
/// its committed records (verified as that format's reader always did) are
/// written as one batch into a temporary file, which is synced and renamed
/// into place; then the old file is removed. Both renames are made durable.
fn migrate(dir: &Path, old: &Path, new: &Path) -> Result<(), LedgerError> {
    let p = old.display().to_string();
    let io = |what, source| LedgerError::Io {
        path: p.clone(),
        what,
        source,
    };
    let file = File::open(old).map_err(|e| io("opening", e))?;
    lock(&file, &p)?;
    // Another process may have converted it meanwhile.
    if new
        .try_exists()
        .map_err(|e| io("checking for the new file", e))?
    {
        return if old
            .try_exists()
            .map_err(|e| io("checking for the file", e))?
        {
            Err(LedgerError::BothFormats {
                new: new.display().to_string(),
                old: p.clone(),
            })
        } else {
            Ok(())
        };
    }
    let (records, committed_len) = read_jsonl(&file, &p)?;
    let n = new.display().to_string();
    let io_new = |what, source| LedgerError::Io {
        path: n.clone(),
        what,
        source,
    };
    let mut tmp = tempfile::Builder::new()
        .prefix(".ledger.zst.")
        .tempfile_in(dir)
        .map_err(|e| io_new("creating a temporary file beside", e))?;
    let mut compressor = compressor().map_err(|e| io_new("setting up zstd", e))?;
    let mut reader = BufReader::with_capacity(1 << 20, &file);
    reader
        .seek(SeekFrom::Start(0))
        .map_err(|e| io("seeking", e))?;
    let mut reader = reader.take(committed_len);
    let (mut lines, mut in_chunk, mut line) = (Vec::new(), 0usize, Vec::new());
    let mut flush = |lines: &mut Vec<u8>, tmp: &mut tempfile::NamedTempFile| {
        let frame = compress_frame(&mut compressor, lines)?;
        lines.clear();
        tmp.write_all(&frame)
    };
    loop {
        line.clear();
        if reader
            .read_until(b'\n', &mut line)
            .map_err(|e| io("reading", e))?
            == 0
        {
            break;
        }
        if line.starts_with(MARKER) {
            continue;
        }
        lines.extend_from_slice(&line);
        in_chunk += 1;
        if in_chunk == CHUNK {
            flush(&mut lines, &mut tmp).map_err(|e| io_new("writing", e))?;
            in_chunk = 0;
        }
    }
    if in_chunk > 0 {
        flush(&mut lines, &mut tmp).map_err(|e| io_new("writing", e))?;
    }
    if records > 0 {
        tmp.write_all(&marker_frame(records as u64))
            .map_err(|e| io_new("writing", e))?;
    }
    tmp.as_file().sync_all().map_err(|e| io_new("syncing", e))?;
    tmp.persist_noclobber(new)
        .map_err(|e| io_new("renaming the converted ledger into place", e.error))?;
    sync_dir(dir).map_err(|e| io_new("syncing the directory", e))?;
    std::fs::remove_file(old).map_err(|e| io("removing the converted file", e))?;
    sync_dir(dir).map_err(|e| io("syncing the directory", e))?;
    tracing::info!(from = %p, to = %n, records, "converted the ledger to the zstd format");
    Ok(())
}

/// Reads and verifies an older `ledger.jsonl` without changing it: the
/// number of committed records, and the bytes of the file that hold them
/// (and their markers). A batch cut short by a crash (no marker line after
/// it) is left out; files written before batches had markers (only record
/// lines) count every complete line. Any other damage is refused, naming
/// the line.
fn read_jsonl(file: &File, p: &str) -> Result<(usize, u64), LedgerError> {
    let io = |what, source| LedgerError::Io {
        path: p.to_owned(),
        what,
        source,
    };
    let mut reader = BufReader::with_capacity(1 << 20, file);
    let mut records = 0usize;
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
            if size != Some(records as u64) {
                bad = Some((
                    lineno,
                    format!(
                        "the batch marker {:?} does not count the {records} records before it",
                        String::from_utf8_lossy(body),
                    ),
                ));
                break;
            }
            markers += 1;
            committed = records;
            committed_len = pos + n as u64;
        } else {
            match read_record_line(body, pos) {
                Ok(_) => records += 1,
                Err(why) => {
                    bad = Some((lineno, why));
                    break;
                }
            }
        }
        pos += n as u64;
    }
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
                path: p.to_owned(),
                at: CorruptAt::Line(bad_line),
                why,
            });
        }
        if markers == 0 {
            // Cut short at its end, from before batch markers (or the
            // very first batch): its complete lines count.
            tracing::warn!(ledger = %p, line = bad_line, "dropping a record cut short by a crash");
            committed = records;
            committed_len = pos;
        } else {
            tracing::warn!(ledger = %p, line = bad_line, %why,
                "dropping a batch cut short by a crash");
        }
    } else if committed < records {
        if markers == 0 {
            // Written before batches had markers: all its lines count.
            committed = records;
            committed_len = pos;
        } else {
            tracing::warn!(ledger = %p, records = records - committed,
                "dropping a batch cut short by a crash (no marker after it)");
        }
    }
    Ok((committed, committed_len))
}

/// Checks one record line (without its newline) that starts at `pos` (in
/// the decompressed stream, or in an old-format file) against its leaf hash.
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
    /// The batch's frames and its marker are appended, then fdatasynced; if
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
        let first_frame = st.frames.len();
        let mut leaves = Vec::with_capacity(records.len());
        let mut json_at = Vec::with_capacity(records.len());
        let mut json_lens = Vec::with_capacity(records.len());
        let mut frames = Vec::with_capacity(records.len().div_ceil(CHUNK));
        let (mut at, mut data) = (before, st.data_len);
        let written = write_frames(&st.file, records, &mut st.compressors, |chunk| {
            let mut line = data;
            for &len in &chunk.json_lens {
                json_at.push(line + JSON_AT as u64);
                line += JSON_AT as u64 + u64::from(len) + 1;
            }
            let len = chunk.frame.len() as u64;
            frames.push(Frame {
                start: data,
                at,
                len,
                data_len: chunk.data_len,
            });
            at += len;
            data += chunk.data_len;
            leaves.extend_from_slice(&chunk.leaves);
            json_lens.extend_from_slice(&chunk.json_lens);
        })
        .and_then(|()| {
            let marker = marker_frame(first + records.len() as u64);
            at += marker.len() as u64;
            (&st.file).write_all(&marker)
        });
        // The records go into the tree and the lookups while the disk syncs,
        // and come out again if it fails.
        let synced = written.map_err(|e| io("appending", e)).and_then(|()| {
            let FileState {
                file,
                tree,
                json_at: st_at,
                json_lens: st_lens,
                frames: st_frames,
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
                st_frames.extend_from_slice(&frames);
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
            st.frames.truncate(first_frame);
            st.artifacts.truncate(first, records);
            // Best effort: an unfinished batch is dropped on the next open anyway.
            let _ = st.file.set_len(before);
            // No frame past `before` was ever read, but a cache must not
            // outlive what it caches.
            self.cache.lock().expect("ledger cache lock").at = None;
            return Err(e);
        }
        st.len = at;
        st.data_len = data;
        Ok(leaves
            .iter()
            .enumerate()
            .map(|(i, leaf)| Appended {
                index: first + i as u64,
                leaf_hash: *leaf,
            })
            .collect())
    }
    /// Finds the record's frame, decompresses it (or takes it from the
    /// one-frame cache) and checks the record against its leaf hash.
    async fn get(&self, index: u64) -> Result<Option<Entry>, LedgerError> {
        let state = self.state.lock().expect("ledger lock");
        let Some(i) = usize::try_from(index)
            .ok()
            .filter(|&i| i < state.json_at.len())
        else {
            return Ok(None);
        };
        let (json_at, json_len) = (state.json_at[i], state.json_lens[i] as usize);
        let frame = state
            .frames
            .partition_point(|f| f.start <= json_at)
            .checked_sub(1)
            .map(|f| state.frames[f]);
        let leaf_hash = state.tree.leaves()[i];
        let changed = |why: String| {
            LedgerError::Backend(format!(
                "{}: record {index} was changed on disk since the ledger was opened ({why})",
                self.path.display()
            ))
        };
        let frame = frame.ok_or_else(|| changed("no frame holds it".into()))?;
        // Locks in this order (the ledger, then the cache) everywhere.
        let mut cache = self.cache.lock().expect("ledger cache lock");
        if cache.at != Some(frame.at) {
            cache.at = None;
            let mut compressed = vec![0u8; frame.len as usize];
            state
                .file
                .read_exact_at(&mut compressed, frame.at)
                .map_err(|e| LedgerError::Io {
                    path: self.path.display().to_string(),
                    what: "reading a record",
                    source: e,
                })?;
            drop(state);
            let FrameCache {
                data, decompressor, ..
            } = &mut *cache;
            decompress_frame(decompressor, &compressed, data).map_err(|((_, why), _)| {
                changed(format!("the frame at byte {}: {why}", frame.at))
            })?;
            if data.len() as u64 != frame.data_len {
                return Err(changed(format!(
                    "the frame at byte {} holds {} bytes, not {}",
                    frame.at,
                    data.len(),
                    frame.data_len
                )));
            }
            cache.at = Some(frame.at);
        } else {
            drop(state);
        }
        let from = (json_at - frame.start) as usize;
        let json = cache
            .data
            .get(from..from + json_len)
            .ok_or_else(|| changed("it is not in its frame".into()))?;
        if crate::merkle::leaf_hash(json) != leaf_hash {
            return Err(changed("its leaf hash does not match".into()));
        }
        let record = serde_json::from_slice(json)
            .map_err(|e| LedgerError::Backend(format!("record {index} no longer parses: {e}")))?;
        drop(cache);
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

/// Reading and rewriting the frames of a `ledger.zst`, for tests.
#[cfg(test)]
pub(crate) mod zst_frames {
    use std::path::Path;

    /// The frames of a ledger file's bytes, each one's bytes.
    pub(crate) fn split(bytes: &[u8]) -> Vec<Vec<u8>> {
        let mut out = Vec::new();
        let mut at = 0;
        while at < bytes.len() {
            let n =
                zstd::zstd_safe::find_frame_compressed_size(&bytes[at..]).expect("a whole frame");
            out.push(bytes[at..at + n].to_vec());
            at += n;
        }
        out
    }

    /// The frames of the ledger file at `path`.
    pub(crate) fn read(path: &Path) -> Vec<Vec<u8>> {
        split(&std::fs::read(path).unwrap())
    }

    /// Writes `frames` as the file at `path`.
    pub(crate) fn write(path: &Path, frames: &[Vec<u8>]) {
        std::fs::write(path, frames.concat()).unwrap();
    }

    /// Where each frame starts in the file.
    pub(crate) fn offsets(frames: &[Vec<u8>]) -> Vec<usize> {
        frames
            .iter()
            .scan(0, |at, f| {
                let start = *at;
                *at += f.len();
                Some(start)
            })
            .collect()
    }

    /// The marker a frame holds (`#size N`), if it is a marker.
    pub(crate) fn marker(frame: &[u8]) -> Option<String> {
        (frame[..4] == super::MARKER_MAGIC.to_le_bytes()).then(|| {
            assert_eq!(
                frame.len(),
                8 + frame[4] as usize,
                "the length is the payload's"
            );
            String::from_utf8(frame[8..].to_vec()).unwrap()
        })
    }

    /// A data frame's content, its record lines.
    pub(crate) fn content(frame: &[u8]) -> String {
        String::from_utf8(zstd::bulk::decompress(frame, 1 << 26).unwrap()).unwrap()
    }

    /// A data frame holding `content`, as the ledger writes one.
    pub(crate) fn data_frame(content: &str) -> Vec<u8> {
        super::compress_frame(&mut super::compressor().unwrap(), content.as_bytes()).unwrap()
    }

    /// A marker frame, as the ledger writes one.
    pub(crate) fn marker_frame(size: u64) -> Vec<u8> {
        super::marker_frame(size)
    }

    /// The record lines of the ledger file at `path`, as `zstd -dc` prints
    /// them.
    pub(crate) fn lines(path: &Path) -> String {
        read(path)
            .iter()
            .filter(|f| marker(f).is_none())
            .map(|f| content(f))
            .collect()
    }

    /// The line of a record with this JSON: `<leaf hash hex> <json>\n`.
    pub(crate) fn line_of(json: &str) -> String {
        format!(
            "{} {json}\n",
            hex::encode(super::leaf_hash(json.as_bytes()))
        )
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
            assert_eq!(l.path(), dir.path().join("ledger.zst"));
            l.append_batch(&records[..20]).await.unwrap();
            l.append(&records[20]).await.unwrap();
            l.append_batch(&records[21..]).await.unwrap();
            (
                l.root_at(50).await.unwrap(),
                l.inclusion_proof(33, 50).await.unwrap(),
            )
        };
        let frames = zst_frames::read(&dir.path().join("ledger.zst"));
        let kinds: Vec<Option<String>> = frames.iter().map(|f| zst_frames::marker(f)).collect();
        let marker = |n: &str| Some(n.to_owned());
        assert_eq!(
            kinds,
            [
                None,
                marker("#size 20"),
                None,
                marker("#size 21"),
                None,
                marker("#size 50")
            ],
            "one frame per batch, each followed by its marker"
        );
        let want: String = records
            .iter()
            .map(|r| zst_frames::line_of(std::str::from_utf8(&r.canonical_bytes()).unwrap()))
            .collect();
        assert_eq!(zst_frames::lines(&dir.path().join("ledger.zst")), want);
        assert!(!dir.path().join("ledger.jsonl").exists());
        let l = FileLedger::open(dir.path()).unwrap();
        assert_eq!(l.size().await.unwrap(), 50);
        assert_eq!(l.root_at(50).await.unwrap(), root);
        assert_eq!(l.inclusion_proof(33, 50).await.unwrap(), proof);
        let leaf = leaf_hash(&records[33].canonical_bytes());
        crate::merkle::verify_inclusion(&leaf, 33, 50, &proof, &root).unwrap();
    }

    /// `zstd -dc` (which skips the marker frames) prints exactly the record
    /// lines: the ledger stays readable with standard tools.
    #[tokio::test]
    async fn zstd_cli_prints_the_record_lines() {
        if std::process::Command::new("zstd")
            .arg("--version")
            .output()
            .is_err()
        {
            eprintln!("zstd is not installed (scripts/setup.sh installs it): skipped");
            return;
        }
        let dir = tempfile::tempdir().unwrap();
        let records: Vec<LedgerRecord> = (0..2600).map(conformance::sample_record).collect();
        {
            let l = FileLedger::open(dir.path()).unwrap();
            l.append(&records[0]).await.unwrap();
            // Several frames in one batch.
            l.append_batch(&records[1..2590]).await.unwrap();
            l.append_batch(&records[2590..]).await.unwrap();
        }
        let path = dir.path().join("ledger.zst");
        assert!(zst_frames::read(&path).len() >= 7);
        let out = std::process::Command::new("zstd")
            .arg("-dcq")
            .arg(&path)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let want: String = records
            .iter()
            .map(|r| zst_frames::line_of(std::str::from_utf8(&r.canonical_bytes()).unwrap()))
            .collect();
        assert_eq!(out.stdout.len(), want.len());
        assert!(
            out.stdout == want.as_bytes(),
            "zstd -dc prints the record lines"
        );
        // And `zstd -t` finds every frame sound (their checksums match).
        let test = std::process::Command::new("zstd")
            .arg("-tq")
            .arg(&path)
            .status()
            .unwrap();
        assert!(test.success());
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
        let path = dir.path().join("ledger.zst");
        let bytes = std::fs::read(&path).unwrap();
        let frames = zst_frames::split(&bytes);
        assert_eq!(frames.len(), 6);
        // A torn last frame is dropped, the others stay: bytes that are no
        // frame, then the first part of a frame.
        for tail in [b"abc".to_vec(), frames[2][..frames[2].len() / 2].to_vec()] {
            std::fs::write(&path, [&bytes[..], &tail[..]].concat()).unwrap();
            let l = FileLedger::open(dir.path()).unwrap();
            assert_eq!(l.size().await.unwrap(), 3);
            drop(l);
            assert_eq!(std::fs::read(&path).unwrap(), bytes);
        }
        // An edited record (its leaf hash left as it was) is refused, naming
        // it.
        let text = zst_frames::content(&frames[0]);
        let tampered = text.replacen("\"rpm\"", "\"srpm\"", 1);
        assert_ne!(tampered, text);
        let mut edited = frames.clone();
        edited[0] = zst_frames::data_frame(&tampered);
        zst_frames::write(&path, &edited);
        let err = FileLedger::open(dir.path())
            .err()
            .expect("tampering is refused");
        assert!(
            matches!(
                err,
                LedgerError::Corrupt {
                    at: CorruptAt::Record {
                        index: 0,
                        frame_at: 0
                    },
                    ..
                }
            ),
            "{err}"
        );
        assert!(err.to_string().contains("record 0"), "{err}");
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

    /// Two acknowledged batches (of 10 records), then what a crash can leave
    /// of a third (of 2,480 records, three frames), given the third batch's
    /// frames (its marker last) and returning what is on disk of them.
    async fn two_batches_then(
        tail: impl FnOnce(Vec<Vec<u8>>) -> Vec<u8>,
    ) -> (tempfile::TempDir, TreeHash) {
        let dir = tempfile::tempdir().unwrap();
        let records: Vec<LedgerRecord> = (0..2500).map(conformance::sample_record).collect();
        let root = {
            let l = FileLedger::open(dir.path()).unwrap();
            l.append_batch(&records[..10]).await.unwrap();
            l.append_batch(&records[10..20]).await.unwrap();
            l.root_at(20).await.unwrap()
        };
        let path = dir.path().join("ledger.zst");
        let mut third = {
            let scratch = tempfile::tempdir().unwrap();
            let l = FileLedger::open(scratch.path()).unwrap();
            l.append_batch(&records[20..]).await.unwrap();
            drop(l);
            zst_frames::read(&scratch.path().join("ledger.zst"))
        };
        assert_eq!(third.len(), 4, "three frames and the marker");
        assert_eq!(zst_frames::marker(&third[3]).unwrap(), "#size 2480");
        third[3] = zst_frames::marker_frame(2500);
        let mut bytes = std::fs::read(&path).unwrap();
        bytes.extend(tail(third));
        std::fs::write(&path, bytes).unwrap();
        (dir, root)
    }

    async fn reopens_at_two_batches(dir: &tempfile::TempDir, root: TreeHash) {
        let path = dir.path().join("ledger.zst");
        let l = FileLedger::open(dir.path()).unwrap();
        assert_eq!(
            l.size().await.unwrap(),
            20,
            "back at the last complete batch"
        );
        assert_eq!(l.root_at(20).await.unwrap(), root);
        let frames = zst_frames::read(&path);
        assert_eq!(frames.len(), 4, "the unfinished batch is cut off");
        assert_eq!(zst_frames::marker(&frames[3]).unwrap(), "#size 20");
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
        assert_eq!(
            l.get(20).await.unwrap().unwrap().record,
            conformance::sample_record(99)
        );
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
    async fn file_ledger_drops_a_batch_cut_mid_frame() {
        // The write stopped inside the third batch's second frame (its first
        // frame is whole).
        let (dir, root) = two_batches_then(|third| {
            let mut out = third[0].clone();
            out.extend_from_slice(&third[1][..third[1].len() / 2]);
            out
        })
        .await;
        reopens_at_two_batches(&dir, root).await;
        // Or inside its first frame's header.
        let (dir, root) = two_batches_then(|third| third[0][..3].to_vec()).await;
        reopens_at_two_batches(&dir, root).await;
    }

    #[tokio::test]
    async fn file_ledger_drops_a_batch_without_its_marker() {
        // Every frame of the third batch is there, its marker is not.
        let (dir, root) = two_batches_then(|third| third[..3].concat()).await;
        reopens_at_two_batches(&dir, root).await;
        // Or the marker is cut short.
        let (dir, root) = two_batches_then(|third| {
            let mut out = third[..3].concat();
            out.extend_from_slice(&third[3][..10]);
            out
        })
        .await;
        reopens_at_two_batches(&dir, root).await;
    }

    #[tokio::test]
    async fn file_ledger_drops_a_last_batch_written_out_of_order() {
        // The end of the batch (its later frames and its marker) reached the
        // disk, a page inside its first frame did not (it reads back as
        // zeros).
        for range in [300..900, 0..4096] {
            let (dir, root) = two_batches_then(|mut third| {
                third[0][range.clone()].fill(0);
                third.concat()
            })
            .await;
            reopens_at_two_batches(&dir, root).await;
        }
    }

    #[tokio::test]
    async fn file_ledger_refuses_damage_before_the_last_batch() {
        let (dir, _) = two_batches_then(|third| third.concat()).await;
        let path = dir.path().join("ledger.zst");
        let intact = zst_frames::read(&path);
        // Batch 1's frame and marker, batch 2's, then batch 3's.
        assert_eq!(intact.len(), 8);
        let at = zst_frames::offsets(&intact);
        let refused = |frames: &[Vec<u8>]| {
            zst_frames::write(&path, frames);
            let err = FileLedger::open(dir.path())
                .err()
                .expect("damage is refused");
            assert!(
                std::fs::read(&path).unwrap() == frames.concat(),
                "a refused file is left as it is"
            );
            err
        };
        // A page of the second batch's frame reads back as zeros.
        let mut frames = intact.clone();
        frames[2][20..60].fill(0);
        let err = refused(&frames);
        assert!(
            matches!(err, LedgerError::Corrupt { at: CorruptAt::Frame(a), .. } if a == at[2] as u64),
            "{err}"
        );
        assert!(
            err.to_string()
                .contains(&format!("zstd frame at byte {}", at[2])),
            "{err}"
        );
        // Or it decompresses, but record 12 lost a byte of its JSON.
        let text = zst_frames::content(&intact[2]);
        let line = text.lines().nth(2).unwrap();
        let mut frames = intact.clone();
        frames[2] = zst_frames::data_frame(&text.replacen(line, &line[..line.len() - 1], 1));
        let err = refused(&frames);
        assert!(
            matches!(
                err,
                LedgerError::Corrupt { at: CorruptAt::Record { index: 12, frame_at }, .. }
                    if frame_at == at[2] as u64
            ),
            "{err}"
        );
        // A marker that miscounts is refused too.
        let mut frames = intact.clone();
        frames[3] = zst_frames::marker_frame(19);
        let err = refused(&frames);
        assert!(err.to_string().contains("#size 19"), "{err}");
        assert!(
            matches!(err, LedgerError::Corrupt { at: CorruptAt::Marker(a), .. } if a == at[3] as u64),
            "{err}"
        );
        // The last batch's first frame is damaged, but after its marker a
        // fourth batch was being written: the third was acknowledged.
        let mut frames = intact.clone();
        frames[4][300..900].fill(0);
        frames.push(intact[0].clone());
        let err = refused(&frames);
        assert!(
            matches!(err, LedgerError::Corrupt { at: CorruptAt::Frame(a), .. } if a == at[4] as u64),
            "{err}"
        );
        // A frame of the last batch that decompresses whole but holds a
        // wrong record was written so, not torn by a crash.
        let text = zst_frames::content(&intact[4]);
        let mut frames = intact.clone();
        frames[4] = zst_frames::data_frame(&text.replacen("node-1", "node-2", 1));
        let err = refused(&frames);
        assert!(
            matches!(
                err,
                LedgerError::Corrupt {
                    at: CorruptAt::Record { index: 20, .. },
                    ..
                }
            ),
            "{err}"
        );
        // Something that is no frame between two batches.
        let mut frames = intact.clone();
        frames.insert(2, b"not a frame".to_vec());
        let err = refused(&frames);
        assert!(
            matches!(err, LedgerError::Corrupt { at: CorruptAt::Frame(a), .. } if a == at[2] as u64),
            "{err}"
        );
        // Intact, all three batches are there, and read back.
        zst_frames::write(&path, &intact);
        let l = FileLedger::open(dir.path()).unwrap();
        assert_eq!(l.size().await.unwrap(), 2500);
        for i in [2499, 0, 12, 1500, 1499, 20] {
            assert_eq!(
                l.get(i).await.unwrap().unwrap().record,
                conformance::sample_record(i)
            );
        }
    }

    /// The old-format lines of `records`: `<leaf hash hex> <json>\n` each.
    fn jsonl_lines(records: &[LedgerRecord]) -> String {
        records
            .iter()
            .map(|r| zst_frames::line_of(std::str::from_utf8(&r.canonical_bytes()).unwrap()))
            .collect()
    }

    /// Opens a directory whose `ledger.jsonl` holds `records[..committed]`
    /// (and whatever else), and checks that it was converted.
    async fn converts(dir: &tempfile::TempDir, records: &[LedgerRecord], committed: usize) {
        let l = FileLedger::open(dir.path()).unwrap();
        assert_eq!(l.path(), dir.path().join("ledger.zst"));
        assert!(
            !dir.path().join("ledger.jsonl").exists(),
            "the old file is gone"
        );
        assert_eq!(l.size().await.unwrap(), committed as u64);
        let leaves: Vec<TreeHash> = records[..committed]
            .iter()
            .map(|r| leaf_hash(&r.canonical_bytes()))
            .collect();
        assert_eq!(
            l.root_at(committed as u64).await.unwrap(),
            merkle_root(&leaves)
        );
        for (i, r) in records[..committed].iter().enumerate() {
            assert_eq!(&l.get(i as u64).await.unwrap().unwrap().record, r);
        }
        let path = dir.path().join("ledger.zst");
        assert_eq!(
            zst_frames::lines(&path),
            jsonl_lines(&records[..committed]),
            "the same lines"
        );
        let frames = zst_frames::read(&path);
        assert_eq!(
            zst_frames::marker(frames.last().unwrap()).unwrap(),
            format!("#size {committed}"),
            "one batch"
        );
        assert_eq!(
            frames.len(),
            committed.div_ceil(CHUNK) + 1,
            "frames of up to {CHUNK} records"
        );
        l.append(&conformance::sample_record(9999)).await.unwrap();
        drop(l);
        let l = FileLedger::open(dir.path()).unwrap();
        assert_eq!(l.size().await.unwrap(), committed as u64 + 1);
        assert_eq!(
            l.get(committed as u64).await.unwrap().unwrap().record,
            conformance::sample_record(9999)
        );
    }

    #[tokio::test]
    async fn file_ledger_converts_a_jsonl_ledger() {
        let dir = tempfile::tempdir().unwrap();
        let records: Vec<LedgerRecord> = (0..1500).map(conformance::sample_record).collect();
        // Two batches, then one a crash cut short (no marker).
        let text = format!(
            "{}#size 3\n{}#size 1400\n{}",
            jsonl_lines(&records[..3]),
            jsonl_lines(&records[3..1400]),
            jsonl_lines(&records[1400..])
        );
        std::fs::write(dir.path().join("ledger.jsonl"), text).unwrap();
        converts(&dir, &records, 1400).await;
    }

    #[tokio::test]
    async fn file_ledger_converts_files_from_before_batch_markers() {
        let dir = tempfile::tempdir().unwrap();
        let records: Vec<LedgerRecord> = (0..5).map(conformance::sample_record).collect();
        // A cut short last line, as the old format could leave.
        std::fs::write(
            dir.path().join("ledger.jsonl"),
            format!("{}0123", jsonl_lines(&records)),
        )
        .unwrap();
        converts(&dir, &records, 5).await;
        // An empty one becomes an empty ledger.
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("ledger.jsonl"), "").unwrap();
        let l = FileLedger::open(dir.path()).unwrap();
        assert_eq!(l.size().await.unwrap(), 0);
        assert!(!dir.path().join("ledger.jsonl").exists());
    }

    #[tokio::test]
    async fn file_ledger_refuses_a_damaged_jsonl_ledger_and_both_files() {
        let dir = tempfile::tempdir().unwrap();
        let records: Vec<LedgerRecord> = (0..6).map(conformance::sample_record).collect();
        let text = format!(
            "{}#size 3\n{}#size 6\n",
            jsonl_lines(&records[..3]),
            jsonl_lines(&records[3..])
        );
        let old = dir.path().join("ledger.jsonl");
        let new = dir.path().join("ledger.zst");
        // Record 1 (line 2) loses a byte: refused, nothing converted.
        let line = text.lines().nth(1).unwrap();
        let damaged = text.replacen(line, &line[..line.len() - 1], 1);
        std::fs::write(&old, &damaged).unwrap();
        let err = FileLedger::open(dir.path())
            .err()
            .expect("damage is refused");
        assert!(
            matches!(
                err,
                LedgerError::Corrupt {
                    at: CorruptAt::Line(2),
                    ..
                }
            ),
            "{err}"
        );
        assert!(err.to_string().contains("ledger.jsonl"), "{err}");
        assert_eq!(std::fs::read_to_string(&old).unwrap(), damaged);
        assert!(!new.exists());
        assert_eq!(
            std::fs::read_dir(dir.path()).unwrap().count(),
            1,
            "no temporary file is left"
        );
        // A marker that miscounts.
        std::fs::write(&old, text.replacen("#size 3", "#size 2", 1)).unwrap();
        let err = FileLedger::open(dir.path())
            .err()
            .expect("a wrong marker is refused");
        assert!(err.to_string().contains("#size 2"), "{err}");
        // Both files: refused, naming both, neither touched.
        std::fs::write(&old, &text).unwrap();
        std::fs::write(&new, b"").unwrap();
        let err = FileLedger::open(dir.path())
            .err()
            .expect("two ledgers are refused");
        assert!(matches!(err, LedgerError::BothFormats { .. }), "{err}");
        let msg = err.to_string();
        assert!(
            msg.contains(&old.display().to_string()) && msg.contains(&new.display().to_string()),
            "{msg}"
        );
        assert_eq!(std::fs::read_to_string(&old).unwrap(), text);
        assert_eq!(std::fs::read(&new).unwrap(), b"");
        // Without the new file, it converts.
        std::fs::remove_file(&new).unwrap();
        converts(&dir, &records, 6).await;
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

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
//! (`<leaf hash hex> <record json>`), fsynced before `append` returns and
//! re-verified when opened (the local `albs build`); the server keeps its
//! ledger in the Store's database ([`crate::db::DbLedger`]);
//! [`MemoryLedger`] keeps them in memory. Batches ([`Ledger::append_batch`])
//! are serialised and hashed on every core ([`encode_batch`]) and written
//! in one go.

use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Seek, SeekFrom, Write};
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

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
}

impl LedgerRecord {
    /// The canonical bytes that are hashed into the leaf.
    pub fn canonical_bytes(&self) -> Vec<u8> {
        // Records are a few hundred bytes: one allocation, no regrowth.
        let mut out = Vec::with_capacity(768);
        serde_json::to_writer(&mut out, self).expect("ledger records serialize");
        out
    }
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

/// A ledger in a file, one record per line, verified when opened.
pub struct FileLedger {
    path: PathBuf,
    state: Mutex<(File, Index)>,
}

impl FileLedger {
    /// Opens (or creates) `dir/ledger.jsonl`, takes an exclusive lock on it and
    /// verifies every line. A last line cut short by a crash (no newline; never
    /// acknowledged) is dropped; any other damage is refused.
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
        let mut index = Index::default();
        let mut reader = BufReader::new(&file);
        let mut good_len = 0u64;
        let mut line = String::new();
        let mut lineno = 0;
        loop {
            line.clear();
            let n = reader.read_line(&mut line).map_err(|e| io("reading", e))?;
            if n == 0 {
                break;
            }
            lineno += 1;
            if !line.ends_with('\n') {
                tracing::warn!(ledger = %p, line = lineno, "dropping a record cut short by a crash");
                break;
            }
            let corrupt = |why: String| LedgerError::Corrupt {
                path: p.clone(),
                line: lineno,
                why,
            };
            let body = &line[..line.len() - 1];
            let (leaf_hex, json) = body
                .split_once(' ')
                .ok_or_else(|| corrupt("no leaf hash".into()))?;
            let want = leaf_hash(json.as_bytes());
            if hex::encode(want) != leaf_hex {
                return Err(corrupt(format!(
                    "leaf hash {leaf_hex} does not match the record (which hashes to {})",
                    hex::encode(want)
                )));
            }
            let record: LedgerRecord =
                serde_json::from_str(json).map_err(|e| corrupt(e.to_string()))?;
            index.push(json.as_bytes(), record.artifact, want);
            good_len += n as u64;
        }
        drop(reader);
        if file.metadata().map_err(|e| io("reading", e))?.len() != good_len {
            file.set_len(good_len)
                .map_err(|e| io("dropping a torn record", e))?;
        }
        file.seek(SeekFrom::End(0)).map_err(|e| io("seeking", e))?;
        Ok(FileLedger {
            path,
            state: Mutex::new((file, index)),
        })
    }

    /// The ledger file.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

#[async_trait]
impl Ledger for FileLedger {
    async fn append(&self, record: &LedgerRecord) -> Result<Appended, LedgerError> {
        let mut done = self.append_batch(std::slice::from_ref(record)).await?;
        Ok(done.pop().expect("one record appended"))
    }
    /// One write and one fsync for the whole batch; if either fails the file
    /// is cut back to where it was and nothing is appended.
    async fn append_batch(&self, records: &[LedgerRecord]) -> Result<Vec<Appended>, LedgerError> {
        let encoded = encode_batch(records);
        let len: usize = encoded.iter().map(|(json, _)| json.len() + 66).sum();
        let mut lines = vec![0u8; len];
        let mut at = 0;
        for (json, leaf) in &encoded {
            hex::encode_to_slice(leaf, &mut lines[at..at + 64]).expect("64 hex digits");
            lines[at + 64] = b' ';
            lines[at + 65..at + 65 + json.len()].copy_from_slice(json);
            at += 65 + json.len();
            lines[at] = b'\n';
            at += 1;
        }
        let mut state = self.state.lock().expect("ledger lock");
        let (file, index) = &mut *state;
        let io = |what, source| LedgerError::Io {
            path: self.path.display().to_string(),
            what,
            source,
        };
        if records.is_empty() {
            return Ok(Vec::new());
        }
        let before = file.metadata().map_err(|e| io("reading", e))?.len();
        let written = file
            .write_all(&lines)
            .map_err(|e| io("appending", e))
            .and_then(|()| file.sync_data().map_err(|e| io("syncing", e)));
        if let Err(e) = written {
            // Best effort: a torn tail is dropped on the next open anyway.
            let _ = file.set_len(before);
            return Err(e);
        }
        Ok(records
            .iter()
            .zip(&encoded)
            .map(|(r, (json, leaf))| index.push(json, r.artifact, *leaf))
            .collect())
    }
    async fn get(&self, index: u64) -> Result<Option<Entry>, LedgerError> {
        self.state.lock().expect("ledger lock").1.get(index)
    }
    async fn size(&self) -> Result<u64, LedgerError> {
        Ok(self.state.lock().expect("ledger lock").1.size())
    }
    async fn find_artifact(&self, artifact: &Sha256) -> Result<Vec<u64>, LedgerError> {
        let state = self.state.lock().expect("ledger lock");
        Ok(state
            .1
            .by_artifact
            .get(artifact)
            .cloned()
            .unwrap_or_default())
    }
    async fn leaves(&self, start: u64, end: u64) -> Result<Vec<TreeHash>, LedgerError> {
        Ok(self.state.lock().expect("ledger lock").1.leaves(start, end))
    }
    async fn range_hashes(&self, ranges: &[Range<u64>]) -> Result<Vec<TreeHash>, LedgerError> {
        self.state
            .lock()
            .expect("ledger lock")
            .1
            .range_hashes(ranges)
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
        assert_eq!(text.lines().count(), 50, "one line per record");
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

//! The state a [`Repo`](super::Repo) keeps in `.albs/`: a compact binary
//! index (`state.bin`) of packages and generations, and an append-only pack
//! of the packages' XML fragments (`fragments.<n>.pack`), so that opening
//! and saving a large repository do not parse or rewrite its metadata.
//!
//! `state.bin` is `ALBSREPO`, the format number, the fields in a fixed order
//! (integers little-endian, strings as a length and UTF-8 bytes) and the
//! sha256 of everything before it, so a torn or altered file is refused.

use std::collections::{BTreeMap, HashMap};
use std::hash::{BuildHasher, Hasher};
use std::io::Write as _;
use std::path::PathBuf;
use std::sync::Arc;

use serde::Deserialize;
use sha2::{Digest, Sha256};

use super::MdCompression;
use super::chunked::BlockKey;

const MAGIC: &[u8; 8] = b"ALBSREPO";
/// The format of `state.bin` this version reads and writes.
pub(super) const FORMAT: u32 = 3;

/// The key of an entry (`pkgid:mtime_ns:href`), shared by the entry map,
/// the working set and the generations that list it.
pub(super) type Key = Arc<str>;

/// A fast hash for the state's own strings (keys and locations), which
/// need no protection against chosen collisions.
/// Its seed is fixed and its function must not change: block boundaries
/// (`chunked::blocks`) depend on it.
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct FastHash;

/// The hasher of [`FastHash`]: a word at a time, each folded in with a
/// 64×64→128-bit multiply whose halves are xored.
pub(super) struct FastHasher(u64);

impl FastHasher {
    fn add(&mut self, word: u64) {
        let x = u128::from(self.0 ^ word) * u128::from(0x9e37_79b9_7f4a_7c15_u64);
        self.0 = (x as u64) ^ ((x >> 64) as u64);
    }
}

impl Hasher for FastHasher {
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            self.add(u64::from_le_bytes(c.try_into().expect("8 bytes")));
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            let mut w = [0; 8];
            w[..rest.len()].copy_from_slice(rest);
            self.add(u64::from_le_bytes(w));
        }
    }

    fn write_u8(&mut self, i: u8) {
        self.add(u64::from(i));
    }

    fn write_u64(&mut self, i: u64) {
        self.add(i);
    }

    fn write_usize(&mut self, i: usize) {
        self.add(i as u64);
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

impl BuildHasher for FastHash {
    type Hasher = FastHasher;

    fn build_hasher(&self) -> FastHasher {
        FastHasher(0x243f_6a88_85a3_08d3)
    }
}

/// Where a fragment is in the pack.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(super) struct Span {
    pub off: u64,
    pub len: u64,
}

/// The stored facts of one package and where its fragments are.
#[derive(Debug, Clone)]
pub(super) struct Entry {
    pub href: String,
    pub size: u64,
    pub mtime_ns: i64,
    pub pkgid: String,
    pub name: String,
    pub epoch: u32,
    pub version: String,
    pub release: String,
    pub arch: String,
    /// primary, filelists, other.
    pub frags: [Span; 3],
}

impl Entry {
    pub fn key(&self) -> String {
        let mtime = self.mtime_ns.to_string();
        let mut k = String::with_capacity(self.pkgid.len() + mtime.len() + self.href.len() + 2);
        k.push_str(&self.pkgid);
        k.push(':');
        k.push_str(&mtime);
        k.push(':');
        k.push_str(&self.href);
        k
    }

    pub fn nevra(&self) -> String {
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

/// Where the compressed blocks of a published metadata file are, so the
/// next publish can copy the unchanged ones.
#[derive(Debug, Clone, Default)]
pub(super) struct Layout {
    /// The file name inside `repodata/`.
    pub file: String,
    /// Block key, offset and length in the file.
    pub blocks: Vec<(BlockKey, u64, u64)>,
}

/// One published `repomd.xml` and what it names.
#[derive(Debug, Clone)]
pub(super) struct Generation {
    pub id: u64,
    pub published: u64,
    pub superseded: Option<u64>,
    pub reverted: bool,
    pub signed: bool,
    /// Entry keys, in the order the metadata lists them (empty once the
    /// list is no longer kept, see `listed`).
    pub packages: Vec<Key>,
    /// Whether the package list and block layouts are kept: they are for
    /// the newest generations, which a revert can go back to; older ones
    /// kept for their grace period keep only their file names.
    pub listed: bool,
    /// File names inside `repodata/`.
    pub files: Vec<String>,
    /// The block layout of each file (empty when unknown).
    pub layouts: Vec<Layout>,
}

#[derive(Debug, Default)]
pub(super) struct State {
    pub compression: MdCompression,
    /// The retention set with `Repo::set_retain`, kept for later writers.
    pub retain: Option<(usize, u64)>,
    pub next_id: u64,
    pub generations: Vec<Generation>,
    pub entries: BTreeMap<Key, Entry>,
    /// The fragment pack's file name inside `.albs/`.
    pub pack: String,
}

/// The name of the `n`-th fragment pack.
pub(super) fn pack_name(n: u64) -> String {
    format!("fragments.{n}.pack")
}

/// The number in a pack's name.
pub(super) fn pack_number(name: &str) -> u64 {
    name.strip_prefix("fragments.")
        .and_then(|s| s.strip_suffix(".pack"))
        .and_then(|s| s.parse().ok())
        .unwrap_or(0)
}

struct Enc(Vec<u8>);

impl Enc {
    fn u8(&mut self, v: u8) {
        self.0.push(v);
    }
    fn u32(&mut self, v: u32) {
        self.0.extend_from_slice(&v.to_le_bytes());
    }
    fn u64(&mut self, v: u64) {
        self.0.extend_from_slice(&v.to_le_bytes());
    }
    fn str(&mut self, s: &str) {
        self.u32(s.len() as u32);
        self.0.extend_from_slice(s.as_bytes());
    }
    fn len(&mut self, n: usize) {
        self.u32(n as u32);
    }
}

struct Dec<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Dec<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], String> {
        let end = self
            .pos
            .checked_add(n)
            .filter(|&e| e <= self.buf.len())
            .ok_or_else(|| format!("truncated at byte {}", self.pos))?;
        let s = &self.buf[self.pos..end];
        self.pos = end;
        Ok(s)
    }
    fn u8(&mut self) -> Result<u8, String> {
        Ok(self.take(1)?[0])
    }
    fn u32(&mut self) -> Result<u32, String> {
        Ok(u32::from_le_bytes(
            self.take(4)?.try_into().expect("4 bytes"),
        ))
    }
    fn u64(&mut self) -> Result<u64, String> {
        Ok(u64::from_le_bytes(
            self.take(8)?.try_into().expect("8 bytes"),
        ))
    }
    fn str(&mut self) -> Result<String, String> {
        let n = self.u32()? as usize;
        let at = self.pos;
        String::from_utf8(self.take(n)?.to_vec()).map_err(|_| format!("bad UTF-8 at byte {at}"))
    }
    fn len(&mut self) -> Result<usize, String> {
        let n = self.u32()? as usize;
        // Every item takes at least a byte: a larger count is corrupt.
        if n > self.buf.len() - self.pos {
            return Err(format!("impossible count {n} at byte {}", self.pos));
        }
        Ok(n)
    }
}

/// `state` as the bytes of `state.bin`.
pub(super) fn encode(state: &State) -> Vec<u8> {
    let mut e = Enc(Vec::with_capacity(encoded_len(state)));
    e.0.extend_from_slice(MAGIC);
    e.u32(FORMAT);
    e.u8(match state.compression {
        MdCompression::Gz => 0,
        MdCompression::Zst => 1,
    });
    match state.retain {
        Some((g, s)) => {
            e.u8(1);
            e.u64(g as u64);
            e.u64(s);
        }
        None => e.u8(0),
    }
    e.u64(state.next_id);
    e.str(&state.pack);
    e.len(state.entries.len());
    // Generations share their keys with the entry map, so the index is by
    // address; a key allocated elsewhere is found by its text.
    let mut by_addr: HashMap<*const u8, u32, FastHash> =
        HashMap::with_capacity_and_hasher(state.entries.len(), FastHash);
    let mut by_text: Option<HashMap<&str, u32, FastHash>> = None;
    for (i, (k, en)) in state.entries.iter().enumerate() {
        by_addr.insert(k.as_ptr(), i as u32);
        e.str(&en.href);
        e.u64(en.size);
        e.u64(en.mtime_ns as u64);
        e.str(&en.pkgid);
        e.str(&en.name);
        e.u32(en.epoch);
        e.str(&en.version);
        e.str(&en.release);
        e.str(&en.arch);
        for s in &en.frags {
            e.u64(s.off);
            e.u64(s.len);
        }
    }
    e.len(state.generations.len());
    for g in &state.generations {
        e.u64(g.id);
        e.u64(g.published);
        match g.superseded {
            Some(t) => {
                e.u8(1);
                e.u64(t);
            }
            None => e.u8(0),
        }
        e.u8(u8::from(g.reverted));
        e.u8(u8::from(g.signed));
        e.u8(u8::from(g.listed));
        let mut known = Vec::with_capacity(g.packages.len());
        for k in &g.packages {
            let i = match by_addr.get(&k.as_ptr()) {
                Some(&i) => Some(i),
                None => by_text
                    .get_or_insert_with(|| {
                        state
                            .entries
                            .keys()
                            .enumerate()
                            .map(|(i, k)| (&**k, i as u32))
                            .collect()
                    })
                    .get(&**k)
                    .copied(),
            };
            known.extend(i);
        }
        e.len(known.len());
        for i in known {
            e.u32(i);
        }
        e.len(g.files.len());
        for f in &g.files {
            e.str(f);
        }
        e.len(g.layouts.len());
        for l in &g.layouts {
            e.str(&l.file);
            e.len(l.blocks.len());
            for (key, off, len) in &l.blocks {
                e.0.extend_from_slice(key);
                e.u64(*off);
                e.u64(*len);
            }
        }
    }
    let sum = Sha256::digest(&e.0);
    e.0.extend_from_slice(&sum);
    debug_assert!(
        e.0.len() <= encoded_len(state),
        "encoded_len covers the state"
    );
    e.0
}

/// The size of `state`'s encoding, or a little more, so that it is
/// written without growing its buffer (a copy of megabytes each time).
fn encoded_len(state: &State) -> usize {
    let strings = |n: usize| n * 4;
    let entries: usize = state
        .entries
        .values()
        .map(|en| {
            strings(6)
                + en.href.len()
                + en.pkgid.len()
                + en.name.len()
                + en.version.len()
                + en.release.len()
                + en.arch.len()
                + 8 * 2
                + 4
                + 16 * en.frags.len()
        })
        .sum();
    let generations: usize = state
        .generations
        .iter()
        .map(|g| {
            64 + 4 * g.packages.len()
                + g.files.iter().map(|f| 4 + f.len()).sum::<usize>()
                + g.layouts
                    .iter()
                    .map(|l| 8 + l.file.len() + l.blocks.len() * (16 + 16))
                    .sum::<usize>()
        })
        .sum();
    128 + state.pack.len() + entries + generations + 32
}

/// Reads `state.bin`; the error says what is wrong.
pub(super) fn decode(bytes: &[u8]) -> Result<State, String> {
    if bytes.len() < MAGIC.len() + 4 + 32 || &bytes[..MAGIC.len()] != MAGIC {
        return Err("not an albs state file".into());
    }
    let (body, sum) = bytes.split_at(bytes.len() - 32);
    let mut d = Dec {
        buf: body,
        pos: MAGIC.len(),
    };
    let format = d.u32()?;
    if format != FORMAT && format != 2 {
        return Err(format!("format {format}, this albs reads 2 and {FORMAT}"));
    }
    if Sha256::digest(body).as_slice() != sum {
        return Err("checksum mismatch (torn or altered file)".into());
    }
    let compression = match d.u8()? {
        0 => MdCompression::Gz,
        1 => MdCompression::Zst,
        c => return Err(format!("unknown compression {c}")),
    };
    let retain = match d.u8()? {
        0 => None,
        _ => Some((d.u64()? as usize, d.u64()?)),
    };
    let next_id = d.u64()?;
    let pack = d.str()?;
    let n = d.len()?;
    let mut keys = Vec::with_capacity(n);
    let mut sorted = Vec::with_capacity(n);
    for _ in 0..n {
        let mut en = Entry {
            href: d.str()?,
            size: d.u64()?,
            mtime_ns: d.u64()? as i64,
            pkgid: d.str()?,
            name: d.str()?,
            epoch: d.u32()?,
            version: d.str()?,
            release: d.str()?,
            arch: d.str()?,
            frags: [Span::default(); 3],
        };
        for s in &mut en.frags {
            *s = Span {
                off: d.u64()?,
                len: d.u64()?,
            };
        }
        let k: Key = en.key().into();
        keys.push(k.clone());
        sorted.push((k, en));
    }
    // Written in key order: built in one pass, without a search per key.
    if !sorted.is_sorted_by(|a, b| a.0 < b.0) {
        return Err("the packages are not in key order".into());
    }
    let entries: BTreeMap<Key, Entry> = sorted.into_iter().collect();
    let ng = d.len()?;
    let mut generations = Vec::with_capacity(ng);
    for _ in 0..ng {
        let id = d.u64()?;
        let published = d.u64()?;
        let superseded = match d.u8()? {
            0 => None,
            _ => Some(d.u64()?),
        };
        let reverted = d.u8()? != 0;
        let signed = d.u8()? != 0;
        // Format 2 kept every generation's list.
        let listed = format == 2 || d.u8()? != 0;
        let np = d.len()?;
        let mut packages = Vec::with_capacity(np);
        for _ in 0..np {
            let i = d.u32()? as usize;
            packages.push(
                keys.get(i)
                    .ok_or_else(|| format!("generation {id} lists unknown package {i}"))?
                    .clone(),
            );
        }
        let nf = d.len()?;
        let files = (0..nf).map(|_| d.str()).collect::<Result<_, _>>()?;
        let nl = d.len()?;
        let mut layouts = Vec::with_capacity(nl);
        for _ in 0..nl {
            let file = d.str()?;
            let nb = d.len()?;
            let mut blocks = Vec::with_capacity(nb);
            for _ in 0..nb {
                let key: BlockKey = d.take(16)?.try_into().expect("16 bytes");
                blocks.push((key, d.u64()?, d.u64()?));
            }
            layouts.push(Layout { file, blocks });
        }
        generations.push(Generation {
            id,
            published,
            superseded,
            reverted,
            signed,
            packages,
            listed,
            files,
            layouts,
        });
    }
    if d.pos != body.len() {
        return Err(format!("{} stray bytes at the end", body.len() - d.pos));
    }
    Ok(State {
        compression,
        retain,
        next_id,
        generations,
        entries,
        pack,
    })
}

/// The append-only file of XML fragments.
#[derive(Debug)]
pub(super) struct Pack {
    pub path: PathBuf,
    file: std::fs::File,
    len: u64,
    dirty: bool,
}

impl Pack {
    /// Opens (or creates) the pack at `path`.
    pub fn open(path: PathBuf) -> std::io::Result<Pack> {
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)?;
        let len = file.metadata()?.len();
        Ok(Pack {
            path,
            file,
            len,
            dirty: false,
        })
    }

    /// Appends `bytes`, returning their offset.
    pub fn append(&mut self, bytes: &[u8]) -> std::io::Result<u64> {
        // Writes go to the end of the file (append mode), wherever an
        // earlier failed write left it.
        let off = self.file.metadata()?.len();
        self.dirty = true;
        let written = self.file.write_all(bytes);
        self.len = self.file.metadata()?.len();
        written?;
        Ok(off)
    }

    /// The pack's length.
    pub fn len(&self) -> u64 {
        self.len
    }

    /// Makes what was appended durable.
    pub fn sync(&mut self) -> std::io::Result<()> {
        if self.dirty {
            self.file.sync_data()?;
            self.dirty = false;
        }
        Ok(())
    }

    /// The whole pack.
    pub fn read(&self) -> std::io::Result<Vec<u8>> {
        std::fs::read(&self.path)
    }
}

/// The state of format 1: one JSON file with the fragments inline.
#[derive(Deserialize)]
pub(super) struct StateV1 {
    pub format: u32,
    pub compression: MdCompression,
    #[serde(default)]
    pub retain: Option<(usize, u64)>,
    pub next_id: u64,
    pub generations: Vec<GenerationV1>,
    pub entries: BTreeMap<String, EntryV1>,
}

#[derive(Deserialize)]
pub(super) struct GenerationV1 {
    pub id: u64,
    pub published: u64,
    pub superseded: Option<u64>,
    pub reverted: bool,
    pub signed: bool,
    pub packages: Vec<String>,
    pub files: Vec<String>,
}

#[derive(Deserialize)]
pub(super) struct EntryV1 {
    pub href: String,
    pub size: u64,
    pub mtime_ns: i64,
    pub pkgid: String,
    pub name: String,
    pub epoch: u32,
    pub version: String,
    pub release: String,
    pub arch: String,
    pub primary: String,
    pub filelists: String,
    pub other: String,
}

/// Converts format 1 state, moving its fragments into `pack`.
pub(super) fn from_v1(old: StateV1, pack: &mut Pack) -> std::io::Result<State> {
    let mut entries: BTreeMap<Key, Entry> = BTreeMap::new();
    let mut buf = Vec::new();
    let base = pack.len();
    for (k, e) in old.entries {
        let mut frags = [Span::default(); 3];
        for (i, f) in [&e.primary, &e.filelists, &e.other].into_iter().enumerate() {
            frags[i] = Span {
                off: base + buf.len() as u64,
                len: f.len() as u64,
            };
            buf.extend_from_slice(f.as_bytes());
        }
        entries.insert(
            k.into(),
            Entry {
                href: e.href,
                size: e.size,
                mtime_ns: e.mtime_ns,
                pkgid: e.pkgid,
                name: e.name,
                epoch: e.epoch,
                version: e.version,
                release: e.release,
                arch: e.arch,
                frags,
            },
        );
    }
    pack.append(&buf)?;
    // The generations share the entry map's keys.
    let shared: HashMap<&str, &Key, FastHash> = entries.keys().map(|k| (&**k, k)).collect();
    let share = |k: String| -> Key {
        shared
            .get(k.as_str())
            .map_or_else(|| k.into(), |&s| s.clone())
    };
    let generations = old
        .generations
        .into_iter()
        .map(|g| Generation {
            id: g.id,
            published: g.published,
            superseded: g.superseded,
            reverted: g.reverted,
            signed: g.signed,
            packages: g.packages.into_iter().map(share).collect(),
            listed: true,
            files: g.files,
            layouts: Vec::new(),
        })
        .collect();
    drop(shared);
    Ok(State {
        compression: old.compression,
        retain: old.retain,
        next_id: old.next_id,
        generations,
        entries,
        pack: pack
            .path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default(),
    })
}

pub(super) use crate::fsutil::write_atomic;

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> State {
        let mut entries = BTreeMap::new();
        for i in 0..3u64 {
            let e = Entry {
                href: format!("Packages/p{i}.rpm"),
                size: 100 + i,
                mtime_ns: -5 + i as i64,
                pkgid: format!("{i:064}"),
                name: format!("p{i}"),
                epoch: i as u32,
                version: "1.0".into(),
                release: "1.el9".into(),
                arch: "x86_64".into(),
                frags: [
                    Span { off: i, len: 1 },
                    Span { off: 7, len: 2 },
                    Span { off: 9, len: 3 },
                ],
            };
            entries.insert(e.key().into(), e);
        }
        let keys: Vec<Key> = entries.keys().cloned().collect();
        State {
            compression: MdCompression::Zst,
            retain: Some((4, 60)),
            next_id: 3,
            generations: vec![Generation {
                id: 2,
                published: 1000,
                superseded: Some(1001),
                reverted: true,
                signed: true,
                packages: vec![keys[2].clone(), keys[0].clone()],
                listed: true,
                files: vec!["a-primary.xml.zst".into()],
                layouts: vec![Layout {
                    file: "a-primary.xml.zst".into(),
                    blocks: vec![([7; 16], 10, 20)],
                }],
            }],
            entries,
            pack: pack_name(4),
        }
    }

    #[test]
    fn state_round_trips_and_damage_is_refused() {
        let s = sample();
        let bytes = encode(&s);
        let back = decode(&bytes).unwrap();
        assert_eq!(encode(&back), bytes);
        assert_eq!(back.generations[0].packages, s.generations[0].packages);
        assert_eq!(back.entries.len(), 3);
        assert_eq!(back.retain, Some((4, 60)));
        assert_eq!(pack_number(&back.pack), 4);
        let mut bad = bytes.clone();
        bad[20] ^= 1;
        assert!(decode(&bad).unwrap_err().contains("checksum"));
        assert!(decode(&bytes[..bytes.len() - 1]).is_err());
        assert!(decode(b"{\"format\":1}").is_err());
    }
}

//! A streaming reader of rpm-md `primary.xml` (plain, gzip, zstd or xz).
//!
//! Only what the solver needs is kept: name, arch, EVR, the eight dependency
//! lists and the files listed in primary. Strings, versions and dependencies
//! are interned into the [`Pool`] as they stream by; the event buffer and the
//! per-package lists are reused, so an entry costs no allocation of its own
//! once its strings have been seen.

use std::fs::File;
use std::io::{self, BufRead, BufReader, Read};
use std::path::Path;
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::thread;

use quick_xml::Reader;
use quick_xml::events::{BytesStart, Event};

use super::RepoError;
use super::dep::Sense;
use super::pool::{DepId, DepKind, DepRec, EvrRec, Interner, Pool, StrId};

/// Most packages the `packages` attribute of `<metadata>` reserves room for.
const MAX_RESERVE: usize = 250_000;

/// Longest version or release accepted; longer ones are taken as corrupt input.
const MAX_VERSION_LEN: usize = 1024;

/// Opens a primary.xml file, recognising gzip, zstd and xz by their magic
/// bytes; decompression runs on its own thread so parsing overlaps it.
pub fn open(path: &Path) -> Result<Box<dyn BufRead + Send>, RepoError> {
    let io_err = |source| RepoError::Io {
        input: path.display().to_string(),
        source,
    };
    let mut file = BufReader::with_capacity(1 << 16, File::open(path).map_err(io_err)?);
    let magic = file.fill_buf().map_err(io_err)?.to_vec();
    let decoder: Box<dyn Read + Send> = if magic.starts_with(&[0x1f, 0x8b]) {
        Box::new(flate2::bufread::MultiGzDecoder::new(file))
    } else if magic.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
        Box::new(zstd::stream::read::Decoder::with_buffer(file).map_err(io_err)?)
    } else if magic.starts_with(&[0xfd, b'7', b'z', b'X', b'Z', 0]) {
        Box::new(liblzma::bufread::XzDecoder::new(file))
    } else {
        return Ok(Box::new(file));
    };
    Ok(Box::new(BufReader::with_capacity(
        1 << 16,
        PipeReader::spawn(decoder),
    )))
}

const CHUNK: usize = 1 << 18;

/// Reads a decoder on a background thread and hands over filled chunks.
struct PipeReader {
    rx: Receiver<io::Result<Vec<u8>>>,
    back: SyncSender<Vec<u8>>,
    cur: Vec<u8>,
    pos: usize,
}

impl PipeReader {
    fn spawn(mut src: Box<dyn Read + Send>) -> PipeReader {
        let (tx, rx) = sync_channel::<io::Result<Vec<u8>>>(4);
        let (back, spare) = sync_channel::<Vec<u8>>(8);
        thread::spawn(move || {
            loop {
                let mut buf = spare.try_recv().unwrap_or_default();
                buf.resize(CHUNK, 0);
                let mut filled = 0;
                let res = loop {
                    match src.read(&mut buf[filled..]) {
                        Ok(0) => break Ok(()),
                        Ok(n) => {
                            filled += n;
                            if filled == buf.len() {
                                break Ok(());
                            }
                        }
                        Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                        Err(e) => break Err(e),
                    }
                };
                buf.truncate(filled);
                let done = filled == 0 || res.is_err();
                let msg = match res {
                    Ok(()) => Ok(buf),
                    Err(e) => Err(e),
                };
                if tx.send(msg).is_err() || done {
                    return;
                }
            }
        });
        PipeReader {
            rx,
            back,
            cur: Vec::new(),
            pos: 0,
        }
    }
}

impl Read for PipeReader {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        if self.pos == self.cur.len() {
            let old = std::mem::take(&mut self.cur);
            let _ = self.back.try_send(old);
            self.pos = 0;
            match self.rx.recv() {
                Ok(Ok(buf)) => self.cur = buf,
                Ok(Err(e)) => return Err(e),
                Err(_) => return Ok(0),
            }
        }
        let n = out.len().min(self.cur.len() - self.pos);
        out[..n].copy_from_slice(&self.cur[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Ctx {
    Top,
    Metadata,
    Package,
    Format,
    Deps(DepKind),
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Capture {
    None,
    Name,
    Arch,
    File,
    PkgId,
}

/// Reads one primary.xml stream into the pool; `input` names it in errors.
/// Returns the number of packages added.
pub fn read_primary<R: BufRead>(
    pool: &mut Pool,
    reader: R,
    input: &str,
) -> Result<usize, RepoError> {
    let mut r = Reader::from_reader(reader);
    r.config_mut().trim_text(false);
    let mut st = State {
        input,
        ctx: Ctx::Top,
        capture: Capture::None,
        text: String::new(),
        name: None,
        arch: None,
        evr: None,
        pkgid: None,
        lists: Default::default(),
        added: 0,
        offset: 0,
        line: 1,
        seen: Interner::default(),
        seen_deps: Vec::new(),
    };
    let mut buf = Vec::with_capacity(1 << 12);
    loop {
        st.offset = r.buffer_position();
        let ev = r
            .read_event_into(&mut buf)
            .map_err(|e| st.err_at(r.error_position(), pool, e.to_string()))?;
        match ev {
            Event::Start(e) => st.start(pool, &e, false)?,
            Event::Empty(e) => st.start(pool, &e, true)?,
            Event::End(e) => st.end(pool, e.local_name().as_ref().as_bytes())?,
            Event::Text(t) if st.capture != Capture::None => {
                st.text.push_str(&t.xml10_content());
            }
            Event::CData(t) if st.capture != Capture::None => {
                st.text.push_str(&t.xml10_content());
            }
            Event::GeneralRef(g) if st.capture != Capture::None => {
                let c = match g.resolve_char_ref() {
                    Ok(Some(c)) => Some(c),
                    _ => match g.xml10_content().as_ref() {
                        "lt" => Some('<'),
                        "gt" => Some('>'),
                        "amp" => Some('&'),
                        "apos" => Some('\''),
                        "quot" => Some('"'),
                        _ => None,
                    },
                };
                match c {
                    Some(c) => st.text.push(c),
                    None => return Err(st.err(pool, "unknown entity reference".into())),
                }
            }
            Event::Eof => break,
            _ => {}
        }
        st.line += count_newlines(&buf);
        buf.clear();
    }
    if st.ctx != Ctx::Top {
        return Err(st.err(pool, "the document ends inside an element".into()));
    }
    pool.reindex();
    Ok(st.added)
}

/// Counts `\n` bytes eight at a time (a word-wide zero-byte test), which
/// keeps line numbers for errors cheap on a 90 MB stream.
fn count_newlines(bytes: &[u8]) -> u64 {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const LOW7: u64 = 0x7f7f_7f7f_7f7f_7f7f;
    let mut chunks = bytes.chunks_exact(8);
    let mut n = 0u64;
    for c in &mut chunks {
        let x = u64::from_le_bytes(c.try_into().expect("8 bytes")) ^ (ONES * u64::from(b'\n'));
        // High bit set in each byte of x that is non-zero; zero bytes stay clear.
        let nonzero = ((x & LOW7) + LOW7) | x;
        n += u64::from((!nonzero & !LOW7).count_ones());
    }
    n + chunks.remainder().iter().filter(|&&b| b == b'\n').count() as u64
}

struct State<'i> {
    input: &'i str,
    ctx: Ctx,
    capture: Capture,
    text: String,
    name: Option<StrId>,
    arch: Option<StrId>,
    evr: Option<EvrRec>,
    pkgid: Option<StrId>,
    lists: [Vec<DepId>; 9],
    added: usize,
    offset: u64,
    line: u64,
    /// Raw attribute text of the entries seen, and the dependency of each.
    seen: Interner,
    seen_deps: Vec<DepId>,
}

fn dep_kind(tag: &[u8]) -> Option<DepKind> {
    Some(match tag {
        b"provides" => DepKind::Provides,
        b"requires" => DepKind::Requires,
        b"conflicts" => DepKind::Conflicts,
        b"obsoletes" => DepKind::Obsoletes,
        b"recommends" => DepKind::Recommends,
        b"suggests" => DepKind::Suggests,
        b"supplements" => DepKind::Supplements,
        b"enhances" => DepKind::Enhances,
        _ => return None,
    })
}

fn bad_version(v: &str) -> bool {
    v.is_empty()
        || v.len() > MAX_VERSION_LEN
        || v.bytes()
            .any(|b| b.is_ascii_whitespace() || b.is_ascii_control())
}

impl State<'_> {
    fn err_at(&self, offset: u64, pool: &Pool, reason: String) -> RepoError {
        RepoError::Parse {
            input: self.input.to_owned(),
            offset,
            line: self.line,
            package: self.name.map(|n| pool.str(n).to_owned()),
            reason,
        }
    }
    fn err(&self, pool: &Pool, reason: String) -> RepoError {
        self.err_at(self.offset, pool, reason)
    }

    fn start(&mut self, pool: &mut Pool, e: &BytesStart<'_>, empty: bool) -> Result<(), RepoError> {
        let local = e.local_name();
        let tag = local.as_ref().as_bytes();
        match (self.ctx, tag) {
            (Ctx::Top, b"metadata") => {
                let count = e
                    .try_get_attribute("packages")
                    .ok()
                    .flatten()
                    .and_then(|a| a.value.parse::<usize>().ok());
                // The attribute is only a hint: a damaged or hostile file
                // claiming millions of packages must not make the reader
                // allocate gigabytes up front, so the
                // reservation stops at a size above any real repository.
                if let Some(n) = count.map(|n| n.min(MAX_RESERVE)) {
                    pool.reserve(n);
                    self.seen.reserve(n * 3);
                }
                if !empty {
                    self.ctx = Ctx::Metadata;
                }
            }
            (Ctx::Metadata, b"package") => {
                self.name = None;
                self.arch = None;
                self.evr = None;
                self.pkgid = None;
                self.lists.iter_mut().for_each(Vec::clear);
                if empty {
                    return Err(self.err(pool, "empty <package/>".into()));
                }
                self.ctx = Ctx::Package;
            }
            (Ctx::Package, b"name") => self.begin_text(Capture::Name, empty),
            (Ctx::Package, b"arch") => self.begin_text(Capture::Arch, empty),
            (Ctx::Package, b"version") => {
                let (mut epoch, mut ver, mut rel) = (None, None, None);
                for a in e.attributes().with_checks(false) {
                    let a = a.map_err(|err| self.err(pool, err.to_string()))?;
                    match a.key.local_name().as_ref().as_bytes() {
                        b"epoch" => epoch = Some(self.epoch(pool, &a.value)?),
                        b"ver" => ver = Some(self.version(pool, &a.value)?),
                        b"rel" => rel = Some(self.version(pool, &a.value)?),
                        _ => {}
                    }
                }
                let Some(version) = ver else {
                    return Err(self.err(pool, "<version> has no ver attribute".into()));
                };
                self.evr = Some(EvrRec {
                    epoch: Some(epoch.unwrap_or(0)),
                    version,
                    release: rel,
                });
            }
            (Ctx::Package, b"checksum")
                if !empty
                    && e.try_get_attribute("pkgid")
                        .ok()
                        .flatten()
                        .is_some_and(|a| a.value.as_ref() == "YES") =>
            {
                self.begin_text(Capture::PkgId, empty)
            }
            (
                Ctx::Package,
                b"checksum" | b"summary" | b"description" | b"packager" | b"url" | b"time"
                | b"size" | b"location",
            ) => {}
            (Ctx::Package, b"format") => {
                if !empty {
                    self.ctx = Ctx::Format;
                }
            }
            (Ctx::Format, b"file") => self.begin_text(Capture::File, empty),
            (Ctx::Format, t) if dep_kind(t).is_some() => {
                if !empty {
                    self.ctx = Ctx::Deps(dep_kind(t).expect("checked"));
                }
            }
            (
                Ctx::Format,
                b"license" | b"vendor" | b"group" | b"buildhost" | b"sourcerpm" | b"header-range",
            ) => {}
            (Ctx::Deps(kind), b"entry") => self.entry(pool, e, kind)?,
            _ => {
                let name = e.name().as_ref().to_owned();
                return Err(self.err(pool, format!("unexpected element <{name}>")));
            }
        }
        Ok(())
    }

    fn begin_text(&mut self, what: Capture, empty: bool) {
        self.text.clear();
        if !empty {
            self.capture = what;
        }
    }

    fn epoch(&self, pool: &Pool, v: &str) -> Result<u32, RepoError> {
        v.parse()
            .map_err(|_| self.err(pool, format!("epoch {v:?} is not a number below 2^32")))
    }

    fn version(&self, pool: &mut Pool, v: &str) -> Result<StrId, RepoError> {
        if bad_version(v) {
            let shown: String = v.chars().take(64).collect();
            return Err(self.err(
                pool,
                format!("absurd version or release {shown:?} (empty, over {MAX_VERSION_LEN} bytes, or with spaces)"),
            ));
        }
        Ok(pool.intern(v))
    }

    fn entry(
        &mut self,
        pool: &mut Pool,
        e: &BytesStart<'_>,
        kind: DepKind,
    ) -> Result<(), RepoError> {
        // Most entries repeat (`libc6 >= 2.34` thousands of times): the raw
        // attribute text maps straight to its dependency.
        let raw = e.attributes_raw();
        if let Some(k) = self.seen.lookup(raw) {
            self.lists[kind.slot()].push(self.seen_deps[k as usize]);
            return Ok(());
        }
        let id = self.parse_entry(pool, e)?;
        self.seen.intern(raw);
        self.seen_deps.push(id);
        self.lists[kind.slot()].push(id);
        Ok(())
    }

    fn parse_entry(&mut self, pool: &mut Pool, e: &BytesStart<'_>) -> Result<DepId, RepoError> {
        let mut name = None;
        let mut sense = Sense::ANY;
        let (mut epoch, mut ver, mut rel) = (None, None, None);
        for a in e.attributes().with_checks(false) {
            let a = a.map_err(|err| self.err(pool, err.to_string()))?;
            let value: std::borrow::Cow<'_, str> = if a.value.contains('&') {
                match quick_xml::escape::unescape(&a.value) {
                    Ok(v) => std::borrow::Cow::Owned(v.into_owned()),
                    Err(err) => return Err(self.err(pool, err.to_string())),
                }
            } else {
                a.value
            };
            match a.key.local_name().as_ref().as_bytes() {
                b"name" => name = Some(value),
                b"flags" => {
                    sense = Sense::from_rpmmd(&value).ok_or_else(|| {
                        self.err(pool, format!("unknown flags {value:?} on an entry"))
                    })?;
                }
                b"epoch" => epoch = Some(self.epoch(pool, &value)?),
                b"ver" => ver = Some(self.version(pool, &value)?),
                b"rel" => rel = Some(self.version(pool, &value)?),
                _ => {}
            }
        }
        let Some(name) = name.filter(|n| !n.is_empty()) else {
            return Err(self.err(pool, "an <rpm:entry> without a name".into()));
        };
        let id = if name.starts_with('(') {
            pool.intern_rich(&name)
                .map_err(|err| self.err(pool, err.to_string()))?
        } else {
            let evr = if sense == Sense::ANY {
                None
            } else {
                let Some(version) = ver else {
                    return Err(self.err(pool, format!("entry {name:?} has flags but no ver")));
                };
                Some(pool.intern_evr(EvrRec {
                    epoch,
                    version,
                    release: rel,
                }))
            };
            let name = pool.intern(&name);
            pool.intern_dep(DepRec {
                name,
                sense,
                evr,
                rich: None,
            })
        };
        Ok(id)
    }

    fn end(&mut self, pool: &mut Pool, tag: &[u8]) -> Result<(), RepoError> {
        if self.capture != Capture::None {
            let what = std::mem::replace(&mut self.capture, Capture::None);
            let text = self.text.trim();
            if what == Capture::PkgId {
                // Only used to match filelists; an empty one is not worth refusing.
                self.pkgid = (!text.is_empty()).then(|| pool.intern(text));
                return Ok(());
            }
            if text.is_empty() {
                return Err(self.err(pool, format!("empty <{}>", String::from_utf8_lossy(tag))));
            }
            let id = pool.intern(text);
            match what {
                Capture::Name => self.name = Some(id),
                Capture::Arch => self.arch = Some(id),
                Capture::File => {
                    let dep = pool.intern_dep(DepRec {
                        name: id,
                        sense: Sense::ANY,
                        evr: None,
                        rich: None,
                    });
                    self.lists[DepKind::Files.slot()].push(dep);
                }
                Capture::None | Capture::PkgId => {}
            }
            return Ok(());
        }
        self.ctx = match (self.ctx, tag) {
            (Ctx::Deps(k), b"entry") => Ctx::Deps(k),
            (Ctx::Deps(_), _) => Ctx::Format,
            (Ctx::Format, b"format") => Ctx::Package,
            (Ctx::Package, b"package") => {
                self.finish_package(pool)?;
                Ctx::Metadata
            }
            (Ctx::Metadata, b"metadata") => Ctx::Top,
            (ctx, _) => ctx,
        };
        Ok(())
    }

    fn finish_package(&mut self, pool: &mut Pool) -> Result<(), RepoError> {
        let Some(name) = self.name else {
            return Err(self.err(pool, "a <package> without <name>".into()));
        };
        let Some(arch) = self.arch else {
            return Err(self.err(pool, "package has no <arch>".into()));
        };
        let Some(evr) = self.evr else {
            return Err(self.err(pool, "package has no <version>".into()));
        };
        let evr = pool.intern_evr(evr);
        // The implicit `name = evr` provide, as rpm adds it to every package.
        let own = pool.intern_dep(DepRec {
            name,
            sense: Sense::EQUAL,
            evr: Some(evr),
            rich: None,
        });
        let provides = &mut self.lists[DepKind::Provides.slot()];
        if !provides.contains(&own) {
            provides.push(own);
        }
        let id = pool.add_package(name, arch, evr, &self.lists);
        if let Some(pkgid) = self.pkgid {
            pool.set_pkgid(id, pkgid);
        }
        self.added += 1;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::*;

    const XML: &str = r#"<?xml version="1.0"?>
<metadata xmlns="http://linux.duke.edu/metadata/common" xmlns:rpm="http://linux.duke.edu/metadata/rpm" packages="2">
<package type="rpm"><name>a&amp;b</name><arch>noarch</arch><version epoch="2" ver="1.0~rc1" rel="3^git"/>
<format><rpm:requires><rpm:entry name="(c &gt;= 2 or d)"/><rpm:entry name="e" flags="LT" ver="5"></rpm:entry></rpm:requires>
<file>/usr/bin/a</file></format></package>
<package type="rpm"><name><![CDATA[c]]></name><arch>x86_64</arch><version ver="2" rel="1"/><format/></package>
</metadata>"#;

    fn check(pool: &Pool) {
        assert_eq!(pool.len(), 2);
        let a = PkgId(0);
        assert_eq!(pool.nevra(a), "a&b-2:1.0~rc1-3^git.noarch");
        let reqs = pool.deps(a, DepKind::Requires);
        assert_eq!(reqs.len(), 2);
        assert!(pool.rich(reqs[0]).is_some());
        assert_eq!(pool.dep_str(reqs[1]), "e < 5");
        let file = pool.lookup("/usr/bin/a").expect("file interned");
        assert_eq!(pool.providers_of_name(file).len(), 1);
        // The implicit self-provide.
        let own = pool.lookup("c").expect("c");
        assert_eq!(pool.providers_of_name(own).len(), 1);
    }

    use super::super::pool::PkgId;

    #[test]
    fn counts_newlines_like_a_byte_loop() {
        let mut text = Vec::new();
        for i in 0..300u32 {
            text.push(if i % 7 == 0 { b'\n' } else { (i % 251) as u8 });
            let want = text.iter().filter(|&&b| b == b'\n').count() as u64;
            assert_eq!(count_newlines(&text), want);
        }
        assert_eq!(count_newlines(&[b'\n'; 17]), 17);
        assert_eq!(count_newlines(&[0x8a; 16]), 0);
    }

    #[test]
    fn reads_entities_cdata_and_files() {
        let mut pool = Pool::new();
        read_primary(&mut pool, XML.as_bytes(), "inline").unwrap();
        check(&pool);
    }

    #[test]
    fn reads_zstd_and_xz() {
        let dir = tempfile::tempdir().unwrap();
        let zst = dir.path().join("primary.xml.zst");
        std::fs::write(&zst, zstd::encode_all(XML.as_bytes(), 3).unwrap()).unwrap();
        let xz = dir.path().join("primary.xml.xz");
        let mut enc = liblzma::write::XzEncoder::new(std::fs::File::create(&xz).unwrap(), 6);
        enc.write_all(XML.as_bytes()).unwrap();
        enc.finish().unwrap();
        for path in [zst, xz] {
            check(&Pool::from_primary(&path).unwrap());
        }
        // A truncated stream is an error, not a panic.
        let bad = dir.path().join("bad.xml.zst");
        let full = zstd::encode_all(XML.as_bytes(), 3).unwrap();
        std::fs::write(&bad, &full[..full.len() / 2]).unwrap();
        assert!(Pool::from_primary(&bad).is_err());
    }
}

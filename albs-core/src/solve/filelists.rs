//! A streaming reader of rpm-md `filelists.xml` (plain, gzip, zstd or xz).
//!
//! primary.xml lists only some files (`/usr/bin/*`, `/etc/*`, ...); the
//! complete lists live in filelists.xml:
//!
//! ```xml
//! <filelists packages="1">
//!   <package pkgid="…" name="foo" arch="x86_64">
//!     <version epoch="0" ver="1.0" rel="1"/>
//!     <file>/usr/lib/foo/plugin.so</file><file type="dir">/usr/lib/foo</file>
//!   </package>
//! </filelists>
//! ```
//!
//! Every entry, directories and ghosts included, becomes a file provide of
//! a package among those the caller names (the ones of the same
//! repository): the package whose primary.xml `pkgid` (checksum) is the
//! entry's, or else one with the same name, arch and EVR and no other
//! `pkgid` recorded. Entries of packages not in the pool are skipped.

use std::collections::HashMap;
use std::io::BufRead;
use std::ops::Range;
use std::path::Path;

use quick_xml::Reader;
use quick_xml::events::{BytesStart, Event};

use super::RepoError;
use super::dep::Sense;
use super::pool::{DepId, DepKind, DepRec, EvrId, EvrRec, PkgId, Pool, StrId};

#[derive(Clone, Copy, PartialEq, Eq)]
enum Ctx {
    Top,
    Filelists,
    Package,
}

struct State<'i> {
    input: &'i str,
    ctx: Ctx,
    line: u64,
    offset: u64,
    /// The package entry being read (for errors), its pkgid and the packages it matches.
    name: Option<String>,
    pkgid: Option<String>,
    targets: Vec<PkgId>,
    in_file: bool,
    text: String,
    files: Vec<DepId>,
    matched: usize,
}

impl State<'_> {
    fn err(&self, reason: impl Into<String>) -> RepoError {
        RepoError::Parse {
            input: self.input.to_owned(),
            line: self.line,
            offset: self.offset,
            package: self.name.clone(),
            reason: reason.into(),
        }
    }
}

/// Reads one filelists.xml stream and adds its files to the matching
/// packages among `packages` (name, arch and EVR must agree); `input` names
/// the stream in errors. Returns how many package entries matched.
pub fn read_filelists<R: BufRead>(
    pool: &mut Pool,
    reader: R,
    input: &str,
    packages: Range<u32>,
) -> Result<usize, RepoError> {
    let mut index = Index::default();
    for i in packages.start..packages.end.min(pool.len() as u32) {
        let (id, p) = (PkgId(i), pool.package(PkgId(i)));
        let pkgid = pool.pkgid(id);
        index
            .by_nevra
            .entry((p.name, p.arch, p.evr))
            .or_default()
            .push((id, pkgid.is_some()));
        if let Some(k) = pkgid {
            index.by_pkgid.entry(k).or_default().push(id);
        }
    }
    let mut r = Reader::from_reader(reader);
    r.config_mut().trim_text(false);
    let mut st = State {
        input,
        ctx: Ctx::Top,
        line: 1,
        offset: 0,
        name: None,
        pkgid: None,
        targets: Vec::new(),
        in_file: false,
        text: String::new(),
        files: Vec::new(),
        matched: 0,
    };
    let mut key: Option<(StrId, StrId)> = None;
    let mut buf = Vec::with_capacity(1 << 12);
    loop {
        st.offset = r.buffer_position();
        let ev = r
            .read_event_into(&mut buf)
            .map_err(|e| st.err(e.to_string()))?;
        match ev {
            Event::Start(e) => key = start(&mut st, pool, &e, false, key, &index)?,
            Event::Empty(e) => key = start(&mut st, pool, &e, true, key, &index)?,
            Event::End(e) => {
                let local = e.local_name();
                match (st.ctx, local.as_ref().as_bytes()) {
                    (Ctx::Package, b"file") if st.in_file => {
                        st.in_file = false;
                        let path = st.text.trim();
                        if path.is_empty() {
                            return Err(st.err("empty <file>"));
                        }
                        if !st.targets.is_empty() {
                            let name = pool.intern(path);
                            st.files.push(pool.intern_dep(DepRec {
                                name,
                                sense: Sense::ANY,
                                evr: None,
                                rich: None,
                            }));
                        }
                    }
                    (Ctx::Package, b"package") => {
                        finish(&mut st, pool);
                        key = None;
                        st.ctx = Ctx::Filelists;
                    }
                    (Ctx::Filelists, b"filelists") => st.ctx = Ctx::Top,
                    _ => {}
                }
            }
            Event::Text(t) if st.in_file => st.text.push_str(&t.xml10_content()),
            Event::CData(t) if st.in_file => st.text.push_str(&t.xml10_content()),
            Event::GeneralRef(g) if st.in_file => {
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
                    None => return Err(st.err("unknown entity reference")),
                }
            }
            Event::Eof => break,
            _ => {}
        }
        st.line += buf.iter().filter(|&&b| b == b'\n').count() as u64;
        buf.clear();
    }
    if st.ctx != Ctx::Top {
        return Err(st.err("the document ends inside an element"));
    }
    pool.reindex();
    Ok(st.matched)
}

/// The packages filelists entries may belong to.
#[derive(Default)]
struct Index {
    /// By name, arch and EVR, with whether primary recorded a pkgid.
    by_nevra: HashMap<(StrId, StrId, EvrId), Vec<(PkgId, bool)>>,
    by_pkgid: HashMap<StrId, Vec<PkgId>>,
}

fn start(
    st: &mut State<'_>,
    pool: &mut Pool,
    e: &BytesStart<'_>,
    empty: bool,
    key: Option<(StrId, StrId)>,
    index: &Index,
) -> Result<Option<(StrId, StrId)>, RepoError> {
    let attr = |st: &State<'_>, name: &str| -> Result<Option<String>, RepoError> {
        match e.try_get_attribute(name) {
            Ok(Some(a)) => a
                .normalized_value(quick_xml::XmlVersion::Implicit1_0)
                .map(|v| Some(v.into_owned()))
                .map_err(|err| st.err(err.to_string())),
            Ok(None) => Ok(None),
            Err(err) => Err(st.err(err.to_string())),
        }
    };
    let local = e.local_name();
    match (st.ctx, local.as_ref().as_bytes()) {
        (Ctx::Top, b"filelists") => {
            if !empty {
                st.ctx = Ctx::Filelists;
            }
        }
        (Ctx::Filelists, b"package") => {
            st.name = None;
            st.targets.clear();
            st.files.clear();
            let name = attr(st, "name")?.filter(|n| !n.is_empty());
            let Some(name) = name else {
                return Err(st.err("a <package> without a name attribute"));
            };
            st.name = Some(name.clone());
            st.pkgid = attr(st, "pkgid")?.filter(|k| !k.is_empty());
            let Some(arch) = attr(st, "arch")?.filter(|a| !a.is_empty()) else {
                return Err(st.err("a <package> without an arch attribute"));
            };
            if !empty {
                st.ctx = Ctx::Package;
            }
            let (name, arch) = (pool.intern(&name), pool.intern(&arch));
            return Ok(Some((name, arch)));
        }
        (Ctx::Package, b"version") => {
            let Some((name, arch)) = key else {
                return Err(st.err("<version> outside a package"));
            };
            let epoch = match attr(st, "epoch")? {
                None => 0,
                Some(v) => v
                    .parse()
                    .map_err(|_| st.err(format!("epoch {v:?} is not a number below 2^32")))?,
            };
            let Some(ver) = attr(st, "ver")?.filter(|v| !v.is_empty()) else {
                return Err(st.err("<version> has no ver attribute"));
            };
            let rel = attr(st, "rel")?;
            let rec = EvrRec {
                epoch: Some(epoch),
                version: pool.intern(&ver),
                release: rel.map(|r| pool.intern(&r)),
            };
            let evr = pool.intern_evr(rec);
            let by_pkgid = st
                .pkgid
                .as_deref()
                .and_then(|k| pool.lookup(k))
                .and_then(|k| index.by_pkgid.get(&k));
            st.targets = match by_pkgid {
                Some(hits) => hits.clone(),
                None => {
                    // Without a pkgid of its own, a package of the same NEVRA
                    // matches; one whose recorded pkgid differs is another build.
                    let with_pkgid_ok = st.pkgid.is_none();
                    index
                        .by_nevra
                        .get(&(name, arch, evr))
                        .map(|v| {
                            v.iter()
                                .filter(|&&(_, has)| with_pkgid_ok || !has)
                                .map(|&(p, _)| p)
                                .collect()
                        })
                        .unwrap_or_default()
                }
            };
        }
        (Ctx::Package, b"file") => {
            st.text.clear();
            if empty {
                return Err(st.err("empty <file/>"));
            }
            st.in_file = true;
        }
        _ => {
            let name = e.name().as_ref().to_owned();
            return Err(st.err(format!("unexpected element <{name}>")));
        }
    }
    Ok(key)
}

/// Merges the collected files into the target packages' file lists.
fn finish(st: &mut State<'_>, pool: &mut Pool) {
    if st.targets.is_empty() {
        return;
    }
    st.matched += 1;
    for &pkg in &st.targets {
        let mut all: Vec<DepId> = pool.deps(pkg, DepKind::Files).to_vec();
        all.extend_from_slice(&st.files);
        all.sort_unstable();
        all.dedup();
        pool.set_deps(pkg, DepKind::Files, &all);
    }
    st.files.clear();
}

impl Pool {
    /// Adds the files of a filelists.xml file (compressed or not) to the
    /// packages of the pool with the same name, arch and EVR; returns how
    /// many package entries matched.
    pub fn add_filelists(&mut self, path: &Path) -> Result<usize, RepoError> {
        let reader = super::rpmmd::open(path)?;
        let n = self.len() as u32;
        read_filelists(self, reader, &path.display().to_string(), 0..n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::solve::{Job, Solver};

    const PRIMARY: &str = r#"<?xml version="1.0"?>
<metadata xmlns="http://linux.duke.edu/metadata/common" xmlns:rpm="http://linux.duke.edu/metadata/rpm" packages="3">
<package type="rpm"><name>app</name><arch>x86_64</arch><version epoch="0" ver="1" rel="1"/>
<format><rpm:requires><rpm:entry name="/usr/libexec/foo/helper"/></rpm:requires></format></package>
<package type="rpm"><name>foo</name><arch>x86_64</arch><version epoch="1" ver="2.0" rel="3"/>
<format><file>/usr/bin/foo</file></format></package>
<package type="rpm"><name>foo</name><arch>i686</arch><version epoch="1" ver="2.0" rel="3"/><format/></package>
</metadata>"#;

    const FILELISTS: &str = r#"<?xml version="1.0"?>
<filelists xmlns="http://linux.duke.edu/metadata/filelists" packages="3">
<package pkgid="aa" name="foo" arch="x86_64"><version epoch="1" ver="2.0" rel="3"/>
<file>/usr/bin/foo</file><file type="dir">/usr/libexec/foo</file><file>/usr/libexec/foo/helper</file>
<file>/usr/share/a&amp;b</file></package>
<package pkgid="bb" name="foo" arch="i686"><version epoch="1" ver="2.0" rel="4"/><file>/only/other/release</file></package>
<package pkgid="cc" name="ghost" arch="x86_64"><version epoch="0" ver="1" rel="1"/><file>/x</file></package>
</filelists>"#;

    fn providers(pool: &Pool, path: &str) -> Vec<String> {
        pool.lookup(path)
            .map(|id| {
                pool.providers_of_name(id)
                    .iter()
                    .map(|&(p, _)| pool.nevra(p))
                    .collect()
            })
            .unwrap_or_default()
    }

    #[test]
    fn file_requires_resolve_only_with_filelists() {
        let mut pool = Pool::new();
        super::super::rpmmd::read_primary(&mut pool, PRIMARY.as_bytes(), "primary").unwrap();
        assert!(
            Solver::new(&pool)
                .solve(&[Job::Install("app".into())])
                .is_err()
        );
        let n = pool.len() as u32;
        let matched = read_filelists(&mut pool, FILELISTS.as_bytes(), "filelists", 0..n).unwrap();
        assert_eq!(matched, 1, "only foo.x86_64 has the same EVR");
        assert_eq!(
            providers(&pool, "/usr/libexec/foo/helper"),
            ["foo-1:2.0-3.x86_64"]
        );
        assert_eq!(providers(&pool, "/usr/libexec/foo"), ["foo-1:2.0-3.x86_64"]);
        assert_eq!(providers(&pool, "/usr/share/a&b"), ["foo-1:2.0-3.x86_64"]);
        // The primary file is kept once, not duplicated.
        assert_eq!(providers(&pool, "/usr/bin/foo"), ["foo-1:2.0-3.x86_64"]);
        assert!(providers(&pool, "/only/other/release").is_empty());
        assert!(providers(&pool, "/x").is_empty());
        let sol = Solver::new(&pool)
            .solve(&[Job::Install("app".into())])
            .unwrap();
        let mut got: Vec<String> = sol.packages.iter().map(|&p| pool.nevra(p)).collect();
        got.sort();
        assert_eq!(got, ["app-1-1.x86_64", "foo-1:2.0-3.x86_64"]);
    }

    #[test]
    fn repo_dir_picks_up_filelists() {
        let dir = tempfile::tempdir().unwrap();
        let rd = dir.path().join("repodata");
        std::fs::create_dir(&rd).unwrap();
        std::fs::write(rd.join("abc-primary.xml"), PRIMARY).unwrap();
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        std::io::Write::write_all(&mut gz, FILELISTS.as_bytes()).unwrap();
        std::fs::write(rd.join("def-filelists.xml.gz"), gz.finish().unwrap()).unwrap();
        let mut pool = Pool::new();
        // Another repository loaded first with the same NEVRA gets no files.
        super::super::rpmmd::read_primary(&mut pool, PRIMARY.as_bytes(), "other").unwrap();
        pool.add_repo(dir.path()).unwrap();
        let helper = providers(&pool, "/usr/libexec/foo/helper");
        assert_eq!(helper.len(), 1, "{helper:?}");
        let id = pool.lookup("/usr/libexec/foo/helper").unwrap();
        assert_eq!(pool.providers_of_name(id)[0].0, PkgId(4));
    }

    #[test]
    fn pkgid_tells_builds_of_one_nevra_apart() {
        let pkg = |sum: &str| {
            format!(
                "<package type=\"rpm\"><name>foo</name><arch>noarch</arch>\
                 <version epoch=\"0\" ver=\"1\" rel=\"1\"/>\
                 <checksum type=\"sha256\" pkgid=\"YES\">{sum}</checksum><format/></package>"
            )
        };
        let primary = format!(
            "<metadata packages=\"3\">{}{}{}</metadata>",
            pkg("aaa"),
            pkg("bbb"),
            "<package type=\"rpm\"><name>foo</name><arch>noarch</arch>\
             <version epoch=\"0\" ver=\"1\" rel=\"1\"/><format/></package>"
        );
        let mut pool = Pool::new();
        super::super::rpmmd::read_primary(&mut pool, primary.as_bytes(), "p").unwrap();
        assert_eq!(pool.pkgid(PkgId(1)).map(|k| pool.str(k)), Some("bbb"));
        assert_eq!(pool.pkgid(PkgId(2)), None);
        let fl = r#"<filelists>
<package pkgid="bbb" name="foo" arch="noarch"><version epoch="0" ver="1" rel="1"/><file>/b</file></package>
<package pkgid="zzz" name="foo" arch="noarch"><version epoch="0" ver="1" rel="1"/><file>/z</file></package>
<package name="foo" arch="noarch"><version epoch="0" ver="1" rel="1"/><file>/any</file></package>
</filelists>"#;
        let m = read_filelists(&mut pool, fl.as_bytes(), "f", 0..3).unwrap();
        assert_eq!(m, 3);
        let owners = |path: &str| -> Vec<PkgId> {
            let mut v: Vec<PkgId> = pool
                .providers_of_name(pool.lookup(path).unwrap())
                .iter()
                .map(|&(p, _)| p)
                .collect();
            v.sort();
            v
        };
        assert_eq!(owners("/b"), [PkgId(1)]);
        // An unknown pkgid goes to the build without a recorded pkgid.
        assert_eq!(owners("/z"), [PkgId(2)]);
        // No pkgid at all: every build of that NEVRA.
        assert_eq!(owners("/any"), [PkgId(0), PkgId(1), PkgId(2)]);
    }

    #[test]
    fn malformed_filelists_name_the_input_and_package() {
        let mut pool = Pool::new();
        let bad = r#"<filelists><package name="foo" arch="x86_64"><version ver="1"/><file></file></package></filelists>"#;
        let err = read_filelists(&mut pool, bad.as_bytes(), "fl.xml", 0..0)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("fl.xml") && err.contains("foo") && err.contains("empty"),
            "{err}"
        );
        let bad = r#"<filelists><package arch="x86_64"></package></filelists>"#;
        let err = read_filelists(&mut pool, bad.as_bytes(), "fl.xml", 0..0).unwrap_err();
        assert!(err.to_string().contains("name"), "{err}");
        let bad = r#"<filelists><package name="a" arch="b"><version ver="1" epoch="x"/>"#;
        assert!(read_filelists(&mut pool, bad.as_bytes(), "fl.xml", 0..0).is_err());
        let truncated = r#"<filelists><package name="a" arch="b">"#;
        assert!(read_filelists(&mut pool, truncated.as_bytes(), "fl.xml", 0..0).is_err());
    }
}

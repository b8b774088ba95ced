//! An rpm-md repository writer: the `repodata/` that dnf, libsolv and the
//! [solver](crate::solve) read, made from `.rpm` files.
//!
//! [`write_repo`] reads every package header first, so a bad input fails
//! before anything is written; it then writes `primary`, `filelists` and
//! `other` (gzip, named by their sha256) and last `repomd.xml`, through a
//! temporary file and a rename, so a reader sees either the old repository
//! or the new one, never half of one.

use std::collections::HashSet;
use std::fmt::Write as _;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::time::UNIX_EPOCH;

mod chunked;
mod publish;
mod state;

pub use publish::{
    MdFile, Published, Repo, RepoError, RepoPackage, RetainPolicy, STATE_DIR, Staged, SyncSummary,
    decompress, verify_repo,
};

use flate2::Compression;
use flate2::write::GzEncoder;
use rpm::{DependencyFlags, FileFlags, FileType};
use sha2::{Digest, Sha256};

/// Why a repository could not be written.
#[derive(Debug, thiserror::Error)]
pub enum RepoWriteError {
    /// A file could not be read or written.
    #[error("{input}: {source}")]
    Io {
        /// The file or directory.
        input: String,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// An input is not a readable RPM package.
    #[error("{input} is not a readable RPM package: {reason}")]
    Package {
        /// The file.
        input: String,
        /// What is wrong.
        reason: String,
    },
    /// An input package is not inside the repository directory, so it has
    /// no location relative to it.
    #[error("{input} is not inside the repository directory {dir}")]
    OutsideRepo {
        /// The package file.
        input: String,
        /// The repository directory.
        dir: String,
    },
}

/// One metadata file listed in `repomd.xml`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RepoData {
    /// Its type: `primary`, `filelists` or `other`.
    pub kind: &'static str,
    /// Its location, relative to the repository directory.
    pub href: String,
    /// The sha256 of the compressed file, in hex.
    pub checksum: String,
    /// The sha256 of the uncompressed content, in hex.
    pub open_checksum: String,
    /// The size of the compressed file.
    pub size: u64,
    /// The size of the uncompressed content.
    pub open_size: u64,
}

/// What [`write_repo`] wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RepoSummary {
    /// How many packages the repository lists.
    pub packages: usize,
    /// The `repomd.xml` written.
    pub repomd: PathBuf,
    /// The metadata files, in the order `repomd.xml` lists them.
    pub data: Vec<RepoData>,
}

/// The namespaces of rpm-md.
const NS_COMMON: &str = "http://linux.duke.edu/metadata/common";
const NS_RPM: &str = "http://linux.duke.edu/metadata/rpm";
const NS_FILELISTS: &str = "http://linux.duke.edu/metadata/filelists";
const NS_OTHER: &str = "http://linux.duke.edu/metadata/other";
const NS_REPO: &str = "http://linux.duke.edu/metadata/repo";

/// A dependency as rpm-md lists it.
struct Dep {
    name: String,
    flags: Option<&'static str>,
    epoch: String,
    ver: String,
    rel: Option<String>,
    pre: bool,
}

/// A file of a package.
struct File {
    path: String,
    kind: Option<&'static str>,
}

/// Everything the metadata says about one package.
struct Pkg {
    name: String,
    arch: String,
    epoch: u32,
    version: String,
    release: String,
    pkgid: String,
    summary: String,
    description: String,
    packager: String,
    url: String,
    file_time: u64,
    build_time: u64,
    package_size: u64,
    installed_size: u64,
    archive_size: u64,
    href: String,
    license: String,
    vendor: String,
    group: String,
    buildhost: String,
    sourcerpm: String,
    header_start: u64,
    header_end: u64,
    deps: Vec<(&'static str, Vec<Dep>)>,
    files: Vec<File>,
    changelogs: Vec<rpm::ChangelogEntry>,
}

/// Writes rpm-md metadata for `rpms` into `dir/repodata/`, in the format
/// createrepo_c writes; every package must be inside `dir` (for example in
/// `dir/Packages/`). Metadata files of an earlier repository in `dir` are
/// removed once the new `repomd.xml` is in place; on error the earlier
/// repository is left as it was.
pub fn write_repo(dir: &Path, rpms: &[PathBuf]) -> Result<RepoSummary, RepoWriteError> {
    let io = |p: &Path| {
        let input = p.display().to_string();
        move |source| RepoWriteError::Io { input, source }
    };
    let root = dir.canonicalize().map_err(io(dir))?;
    let mut pkgs = Vec::with_capacity(rpms.len());
    for p in rpms {
        pkgs.push(read_package(&root, p)?);
    }

    let repodata = root.join("repodata");
    std::fs::create_dir_all(&repodata).map_err(io(&repodata))?;
    let mut data = Vec::new();
    for (kind, xml) in [
        ("primary", primary_xml(&pkgs)),
        ("filelists", filelists_xml(&pkgs)),
        ("other", other_xml(&pkgs)),
    ] {
        data.push(write_data(&repodata, kind, xml.as_bytes())?);
    }

    let timestamp = std::time::SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let repomd = repomd_xml(&data, timestamp);
    let final_path = repodata.join("repomd.xml");
    let mut tmp = tempfile::NamedTempFile::new_in(&repodata).map_err(io(&repodata))?;
    served_mode(tmp.as_file()).map_err(io(tmp.path()))?;
    tmp.write_all(repomd.as_bytes())
        .and_then(|()| tmp.as_file().sync_all())
        .map_err(io(tmp.path()))?;
    tmp.persist(&final_path)
        .map_err(|e| io(&final_path)(e.error))?;

    // The earlier repository's metadata files are no longer referenced.
    let keep: HashSet<&str> = data
        .iter()
        .filter_map(|d| d.href.strip_prefix("repodata/"))
        .collect();
    for e in std::fs::read_dir(&repodata).map_err(io(&repodata))? {
        let e = e.map_err(io(&repodata))?;
        let name = e.file_name().to_string_lossy().into_owned();
        let ours = ["-primary.xml.gz", "-filelists.xml.gz", "-other.xml.gz"]
            .iter()
            .any(|s| name.ends_with(s));
        if ours && !keep.contains(name.as_str()) {
            std::fs::remove_file(e.path()).map_err(io(&e.path()))?;
        }
    }

    Ok(RepoSummary {
        packages: pkgs.len(),
        repomd: final_path,
        data,
    })
}

/// How metadata files are compressed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MdCompression {
    /// gzip (`.xml.gz`), what every rpm-md reader takes; the default.
    #[default]
    Gz,
    /// Zstandard (`.xml.zst`): faster to write and read; librepo and libsolv
    /// built with zstd (dnf 4.14 on Debian 12 is) read it.
    Zst,
}

impl MdCompression {
    /// The file name suffix after `.xml`.
    pub fn extension(self) -> &'static str {
        match self {
            MdCompression::Gz => "gz",
            MdCompression::Zst => "zst",
        }
    }

    /// Compresses `data`.
    pub(crate) fn compress(self, data: &[u8]) -> std::io::Result<Vec<u8>> {
        match self {
            MdCompression::Gz => {
                let mut gz = GzEncoder::new(
                    Vec::with_capacity(data.len() / 4 + 64),
                    Compression::default(),
                );
                gz.write_all(data)?;
                gz.finish()
            }
            MdCompression::Zst => zstd::bulk::compress(data, 3),
        }
    }
}

impl std::str::FromStr for MdCompression {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "gz" | "gzip" => Ok(MdCompression::Gz),
            "zst" | "zstd" => Ok(MdCompression::Zst),
            other => Err(format!(
                "unknown metadata compression {other:?}: use gz or zst"
            )),
        }
    }
}

/// Makes a file readable by everyone (0644), as a web server serving the
/// repository needs; temporary files start as 0600.
fn served_mode(f: &std::fs::File) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    f.set_permissions(std::fs::Permissions::from_mode(0o644))
}

/// Compresses `xml` into `repodata/<sha256>-<kind>.xml.gz`.
fn write_data(repodata: &Path, kind: &'static str, xml: &[u8]) -> Result<RepoData, RepoWriteError> {
    write_data_as(repodata, kind, xml, MdCompression::Gz)
}

/// Compresses `xml` into `repodata/<sha256>-<kind>.xml.<ext>`, through a
/// temporary file and a rename so a file with that name is always whole.
fn write_data_as(
    repodata: &Path,
    kind: &'static str,
    xml: &[u8],
    compression: MdCompression,
) -> Result<RepoData, RepoWriteError> {
    let compressed = compression
        .compress(xml)
        .map_err(|source| RepoWriteError::Io {
            input: kind.to_owned(),
            source,
        })?;
    let checksum = hex::encode(Sha256::digest(&compressed));
    let file = format!("{checksum}-{kind}.xml.{}", compression.extension());
    persist_md(repodata, &file, &compressed)?;
    Ok(RepoData {
        kind,
        href: format!("repodata/{file}"),
        checksum,
        open_checksum: hex::encode(Sha256::digest(xml)),
        size: compressed.len() as u64,
        open_size: xml.len() as u64,
    })
}

/// Writes `repodata/<file>` (a checksum name), through a synced temporary
/// file and a rename so a file with that name is always whole; a file
/// already there with that name and size is kept.
fn persist_md(repodata: &Path, file: &str, bytes: &[u8]) -> Result<(), RepoWriteError> {
    let path = repodata.join(file);
    let io = |source| RepoWriteError::Io {
        input: path.display().to_string(),
        source,
    };
    if std::fs::metadata(&path).ok().map(|m| m.len()) != Some(bytes.len() as u64) {
        let mut tmp = tempfile::NamedTempFile::new_in(repodata).map_err(io)?;
        served_mode(tmp.as_file()).map_err(io)?;
        tmp.write_all(bytes)
            .and_then(|()| tmp.as_file().sync_all())
            .map_err(io)?;
        tmp.persist(&path).map_err(|e| io(e.error))?;
    }
    Ok(())
}

/// Reads the header and file facts of one package under `root`.
fn read_package(root: &Path, path: &Path) -> Result<Pkg, RepoWriteError> {
    let abs = path.canonicalize().map_err(|source| RepoWriteError::Io {
        input: path.display().to_string(),
        source,
    })?;
    let href = abs
        .strip_prefix(root)
        .map_err(|_| RepoWriteError::OutsideRepo {
            input: path.display().to_string(),
            dir: root.display().to_string(),
        })?
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect::<Vec<_>>()
        .join("/");
    Ok(read_package_at(&abs, href)?.0)
}

/// Reads the package at `path`, listed at `href`, and the metadata of the
/// file as opened (what was read, even if the path changes meanwhile).
fn read_package_at(path: &Path, href: String) -> Result<(Pkg, std::fs::Metadata), RepoWriteError> {
    let input = path.display().to_string();
    let fail = |reason: String| RepoWriteError::Package {
        input: input.clone(),
        reason,
    };
    let io = |source| RepoWriteError::Io {
        input: input.clone(),
        source,
    };
    // One pass: the header is parsed from the start of the stream while
    // every byte read goes through the hash, so large packages are not held
    // in memory.
    let file = std::fs::File::open(path).map_err(io)?;
    let file_meta = file.metadata().map_err(io)?;
    let mut reader = std::io::BufReader::new(HashingReader {
        inner: file,
        hash: Sha256::new(),
        len: 0,
    });
    let file_time = file_meta
        .modified()
        .ok()
        .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_secs());
    let meta = rpm::PackageMetadata::parse(&mut reader).map_err(|e| fail(e.to_string()))?;
    std::io::copy(&mut reader, &mut std::io::sink()).map_err(io)?;
    let hashed = reader.into_inner();
    let (pkgid, package_size) = (hex::encode(hashed.hash.finalize()), hashed.len);

    let req = |r: Result<&str, rpm::Error>| r.map(str::to_owned).map_err(|e| fail(e.to_string()));
    let opt = |r: Result<&str, rpm::Error>| r.map(str::to_owned).unwrap_or_default();
    let name = req(meta.get_name())?;
    let arch = if meta.is_source_package() {
        "src".to_owned()
    } else {
        req(meta.get_arch())?
    };
    let epoch = match meta.get_epoch() {
        Ok(e) => e,
        Err(rpm::Error::TagNotFound(_)) => 0,
        Err(e) => return Err(fail(e.to_string())),
    };

    let mut files = Vec::new();
    let entries = meta.get_file_entries().map_err(|e| fail(e.to_string()))?;
    for f in &entries {
        let kind = if f.flags().contains(FileFlags::GHOST) {
            Some("ghost")
        } else if f.mode().file_type() == FileType::Dir {
            Some("dir")
        } else {
            None
        };
        files.push(File {
            path: f.path().to_string_lossy().into_owned(),
            kind,
        });
    }
    let own_files: HashSet<&str> = files.iter().map(|f| f.path.as_str()).collect();

    let lists: [(&'static str, Result<Vec<rpm::Dependency>, rpm::Error>); 8] = [
        ("provides", meta.get_provides()),
        ("requires", meta.get_requires()),
        ("conflicts", meta.get_conflicts()),
        ("obsoletes", meta.get_obsoletes()),
        ("suggests", meta.get_suggests()),
        ("enhances", meta.get_enhances()),
        ("recommends", meta.get_recommends()),
        ("supplements", meta.get_supplements()),
    ];
    let mut deps = Vec::new();
    // Requires the package answers itself are left out, as createrepo_c does.
    let mut own_provides = HashSet::new();
    for (kind, list) in lists {
        let list = list.map_err(|e| fail(format!("{kind}: {e}")))?;
        if kind == "provides" {
            own_provides = list
                .iter()
                .map(|d| (d.name.clone(), d.flags & cmp_flags(), d.version.clone()))
                .collect();
        }
        let mut seen = HashSet::new();
        let mut out = Vec::new();
        for d in list {
            if kind == "requires"
                && (d.name.starts_with("rpmlib(")
                    || d.flags.contains(DependencyFlags::RPMLIB)
                    || (own_files.contains(d.name.as_str()) && is_primary_file(&d.name))
                    || own_provides.contains(&(
                        d.name.clone(),
                        d.flags & cmp_flags(),
                        d.version.clone(),
                    )))
            {
                continue;
            }
            let dep = to_dep(&d, kind == "requires");
            let key = (
                dep.name.clone(),
                dep.flags,
                dep.epoch.clone(),
                dep.ver.clone(),
                dep.rel.clone(),
                dep.pre,
            );
            if seen.insert(key) {
                out.push(dep);
            }
        }
        deps.push((kind, out));
    }

    let offsets = meta.get_package_segment_offsets();
    let archive_size = meta
        .signature
        .get_entry_data_as_u64(rpm::IndexSignatureTag::RPMSIGTAG_LONGARCHIVESIZE)
        .or_else(|_| {
            meta.signature
                .get_entry_data_as_u32(rpm::IndexSignatureTag::RPMSIGTAG_PAYLOADSIZE)
                .map(u64::from)
        })
        .or_else(|_| {
            meta.header
                .get_entry_data_as_u64(rpm::IndexTag::RPMTAG_LONGARCHIVESIZE)
        })
        .or_else(|_| {
            meta.header
                .get_entry_data_as_u32(rpm::IndexTag::RPMTAG_ARCHIVESIZE)
                .map(u64::from)
        })
        .unwrap_or(0);

    let pkg = Pkg {
        name,
        arch,
        epoch,
        version: req(meta.get_version())?,
        release: req(meta.get_release())?,
        pkgid,
        summary: opt(meta.get_summary()),
        description: opt(meta.get_description()),
        packager: opt(meta.get_packager()),
        url: opt(meta.get_url()),
        file_time,
        build_time: meta.get_build_time().unwrap_or(0),
        package_size,
        installed_size: meta.get_installed_size().unwrap_or(0),
        archive_size,
        href,
        license: opt(meta.get_license()),
        vendor: opt(meta.get_vendor()),
        group: opt(meta.get_group()),
        buildhost: opt(meta.get_build_host()),
        sourcerpm: opt(meta.get_source_rpm()),
        header_start: offsets.header,
        header_end: offsets.payload,
        deps,
        files,
        changelogs: {
            // The header lists the newest first; other.xml the oldest first.
            let mut c = meta.get_changelog_entries().unwrap_or_default();
            c.reverse();
            c
        },
    };
    Ok((pkg, file_meta))
}

/// The comparison bits of dependency flags.
fn cmp_flags() -> DependencyFlags {
    DependencyFlags::LESS | DependencyFlags::GREATER | DependencyFlags::EQUAL
}

/// A reader that hashes and counts what passes through it.
struct HashingReader<R> {
    inner: R,
    hash: Sha256,
    len: u64,
}

impl<R: std::io::Read> std::io::Read for HashingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hash.update(&buf[..n]);
        self.len += n as u64;
        Ok(n)
    }
}

/// Whether primary.xml lists a file (as createrepo_c decides it).
fn is_primary_file(path: &str) -> bool {
    path.starts_with("/etc/") || path.contains("bin/") || path == "/usr/lib/sendmail"
}

/// A header dependency in rpm-md terms: the comparison and the EVR split.
fn to_dep(d: &rpm::Dependency, requires: bool) -> Dep {
    let f = d.flags;
    let cmp = (
        f.contains(DependencyFlags::LESS),
        f.contains(DependencyFlags::GREATER),
        f.contains(DependencyFlags::EQUAL),
    );
    let flags = match cmp {
        _ if d.version.is_empty() => None,
        (true, false, false) => Some("LT"),
        (false, true, false) => Some("GT"),
        (false, false, true) => Some("EQ"),
        (true, false, true) => Some("LE"),
        (false, true, true) => Some("GE"),
        _ => None,
    };
    let (epoch, rest) = match d.version.split_once(':') {
        Some((e, rest)) if !e.is_empty() && e.bytes().all(|b| b.is_ascii_digit()) => {
            (e.to_owned(), rest)
        }
        _ => ("0".to_owned(), d.version.as_str()),
    };
    let (ver, rel) = match rest.rsplit_once('-') {
        Some((v, r)) => (v.to_owned(), Some(r.to_owned())),
        None => (rest.to_owned(), None),
    };
    let pre = requires
        && f.intersects(
            DependencyFlags::PREREQ | DependencyFlags::SCRIPT_PRE | DependencyFlags::SCRIPT_POST,
        );
    Dep {
        name: d.name.clone(),
        flags,
        epoch,
        ver,
        rel,
        pre,
    }
}

/// Escapes text for XML content and attributes, dropping characters XML
/// cannot hold.
fn esc(s: &str) -> String {
    // Most strings need nothing done: no markup characters, no control
    // characters, no U+FFFE or U+FFFF (UTF-8 EF BF BE / EF BF BF).
    let plain = s.bytes().all(|b| {
        (b >= b' ' || matches!(b, b'\t' | b'\n' | b'\r'))
            && !matches!(b, b'<' | b'>' | b'&' | b'"' | b'\'' | 0xBE | 0xBF)
    });
    if plain {
        return s.to_owned();
    }
    let clean: String = s
        .chars()
        .filter(|&c| {
            matches!(c, '\t' | '\n' | '\r') || (c >= ' ' && c != '\u{FFFE}' && c != '\u{FFFF}')
        })
        .collect();
    quick_xml::escape::escape(clean.as_str()).into_owned()
}

/// `<version epoch=".." ver=".." rel=".."/>` of a package.
fn version_elem(p: &Pkg) -> String {
    format!(
        "<version epoch=\"{}\" ver=\"{}\" rel=\"{}\"/>",
        p.epoch,
        esc(&p.version),
        esc(&p.release)
    )
}

fn file_elem(out: &mut String, f: &File) {
    match f.kind {
        Some(k) => {
            let _ = writeln!(out, "    <file type=\"{k}\">{}</file>", esc(&f.path));
        }
        None => {
            let _ = writeln!(out, "    <file>{}</file>", esc(&f.path));
        }
    }
}

/// The opening lines of a metadata document of `kind` listing `n` packages.
fn doc_head(kind: &str, n: usize) -> String {
    let mut o = String::new();
    let _ = writeln!(o, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>");
    let _ = match kind {
        "primary" => writeln!(
            o,
            "<metadata xmlns=\"{NS_COMMON}\" xmlns:rpm=\"{NS_RPM}\" packages=\"{n}\">"
        ),
        "filelists" => writeln!(o, "<filelists xmlns=\"{NS_FILELISTS}\" packages=\"{n}\">"),
        _ => writeln!(o, "<otherdata xmlns=\"{NS_OTHER}\" packages=\"{n}\">"),
    };
    o
}

/// The closing line of a metadata document of `kind`.
fn doc_tail(kind: &str) -> &'static str {
    match kind {
        "primary" => "</metadata>\n",
        "filelists" => "</filelists>\n",
        _ => "</otherdata>\n",
    }
}

/// The `<package>` element of `p` in primary.xml.
fn primary_pkg(o: &mut String, p: &Pkg) {
    let _ = writeln!(o, "<package type=\"rpm\">");
    let _ = writeln!(o, "  <name>{}</name>", esc(&p.name));
    let _ = writeln!(o, "  <arch>{}</arch>", esc(&p.arch));
    let _ = writeln!(o, "  {}", version_elem(p));
    let _ = writeln!(
        o,
        "  <checksum type=\"sha256\" pkgid=\"YES\">{}</checksum>",
        p.pkgid
    );
    let _ = writeln!(o, "  <summary>{}</summary>", esc(&p.summary));
    let _ = writeln!(o, "  <description>{}</description>", esc(&p.description));
    let _ = writeln!(o, "  <packager>{}</packager>", esc(&p.packager));
    let _ = writeln!(o, "  <url>{}</url>", esc(&p.url));
    let _ = writeln!(
        o,
        "  <time file=\"{}\" build=\"{}\"/>",
        p.file_time, p.build_time
    );
    let _ = writeln!(
        o,
        "  <size package=\"{}\" installed=\"{}\" archive=\"{}\"/>",
        p.package_size, p.installed_size, p.archive_size
    );
    let _ = writeln!(o, "  <location href=\"{}\"/>", esc(&p.href));
    let _ = writeln!(o, "  <format>");
    let _ = writeln!(o, "    <rpm:license>{}</rpm:license>", esc(&p.license));
    let _ = writeln!(o, "    <rpm:vendor>{}</rpm:vendor>", esc(&p.vendor));
    let _ = writeln!(o, "    <rpm:group>{}</rpm:group>", esc(&p.group));
    let _ = writeln!(
        o,
        "    <rpm:buildhost>{}</rpm:buildhost>",
        esc(&p.buildhost)
    );
    let _ = writeln!(
        o,
        "    <rpm:sourcerpm>{}</rpm:sourcerpm>",
        esc(&p.sourcerpm)
    );
    let _ = writeln!(
        o,
        "    <rpm:header-range start=\"{}\" end=\"{}\"/>",
        p.header_start, p.header_end
    );
    for (kind, deps) in &p.deps {
        if deps.is_empty() {
            continue;
        }
        let _ = writeln!(o, "    <rpm:{kind}>");
        for d in deps {
            let _ = write!(o, "      <rpm:entry name=\"{}\"", esc(&d.name));
            if let Some(flags) = d.flags {
                let _ = write!(
                    o,
                    " flags=\"{flags}\" epoch=\"{}\" ver=\"{}\"",
                    esc(&d.epoch),
                    esc(&d.ver)
                );
                if let Some(rel) = &d.rel {
                    let _ = write!(o, " rel=\"{}\"", esc(rel));
                }
            }
            if d.pre {
                let _ = write!(o, " pre=\"1\"");
            }
            let _ = writeln!(o, "/>");
        }
        let _ = writeln!(o, "    </rpm:{kind}>");
    }
    for f in p.files.iter().filter(|f| is_primary_file(&f.path)) {
        file_elem(o, f);
    }
    let _ = writeln!(o, "  </format>");
    let _ = writeln!(o, "</package>");
}

/// `<package pkgid=".." name=".." arch="..">` with its version line.
fn package_open(o: &mut String, p: &Pkg) {
    let _ = writeln!(
        o,
        "<package pkgid=\"{}\" name=\"{}\" arch=\"{}\">",
        p.pkgid,
        esc(&p.name),
        esc(&p.arch)
    );
    let _ = writeln!(o, "  {}", version_elem(p));
}

/// The `<package>` element of `p` in filelists.xml.
fn filelists_pkg(o: &mut String, p: &Pkg) {
    package_open(o, p);
    for f in &p.files {
        file_elem(o, f);
    }
    let _ = writeln!(o, "</package>");
}

/// The `<package>` element of `p` in other.xml.
fn other_pkg(o: &mut String, p: &Pkg) {
    package_open(o, p);
    for c in &p.changelogs {
        let _ = writeln!(
            o,
            "  <changelog author=\"{}\" date=\"{}\">{}</changelog>",
            esc(&c.name),
            c.timestamp,
            esc(&c.description)
        );
    }
    let _ = writeln!(o, "</package>");
}

/// A whole metadata document of `kind`, one `element` per package.
fn doc(kind: &str, pkgs: &[Pkg], element: fn(&mut String, &Pkg)) -> String {
    let mut o = doc_head(kind, pkgs.len());
    for p in pkgs {
        element(&mut o, p);
    }
    o.push_str(doc_tail(kind));
    o
}

fn primary_xml(pkgs: &[Pkg]) -> String {
    doc("primary", pkgs, primary_pkg)
}

fn filelists_xml(pkgs: &[Pkg]) -> String {
    doc("filelists", pkgs, filelists_pkg)
}

fn other_xml(pkgs: &[Pkg]) -> String {
    doc("other", pkgs, other_pkg)
}

fn repomd_xml(data: &[RepoData], timestamp: u64) -> String {
    let mut o = String::new();
    let _ = writeln!(o, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>");
    let _ = writeln!(o, "<repomd xmlns=\"{NS_REPO}\" xmlns:rpm=\"{NS_RPM}\">");
    let _ = writeln!(o, "  <revision>{timestamp}</revision>");
    for d in data {
        let _ = writeln!(o, "  <data type=\"{}\">", d.kind);
        let _ = writeln!(o, "    <checksum type=\"sha256\">{}</checksum>", d.checksum);
        let _ = writeln!(
            o,
            "    <open-checksum type=\"sha256\">{}</open-checksum>",
            d.open_checksum
        );
        let _ = writeln!(o, "    <location href=\"{}\"/>", esc(&d.href));
        let _ = writeln!(o, "    <timestamp>{timestamp}</timestamp>");
        let _ = writeln!(o, "    <size>{}</size>", d.size);
        let _ = writeln!(o, "    <open-size>{}</open-size>", d.open_size);
        let _ = writeln!(o, "  </data>");
    }
    let _ = writeln!(o, "</repomd>");
    o
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dep(version: &str, flags: DependencyFlags) -> Dep {
        to_dep(
            &rpm::Dependency {
                name: "foo".into(),
                flags,
                version: version.into(),
            },
            true,
        )
    }

    #[test]
    fn dependency_evr_and_flags() {
        let d = dep("1:2.0-3", DependencyFlags::GREATER | DependencyFlags::EQUAL);
        assert_eq!(
            (d.flags, d.epoch.as_str(), d.ver.as_str(), d.rel.as_deref()),
            (Some("GE"), "1", "2.0", Some("3"))
        );
        let d = dep("1.0", DependencyFlags::LESS);
        assert_eq!(
            (d.flags, d.epoch.as_str(), d.ver.as_str(), d.rel),
            (Some("LT"), "0", "1.0", None)
        );
        let d = dep("", DependencyFlags::ANY);
        assert_eq!(d.flags, None);
        assert!(dep("", DependencyFlags::SCRIPT_PRE).pre);
    }

    #[test]
    fn escaping_and_control_characters() {
        assert_eq!(esc("a<b>&\"c'\u{1}\n"), "a&lt;b&gt;&amp;&quot;c&apos;\n");
    }

    #[test]
    fn primary_files() {
        assert!(is_primary_file("/usr/bin/x"));
        assert!(is_primary_file("/etc/x.conf"));
        assert!(!is_primary_file("/usr/share/doc/x"));
    }

    #[test]
    fn corrupt_input_is_named_and_nothing_is_written() {
        let tmp = tempfile::tempdir().unwrap();
        let bad = tmp.path().join("bad.rpm");
        std::fs::write(&bad, b"not an rpm").unwrap();
        let err = write_repo(tmp.path(), &[bad]).unwrap_err();
        assert!(err.to_string().contains("bad.rpm"), "{err}");
        assert!(!tmp.path().join("repodata").exists());
    }

    #[test]
    fn package_outside_the_directory_is_refused() {
        let repo = tempfile::tempdir().unwrap();
        let other = tempfile::tempdir().unwrap();
        let p = other.path().join("x.rpm");
        std::fs::write(&p, b"x").unwrap();
        let err = write_repo(repo.path(), &[p]).unwrap_err();
        assert!(matches!(err, RepoWriteError::OutsideRepo { .. }), "{err}");
    }

    #[test]
    fn empty_repository() {
        let tmp = tempfile::tempdir().unwrap();
        let s = write_repo(tmp.path(), &[]).unwrap();
        assert_eq!(s.packages, 0);
        assert_eq!(s.data.len(), 3);
        let repomd = std::fs::read_to_string(&s.repomd).unwrap();
        for d in &s.data {
            assert!(repomd.contains(&d.href));
            let bytes = std::fs::read(tmp.path().join(&d.href)).unwrap();
            assert_eq!(hex::encode(Sha256::digest(&bytes)), d.checksum);
        }
    }
}

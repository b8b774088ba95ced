//! dist-git metadata files, path safety and archive member checks.
//!
//! Everything here is synchronous and pure apart from [`check_archive`],
//! which reads the archive it is given.
use std::collections::HashSet;
use std::fs::File;
use std::io::{BufReader, Read};
use std::path::{Component, Path, PathBuf};

use super::SourceError;
use crate::hash::{Checksum, ChecksumKind};

/// One line of `.<name>.metadata` or `sources`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LookasideEntry {
    /// For `.<name>.metadata`, the path relative to the tree root
    /// (`SOURCES/hello-1.0.tar.gz`); for `sources`, the file name, which goes
    /// into the sources directory.
    pub path: String,
    /// Its checksum.
    pub checksum: Checksum,
}

/// Parses `.<name>.metadata`: lines of `<checksum> <path>`, the checksum kind
/// told by its length. Blank lines and `#` comments are skipped. Every path is
/// checked with [`safe_relative_path`].
pub fn parse_metadata(file: &str, text: &str) -> Result<Vec<LookasideEntry>, SourceError> {
    let mut out = Vec::new();
    for (n, line) in meaningful_lines(text) {
        let bad = |message: String| SourceError::BadMetadata {
            file: file.to_owned(),
            line: n,
            message,
        };
        let (sum, path) = line
            .split_once(char::is_whitespace)
            .map(|(s, p)| (s, p.trim()))
            .filter(|(_, p)| !p.is_empty())
            .ok_or_else(|| bad(format!("expected `<checksum> <path>`, found {line:?}")))?;
        let checksum = Checksum::guess(sum).map_err(|e| bad(e.to_string()))?;
        safe_relative_path(&format!("{file} line {n}"), path)?;
        out.push(LookasideEntry {
            path: path.to_owned(),
            checksum,
        });
    }
    Ok(out)
}

/// Parses `sources`: lines of `SHA512 (<file>) = <hex>` (any of MD5, SHA1,
/// SHA256, SHA512) or the old `<md5>  <file>`. Blank lines and `#` comments
/// are skipped. Each file must be a plain file name: it is put into the
/// sources directory, so a `/` is refused.
pub fn parse_sources(file: &str, text: &str) -> Result<Vec<LookasideEntry>, SourceError> {
    let mut out = Vec::new();
    for (n, line) in meaningful_lines(text) {
        let bad = |message: String| SourceError::BadMetadata {
            file: file.to_owned(),
            line: n,
            message,
        };
        let (name, checksum) = match parse_bsd_line(line) {
            Some((kind_name, name, hex)) => {
                let kind = ChecksumKind::from_name(kind_name).ok_or_else(|| {
                    bad(format!(
                        "unknown checksum kind {kind_name:?} (want MD5, SHA1, SHA256 or SHA512)"
                    ))
                })?;
                let sum = Checksum::new(kind, hex).map_err(|e| bad(e.to_string()))?;
                (name, sum)
            }
            None => {
                let (sum, name) = line
                    .split_once(char::is_whitespace)
                    .map(|(s, p)| (s, p.trim()))
                    .filter(|(_, p)| !p.is_empty())
                    .ok_or_else(|| {
                        bad(format!(
                            "expected `SHA512 (<file>) = <hex>` or `<md5>  <file>`, found {line:?}"
                        ))
                    })?;
                let sum = Checksum::guess(sum).map_err(|e| bad(e.to_string()))?;
                (name, sum)
            }
        };
        let origin = format!("{file} line {n}");
        if name.contains('/') {
            return Err(SourceError::UnsafePath {
                origin,
                path: name.to_owned(),
                why: "a sources entry must be a file name, without `/`",
            });
        }
        safe_relative_path(&origin, name)?;
        out.push(LookasideEntry {
            path: name.to_owned(),
            checksum,
        });
    }
    Ok(out)
}

/// `KIND (name) = hex` → (KIND, name, hex).
fn parse_bsd_line(line: &str) -> Option<(&str, &str, &str)> {
    let (kind, rest) = line.split_once(" (")?;
    if kind.is_empty() || !kind.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return None;
    }
    let (name, hex) = rest.rsplit_once(") = ")?;
    Some((kind, name, hex.trim()))
}

/// Lines that are neither blank nor `#` comments, with 1-based numbers.
fn meaningful_lines(text: &str) -> impl Iterator<Item = (usize, &str)> {
    text.lines()
        .enumerate()
        .map(|(i, l)| (i + 1, l.trim()))
        .filter(|(_, l)| !l.is_empty() && !l.starts_with('#'))
}

/// Checks that `path` (from `origin`, for the error) is a plain relative path:
/// not empty, not absolute, without `.`/`..` or empty components, NUL,
/// control characters or backslashes, and not into `.git`.
pub fn safe_relative_path(origin: &str, path: &str) -> Result<PathBuf, SourceError> {
    let refuse = |why: &'static str| SourceError::UnsafePath {
        origin: origin.to_owned(),
        path: path.to_owned(),
        why,
    };
    if path.is_empty() {
        return Err(refuse("it is empty"));
    }
    if path.contains('\0') {
        return Err(refuse("it contains a NUL byte"));
    }
    if path.chars().any(char::is_control) {
        return Err(refuse("it contains a control character"));
    }
    if path.contains('\\') {
        return Err(refuse("it contains a backslash"));
    }
    if path.starts_with('/') {
        return Err(refuse("it is absolute"));
    }
    let mut out = PathBuf::new();
    for part in path.split('/') {
        match part {
            "" => return Err(refuse("it has an empty component")),
            "." => return Err(refuse("it has a `.` component")),
            ".." => return Err(refuse("it has a `..` component")),
            p if p.eq_ignore_ascii_case(".git") => {
                return Err(refuse("it points into the .git directory"));
            }
            p => out.push(p),
        }
    }
    // Belt and braces: the result must be made of normal components only.
    if !out.components().all(|c| matches!(c, Component::Normal(_))) {
        return Err(refuse("it is not a plain relative path"));
    }
    Ok(out)
}

/// The compression of a tar archive, told by its file name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Compression {
    None,
    Gzip,
    Xz,
    Bzip2,
    Zstd,
}

fn archive_compression(name: &str) -> Option<Compression> {
    let name = name.to_ascii_lowercase();
    let table: [(&str, Compression); 10] = [
        (".tar", Compression::None),
        (".tar.gz", Compression::Gzip),
        (".tgz", Compression::Gzip),
        (".tar.xz", Compression::Xz),
        (".txz", Compression::Xz),
        (".tar.bz2", Compression::Bzip2),
        (".tbz2", Compression::Bzip2),
        (".tbz", Compression::Bzip2),
        (".tar.zst", Compression::Zstd),
        (".tzst", Compression::Zstd),
    ];
    table
        .into_iter()
        .find(|(ext, _)| name.ends_with(ext))
        .map(|(_, c)| c)
}

/// Whether [`check_archive`] reads a file of this name: `.tar`, `.tar.gz`,
/// `.tgz`, `.tar.xz`, `.tar.bz2`, `.tar.zst` and their short forms.
pub fn is_archive_name(name: &str) -> bool {
    archive_compression(name).is_some()
}

/// Checks a tar archive's members (files not named like a tar archive are
/// accepted unread): refuses absolute member paths, `..` components,
/// symlinks and hard links whose target is absolute or leaves the archive
/// root, and members placed through a symlink member.
pub fn check_archive(path: &Path) -> Result<(), SourceError> {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let Some(compression) = archive_compression(&name) else {
        return Ok(());
    };
    let shown = path.display().to_string();
    let bad = |message: String| SourceError::BadArchive {
        path: shown.clone(),
        message,
    };
    let file = File::open(path).map_err(|e| bad(e.to_string()))?;
    let file = BufReader::new(file);
    let reader: Box<dyn Read> = match compression {
        Compression::None => Box::new(file),
        Compression::Gzip => Box::new(flate2::read::MultiGzDecoder::new(file)),
        Compression::Xz => Box::new(liblzma::read::XzDecoder::new_multi_decoder(file)),
        Compression::Bzip2 => Box::new(bzip2::read::MultiBzDecoder::new(file)),
        Compression::Zstd => Box::new(
            zstd::stream::read::Decoder::with_buffer(file)
                .map_err(|e| bad(format!("zstd: {e}")))?,
        ),
    };
    let mut archive = tar::Archive::new(reader);
    let entries = archive.entries().map_err(|e| bad(e.to_string()))?;
    let mut members: Vec<(String, PathBuf)> = Vec::new();
    let mut symlinks: HashSet<PathBuf> = HashSet::new();
    for entry in entries {
        let entry = entry.map_err(|e| bad(e.to_string()))?;
        let member = entry.path().map_err(|e| bad(e.to_string()))?.into_owned();
        let shown_member = member.to_string_lossy().into_owned();
        let refuse = |why: &'static str| SourceError::UnsafePath {
            origin: shown.clone(),
            path: shown_member.clone(),
            why,
        };
        let normal = normalize_member(&member).map_err(refuse)?;
        let kind = entry.header().entry_type();
        if kind.is_symlink() || kind.is_hard_link() {
            let target = entry
                .link_name()
                .map_err(|e| bad(e.to_string()))?
                .ok_or_else(|| bad(format!("link member {shown_member} has no target")))?;
            let target_shown = target.to_string_lossy().into_owned();
            let refuse_link = |why: &'static str| SourceError::UnsafePath {
                origin: shown.clone(),
                path: format!("{shown_member} -> {target_shown}"),
                why,
            };
            // A symlink resolves from its own directory, a hard link from the root.
            let start = if kind.is_symlink() {
                normal.len().saturating_sub(1)
            } else {
                0
            };
            link_stays_inside(start, &target).map_err(refuse_link)?;
            if kind.is_symlink() {
                symlinks.insert(normal.iter().collect());
            }
        }
        members.push((shown_member, normal.iter().collect()));
    }
    for (shown_member, member) in &members {
        let mut prefix = PathBuf::new();
        let parts: Vec<_> = member.components().collect();
        for part in parts.iter().take(parts.len().saturating_sub(1)) {
            prefix.push(part);
            if symlinks.contains(&prefix) {
                return Err(SourceError::UnsafePath {
                    origin: shown.clone(),
                    path: shown_member.clone(),
                    why: "it is placed through a symlink member of the archive",
                });
            }
        }
    }
    Ok(())
}

/// The normal components of an archive member path (`./` dropped).
fn normalize_member(member: &Path) -> Result<Vec<std::ffi::OsString>, &'static str> {
    let mut out = Vec::new();
    for c in member.components() {
        match c {
            Component::Normal(p) => out.push(p.to_owned()),
            Component::CurDir => {}
            Component::ParentDir => return Err("it has a `..` component"),
            Component::RootDir | Component::Prefix(_) => return Err("it is absolute"),
        }
    }
    Ok(out)
}

/// Walks `target` from a directory `depth` levels below the archive root and
/// fails if it is absolute or climbs above the root.
fn link_stays_inside(depth: usize, target: &Path) -> Result<(), &'static str> {
    let mut depth = depth as isize;
    for c in target.components() {
        match c {
            Component::Normal(_) => depth += 1,
            Component::CurDir => {}
            Component::ParentDir => {
                depth -= 1;
                if depth < 0 {
                    return Err("its link target leaves the archive");
                }
            }
            Component::RootDir | Component::Prefix(_) => {
                return Err("its link target is absolute");
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const SHA256: &str = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";

    #[test]
    fn metadata_lines_parse_and_guess_kind() {
        let text = format!(
            "# comment\n\n{SHA256} SOURCES/hello-1.0.tar.gz\n{} SOURCES/b.tar\n",
            "a".repeat(40)
        );
        let got = parse_metadata(".hello.metadata", &text).unwrap();
        assert_eq!(got.len(), 2);
        assert_eq!(got[0].path, "SOURCES/hello-1.0.tar.gz");
        assert_eq!(got[0].checksum.kind, ChecksumKind::Sha256);
        assert_eq!(got[1].checksum.kind, ChecksumKind::Sha1);
    }

    #[test]
    fn bad_metadata_names_file_and_line() {
        let err = parse_metadata(".x.metadata", "\nabc SOURCES/x\n").unwrap_err();
        match err {
            SourceError::BadMetadata { file, line, .. } => {
                assert_eq!(file, ".x.metadata");
                assert_eq!(line, 2);
            }
            e => panic!("unexpected {e}"),
        }
        assert!(matches!(
            parse_metadata(".x.metadata", SHA256),
            Err(SourceError::BadMetadata { line: 1, .. })
        ));
    }

    #[test]
    fn metadata_traversal_is_refused() {
        for path in [
            "../../etc/x",
            "/etc/passwd",
            "SOURCES/../../x",
            "a//b",
            ".git/hooks/x",
        ] {
            let err = parse_metadata(".x.metadata", &format!("{SHA256} {path}")).unwrap_err();
            assert!(
                matches!(&err, SourceError::UnsafePath { path: p, origin, .. } if p == path && origin == ".x.metadata line 1"),
                "{path}: {err}"
            );
        }
    }

    #[test]
    fn sources_both_formats() {
        let text = format!(
            "SHA512 (hello-1.0.tar.gz) = {}\nSHA256 (b.tar) = {SHA256}\n{}  old.tar.gz\n",
            "c".repeat(128),
            "d".repeat(32)
        );
        let got = parse_sources("sources", &text).unwrap();
        assert_eq!(got[0].path, "hello-1.0.tar.gz");
        assert_eq!(got[0].checksum.kind, ChecksumKind::Sha512);
        assert_eq!(got[1].checksum.kind, ChecksumKind::Sha256);
        assert_eq!(got[2].path, "old.tar.gz");
        assert_eq!(got[2].checksum.kind, ChecksumKind::Md5);
    }

    #[test]
    fn sources_refuses_slash_bad_kind_and_bad_hex() {
        let slash = format!("SHA256 (x/y.tar) = {SHA256}");
        assert!(matches!(
            parse_sources("sources", &slash),
            Err(SourceError::UnsafePath { .. })
        ));
        let dotdot = format!("SHA256 (..) = {SHA256}");
        assert!(matches!(
            parse_sources("sources", &dotdot),
            Err(SourceError::UnsafePath { .. })
        ));
        let kind = format!("CRC32 (x) = {SHA256}");
        assert!(matches!(
            parse_sources("sources", &kind),
            Err(SourceError::BadMetadata { line: 1, .. })
        ));
        assert!(matches!(
            parse_sources("sources", "SHA256 (x) = 1234"),
            Err(SourceError::BadMetadata { line: 1, .. })
        ));
        assert!(matches!(
            parse_sources("sources", "\n\nnonsense"),
            Err(SourceError::BadMetadata { line: 3, .. })
        ));
    }

    #[test]
    fn safe_paths() {
        assert_eq!(
            safe_relative_path("t", "SOURCES/a.tar").unwrap(),
            PathBuf::from("SOURCES/a.tar")
        );
        for bad in [
            "", "/a", "a/../b", "..", "./a", "a/", "a\0b", "a\\b", "a\nb",
        ] {
            assert!(
                matches!(
                    safe_relative_path("t", bad),
                    Err(SourceError::UnsafePath { .. })
                ),
                "{bad:?} accepted"
            );
        }
    }

    /// A tar member: name, type, link target.
    type Member<'a> = (&'a str, tar::EntryType, &'a str);

    /// A tar with raw member names, so that unsafe names can be written.
    fn raw_tar(members: &[Member<'_>]) -> Vec<u8> {
        let mut b = tar::Builder::new(Vec::new());
        for (name, kind, link) in members {
            let mut h = tar::Header::new_gnu();
            h.as_old_mut().name[..name.len()].copy_from_slice(name.as_bytes());
            h.as_old_mut().linkname[..link.len()].copy_from_slice(link.as_bytes());
            h.set_entry_type(*kind);
            h.set_mode(0o644);
            let data: &[u8] = if kind.is_file() { b"hi\n" } else { b"" };
            h.set_size(data.len() as u64);
            h.set_cksum();
            b.append(&h, data).unwrap();
        }
        b.into_inner().unwrap()
    }

    fn check_bytes(name: &str, bytes: &[u8]) -> Result<(), SourceError> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(name);
        std::fs::write(&path, bytes).unwrap();
        check_archive(&path)
    }

    #[test]
    fn archives_with_escaping_members_are_refused() {
        use tar::EntryType::{Directory, Link, Regular, Symlink};
        let good = raw_tar(&[
            ("./hello-1.0/", Directory, ""),
            ("hello-1.0/a", Regular, ""),
            ("hello-1.0/l", Symlink, "a"),
            ("hello-1.0/up", Symlink, "../hello-1.0/a"),
            ("hello-1.0/h", Link, "hello-1.0/a"),
        ]);
        check_bytes("good.tar", &good).unwrap();
        let cases: [(&[Member<'_>], &str); 6] = [
            (&[("../evil", Regular, "")], "../evil"),
            (&[("/etc/evil", Regular, "")], "/etc/evil"),
            (&[("a/../../evil", Regular, "")], "a/../../evil"),
            (&[("a/l", Symlink, "../../etc")], "a/l -> ../../etc"),
            (&[("l", Symlink, "/etc")], "l -> /etc"),
            (&[("h", Link, "../x")], "h -> ../x"),
        ];
        for (members, want) in cases {
            let err = check_bytes("evil.tar", &raw_tar(members)).unwrap_err();
            match &err {
                SourceError::UnsafePath { origin, path, .. } => {
                    assert!(origin.ends_with("evil.tar"), "{err}");
                    assert_eq!(path, want);
                }
                _ => panic!("{want}: unexpected {err}"),
            }
        }
        let through = raw_tar(&[("l", Symlink, "."), ("l/x", Regular, "")]);
        assert!(matches!(
            check_bytes("t.tar", &through),
            Err(SourceError::UnsafePath { .. })
        ));
    }

    #[test]
    fn compressed_archives_are_read_and_garbage_is_refused() {
        use std::io::Write;
        let evil = raw_tar(&[("../evil", tar::EntryType::Regular, "")]);
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(&evil).unwrap();
        let gz = gz.finish().unwrap();
        assert!(matches!(
            check_bytes("x.tar.gz", &gz),
            Err(SourceError::UnsafePath { .. })
        ));
        let zst = zstd::encode_all(&evil[..], 1).unwrap();
        assert!(matches!(
            check_bytes("x.tar.zst", &zst),
            Err(SourceError::UnsafePath { .. })
        ));
        assert!(matches!(
            check_bytes("x.tar.gz", b"not gzip at all"),
            Err(SourceError::BadArchive { .. })
        ));
        // Not an archive name: not read.
        check_bytes("x.patch", b"../evil").unwrap();
    }

    #[test]
    fn links_are_resolved_from_their_directory() {
        assert!(link_stays_inside(1, Path::new("../b")).is_ok());
        assert!(link_stays_inside(0, Path::new("../b")).is_err());
        assert!(link_stays_inside(2, Path::new("x/../../../../y")).is_err());
        assert!(link_stays_inside(2, Path::new("x/../../../y")).is_ok());
        assert!(link_stays_inside(2, Path::new("/etc")).is_err());
    }
}

//! Preparing a checked-out tree: find the spec and the sources directory,
//! read the lookaside metadata, fetch and verify every lookaside source, and
//! check source archives. Shared by every [`SourceFetcher`](super::SourceFetcher).
use std::collections::{BTreeSet, HashMap};
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use super::lookaside::BlobFetcher;
use super::metadata::{check_archive, is_archive_name, parse_metadata, parse_sources};
use super::{Lookaside, SourceError, VerifiedSource};
use crate::hash::{AnyHasher, Checksum};

/// What [`prepare_tree`] found and verified.
pub(crate) struct Prepared {
    pub spec: PathBuf,
    pub sources_dir: PathBuf,
    pub lookaside: Vec<VerifiedSource>,
}

/// One lookaside source to put into the tree.
struct Planned {
    /// The metadata file that lists it.
    origin: String,
    /// Path relative to the root, checked to be plain.
    rel: PathBuf,
    /// `rel` as text with `/`.
    shown: String,
    checksum: Checksum,
}

struct Plan {
    spec: PathBuf,
    sources_dir: PathBuf,
    entries: Vec<Planned>,
}

enum Existing {
    Absent,
    Matches(u64),
    Differs(Checksum),
}

/// The repository's name, from the last component of its URL or path
/// (`.git` dropped); `tree` if that is not a usable directory name.
pub(crate) fn repo_name(url: &str) -> String {
    let trimmed = url
        .split(['?', '#'])
        .next()
        .unwrap_or(url)
        .trim_end_matches('/');
    let trimmed = trimmed.strip_suffix("/.git").unwrap_or(trimmed);
    let last = trimmed.rsplit('/').next().unwrap_or("");
    let last = last.strip_suffix(".git").unwrap_or(last);
    let ok = !last.is_empty()
        && !last.starts_with('.')
        && last
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.+".contains(&b));
    if ok { last.to_owned() } else { "tree".into() }
}

/// Runs blocking `f` off the async runtime.
pub(crate) async fn blocking<T, F>(f: F) -> Result<T, SourceError>
where
    T: Send + 'static,
    F: FnOnce() -> Result<T, SourceError> + Send + 'static,
{
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| SourceError::Io {
            what: "a background task".into(),
            source: io::Error::other(e.to_string()),
        })?
}

pub(crate) fn io_err(what: impl Into<String>) -> impl FnOnce(io::Error) -> SourceError {
    let what = what.into();
    move |source| SourceError::Io { what, source }
}

/// Prepares the checked-out tree at `root` (inside `dest`, where temporary
/// files go): see the module doc. `url` and `name` (the repository's name,
/// which a spec file is preferably named after) are for messages and the
/// choice among several spec files.
pub(crate) async fn prepare_tree(
    url: &str,
    name: &str,
    dest: &Path,
    root: &Path,
    store: &Lookaside,
) -> Result<Prepared, SourceError> {
    let plan = {
        let (url, name, root) = (url.to_owned(), name.to_owned(), root.to_owned());
        blocking(move || scan(&url, &name, &root)).await?
    };
    let mut fetcher = BlobFetcher::new(store);
    let mut verified: Vec<VerifiedSource> = Vec::new();
    let mut done: HashMap<PathBuf, u64> = HashMap::new();
    for p in &plan.entries {
        let existing = {
            let (root, rel, origin, shown, sum) = (
                root.to_owned(),
                p.rel.clone(),
                p.origin.clone(),
                p.shown.clone(),
                p.checksum.clone(),
            );
            blocking(move || inspect_target(&root, &rel, &origin, &shown, &sum)).await?
        };
        let size = match existing {
            Existing::Matches(size) => size,
            Existing::Differs(got) if done.contains_key(&p.rel) => {
                // Listed twice with checksums that do not agree.
                return Err(SourceError::ChecksumMismatch {
                    path: p.shown.clone(),
                    kind: p.checksum.kind,
                    got: got.hex,
                    want: p.checksum.hex.clone(),
                });
            }
            Existing::Absent | Existing::Differs(_) => {
                fetcher
                    .fetch_into(&p.shown, &p.checksum, dest, &root.join(&p.rel))
                    .await?
            }
        };
        done.insert(p.rel.clone(), size);
        verified.push(VerifiedSource {
            path: p.shown.clone(),
            checksum: p.checksum.clone(),
            size,
        });
    }
    let archives = {
        let (root, sources_dir) = (root.to_owned(), plan.sources_dir.clone());
        let listed: Vec<PathBuf> = done.keys().cloned().collect();
        blocking(move || check_archives(&root, &sources_dir, listed)).await
    };
    archives?;
    Ok(Prepared {
        spec: plan.spec,
        sources_dir: plan.sources_dir,
        lookaside: verified,
    })
}

/// Finds the spec, the sources directory and the lookaside entries.
fn scan(url: &str, name: &str, root: &Path) -> Result<Plan, SourceError> {
    let mut specs = Vec::new();
    for dir in ["SPECS", ""] {
        let path = root.join(dir);
        if !real_dir(&path) {
            continue;
        }
        for file in sorted_entries(&path)? {
            if file.ends_with(".spec") && real_file(&path.join(&file)) {
                specs.push(Path::new(dir).join(file));
            }
        }
    }
    let mut metadata_names = Vec::new();
    let mut entries = Vec::new();
    let top = sorted_entries(root)?;
    for file in &top {
        let is_metadata = file.len() > ".metadata".len() + 1
            && file.starts_with('.')
            && file.ends_with(".metadata");
        let is_sources = file == "sources";
        if !is_metadata && !is_sources {
            continue;
        }
        let path = root.join(file);
        let meta = fs::symlink_metadata(&path).map_err(io_err(format!("reading {file}")))?;
        if meta.file_type().is_symlink() {
            return Err(SourceError::UnsafePath {
                origin: url.to_owned(),
                path: file.clone(),
                why: "a metadata file must not be a symlink",
            });
        }
        if !meta.is_file() {
            continue;
        }
        let text = fs::read_to_string(&path).map_err(|e| SourceError::BadMetadata {
            file: file.clone(),
            line: 0,
            message: e.to_string(),
        })?;
        if is_sources {
            entries.push((file.clone(), parse_sources(file, &text)?));
        } else {
            metadata_names.push(file[1..file.len() - ".metadata".len()].to_owned());
            entries.push((file.clone(), parse_metadata(file, &text)?));
        }
    }
    let spec = choose_spec(url, name, &metadata_names, specs, &top)?;
    let sources_dir =
        if spec.starts_with("SPECS") || fs::symlink_metadata(root.join("SOURCES")).is_ok() {
            PathBuf::from("SOURCES")
        } else {
            PathBuf::from(".")
        };
    let mut planned = Vec::new();
    for (file, list) in entries {
        for e in list {
            let rel = if file == "sources" && sources_dir != Path::new(".") {
                sources_dir.join(&e.path)
            } else {
                PathBuf::from(&e.path)
            };
            planned.push(Planned {
                origin: file.clone(),
                shown: rel.to_string_lossy().into_owned(),
                rel,
                checksum: e.checksum,
            });
        }
    }
    Ok(Plan {
        spec,
        sources_dir,
        entries: planned,
    })
}

fn choose_spec(
    url: &str,
    name: &str,
    metadata_names: &[String],
    mut specs: Vec<PathBuf>,
    top: &[String],
) -> Result<PathBuf, SourceError> {
    match specs.len() {
        0 => {
            let top: Vec<&str> = top
                .iter()
                .map(String::as_str)
                .filter(|n| *n != ".git")
                .collect();
            let mut shown: Vec<&str> = top.iter().copied().take(12).collect();
            if top.len() > 12 {
                shown.push("…");
            }
            Err(SourceError::NoSpec {
                url: url.to_owned(),
                found: if shown.is_empty() {
                    "the tree is empty".into()
                } else {
                    format!("found {}", shown.join(", "))
                },
            })
        }
        1 => Ok(specs.swap_remove(0)),
        _ => {
            let wanted: Vec<String> = std::iter::once(name)
                .chain(metadata_names.iter().map(String::as_str))
                .map(|n| format!("{n}.spec"))
                .collect();
            for w in &wanted {
                if let Some(s) = specs
                    .iter()
                    .find(|s| s.file_name().is_some_and(|f| f == w.as_str()))
                {
                    return Ok(s.clone());
                }
            }
            let all: Vec<String> = specs.iter().map(|s| s.display().to_string()).collect();
            Err(SourceError::NoSpec {
                url: url.to_owned(),
                found: format!(
                    "several spec files, none named {}: {}",
                    wanted.join(" or "),
                    all.join(", ")
                ),
            })
        }
    }
}

/// Makes sure the parents of `rel` under `root` are real directories (creating
/// missing ones) and looks at what is at `rel` now.
fn inspect_target(
    root: &Path,
    rel: &Path,
    origin: &str,
    shown: &str,
    want: &Checksum,
) -> Result<Existing, SourceError> {
    let refuse = |why: &'static str| SourceError::UnsafePath {
        origin: origin.to_owned(),
        path: shown.to_owned(),
        why,
    };
    let mut dir = root.to_path_buf();
    if let Some(parent) = rel.parent() {
        for part in parent.components() {
            dir.push(part);
            match fs::symlink_metadata(&dir) {
                Ok(m) if m.file_type().is_symlink() => {
                    return Err(refuse("it goes through a symlink in the tree"));
                }
                Ok(m) if m.is_dir() => {}
                Ok(_) => return Err(refuse("one of its parents is not a directory")),
                Err(e) if e.kind() == io::ErrorKind::NotFound => {
                    fs::create_dir(&dir).map_err(io_err(format!("creating {}", dir.display())))?;
                }
                Err(e) => return Err(io_err(format!("reading {}", dir.display()))(e)),
            }
        }
    }
    let target = root.join(rel);
    match fs::symlink_metadata(&target) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(Existing::Absent),
        Err(e) => Err(io_err(format!("reading {}", target.display()))(e)),
        Ok(m) if m.file_type().is_symlink() => Err(refuse("it is a symlink in the tree")),
        Ok(m) if !m.is_file() => Err(refuse("it is not a regular file in the tree")),
        Ok(_) => {
            let (got, size) = hash_file(&target, want)?;
            Ok(if got == *want {
                Existing::Matches(size)
            } else {
                Existing::Differs(got)
            })
        }
    }
}

fn hash_file(path: &Path, like: &Checksum) -> Result<(Checksum, u64), SourceError> {
    use std::io::Read;
    let mut f = fs::File::open(path).map_err(io_err(format!("reading {}", path.display())))?;
    let mut h = AnyHasher::new(like.kind);
    let mut buf = vec![0u8; 64 * 1024];
    let mut size = 0u64;
    loop {
        let n = f
            .read(&mut buf)
            .map_err(io_err(format!("reading {}", path.display())))?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
        size += n as u64;
    }
    Ok((h.finish(), size))
}

/// Checks every archive among the lookaside sources and the regular files of
/// the sources directory.
fn check_archives(
    root: &Path,
    sources_dir: &Path,
    listed: Vec<PathBuf>,
) -> Result<(), SourceError> {
    let mut files: BTreeSet<PathBuf> = listed.into_iter().collect();
    let dir = root.join(sources_dir);
    if real_dir(&dir) {
        for name in sorted_entries(&dir)? {
            let rel = sources_dir.join(&name);
            if real_file(&root.join(&rel)) {
                files.insert(rel);
            }
        }
    }
    for rel in files {
        let is_archive = rel
            .file_name()
            .is_some_and(|n| is_archive_name(&n.to_string_lossy()));
        if is_archive {
            check_archive(&root.join(rel))?;
        }
    }
    Ok(())
}

fn real_dir(path: &Path) -> bool {
    fs::symlink_metadata(path).is_ok_and(|m| m.is_dir())
}

fn real_file(path: &Path) -> bool {
    fs::symlink_metadata(path).is_ok_and(|m| m.is_file())
}

/// The names in `dir`, sorted (non-UTF-8 names are skipped).
fn sorted_entries(dir: &Path) -> Result<Vec<String>, SourceError> {
    let mut out = Vec::new();
    for e in fs::read_dir(dir).map_err(io_err(format!("listing {}", dir.display())))? {
        let e = e.map_err(io_err(format!("listing {}", dir.display())))?;
        if let Ok(name) = e.file_name().into_string() {
            out.push(name);
        }
    }
    out.sort();
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repository_names_come_from_the_url() {
        assert_eq!(repo_name("https://git.example/rpms/bash.git"), "bash");
        assert_eq!(repo_name("/srv/rpms/hello/"), "hello");
        assert_eq!(repo_name("file:///srv/rpms/hello/.git"), "hello");
        assert_eq!(repo_name("https://x/a/hello?x=1"), "hello");
        assert_eq!(repo_name("/"), "tree");
        assert_eq!(repo_name("/srv/.hidden"), "tree");
    }
}

//! The [`SourceFetcher`](crate::source::SourceFetcher) suite.
use std::path::{Path, PathBuf};

use crate::hash::AnyHasher;
use crate::source::{SourceError, SourceFetcher, SourceRef};

/// The refs a [`source_fetcher`] run needs, prepared for the implementation
/// under test.
#[derive(Debug, Clone)]
pub struct SourceFixture {
    /// A good repository: a spec, at least one lookaside source present in
    /// the store with the right checksum.
    pub good: SourceRef,
    /// The spec path `good` yields, relative to the root (`SPECS/hello.spec`).
    pub expect_spec: String,
    /// The sources directory `good` yields (`SOURCES` or `.`).
    pub expect_sources_dir: String,
    /// The lookaside paths `good` yields, relative to the root, in order.
    pub expect_lookaside: Vec<String>,
    /// Whether `good` yields a commit id (git) or not.
    pub expect_commit: bool,
    /// A repository whose metadata lists a blob that the store holds with
    /// other content.
    pub bad_checksum: SourceRef,
    /// The lookaside path that `bad_checksum` fails on.
    pub bad_checksum_path: String,
    /// A repository whose metadata names `../../<something>`.
    pub traversal: SourceRef,
    /// A ref that the repository does not have.
    pub missing_ref: SourceRef,
}

/// Runs the [`SourceFetcher`] suite: the good ref yields its spec, sources
/// directory, commit and verified lookaside sources whose files hash right;
/// a checksum mismatch is refused and leaves no blob in the destination; a
/// path that leaves the tree is refused and nothing is written outside the
/// destination; a missing ref is `RefNotFound`.
pub async fn source_fetcher(f: &dyn SourceFetcher, fx: &SourceFixture) {
    let scratch = tempfile::tempdir().expect("a scratch directory");

    // Good.
    let dest = scratch.path().join("good");
    let got = f
        .fetch(&fx.good, &dest)
        .await
        .unwrap_or_else(|e| panic!("fetching the good ref {} fails: {e}", fx.good));
    assert_eq!(
        got.source, fx.good,
        "the fetched source is the ref asked for"
    );
    assert!(
        got.root.starts_with(&dest),
        "the tree root {} is inside the destination {}",
        got.root.display(),
        dest.display()
    );
    assert_eq!(
        got.spec.as_deref(),
        Some(Path::new(&fx.expect_spec)),
        "the spec is found"
    );
    assert!(
        got.root.join(&fx.expect_spec).is_file(),
        "the spec is on disk"
    );
    assert_eq!(
        got.sources_dir,
        PathBuf::from(&fx.expect_sources_dir),
        "the sources directory"
    );
    assert_eq!(got.srpm, None, "a git ref yields no SRPM");
    if fx.expect_commit {
        let commit = got.commit.as_deref().expect("a git ref yields a commit");
        assert!(
            commit.len() == 40 && commit.bytes().all(|b| b.is_ascii_hexdigit()),
            "the commit {commit} is a full hex id"
        );
    }
    let paths: Vec<&str> = got.lookaside.iter().map(|v| v.path.as_str()).collect();
    assert_eq!(paths, fx.expect_lookaside, "the lookaside sources listed");
    for v in &got.lookaside {
        let data = std::fs::read(got.root.join(&v.path))
            .unwrap_or_else(|e| panic!("lookaside source {} is on disk: {e}", v.path));
        let mut h = AnyHasher::new(v.checksum.kind);
        h.update(&data);
        assert_eq!(h.finish(), v.checksum, "{} hashes to its checksum", v.path);
        assert_eq!(
            v.size,
            data.len() as u64,
            "{} has the size reported",
            v.path
        );
    }
    assert_eq!(
        stray_temporaries(&dest),
        Vec::<PathBuf>::new(),
        "no temporary files are left"
    );

    // Bad checksum.
    let dest = scratch.path().join("bad-checksum");
    let err = f
        .fetch(&fx.bad_checksum, &dest)
        .await
        .expect_err("a lookaside blob with the wrong checksum is refused");
    match &err {
        SourceError::ChecksumMismatch {
            path, got, want, ..
        } => {
            assert_eq!(path, &fx.bad_checksum_path, "the mismatch names the file");
            assert_ne!(got, want);
            assert!(
                err.to_string().contains(&fx.bad_checksum_path),
                "the message names the file: {err}"
            );
        }
        e => panic!("a bad checksum gives ChecksumMismatch, not {e:?}"),
    }
    assert!(
        find_named(&dest, &fx.bad_checksum_path).is_empty(),
        "the refused blob is not left in the destination"
    );
    assert_eq!(
        stray_temporaries(&dest),
        Vec::<PathBuf>::new(),
        "no temporary files are left after a mismatch"
    );

    // Traversal: the destination sits two levels down so that `../../x`
    // from the tree would land inside `outer`, where we can look for it.
    let outer = scratch.path().join("outer");
    let dest = outer.join("a").join("b");
    let before = list_all(&outer);
    let err = f
        .fetch(&fx.traversal, &dest)
        .await
        .expect_err("a metadata path leaving the tree is refused");
    assert!(
        matches!(err, SourceError::UnsafePath { .. }),
        "traversal gives UnsafePath, not {err:?}"
    );
    let after: Vec<PathBuf> = list_all(&outer)
        .into_iter()
        .filter(|p| !p.starts_with(&dest) && !before.contains(p))
        .filter(|p| !dest.starts_with(p))
        .collect();
    assert_eq!(
        after,
        Vec::<PathBuf>::new(),
        "nothing is written outside dest"
    );

    // Missing ref.
    let dest = scratch.path().join("missing");
    let err = f
        .fetch(&fx.missing_ref, &dest)
        .await
        .expect_err("a missing ref is refused");
    match &err {
        SourceError::RefNotFound { url, .. } => {
            assert_eq!(url, fx.missing_ref.url(), "RefNotFound names the URL");
        }
        e => panic!("a missing ref gives RefNotFound, not {e:?}"),
    }
}

/// Every path under `dir`, recursively (not following symlinks).
fn list_all(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(rd) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in rd.flatten() {
            let p = e.path();
            if e.file_type().is_ok_and(|t| t.is_dir()) {
                stack.push(p.clone());
            }
            out.push(p);
        }
    }
    out.sort();
    out
}

/// Files under `dir` whose path ends with `rel`.
fn find_named(dir: &Path, rel: &str) -> Vec<PathBuf> {
    list_all(dir)
        .into_iter()
        .filter(|p| p.ends_with(rel) && p.is_file())
        .collect()
}

/// Temporary lookaside files left in `dir` (outside `.git`).
fn stray_temporaries(dir: &Path) -> Vec<PathBuf> {
    list_all(dir)
        .into_iter()
        .filter(|p| !p.components().any(|c| c.as_os_str() == ".git"))
        .filter(|p| {
            p.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with(".lookaside-"))
        })
        .collect()
}

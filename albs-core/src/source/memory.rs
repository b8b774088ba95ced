//! The in-memory fetcher: record trees, replay them.
use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use async_trait::async_trait;

use super::metadata::safe_relative_path;
use super::tree::{blocking, io_err, prepare_tree, repo_name};
use super::{FetchedSource, Lookaside, SourceError, SourceFetcher, SourceRef};

/// Replays source trees held in memory, for tests.
///
/// Each recorded [`SourceRef`] maps to a commit id and a set of files; a fetch
/// writes the files into the destination and then prepares the tree exactly
/// as [`GitFetcher`](super::GitFetcher) does (spec, metadata, lookaside from
/// the blobs given to [`MemoryFetcher::new`], archive checks). A ref that was
/// not recorded is [`SourceError::RefNotFound`]; matching is exact, so
/// `Branch("a9")` and `Auto("a9")` are different refs.
#[derive(Debug)]
pub struct MemoryFetcher {
    lookaside: Lookaside,
    trees: HashMap<SourceRef, Recorded>,
    srpms: HashMap<String, Vec<u8>>,
}

#[derive(Debug)]
struct Recorded {
    commit: String,
    files: BTreeMap<String, Vec<u8>>,
}

impl MemoryFetcher {
    /// A fetcher whose lookaside store holds `blobs`, keyed by checksum hex.
    pub fn new(blobs: impl IntoIterator<Item = (String, Vec<u8>)>) -> Self {
        MemoryFetcher {
            lookaside: Lookaside::memory(blobs),
            trees: HashMap::new(),
            srpms: HashMap::new(),
        }
    }

    /// Records that fetching `source` (a git ref) yields `files` (paths
    /// relative to the tree root, `/`-separated) at `commit`. Replaces an
    /// earlier record of the same ref.
    pub fn insert(
        &mut self,
        source: SourceRef,
        commit: impl Into<String>,
        files: BTreeMap<String, Vec<u8>>,
    ) -> &mut Self {
        self.trees.insert(
            source,
            Recorded {
                commit: commit.into(),
                files,
            },
        );
        self
    }

    /// Records the bytes served for the SRPM ref `url`; they are checked to
    /// be a source RPM when fetched.
    pub fn insert_srpm(&mut self, url: impl Into<String>, bytes: Vec<u8>) -> &mut Self {
        self.srpms.insert(url.into(), bytes);
        self
    }
}

#[async_trait]
impl SourceFetcher for MemoryFetcher {
    async fn fetch(&self, source: &SourceRef, dest: &Path) -> Result<FetchedSource, SourceError> {
        tokio::fs::create_dir_all(dest)
            .await
            .map_err(io_err(format!("creating {}", dest.display())))?;
        let url = source.url();
        let not_found = || SourceError::RefNotFound {
            url: url.to_owned(),
            reference: match source {
                SourceRef::Git {
                    reference: Some(r), ..
                } => r.to_string(),
                _ => "HEAD".into(),
            },
        };
        if let SourceRef::Srpm { url } = source {
            let bytes = self.srpms.get(url).ok_or_else(not_found)?;
            let name = super::srpm::file_name(url);
            let target = dest.join(&name);
            tokio::fs::write(&target, bytes)
                .await
                .map_err(io_err(format!("writing {}", target.display())))?;
            return super::srpm::finish(url, dest, name).await;
        }
        let recorded = self.trees.get(source).ok_or_else(not_found)?;
        let name = repo_name(url);
        let root = dest.join(&name);
        {
            let (root, files) = (root.clone(), recorded.files.clone());
            blocking(move || write_files(&root, &files)).await?;
        }
        let prepared = prepare_tree(url, &name, dest, &root, &self.lookaside).await?;
        Ok(FetchedSource {
            source: source.clone(),
            root,
            commit: Some(recorded.commit.clone()),
            spec: Some(prepared.spec),
            sources_dir: prepared.sources_dir,
            lookaside: prepared.lookaside,
            srpm: None,
        })
    }
}

impl Default for MemoryFetcher {
    /// No trees and an empty lookaside store.
    fn default() -> Self {
        MemoryFetcher::new([])
    }
}

fn write_files(root: &Path, files: &BTreeMap<String, Vec<u8>>) -> Result<(), SourceError> {
    std::fs::create_dir_all(root).map_err(io_err(format!("creating {}", root.display())))?;
    for (path, data) in files {
        let rel = safe_relative_path("recorded tree", path)?;
        let target = root.join(rel);
        if let Some(parent) = target.parent() {
            std::fs::create_dir_all(parent)
                .map_err(io_err(format!("creating {}", parent.display())))?;
        }
        std::fs::write(&target, data).map_err(io_err(format!("writing {}", target.display())))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::conformance::{SourceFixture, source_fetcher};
    use crate::hash::Sha256;
    use crate::source::GitRef;

    fn git(url: &str, r: &str) -> SourceRef {
        SourceRef::Git {
            url: url.into(),
            reference: Some(GitRef::Branch(r.into())),
        }
    }

    fn tree(files: &[(&str, &[u8])]) -> BTreeMap<String, Vec<u8>> {
        files
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_vec()))
            .collect()
    }

    fn tarball() -> Vec<u8> {
        let mut b = tar::Builder::new(Vec::new());
        let mut h = tar::Header::new_gnu();
        h.set_size(3);
        h.set_mode(0o644);
        b.append_data(&mut h, "hello-1.0/hello.c", &b"hi\n"[..])
            .unwrap();
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        std::io::Write::write_all(&mut gz, &b.into_inner().unwrap()).unwrap();
        gz.finish().unwrap()
    }

    fn fetcher() -> (MemoryFetcher, SourceFixture) {
        let blob = tarball();
        let sum = Sha256::of(&blob).to_hex();
        let other = b"tampered".to_vec();
        let other_sum = Sha256::of(b"the real thing").to_hex();
        let mut f = MemoryFetcher::new([(sum.clone(), blob), (other_sum.clone(), other)]);
        let spec: &[u8] = b"Name: hello\nVersion: 1.0\n";
        let good_meta = format!("{sum} SOURCES/hello-1.0.tar.gz\n");
        f.insert(
            git("https://git.example/rpms/hello.git", "a9"),
            "0123456789abcdef0123456789abcdef01234567",
            tree(&[
                ("SPECS/hello.spec", spec),
                ("SOURCES/hello-greeting.patch", b"patch"),
                (".hello.metadata", good_meta.as_bytes()),
            ]),
        );
        let bad_meta = format!("{other_sum} SOURCES/hello-1.0.tar.gz\n");
        f.insert(
            git("https://git.example/rpms/hello.git", "bad"),
            "1123456789abcdef0123456789abcdef01234567",
            tree(&[
                ("SPECS/hello.spec", spec),
                (".hello.metadata", bad_meta.as_bytes()),
            ]),
        );
        let evil_meta = format!("{sum} ../../etc/x\n");
        f.insert(
            git("https://git.example/rpms/hello.git", "evil"),
            "2123456789abcdef0123456789abcdef01234567",
            tree(&[
                ("SPECS/hello.spec", spec),
                (".hello.metadata", evil_meta.as_bytes()),
            ]),
        );
        let fx = SourceFixture {
            good: git("https://git.example/rpms/hello.git", "a9"),
            expect_spec: "SPECS/hello.spec".into(),
            expect_sources_dir: "SOURCES".into(),
            expect_lookaside: vec!["SOURCES/hello-1.0.tar.gz".into()],
            expect_commit: true,
            bad_checksum: git("https://git.example/rpms/hello.git", "bad"),
            bad_checksum_path: "SOURCES/hello-1.0.tar.gz".into(),
            traversal: git("https://git.example/rpms/hello.git", "evil"),
            missing_ref: git("https://git.example/rpms/hello.git", "c9"),
        };
        (f, fx)
    }

    #[tokio::test]
    async fn memory_fetcher_passes_the_conformance_suite() {
        let (f, fx) = fetcher();
        source_fetcher(&f, &fx).await;
    }

    async fn fetch_tree(files: &[(&str, &[u8])]) -> Result<FetchedSource, SourceError> {
        let mut f = MemoryFetcher::new([]);
        let r = git("/srv/rpms/pkg", "a9");
        f.insert(r.clone(), "c0ffee", tree(files));
        let dir = tempfile::tempdir().unwrap();
        f.fetch(&r, dir.path()).await
    }

    #[tokio::test]
    async fn spec_at_root_means_sources_in_root() {
        let got = fetch_tree(&[("pkg.spec", b"x"), ("a.patch", b"y")])
            .await
            .unwrap();
        assert_eq!(got.spec.as_deref(), Some(Path::new("pkg.spec")));
        assert_eq!(got.sources_dir, Path::new("."));
        assert!(got.lookaside.is_empty());
        assert_eq!(got.commit.as_deref(), Some("c0ffee"));
    }

    #[tokio::test]
    async fn several_specs_prefer_the_repository_name() {
        let got = fetch_tree(&[("other.spec", b"x"), ("pkg.spec", b"y")])
            .await
            .unwrap();
        assert_eq!(got.spec.as_deref(), Some(Path::new("pkg.spec")));
        let err = fetch_tree(&[("a.spec", b"x"), ("b.spec", b"y")])
            .await
            .unwrap_err();
        assert!(
            matches!(&err, SourceError::NoSpec { found, .. } if found.contains("a.spec")),
            "{err}"
        );
        let err = fetch_tree(&[("README", b"x")]).await.unwrap_err();
        assert!(
            matches!(&err, SourceError::NoSpec { found, .. } if found.contains("README")),
            "{err}"
        );
    }

    #[tokio::test]
    async fn sources_file_entries_go_into_the_sources_dir() {
        let data = b"blob".to_vec();
        let sum = Sha256::of(&data).to_hex();
        let mut f = MemoryFetcher::new([(sum.clone(), data)]);
        let r = git("/srv/rpms/pkg", "a9");
        let sources = format!("SHA256 (pkg-1.0.tar) = {sum}\n");
        f.insert(
            r.clone(),
            "c0ffee",
            tree(&[("pkg.spec", b"x"), ("sources", sources.as_bytes())]),
        );
        let dir = tempfile::tempdir().unwrap();
        let err = f.fetch(&r, dir.path()).await.unwrap_err();
        // "blob" is not a tar archive: the archive check reads it and refuses.
        assert!(matches!(err, SourceError::BadArchive { .. }), "{err}");

        let sources = format!("SHA256 (pkg-1.0.zip) = {sum}\n");
        f.insert(
            r.clone(),
            "c0ffee",
            tree(&[
                ("pkg.spec", b"x"),
                ("SOURCES/a.patch", b"p"),
                ("sources", sources.as_bytes()),
            ]),
        );
        let dir = tempfile::tempdir().unwrap();
        let got = f.fetch(&r, dir.path()).await.unwrap();
        assert_eq!(got.sources_dir, Path::new("SOURCES"));
        assert_eq!(got.lookaside[0].path, "SOURCES/pkg-1.0.zip");
        assert_eq!(
            std::fs::read(got.root.join("SOURCES/pkg-1.0.zip")).unwrap(),
            b"blob"
        );
    }

    #[tokio::test]
    async fn in_tree_file_with_the_right_checksum_needs_no_store() {
        let data = b"committed".to_vec();
        let sum = Sha256::of(&data).to_hex();
        let meta = format!("{sum} SOURCES/x.txt\n");
        let got = fetch_tree(&[
            ("SPECS/pkg.spec", b"x"),
            ("SOURCES/x.txt", &data),
            (".pkg.metadata", meta.as_bytes()),
        ])
        .await
        .unwrap();
        assert_eq!(got.lookaside.len(), 1);
        assert_eq!(got.lookaside[0].size, data.len() as u64);
        let missing = format!("{} SOURCES/y.txt\n", Sha256::of(b"y").to_hex());
        let err = fetch_tree(&[
            ("SPECS/pkg.spec", b"x"),
            (".pkg.metadata", missing.as_bytes()),
        ])
        .await
        .unwrap_err();
        assert!(
            matches!(&err, SourceError::LookasideMissing { path, .. } if path == "SOURCES/y.txt"),
            "{err}"
        );
    }

    #[tokio::test]
    async fn an_evil_tarball_in_the_tree_is_refused() {
        let mut b = tar::Builder::new(Vec::new());
        let mut h = tar::Header::new_gnu();
        let name = b"../evil";
        h.as_old_mut().name[..name.len()].copy_from_slice(name);
        h.set_size(0);
        h.set_mode(0o644);
        h.set_cksum();
        b.append(&h, &b""[..]).unwrap();
        let evil = b.into_inner().unwrap();
        let err = fetch_tree(&[("SPECS/pkg.spec", b"x"), ("SOURCES/e.tar", &evil)])
            .await
            .unwrap_err();
        assert!(
            matches!(&err, SourceError::UnsafePath { path, .. } if path == "../evil"),
            "{err}"
        );
    }

    #[tokio::test]
    async fn srpm_refs_must_be_source_rpms() {
        let mut f = MemoryFetcher::new([]);
        f.insert_srpm("/x/not.src.rpm", b"definitely not an rpm".to_vec());
        let dir = tempfile::tempdir().unwrap();
        let err = f
            .fetch(
                &SourceRef::Srpm {
                    url: "/x/not.src.rpm".into(),
                },
                dir.path(),
            )
            .await
            .unwrap_err();
        assert!(
            matches!(&err, SourceError::Srpm { url, .. } if url == "/x/not.src.rpm"),
            "{err}"
        );
        assert!(
            !dir.path().join("not.src.rpm").exists(),
            "refused SRPM is removed"
        );
    }
}

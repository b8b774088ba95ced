//! The gix source fetcher on real repositories: local paths, `file://` and a
//! smart-HTTP server on loopback; lookaside stores as a directory and over
//! HTTP; the refusals (checksum, traversal, symlinks, archives, SRPMs).
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;

use albs_core::conformance::{SourceFixture, source_fetcher};
use albs_core::hash::Sha256;
use albs_core::source::{
    FetchedSource, GitFetcher, GitRef, Lookaside, SourceError, SourceFetcher, SourceRef,
};
use albs_tests::fixtures::{Examples, git, make_examples};
use albs_tests::git_http;

/// The examples, with extra branches and tags made on `hello`.
struct Fx {
    dir: tempfile::TempDir,
    ex: Examples,
    /// The lookaside checksum of hello-1.0.tar.gz.
    sum: String,
    /// The import tag and its commit (the first commit).
    tag: String,
    first: String,
    /// The head of `a9`: one commit after the tag, adding `NEWS`.
    head: String,
    /// A directory outside every tree, for the symlink branch to point at.
    outside: PathBuf,
}

const TARBALL: &str = "SOURCES/hello-1.0.tar.gz";

impl Fx {
    fn repo(&self) -> PathBuf {
        self.ex.repo("hello")
    }

    fn path_url(&self) -> String {
        self.repo().display().to_string()
    }

    fn file_url(&self) -> String {
        format!("file://{}", self.repo().display())
    }

    fn dest(&self, name: &str) -> PathBuf {
        self.dir.path().join("dest").join(name)
    }
}

fn write(path: &Path, data: &[u8]) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, data).unwrap();
}

/// Adds to `repo` a branch `name` off `base` whose tree `change` edits.
fn branch(repo: &Path, name: &str, base: &str, change: impl FnOnce(&Path)) {
    git(repo, &["checkout", "-q", "-b", name, base]);
    change(repo);
    git(repo, &["add", "-A"]);
    git(repo, &["commit", "-q", "-m", name]);
    git(repo, &["checkout", "-q", "a9"]);
}

/// A gzipped tarball whose members are written raw, so `../evil` can be one.
fn tarball_with(members: &[&str]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for name in members {
        let mut h = tar::Header::new_gnu();
        h.as_old_mut().name[..name.len()].copy_from_slice(name.as_bytes());
        h.set_size(3);
        h.set_mode(0o644);
        h.set_entry_type(tar::EntryType::Regular);
        h.set_cksum();
        b.append(&h, &b"hi\n"[..]).unwrap();
    }
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(&b.into_inner().unwrap()).unwrap();
    gz.finish().unwrap()
}

fn fixture() -> Fx {
    let dir = tempfile::tempdir().unwrap();
    let ex = make_examples(&dir.path().join("examples"));
    let repo = ex.repo("hello");
    let meta = std::fs::read_to_string(repo.join(".hello.metadata")).unwrap();
    let sum = meta.split_whitespace().next().unwrap().to_owned();
    let tag = git(&repo, &["tag", "--list", "imports/a9/*"]);
    assert!(tag.starts_with("imports/a9/hello-1.0-"), "tag {tag}");
    let first = git(&repo, &["rev-parse", "HEAD"]);
    git(
        &repo,
        &["tag", "-a", "-m", "annotated", "annotated", &first],
    );

    // A blob stored under a checksum it does not have.
    let claimed = Sha256::of(b"the real tarball").to_hex();
    std::fs::write(ex.lookaside.join(&claimed), b"tampered").unwrap();
    branch(&repo, "bad", &first, |r| {
        write(
            &r.join(".hello.metadata"),
            format!("{claimed} {TARBALL}\n").as_bytes(),
        );
    });
    branch(&repo, "evil", &first, |r| {
        write(
            &r.join(".hello.metadata"),
            format!("{sum} ../../etc/x\n").as_bytes(),
        );
    });
    branch(&repo, "slash", &first, |r| {
        std::fs::remove_file(r.join(".hello.metadata")).unwrap();
        write(
            &r.join("sources"),
            format!("SHA256 (sub/hello-1.0.tar.gz) = {sum}\n").as_bytes(),
        );
    });
    let evil_tar = tarball_with(&["hello-1.0/ok.c", "../evil"]);
    let evil_sum = Sha256::of(&evil_tar).to_hex();
    std::fs::write(ex.lookaside.join(&evil_sum), &evil_tar).unwrap();
    branch(&repo, "evil-tar", &first, |r| {
        write(
            &r.join(".hello.metadata"),
            format!("{evil_sum} {TARBALL}\n").as_bytes(),
        );
    });
    let outside = dir.path().join("outside");
    std::fs::create_dir_all(&outside).unwrap();
    let target = outside.clone();
    branch(&repo, "symlink", &first, move |r| {
        std::fs::remove_dir_all(r.join("SOURCES")).unwrap();
        std::os::unix::fs::symlink(&target, r.join("SOURCES")).unwrap();
    });
    // a9 moves one commit past the tag.
    write(&repo.join("NEWS"), b"second commit\n");
    git(&repo, &["add", "NEWS"]);
    git(&repo, &["commit", "-q", "-m", "news"]);
    let head = git(&repo, &["rev-parse", "HEAD"]);
    Fx {
        dir,
        ex,
        sum,
        tag,
        first,
        head,
        outside,
    }
}

fn at(url: &str, r: Option<GitRef>) -> SourceRef {
    SourceRef::Git {
        url: url.to_owned(),
        reference: r,
    }
}

fn branch_ref(url: &str, name: &str) -> SourceRef {
    at(url, Some(GitRef::Branch(name.into())))
}

fn conformance_fixture(url: &str) -> SourceFixture {
    SourceFixture {
        good: branch_ref(url, "a9"),
        expect_spec: "SPECS/hello.spec".into(),
        expect_sources_dir: "SOURCES".into(),
        expect_lookaside: vec![TARBALL.into()],
        expect_commit: true,
        bad_checksum: branch_ref(url, "bad"),
        bad_checksum_path: TARBALL.into(),
        traversal: branch_ref(url, "evil"),
        missing_ref: branch_ref(url, "c9"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conformance_on_a_local_path_with_a_lookaside_dir() {
    let fx = fixture();
    let f = GitFetcher::new(Lookaside::dir(&fx.ex.lookaside));
    source_fetcher(&f, &conformance_fixture(&fx.path_url())).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conformance_on_a_file_url() {
    let fx = fixture();
    let f = GitFetcher::new(Lookaside::dir(&fx.ex.lookaside));
    source_fetcher(&f, &conformance_fixture(&fx.file_url())).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conformance_over_http_with_an_http_lookaside() {
    let fx = fixture();
    let server = git_http::start(fx.ex.git.clone(), fx.ex.lookaside.clone()).await;
    let f = GitFetcher::new(Lookaside::http(server.lookaside_url()));
    source_fetcher(&f, &conformance_fixture(&server.git_url("hello"))).await;
    let requests = server.requests();
    assert!(
        requests
            .iter()
            .any(|r| r == "GET /git/hello/info/refs?service=git-upload-pack"),
        "the clone went over smart HTTP: {requests:?}"
    );
    assert!(
        requests
            .iter()
            .any(|r| r == "POST /git/hello/git-upload-pack"),
        "the pack came over smart HTTP: {requests:?}"
    );
    assert!(
        requests
            .iter()
            .any(|r| r == &format!("GET /lookaside/{}", fx.sum)),
        "the tarball came over HTTP: {requests:?}"
    );
    server.shutdown().await;
}

/// Fetches `r` into a fresh destination and returns what came back.
async fn fetch(f: &GitFetcher, r: &SourceRef, dest: &Path) -> Result<FetchedSource, SourceError> {
    f.fetch(r, dest).await
}

async fn refs_are_checked_out(fx: &Fx, f: &GitFetcher, url: &str, tag_prefix: &str) {
    let abbrev = &fx.first[..8];
    let cases: Vec<(Option<GitRef>, &str, bool)> = vec![
        (None, &fx.head, true),
        (Some(GitRef::Branch("a9".into())), &fx.head, true),
        (Some(GitRef::Tag(fx.tag.clone())), &fx.first, false),
        (Some(GitRef::Tag("annotated".into())), &fx.first, false),
        (Some(GitRef::Commit(fx.first.clone())), &fx.first, false),
        (Some(GitRef::Commit(abbrev.into())), &fx.first, false),
        (Some(GitRef::Auto("a9".into())), &fx.head, true),
        (Some(GitRef::Auto(fx.tag.clone())), &fx.first, false),
        (Some(GitRef::Auto(abbrev.into())), &fx.first, false),
    ];
    for (i, (r, want, has_news)) in cases.into_iter().enumerate() {
        let source = at(url, r.clone());
        let dest = fx.dest(&format!("{tag_prefix}-{i}"));
        let got = fetch(f, &source, &dest)
            .await
            .unwrap_or_else(|e| panic!("{source}: {e}"));
        assert_eq!(
            got.commit.as_deref(),
            Some(want),
            "{source} checks out {want}"
        );
        assert_eq!(
            got.root.join("NEWS").exists(),
            has_news,
            "{source}: the tree is the commit's tree"
        );
        assert_eq!(got.spec.as_deref(), Some(Path::new("SPECS/hello.spec")));
        assert!(
            got.root.join(TARBALL).is_file(),
            "{source}: tarball fetched"
        );
        assert!(
            got.root.join("SOURCES/hello-greeting.patch").is_file(),
            "{source}: in-tree sources checked out"
        );
        let head = git(&got.root, &["rev-parse", "HEAD"]);
        assert_eq!(head, want, "{source}: HEAD of the clone is the commit");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn branch_tag_and_commit_from_a_local_path_and_file_url() {
    let fx = fixture();
    let f = GitFetcher::new(Lookaside::dir(&fx.ex.lookaside));
    refs_are_checked_out(&fx, &f, &fx.path_url(), "path").await;
    refs_are_checked_out(&fx, &f, &fx.file_url(), "file").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn branch_tag_and_commit_over_http() {
    let fx = fixture();
    let server = git_http::start(fx.ex.git.clone(), fx.ex.lookaside.clone()).await;
    let f = GitFetcher::new(Lookaside::http(server.lookaside_url()));
    refs_are_checked_out(&fx, &f, &server.git_url("hello"), "http").await;
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_refs_name_the_ref_and_the_url() {
    let fx = fixture();
    let f = GitFetcher::new(Lookaside::dir(&fx.ex.lookaside));
    let url = fx.path_url();
    let refs = [
        GitRef::Branch("c9".into()),
        GitRef::Tag("imports/c9/nope".into()),
        GitRef::Commit("deadbeefdeadbeef".into()),
        GitRef::Commit("not hex".into()),
        GitRef::Auto("nope".into()),
        GitRef::Branch("bad..name".into()),
    ];
    for (i, r) in refs.into_iter().enumerate() {
        let err = fetch(&f, &at(&url, Some(r.clone())), &fx.dest(&format!("u{i}")))
            .await
            .expect_err("an unknown ref is refused");
        match &err {
            SourceError::RefNotFound { url: u, reference } => {
                assert_eq!(u, &url);
                assert_eq!(reference, &r.to_string());
            }
            e => panic!("{r}: expected RefNotFound, got {e:?}"),
        }
        let text = err.to_string();
        assert!(
            text.contains(&url) && text.contains(&r.to_string()),
            "{text}"
        );
    }
    let err = fetch(&f, &at("ssh://host/rpms/hello", None), &fx.dest("ssh"))
        .await
        .expect_err("ssh is not a supported scheme");
    assert!(
        matches!(&err, SourceError::Git { message, .. } if message.contains("unsupported")),
        "{err}"
    );
    let missing = fx.dir.path().join("no-such-repo");
    let err = fetch(&f, &at(&missing.display().to_string(), None), &fx.dest("m"))
        .await
        .expect_err("a missing repository is refused");
    assert!(matches!(err, SourceError::Git { .. }), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lookaside_dir_and_http_give_the_same_verified_tree() {
    let fx = fixture();
    let server = git_http::start(fx.ex.git.clone(), fx.ex.lookaside.clone()).await;
    let by_dir = GitFetcher::new(Lookaside::dir(&fx.ex.lookaside));
    let by_http = GitFetcher::new(Lookaside::http(format!("{}/", server.lookaside_url())));
    let r = at(&fx.path_url(), Some(GitRef::Tag(fx.tag.clone())));
    let a = fetch(&by_dir, &r, &fx.dest("dir")).await.unwrap();
    let b = fetch(&by_http, &r, &fx.dest("http")).await.unwrap();
    assert_eq!(a.lookaside, b.lookaside);
    assert_eq!(a.lookaside.len(), 1);
    assert_eq!(a.lookaside[0].checksum.hex, fx.sum);
    let blob = std::fs::read(fx.ex.lookaside.join(&fx.sum)).unwrap();
    assert_eq!(std::fs::read(a.root.join(TARBALL)).unwrap(), blob);
    assert_eq!(std::fs::read(b.root.join(TARBALL)).unwrap(), blob);
    assert_eq!(a.lookaside[0].size, blob.len() as u64);

    // No store: the tarball cannot be had.
    let none = GitFetcher::new(Lookaside::None);
    let err = fetch(&none, &r, &fx.dest("none")).await.unwrap_err();
    assert!(
        matches!(&err, SourceError::LookasideMissing { path, .. } if path == TARBALL),
        "{err}"
    );
    // An HTTP store without the blob.
    std::fs::remove_file(fx.ex.lookaside.join(&fx.sum)).unwrap();
    let err = fetch(&by_http, &r, &fx.dest("gone")).await.unwrap_err();
    assert!(
        matches!(&err, SourceError::LookasideMissing { path, .. } if path == TARBALL),
        "{err}"
    );
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn checksum_mismatch_is_refused_naming_the_file() {
    let fx = fixture();
    let f = GitFetcher::new(Lookaside::dir(&fx.ex.lookaside));
    let dest = fx.dest("bad");
    let err = fetch(&f, &branch_ref(&fx.path_url(), "bad"), &dest)
        .await
        .unwrap_err();
    let text = err.to_string();
    assert!(
        matches!(err, SourceError::ChecksumMismatch { .. }),
        "{text}"
    );
    assert!(
        text.contains(TARBALL) && text.contains("sha256"),
        "the message names the file and the digest: {text}"
    );
    assert!(
        !dest.join("hello").join(TARBALL).exists(),
        "the refused blob is not put in place"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metadata_traversal_is_refused() {
    let fx = fixture();
    let f = GitFetcher::new(Lookaside::dir(&fx.ex.lookaside));
    let err = fetch(&f, &branch_ref(&fx.file_url(), "evil"), &fx.dest("evil"))
        .await
        .unwrap_err();
    match &err {
        SourceError::UnsafePath { origin, path, .. } => {
            assert_eq!(path, "../../etc/x");
            assert!(origin.contains(".hello.metadata"), "{err}");
        }
        e => panic!("expected UnsafePath, got {e:?}"),
    }
    assert!(!fx.dir.path().join("etc").exists());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sources_entry_with_a_slash_is_refused() {
    let fx = fixture();
    let f = GitFetcher::new(Lookaside::dir(&fx.ex.lookaside));
    let err = fetch(&f, &branch_ref(&fx.path_url(), "slash"), &fx.dest("slash"))
        .await
        .unwrap_err();
    match &err {
        SourceError::UnsafePath { origin, path, .. } => {
            assert_eq!(path, "sub/hello-1.0.tar.gz");
            assert!(origin.starts_with("sources"), "{err}");
        }
        e => panic!("expected UnsafePath, got {e:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tarball_with_a_parent_member_is_refused() {
    let fx = fixture();
    let f = GitFetcher::new(Lookaside::dir(&fx.ex.lookaside));
    let err = fetch(&f, &branch_ref(&fx.path_url(), "evil-tar"), &fx.dest("tar"))
        .await
        .unwrap_err();
    match &err {
        SourceError::UnsafePath { origin, path, .. } => {
            assert_eq!(path, "../evil");
            assert!(origin.ends_with("hello-1.0.tar.gz"), "{err}");
        }
        e => panic!("expected UnsafePath, got {e:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_symlinked_sources_dir_is_not_written_through() {
    let fx = fixture();
    let f = GitFetcher::new(Lookaside::dir(&fx.ex.lookaside));
    let dest = fx.dest("symlink");
    let err = fetch(&f, &branch_ref(&fx.path_url(), "symlink"), &dest)
        .await
        .unwrap_err();
    assert!(
        matches!(&err, SourceError::UnsafePath { path, .. } if path == TARBALL),
        "{err}"
    );
    let sources = dest.join("hello/SOURCES");
    assert!(
        std::fs::symlink_metadata(&sources)
            .unwrap()
            .file_type()
            .is_symlink(),
        "the checkout kept the symlink, so the refusal is what protected us"
    );
    assert_eq!(
        std::fs::read_dir(&fx.outside).unwrap().count(),
        0,
        "nothing was written through the symlink"
    );
}

/// Runs rpmbuild on the albs-docs example; `None` when rpmbuild is missing.
fn build_albs_docs(fx: &Fx, what: &str) -> Option<PathBuf> {
    if Command::new("rpmbuild").arg("--version").output().is_err() {
        eprintln!("rpmbuild is not installed: skipping the real-RPM half of the test");
        return None;
    }
    let top = fx.dir.path().join("rpmbuild");
    let repo = fx.ex.repo("albs-docs");
    let out = Command::new("rpmbuild")
        .arg(what)
        .arg("--nodeps")
        .arg("--define")
        .arg(format!("_topdir {}", top.display()))
        .arg("--define")
        .arg(format!("_sourcedir {}", repo.display()))
        .arg(repo.join("albs-docs.spec"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "rpmbuild {what}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let dir = if what == "-bs" {
        top.join("SRPMS")
    } else {
        top.join("RPMS/noarch")
    };
    let file = std::fs::read_dir(&dir).unwrap().next().unwrap().unwrap();
    Some(file.path())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn srpm_refs_must_be_source_rpms() {
    let fx = fixture();
    let server = git_http::start(fx.ex.git.clone(), fx.ex.lookaside.clone()).await;
    let f = GitFetcher::new(Lookaside::None);

    // Not an RPM at all: as a path, a file:// URL and over HTTP.
    let text = fx.dir.path().join("not-an.src.rpm");
    std::fs::write(&text, b"this is not an RPM\n").unwrap();
    std::fs::write(fx.ex.lookaside.join("not-an.src.rpm"), b"nope").unwrap();
    let urls = [
        text.display().to_string(),
        format!("file://{}", text.display()),
        format!("{}/not-an.src.rpm", server.lookaside_url()),
        format!("{}/missing.src.rpm", server.lookaside_url()),
    ];
    for (i, url) in urls.iter().enumerate() {
        let dest = fx.dest(&format!("srpm{i}"));
        let err = f
            .fetch(&SourceRef::Srpm { url: url.clone() }, &dest)
            .await
            .expect_err("a non-RPM is refused");
        assert!(
            matches!(&err, SourceError::Srpm { url: u, .. } if u == url),
            "{url}: {err}"
        );
        assert!(
            !dest.join("not-an.src.rpm").exists(),
            "{url}: the refused file is removed"
        );
    }

    // A real SRPM is accepted, a binary RPM refused.
    if let Some(srpm) = build_albs_docs(&fx, "-bs") {
        let url = srpm.display().to_string();
        let dest = fx.dest("real-srpm");
        let got = f
            .fetch(&SourceRef::Srpm { url: url.clone() }, &dest)
            .await
            .unwrap();
        let name = srpm.file_name().unwrap();
        assert_eq!(got.srpm.as_deref(), Some(Path::new(name)));
        assert_eq!(got.commit, None);
        assert_eq!(got.spec, None);
        assert_eq!(
            std::fs::read(got.root.join(name)).unwrap(),
            std::fs::read(&srpm).unwrap()
        );
        let rpm = build_albs_docs(&fx, "-bb").unwrap();
        let err = f
            .fetch(
                &SourceRef::Srpm {
                    url: rpm.display().to_string(),
                },
                &fx.dest("binary"),
            )
            .await
            .expect_err("a binary RPM is refused");
        assert!(
            matches!(&err, SourceError::Srpm { message, .. } if message.contains("binary")),
            "{err}"
        );
    }
    server.shutdown().await;
}

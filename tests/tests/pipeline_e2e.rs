//! The local pipeline on real adapters: gix, rpmbuild in bubblewrap, a
//! directory store and a file ledger, on the example packages.

use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use albs_core::build::{RpmbuildExecutor, Sandbox};
use albs_core::ledger::{FileLedger, Ledger, LedgerExt, RecordKind};
use albs_core::model::{Arch, TaskState};
use albs_core::pipeline::{LocalPipeline, NoEvents, PipelineRequest, RpmspecReader};
use albs_core::platform::Platforms;
use albs_core::source::{GitFetcher, GitRef, Lookaside, SourceRef};
use albs_core::store::{ArtifactStore, DirStore};
use albs_core::test::IntegrityTester;
use albs_tests::fixtures::{Examples, git, make_examples};

struct Setup {
    pipeline: LocalPipeline,
    store: Arc<DirStore>,
    ledger: Arc<FileLedger>,
}

fn setup(data: &Path, lookaside: &Path) -> Setup {
    let store = Arc::new(DirStore::open(data.join("artifacts")).unwrap());
    let ledger = Arc::new(FileLedger::open(&data.join("ledger")).unwrap());
    let pipeline = LocalPipeline {
        fetcher: Arc::new(GitFetcher::new(Lookaside::Dir(lookaside.to_path_buf()))),
        executor: Arc::new(RpmbuildExecutor::new(Sandbox::Bubblewrap)),
        store: store.clone(),
        ledger: ledger.clone(),
        specs: Some(Arc::new(RpmspecReader)),
        tester: Some(Arc::new(IntegrityTester)),
        work_dir: data.join("work"),
        host: "test-host".into(),
        cancel: Default::default(),
    };
    Setup {
        pipeline,
        store,
        ledger,
    }
}

fn request(sources: Vec<SourceRef>) -> PipelineRequest {
    PipelineRequest {
        platform: Platforms::bundled().get("almalinux-9").unwrap().clone(),
        arches: vec![Arch::host()],
        sources,
        timeout: Duration::from_secs(300),
    }
}

fn git_ref(ex: &Examples, name: &str, r: &str) -> SourceRef {
    SourceRef::Git {
        url: ex.repo(name).display().to_string(),
        reference: Some(GitRef::Auto(r.into())),
    }
}

fn blob_count(root: &Path) -> usize {
    fn walk(p: &Path) -> usize {
        std::fs::read_dir(p)
            .map(|rd| {
                rd.flatten()
                    .map(|e| {
                        let p = e.path();
                        if p.is_dir() { walk(&p) } else { 1 }
                    })
                    .sum()
            })
            .unwrap_or(0)
    }
    walk(&root.join("artifacts/sha256"))
}

#[tokio::test(flavor = "multi_thread")]
async fn examples_build_in_build_requires_order_and_are_recorded() {
    let tmp = tempfile::tempdir().unwrap();
    let ex = make_examples(&tmp.path().join("fx"));
    let data = tmp.path().join("data");
    let s = setup(&data, &ex.lookaside);
    // hello-extras is given first but BuildRequires hello.
    let req = request(vec![
        git_ref(&ex, "hello-extras", "a9"),
        git_ref(&ex, "albs-docs", "imports/a9/albs-docs-2.1-3"),
        git_ref(&ex, "hello", "a9"),
    ]);
    let report = s.pipeline.run(&req, Arc::new(NoEvents)).await.unwrap();
    for r in &report.refs {
        assert!(
            r.succeeded(),
            "{} failed: {:?} {:?}",
            r.source,
            r.reason,
            r.arches
        );
    }
    let pos = |i| report.order.iter().position(|&x| x == i).unwrap();
    assert!(pos(2) < pos(0), "hello is built before hello-extras");

    let hello = &report.refs[2];
    assert_eq!(hello.name.as_deref(), Some("hello"));
    assert_eq!(
        hello.lookaside.len(),
        1,
        "hello's tarball came from the lookaside"
    );
    let head = git(&ex.repo("hello"), &["rev-parse", "HEAD"]);
    assert_eq!(hello.commit.as_deref(), Some(head.as_str()));
    let srpm = hello.srpm.as_ref().unwrap();
    assert_eq!(
        srpm.nevra.as_ref().unwrap().to_string(),
        "hello-1.0-1.el9.src"
    );

    let extras = &report.refs[0].arches[0];
    let mut names: Vec<String> = extras
        .rpms
        .iter()
        .map(|a| a.nevra.as_ref().unwrap().name.clone())
        .collect();
    names.sort();
    assert_eq!(names, ["hello-extras", "hello-extras-devel"]);
    let docs = &report.refs[1].arches[0];
    assert!(docs.rpms[0].nevra.as_ref().unwrap().arch.is_noarch());
    assert!(docs.test.as_ref().unwrap().passed(), "rpm -K passed");

    // Every artifact is in the store under its digest and rpm accepts it.
    for r in &report.refs {
        let all = r
            .srpm
            .iter()
            .chain(r.arches.iter().flat_map(|a| a.rpms.iter()));
        for a in all {
            let path = s.store.local_path(&a.sha256).unwrap();
            let (digest, _) =
                albs_core::Sha256::of_reader(std::fs::File::open(&path).unwrap()).unwrap();
            assert_eq!(digest, a.sha256);
            let out = Command::new("rpm")
                .args(["-K", "--nosignature"])
                .arg(&path)
                .output()
                .unwrap();
            assert!(
                out.status.success(),
                "rpm -K {}: {}",
                a.name,
                String::from_utf8_lossy(&out.stdout)
            );
            // The ledger ties the artifact to its inputs.
            let idx = s.ledger.find_artifact(&a.sha256).await.unwrap();
            assert_eq!(idx.len(), 1, "{} has one ledger record", a.name);
            let rec = s.ledger.get(idx[0]).await.unwrap().unwrap().record;
            assert_eq!(rec.inputs.commit, r.commit);
            assert_eq!(rec.task.host, "test-host");
            assert_eq!(rec.nevra, a.nevra);
            if rec.kind == RecordKind::Rpm {
                assert_eq!(rec.inputs.srpm, r.srpm.as_ref().map(|s| s.sha256));
            }
        }
    }
    // 3 sources records + 3 SRPMs + 4 RPMs.
    assert_eq!(report.ledger_size, 10);
    assert_eq!(
        hex::encode(s.ledger.root_at(10).await.unwrap()),
        report.ledger_root
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn lookaside_mismatch_is_refused_and_nothing_is_stored() {
    let tmp = tempfile::tempdir().unwrap();
    let ex = make_examples(&tmp.path().join("fx"));
    // Corrupt the blob in the lookaside store: it no longer matches .hello.metadata.
    let blob = std::fs::read_dir(&ex.lookaside)
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let mut bytes = std::fs::read(&blob).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 0xff;
    std::fs::write(&blob, bytes).unwrap();

    let data = tmp.path().join("data");
    let s = setup(&data, &ex.lookaside);
    // Something already stored must survive the refused build.
    let before = s
        .store
        .put(Box::pin(&b"earlier artifact"[..]), None)
        .await
        .unwrap();
    let report = s
        .pipeline
        .run(
            &request(vec![git_ref(&ex, "hello", "a9")]),
            Arc::new(NoEvents),
        )
        .await
        .unwrap();
    let r = &report.refs[0];
    assert_eq!(r.state, TaskState::Failed);
    let reason = r.reason.as_deref().unwrap();
    assert!(reason.contains("SOURCES/hello-1.0.tar.gz"), "{reason}");
    assert!(reason.contains("metadata says"), "{reason}");
    assert!(r.srpm.is_none() && r.arches.is_empty());
    assert_eq!(blob_count(&data), 1, "nothing new in the store");
    assert!(s.store.has(&before.sha256).await.unwrap());
    assert_eq!(s.ledger.size().await.unwrap(), 0, "nothing recorded");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_failed_dependency_stops_its_dependents() {
    let tmp = tempfile::tempdir().unwrap();
    let ex = make_examples(&tmp.path().join("fx"));
    // Break hello's %build on a new commit.
    let spec = ex.repo("hello").join("SPECS/hello.spec");
    let text = std::fs::read_to_string(&spec).unwrap();
    std::fs::write(&spec, text.replace("make %{?_smp_mflags}", "exit 7\nmake")).unwrap();
    git(&ex.repo("hello"), &["commit", "-qam", "break the build"]);

    let data = tmp.path().join("data");
    let s = setup(&data, &ex.lookaside);
    let report = s
        .pipeline
        .run(
            &request(vec![
                git_ref(&ex, "hello-extras", "a9"),
                git_ref(&ex, "hello", "a9"),
            ]),
            Arc::new(NoEvents),
        )
        .await
        .unwrap();
    let hello = &report.refs[1];
    assert_eq!(hello.arches[0].state, TaskState::Failed);
    let why = hello.arches[0].reason.as_deref().unwrap();
    assert!(why.contains("exit 7"), "the failing line is shown: {why}");
    let extras = &report.refs[0];
    assert_eq!(extras.state, TaskState::Failed);
    assert!(
        extras.reason.as_deref().unwrap().contains("needs hello"),
        "{:?}",
        extras.reason
    );
    assert!(!report.succeeded());
}

#[tokio::test(flavor = "multi_thread")]
async fn integrity_tester_conforms_on_real_packages_and_catches_corruption() {
    let tmp = tempfile::tempdir().unwrap();
    let ex = make_examples(&tmp.path().join("fx"));
    let data = tmp.path().join("data");
    let s = setup(&data, &ex.lookaside);
    let report = s
        .pipeline
        .run(
            &request(vec![git_ref(&ex, "albs-docs", "a9")]),
            Arc::new(NoEvents),
        )
        .await
        .unwrap();
    let rpm = &report.refs[0].arches[0].rpms[0];
    let good = tmp.path().join(&rpm.name);
    std::fs::copy(s.store.local_path(&rpm.sha256).unwrap(), &good).unwrap();
    albs_core::conformance::tester(&IntegrityTester, std::slice::from_ref(&good)).await;

    // Flip a byte of the payload: rpm -K must notice, and the report must fail.
    let bad = tmp.path().join("corrupt-1-1.noarch.rpm");
    let mut bytes = std::fs::read(&good).unwrap();
    let n = bytes.len();
    bytes[n - 100] ^= 0x55;
    std::fs::write(&bad, bytes).unwrap();
    let platform = Platforms::bundled().get("almalinux-9").unwrap().clone();
    let r = albs_core::test::Tester::test(&IntegrityTester, &[good, bad], &platform, &Arch::host())
        .await
        .unwrap();
    assert!(!r.passed());
    assert!(
        r.stages[0]
            .tap
            .contains("not ok 2 - corrupt-1-1.noarch.rpm"),
        "{}",
        r.stages[0].tap
    );
    assert!(
        r.stages[0].tap.contains("ok 1 - albs-docs"),
        "{}",
        r.stages[0].tap
    );
}

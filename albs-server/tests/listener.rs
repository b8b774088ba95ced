//! The git listener against real git repositories made with the git CLI in a
//! temporary directory, on SQLite, a directory artifact store and a memory
//! ledger: polls, the background loop under `serve`, and the webhook.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use albs_core::api::{BuildQuery, RegisterNode};
use albs_core::auth::{hash_token, new_token};
use albs_core::db::{SqliteStore, Store};
use albs_core::ledger::MemoryLedger;
use albs_core::model::{Arch, Build, TaskKind};
use albs_core::platform::{Platform, Platforms};
use albs_core::source::{GitRef, SourceRef};
use albs_core::store::DirStore;
use albs_server::{
    AppState, ListenerConfig, ListenerError, ServerConfig, WatchedRepo, poll_once, router, serve,
};
use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use http_body_util::BodyExt as _;
use serde_json::{Value, json};
use time::OffsetDateTime;
use tower::ServiceExt as _;

/// A copy of almalinux-9 with a timeout of its own, so that builds can be
/// seen to take the platform's timeout.
const PLATFORM: &str = "listener-9";
const PLATFORM_TIMEOUT: u64 = 4321;
const SECRET: &str = "hook-secret-for-tests";

struct Harness {
    dir: tempfile::TempDir,
    store: Arc<dyn Store>,
    state: AppState,
    admin: String,
    alice: String,
}

fn test_platform() -> Platform {
    let mut p = Platforms::bundled().get("almalinux-9").unwrap().clone();
    p.name = PLATFORM.into();
    p.timeout_secs = Some(PLATFORM_TIMEOUT);
    p
}

async fn harness(listener: Option<ListenerConfig>) -> Harness {
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn Store> = Arc::new(
        SqliteStore::open(&dir.path().join("albs.db"))
            .await
            .unwrap(),
    );
    for p in Platforms::bundled().iter() {
        store.put_platform(p).await.unwrap();
    }
    store.put_platform(&test_platform()).await.unwrap();
    let mut tokens = Vec::new();
    for (name, admin) in [("root", true), ("alice", false)] {
        let user = store.create_user(name, admin).await.unwrap();
        let token = new_token().unwrap();
        store
            .add_user_token(user.id, &hash_token(&token), None)
            .await
            .unwrap();
        tokens.push(token);
    }
    let artifacts = Arc::new(DirStore::open(dir.path().join("artifacts")).unwrap());
    let config = ServerConfig {
        listener,
        ..ServerConfig::default()
    };
    let state = AppState::new(
        store.clone(),
        artifacts,
        Arc::new(MemoryLedger::default()),
        config,
    );
    let [admin, alice] = <[String; 2]>::try_from(tokens).unwrap();
    Harness {
        dir,
        store,
        state,
        admin,
        alice,
    }
}

impl Harness {
    /// Every build, oldest first, with its tasks.
    async fn builds(&self) -> Vec<Build> {
        let page = self
            .store
            .list_builds(&BuildQuery {
                limit: Some(500),
                ..BuildQuery::default()
            })
            .await
            .unwrap();
        let mut out = Vec::new();
        for b in page.builds.iter().rev() {
            out.push(self.store.build(b.id).await.unwrap().unwrap());
        }
        out
    }
}

/// Runs git in `dir` with a fixed identity and no user or system config.
fn git(dir: &Path, args: &[&str]) {
    let out = Command::new("git")
        .args(args)
        .current_dir(dir)
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_AUTHOR_NAME", "Test Packager")
        .env("GIT_AUTHOR_EMAIL", "packager@example.org")
        .env("GIT_COMMITTER_NAME", "Test Packager")
        .env("GIT_COMMITTER_EMAIL", "packager@example.org")
        .output()
        .expect("git runs");
    assert!(
        out.status.success(),
        "git {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A repository `name` under `root` with one commit.
fn repo(root: &Path, name: &str) -> PathBuf {
    let dir = root.join(name);
    std::fs::create_dir_all(&dir).unwrap();
    git(&dir, &["init", "-q", "-b", "main"]);
    std::fs::write(dir.join(format!("{name}.spec")), "Name: x\n").unwrap();
    git(&dir, &["add", "."]);
    git(&dir, &["commit", "-q", "-m", "import"]);
    dir
}

/// A lightweight tag, or an annotated one when `annotated`.
fn tag(dir: &Path, name: &str, annotated: bool) {
    if annotated {
        git(dir, &["tag", "-a", "-m", name, name]);
    } else {
        git(dir, &["tag", name]);
    }
}

fn watched(url: &str, platform: &str, arches: &[&str]) -> WatchedRepo {
    WatchedRepo {
        url: url.to_owned(),
        tag_pattern: "imports/a9/*".into(),
        platform: platform.into(),
        arches: arches.iter().map(|a| a.parse().unwrap()).collect(),
        owner: "releng".into(),
    }
}

fn git_tag_ref(url: &str, tag: &str) -> Vec<SourceRef> {
    vec![SourceRef::Git {
        url: url.to_owned(),
        reference: Some(GitRef::Tag(tag.to_owned())),
    }]
}

fn now() -> OffsetDateTime {
    OffsetDateTime::now_utc()
}

#[tokio::test]
async fn the_first_poll_builds_each_matching_tag_and_the_next_builds_none() {
    let h = harness(None).await;
    let dir = repo(h.dir.path(), "bash");
    tag(&dir, "imports/a9/bash-5.1.8-6.el9", false);
    tag(&dir, "imports/a9/bash-5.1.8-9.el9", true);
    tag(&dir, "imports/a8/bash-4.4.20-4.el8", false);
    tag(&dir, "v1", true);
    let url = dir.to_str().unwrap().to_owned();
    let w = watched(&url, PLATFORM, &[]);

    let ids = poll_once(&h.state, &w, now()).await.unwrap();
    assert_eq!(ids.len(), 2, "{ids:?}");
    let builds = h.builds().await;
    assert_eq!(builds.iter().map(|b| b.id).collect::<Vec<_>>(), ids);
    let platform = test_platform();
    for (b, t) in builds
        .iter()
        .zip(["imports/a9/bash-5.1.8-6.el9", "imports/a9/bash-5.1.8-9.el9"])
    {
        assert_eq!(b.refs, git_tag_ref(&url, t));
        assert_eq!(b.platform, PLATFORM);
        assert_eq!(b.owner, "releng");
        assert_eq!(b.arches, platform.arches);
        assert_eq!(b.tasks.len(), 1 + platform.arches.len());
        assert_eq!(b.tasks[0].kind, TaskKind::Src);
        assert_eq!(b.tasks[0].package.as_deref(), Some("bash"));
    }

    // The platform's timeout reaches the tasks.
    let node = h
        .store
        .register_node(
            &RegisterNode {
                name: "n1".into(),
                arches: platform.arches.clone(),
                labels: vec![],
                capacity: 1,
                excluded_packages: vec![],
            },
            &hash_token("node-token"),
            now(),
        )
        .await
        .unwrap();
    let claim = h
        .store
        .claim(&node, now(), Duration::from_secs(30))
        .await
        .unwrap()
        .expect("a task to claim");
    assert_eq!(claim.timeout_secs, PLATFORM_TIMEOUT);

    assert_eq!(
        poll_once(&h.state, &w, now()).await.unwrap(),
        Vec::<u64>::new()
    );
    assert_eq!(h.builds().await.len(), 2);
}

#[tokio::test]
async fn a_new_matching_tag_builds_once_and_others_never() {
    let h = harness(None).await;
    let dir = repo(h.dir.path(), "zsh");
    tag(&dir, "imports/a9/zsh-5.8-9.el9", false);
    let url = format!("file://{}", dir.display());
    let w = watched(&url, PLATFORM, &["x86_64", "x86_64"]);
    assert_eq!(poll_once(&h.state, &w, now()).await.unwrap().len(), 1);

    tag(&dir, "imports/a9/zsh-5.8-10.el9", true);
    tag(&dir, "imports/a8/zsh-5.5.1-10.el8", false);
    tag(&dir, "imports/a9-zsh-5.8-11.el9", false);
    let ids = poll_once(&h.state, &w, now()).await.unwrap();
    assert_eq!(ids.len(), 1, "{ids:?}");
    let b = h.store.build(ids[0]).await.unwrap().unwrap();
    assert_eq!(b.refs, git_tag_ref(&url, "imports/a9/zsh-5.8-10.el9"));
    let x86: Arch = "x86_64".parse().unwrap();
    assert_eq!(b.arches, vec![x86.clone()]);
    let kinds: Vec<_> = b.tasks.iter().map(|t| t.kind.clone()).collect();
    assert_eq!(kinds, vec![TaskKind::Src, TaskKind::Arch(x86)]);

    for _ in 0..2 {
        assert!(poll_once(&h.state, &w, now()).await.unwrap().is_empty());
    }
    let builds = h.builds().await;
    assert_eq!(builds.len(), 2);
    for b in &builds {
        let SourceRef::Git {
            reference: Some(GitRef::Tag(t)),
            ..
        } = &b.refs[0]
        else {
            panic!("not a tag build: {:?}", b.refs);
        };
        assert!(t.starts_with("imports/a9/"), "{t}");
    }
    // Tags that do not match were not even recorded as seen.
    assert!(
        h.store
            .mark_tag_seen(&url, "imports/a8/zsh-5.5.1-10.el8")
            .await
            .unwrap()
    );
    assert!(
        h.store
            .mark_tag_seen(&url, "imports/a9-zsh-5.8-11.el9")
            .await
            .unwrap()
    );
    assert!(
        !h.store
            .mark_tag_seen(&url, "imports/a9/zsh-5.8-10.el9")
            .await
            .unwrap()
    );
}

#[tokio::test]
async fn a_wrong_platform_or_arch_is_named_and_records_nothing() {
    let h = harness(None).await;
    let dir = repo(h.dir.path(), "bash");
    tag(&dir, "imports/a9/bash-5.1.8-6.el9", false);
    let url = dir.to_str().unwrap().to_owned();

    let e = poll_once(&h.state, &watched(&url, "almalinux-42", &[]), now())
        .await
        .unwrap_err();
    assert!(
        matches!(&e, ListenerError::UnknownPlatform { platform, .. } if platform == "almalinux-42"),
        "{e:?}"
    );
    let msg = e.to_string();
    assert!(msg.contains("\"almalinux-42\""), "{msg}");
    assert!(
        msg.contains(PLATFORM),
        "the known platforms are listed: {msg}"
    );

    let e = poll_once(&h.state, &watched(&url, PLATFORM, &["sparc64"]), now())
        .await
        .unwrap_err();
    assert!(
        matches!(&e, ListenerError::ArchNotSupported { arch, .. } if arch.as_str() == "sparc64"),
        "{e:?}"
    );
    assert!(e.to_string().contains("sparc64"), "{e}");

    assert!(h.builds().await.is_empty());
    // Nothing was recorded: the tag still builds once the entry is fixed.
    let ids = poll_once(&h.state, &watched(&url, PLATFORM, &[]), now())
        .await
        .unwrap();
    assert_eq!(ids.len(), 1);
}

#[tokio::test]
async fn unreachable_and_unsafe_repositories_are_refused() {
    let h = harness(None).await;
    let missing = h.dir.path().join("no-such-repo");
    let url = missing.to_str().unwrap().to_owned();
    let e = poll_once(&h.state, &watched(&url, PLATFORM, &[]), now())
        .await
        .unwrap_err();
    assert!(matches!(e, ListenerError::Git { .. }), "{e:?}");
    assert!(e.to_string().contains(&url), "{e}");

    let marker = h.dir.path().join("pwned");
    let evil = format!("--upload-pack=touch {}", marker.display());
    let e = poll_once(&h.state, &watched(&evil, PLATFORM, &[]), now())
        .await
        .unwrap_err();
    assert!(matches!(e, ListenerError::Config(_)), "{e:?}");
    assert!(e.to_string().contains("starts with `-`"), "{e}");
    assert!(!marker.exists());
    assert!(h.builds().await.is_empty());
}

/// Waits until the store has `n` builds, or fails after 20 s.
async fn wait_for_builds(h: &Harness, n: usize) -> Vec<Build> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let builds = h.builds().await;
        if builds.len() >= n {
            return builds;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{} build(s) after 20 s, expected {n}",
            builds.len()
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

#[tokio::test]
async fn the_background_loop_builds_new_tags() {
    let root = tempfile::tempdir().unwrap();
    let bash = repo(root.path(), "bash");
    tag(&bash, "imports/a9/bash-5.1.8-6.el9", false);
    let broken = root.path().join("gone");
    let config = ListenerConfig {
        repos: vec![
            // A failing repository does not stop the others.
            watched(broken.to_str().unwrap(), PLATFORM, &[]),
            watched(bash.to_str().unwrap(), PLATFORM, &[]),
        ],
        poll_interval: Duration::from_millis(50),
        webhook_secret_hash: None,
    };
    let h = harness(Some(config)).await;
    let tcp = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let stop = tokio_util::sync::CancellationToken::new();
    let stopped = stop.clone();
    let server = tokio::spawn(serve(tcp, h.state.clone(), async move {
        stopped.cancelled().await;
    }));

    let first = wait_for_builds(&h, 1).await;
    assert_eq!(
        first[0].refs,
        git_tag_ref(bash.to_str().unwrap(), "imports/a9/bash-5.1.8-6.el9")
    );
    tag(&bash, "imports/a9/bash-5.1.8-7.el9", false);
    tag(&bash, "imports/c9/bash-5.1.8-7.el9", false);
    let second = wait_for_builds(&h, 2).await;
    assert_eq!(
        second[1].refs,
        git_tag_ref(bash.to_str().unwrap(), "imports/a9/bash-5.1.8-7.el9")
    );
    // Several more rounds build nothing else.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(h.builds().await.len(), 2);

    stop.cancel();
    tokio::time::timeout(Duration::from_secs(10), server)
        .await
        .expect("serve stops on shutdown")
        .unwrap()
        .unwrap();
}

async fn hook(h: &Harness, auth: Option<&str>, url: &str) -> (StatusCode, Value) {
    let mut req =
        Request::post("/api/v1/hooks/git").header(header::CONTENT_TYPE, "application/json");
    if let Some(token) = auth {
        req = req.header(header::AUTHORIZATION, format!("Bearer {token}"));
    }
    let req = req
        .body(Body::from(json!({ "url": url }).to_string()))
        .unwrap();
    let resp = router(h.state.clone()).oneshot(req).await.unwrap();
    let status = resp.status();
    let bytes = resp.into_body().collect().await.unwrap().to_bytes();
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

#[tokio::test]
async fn the_webhook_polls_a_watched_repository_for_its_callers_only() {
    let root = tempfile::tempdir().unwrap();
    let bash = repo(root.path(), "bash");
    let url = bash.to_str().unwrap().to_owned();
    let config = ListenerConfig {
        repos: vec![
            watched(&url, PLATFORM, &[]),
            watched("/srv/git/elsewhere", "almalinux-42", &[]),
        ],
        // Long enough that only the webhook polls.
        poll_interval: Duration::from_secs(3600),
        webhook_secret_hash: Some(hash_token(SECRET)),
    };
    let h = harness(Some(config)).await;
    tag(&bash, "imports/a9/bash-5.1.8-6.el9", false);

    // Refused callers create nothing (and record no tag).
    for (auth, want) in [
        (None, StatusCode::UNAUTHORIZED),
        (Some("wrong-secret"), StatusCode::UNAUTHORIZED),
        (Some(&h.alice[..]), StatusCode::FORBIDDEN),
    ] {
        let (status, body) = hook(&h, auth, &url).await;
        assert_eq!(status, want, "{auth:?}: {body}");
        assert!(body["error"].is_string(), "{body}");
        assert!(h.builds().await.is_empty());
    }
    let (_, body) = hook(&h, Some("wrong-secret"), &url).await;
    assert!(
        body["error"].as_str().unwrap().contains("webhook secret"),
        "{body}"
    );

    // The secret triggers a build of the new tag.
    let (status, body) = hook(&h, Some(SECRET), &url).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let ids: Vec<u64> = serde_json::from_value(body["builds"].clone()).unwrap();
    assert_eq!(ids.len(), 1, "{body}");
    let b = h.store.build(ids[0]).await.unwrap().unwrap();
    assert_eq!(b.refs, git_tag_ref(&url, "imports/a9/bash-5.1.8-6.el9"));

    // Again: nothing new. A trailing slash names the same repository.
    let (status, body) = hook(&h, Some(SECRET), &format!("{url}/")).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body, json!({ "builds": [] }));

    // An admin's token works too.
    tag(&bash, "imports/a9/bash-5.1.8-7.el9", false);
    let (status, body) = hook(&h, Some(&h.admin), &url).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["builds"].as_array().unwrap().len(), 1, "{body}");
    assert_eq!(h.builds().await.len(), 2);

    // An unwatched repository is a 404 naming it.
    let (status, body) = hook(&h, Some(SECRET), "/srv/git/unwatched").await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    assert!(
        body["error"]
            .as_str()
            .unwrap()
            .contains("/srv/git/unwatched"),
        "{body}"
    );

    // A watched repository on an unknown platform is a 422 naming it.
    let (status, body) = hook(&h, Some(SECRET), "/srv/git/elsewhere").await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert!(
        body["error"].as_str().unwrap().contains("almalinux-42"),
        "{body}"
    );
    assert_eq!(h.builds().await.len(), 2);
}

#[tokio::test]
async fn without_a_listener_the_webhook_is_a_404_and_secrets_mean_nothing() {
    let h = harness(None).await;
    let (status, body) = hook(&h, Some(&h.admin), "/srv/git/bash").await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    assert!(
        body["error"].as_str().unwrap().contains("not configured"),
        "{body}"
    );
    let (status, _) = hook(&h, Some(SECRET), "/srv/git/bash").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn without_a_secret_only_admins_call_the_webhook() {
    let root = tempfile::tempdir().unwrap();
    let bash = repo(root.path(), "bash");
    tag(&bash, "imports/a9/bash-5.1.8-6.el9", false);
    let url = bash.to_str().unwrap().to_owned();
    let h = harness(Some(ListenerConfig {
        repos: vec![watched(&url, PLATFORM, &[])],
        poll_interval: Duration::from_secs(3600),
        webhook_secret_hash: None,
    }))
    .await;
    let (status, _) = hook(&h, Some(SECRET), &url).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(h.builds().await.is_empty());
    let (status, body) = hook(&h, Some(&h.admin), &url).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(h.builds().await.len(), 1);
}

//! The server against the real client over loopback, and handler tests with
//! `oneshot`, on SQLite, a directory artifact store and a memory ledger.
//! Every refused request is checked to leave the state as it was.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use albs_core::Sha256;
use albs_core::api::{BuildQuery, CreateBuild, RegisterNode, TaskAssignment, TaskResult};
use albs_core::auth::{hash_token, new_token};
use albs_core::client::{Client, ClientError};
use albs_core::db::{RetryPolicy, SqliteStore, Store};
use albs_core::evr::Nevra;
use albs_core::ledger::{Ledger, MemoryLedger, RecordKind};
use albs_core::model::{Arch, Artifact, ArtifactKind, Build, BuildOptions, TaskKind, TaskState};
use albs_core::platform::{Platform, Platforms};
use albs_core::source::{GitRef, SourceRef};
use albs_core::store::{ArtifactStore, DirStore};
use albs_server::{AppState, ServerConfig, router, serve};
use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use http_body_util::BodyExt as _;
use serde_json::{Value, json};
use time::OffsetDateTime;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_util::sync::CancellationToken;
use tower::ServiceExt as _;

const PLATFORM: &str = "almalinux-9";

struct Harness {
    dir: tempfile::TempDir,
    store: Arc<dyn Store>,
    ledger: Arc<MemoryLedger>,
    state: AppState,
    admin: String,
    alice: String,
    dave: String,
    expired: String,
}

async fn harness(config: ServerConfig) -> Harness {
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn Store> = Arc::new(
        SqliteStore::open(&dir.path().join("albs.db"))
            .await
            .unwrap(),
    );
    let artifacts = Arc::new(DirStore::open(dir.path().join("artifacts")).unwrap());
    let ledger = Arc::new(MemoryLedger::default());
    store
        .put_platform(Platforms::bundled().get(PLATFORM).unwrap())
        .await
        .unwrap();
    let mut tokens = Vec::new();
    for (name, admin, expires) in [
        ("root", true, None),
        ("alice", false, None),
        ("dave", false, None),
        (
            "bob",
            false,
            Some(OffsetDateTime::now_utc() - time::Duration::hours(1)),
        ),
    ] {
        let user = store.create_user(name, admin).await.unwrap();
        let token = new_token().unwrap();
        store
            .add_user_token(user.id, &hash_token(&token), expires)
            .await
            .unwrap();
        tokens.push(token);
    }
    let state = AppState::new(store.clone(), artifacts, ledger.clone(), config);
    let [admin, alice, dave, expired] = <[String; 4]>::try_from(tokens).unwrap();
    Harness {
        dir,
        store,
        ledger,
        state,
        admin,
        alice,
        dave,
        expired,
    }
}

/// Everything a refused request must leave alone.
#[derive(Debug, PartialEq)]
struct Snapshot {
    builds: Vec<Build>,
    blobs: Vec<PathBuf>,
    tmp: usize,
    ledger: u64,
    nodes: Vec<(u64, String)>,
    platforms: Vec<Platform>,
}

fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return out;
    };
    for e in entries {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(files_under(&p));
        } else {
            out.push(p);
        }
    }
    out.sort();
    out
}

impl Harness {
    async fn snapshot(&self) -> Snapshot {
        let page = self
            .store
            .list_builds(&BuildQuery {
                limit: Some(500),
                ..BuildQuery::default()
            })
            .await
            .unwrap();
        let mut builds = Vec::new();
        for b in page.builds {
            builds.push(self.store.build(b.id).await.unwrap().unwrap());
        }
        Snapshot {
            builds,
            blobs: files_under(&self.dir.path().join("artifacts/sha256")),
            tmp: files_under(&self.dir.path().join("artifacts/tmp")).len(),
            ledger: self.ledger.size().await.unwrap(),
            nodes: self
                .store
                .nodes()
                .await
                .unwrap()
                .into_iter()
                .map(|n| (n.id, n.name))
                .collect(),
            platforms: self.store.platforms().await.unwrap(),
        }
    }

    /// A build of one git ref for x86_64, made directly in the store by the
    /// server's own route (through oneshot).
    async fn build(&self, token: &str, url: &str) -> Build {
        let (status, body) = call(
            &self.app(),
            "POST",
            "/api/v1/builds",
            Some(token),
            Some(json!(create(url, &["x86_64"]))),
        )
        .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        serde_json::from_value(body).unwrap()
    }

    fn app(&self) -> axum::Router {
        router(self.state.clone())
    }

    /// Registers a node for x86_64 with the admin token; returns its token.
    async fn node(&self, name: &str) -> String {
        let (status, body) = call(
            &self.app(),
            "POST",
            "/api/v1/nodes",
            Some(&self.admin),
            Some(json!({"name": name, "arches": ["x86_64"]})),
        )
        .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        body["token"].as_str().unwrap().to_owned()
    }
}

fn create(url: &str, arches: &[&str]) -> CreateBuild {
    CreateBuild {
        platform: PLATFORM.into(),
        arches: arches.iter().map(|a| a.parse().unwrap()).collect(),
        refs: vec![SourceRef::Git {
            url: url.into(),
            reference: Some(GitRef::Branch("c9".into())),
        }],
        options: BuildOptions::default(),
    }
}

async fn call(
    app: &axum::Router,
    method: &str,
    uri: &str,
    token: Option<&str>,
    body: Option<Value>,
) -> (StatusCode, Value) {
    let mut req = Request::builder().method(method).uri(uri);
    if let Some(t) = token {
        req = req.header(header::AUTHORIZATION, format!("Bearer {t}"));
    }
    let req = match body {
        Some(b) => req
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from(serde_json::to_vec(&b).unwrap())),
        None => req.body(Body::empty()),
    }
    .unwrap();
    send(app, req).await
}

async fn send(app: &axum::Router, req: Request<Body>) -> (StatusCode, Value) {
    let resp = app.clone().oneshot(req).await.unwrap();
    let status = resp.status();
    let bytes = resp.into_body().collect().await.unwrap().to_bytes();
    let value = if bytes.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(&bytes)
            .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into()))
    };
    (status, value)
}

fn error_of(v: &Value) -> &str {
    v["error"]
        .as_str()
        .unwrap_or_else(|| panic!("no error message in {v}"))
}

/// A running server on 127.0.0.1:0.
struct Running {
    base: String,
    stop: CancellationToken,
    join: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl Running {
    async fn start(state: AppState) -> Running {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let stop = CancellationToken::new();
        let s = stop.clone();
        let join = tokio::spawn(serve(listener, state, async move { s.cancelled().await }));
        Running { base, stop, join }
    }

    fn client(&self, token: Option<&str>) -> Client {
        Client::new(&self.base, token.map(str::to_owned))
    }

    async fn stop(self) {
        self.stop.cancel();
        tokio::time::timeout(Duration::from_secs(10), self.join)
            .await
            .expect("the server stops on shutdown")
            .unwrap()
            .unwrap();
    }
}

fn api_status(r: Result<impl std::fmt::Debug, ClientError>) -> (u16, String) {
    match r {
        Err(ClientError::Api {
            status, message, ..
        }) => (status, message),
        other => panic!("expected an API error, got {other:?}"),
    }
}

fn write_file(dir: &Path, name: &str, data: &[u8]) -> (PathBuf, Sha256) {
    let p = dir.join(name);
    std::fs::write(&p, data).unwrap();
    (p, Sha256::of(data))
}

fn artifact(name: &str, data: &[u8], kind: ArtifactKind) -> Artifact {
    Artifact {
        sha256: Sha256::of(data),
        size: data.len() as u64,
        name: name.into(),
        kind,
        nevra: Nevra::from_file_name(name).ok(),
    }
}

fn succeeded(artifacts: Vec<Artifact>) -> TaskResult {
    TaskResult {
        state: TaskState::Succeeded,
        reason: None,
        artifacts,
        noarch: false,
        commit: Some("0123456789abcdef0123456789abcdef01234567".into()),
        build_requires: vec![],
        produces: vec![],
    }
}

async fn claim(node: &Client) -> TaskAssignment {
    node.claim().await.unwrap().task.expect("a task is ready")
}

const SRPM: &[u8] = b"pretend this is hello-1.0-1.el9.src.rpm";
const RPM: &[u8] = b"pretend this is hello-1.0-1.el9.x86_64.rpm";

#[tokio::test]
async fn anonymous_reads_work() {
    let h = harness(ServerConfig::default()).await;
    let build = h
        .build(&h.alice, "https://git.example/rpms/hello.git")
        .await;
    let srv = Running::start(h.state.clone()).await;
    let anon = srv.client(None);
    let platforms = anon.platforms().await.unwrap();
    assert!(platforms.iter().any(|p| p.name == PLATFORM));
    let page = anon.builds(&BuildQuery::default()).await.unwrap();
    assert_eq!(page.builds.len(), 1);
    assert_eq!(page.builds[0].owner, "alice");
    let got = anon.build(build.id).await.unwrap();
    assert_eq!(got, build);
    let log = anon.log(build.tasks[0].id, 0).await.unwrap();
    assert!(log.lines.is_empty() && !log.done);
    let (status, msg) = api_status(anon.build(9999).await);
    assert_eq!(status, 404, "{msg}");
    let (status, msg) = api_status(anon.log(9999, 0).await);
    assert_eq!(status, 404, "{msg}");
    let (status, msg) = api_status(
        anon.download(&Sha256::of(b"nothing"), &h.dir.path().join("x"))
            .await,
    );
    assert_eq!(status, 404, "{msg}");
    // Listing nodes needs a user, any user.
    let (status, _) = api_status(anon.nodes().await);
    assert_eq!(status, 401);
    assert!(srv.client(Some(&h.alice)).nodes().await.unwrap().is_empty());
    srv.stop().await;
}

/// Every write route, with a body it would accept.
fn write_routes(task: u64, build: u64) -> Vec<(&'static str, String, Option<Value>)> {
    let platform = serde_json::to_value(Platforms::bundled().get("almalinux-8").unwrap()).unwrap();
    let sha = Sha256::of(b"x");
    vec![
        ("POST", "/api/v1/platforms".into(), Some(platform)),
        (
            "POST",
            "/api/v1/builds".into(),
            Some(json!(create("/srv/git/hello", &[]))),
        ),
        ("POST", format!("/api/v1/builds/{build}/cancel"), None),
        ("POST", format!("/api/v1/builds/{build}/restart"), None),
        ("DELETE", format!("/api/v1/builds/{build}"), None),
        (
            "POST",
            "/api/v1/nodes".into(),
            Some(json!({"name": "n9", "arches": ["x86_64"]})),
        ),
        ("GET", "/api/v1/nodes".into(), None),
        ("POST", "/api/v1/node/claim".into(), None),
        ("POST", format!("/api/v1/node/tasks/{task}/heartbeat"), None),
        (
            "POST",
            format!("/api/v1/node/tasks/{task}/log"),
            Some(json!({"lines": ["x"]})),
        ),
        (
            "PUT",
            format!("/api/v1/node/tasks/{task}/artifacts/{sha}"),
            None,
        ),
        (
            "POST",
            format!("/api/v1/node/tasks/{task}/complete"),
            Some(json!(succeeded(vec![]))),
        ),
    ]
}

#[tokio::test]
async fn writes_without_a_valid_token_are_refused() {
    let h = harness(ServerConfig::default()).await;
    let build = h
        .build(&h.alice, "https://git.example/rpms/hello.git")
        .await;
    let node = h.node("n1").await;
    let srv = Running::start(h.state.clone()).await;
    // The node holds the src task, so that node routes would succeed.
    let task = claim(&srv.client(Some(&node))).await;
    let before = h.snapshot().await;
    let app = h.app();
    for (method, path, body) in write_routes(task.task_id, build.id) {
        let (status, b) = call(&app, method, &path, None, body.clone()).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{method} {path}: {b}");
        assert_eq!(
            error_of(&b),
            "this request needs `Authorization: Bearer <token>`",
            "{method} {path}"
        );
        let (status, b) = call(&app, method, &path, Some("albs_nonsense"), body.clone()).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{method} {path}: {b}");
        assert_eq!(error_of(&b), "unknown token", "{method} {path}");
        let (status, b) = call(&app, method, &path, Some(&h.expired), body.clone()).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{method} {path}: {b}");
        if !path.starts_with("/api/v1/node/") {
            assert!(error_of(&b).contains("expired"), "{method} {path}: {b}");
            assert!(error_of(&b).contains("albs token create"), "{b}");
        }
        // Each kind of token only opens its own routes.
        let wrong = if path.starts_with("/api/v1/node/") {
            &h.alice
        } else {
            &node
        };
        let (status, b) = call(&app, method, &path, Some(wrong), body).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{method} {path}: {b}");
    }
    // The same through the real client.
    let (status, msg) = api_status(srv.client(None).create_build(&create("/x", &[])).await);
    assert_eq!(
        (status, msg.as_str()),
        (401, "this request needs `Authorization: Bearer <token>`")
    );
    let (status, msg) = api_status(srv.client(Some(&new_token().unwrap())).claim().await);
    assert_eq!((status, msg.as_str()), (401, "unknown token"));
    let (status, msg) = api_status(srv.client(Some(&h.expired)).cancel_build(build.id).await);
    assert_eq!(status, 401);
    assert!(msg.contains("expired"), "{msg}");
    assert_eq!(h.snapshot().await, before);
    srv.stop().await;
}

#[tokio::test]
async fn admin_routes_refuse_other_users() {
    let h = harness(ServerConfig::default()).await;
    let srv = Running::start(h.state.clone()).await;
    let alice = srv.client(Some(&h.alice));
    let before = h.snapshot().await;
    let mut p = Platforms::bundled().get("almalinux-8").unwrap().clone();
    let (status, msg) = api_status(alice.put_platform(&p).await);
    assert_eq!(status, 403);
    assert!(msg.contains("admin"), "{msg}");
    let reg = RegisterNode {
        name: "n1".into(),
        arches: vec!["x86_64".parse().unwrap()],
        labels: vec![],
        capacity: 1,
        excluded_packages: vec![],
    };
    let (status, _) = api_status(alice.register_node(&reg).await);
    assert_eq!(status, 403);
    assert_eq!(h.snapshot().await, before);

    let admin = srv.client(Some(&h.admin));
    p.arches.clear();
    let (status, msg) = api_status(admin.put_platform(&p).await);
    assert_eq!(status, 400);
    assert!(msg.contains("arches"), "{msg}");
    assert_eq!(h.snapshot().await, before);
    p.arches = vec!["x86_64".parse().unwrap()];
    assert_eq!(admin.put_platform(&p).await.unwrap(), p);
    assert_eq!(admin.platforms().await.unwrap().len(), 2);
    let n = admin.register_node(&reg).await.unwrap();
    assert!(n.token.starts_with("albs_"));
    let (status, msg) = api_status(admin.register_node(&reg).await);
    assert_eq!(status, 409, "{msg}");
    srv.stop().await;
}

#[tokio::test]
async fn builds_are_planned_and_checked() {
    let h = harness(ServerConfig::default()).await;
    let srv = Running::start(h.state.clone()).await;
    let alice = srv.client(Some(&h.alice));
    let mut req = create("https://git.example/rpms/hello.git", &["x86_64", "aarch64"]);
    req.refs.push(SourceRef::Srpm {
        url: "/srv/srpms/zlib-1.2.11-40.el9.src.rpm".into(),
    });
    let b = alice.create_build(&req).await.unwrap();
    assert_eq!(b.owner, "alice");
    assert_eq!(b.platform, PLATFORM);
    assert_eq!(b.tasks.len(), 6, "a src task and two arch tasks per ref");
    assert_eq!(
        b.tasks.iter().filter(|t| t.kind == TaskKind::Src).count(),
        2
    );
    assert!(b.tasks.iter().all(|t| t.state == TaskState::Pending));
    assert_eq!(b.tasks[0].package.as_deref(), Some("hello"));
    // No arches: every arch of the platform.
    let all = alice
        .create_build(&create("/srv/git/hello", &[]))
        .await
        .unwrap();
    let platform = Platforms::bundled().get(PLATFORM).unwrap().clone();
    assert_eq!(all.arches, platform.arches);
    assert_eq!(all.tasks.len(), platform.arches.len() + 1);

    let before = h.snapshot().await;
    let mut unknown = create("/srv/git/hello", &[]);
    unknown.platform = "fedora-1".into();
    let (status, msg) = api_status(alice.create_build(&unknown).await);
    assert_eq!(status, 422);
    assert!(msg.contains("fedora-1") && msg.contains(PLATFORM), "{msg}");

    let (status, msg) = api_status(
        alice
            .create_build(&create("/srv/git/hello", &["sparc"]))
            .await,
    );
    assert_eq!(status, 400);
    assert!(msg.contains("sparc") && msg.contains("x86_64"), "{msg}");

    let bad_refs = [
        (
            SourceRef::Git {
                url: "rpms/hello".into(),
                reference: None,
            },
            "refs[0].url",
        ),
        (
            SourceRef::Git {
                url: "ftp://git.example/rpms/hello.git".into(),
                reference: None,
            },
            "refs[0].url",
        ),
        (
            SourceRef::Srpm {
                url: "https://x.example/zlib.tar.gz".into(),
            },
            "refs[0].url",
        ),
        (
            SourceRef::Git {
                url: "/srv/git/hello".into(),
                reference: Some(GitRef::Tag("imports/../../x".into())),
            },
            "refs[0].ref",
        ),
    ];
    for (r, field) in bad_refs {
        let mut req = create("/x", &[]);
        req.refs = vec![r.clone()];
        let (status, msg) = api_status(alice.create_build(&req).await);
        assert_eq!(status, 400, "{r:?}: {msg}");
        assert!(msg.contains(field), "{r:?}: {msg}");
    }
    let mut empty = create("/x", &[]);
    empty.refs.clear();
    let (status, msg) = api_status(alice.create_build(&empty).await);
    assert_eq!(status, 400);
    assert!(msg.contains("refs"), "{msg}");
    assert_eq!(h.snapshot().await, before);

    // The list filters.
    let page = alice
        .builds(&BuildQuery {
            owner: Some("alice".into()),
            status: Some(TaskState::Pending),
            ..BuildQuery::default()
        })
        .await
        .unwrap();
    assert_eq!(page.builds.len(), 2);
    srv.stop().await;
}

#[tokio::test]
async fn node_round_trip_records_the_ledger_once() {
    let h = harness(ServerConfig::default()).await;
    let srv = Running::start(h.state.clone()).await;
    let url = "https://git.example/rpms/hello.git";
    let build = srv
        .client(Some(&h.alice))
        .create_build(&create(url, &["x86_64"]))
        .await
        .unwrap();
    let admin = srv.client(Some(&h.admin));
    let reg = admin
        .register_node(&RegisterNode {
            name: "builder-1".into(),
            arches: vec!["x86_64".parse().unwrap()],
            labels: vec![],
            capacity: 1,
            excluded_packages: vec![],
        })
        .await
        .unwrap();
    let node = srv.client(Some(&reg.token));
    let anon = srv.client(None);

    // The src task.
    let src = claim(&node).await;
    assert_eq!(src.build_id, build.id);
    assert_eq!(src.kind, TaskKind::Src);
    assert_eq!(src.platform, *Platforms::bundled().get(PLATFORM).unwrap());
    assert_eq!(src.srpm, None);
    assert_eq!(src.attempt, 1);
    assert!((29..=30).contains(&src.lease_secs), "{}", src.lease_secs);
    assert_eq!(src.timeout_secs, albs_core::platform::DEFAULT_TIMEOUT_SECS);
    assert!(
        node.claim().await.unwrap().task.is_none(),
        "the arch task waits"
    );

    assert_eq!(
        node.append_log(src.task_id, vec!["a".into(), "b".into()])
            .await
            .unwrap(),
        2
    );
    assert_eq!(
        node.append_log(src.task_id, vec!["c".into()])
            .await
            .unwrap(),
        3
    );
    let log = anon.log(src.task_id, 1).await.unwrap();
    assert_eq!(log.lines, ["b", "c"]);
    assert_eq!(log.next, 3);
    assert!(!log.done, "the task is still running");
    let hb = node.heartbeat(src.task_id).await.unwrap();
    assert!(!hb.cancel);
    assert!((29..=30).contains(&hb.lease_secs));

    let (path, sha) = write_file(h.dir.path(), "hello-1.0-1.el9.src.rpm", SRPM);
    let up = node.upload(src.task_id, &sha, &path).await.unwrap();
    assert_eq!((up.sha256, up.size), (sha, SRPM.len() as u64));
    // Uploading the same content again is harmless.
    node.upload(src.task_id, &sha, &path).await.unwrap();
    let srpm = artifact("hello-1.0-1.el9.src.rpm", SRPM, ArtifactKind::Srpm);
    let done = node
        .complete(src.task_id, &succeeded(vec![srpm.clone()]))
        .await
        .unwrap();
    assert_eq!(done.state, TaskState::Succeeded);
    assert_eq!(h.ledger.size().await.unwrap(), 1);
    let rec = h.ledger.get(0).await.unwrap().unwrap().record;
    assert_eq!(rec.kind, RecordKind::Srpm);
    assert_eq!(rec.artifact, Some(sha));
    assert_eq!(rec.task.build_id, Some(build.id));
    assert_eq!(rec.task.task_id, Some(src.task_id));
    assert_eq!(rec.task.arch, Arch::src());
    assert_eq!(rec.task.host, "builder-1");
    assert_eq!(rec.task.platform, PLATFORM);
    assert_eq!(rec.inputs.source, build.refs[0]);
    assert_eq!(
        rec.inputs.commit.as_deref(),
        succeeded(vec![]).commit.as_deref()
    );
    assert_eq!(rec.inputs.srpm, None);
    assert!(anon.log(src.task_id, 0).await.unwrap().done);

    // Completing again answers the same and records nothing more.
    let again = node
        .complete(src.task_id, &succeeded(vec![srpm.clone()]))
        .await
        .unwrap();
    assert_eq!(again, done);
    assert_eq!(h.ledger.size().await.unwrap(), 1);

    // The arch task gets the SRPM.
    let arch = claim(&node).await;
    assert_eq!(arch.kind, TaskKind::Arch("x86_64".parse().unwrap()));
    assert_eq!(arch.srpm.as_ref().map(|a| a.sha256), Some(sha));
    let (path, rpm_sha) = write_file(h.dir.path(), "hello-1.0-1.el9.x86_64.rpm", RPM);
    node.upload(arch.task_id, &rpm_sha, &path).await.unwrap();
    let rpm = artifact("hello-1.0-1.el9.x86_64.rpm", RPM, ArtifactKind::Rpm);
    // Two completions at once (a retry racing the first) record it once.
    let result = succeeded(vec![rpm.clone()]);
    let (one, two) = tokio::join!(
        node.complete(arch.task_id, &result),
        node.complete(arch.task_id, &result)
    );
    assert_eq!(one.unwrap(), two.unwrap());
    assert_eq!(h.ledger.size().await.unwrap(), 2);
    let rec = h.ledger.get(1).await.unwrap().unwrap().record;
    assert_eq!(rec.kind, RecordKind::Rpm);
    assert_eq!(rec.task.arch.as_str(), "x86_64");
    assert_eq!(rec.inputs.srpm, Some(sha));
    assert_eq!(rec.nevra, rpm.nevra);

    let b = anon.build(build.id).await.unwrap();
    assert_eq!(b.state(), TaskState::Succeeded);
    let dest = h.dir.path().join("downloaded.rpm");
    anon.download(&rpm_sha, &dest).await.unwrap();
    assert_eq!(std::fs::read(&dest).unwrap(), RPM);
    srv.stop().await;
}

#[tokio::test]
async fn a_node_without_the_task_is_refused() {
    let h = harness(ServerConfig::default()).await;
    let build = h
        .build(&h.alice, "https://git.example/rpms/hello.git")
        .await;
    let (a, b) = (h.node("a").await, h.node("b").await);
    let srv = Running::start(h.state.clone()).await;
    let (a, b) = (srv.client(Some(&a)), srv.client(Some(&b)));
    let task = claim(&a).await;
    let (path, sha) = write_file(h.dir.path(), "hello-1.0-1.el9.src.rpm", SRPM);
    a.upload(task.task_id, &sha, &path).await.unwrap();
    let result = succeeded(vec![artifact(
        "hello-1.0-1.el9.src.rpm",
        SRPM,
        ArtifactKind::Srpm,
    )]);
    let before = h.snapshot().await;
    let (status, msg) = api_status(b.complete(task.task_id, &result).await);
    assert_eq!(status, 409, "{msg}");
    let (status, _) = api_status(b.heartbeat(task.task_id).await);
    assert_eq!(status, 409);
    let (status, _) = api_status(b.append_log(task.task_id, vec!["x".into()]).await);
    assert_eq!(status, 409);
    let (p2, s2) = write_file(h.dir.path(), "other.rpm", b"other bytes");
    let (status, _) = api_status(b.upload(task.task_id, &s2, &p2).await);
    assert_eq!(status, 409);
    let (status, _) = api_status(b.complete(9999, &result).await);
    assert!(status == 404 || status == 409, "{status}");
    assert_eq!(h.snapshot().await, before);
    // The holder completes; the other node still cannot.
    a.complete(task.task_id, &result).await.unwrap();
    let after = h.snapshot().await;
    let (status, _) = api_status(b.complete(task.task_id, &result).await);
    assert_eq!(status, 409);
    assert_eq!(h.snapshot().await, after);
    assert_eq!(h.ledger.size().await.unwrap(), 1);
    let _ = build;
    srv.stop().await;
}

#[tokio::test]
async fn uploads_are_checked_and_refusals_store_nothing() {
    let config = ServerConfig {
        max_upload_bytes: 64,
        ..ServerConfig::default()
    };
    let h = harness(config).await;
    h.build(&h.alice, "https://git.example/rpms/hello.git")
        .await;
    let token = h.node("n1").await;
    let srv = Running::start(h.state.clone()).await;
    let node = srv.client(Some(&token));
    let task = claim(&node).await;
    let before = h.snapshot().await;

    // Wrong digest.
    let (path, sha) = write_file(h.dir.path(), "a.src.rpm", SRPM);
    let wrong = Sha256::of(b"something else");
    let (status, msg) = api_status(node.upload(task.task_id, &wrong, &path).await);
    assert_eq!(status, 400);
    assert_eq!(msg, format!("upload has sha256 {sha}, expected {wrong}"));
    assert_eq!(h.snapshot().await, before);

    // Larger than the limit.
    let (big, big_sha) = write_file(h.dir.path(), "big.src.rpm", &[7u8; 100]);
    let (status, msg) = api_status(node.upload(task.task_id, &big_sha, &big).await);
    assert_eq!(status, 413, "{msg}");
    assert!(msg.contains("64"), "{msg}");
    assert_eq!(h.snapshot().await, before);

    // A body shorter than its Content-Length, the connection then closed.
    let addr = srv.base.trim_start_matches("http://").to_owned();
    let mut tcp = tokio::net::TcpStream::connect(&addr).await.unwrap();
    let head = format!(
        "PUT /api/v1/node/tasks/{}/artifacts/{sha} HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {token}\r\nContent-Type: application/octet-stream\r\nContent-Length: {}\r\n\r\n",
        task.task_id,
        SRPM.len()
    );
    tcp.write_all(head.as_bytes()).await.unwrap();
    tcp.write_all(&SRPM[..10]).await.unwrap();
    tcp.shutdown().await.unwrap();
    let mut answer = String::new();
    tokio::time::timeout(Duration::from_secs(10), tcp.read_to_string(&mut answer))
        .await
        .unwrap()
        .unwrap();
    assert!(answer.starts_with("HTTP/1.1 400"), "{answer}");
    assert!(
        answer.contains(&format!("upload truncated: got 10 of {} bytes", SRPM.len())),
        "{answer}"
    );
    assert_eq!(h.snapshot().await, before);

    // An artifact never uploaded cannot be named in a completion.
    let never = artifact("hello-1.0-1.el9.src.rpm", SRPM, ArtifactKind::Srpm);
    let (status, msg) = api_status(node.complete(task.task_id, &succeeded(vec![never])).await);
    assert_eq!(status, 400);
    assert!(msg.contains(&sha.to_string()), "{msg}");
    assert_eq!(h.snapshot().await, before);

    // The same upload, whole, is accepted.
    node.upload(task.task_id, &sha, &path).await.unwrap();
    assert_eq!(h.snapshot().await.blobs.len(), 1);
    srv.stop().await;
}

#[tokio::test]
async fn cancel_reaches_the_node_and_running_builds_are_not_deleted() {
    let h = harness(ServerConfig::default()).await;
    let build = h
        .build(&h.alice, "https://git.example/rpms/hello.git")
        .await;
    let token = h.node("n1").await;
    let srv = Running::start(h.state.clone()).await;
    let node = srv.client(Some(&token));
    let alice = srv.client(Some(&h.alice));
    let dave = srv.client(Some(&h.dave));
    let task = claim(&node).await;

    let before = h.snapshot().await;
    let (status, msg) = api_status(alice.delete_build(build.id).await);
    assert_eq!(status, 409);
    assert!(msg.contains("cancel"), "{msg}");
    for r in [
        dave.cancel_build(build.id).await.map(|_| ()),
        dave.restart_build(build.id).await.map(|_| ()),
        dave.delete_build(build.id).await,
    ] {
        let (status, msg) = api_status(r);
        assert_eq!(status, 403);
        assert!(msg.contains("alice"), "{msg}");
    }
    assert_eq!(h.snapshot().await, before);

    assert!(!node.heartbeat(task.task_id).await.unwrap().cancel);
    let cancelled = alice.cancel_build(build.id).await.unwrap();
    // The pending arch task ends at once; the running one waits for its node.
    assert!(
        cancelled
            .tasks
            .iter()
            .any(|t| t.state == TaskState::Cancelled)
    );
    assert!(node.heartbeat(task.task_id).await.unwrap().cancel);
    let (status, _) = api_status(alice.delete_build(build.id).await);
    assert_eq!(status, 409, "the running task has not ended yet");
    let end = TaskResult {
        state: TaskState::Cancelled,
        reason: Some("cancelled by the user".into()),
        artifacts: vec![],
        noarch: false,
        commit: None,
        build_requires: vec![],
        produces: vec![],
    };
    node.complete(task.task_id, &end).await.unwrap();
    assert_eq!(h.ledger.size().await.unwrap(), 0);
    // The admin may restart anyone's build.
    let restarted = srv
        .client(Some(&h.admin))
        .restart_build(build.id)
        .await
        .unwrap();
    assert!(
        restarted
            .tasks
            .iter()
            .all(|t| t.state == TaskState::Pending)
    );
    alice.cancel_build(build.id).await.unwrap();
    alice.delete_build(build.id).await.unwrap();
    let (status, _) = api_status(alice.build(build.id).await);
    assert_eq!(status, 404);
    srv.stop().await;
}

#[tokio::test]
async fn the_ticker_requeues_a_task_whose_lease_ran_out() {
    let config = ServerConfig {
        lease: Duration::from_secs(1),
        expiry_interval: Duration::from_millis(100),
        retry: RetryPolicy {
            max_attempts: 3,
            backoff: Duration::ZERO,
            max_backoff: Duration::ZERO,
        },
        ..ServerConfig::default()
    };
    let h = harness(config).await;
    let build = h
        .build(&h.alice, "https://git.example/rpms/hello.git")
        .await;
    let token = h.node("n1").await;
    let srv = Running::start(h.state.clone()).await;
    let node = srv.client(Some(&token));
    let first = claim(&node).await;
    assert_eq!(first.lease_secs, 1);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let b = h.store.build(build.id).await.unwrap().unwrap();
        let t = b.tasks.iter().find(|t| t.id == first.task_id).unwrap();
        if t.state == TaskState::Pending {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the task was not requeued: {t:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let (status, _) = api_status(node.heartbeat(first.task_id).await);
    assert_eq!(status, 409, "the lease is lost");
    let second = claim(&node).await;
    assert_eq!(second.task_id, first.task_id);
    assert_eq!(second.attempt, 2);
    srv.stop().await;
}

#[tokio::test]
async fn log_appends_are_capped() {
    let h = harness(ServerConfig::default()).await;
    h.build(&h.alice, "https://git.example/rpms/hello.git")
        .await;
    let token = h.node("n1").await;
    let app = h.app();
    let (status, body) = call(&app, "POST", "/api/v1/node/claim", Some(&token), None).await;
    assert_eq!(status, StatusCode::OK);
    let task = body["task"]["task_id"].as_u64().unwrap();
    let path = format!("/api/v1/node/tasks/{task}/log");
    let before = h.snapshot().await;
    let many = json!({"lines": vec!["x"; 10_001]});
    let (status, body) = call(&app, "POST", &path, Some(&token), Some(many)).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{body}");
    let long = json!({"lines": ["ok", "y".repeat(70_000)]});
    let (status, body) = call(&app, "POST", &path, Some(&token), Some(long)).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(error_of(&body).contains("lines[1]"), "{body}");
    let huge = json!({"lines": vec!["z".repeat(1000); 2000]});
    let (status, body) = call(&app, "POST", &path, Some(&token), Some(huge)).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{body}");
    assert!(error_of(&body).contains("larger"), "{body}");
    let (_, log) = call(
        &app,
        "GET",
        &format!("/api/v1/tasks/{task}/log"),
        None,
        None,
    )
    .await;
    assert_eq!(log["lines"], json!([]));
    assert_eq!(h.snapshot().await, before);
    let (status, body) = call(
        &app,
        "POST",
        &path,
        Some(&token),
        Some(json!({"lines": ["ok"]})),
    )
    .await;
    assert_eq!((status, body), (StatusCode::OK, json!({"next": 1})));
    let (status, body) = call(
        &app,
        "GET",
        &format!("/api/v1/tasks/{task}/log?from=0&limit=1"),
        None,
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["lines"], json!(["ok"]));
}

#[tokio::test]
async fn malformed_requests_get_json_errors() {
    let h = harness(ServerConfig::default()).await;
    let build = h
        .build(&h.alice, "https://git.example/rpms/hello.git")
        .await;
    let token = h.node("n1").await;
    let app = h.app();
    let before = h.snapshot().await;
    for (method, uri, want) in [
        ("GET", "/api/v1/nope", StatusCode::NOT_FOUND),
        ("GET", "/api/v1/builds/abc", StatusCode::BAD_REQUEST),
        (
            "GET",
            "/api/v1/builds?status=finished",
            StatusCode::BAD_REQUEST,
        ),
        (
            "GET",
            "/api/v1/builds?since=monday",
            StatusCode::BAD_REQUEST,
        ),
        (
            "GET",
            "/api/v1/artifacts/not-a-digest",
            StatusCode::BAD_REQUEST,
        ),
        ("PATCH", "/api/v1/builds", StatusCode::METHOD_NOT_ALLOWED),
        ("GET", "/api/v1/tasks/1/log?from=x", StatusCode::BAD_REQUEST),
    ] {
        let (status, body) = call(&app, method, uri, None, None).await;
        assert_eq!(status, want, "{method} {uri}: {body}");
        error_of(&body);
    }
    let (_, body) = call(&app, "GET", "/api/v1/builds?status=finished", None, None).await;
    assert!(error_of(&body).starts_with("status:"), "{body}");
    let (_, body) = call(&app, "GET", "/api/v1/builds?since=monday", None, None).await;
    assert!(error_of(&body).starts_with("since:"), "{body}");

    // A body over the JSON limit.
    let big = json!({"platform": "x".repeat(2 * 1024 * 1024), "refs": []});
    let (status, body) = call(&app, "POST", "/api/v1/builds", Some(&h.alice), Some(big)).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{body}");
    // Not JSON, and JSON of the wrong shape.
    let req = Request::post("/api/v1/builds")
        .header(header::AUTHORIZATION, format!("Bearer {}", h.alice))
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from("{"))
        .unwrap();
    let (status, body) = send(&app, req).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    let (status, body) = call(
        &app,
        "POST",
        "/api/v1/builds",
        Some(&h.alice),
        Some(json!({"platform": PLATFORM, "refs": [{"type": "svn", "url": "/x"}]})),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(error_of(&body).contains("refs"), "{body}");

    // An upload without Content-Length.
    let (status, body) = call(&app, "POST", "/api/v1/node/claim", Some(&token), None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let task = body["task"]["task_id"].as_u64().unwrap();
    let before_upload = h.snapshot().await;
    let stream =
        futures_util::stream::iter([Ok::<_, std::io::Error>(bytes::Bytes::from_static(SRPM))]);
    let req = Request::put(format!(
        "/api/v1/node/tasks/{task}/artifacts/{}",
        Sha256::of(SRPM)
    ))
    .header(header::AUTHORIZATION, format!("Bearer {token}"))
    .body(Body::from_stream(stream))
    .unwrap();
    let (status, body) = send(&app, req).await;
    assert_eq!(status, StatusCode::LENGTH_REQUIRED, "{body}");
    // A Content-Length that the body does not reach (oneshot: no connection).
    let req = Request::put(format!(
        "/api/v1/node/tasks/{task}/artifacts/{}",
        Sha256::of(SRPM)
    ))
    .header(header::AUTHORIZATION, format!("Bearer {token}"))
    .header(header::CONTENT_LENGTH, SRPM.len() + 5)
    .body(Body::from(SRPM))
    .unwrap();
    let (status, body) = send(&app, req).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(error_of(&body).contains("upload truncated"), "{body}");
    // The path digest must parse.
    let req = Request::put(format!("/api/v1/node/tasks/{task}/artifacts/xyz"))
        .header(header::AUTHORIZATION, format!("Bearer {token}"))
        .header(header::CONTENT_LENGTH, SRPM.len())
        .body(Body::from(SRPM))
        .unwrap();
    let (status, body) = send(&app, req).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(h.snapshot().await, before_upload);

    // A completion in a state that is not final.
    let mut running = succeeded(vec![]);
    running.state = TaskState::Running;
    let (status, body) = call(
        &app,
        "POST",
        &format!("/api/v1/node/tasks/{task}/complete"),
        Some(&token),
        Some(json!(running)),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(h.snapshot().await, before_upload);
    let _ = (build, before);
}

#[tokio::test]
async fn created_builds_have_a_location() {
    let config = ServerConfig {
        public_base_url: Some("https://albs.example/".into()),
        ..ServerConfig::default()
    };
    let h = harness(config).await;
    let req = Request::post("/api/v1/builds")
        .header(header::AUTHORIZATION, format!("Bearer {}", h.alice))
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(
            serde_json::to_vec(&create("/srv/git/hello", &["x86_64"])).unwrap(),
        ))
        .unwrap();
    let resp = h.app().oneshot(req).await.unwrap();
    assert_eq!(resp.status(), StatusCode::CREATED);
    let location = resp.headers()[header::LOCATION]
        .to_str()
        .unwrap()
        .to_owned();
    let bytes = resp.into_body().collect().await.unwrap().to_bytes();
    let b: Build = serde_json::from_slice(&bytes).unwrap();
    assert_eq!(
        location,
        format!("https://albs.example/api/v1/builds/{}", b.id)
    );
}

#[tokio::test]
async fn artifacts_download_as_octet_streams() {
    let h = harness(ServerConfig::default()).await;
    let artifacts = DirStore::open(h.dir.path().join("artifacts")).unwrap();
    let s = artifacts
        .put(Box::pin(RPM), Some(Sha256::of(RPM)))
        .await
        .unwrap();
    let resp = h
        .app()
        .oneshot(
            Request::get(format!("/api/v1/artifacts/{}", s.sha256))
                .body(Body::empty())
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(
        resp.headers()[header::CONTENT_TYPE],
        "application/octet-stream"
    );
    assert_eq!(
        resp.headers()[header::CONTENT_LENGTH],
        RPM.len().to_string().as_str()
    );
    let bytes = resp.into_body().collect().await.unwrap().to_bytes();
    assert_eq!(&bytes[..], RPM);
}

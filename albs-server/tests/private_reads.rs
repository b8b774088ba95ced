//! The artifacts of a private product's build, and the ledger's records of
//! them, are hidden from anonymous readers and from members of other teams
//! (404, or absent from lists), and served to the owning team's members and
//! admins; a public build's artifacts stay public. A real server over
//! loopback on SQLite, a directory artifact store and a memory ledger; a
//! node made through the API builds (pretends to) and uploads.

use std::sync::Arc;
use std::time::Duration;

use albs_core::Sha256;
use albs_core::api::{CreateBuild, RegisterNode, TaskResult};
use albs_core::auth::{hash_token, new_token};
use albs_core::client::Client;
use albs_core::db::{SqliteStore, Store};
use albs_core::evr::Nevra;
use albs_core::ledger::MemoryLedger;
use albs_core::model::{Arch, Artifact, ArtifactKind, BuildOptions, TaskState};
use albs_core::platform::Platforms;
use albs_core::rbac::Role;
use albs_core::source::{GitRef, SourceRef};
use albs_core::store::DirStore;
use albs_server::{AppState, ServerConfig, serve};
use tokio_util::sync::CancellationToken;

async fn user(store: &dyn Store, name: &str, admin: bool) -> String {
    let u = store.create_user(name, admin).await.unwrap();
    let token = new_token().unwrap();
    store
        .add_user_token(u.id, &hash_token(&token), None)
        .await
        .unwrap();
    token
}

/// Builds one package of `product` through the node protocol; returns the
/// SRPM's digest.
async fn build_one(
    dir: &std::path::Path,
    owner: &Client,
    node: &Client,
    name: &str,
    product: Option<&str>,
) -> Sha256 {
    let build = owner
        .create_build(&CreateBuild {
            platform: "almalinux-9".into(),
            arches: vec!["x86_64".parse::<Arch>().unwrap()],
            refs: vec![SourceRef::Git {
                url: format!("https://git.example/rpms/{name}.git"),
                reference: Some(GitRef::Auto("a9".into())),
            }],
            options: BuildOptions {
                product: product.map(str::to_owned),
                ..Default::default()
            },
        })
        .await
        .unwrap();
    let task = node.claim().await.unwrap().task.expect("a task is ready");
    assert_eq!(task.build_id, build.id);
    let file = format!("{name}-1.0-1.el9.src.rpm");
    let data = format!("pretend this is {file}").into_bytes();
    let path = dir.join(&file);
    std::fs::write(&path, &data).unwrap();
    let sha = Sha256::of(&data);
    node.upload(task.task_id, &sha, &path).await.unwrap();
    let result = TaskResult {
        state: TaskState::Succeeded,
        reason: None,
        artifacts: vec![Artifact {
            sha256: sha,
            size: data.len() as u64,
            name: file.clone(),
            kind: ArtifactKind::Srpm,
            nevra: Nevra::from_file_name(&file).ok(),
        }],
        noarch: false,
        commit: Some("0123456789abcdef0123456789abcdef01234567".into()),
        build_requires: vec![],
        produces: vec![],
    };
    node.complete(task.task_id, &result).await.unwrap();
    sha
}

#[tokio::test]
async fn private_artifacts_and_their_ledger_records_are_hidden() {
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn Store> = Arc::new(
        SqliteStore::open(&dir.path().join("albs.db"))
            .await
            .unwrap(),
    );
    store
        .put_platform(Platforms::bundled().get("almalinux-9").unwrap())
        .await
        .unwrap();
    let admin = user(store.as_ref(), "root", true).await;
    let member = user(store.as_ref(), "member", false).await;
    let outsider = user(store.as_ref(), "outsider", false).await;
    store.create_team("cloud").await.unwrap();
    store.create_team("core").await.unwrap();
    store
        .set_team_member("cloud", "member", Role::Observer)
        .await
        .unwrap();
    store
        .set_team_member("core", "outsider", Role::Maintainer)
        .await
        .unwrap();
    store.create_product("secret", true).await.unwrap();
    store.set_product_team("secret", "cloud").await.unwrap();

    let artifacts = Arc::new(DirStore::open(dir.path().join("artifacts")).unwrap());
    let ledger = Arc::new(MemoryLedger::default());
    let state = AppState::new(store.clone(), artifacts, ledger, ServerConfig::default());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let stop = CancellationToken::new();
    let s = stop.clone();
    let join = tokio::spawn(serve(listener, state, async move { s.cancelled().await }));
    let client = |t: Option<&str>| Client::new(&base, t.map(str::to_owned));

    let reg = client(Some(&admin))
        .register_node(&RegisterNode {
            name: "n1".into(),
            arches: vec!["x86_64".parse().unwrap()],
            labels: vec![],
            capacity: 1,
            excluded_packages: vec![],
        })
        .await
        .unwrap();
    let node = client(Some(&reg.token));
    let hidden = build_one(
        dir.path(),
        &client(Some(&admin)),
        &node,
        "hush",
        Some("secret"),
    )
    .await;
    let public = build_one(dir.path(), &client(Some(&admin)), &node, "open", None).await;

    let http = reqwest::Client::new();
    let get = |path: String, token: Option<String>| {
        let http = http.clone();
        let url = format!("{base}{path}");
        async move {
            let mut req = http.get(url);
            if let Some(t) = token {
                req = req.bearer_auth(t);
            }
            let resp = req.send().await.unwrap();
            let status = resp.status().as_u16();
            (status, resp.text().await.unwrap())
        }
    };
    let readers = [
        ("anonymous", None, false),
        ("outsider", Some(outsider.clone()), false),
        ("member", Some(member.clone()), true),
        ("admin", Some(admin.clone()), true),
    ];
    let mut diffs = Vec::new();
    for (who, token, sees) in readers.clone() {
        let (status, _) = get(format!("/api/v1/artifacts/{hidden}"), token.clone()).await;
        if status != if sees { 200 } else { 404 } {
            diffs.push(format!("artifact download by {who}: {status}"));
        }
        let (status, _) = get(format!("/api/v1/artifacts/{public}"), token.clone()).await;
        if status != 200 {
            diffs.push(format!("public artifact by {who}: {status}"));
        }
        let (status, text) = get(format!("/api/v1/ledger/artifacts/{hidden}"), token.clone()).await;
        let listed = status == 200 && text.contains(&hidden.to_string());
        if listed != sees {
            diffs.push(format!(
                "ledger records of the artifact by {who}: {status} {text}"
            ));
        }
        // The private build's record was appended first.
        let (status, text) = get("/api/v1/ledger/records/0".into(), token.clone()).await;
        if status != if sees { 200 } else { 404 } {
            diffs.push(format!("ledger record 0 by {who}: {status} {text}"));
        }
        let (status, _) = get("/api/v1/ledger/records/1".into(), token.clone()).await;
        if status != 200 {
            diffs.push(format!("public ledger record 1 by {who}: {status}"));
        }
    }
    // A node fetches every build's artifacts (it builds, tests and signs
    // private products' packages too).
    let (status, _) = get(
        format!("/api/v1/artifacts/{hidden}"),
        Some(reg.token.clone()),
    )
    .await;
    if status != 200 {
        diffs.push(format!("artifact download by the node: {status}"));
    }
    stop.cancel();
    tokio::time::timeout(Duration::from_secs(10), join)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert!(diffs.is_empty(), "{}", diffs.join("\n"));
}

//! The RBAC matrix: every write endpoint of the router × every role
//! (anonymous, observer, contributor, maintainer, signer, admin, a
//! maintainer of another team) against one real server, each answer checked
//! against the table below. The first admin is the one the server makes on
//! its first start (its token read from the credentials file); the other
//! users, the teams and the product are made with the `albs` verbs.

mod common;

use std::path::Path;

use albs_core::Sha256;
use albs_core::api::{CreateBuild, TaskResult};
use albs_core::client::Client;
use albs_core::evr::Nevra;
use albs_core::model::{Arch, Artifact, ArtifactKind, Build, BuildOptions, TaskKind, TaskState};
use albs_core::source::{GitRef, SourceRef};
use common::*;
use serde_json::{Value, json};

/// The roles, in the table's column order.
const ROLES: [&str; 7] = [
    "anonymous",
    "observer",
    "contributor",
    "maintainer",
    "signer",
    "admin",
    "other-team",
];

/// What a role gets: `A` allowed (2xx, or a 4xx other than 401/403 about
/// the object or the body), `F` forbidden (403), `U` unauthenticated (401).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Want {
    A,
    F,
    U,
}
use Want::*;

/// What a request acts on: some need a fresh build each.
#[derive(Debug, Clone, Copy)]
enum Target {
    /// No build.
    None,
    /// A fresh pending build of product sig-a (team-a), made by the admin.
    TeamBuild,
    /// A fresh pending personal build (no product) of the contributor.
    PersonalBuild,
    /// A fresh draft erratum of the contributor (`{id}` is its id).
    Erratum,
    /// An open release of sig-a with packages, made by the admin.
    OpenRelease,
    /// An open release of sig-a whose packages were all removed.
    EmptyRelease,
}

struct Row {
    method: &'static str,
    /// `{id}` is replaced by the target build's id.
    path: &'static str,
    target: Target,
    body: Box<dyn Fn() -> Option<Value>>,
    /// By [`ROLES`].
    want: [Want; 7],
}

const NODE: [Want; 7] = [U, F, F, F, F, F, F];
const ADMIN: [Want; 7] = [U, F, F, F, F, A, F];
const CONTRIB: [Want; 7] = [U, F, A, A, F, A, F];
const MAINT: [Want; 7] = [U, F, F, A, F, A, F];
const SIGNER: [Want; 7] = [U, F, F, F, A, A, F];
const KEYS: [Want; 7] = [U, F, F, A, A, A, F];
const OWNER: [Want; 7] = [U, F, A, F, F, A, F];
const ANY_USER: [Want; 7] = [U, A, A, A, A, A, A];

fn git_ref() -> SourceRef {
    SourceRef::Git {
        url: "https://git.example.org/rpms/bash.git".into(),
        reference: Some(GitRef::Auto("a9".into())),
    }
}

fn build_body(product: Option<&str>) -> Value {
    serde_json::to_value(CreateBuild {
        platform: "almalinux-9".into(),
        arches: vec![Arch::host()],
        refs: vec![git_ref()],
        options: BuildOptions {
            product: product.map(str::to_owned),
            ..Default::default()
        },
    })
    .unwrap()
}

fn erratum_body() -> Value {
    json!({
        "platform": "almalinux-9",
        "type": "bugfix",
        "title": "bash fixes",
        "description": "Fixes bash.",
    })
}

fn none() -> Option<Value> {
    None
}

/// The table. `platform` is a valid platform body (a malformed body would
/// be refused before the role is looked at).
fn rows(platform: Value) -> Vec<Row> {
    fn r(
        method: &'static str,
        path: &'static str,
        target: Target,
        body: impl Fn() -> Option<Value> + 'static,
        want: [Want; 7],
    ) -> Row {
        Row {
            method,
            path,
            target,
            body: Box::new(body),
            want,
        }
    }
    vec![
        r(
            "POST",
            "/api/v1/platforms",
            Target::None,
            move || Some(platform.clone()),
            ADMIN,
        ),
        r(
            "POST",
            "/api/v1/builds",
            Target::None,
            || Some(build_body(Some("sig-a"))),
            CONTRIB,
        ),
        r(
            "POST",
            "/api/v1/builds",
            Target::None,
            || Some(build_body(None)),
            ANY_USER,
        ),
        r(
            "POST",
            "/api/v1/builds/{id}/cancel",
            Target::TeamBuild,
            none,
            CONTRIB,
        ),
        r(
            "POST",
            "/api/v1/builds/{id}/restart",
            Target::TeamBuild,
            none,
            CONTRIB,
        ),
        r(
            "DELETE",
            "/api/v1/builds/{id}",
            Target::TeamBuild,
            none,
            MAINT,
        ),
        r(
            "POST",
            "/api/v1/builds/{id}/tests/restart",
            Target::TeamBuild,
            none,
            CONTRIB,
        ),
        r(
            "POST",
            "/api/v1/builds/{id}/tests/cancel",
            Target::TeamBuild,
            none,
            CONTRIB,
        ),
        r(
            "POST",
            "/api/v1/builds/{id}/sign",
            Target::TeamBuild,
            || Some(json!({})),
            SIGNER,
        ),
        r(
            "POST",
            "/api/v1/builds/{id}/cancel",
            Target::PersonalBuild,
            none,
            OWNER,
        ),
        r(
            "POST",
            "/api/v1/builds/{id}/restart",
            Target::PersonalBuild,
            none,
            OWNER,
        ),
        r(
            "DELETE",
            "/api/v1/builds/{id}",
            Target::PersonalBuild,
            none,
            OWNER,
        ),
        r(
            "POST",
            "/api/v1/builds/{id}/tests/restart",
            Target::PersonalBuild,
            none,
            OWNER,
        ),
        r(
            "POST",
            "/api/v1/builds/{id}/sign",
            Target::PersonalBuild,
            || Some(json!({})),
            OWNER,
        ),
        r(
            "POST",
            "/api/v1/nodes",
            Target::None,
            || Some(json!({"name": "n1", "arches": ["x86_64"]})),
            ADMIN,
        ),
        r(
            "POST",
            "/api/v1/keys",
            Target::None,
            || {
                Some(
                    json!({"public_key": "not a key", "platform": "almalinux-9", "product": "sig-a"}),
                )
            },
            KEYS,
        ),
        r(
            "POST",
            "/api/v1/keys",
            Target::None,
            || Some(json!({"public_key": "not a key", "platform": "almalinux-9"})),
            ADMIN,
        ),
        r(
            "POST",
            "/api/v1/keys/ABCDEF/archive",
            Target::None,
            none,
            ADMIN,
        ),
        r(
            "POST",
            "/api/v1/products",
            Target::None,
            || Some(json!({"name": "p-new"})),
            ADMIN,
        ),
        r(
            "POST",
            "/api/v1/products/sig-a/members",
            Target::None,
            || Some(json!({"user": "observer"})),
            MAINT,
        ),
        r(
            "POST",
            "/api/v1/teams",
            Target::None,
            || Some(json!({"name": "t-new"})),
            ADMIN,
        ),
        r(
            "POST",
            "/api/v1/teams/team-a/members",
            Target::None,
            || Some(json!({"user": "observer", "role": "observer"})),
            MAINT,
        ),
        r(
            "POST",
            "/api/v1/users",
            Target::None,
            || Some(json!({"name": "u-new"})),
            ADMIN,
        ),
        r(
            "POST",
            "/api/v1/hooks/git",
            Target::None,
            || Some(json!({"url": "https://git.example.org/x.git"})),
            ADMIN,
        ),
        r("GET", "/api/v1/audit", Target::None, none, ADMIN),
        // The node protocols: nodes are not users.
        r(
            "POST",
            "/api/v1/node/claim",
            Target::None,
            || Some(json!({})),
            NODE,
        ),
        r(
            "POST",
            "/api/v1/node/tasks/1/heartbeat",
            Target::None,
            none,
            NODE,
        ),
        r(
            "POST",
            "/api/v1/node/tasks/1/log",
            Target::None,
            || Some(json!({"lines": ["x"]})),
            NODE,
        ),
        r("PUT", ART, Target::None, none, NODE),
        r(
            "POST",
            "/api/v1/node/tasks/1/complete",
            Target::None,
            || Some(json!({"state": "succeeded"})),
            NODE,
        ),
        r(
            "POST",
            "/api/v1/node/test/claim",
            Target::None,
            || Some(json!({})),
            NODE,
        ),
        r(
            "POST",
            "/api/v1/node/test/1/heartbeat",
            Target::None,
            none,
            NODE,
        ),
        r(
            "POST",
            "/api/v1/node/test/1/log",
            Target::None,
            || Some(json!({"lines": ["x"]})),
            NODE,
        ),
        r(
            "POST",
            "/api/v1/node/test/1/complete",
            Target::None,
            || Some(json!({})),
            NODE,
        ),
        r(
            "POST",
            "/api/v1/sign/claim",
            Target::None,
            || Some(json!({})),
            NODE,
        ),
        r(
            "POST",
            "/api/v1/sign/tasks/1/heartbeat",
            Target::None,
            none,
            NODE,
        ),
        r("PUT", SIGNED, Target::None, none, NODE),
        r(
            "POST",
            "/api/v1/sign/tasks/1/complete",
            Target::None,
            || Some(json!({})),
            NODE,
        ),
        // Errata: a draft is its author's (personal), approving and releasing
        // are the admins'.
        r(
            "POST",
            "/api/v1/errata",
            Target::None,
            || Some(erratum_body()),
            ANY_USER,
        ),
        r(
            "PATCH",
            "/api/v1/errata/{id}",
            Target::Erratum,
            || Some(json!({"title": "a better title"})),
            OWNER,
        ),
        r(
            "POST",
            "/api/v1/errata/{id}/match",
            Target::Erratum,
            || Some(json!({"packages": ["bash-5.1.8"]})),
            OWNER,
        ),
        r(
            "POST",
            "/api/v1/errata/{id}/approve",
            Target::Erratum,
            none,
            ADMIN,
        ),
        r(
            "POST",
            "/api/v1/errata/{id}/release",
            Target::Erratum,
            none,
            ADMIN,
        ),
        // Releases: of a team's product by its contributors; the repomd
        // signing protocol is the sign nodes'.
        r(
            "POST",
            "/api/v1/releases",
            Target::TeamBuild,
            || Some(json!({"builds": [0]})),
            CONTRIB,
        ),
        r(
            "PATCH",
            "/api/v1/releases/{id}",
            Target::OpenRelease,
            || Some(json!({})),
            CONTRIB,
        ),
        r(
            "POST",
            "/api/v1/releases/{id}/commit",
            Target::EmptyRelease,
            none,
            MAINT,
        ),
        r(
            "POST",
            "/api/v1/releases/{id}/revert",
            Target::OpenRelease,
            none,
            MAINT,
        ),
        r(
            "POST",
            "/api/v1/releases/repomd/pending",
            Target::None,
            || Some(json!({"fingerprints": []})),
            NODE,
        ),
        r(
            "POST",
            "/api/v1/releases/repomd/signature",
            Target::None,
            || Some(json!({})),
            NODE,
        ),
    ]
}

const ART: &str = "/api/v1/node/tasks/1/artifacts/0000000000000000000000000000000000000000000000000000000000000000";
const SIGNED: &str = "/api/v1/sign/tasks/1/packages/0000000000000000000000000000000000000000000000000000000000000000";

fn matches(want: Want, status: u16) -> bool {
    match want {
        A => {
            (200..300).contains(&status)
                || ((400..500).contains(&status) && status != 401 && status != 403)
        }
        F => status == 403,
        U => status == 401,
    }
}

struct Ctx {
    http: reqwest::Client,
    url: String,
    tokens: Vec<Option<String>>,
    admin: String,
    contributor: String,
    /// An open release with packages and an emptied one.
    releases: (u64, u64),
}

impl Ctx {
    async fn send(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> (u16, String) {
        let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        let mut req = self.http.request(method, format!("{}{path}", self.url));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await.unwrap();
        let status = resp.status().as_u16();
        (status, resp.text().await.unwrap_or_default())
    }

    async fn new_build(&self, token: &str, product: Option<&str>) -> Build {
        let (status, text) = self
            .send(
                "POST",
                "/api/v1/builds",
                Some(token),
                Some(build_body(product)),
            )
            .await;
        assert_eq!(status, 201, "{text}");
        serde_json::from_str(&text).unwrap()
    }

    /// A build of sig-a that succeeded: its tasks claimed and completed
    /// through the node protocol by `node`, with made-up package files.
    async fn succeeded_build(&self, node: &Client, dir: &Path, name: &str) -> u64 {
        let build = self.new_build(&self.admin, Some("sig-a")).await;
        for _ in 0..build.tasks.len() {
            let task = node.claim().await.unwrap().task.expect("a task is ready");
            assert_eq!(task.build_id, build.id);
            let (file, kind) = match task.kind {
                TaskKind::Src => (format!("{name}-1.0-1.el9.src.rpm"), ArtifactKind::Srpm),
                _ => (
                    format!("{name}-1.0-1.el9.{}.rpm", Arch::host()),
                    ArtifactKind::Rpm,
                ),
            };
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
                    kind,
                    nevra: Nevra::from_file_name(&file).ok(),
                }],
                noarch: false,
                commit: Some("0123456789abcdef0123456789abcdef01234567".into()),
                build_requires: vec![],
                produces: vec![],
            };
            node.complete(task.task_id, &result).await.unwrap();
        }
        build.id
    }

    /// A release of `build` by the admin; its id and packages.
    async fn new_release(&self, build: u64) -> (u64, Vec<String>) {
        let (status, text) = self
            .send(
                "POST",
                "/api/v1/releases",
                Some(&self.admin),
                Some(json!({"builds": [build]})),
            )
            .await;
        assert_eq!(status, 201, "{text}");
        let v: Value = serde_json::from_str(&text).unwrap();
        let packages = v["entries"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["nevra"].as_str().unwrap().to_owned())
            .collect();
        (v["id"].as_u64().unwrap(), packages)
    }

    /// A new draft erratum of the contributor; its id.
    async fn new_erratum(&self) -> String {
        let (status, text) = self
            .send(
                "POST",
                "/api/v1/errata",
                Some(&self.contributor),
                Some(erratum_body()),
            )
            .await;
        assert_eq!(status, 201, "{text}");
        let v: Value = serde_json::from_str(&text).unwrap();
        v["id"].as_str().unwrap().to_owned()
    }
}

/// The token in the first admin's credentials file.
fn bootstrap_token(data: &Path) -> String {
    let file = data.join("admin-credentials");
    let text = std::fs::read_to_string(&file).unwrap();
    use std::os::unix::fs::PermissionsExt as _;
    let mode = std::fs::metadata(&file).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600, "the credentials file is private");
    let line = text.lines().find(|l| l.starts_with("token = ")).unwrap();
    line.trim_start_matches("token = ")
        .trim_matches('"')
        .to_owned()
}

#[tokio::test]
async fn every_write_endpoint_by_every_role() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let server = start_server(&data, 30).await;
    let admin = bootstrap_token(&data);
    let remote = [
        ("ALBS_SERVER", server.url.as_str()),
        ("ALBS_TOKEN", admin.as_str()),
    ];
    let mut tokens: Vec<Option<String>> = vec![None];
    for (user, team, role) in [
        ("observer", "team-a", "observer"),
        ("contributor", "team-a", "contributor"),
        ("maintainer", "team-a", "maintainer"),
        ("signer", "team-a", "signer"),
    ] {
        let token = albs_ok(&data, &["user", "create", user], &[]);
        if team == "team-a" && user == "observer" {
            albs_ok(&data, &["team", "create", "team-a"], &remote);
            albs_ok(&data, &["team", "create", "team-b"], &remote);
        }
        albs_ok(
            &data,
            &["team", "add-member", team, user, "--role", role],
            &remote,
        );
        tokens.push(Some(token));
    }
    tokens.push(Some(admin.clone()));
    let other = albs_ok(&data, &["user", "create", "other"], &[]);
    albs_ok(
        &data,
        &[
            "team",
            "add-member",
            "team-b",
            "other",
            "--role",
            "maintainer",
        ],
        &remote,
    );
    tokens.push(Some(other));
    albs_ok(
        &data,
        &["product", "create", "sig-a", "--team", "team-a"],
        &remote,
    );
    let listed = albs_ok(&data, &["team", "list"], &remote);
    assert!(
        listed.contains("team-a") && listed.contains("contributor contributor"),
        "{listed}"
    );

    let mut ctx = Ctx {
        http: reqwest::Client::new(),
        url: server.url.clone(),
        contributor: tokens[2].clone().unwrap(),
        admin: admin.clone(),
        tokens,
        releases: (0, 0),
    };

    // Two releases of sig-a, before the table's builds fill the queue: one
    // open with packages, one whose packages were all removed (committing
    // it is refused after the role check).
    let (status, answer) = ctx
        .send(
            "POST",
            "/api/v1/nodes",
            Some(&admin),
            Some(json!({"name": "fake-builder", "arches": [Arch::host()]})),
        )
        .await;
    assert_eq!(status, 201, "{answer}");
    let reg: Value = serde_json::from_str(&answer).unwrap();
    let node = Client::new(&server.url, reg["token"].as_str().map(str::to_owned));
    let b1 = ctx.succeeded_build(&node, tmp.path(), "hello").await;
    let b2 = ctx.succeeded_build(&node, tmp.path(), "world").await;
    let (open, _) = ctx.new_release(b1).await;
    let (emptied, packages) = ctx.new_release(b2).await;
    assert!(!packages.is_empty());
    let (status, answer) = ctx
        .send(
            "PATCH",
            &format!("/api/v1/releases/{emptied}"),
            Some(&admin),
            Some(json!({"removes": packages})),
        )
        .await;
    assert_eq!(status, 200, "{answer}");
    ctx.releases = (open, emptied);

    let mut diffs = Vec::new();
    let mut cells = 0;
    let (status, platforms) = ctx.send("GET", "/api/v1/platforms", None, None).await;
    assert_eq!(status, 200);
    let platforms: Vec<Value> = serde_json::from_str(&platforms).unwrap();
    let platform = platforms
        .into_iter()
        .find(|p| p["name"] == "almalinux-9")
        .unwrap();
    for row in rows(platform) {
        for (col, role) in ROLES.iter().enumerate() {
            let id = match row.target {
                Target::None => None,
                Target::TeamBuild => Some(
                    ctx.new_build(&ctx.admin, Some("sig-a"))
                        .await
                        .id
                        .to_string(),
                ),
                Target::PersonalBuild => {
                    Some(ctx.new_build(&ctx.contributor, None).await.id.to_string())
                }
                Target::Erratum => Some(ctx.new_erratum().await),
                Target::OpenRelease => Some(ctx.releases.0.to_string()),
                Target::EmptyRelease => Some(ctx.releases.1.to_string()),
            };
            let path = match &id {
                Some(id) => row.path.replace("{id}", id),
                None => row.path.to_owned(),
            };
            let mut body = (row.body)();
            // A release names its build in the body.
            if let (Some(b), Some(id)) = (body.as_mut(), &id)
                && b.get("builds").is_some()
            {
                b["builds"] = json!([id.parse::<u64>().unwrap()]);
            }
            let (status, text) = ctx
                .send(row.method, &path, ctx.tokens[col].as_deref(), body)
                .await;
            cells += 1;
            if !matches(row.want[col], status) {
                diffs.push(format!(
                    "{:<7} {:<95} {:<11} want {:?} got {status}: {}",
                    row.method,
                    format!("{} ({:?})", row.path, row.target),
                    role,
                    row.want[col],
                    text.chars().take(160).collect::<String>()
                ));
            }
            // A refusal names the user, the action and what it needs.
            if status == 403 && row.want != NODE {
                assert!(
                    text.contains(&format!("user {role}"))
                        || *role == "other-team" && text.contains("user other"),
                    "{text}"
                );
                assert!(text.contains("needs") || text.contains("only"), "{text}");
            }
        }
    }
    assert!(
        diffs.is_empty(),
        "{} of {cells} cells differ from the table:\n{}",
        diffs.len(),
        diffs.join("\n")
    );

    // Every decision on a write is in the audit log, refusals included.
    let out = albs_ok(&data, &["audit", "--limit", "2000", "--json"], &remote);
    let records: Vec<Value> = serde_json::from_str(&out).unwrap();
    assert!(records.iter().any(|r| r["user"] == "observer"
        && r["action"] == "cancel build"
        && r["outcome"].as_str().unwrap().starts_with("denied")));
    assert!(records.iter().any(|r| r["user"] == "contributor"
        && r["action"] == "create build"
        && r["object"] == "product sig-a (for contributor)"
        && r["outcome"] == "allowed"));
    assert!(records.iter().any(|r| r["user"] == "other"
        && r["action"] == "delete build"
        && r["outcome"].as_str().unwrap().contains("not a member")));
    // The audit log is the admins'.
    let out = albs(
        &data,
        &["audit"],
        &[
            ("ALBS_SERVER", server.url.as_str()),
            ("ALBS_TOKEN", ctx.tokens[3].as_deref().unwrap()),
        ],
    );
    assert!(!out.status.success());
    assert!(text(&out).contains("403"), "{}", text(&out));
}

/// A private product's build, its tasks' logs, tests and sign tasks: seen
/// by its team's members (an observer too) and admins; to anonymous
/// readers and members of other teams they do not exist (404), on the API
/// and the web pages, and writes to them are refused as for a missing
/// build.
#[tokio::test]
async fn private_products_are_hidden_from_every_read_route() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let server = start_server(&data, 30).await;
    let admin = bootstrap_token(&data);
    let remote = [
        ("ALBS_SERVER", server.url.as_str()),
        ("ALBS_TOKEN", admin.as_str()),
    ];
    let observer = albs_ok(&data, &["user", "create", "observer"], &[]);
    let outsider = albs_ok(&data, &["user", "create", "outsider"], &[]);
    albs_ok(&data, &["team", "create", "team-a"], &remote);
    albs_ok(&data, &["team", "create", "team-b"], &remote);
    albs_ok(
        &data,
        &[
            "team",
            "add-member",
            "team-a",
            "observer",
            "--role",
            "observer",
        ],
        &remote,
    );
    albs_ok(
        &data,
        &[
            "team",
            "add-member",
            "team-b",
            "outsider",
            "--role",
            "maintainer",
        ],
        &remote,
    );
    albs_ok(
        &data,
        &[
            "product",
            "create",
            "secret",
            "--private",
            "--team",
            "team-a",
        ],
        &remote,
    );
    let ctx = Ctx {
        http: reqwest::Client::new(),
        url: server.url.clone(),
        tokens: vec![],
        admin: admin.clone(),
        contributor: String::new(),
        releases: (0, 0),
    };
    let build = ctx.new_build(&admin, Some("secret")).await;
    let task = build.tasks[0].id;
    let id = build.id;
    let reads = [
        format!("/api/v1/builds/{id}"),
        format!("/api/v1/tasks/{task}/log"),
        format!("/api/v1/builds/{id}/tests"),
        format!("/api/v1/builds/{id}/sign"),
        format!("/builds/{id}"),
        format!("/tasks/{task}/log"),
    ];
    let readers: [(&str, Option<&str>, bool); 4] = [
        ("anonymous", None, false),
        ("outsider", Some(&outsider), false),
        ("observer", Some(&observer), true),
        ("admin", Some(&admin), true),
    ];
    let mut diffs = Vec::new();
    for path in &reads {
        for (who, token, sees) in readers {
            let (status, text) = ctx.send("GET", path, token, None).await;
            let want = if sees { 200 } else { 404 };
            if status != want {
                diffs.push(format!(
                    "{path} by {who}: want {want}, got {status}: {text}"
                ));
            }
        }
    }
    for (who, token, sees) in readers {
        let (status, text) = ctx.send("GET", "/api/v1/builds", token, None).await;
        assert_eq!(status, 200, "{text}");
        let listed = text.contains(&format!("\"id\":{id},"));
        if listed != sees {
            diffs.push(format!("the build list by {who}: listed {listed}"));
        }
    }
    // A write to a build one may not see is refused as if it did not exist.
    let (status, text) = ctx
        .send(
            "POST",
            &format!("/api/v1/builds/{id}/cancel"),
            Some(&outsider),
            None,
        )
        .await;
    assert_eq!(status, 404, "{text}");
    // The observer sees it and may not change it.
    let (status, text) = ctx
        .send(
            "POST",
            &format!("/api/v1/builds/{id}/cancel"),
            Some(&observer),
            None,
        )
        .await;
    assert_eq!(status, 403, "{text}");
    assert!(diffs.is_empty(), "{}", diffs.join("\n"));
}

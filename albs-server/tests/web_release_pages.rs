//! The release and errata pages: a release and an erratum made through the
//! store and the API are listed and shown; a private product's release and
//! a link to a private build are hidden from anonymous readers and from
//! users outside its team; a draft erratum is shown to signed-in users
//! only; unknown ids are a 404 page; what users wrote is escaped.

use std::sync::Arc;

use albs_core::Sha256;
use albs_core::auth::hash_token;
use albs_core::conformance::{T0, new_build, put_bundled_platforms};
use albs_core::db::errata::Erratum;
use albs_core::db::release::NewRelease;
use albs_core::db::{PgStore, SqliteStore, Store};
use albs_core::evr::Nevra;
use albs_core::ledger::MemoryLedger;
use albs_core::rbac::Role;
use albs_core::release::{ReleaseEntry, ReleaseRepoState};
use albs_core::store::DirStore;
use albs_server::{AppState, ServerConfig, router};
use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use http_body_util::BodyExt;
use tower::ServiceExt;

async fn call(
    state: &AppState,
    method: &str,
    uri: &str,
    user: Option<&str>,
    body: Option<serde_json::Value>,
) -> (StatusCode, String) {
    let mut b = Request::builder().method(method).uri(uri);
    if let Some(u) = user {
        b = b.header(header::AUTHORIZATION, format!("Bearer token-{u}"));
    }
    let req = match body {
        Some(v) => b
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from(v.to_string()))
            .unwrap(),
        None => b.body(Body::empty()).unwrap(),
    };
    let resp = router(state.clone()).oneshot(req).await.unwrap();
    let status = resp.status();
    if method == "GET" && !uri.starts_with("/api/") && status != StatusCode::BAD_REQUEST {
        let ct = resp.headers().get(header::CONTENT_TYPE).unwrap();
        assert_eq!(ct, "text/html; charset=utf-8", "{uri}");
    }
    let bytes = resp.into_body().collect().await.unwrap().to_bytes();
    (status, String::from_utf8(bytes.to_vec()).unwrap())
}

async fn page(state: &AppState, uri: &str, user: Option<&str>) -> String {
    let (st, body) = call(state, "GET", uri, user, None).await;
    assert_eq!(st, StatusCode::OK, "{uri} as {user:?}: {body}");
    body
}

fn entry(build_id: u64, file: &str, repo: &str) -> ReleaseEntry {
    let nevra = Nevra::from_file_name(file).unwrap();
    ReleaseEntry {
        sha256: Sha256::of(file.as_bytes()),
        build_id,
        name: file.into(),
        nevra,
        repo: repo.into(),
    }
}

struct Fixture {
    _dir: tempfile::TempDir,
    state: AppState,
    store: Arc<dyn Store>,
    public_build: u64,
    private_build: u64,
}

async fn fixture(store: Arc<dyn Store>) -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    put_bundled_platforms(store.as_ref()).await;
    for (name, admin) in [("root", true), ("member", false), ("outsider", false)] {
        let u = store.create_user(name, admin).await.unwrap();
        store
            .add_user_token(u.id, &hash_token(&format!("token-{name}")), None)
            .await
            .unwrap();
    }
    store.create_team("cloud").await.unwrap();
    store
        .set_team_member("cloud", "member", Role::Observer)
        .await
        .unwrap();
    store.create_product("secret", true).await.unwrap();
    store.set_product_team("secret", "cloud").await.unwrap();

    let public_build = store
        .create_build(&new_build("member", &["hello"], &["x86_64"]), T0)
        .await
        .unwrap()
        .id;
    let mut private = new_build("member", &["hush"], &["x86_64"]);
    private.options.product = Some("secret".into());
    let private_build = store.create_build(&private, T0).await.unwrap().id;

    let repos = dir.path().join("repos");
    std::fs::create_dir_all(repos.join("almalinux-9-x86_64/repodata")).unwrap();
    std::fs::write(
        repos.join("almalinux-9-x86_64/repodata/repomd.xml.asc"),
        "-----BEGIN PGP SIGNATURE-----\n",
    )
    .unwrap();
    let artifacts = Arc::new(DirStore::open(dir.path().join("artifacts")).unwrap());
    let config = ServerConfig {
        repos_dir: Some(repos),
        ..Default::default()
    };
    let state = AppState::new(
        store.clone(),
        artifacts,
        Arc::new(MemoryLedger::new()),
        config,
    );
    Fixture {
        _dir: dir,
        state,
        store,
        public_build,
        private_build,
    }
}

/// The test database in a schema of its own, or `None` (and a line saying
/// so) when `ALBS_TEST_DATABASE_URL` is unset.
async fn postgres(test: &str) -> Option<Arc<dyn Store>> {
    let Ok(url) = std::env::var("ALBS_TEST_DATABASE_URL") else {
        eprintln!("{test}: skipped because ALBS_TEST_DATABASE_URL is not set");
        return None;
    };
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    let schema = format!("albs_web_{test}_{}_{nanos}", std::process::id());
    Some(Arc::new(
        PgStore::connect_schema(&url, &schema).await.unwrap(),
    ))
}

#[tokio::test]
async fn release_pages_on_sqlite() {
    release_pages(Arc::new(SqliteStore::memory().await.unwrap())).await;
}

#[tokio::test]
async fn release_pages_on_postgres() {
    if let Some(store) = postgres("releases").await {
        release_pages(store).await;
    }
}

#[tokio::test]
async fn errata_pages_on_sqlite() {
    errata_pages(Arc::new(SqliteStore::memory().await.unwrap())).await;
}

#[tokio::test]
async fn errata_pages_on_postgres() {
    if let Some(store) = postgres("errata").await {
        errata_pages(store).await;
    }
}

async fn release_pages(store: Arc<dyn Store>) {
    let f = fixture(store).await;
    let store = f.store.clone();
    let public = store
        .create_release(
            &NewRelease {
                platform: "almalinux-9".into(),
                product: None,
                owner: "member".into(),
                builds: vec![f.public_build],
                entries: vec![
                    entry(
                        f.public_build,
                        "hello-1.0-1.el9.x86_64.rpm",
                        "almalinux-9-x86_64",
                    ),
                    entry(
                        f.public_build,
                        "hello-1.0-1.el9.x86_64.rpm",
                        "almalinux-9-extras",
                    ),
                    entry(f.public_build, "hello-1.0-1.el9.src.rpm", "almalinux-9-src"),
                ],
            },
            T0,
        )
        .await
        .unwrap();
    let repomd = Sha256::of(b"repomd of x86_64");
    let repomd_src = Sha256::of(b"repomd of src");
    store
        .commit_release(
            public.id,
            &[
                ReleaseRepoState {
                    name: "almalinux-9-x86_64".into(),
                    repomd_sha256: repomd,
                    generation: 3,
                },
                ReleaseRepoState {
                    name: "almalinux-9-src".into(),
                    repomd_sha256: repomd_src,
                    generation: 1,
                },
            ],
            T0 + time::Duration::minutes(5),
        )
        .await
        .unwrap();
    let private = store
        .create_release(
            &NewRelease {
                platform: "almalinux-9".into(),
                product: Some("secret".into()),
                owner: "member".into(),
                builds: vec![f.private_build],
                entries: vec![entry(
                    f.private_build,
                    "hush-2.0-1.el9.x86_64.rpm",
                    "secret-almalinux-9-x86_64",
                )],
            },
            T0 + time::Duration::minutes(10),
        )
        .await
        .unwrap();
    store
        .fail_release(private.id, "<script>alert(1)</script> disk full")
        .await
        .unwrap();
    // A plan naming no product but holding a private build is private too.
    let unnamed = store
        .create_release(
            &NewRelease {
                platform: "almalinux-9".into(),
                product: None,
                owner: "root".into(),
                builds: vec![f.private_build],
                entries: vec![],
            },
            T0 + time::Duration::minutes(11),
        )
        .await
        .unwrap();
    let row = |id: u64| format!("data-release=\"{id}\"");
    let list = page(&f.state, "/releases", None).await;
    assert!(!list.contains(&row(unnamed.id)), "{list}");
    let uri = format!("/releases/{}", unnamed.id);
    let (st, _) = call(&f.state, "GET", &uri, None, None).await;
    assert_eq!(st, StatusCode::NOT_FOUND);
    let list = page(&f.state, "/releases", Some("member")).await;
    assert!(list.contains(&row(unnamed.id)), "{list}");

    // Anonymous readers and outsiders see the public release only.
    for who in [None, Some("outsider")] {
        let list = page(&f.state, "/releases", who).await;
        assert!(list.contains(&row(public.id)), "{list}");
        assert!(!list.contains(&row(private.id)), "{who:?}: {list}");
        assert!(!list.contains("hush"), "{list}");
        let uri = format!("/releases/{}", private.id);
        let (st, body) = call(&f.state, "GET", &uri, who, None).await;
        assert_eq!(st, StatusCode::NOT_FOUND, "{body}");
        assert!(body.contains(&format!("release {} does not exist", private.id)));
        assert!(!body.contains("disk full"), "{body}");
    }

    // The team's member and an admin see both, newest first.
    for who in ["member", "root"] {
        let list = page(&f.state, "/releases", Some(who)).await;
        let (a, b) = (
            list.find(&row(private.id)).expect("the private release"),
            list.find(&row(public.id)).expect("the public release"),
        );
        assert!(a < b, "newest first: {list}");
    }

    // The public release: its packages, their repositories, the commit.
    let list = page(&f.state, "/releases", None).await;
    let line = &list[list.find(&row(public.id)).unwrap()..];
    let line = &line[..line.find("</tr>").unwrap()];
    assert!(line.contains("committed"), "{line}");
    assert!(line.contains("<td>3</td>"), "three entries: {line}");
    assert!(line.contains("member"), "{line}");
    assert!(
        line.contains(&format!("href=\"/builds/{}\"", f.public_build)),
        "{line}"
    );
    let body = page(&f.state, &format!("/releases/{}", public.id), None).await;
    assert!(
        body.contains("<a href=\"/releases\">Releases</a>"),
        "{body}"
    );
    let x86 = &body[body.find("data-nevra=\"hello-1.0-1.el9.x86_64\"").unwrap()..];
    let x86 = &x86[..x86.find("</tr>").unwrap()];
    assert!(x86.contains("almalinux-9-x86_64"), "{x86}");
    assert!(x86.contains("almalinux-9-extras"), "{x86}");
    assert!(
        x86.contains(&format!("href=\"/builds/{}\"", f.public_build)),
        "{x86}"
    );
    assert!(
        body.contains("data-nevra=\"hello-1.0-1.el9.src\""),
        "{body}"
    );
    let repo = |name: &str| {
        let r = &body[body.find(&format!("data-repo=\"{name}\"")).unwrap()..];
        r[..r.find("</tr>").unwrap()].to_owned()
    };
    let signed = repo("almalinux-9-x86_64");
    assert!(signed.contains(&repomd.to_string()), "{signed}");
    assert!(signed.contains(">signed<"), "{signed}");
    let unsigned = repo("almalinux-9-src");
    assert!(unsigned.contains(&repomd_src.to_string()), "{unsigned}");
    assert!(unsigned.contains("not signed"), "{unsigned}");

    // The failed private release, to its member: the reason, escaped.
    let body = page(
        &f.state,
        &format!("/releases/{}", private.id),
        Some("member"),
    )
    .await;
    assert!(body.contains("failed"), "{body}");
    assert!(
        body.contains("&lt;script&gt;alert(1)&lt;&#x2f;script&gt; disk full"),
        "{body}"
    );
    assert!(!body.contains("<script>alert"), "{body}");
    assert!(body.contains("Not published."), "{body}");

    // Unknown and malformed ids.
    let (st, body) = call(&f.state, "GET", "/releases/9999", Some("root"), None).await;
    assert_eq!(st, StatusCode::NOT_FOUND, "{body}");
    assert!(body.contains("release 9999 does not exist"), "{body}");
    let (st, _) = call(&f.state, "GET", "/releases/abc", None, None).await;
    assert_eq!(st, StatusCode::BAD_REQUEST);
}

fn draft(platform: &str, title: &str) -> serde_json::Value {
    serde_json::json!({
        "platform": platform,
        "type": "security",
        "severity": "important",
        "title": title,
        "description": "Overflow <b>fixed</b>.",
        "cves": ["CVE-2026-1000"],
        "references": [{
            "type": "bugzilla",
            "id": "4242",
            "href": "https://bugs.example/4242",
            "title": "overflow",
        }],
    })
}

async fn create(f: &Fixture, body: serde_json::Value) -> Erratum {
    let (st, body) = call(
        &f.state,
        "POST",
        "/api/v1/errata",
        Some("member"),
        Some(body),
    )
    .await;
    assert_eq!(st, StatusCode::CREATED, "{body}");
    serde_json::from_str(&body).unwrap()
}

async fn errata_pages(store: Arc<dyn Store>) {
    let f = fixture(store).await;
    let released = create(&f, draft("almalinux-9", "hello: overflow")).await;
    let uri = format!("/api/v1/errata/{}", released.id);
    let packages = serde_json::json!({ "packages": [
        {
            "nevra": "hello-1.1-1.el9.x86_64",
            "sha256": Sha256::of(b"hello").to_hex(),
            "signing_key": "0123456789abcdef",
            "source_rpm": "hello-1.1-1.el9.src.rpm",
            "build_id": f.public_build,
        },
        {
            "nevra": "hush-1.1-1.el9.x86_64",
            "sha256": Sha256::of(b"hush").to_hex(),
            "signing_key": "0123456789abcdef",
            "source_rpm": "hush-1.1-1.el9.src.rpm",
            "build_id": f.private_build,
        },
    ]});
    let (st, body) = call(&f.state, "PATCH", &uri, Some("member"), Some(packages)).await;
    assert_eq!(st, StatusCode::OK, "{body}");
    for verb in ["approve", "release"] {
        let (st, body) = call(
            &f.state,
            "POST",
            &format!("{uri}/{verb}"),
            Some("root"),
            None,
        )
        .await;
        assert_eq!(st, StatusCode::OK, "{verb}: {body}");
    }
    let drafted = create(&f, draft("almalinux-8", "<i>draft</i> only")).await;
    let row = |id: &str| format!("data-erratum=\"{id}\"");

    // Anonymous readers: the released erratum only.
    let list = page(&f.state, "/errata", None).await;
    assert!(list.contains("<a href=\"/errata\">Errata</a>"), "{list}");
    assert!(list.contains(&row(&released.id)), "{list}");
    assert!(!list.contains(&row(&drafted.id)), "{list}");
    assert!(!list.contains("draft</i>"), "{list}");
    let (st, body) = call(
        &f.state,
        "GET",
        &format!("/errata/{}", drafted.id),
        None,
        None,
    )
    .await;
    assert_eq!(st, StatusCode::NOT_FOUND, "{body}");
    assert!(body.contains(&format!("erratum {} does not exist", drafted.id)));

    // Signed-in users: both, the draft escaped.
    let list = page(&f.state, "/errata", Some("outsider")).await;
    assert!(list.contains(&row(&released.id)), "{list}");
    assert!(list.contains(&row(&drafted.id)), "{list}");
    assert!(
        list.contains("&lt;i&gt;draft&lt;&#x2f;i&gt; only"),
        "{list}"
    );
    let body = page(
        &f.state,
        &format!("/errata/{}", drafted.id),
        Some("outsider"),
    )
    .await;
    assert!(
        body.contains("<td id=\"state\" class=\"state-draft\">draft</td>"),
        "{body}"
    );
    assert!(body.contains("No package yet."), "{body}");

    // A reader signed in through the login form (a session cookie).
    let login = Request::builder()
        .method("POST")
        .uri("/login")
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(Body::from("token=token-outsider"))
        .unwrap();
    let resp = router(f.state.clone()).oneshot(login).await.unwrap();
    let cookie = resp
        .headers()
        .get(header::SET_COOKIE)
        .expect("a session cookie")
        .to_str()
        .unwrap();
    let cookie = cookie.split(';').next().unwrap().to_owned();
    let req = Request::builder()
        .uri("/errata")
        .header(header::COOKIE, cookie)
        .body(Body::empty())
        .unwrap();
    let resp = router(f.state.clone()).oneshot(req).await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let bytes = resp.into_body().collect().await.unwrap().to_bytes();
    let list = String::from_utf8(bytes.to_vec()).unwrap();
    assert!(list.contains(&row(&drafted.id)), "{list}");

    // The platform filter.
    let list = page(&f.state, "/errata?platform=almalinux-8", Some("root")).await;
    assert!(list.contains(&row(&drafted.id)), "{list}");
    assert!(!list.contains(&row(&released.id)), "{list}");
    assert!(
        list.contains("href=\"/api/v1/platforms/almalinux-8/oval.xml\""),
        "{list}"
    );
    let list = page(&f.state, "/errata?platform=", None).await;
    assert!(list.contains(&row(&released.id)), "{list}");
    let (st, body) = call(&f.state, "GET", "/errata?platform=solaris-11", None, None).await;
    assert_eq!(st, StatusCode::NOT_FOUND, "{body}");
    assert!(
        body.contains("platform solaris-11 does not exist"),
        "{body}"
    );
    let (st, body) = call(&f.state, "GET", "/errata?state=draft", None, None).await;
    assert_eq!(st, StatusCode::BAD_REQUEST, "{body}");
    assert!(body.contains("state"), "{body}");

    // The released erratum, to anyone.
    let body = page(&f.state, &format!("/errata/{}", released.id), None).await;
    assert!(body.contains("<td id=\"kind\">security</td>"), "{body}");
    assert!(
        body.contains("<td id=\"severity\">Important</td>"),
        "{body}"
    );
    assert!(
        body.contains("<span class=\"cve\">CVE-2026-1000</span>"),
        "{body}"
    );
    assert!(
        body.contains("href=\"https:&#x2f;&#x2f;bugs.example&#x2f;4242\""),
        "{body}"
    );
    assert!(
        body.contains("Overflow &lt;b&gt;fixed&lt;&#x2f;b&gt;."),
        "{body}"
    );
    for export in ["oval.xml", "updateinfo.xml", "errata.json"] {
        assert!(
            body.contains(&format!("href=\"/api/v1/platforms/almalinux-9/{export}\"")),
            "{export}: {body}"
        );
    }
    let fixed = |body: &str, nevra: &str| {
        let r = &body[body.find(&format!("data-nevra=\"{nevra}\"")).unwrap()..];
        r[..r.find("</tr>").unwrap()].to_owned()
    };
    let hello = fixed(&body, "hello-1.1-1.el9.x86_64");
    assert!(
        hello.contains(&format!("href=\"/builds/{}\"", f.public_build)),
        "{hello}"
    );
    // The private build is not linked for anonymous readers, but is for
    // the product's team.
    let hush = fixed(&body, "hush-1.1-1.el9.x86_64");
    assert!(!hush.contains("/builds/"), "{hush}");
    let body = page(
        &f.state,
        &format!("/errata/{}", released.id),
        Some("member"),
    )
    .await;
    let hush = fixed(&body, "hush-1.1-1.el9.x86_64");
    assert!(
        hush.contains(&format!("href=\"/builds/{}\"", f.private_build)),
        "{hush}"
    );

    let (st, body) = call(
        &f.state,
        "GET",
        "/errata/ALSA-2026:9999",
        Some("root"),
        None,
    )
    .await;
    assert_eq!(st, StatusCode::NOT_FOUND, "{body}");
    assert!(
        body.contains("erratum ALSA-2026:9999 does not exist"),
        "{body}"
    );
}

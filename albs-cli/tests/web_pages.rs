//! The web pages in a real browser: headless Chromium driven by
//! chromedriver over the W3C WebDriver protocol, against a real server and
//! build node. One server, two builds: a public one whose package prints a
//! line a second, and one of a private product.

mod common;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use albs_core::api::CreateBuild;
use albs_core::client::Client;
use albs_core::model::{Arch, BuildOptions, TaskKind, TaskState};
use albs_core::source::SourceRef;
use common::*;
use serde_json::{Value, json};

/// A package whose %build prints `tick-NAME i` once a second, `secs` times.
fn slow_repo(fixtures: &Path, name: &str, secs: u32) -> SourceRef {
    let dir = fixtures.join("git").join(name);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join(format!("{name}.spec")),
        format!(
            "Name: {name}\nVersion: 1\nRelease: 1\nSummary: slow\nLicense: MIT\nBuildArch: noarch\n\
             %description\nslow\n%build\nfor i in $(seq {secs}); do echo tick-{name} $i; sleep 1; done\n\
             %install\nmkdir -p %{{buildroot}}/usr/share/{name}\necho x > %{{buildroot}}/usr/share/{name}/x\n\
             %files\n/usr/share/{name}/x\n"
        ),
    )
    .unwrap();
    for args in [
        &["init", "-q", "-b", "a9"][..],
        &["add", "-A"],
        &["commit", "-qm", "slow"],
    ] {
        let ok = Command::new("git")
            .current_dir(&dir)
            .args(args)
            .env("GIT_AUTHOR_NAME", "t")
            .env("GIT_AUTHOR_EMAIL", "t@t")
            .env("GIT_COMMITTER_NAME", "t")
            .env("GIT_COMMITTER_EMAIL", "t@t")
            .status()
            .unwrap();
        assert!(ok.success());
    }
    example(fixtures, name)
}

/// A headless Chromium session behind chromedriver.
struct Browser {
    _driver: Proc,
    http: reqwest::Client,
    base: String,
    session: String,
}

impl Browser {
    async fn start() -> Browser {
        let port = free_port();
        let driver = Proc(
            Command::new("chromedriver")
                .arg(format!("--port={port}"))
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect(
                    "chromedriver (Debian's chromium-driver, scripts/setup.sh) must be installed",
                ),
        );
        let base = format!("http://127.0.0.1:{port}");
        let http = reqwest::Client::new();
        let t0 = Instant::now();
        while http.get(format!("{base}/status")).send().await.is_err() {
            assert!(
                t0.elapsed() < Duration::from_secs(30),
                "chromedriver did not start"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let caps = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": "/usr/bin/chromium",
                "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"],
            }
        }}});
        let v: Value = http
            .post(format!("{base}/session"))
            .json(&caps)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let session = v["value"]["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("no WebDriver session: {v}"))
            .to_owned();
        Browser {
            _driver: driver,
            http,
            base,
            session,
        }
    }

    async fn call(&self, method: reqwest::Method, path: &str, body: Value) -> Value {
        let url = format!("{}/session/{}{path}", self.base, self.session);
        let mut req = self.http.request(method.clone(), url);
        if method != reqwest::Method::GET {
            req = req.json(&body);
        }
        let v: Value = req.send().await.unwrap().json().await.unwrap();
        assert!(v["value"].get("error").is_none(), "WebDriver {path}: {v}");
        v["value"].clone()
    }

    async fn goto(&self, url: &str) {
        self.call(reqwest::Method::POST, "/url", json!({ "url": url }))
            .await;
    }

    async fn js(&self, script: &str, args: Value) -> Value {
        self.call(
            reqwest::Method::POST,
            "/execute/sync",
            json!({ "script": script, "args": args }),
        )
        .await
    }

    async fn source(&self) -> String {
        self.call(reqwest::Method::GET, "/source", Value::Null)
            .await
            .as_str()
            .unwrap()
            .to_owned()
    }

    async fn cookies(&self) -> Value {
        self.call(reqwest::Method::GET, "/cookie", Value::Null)
            .await
    }

    /// Polls `script` until it returns true (at most `secs`).
    async fn wait_js(&self, secs: u64, what: &str, script: &str) {
        let t0 = Instant::now();
        loop {
            if self.js(script, json!([])).await == json!(true) {
                return;
            }
            assert!(
                t0.elapsed() < Duration::from_secs(secs),
                "timed out waiting for {what}: {}",
                self.source().await
            );
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }

    async fn close(self) {
        let _ = self
            .http
            .delete(format!("{}/session/{}", self.base, self.session))
            .send()
            .await;
    }
}

/// Every page the browser showed, to check for secrets at the end.
struct Seen(Vec<(String, String)>);

impl Seen {
    async fn page(&mut self, b: &Browser, what: &str) -> String {
        let html = b.source().await;
        self.0.push((what.to_owned(), html.clone()));
        html
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn web_pages_in_a_browser_and_metrics() {
    let tmp = tempfile::tempdir().unwrap();
    let fixtures = tmp.path().join("fx");
    make_fixtures(&fixtures);
    let server = start_server(&tmp.path().join("data"), 30).await;
    let admin_token = server.token("admin", true);
    let alice_token = server.token("alice", false);
    let bob_token = server.token("bob", false);
    let admin = Client::new(&server.url, Some(admin_token.clone()));
    let http = reqwest::Client::new();
    let url = |p: &str| format!("{}{p}", server.url);

    // A private product with alice as its only member.
    let r = http
        .post(url("/api/v1/products"))
        .bearer_auth(&alice_token)
        .json(&json!({"name": "secret", "private": true}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403, "only admins create products");
    for (path, body) in [
        (
            "/api/v1/products",
            json!({"name": "secret", "private": true}),
        ),
        ("/api/v1/products/secret/members", json!({"user": "alice"})),
    ] {
        let r = http
            .post(url(path))
            .bearer_auth(&admin_token)
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 201, "{path}: {}", r.text().await.unwrap());
    }

    for (path, body, status, needle) in [
        (
            "/api/v1/products",
            json!({"name": "secret", "private": false}),
            409,
            "secret",
        ),
        (
            "/api/v1/products/secret/members",
            json!({"user": "carol"}),
            404,
            "carol",
        ),
        (
            "/api/v1/products/nope/members",
            json!({"user": "alice"}),
            404,
            "nope",
        ),
        ("/api/v1/products", json!({"name": "a b"}), 400, "name"),
    ] {
        let r = http
            .post(url(path))
            .bearer_auth(&admin_token)
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), status, "{path} {body}");
        let text = r.text().await.unwrap();
        assert!(text.contains(needle), "{path}: {text}");
    }

    let node_token = node_add(&server.data, &server.url, &admin_token, "web-node");
    let _node = run_build_node(
        &tmp.path().join("node"),
        &server.url,
        &node_token,
        &fixtures,
    );
    let slow = slow_repo(&fixtures, "ticker", 40);
    let public = admin
        .create_build(&CreateBuild {
            platform: "almalinux-9".into(),
            arches: vec![Arch::host()],
            refs: vec![slow],
            options: Default::default(),
        })
        .await
        .unwrap();
    let private = admin
        .create_build(&CreateBuild {
            platform: "almalinux-9".into(),
            arches: vec![Arch::host()],
            refs: vec![example(&fixtures, "hello")],
            options: BuildOptions {
                product: Some("secret".into()),
                ..Default::default()
            },
        })
        .await
        .unwrap();

    // The JSON reads hide the private build from anonymous readers and
    // non-members, and show it to members and admins.
    let anon = Client::new(&server.url, None);
    let bob = Client::new(&server.url, Some(bob_token.clone()));
    let alice = Client::new(&server.url, Some(alice_token.clone()));
    for (who, c, sees) in [
        ("anonymous", &anon, false),
        ("bob", &bob, false),
        ("alice", &alice, true),
        ("admin", &admin, true),
    ] {
        let ids: Vec<u64> = c
            .builds(&Default::default())
            .await
            .unwrap()
            .builds
            .iter()
            .map(|b| b.id)
            .collect();
        assert!(ids.contains(&public.id), "{who}: {ids:?}");
        assert_eq!(ids.contains(&private.id), sees, "{who}: {ids:?}");
        assert_eq!(c.build(private.id).await.is_ok(), sees, "{who}");
        assert_eq!(c.log(private.tasks[0].id, 0).await.is_ok(), sees, "{who}");
    }
    let r = http
        .get(url(&format!("/api/v1/builds/{}", private.id)))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);

    // Wait until the public build's arch task prints its ticks.
    let arch_task = |b: &albs_core::model::Build| {
        b.tasks
            .iter()
            .find(|t| matches!(t.kind, TaskKind::Arch(_)))
            .cloned()
            .unwrap()
    };
    wait_for(
        &admin,
        public.id,
        240,
        "the ticker's arch task to run",
        |b| arch_task(b).state == TaskState::Running,
    )
    .await;
    let task = arch_task(&admin.build(public.id).await.unwrap());
    let t0 = Instant::now();
    while !admin
        .log(task.id, 0)
        .await
        .unwrap()
        .lines
        .iter()
        .any(|l| l.starts_with("tick-ticker"))
    {
        assert!(
            t0.elapsed() < Duration::from_secs(120),
            "no tick in the log"
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    }

    // /metrics while the build runs: the exposition text parses, every
    // sample has a TYPE, and the counts agree with the API.
    let r = http.get(url("/metrics")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert!(
        r.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/plain; version=0.0.4")
    );
    let metrics = parse_exposition(&r.text().await.unwrap());
    let sum = |name: &str, filter: &dyn Fn(&[Label]) -> bool| -> f64 {
        metrics
            .iter()
            .filter(|m| m.0 == name && filter(&m.1))
            .map(|m| m.2)
            .sum()
    };
    let all_tasks = public.tasks.len() + private.tasks.len();
    assert_eq!(sum("albs_tasks", &|_| true) as usize, all_tasks);
    let label =
        |ls: &[(String, String)], k: &str, v: &str| ls.iter().any(|(a, b)| a == k && b == v);
    assert!(sum("albs_tasks", &|l| label(l, "state", "running")) >= 1.0);
    let pending = sum("albs_tasks", &|l| label(l, "state", "pending"));
    assert_eq!(sum("albs_queue_length", &|_| true), pending);
    assert!(pending >= 1.0, "the private build waits for the one node");
    assert!(
        metrics
            .iter()
            .any(|m| m.0 == "albs_queue_length" && label(&m.1, "arch", Arch::host().as_str()))
    );
    assert_eq!(sum("albs_builds", &|_| true), 2.0);
    assert_eq!(sum("albs_nodes", &|_| true), 1.0);
    let age = metrics
        .iter()
        .find(|m| m.0 == "albs_node_heartbeat_age_seconds" && label(&m.1, "node", "web-node"))
        .expect("the node's heartbeat age");
    assert!(age.2 >= 0.0 && age.2 < 60.0, "{age:?}");

    let browser = Browser::start().await;
    let mut seen = Seen(vec![]);

    // The feed lists the running build, without the private one.
    browser.goto(&url("/")).await;
    let html = seen.page(&browser, "feed").await;
    let running_row = format!("#running tr[data-build=\"{}\"]", public.id);
    assert_eq!(
        browser
            .js(
                "return document.querySelectorAll(arguments[0]).length",
                json!([running_row])
            )
            .await,
        json!(1),
        "{html}"
    );
    let private_row = format!("tr[data-build=\"{}\"]", private.id);
    let count_private = "return document.querySelectorAll(arguments[0]).length";
    assert_eq!(
        browser.js(count_private, json!([private_row])).await,
        json!(0),
        "{html}"
    );

    // The build page shows its tasks.
    browser.goto(&url(&format!("/builds/{}", public.id))).await;
    let html = seen.page(&browser, "build").await;
    let shown: Vec<u64> = serde_json::from_value(
        browser
            .js("return Array.from(document.querySelectorAll('tr.task')).map(r => Number(r.dataset.task))", json!([]))
            .await,
    )
    .unwrap();
    let mut want: Vec<u64> = public.tasks.iter().map(|t| t.id).collect();
    let mut got = shown.clone();
    want.sort();
    got.sort();
    assert_eq!(got, want, "{html}");
    let state_of_arch_task = browser
        .js(
            "return document.querySelector('tr.task[data-task=\"' + arguments[0] + '\"] td:nth-child(3)').textContent",
            json!([task.id]),
        )
        .await;
    assert_eq!(state_of_arch_task, json!("running"));

    // The log page grows while the task runs, without a reload.
    browser.goto(&url(&format!("/tasks/{}/log", task.id))).await;
    seen.page(&browser, "log").await;
    browser
        .js("window.albsMarker = 42; return true", json!([]))
        .await;
    let ticks = "return (document.getElementById('log').textContent.match(/^tick-ticker \\d+$/gm) || []).length";
    let first = browser.js(ticks, json!([])).await.as_u64().unwrap();
    assert!(first >= 1);
    let more = format!(
        "return (document.getElementById('log').textContent.match(/^tick-ticker \\d+$/gm) || []).length >= {}",
        first + 3
    );
    browser
        .wait_js(30, "three more ticks in the log view", &more)
        .await;
    assert_eq!(
        browser.js("return window.albsMarker", json!([])).await,
        json!(42),
        "the page was not reloaded"
    );
    seen.page(&browser, "log later").await;

    // Anonymous readers get a 404 page for the private build and its log.
    browser.goto(&url(&format!("/builds/{}", private.id))).await;
    let html = seen.page(&browser, "private build, anonymous").await;
    assert!(html.contains("404"), "{html}");
    assert!(!html.contains("hello"), "{html}");
    browser
        .goto(&url(&format!("/tasks/{}/log", private.tasks[0].id)))
        .await;
    let html = seen.page(&browser, "private log, anonymous").await;
    assert!(html.contains("404"), "{html}");

    // The queue shows no task of the private build to anonymous readers.
    let private_link = format!("href=\"/builds/{}\"", private.id);
    browser.goto(&url("/nodes")).await;
    let html = seen.page(&browser, "nodes, anonymous").await;
    assert!(html.contains("web-node"), "{html}");
    assert!(!html.contains(&private_link), "{html}");

    // A wrong token is refused; alice signs in with hers.
    browser.goto(&url("/login")).await;
    let login = "document.getElementById('token').value = arguments[0]; \
                 document.getElementById('sign-in').click(); return true";
    browser.js(login, json!(["albs_not-a-token"])).await;
    browser
        .wait_js(
            20,
            "the refusal",
            "return document.getElementById('error') !== null",
        )
        .await;
    seen.page(&browser, "refused login").await;
    browser.js(login, json!([alice_token])).await;
    browser
        .wait_js(
            20,
            "alice signed in",
            "return (document.getElementById('me') || {}).textContent === 'alice'",
        )
        .await;
    let cookies = browser.cookies().await;
    let session = cookies
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "albs_session")
        .unwrap_or_else(|| panic!("no session cookie: {cookies}"));
    assert_eq!(session["httpOnly"], json!(true), "{session}");
    assert_eq!(session["sameSite"], json!("Strict"), "{session}");
    let session_id = session["value"].as_str().unwrap().to_owned();
    assert_ne!(session_id, alice_token);
    assert_eq!(
        browser.js("return document.cookie", json!([])).await,
        json!(""),
        "scripts cannot read the session cookie"
    );

    // The member sees the private build in the feed, its page and its log.
    browser.goto(&url("/")).await;
    let html = seen.page(&browser, "feed, alice").await;
    assert_eq!(
        browser.js(count_private, json!([private_row])).await,
        json!(1),
        "{html}"
    );
    browser.goto(&url(&format!("/builds/{}", private.id))).await;
    let html = seen.page(&browser, "private build, alice").await;
    assert!(
        html.contains("secret") && html.contains(&format!("data-task=\"{}\"", private.tasks[0].id)),
        "{html}"
    );
    browser
        .goto(&url(&format!("/tasks/{}/log", private.tasks[0].id)))
        .await;
    let html = seen.page(&browser, "private log, alice").await;
    assert!(!html.contains("404"), "{html}");
    browser.goto(&url("/nodes")).await;
    let html = seen.page(&browser, "nodes, alice").await;
    assert!(html.contains("web-node"), "{html}");
    // Its tasks wait for the busy node or for its src task (which one
    // depends on how far the node got).
    assert!(html.contains(&private_link), "{html}");
    assert!(
        html.contains("waiting for a free node")
            || html.contains("waiting for the tasks it depends on"),
        "{html}"
    );

    // Signing out ends the session: the cookie no longer opens it.
    browser
        .js(
            "document.querySelector('form[action=\"/logout\"] button').click(); return true",
            json!([]),
        )
        .await;
    browser
        .wait_js(
            20,
            "signed out",
            "return document.getElementById('me') === null && location.pathname === '/'",
        )
        .await;
    let html = seen.page(&browser, "feed after logout").await;
    assert_eq!(
        browser.js(count_private, json!([private_row])).await,
        json!(0),
        "{html}"
    );
    let r = http
        .get(url(&format!("/api/v1/builds/{}", private.id)))
        .header("cookie", format!("albs_session={session_id}"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404, "a closed session reads anonymously");
    browser.close().await;

    // No page ever showed a token, a node token, a session id or their
    // hashes.
    let secrets = [
        &admin_token,
        &alice_token,
        &bob_token,
        &node_token,
        &session_id,
    ];
    for (what, html) in &seen.0 {
        for s in secrets {
            let hash = albs_core::auth::hash_token(s).to_string();
            assert!(!html.contains(s.as_str()), "{what} shows a secret");
            assert!(!html.contains(&hash), "{what} shows a secret's hash");
        }
    }
    admin.cancel_build(public.id).await.unwrap();
}

/// A label of a sample: name and value.
type Label = (String, String);
/// A sample: metric name, labels, value.
type Sample = (String, Vec<Label>, f64);

/// The samples of a Prometheus text exposition: (name, labels, value).
/// Panics on a line that does not follow the format or a sample whose
/// metric has no `# TYPE` line before it.
fn parse_exposition(text: &str) -> Vec<Sample> {
    let mut typed = std::collections::HashSet::new();
    let mut out = vec![];
    for line in text.lines() {
        if line.is_empty() {
            continue;
        }
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest.split_once(' ').unwrap();
            assert!(
                ["counter", "gauge", "histogram", "summary", "untyped"].contains(&kind),
                "{line}"
            );
            typed.insert(name.to_owned());
            continue;
        }
        if line.starts_with("# HELP ") {
            continue;
        }
        assert!(!line.starts_with('#'), "unknown comment {line}");
        let (series, value) = line.rsplit_once(' ').unwrap();
        let value: f64 = value
            .parse()
            .unwrap_or_else(|_| panic!("bad value in {line}"));
        let (name, labels) = match series.split_once('{') {
            None => (series.to_owned(), vec![]),
            Some((name, rest)) => {
                let body = rest.strip_suffix('}').unwrap_or_else(|| panic!("{line}"));
                let mut labels = vec![];
                for pair in body.split(',').filter(|p| !p.is_empty()) {
                    let (k, v) = pair.split_once('=').unwrap();
                    let v = v
                        .strip_prefix('"')
                        .and_then(|v| v.strip_suffix('"'))
                        .unwrap_or_else(|| panic!("{line}"));
                    labels.push((k.to_owned(), v.to_owned()));
                }
                (name.to_owned(), labels)
            }
        };
        assert!(
            name.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':'),
            "{line}"
        );
        assert!(typed.contains(&name), "{name} has no TYPE line before it");
        out.push((name, labels, value));
    }
    out
}

//! No secret in logs, pages or answers, and only hashes in the store: a
//! real server (its stdout and stderr captured, at debug level) goes
//! through the first admin's bootstrap, user and token creation, password
//! and token sign-in on the web, node registration, a signing key made and
//! registered with its passphrase in the environment, and a sign node run
//! with it; then every log, every page and answer read after creation, and
//! the SQLite file itself, are searched for each secret.

mod common;

use std::path::Path;
use std::process::{Command, Stdio};

use albs_core::auth::hash_token;
use common::*;
use serde_json::{Value, json};

const PASSPHRASE: &str = "sign-passphrase-Zq7-never-logged";
const ALICE_PASSWORD: &str = "alice-password-Kx9-never-logged";
const BOB_PASSWORD: &str = "bob-password-Wm4 with spaces & symbols";

fn read_field(text: &str, name: &str) -> String {
    let line = text
        .lines()
        .find(|l| l.starts_with(&format!("{name} = ")))
        .unwrap_or_else(|| panic!("no {name} in {text}"));
    line[name.len() + 3..].trim_matches('"').to_owned()
}

/// Every file under `dir`, as bytes, with its path.
fn files(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(files(&p));
        } else if let Ok(bytes) = std::fs::read(&p) {
            out.push((p.display().to_string(), bytes));
        }
    }
    out
}

/// An `application/x-www-form-urlencoded` body.
fn form(pairs: &[(&str, &str)]) -> String {
    let enc = |s: &str| {
        s.bytes()
            .map(|b| match b {
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' => {
                    (b as char).to_string()
                }
                _ => format!("%{b:02X}"),
            })
            .collect::<String>()
    };
    pairs
        .iter()
        .map(|(k, v)| format!("{}={}", enc(k), enc(v)))
        .collect::<Vec<_>>()
        .join("&")
}

fn contains(hay: &[u8], needle: &str) -> bool {
    hay.windows(needle.len()).any(|w| w == needle.as_bytes())
}

#[tokio::test(flavor = "multi_thread")]
async fn no_secret_in_logs_pages_answers_or_rows() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let log_path = tmp.path().join("server.log");
    let log = std::fs::File::create(&log_path).unwrap();
    let port = free_port();
    let url = format!("http://127.0.0.1:{port}");
    let server = Proc(
        Command::new(BIN)
            .arg("--data")
            .arg(&data)
            .args(["server", "--listen", &format!("127.0.0.1:{port}")])
            .env_remove("ALBS_DATABASE_URL")
            .env("ALBS_LOG", "debug")
            .stdout(Stdio::from(log.try_clone().unwrap()))
            .stderr(Stdio::from(log))
            .spawn()
            .unwrap(),
    );
    wait_until_up(&url).await;
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let mut secrets: Vec<(String, String)> = Vec::new();
    let mut seen: Vec<(String, String)> = Vec::new();

    // The first admin: its secrets are in the credentials file only.
    let creds = std::fs::read_to_string(data.join("admin-credentials")).unwrap();
    let admin_password = read_field(&creds, "password");
    let admin_token = read_field(&creds, "token");
    assert_eq!(admin_password.len(), 24);
    secrets.push(("admin password".into(), admin_password.clone()));
    secrets.push(("admin token".into(), admin_token.clone()));

    // A user with a password, made on the store; another over the API.
    let pw_file = tmp.path().join("pw");
    std::fs::write(&pw_file, format!("{ALICE_PASSWORD}\n")).unwrap();
    let alice_token = albs_ok(
        &data,
        &[
            "user",
            "create",
            "alice",
            "--password-file",
            pw_file.to_str().unwrap(),
        ],
        &[],
    );
    secrets.push(("alice password".into(), ALICE_PASSWORD.into()));
    secrets.push(("alice token".into(), alice_token.clone()));
    let resp = http
        .post(format!("{url}/api/v1/users"))
        .bearer_auth(&admin_token)
        .json(&json!({"name": "bob"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 201);
    let bob: Value = resp.json().await.unwrap();
    let bob_token = bob["token"].as_str().unwrap().to_owned();
    secrets.push(("bob token".into(), bob_token.clone()));
    let extra = albs_ok(&data, &["token", "create", "--user", "bob"], &[]);
    secrets.push(("bob's second token".into(), extra));

    // A node, registered by the admin: its token is in that answer only.
    let node_token = node_add(&data, &url, &admin_token, "n1");
    secrets.push(("node token".into(), node_token.clone()));

    // A signing key: generated and registered with the passphrase in the
    // environment, then a sign node unlocks it.
    let keyring = tmp.path().join("ring.pgp");
    let fpr = albs_ok(
        &data,
        &[
            "key",
            "generate",
            "--keyring",
            keyring.to_str().unwrap(),
            "--ed25519",
            "--uid",
            "Test <t@example.org>",
        ],
        &[("ALBS_SIGN_PASSPHRASE", PASSPHRASE), ("ALBS_LOG", "debug")],
    );
    secrets.push(("sign passphrase".into(), PASSPHRASE.into()));
    let out = albs(
        &data,
        &[
            "key",
            "register",
            "--server",
            &url,
            "--keyring",
            keyring.to_str().unwrap(),
            "--platform",
            "almalinux-9",
        ],
        &[("ALBS_TOKEN", &admin_token), ("ALBS_LOG", "debug")],
    );
    assert!(out.status.success(), "{}", text(&out));
    seen.push(("key register output".into(), text(&out)));
    let sign_node_token = node_add(&data, &url, &admin_token, "signer1");
    secrets.push(("sign node token".into(), sign_node_token.clone()));
    let out = albs(
        &data,
        &[
            "sign-node",
            "--server",
            &url,
            "--token",
            &sign_node_token,
            "--keyring",
            keyring.to_str().unwrap(),
            "--once",
        ],
        &[("ALBS_SIGN_PASSPHRASE", PASSPHRASE), ("ALBS_LOG", "debug")],
    );
    assert!(out.status.success(), "{}", text(&out));
    seen.push(("sign node output".into(), text(&out)));

    // Web sign-in: a wrong password, then the right one, then a token.
    let resp = http
        .post(format!("{url}/login"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(form(&[
            ("user", "alice"),
            ("password", "wrong-password-Qz1"),
        ]))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 401);
    let page = resp.text().await.unwrap();
    assert!(page.contains("wrong user name or password"), "{page}");
    assert!(!page.contains("wrong-password-Qz1"), "{page}");
    secrets.push(("a wrong password".into(), "wrong-password-Qz1".into()));
    let resp = http
        .post(format!("{url}/login"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(form(&[("user", "alice"), ("password", ALICE_PASSWORD)]))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 303, "the right password opens a session");
    let cookie = resp.headers()["set-cookie"].to_str().unwrap().to_owned();
    let session = cookie
        .split(';')
        .next()
        .unwrap()
        .trim_start_matches("albs_session=")
        .to_owned();
    assert!(cookie.contains("HttpOnly"), "{cookie}");
    let resp = http
        .post(format!("{url}/login"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(form(&[("token", bob_token.as_str())]))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 303, "a token opens a session too");

    // `albs user passwd` (from standard input) gives bob a password.
    let mut passwd = Command::new(BIN)
        .arg("--data")
        .arg(&data)
        .args(["user", "passwd", "bob"])
        .env_remove("ALBS_DATABASE_URL")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    {
        use std::io::Write as _;
        let mut stdin = passwd.stdin.take().unwrap();
        writeln!(stdin, "{BOB_PASSWORD}").unwrap();
    }
    let out = passwd.wait_with_output().unwrap();
    assert!(out.status.success(), "{}", text(&out));
    seen.push(("albs user passwd output".into(), text(&out)));
    secrets.push(("bob password".into(), BOB_PASSWORD.into()));
    let resp = http
        .post(format!("{url}/login"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(form(&[("user", "bob"), ("password", BOB_PASSWORD)]))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 303, "bob's new password opens a session");
    let out = albs(
        &data,
        &[
            "user",
            "passwd",
            "nobody",
            "--password-file",
            pw_file.to_str().unwrap(),
        ],
        &[],
    );
    assert!(
        !out.status.success() && text(&out).contains("user nobody does not exist"),
        "{}",
        text(&out)
    );

    // Pages and answers read after creation, as alice (session) and admin.
    for path in ["/", "/nodes", "/login"] {
        let resp = http
            .get(format!("{url}{path}"))
            .header("cookie", format!("albs_session={session}"))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200, "{path}");
        let page = resp.text().await.unwrap();
        if path == "/" {
            assert!(page.contains("alice"), "signed in as alice: {page}");
        }
        seen.push((format!("page {path}"), page));
    }
    for path in [
        "/api/v1/nodes",
        "/api/v1/keys",
        "/api/v1/teams",
        "/api/v1/products",
        "/api/v1/audit?limit=1000",
        "/api/v1/builds",
        "/metrics",
    ] {
        let resp = http
            .get(format!("{url}{path}"))
            .bearer_auth(&admin_token)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200, "{path}");
        seen.push((format!("answer {path}"), resp.text().await.unwrap()));
    }

    drop(server);
    seen.push((
        "server log".into(),
        std::fs::read_to_string(&log_path).unwrap(),
    ));
    let server_log = &seen.last().unwrap().1;
    assert!(
        server_log.contains("web session opened"),
        "the log was captured at debug level: {server_log}"
    );
    assert!(
        server_log.contains("admin-credentials"),
        "the log says where the first admin's credentials are"
    );
    secrets.push(("web session id".into(), session.clone()));

    let mut leaks = Vec::new();
    for (what, secret) in &secrets {
        for (place, body) in &seen {
            if body.contains(secret.as_str()) {
                leaks.push(format!("{what} in {place}"));
            }
        }
    }
    assert!(leaks.is_empty(), "secrets leaked:\n{}", leaks.join("\n"));

    // The store holds hashes only: the rows, and no secret anywhere in the
    // database files (main file and WAL).
    let opts = sqlx::sqlite::SqliteConnectOptions::new()
        .filename(data.join("albs.db"))
        .read_only(true);
    let pool = sqlx::SqlitePool::connect_with(opts).await.unwrap();
    let (hash,): (Option<String>,) =
        sqlx::query_as("SELECT password_hash FROM users WHERE name = 'alice'")
            .fetch_one(&pool)
            .await
            .unwrap();
    let hash = hash.unwrap();
    assert!(
        hash.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
        "{hash}"
    );
    assert!(albs_core::rbac::verify_password(ALICE_PASSWORD, &hash));
    let tokens: Vec<(Vec<u8>, String)> = sqlx::query_as(
        "SELECT t.token_hash, u.name FROM user_tokens t JOIN users u ON u.id = t.user_id",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    assert_eq!(tokens.len(), 4, "admin, alice, bob twice");
    for (t, who) in [
        (&admin_token, "admin"),
        (&alice_token, "alice"),
        (&bob_token, "bob"),
    ] {
        let want = hash_token(t).0.to_vec();
        assert!(tokens.iter().any(|(h, n)| *h == want && n == who), "{who}");
    }
    let nodes: Vec<Vec<u8>> = sqlx::query_scalar("SELECT token_hash FROM nodes")
        .fetch_all(&pool)
        .await
        .unwrap();
    assert!(nodes.contains(&hash_token(&node_token).0.to_vec()));
    let sessions: Vec<Vec<u8>> = sqlx::query_scalar("SELECT session_hash FROM web_sessions")
        .fetch_all(&pool)
        .await
        .unwrap();
    assert!(sessions.contains(&hash_token(&session).0.to_vec()));
    pool.close().await;
    let mut db_leaks = Vec::new();
    for (path, bytes) in files(&data) {
        if path.ends_with("admin-credentials") {
            continue;
        }
        for (what, secret) in &secrets {
            if contains(&bytes, secret) {
                db_leaks.push(format!("{what} in {path}"));
            }
        }
    }
    assert!(
        db_leaks.is_empty(),
        "secrets stored in clear:\n{}",
        db_leaks.join("\n")
    );
    assert_eq!(fpr.len(), 40);
}

//! Outbound webhooks of a real server and build node: a receiver in this
//! test gets `build.created`, `build.succeeded`, `build.failed` and
//! `build.cancelled`, each body signed with HMAC-SHA256 under the secret
//! given in `--webhook-secret-file`; its first answer is a 500, so the
//! event is only seen because the server retries.

mod common;

use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use albs_core::api::CreateBuild;
use albs_core::client::Client;
use albs_core::model::{Arch, TaskState};
use albs_core::source::SourceRef;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use common::*;
use serde_json::Value;

/// What the receiver got: (event header, signature header, body).
#[derive(Default)]
struct Received {
    deliveries: Vec<(String, Option<String>, Bytes)>,
    attempts: u32,
}

async fn hook(
    State(got): State<Arc<Mutex<Received>>>,
    headers: HeaderMap,
    body: Bytes,
) -> StatusCode {
    let mut got = got.lock().unwrap();
    got.attempts += 1;
    if got.attempts == 1 {
        // The first attempt fails: the event must come again.
        return StatusCode::INTERNAL_SERVER_ERROR;
    }
    let h = |n: &str| {
        headers
            .get(n)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    got.deliveries.push((
        h("x-albs-event").unwrap_or_default(),
        h("x-albs-signature"),
        body,
    ));
    StatusCode::NO_CONTENT
}

/// The events received so far, after checking every signature.
fn events(got: &Mutex<Received>, secret: &str) -> Vec<Value> {
    let got = got.lock().unwrap();
    got.deliveries
        .iter()
        .map(|(event, sig, body)| {
            let sig = sig.as_deref().expect("every delivery is signed");
            let hex = sig.strip_prefix("sha256=").expect("sha256= signature");
            let want = hex::encode(albs_server::webhooks::hmac_sha256(secret.as_bytes(), body));
            assert_eq!(hex, want, "signature of {event}");
            let wrong = hex::encode(albs_server::webhooks::hmac_sha256(b"other", body));
            assert_ne!(hex, wrong);
            let v: Value = serde_json::from_slice(body).unwrap();
            assert_eq!(v["event"], *event, "the header names the body's event");
            v
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn build_events_reach_a_webhook_signed_and_retried() {
    let tmp = tempfile::tempdir().unwrap();
    let fixtures = tmp.path().join("fx");
    make_fixtures(&fixtures);

    let got = Arc::new(Mutex::new(Received::default()));
    let app = axum::Router::new()
        .route("/hook", axum::routing::post(hook))
        .with_state(got.clone());
    let rx = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let hook_url = format!("http://{}/hook", rx.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(rx, app).await.unwrap() });

    let secret = "whsec-9f2c4e1d7a";
    let secret_file = tmp.path().join("webhook.secret");
    std::fs::write(&secret_file, format!("{secret}\n")).unwrap();

    // A secret file count that matches neither one nor every webhook is refused.
    let bad = albs(
        &tmp.path().join("bad"),
        &[
            "server",
            "--webhook",
            &hook_url,
            "--webhook",
            &hook_url,
            "--webhook",
            &hook_url,
            "--webhook-secret-file",
            secret_file.to_str().unwrap(),
            "--webhook-secret-file",
            secret_file.to_str().unwrap(),
        ],
        &[],
    );
    assert!(!bad.status.success());
    assert!(
        text(&bad).contains("--webhook-secret-file"),
        "{}",
        text(&bad)
    );
    let bad = albs(
        &tmp.path().join("bad"),
        &["server", "--webhook", "ftp://x/"],
        &[],
    );
    assert!(!bad.status.success());
    assert!(text(&bad).contains("ftp://x/"), "{}", text(&bad));

    let data = tmp.path().join("data");
    let port = free_port();
    let url = format!("http://127.0.0.1:{port}");
    let log = tmp.path().join("server.log");
    let _server = Proc(
        Command::new(BIN)
            .arg("--data")
            .arg(&data)
            .args(["server", "--listen", &format!("127.0.0.1:{port}")])
            .args(["--webhook", &hook_url, "--webhook-secret-file"])
            .arg(&secret_file)
            .env_remove("ALBS_DATABASE_URL")
            .env("ALBS_LOG", "debug")
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap(),
    );
    wait_until_up(&url).await;
    let admin_token = albs_ok(
        &data,
        &["token", "create", "--user", "admin", "--admin"],
        &[],
    );
    let admin = Client::new(&url, Some(admin_token.clone()));
    let node_token = node_add(&data, &url, &admin_token, "hook-node");
    let _node = run_build_node(&tmp.path().join("node"), &url, &node_token, &fixtures);

    let good = submit(&admin, &fixtures, &["hello"]).await;
    let broken = admin
        .create_build(&CreateBuild {
            platform: "almalinux-9".into(),
            arches: vec![Arch::host()],
            refs: vec![SourceRef::Git {
                url: tmp.path().join("no-such-repo").display().to_string(),
                reference: None,
            }],
            options: Default::default(),
        })
        .await
        .unwrap();
    let cancelled = submit(&admin, &fixtures, &["hello-extras"]).await;
    admin.cancel_build(cancelled.id).await.unwrap();

    for (id, what) in [(good.id, "success"), (broken.id, "failure")] {
        wait_for(&admin, id, 300, what, |b| b.state().is_final()).await;
    }
    assert_eq!(
        admin.build(good.id).await.unwrap().state(),
        TaskState::Succeeded
    );
    assert_eq!(
        admin.build(broken.id).await.unwrap().state(),
        TaskState::Failed
    );

    let want = [
        ("build.created", good.id),
        ("build.created", broken.id),
        ("build.created", cancelled.id),
        ("build.cancelled", cancelled.id),
        ("build.failed", broken.id),
        ("build.succeeded", good.id),
    ];
    let t0 = Instant::now();
    let seen = loop {
        let seen = events(&got, secret);
        let have = |e: &str, id: u64| {
            seen.iter()
                .filter(|v| v["event"] == e && v["build"]["id"] == id)
                .count()
        };
        if want.iter().all(|(e, id)| have(e, *id) >= 1) {
            // Each event once, and none for a build that did not change.
            for (e, id) in want {
                assert_eq!(have(e, id), 1, "{e} of build {id}: {seen:#?}");
            }
            break seen;
        }
        assert!(
            t0.elapsed() < Duration::from_secs(60),
            "missing webhook events; got {seen:#?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(seen.len(), want.len(), "{seen:#?}");
    let ok = seen
        .iter()
        .find(|v| v["event"] == "build.succeeded")
        .unwrap();
    assert_eq!(ok["build"]["state"], "succeeded");
    assert_eq!(ok["build"]["owner"], "admin");
    assert_eq!(ok["build"]["packages"], serde_json::json!(["hello"]));
    assert_eq!(ok["build"]["url"], format!("/builds/{}", good.id));
    assert!(ok["time"].as_str().unwrap().contains('T'));
    let failed = seen.iter().find(|v| v["event"] == "build.failed").unwrap();
    assert_eq!(failed["build"]["state"], "failed");
    assert!(got.lock().unwrap().attempts > seen.len() as u32);

    // The secret never reaches the server's log.
    let log = std::fs::read_to_string(&log).unwrap();
    assert!(log.contains("webhook"), "{log}");
    assert!(!log.contains(secret), "the webhook secret was logged");
}

//! Community repositories end to end: a real server, build node and sign
//! node build and sign a package of a community product, a release publishes
//! it into the product's own repositories, and dnf, in an installroot whose
//! reposdir holds only the `.repo` file the server generates (gpgcheck and
//! repo_gpgcheck on, keys fetched from the server), installs it. Then
//! `dnf copr enable --hub` against the server writes its own `.repo` file,
//! from which dnf installs too; the COPR API answers describe the product.
//! Along the way: the queue page says why the build waits, the build page
//! shows task durations, the product pages list builds and repositories,
//! and the commit reaches a webhook as a signed `release.committed` event.

mod common;

use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};

use albs_core::api::{CreateBuild, CreateSignTask, RegisterKey};
use albs_core::client::Client;
use albs_core::model::{Arch, BuildOptions, TaskState};
use albs_core::release::{CommitRelease, CreateRelease, Release, ReleaseState};
use axum::body::Bytes;
use axum::extract::State;
use axum::http::HeaderMap;
use common::*;
use serde_json::{Value, json};

const PASS: &str = "correct horse battery staple";

/// What the webhook receiver got: (signature header, body).
type Hooks = Arc<Mutex<Vec<(Option<String>, Bytes)>>>;

/// Runs dnf in the installroot `work/root` with `reposdir` as its only
/// repository directory; returns (success, output).
fn dnf(work: &Path, reposdir: &Path, args: &[&str]) -> (bool, String) {
    let conf = work.join("dnf.conf");
    std::fs::write(
        &conf,
        format!(
            "[main]\ncachedir={}\ngpgcheck=1\nkeepcache=0\nplugins=1\n",
            work.join("cache").display()
        ),
    )
    .unwrap();
    let out = Command::new("dnf")
        .arg(format!("--installroot={}", work.join("root").display()))
        .arg(format!("--config={}", conf.display()))
        .arg(format!("--setopt=reposdir={}", reposdir.display()))
        .args(["-y", "--releasever=9", "--setopt=install_weak_deps=0"])
        .arg("--disableplugin=local")
        .args(args)
        .output()
        .unwrap();
    (out.status.success(), text(&out))
}

/// Whether `text` reads like `7s`, `2m 05s` or `1h 02m 03s`.
fn is_duration(text: &str) -> bool {
    !text.is_empty()
        && text.split(' ').all(|part| {
            part.strip_suffix(['h', 'm', 's'])
                .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
        })
}

/// Whether dnf has its copr plugin (Debian's dnf-plugins-core).
fn has_copr_plugin() -> bool {
    Command::new("dnf")
        .args(["copr", "--help"])
        .output()
        .is_ok_and(|o| o.status.success())
}

#[tokio::test(flavor = "multi_thread")]
async fn dnf_installs_from_a_community_product_through_its_repo_file() {
    let tmp = tempfile::tempdir().unwrap();
    let (data, fixtures, keys) = (
        tmp.path().join("data"),
        tmp.path().join("fx"),
        tmp.path().join("keys"),
    );
    std::fs::create_dir_all(&keys).unwrap();
    make_fixtures(&fixtures);
    // Release events go to a webhook receiver, signed.
    let got: Hooks = Arc::default();
    let app = axum::Router::new()
        .route(
            "/hook",
            axum::routing::post(
                |State(got): State<Hooks>, headers: HeaderMap, body: Bytes| async move {
                    let sig = headers
                        .get("x-albs-signature")
                        .and_then(|v| v.to_str().ok())
                        .map(str::to_owned);
                    got.lock().unwrap().push((sig, body));
                },
            ),
        )
        .with_state(got.clone());
    let rx = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let hook_url = format!("http://{}/hook", rx.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(rx, app).await.unwrap() });
    let secret_file = tmp.path().join("hook.secret");
    std::fs::write(&secret_file, "community-hook-secret").unwrap();

    let port = free_port();
    let url = format!("http://127.0.0.1:{port}");
    let server_log = tmp.path().join("server.log");
    let _server = Proc(
        Command::new(BIN)
            .arg("--data")
            .arg(&data)
            .args(["server", "--listen", &format!("127.0.0.1:{port}")])
            .args(["--lease-secs", "10", "--webhook", &hook_url])
            .arg("--webhook-secret-file")
            .arg(&secret_file)
            .env_remove("ALBS_DATABASE_URL")
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&server_log).unwrap())
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
    let http = reqwest::Client::new();
    let host = Arch::host();

    // A public community product, and a private one nobody else sees.
    for body in [
        json!({"name": "community", "private": false}),
        json!({"name": "hidden", "private": true}),
    ] {
        let r = http
            .post(format!("{url}/api/v1/products"))
            .bearer_auth(&admin_token)
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 201, "{}", r.text().await.unwrap());
    }

    // Without a registered key, no .repo file (it would disable checks).
    let r = http
        .get(format!("{url}/products/community/almalinux-9.repo"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 409);
    let msg = r.text().await.unwrap();
    assert!(
        msg.contains("no signing key") && msg.contains("almalinux-9"),
        "{msg}"
    );

    let b = admin
        .create_build(&CreateBuild {
            platform: "almalinux-9".into(),
            arches: vec![host.clone()],
            refs: vec![example(&fixtures, "albs-docs")],
            options: BuildOptions {
                product: Some("community".into()),
                ..Default::default()
            },
        })
        .await
        .unwrap();

    // Without a node, the queue page says why the build waits.
    let page = |path: String| {
        let http = http.clone();
        async move {
            let r = http.get(path).send().await.unwrap();
            // The templates escape '/' in values as an HTML entity.
            let status = r.status().as_u16();
            let html = r.text().await.unwrap().replace("&#x2f;", "/");
            (status, html)
        }
    };
    let (s, queue) = page(format!("{url}/queue")).await;
    assert_eq!(s, 200);
    let row = |html: &str, task: u64| -> String {
        let start = html
            .find(&format!("data-task=\"{task}\""))
            .unwrap_or_else(|| panic!("task {task} in {html}"));
        html[start..].split("</tr>").next().unwrap().to_owned()
    };
    let (src, arch_task) = (b.tasks[0].id, b.tasks[1].id);
    let src_row = row(&queue, src);
    assert!(
        src_row.contains("data-kind=\"no-node\"") && src_row.contains("no node is registered"),
        "{src_row}"
    );
    let arch_row = row(&queue, arch_task);
    assert!(
        arch_row.contains("data-kind=\"dependencies\"")
            && arch_row.contains("waiting for the tasks it depends on"),
        "{arch_row}"
    );
    assert!(
        arch_row.contains("href=\"/products/community\""),
        "{arch_row}"
    );
    let node_token = node_add(&data, &url, &admin_token, "builder-1");
    let _builder = run_build_node(&tmp.path().join("builder"), &url, &node_token, &fixtures);

    // The product's own key, made and kept on the signing side.
    let ring = keys.join("community.pgp");
    let fpr = albs_ok(
        &data,
        &[
            "key",
            "generate",
            "--keyring",
            ring.to_str().unwrap(),
            "--ed25519",
            "--uid",
            "Community Signing <community@example.org>",
        ],
        &[("ALBS_SIGN_PASSPHRASE", PASS)],
    );
    let pubkey = albs_ok(
        &data,
        &["key", "export", "--keyring", ring.to_str().unwrap()],
        &[],
    );
    let key = admin
        .register_key(&RegisterKey {
            public_key: pubkey.clone(),
            platform: "almalinux-9".into(),
            product: Some("community".into()),
        })
        .await
        .unwrap();
    assert_eq!(key.fingerprint, fpr);

    // The public key is served as an armored file.
    let r = http
        .get(format!("{url}/api/v1/keys/{fpr}.asc"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], "application/pgp-keys");
    let served = r.text().await.unwrap();
    assert_eq!(served.trim(), pubkey.trim());
    assert!(!served.contains("PRIVATE"));
    for (path, status) in [
        (format!("/api/v1/keys/{}.asc", "0".repeat(40)), 404),
        (format!("/api/v1/keys/{fpr}"), 404),
    ] {
        let r = http.get(format!("{url}{path}")).send().await.unwrap();
        assert_eq!(r.status().as_u16(), status, "{path}");
    }

    let b = wait_for(&admin, b.id, 300, "the build to end", |b| {
        b.state().is_final()
    })
    .await;
    assert_eq!(b.state(), TaskState::Succeeded, "{b:#?}");
    // The build page shows when each task started and how long it ran.
    let (s, html) = page(format!("{url}/builds/{}", b.id)).await;
    assert_eq!(s, 200);
    for t in &b.tasks {
        let r = row(&html, t.id);
        let duration = r
            .split("<td class=\"duration\">")
            .nth(1)
            .and_then(|d| d.split("</td>").next())
            .unwrap_or_else(|| panic!("a duration cell in {r}"));
        assert!(
            is_duration(duration),
            "task {} ran for {duration:?}: {r}",
            t.id
        );
        assert!(r.contains("<td class=\"started\">20"), "{r}");
    }
    let (s, queue) = page(format!("{url}/queue")).await;
    assert_eq!(s, 200);
    assert!(queue.contains("No task is waiting."), "{queue}");
    admin
        .sign_build(
            b.id,
            &CreateSignTask {
                key: Some(fpr.clone()),
            },
        )
        .await
        .unwrap();
    let signer = node_add(&data, &url, &admin_token, "signer-1");
    let out = albs(
        &tmp.path().join("signer"),
        &[
            "sign-node",
            "--server",
            &url,
            "--token",
            &signer,
            "--keyring",
            ring.to_str().unwrap(),
            "--once",
        ],
        &[("ALBS_SIGN_PASSPHRASE", PASS)],
    );
    assert!(out.status.success(), "{}", text(&out));

    // The release goes to the product's repositories.
    let r = http
        .post(format!("{url}/api/v1/releases"))
        .bearer_auth(&admin_token)
        .json(&CreateRelease {
            builds: vec![b.id],
            ..Default::default()
        })
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201, "{}", r.text().await.unwrap());
    let plan: Release = r.json().await.unwrap();
    let repo = format!("community/almalinux-9-{host}");
    assert!(
        plan.entries.iter().any(|e| e.repo == repo),
        "{:#?}",
        plan.entries
    );
    assert!(
        plan.entries
            .iter()
            .all(|e| e.repo.starts_with("community/")),
        "{:#?}",
        plan.entries
    );
    let r = http
        .post(format!("{url}/api/v1/releases/{}/commit", plan.id))
        .bearer_auth(&admin_token)
        // The bundled platform's base repositories are on the network, which
        // the closure check cannot read here; the release test covers it.
        .json(&CommitRelease { force: true })
        .send()
        .await
        .unwrap();
    assert_eq!(
        r.status(),
        200,
        "{}\n{}",
        r.text().await.unwrap(),
        std::fs::read_to_string(&server_log).unwrap()
    );
    let committed: Release = r.json().await.unwrap();
    assert_eq!(committed.state, ReleaseState::Committed);
    let repo_dir = data.join("repos").join(&repo);
    assert!(repo_dir.join("repodata/repomd.xml").is_file());
    // The commit's event arrives, signed with the secret.
    let t0 = std::time::Instant::now();
    let event = loop {
        let events: Vec<Value> = got
            .lock()
            .unwrap()
            .iter()
            .map(|(sig, body)| {
                let want = hex::encode(albs_server::webhooks::hmac_sha256(
                    b"community-hook-secret",
                    body,
                ));
                assert_eq!(sig.as_deref(), Some(format!("sha256={want}").as_str()));
                serde_json::from_slice(body).unwrap()
            })
            .collect();
        if let Some(e) = events.iter().find(|e| e["event"] == "release.committed") {
            break e.clone();
        }
        assert!(
            t0.elapsed() < std::time::Duration::from_secs(30),
            "no release.committed event: {events:#?}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    };
    assert_eq!(event["release"]["id"], plan.id);
    assert_eq!(event["release"]["product"], "community");
    assert_eq!(event["release"]["state"], "committed");
    // repomd.xml is signed where the key is.
    albs_ok(
        &data,
        &[
            "repo",
            "sign",
            repo_dir.to_str().unwrap(),
            "--keyring",
            ring.to_str().unwrap(),
        ],
        &[("ALBS_SIGN_PASSPHRASE", PASS)],
    );

    // The generated .repo file.
    let r = http
        .get(format!("{url}/products/community/almalinux-9.repo"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let repo_file = r.text().await.unwrap();
    for line in [
        "[albs-community-almalinux-9]".to_owned(),
        format!("baseurl={url}/repos/community/almalinux-9-$basearch/"),
        "gpgcheck=1".to_owned(),
        "repo_gpgcheck=1".to_owned(),
        format!("gpgkey={url}/api/v1/keys/{fpr}.asc"),
    ] {
        assert!(
            repo_file.lines().any(|l| l == line),
            "{line} in {repo_file}"
        );
    }
    // Unknown or hidden products and platforms have none.
    for path in [
        "/products/nope/almalinux-9.repo",
        "/products/hidden/almalinux-9.repo",
        "/products/community/no-such-platform.repo",
    ] {
        let r = http.get(format!("{url}{path}")).send().await.unwrap();
        assert_eq!(r.status(), 404, "{path}");
    }

    // The product pages: listed, its builds, its repositories.
    let (s, html) = page(format!("{url}/products")).await;
    assert_eq!(s, 200);
    assert!(html.contains("data-product=\"community\""), "{html}");
    assert!(
        !html.contains("hidden"),
        "a private product is not listed: {html}"
    );
    let (s, html) = page(format!("{url}/products/community")).await;
    assert_eq!(s, 200);
    assert!(html.contains("<td id=\"members\">0</td>"), "{html}");
    assert!(html.contains(&format!("data-build=\"{}\"", b.id)), "{html}");
    assert!(
        html.contains("href=\"/products/community/almalinux-9.repo\""),
        "{html}"
    );
    assert!(
        html.contains(&format!(
            "<a class=\"published\" href=\"/repos/community/almalinux-9-{host}/\">"
        )),
        "{html}"
    );
    assert!(
        html.contains(&format!("dnf copr enable --hub {url} albs/community")),
        "{html}"
    );
    let (s, _) = page(format!("{url}/products/hidden")).await;
    assert_eq!(
        s, 404,
        "a private product does not exist for anonymous readers"
    );
    let (s, html) = http
        .get(format!("{url}/products/hidden"))
        .bearer_auth(&admin_token)
        .send()
        .await
        .map(|r| (r.status().as_u16(), r))
        .unwrap();
    assert_eq!(s, 200, "admins see private products");
    drop(html);

    // dnf with only that file in its reposdir installs the package.
    let work = tmp.path().join("dnf");
    let reposdir = work.join("repos.d");
    std::fs::create_dir_all(&reposdir).unwrap();
    std::fs::write(reposdir.join("community.repo"), &repo_file).unwrap();
    let (ok, out) = dnf(&work, &reposdir, &["install", "albs-docs"]);
    assert!(ok, "dnf install: {out}");
    assert!(
        work.join("root/usr/share/doc/albs-docs/README.examples")
            .is_file(),
        "{out}"
    );

    // A tampered signature of repomd.xml is refused by the same file.
    let asc = repo_dir.join("repodata/repomd.xml.asc");
    let good_sig = std::fs::read(&asc).unwrap();
    let other_ring = keys.join("other.pgp");
    albs_ok(
        &data,
        &[
            "key",
            "generate",
            "--keyring",
            other_ring.to_str().unwrap(),
            "--ed25519",
            "--uid",
            "Someone Else <else@example.org>",
        ],
        &[("ALBS_SIGN_PASSPHRASE", PASS)],
    );
    albs_ok(
        &data,
        &[
            "repo",
            "sign",
            repo_dir.to_str().unwrap(),
            "--keyring",
            other_ring.to_str().unwrap(),
        ],
        &[("ALBS_SIGN_PASSPHRASE", PASS)],
    );
    let bad = tmp.path().join("dnf-bad");
    let bad_reposdir = bad.join("repos.d");
    std::fs::create_dir_all(&bad_reposdir).unwrap();
    std::fs::write(bad_reposdir.join("community.repo"), &repo_file).unwrap();
    let (ok, out) = dnf(&bad, &bad_reposdir, &["install", "albs-docs"]);
    assert!(!ok, "a repomd.xml signed by another key is refused: {out}");
    std::fs::write(&asc, &good_sig).unwrap();

    // The COPR API describes the product.
    let get_json = |path: String| {
        let http = http.clone();
        async move {
            let r = http.get(path).send().await.unwrap();
            let status = r.status().as_u16();
            (status, r.json::<Value>().await.unwrap_or(Value::Null))
        }
    };
    let (s, v) = get_json(format!("{url}/api_3/project/list?ownername=albs")).await;
    assert_eq!(s, 200);
    let names: Vec<&str> = v["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["full_name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        ["albs/community"],
        "the private product is not listed"
    );
    let (s, v) = get_json(format!("{url}/api_3/project/search?query=commun")).await;
    assert_eq!(s, 200);
    assert_eq!(v["items"][0]["name"], "community");
    let (s, v) = get_json(format!(
        "{url}/api_3/project?ownername=albs&projectname=community"
    ))
    .await;
    assert_eq!(s, 200);
    assert_eq!(
        v["chroot_repos"][format!("almalinux-9-{host}")],
        format!("{url}/repos/community/almalinux-9-{host}/")
    );
    let (s, _) = get_json(format!(
        "{url}/api_3/project?ownername=albs&projectname=hidden"
    ))
    .await;
    assert_eq!(s, 404);

    // dnf.repo as the copr plugin asks for it.
    let copr_path = format!("/coprs/albs/community/repo/almalinux-9/dnf.repo?arch={host}");
    let r = http.get(format!("{url}{copr_path}")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let copr_repo = r.text().await.unwrap();
    assert!(
        copr_repo.starts_with("[copr:127.0.0.1:albs:community]\n"),
        "{copr_repo}"
    );
    assert!(copr_repo.contains("repo_gpgcheck=1"), "{copr_repo}");
    let r = http
        .get(format!(
            "{url}/coprs/albs/community/repo/fedora-41/dnf.repo?arch={host}"
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    assert!(r.headers().contains_key("copr-error-data"));
    for path in [
        format!("/coprs/someone/community/repo/almalinux-9/dnf.repo?arch={host}"),
        format!("/coprs/albs/hidden/repo/almalinux-9/dnf.repo?arch={host}"),
    ] {
        let r = http.get(format!("{url}{path}")).send().await.unwrap();
        assert_eq!(r.status(), 404, "{path}");
    }

    // `dnf copr enable --hub` against this server, then install.
    if !has_copr_plugin() {
        eprintln!(
            "SKIPPED dnf copr enable: dnf has no copr plugin (install dnf-plugins-core, scripts/setup.sh)"
        );
        return;
    }
    let cw = tmp.path().join("copr");
    let copr_reposdir = cw.join("repos.d");
    std::fs::create_dir_all(&copr_reposdir).unwrap();
    let chroot = format!("almalinux-9-{host}");
    let (ok, out) = dnf(
        &cw,
        &copr_reposdir,
        &["copr", "enable", "--hub", &url, "albs/community", &chroot],
    );
    assert!(ok, "dnf copr enable: {out}");
    let written: Vec<_> = std::fs::read_dir(&copr_reposdir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(written, ["_copr:127.0.0.1:albs:community.repo"], "{out}");
    let (ok, out) = dnf(&cw, &copr_reposdir, &["install", "albs-docs"]);
    assert!(ok, "dnf install after copr enable: {out}");
    assert!(
        cw.join("root/usr/share/doc/albs-docs/README.examples")
            .is_file(),
        "{out}"
    );
}

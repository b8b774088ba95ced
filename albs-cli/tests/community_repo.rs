//! Community repositories end to end: a real server, build node and sign
//! node build and sign a package of a community product, a release publishes
//! it into the product's own repositories, and dnf, in an installroot whose
//! reposdir holds only the `.repo` file the server generates (gpgcheck and
//! repo_gpgcheck on, keys fetched from the server), installs it. Then
//! `dnf copr enable --hub` against the server writes its own `.repo` file,
//! from which dnf installs too; the COPR API answers describe the product.

mod common;

use std::path::Path;
use std::process::Command;

use albs_core::api::{CreateBuild, CreateSignTask, RegisterKey};
use albs_core::client::Client;
use albs_core::model::{Arch, BuildOptions, TaskState};
use albs_core::release::{CommitRelease, CreateRelease, Release, ReleaseState};
use common::*;
use serde_json::{Value, json};

const PASS: &str = "correct horse battery staple";

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
    let server = start_server(&data, 10).await;
    let url = server.url.clone();
    let admin_token = server.token("admin", true);
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

    let node_token = node_add(&data, &url, &admin_token, "builder-1");
    let _builder = run_build_node(&tmp.path().join("builder"), &url, &node_token, &fixtures);
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
        .json(&CommitRelease::default())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    let committed: Release = r.json().await.unwrap();
    assert_eq!(committed.state, ReleaseState::Committed);
    let repo_dir = data.join("repos").join(&repo);
    assert!(repo_dir.join("repodata/repomd.xml").is_file());
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

//! Released errata reach the release repositories: a real build node and
//! sign node build and sign a package, a release publishes it, an erratum
//! fixed by it is released, the sign node signs the repository's new
//! `repomd.xml`, and dnf with `repo_gpgcheck=1` lists the advisory from the
//! served repository. Reverting the release leaves the repository without
//! it.

mod common;

use std::path::Path;
use std::process::{Command, Output};

use albs_core::client::Client;
use albs_core::db::errata::{Erratum, ErratumState};
use albs_core::model::{Arch, TaskState};
use albs_core::release::ReleaseState;
use common::*;

const PASS: &str = "updateinfo release passphrase";

fn errata_ok(data: &Path, url: &str, token: &str, args: &[&str]) -> String {
    let out = albs_remote(data, "errata", url, token, args);
    assert!(out.status.success(), "albs errata {args:?}: {}", text(&out));
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

/// The updateinfo.xml a repository's repomd.xml names, when it names one.
fn updateinfo_of(dir: &Path) -> Option<String> {
    let repomd = std::fs::read_to_string(dir.join("repodata/repomd.xml")).unwrap();
    let at = repomd.find("<data type=\"updateinfo\">")?;
    let href = repomd[at..]
        .split("<location href=\"")
        .nth(1)?
        .split('"')
        .next()?
        .to_owned();
    let out = Command::new("gzip")
        .arg("-dc")
        .arg(dir.join(&href))
        .output()
        .unwrap();
    assert!(out.status.success(), "gzip -dc {href}: {}", text(&out));
    Some(String::from_utf8(out.stdout).unwrap())
}

fn dnf(work: &Path, conf: &Path, args: &[&str]) -> Output {
    Command::new("dnf")
        .arg(format!("--installroot={}", work.join("root").display()))
        .arg(format!("--config={}", conf.display()))
        .args([
            "-y",
            "--releasever=9",
            "--disablerepo=*",
            "--enablerepo=albs",
        ])
        .args(args)
        .output()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn released_errata_reach_signed_release_repositories() {
    let tmp = tempfile::tempdir().unwrap();
    let (data, fixtures) = (tmp.path().join("data"), tmp.path().join("fx"));
    std::fs::create_dir_all(&data).unwrap();
    make_fixtures(&fixtures);
    let server = start_server(&data, 10).await;
    let url = server.url.clone();
    let admin_token = server.token("admin", true);
    let admin = Client::new(&url, Some(admin_token.clone()));
    let node_token = node_add(&data, &url, &admin_token, "builder-1");
    let _builder = run_build_node(&tmp.path().join("builder"), &url, &node_token, &fixtures);
    let b = submit(&admin, &fixtures, &["albs-docs"]).await;
    let b = wait_for(&admin, b.id, 600, "the build to end", |b| {
        b.state().is_final()
    })
    .await;
    assert_eq!(b.state(), TaskState::Succeeded, "{b:#?}");

    // Signed by a sign node, which also signs repomd.xml files.
    let ring = tmp.path().join("ring.pgp");
    let ring = ring.to_str().unwrap();
    let pass = [("ALBS_SIGN_PASSPHRASE", PASS)];
    albs_ok(
        &data,
        &[
            "key",
            "generate",
            "--keyring",
            ring,
            "--ed25519",
            "--uid",
            "Rel <rel@example.org>",
        ],
        &pass,
    );
    albs_ok(
        &data,
        &[
            "key",
            "register",
            "--server",
            &url,
            "--keyring",
            ring,
            "--platform",
            "almalinux-9",
        ],
        &[("ALBS_TOKEN", &admin_token)],
    );
    albs_ok(
        &data,
        &["sign", "--server", &url, &b.id.to_string()],
        &[("ALBS_TOKEN", &admin_token)],
    );
    let signer = node_add(&data, &url, &admin_token, "signer-1");
    let sign_node = || {
        let out = albs(
            &tmp.path().join("signer"),
            &[
                "sign-node",
                "--server",
                &url,
                "--token",
                &signer,
                "--keyring",
                ring,
                "--once",
            ],
            &pass,
        );
        assert!(out.status.success(), "sign-node: {}", text(&out));
        text(&out)
    };
    sign_node();

    // Released (the closure check is not the point here), then signed.
    let plan = release_ok(&data, &url, &admin_token, &["plan", &b.id.to_string()]);
    let rid = plan.id.to_string();
    let committed = release_ok(&data, &url, &admin_token, &["commit", &rid, "--force"]);
    assert_eq!(committed.state, ReleaseState::Committed, "{committed:#?}");
    let x86 = format!("almalinux-9-{}", Arch::host());
    let repo_dir = data.join("repos").join(&x86);
    let src_dir = data.join("repos/almalinux-9-src");
    assert!(updateinfo_of(&repo_dir).is_none(), "no errata yet");
    sign_node();
    assert!(repo_dir.join("repodata/repomd.xml.asc").is_file());
    let published = std::fs::read(repo_dir.join("repodata/repomd.xml")).unwrap();

    // An erratum fixed by the package, released.
    let id = errata_ok(
        &data,
        &url,
        &admin_token,
        &[
            "create",
            "--type",
            "security",
            "--severity",
            "important",
            "--platform",
            "almalinux-9",
            "--title",
            "albs-docs: wrong advice",
            "--description",
            "The documentation gave wrong advice.",
            "--cve",
            "CVE-2026-4243",
        ],
    )
    .trim()
    .to_owned();
    let matched = errata_ok(
        &data,
        &url,
        &admin_token,
        &["match", "--id", &id, "--want", "albs-docs-2.1", "--json"],
    );
    let matched: Erratum = serde_json::from_str(&matched).unwrap();
    let files: Vec<String> = matched
        .content
        .packages
        .iter()
        .map(|p| p.nevra.file_name())
        .collect();
    let noarch = files
        .iter()
        .find(|f| f.ends_with(".noarch.rpm"))
        .unwrap_or_else(|| panic!("{files:?}"))
        .clone();
    let src = files
        .iter()
        .find(|f| f.ends_with(".src.rpm"))
        .unwrap_or_else(|| panic!("{files:?}"))
        .clone();
    for verb in ["approve", "release"] {
        errata_ok(&data, &url, &admin_token, &[verb, &id]);
    }
    let got: Erratum = serde_json::from_str(&errata_ok(
        &data,
        &url,
        &admin_token,
        &["get", &id, "--json"],
    ))
    .unwrap();
    assert_eq!(got.state, ErratumState::Released);

    // Each repository lists the advisory with only the packages it holds;
    // the new repomd.xml waits for a signature.
    let ui = updateinfo_of(&repo_dir).expect("the binary repository has updateinfo");
    assert!(ui.contains(&format!("<id>{id}</id>")), "{ui}");
    assert!(
        ui.contains(&format!("<filename>{noarch}</filename>")),
        "{ui}"
    );
    assert!(!ui.contains(&format!("<filename>{src}</filename>")), "{ui}");
    let ui = updateinfo_of(&src_dir).expect("the source repository has updateinfo");
    assert!(ui.contains(&format!("<filename>{src}</filename>")), "{ui}");
    assert!(
        !ui.contains(&format!("<filename>{noarch}</filename>")),
        "{ui}"
    );
    assert_ne!(
        std::fs::read(repo_dir.join("repodata/repomd.xml")).unwrap(),
        published
    );
    assert!(!repo_dir.join("repodata/repomd.xml.asc").exists());
    let out = sign_node();
    assert!(out.contains("repomd.xml"), "{out}");
    assert!(repo_dir.join("repodata/repomd.xml.asc").is_file(), "{out}");

    // dnf verifies the repository's signature and lists the advisory.
    let key_file = tmp.path().join("RPM-GPG-KEY-albs");
    albs_ok(
        &data,
        &[
            "key",
            "export",
            "--keyring",
            ring,
            "-o",
            key_file.to_str().unwrap(),
        ],
        &[],
    );
    let work = tmp.path().join("dnf");
    let conf = dnf_conf_signed_repo(&work, &format!("{url}/repos/{x86}/"), &key_file);
    let out = dnf(
        &work,
        &conf,
        &["--setopt=install_weak_deps=0", "install", "albs-docs"],
    );
    assert!(out.status.success(), "dnf install: {}", text(&out));
    let out = dnf(&work, &conf, &["updateinfo", "list", "--installed"]);
    assert!(out.status.success(), "dnf updateinfo: {}", text(&out));
    let listed = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        listed.lines().any(|l| l.contains(&id)
            && l.contains("Important/Sec.")
            && l.contains(noarch.trim_end_matches(".rpm"))),
        "dnf updateinfo list --installed: {}",
        text(&out)
    );
    // A tampered repomd.xml signature is refused by dnf.
    let asc = repo_dir.join("repodata/repomd.xml.asc");
    let good = std::fs::read(&asc).unwrap();
    std::fs::write(&asc, b"not a signature").unwrap();
    let out = dnf(
        &work,
        &conf,
        &["--refresh", "updateinfo", "list", "--installed"],
    );
    assert!(
        !out.status.success(),
        "a bad signature passed: {}",
        text(&out)
    );
    std::fs::write(&asc, good).unwrap();

    // The release reverts although updateinfo was added since; the
    // repository then holds no package the erratum fixes, nor updateinfo.
    let reverted = release_ok(&data, &url, &admin_token, &["revert", &rid]);
    assert_eq!(reverted.state, ReleaseState::Reverted);
    assert!(updateinfo_of(&repo_dir).is_none());
    let left: Vec<String> = std::fs::read_dir(repo_dir.join("repodata"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains("updateinfo"))
        .collect();
    assert!(left.is_empty(), "{left:?}");

    // Publishing the package again brings the advisory back with it, and
    // the sign node signs the result.
    let plan = release_ok(&data, &url, &admin_token, &["plan", &b.id.to_string()]);
    let again = release_ok(
        &data,
        &url,
        &admin_token,
        &["commit", &plan.id.to_string(), "--force"],
    );
    assert_eq!(again.state, ReleaseState::Committed);
    let ui = updateinfo_of(&repo_dir).expect("updateinfo after a new release");
    assert!(
        ui.contains(&format!("<filename>{noarch}</filename>")),
        "{ui}"
    );
    assert!(!repo_dir.join("repodata/repomd.xml.asc").exists());
    let out = sign_node();
    assert!(repo_dir.join("repodata/repomd.xml.asc").is_file(), "{out}");
    let out = dnf(
        &work,
        &conf,
        &["--refresh", "updateinfo", "list", "--installed"],
    );
    assert!(out.status.success(), "dnf updateinfo: {}", text(&out));
    assert!(text(&out).contains(&id), "{}", text(&out));
}

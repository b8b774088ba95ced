//! Release plans end to end: a real server, build node and sign node build
//! and sign the examples; plans are refused while packages are unsigned and
//! while a repository would lose its closure (unless forced); a commit
//! publishes repositories that dnf installs from over HTTP with
//! `gpgcheck=1` and `repo_gpgcheck=1`; a revert puts the earlier repodata
//! back byte for byte; the ledger records each release.

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use albs_core::client::Client;
use albs_core::model::{Arch, ArtifactKind, Build, TaskState};
use albs_core::release::{Release, ReleaseState};
use common::*;

const PASS: &str = "correct horse battery staple";

/// `albs release ARGS` against the server at `url`.
fn release(data: &Path, url: &str, token: &str, args: &[&str]) -> Output {
    albs_remote(data, "release", url, token, args)
}

/// Every file under `dir/repodata`, by name.
fn repodata(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    std::fs::read_dir(dir.join("repodata"))
        .unwrap()
        .map(|e| {
            let e = e.unwrap();
            (
                e.file_name().to_string_lossy().into_owned(),
                std::fs::read(e.path()).unwrap(),
            )
        })
        .collect()
}

/// The packages of the build, by NEVRA.
fn nevras(b: &Build) -> Vec<String> {
    let mut out: Vec<String> = b
        .tasks
        .iter()
        .flat_map(|t| &t.artifacts)
        .filter(|a| matches!(a.kind, ArtifactKind::Rpm | ArtifactKind::Srpm))
        .filter_map(|a| a.nevra.as_ref().map(ToString::to_string))
        .collect();
    out.sort();
    out.dedup();
    out
}

fn rpm_q(args: &[&str], file: &Path) -> Vec<String> {
    let out = Command::new("rpm").args(args).arg(file).output().unwrap();
    assert!(out.status.success(), "rpm {args:?}: {}", text(&out));
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| l.trim().to_owned())
        .filter(|l| !l.is_empty())
        .collect()
}

/// A directory served over HTTP by `python3 -m http.server` until dropped.
struct HttpDir {
    url: String,
    child: std::process::Child,
}

impl HttpDir {
    fn serve(dir: &Path) -> HttpDir {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = Command::new("python3")
            .args(["-m", "http.server", "--bind", "127.0.0.1"])
            .arg(port.to_string())
            .arg("--directory")
            .arg(dir)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("python3 -m http.server");
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                std::time::Instant::now() < deadline,
                "http.server did not start"
            );
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        HttpDir {
            url: format!("http://127.0.0.1:{port}"),
            child,
        }
    }
}

impl Drop for HttpDir {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A base repository standing in for BaseOS: one package providing what
/// the built packages need from the system (their requires that nothing
/// they build provides, rpmlib features left out).
fn make_base(rpms: &[PathBuf], work: &Path, repo: &Path) {
    let mut provided = std::collections::BTreeSet::new();
    let mut required = std::collections::BTreeSet::new();
    for r in rpms {
        for p in rpm_q(&["-qp", "--provides"], r) {
            provided.insert(p.split_whitespace().next().unwrap().to_owned());
        }
        for f in rpm_q(&["-qpl"], r) {
            provided.insert(f);
        }
        for q in rpm_q(&["-qp", "--requires"], r) {
            required.insert(q.split_whitespace().next().unwrap().to_owned());
        }
    }
    let needed: Vec<&String> = required
        .iter()
        .filter(|r| !r.starts_with("rpmlib(") && !provided.contains(*r))
        .collect();
    assert!(
        !needed.iter().any(|n| n.starts_with("hello")),
        "the base provides nothing the build makes: {needed:?}"
    );
    std::fs::create_dir_all(work).unwrap();
    std::fs::create_dir_all(repo).unwrap();
    let spec = work.join("base-system.spec");
    let provides: String = needed.iter().map(|n| format!("Provides: {n}\n")).collect();
    std::fs::write(
        &spec,
        format!(
            "Name: base-system\nVersion: 9\nRelease: 1\nSummary: base\nLicense: MIT\n\
             BuildArch: {arch}\n{provides}\n%description\nbase\n%files\n",
            arch = Arch::host()
        ),
    )
    .unwrap();
    let out = Command::new("rpmbuild")
        .arg("--define")
        .arg(format!("_topdir {}", work.join("top").display()))
        .arg("--define")
        .arg(format!("_rpmdir {}", repo.display()))
        .args(["--quiet", "-bb"])
        .arg(&spec)
        .output()
        .unwrap();
    assert!(out.status.success(), "rpmbuild base: {}", text(&out));
    let out = Command::new("createrepo_c").arg(repo).output().unwrap();
    assert!(out.status.success(), "createrepo_c: {}", text(&out));
}

#[tokio::test(flavor = "multi_thread")]
async fn releases_are_checked_published_installed_and_reverted() {
    let tmp = tempfile::tempdir().unwrap();
    let (data, fixtures, keys) = (
        tmp.path().join("data"),
        tmp.path().join("fx"),
        tmp.path().join("keys"),
    );
    std::fs::create_dir_all(&keys).unwrap();
    std::fs::create_dir_all(&data).unwrap();
    let host = Arch::host();
    // almalinux-9 for this arch and one more (noarch goes to both), with a
    // base repository served over HTTP, which the closure check mirrors.
    let base = tmp.path().join("base");
    std::fs::create_dir_all(&base).unwrap();
    let base_server = HttpDir::serve(&base);
    std::fs::write(
        data.join("platforms.toml"),
        format!(
            "[[platform]]\nname = \"almalinux-9\"\narches = [\"{host}\", \"{other}\"]\n\
             dist_tag = \".el9\"\nmacros = {{ rhel = \"9\" }}\n\
             repositories = [{{ name = \"baseos\", url = \"{}/$basearch/\" }}]\n",
            base_server.url,
            other = if host.as_str() == "aarch64" {
                "x86_64"
            } else {
                "aarch64"
            },
        ),
    )
    .unwrap();
    make_fixtures(&fixtures);
    let server = start_server(&data, 10).await;
    let admin_token = server.token("admin", true);
    let bob_token = server.token("bob", false);
    let admin = Client::new(&server.url, Some(admin_token.clone()));
    let node_token = node_add(&data, &server.url, &admin_token, "builder-1");
    let _builder = run_build_node(
        &tmp.path().join("builder"),
        &server.url,
        &node_token,
        &fixtures,
    );
    let b = submit(&admin, &fixtures, &["hello", "hello-extras", "albs-docs"]).await;
    let b = wait_for(&admin, b.id, 600, "the build to end", |b| {
        b.state().is_final()
    })
    .await;
    assert_eq!(b.state(), TaskState::Succeeded, "{b:#?}");
    let all = nevras(&b);
    let find = |prefix: &str| -> String {
        all.iter()
            .find(|n| n.starts_with(prefix) && !n.ends_with(".src"))
            .unwrap_or_else(|| panic!("{prefix} in {all:?}"))
            .clone()
    };
    let (hello, extras, devel, docs) = (
        find("hello-1"),
        find("hello-extras-0"),
        find("hello-extras-devel-"),
        find("albs-docs-"),
    );
    let url = &server.url;
    let bid = b.id.to_string();
    let x86 = format!("almalinux-9-{host}");

    // Plans are made by any signed-in user; packages map to the platform.
    let p0 = release_ok(&data, url, &bob_token, &["plan", &bid]);
    assert_eq!(p0.state, ReleaseState::Planned);
    assert_eq!(p0.owner, "bob");
    let repos_of = |r: &Release, n: &str| -> Vec<String> {
        let mut v: Vec<String> = r
            .entries
            .iter()
            .filter(|e| e.nevra.to_string() == n)
            .map(|e| e.repo.clone())
            .collect();
        v.sort();
        v
    };
    assert_eq!(repos_of(&p0, &hello), vec![x86.clone()]);
    assert_eq!(repos_of(&p0, &docs).len(), 2, "noarch to every arch");
    let src = all.iter().find(|n| n.ends_with(".src")).unwrap();
    assert_eq!(repos_of(&p0, src), ["almalinux-9-src"]);
    let shown = release_ok(&data, url, &bob_token, &["show", &p0.id.to_string()]);
    assert_eq!(shown, p0);
    let bad = release(
        &data,
        url,
        &bob_token,
        &[
            "edit",
            &p0.id.to_string(),
            "--move",
            &format!("{hello}=../../etc"),
        ],
    );
    assert!(!bad.status.success());
    assert!(text(&bad).contains("400"), "{}", text(&bad));

    // Unsigned packages are refused, each named; nothing is published.
    let p0id = p0.id.to_string();
    let out = release(&data, url, &admin_token, &["commit", &p0id]);
    assert!(!out.status.success());
    let msg = text(&out);
    assert!(msg.contains("409") && msg.contains("unsigned"), "{msg}");
    assert!(msg.contains(&hello) && msg.contains(&docs), "{msg}");
    assert!(!data.join("repos").join(&x86).exists());

    // Sign with an Ed25519 key held by a sign node.
    let ring = keys.join("ring.pgp");
    albs_ok(
        &data,
        &[
            "key",
            "generate",
            "--keyring",
            ring.to_str().unwrap(),
            "--ed25519",
            "--uid",
            "Release Signing <rel@example.org>",
        ],
        &[("ALBS_SIGN_PASSPHRASE", PASS)],
    );
    albs_ok(
        &data,
        &[
            "key",
            "register",
            "--server",
            url,
            "--keyring",
            ring.to_str().unwrap(),
            "--platform",
            "almalinux-9",
        ],
        &[("ALBS_TOKEN", &admin_token)],
    );
    albs_ok(
        &data,
        &["sign", "--server", url, &bid],
        &[("ALBS_TOKEN", &admin_token)],
    );
    let signer = node_add(&data, url, &admin_token, "signer-1");
    let out = albs(
        &tmp.path().join("signer"),
        &[
            "sign-node",
            "--server",
            url,
            "--token",
            &signer,
            "--keyring",
            ring.to_str().unwrap(),
            "--once",
        ],
        &[("ALBS_SIGN_PASSPHRASE", PASS)],
    );
    assert!(out.status.success(), "{}", text(&out));
    let b = admin.build(b.id).await.unwrap();
    assert!(b.signed.is_some());

    // The base system for the closure check, from the built packages.
    let dl = tmp.path().join("dl");
    std::fs::create_dir_all(&dl).unwrap();
    let mut rpms = Vec::new();
    for a in b.tasks.iter().flat_map(|t| &t.artifacts) {
        if a.kind == ArtifactKind::Rpm {
            let p = dl.join(&a.name);
            admin.download(&a.sha256, &p).await.unwrap();
            rpms.push(p);
        }
    }
    make_base(
        &rpms,
        &tmp.path().join("basework"),
        &base.join(host.as_str()),
    );
    // The other arch's base is an empty repository (noarch packages only
    // need what they bring).
    for arch in ["x86_64", "aarch64"] {
        let dir = base.join(arch);
        if !dir.exists() {
            std::fs::create_dir_all(&dir).unwrap();
            let out = Command::new("createrepo_c").arg(&dir).output().unwrap();
            assert!(out.status.success(), "createrepo_c: {}", text(&out));
        }
    }

    // Only albs-docs (and the SRPMs) first; bob may not commit.
    let p0 = release_ok(
        &data,
        url,
        &bob_token,
        &[
            "edit", &p0id, "--remove", &hello, "--remove", &extras, "--remove", &devel,
        ],
    );
    assert_eq!(repos_of(&p0, &hello), Vec::<String>::new());
    let out = release(&data, url, &bob_token, &["commit", &p0id]);
    assert!(text(&out).contains("403"), "{}", text(&out));
    let c0 = release_ok(&data, url, &admin_token, &["commit", &p0id]);
    assert_eq!(c0.state, ReleaseState::Committed, "{c0:#?}");
    // The base repository was read over HTTP into the (unserved) cache.
    assert!(
        std::fs::read_dir(data.join("repos/.cache/base"))
            .unwrap()
            .count()
            >= 1
    );
    let repo_dir = data.join("repos").join(&x86);
    assert!(repo_dir.join("repodata/repomd.xml").is_file());
    assert!(
        data.join("repos/almalinux-9-src/repodata/repomd.xml")
            .is_file()
    );

    let http = reqwest::Client::new();
    // The sign node signs each published repomd.xml; dnf installs over HTTP.
    assert!(!repo_dir.join("repodata/repomd.xml.asc").exists());
    let sign_repos = |token: &str| {
        albs(
            &tmp.path().join("signer"),
            &[
                "release",
                "sign-repos",
                "--server",
                url,
                "--token",
                token,
                "--keyring",
                ring.to_str().unwrap(),
            ],
            &[("ALBS_SIGN_PASSPHRASE", PASS)],
        )
    };
    let out = sign_repos(&bob_token);
    assert!(text(&out).contains("403"), "a user's token: {}", text(&out));
    // A signature by a key that is not the platform's is refused.
    let served = std::fs::read(repo_dir.join("repodata/repomd.xml")).unwrap();
    let other =
        albs_sign::SigningKey::generate("Other <o@example.org>", albs_sign::KeyAlgorithm::Ed25519)
            .unwrap();
    let fpr = b.signed.as_ref().unwrap().fingerprint.clone();
    let forged = http
        .post(format!("{url}/api/v1/releases/repomd/signature"))
        .bearer_auth(&signer)
        .json(&serde_json::json!({
            "repo": x86,
            "repomd_sha256": albs_core::Sha256::of(&served),
            "fingerprint": fpr,
            "signature": other.sign_detached(&served).unwrap(),
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status().as_u16(), 403);
    assert!(!repo_dir.join("repodata/repomd.xml.asc").exists());
    // The sign node's own pass signs what waits for its keys.
    let out = albs(
        &tmp.path().join("signer"),
        &[
            "sign-node",
            "--server",
            url,
            "--token",
            &signer,
            "--keyring",
            ring.to_str().unwrap(),
            "--once",
        ],
        &[("ALBS_SIGN_PASSPHRASE", PASS)],
    );
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("repomd.xml"), "{}", text(&out));
    for r in &c0.repositories {
        let asc = data
            .join("repos")
            .join(&r.name)
            .join("repodata/repomd.xml.asc");
        assert!(asc.is_file(), "{}: {}", r.name, text(&out));
    }
    let key_file = tmp.path().join("RPM-GPG-KEY-albs");
    albs_ok(
        &data,
        &[
            "key",
            "export",
            "--keyring",
            ring.to_str().unwrap(),
            "-o",
            key_file.to_str().unwrap(),
        ],
        &[],
    );
    let work = tmp.path().join("dnf");
    let conf = dnf_conf_signed_repo(&work, &format!("{url}/repos/{x86}/"), &key_file);
    let dnf = Command::new("dnf")
        .arg(format!("--installroot={}", work.join("root").display()))
        .arg(format!("--config={}", conf.display()))
        .args(["-y", "--releasever=9", "--setopt=install_weak_deps=0"])
        .args([
            "--disablerepo=*",
            "--enablerepo=albs",
            "install",
            "albs-docs",
        ])
        .output()
        .unwrap();
    assert!(dnf.status.success(), "dnf install: {}", text(&dnf));
    assert!(
        work.join("root/usr/share/doc/albs-docs/README.examples")
            .is_file(),
        "{}",
        text(&dnf)
    );
    // What is not published is not served; nothing leaves the repositories.
    for (path, want) in [
        (format!("/repos/{x86}/repodata/repomd.xml"), 200),
        (format!("/repos/{x86}/.albs/repo.json"), 400),
        (format!("/repos/{x86}/../../albs.db"), 404),
        (format!("/repos/{x86}%2f..%2f..%2falbs.db"), 400),
        (format!("/repos/{x86}/Packages/nope.rpm"), 404),
    ] {
        let got = http.get(format!("{url}{path}")).send().await.unwrap();
        assert_eq!(got.status().as_u16(), want, "{path}");
    }

    // hello-extras without hello breaks the closure: refused, naming it.
    let before = repodata(&repo_dir);
    let p1 = release_ok(&data, url, &bob_token, &["plan", &bid]);
    let p1id = p1.id.to_string();
    release_ok(&data, url, &bob_token, &["edit", &p1id, "--remove", &hello]);
    let out = release(&data, url, &admin_token, &["commit", &p1id]);
    assert!(!out.status.success());
    let msg = text(&out);
    assert!(msg.contains("409"), "{msg}");
    assert!(
        msg.contains(&format!(
            "{extras} requires hello, which nothing in {x86} provides"
        )),
        "{msg}"
    );
    assert_eq!(
        repodata(&repo_dir),
        before,
        "a refused release changes nothing"
    );
    assert!(
        !repo_dir
            .join("Packages")
            .join(format!("{extras}.rpm"))
            .exists()
    );
    let p1 = release_ok(&data, url, &admin_token, &["show", &p1id]);
    assert_eq!(p1.state, ReleaseState::Planned);

    // force publishes it anyway.
    let c1 = release_ok(&data, url, &admin_token, &["commit", &p1id, "--force"]);
    assert_eq!(c1.state, ReleaseState::Committed);
    assert_ne!(repodata(&repo_dir)["repomd.xml"], before["repomd.xml"]);
    assert!(
        c1.repositories.iter().any(|r| r.name == x86),
        "{:?}",
        c1.repositories
    );

    // The ledger holds a Release record for each commit.
    let mut found = Vec::new();
    for i in 0.. {
        let Ok(e) = admin.ledger_record(i).await else {
            break;
        };
        if let Some(r) = e.record.release {
            assert_eq!(e.record.kind, albs_core::ledger::RecordKind::Release);
            found.push((r.release_id, r.action.clone(), r.repositories.clone()));
        }
    }
    assert!(
        found.iter().any(|(id, a, _)| *id == c0.id && a == "commit"),
        "{found:?}"
    );
    let (_, _, repos1) = found
        .iter()
        .find(|(id, a, _)| *id == c1.id && a == "commit")
        .unwrap_or_else(|| panic!("{found:?}"));
    let served = std::fs::read(repo_dir.join("repodata/repomd.xml")).unwrap();
    assert!(
        repos1
            .iter()
            .any(|r| r.name == x86 && r.repomd_sha256 == albs_core::Sha256::of(&served)),
        "{repos1:?}"
    );

    // An earlier release cannot be reverted under a later one.
    let out = release(&data, url, &admin_token, &["revert", &p0id]);
    assert!(text(&out).contains("409"), "{}", text(&out));
    // Revert puts back every repodata file byte for byte.
    let r1 = release_ok(&data, url, &admin_token, &["revert", &p1id]);
    assert_eq!(r1.state, ReleaseState::Reverted);
    let after = repodata(&repo_dir);
    for (name, bytes) in &before {
        assert_eq!(after.get(name), Some(bytes), "repodata/{name}");
    }
    // Files the reverted generation added are no longer named.
    let repomd = String::from_utf8(after["repomd.xml"].clone()).unwrap();
    for name in after.keys().filter(|n| !before.contains_key(*n)) {
        assert!(!repomd.contains(name.as_str()), "{name} is still named");
    }
    let list = release(&data, url, &admin_token, &["list"]);
    assert!(list.status.success(), "{}", text(&list));
    assert!(text(&list).contains("reverted"), "{}", text(&list));

    // A build that does not exist is a 404.
    let out = release(&data, url, &bob_token, &["plan", "999999"]);
    assert!(text(&out).contains("404"), "{}", text(&out));

    // A private product's repositories exist for its members and admins only.
    let made = http
        .post(format!("{url}/api/v1/products"))
        .bearer_auth(&admin_token)
        .json(&serde_json::json!({"name": "secret", "private": true}))
        .send()
        .await
        .unwrap();
    assert_eq!(made.status().as_u16(), 201, "{:?}", made.text().await);
    let private = data.join("repos/secret/almalinux-9-src/repodata");
    std::fs::create_dir_all(&private).unwrap();
    std::fs::write(private.join("repomd.xml"), "<repomd/>").unwrap();
    let path = format!("{url}/repos/secret/almalinux-9-src/repodata/repomd.xml");
    let anon = http.get(&path).send().await.unwrap();
    assert_eq!(anon.status().as_u16(), 404);
    let as_bob = http
        .get(&path)
        .bearer_auth(&bob_token)
        .send()
        .await
        .unwrap();
    assert_eq!(as_bob.status().as_u16(), 404);
    let as_admin = http
        .get(&path)
        .bearer_auth(&admin_token)
        .send()
        .await
        .unwrap();
    assert_eq!(as_admin.status().as_u16(), 200);
    assert_eq!(as_admin.text().await.unwrap(), "<repomd/>");
}

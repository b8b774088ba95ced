//! Signing built packages: a real server and build node build the examples,
//! a real sign node signs them with keys the server never sees, and rpm
//! itself checks the signatures (`rpmkeys --import`, `rpm -K`).

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;

use albs_core::api::{CreateSignTask, KeyState, RegisterKey, SignResult};
use albs_core::auth::{hash_token, new_token};
use albs_core::client::Client;
use albs_core::db::{SqliteStore, Store};
use albs_core::hash::Sha256;
use albs_core::ledger::{
    Appended, Entry, Ledger, LedgerError, LedgerRecord, MemoryLedger, RecordKind, TreeHash,
};
use albs_core::model::{ArtifactKind, Build, TaskState};
use albs_core::platform::Platforms;
use albs_core::store::DirStore;
use albs_server::{AppState, ServerConfig};
use albs_sign::{Keyring, Passphrase, sign_rpm};
use common::*;

const PASS: &str = "correct horse battery staple";

/// A keyring with one new key made by `albs key generate`; returns its
/// fingerprint.
fn generate(data: &Path, keyring: &Path, uid: &str, algo: &str) -> String {
    let fpr = albs_ok(
        data,
        &[
            "key",
            "generate",
            "--keyring",
            keyring.to_str().unwrap(),
            algo,
            "--uid",
            uid,
        ],
        &[("ALBS_SIGN_PASSPHRASE", PASS)],
    );
    assert_eq!(fpr.len(), 40, "a v4 fingerprint: {fpr}");
    fpr
}

/// An rpm database under `dir` that trusts the key exported from `keyring`
/// (`albs key export` → `rpmkeys --import`).
fn rpm_db(data: &Path, keyring: &Path, dir: &Path) -> PathBuf {
    let asc = dir.with_extension("asc");
    albs_ok(
        data,
        &[
            "key",
            "export",
            "--keyring",
            keyring.to_str().unwrap(),
            "-o",
            asc.to_str().unwrap(),
        ],
        &[],
    );
    let armor = std::fs::read_to_string(&asc).unwrap();
    assert!(
        armor.starts_with("-----BEGIN PGP PUBLIC KEY BLOCK-----"),
        "{armor}"
    );
    assert!(
        !armor.contains("PRIVATE"),
        "export holds only the public key"
    );
    std::fs::create_dir_all(dir).unwrap();
    let out = Command::new("rpmkeys")
        .arg("--define")
        .arg(format!("_dbpath {}", dir.display()))
        .arg("--import")
        .arg(&asc)
        .output()
        .unwrap();
    assert!(out.status.success(), "rpmkeys --import: {}", text(&out));
    dir.to_path_buf()
}

/// `rpm -Kv` against the database `db`: (success, output).
fn rpm_k(db: &Path, rpm: &Path) -> (bool, String) {
    let out = Command::new("rpm")
        .arg("--define")
        .arg(format!("_dbpath {}", db.display()))
        .arg("-Kv")
        .arg(rpm)
        .output()
        .unwrap();
    (out.status.success(), text(&out))
}

/// Downloads the signed packages of the build's latest succeeded sign task
/// into `dir`; checks each is a different file than its unsigned twin.
async fn download_signed(client: &Client, build: &Build, dir: &Path) -> Vec<PathBuf> {
    let signed = build.signed.as_ref().expect("the build is signed");
    let task = client.sign_task(signed.task_id).await.unwrap();
    assert_eq!(task.state, TaskState::Succeeded);
    assert_eq!(task.fingerprint, signed.fingerprint);
    std::fs::create_dir_all(dir).unwrap();
    let mut out = Vec::new();
    for p in &task.packages {
        let s = p.signed.expect("every package has a signed twin");
        assert_ne!(s, p.unsigned);
        let path = dir.join(&p.name);
        client.download(&s, &path).await.unwrap();
        out.push(path);
    }
    out
}

/// The build's SRPMs and RPMs, once each.
fn packages(build: &Build) -> Vec<(Sha256, String)> {
    let mut out: Vec<(Sha256, String)> = Vec::new();
    for a in build.tasks.iter().flat_map(|t| &t.artifacts) {
        if matches!(a.kind, ArtifactKind::Srpm | ArtifactKind::Rpm)
            && !out.iter().any(|(s, _)| *s == a.sha256)
        {
            out.push((a.sha256, a.name.clone()));
        }
    }
    out
}

fn sign_node(data: &Path, url: &str, token: &str, keyring: &Path) -> std::process::Output {
    albs(
        data,
        &[
            "sign-node",
            "--server",
            url,
            "--token",
            token,
            "--keyring",
            keyring.to_str().unwrap(),
            "--once",
        ],
        &[("ALBS_SIGN_PASSPHRASE", PASS), ("ALBS_LOG", "info")],
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn built_examples_are_signed_by_a_sign_node_and_rpm_accepts_them() {
    let tmp = tempfile::tempdir().unwrap();
    let (data, fixtures, keys) = (
        tmp.path().join("data"),
        tmp.path().join("fx"),
        tmp.path().join("keys"),
    );
    std::fs::create_dir_all(&keys).unwrap();
    make_fixtures(&fixtures);
    let server = start_server(&data, 10).await;
    let admin_token = server.token("admin", true);
    let admin = Client::new(&server.url, Some(admin_token.clone()));
    let node_token = node_add(&data, &server.url, &admin_token, "builder-1");
    let _builder = run_build_node(
        &tmp.path().join("builder"),
        &server.url,
        &node_token,
        &fixtures,
    );
    let b = submit(&admin, &fixtures, &["hello", "albs-docs"]).await;
    // A build that has not succeeded is not signed.
    let early = admin
        .sign_build(b.id, &CreateSignTask::default())
        .await
        .unwrap_err();
    assert_eq!(early.status(), Some(409), "{early}");
    let b = wait_for(&admin, b.id, 300, "the build to end", |b| {
        b.state().is_final()
    })
    .await;
    assert_eq!(b.state(), TaskState::Succeeded, "{b:#?}");
    assert_eq!(b.signed, None);
    let unsigned = packages(&b);
    assert!(unsigned.len() >= 4, "2 SRPMs and their RPMs: {unsigned:?}");

    // An RSA-4096 key, made and kept on the signing side.
    let ring1 = keys.join("ring1.pgp");
    let fpr1 = generate(&data, &ring1, "Example Signing <sign@example.org>", "--rsa");
    use std::os::unix::fs::PermissionsExt as _;
    let mode = std::fs::metadata(&ring1).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600, "the keyring is private");
    assert!(
        !std::fs::read_to_string(&ring1).unwrap().contains(PASS),
        "the passphrase is not in the keyring"
    );

    // Only admins register keys; only the owner or an admin signs a build.
    let bob = Client::new(&server.url, Some(server.token("bob", false)));
    let anon = Client::new(&server.url, None);
    let pubkey = albs_ok(
        &data,
        &["key", "export", "--keyring", ring1.to_str().unwrap()],
        &[],
    );
    let req = RegisterKey {
        public_key: pubkey.clone(),
        platform: "almalinux-9".into(),
        product: None,
    };
    assert_eq!(
        bob.register_key(&req).await.unwrap_err().status(),
        Some(403)
    );
    assert_eq!(
        anon.register_key(&req).await.unwrap_err().status(),
        Some(401)
    );
    let refused = albs(
        &data,
        &[
            "key",
            "register",
            "--server",
            &server.url,
            "--keyring",
            ring1.to_str().unwrap(),
            "--platform",
            "almalinux-9",
        ],
        &[("ALBS_TOKEN", &server.token("carol", false))],
    );
    assert!(!refused.status.success());
    assert!(text(&refused).contains("403"), "{}", text(&refused));
    // A secret key is refused outright.
    let secret = std::fs::read_to_string(&ring1).unwrap();
    let leak = RegisterKey {
        public_key: secret,
        ..req.clone()
    };
    let e = admin.register_key(&leak).await.unwrap_err();
    assert_eq!(e.status(), Some(400), "{e}");
    let nowhere = RegisterKey {
        platform: "no-such-platform".into(),
        ..req.clone()
    };
    let e = admin.register_key(&nowhere).await.unwrap_err();
    assert_eq!(e.status(), Some(422), "{e}");
    assert!(admin.keys().await.unwrap().is_empty());

    let registered = albs_ok(
        &data,
        &[
            "key",
            "register",
            "--server",
            &server.url,
            "--keyring",
            ring1.to_str().unwrap(),
            "--platform",
            "almalinux-9",
        ],
        &[("ALBS_TOKEN", &admin_token)],
    );
    assert_eq!(registered, fpr1);
    let no_task = CreateSignTask::default();
    assert_eq!(
        bob.sign_build(b.id, &no_task).await.unwrap_err().status(),
        Some(403)
    );
    assert_eq!(
        anon.sign_build(b.id, &no_task).await.unwrap_err().status(),
        Some(401)
    );
    assert!(admin.build_sign_tasks(b.id).await.unwrap().is_empty());

    // The owner asks; a sign node holding the key signs.
    let created = albs_ok(
        &data,
        &["sign", "--server", &server.url, &b.id.to_string(), "--json"],
        &[("ALBS_TOKEN", &admin_token)],
    );
    let task: albs_core::api::SignTask = serde_json::from_str(&created).unwrap();
    assert_eq!(task.fingerprint, fpr1);
    assert_eq!(task.packages.len(), unsigned.len());
    let signer_token = node_add(&data, &server.url, &admin_token, "signer-1");
    let t0 = std::time::Instant::now();
    let out = sign_node(
        &tmp.path().join("signer"),
        &server.url,
        &signer_token,
        &ring1,
    );
    assert!(out.status.success(), "{}", text(&out));
    // A figure for the report, not a check.
    eprintln!(
        "sign-node --once: {} packages with RSA-4096 in {:.2?} (process start and key unlock included)",
        task.packages.len(),
        t0.elapsed()
    );
    assert!(
        !text(&out).contains(PASS),
        "the passphrase is never printed"
    );
    let b1 = admin.build(b.id).await.unwrap();
    let sig = b1.signed.clone().expect("the build is marked signed");
    assert_eq!(
        (sig.task_id, sig.fingerprint.as_str()),
        (task.id, fpr1.as_str())
    );
    let json = serde_json::to_value(&b1).unwrap();
    assert_eq!(json["signed"]["fingerprint"], fpr1.as_str());

    // rpm trusts the exported key and accepts every signed package.
    let db1 = rpm_db(&data, &ring1, &tmp.path().join("db1"));
    let signed1 = download_signed(&admin, &b1, &tmp.path().join("signed1")).await;
    assert_eq!(signed1.len(), unsigned.len());
    for rpm in &signed1 {
        let (ok, out) = rpm_k(&db1, rpm);
        assert!(ok, "rpm -K {}: {out}", rpm.display());
        assert!(
            out.contains("Header V4 RSA/SHA256 Signature, key ID"),
            "{out}"
        );
        assert!(out.contains(": OK"), "{out}");
        assert!(!out.contains("NOT OK") && !out.contains("NOKEY"), "{out}");
    }
    // The ledger links each signed package to its unsigned twin and the key.
    for (unsigned_sha, name) in &unsigned {
        let t = admin.sign_task(task.id).await.unwrap();
        let p = t
            .packages
            .iter()
            .find(|p| p.unsigned == *unsigned_sha)
            .unwrap();
        let entries = admin.ledger_artifact(&p.signed.unwrap()).await.unwrap();
        let rec = entries
            .iter()
            .find(|e| e.record.kind == RecordKind::SignedRpm)
            .unwrap_or_else(|| panic!("{name} has a signed record: {entries:?}"));
        let info = rec.record.signature.as_ref().unwrap();
        assert_eq!(
            (info.unsigned, info.fingerprint.as_str()),
            (*unsigned_sha, fpr1.as_str())
        );
    }

    // A tampered package and a key rpm does not trust both fail rpm -K.
    let mut bytes = std::fs::read(&signed1[0]).unwrap();
    let at = bytes.len() - 20;
    bytes[at] ^= 0x55;
    let tampered = tmp.path().join("tampered.rpm");
    std::fs::write(&tampered, &bytes).unwrap();
    let (ok, out) = rpm_k(&db1, &tampered);
    assert!(!ok, "rpm -K accepted a tampered package: {out}");
    let ring2 = keys.join("ring2.pgp");
    let fpr2 = generate(&data, &ring2, "Next Signing <sign2@example.org>", "--rsa");
    let db2 = rpm_db(&data, &ring2, &tmp.path().join("db2"));
    let (ok, out) = rpm_k(&db2, &signed1[0]);
    assert!(
        !ok,
        "rpm -K accepted a package signed by an untrusted key: {out}"
    );
    assert!(out.contains("NOKEY"), "{out}");

    // The server refuses a package signed by another key, naming both.
    let t2 = admin.sign_build(b.id, &no_task).await.unwrap();
    let as_signer = Client::new(&server.url, Some(signer_token.clone()));
    let claim = as_signer
        .sign_claim(std::slice::from_ref(&fpr1))
        .await
        .unwrap();
    let a = claim.task.expect("the new sign task is claimed");
    assert_eq!(a.task.id, t2.id);
    let (first, name) = &unsigned[0];
    let raw = tmp.path().join("raw.rpm");
    admin.download(first, &raw).await.unwrap();
    let key2 = Keyring::open(&ring2)
        .unwrap()
        .unlock(&fpr2, &Passphrase::from_secret(PASS))
        .unwrap();
    let wrong = tmp.path().join("wrong.rpm");
    sign_rpm(&raw, &wrong, &key2).unwrap();
    let e = as_signer
        .upload_signed(t2.id, first, &wrong)
        .await
        .unwrap_err();
    assert_eq!(e.status(), Some(403), "{e}");
    let msg = e.to_string();
    assert!(
        msg.contains(&fpr1) && msg.contains(&fpr2),
        "names both keys: {msg}"
    );
    assert!(msg.contains(name.as_str()), "names the package: {msg}");
    // And a package signed by the right key that is not the unsigned twin.
    let key1 = Keyring::open(&ring1)
        .unwrap()
        .unlock(&fpr1, &Passphrase::from_secret(PASS))
        .unwrap();
    let (other, _) = &unsigned[1];
    let other_raw = tmp.path().join("other.rpm");
    admin.download(other, &other_raw).await.unwrap();
    let swapped = tmp.path().join("swapped.rpm");
    sign_rpm(&other_raw, &swapped, &key1).unwrap();
    let e = as_signer
        .upload_signed(t2.id, first, &swapped)
        .await
        .unwrap_err();
    assert_eq!(e.status(), Some(403), "{e}");
    assert!(e.to_string().contains("another package"), "{e}");
    // Completing as succeeded before every package is in is refused.
    let early = SignResult {
        state: TaskState::Succeeded,
        reason: None,
    };
    assert_eq!(
        as_signer
            .sign_complete(t2.id, &early)
            .await
            .unwrap_err()
            .status(),
        Some(409)
    );
    let gave_up = SignResult {
        state: TaskState::Failed,
        reason: Some("test: wrong key".into()),
    };
    let t2 = as_signer.sign_complete(t2.id, &gave_up).await.unwrap();
    assert_eq!(t2.state, TaskState::Failed);
    assert!(t2.packages.iter().all(|p| p.signed.is_none()));

    // Rotation: the new key becomes active, the old one is archived, and
    // the build is signed again with the new key.
    albs_ok(
        &data,
        &[
            "key",
            "register",
            "--server",
            &server.url,
            "--keyring",
            ring2.to_str().unwrap(),
            "--platform",
            "almalinux-9",
        ],
        &[("ALBS_TOKEN", &admin_token)],
    );
    let listed = albs_ok(
        &data,
        &["key", "list", "--server", &server.url, "--json"],
        &[],
    );
    let listed: Vec<albs_core::api::SignKey> = serde_json::from_str(&listed).unwrap();
    let state_of = |f: &str| listed.iter().find(|k| k.fingerprint == f).unwrap().state;
    assert_eq!(state_of(&fpr1), KeyState::Archived);
    assert_eq!(state_of(&fpr2), KeyState::Active);
    let old = CreateSignTask {
        key: Some(fpr1.clone()),
    };
    assert_eq!(
        admin.sign_build(b.id, &old).await.unwrap_err().status(),
        Some(409)
    );
    let t3 = admin.sign_build(b.id, &no_task).await.unwrap();
    assert_eq!(t3.fingerprint, fpr2);
    // A node with only the old key finds nothing to do.
    let idle = sign_node(
        &tmp.path().join("signer"),
        &server.url,
        &signer_token,
        &ring1,
    );
    assert!(idle.status.success(), "{}", text(&idle));
    assert_eq!(
        admin.sign_task(t3.id).await.unwrap().state,
        TaskState::Pending
    );
    // A long-running sign node with the new key (passphrase from a file).
    let pass_file = keys.join("passphrase");
    std::fs::write(&pass_file, format!("{PASS}\n")).unwrap();
    let _daemon = Proc(
        Command::new(BIN)
            .arg("--data")
            .arg(tmp.path().join("signer2"))
            .args([
                "sign-node",
                "--server",
                &server.url,
                "--token",
                &signer_token,
            ])
            .arg("--keyring")
            .arg(&ring2)
            .arg("--passphrase-file")
            .arg(&pass_file)
            .args(["--poll", "0.2"])
            .env_remove("ALBS_SIGN_PASSPHRASE")
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap(),
    );
    let b2 = wait_for(
        &admin,
        b.id,
        120,
        "the build signed with the new key",
        |b| b.signed.as_ref().is_some_and(|s| s.task_id == t3.id),
    )
    .await;
    assert_eq!(b2.signed.as_ref().unwrap().fingerprint, fpr2);
    assert_eq!(b2.signed.as_ref().unwrap().task_id, t3.id);
    let signed2 = download_signed(&admin, &b2, &tmp.path().join("signed2")).await;
    for rpm in &signed2 {
        let (ok, out) = rpm_k(&db2, rpm);
        assert!(ok, "rpm -K {} with the new key: {out}", rpm.display());
        let (ok, out) = rpm_k(&db1, rpm);
        assert!(
            !ok,
            "rpm -K with only the old key accepted {}: {out}",
            rpm.display()
        );
    }
}

/// A ledger that never recorded binary RPMs: it answers lookups of them
/// with nothing, as a ledger would that a package was slipped past.
struct NoRpmRecords(MemoryLedger);

#[async_trait::async_trait]
impl Ledger for NoRpmRecords {
    async fn append(&self, record: &LedgerRecord) -> Result<Appended, LedgerError> {
        self.0.append(record).await
    }
    async fn get(&self, index: u64) -> Result<Option<Entry>, LedgerError> {
        self.0.get(index).await
    }
    async fn size(&self) -> Result<u64, LedgerError> {
        self.0.size().await
    }
    async fn find_artifact(&self, artifact: &Sha256) -> Result<Vec<u64>, LedgerError> {
        let mut out = Vec::new();
        for i in self.0.find_artifact(artifact).await? {
            if let Some(e) = self.0.get(i).await?
                && e.record.kind != RecordKind::Rpm
            {
                out.push(i);
            }
        }
        Ok(out)
    }
    async fn leaves(&self, start: u64, end: u64) -> Result<Vec<TreeHash>, LedgerError> {
        self.0.leaves(start, end).await
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_sign_node_refuses_a_package_the_ledger_does_not_know() {
    let tmp = tempfile::tempdir().unwrap();
    let fixtures = tmp.path().join("fx");
    make_fixtures(&fixtures);
    let store = Arc::new(
        SqliteStore::open(&tmp.path().join("albs.db"))
            .await
            .unwrap(),
    );
    store
        .put_platform(Platforms::bundled().get("almalinux-9").unwrap())
        .await
        .unwrap();
    let user = store.create_user("admin", true).await.unwrap();
    let admin_token = new_token().unwrap();
    store
        .add_user_token(user.id, &hash_token(&admin_token), None)
        .await
        .unwrap();
    let artifacts = Arc::new(DirStore::open(tmp.path().join("artifacts")).unwrap());
    let state = AppState::new(
        store.clone(),
        artifacts,
        Arc::new(NoRpmRecords(MemoryLedger::new())),
        ServerConfig::default(),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let stop = tokio_util::sync::CancellationToken::new();
    let sd = stop.clone();
    let served = tokio::spawn(albs_server::serve(listener, state, async move {
        sd.cancelled().await
    }));
    wait_until_up(&url).await;

    let data = tmp.path().join("cli");
    let admin = Client::new(&url, Some(admin_token.clone()));
    let builder = node_add(&data, &url, &admin_token, "builder-1");
    let _node = run_build_node(&tmp.path().join("builder"), &url, &builder, &fixtures);
    let b = submit(&admin, &fixtures, &["hello"]).await;
    let b = wait_for(&admin, b.id, 300, "the build to end", |b| {
        b.state().is_final()
    })
    .await;
    assert_eq!(b.state(), TaskState::Succeeded, "{b:#?}");

    let ring = tmp.path().join("ring.pgp");
    let fpr = generate(
        &data,
        &ring,
        "Example Signing <sign@example.org>",
        "--ed25519",
    );
    albs_ok(
        &data,
        &[
            "key",
            "register",
            "--server",
            &url,
            "--keyring",
            ring.to_str().unwrap(),
            "--platform",
            "almalinux-9",
        ],
        &[("ALBS_TOKEN", &admin_token)],
    );
    let task = admin
        .sign_build(b.id, &CreateSignTask::default())
        .await
        .unwrap();
    assert_eq!(task.fingerprint, fpr);
    let rpm = task
        .packages
        .iter()
        .find(|p| p.name.ends_with(".rpm") && !p.name.ends_with(".src.rpm"))
        .expect("a binary RPM")
        .clone();
    let signer = node_add(&data, &url, &admin_token, "signer-1");
    let out = sign_node(&tmp.path().join("signer"), &url, &signer, &ring);
    assert!(
        !out.status.success(),
        "the sign node reports the failed task"
    );
    let t = admin.sign_task(task.id).await.unwrap();
    assert_eq!(t.state, TaskState::Failed, "{t:#?}");
    let reason = t.reason.unwrap();
    assert!(
        reason.contains(&rpm.name) && reason.contains(&rpm.unsigned.to_hex()),
        "the reason names the package: {reason}"
    );
    assert!(reason.contains("ledger"), "{reason}");
    assert!(
        t.packages
            .iter()
            .all(|p| p.unsigned != rpm.unsigned || p.signed.is_none()),
        "nothing was signed for it"
    );
    assert_eq!(admin.build(b.id).await.unwrap().signed, None);

    // The server fails closed too: a well-signed twin of that package is
    // refused.
    let again = admin
        .sign_build(b.id, &CreateSignTask::default())
        .await
        .unwrap();
    let as_signer = Client::new(&url, Some(signer));
    let claimed = as_signer
        .sign_claim(std::slice::from_ref(&fpr))
        .await
        .unwrap()
        .task
        .expect("the new sign task is claimed");
    assert_eq!(claimed.task.id, again.id);
    let raw = tmp.path().join("raw.rpm");
    admin.download(&rpm.unsigned, &raw).await.unwrap();
    let key = Keyring::open(&ring)
        .unwrap()
        .unlock(&fpr, &Passphrase::from_secret(PASS))
        .unwrap();
    let signed = tmp.path().join("signed.rpm");
    sign_rpm(&raw, &signed, &key).unwrap();
    let e = as_signer
        .upload_signed(again.id, &rpm.unsigned, &signed)
        .await
        .unwrap_err();
    assert_eq!(e.status(), Some(403), "{e}");
    assert!(e.to_string().contains("ledger"), "{e}");
    let t = admin.sign_task(again.id).await.unwrap();
    assert!(t.packages.iter().all(|p| p.signed.is_none()), "{t:#?}");
    stop.cancel();
    served.await.unwrap().unwrap();
}

//! The public ledger of a real `albs server --with-node`: a build's records
//! are fetched through the API and checked by `albs ledger verify/audit
//! --server` against the signed checkpoint; a record changed behind the
//! ledger's back in the SQLite file, a wrong key and bad API input are all
//! refused.

use std::io::{Read as _, Write as _};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use albs_core::api::CreateBuild;
use albs_core::client::Client;
use albs_core::ledger::leaf_hash;
use albs_core::model::{Arch, ArtifactKind, Build, TaskState};
use albs_core::source::{GitRef, SourceRef};

const BIN: &str = env!("CARGO_BIN_EXE_albs");
const ORIGIN: &str = "albs.test/ledger";

/// Kills its process when dropped, so a failing test leaves nothing running.
struct Proc(Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn albs(args: &[&str]) -> Output {
    Command::new(BIN).args(args).output().unwrap()
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// `albs ledger keygen`: (signer key, verifier key).
fn keygen() -> (String, String) {
    let out = albs(&["ledger", "keygen", "--name", ORIGIN]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let signer = text(&out.stdout).trim().to_owned();
    let verifier = text(&out.stderr)
        .split_whitespace()
        .last()
        .unwrap()
        .to_owned();
    (signer, verifier)
}

/// A server with a local node on `data`, signing checkpoints with `key`.
async fn server(data: &Path, lookaside: &Path, key: Option<&str>) -> (Proc, String) {
    let port = free_port();
    let url = format!("http://127.0.0.1:{port}");
    let mut cmd = Command::new(BIN);
    cmd.arg("--data")
        .arg(data)
        .args([
            "server",
            "--with-node",
            "--listen",
            &format!("127.0.0.1:{port}"),
        ])
        .arg("--lookaside")
        .arg(lookaside)
        .env_remove("ALBS_DATABASE_URL")
        .env_remove("ALBS_LEDGER_KEY")
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    if let Some(k) = key {
        cmd.env("ALBS_LEDGER_KEY", k);
    }
    let proc = Proc(cmd.spawn().unwrap());
    let anon = Client::new(&url, None);
    let t0 = Instant::now();
    while anon.platforms().await.is_err() {
        assert!(
            t0.elapsed() < Duration::from_secs(30),
            "server did not start"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    (proc, url)
}

fn admin_token(data: &Path) -> String {
    let out = Command::new(BIN)
        .arg("--data")
        .arg(data)
        .args(["token", "create", "--user", "admin", "--admin"])
        .env_remove("ALBS_DATABASE_URL")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    text(&out.stdout).trim().to_owned()
}

async fn wait_built(client: &Client, id: u64) -> Build {
    let t0 = Instant::now();
    loop {
        let b = client.build(id).await.unwrap();
        if b.state().is_final() {
            return b;
        }
        assert!(
            t0.elapsed() < Duration::from_secs(300),
            "the build did not end: {b:#?}"
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

/// A raw GET, for inputs the typed client cannot send: (status, body).
fn raw_get(url: &str, path: &str) -> (u16, String) {
    let addr = url.trim_start_matches("http://");
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut resp = String::new();
    s.read_to_string(&mut resp).unwrap();
    let status = resp.split_whitespace().nth(1).unwrap().parse().unwrap();
    let body = resp.split_once("\r\n\r\n").map(|(_, b)| b).unwrap_or("");
    (status, body.to_owned())
}

/// Runs `albs ledger ARGS --server URL --key KEY`.
fn ledger(verb: &str, url: &str, key: &str, extra: &[&str]) -> Output {
    let mut args = vec!["ledger", verb, "--server", url, "--key", key];
    args.extend_from_slice(extra);
    albs(&args)
}

async fn sqlite(data: &Path) -> sqlx::SqlitePool {
    let url = format!("sqlite://{}", data.join("albs.db").display());
    sqlx::SqlitePool::connect(&url).await.unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_built_package_is_verified_through_the_api_and_tampering_is_caught() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let fx = tmp.path().join("fx");
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/make-fixtures.sh");
    let out = Command::new("bash").arg(script).arg(&fx).output().unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    let lookaside: PathBuf = fx.join("lookaside");
    let (signer, verifier) = keygen();
    let (_, other_verifier) = keygen();

    // (a) A real server with a node builds hello; its records come back
    // through the API and verify against the signed checkpoint.
    let (proc, url) = server(&data, &lookaside, Some(&signer)).await;
    let admin = Client::new(&url, Some(admin_token(&data)));
    let build = admin
        .create_build(&CreateBuild {
            platform: "almalinux-9".into(),
            arches: vec![Arch::host()],
            refs: vec![SourceRef::Git {
                url: fx.join("git/hello").display().to_string(),
                reference: Some(GitRef::Auto("a9".into())),
            }],
            options: Default::default(),
        })
        .await
        .unwrap();
    let done = wait_built(&admin, build.id).await;
    assert_eq!(done.state(), TaskState::Succeeded, "{done:#?}");
    let packages: Vec<_> = done
        .tasks
        .iter()
        .flat_map(|t| &t.artifacts)
        .filter(|a| matches!(a.kind, ArtifactKind::Rpm | ArtifactKind::Srpm))
        .collect();
    assert!(packages.len() >= 2, "an SRPM and an RPM: {packages:#?}");

    let anon = Client::new(&url, None);
    assert_eq!(anon.ledger_key().await.unwrap().trim(), verifier);
    let note = anon.ledger_checkpoint().await.unwrap();
    let cp = albs_core::checkpoint::verify(&note, &verifier).unwrap();
    assert_eq!(cp.origin, ORIGIN);
    assert!(cp.size >= packages.len() as u64, "{cp:?}");
    for a in &packages {
        let entries = anon.ledger_artifact(&a.sha256).await.unwrap();
        assert_eq!(entries.len(), 1, "one record of {}", a.name);
        let e = &entries[0];
        assert_eq!(e.record.artifact, Some(a.sha256));
        assert_eq!(e.record.nevra, a.nevra);
        assert_eq!(
            e.leaf_hash,
            hex::encode(leaf_hash(&e.record.canonical_bytes()))
        );
        let out = ledger(
            "verify",
            &url,
            &verifier,
            &["--artifact", &a.sha256.to_string()],
        );
        assert!(out.status.success(), "{}", text(&out.stderr));
        assert!(
            text(&out.stdout).contains(&format!("record {} ({})", e.index, a.sha256)),
            "{}",
            text(&out.stdout)
        );
    }
    let out = ledger("verify", &url, &verifier, &[]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains(&format!("{} records verified", cp.size)),
        "{}",
        text(&out.stdout)
    );
    let saved = tmp.path().join("checkpoint.note");
    let out = ledger(
        "audit",
        &url,
        &verifier,
        &["--save", saved.to_str().unwrap()],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(std::fs::read_to_string(&saved).unwrap(), note);

    // (c) Another key refuses the checkpoint.
    for verb in ["verify", "audit"] {
        let out = ledger(verb, &url, &other_verifier, &[]);
        assert!(!out.status.success(), "{verb} with the wrong key passed");
        assert!(
            text(&out.stderr).contains("does not verify with --key"),
            "{}",
            text(&out.stderr)
        );
    }

    // (d) Bad input is a 400 naming the parameter, through the real server.
    for (path, names) in [
        ("/api/v1/ledger/records/abc", "index"),
        ("/api/v1/ledger/artifacts/not-a-digest", "sha256"),
        ("/api/v1/ledger/proof/inclusion?index=one", "index"),
        (
            &format!("/api/v1/ledger/proof/inclusion?index={0}&size={0}", cp.size) as &str,
            "index",
        ),
        (
            &format!(
                "/api/v1/ledger/proof/inclusion?index=0&size={}",
                cp.size + 1
            ),
            "size",
        ),
        (
            &format!("/api/v1/ledger/proof/consistency?old=1&new={}", cp.size + 1),
            "new",
        ),
        ("/api/v1/ledger/proof/consistency?old=2&new=1", "old"),
    ] {
        let (status, body) = raw_get(&url, path);
        assert_eq!(status, 400, "{path}: {body}");
        assert!(body.contains(names), "{path}: {body}");
    }
    let (status, _) = raw_get(&url, &format!("/api/v1/ledger/records/{}", cp.size));
    assert_eq!(status, 404, "a record past the end");
    drop(proc);

    // (b) A record edited in the database, its leaf hash left alone: the
    // server still serves it, and verify and audit name its index.
    let victim = anon_entry_index(&note);
    let pool = sqlite(&data).await;
    let (bytes,): (Vec<u8>,) = sqlx::query_as("SELECT record FROM ledger_records WHERE idx = ?")
        .bind(victim)
        .fetch_one(&pool)
        .await
        .unwrap();
    let mut record: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
    record["task"]["host"] = "evil-host".into();
    let forged =
        albs_core::ledger::LedgerRecord::canonical_bytes(&serde_json::from_value(record).unwrap());
    sqlx::query("UPDATE ledger_records SET record = ? WHERE idx = ?")
        .bind(&forged)
        .bind(victim)
        .execute(&pool)
        .await
        .unwrap();
    pool.close().await;
    let (proc, url) = server(&data, &lookaside, Some(&signer)).await;
    let anon = Client::new(&url, None);
    assert_eq!(
        anon.ledger_record(victim as u64)
            .await
            .unwrap()
            .record
            .task
            .host,
        "evil-host"
    );
    let want = format!("record {victim}");
    for (verb, extra) in [
        ("verify", vec!["--index".to_owned(), victim.to_string()]),
        ("verify", vec![]),
        (
            "audit",
            vec!["--old".to_owned(), saved.display().to_string()],
        ),
    ] {
        let extra: Vec<&str> = extra.iter().map(String::as_str).collect();
        let out = ledger(verb, &url, &verifier, &extra);
        assert!(!out.status.success(), "{verb} {extra:?} missed the edit");
        assert!(
            text(&out.stderr).contains(&want) && text(&out.stderr).contains("changed"),
            "{verb}: {}",
            text(&out.stderr)
        );
    }
    drop(proc);

    // The leaf hash rewritten to match as well: the tree head moves, so the
    // server's new checkpoint no longer extends the one saved before.
    let pool = sqlite(&data).await;
    sqlx::query("UPDATE ledger_records SET leaf_hash = ? WHERE idx = ?")
        .bind(leaf_hash(&forged).to_vec())
        .bind(victim)
        .execute(&pool)
        .await
        .unwrap();
    pool.close().await;
    let (proc, url) = server(&data, &lookaside, Some(&signer)).await;
    let out = ledger(
        "audit",
        &url,
        &verifier,
        &["--old", saved.to_str().unwrap()],
    );
    assert!(
        !out.status.success(),
        "a rewritten history passed the audit"
    );
    assert!(
        text(&out.stderr).contains("history was rewritten"),
        "{}",
        text(&out.stderr)
    );
    // Against the saved checkpoint, the forged record does not verify.
    let out = ledger(
        "verify",
        &url,
        &verifier,
        &[
            "--checkpoint",
            saved.to_str().unwrap(),
            "--index",
            &victim.to_string(),
        ],
    );
    assert!(!out.status.success(), "the forged record verified");
    assert!(text(&out.stderr).contains(&want), "{}", text(&out.stderr));
    drop(proc);

    // Without a key the server still serves records and proofs, and says
    // why there is no checkpoint.
    let (_proc, url) = server(&data, &lookaside, None).await;
    let anon = Client::new(&url, None);
    let err = anon.ledger_checkpoint().await.unwrap_err();
    assert_eq!(err.status(), Some(404));
    assert!(err.to_string().contains("ALBS_LEDGER_KEY"), "{err}");
    assert!(anon.ledger_record(0).await.is_ok());
    assert!(anon.ledger_inclusion_proof(0, 1).await.is_ok());
    let out = ledger("verify", &url, &verifier, &[]);
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("ALBS_LEDGER_KEY"),
        "{}",
        text(&out.stderr)
    );
}

/// The record the test edits: the last one of the checkpoint.
fn anon_entry_index(note: &str) -> i64 {
    let size: i64 = note.lines().nth(1).unwrap().parse().unwrap();
    size - 1
}

//! Test tasks with a real `albs server --with-node`: a succeeded build gets
//! a test task by itself, the node runs the tester on the built packages
//! and the report reaches the API and `albs tests`; a package with a
//! dangling symlink fails `integrity` with the link named in the log;
//! restart puts the task back and it runs again; a user who does not own
//! the build is refused.

use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use albs_core::api::{CreateBuild, TestState, TestTask};
use albs_core::client::{Client, ClientError};
use albs_core::db::{SqliteStore, TestStore};
use albs_core::model::{Arch, Build, TaskState};
use albs_core::source::{GitRef, SourceRef};

const BIN: &str = env!("CARGO_BIN_EXE_albs");

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

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn token(data: &Path, user: &str, admin: bool) -> String {
    let mut cmd = Command::new(BIN);
    cmd.arg("--data")
        .arg(data)
        .args(["token", "create", "--user", user])
        .env_remove("ALBS_DATABASE_URL");
    if admin {
        cmd.arg("--admin");
    }
    let out = cmd.output().unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    text(&out.stdout).trim().to_owned()
}

/// A git repository `name` (branch a9) holding one spec.
fn git_repo(fixtures: &Path, name: &str, spec: &str) -> SourceRef {
    let dir = fixtures.join("git").join(name);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join(format!("{name}.spec")), spec).unwrap();
    for args in [
        &["init", "-q", "-b", "a9"][..],
        &["add", "-A"],
        &["commit", "-qm", "spec"],
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
    repo(fixtures, name)
}

fn repo(fixtures: &Path, name: &str) -> SourceRef {
    SourceRef::Git {
        url: fixtures.join("git").join(name).display().to_string(),
        reference: Some(GitRef::Auto("a9".into())),
    }
}

async fn built(client: &Client, refs: Vec<SourceRef>) -> Build {
    let b = client
        .create_build(&CreateBuild {
            platform: "almalinux-9".into(),
            arches: vec![Arch::host()],
            refs,
            options: Default::default(),
        })
        .await
        .unwrap();
    let t0 = Instant::now();
    loop {
        let b = client.build(b.id).await.unwrap();
        if b.state().is_final() {
            assert_eq!(b.state(), TaskState::Succeeded, "{b:#?}");
            return b;
        }
        assert!(
            t0.elapsed() < Duration::from_secs(300),
            "the build did not end: {b:#?}"
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

/// Waits until the build's one test task satisfies `f`.
async fn test_task(
    client: &Client,
    build: u64,
    what: &str,
    f: impl Fn(&TestTask) -> bool,
) -> TestTask {
    let t0 = Instant::now();
    loop {
        let tasks = client.build_tests(build).await.unwrap();
        assert!(tasks.len() <= 1, "one arch, one test task: {tasks:#?}");
        if let Some(t) = tasks.into_iter().next()
            && f(&t)
        {
            return t;
        }
        assert!(
            t0.elapsed() < Duration::from_secs(600),
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

fn albs_tests(url: &str, token: &str, args: &[&str]) -> Output {
    Command::new(BIN)
        .args(["tests", "--server", url])
        .args(args)
        .env("ALBS_TOKEN", token)
        .output()
        .unwrap()
}

fn stage<'a>(t: &'a TestTask, name: &str) -> &'a albs_core::test::TestStage {
    t.report
        .as_ref()
        .and_then(|r| r.stages.iter().find(|s| s.name == name))
        .unwrap_or_else(|| panic!("no stage {name} in {t:#?}"))
}

#[tokio::test(flavor = "multi_thread")]
async fn test_tasks_run_on_the_node_fail_on_a_dangling_link_and_restart() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let fixtures = tmp.path().join("fx");
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/make-fixtures.sh");
    let out = Command::new("bash")
        .arg(script)
        .arg(&fixtures)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    let port = free_port();
    let url = format!("http://127.0.0.1:{port}");
    let _server = Proc(
        Command::new(BIN)
            .arg("--data")
            .arg(&data)
            .args([
                "server",
                "--with-node",
                "--listen",
                &format!("127.0.0.1:{port}"),
            ])
            .arg("--lookaside")
            .arg(fixtures.join("lookaside"))
            .env_remove("ALBS_DATABASE_URL")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let anon = Client::new(&url, None);
    let t0 = Instant::now();
    while anon.platforms().await.is_err() {
        assert!(
            t0.elapsed() < Duration::from_secs(30),
            "server did not start"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let admin_token = token(&data, "admin", true);
    let admin = Client::new(&url, Some(admin_token.clone()));
    let bob_token = token(&data, "bob", false);
    let bob = Client::new(&url, Some(bob_token.clone()));

    // The example builds; its test task appears without anyone asking for
    // it: read from the database, not through the API (whose read would
    // also make it).
    let hello = built(&admin, vec![repo(&fixtures, "hello")]).await;
    let store = SqliteStore::open(&data.join("albs.db")).await.unwrap();
    let t1 = Instant::now();
    let made = loop {
        let tasks = store.build_test_tasks(hello.id).await.unwrap();
        if !tasks.is_empty() {
            break tasks;
        }
        assert!(
            t1.elapsed() < Duration::from_secs(30),
            "no test task was made"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(made.len(), 1);
    assert_eq!(made[0].arch, Arch::host());
    store.close().await;

    let passed = test_task(&admin, hello.id, "the hello tests", |t| t.state.is_final()).await;
    assert_eq!(passed.state, TestState::Passed, "{passed:#?}");
    assert_eq!(passed.attempts, 1);
    assert!(passed.node.is_some());
    for name in ["install", "integrity", "uninstall"] {
        let s = stage(&passed, name);
        assert!(s.passed, "{s:#?}");
        assert!(s.tap.contains("\nok "), "{}", s.tap);
    }
    assert!(
        passed.log.contains("stage integrity: passed"),
        "{}",
        passed.log
    );
    assert!(passed.log.contains("downloading hello-"), "{}", passed.log);

    // `albs tests` prints the stages and exits 0 for passed tests.
    let out = albs_tests(&url, &admin_token, &[&hello.id.to_string()]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let printed = text(&out.stdout);
    assert!(printed.contains("passed"), "{printed}");
    assert!(printed.contains("integrity"), "{printed}");
    let out = albs_tests(&url, &admin_token, &[&hello.id.to_string(), "--json"]);
    let json: Vec<TestTask> = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json, vec![passed.clone()]);

    // A package with a dangling symlink fails integrity, naming the link.
    let dangle = git_repo(
        &fixtures,
        "dangle",
        "Name: dangle\nVersion: 1\nRelease: 1\nSummary: s\nLicense: MIT\nBuildArch: noarch\n\
         %description\nd\n%install\nmkdir -p %{buildroot}/usr/share/dangle\n\
         echo hi > %{buildroot}/usr/share/dangle/real\n\
         ln -s ../dangle/missing-target %{buildroot}/usr/share/dangle/broken\n\
         %files\n/usr/share/dangle\n",
    );
    let b = built(&admin, vec![dangle]).await;
    let failed = test_task(&admin, b.id, "the dangle tests", |t| t.state.is_final()).await;
    assert_eq!(failed.state, TestState::Failed, "{failed:#?}");
    assert!(stage(&failed, "install").passed);
    let integrity = stage(&failed, "integrity");
    assert!(!integrity.passed);
    let link = "/usr/share/dangle/broken -> ../dangle/missing-target is dangling";
    assert!(integrity.log.contains(link), "{}", integrity.log);
    assert!(
        failed.log.contains("stage integrity: FAILED"),
        "{}",
        failed.log
    );
    assert!(failed.log.contains(link), "{}", failed.log);
    let out = albs_tests(&url, &admin_token, &[&b.id.to_string()]);
    assert_eq!(out.status.code(), Some(1), "failed tests exit 1");
    assert!(
        text(&out.stdout).contains("FAILED"),
        "{}",
        text(&out.stdout)
    );

    // Only the owner or an admin restarts or cancels.
    for r in [bob.restart_tests(b.id).await, bob.cancel_tests(b.id).await] {
        match r {
            Err(ClientError::Api {
                status: 403,
                message,
                ..
            }) => {
                assert!(message.contains("bob"), "{message}")
            }
            other => panic!("bob got {other:?}"),
        }
    }
    assert!(matches!(
        anon.restart_tests(b.id).await,
        Err(ClientError::Api { status: 401, .. })
    ));
    assert_eq!(
        admin.build_tests(b.id).await.unwrap()[0].state,
        TestState::Failed,
        "the refused calls changed nothing"
    );

    // Restart: back to pending, cleared, and the node runs it again.
    let out = albs_tests(
        &url,
        &admin_token,
        &[&b.id.to_string(), "--restart", "--json"],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let restarted: Vec<TestTask> = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(restarted.len(), 1);
    assert_eq!(restarted[0].state, TestState::Pending);
    assert_eq!(restarted[0].report, None);
    assert_eq!(restarted[0].log, "");
    let again = test_task(&admin, b.id, "the restarted tests", |t| t.state.is_final()).await;
    assert_eq!(again.state, TestState::Failed);
    assert_eq!(again.attempts, 1);
    assert!(again.finished > failed.finished, "it ran again");
    assert!(again.log.contains(link), "{}", again.log);
}

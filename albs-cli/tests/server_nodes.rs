//! A server and build nodes as separate processes on loopback, driven
//! through the real binary and the HTTP client.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use albs_core::api::CreateBuild;
use albs_core::client::Client;
use albs_core::model::{Arch, Build, TaskKind, TaskState};
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

struct Cluster {
    // Fields drop in order: the server stops before its files go.
    _server: Proc,
    _tmp: tempfile::TempDir,
    data: PathBuf,
    fixtures: PathBuf,
    url: String,
    admin: Client,
    admin_token: String,
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

async fn start(lease_secs: u64) -> Cluster {
    start_with(lease_secs, |_| vec![]).await
}

async fn start_with(lease_secs: u64, extra: impl FnOnce(&Path) -> Vec<String>) -> Cluster {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let fixtures = tmp.path().join("fx");
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/make-fixtures.sh");
    let out = Command::new("bash")
        .arg(script)
        .arg(&fixtures)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let extra = extra(&fixtures);
    let port = free_port();
    let url = format!("http://127.0.0.1:{port}");
    let server = Proc(
        Command::new(BIN)
            .args(["--data"])
            .arg(&data)
            .args(["server", "--listen", &format!("127.0.0.1:{port}")])
            .args(["--lease-secs", &lease_secs.to_string()])
            .args(&extra)
            .env_remove("ALBS_DATABASE_URL")
            .stdout(Stdio::null())
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
    let out = Command::new(BIN)
        .arg("--data")
        .arg(&data)
        .args(["token", "create", "--user", "admin", "--admin"])
        .env_remove("ALBS_DATABASE_URL")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let token = String::from_utf8(out.stdout).unwrap().trim().to_owned();
    Cluster {
        _tmp: tmp,
        data,
        fixtures,
        _server: server,
        admin: Client::new(&url, Some(token.clone())),
        admin_token: token,
        url,
    }
}

impl Cluster {
    async fn node(&self, name: &str) -> Proc {
        // Registered through `albs node add`, as an operator does.
        let out = Command::new(BIN)
            .args([
                "node",
                "add",
                "--name",
                name,
                "--arch",
                Arch::host().as_str(),
            ])
            .args(["--server", &self.url])
            .env("ALBS_TOKEN", &self.admin_token)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let token = String::from_utf8(out.stdout).unwrap().trim().to_owned();
        assert!(token.starts_with("albs_"));
        Proc(
            Command::new(BIN)
                .arg("--data")
                .arg(self.data.join(name))
                .args(["node", "run", "--server", &self.url, "--token", &token])
                .arg("--lookaside")
                .arg(self.fixtures.join("lookaside"))
                .env("ALBS_LOG", "info")
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .unwrap(),
        )
    }

    fn repo(&self, name: &str) -> SourceRef {
        SourceRef::Git {
            url: self.fixtures.join("git").join(name).display().to_string(),
            reference: Some(GitRef::Auto("a9".into())),
        }
    }

    /// A package whose %build prints a marker, then sleeps `secs`.
    fn slow_repo(&self, name: &str, secs: u32) -> SourceRef {
        let dir = self.fixtures.join("git").join(name);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(
            dir.join(format!("{name}.spec")),
            format!(
                "Name: {name}\nVersion: 1\nRelease: 1\nSummary: slow\nLicense: MIT\nBuildArch: noarch\n\
                 %description\nslow\n%build\necho started-{name}\nfor i in $(seq {secs}); do echo tick-{name} $i; sh -c 'sleep 1' {name}-marker; done\n\
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
        self.repo(name)
    }

    async fn submit(&self, refs: Vec<SourceRef>) -> Build {
        self.admin
            .create_build(&CreateBuild {
                platform: "almalinux-9".into(),
                arches: vec![Arch::host()],
                refs,
                options: Default::default(),
            })
            .await
            .unwrap()
    }

    async fn wait_for(&self, id: u64, secs: u64, what: &str, f: impl Fn(&Build) -> bool) -> Build {
        let t0 = Instant::now();
        loop {
            let b = self.admin.build(id).await.unwrap();
            if f(&b) {
                return b;
            }
            assert!(
                t0.elapsed() < Duration::from_secs(secs),
                "timed out waiting for {what}: {b:#?}"
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
}

fn processes_with(marker: &str) -> Vec<String> {
    let mut found = Vec::new();
    for e in std::fs::read_dir("/proc").unwrap().flatten() {
        if let Ok(cmd) = std::fs::read(e.path().join("cmdline")) {
            let cmd = String::from_utf8_lossy(&cmd).replace('\0', " ");
            if cmd.contains(marker) && !cmd.contains("server_nodes") {
                found.push(cmd);
            }
        }
    }
    found
}

fn blobs(data: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let root = data.join("artifacts/sha256");
    for d in std::fs::read_dir(root).into_iter().flatten().flatten() {
        for f in std::fs::read_dir(d.path()).into_iter().flatten().flatten() {
            out.push(f.path());
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread")]
async fn two_nodes_build_the_examples_and_survive_a_killed_node() {
    let c = start(3).await;
    let mut nodes = vec![
        ("node-1", c.node("node-1").await),
        ("node-2", c.node("node-2").await),
    ];
    let slow = c.slow_repo("slowpoke", 8);
    let b = c
        .submit(vec![
            c.repo("hello"),
            c.repo("albs-docs"),
            slow,
            c.repo("hello-extras"),
        ])
        .await;
    let is_slow_arch = |t: &albs_core::BuildTask| {
        t.package.as_deref() == Some("slowpoke") && matches!(t.kind, TaskKind::Arch(_))
    };
    // kill -9 the node in the middle of the slow build.
    let running = c
        .wait_for(b.id, 120, "the slow arch task to run", |b| {
            b.tasks
                .iter()
                .any(|t| is_slow_arch(t) && t.state == TaskState::Running)
        })
        .await;
    let holder = running
        .tasks
        .iter()
        .find(|t| is_slow_arch(t))
        .unwrap()
        .node
        .clone()
        .unwrap();
    let i = nodes
        .iter()
        .position(|(n, _)| *n == holder)
        .expect("a known node holds it");
    let (_, mut victim) = nodes.remove(i);
    victim.0.kill().unwrap();
    victim.0.wait().unwrap();

    let done = c
        .wait_for(b.id, 180, "the build to end", |b| b.state().is_final())
        .await;
    assert_eq!(done.state(), TaskState::Succeeded, "{done:#?}");
    let slow_task = done.tasks.iter().find(|t| is_slow_arch(t)).unwrap();
    assert_eq!(
        slow_task.attempts, 2,
        "the slow task ran again after the lease expired"
    );
    assert_ne!(
        slow_task.node.as_deref(),
        Some(holder.as_str()),
        "another node finished it"
    );

    // Every artifact is stored once, under its digest, and nothing else is.
    let mut want: Vec<String> = done
        .tasks
        .iter()
        .flat_map(|t| t.artifacts.iter().map(|a| a.sha256.to_hex()))
        .collect();
    want.sort();
    want.dedup();
    // 4 SRPMs + hello, albs-docs, slowpoke, hello-extras, hello-extras-devel.
    assert_eq!(want.len(), 9, "{done:#?}");
    let mut have: Vec<String> = blobs(&c.data)
        .iter()
        .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    have.sort();
    assert_eq!(have, want, "the store holds each artifact exactly once");
    for p in blobs(&c.data) {
        let (d, _) = albs_core::Sha256::of_reader(std::fs::File::open(&p).unwrap()).unwrap();
        assert_eq!(d.to_hex(), p.file_name().unwrap().to_string_lossy());
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn logs_stream_while_running_and_cancel_stops_rpmbuild() {
    let c = start(10).await;
    let _node = c.node("node-1").await;
    let slow = c.slow_repo("sleeper-albs-cancel", 300);
    let b = c.submit(vec![slow]).await;
    let running = c
        .wait_for(b.id, 120, "the arch task to run", |b| {
            b.tasks
                .iter()
                .any(|t| matches!(t.kind, TaskKind::Arch(_)) && t.state == TaskState::Running)
        })
        .await;
    let task = running
        .tasks
        .iter()
        .find(|t| matches!(t.kind, TaskKind::Arch(_)))
        .unwrap()
        .id;
    // Log lines arrive through the API while rpmbuild still runs.
    let anon = Client::new(&c.url, None);
    let t0 = Instant::now();
    loop {
        let chunk = anon.log(task, 0).await.unwrap();
        if chunk
            .lines
            .iter()
            .any(|l| l.contains("tick-sleeper-albs-cancel 2"))
        {
            assert!(!chunk.done, "the task is still running");
            break;
        }
        assert!(
            t0.elapsed() < Duration::from_secs(60),
            "no live log lines: {chunk:?}"
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    let t0 = Instant::now();
    while processes_with("sleeper-albs-cancel-marker").is_empty() {
        assert!(
            t0.elapsed() < Duration::from_secs(5),
            "the build's processes are visible"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let cancelled_at = Instant::now();
    c.admin.cancel_build(b.id).await.unwrap();
    let done = c
        .wait_for(b.id, 30, "the cancel to reach the node", |b| {
            b.tasks.iter().all(|t| t.state.is_final())
        })
        .await;
    let t = done.tasks.iter().find(|t| t.id == task).unwrap();
    assert_eq!(t.state, TaskState::Cancelled);
    // The loop starts a new marker process every second: none for 3 s
    // means the build is gone.
    let t0 = Instant::now();
    let mut quiet_since = Instant::now();
    while quiet_since.elapsed() < Duration::from_secs(3) {
        if !processes_with("sleeper-albs-cancel-marker").is_empty() {
            quiet_since = Instant::now();
        }
        assert!(
            t0.elapsed() < Duration::from_secs(15),
            "rpmbuild survived the cancel"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    eprintln!("cancel took {:?}", cancelled_at.elapsed());
}

#[tokio::test(flavor = "multi_thread")]
async fn watched_repositories_build_their_new_tags() {
    let c = start_with(30, |fx| {
        let cfg = fx.join("watch.toml");
        std::fs::write(
            &cfg,
            format!(
                "poll_interval = \"200ms\"\n[[repos]]\nurl = \"{}\"\ntag_pattern = \"imports/a9/*\"\nplatform = \"almalinux-9\"\narches = [\"{}\"]\nowner = \"listener\"\n",
                fx.join("git/hello").display(),
                Arch::host()
            ),
        )
        .unwrap();
        vec!["--watch".into(), cfg.display().to_string()]
    })
    .await;
    let t0 = Instant::now();
    let page = loop {
        let page = c.admin.builds(&Default::default()).await.unwrap();
        if !page.builds.is_empty() {
            break page;
        }
        assert!(
            t0.elapsed() < Duration::from_secs(20),
            "the listener made no build"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(page.builds.len(), 1, "one build for the one matching tag");
    let b = c.admin.build(page.builds[0].id).await.unwrap();
    assert_eq!(b.owner, "listener");
    assert_eq!(
        b.refs[0],
        SourceRef::Git {
            url: c.fixtures.join("git/hello").display().to_string(),
            reference: Some(GitRef::Tag("imports/a9/hello-1.0-1".into())),
        }
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn dependency_order_builds_what_a_ref_needs_first() {
    let c = start(30).await;
    let _node = c.node("order-node").await;
    // hello-extras BuildRequires hello; it is listed first on purpose.
    let b = c
        .admin
        .create_build(&CreateBuild {
            platform: "almalinux-9".into(),
            arches: vec![Arch::host()],
            refs: vec![c.repo("hello-extras"), c.repo("albs-docs"), c.repo("hello")],
            options: albs_core::model::BuildOptions {
                dependency_order: true,
                ..Default::default()
            },
        })
        .await
        .unwrap();
    let done = c
        .wait_for(b.id, 240, "the build to end", |b| b.state().is_final())
        .await;
    assert_eq!(done.state(), TaskState::Succeeded, "{done:#?}");
    let arch_task = |pkg: &str| {
        done.tasks
            .iter()
            .find(|t| t.package.as_deref() == Some(pkg) && matches!(t.kind, TaskKind::Arch(_)))
            .unwrap_or_else(|| panic!("an arch task of {pkg}: {done:#?}"))
    };
    let (extras, hello, docs) = (
        arch_task("hello-extras"),
        arch_task("hello"),
        arch_task("albs-docs"),
    );
    assert!(
        extras.depends_on.contains(&hello.id),
        "hello-extras waited for hello's RPMs: {extras:#?}"
    );
    assert!(
        !extras.depends_on.contains(&docs.id) && !hello.depends_on.contains(&extras.id),
        "nothing else was ordered: {done:#?}"
    );
}

//! Helpers of the CLI's end-to-end tests: the real `albs` binary as server,
//! build node and sign node, the example packages as dist-git fixtures.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use albs_core::api::CreateBuild;
use albs_core::client::Client;
use albs_core::model::{Arch, Build};
use albs_core::source::{GitRef, SourceRef};

/// The binary under test.
pub const BIN: &str = env!("CARGO_BIN_EXE_albs");

/// Kills its process when dropped, so a failing test leaves nothing running.
pub struct Proc(pub Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A port nothing listens on now.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// stdout and stderr of a finished command, for messages.
pub fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// Runs `albs ARGS` with the data directory `data`; returns its output.
pub fn albs(data: &Path, args: &[&str], envs: &[(&str, &str)]) -> Output {
    let mut c = Command::new(BIN);
    c.arg("--data").arg(data).args(args);
    c.env_remove("ALBS_DATABASE_URL")
        .env_remove("ALBS_TOKEN")
        .env_remove("ALBS_SIGN_PASSPHRASE");
    for (k, v) in envs {
        c.env(k, v);
    }
    c.output().unwrap()
}

/// Like [`albs`], and the command must succeed; returns its trimmed stdout.
pub fn albs_ok(data: &Path, args: &[&str], envs: &[(&str, &str)]) -> String {
    let out = albs(data, args, envs);
    assert!(out.status.success(), "albs {args:?}: {}", text(&out));
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

/// `albs VERB SUB --server URL REST…` (`args` is `[SUB, REST…]`) with
/// `token` as `ALBS_TOKEN`.
pub fn albs_remote(data: &Path, verb: &str, url: &str, token: &str, args: &[&str]) -> Output {
    let mut all = vec![verb];
    all.extend_from_slice(&args[..1]);
    all.extend_from_slice(&["--server", url]);
    all.extend_from_slice(&args[1..]);
    albs(data, &all, &[("ALBS_TOKEN", token)])
}

/// `albs release ARGS --json` against the server at `url`: the release it
/// prints, or a panic with the command's output.
pub fn release_ok(
    data: &Path,
    url: &str,
    token: &str,
    args: &[&str],
) -> albs_core::release::Release {
    let mut args = args.to_vec();
    args.push("--json");
    let out = albs_remote(data, "release", url, token, &args);
    assert!(
        out.status.success(),
        "albs release {args:?}: {}",
        text(&out)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// The example packages as dist-git repositories and a lookaside store
/// under `dir` (`dir/git/<name>`, `dir/lookaside`).
pub fn make_fixtures(dir: &Path) {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/make-fixtures.sh");
    let out = Command::new("bash").arg(script).arg(dir).output().unwrap();
    assert!(out.status.success(), "{}", text(&out));
}

/// The example package `name` at its `a9` branch.
pub fn example(fixtures: &Path, name: &str) -> SourceRef {
    SourceRef::Git {
        url: fixtures.join("git").join(name).display().to_string(),
        reference: Some(GitRef::Auto("a9".into())),
    }
}

/// A server process with its data directory.
pub struct Server {
    // Fields drop in order: the server stops before its files go.
    _proc: Proc,
    /// The data directory.
    pub data: PathBuf,
    /// Its base URL.
    pub url: String,
}

/// Starts `albs server` on a free port with its data in `data` and waits
/// until it answers.
pub async fn start_server(data: &Path, lease_secs: u64) -> Server {
    let port = free_port();
    let url = format!("http://127.0.0.1:{port}");
    let proc = Proc(
        Command::new(BIN)
            .arg("--data")
            .arg(data)
            .args(["server", "--listen", &format!("127.0.0.1:{port}")])
            .args(["--lease-secs", &lease_secs.to_string()])
            .env_remove("ALBS_DATABASE_URL")
            .stdout(Stdio::null())
            .spawn()
            .unwrap(),
    );
    wait_until_up(&url).await;
    Server {
        _proc: proc,
        data: data.to_path_buf(),
        url,
    }
}

/// Waits until the server at `url` answers.
pub async fn wait_until_up(url: &str) {
    let anon = Client::new(url, None);
    let t0 = Instant::now();
    while anon.platforms().await.is_err() {
        assert!(
            t0.elapsed() < Duration::from_secs(30),
            "server did not start"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

impl Server {
    /// A new user's token (`albs token create`).
    pub fn token(&self, user: &str, admin: bool) -> String {
        let mut args = vec!["token", "create", "--user", user];
        if admin {
            args.push("--admin");
        }
        albs_ok(&self.data, &args, &[])
    }
}

/// Registers a node with `albs node add` (admin token); returns its token.
pub fn node_add(data: &Path, url: &str, admin_token: &str, name: &str) -> String {
    let token = albs_ok(
        data,
        &[
            "node",
            "add",
            "--name",
            name,
            "--arch",
            Arch::host().as_str(),
            "--server",
            url,
        ],
        &[("ALBS_TOKEN", admin_token)],
    );
    assert!(token.starts_with("albs_"), "{token}");
    token
}

/// Runs `albs node run` against `url`.
pub fn run_build_node(work: &Path, url: &str, token: &str, fixtures: &Path) -> Proc {
    Proc(
        Command::new(BIN)
            .arg("--data")
            .arg(work)
            .args(["node", "run", "--server", url, "--token", token])
            .arg("--lookaside")
            .arg(fixtures.join("lookaside"))
            .env("ALBS_LOG", "info")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    )
}

/// Submits the example packages `names` for almalinux-9 on this arch.
pub async fn submit(client: &Client, fixtures: &Path, names: &[&str]) -> Build {
    client
        .create_build(&CreateBuild {
            platform: "almalinux-9".into(),
            arches: vec![Arch::host()],
            refs: names.iter().map(|n| example(fixtures, n)).collect(),
            options: Default::default(),
        })
        .await
        .unwrap()
}

/// Polls build `id` until `f` holds (at most `secs`).
pub async fn wait_for(
    client: &Client,
    id: u64,
    secs: u64,
    what: &str,
    f: impl Fn(&Build) -> bool,
) -> Build {
    let t0 = Instant::now();
    loop {
        let b = client.build(id).await.unwrap();
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

/// Writes `work/dnf.conf` for dnf to read one repository, `albs` at
/// `baseurl`, with package and repository signatures checked against
/// `key_file`; returns its path. The cache goes in `work/cache`.
pub fn dnf_conf_signed_repo(work: &Path, baseurl: &str, key_file: &Path) -> PathBuf {
    std::fs::create_dir_all(work).unwrap();
    let conf = work.join("dnf.conf");
    std::fs::write(
        &conf,
        format!(
            "[main]\nreposdir=/dev/null\ncachedir={}\ngpgcheck=1\nkeepcache=0\n\
             [albs]\nname=albs\nbaseurl={baseurl}\nenabled=1\ngpgcheck=1\n\
             repo_gpgcheck=1\ngpgkey=file://{}\n",
            work.join("cache").display(),
            key_file.display()
        ),
    )
    .unwrap();
    conf
}

//! Errata, SBOMs and provenance served by a real server: a real build node
//! builds an example package, a real sign node signs it, an erratum is
//! created, matched, approved and released through `albs errata`, and
//! OpenSCAP evaluates the server's OVAL feed against an rpm database with
//! the old and then the fixed package. The server's SBOMs pass the
//! CycloneDX and SPDX validators and name the ledger records of the
//! packages; its provenance verifies with the published ledger key.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use albs_core::api::LedgerEntryView;
use albs_core::client::Client;
use albs_core::db::errata::{Erratum, ErratumState};
use albs_core::hash::Sha256;
use albs_core::model::{ArtifactKind, TaskState};
use common::*;

const PASS: &str = "errata-test-passphrase";
const ORIGIN: &str = "albs.test/errata";

/// Runs a command, panicking with its output when it fails; returns stdout.
fn run(cmd: &mut Command) -> String {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("{cmd:?} did not start ({e}): run scripts/setup.sh"));
    assert!(out.status.success(), "{cmd:?} failed:\n{}", text(&out));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A gpg home with one RSA signing key protected by [`PASS`].
struct Gpg {
    home: PathBuf,
    key_id: String,
}

impl Gpg {
    fn new(dir: &Path) -> Self {
        let home = dir.join("gnupg");
        std::fs::create_dir_all(&home).unwrap();
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::set_permissions(&home, std::fs::Permissions::from_mode(0o700)).unwrap();
        let mut g = Gpg {
            home,
            key_id: String::new(),
        };
        g.gpg(&[
            "--quick-gen-key",
            "Errata Test <errata@albs.invalid>",
            "rsa2048",
            "sign",
            "never",
        ]);
        let listing = g.gpg(&["--with-colons", "--list-keys"]);
        let key_id = listing
            .lines()
            .find(|l| l.starts_with("pub:"))
            .and_then(|l| l.split(':').nth(4))
            .expect("gpg lists the key")
            .to_ascii_lowercase();
        g.key_id = key_id;
        g
    }

    fn gpg(&self, args: &[&str]) -> String {
        run(Command::new("gpg")
            .env("GNUPGHOME", &self.home)
            .args([
                "--batch",
                "--pinentry-mode",
                "loopback",
                "--passphrase",
                PASS,
            ])
            .args(args))
    }

    /// The secret key, still encrypted with [`PASS`], as an albs keyring.
    fn keyring(&self, path: &Path) {
        let armored = self.gpg(&["--armor", "--export-secret-keys"]);
        std::fs::write(path, armored).unwrap();
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).unwrap();
    }

    /// Signs with rpmsign: the header and the header+payload (v3)
    /// signatures; OpenSCAP reads the key id from the latter.
    fn sign(&self, rpm: &Path) {
        run(Command::new("rpmsign")
            .env("GNUPGHOME", &self.home)
            .args(["--addsign", "--rpmv3"])
            .args(["--define", "__gpg /usr/bin/gpg"])
            .arg("--define")
            .arg(format!("_gpg_name {}", self.key_id))
            .arg("--define")
            .arg(format!(
                "_gpg_sign_cmd_extra_args --batch --pinentry-mode loopback --passphrase {PASS}"
            ))
            .arg(rpm));
    }
}

impl Drop for Gpg {
    fn drop(&mut self) {
        let _ = Command::new("gpgconf")
            .env("GNUPGHOME", &self.home)
            .args(["--kill", "gpg-agent"])
            .output();
    }
}

/// Builds a noarch package with rpmbuild in its own topdir; returns it.
fn rpmbuild(dir: &Path, name: &str, version: &str, release: &str, file: &str) -> PathBuf {
    let top = dir.join(format!("top-{name}-{version}"));
    std::fs::create_dir_all(top.join("SPECS")).unwrap();
    let spec = format!(
        "Name: {name}\nVersion: {version}\nRelease: {release}\nSummary: test package\nLicense: MIT\nBuildArch: noarch\n\n%description\nA package for the errata test.\n\n%install\nmkdir -p %{{buildroot}}$(dirname {file})\necho '{name} {version}' > %{{buildroot}}{file}\n\n%files\n{file}\n"
    );
    let spec_path = top.join("SPECS").join(format!("{name}.spec"));
    std::fs::write(&spec_path, spec).unwrap();
    run(Command::new("rpmbuild")
        .arg("--define")
        .arg(format!("_topdir {}", top.display()))
        .args(["--define", "_build_id_links none", "-bb"])
        .arg(&spec_path));
    let rpm = top
        .join("RPMS/noarch")
        .join(format!("{name}-{version}-{release}.noarch.rpm"));
    assert!(rpm.exists(), "{} was not built", rpm.display());
    rpm
}

/// An rpm database and a HOME whose `.rpmmacros` points rpm (and so
/// oscap's probes) at it.
struct RpmDb {
    db: PathBuf,
    home: PathBuf,
}

impl RpmDb {
    fn new(dir: &Path) -> Self {
        let (db, home) = (dir.join("rpmdb"), dir.join("home"));
        std::fs::create_dir_all(&db).unwrap();
        std::fs::create_dir_all(&home).unwrap();
        std::fs::write(
            home.join(".rpmmacros"),
            format!("%_dbpath {}\n", db.display()),
        )
        .unwrap();
        let me = RpmDb { db, home };
        run(me.rpm().arg("--initdb"));
        me
    }

    fn rpm(&self) -> Command {
        let mut c = Command::new("rpm");
        c.env("HOME", &self.home).arg("--dbpath").arg(&self.db);
        c
    }

    fn install(&self, rpms: &[&Path]) {
        run(self
            .rpm()
            .args(["-U", "--justdb", "--nodeps", "--noscripts", "--ignoresize"])
            .args(rpms));
    }

    /// `oscap oval eval` of `feed`: definition id → result.
    fn eval(&self, feed: &Path, dir: &Path) -> std::collections::BTreeMap<String, String> {
        let out = run(Command::new("oscap")
            .env("HOME", &self.home)
            .current_dir(dir)
            .args(["oval", "eval", "--results"])
            .arg(dir.join("results.xml"))
            .arg(feed));
        out.lines()
            .filter_map(|l| l.strip_prefix("Definition "))
            .filter_map(|l| l.split_once(": "))
            .map(|(id, r)| (id.to_owned(), r.trim().to_owned()))
            .collect()
    }
}

/// The Python tools venv: `$ALBS_PY_TOOLS` or `target/py-tools`.
fn py_tools() -> PathBuf {
    let venv = std::env::var_os("ALBS_PY_TOOLS")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/py-tools"));
    assert!(
        venv.join("bin/python").exists(),
        "the SBOM validators are missing from {}: run scripts/setup.sh (or scripts/py-tools.sh)",
        venv.display()
    );
    venv
}

const CDX_CHECK: &str = r#"
import sys
from cyclonedx.schema import OutputFormat, SchemaVersion
from cyclonedx.validation import make_schemabased_validator
v = make_schemabased_validator(OutputFormat.JSON, SchemaVersion.V1_5)
errors = v.validate_str(open(sys.argv[1]).read())
if errors:
    print(errors)
    sys.exit(1)
print("valid")
"#;

/// `albs ledger keygen`: (signer key, verifier key).
fn keygen(data: &Path) -> (String, String) {
    let out = albs(data, &["ledger", "keygen", "--name", ORIGIN], &[]);
    assert!(out.status.success(), "{}", text(&out));
    let signer = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    let verifier = String::from_utf8_lossy(&out.stderr)
        .split_whitespace()
        .last()
        .unwrap()
        .to_owned();
    (signer, verifier)
}

/// A server with a local build node, signing with the ledger key `key`.
async fn server(data: &Path, lookaside: &Path, key: &str) -> (Proc, String) {
    let port = free_port();
    let url = format!("http://127.0.0.1:{port}");
    let proc = Proc(
        Command::new(BIN)
            .arg("--data")
            .arg(data)
            .args(["server", "--with-node", "--listen"])
            .arg(format!("127.0.0.1:{port}"))
            .arg("--lookaside")
            .arg(lookaside)
            .env_remove("ALBS_DATABASE_URL")
            .env("ALBS_LEDGER_KEY", key)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    wait_until_up(&url).await;
    (proc, url)
}

/// `albs ARGS --server URL` with `token`; (success, stdout, all output).
fn cli(data: &Path, url: &str, token: &str, args: &[&str]) -> (bool, String, String) {
    let mut all: Vec<&str> = args.to_vec();
    all.extend(["--server", url]);
    let out = albs(data, &all, &[("ALBS_TOKEN", token)]);
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        text(&out),
    )
}

fn erratum(stdout: &str) -> Erratum {
    serde_json::from_str(stdout).unwrap_or_else(|e| panic!("{e}: {stdout}"))
}

async fn get_text(url: &str) -> (u16, String) {
    let r = reqwest::get(url).await.unwrap();
    (r.status().as_u16(), r.text().await.unwrap())
}

#[tokio::test(flavor = "multi_thread")]
async fn errata_released_on_the_server_reach_oval_and_sboms_name_the_ledger() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let (data, fixtures) = (dir.join("data"), dir.join("fx"));
    make_fixtures(&fixtures);
    let (ledger_key, verifier) = keygen(&data);
    let (_server, url) = server(&data, &fixtures.join("lookaside"), &ledger_key).await;
    let admin_token = albs_ok(
        &data,
        &["token", "create", "--user", "admin", "--admin"],
        &[],
    );
    let bob_token = albs_ok(&data, &["token", "create", "--user", "bob"], &[]);
    let admin = Client::new(&url, Some(admin_token.clone()));

    // The fixed package: albs-docs 2.1-3.el9, built by the server's node.
    let b = submit(&admin, &fixtures, &["albs-docs"]).await;
    let b = wait_for(&admin, b.id, 300, "the build to end", |b| {
        b.state().is_final()
    })
    .await;
    assert_eq!(b.state(), TaskState::Succeeded, "{b:#?}");

    // Signed by a sign node with a key the test also holds in gpg, to sign
    // the old package the way the distribution did.
    let gpg = Gpg::new(dir);
    let ring = dir.join("ring.pgp");
    gpg.keyring(&ring);
    let fpr = albs_ok(
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
    assert!(
        fpr.to_ascii_lowercase().ends_with(&gpg.key_id),
        "{fpr} / {}",
        gpg.key_id
    );
    albs_ok(
        &data,
        &["sign", "--server", &url, &b.id.to_string()],
        &[("ALBS_TOKEN", &admin_token)],
    );
    let signer = node_add(&data, &url, &admin_token, "signer-1");
    let out = albs(
        &dir.join("signer"),
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
    let b = admin.build(b.id).await.unwrap();
    let sig = b.signed.clone().expect("the build is signed");
    let task = admin.sign_task(sig.task_id).await.unwrap();
    let signed_rpm = task
        .packages
        .iter()
        .find(|p| p.name.ends_with(".noarch.rpm"))
        .expect("the noarch package was signed");
    let signed_sha = signed_rpm.signed.expect("a signed hash");
    let nevra = "albs-docs-2.1-3.el9.noarch";

    // A draft by bob, matched to the signed package of the build.
    let (ok, stdout, all) = cli(
        &data,
        &url,
        &bob_token,
        &[
            "errata",
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
            "CVE-2026-4242",
            "--json",
        ],
    );
    assert!(ok, "{all}");
    let draft = erratum(&stdout);
    assert_eq!(draft.state, ErratumState::Draft);
    assert!(draft.id.starts_with("ALSA-"), "{}", draft.id);
    assert_eq!(draft.created_by, "bob");
    let id = draft.id.clone();
    let (ok, stdout, all) = cli(
        &data,
        &url,
        &bob_token,
        &[
            "errata",
            "match",
            "--id",
            &id,
            "--want",
            "albs-docs-2.1",
            "--json",
        ],
    );
    assert!(ok, "{all}");
    let matched = erratum(&stdout);
    let pkgs: Vec<String> = matched
        .content
        .packages
        .iter()
        .map(|p| p.nevra.to_string())
        .collect();
    assert!(pkgs.contains(&nevra.to_owned()), "{pkgs:?}");
    let p = matched
        .content
        .packages
        .iter()
        .find(|p| p.nevra.to_string() == nevra)
        .unwrap();
    assert_eq!(p.sha256, Some(signed_sha), "the signed file is listed");
    assert_eq!(p.signing_key.as_deref(), Some(gpg.key_id.as_str()));
    assert_eq!(p.build_id, Some(b.id));
    assert_eq!(p.source_rpm.as_deref(), Some("albs-docs-2.1-3.el9.src.rpm"));

    // Matching refuses a package of another platform, naming it.
    let (ok, stdout, all) = cli(
        &data,
        &url,
        &bob_token,
        &[
            "errata",
            "create",
            "--type",
            "bugfix",
            "--platform",
            "almalinux-8",
            "--title",
            "albs-docs: typo",
            "--description",
            "A typo.",
        ],
    );
    assert!(ok, "{all}");
    let el8 = stdout.trim().to_owned();
    let (ok, _, all) = cli(
        &data,
        &url,
        &bob_token,
        &["errata", "match", "--id", &el8, "--want", "albs-docs-2.1"],
    );
    assert!(!ok, "an almalinux-8 erratum took an almalinux-9 package");
    assert!(
        all.contains("409") && all.contains(nevra) && all.contains("almalinux-9"),
        "{all}"
    );

    // The draft is in no feed; only admins approve and release.
    let oval_url = format!("{url}/api/v1/platforms/almalinux-9/oval.xml");
    let (status, before) = get_text(&oval_url).await;
    assert_eq!(status, 200, "{before}");
    let def = {
        let (year, num) = id["ALSA-".len()..].split_once(':').unwrap();
        format!(
            "oval:org.almalinux.alsa:def:{}",
            year.parse::<u64>().unwrap() * 1_000_000 + num.parse::<u64>().unwrap()
        )
    };
    assert!(!before.contains(&def), "a draft is in the feed: {before}");
    let (ok, _, all) = cli(&data, &url, &bob_token, &["errata", "approve", &id]);
    assert!(!ok && all.contains("403"), "{all}");
    for verb in ["approve", "release"] {
        let (ok, _, all) = cli(&data, &url, &admin_token, &["errata", verb, &id]);
        assert!(ok, "{verb}: {all}");
    }
    let (ok, stdout, all) = cli(&data, &url, &bob_token, &["errata", "get", &id, "--json"]);
    assert!(ok, "{all}");
    let released = erratum(&stdout);
    assert_eq!(released.state, ErratumState::Released);
    assert!(released.released.is_some());
    // Released errata change only by admins.
    let (ok, _, all) = cli(
        &data,
        &url,
        &bob_token,
        &["errata", "edit", &id, "--title", "changed"],
    );
    assert!(!ok && all.contains("403"), "{all}");
    // Anyone reads released errata; drafts only signed-in users.
    let (status, body) = get_text(&format!("{url}/api/v1/errata?platform=almalinux-8")).await;
    assert_eq!((status, body.trim()), (200, "[]"), "drafts are not public");

    // The feed, from the server, as OpenSCAP sees it.
    let feed = dir.join("oval.xml");
    let (ok, _, all) = cli(
        &data,
        &url,
        &bob_token,
        &[
            "errata",
            "export",
            "--platform",
            "almalinux-9",
            "--format",
            "oval",
            "-o",
            feed.to_str().unwrap(),
        ],
    );
    assert!(ok, "{all}");
    let feed_text = std::fs::read_to_string(&feed).unwrap();
    assert!(feed_text.contains(&def), "{feed_text}");
    assert!(!feed_text.contains("el8"), "{feed_text}");
    let (_, again) = get_text(&oval_url).await;
    assert_eq!(again, feed_text, "the same records give the same bytes");
    let out = Command::new("oscap")
        .args(["oval", "validate"])
        .arg(&feed)
        .output()
        .expect("oscap is not installed: run scripts/setup.sh");
    assert!(
        out.status.success(),
        "oscap oval validate: {}\n{feed_text}",
        text(&out)
    );
    let (status, ui) = get_text(&format!(
        "{url}/api/v1/platforms/almalinux-9/updateinfo.xml"
    ))
    .await;
    assert!(
        status == 200 && ui.contains(&id) && ui.contains(nevra),
        "{ui}"
    );
    let (status, osv) = get_text(&format!("{url}/api/v1/platforms/almalinux-9/osv")).await;
    let osv: serde_json::Value = serde_json::from_str(&osv).unwrap();
    assert_eq!(status, 200);
    assert_eq!(osv.as_array().map(Vec::len), Some(1), "{osv}");
    let (status, json) = get_text(&format!("{url}/api/v1/platforms/almalinux-9/errata.json")).await;
    assert!(status == 200 && json.contains(&id), "{json}");

    // The old package installed: vulnerable; the fixed one: not.
    let old = rpmbuild(
        dir,
        "albs-docs",
        "2.0",
        "1.el9",
        "/usr/share/doc/albs-docs/OLD",
    );
    let release = rpmbuild(
        dir,
        "almalinux-release",
        "9.4",
        "1.el9",
        "/etc/almalinux-release",
    );
    // The old package signed by albs itself: OpenSCAP reads the key id the
    // definition asks for from its header+payload signature.
    let pass_file = dir.join("pass");
    std::fs::write(&pass_file, PASS).unwrap();
    let key = albs_sign::Keyring::open(&ring)
        .unwrap()
        .unlock(
            fpr.trim(),
            &albs_sign::Passphrase::from_file(&pass_file).unwrap(),
        )
        .unwrap();
    albs_sign::sign_rpm(&old, &old, &key).unwrap();
    gpg.sign(&release);
    let fixed = dir.join("fixed.rpm");
    admin.download(&signed_sha, &fixed).await.unwrap();
    let db = RpmDb::new(dir);
    db.install(&[&release, &old]);
    let r = db.eval(&feed, dir);
    assert_eq!(
        r.get(&def).map(String::as_str),
        Some("true"),
        "{r:?}\n{}",
        std::fs::read_to_string(dir.join("results.xml")).unwrap_or_default()
    );
    db.install(&[&fixed]);
    let r = db.eval(&feed, dir);
    assert_eq!(r.get(&def).map(String::as_str), Some("false"), "{r:?}");

    // The build's SBOM from the server: valid, and every component is the
    // signed artifact its ledger record names.
    let bid = b.id.to_string();
    let (ok, cdx, all) = cli(&data, &url, &bob_token, &["sbom", "build", &bid]);
    assert!(ok, "{all}");
    let cdx_file = dir.join("build.cdx.json");
    std::fs::write(&cdx_file, &cdx).unwrap();
    let out = Command::new(py_tools().join("bin/python"))
        .args(["-c", CDX_CHECK])
        .arg(&cdx_file)
        .output()
        .unwrap();
    assert!(out.status.success(), "CycloneDX: {}\n{cdx}", text(&out));
    let (ok, spdx, all) = cli(
        &data,
        &url,
        &bob_token,
        &["sbom", "build", &bid, "--format", "spdx"],
    );
    assert!(ok, "{all}");
    let spdx_file = dir.join("build.spdx.json");
    std::fs::write(&spdx_file, &spdx).unwrap();
    let out = Command::new(py_tools().join("bin/pyspdxtools"))
        .arg("-i")
        .arg(&spdx_file)
        .output()
        .unwrap();
    let said = text(&out);
    assert!(
        out.status.success()
            && !said.to_lowercase().contains("invalid")
            && !said.contains("ValidationMessage"),
        "SPDX: {said}"
    );
    let cdx: serde_json::Value = serde_json::from_str(&cdx).unwrap();
    let comps = cdx["components"].as_array().expect("components");
    let signed: Vec<Sha256> = task.packages.iter().filter_map(|p| p.signed).collect();
    assert_eq!(comps.len(), signed.len(), "{cdx}");
    let unsigned: Vec<Sha256> = b
        .tasks
        .iter()
        .flat_map(|t| &t.artifacts)
        .filter(|a| matches!(a.kind, ArtifactKind::Rpm | ArtifactKind::Srpm))
        .map(|a| a.sha256)
        .collect();
    for c in comps {
        let hash: Sha256 = c["hashes"][0]["content"].as_str().unwrap().parse().unwrap();
        assert!(signed.contains(&hash), "{c}");
        assert!(!unsigned.contains(&hash), "{c}");
        let prop = |name: &str| {
            c["properties"]
                .as_array()
                .unwrap()
                .iter()
                .find(|p| p["name"] == name)
                .and_then(|p| p["value"].as_str())
                .unwrap_or_else(|| panic!("{name} missing: {c}"))
                .to_owned()
        };
        let index = prop("albs:ledger:index");
        let record: LedgerEntryView = serde_json::from_str(
            &get_text(&format!("{url}/api/v1/ledger/records/{index}"))
                .await
                .1,
        )
        .unwrap();
        assert_eq!(record.record.artifact, Some(hash), "{c}");
        assert_eq!(record.leaf_hash, prop("albs:ledger:leaf_hash"));
        assert_eq!(record.record.task.build_id, Some(b.id));
    }
    // One package's SBOM, asked by its file.
    let (ok, one, all) = cli(
        &data,
        &url,
        &bob_token,
        &["sbom", "rpm", fixed.to_str().unwrap()],
    );
    assert!(ok, "{all}");
    assert!(one.contains(&signed_sha.to_hex()), "{one}");

    // Provenance signed with the ledger key; one changed byte fails.
    let (ok, env, all) = cli(&data, &url, &bob_token, &["provenance", "build", &bid]);
    assert!(ok, "{all}");
    let env_file = dir.join("provenance.json");
    std::fs::write(&env_file, &env).unwrap();
    let verify = |file: &Path| {
        albs(
            &data,
            &[
                "provenance",
                "verify",
                "--key-from-server",
                &url,
                file.to_str().unwrap(),
                "--rpm",
                fixed.to_str().unwrap(),
            ],
            &[],
        )
    };
    let out = verify(&env_file);
    assert!(out.status.success(), "{}", text(&out));
    let (_, published) = get_text(&format!("{url}/api/v1/ledger/key")).await;
    assert_eq!(published.trim(), verifier);
    let mut e: serde_json::Value = serde_json::from_str(&env).unwrap();
    let payload = e["payload"].as_str().unwrap().to_owned();
    let mut bytes = base64_decode(&payload);
    let at = bytes.len() / 2;
    bytes[at] ^= 1;
    e["payload"] = base64_encode(&bytes).into();
    let bad = dir.join("tampered.json");
    std::fs::write(&bad, serde_json::to_string(&e).unwrap()).unwrap();
    let out = verify(&bad);
    assert!(!out.status.success(), "a changed envelope verified");
    assert!(text(&out).contains("does not verify"), "{}", text(&out));

    // A record the feed cannot render is never approved (so never released
    // and missing from the feed); a package of another platform is refused
    // when set by hand too.
    let http = reqwest::Client::new();
    let (ok, stdout, all) = cli(
        &data,
        &url,
        &bob_token,
        &[
            "errata",
            "create",
            "--type",
            "security",
            "--severity",
            "low",
            "--platform",
            "almalinux-9",
            "--title",
            "albs-docs: unsigned",
            "--description",
            "Unsigned.",
            "--json",
        ],
    );
    assert!(ok, "{all}");
    let second = erratum(&stdout);
    let patch = |body: serde_json::Value| {
        http.patch(format!("{url}/api/v1/errata/{}", second.id))
            .bearer_auth(&bob_token)
            .json(&body)
            .send()
    };
    let mut unsigned_pkg = serde_json::to_value(p).unwrap();
    unsigned_pkg["signing_key"] = serde_json::Value::Null;
    let r = patch(serde_json::json!({ "packages": [unsigned_pkg] }))
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200, "{}", r.text().await.unwrap());
    let (ok, _, all) = cli(
        &data,
        &url,
        &admin_token,
        &["errata", "approve", &second.id],
    );
    assert!(
        !ok && all.contains("409") && all.contains("signing_key"),
        "{all}"
    );
    let mut foreign = serde_json::to_value(p).unwrap();
    foreign["nevra"] = "albs-docs-2.1-3.el8.noarch".into();
    let r = patch(serde_json::json!({ "packages": [foreign] }))
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 409);
    let msg = r.text().await.unwrap();
    assert!(
        msg.contains("albs-docs-2.1-3.el8.noarch") && msg.contains("el8"),
        "{msg}"
    );
    let (_, after) = get_text(&oval_url).await;
    assert_eq!(after, feed_text, "drafts leave the feed as it was");

    // A private product's build: its SBOM, provenance and package SBOMs
    // exist for members and admins only. (Built before the product is
    // registered as private: build nodes fetch sources as readers.)
    let mut req = albs_core::api::CreateBuild {
        platform: "almalinux-9".into(),
        arches: vec![albs_core::model::Arch::host()],
        refs: vec![example(&fixtures, "albs-docs")],
        options: Default::default(),
    };
    req.options.product = Some("secret".into());
    let hidden = admin.create_build(&req).await.unwrap();
    let hidden = wait_for(&admin, hidden.id, 300, "the private build", |b| {
        b.state().is_final()
    })
    .await;
    assert_eq!(hidden.state(), TaskState::Succeeded, "{hidden:#?}");
    let r = http
        .post(format!("{url}/api/v1/products"))
        .bearer_auth(&admin_token)
        .json(&serde_json::json!({"name": "secret", "private": true}))
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success(), "{}", r.text().await.unwrap());
    let rpm = hidden
        .tasks
        .iter()
        .flat_map(|t| &t.artifacts)
        .find(|a| a.kind == ArtifactKind::Rpm)
        .unwrap()
        .sha256;
    for path in [
        format!("/api/v1/builds/{}/sbom", hidden.id),
        format!("/api/v1/builds/{}/provenance", hidden.id),
        format!("/api/v1/artifacts/{rpm}/sbom"),
    ] {
        let get = |token: &str| http.get(format!("{url}{path}")).bearer_auth(token).send();
        assert_eq!(
            get(&bob_token).await.unwrap().status().as_u16(),
            404,
            "{path}"
        );
        assert_eq!(
            get(&admin_token).await.unwrap().status().as_u16(),
            200,
            "{path}"
        );
    }

    // Anonymous readers see released data but write nothing.
    let anon = reqwest::Client::new()
        .post(format!("{url}/api/v1/errata"))
        .json(&serde_json::json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(anon.status().as_u16(), 401);
}

const B64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

fn base64_decode(s: &str) -> Vec<u8> {
    let mut out = Vec::new();
    let (mut acc, mut bits) = (0u32, 0);
    for c in s.bytes().filter(|&c| c != b'=') {
        let v = B64.iter().position(|&b| b == c).expect("base64") as u32;
        acc = (acc << 6) | v;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    out
}

fn base64_encode(data: &[u8]) -> String {
    let mut out = String::new();
    for chunk in data.chunks(3) {
        let n = chunk.len();
        let v = (u32::from(chunk[0]) << 16)
            | (u32::from(*chunk.get(1).unwrap_or(&0)) << 8)
            | u32::from(*chunk.get(2).unwrap_or(&0));
        for i in 0..4 {
            if i <= n {
                out.push(B64[((v >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

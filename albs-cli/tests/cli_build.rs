//! `albs build` as a user runs it: the real binary on the example packages.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn albs(data: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_albs"))
        .arg("--data")
        .arg(data)
        .args(args)
        .env_remove("ALBS_DATA")
        .output()
        .expect("albs runs")
}

fn examples(dir: &Path) -> (PathBuf, PathBuf) {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/make-fixtures.sh");
    let out = Command::new("bash").arg(script).arg(dir).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    (dir.join("git"), dir.join("lookaside"))
}

#[test]
fn build_examples_prints_what_it_produced() {
    let tmp = tempfile::tempdir().unwrap();
    let (git, lookaside) = examples(&tmp.path().join("fx"));
    let data = tmp.path().join("data");
    let repos: Vec<String> = ["hello-extras", "albs-docs", "hello"]
        .iter()
        .map(|n| git.join(n).display().to_string())
        .collect();
    let mut args = vec!["build", "--json", "--ref", "a9", "--lookaside"];
    let lookaside = lookaside.display().to_string();
    args.push(&lookaside);
    args.extend(repos.iter().map(String::as_str));
    let out = albs(&data, &args);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "albs build failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let json: serde_json::Value = serde_json::from_str(&stdout).expect("--json prints JSON");
    let files = json["files"].as_array().unwrap();
    // 3 SRPMs, hello, albs-docs, hello-extras, hello-extras-devel.
    assert_eq!(files.len(), 7, "{files:#?}");
    for f in files {
        let path = f["path"].as_str().unwrap();
        let name = f["name"].as_str().unwrap();
        assert!(path.ends_with(name), "{path} is named after the package");
        assert_eq!(f["sha256"].as_str().unwrap().len(), 64);
        for check in [&["-K", "--nosignature"][..], &["-qpi"][..]] {
            let r = Command::new("rpm").args(check).arg(path).output().unwrap();
            assert!(
                r.status.success(),
                "rpm {check:?} {path}: {}",
                String::from_utf8_lossy(&r.stderr)
            );
        }
    }
    assert_eq!(json["ledger_size"], 10);

    // The ledger knows each artifact.
    let sha = files[0]["sha256"].as_str().unwrap();
    let found = albs(&data, &["ledger", "find", sha, "--json"]);
    assert!(found.status.success());
    let recs: serde_json::Value = serde_json::from_slice(&found.stdout).unwrap();
    assert_eq!(recs[0]["record"]["artifact"], sha);
}

#[test]
fn bad_input_is_named() {
    let tmp = tempfile::tempdir().unwrap();
    let out = albs(
        tmp.path(),
        &["build", "--platform", "fedora-99", "/nonexistent"],
    );
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("fedora-99") && err.contains("almalinux-9"),
        "{err}"
    );

    let out = albs(tmp.path(), &["build", "/nonexistent/repo"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("/nonexistent/repo"));

    let out = albs(
        tmp.path(),
        &["build", "--arch", "../x", tmp.path().to_str().unwrap()],
    );
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("../x"));

    let out = albs(tmp.path(), &["ledger", "find", "nothex"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("nothex"));
}

#[test]
fn platform_list_shows_the_bundled_platforms() {
    let tmp = tempfile::tempdir().unwrap();
    let out = albs(tmp.path(), &["platform", "list"]);
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    for p in ["almalinux-8", "almalinux-9", "almalinux-10", ".el9"] {
        assert!(text.contains(p), "{text}");
    }
}

fn ok(out: &Output) -> String {
    assert!(
        out.status.success(),
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn ledger_records_verify_offline_and_the_log_only_grows() {
    let tmp = tempfile::tempdir().unwrap();
    let (git, lookaside) = examples(&tmp.path().join("fx"));
    let data = tmp.path().join("data");
    let look = lookaside.display().to_string();
    let build = |name: &str| {
        let repo = git.join(name).display().to_string();
        ok(&albs(
            &data,
            &["build", "--no-test", "--lookaside", &look, &repo],
        ));
    };
    build("albs-docs");

    let keygen = albs(&data, &["ledger", "keygen", "--name", "albs.test/ledger"]);
    let signer_key = ok(&keygen).trim().to_owned();
    let stderr = String::from_utf8_lossy(&keygen.stderr);
    let verifier = stderr.trim().rsplit(' ').next().unwrap().to_owned();
    assert!(verifier.starts_with("albs.test/ledger+"), "{stderr}");

    let checkpoint = |file: &str| {
        let out = Command::new(env!("CARGO_BIN_EXE_albs"))
            .arg("--data")
            .arg(&data)
            .args(["ledger", "checkpoint"])
            .env("ALBS_LEDGER_KEY", &signer_key)
            .output()
            .unwrap();
        let note = ok(&out);
        assert!(
            !note.contains("PRIVATE"),
            "the key never leaks into the note"
        );
        let path = tmp.path().join(file);
        std::fs::write(&path, note).unwrap();
        path.display().to_string()
    };
    let cp1 = checkpoint("cp1");
    let proof = tmp.path().join("proof.json");
    std::fs::write(&proof, ok(&albs(&data, &["ledger", "prove", "1"]))).unwrap();
    let p = proof.display().to_string();
    let verify = |cp: &str, proof: &str| {
        albs(
            &data,
            &[
                "ledger",
                "verify",
                "--checkpoint",
                cp,
                "--key",
                &verifier,
                "--proof",
                proof,
            ],
        )
    };
    assert!(ok(&verify(&cp1, &p)).contains("record 1 is in albs.test/ledger"));

    // A record changed after it was logged does not verify.
    let mut bundle: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&proof).unwrap()).unwrap();
    let rec = bundle["record"]
        .as_str()
        .unwrap()
        .replace("\"srpm\"", "\"rpm\"");
    assert_ne!(rec, bundle["record"].as_str().unwrap());
    bundle["record"] = rec.into();
    let forged = tmp.path().join("forged.json");
    std::fs::write(&forged, bundle.to_string()).unwrap();
    let out = verify(&cp1, forged.to_str().unwrap());
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("not in the log"));

    // A checkpoint signed by another key is refused.
    let other = albs(&data, &["ledger", "keygen", "--name", "albs.test/ledger"]);
    let other_verifier = String::from_utf8_lossy(&other.stderr)
        .trim()
        .rsplit(' ')
        .next()
        .unwrap()
        .to_owned();
    let out = albs(
        &data,
        &[
            "ledger",
            "verify",
            "--checkpoint",
            &cp1,
            "--key",
            &other_verifier,
            "--proof",
            &p,
        ],
    );
    assert!(!out.status.success());

    // The log grows; the new checkpoint extends the old one.
    build("hello-extras");
    let cp2 = checkpoint("cp2");
    let size = |cp: &str| -> String {
        std::fs::read_to_string(cp)
            .unwrap()
            .lines()
            .nth(1)
            .unwrap()
            .to_owned()
    };
    let (s1, s2) = (size(&cp1), size(&cp2));
    assert_ne!(s1, s2);
    let cons = tmp.path().join("cons.json");
    std::fs::write(
        &cons,
        ok(&albs(&data, &["ledger", "consistency", &s1, &s2])),
    )
    .unwrap();
    let c = cons.display().to_string();
    let audit = |old: &str, new: &str| {
        albs(
            &data,
            &[
                "ledger", "audit", "--old", old, "--new", new, "--key", &verifier, "--proof", &c,
            ],
        )
    };
    assert!(ok(&audit(&cp1, &cp2)).contains("only grew"));
    // Swapped checkpoints do not match the proof.
    assert!(!audit(&cp2, &cp1).status.success());
}

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

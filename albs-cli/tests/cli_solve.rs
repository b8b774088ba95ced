//! `albs solve` on a small rpm-md repository written by the test.

use std::path::Path;
use std::process::{Command, Output};

fn pkg(name: &str, provides: &[&str], requires: &[&str]) -> String {
    let entries = |tag: &str, names: &[&str]| {
        if names.is_empty() {
            return String::new();
        }
        let e: String = names
            .iter()
            .map(|n| format!("<rpm:entry name=\"{n}\"/>"))
            .collect();
        format!("<rpm:{tag}>{e}</rpm:{tag}>")
    };
    format!(
        "<package type=\"rpm\"><name>{name}</name><arch>x86_64</arch>\
         <version epoch=\"0\" ver=\"1.0\" rel=\"1\"/><format>{}{}</format></package>",
        entries("provides", provides),
        entries("requires", requires)
    )
}

fn repo(dir: &Path) -> String {
    let body = [
        pkg("app", &["app"], &["libfoo"]),
        pkg("foo", &["foo", "libfoo"], &[]),
        pkg("broken", &["broken"], &["nothing-has-this"]),
    ]
    .concat();
    let xml = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<metadata xmlns=\"http://linux.duke.edu/metadata/common\" \
         xmlns:rpm=\"http://linux.duke.edu/metadata/rpm\" packages=\"3\">{body}</metadata>\n"
    );
    let path = dir.join("primary.xml");
    std::fs::write(&path, xml).unwrap();
    path.display().to_string()
}

fn albs(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_albs"))
        .args(args)
        .output()
        .unwrap()
}

#[test]
fn install_closure_and_check_on_a_small_repository() {
    let tmp = tempfile::tempdir().unwrap();
    let r = repo(tmp.path());

    let out = albs(&["solve", "install", "app", "--repo", &r, "--json"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let names: Vec<&str> = v["install"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_str().unwrap())
        .collect();
    assert_eq!(names, ["app-1.0-1.x86_64", "foo-1.0-1.x86_64"]);

    let out = albs(&["solve", "install", "broken", "--repo", &r]);
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("nothing-has-this"),
        "the reason names the missing dependency"
    );

    let out = albs(&["solve", "closure", "--repo", &r]);
    assert!(!out.status.success());
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "broken-1.0-1.x86_64: nothing provides nothing-has-this"
    );

    let out = albs(&["solve", "check", "--repo", &r, "--json"]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v.as_array().unwrap().len(), 1);
    assert_eq!(v[0]["package"], "broken-1.0-1.x86_64");

    // A malformed repository is named in the error.
    let bad = tmp.path().join("bad.xml");
    std::fs::write(&bad, "<metadata><package>").unwrap();
    let out = albs(&["solve", "closure", "--repo", bad.to_str().unwrap()]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("bad.xml"));
}

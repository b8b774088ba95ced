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

/// Builds `NAME-1.0-1.src.rpm` from a tiny spec with the given BuildRequires;
/// `None` when rpmbuild is not installed.
fn srpm(top: &Path, name: &str, build_requires: &[&str]) -> Option<String> {
    let spec = top.join(format!("{name}.spec"));
    let br: String = build_requires
        .iter()
        .map(|b| format!("BuildRequires: {b}\n"))
        .collect();
    std::fs::write(
        &spec,
        format!(
            "Name: {name}\nVersion: 1.0\nRelease: 1\nSummary: t\nLicense: MIT\n{br}\
             %description\nt\n%files\n"
        ),
    )
    .unwrap();
    let out = Command::new("rpmbuild")
        .args(["-bs", "--nodeps", "--define"])
        .arg(format!("_topdir {}", top.display()))
        .arg(&spec)
        .output()
        .ok()?;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let path = top.join(format!("SRPMS/{name}-1.0-1.src.rpm"));
    assert!(path.exists(), "{} built", path.display());
    Some(path.display().to_string())
}

#[test]
fn order_of_source_rpms_built_by_rpmbuild() {
    let tmp = tempfile::tempdir().unwrap();
    let top = tmp.path();
    let Some(c) = srpm(top, "c", &["b", "make"]) else {
        eprintln!("rpmbuild is not installed: skipped");
        return;
    };
    let b = srpm(top, "b", &["a >= 1.0"]).unwrap();
    let a = srpm(top, "a", &[]).unwrap();
    let x = srpm(top, "x", &["y"]).unwrap();
    let y = srpm(top, "y", &["x", "a > 2"]).unwrap();

    let out = albs(&["solve", "order", &c, &b, &a, &y, &x]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(
        lines,
        [
            "1 a (stage 0)",
            "2 b (stage 1)",
            "3 c (stage 2)",
            "4 x (stage 0) [cycle 1: x y; bootstrap without y]",
            "5 y (stage 0) [cycle 1: x y]",
        ],
        "{text}"
    );

    let out = albs(&["solve", "order", &c, &b, &a, &y, &x, "--json"]);
    assert!(out.status.success());
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["cycles"], serde_json::json!([["x", "y"]]));
    let external: Vec<String> = v["external"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            format!(
                "{} {}",
                e["package"].as_str().unwrap(),
                e["requires"].as_str().unwrap()
            )
        })
        .collect();
    // `a > 2` is not met by a-1.0-1, `make` by nothing: neither makes an edge.
    assert_eq!(external, ["c make", "y a > 2"]);
    assert!(
        v["steps"][0]["bootstrap_without"]
            .as_array()
            .unwrap()
            .is_empty()
    );

    // --produces declares subpackages: c's BuildRequires on b-devel binds to b.
    let d = srpm(top, "d", &["b-devel"]).unwrap();
    let out = albs(&[
        "solve",
        "order",
        &d,
        &b,
        "--produces",
        "b=b,b-devel",
        "--json",
    ]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["steps"][0]["name"], "b");
    assert_eq!(v["steps"][1]["name"], "d");
    assert_eq!(v["edges"][0]["requires"], "b-devel");

    // --produces for a package that is not given is refused.
    let out = albs(&["solve", "order", &d, "--produces", "bb=b-devel"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("bb"));

    // A file that is not an RPM is named in the error.
    let junk = top.join("junk.src.rpm");
    std::fs::write(&junk, "nope").unwrap();
    let out = albs(&["solve", "order", junk.to_str().unwrap()]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("junk.src.rpm"));
}

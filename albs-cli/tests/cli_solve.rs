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

/// A primary.xml of `(name, version, arch, deps)` packages; deps are
/// `R:x`, `P:x`, `O:x` (unversioned, or `name OP ver` with `OP` one of
/// `GE`, `LT`, `EQ` written as `x GE 2`).
fn primary(path: &Path, pkgs: &[(&str, &str, &str, &[&str])]) -> String {
    let mut body = String::new();
    for (name, ver, arch, deps) in pkgs {
        let mut format = String::new();
        for (k, tag) in [("P", "provides"), ("R", "requires"), ("O", "obsoletes")] {
            let list: Vec<String> = deps
                .iter()
                .filter_map(|d| d.strip_prefix(&format!("{k}:")))
                .map(|d| match d.split(' ').collect::<Vec<_>>().as_slice() {
                    [n, op, v] => {
                        format!("<rpm:entry name=\"{n}\" flags=\"{op}\" epoch=\"0\" ver=\"{v}\"/>")
                    }
                    _ => format!("<rpm:entry name=\"{d}\"/>"),
                })
                .collect();
            if !list.is_empty() {
                format += &format!("<rpm:{tag}>{}</rpm:{tag}>", list.concat());
            }
        }
        body += &format!(
            "<package type=\"rpm\"><name>{name}</name><arch>{arch}</arch>\
             <version epoch=\"0\" ver=\"{ver}\" rel=\"1\"/><format>{format}</format></package>\n"
        );
    }
    std::fs::write(
        path,
        format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<metadata xmlns=\"http://linux.duke.edu/metadata/common\" \
             xmlns:rpm=\"http://linux.duke.edu/metadata/rpm\" packages=\"{}\">\n{body}</metadata>\n",
            pkgs.len()
        ),
    )
    .unwrap();
    path.display().to_string()
}

fn ok_stdout(out: &Output) -> String {
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn erase_and_update_on_an_installed_system() {
    let tmp = tempfile::tempdir().unwrap();
    let installed = primary(
        &tmp.path().join("installed.xml"),
        &[
            ("lib", "1", "x86_64", &["P:libfoo"]),
            ("app", "1", "x86_64", &["R:libfoo"]),
            ("kernel", "5.14", "x86_64", &[]),
            ("old", "1", "noarch", &[]),
        ],
    );
    let repo = primary(
        &tmp.path().join("repo.xml"),
        &[
            ("lib", "1", "x86_64", &["P:libfoo"]),
            ("lib", "2", "x86_64", &["P:libfoo"]),
            ("lib", "3", "i686", &["P:libfoo"]),
            ("app", "1", "x86_64", &["R:libfoo"]),
            ("app", "2", "x86_64", &["R:lib GE 2"]),
            ("kernel", "5.14", "x86_64", &[]),
            ("kernel", "5.15", "x86_64", &[]),
            ("new", "2", "noarch", &["O:old LT 2", "P:old EQ 2"]),
        ],
    );
    // update everything: the highest x86_64 lib, app, a second kernel, old
    // obsoleted by new.
    let text = ok_stdout(&albs(&[
        "solve",
        "update",
        "--repo",
        &repo,
        "--installed",
        &installed,
    ]));
    assert_eq!(
        text.lines().collect::<Vec<_>>(),
        [
            "upgrade app-1-1.x86_64 -> app-2-1.x86_64",
            "install kernel-5.15-1.x86_64",
            "upgrade lib-1-1.x86_64 -> lib-2-1.x86_64",
            "install new-2-1.noarch (obsoletes old-1-1.noarch)",
        ],
        "{text}"
    );
    // The same system given as NEVRAs found in the repository, as JSON.
    let nevras = tmp.path().join("installed.txt");
    std::fs::write(
        &nevras,
        "# rpm -qa\nlib-1-1.x86_64\napp-0:1-1.x86_64\nkernel-5.14-1.x86_64\n",
    )
    .unwrap();
    let nevras = nevras.display().to_string();
    let v: serde_json::Value = serde_json::from_str(&ok_stdout(&albs(&[
        "solve",
        "update",
        "lib",
        "--repo",
        &repo,
        "--installed-nevras",
        &nevras,
        "--json",
    ])))
    .unwrap();
    assert_eq!(
        v["transaction"],
        serde_json::json!([
            { "action": "upgrade", "from": "lib-1-1.x86_64", "package": "lib-2-1.x86_64" }
        ])
    );
    assert!(
        v["installed_after"]
            .as_array()
            .unwrap()
            .contains(&serde_json::json!("app-1-1.x86_64"))
    );
    // erase: refused while app needs lib, then with app along.
    let out = albs(&[
        "solve",
        "erase",
        "lib",
        "--repo",
        &repo,
        "--installed",
        &installed,
    ]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("cannot erase lib:"), "{err}");
    assert!(err.contains("app-1-1.x86_64 requires libfoo"), "{err}");
    let text = ok_stdout(&albs(&[
        "solve",
        "erase",
        "lib",
        "--repo",
        &repo,
        "--installed",
        &installed,
        "--allow-erasing",
    ]));
    assert_eq!(
        text.lines().collect::<Vec<_>>(),
        ["erase app-1-1.x86_64", "erase lib-1-1.x86_64"]
    );
    // Mistakes are named.
    let out = albs(&["solve", "erase", "lib", "--repo", &repo]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--installed"));
    std::fs::write(tmp.path().join("bad.txt"), "ghost-1-1.x86_64\n").unwrap();
    let bad = tmp.path().join("bad.txt").display().to_string();
    let out = albs(&[
        "solve",
        "update",
        "--repo",
        &repo,
        "--installed-nevras",
        &bad,
    ]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("line 1: installed package ghost-1-1.x86_64 is in none of the repositories"),
        "{err}"
    );
}

/// `albs solve order` on spec files and source trees learns subpackages
/// and provides from rpmspec: hello-extras (BuildRequires: hello >= 1.0)
/// builds after hello, and a package needing hello-extras-devel after
/// hello-extras, with no --produces.
#[test]
fn order_of_specs_and_source_trees() {
    let examples = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/rpms");
    let tmp = tempfile::tempdir().unwrap();
    let plugin = tmp.path().join("plugin.spec");
    std::fs::write(
        &plugin,
        "Name: plugin\nVersion: 1\nRelease: 1%{?dist}\nSummary: t\nLicense: MIT\n\
         BuildRequires: hello-extras-devel = 0.3-1.el9\n%description\nt\n%files\n",
    )
    .unwrap();
    let extras = examples.join("hello-extras");
    let hello = examples.join("hello");
    let out = albs(&[
        "solve",
        "order",
        plugin.to_str().unwrap(),
        extras.to_str().unwrap(),
        hello.join("SPECS/hello.spec").to_str().unwrap(),
        "--json",
    ]);
    let v: serde_json::Value = serde_json::from_str(&ok_stdout(&out)).unwrap();
    let names: Vec<&str> = v["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["hello", "hello-extras", "plugin"]);
    let edges: Vec<String> = v["edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            format!(
                "{} <- {}: {}",
                e["needs"].as_str().unwrap(),
                e["provider"].as_str().unwrap(),
                e["requires"].as_str().unwrap()
            )
        })
        .collect();
    assert_eq!(
        edges,
        [
            "hello-extras <- hello: hello >= 1.0",
            "plugin <- hello-extras: hello-extras-devel = 0.3-1.el9",
        ]
    );
    // Under el8 the dist tag differs, so plugin's exact requires has no
    // provider among the inputs.
    let out = albs(&[
        "solve",
        "order",
        plugin.to_str().unwrap(),
        extras.to_str().unwrap(),
        "--platform",
        "almalinux-8",
        "--json",
    ]);
    let v: serde_json::Value = serde_json::from_str(&ok_stdout(&out)).unwrap();
    assert_eq!(
        v["external"],
        serde_json::json!([
            { "package": "hello-extras", "requires": "hello >= 1.0" },
            { "package": "plugin", "requires": "hello-extras-devel = 0.3-1.el9" }
        ])
    );
    // A directory without a spec is named.
    let out = albs(&["solve", "order", tmp.path().join("..").to_str().unwrap()]);
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("has no spec file"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

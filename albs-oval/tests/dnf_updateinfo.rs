//! dnf reads the updateinfo albs adds to a repository written by
//! `albs_core::repo::write_repo`: with the old package installed in an
//! installroot, `dnf updateinfo list` shows the advisory, and once the fix
//! is installed it does not.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use albs_core::platform::Platforms;
use albs_oval::package::built_package;
use albs_oval::{Advisory, AdvisoryType, Severity, add_to_repo};
use common::{GpgKey, build_docs, run};

/// A repository in `dir` holding `rpms` under `Packages/`.
fn repo(dir: &Path, rpms: &[&Path]) -> PathBuf {
    std::fs::create_dir_all(dir.join("Packages")).unwrap();
    let mut inside = Vec::new();
    for r in rpms {
        let to = dir.join("Packages").join(r.file_name().unwrap());
        std::fs::copy(r, &to).unwrap();
        inside.push(to);
    }
    albs_core::repo::write_repo(dir, &inside).unwrap();
    dir.to_path_buf()
}

/// dnf on `root` with only the repositories in `conf` enabled.
fn dnf(root: &Path, conf: &Path, repos: &[&str], args: &[&str]) -> String {
    let mut c = Command::new("dnf");
    c.arg("-y")
        .arg(format!("--installroot={}", root.display()))
        .arg("--setopt=reposdir=/dev/null")
        .arg(format!("--config={}", conf.display()))
        .arg("--disablerepo=*")
        .arg("--releasever=9");
    for r in repos {
        c.arg(format!("--enablerepo={r}"));
    }
    run(c.args(args))
}

#[test]
fn dnf_lists_the_advisory_for_the_installed_old_version() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let key = GpgKey::new(dir, "distkey");
    let old = build_docs(dir, "2.1", "3.el9");
    let new = build_docs(dir, "2.2", "1.el9");
    key.sign(&old);
    key.sign(&new);

    let base = repo(&dir.join("base"), &[&old]);
    let updates = repo(&dir.join("updates"), &[&new]);
    let fixed = built_package(
        &updates.join("Packages").join(new.file_name().unwrap()),
        "almalinux-9",
    )
    .unwrap();
    let advisory = Advisory {
        id: "ALSA-2026:4100".into(),
        kind: AdvisoryType::Security,
        severity: Some(Severity::Important),
        title: "Important: albs-docs security update".into(),
        description: "The documentation pointed at the wrong place.".into(),
        issued: time::macros::datetime!(2026-11-20 08:00 UTC),
        updated: time::macros::datetime!(2026-11-20 08:00 UTC),
        cves: vec!["CVE-2026-41000".into()],
        references: vec![],
        platform: "almalinux-9".into(),
        module: None,
        packages: vec![fixed.package],
    };
    advisory.validate(&Platforms::bundled()).unwrap();
    let added = add_to_repo(&updates, &[advisory]).unwrap();
    assert_eq!(added.advisories, 1);

    let conf = dir.join("dnf.conf");
    let section = |name: &str, path: &Path| {
        format!(
            "[{name}]\nname={name}\nbaseurl=file://{}\ngpgcheck=1\ngpgkey=file://{}\nrepo_gpgcheck=0\nmetadata_expire=0\n",
            path.display(),
            key.public.display()
        )
    };
    std::fs::write(
        &conf,
        format!(
            "[main]\ncachedir={}\nkeepcache=0\n\n{}\n{}",
            dir.join("cache").display(),
            section("base", &base),
            section("updates", &updates)
        ),
    )
    .unwrap();
    let root = dir.join("root");
    std::fs::create_dir_all(&root).unwrap();
    dnf(&root, &conf, &["base"], &["install", "albs-docs"]);

    let listed = dnf(&root, &conf, &["base", "updates"], &["updateinfo", "list"]);
    assert!(
        listed.contains("ALSA-2026:4100")
            && listed.contains("Important/Sec.")
            && listed.contains("albs-docs-2.2-1.el9.noarch"),
        "dnf updateinfo list:\n{listed}"
    );
    let info = dnf(
        &root,
        &conf,
        &["base", "updates"],
        &["updateinfo", "info", "ALSA-2026:4100"],
    );
    assert!(info.contains("CVE-2026-41000"), "{info}");
    assert!(
        info.contains("Important: albs-docs security update"),
        "{info}"
    );

    // With the fix installed the advisory no longer applies.
    dnf(
        &root,
        &conf,
        &["base", "updates"],
        &["upgrade", "--security"],
    );
    let listed = dnf(&root, &conf, &["base", "updates"], &["updateinfo", "list"]);
    assert!(!listed.contains("ALSA-2026:4100"), "{listed}");
    let all = dnf(
        &root,
        &conf,
        &["base", "updates"],
        &["updateinfo", "list", "--installed"],
    );
    assert!(all.contains("ALSA-2026:4100"), "{all}");
}

//! The OVAL feed checked by OpenSCAP: `oscap oval validate` accepts it and
//! `oscap oval eval` over a test rpm database finds the advisory's packages
//! vulnerable exactly while the old version, signed with the distribution
//! key, is installed on AlmaLinux 9.

mod common;

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

use albs_core::platform::Platforms;
use albs_oval::package::built_package;
use albs_oval::{Advisory, AdvisoryType, Reference, ReferenceKind, Severity, oval_xml};
use common::{GpgKey, RpmDb, build_docs, build_release, run};

fn advisory(id: &str, packages: Vec<albs_oval::AdvisoryPackage>) -> Advisory {
    Advisory {
        id: id.into(),
        kind: AdvisoryType::Security,
        severity: Some(Severity::Moderate),
        title: "Moderate: albs-docs security update".into(),
        description: "The examples pointed at the wrong place.".into(),
        issued: time::macros::datetime!(2026-11-20 08:00 UTC),
        updated: time::macros::datetime!(2026-11-21 08:00 UTC),
        cves: vec!["CVE-2026-40001".into()],
        references: vec![Reference {
            kind: ReferenceKind::Bugzilla,
            id: "101".into(),
            href: "https://bugs.almalinux.org/view.php?id=101".into(),
            title: String::new(),
        }],
        platform: "almalinux-9".into(),
        module: None,
        packages,
    }
}

/// `oscap oval eval` of `feed` with rpm reading `db`: definition id → result.
fn eval(db: &RpmDb, feed: &Path, dir: &Path) -> BTreeMap<String, String> {
    let out = run(Command::new("oscap")
        .env("HOME", &db.home)
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

#[test]
fn oscap_validates_the_feed_and_evaluates_it_against_an_rpm_database() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let key = GpgKey::new(dir, "distkey");
    let other_key = GpgKey::new(dir, "otherkey");

    let old = build_docs(dir, "2.1", "3.el9");
    let new = build_docs(dir, "2.2", "1.el9");
    let rogue = build_docs(dir, "2.0", "1.el9");
    let release = build_release(dir, "9.4");
    for p in [&old, &new, &release] {
        key.sign(p);
    }
    other_key.sign(&rogue);

    // The key id albs reads from the header is the one rpm shows.
    let fixed = built_package(&new, "almalinux-9").unwrap();
    assert_eq!(
        fixed.package.signing_key.as_deref(),
        Some(key.key_id.as_str())
    );
    let rpm_says = run(Command::new("rpm")
        .args(["-qp", "--qf", "%{RSAHEADER:pgpsig}"])
        .arg(&new));
    assert!(
        rpm_says.ends_with(&format!("Key ID {}", key.key_id)),
        "{rpm_says}"
    );

    let a = advisory("ALSA-2026:4001", vec![fixed.package.clone()]);
    // Another platform's advisory in the same directory stays out of the feed.
    let mut el8 = advisory("ALSA-2026:4002", vec![]);
    el8.platform = "almalinux-8".into();
    let feed_text = oval_xml("almalinux-9", &[a.clone(), el8], &Platforms::bundled()).unwrap();
    let feed = dir.join("oval.xml");
    std::fs::write(&feed, &feed_text).unwrap();

    let out = Command::new("oscap")
        .args(["oval", "validate"])
        .arg(&feed)
        .output()
        .expect("oscap is not installed: run scripts/setup.sh");
    assert!(
        out.status.success(),
        "oscap oval validate refused the feed:\n{}{}\n{feed_text}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );

    let def = "oval:org.almalinux.alsa:def:2026004001";
    let db = RpmDb::new(dir);

    // The old, properly signed package alone: not AlmaLinux 9, so false.
    db.install(&[&old]);
    let r = eval(&db, &feed, dir);
    assert_eq!(
        r.len(),
        1,
        "only the almalinux-9 advisory is in the feed: {r:?}"
    );
    assert_eq!(r[def], "false", "{r:?}");

    // With almalinux-release 9 installed the platform criterion holds.
    db.install(&[&release]);
    assert_eq!(
        db.installed(),
        [
            "albs-docs-2.1-3.el9.noarch",
            "almalinux-release-9.4-1.el9.noarch"
        ]
    );
    let r = eval(&db, &feed, dir);
    assert_eq!(
        r[def],
        "true",
        "{r:?}\n{}",
        std::fs::read_to_string(dir.join("results.xml")).unwrap()
    );

    // Fixed version installed: no longer vulnerable.
    db.install(&[&new]);
    let r = eval(&db, &feed, dir);
    assert_eq!(r[def], "false", "{r:?}");
}

#[test]
fn a_package_signed_with_another_key_is_not_reported() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let key = GpgKey::new(dir, "distkey");
    let other_key = GpgKey::new(dir, "otherkey");
    let rogue = build_docs(dir, "2.0", "1.el9");
    let old = build_docs(dir, "2.1", "3.el9");
    let new = build_docs(dir, "2.2", "1.el9");
    let release = build_release(dir, "9.4");
    key.sign(&new);
    key.sign(&old);
    key.sign(&release);
    other_key.sign(&rogue);

    let fixed = built_package(&new, "almalinux-9").unwrap();
    let a = advisory("ALSA-2026:4003", vec![fixed.package]);
    let feed = dir.join("oval.xml");
    std::fs::write(
        &feed,
        oval_xml("almalinux-9", &[a], &Platforms::bundled()).unwrap(),
    )
    .unwrap();
    let def = "oval:org.almalinux.alsa:def:2026004003";
    let db = RpmDb::new(dir);
    db.install(&[&release, &rogue]);
    // An older albs-docs, but not signed with the distribution key.
    assert_eq!(eval(&db, &feed, dir)[def], "false");
    let results = std::fs::read_to_string(dir.join("results.xml")).unwrap();
    let other = format!(
        "<lin-sys:signature_keyid>{}</lin-sys:signature_keyid>",
        other_key.key_id
    );
    assert!(results.contains(&other), "{results}");
    // The same kind of package signed with the distribution key is reported.
    db.install(&[&old]);
    assert_eq!(eval(&db, &feed, dir)[def], "true");
}

#[test]
fn openscap_reads_the_key_id_from_the_v3_signature_only() {
    // OpenSCAP's rpminfo probe takes signature_keyid from the header+payload
    // signature (SIGPGP/SIGGPG); a package with only rpm 4.18's header
    // signature reports key id 0, so the "signed with" criterion fails and
    // the advisory is never reported. Packages must carry both signatures.
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let key = GpgKey::new(dir, "distkey");
    let old = build_docs(dir, "2.1", "3.el9");
    let new = build_docs(dir, "2.2", "1.el9");
    let release = build_release(dir, "9.4");
    key.sign(&new);
    key.sign(&release);
    key.sign_with(&old, false);
    let fixed = built_package(&new, "almalinux-9").unwrap();
    let a = advisory("ALSA-2026:4005", vec![fixed.package]);
    let feed = dir.join("oval.xml");
    std::fs::write(
        &feed,
        oval_xml("almalinux-9", &[a], &Platforms::bundled()).unwrap(),
    )
    .unwrap();
    let def = "oval:org.almalinux.alsa:def:2026004005";
    let db = RpmDb::new(dir);
    db.install(&[&release, &old]);
    assert_eq!(eval(&db, &feed, dir)[def], "false");
    let results = std::fs::read_to_string(dir.join("results.xml")).unwrap();
    assert!(
        results.contains("<lin-sys:signature_keyid>0</lin-sys:signature_keyid>"),
        "{results}"
    );
}

#[test]
fn an_almalinux_8_release_does_not_satisfy_the_almalinux_9_criterion() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let key = GpgKey::new(dir, "distkey");
    let old = build_docs(dir, "2.1", "3.el9");
    let new = build_docs(dir, "2.2", "1.el9");
    let release8 = build_release(dir, "8.10");
    for p in [&old, &new, &release8] {
        key.sign(p);
    }
    let fixed = built_package(&new, "almalinux-9").unwrap();
    let a = advisory("ALSA-2026:4004", vec![fixed.package]);
    let feed = dir.join("oval.xml");
    std::fs::write(
        &feed,
        oval_xml("almalinux-9", &[a], &Platforms::bundled()).unwrap(),
    )
    .unwrap();
    let def = "oval:org.almalinux.alsa:def:2026004004";
    let db = RpmDb::new(dir);
    db.install(&[&release8, &old]);
    assert_eq!(eval(&db, &feed, dir)[def], "false");
    let release9 = build_release(dir, "9.4");
    key.sign(&release9);
    db.install(&[&release9]);
    assert_eq!(eval(&db, &feed, dir)[def], "true");
}

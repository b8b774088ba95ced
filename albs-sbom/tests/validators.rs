//! SBOMs and provenance checked by outside tools: cyclonedx-python-lib's
//! strict JSON-schema (and XML-schema) validator, spdx-tools' `pyspdxtools`,
//! `sha256sum` for the hashes, and the ledger's own checkpoint verification.

use std::path::{Path, PathBuf};
use std::process::Command;

use albs_core::checkpoint::{CheckpointSigner, verify, verify_record};
use albs_core::hash::Sha256;
use albs_core::ledger::{Entry, Inputs, LedgerRecord, RecordKind, TaskInfo, leaf_hash};
use albs_core::source::{GitRef, SourceRef};
use albs_sbom::{Component, Subject, cyclonedx, provenance, spdx};
use albs_tests::fixtures::{rpmbuild, workspace_root};

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

/// Runs a validator; Ok(stdout) when it accepts, Err(output) when not.
fn tool(cmd: &mut Command) -> Result<String, String> {
    let out = cmd.output().expect("validator runs");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    if out.status.success() {
        Ok(text)
    } else {
        Err(text)
    }
}

const CDX_CHECK: &str = r#"
import sys
from cyclonedx.schema import OutputFormat, SchemaVersion
from cyclonedx.validation import make_schemabased_validator
fmt = OutputFormat.JSON if sys.argv[1] == "json" else OutputFormat.XML
v = make_schemabased_validator(fmt, SchemaVersion.V1_5)
errors = v.validate_str(open(sys.argv[2]).read())
if errors:
    print(errors)
    sys.exit(1)
print("valid")
"#;

fn cyclonedx_valid(kind: &str, file: &Path) -> Result<String, String> {
    tool(
        Command::new(py_tools().join("bin/python"))
            .args(["-c", CDX_CHECK, kind])
            .arg(file),
    )
}

fn spdx_valid(file: &Path) -> Result<String, String> {
    let out = tool(
        Command::new(py_tools().join("bin/pyspdxtools"))
            .arg("-i")
            .arg(file),
    )?;
    // pyspdxtools exits 0 in some versions even when it lists problems.
    if out.to_lowercase().contains("invalid") || out.contains("ValidationMessage") {
        Err(out)
    } else {
        Ok(out)
    }
}

fn sha256sum(file: &Path) -> String {
    let out = Command::new("sha256sum").arg(file).output().unwrap();
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .next()
        .unwrap()
        .to_owned()
}

fn build_docs(dir: &Path, version: &str) -> PathBuf {
    let top = dir.join(format!("top-{version}"));
    std::fs::create_dir_all(top.join("SOURCES")).unwrap();
    let example = workspace_root().join("examples/rpms/albs-docs");
    std::fs::copy(
        example.join("README.examples"),
        top.join("SOURCES/README.examples"),
    )
    .unwrap();
    let spec = std::fs::read_to_string(example.join("albs-docs.spec"))
        .unwrap()
        .replace("Version:        2.1", &format!("Version:        {version}"))
        .replace("3%{?dist}", "3.el9");
    rpmbuild(&top, "-bb", "albs-docs", &spec).rpm.unwrap()
}

fn ledger_entry(index: u64, sha: Sha256, rpm: &Component) -> Entry {
    let record = LedgerRecord {
        kind: RecordKind::Rpm,
        artifact: Some(sha),
        nevra: Some(rpm.nevra.clone()),
        task: TaskInfo {
            build_id: Some(42),
            task_id: Some(3),
            arch: rpm.nevra.arch.clone(),
            host: "node-1".into(),
            platform: "almalinux-9".into(),
        },
        inputs: Inputs {
            source: SourceRef::Git {
                url: "https://git.almalinux.org/rpms/albs-docs.git".into(),
                reference: Some(GitRef::Branch("a9".into())),
            },
            commit: Some("4b825dc642cb6eb9a060e54bf8d69288fbee4904".into()),
            lookaside: vec![],
            srpm: None,
        },
        time: time::macros::datetime!(2026-11-23 12:00 UTC),
        signature: None,
        release: None,
    };
    Entry {
        index,
        leaf_hash: leaf_hash(&record.canonical_bytes()),
        record,
    }
}

#[test]
fn sboms_pass_the_reference_validators_and_carry_the_file_hashes() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let a = build_docs(dir, "2.1");
    let b = build_docs(dir, "2.2");

    let mut comps = Vec::new();
    for (n, path) in [&a, &b].into_iter().enumerate() {
        let mut c = Component::from_rpm(path, "almalinux-9").unwrap();
        assert_eq!(
            c.sha256.to_hex(),
            sha256sum(path),
            "hash of {}",
            path.display()
        );
        let entry = ledger_entry(n as u64, c.sha256, &c);
        c.attach_ledger(&entry, Some("https://build.almalinux.org/build/42"))
            .unwrap();
        assert_eq!(
            c.ledger.as_ref().unwrap().leaf_hash,
            hex::encode(entry.leaf_hash)
        );
        comps.push((c, entry));
    }
    // A ledger record of another file is refused.
    let mut wrong = comps[0].0.clone();
    let err = wrong.attach_ledger(&comps[1].1, None).unwrap_err();
    assert!(err.to_string().contains("ledger entry 1"), "{err}");

    // A signed checkpoint over the two records, attached to the first.
    let signer = CheckpointSigner::from_seed("ledger.test", [3; 32]).unwrap();
    let leaves: Vec<_> = comps.iter().map(|(_, e)| e.leaf_hash).collect();
    let root = albs_core::ledger::merkle_root(&leaves);
    let note = signer.sign("ledger.test", 2, &root).unwrap();
    comps[0].0.ledger.as_mut().unwrap().checkpoint = Some(note.clone());

    let per_rpm = Subject::Package(Box::new(comps[0].0.clone()));
    let build = Subject::build(
        42,
        "almalinux-9",
        Some("https://build.almalinux.org/build/42".into()),
        comps.iter().map(|(c, _)| c.clone()).collect(),
    );
    for (name, subject) in [("rpm", &per_rpm), ("build", &build)] {
        let cdx = dir.join(format!("{name}.cdx.json"));
        std::fs::write(&cdx, cyclonedx::to_json(subject)).unwrap();
        cyclonedx_valid("json", &cdx).unwrap_or_else(|e| panic!("{name} CycloneDX JSON: {e}"));
        let xml = dir.join(format!("{name}.cdx.xml"));
        std::fs::write(&xml, cyclonedx::to_xml(subject)).unwrap();
        cyclonedx_valid("xml", &xml).unwrap_or_else(|e| panic!("{name} CycloneDX XML: {e}"));
        let sp = dir.join(format!("{name}.spdx.json"));
        std::fs::write(&sp, spdx::to_json(subject)).unwrap();
        spdx_valid(&sp).unwrap_or_else(|e| panic!("{name} SPDX: {e}"));

        // Every component's hash is the file's, and its ledger leaf the record's.
        let doc: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&cdx).unwrap()).unwrap();
        let listed: Vec<&serde_json::Value> = match name {
            "rpm" => vec![&doc["metadata"]["component"]],
            _ => doc["components"].as_array().unwrap().iter().collect(),
        };
        assert_eq!(listed.len(), if name == "rpm" { 1 } else { 2 });
        for c in listed {
            let file = match c["version"].as_str().unwrap() {
                "2.1-3.el9" => &a,
                "2.2-3.el9" => &b,
                v => panic!("unexpected version {v}"),
            };
            assert_eq!(c["hashes"][0]["content"], sha256sum(file));
            let prop = |n: &str| {
                c["properties"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .find(|p| p["name"] == n)
                    .map(|p| p["value"].as_str().unwrap().to_owned())
            };
            let index: u64 = prop("albs:ledger:index").unwrap().parse().unwrap();
            let entry = &comps[index as usize].1;
            assert_eq!(entry.record.artifact.unwrap().to_hex(), sha256sum(file));
            assert_eq!(
                prop("albs:ledger:leaf_hash").unwrap(),
                hex::encode(entry.leaf_hash)
            );
            assert_eq!(prop("albs:build:id").as_deref(), Some("42"));
            assert_eq!(
                prop("albs:source:git_commit").as_deref(),
                Some("4b825dc642cb6eb9a060e54bf8d69288fbee4904")
            );
            if let Some(cp) = prop("albs:ledger:checkpoint") {
                // The checkpoint in the SBOM proves the record is in the log.
                let checkpoint = verify(&cp, &signer.verifier_key()).unwrap();
                let proof = albs_core::merkle::inclusion_proof(&leaves, index, 2).unwrap();
                verify_record(&entry.record.canonical_bytes(), index, &proof, &checkpoint).unwrap();
            }
            assert!(
                c["purl"]
                    .as_str()
                    .unwrap()
                    .starts_with("pkg:rpm/almalinux/albs-docs@")
            );
            assert!(c["purl"].as_str().unwrap().contains("distro=almalinux-9"));
        }
    }

    // The validators are strict: a broken document is refused.
    let bad = dir.join("bad.cdx.json");
    std::fs::write(
        &bad,
        cyclonedx::to_json(&per_rpm).replace("\"SHA-256\"", "\"SHA-257\""),
    )
    .unwrap();
    assert!(cyclonedx_valid("json", &bad).is_err());
    let bad = dir.join("bad.spdx.json");
    std::fs::write(
        &bad,
        spdx::to_json(&per_rpm).replace("\"checksumValue\": \"", "\"checksumValue\": \"zz"),
    )
    .unwrap();
    assert!(
        spdx_valid(&bad).is_err(),
        "pyspdxtools accepted a bad checksum"
    );
}

#[test]
fn provenance_envelope_verifies_with_the_published_key_only() {
    let tmp = tempfile::tempdir().unwrap();
    let a = build_docs(tmp.path(), "2.1");
    let mut c = Component::from_rpm(&a, "almalinux-9").unwrap();
    let entry = ledger_entry(0, c.sha256, &c);
    c.attach_ledger(&entry, None).unwrap();
    let subject = Subject::build(42, "almalinux-9", None, vec![c]);
    let signer = CheckpointSigner::from_seed("provenance.test", [9; 32]).unwrap();
    let statement = provenance::statement(&subject, "https://build.almalinux.org/albs");
    let envelope = serde_json::to_string_pretty(&provenance::sign(&statement, &signer)).unwrap();

    let got = provenance::verify(&envelope, &signer.verifier_key()).unwrap();
    assert!(provenance::covers(
        &got,
        &Sha256::of(&std::fs::read(&a).unwrap())
    ));
    assert_eq!(got["predicateType"], "https://slsa.dev/provenance/v1");
    assert_eq!(
        got["predicate"]["buildDefinition"]["resolvedDependencies"][0]["digest"]["gitCommit"],
        "4b825dc642cb6eb9a060e54bf8d69288fbee4904"
    );

    // Changing any single byte of the envelope's payload or signature fails.
    let env: provenance::Envelope = serde_json::from_str(&envelope).unwrap();
    for field in ["payload", "sig"] {
        let mut e = env.clone();
        let text = if field == "payload" {
            &mut e.payload
        } else {
            &mut e.signatures[0].sig
        };
        let mut bytes = text.clone().into_bytes();
        bytes[10] = if bytes[10] == b'A' { b'B' } else { b'A' };
        *text = String::from_utf8(bytes).unwrap();
        let tampered = serde_json::to_string(&e).unwrap();
        assert!(
            provenance::verify(&tampered, &signer.verifier_key()).is_err(),
            "a changed {field} verified"
        );
    }
    let stranger = CheckpointSigner::from_seed("provenance.test", [10; 32]).unwrap();
    assert!(provenance::verify(&envelope, &stranger.verifier_key()).is_err());
}

#[test]
fn a_build_sbom_from_the_ledger_takes_the_signed_packages() {
    use albs_core::ledger::{Ledger, MemoryLedger, SignatureInfo};
    let tmp = tempfile::tempdir().unwrap();
    let a = build_docs(tmp.path(), "2.1");
    let c = Component::from_rpm(&a, "almalinux-9").unwrap();
    let built = ledger_entry(0, c.sha256, &c).record;
    let mut signed = built.clone();
    signed.kind = RecordKind::SignedRpm;
    signed.artifact = Some(Sha256::of(b"the signed file"));
    signed.signature = Some(SignatureInfo {
        unsigned: c.sha256,
        fingerprint: "AB".repeat(20),
    });
    let mut other = built.clone();
    other.task.build_id = Some(43);
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    rt.block_on(async {
        let ledger = MemoryLedger::new();
        for r in [&built, &signed, &other] {
            ledger.append(r).await.unwrap();
        }
        let comps = albs_sbom::build_components(&ledger, 42, None, Some(("note", 2)))
            .await
            .unwrap();
        assert_eq!(comps.len(), 1);
        assert_eq!(comps[0].sha256, Sha256::of(b"the signed file"));
        let l = comps[0].ledger.as_ref().unwrap();
        assert_eq!(l.index, 1);
        assert_eq!(
            l.checkpoint.as_deref(),
            Some("note"),
            "index 1 is inside a tree of 2"
        );
        let err = albs_sbom::build_components(&ledger, 7, None, None)
            .await
            .unwrap_err();
        assert!(err.to_string().contains("build 7"), "{err}");
    });
}

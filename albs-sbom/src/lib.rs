//! # albs-sbom
//!
//! Software bills of materials and build provenance: CycloneDX 1.5 (JSON and
//! XML) and SPDX 2.3 (JSON) documents for one package or one build, made
//! from RPM files and ledger records, and SLSA v1 provenance (an in-toto
//! Statement v1) in a DSSE envelope signed with an Ed25519 key.
//!
//! Every package carries its purl
//! (`pkg:rpm/almalinux/NAME@VERSION-RELEASE?arch=…&distro=almalinux-N&epoch=…&upstream=SRPM`),
//! a CPE 2.3 name, its sha256 and albs properties: build id and URL, source
//! git URL, ref and commit, ledger index, leaf hash and checkpoint. The
//! same inputs always give the same bytes.
#![deny(missing_docs)]

pub mod component;
pub mod cyclonedx;
pub mod provenance;
pub mod spdx;

pub use albs_core::ledger::LedgerRecord;
pub use component::{BuildInfo, Component, LedgerInfo, SourceInfo, build_components};

use sha1::Digest as _;
use time::OffsetDateTime;

/// Errors of this crate.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SbomError {
    /// A package file could not be read.
    #[error("{path} is not a readable RPM package: {message}")]
    Rpm {
        /// The file.
        path: String,
        /// What went wrong.
        message: String,
    },
    /// A ledger entry does not describe the package.
    #[error("ledger entry {index} cannot describe this package: {why}")]
    Ledger {
        /// Leaf index.
        index: u64,
        /// Why.
        why: String,
    },
    /// A verifier key is malformed.
    #[error(
        "verifier key {key:?} is not usable: {why}; give the <name>+<id>+<key> text albs printed"
    )]
    BadKey {
        /// The key text.
        key: String,
        /// Why.
        why: String,
    },
    /// The envelope is malformed.
    #[error("not a DSSE envelope of an in-toto statement: {why}")]
    BadEnvelope {
        /// Why.
        why: String,
    },
    /// A signature by the key does not verify.
    #[error(
        "the provenance signature by {key} does not verify: the envelope was changed or signed by another key"
    )]
    BadSignature {
        /// The verifier key.
        key: String,
    },
    /// The ledger could not be read.
    #[error("reading the ledger: {0}")]
    LedgerRead(String),
    /// The ledger has no package of the build.
    #[error("the ledger has no package records of build {build_id}; check the build id")]
    NoBuild {
        /// The build.
        build_id: u64,
    },
    /// No signature by the key.
    #[error("the provenance is not signed by {key}")]
    NotSigned {
        /// The verifier key.
        key: String,
    },
}

/// What an SBOM describes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Subject {
    /// One package.
    Package(Box<Component>),
    /// A build and the packages it produced.
    Build {
        /// Build id.
        id: u64,
        /// Platform.
        platform: String,
        /// URL of the build.
        url: Option<String>,
        /// Its packages (see [`Subject::build`]).
        components: Vec<Component>,
    },
}

impl Subject {
    /// A build subject with its packages sorted by NEVRA and listed once
    /// (a noarch package built on several arches appears once per file hash).
    pub fn build(
        id: u64,
        platform: &str,
        url: Option<String>,
        mut components: Vec<Component>,
    ) -> Self {
        components.sort_by(|a, b| a.nevra.cmp(&b.nevra).then(a.sha256.cmp(&b.sha256)));
        components.dedup_by(|a, b| a.sha256 == b.sha256 || a.purl() == b.purl());
        Subject::Build {
            id,
            platform: platform.to_owned(),
            url,
            components,
        }
    }
}

/// RFC 3339 in UTC, seconds precision.
pub(crate) fn rfc3339(t: OffsetDateTime) -> String {
    let t = t.to_offset(time::UtcOffset::UTC);
    t.format(time::macros::format_description!(
        "[year]-[month]-[day]T[hour]:[minute]:[second]Z"
    ))
    .expect("a UTC time formats")
}

/// A name-based (version 5) UUID URN derived from what the document
/// describes, so the same subject always gets the same serial number.
pub(crate) fn serial_number(subject: &Subject) -> String {
    // The URL namespace of RFC 9562.
    const NS: [u8; 16] = [
        0x6b, 0xa7, 0xb8, 0x11, 0x9d, 0xad, 0x11, 0xd1, 0x80, 0xb4, 0x00, 0xc0, 0x4f, 0xd4, 0x30,
        0xc8,
    ];
    let mut name = String::from("albs:sbom:");
    match subject {
        Subject::Package(c) => name.push_str(&c.sha256.to_hex()),
        Subject::Build { id, components, .. } => {
            name.push_str(&format!("build/{id}"));
            for c in components {
                name.push(':');
                name.push_str(&c.sha256.to_hex());
            }
        }
    }
    let mut h = sha1::Sha1::new();
    h.update(NS);
    h.update(name.as_bytes());
    let d = h.finalize();
    let mut b = [0u8; 16];
    b.copy_from_slice(&d[..16]);
    b[6] = (b[6] & 0x0f) | 0x50;
    b[8] = (b[8] & 0x3f) | 0x80;
    let x = hex::encode(b);
    format!(
        "urn:uuid:{}-{}-{}-{}-{}",
        &x[0..8],
        &x[8..12],
        &x[12..16],
        &x[16..20],
        &x[20..32]
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use albs_core::hash::Sha256;

    pub(crate) fn component() -> Component {
        Component {
            nevra: "hello-1:1.0-1.el9.x86_64".parse().unwrap(),
            sha256: Sha256::of(b"hello"),
            platform: "almalinux-9".into(),
            source_rpm: Some("hello-1.0-1.el9.src.rpm".into()),
            license: Some("GPLv2+".into()),
            summary: Some("A greeting".into()),
            time: time::macros::datetime!(2026-11-23 10:00 UTC),
            build: Some(BuildInfo {
                id: 7,
                url: Some("https://build.almalinux.org/build/7".into()),
            }),
            source: Some(SourceInfo {
                url: "https://git.almalinux.org/rpms/hello.git".into(),
                reference: Some("a9".into()),
                commit: Some("0123456789abcdef0123456789abcdef01234567".into()),
                lookaside: vec![("SOURCES/hello-1.0.tar.gz".into(), "sha256:ab".into())],
            }),
            ledger: Some(LedgerInfo {
                index: 3,
                leaf_hash: "00".repeat(32),
                checkpoint: None,
            }),
        }
    }

    #[test]
    fn purl_and_cpe_follow_their_specs() {
        let c = component();
        assert_eq!(
            c.purl(),
            "pkg:rpm/almalinux/hello@1.0-1.el9?arch=x86_64&distro=almalinux-9&epoch=1&upstream=hello-1.0-1.el9.src.rpm"
        );
        assert_eq!(
            c.cpe(),
            "cpe:2.3:a:almalinux:hello:1.0:1.el9:*:*:*:*:x86_64:*"
        );
        let mut plus = component();
        plus.nevra = "libstdc++-11-1.el9.x86_64".parse().unwrap();
        assert!(
            plus.purl()
                .starts_with("pkg:rpm/almalinux/libstdc%2B%2B@11-1.el9?")
        );
        assert!(plus.cpe().contains(":libstdc\\+\\+:"));
    }

    #[test]
    fn serial_numbers_are_stable_v5_uuids() {
        let a = serial_number(&Subject::Package(Box::new(component())));
        assert_eq!(a, serial_number(&Subject::Package(Box::new(component()))));
        assert_eq!(a.len(), "urn:uuid:".len() + 36);
        assert_eq!(&a[9 + 14..9 + 15], "5");
        let mut other = component();
        other.sha256 = Sha256::of(b"other");
        assert_ne!(a, serial_number(&Subject::Package(Box::new(other))));
    }

    #[test]
    fn documents_carry_the_hash_and_properties() {
        let s = Subject::Package(Box::new(component()));
        let cdx: serde_json::Value = serde_json::from_str(&cyclonedx::to_json(&s)).unwrap();
        let main = &cdx["metadata"]["component"];
        assert_eq!(main["hashes"][0]["content"], Sha256::of(b"hello").to_hex());
        let props = main["properties"].as_array().unwrap();
        for name in [
            "albs:build:id",
            "albs:build:url",
            "albs:source:git_url",
            "albs:source:git_ref",
            "albs:source:git_commit",
            "albs:ledger:index",
            "albs:ledger:leaf_hash",
        ] {
            assert!(props.iter().any(|p| p["name"] == name), "{name} missing");
        }
        let xml = cyclonedx::to_xml(&s);
        assert!(xml.contains(&format!(
            "<hash alg=\"SHA-256\">{}</hash>",
            Sha256::of(b"hello")
        )));
        let spdx: serde_json::Value = serde_json::from_str(&spdx::to_json(&s)).unwrap();
        assert_eq!(
            spdx["packages"][0]["checksums"][0]["checksumValue"],
            Sha256::of(b"hello").to_hex()
        );
        assert_eq!(cyclonedx::to_json(&s), cyclonedx::to_json(&s));
    }

    #[test]
    fn provenance_verifies_and_fails_after_any_change() {
        let signer =
            albs_core::checkpoint::CheckpointSigner::from_seed("albs-test", [7; 32]).unwrap();
        let s = Subject::build(7, "almalinux-9", None, vec![component(), component()]);
        let st = provenance::statement(&s, "https://build.almalinux.org");
        let env = serde_json::to_string(&provenance::sign(&st, &signer)).unwrap();
        let back = provenance::verify(&env, &signer.verifier_key()).unwrap();
        assert_eq!(back, st);
        assert!(provenance::covers(&back, &Sha256::of(b"hello")));
        assert_eq!(back["subject"].as_array().unwrap().len(), 1, "deduplicated");

        let other =
            albs_core::checkpoint::CheckpointSigner::from_seed("albs-test", [8; 32]).unwrap();
        assert!(provenance::verify(&env, &other.verifier_key()).is_err());
        // Change the payload: one byte of the statement.
        let mut e: provenance::Envelope = serde_json::from_str(&env).unwrap();
        let mut payload =
            base64::Engine::decode(&base64::engine::general_purpose::STANDARD, &e.payload).unwrap();
        let at = payload.iter().position(|&b| b == b'7').unwrap();
        payload[at] = b'8';
        e.payload = base64::Engine::encode(&base64::engine::general_purpose::STANDARD, &payload);
        let err = provenance::verify(&serde_json::to_string(&e).unwrap(), &signer.verifier_key())
            .unwrap_err();
        assert!(matches!(err, SbomError::BadSignature { .. }), "{err}");
    }
}

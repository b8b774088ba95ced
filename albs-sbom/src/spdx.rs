//! SPDX 2.3 JSON documents.

use serde_json::{Value, json};
use time::OffsetDateTime;

use crate::component::Component;
use crate::{Subject, rfc3339, serial_number};

/// An SPDX id for a package: letters, digits, `.` and `-` only.
fn spdx_id(n: usize, c: &Component) -> String {
    let clean: String = c
        .file_name()
        .trim_end_matches(".rpm")
        .chars()
        .map(|ch| {
            if ch.is_ascii_alphanumeric() || ch == '.' || ch == '-' {
                ch
            } else {
                '-'
            }
        })
        .collect();
    format!("SPDXRef-Package-{n}-{clean}")
}

fn package(n: usize, c: &Component, created: &str) -> Value {
    let mut v = json!({
        "SPDXID": spdx_id(n, c),
        "name": c.nevra.name,
        "versionInfo": c.version(),
        "packageFileName": c.file_name(),
        "supplier": "Organization: AlmaLinux OS Foundation",
        "downloadLocation": "NOASSERTION",
        "filesAnalyzed": false,
        "checksums": [{"algorithm": "SHA256", "checksumValue": c.sha256.to_hex()}],
        "licenseConcluded": "NOASSERTION",
        "licenseDeclared": "NOASSERTION",
        "copyrightText": "NOASSERTION",
        "externalRefs": [
            {"referenceCategory": "PACKAGE-MANAGER", "referenceType": "purl", "referenceLocator": c.purl()},
            {"referenceCategory": "SECURITY", "referenceType": "cpe23Type", "referenceLocator": c.cpe()},
        ],
    });
    if let Some(l) = &c.license {
        // The RPM License tag is not always an SPDX expression.
        v["licenseComments"] = json!(format!("RPM License tag: {l}"));
    }
    if let Some(s) = &c.summary {
        v["summary"] = json!(s);
    }
    if let Some(s) = &c.source {
        let mut info = format!("built from {}", s.url);
        if let Some(r) = &s.reference {
            info.push_str(&format!(" ref {r}"));
        }
        if let Some(commit) = &s.commit {
            info.push_str(&format!(" commit {commit}"));
        }
        v["sourceInfo"] = json!(info);
    }
    let annotations: Vec<Value> = c
        .properties()
        .into_iter()
        .map(|(name, value)| {
            json!({
                "annotationDate": created,
                "annotationType": "OTHER",
                "annotator": format!("Tool: albs-{}", env!("CARGO_PKG_VERSION")),
                "comment": format!("{name}={value}"),
            })
        })
        .collect();
    v["annotations"] = json!(annotations);
    v
}

/// The SPDX 2.3 JSON document for `subject`: one package per component,
/// each DESCRIBED by the document.
pub fn to_json(subject: &Subject) -> String {
    let (name, parts, time): (String, Vec<&Component>, OffsetDateTime) = match subject {
        Subject::Package(c) => (c.file_name(), vec![c], c.time),
        Subject::Build { id, components, .. } => (
            format!("albs-build-{id}"),
            components.iter().collect(),
            components
                .iter()
                .map(|c| c.time)
                .max()
                .unwrap_or(OffsetDateTime::UNIX_EPOCH),
        ),
    };
    let created = rfc3339(time);
    let uuid = serial_number(subject);
    let packages: Vec<Value> = parts
        .iter()
        .enumerate()
        .map(|(n, c)| package(n + 1, c, &created))
        .collect();
    let relationships: Vec<Value> = parts
        .iter()
        .enumerate()
        .map(|(n, c)| {
            json!({
                "spdxElementId": "SPDXRef-DOCUMENT",
                "relationshipType": "DESCRIBES",
                "relatedSpdxElement": spdx_id(n + 1, c),
            })
        })
        .collect();
    let doc = json!({
        "spdxVersion": "SPDX-2.3",
        "dataLicense": "CC0-1.0",
        "SPDXID": "SPDXRef-DOCUMENT",
        "name": name,
        "documentNamespace": format!(
            "https://sbom.almalinux.org/spdx/{}",
            uuid.trim_start_matches("urn:uuid:")
        ),
        "creationInfo": {
            "created": created,
            "creators": [format!("Tool: albs-{}", env!("CARGO_PKG_VERSION"))],
        },
        "packages": packages,
        "relationships": relationships,
    });
    let mut text = serde_json::to_string_pretty(&doc).expect("JSON serializes");
    text.push('\n');
    text
}

//! Advisories in and out as files: a directory of `ADVISORY.json` files,
//! the JSON feed of a platform, and OSV records.

use std::path::{Path, PathBuf};

use serde_json::{Value, json};

use crate::errata::{Advisory, ReferenceKind, platform_major};

/// Why advisories could not be read.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LoadError {
    /// A file or directory could not be read.
    #[error("{path}: {source}")]
    Io {
        /// The path.
        path: String,
        /// The cause.
        source: std::io::Error,
    },
    /// A file is not an advisory.
    #[error("{path} is not an advisory: {message}")]
    Parse {
        /// The file.
        path: String,
        /// What the parser said.
        message: String,
    },
    /// Two files hold the same advisory id.
    #[error("advisory {id} is in both {a} and {b}; keep one")]
    Duplicate {
        /// The id.
        id: String,
        /// One file.
        a: String,
        /// The other.
        b: String,
    },
}

/// Reads one advisory JSON file.
pub fn read_advisory(path: &Path) -> Result<Advisory, LoadError> {
    let text = std::fs::read_to_string(path).map_err(|source| LoadError::Io {
        path: path.display().to_string(),
        source,
    })?;
    serde_json::from_str(&text).map_err(|e| LoadError::Parse {
        path: path.display().to_string(),
        message: e.to_string(),
    })
}

/// The file name an advisory is kept under: `ALSA-2026-0042.json`.
pub fn file_name(advisory_id: &str) -> String {
    format!("{}.json", advisory_id.replace(':', "-"))
}

/// Reads every `*.json` advisory in `dir`, sorted by id; two files with the
/// same id are an error.
pub fn read_dir(dir: &Path) -> Result<Vec<(PathBuf, Advisory)>, LoadError> {
    let io = |source| LoadError::Io {
        path: dir.display().to_string(),
        source,
    };
    let mut out: Vec<(PathBuf, Advisory)> = Vec::new();
    for e in std::fs::read_dir(dir).map_err(io)? {
        let path = e.map_err(io)?.path();
        if path.extension().is_some_and(|x| x == "json") && path.is_file() {
            let a = read_advisory(&path)?;
            out.push((path, a));
        }
    }
    out.sort_by(|a, b| a.1.id.cmp(&b.1.id).then_with(|| a.0.cmp(&b.0)));
    for w in out.windows(2) {
        if w[0].1.id == w[1].1.id {
            return Err(LoadError::Duplicate {
                id: w[0].1.id.clone(),
                a: w[0].0.display().to_string(),
                b: w[1].0.display().to_string(),
            });
        }
    }
    Ok(out)
}

/// The JSON feed of `platform`: its advisories, normalized and sorted by id.
pub fn json_feed(platform: &str, advisories: &[Advisory]) -> String {
    let mut ours: Vec<Advisory> = advisories
        .iter()
        .filter(|a| a.platform == platform)
        .map(Advisory::normalized)
        .collect();
    ours.sort_by(|a, b| a.id.cmp(&b.id));
    let mut text = serde_json::to_string_pretty(&ours).expect("advisories serialize");
    text.push('\n');
    text
}

/// An advisory as an OSV record (schema 1.6): one `affected` entry per
/// package name, fixed at the advisory's EVR, with an `rpm` purl.
pub fn osv(advisory: &Advisory) -> Value {
    let a = advisory.normalized();
    let rfc3339 = |t: time::OffsetDateTime| {
        t.to_offset(time::UtcOffset::UTC)
            .format(&time::format_description::well_known::Rfc3339)
            .expect("a UTC time formats")
    };
    let major = platform_major(&a.platform);
    let ecosystem = format!("AlmaLinux:{major}");
    let mut affected = Vec::new();
    let mut seen = std::collections::BTreeSet::new();
    for p in a.packages.iter().filter(|p| !p.nevra.arch.is_source()) {
        if !seen.insert((p.nevra.name.clone(), p.nevra.evr.to_string())) {
            continue;
        }
        affected.push(json!({
            "package": {
                "ecosystem": ecosystem,
                "name": p.nevra.name,
                "purl": format!("pkg:rpm/almalinux/{}?distro=almalinux-{major}", p.nevra.name),
            },
            "ranges": [{
                "type": "ECOSYSTEM",
                "events": [{"introduced": "0"}, {"fixed": p.nevra.evr.to_string()}],
            }],
        }));
    }
    let mut references = vec![json!({
        "type": "ADVISORY",
        "url": format!("https://errata.almalinux.org/{major}/{}.html", a.id.replace(':', "-")),
    })];
    for r in &a.references {
        let kind = match r.kind {
            ReferenceKind::Cve | ReferenceKind::SelfRef => "ADVISORY",
            ReferenceKind::Bugzilla => "REPORT",
            ReferenceKind::Other => "WEB",
        };
        references.push(json!({"type": kind, "url": r.href}));
    }
    let mut record = json!({
        "schema_version": "1.6.0",
        "id": a.id,
        "published": rfc3339(a.issued),
        "modified": rfc3339(a.updated),
        "upstream": a.all_cves(),
        "summary": a.title,
        "details": a.description,
        "affected": affected,
        "references": references,
    });
    if let Some(s) = a.severity {
        record["database_specific"] = json!({"severity": s.as_str()});
    }
    record
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::errata::tests_support::sample;

    #[test]
    fn osv_names_the_fixed_evr_and_cves() {
        let v = osv(&sample());
        assert_eq!(v["id"], "ALSA-2026:0042");
        assert_eq!(v["affected"][0]["package"]["ecosystem"], "AlmaLinux:9");
        assert_eq!(
            v["affected"][0]["ranges"][0]["events"][1]["fixed"],
            "1.1-1.el9"
        );
        assert_eq!(v["upstream"][0], "CVE-2026-12345");
        assert_eq!(v["published"], "2026-11-01T10:00:00Z");
        assert_eq!(v["database_specific"]["severity"], "Important");
    }

    #[test]
    fn a_directory_reads_sorted_and_refuses_duplicates() {
        let dir = tempfile::tempdir().unwrap();
        let mut b = sample();
        b.id = "ALSA-2026:0001".into();
        for a in [sample(), b.clone()] {
            std::fs::write(
                dir.path().join(file_name(&a.id)),
                serde_json::to_string(&a).unwrap(),
            )
            .unwrap();
        }
        let got = read_dir(dir.path()).unwrap();
        assert_eq!(got[0].1.id, "ALSA-2026:0001");
        assert_eq!(got.len(), 2);
        let feed = json_feed("almalinux-9", &[sample(), b.clone()]);
        let back: Vec<Advisory> = serde_json::from_str(&feed).unwrap();
        assert_eq!(back[0].id, "ALSA-2026:0001");
        assert_eq!(json_feed("almalinux-8", &[sample()]), "[]\n");

        std::fs::write(
            dir.path().join("copy.json"),
            serde_json::to_string(&b).unwrap(),
        )
        .unwrap();
        let err = read_dir(dir.path()).unwrap_err();
        assert!(err.to_string().contains("ALSA-2026:0001"), "{err}");
        std::fs::write(dir.path().join("copy.json"), "{}").unwrap();
        let err = read_dir(dir.path()).unwrap_err();
        assert!(err.to_string().contains("copy.json"), "{err}");
    }
}

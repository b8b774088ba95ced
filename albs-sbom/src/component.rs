//! One package as the SBOM formats describe it: identity (NEVRA, purl,
//! CPE), hash, and where it came from (build, sources, ledger entry).

use std::path::Path;

use albs_core::evr::Nevra;
use albs_core::hash::Sha256;
use albs_core::ledger::{Entry, RecordKind};
use albs_core::source::{GitRef, SourceRef};
use time::OffsetDateTime;

use crate::SbomError;

/// The build a package came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuildInfo {
    /// Build id in the albs store.
    pub id: u64,
    /// Its URL (web page or API).
    pub url: Option<String>,
}

/// The sources a package was built from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceInfo {
    /// Git (or SRPM) URL.
    pub url: String,
    /// The ref asked for.
    pub reference: Option<String>,
    /// The commit checked out.
    pub commit: Option<String>,
    /// Lookaside files: path and `kind:hex` checksum.
    pub lookaside: Vec<(String, String)>,
}

/// Where a package's record sits in the ledger.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LedgerInfo {
    /// Leaf index.
    pub index: u64,
    /// RFC 9162 leaf hash, hex.
    pub leaf_hash: String,
    /// The signed checkpoint note that covers it, if given.
    pub checkpoint: Option<String>,
}

/// A package in an SBOM.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Component {
    /// Name, EVR and arch.
    pub nevra: Nevra,
    /// sha256 of the package file.
    pub sha256: Sha256,
    /// Platform (`almalinux-9`).
    pub platform: String,
    /// Source package file name (`hello-1.0-1.el9.src.rpm`).
    pub source_rpm: Option<String>,
    /// The License tag.
    pub license: Option<String>,
    /// The Summary tag.
    pub summary: Option<String>,
    /// When it was built (or recorded).
    pub time: OffsetDateTime,
    /// Build.
    pub build: Option<BuildInfo>,
    /// Sources.
    pub source: Option<SourceInfo>,
    /// Ledger entry.
    pub ledger: Option<LedgerInfo>,
}

fn pct(s: &str) -> String {
    let mut o = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_' | b'~') {
            o.push(b as char);
        } else {
            o.push_str(&format!("%{b:02X}"));
        }
    }
    o
}

fn cpe_escape(s: &str) -> String {
    let mut o = String::new();
    for c in s.chars() {
        if c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.') {
            o.push(c);
        } else {
            o.push('\\');
            o.push(c);
        }
    }
    o
}

impl Component {
    /// The major version of the platform (`almalinux-9` → `9`).
    pub fn major(&self) -> &str {
        self.platform
            .rsplit_once('-')
            .map_or(self.platform.as_str(), |(_, m)| m)
    }

    /// `[epoch:]version-release`.
    pub fn version(&self) -> String {
        self.nevra.evr.to_string()
    }

    /// The package file name.
    pub fn file_name(&self) -> String {
        self.nevra.file_name()
    }

    /// The package URL:
    /// `pkg:rpm/almalinux/NAME@VERSION-RELEASE?arch=…&distro=almalinux-N&epoch=…&upstream=SRPM`
    /// (qualifiers sorted by key as the purl spec asks; epoch only when not 0).
    pub fn purl(&self) -> String {
        let e = &self.nevra.evr;
        let mut q = vec![format!("arch={}", pct(self.nevra.arch.as_str()))];
        q.push(format!(
            "distro={}",
            pct(&format!("almalinux-{}", self.major()))
        ));
        if e.epoch > 0 {
            q.push(format!("epoch={}", e.epoch));
        }
        if let Some(src) = &self.source_rpm {
            q.push(format!("upstream={}", pct(src)));
        }
        format!(
            "pkg:rpm/almalinux/{}@{}-{}?{}",
            pct(&self.nevra.name),
            pct(&e.version),
            pct(e.release.as_deref().unwrap_or("")),
            q.join("&")
        )
    }

    /// The CPE 2.3 name:
    /// `cpe:2.3:a:almalinux:NAME:VERSION:RELEASE:*:*:*:*:ARCH:*`.
    pub fn cpe(&self) -> String {
        let e = &self.nevra.evr;
        format!(
            "cpe:2.3:a:almalinux:{}:{}:{}:*:*:*:*:{}:*",
            cpe_escape(&self.nevra.name),
            cpe_escape(&e.version),
            cpe_escape(e.release.as_deref().unwrap_or("*")),
            cpe_escape(self.nevra.arch.as_str())
        )
    }

    /// The albs properties: build id and URL, source git url/ref/commit,
    /// ledger index, leaf hash and checkpoint, in a fixed order.
    pub fn properties(&self) -> Vec<(&'static str, String)> {
        let mut p = vec![("albs:platform", self.platform.clone())];
        if let Some(b) = &self.build {
            p.push(("albs:build:id", b.id.to_string()));
            if let Some(u) = &b.url {
                p.push(("albs:build:url", u.clone()));
            }
        }
        if let Some(s) = &self.source {
            p.push(("albs:source:git_url", s.url.clone()));
            if let Some(r) = &s.reference {
                p.push(("albs:source:git_ref", r.clone()));
            }
            if let Some(c) = &s.commit {
                p.push(("albs:source:git_commit", c.clone()));
            }
            for (path, sum) in &s.lookaside {
                p.push(("albs:source:lookaside", format!("{path} {sum}")));
            }
        }
        if let Some(l) = &self.ledger {
            p.push(("albs:ledger:index", l.index.to_string()));
            p.push(("albs:ledger:leaf_hash", l.leaf_hash.clone()));
            if let Some(c) = &l.checkpoint {
                p.push(("albs:ledger:checkpoint", c.clone()));
            }
        }
        p
    }

    /// Reads a package file: header tags and the file's sha256.
    pub fn from_rpm(path: &Path, platform: &str) -> Result<Self, SbomError> {
        let bad = |message: String| SbomError::Rpm {
            path: path.display().to_string(),
            message,
        };
        let header = albs_core::rpmfile::read_header(path).map_err(|e| bad(e.to_string()))?;
        let meta = rpm::PackageMetadata::open(path).map_err(|e| bad(e.to_string()))?;
        let file = std::fs::File::open(path).map_err(|e| bad(e.to_string()))?;
        let (sha256, _) =
            Sha256::of_reader(std::io::BufReader::new(file)).map_err(|e| bad(e.to_string()))?;
        let text =
            |r: Result<&str, rpm::Error>| r.ok().map(str::to_owned).filter(|s| !s.is_empty());
        let time = meta
            .get_build_time()
            .ok()
            .and_then(|t| OffsetDateTime::from_unix_timestamp(t as i64).ok())
            .unwrap_or(OffsetDateTime::UNIX_EPOCH);
        Ok(Component {
            nevra: header.nevra,
            sha256,
            platform: platform.to_owned(),
            source_rpm: if header.source {
                None
            } else {
                text(meta.get_source_rpm())
            },
            license: text(meta.get_license()),
            summary: text(meta.get_summary()),
            time,
            build: None,
            source: None,
            ledger: None,
        })
    }

    /// A package from its ledger entry (an `rpm`, `srpm` or `signed_rpm`
    /// record); `None` for records of other kinds or without an artifact.
    pub fn from_ledger(entry: &Entry, build_url: Option<&str>) -> Option<Self> {
        let r = &entry.record;
        if !matches!(
            r.kind,
            RecordKind::Rpm | RecordKind::Srpm | RecordKind::SignedRpm
        ) {
            return None;
        }
        let (nevra, sha256) = (r.nevra.clone()?, r.artifact?);
        let (url, reference) = match &r.inputs.source {
            SourceRef::Git { url, reference } => (
                url.clone(),
                reference.as_ref().map(|g| match g {
                    GitRef::Branch(n) | GitRef::Tag(n) | GitRef::Commit(n) | GitRef::Auto(n) => {
                        n.clone()
                    }
                }),
            ),
            SourceRef::Srpm { url } => (url.clone(), None),
        };
        Some(Component {
            source_rpm: None,
            license: None,
            summary: None,
            time: r.time,
            build: r.task.build_id.map(|id| BuildInfo {
                id,
                url: build_url.map(str::to_owned),
            }),
            source: Some(SourceInfo {
                url,
                reference,
                commit: r.inputs.commit.clone(),
                lookaside: r
                    .inputs
                    .lookaside
                    .iter()
                    .map(|l| (l.path.clone(), l.checksum.to_string()))
                    .collect(),
            }),
            ledger: Some(LedgerInfo {
                index: entry.index,
                leaf_hash: hex::encode(entry.leaf_hash),
                checkpoint: None,
            }),
            platform: r.task.platform.clone(),
            nevra,
            sha256,
        })
    }

    /// Fills in what the ledger knows (build, sources, ledger position) on a
    /// component read from its file, after checking that the entry is about
    /// this very file.
    pub fn attach_ledger(
        &mut self,
        entry: &Entry,
        build_url: Option<&str>,
    ) -> Result<(), SbomError> {
        let from = Component::from_ledger(entry, build_url).ok_or_else(|| SbomError::Ledger {
            index: entry.index,
            why: "it is not an rpm or srpm record".into(),
        })?;
        if from.sha256 != self.sha256 {
            return Err(SbomError::Ledger {
                index: entry.index,
                why: format!(
                    "it records sha256 {} but {} has {}",
                    from.sha256,
                    self.file_name(),
                    self.sha256
                ),
            });
        }
        self.build = from.build;
        self.source = from.source;
        self.ledger = from.ledger;
        Ok(())
    }
}

/// The packages of build `build_id` in `ledger`: one per NEVRA, the signed
/// package where the ledger has a `signed_rpm` record for it, else the built
/// one; each with its ledger position and, when given, the checkpoint note
/// that covers it (its tree size is above the index).
pub async fn build_components(
    ledger: &dyn albs_core::ledger::Ledger,
    build_id: u64,
    build_url: Option<&str>,
    checkpoint: Option<(&str, u64)>,
) -> Result<Vec<Component>, SbomError> {
    let size = ledger
        .size()
        .await
        .map_err(|e| SbomError::LedgerRead(e.to_string()))?;
    let mut best: std::collections::BTreeMap<Nevra, (bool, Component)> = Default::default();
    for index in 0..size {
        let Some(entry) = ledger
            .get(index)
            .await
            .map_err(|e| SbomError::LedgerRead(e.to_string()))?
        else {
            continue;
        };
        if entry.record.task.build_id != Some(build_id) {
            continue;
        }
        let signed = entry.record.kind == RecordKind::SignedRpm;
        let Some(mut c) = Component::from_ledger(&entry, build_url) else {
            continue;
        };
        if let (Some(l), Some((note, covered))) = (c.ledger.as_mut(), checkpoint)
            && index < covered
        {
            l.checkpoint = Some(note.to_owned());
        }
        match best.get(&c.nevra) {
            Some((true, _)) if !signed => {}
            _ => {
                best.insert(c.nevra.clone(), (signed, c));
            }
        }
    }
    if best.is_empty() {
        return Err(SbomError::NoBuild { build_id });
    }
    Ok(best.into_values().map(|(_, c)| c).collect())
}

//! The errata model: advisories with their type, severity, CVEs, references
//! and the packages that fix them, checked against the platform they are for.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::str::FromStr;

use albs_core::evr::{Evr, Nevra};
use albs_core::hash::Sha256;
use albs_core::model::Arch;
use albs_core::platform::{Platform, Platforms};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

/// Why an advisory is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ErrataError {
    /// The advisory id is not `ALSA|ALBA|ALEA-YYYY:NNNN`.
    #[error(
        "advisory id {id:?} is not PREFIX-YYYY:NNNN with PREFIX ALSA, ALBA or ALEA (for example ALSA-2024:0123)"
    )]
    BadId {
        /// The id.
        id: String,
    },
    /// The id prefix does not fit the advisory type.
    #[error("advisory {id} is of type {kind} and its id must start with {want}")]
    IdTypeMismatch {
        /// The id.
        id: String,
        /// The type.
        kind: AdvisoryType,
        /// The prefix that type takes.
        want: &'static str,
    },
    /// A security advisory without a severity, or another with one.
    #[error("advisory {id}: {why}")]
    Severity {
        /// The id.
        id: String,
        /// What is wrong.
        why: &'static str,
    },
    /// A required text field is empty.
    #[error("advisory {id}: the {field} is empty; fill it in")]
    Empty {
        /// The id.
        id: String,
        /// The field.
        field: &'static str,
    },
    /// A CVE id is malformed.
    #[error("advisory {id}: {cve:?} is not a CVE id (CVE-YYYY-NNNN)")]
    BadCve {
        /// The advisory id.
        id: String,
        /// The CVE text.
        cve: String,
    },
    /// `updated` is before `issued`.
    #[error("advisory {id}: updated {updated} is before issued {issued}")]
    UpdatedBeforeIssued {
        /// The id.
        id: String,
        /// Issued.
        issued: String,
        /// Updated.
        updated: String,
    },
    /// The advisory names a platform albs does not know.
    #[error("advisory {id}: unknown platform {platform:?} (known: {known})")]
    UnknownPlatform {
        /// The id.
        id: String,
        /// The platform.
        platform: String,
        /// The known platform names.
        known: String,
    },
    /// The advisory lists no packages.
    #[error("advisory {id} lists no packages; add the fixed packages (albs errata match)")]
    NoPackages {
        /// The id.
        id: String,
    },
    /// A package belongs to another platform than the advisory.
    #[error(
        "advisory {id} is for {platform} (dist tag {dist}) but package {nevra} {why}; an advisory may only list packages built for its platform"
    )]
    ForeignPackage {
        /// The advisory id.
        id: String,
        /// The advisory's platform.
        platform: String,
        /// Its dist tag.
        dist: String,
        /// The package.
        nevra: String,
        /// What gives it away.
        why: String,
    },
    /// A package's architecture is not one of the platform's.
    #[error("advisory {id}: package {nevra} has arch {arch}, which {platform} does not build")]
    ForeignArch {
        /// The advisory id.
        id: String,
        /// The package.
        nevra: String,
        /// Its arch.
        arch: String,
        /// The platform.
        platform: String,
    },
    /// The same package is listed twice.
    #[error("advisory {id} lists package {nevra} twice")]
    Duplicate {
        /// The advisory id.
        id: String,
        /// The package.
        nevra: String,
    },
    /// A signing key id is not 16 hex digits.
    #[error(
        "advisory {id}: package {nevra} has signing key {key:?}; give the 16 hex digit OpenPGP key id"
    )]
    BadKeyId {
        /// The advisory id.
        id: String,
        /// The package.
        nevra: String,
        /// The key text.
        key: String,
    },
    /// A module stream is malformed.
    #[error("advisory {id}: module {module:?} needs a name and a stream without ':' or spaces")]
    BadModule {
        /// The advisory id.
        id: String,
        /// The module as written.
        module: String,
    },
    /// Matching found no built package for a wanted one.
    #[error(
        "no built package matches {wanted} on {platform}; build it first or correct the version"
    )]
    NoMatch {
        /// The wanted package.
        wanted: String,
        /// The platform.
        platform: String,
    },
}

/// The kind of an advisory.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AdvisoryType {
    /// Fixes a vulnerability (ALSA).
    Security,
    /// Fixes bugs (ALBA).
    Bugfix,
    /// Adds features (ALEA).
    Enhancement,
}

impl AdvisoryType {
    /// The id prefix of this type.
    pub fn prefix(self) -> &'static str {
        match self {
            AdvisoryType::Security => "ALSA",
            AdvisoryType::Bugfix => "ALBA",
            AdvisoryType::Enhancement => "ALEA",
        }
    }

    /// The name updateinfo.xml and the JSON use.
    pub fn as_str(self) -> &'static str {
        match self {
            AdvisoryType::Security => "security",
            AdvisoryType::Bugfix => "bugfix",
            AdvisoryType::Enhancement => "enhancement",
        }
    }
}

impl fmt::Display for AdvisoryType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for AdvisoryType {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s.to_ascii_lowercase().as_str() {
            "security" => Ok(AdvisoryType::Security),
            "bugfix" => Ok(AdvisoryType::Bugfix),
            "enhancement" => Ok(AdvisoryType::Enhancement),
            _ => Err(format!(
                "{s:?} is not an advisory type; use security, bugfix or enhancement"
            )),
        }
    }
}

/// The severity of a security advisory (Red Hat's scale).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Severity {
    /// Low.
    Low,
    /// Moderate.
    Moderate,
    /// Important.
    Important,
    /// Critical.
    Critical,
}

impl Severity {
    /// The capitalised name, as updateinfo and OVAL write it.
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Low => "Low",
            Severity::Moderate => "Moderate",
            Severity::Important => "Important",
            Severity::Critical => "Critical",
        }
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Severity {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s.to_ascii_lowercase().as_str() {
            "low" => Ok(Severity::Low),
            "moderate" => Ok(Severity::Moderate),
            "important" => Ok(Severity::Important),
            "critical" => Ok(Severity::Critical),
            _ => Err(format!(
                "{s:?} is not a severity; use low, moderate, important or critical"
            )),
        }
    }
}

/// What a reference points at.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ReferenceKind {
    /// A CVE record.
    Cve,
    /// A bug tracker entry.
    Bugzilla,
    /// The advisory's own page.
    #[serde(rename = "self")]
    SelfRef,
    /// Anything else.
    Other,
}

impl ReferenceKind {
    /// The `type` updateinfo.xml writes.
    pub fn as_str(self) -> &'static str {
        match self {
            ReferenceKind::Cve => "cve",
            ReferenceKind::Bugzilla => "bugzilla",
            ReferenceKind::SelfRef => "self",
            ReferenceKind::Other => "other",
        }
    }
}

/// A link from an advisory.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Reference {
    /// What it points at.
    #[serde(rename = "type")]
    pub kind: ReferenceKind,
    /// Its id (`CVE-2024-1234`, a bug number, the advisory id).
    pub id: String,
    /// Its URL.
    pub href: String,
    /// A title; the id when empty.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub title: String,
}

/// A module stream an advisory applies to.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct ModuleStream {
    /// Module name.
    pub name: String,
    /// Stream.
    pub stream: String,
    /// Module version (a number), when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<u64>,
    /// Module context, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub context: Option<String>,
}

impl fmt::Display for ModuleStream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.name, self.stream)
    }
}

/// A package that fixes an advisory.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct AdvisoryPackage {
    /// Name, EVR and arch.
    pub nevra: Nevra,
    /// The sha256 of the signed package file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sha256: Option<Sha256>,
    /// The OpenPGP key id (16 lower-case hex digits) the package is signed with.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signing_key: Option<String>,
    /// The source package file name (`hello-1.1-1.el9.src.rpm`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_rpm: Option<String>,
}

impl AdvisoryPackage {
    /// The package file name.
    pub fn file_name(&self) -> String {
        self.nevra.file_name()
    }
}

/// An erratum: what it fixes and which packages fix it, on one platform.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Advisory {
    /// `ALSA-2024:0123` (security), `ALBA-…` (bugfix) or `ALEA-…` (enhancement).
    pub id: String,
    /// The kind.
    #[serde(rename = "type")]
    pub kind: AdvisoryType,
    /// Severity; security advisories only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub severity: Option<Severity>,
    /// One-line title.
    pub title: String,
    /// What it fixes.
    pub description: String,
    /// First published.
    #[serde(with = "time::serde::rfc3339")]
    pub issued: OffsetDateTime,
    /// Last changed.
    #[serde(with = "time::serde::rfc3339")]
    pub updated: OffsetDateTime,
    /// CVE ids fixed.
    #[serde(default)]
    pub cves: Vec<String>,
    /// Links.
    #[serde(default)]
    pub references: Vec<Reference>,
    /// The platform (`almalinux-9`).
    pub platform: String,
    /// The module stream, for modular packages.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub module: Option<ModuleStream>,
    /// The fixed packages.
    #[serde(default)]
    pub packages: Vec<AdvisoryPackage>,
}

/// The major version of a platform named `<distro>-<major>` (`almalinux-9` → `9`).
pub fn platform_major(platform: &str) -> &str {
    platform.rsplit_once('-').map_or(platform, |(_, m)| m)
}

/// The `el<N>` dist tags named in a release (`1.el9_3.alma.1` → `el9`,
/// `1.module_el8.9.0+3+abc` → `el8`).
pub fn dist_tags(release: &str) -> BTreeSet<String> {
    let b = release.as_bytes();
    let mut out = BTreeSet::new();
    let mut i = 0;
    while i + 2 < b.len() {
        let boundary = i == 0 || matches!(b[i - 1], b'.' | b'_' | b'+' | b'-');
        if boundary && b[i] == b'e' && b[i + 1] == b'l' && b[i + 2].is_ascii_digit() {
            let mut j = i + 2;
            while j < b.len() && b[j].is_ascii_digit() {
                j += 1;
            }
            out.insert(release[i..j].to_owned());
            i = j;
        } else {
            i += 1;
        }
    }
    out
}

/// Checks that a package belongs to `platform`: its release carries the
/// platform's dist tag and no other, and its arch is one the platform builds.
pub fn check_package_platform(
    advisory_id: &str,
    platform: &Platform,
    nevra: &Nevra,
) -> Result<(), ErrataError> {
    let dist = platform.dist_tag.trim_start_matches('.').to_owned();
    let foreign = |why: String| ErrataError::ForeignPackage {
        id: advisory_id.to_owned(),
        platform: platform.name.clone(),
        dist: platform.dist_tag.clone(),
        nevra: nevra.to_string(),
        why,
    };
    let release = nevra.evr.release.as_deref().unwrap_or("");
    let tags = dist_tags(release);
    if tags.is_empty() {
        return Err(foreign(format!(
            "has no dist tag in its release {release:?}"
        )));
    }
    if let Some(other) = tags.iter().find(|t| **t != dist) {
        return Err(foreign(format!("carries the dist tag {other}")));
    }
    let arch = nevra.arch.as_str();
    if arch != "noarch" && arch != "src" && !platform.arches.iter().any(|a| a.as_str() == arch) {
        return Err(ErrataError::ForeignArch {
            id: advisory_id.to_owned(),
            nevra: nevra.to_string(),
            arch: arch.to_owned(),
            platform: platform.name.clone(),
        });
    }
    Ok(())
}

fn check_cve(cve: &str) -> bool {
    let Some(rest) = cve.strip_prefix("CVE-") else {
        return false;
    };
    let Some((year, num)) = rest.split_once('-') else {
        return false;
    };
    year.len() == 4
        && year.bytes().all(|b| b.is_ascii_digit())
        && num.len() >= 4
        && num.bytes().all(|b| b.is_ascii_digit())
}

/// Splits an advisory id into prefix, year and number (`ALSA-2024:0123` →
/// `("ALSA", 2024, 123)`).
pub fn parse_id(id: &str) -> Result<(&str, u32, u32), ErrataError> {
    let bad = || ErrataError::BadId { id: id.to_owned() };
    let (prefix, rest) = id.split_once('-').ok_or_else(bad)?;
    if !matches!(prefix, "ALSA" | "ALBA" | "ALEA") {
        return Err(bad());
    }
    let (year, num) = rest.split_once(':').ok_or_else(bad)?;
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    if year.len() != 4 || !digits(year) || !digits(num) || num.len() > 6 {
        return Err(bad());
    }
    Ok((
        prefix,
        year.parse().map_err(|_| bad())?,
        num.parse().map_err(|_| bad())?,
    ))
}

fn is_key_id(key: &str) -> bool {
    key.len() == 16 && key.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

impl Advisory {
    /// Checks the advisory on its own and against the platforms albs knows:
    /// id and type agree, security advisories have a severity, CVEs are
    /// well formed, every package belongs to the advisory's platform (dist tag
    /// and arch), no package is listed twice, key ids are 16 hex digits.
    pub fn validate(&self, platforms: &Platforms) -> Result<(), ErrataError> {
        let id = &self.id;
        let (prefix, _, _) = parse_id(id)?;
        if prefix != self.kind.prefix() {
            return Err(ErrataError::IdTypeMismatch {
                id: id.clone(),
                kind: self.kind,
                want: self.kind.prefix(),
            });
        }
        match (self.kind, self.severity) {
            (AdvisoryType::Security, None) => {
                return Err(ErrataError::Severity {
                    id: id.clone(),
                    why: "a security advisory needs a severity (low, moderate, important, critical)",
                });
            }
            (AdvisoryType::Bugfix | AdvisoryType::Enhancement, Some(_)) => {
                return Err(ErrataError::Severity {
                    id: id.clone(),
                    why: "only security advisories have a severity; remove it",
                });
            }
            _ => {}
        }
        for (field, value) in [("title", &self.title), ("description", &self.description)] {
            if value.trim().is_empty() {
                return Err(ErrataError::Empty {
                    id: id.clone(),
                    field,
                });
            }
        }
        if let Some(cve) = self.cves.iter().find(|c| !check_cve(c)) {
            return Err(ErrataError::BadCve {
                id: id.clone(),
                cve: cve.clone(),
            });
        }
        if self.updated < self.issued {
            return Err(ErrataError::UpdatedBeforeIssued {
                id: id.clone(),
                issued: self.issued.to_string(),
                updated: self.updated.to_string(),
            });
        }
        if let Some(m) = &self.module {
            let ok = |s: &str| !s.is_empty() && !s.contains([':', ' ', '\n', '/']);
            if !ok(&m.name) || !ok(&m.stream) {
                return Err(ErrataError::BadModule {
                    id: id.clone(),
                    module: m.to_string(),
                });
            }
        }
        let platform = platforms
            .get(&self.platform)
            .map_err(|_| ErrataError::UnknownPlatform {
                id: id.clone(),
                platform: self.platform.clone(),
                known: platforms.names().join(", "),
            })?;
        if self.packages.is_empty() {
            return Err(ErrataError::NoPackages { id: id.clone() });
        }
        let mut seen = BTreeSet::new();
        for p in &self.packages {
            check_package_platform(id, platform, &p.nevra)?;
            if !seen.insert(&p.nevra) {
                return Err(ErrataError::Duplicate {
                    id: id.clone(),
                    nevra: p.nevra.to_string(),
                });
            }
            if let Some(key) = &p.signing_key
                && !is_key_id(key)
            {
                return Err(ErrataError::BadKeyId {
                    id: id.clone(),
                    nevra: p.nevra.to_string(),
                    key: key.clone(),
                });
            }
        }
        Ok(())
    }

    /// The CVE ids, from `cves` and from CVE references, sorted and unique.
    pub fn all_cves(&self) -> Vec<String> {
        let mut out: BTreeSet<String> = self.cves.iter().cloned().collect();
        out.extend(
            self.references
                .iter()
                .filter(|r| r.kind == ReferenceKind::Cve)
                .map(|r| r.id.clone()),
        );
        out.into_iter().collect()
    }

    /// A copy in a canonical order: packages, CVEs and references sorted.
    pub fn normalized(&self) -> Advisory {
        let mut a = self.clone();
        a.packages.sort();
        a.cves.sort();
        a.cves.dedup();
        a.references.sort();
        a.references.dedup();
        a
    }
}

/// A package albs built, as matching sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuiltPackage {
    /// The platform it was built for.
    pub platform: String,
    /// What the package is, with its hash, key and source package.
    pub package: AdvisoryPackage,
}

/// A package an advisory asks for: a name and a version, optionally a
/// release and the arches to take.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Wanted {
    /// Package name.
    pub name: String,
    /// Version, or `[epoch:]version-release`.
    pub evr: Evr,
    /// Only these arches; all when empty.
    pub arches: Vec<Arch>,
}

impl fmt::Display for Wanted {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", self.name, self.evr)?;
        if !self.arches.is_empty() {
            let a: Vec<&str> = self.arches.iter().map(|a| a.as_str()).collect();
            write!(f, " ({})", a.join(", "))?;
        }
        Ok(())
    }
}

impl FromStr for Wanted {
    type Err = String;
    /// Parses `NAME-VERSION[-RELEASE]` with an optional epoch `NAME-E:V-R`
    /// and an optional `.ARCH1,ARCH2` list after `@` (`hello-1.1@x86_64,noarch`).
    fn from_str(text: &str) -> Result<Self, String> {
        let (spec, arches) = match text.split_once('@') {
            Some((s, a)) => (s, a.split(',').map(str::to_owned).collect::<Vec<_>>()),
            None => (text, vec![]),
        };
        let arches = arches
            .into_iter()
            .map(|a| a.parse::<Arch>().map_err(|e| e.to_string()))
            .collect::<Result<Vec<_>, _>>()?;
        // NAME-VERSION: the version starts after the last '-' that is
        // followed by a digit (or by an epoch), release optional after it.
        let bytes = spec.as_bytes();
        let start = (1..bytes.len())
            .find(|&i| bytes[i - 1] == b'-' && bytes[i].is_ascii_digit())
            .ok_or_else(|| format!("{text:?} is not NAME-VERSION[-RELEASE][@ARCH,…]"))?;
        let name = &spec[..start - 1];
        let evr: Evr = spec[start..]
            .parse()
            .map_err(|e: albs_core::evr::EvrError| e.to_string())?;
        Ok(Wanted {
            name: name.to_owned(),
            evr,
            arches,
        })
    }
}

impl Wanted {
    fn accepts(&self, n: &Nevra) -> bool {
        n.name == self.name
            && n.evr.version == self.evr.version
            && (self.evr.epoch == 0 || n.evr.epoch == self.evr.epoch)
            && self
                .evr
                .release
                .as_ref()
                .is_none_or(|r| n.evr.release.as_ref() == Some(r))
            && (self.arches.is_empty() || self.arches.contains(&n.arch))
    }
}

/// Adds to `advisory` the built packages of its platform that `wanted`
/// names (by name, version, and arch), the newest EVR per name and arch;
/// packages of other platforms are never taken. Source packages are taken
/// too (updateinfo lists them). Fails when a wanted package has no match.
/// Returns how many packages were added.
pub fn match_packages(
    advisory: &mut Advisory,
    wanted: &[Wanted],
    built: &[BuiltPackage],
) -> Result<usize, ErrataError> {
    let mut best: BTreeMap<(String, Arch), &AdvisoryPackage> = BTreeMap::new();
    for w in wanted {
        let mut any = false;
        for b in built
            .iter()
            .filter(|b| b.platform == advisory.platform && w.accepts(&b.package.nevra))
        {
            any = true;
            let key = (b.package.nevra.name.clone(), b.package.nevra.arch.clone());
            let slot = best.entry(key).or_insert(&b.package);
            if b.package.nevra.evr > slot.nevra.evr {
                *slot = &b.package;
            }
        }
        if !any {
            return Err(ErrataError::NoMatch {
                wanted: w.to_string(),
                platform: advisory.platform.clone(),
            });
        }
    }
    let mut added = 0;
    for p in best.into_values() {
        if let Some(old) = advisory.packages.iter_mut().find(|o| o.nevra == p.nevra) {
            *old = p.clone();
        } else {
            advisory.packages.push(p.clone());
            added += 1;
        }
    }
    advisory.packages.sort();
    Ok(added)
}

#[cfg(test)]
pub(crate) mod tests_support {
    use super::*;

    /// A valid security advisory for almalinux-9.
    pub(crate) fn sample() -> Advisory {
        Advisory {
            id: "ALSA-2026:0042".into(),
            kind: AdvisoryType::Security,
            severity: Some(Severity::Important),
            title: "Important: hello security update".into(),
            description: "hello could greet the wrong person.".into(),
            issued: time::macros::datetime!(2026-11-01 10:00 UTC),
            updated: time::macros::datetime!(2026-11-02 10:00 UTC),
            cves: vec!["CVE-2026-12345".into()],
            references: vec![Reference {
                kind: ReferenceKind::Cve,
                id: "CVE-2026-12345".into(),
                href: "https://www.cve.org/CVERecord?id=CVE-2026-12345".into(),
                title: String::new(),
            }],
            platform: "almalinux-9".into(),
            module: None,
            packages: vec![AdvisoryPackage {
                nevra: "hello-1.1-1.el9.x86_64".parse().unwrap(),
                sha256: None,
                signing_key: Some("d36cb86cb86b3716".into()),
                source_rpm: Some("hello-1.1-1.el9.src.rpm".into()),
            }],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::tests_support::sample;
    use super::*;

    #[test]
    fn a_good_advisory_validates_and_round_trips_through_json() {
        let a = sample();
        a.validate(&Platforms::bundled()).unwrap();
        let text = serde_json::to_string_pretty(&a).unwrap();
        assert!(text.contains("\"type\": \"security\""), "{text}");
        assert!(text.contains("\"severity\": \"Important\""), "{text}");
        let back: Advisory = serde_json::from_str(&text).unwrap();
        assert_eq!(back, a);
    }

    #[test]
    fn a_package_of_another_platform_is_refused_by_name() {
        let mut a = sample();
        a.packages.push(AdvisoryPackage {
            nevra: "hello-1.1-1.el8.x86_64".parse().unwrap(),
            sha256: None,
            signing_key: None,
            source_rpm: None,
        });
        let err = a.validate(&Platforms::bundled()).unwrap_err();
        let text = err.to_string();
        assert!(matches!(err, ErrataError::ForeignPackage { .. }), "{text}");
        assert!(text.contains("hello-1.1-1.el8.x86_64"), "{text}");
        assert!(text.contains("el8"), "{text}");
        assert!(text.contains("almalinux-9"), "{text}");
    }

    #[test]
    fn mixed_dist_tags_and_missing_ones_are_refused() {
        let p = Platforms::bundled();
        let el9 = p.get("almalinux-9").unwrap();
        let n = |s: &str| s.parse::<Nevra>().unwrap();
        assert!(check_package_platform("X", el9, &n("a-1-1.el9_3.alma.1.x86_64")).is_ok());
        assert!(check_package_platform("X", el9, &n("a-1-1.module_el9.1.0+3+ab.x86_64")).is_ok());
        assert!(check_package_platform("X", el9, &n("a-1-1.el9.el8.x86_64")).is_err());
        assert!(check_package_platform("X", el9, &n("a-1-1.x86_64")).is_err());
        assert!(check_package_platform("X", el9, &n("a-1-1.el9.riscv64")).is_err());
        assert!(check_package_platform("X", el9, &n("a-1-1.el9.noarch")).is_ok());
        // "el90" is not "el9".
        assert!(check_package_platform("X", el9, &n("a-1-1.el90.x86_64")).is_err());
    }

    #[test]
    fn ids_types_severities_and_cves_are_checked() {
        let p = Platforms::bundled();
        let mut a = sample();
        a.id = "RHSA-2026:1".into();
        assert!(matches!(a.validate(&p), Err(ErrataError::BadId { .. })));
        let mut a = sample();
        a.id = "ALBA-2026:0042".into();
        assert!(matches!(
            a.validate(&p),
            Err(ErrataError::IdTypeMismatch { .. })
        ));
        let mut a = sample();
        a.severity = None;
        assert!(matches!(a.validate(&p), Err(ErrataError::Severity { .. })));
        let mut a = sample();
        a.cves.push("CVE-26-1".into());
        assert!(matches!(a.validate(&p), Err(ErrataError::BadCve { .. })));
        let mut a = sample();
        a.platform = "almalinux-99".into();
        assert!(matches!(
            a.validate(&p),
            Err(ErrataError::UnknownPlatform { .. })
        ));
        let mut a = sample();
        a.packages[0].signing_key = Some("D36CB86C".into());
        assert!(matches!(a.validate(&p), Err(ErrataError::BadKeyId { .. })));
        let mut a = sample();
        a.packages.push(a.packages[0].clone());
        assert!(matches!(a.validate(&p), Err(ErrataError::Duplicate { .. })));
        assert_eq!(parse_id("ALSA-2026:0042").unwrap(), ("ALSA", 2026, 42));
    }

    #[test]
    fn matching_takes_the_newest_build_of_the_platform_per_arch() {
        let mut a = sample();
        a.packages.clear();
        let built = |platform: &str, nevra: &str| BuiltPackage {
            platform: platform.into(),
            package: AdvisoryPackage {
                nevra: nevra.parse().unwrap(),
                sha256: Some(Sha256::of(nevra.as_bytes())),
                signing_key: None,
                source_rpm: None,
            },
        };
        let pool = vec![
            built("almalinux-9", "hello-1.1-1.el9.x86_64"),
            built("almalinux-9", "hello-1.1-2.el9.x86_64"),
            built("almalinux-9", "hello-1.1-2.el9.aarch64"),
            built("almalinux-9", "hello-1.0-9.el9.x86_64"),
            built("almalinux-8", "hello-1.1-3.el8.x86_64"),
            built("almalinux-9", "hello-devel-1.1-2.el9.x86_64"),
        ];
        let wanted: Wanted = "hello-1.1".parse().unwrap();
        assert_eq!(match_packages(&mut a, &[wanted], &pool).unwrap(), 2);
        let got: Vec<String> = a.packages.iter().map(|p| p.nevra.to_string()).collect();
        assert_eq!(got, ["hello-1.1-2.el9.aarch64", "hello-1.1-2.el9.x86_64"]);
        a.validate(&Platforms::bundled()).unwrap_or_else(|e| {
            // matched packages carry no key here; only the key format is checked
            panic!("{e}")
        });

        let mut b = sample();
        b.packages.clear();
        let w: Wanted = "hello-1.1-1.el9@x86_64".parse().unwrap();
        assert_eq!(w.arches.len(), 1);
        match_packages(&mut b, &[w], &pool).unwrap();
        assert_eq!(b.packages[0].nevra.to_string(), "hello-1.1-1.el9.x86_64");

        let mut c = sample();
        let err = match_packages(&mut c, &["hello-2.0".parse().unwrap()], &pool).unwrap_err();
        assert!(err.to_string().contains("hello-2.0"), "{err}");
    }
}

//! Security data from Python: SBOMs of packages and builds, provenance
//! verification, errata as updateinfo, OVAL and OSV.

use std::path::{Path, PathBuf};

use albs_core::api::LedgerEntryView;
use albs_core::ledger::Entry;
use albs_core::platform::Platforms;
use albs_oval::export;
use albs_sbom::{Component, SbomError, Subject};
use serde_json::{Value, json};

use crate::{Error, Result};

fn sbom_error(e: SbomError) -> Error {
    match e {
        SbomError::BadSignature { .. } | SbomError::NotSigned { .. } => {
            Error::Verification(e.to_string())
        }
        other => Error::Parse(other.to_string()),
    }
}

fn load_error(e: export::LoadError) -> Error {
    match e {
        export::LoadError::Io { .. } => Error::Io(e.to_string()),
        other => Error::Parse(other.to_string()),
    }
}

/// An SBOM of package files in `format` (`cyclonedx-json`, `cyclonedx-xml`
/// or `spdx`): of one package, or of a build when `build_id` is given.
/// `ledger_json` is a JSON list of ledger entries (`{index, leaf_hash,
/// record}`, as the server's ledger API serves them); each package whose
/// sha256 a record names gets its build, sources and ledger position.
pub fn sbom(
    rpms: &[PathBuf],
    platform: &str,
    format: &str,
    build_id: Option<u64>,
    url: Option<String>,
    ledger_json: Option<&str>,
) -> Result<String> {
    let entries: Vec<LedgerEntryView> = match ledger_json {
        Some(text) => serde_json::from_str(text).map_err(|e| {
            Error::Parse(format!(
                "ledger entries: {e}; give a JSON list of {{index, leaf_hash, record}}"
            ))
        })?,
        None => vec![],
    };
    let mut components = Vec::with_capacity(rpms.len());
    for path in rpms {
        if !path.is_file() {
            return Err(Error::Io(format!(
                "{}: no such package file",
                path.display()
            )));
        }
        let mut c = Component::from_rpm(path, platform).map_err(sbom_error)?;
        if let Some(v) = entries
            .iter()
            .find(|v| v.record.artifact.as_ref() == Some(&c.sha256))
        {
            let leaf = hex::decode(&v.leaf_hash)
                .ok()
                .and_then(|b| <[u8; 32]>::try_from(b).ok())
                .ok_or_else(|| {
                    Error::Parse(format!(
                        "ledger entry {}: leaf_hash is not 64 hex digits",
                        v.index
                    ))
                })?;
            let entry = Entry {
                index: v.index,
                leaf_hash: leaf,
                record: v.record.clone(),
            };
            c.attach_ledger(&entry, url.as_deref())
                .map_err(sbom_error)?;
        }
        components.push(c);
    }
    let subject = match (build_id, components.len()) {
        (Some(id), _) => Subject::build(id, platform, url, components),
        (None, 1) => Subject::Package(Box::new(components.remove(0))),
        (None, n) => {
            return Err(Error::Parse(format!(
                "{n} packages make a build SBOM: give build_id"
            )));
        }
    };
    match format {
        "cyclonedx-json" => Ok(albs_sbom::cyclonedx::to_json(&subject)),
        "cyclonedx-xml" => Ok(albs_sbom::cyclonedx::to_xml(&subject)),
        "spdx" => Ok(albs_sbom::spdx::to_json(&subject)),
        other => Err(Error::Parse(format!(
            "SBOM format {other:?}: use cyclonedx-json, cyclonedx-xml or spdx"
        ))),
    }
}

/// Verifies a DSSE provenance envelope with the server's verifier key;
/// returns the in-toto statement.
pub fn verify_provenance(envelope: &str, key: &str) -> Result<Value> {
    albs_sbom::provenance::verify(envelope, key).map_err(sbom_error)
}

fn advisories(dir: &Path) -> Result<Vec<albs_oval::errata::Advisory>> {
    Ok(export::read_dir(dir)
        .map_err(load_error)?
        .into_iter()
        .map(|(_, a)| a)
        .collect())
}

/// The OVAL 5.10 feed of `platform` from the advisory JSON files in `dir`.
pub fn oval(platform: &str, dir: &Path) -> Result<String> {
    albs_oval::oval_xml(platform, &advisories(dir)?, &Platforms::bundled())
        .map_err(|e| Error::Parse(e.to_string()))
}

/// updateinfo.xml of the advisories in `dir`.
pub fn updateinfo(dir: &Path) -> Result<String> {
    Ok(albs_oval::updateinfo_xml(&advisories(dir)?))
}

/// Adds the advisories in `dir` to the rpm-md repository `repo` as its
/// updateinfo; returns `{path, checksum, advisories}`.
pub fn add_updateinfo(repo: &Path, dir: &Path) -> Result<Value> {
    let a =
        albs_oval::add_to_repo(repo, &advisories(dir)?).map_err(|e| Error::Repo(e.to_string()))?;
    Ok(json!({
        "path": a.path.display().to_string(),
        "checksum": a.checksum.to_string(),
        "advisories": a.advisories,
    }))
}

/// One advisory file in the OSV format.
pub fn osv(path: &Path) -> Result<Value> {
    Ok(export::osv(
        &export::read_advisory(path).map_err(load_error)?,
    ))
}

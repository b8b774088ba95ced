//! Reading the header of an `.rpm` file: what package is inside.

use std::path::Path;

use crate::evr::{Evr, Nevra};
use crate::model::Arch;

/// Errors from reading package files.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RpmFileError {
    /// The file is not a readable RPM package.
    #[error("{path} is not a valid RPM package: {message}")]
    Invalid {
        /// The file.
        path: String,
        /// What the parser said.
        message: String,
    },
}

/// The identity of a package file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PackageHeader {
    /// Name, EVR and arch (`src` for source packages).
    pub nevra: Nevra,
    /// Whether it is a source package.
    pub source: bool,
}

/// Reads the header of the package at `path`.
pub fn read_header(path: &Path) -> Result<PackageHeader, RpmFileError> {
    let invalid = |message: String| RpmFileError::Invalid {
        path: path.display().to_string(),
        message,
    };
    let meta = rpm::PackageMetadata::open(path).map_err(|e| invalid(e.to_string()))?;
    let text =
        |r: Result<&str, rpm::Error>| r.map(str::to_owned).map_err(|e| invalid(e.to_string()));
    let source = meta.is_source_package();
    let arch = if source {
        Arch::src()
    } else {
        text(meta.get_arch())?
            .parse()
            .map_err(|e: crate::model::ModelError| invalid(e.to_string()))?
    };
    Ok(PackageHeader {
        nevra: Nevra {
            name: text(meta.get_name())?,
            evr: Evr::new(
                meta.get_epoch().unwrap_or(0),
                text(meta.get_version())?,
                text(meta.get_release())?,
            ),
            arch,
        },
        source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn garbage_is_refused_with_the_file_name() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("x.rpm");
        std::fs::write(&p, b"not an rpm").unwrap();
        let err = read_header(&p).unwrap_err().to_string();
        assert!(err.contains("x.rpm"), "{err}");
    }
}

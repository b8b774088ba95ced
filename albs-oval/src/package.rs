//! Built packages as advisories list them, read from `.rpm` files: NEVRA,
//! sha256, source package and the OpenPGP key id of the header signature.

use std::path::Path;

use albs_core::hash::Sha256;
use albs_core::rpmfile::read_header;
use rpm::IndexSignatureTag;

use crate::errata::{AdvisoryPackage, BuiltPackage};

/// Why a package file could not be read.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PackageError {
    /// The file could not be read.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The cause.
        source: std::io::Error,
    },
    /// The file is not a readable RPM.
    #[error("{0}")]
    Rpm(#[from] albs_core::rpmfile::RpmFileError),
}

/// The issuer key id (16 lower-case hex digits) of an OpenPGP v4 signature
/// packet: the Issuer subpacket, or the low 8 bytes of the Issuer
/// Fingerprint subpacket.
pub fn signature_key_id(packet: &[u8]) -> Option<String> {
    // Packet header: old format (tag 2) or new format.
    let first = *packet.first()?;
    let (tag, body) = if first & 0x40 == 0 {
        let tag = (first >> 2) & 0x0f;
        let len_bytes = match first & 0x03 {
            0 => 1,
            1 => 2,
            2 => 4,
            _ => 0,
        };
        (tag, packet.get(1 + len_bytes..)?)
    } else {
        let tag = first & 0x3f;
        let l0 = *packet.get(1)?;
        let skip = match l0 {
            0..=191 => 1,
            192..=223 => 2,
            255 => 5,
            _ => return None,
        };
        (tag, packet.get(1 + skip..)?)
    };
    if tag != 2 || body.first() != Some(&4) {
        return None;
    }
    let hashed_len = usize::from(u16::from_be_bytes([*body.get(4)?, *body.get(5)?]));
    let hashed = body.get(6..6 + hashed_len)?;
    let rest = body.get(6 + hashed_len..)?;
    let unhashed_len = usize::from(u16::from_be_bytes([*rest.first()?, *rest.get(1)?]));
    let unhashed = rest.get(2..2 + unhashed_len)?;
    let mut from_fpr = None;
    for area in [hashed, unhashed] {
        let mut i = 0;
        while i < area.len() {
            let (len, skip) = match area[i] {
                l @ 0..=191 => (usize::from(l), 1),
                l @ 192..=254 => (
                    ((usize::from(l) - 192) << 8) + usize::from(*area.get(i + 1)?) + 192,
                    2,
                ),
                255 => (
                    u32::from_be_bytes(area.get(i + 1..i + 5)?.try_into().ok()?) as usize,
                    5,
                ),
            };
            let sub = area.get(i + skip..i + skip + len)?;
            let kind = sub.first()? & 0x7f;
            if kind == 16 && sub.len() == 9 {
                return Some(hex(&sub[1..9]));
            }
            if kind == 33 && sub.len() == 22 && sub[1] == 4 {
                from_fpr = Some(hex(&sub[14..22]));
            }
            i += skip + len;
        }
    }
    from_fpr
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// The key id of the first OpenPGP header signature of the package at
/// `path` (RSA or DSA/EdDSA header signature), if it is signed.
pub fn rpm_signing_key(path: &Path) -> Result<Option<String>, PackageError> {
    let meta = rpm::PackageMetadata::open(path).map_err(|e| {
        albs_core::rpmfile::RpmFileError::Invalid {
            path: path.display().to_string(),
            message: e.to_string(),
        }
    })?;
    for tag in [
        IndexSignatureTag::RPMSIGTAG_RSA,
        IndexSignatureTag::RPMSIGTAG_DSA,
        IndexSignatureTag::RPMSIGTAG_PGP,
        IndexSignatureTag::RPMSIGTAG_GPG,
    ] {
        if let Ok(bytes) = meta.signature.get_entry_data_as_binary(tag)
            && let Some(id) = signature_key_id(bytes)
        {
            return Ok(Some(id));
        }
    }
    Ok(None)
}

/// Reads a package file as a [`BuiltPackage`] of `platform`: its NEVRA,
/// sha256, signing key id and source package name.
pub fn built_package(path: &Path, platform: &str) -> Result<BuiltPackage, PackageError> {
    let header = read_header(path)?;
    let file = std::fs::File::open(path).map_err(|source| PackageError::Io {
        path: path.display().to_string(),
        source,
    })?;
    let (sha256, _) =
        Sha256::of_reader(std::io::BufReader::new(file)).map_err(|source| PackageError::Io {
            path: path.display().to_string(),
            source,
        })?;
    let source_rpm = if header.source {
        None
    } else {
        rpm::PackageMetadata::open(path)
            .ok()
            .and_then(|m| m.get_source_rpm().ok().map(str::to_owned))
            .filter(|s| !s.is_empty())
    };
    Ok(BuiltPackage {
        platform: platform.to_owned(),
        package: AdvisoryPackage {
            nevra: header.nevra,
            sha256: Some(sha256),
            signing_key: rpm_signing_key(path)?,
            source_rpm,
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn issuer_and_issuer_fingerprint_subpackets_give_the_key_id() {
        // v4 signature, hashed: issuer fingerprint; unhashed: nothing.
        let mut fpr = vec![22u8, 33, 4];
        fpr.extend(0u8..20);
        let mut body = vec![4u8, 0, 1, 8];
        body.extend((fpr.len() as u16).to_be_bytes());
        body.extend(&fpr);
        body.extend(0u16.to_be_bytes());
        body.extend([0xab, 0xcd]);
        let mut packet = vec![0x89];
        packet.extend((body.len() as u16).to_be_bytes());
        packet.extend(&body);
        assert_eq!(signature_key_id(&packet).unwrap(), "0c0d0e0f10111213");

        // Issuer subpacket in the unhashed area wins.
        let mut body = vec![4u8, 0, 1, 8, 0, 0];
        let issuer = [9u8, 16, 1, 2, 3, 4, 5, 6, 7, 8];
        body.extend((issuer.len() as u16).to_be_bytes());
        body.extend(issuer);
        let mut packet = vec![0xc2, body.len() as u8];
        packet.extend(&body);
        assert_eq!(signature_key_id(&packet).unwrap(), "0102030405060708");

        assert_eq!(signature_key_id(&[0x89, 0, 1, 3]), None);
        assert_eq!(signature_key_id(&[]), None);
    }
}

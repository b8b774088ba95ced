//! Digests: the sha256 that names every artifact, and the checksum kinds that
//! dist-git metadata files use for lookaside sources.

use std::fmt;
use std::io::{self, Read};
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use sha2::Digest as _;

/// Errors from parsing or checking digests.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum HashError {
    /// The text is not a hex digest of the expected length.
    #[error("{text:?} is not a {kind} digest: expected {want} hex characters")]
    BadDigest {
        /// The text that was given.
        text: String,
        /// The digest kind expected.
        kind: ChecksumKind,
        /// The expected number of hex characters.
        want: usize,
    },
    /// The checksum is of no kind we know.
    #[error("{text:?} is not a md5, sha1, sha256 or sha512 checksum (length {len})")]
    UnknownKind {
        /// The text that was given.
        text: String,
        /// Its length.
        len: usize,
    },
}

/// A sha256 digest: the name of every artifact in albs.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Sha256(pub [u8; 32]);

impl Sha256 {
    /// The digest of `data`.
    pub fn of(data: &[u8]) -> Self {
        Sha256(sha2::Sha256::digest(data).into())
    }

    /// The digest of everything `reader` yields, and its length.
    pub fn of_reader(mut reader: impl Read) -> io::Result<(Self, u64)> {
        let mut hasher = sha2::Sha256::new();
        let mut buf = vec![0u8; 64 * 1024];
        let mut len = 0u64;
        loop {
            let n = reader.read(&mut buf)?;
            if n == 0 {
                break;
            }
            hasher.update(&buf[..n]);
            len += n as u64;
        }
        Ok((Sha256(hasher.finalize().into()), len))
    }

    /// Lower-case hex.
    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }
}

impl fmt::Display for Sha256 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl fmt::Debug for Sha256 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Sha256({})", self.to_hex())
    }
}

impl FromStr for Sha256 {
    type Err = HashError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || HashError::BadDigest {
            text: s.to_owned(),
            kind: ChecksumKind::Sha256,
            want: 64,
        };
        if s.len() != 64 {
            return Err(bad());
        }
        let mut out = [0u8; 32];
        hex::decode_to_slice(s, &mut out).map_err(|_| bad())?;
        Ok(Sha256(out))
    }
}

impl Serialize for Sha256 {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_hex())
    }
}

impl<'de> Deserialize<'de> for Sha256 {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// The checksum kinds found in dist-git metadata.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ChecksumKind {
    /// MD5 (old Fedora/CentOS `sources` files).
    Md5,
    /// SHA-1 (`.<name>.metadata` of CentOS 7 and 8).
    Sha1,
    /// SHA-256.
    Sha256,
    /// SHA-512 (`sources` files of CentOS Stream).
    Sha512,
}

impl ChecksumKind {
    /// Number of hex characters in a digest of this kind.
    pub fn hex_len(self) -> usize {
        match self {
            ChecksumKind::Md5 => 32,
            ChecksumKind::Sha1 => 40,
            ChecksumKind::Sha256 => 64,
            ChecksumKind::Sha512 => 128,
        }
    }

    /// The kind whose digests have `len` hex characters.
    pub fn from_hex_len(len: usize) -> Option<Self> {
        [Self::Md5, Self::Sha1, Self::Sha256, Self::Sha512]
            .into_iter()
            .find(|k| k.hex_len() == len)
    }

    /// The kind named `name` (`SHA512`, `sha256`, `MD5` …).
    pub fn from_name(name: &str) -> Option<Self> {
        match name.to_ascii_lowercase().as_str() {
            "md5" => Some(Self::Md5),
            "sha1" => Some(Self::Sha1),
            "sha256" => Some(Self::Sha256),
            "sha512" => Some(Self::Sha512),
            _ => None,
        }
    }
}

impl fmt::Display for ChecksumKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ChecksumKind::Md5 => "md5",
            ChecksumKind::Sha1 => "sha1",
            ChecksumKind::Sha256 => "sha256",
            ChecksumKind::Sha512 => "sha512",
        })
    }
}

/// A checksum of a given kind, held as lower-case hex.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Checksum {
    /// The digest algorithm.
    pub kind: ChecksumKind,
    /// Lower-case hex digest.
    pub hex: String,
}

impl Checksum {
    /// A checksum of `kind` from hex text, checked for length and digits.
    pub fn new(kind: ChecksumKind, hex: &str) -> Result<Self, HashError> {
        let hex = hex.trim().to_ascii_lowercase();
        if hex.len() != kind.hex_len() || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(HashError::BadDigest {
                text: hex,
                kind,
                want: kind.hex_len(),
            });
        }
        Ok(Checksum { kind, hex })
    }

    /// A checksum whose kind is told by its length (as in `.<name>.metadata`).
    pub fn guess(hex: &str) -> Result<Self, HashError> {
        let hex = hex.trim();
        let kind = ChecksumKind::from_hex_len(hex.len()).ok_or_else(|| HashError::UnknownKind {
            text: hex.to_owned(),
            len: hex.len(),
        })?;
        Checksum::new(kind, hex)
    }
}

impl fmt::Display for Checksum {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.kind, self.hex)
    }
}

/// A streaming hasher for any [`ChecksumKind`].
#[derive(Clone)]
pub enum AnyHasher {
    /// MD5.
    Md5(md5::Md5),
    /// SHA-1.
    Sha1(sha1::Sha1),
    /// SHA-256.
    Sha256(sha2::Sha256),
    /// SHA-512.
    Sha512(sha2::Sha512),
}

impl AnyHasher {
    /// A fresh hasher of `kind`.
    pub fn new(kind: ChecksumKind) -> Self {
        match kind {
            ChecksumKind::Md5 => AnyHasher::Md5(md5::Md5::new()),
            ChecksumKind::Sha1 => AnyHasher::Sha1(sha1::Sha1::new()),
            ChecksumKind::Sha256 => AnyHasher::Sha256(sha2::Sha256::new()),
            ChecksumKind::Sha512 => AnyHasher::Sha512(sha2::Sha512::new()),
        }
    }

    /// Feed `data`.
    pub fn update(&mut self, data: &[u8]) {
        match self {
            AnyHasher::Md5(h) => h.update(data),
            AnyHasher::Sha1(h) => h.update(data),
            AnyHasher::Sha256(h) => h.update(data),
            AnyHasher::Sha512(h) => h.update(data),
        }
    }

    /// The final checksum.
    pub fn finish(self) -> Checksum {
        let (kind, bytes): (ChecksumKind, Vec<u8>) = match self {
            AnyHasher::Md5(h) => (ChecksumKind::Md5, h.finalize().to_vec()),
            AnyHasher::Sha1(h) => (ChecksumKind::Sha1, h.finalize().to_vec()),
            AnyHasher::Sha256(h) => (ChecksumKind::Sha256, h.finalize().to_vec()),
            AnyHasher::Sha512(h) => (ChecksumKind::Sha512, h.finalize().to_vec()),
        };
        Checksum {
            kind,
            hex: hex::encode(bytes),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sha256_round_trips_through_hex_and_json() {
        let d = Sha256::of(b"abc");
        assert_eq!(
            d.to_hex(),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_eq!(d.to_hex().parse::<Sha256>().unwrap(), d);
        let json = serde_json::to_string(&d).unwrap();
        assert_eq!(serde_json::from_str::<Sha256>(&json).unwrap(), d);
        assert!("abc".parse::<Sha256>().is_err());
        assert!("zz".repeat(32).parse::<Sha256>().is_err());
    }

    #[test]
    fn every_kind_hashes_known_vectors() {
        let want = [
            (ChecksumKind::Md5, "900150983cd24fb0d6963f7d28e17f72"),
            (
                ChecksumKind::Sha1,
                "a9993e364706816aba3e25717850c26c9cd0d89d",
            ),
        ];
        for (kind, hex) in want {
            let mut h = AnyHasher::new(kind);
            h.update(b"abc");
            assert_eq!(h.finish(), Checksum::new(kind, hex).unwrap());
        }
        let mut h = AnyHasher::new(ChecksumKind::Sha512);
        h.update(b"abc");
        assert!(h.finish().hex.starts_with("ddaf35a193617aba"));
    }

    #[test]
    fn guess_tells_kind_by_length() {
        assert_eq!(
            Checksum::guess(&"a".repeat(40)).unwrap().kind,
            ChecksumKind::Sha1
        );
        assert_eq!(
            Checksum::guess(&"a".repeat(128)).unwrap().kind,
            ChecksumKind::Sha512
        );
        assert!(Checksum::guess("abcd").is_err());
        assert!(Checksum::new(ChecksumKind::Md5, &"g".repeat(32)).is_err());
    }
}

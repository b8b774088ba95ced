//! RPM header signatures through the `rpm` crate's `Signing`/`Verifying`
//! traits, implemented on our own sequoia.
//!
//! The rpm crate's signature feature needs its `pgp` or pinned-sequoia
//! backend (`signature-meta` alone does not compile, and without it
//! `apply_signature` drops signatures), so the signature header is rebuilt
//! here: the v4 legacy tag (`RSA` 268 or `DSA` 267, which also carries EdDSA),
//! as `rpmsign` of rpm 4.18 writes it, with the reserved space shrunk by as
//! much.

use std::io::Read;
use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rpm::signature::{Signing, Verifying};
use rpm::{Header, HeaderEntry, IndexData, IndexSignatureTag, Package};
use sequoia_openpgp as openpgp;

use openpgp::Packet;
use openpgp::parse::Parse;
use openpgp::serialize::MarshalInto;
use openpgp::types::PublicKeyAlgorithm;

use crate::verify::{Verified, check};
use crate::{Error, SigningKey};

const SIG_RSA: u32 = IndexSignatureTag::RPMSIGTAG_RSA as u32;
const SIG_DSA: u32 = IndexSignatureTag::RPMSIGTAG_DSA as u32;
const SIG_OPENPGP: u32 = IndexSignatureTag::RPMSIGTAG_OPENPGP as u32;
const SIG_PGP: u32 = IndexSignatureTag::RPMSIGTAG_PGP as u32;
const SIG_GPG: u32 = IndexSignatureTag::RPMSIGTAG_GPG as u32;
const SIG_RESERVED: u32 = IndexSignatureTag::RPMSIGTAG_RESERVEDSPACE as u32;
const REGION: u32 = IndexSignatureTag::HEADER_SIGNATURES as u32;

fn rpm_error(e: impl std::fmt::Display) -> rpm::Error {
    rpm::Error::Io(std::io::Error::other(e.to_string()))
}

impl Signing for SigningKey {
    type Signature = Vec<u8>;

    /// A v4 OpenPGP signature (SHA-256) of the header bytes made at `t`.
    fn sign(&self, mut data: impl Read, t: rpm::Timestamp) -> Result<Vec<u8>, rpm::Error> {
        let mut bytes = Vec::new();
        data.read_to_end(&mut bytes)?;
        let when = UNIX_EPOCH + Duration::from_secs(u64::from(t.0));
        let sig = self.sign_message(&bytes, when).map_err(rpm_error)?;
        Packet::from(sig).to_vec().map_err(rpm_error)
    }
}

/// Verifies RPM header signatures against trusted certificates.
#[derive(Debug, Clone)]
pub struct RpmVerifier {
    certs: Vec<openpgp::Cert>,
}

impl RpmVerifier {
    /// A verifier that trusts `certs` (public keys) and nothing else.
    pub fn new(certs: Vec<openpgp::Cert>) -> Self {
        RpmVerifier { certs }
    }

    /// A verifier from armored or binary public keys.
    pub fn from_public_keys(bytes: &[u8]) -> Result<Self, Error> {
        let certs = openpgp::cert::CertParser::from_bytes(bytes)
            .map_err(|e| Error::pgp("reading public keys", e))?
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| Error::pgp("reading public keys", e))?;
        Ok(RpmVerifier { certs })
    }

    fn check(&self, data: &[u8], signature: &[u8]) -> Result<Verified, String> {
        match Packet::from_bytes(signature) {
            Ok(Packet::Signature(sig)) => check(&self.certs, data, &sig),
            Ok(p) => Err(format!("expected a signature packet, found {}", p.tag())),
            Err(e) => Err(format!("unreadable signature: {e}")),
        }
    }

    /// Verifies the package at `path`: its digests match and one of its header
    /// signatures is by a trusted key.
    pub fn verify_rpm(&self, path: impl AsRef<Path>) -> Result<Verified, Error> {
        let path = path.as_ref();
        let what = || format!("RPM {}", path.display());
        let pkg = Package::open(path).map_err(|source| Error::Rpm {
            path: path.into(),
            source,
        })?;
        pkg.verify_digests()
            .map_err(|e| Error::untrusted(what(), format!("digest check failed: {e}")))?;
        let header = pkg.metadata.header_bytes().map_err(|source| Error::Rpm {
            path: path.into(),
            source,
        })?;
        let signatures = header_signatures(&pkg.metadata.signature);
        if signatures.is_empty() {
            return Err(Error::untrusted(
                what(),
                "it has no OpenPGP header signature",
            ));
        }
        let mut reason = String::new();
        for sig in &signatures {
            match self.check(&header, sig) {
                Ok(v) => return Ok(v),
                Err(e) => reason = e,
            }
        }
        Err(Error::untrusted(what(), reason))
    }
}

impl Verifying for RpmVerifier {
    type Signature = Vec<u8>;

    fn verify(&self, mut data: impl Read, signature: &[u8]) -> Result<(), rpm::Error> {
        let mut bytes = Vec::new();
        data.read_to_end(&mut bytes)?;
        self.check(&bytes, signature).map(|_| ()).map_err(rpm_error)
    }
}

/// The OpenPGP signatures in a signature header: the legacy tags and the
/// base64 `OPENPGP` array of rpm 6.
fn header_signatures(sig_header: &Header<IndexSignatureTag>) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    for tag in [SIG_RSA, SIG_DSA] {
        if let Ok(IndexData::Bin(b)) = sig_header.entry(tag) {
            out.push(b);
        }
    }
    if let Ok(IndexData::StringArray(a)) = sig_header.entry(SIG_OPENPGP) {
        out.extend(a.iter().filter_map(|s| base64_decode(s)));
    }
    out
}

/// Signs the RPM at `input` with `key` (now, v4, SHA-256) and writes the
/// signed package to `output` (which may be `input`). A previous signature
/// is replaced.
pub fn sign_rpm(
    input: impl AsRef<Path>,
    output: impl AsRef<Path>,
    key: &SigningKey,
) -> Result<(), Error> {
    let (input, output) = (input.as_ref(), output.as_ref());
    let rpm_err = |path: &Path| {
        let path = path.to_path_buf();
        move |source| Error::Rpm { path, source }
    };
    let mut pkg = Package::open(input).map_err(rpm_err(input))?;
    let header = pkg.metadata.header_bytes().map_err(rpm_err(input))?;
    let now = rpm::Timestamp(
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs() as u32)
            .unwrap_or_default(),
    );
    let signature = Signing::sign(key, header.as_slice(), now).map_err(rpm_err(input))?;
    // The legacy signature over header and payload as well, as rpm before
    // 4.16 (and `rpmsign --rpmv3`) writes it: tools that read the signing
    // key id from it (OpenSCAP's rpminfo `signature_keyid`) find it there.
    let whole = Signing::sign(key, header.as_slice().chain(pkg.payload.as_slice()), now)
        .map_err(rpm_err(input))?;
    let (tag, v3_tag) = match key.keypair_algo() {
        PublicKeyAlgorithm::RSAEncryptSign => (SIG_RSA, SIG_PGP),
        _ => (SIG_DSA, SIG_GPG),
    };
    pkg.metadata.signature = with_signatures(
        &pkg.metadata.signature,
        vec![(tag, signature), (v3_tag, whole)],
    )
    .map_err(rpm_err(input))?;
    let mut bytes = Vec::new();
    pkg.write(&mut bytes).map_err(rpm_err(output))?;
    crate::write_atomically(output, &bytes, 0o644)
}

/// The signature header with `signatures` (tag, OpenPGP packet) instead of
/// any earlier OpenPGP signature, and the reserved space shrunk by as much as
/// they grew.
fn with_signatures(
    old: &Header<IndexSignatureTag>,
    signatures: Vec<(u32, Vec<u8>)>,
) -> Result<Header<IndexSignatureTag>, rpm::Error> {
    let mut entries = Vec::new();
    let mut removed = 0usize;
    for (t, data) in old.get_all_entries()? {
        match t {
            REGION => {}
            SIG_RSA | SIG_DSA | SIG_OPENPGP | SIG_PGP | SIG_GPG => {
                if let IndexData::Bin(b) = &data {
                    removed += b.len() + 16;
                }
            }
            SIG_RESERVED => {}
            _ => entries.push(HeaderEntry::new(t, data)),
        }
    }
    let added: usize = signatures.iter().map(|(_, s)| s.len() + 16).sum();
    if let Ok(IndexData::Bin(reserved)) = old.entry(SIG_RESERVED) {
        let want = (reserved.len() + removed).saturating_sub(added);
        if want > 0 {
            entries.push(HeaderEntry::new(
                SIG_RESERVED,
                IndexData::Bin(vec![0; want]),
            ));
        }
    }
    for (tag, signature) in signatures {
        entries.push(HeaderEntry::new(tag, IndexData::Bin(signature)));
    }
    Ok(Header::from_entries(
        entries,
        IndexSignatureTag::HEADER_SIGNATURES,
    ))
}

fn base64_decode(s: &str) -> Option<Vec<u8>> {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = Vec::with_capacity(s.len() * 3 / 4);
    let (mut acc, mut bits) = (0u32, 0u32);
    for c in s.bytes().filter(|c| !c.is_ascii_whitespace() && *c != b'=') {
        let v = ALPHABET.iter().position(|&a| a == c)? as u32;
        acc = (acc << 6) | v;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::base64_decode;

    #[test]
    fn base64_decodes_padded_and_unpadded() {
        assert_eq!(base64_decode("aGVsbG8=").unwrap(), b"hello");
        assert_eq!(base64_decode("aGVsbG8").unwrap(), b"hello");
        assert_eq!(base64_decode("aGk=").unwrap(), b"hi");
        assert!(base64_decode("a$b").is_none());
    }
}

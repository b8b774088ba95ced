//! # albs-sign
//!
//! The trust chain of albs: OpenPGP keys on sequoia-openpgp (keyrings
//! encrypted at rest), RPM header signatures through the `rpm` crate's
//! `Signing`/`Verifying` traits implemented on our own sequoia, detached
//! ASCII-armored signatures (`repomd.xml.asc`), and verification that fails
//! closed. [`SigningKey`] implements the [`Signer`] port of albs-core.
//! [`node`] is the sign node (it holds the secret keys and signs the
//! packages of the server's sign tasks) and the server's check of what it
//! uploads.
//!
//! What rpm 4.18 accepts shapes the keys: v4 keys and signatures, no critical
//! Primary-UserID or Embedded-Signature subpackets, signatures made now.
#![deny(missing_docs)]

mod error;
mod key;
pub mod node;
mod rpmsig;
mod verify;

use std::path::Path;
use std::time::SystemTime;

use async_trait::async_trait;
use sequoia_openpgp as openpgp;

use openpgp::parse::Parse;
use openpgp::serialize::Serialize;

pub use albs_core::sign::{HashAlgo, SignError, Signer, SignerIdentity};
pub use error::Error;
pub use key::{KeyAlgorithm, Keyring, Passphrase, SigningKey};
pub use openpgp::Cert;
pub use rpmsig::{RpmVerifier, sign_rpm};
pub use verify::Verified;

impl SigningKey {
    /// An ASCII-armored detached signature of `data` (v4, SHA-256, made now),
    /// as `gpg --verify FILE.asc FILE` and dnf's `repo_gpgcheck` read it.
    pub fn sign_detached(&self, data: &[u8]) -> Result<String, Error> {
        let sig = self.sign_message(data, SystemTime::now())?;
        let what = "armoring a detached signature";
        let mut w = openpgp::armor::Writer::new(Vec::new(), openpgp::armor::Kind::Signature)
            .map_err(|e| Error::pgp(what, e))?;
        openpgp::Packet::from(sig)
            .serialize(&mut w)
            .map_err(|e| Error::pgp(what, e))?;
        let bytes = w.finalize().map_err(|e| Error::pgp(what, e))?;
        String::from_utf8(bytes).map_err(|e| Error::pgp(what, e))
    }
}

/// Verifies a detached signature (armored or binary) of `data`: it must hold
/// only signatures, and one must be by a key of `certs`.
pub fn verify_detached(data: &[u8], signature: &[u8], certs: &[Cert]) -> Result<Verified, Error> {
    const WHAT: &str = "detached signature";
    let pile = openpgp::PacketPile::from_bytes(signature)
        .map_err(|e| Error::untrusted(WHAT, format!("unreadable: {e}")))?;
    let mut reason = String::from("it holds no signature");
    for packet in pile.into_children() {
        let openpgp::Packet::Signature(sig) = packet else {
            return Err(Error::untrusted(
                WHAT,
                format!("it holds a {} packet, not only signatures", packet.tag()),
            ));
        };
        match verify::check(certs, data, &sig) {
            Ok(v) => return Ok(v),
            Err(e) => reason = e,
        }
    }
    Err(Error::untrusted(WHAT, reason))
}

#[async_trait]
impl Signer for SigningKey {
    fn identity(&self) -> &SignerIdentity {
        SigningKey::identity(self)
    }

    /// The raw signature of `digest` in OpenPGP MPI encoding (RSA: PKCS#1 v1.5
    /// over the DigestInfo; Ed25519: r and s).
    async fn sign(&self, algo: HashAlgo, digest: &[u8]) -> Result<Vec<u8>, SignError> {
        if digest.len() != algo.digest_len() {
            return Err(SignError::BadDigest {
                algo,
                want: algo.digest_len(),
                got: digest.len(),
            });
        }
        let hash = match algo {
            HashAlgo::Sha256 => openpgp::types::HashAlgorithm::SHA256,
            HashAlgo::Sha512 => openpgp::types::HashAlgorithm::SHA512,
        };
        self.sign_digest(hash, digest).map_err(|e| SignError::Key {
            fingerprint: self.fingerprint().to_owned(),
            message: e.to_string(),
        })
    }
}

/// Writes `bytes` to `path` through a synced temporary file in the same
/// directory, with permission bits `mode`.
pub(crate) fn write_atomically(path: &Path, bytes: &[u8], mode: u32) -> Result<(), Error> {
    albs_core::fsutil::write_atomic_with_mode(path, bytes, Some(mode))
        .map_err(|e| Error::io(path, e))
}

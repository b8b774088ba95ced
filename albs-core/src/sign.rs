//! The signing port: a public identity plus `sign(digest)`.
//!
//! Keys stay behind the [`Signer`]: the same trait serves a key file on a sign
//! node, an agent or an HSM. OpenPGP signers live in `albs-sign`; here is the
//! port and [`MemorySigner`], a keyed-hash signer for tests of code that only
//! needs *a* signer (it is not OpenPGP and nothing outside albs verifies it).

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use sha2::Digest as _;

/// Digest algorithms a signer may be asked to sign.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum HashAlgo {
    /// SHA-256.
    Sha256,
    /// SHA-512.
    Sha512,
}

impl HashAlgo {
    /// Digest length in bytes.
    pub fn digest_len(self) -> usize {
        match self {
            HashAlgo::Sha256 => 32,
            HashAlgo::Sha512 => 64,
        }
    }
}

/// Who signs: what a verifier needs to know of a signer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignerIdentity {
    /// Key fingerprint (upper-case hex for OpenPGP keys).
    pub fingerprint: String,
    /// Public-key algorithm (`rsa4096`, `ed25519`, `test-hmac`).
    pub algorithm: String,
    /// The public key as the verifier's format wants it (ASCII-armored OpenPGP).
    pub public_key: Vec<u8>,
}

/// Errors from signers.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SignError {
    /// The digest has the wrong length for its algorithm.
    #[error("a {algo:?} digest has {want} bytes, got {got}")]
    BadDigest {
        /// The algorithm.
        algo: HashAlgo,
        /// Expected length.
        want: usize,
        /// Given length.
        got: usize,
    },
    /// The key is unusable (locked, expired, wrong passphrase).
    #[error("signing key {fingerprint} cannot sign: {message}")]
    Key {
        /// The key.
        fingerprint: String,
        /// What is wrong.
        message: String,
    },
}

/// Signs digests with a key it never hands out.
#[async_trait]
pub trait Signer: Send + Sync {
    /// The public side of the key.
    fn identity(&self) -> &SignerIdentity;
    /// Signs `digest`, which was made with `algo`; returns the raw signature.
    async fn sign(&self, algo: HashAlgo, digest: &[u8]) -> Result<Vec<u8>, SignError>;
}

/// A keyed-hash signer for tests: `signature = SHA-256(secret || algo || digest)`.
pub struct MemorySigner {
    secret: [u8; 32],
    identity: SignerIdentity,
}

impl MemorySigner {
    /// A signer whose secret derives from `seed`.
    pub fn new(seed: &str) -> Self {
        let secret: [u8; 32] = sha2::Sha256::digest(seed.as_bytes()).into();
        let public: [u8; 32] = sha2::Sha256::digest(secret).into();
        MemorySigner {
            secret,
            identity: SignerIdentity {
                fingerprint: hex::encode_upper(&public[..20]),
                algorithm: "test-hmac".into(),
                public_key: public.to_vec(),
            },
        }
    }

    /// Checks a signature made by this signer.
    pub fn verify(&self, algo: HashAlgo, digest: &[u8], signature: &[u8]) -> bool {
        self.mac(algo, digest).as_slice() == signature
    }

    fn mac(&self, algo: HashAlgo, digest: &[u8]) -> [u8; 32] {
        let mut h = sha2::Sha256::new();
        h.update(self.secret);
        h.update([algo.digest_len() as u8]);
        h.update(digest);
        h.finalize().into()
    }
}

#[async_trait]
impl Signer for MemorySigner {
    fn identity(&self) -> &SignerIdentity {
        &self.identity
    }
    async fn sign(&self, algo: HashAlgo, digest: &[u8]) -> Result<Vec<u8>, SignError> {
        if digest.len() != algo.digest_len() {
            return Err(SignError::BadDigest {
                algo,
                want: algo.digest_len(),
                got: digest.len(),
            });
        }
        Ok(self.mac(algo, digest).to_vec())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn memory_signer_conforms() {
        let s = MemorySigner::new("a");
        crate::conformance::signer(&s).await;
        let d = [7u8; 32];
        let sig = s.sign(HashAlgo::Sha256, &d).await.unwrap();
        assert!(s.verify(HashAlgo::Sha256, &d, &sig));
        assert!(!MemorySigner::new("b").verify(HashAlgo::Sha256, &d, &sig));
    }
}

//! OpenPGP signing keys: generation, import, export, passphrases and keyrings.
//!
//! Keys are v4 (RFC 4880) because rpm 4.18 refuses v6. Generated keys are a
//! single primary key that certifies and signs, bound to its User ID by a
//! signature whose subpackets are all non-critical except the creation time:
//! `rpmkeys --import` of rpm 4.18 refuses critical Primary-UserID and
//! Embedded-Signature subpackets, which sequoia's `CertBuilder` emits.

use std::fmt;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use albs_core::sign::SignerIdentity;
use sequoia_openpgp as openpgp;

use openpgp::armor;
use openpgp::cert::CertParser;
use openpgp::cert::amalgamation::key::PrimaryKey as _;
use openpgp::crypto::{KeyPair, Password};
use openpgp::packet::key::{Key4, PrimaryRole, SecretParts, UnspecifiedRole};
use openpgp::packet::signature::SignatureBuilder;
use openpgp::packet::{Key, Signature, UserID};
use openpgp::parse::Parse;
use openpgp::policy::StandardPolicy;
use openpgp::serialize::{MarshalInto, Serialize};
use openpgp::types::{Curve, HashAlgorithm, KeyFlags, PublicKeyAlgorithm, SignatureType};
use openpgp::{Cert, Packet};

use crate::Error;

/// A passphrase that protects secret keys at rest. Its `Debug` shows only
/// where it came from.
pub struct Passphrase {
    password: Password,
    origin: String,
}

impl Passphrase {
    /// Reads the passphrase from the environment variable `var`.
    pub fn from_env(var: &str) -> Result<Self, Error> {
        let origin = format!("env {var}");
        match std::env::var(var) {
            Ok(v) if !v.is_empty() => Ok(Passphrase {
                password: Password::from(v),
                origin,
            }),
            Ok(_) => Err(Error::Passphrase {
                origin,
                message: "the variable is empty".into(),
            }),
            Err(e) => Err(Error::Passphrase {
                origin,
                message: format!("{e}; export it before starting"),
            }),
        }
    }

    /// Reads the passphrase from the file at `path` (one trailing newline is
    /// not part of it).
    pub fn from_file(path: impl AsRef<Path>) -> Result<Self, Error> {
        let path = path.as_ref();
        let origin = format!("file {}", path.display());
        let mut bytes = std::fs::read(path).map_err(|e| Error::Passphrase {
            origin: origin.clone(),
            message: e.to_string(),
        })?;
        if bytes.last() == Some(&b'\n') {
            bytes.pop();
            if bytes.last() == Some(&b'\r') {
                bytes.pop();
            }
        }
        if bytes.is_empty() {
            return Err(Error::Passphrase {
                origin,
                message: "the file is empty".into(),
            });
        }
        Ok(Passphrase {
            password: Password::from(bytes),
            origin,
        })
    }

    /// A passphrase the caller already holds (tests, interactive prompts).
    pub fn from_secret(secret: impl Into<String>) -> Self {
        Passphrase {
            password: Password::from(secret.into()),
            origin: "caller".into(),
        }
    }

    pub(crate) fn password(&self) -> &Password {
        &self.password
    }
}

impl fmt::Debug for Passphrase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Passphrase")
            .field("origin", &self.origin)
            .finish_non_exhaustive()
    }
}

/// Public-key algorithms for new keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum KeyAlgorithm {
    /// RSA with a 4096-bit modulus (the default: what distributions use).
    #[default]
    Rsa4096,
    /// Ed25519 (EdDSA, v4 "legacy" encoding that rpm 4.18 reads).
    Ed25519,
}

/// An unlocked OpenPGP signing key. The secret stays in memory (sequoia keeps
/// it encrypted there between uses); `Debug` shows only the fingerprint.
pub struct SigningKey {
    cert: Cert,
    keypair: KeyPair,
    primary: bool,
    identity: SignerIdentity,
}

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SigningKey")
            .field("fingerprint", &self.identity.fingerprint)
            .field("algorithm", &self.identity.algorithm)
            .finish_non_exhaustive()
    }
}

impl SigningKey {
    /// Generates a new v4 key that rpm 4.18 imports, bound to `user_id`
    /// (`Name <email>`).
    pub fn generate(user_id: &str, algorithm: KeyAlgorithm) -> Result<Self, Error> {
        let key: Key<SecretParts, PrimaryRole> = match algorithm {
            KeyAlgorithm::Rsa4096 => Key4::generate_rsa(4096),
            KeyAlgorithm::Ed25519 => Key4::generate_ecc(true, Curve::Ed25519),
        }
        .map_err(|e| Error::pgp("generating a key", e))?
        .into();
        let mut signer = key
            .clone()
            .into_keypair()
            .map_err(|e| Error::pgp("generating a key", e))?;
        let uid = UserID::from(user_id);
        let binding = SignatureBuilder::new(SignatureType::PositiveCertification)
            .set_key_flags(KeyFlags::empty().set_certification().set_signing())
            .and_then(|b| {
                b.set_preferred_hash_algorithms(vec![HashAlgorithm::SHA512, HashAlgorithm::SHA256])
            })
            .map(|b| b.set_hash_algo(HashAlgorithm::SHA256))
            .and_then(|b| b.sign_userid_binding(&mut signer, None, &uid))
            .map_err(|e| Error::pgp("binding the User ID", e))?;
        let cert = Cert::from_packets(
            vec![Packet::from(key), Packet::from(uid), Packet::from(binding)].into_iter(),
        )
        .map_err(|e| Error::pgp("assembling the certificate", e))?;
        Self::from_cert(&cert, None)
    }

    /// Imports a transferable secret key (armored or binary), decrypting it
    /// with `passphrase` when its secret is encrypted.
    pub fn from_tsk(bytes: &[u8], passphrase: Option<&Passphrase>) -> Result<Self, Error> {
        let cert = Cert::from_bytes(bytes).map_err(|e| Error::pgp("reading a secret key", e))?;
        Self::from_cert(&cert, passphrase)
    }

    /// Unlocks the signing-capable secret key of `cert` (the primary or a
    /// subkey that is valid now).
    pub fn from_cert(cert: &Cert, passphrase: Option<&Passphrase>) -> Result<Self, Error> {
        let fingerprint = cert.fingerprint().to_hex();
        let key_err = |message: &str| Error::Key {
            fingerprint: fingerprint.clone(),
            message: message.into(),
        };
        if cert.primary_key().key().version() != 4 {
            return Err(key_err(
                "is not an OpenPGP v4 key; rpm 4.18 refuses v6 keys and signatures",
            ));
        }
        let policy = StandardPolicy::new();
        let valid = cert.with_policy(&policy, None).map_err(|e| Error::Key {
            fingerprint: fingerprint.clone(),
            message: format!("is not valid now: {e}"),
        })?;
        let ka = valid
            .keys()
            .for_signing()
            .alive()
            .revoked(false)
            .secret()
            .next()
            .ok_or_else(|| {
                key_err("has no valid signing-capable secret key (is this a public key?)")
            })?;
        let primary = ka.primary();
        let key: Key<SecretParts, UnspecifiedRole> = ka.key().clone();
        let key = if key.has_unencrypted_secret() {
            key
        } else {
            let Some(passphrase) = passphrase else {
                return Err(Error::Locked { fingerprint });
            };
            key.decrypt_secret(passphrase.password())
                .map_err(|_| Error::WrongPassphrase {
                    fingerprint: fingerprint.clone(),
                })?
        };
        let keypair = key
            .into_keypair()
            .map_err(|e| Error::pgp("unlocking the secret key", e))?;
        let public = cert.clone().strip_secret_key_material();
        let armored = public
            .armored()
            .to_vec()
            .map_err(|e| Error::pgp("armoring the public key", e))?;
        let identity = SignerIdentity {
            fingerprint,
            algorithm: algorithm_name(keypair.public()),
            public_key: armored,
        };
        Ok(SigningKey {
            cert: public,
            keypair,
            primary,
            identity,
        })
    }

    /// The certificate (public key) as ASCII armor, ready for `rpmkeys --import`.
    pub fn public_key_armored(&self) -> &str {
        // Armor is ASCII by construction.
        std::str::from_utf8(&self.identity.public_key).unwrap_or_default()
    }

    /// The certificate (public parts only).
    pub fn cert(&self) -> &Cert {
        &self.cert
    }

    /// The certificate's fingerprint, upper-case hex.
    pub fn fingerprint(&self) -> &str {
        &self.identity.fingerprint
    }

    /// The key ID of the key that makes signatures, upper-case hex (rpm shows
    /// its last eight digits in lower case).
    pub fn signing_key_id(&self) -> String {
        self.keypair.public().keyid().to_hex()
    }

    pub(crate) fn keypair_algo(&self) -> PublicKeyAlgorithm {
        self.keypair.public().pk_algo()
    }

    /// `rsa4096`, `ed25519`, …
    pub fn algorithm(&self) -> &str {
        &self.identity.algorithm
    }

    /// The identity for the albs-core [`Signer`](albs_core::sign::Signer) port.
    pub fn identity(&self) -> &SignerIdentity {
        &self.identity
    }

    /// Exports the key as an armored transferable secret key whose secret is
    /// encrypted with `passphrase`.
    pub fn export_tsk(&self, passphrase: &Passphrase) -> Result<String, Error> {
        let cert = self.encrypted_cert(passphrase)?;
        let bytes = cert
            .as_tsk()
            .armored()
            .to_vec()
            .map_err(|e| Error::pgp("armoring the secret key", e))?;
        String::from_utf8(bytes).map_err(|e| Error::pgp("armoring the secret key", e))
    }

    /// The certificate with this key's secret, encrypted with `passphrase`.
    pub(crate) fn encrypted_cert(&self, passphrase: &Passphrase) -> Result<Cert, Error> {
        let secret: Key<SecretParts, UnspecifiedRole> = self.keypair.clone().into();
        let secret = secret
            .encrypt_secret(passphrase.password())
            .map_err(|e| Error::pgp("encrypting the secret key", e))?;
        let packet = if self.primary {
            Packet::from(secret.role_into_primary())
        } else {
            Packet::from(secret.role_into_subordinate())
        };
        let (cert, _) = self
            .cert
            .clone()
            .insert_packets(Some(packet))
            .map_err(|e| Error::pgp("adding the secret key", e))?;
        Ok(cert)
    }

    /// A v4 binary-document signature over `data`, SHA-256, made at `when`.
    pub(crate) fn sign_message(&self, data: &[u8], when: SystemTime) -> Result<Signature, Error> {
        let mut keypair = self.keypair.clone();
        SignatureBuilder::new(SignatureType::Binary)
            .set_signature_creation_time(when)
            .map(|b| b.set_hash_algo(HashAlgorithm::SHA256))
            .and_then(|b| b.sign_message(&mut keypair, data))
            .map_err(|e| Error::Key {
                fingerprint: self.identity.fingerprint.clone(),
                message: format!("cannot sign: {e}"),
            })
    }

    /// Signs a finished digest (for the albs-core port): the raw signature
    /// value (OpenPGP MPI encoding).
    pub(crate) fn sign_digest(&self, algo: HashAlgorithm, digest: &[u8]) -> Result<Vec<u8>, Error> {
        use openpgp::crypto::Signer as _;
        let mut keypair = self.keypair.clone();
        let sig = keypair.sign(algo, digest).map_err(|e| Error::Key {
            fingerprint: self.identity.fingerprint.clone(),
            message: format!("cannot sign: {e}"),
        })?;
        sig.to_vec()
            .map_err(|e| Error::pgp("serializing a signature", e))
    }
}

fn algorithm_name<P, R>(key: &Key<P, R>) -> String
where
    P: openpgp::packet::key::KeyParts,
    R: openpgp::packet::key::KeyRole,
{
    match key.pk_algo() {
        PublicKeyAlgorithm::RSAEncryptSign => {
            format!("rsa{}", key.mpis().bits().unwrap_or(0))
        }
        PublicKeyAlgorithm::EdDSA | PublicKeyAlgorithm::Ed25519 => "ed25519".into(),
        other => other.to_string().to_lowercase(),
    }
}

/// A file of secret keys, each encrypted with a passphrase at rest (one
/// ASCII-armored block of transferable secret keys).
#[derive(Debug)]
pub struct Keyring {
    path: PathBuf,
    certs: Vec<Cert>,
}

impl Keyring {
    /// Opens the keyring at `path`; a missing file is an empty keyring.
    /// Refuses a file that holds an unencrypted secret key.
    pub fn open(path: impl Into<PathBuf>) -> Result<Self, Error> {
        let path = path.into();
        let bytes = match std::fs::read(&path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Ok(Keyring {
                    path,
                    certs: Vec::new(),
                });
            }
            Err(e) => return Err(Error::io(&path, e)),
        };
        let what = || format!("reading keyring {}", path.display());
        let mut certs = Vec::new();
        for cert in CertParser::from_bytes(&bytes).map_err(|e| Error::pgp(what(), e))? {
            let cert = cert.map_err(|e| Error::pgp(what(), e))?;
            if cert.keys().unencrypted_secret().next().is_some() {
                return Err(Error::Key {
                    fingerprint: cert.fingerprint().to_hex(),
                    message: format!(
                        "keyring {} holds its secret unencrypted; re-add the key with a passphrase",
                        path.display()
                    ),
                });
            }
            certs.push(cert);
        }
        Ok(Keyring { path, certs })
    }

    /// Fingerprints of the keys, upper-case hex.
    pub fn fingerprints(&self) -> Vec<String> {
        self.certs
            .iter()
            .map(|c| c.fingerprint().to_hex())
            .collect()
    }

    /// Adds `key` (replacing a key with the same fingerprint), its secret
    /// encrypted with `passphrase`. Call [`Keyring::save`] to write the file.
    pub fn add(&mut self, key: &SigningKey, passphrase: &Passphrase) -> Result<(), Error> {
        let cert = key.encrypted_cert(passphrase)?;
        self.certs.retain(|c| c.fingerprint() != cert.fingerprint());
        self.certs.push(cert);
        Ok(())
    }

    /// The public certificate of the key with `fingerprint`.
    pub fn public_cert(&self, fingerprint: &str) -> Option<Cert> {
        self.find(fingerprint)
            .map(|c| c.clone().strip_secret_key_material())
    }

    /// Unlocks the key with `fingerprint`.
    pub fn unlock(&self, fingerprint: &str, passphrase: &Passphrase) -> Result<SigningKey, Error> {
        let cert = self.find(fingerprint).ok_or_else(|| Error::Key {
            fingerprint: fingerprint.into(),
            message: format!("is not in keyring {}", self.path.display()),
        })?;
        SigningKey::from_cert(cert, Some(passphrase))
    }

    fn find(&self, fingerprint: &str) -> Option<&Cert> {
        self.certs
            .iter()
            .find(|c| c.fingerprint().to_hex().eq_ignore_ascii_case(fingerprint))
    }

    /// Writes the keyring atomically, readable by its owner only.
    pub fn save(&self) -> Result<(), Error> {
        let what = || format!("writing keyring {}", self.path.display());
        let mut w = armor::Writer::new(Vec::new(), armor::Kind::SecretKey)
            .map_err(|e| Error::pgp(what(), e))?;
        for cert in &self.certs {
            cert.as_tsk()
                .serialize(&mut w)
                .map_err(|e| Error::pgp(what(), e))?;
        }
        let bytes = w.finalize().map_err(|e| Error::pgp(what(), e))?;
        crate::write_atomically(&self.path, &bytes, 0o600)
    }
}

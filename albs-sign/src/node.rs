//! The sign node and the server's check of what it uploads.
//!
//! A sign node holds secret keys (unlocked from an encrypted keyring) that
//! never leave it. It claims sign tasks for the keys it holds, downloads each
//! unsigned package (its sha256 checked), refuses any package the server's
//! ledger does not know (the task fails, naming the package), signs the rest
//! with [`sign_rpm`](crate::sign_rpm), uploads the signed twins and completes
//! the task. The server checks every upload with [`check_signed_twin`]: the
//! signature must verify with the task key's public certificate, and the
//! signed package must be its unsigned twin plus a signature.

use std::collections::BTreeMap;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::time::Duration;

use albs_core::api::{SignAssignment, SignPackage, SignResult, SignTask};
use albs_core::client::{Client, ClientError};
use albs_core::ledger::RecordKind;
use albs_core::model::TaskState;
use rpm::{IndexData, IndexSignatureTag, Package};
use sequoia_openpgp as openpgp;

use openpgp::Packet;
use openpgp::parse::Parse;

use crate::{Error, RpmVerifier, SigningKey, Verified};

/// Errors that stop a sign node (a package it refuses fails its task and is
/// reported, it does not stop the node).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SignNodeError {
    /// The server refused or could not be reached.
    #[error(transparent)]
    Client(#[from] ClientError),
    /// Local I/O failed.
    #[error("{what}: {source}")]
    Io {
        /// What was being done.
        what: String,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The node has no key to sign with.
    #[error("the sign node holds no key; give it at least one from the keyring")]
    NoKeys,
    /// Signing failed on the node.
    #[error("signing {what}: {source}")]
    Signing {
        /// What was being signed.
        what: String,
        /// The cause.
        #[source]
        source: Error,
    },
}

/// Checks that `signed` is the package `unsigned` with a header signature by
/// the certificate `public_key` (armored or binary) added: the signature and
/// the digests verify, and the main header and the payload are byte for byte
/// the unsigned package's. A signature by any other key is refused with both
/// fingerprints named.
pub fn check_signed_twin(
    unsigned: &[u8],
    signed: &[u8],
    public_key: &[u8],
) -> Result<Verified, Error> {
    const WHAT: &str = "signed package";
    let verifier = RpmVerifier::from_public_keys(public_key)?;
    let want: Vec<String> = openpgp::cert::CertParser::from_bytes(public_key)
        .map_err(|e| Error::pgp("reading public keys", e))?
        .filter_map(Result::ok)
        .map(|c| c.fingerprint().to_hex())
        .collect();
    let mut tmp = tempfile::NamedTempFile::new().map_err(|e| Error::io("a temporary file", e))?;
    std::io::Write::write_all(&mut tmp, signed).map_err(|e| Error::io(tmp.path(), e))?;
    let verified = match verifier.verify_rpm(tmp.path()) {
        Ok(v) => v,
        Err(Error::Untrusted { reason, .. }) => {
            let by = signers(signed);
            let by = if by.is_empty() {
                "no OpenPGP signature".to_owned()
            } else {
                by.join(", ")
            };
            return Err(Error::untrusted(
                WHAT,
                format!(
                    "it must be signed by key {}, it is signed by {by} ({reason})",
                    want.join(", ")
                ),
            ));
        }
        Err(e) => return Err(e),
    };
    let parse = |bytes: &[u8], which: &str| {
        Package::parse(&mut std::io::Cursor::new(bytes))
            .map_err(|e| Error::untrusted(WHAT, format!("the {which} package cannot be read: {e}")))
    };
    let (a, b) = (parse(unsigned, "unsigned")?, parse(signed, "signed")?);
    let header = |p: &Package, which: &str| {
        p.metadata
            .header_bytes()
            .map_err(|e| Error::untrusted(WHAT, format!("the {which} package's header: {e}")))
    };
    if header(&a, "unsigned")? != header(&b, "signed")? {
        return Err(Error::untrusted(
            WHAT,
            "its header differs from the unsigned package's: it is another package",
        ));
    }
    if a.payload != b.payload {
        return Err(Error::untrusted(
            WHAT,
            "its payload differs from the unsigned package's: it is another package",
        ));
    }
    Ok(verified)
}

/// A public certificate as ASCII armor (`rpmkeys --import` and
/// `POST /api/v1/keys` take it).
pub fn armored_public(cert: &crate::Cert) -> Result<String, Error> {
    use openpgp::serialize::SerializeInto as _;
    let bytes = cert
        .clone()
        .strip_secret_key_material()
        .armored()
        .to_vec()
        .map_err(|e| Error::pgp("armoring a public key", e))?;
    String::from_utf8(bytes).map_err(|e| Error::pgp("armoring a public key", e))
}

/// The fingerprint of a public certificate (armored or binary), as a
/// server registers it: exactly one certificate, no secret key material.
pub fn public_key_fingerprint(public_key: &[u8]) -> Result<String, Error> {
    let certs = openpgp::cert::CertParser::from_bytes(public_key)
        .map_err(|e| Error::pgp("reading the public key", e))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| Error::pgp("reading the public key", e))?;
    let [cert] = certs.as_slice() else {
        return Err(Error::Key {
            fingerprint: "-".into(),
            message: format!(
                "expected one OpenPGP certificate, found {}; send `albs key export` output",
                certs.len()
            ),
        });
    };
    if cert.is_tsk() {
        return Err(Error::Key {
            fingerprint: cert.fingerprint().to_hex(),
            message: "it holds secret key material; send only the public key \
                      (`albs key export`), secret keys stay on the sign node"
                .into(),
        });
    }
    Ok(cert.fingerprint().to_hex())
}

/// The fingerprints (or key IDs) named as issuers by the header signatures
/// of a package.
fn signers(package: &[u8]) -> Vec<String> {
    let Ok(pkg) = Package::parse(&mut std::io::Cursor::new(package)) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for tag in [
        IndexSignatureTag::RPMSIGTAG_RSA,
        IndexSignatureTag::RPMSIGTAG_DSA,
    ] {
        if let Ok(IndexData::Bin(b)) = pkg.metadata.signature.entry(tag as u32)
            && let Ok(Packet::Signature(sig)) = Packet::from_bytes(&b)
        {
            let fprs: Vec<String> = sig.issuer_fingerprints().map(|f| f.to_hex()).collect();
            if fprs.is_empty() {
                out.extend(sig.issuers().map(|k| format!("key ID {}", k.to_hex())));
            } else {
                out.extend(fprs);
            }
        }
    }
    out
}

/// How a sign node paces itself.
#[derive(Debug, Clone)]
pub struct SignNodeConfig {
    /// Scratch space for packages.
    pub work_dir: PathBuf,
    /// Wait between claims when no task waits.
    pub poll_interval: Duration,
}

impl Default for SignNodeConfig {
    fn default() -> Self {
        SignNodeConfig {
            work_dir: std::env::temp_dir().join("albs-sign-node"),
            poll_interval: Duration::from_secs(2),
        }
    }
}

/// A sign node bound to one server, with its unlocked keys.
pub struct SignNode {
    client: Client,
    keys: BTreeMap<String, SigningKey>,
    config: SignNodeConfig,
}

impl std::fmt::Debug for SignNode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SignNode")
            .field("server", &self.client.base())
            .field("keys", &self.keys.keys().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

/// What the node did with a task.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignOutcome {
    /// The task as the server has it after completion.
    pub task: SignTask,
}

impl SignNode {
    /// A sign node of the server behind `client` (with the node's token)
    /// that signs with `keys`.
    pub fn new(
        client: Client,
        keys: Vec<SigningKey>,
        config: SignNodeConfig,
    ) -> Result<Self, SignNodeError> {
        if keys.is_empty() {
            return Err(SignNodeError::NoKeys);
        }
        let keys = keys
            .into_iter()
            .map(|k| (k.fingerprint().to_owned(), k))
            .collect();
        Ok(SignNode {
            client,
            keys,
            config,
        })
    }

    /// Fingerprints of the keys it holds.
    pub fn fingerprints(&self) -> Vec<String> {
        self.keys.keys().cloned().collect()
    }

    /// Claims and runs at most one sign task.
    pub async fn run_once(&self) -> Result<Option<SignOutcome>, SignNodeError> {
        let claim = self.client.sign_claim(&self.fingerprints()).await?;
        let Some(a) = claim.task else {
            return Ok(None);
        };
        tracing::info!(task = a.task.id, build = a.task.build_id, key = %a.task.fingerprint, packages = a.task.packages.len(), "sign task claimed");
        let dir = self.config.work_dir.join(format!("sign-{}", a.task.id));
        tokio::fs::create_dir_all(&dir)
            .await
            .map_err(|source| SignNodeError::Io {
                what: format!("creating {}", dir.display()),
                source,
            })?;
        let result = match self.sign_all(&a, &dir).await {
            Ok(()) => SignResult {
                state: TaskState::Succeeded,
                reason: None,
            },
            Err(Refusal::Refused(reason)) => {
                tracing::warn!(task = a.task.id, %reason, "sign task failed");
                SignResult {
                    state: TaskState::Failed,
                    reason: Some(reason),
                }
            }
            Err(Refusal::Stop(e)) => {
                let _ = tokio::fs::remove_dir_all(&dir).await;
                return Err(e);
            }
        };
        let _ = tokio::fs::remove_dir_all(&dir).await;
        let task = self.client.sign_complete(a.task.id, &result).await?;
        tracing::info!(task = task.id, state = %task.state, "sign task completed");
        Ok(Some(SignOutcome { task }))
    }

    /// Signs every published `repomd.xml` that waits for one of the node's
    /// keys (detached, ASCII-armored) and posts the signatures; the server
    /// keeps one only if it verifies and the file is unchanged. Returns how
    /// many were signed.
    pub async fn sign_repomds(&self) -> Result<usize, SignNodeError> {
        let pending = self.client.repomd_pending(&self.fingerprints()).await?;
        let mut signed = 0;
        for p in pending {
            let Some(key) = self.keys.get(&p.fingerprint) else {
                continue;
            };
            let what = format!("{}/repodata/repomd.xml", p.repo);
            if albs_core::hash::Sha256::of(p.repomd.as_bytes()) != p.repomd_sha256 {
                tracing::warn!(repo = %p.repo, "repomd.xml does not match its sha256; not signed");
                continue;
            }
            let signature = key.sign_detached(p.repomd.as_bytes()).map_err(|source| {
                SignNodeError::Signing {
                    what: what.clone(),
                    source,
                }
            })?;
            self.client
                .repomd_signature(&albs_core::release::RepomdSignature {
                    repo: p.repo.clone(),
                    repomd_sha256: p.repomd_sha256,
                    fingerprint: p.fingerprint.clone(),
                    signature,
                })
                .await?;
            tracing::info!(repo = %p.repo, key = %p.fingerprint, "repomd.xml signed");
            signed += 1;
        }
        Ok(signed)
    }

    /// Runs sign tasks, and signs waiting `repomd.xml` files whenever no
    /// sign task waits, until `stop` resolves.
    pub async fn run(&self, stop: impl Future<Output = ()>) -> Result<(), SignNodeError> {
        tokio::pin!(stop);
        loop {
            let ran = tokio::select! {
                _ = &mut stop => return Ok(()),
                r = self.run_once() => r,
            };
            match ran {
                Ok(Some(_)) => continue,
                Ok(None) => {
                    let signed = tokio::select! {
                        _ = &mut stop => return Ok(()),
                        r = self.sign_repomds() => r,
                    };
                    match signed {
                        Ok(n) if n > 0 => continue,
                        Ok(_) => {}
                        Err(SignNodeError::Client(e)) if !matches!(e.status(), Some(401 | 403)) => {
                            tracing::warn!(error = %e, "repomd.xml signatures not posted; retrying");
                        }
                        Err(e) => return Err(e),
                    }
                }
                Err(SignNodeError::Client(e)) if !matches!(e.status(), Some(401 | 403)) => {
                    // The server is down, or the task's lease was lost to
                    // another node: try again later.
                    tracing::warn!(error = %e, "sign task not finished; retrying");
                }
                Err(e) => return Err(e),
            }
            tokio::select! {
                _ = &mut stop => return Ok(()),
                _ = tokio::time::sleep(self.config.poll_interval) => {}
            }
        }
    }

    async fn sign_all(&self, a: &SignAssignment, dir: &Path) -> Result<(), Refusal> {
        let task = &a.task;
        let key = self.keys.get(&task.fingerprint).ok_or_else(|| {
            Refusal::Refused(format!(
                "this sign node does not hold key {}",
                task.fingerprint
            ))
        })?;
        for p in &task.packages {
            if p.signed.is_some() {
                continue;
            }
            self.client.sign_heartbeat(task.id).await?;
            let unsigned = dir.join(format!("{}.unsigned.rpm", p.unsigned));
            // The client checks the sha256 of what it downloads.
            self.client
                .download(&p.unsigned, &unsigned)
                .await
                .map_err(|e| match e {
                    ClientError::Api { .. } | ClientError::Io { .. } => {
                        Refusal::Refused(format!("package {}: {e}", describe(p)))
                    }
                    other => Refusal::Stop(other.into()),
                })?;
            self.check_ledger(task, p).await?;
            let signed = dir.join(format!("{}.signed.rpm", p.unsigned));
            let (key_in, out) = (unsigned.clone(), signed.clone());
            crate::sign_rpm(&key_in, &out, key).map_err(|e| {
                Refusal::Refused(format!("signing package {} failed: {e}", describe(p)))
            })?;
            let up = self
                .client
                .upload_signed(task.id, &p.unsigned, &signed)
                .await
                .map_err(|e| match e {
                    ClientError::Api { status, .. } if status < 500 && status != 409 => {
                        Refusal::Refused(format!(
                            "the server refused the signed package {}: {e}",
                            describe(p)
                        ))
                    }
                    other => Refusal::Stop(other.into()),
                })?;
            tracing::info!(task = task.id, unsigned = %p.unsigned, signed = %up.signed, ledger = up.ledger_index, "package signed");
        }
        Ok(())
    }

    /// The package must be in the server's ledger as a built SRPM or RPM.
    async fn check_ledger(&self, task: &SignTask, p: &SignPackage) -> Result<(), Refusal> {
        let entries = self.client.ledger_artifact(&p.unsigned).await?;
        let known = entries.iter().any(|e| {
            e.record.artifact == Some(p.unsigned)
                && matches!(e.record.kind, RecordKind::Rpm | RecordKind::Srpm)
        });
        if known {
            Ok(())
        } else {
            Err(Refusal::Refused(format!(
                "package {} of build {} has no build record in the ledger; refusing to sign it",
                describe(p),
                task.build_id
            )))
        }
    }
}

/// `name (sha256 …)`.
fn describe(p: &SignPackage) -> String {
    format!("{} (sha256 {})", p.name, p.unsigned)
}

/// Why a task did not succeed: a refusal fails the task, anything else
/// stops the node's attempt (the lease runs out and the task is retried).
enum Refusal {
    Refused(String),
    Stop(SignNodeError),
}

impl From<ClientError> for Refusal {
    fn from(e: ClientError) -> Self {
        Refusal::Stop(e.into())
    }
}

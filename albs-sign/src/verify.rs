//! Signature checks shared by RPM headers and detached signatures. They fail
//! closed: no signature, an unknown issuer, a weak hash, a key that was not
//! valid when it signed, or a bad signature is a refusal with a reason. Each
//! check hashes the data afresh (sequoia's `DetachedVerifier` reused for a
//! second document accepted tampered data, so none is kept).

use std::time::SystemTime;

use sequoia_openpgp as openpgp;

use openpgp::packet::Signature;
use openpgp::policy::{HashAlgoSecurity, Policy, StandardPolicy};
use openpgp::types::SignatureType;
use openpgp::{Cert, KeyHandle};

/// Who made a signature that verified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    /// Fingerprint of the certificate that vouches for the signature (upper hex).
    pub fingerprint: String,
    /// Key ID of the (sub)key that signed (upper hex).
    pub key_id: String,
    /// When the signature was made.
    pub created: SystemTime,
}

/// Checks `sig` over `data` against the trusted `certs`; `Err` says why not.
pub(crate) fn check(certs: &[Cert], data: &[u8], sig: &Signature) -> Result<Verified, String> {
    if sig.typ() != SignatureType::Binary {
        return Err(format!(
            "signature type {} is not a binary-document signature",
            sig.typ()
        ));
    }
    let policy = StandardPolicy::new();
    policy
        .signature(sig, HashAlgoSecurity::CollisionResistance)
        .map_err(|e| format!("signature refused by policy: {e}"))?;
    let created = sig
        .signature_creation_time()
        .ok_or("signature has no creation time")?;
    let issuers: Vec<KeyHandle> = sig.get_issuers();
    if issuers.is_empty() {
        return Err("signature names no issuer".into());
    }
    let mut last = None;
    for cert in certs {
        let Ok(valid) = cert.with_policy(&policy, created) else {
            continue;
        };
        for ka in valid
            .keys()
            .for_signing()
            .alive()
            .revoked(false)
            .key_handles(issuers.iter())
        {
            match sig.verify_message(ka.key(), data) {
                Ok(()) => {
                    return Ok(Verified {
                        fingerprint: cert.fingerprint().to_hex(),
                        key_id: ka.key().keyid().to_hex(),
                        created,
                    });
                }
                Err(e) => last = Some(format!("bad signature by key {}: {e}", ka.key().keyid())),
            }
        }
    }
    Err(last.unwrap_or_else(|| {
        let names: Vec<String> = issuers.iter().map(|h| h.to_hex()).collect();
        format!(
            "signed by {} which no trusted key (valid at signing time) matches",
            names.join(", ")
        )
    }))
}

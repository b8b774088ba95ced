//! SLSA v1 provenance as an in-toto Statement v1, in a DSSE envelope signed
//! with an Ed25519 key (the same key format as ledger checkpoints).

use albs_core::checkpoint::{CheckpointSigner, VerifierKey};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use ed25519_dalek::{Signature, Signer as _, SigningKey, VerifyingKey};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::component::Component;
use crate::{SbomError, Subject, rfc3339};

/// The DSSE payload type of in-toto statements.
pub const PAYLOAD_TYPE: &str = "application/vnd.in-toto+json";
/// The build type albs's provenance describes.
pub const BUILD_TYPE: &str = "https://almalinux.org/albs/buildtypes/rpm/v1";

/// A DSSE envelope.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Envelope {
    /// base64 of the statement.
    pub payload: String,
    /// [`PAYLOAD_TYPE`].
    #[serde(rename = "payloadType")]
    pub payload_type: String,
    /// Signatures over the pre-authentication encoding.
    pub signatures: Vec<EnvelopeSignature>,
}

/// One DSSE signature.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EnvelopeSignature {
    /// Hex C2SP key id of the signer.
    #[serde(default)]
    pub keyid: String,
    /// base64 Ed25519 signature.
    pub sig: String,
}

/// DSSE's pre-authentication encoding of a payload.
pub fn pae(payload_type: &str, payload: &[u8]) -> Vec<u8> {
    let mut o = format!(
        "DSSEv1 {} {} {} ",
        payload_type.len(),
        payload_type,
        payload.len()
    )
    .into_bytes();
    o.extend_from_slice(payload);
    o
}

fn parts(subject: &Subject) -> Vec<&Component> {
    match subject {
        Subject::Package(c) => vec![c],
        Subject::Build { components, .. } => components.iter().collect(),
    }
}

/// The in-toto Statement v1 with a SLSA v1 provenance predicate: every
/// package as a subject (file name and sha256), the sources (git URL,
/// ref and commit, lookaside checksums) as resolved dependencies, and the
/// ledger entries as byproducts.
pub fn statement(subject: &Subject, builder_id: &str) -> Value {
    let parts = parts(subject);
    let subjects: Vec<Value> = parts
        .iter()
        .map(|c| json!({"name": c.file_name(), "digest": {"sha256": c.sha256.to_hex()}}))
        .collect();
    let mut deps: Vec<Value> = Vec::new();
    let mut external = serde_json::Map::new();
    for c in &parts {
        if let Some(s) = &c.source {
            let mut d = json!({"uri": format!("git+{}", s.url)});
            if let Some(r) = &s.reference {
                d["uri"] = json!(format!("git+{}@{r}", s.url));
            }
            if let Some(commit) = &s.commit {
                d["digest"] = json!({"gitCommit": commit});
            }
            if !deps.contains(&d) {
                deps.push(d);
            }
            for (path, sum) in &s.lookaside {
                let (kind, hex) = sum.split_once(':').unwrap_or(("sha256", sum));
                let d = json!({"name": path, "digest": {kind: hex}});
                if !deps.contains(&d) {
                    deps.push(d);
                }
            }
            external.insert("source".into(), json!({"url": s.url, "ref": s.reference}));
        }
    }
    let (platform, invocation, build_url) = match subject {
        Subject::Package(c) => (
            c.platform.clone(),
            c.build.as_ref().map(|b| format!("build/{}", b.id)),
            c.build.as_ref().and_then(|b| b.url.clone()),
        ),
        Subject::Build {
            id, platform, url, ..
        } => (platform.clone(), Some(format!("build/{id}")), url.clone()),
    };
    external.insert("platform".into(), json!(platform));
    let byproducts: Vec<Value> = parts
        .iter()
        .filter_map(|c| {
            let l = c.ledger.as_ref()?;
            Some(json!({
                "name": format!("ledger/{}", l.index),
                "digest": {"sha256": l.leaf_hash},
                "annotations": {"artifact": c.file_name(), "checkpoint": l.checkpoint},
            }))
        })
        .collect();
    let times: Vec<_> = parts.iter().map(|c| c.time).collect();
    let mut metadata = json!({});
    if let Some(i) = invocation {
        metadata["invocationId"] = json!(i);
    }
    if let (Some(start), Some(end)) = (times.iter().min(), times.iter().max()) {
        metadata["startedOn"] = json!(rfc3339(*start));
        metadata["finishedOn"] = json!(rfc3339(*end));
    }
    let mut builder = json!({"id": builder_id});
    if let Some(u) = build_url {
        builder["builderDependencies"] = json!([]);
        metadata["buildUrl"] = json!(u);
    }
    json!({
        "_type": "https://in-toto.io/Statement/v1",
        "subject": subjects,
        "predicateType": "https://slsa.dev/provenance/v1",
        "predicate": {
            "buildDefinition": {
                "buildType": BUILD_TYPE,
                "externalParameters": external,
                "resolvedDependencies": deps,
            },
            "runDetails": {
                "builder": builder,
                "metadata": metadata,
                "byproducts": byproducts,
            },
        },
    })
}

/// Signs `statement` into a DSSE envelope with `signer`.
pub fn sign(statement: &Value, signer: &CheckpointSigner) -> Envelope {
    let payload = serde_json::to_vec(statement).expect("JSON serializes");
    let key = SigningKey::from_bytes(&signer.seed());
    let sig = key.sign(&pae(PAYLOAD_TYPE, &payload));
    Envelope {
        payload: B64.encode(&payload),
        payload_type: PAYLOAD_TYPE.into(),
        signatures: vec![EnvelopeSignature {
            keyid: hex::encode(signer.key_id()),
            sig: B64.encode(sig.to_bytes()),
        }],
    }
}

/// The raw Ed25519 key and hex id of a verifier key text
/// (`<name>+<hex id>+<base64(0x01 || key)>`), checked by albs-core first.
fn verifying_key(text: &str) -> Result<(VerifyingKey, String), SbomError> {
    let bad = |why: String| SbomError::BadKey {
        key: text.trim().to_owned(),
        why,
    };
    text.parse::<VerifierKey>()
        .map_err(|e| bad(e.to_string()))?;
    let mut it = text.trim().splitn(3, '+');
    let (_, id, key) = (it.next(), it.next(), it.next());
    let raw = B64
        .decode(key.unwrap_or_default())
        .map_err(|e| bad(e.to_string()))?;
    let bytes: [u8; 32] = raw
        .get(1..)
        .and_then(|b| b.try_into().ok())
        .ok_or_else(|| bad("not a 32-byte key".into()))?;
    let key = VerifyingKey::from_bytes(&bytes).map_err(|e| bad(e.to_string()))?;
    Ok((key, id.unwrap_or_default().to_owned()))
}

/// Verifies a DSSE envelope (JSON text) with the verifier key text and
/// returns the statement. Fails closed: a wrong payload type, no signature
/// by this key, a signature that does not verify or a payload that is not
/// an in-toto statement is an error.
pub fn verify(envelope: &str, verifier_key: &str) -> Result<Value, SbomError> {
    let env: Envelope = serde_json::from_str(envelope)
        .map_err(|e| SbomError::BadEnvelope { why: e.to_string() })?;
    if env.payload_type != PAYLOAD_TYPE {
        return Err(SbomError::BadEnvelope {
            why: format!(
                "payloadType is {:?}, expected {PAYLOAD_TYPE}",
                env.payload_type
            ),
        });
    }
    let payload = B64
        .decode(&env.payload)
        .map_err(|e| SbomError::BadEnvelope {
            why: format!("payload is not base64: {e}"),
        })?;
    let (key, id) = verifying_key(verifier_key)?;
    let message = pae(&env.payload_type, &payload);
    let mut verified = false;
    for s in &env.signatures {
        if !s.keyid.is_empty() && s.keyid != id {
            continue;
        }
        let raw = B64.decode(&s.sig).map_err(|_| SbomError::BadSignature {
            key: verifier_key.trim().to_owned(),
        })?;
        let sig = <[u8; 64]>::try_from(raw.as_slice())
            .map(|b| Signature::from_bytes(&b))
            .map_err(|_| SbomError::BadSignature {
                key: verifier_key.trim().to_owned(),
            })?;
        key.verify_strict(&message, &sig)
            .map_err(|_| SbomError::BadSignature {
                key: verifier_key.trim().to_owned(),
            })?;
        verified = true;
    }
    if !verified {
        return Err(SbomError::NotSigned {
            key: verifier_key.trim().to_owned(),
        });
    }
    let statement: Value =
        serde_json::from_slice(&payload).map_err(|e| SbomError::BadEnvelope {
            why: format!("payload is not JSON: {e}"),
        })?;
    if statement["_type"] != "https://in-toto.io/Statement/v1" {
        return Err(SbomError::BadEnvelope {
            why: "payload is not an in-toto Statement v1".into(),
        });
    }
    Ok(statement)
}

/// Checks that the statement names `sha256` among its subjects.
pub fn covers(statement: &Value, sha256: &albs_core::hash::Sha256) -> bool {
    statement["subject"]
        .as_array()
        .is_some_and(|s| s.iter().any(|x| x["digest"]["sha256"] == sha256.to_hex()))
}

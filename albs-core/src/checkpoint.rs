//! Signed checkpoints of the ledger, and the offline checks built on them.
//!
//! A checkpoint is the C2SP `tlog-checkpoint` body
//! (`<origin>\n<tree size>\n<base64 root>\n`) wrapped in a C2SP signed note:
//! the body, a blank line, then one line per signature,
//! `— <key name> <base64(4-byte key id || Ed25519 signature)>`. The key id is
//! `SHA-256(key name || 0x0A || 0x01 || public key)[:4]`, and keys travel as
//! text: verifier keys as `<name>+<hex id>+<base64(0x01 || public key)>`,
//! signer keys as `PRIVATE+KEY+<name>+<hex id>+<base64(0x01 || seed)>`.
//!
//! Verification fails closed: a note is accepted only when a signature by the
//! trusted key verifies, and any signature that claims to be by that key and
//! does not verify rejects the whole note. [`verify_record`] and [`audit`]
//! then check a record's inclusion and a log's consistency against verified
//! checkpoints, with nothing but the proof and the record in hand.

use std::fmt;
use std::str::FromStr;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use ed25519_dalek::{Signature, Signer as _, SigningKey, VerifyingKey};
use sha2::Digest as _;

use crate::merkle::{ProofError, TreeHash, leaf_hash, verify_consistency, verify_inclusion};

/// The signature type byte of Ed25519 in C2SP signed notes.
const ED25519: u8 = 0x01;
/// The prefix of a signature line: em dash, space.
const SIG_PREFIX: &str = "\u{2014} ";
/// The most signature lines a note may carry (the spec asks for at least 16).
const MAX_SIGNATURES: usize = 100;

/// Errors from checkpoints, keys and offline verification.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CheckpointError {
    /// A key name or origin breaks the note rules.
    #[error("key name {0:?} must be non-empty, without spaces, '+' or control characters")]
    BadKeyName(String),
    /// A checkpoint origin breaks the checkpoint rules.
    #[error("checkpoint origin {0:?} must be one non-empty line without control characters")]
    BadOrigin(String),
    /// A verifier key text cannot be read.
    #[error("verifier key {key:?} is malformed: {why}")]
    BadVerifierKey {
        /// The key text.
        key: String,
        /// What is wrong.
        why: &'static str,
    },
    /// A signer key text cannot be read (the text is not repeated).
    #[error("signer key is malformed: {0}")]
    BadSignerKey(&'static str),
    /// The note or its checkpoint body cannot be read.
    #[error("signed note is malformed: {0}")]
    Malformed(String),
    /// No signature by the trusted key is on the note.
    #[error("the note has no signature by key {0}")]
    NotSigned(String),
    /// A signature that claims to be by the trusted key does not verify.
    #[error("the signature by key {0} does not verify: the note was altered or forged")]
    BadSignature(String),
    /// No randomness for a new key.
    #[error("no randomness for a new signing key: {0}")]
    Random(String),
    /// Checkpoints of two different logs were compared.
    #[error("checkpoints are of different logs: {old:?} and {new:?}")]
    OriginMismatch {
        /// The older checkpoint's origin.
        old: String,
        /// The newer checkpoint's origin.
        new: String,
    },
    /// A proof did not check out.
    #[error(transparent)]
    Proof(#[from] ProofError),
}

/// The state of a log that a checkpoint commits to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checkpoint {
    /// The log's name, conventionally a schema-less URL.
    pub origin: String,
    /// Number of records.
    pub size: u64,
    /// RFC 9162 tree head over the first `size` records.
    pub root: TreeHash,
}

impl Checkpoint {
    /// The checkpoint body: origin, size and base64 root, one per line.
    pub fn body(&self) -> String {
        format!(
            "{}\n{}\n{}\n",
            self.origin,
            self.size,
            B64.encode(self.root)
        )
    }

    /// Reads a checkpoint body (extension lines after the root are allowed
    /// and ignored, as the checkpoint spec permits).
    pub fn parse_body(text: &str) -> Result<Self, CheckpointError> {
        let bad = |why: &str| CheckpointError::Malformed(why.to_owned());
        let lines = text
            .strip_suffix('\n')
            .ok_or_else(|| bad("the checkpoint body does not end in a newline"))?;
        let mut lines = lines.split('\n');
        let origin = lines.next().unwrap_or_default();
        if origin.is_empty() {
            return Err(bad("the checkpoint has no origin"));
        }
        let size = lines
            .next()
            .ok_or_else(|| bad("the checkpoint has no tree size"))?;
        let canonical = !size.is_empty()
            && size.bytes().all(|b| b.is_ascii_digit())
            && (size == "0" || !size.starts_with('0'));
        let size = size
            .parse::<u64>()
            .ok()
            .filter(|_| canonical)
            .ok_or_else(|| bad("the tree size is not a decimal number"))?;
        let root = lines
            .next()
            .ok_or_else(|| bad("the checkpoint has no root hash"))?;
        let root: TreeHash = B64
            .decode(root)
            .ok()
            .and_then(|r| r.try_into().ok())
            .ok_or_else(|| bad("the root hash is not 32 bytes of base64"))?;
        if lines.any(str::is_empty) {
            return Err(bad("the checkpoint has an empty extension line"));
        }
        Ok(Checkpoint {
            origin: origin.to_owned(),
            size,
            root,
        })
    }
}

fn check_key_name(name: &str) -> Result<(), CheckpointError> {
    if name.is_empty()
        || name
            .chars()
            .any(|c| c.is_whitespace() || c == '+' || c.is_control())
    {
        return Err(CheckpointError::BadKeyName(name.to_owned()));
    }
    Ok(())
}

fn check_origin(origin: &str) -> Result<(), CheckpointError> {
    if origin.is_empty() || origin.chars().any(char::is_control) {
        return Err(CheckpointError::BadOrigin(origin.to_owned()));
    }
    Ok(())
}

/// The C2SP key id of an Ed25519 key: `SHA-256(name || 0x0A || 0x01 || key)[:4]`.
fn key_id(name: &str, key: &VerifyingKey) -> [u8; 4] {
    let mut h = sha2::Sha256::new();
    h.update(name.as_bytes());
    h.update([b'\n', ED25519]);
    h.update(key.as_bytes());
    let d = h.finalize();
    [d[0], d[1], d[2], d[3]]
}

/// An Ed25519 key that signs checkpoints under a key name.
pub struct CheckpointSigner {
    name: String,
    key: SigningKey,
}

impl fmt::Debug for CheckpointSigner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CheckpointSigner")
            .field("verifier_key", &self.verifier_key())
            .finish_non_exhaustive()
    }
}

impl CheckpointSigner {
    /// A new key named `name`, from the operating system's randomness.
    pub fn generate(name: &str) -> Result<Self, CheckpointError> {
        let mut seed = [0u8; 32];
        getrandom::fill(&mut seed).map_err(|e| CheckpointError::Random(e.to_string()))?;
        Self::from_seed(name, seed)
    }

    /// The key with this 32-byte Ed25519 secret seed.
    pub fn from_seed(name: &str, seed: [u8; 32]) -> Result<Self, CheckpointError> {
        check_key_name(name)?;
        Ok(Self {
            name: name.to_owned(),
            key: SigningKey::from_bytes(&seed),
        })
    }

    /// The 32-byte Ed25519 secret seed; keep it secret.
    pub fn seed(&self) -> [u8; 32] {
        self.key.to_bytes()
    }

    /// Reads a signer key text, `PRIVATE+KEY+<name>+<hex id>+<base64(0x01 || seed)>`,
    /// checking that the id matches the key.
    pub fn from_signer_key(text: &str) -> Result<Self, CheckpointError> {
        let bad = CheckpointError::BadSignerKey;
        let rest = text
            .trim_end()
            .strip_prefix("PRIVATE+KEY+")
            .ok_or(bad("it does not start with PRIVATE+KEY+"))?;
        let (name, id, key) = split_key(rest).ok_or(bad("it is not <name>+<id>+<key>"))?;
        let raw = B64.decode(key).map_err(|_| bad("the key is not base64"))?;
        let seed: [u8; 32] = match raw.split_first() {
            Some((&ED25519, seed)) => seed
                .try_into()
                .map_err(|_| bad("the seed is not 32 bytes"))?,
            _ => return Err(bad("it is not an Ed25519 key")),
        };
        let signer = Self::from_seed(name, seed).map_err(|_| bad("the key name is invalid"))?;
        if hex::encode(signer.key_id()) != id {
            return Err(bad("the key id does not match the key"));
        }
        Ok(signer)
    }

    /// The signer key text, `PRIVATE+KEY+<name>+<hex id>+<base64(0x01 || seed)>`;
    /// keep it secret.
    pub fn to_signer_key(&self) -> String {
        let mut raw = vec![ED25519];
        raw.extend_from_slice(&self.seed());
        format!(
            "PRIVATE+KEY+{}+{}+{}",
            self.name,
            hex::encode(self.key_id()),
            B64.encode(raw)
        )
    }

    /// The key name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The 4-byte C2SP key id.
    pub fn key_id(&self) -> [u8; 4] {
        key_id(&self.name, &self.key.verifying_key())
    }

    /// The public key, as a [`VerifierKey`].
    pub fn verifier(&self) -> VerifierKey {
        VerifierKey {
            name: self.name.clone(),
            id: self.key_id(),
            key: self.key.verifying_key(),
        }
    }

    /// The public verifier key text, `<name>+<hex id>+<base64(0x01 || public key)>`.
    pub fn verifier_key(&self) -> String {
        self.verifier().to_string()
    }

    /// The signature line this key puts under `text`.
    pub fn signature_line(&self, text: &str) -> String {
        let sig = self.key.sign(text.as_bytes());
        let mut raw = self.key_id().to_vec();
        raw.extend_from_slice(&sig.to_bytes());
        format!("{SIG_PREFIX}{} {}\n", self.name, B64.encode(raw))
    }

    /// Signs a note text (which must end in a newline) as a C2SP signed note.
    pub fn sign_note(&self, text: &str) -> Result<String, CheckpointError> {
        check_note_text(text)?;
        Ok(format!("{text}\n{}", self.signature_line(text)))
    }

    /// The signed checkpoint note for the tree of `size` records with head
    /// `root` in the log `origin`.
    pub fn sign(
        &self,
        origin: &str,
        size: u64,
        root: &TreeHash,
    ) -> Result<String, CheckpointError> {
        check_origin(origin)?;
        let body = Checkpoint {
            origin: origin.to_owned(),
            size,
            root: *root,
        }
        .body();
        self.sign_note(&body)
    }
}

fn check_note_text(text: &str) -> Result<(), CheckpointError> {
    if !text.ends_with('\n') {
        return Err(CheckpointError::Malformed(
            "the note text does not end in a newline".into(),
        ));
    }
    if text.chars().any(|c| c.is_control() && c != '\n') {
        return Err(CheckpointError::Malformed(
            "the note has control characters".into(),
        ));
    }
    Ok(())
}

/// Splits `<name>+<8 hex>+<key>` (the key's base64 may itself hold '+').
fn split_key(text: &str) -> Option<(&str, &str, &str)> {
    let (name, rest) = text.split_once('+')?;
    let (id, key) = rest.split_once('+')?;
    let hex_ok = id.len() == 8 && id.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
    (hex_ok && !name.is_empty() && !key.is_empty()).then_some((name, id, key))
}

/// A trusted Ed25519 public key with its name and id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifierKey {
    name: String,
    id: [u8; 4],
    key: VerifyingKey,
}

impl FromStr for VerifierKey {
    type Err = CheckpointError;

    /// Reads `<name>+<hex id>+<base64(0x01 || public key)>`, checking that the
    /// id matches the key.
    fn from_str(text: &str) -> Result<Self, CheckpointError> {
        let bad = |why| CheckpointError::BadVerifierKey {
            key: text.to_owned(),
            why,
        };
        let (name, id, key) =
            split_key(text.trim_end()).ok_or(bad("it is not <name>+<id>+<key>"))?;
        check_key_name(name).map_err(|_| bad("the key name is invalid"))?;
        let raw = B64.decode(key).map_err(|_| bad("the key is not base64"))?;
        let key: [u8; 32] = match raw.split_first() {
            Some((&ED25519, key)) => key.try_into().map_err(|_| bad("the key is not 32 bytes"))?,
            _ => return Err(bad("it is not an Ed25519 key")),
        };
        let key =
            VerifyingKey::from_bytes(&key).map_err(|_| bad("the key is not a curve point"))?;
        let want = key_id(name, &key);
        if hex::encode(want) != id {
            return Err(bad("the key id does not match the key"));
        }
        Ok(VerifierKey {
            name: name.to_owned(),
            id: want,
            key,
        })
    }
}

impl fmt::Display for VerifierKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut raw = vec![ED25519];
        raw.extend_from_slice(self.key.as_bytes());
        write!(
            f,
            "{}+{}+{}",
            self.name,
            hex::encode(self.id),
            B64.encode(raw)
        )
    }
}

impl VerifierKey {
    /// The key name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Checks a signed note and returns its text (with the final newline):
    /// signatures by other keys are ignored, at least one by this key must
    /// verify, and one by this key that does not verify rejects the note.
    pub fn open<'n>(&self, note: &'n str) -> Result<&'n str, CheckpointError> {
        let bad = |why: &str| CheckpointError::Malformed(why.to_owned());
        if note.chars().any(|c| c.is_control() && c != '\n') {
            return Err(bad("the note has control characters"));
        }
        let split = note
            .rfind("\n\n")
            .ok_or_else(|| bad("no blank line before the signatures"))?;
        let (text, sigs) = (&note[..=split], &note[split + 2..]);
        let sigs = sigs
            .strip_suffix('\n')
            .ok_or_else(|| bad("the signatures do not end in a newline"))?;
        let mut verified = false;
        for (n, line) in sigs.split('\n').enumerate() {
            if n >= MAX_SIGNATURES {
                return Err(bad("too many signatures"));
            }
            let (name, sig) = line
                .strip_prefix(SIG_PREFIX)
                .and_then(|l| l.split_once(' '))
                .ok_or_else(|| bad("a signature line is not '\u{2014} <name> <signature>'"))?;
            if name.is_empty() || sig.contains(' ') {
                return Err(bad("a signature line is not '\u{2014} <name> <signature>'"));
            }
            let raw = B64
                .decode(sig)
                .map_err(|_| bad("a signature is not base64"))?;
            if raw.len() < 5 {
                return Err(bad("a signature is too short"));
            }
            if name != self.name || raw[..4] != self.id {
                continue;
            }
            let sig = <[u8; 64]>::try_from(&raw[4..])
                .map(|b| Signature::from_bytes(&b))
                .map_err(|_| CheckpointError::BadSignature(self.name.clone()))?;
            self.key
                .verify_strict(text.as_bytes(), &sig)
                .map_err(|_| CheckpointError::BadSignature(self.name.clone()))?;
            verified = true;
        }
        if !verified {
            return Err(CheckpointError::NotSigned(self.to_string()));
        }
        Ok(text)
    }

    /// Checks a signed checkpoint note (see [`VerifierKey::open`]) and reads
    /// its body.
    pub fn verify(&self, note: &str) -> Result<Checkpoint, CheckpointError> {
        Checkpoint::parse_body(self.open(note)?)
    }
}

/// Checks a signed checkpoint note against a verifier key text, failing
/// closed on a wrong key, an altered body, a missing signature or a malformed
/// note.
pub fn verify(note: &str, verifier_key: &str) -> Result<Checkpoint, CheckpointError> {
    verifier_key.parse::<VerifierKey>()?.verify(note)
}

/// Checks that a record (its canonical bytes, as the ledger stores them) sits
/// at `index` in the log a verified checkpoint commits to. A record edited
/// after it was logged has another leaf hash and fails.
pub fn verify_record(
    record: &[u8],
    index: u64,
    proof: &[TreeHash],
    checkpoint: &Checkpoint,
) -> Result<(), CheckpointError> {
    verify_inclusion(
        &leaf_hash(record),
        index,
        checkpoint.size,
        proof,
        &checkpoint.root,
    )?;
    Ok(())
}

/// Checks that the log of a newer verified checkpoint extends the log of an
/// older one: same origin, and a consistency proof from the old head to the
/// new. A log that rewrote its history fails.
pub fn audit(
    old: &Checkpoint,
    new: &Checkpoint,
    proof: &[TreeHash],
) -> Result<(), CheckpointError> {
    if old.origin != new.origin {
        return Err(CheckpointError::OriginMismatch {
            old: old.origin.clone(),
            new: new.origin.clone(),
        });
    }
    verify_consistency(old.size, new.size, &old.root, &new.root, proof)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::merkle::{consistency_proof, inclusion_proof, merkle_root};

    const ORIGIN: &str = "albs.example/ledger";

    fn signer() -> CheckpointSigner {
        CheckpointSigner::from_seed(ORIGIN, [7u8; 32]).unwrap()
    }

    fn root(n: u8) -> TreeHash {
        leaf_hash(&[n])
    }

    #[test]
    fn a_signed_checkpoint_round_trips() {
        let s = signer();
        let r = root(1);
        let note = s.sign(ORIGIN, 42, &r).unwrap();
        let body = format!("{ORIGIN}\n42\n{}\n", B64.encode(r));
        assert!(
            note.starts_with(&format!("{body}\n\u{2014} {ORIGIN} ")),
            "{note}"
        );
        assert!(note.ends_with('\n'));
        assert_eq!(
            note.lines().count(),
            5,
            "three body lines, blank, signature"
        );
        let cp = verify(&note, &s.verifier_key()).unwrap();
        assert_eq!(
            cp,
            Checkpoint {
                origin: ORIGIN.into(),
                size: 42,
                root: r
            }
        );
        // A fresh key signs and verifies too, and differs from another one.
        let g = CheckpointSigner::generate("albs.example/other").unwrap();
        assert_ne!(g.seed(), CheckpointSigner::generate("x").unwrap().seed());
        let note = g.sign(ORIGIN, 0, &merkle_root(&[])).unwrap();
        assert_eq!(verify(&note, &g.verifier_key()).unwrap().size, 0);
    }

    #[test]
    fn keys_round_trip_through_text_and_seed() {
        let s = signer();
        let again = CheckpointSigner::from_seed(s.name(), s.seed()).unwrap();
        assert_eq!(again.verifier_key(), s.verifier_key());
        let text = s.to_signer_key();
        assert!(text.starts_with(&format!("PRIVATE+KEY+{ORIGIN}+")));
        let back = CheckpointSigner::from_signer_key(&text).unwrap();
        assert_eq!(back.seed(), s.seed());
        let vk: VerifierKey = s.verifier_key().parse().unwrap();
        assert_eq!(vk.to_string(), s.verifier_key());
        assert_eq!(vk.name(), ORIGIN);
        // The id is SHA-256(name || 0x0A || 0x01 || key)[:4].
        let mut pre = format!("{ORIGIN}\n").into_bytes();
        pre.push(1);
        pre.extend_from_slice(s.key.verifying_key().as_bytes());
        let id = &sha2::Sha256::digest(&pre)[..4];
        assert_eq!(s.key_id(), id);
        assert!(s.verifier_key().contains(&format!("+{}+", hex::encode(id))));
        // An id that does not match the key, a bad type byte and bad names
        // are refused.
        let k = s.verifier_key();
        let wrong_id = k.replacen(&hex::encode(id), "00000000", 1);
        assert!(wrong_id.parse::<VerifierKey>().is_err());
        let mut raw = vec![2u8];
        raw.extend_from_slice(s.key.verifying_key().as_bytes());
        let wrong_type = format!("{ORIGIN}+{}+{}", hex::encode(id), B64.encode(raw));
        assert!(wrong_type.parse::<VerifierKey>().is_err());
        assert!(CheckpointSigner::from_seed("two words", [1; 32]).is_err());
        assert!(CheckpointSigner::from_seed("a+b", [1; 32]).is_err());
        assert!(CheckpointSigner::from_seed("", [1; 32]).is_err());
        assert!(CheckpointSigner::from_signer_key(&k).is_err());
    }

    /// The example of golang.org/x/mod/sumdb/note, an independent
    /// implementation of the signed-note format.
    #[test]
    fn known_answer_note_from_the_go_implementation() {
        let skey = "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz";
        let vkey = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW";
        let text = "If you think cryptography is the answer to your problem,\n\
                    then you don't know what your problem is.\n";
        let want = format!(
            "{text}\n\u{2014} PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n"
        );
        let s = CheckpointSigner::from_signer_key(skey).unwrap();
        assert_eq!(s.verifier_key(), vkey);
        assert_eq!(s.to_signer_key(), skey);
        assert_eq!(s.sign_note(text).unwrap(), want);
        let vk: VerifierKey = vkey.parse().unwrap();
        assert_eq!(vk.open(&want).unwrap(), text);
        // Not a checkpoint body, so it is not a checkpoint.
        assert!(matches!(
            vk.verify(&want),
            Err(CheckpointError::Malformed(_))
        ));
    }

    #[test]
    fn a_wrong_key_fails() {
        let s = signer();
        let note = s.sign(ORIGIN, 3, &root(3)).unwrap();
        // Another key under another name, and under the same name.
        let other = CheckpointSigner::from_seed("albs.example/other", [8; 32]).unwrap();
        let twin = CheckpointSigner::from_seed(ORIGIN, [9; 32]).unwrap();
        for k in [other.verifier_key(), twin.verifier_key()] {
            assert!(
                matches!(verify(&note, &k), Err(CheckpointError::NotSigned(_))),
                "{k}"
            );
        }
        // A key that claims the signer's name and id but is another key: the
        // signature is checked, and fails.
        let forged = VerifierKey {
            name: ORIGIN.into(),
            id: s.key_id(),
            key: twin.key.verifying_key(),
        };
        assert!(matches!(
            forged.verify(&note),
            Err(CheckpointError::BadSignature(_))
        ));
    }

    #[test]
    fn an_altered_checkpoint_fails() {
        let s = signer();
        let r = root(5);
        let note = s.sign(ORIGIN, 10, &r).unwrap();
        let vk = s.verifier_key();
        let mut other_root = r;
        other_root[0] ^= 1;
        let altered = [
            note.replacen("\n10\n", "\n11\n", 1),
            note.replacen(&B64.encode(r), &B64.encode(other_root), 1),
            note.replacen(ORIGIN, "albs.example/fork", 1),
            note.replacen(&format!("{ORIGIN}\n"), &format!("{ORIGIN}\next\n"), 1),
        ];
        for a in &altered {
            assert_ne!(a, &note);
            assert!(
                matches!(verify(a, &vk), Err(CheckpointError::BadSignature(_))),
                "accepted: {a}"
            );
        }
        // A flipped bit in the signature itself.
        let sig_at = note.rfind(' ').unwrap() + 6;
        let mut bytes = note.clone().into_bytes();
        bytes[sig_at] = if bytes[sig_at] == b'A' { b'B' } else { b'A' };
        let flipped = String::from_utf8(bytes).unwrap();
        assert!(verify(&flipped, &vk).is_err());
    }

    #[test]
    fn unsigned_and_malformed_notes_fail() {
        let s = signer();
        let vk = s.verifier_key();
        let r = root(2);
        let note = s.sign(ORIGIN, 7, &r).unwrap();
        let body = note.split("\n\n").next().unwrap().to_owned() + "\n";
        let cases = [
            body.clone(),
            format!("{body}\n"),
            note.trim_end().to_owned(),
            note.replacen('\u{2014}', "-", 1),
            note.replacen("\n\n", "\n", 1),
            format!("{note}\u{2014} junk\n"),
            note.replacen("\n7\n", "\n7\r\n", 1),
            String::new(),
        ];
        for c in &cases {
            assert!(verify(c, &vk).is_err(), "accepted: {c:?}");
        }
        assert!(matches!(
            verify(&body, &vk),
            Err(CheckpointError::Malformed(_))
        ));
        // Bodies that are signed but not checkpoints.
        for text in [
            format!("{ORIGIN}\n+7\n{}\n", B64.encode(r)),
            format!("{ORIGIN}\n07\n{}\n", B64.encode(r)),
            format!("{ORIGIN}\n7\n{}\n", B64.encode(&r[..31])),
            format!("\n7\n{}\n", B64.encode(r)),
            format!("{ORIGIN}\n7\n"),
        ] {
            let n = s.sign_note(&text).unwrap();
            assert!(
                matches!(verify(&n, &vk), Err(CheckpointError::Malformed(_))),
                "accepted body {text:?}"
            );
        }
        assert!(s.sign("", 1, &r).is_err());
        assert!(s.sign("a\nb", 1, &r).is_err());
    }

    #[test]
    fn signatures_by_unknown_keys_are_ignored() {
        let s = signer();
        let other = CheckpointSigner::from_seed("witness.example", [3; 32]).unwrap();
        let note = s.sign(ORIGIN, 4, &root(4)).unwrap();
        let body = note.split("\n\n").next().unwrap().to_owned() + "\n";
        let cosigned = format!("{note}{}", other.signature_line(&body));
        assert_eq!(verify(&cosigned, &s.verifier_key()).unwrap().size, 4);
        assert_eq!(verify(&cosigned, &other.verifier_key()).unwrap().size, 4);
    }

    proptest::proptest! {
        /// Any change of one byte of a signed checkpoint is refused, and
        /// arbitrary text never panics the parser.
        #[test]
        fn any_altered_byte_is_refused(
            size in proptest::prelude::any::<u64>(),
            at in proptest::prelude::any::<proptest::sample::Index>(),
            xor in 1u8..=255,
            junk in ".{0,200}",
        ) {
            let s = signer();
            let vk = s.verifier();
            let note = s.sign(ORIGIN, size, &root(size as u8)).unwrap();
            proptest::prop_assert_eq!(vk.verify(&note).unwrap().size, size);
            let mut bytes = note.into_bytes();
            let i = at.index(bytes.len());
            bytes[i] ^= xor;
            if let Ok(altered) = String::from_utf8(bytes) {
                proptest::prop_assert!(vk.verify(&altered).is_err(), "accepted {:?}", altered);
            }
            let _ = vk.verify(&junk);
            let _ = junk.parse::<VerifierKey>();
            let _ = CheckpointSigner::from_signer_key(&junk);
        }
    }

    fn records(n: u64) -> Vec<Vec<u8>> {
        (0..n)
            .map(|i| format!("{{\"record\":{i}}}").into_bytes())
            .collect()
    }

    #[test]
    fn a_record_changed_behind_the_ledgers_back_fails() {
        let recs = records(13);
        let leaves: Vec<TreeHash> = recs.iter().map(|r| leaf_hash(r)).collect();
        let s = signer();
        let note = s.sign(ORIGIN, 13, &merkle_root(&leaves)).unwrap();
        let cp = verify(&note, &s.verifier_key()).unwrap();
        for i in 0..13u64 {
            let proof = inclusion_proof(&leaves, i, 13).unwrap();
            verify_record(&recs[i as usize], i, &proof, &cp).unwrap();
            let mut edited = recs[i as usize].clone();
            edited[2] = b'R';
            assert!(matches!(
                verify_record(&edited, i, &proof, &cp),
                Err(CheckpointError::Proof(ProofError::RootMismatch { .. }))
            ));
            let other = (i + 1) % 13;
            assert!(verify_record(&recs[other as usize], i, &proof, &cp).is_err());
        }
    }

    /// The whole path on a real ledger: a record served from the file after
    /// someone edited it no longer proves against the signed checkpoint.
    #[tokio::test]
    async fn an_edited_ledger_file_is_caught_offline() {
        use crate::ledger::{FileLedger, Ledger as _, LedgerExt as _};
        let dir = tempfile::tempdir().unwrap();
        let l = FileLedger::open(dir.path()).unwrap();
        let recs: Vec<_> = (0..9).map(crate::conformance::sample_record).collect();
        l.append_batch(&recs).await.unwrap();
        let s = signer();
        let note = s.sign(ORIGIN, 9, &l.root_at(9).await.unwrap()).unwrap();
        let cp = verify(&note, &s.verifier_key()).unwrap();
        let proof = l.inclusion_proof(6, 9).await.unwrap();
        drop(l);
        use crate::ledger::zst_frames;
        let path = dir.path().join("ledger.zst");
        // The batch's frame of record lines, then its marker.
        let mut frames = zst_frames::read(&path);
        assert_eq!(frames.len(), 2);
        let text = zst_frames::content(&frames[0]);
        let line = text.lines().nth(6).unwrap();
        let (_, json) = line.split_once(' ').unwrap();
        verify_record(json.as_bytes(), 6, &proof, &cp).unwrap();
        // Change the build host and recompute the line's leaf hash (and the
        // frame's checksum), so the file itself looks consistent.
        let edited = json.replacen("node-1", "evil-1", 1);
        assert_ne!(edited, json);
        let new_line = zst_frames::line_of(&edited);
        frames[0] = zst_frames::data_frame(&text.replacen(&format!("{line}\n"), &new_line, 1));
        zst_frames::write(&path, &frames);
        let l = FileLedger::open(dir.path()).unwrap();
        let served = l.get(6).await.unwrap().unwrap().record.canonical_bytes();
        assert!(matches!(
            verify_record(&served, 6, &proof, &cp),
            Err(CheckpointError::Proof(ProofError::RootMismatch { .. }))
        ));
        // And the rewritten log's new head does not extend the signed one.
        let forged = Checkpoint {
            origin: ORIGIN.into(),
            size: 9,
            root: l.root_at(9).await.unwrap(),
        };
        assert!(audit(&cp, &forged, &[]).is_err());
    }

    #[test]
    fn a_rewritten_history_fails_audit() {
        let recs = records(20);
        let leaves: Vec<TreeHash> = recs.iter().map(|r| leaf_hash(r)).collect();
        let cp = |n: usize, l: &[TreeHash]| Checkpoint {
            origin: ORIGIN.into(),
            size: n as u64,
            root: merkle_root(&l[..n]),
        };
        let old = cp(11, &leaves);
        let new = cp(20, &leaves);
        let proof = consistency_proof(&leaves, 11, 20).unwrap();
        audit(&old, &new, &proof).unwrap();
        audit(&old, &old, &[]).unwrap();
        // The log rewrites record 4 and serves a proof from its new tree.
        let mut forged = leaves.clone();
        forged[4] = leaf_hash(b"{\"record\":\"rewritten\"}");
        let forged_new = cp(20, &forged);
        let forged_proof = consistency_proof(&forged, 11, 20).unwrap();
        assert!(audit(&old, &forged_new, &forged_proof).is_err());
        assert!(audit(&old, &forged_new, &proof).is_err());
        // A log that shrank, or a checkpoint of another log.
        assert!(audit(&new, &old, &proof).is_err());
        let other = Checkpoint {
            origin: "elsewhere.example/log".into(),
            ..new.clone()
        };
        assert!(matches!(
            audit(&old, &other, &proof),
            Err(CheckpointError::OriginMismatch { .. })
        ));
    }
}

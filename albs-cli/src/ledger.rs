//! `albs ledger`: read, prove and verify the local ledger.

use std::path::Path;
use std::process::ExitCode;

use albs_core::Sha256;
use albs_core::checkpoint::{self, CheckpointSigner, VerifierKey};
use albs_core::ledger::{FileLedger, Ledger, LedgerExt, TreeHash};
use anyhow::Context;
use serde::{Deserialize, Serialize};

use crate::cli::{Global, LedgerCommand};

/// A record with its inclusion proof, as `albs ledger prove` prints it.
#[derive(Serialize, Deserialize)]
struct RecordProof {
    index: u64,
    size: u64,
    /// The record's canonical JSON, exactly the bytes its leaf hashes.
    record: String,
    proof: Vec<String>,
}

/// A consistency proof, as `albs ledger consistency` prints it.
#[derive(Serialize, Deserialize)]
struct ConsistencyProof {
    old: u64,
    new: u64,
    proof: Vec<String>,
}

fn to_hex(proof: &[TreeHash]) -> Vec<String> {
    proof.iter().map(hex::encode).collect()
}

fn from_hex(proof: &[String], file: &Path) -> anyhow::Result<Vec<TreeHash>> {
    proof
        .iter()
        .map(|h| {
            let mut out = [0u8; 32];
            hex::decode_to_slice(h, &mut out)
                .with_context(|| format!("{}: {h:?} is not a 32-byte hex hash", file.display()))?;
            Ok(out)
        })
        .collect()
}

fn read_json<T: for<'de> Deserialize<'de>>(file: &Path) -> anyhow::Result<T> {
    let text =
        std::fs::read_to_string(file).with_context(|| format!("reading {}", file.display()))?;
    serde_json::from_str(&text).with_context(|| format!("{} is not a proof file", file.display()))
}

fn read_checkpoint(file: &Path, key: &VerifierKey) -> anyhow::Result<checkpoint::Checkpoint> {
    let note =
        std::fs::read_to_string(file).with_context(|| format!("reading {}", file.display()))?;
    key.verify(&note)
        .with_context(|| format!("checkpoint {} does not verify", file.display()))
}

pub async fn run(global: &Global, cmd: LedgerCommand) -> anyhow::Result<ExitCode> {
    // The offline verbs need no ledger, only what they are given.
    match cmd {
        LedgerCommand::Keygen { name } => {
            let signer = CheckpointSigner::generate(&name)?;
            eprintln!("verifier key (publish it): {}", signer.verifier_key());
            println!("{}", signer.to_signer_key());
            return Ok(ExitCode::SUCCESS);
        }
        LedgerCommand::Verify {
            checkpoint,
            key,
            proof,
            server,
            index,
            artifact,
        } => {
            let key: VerifierKey = key.parse().context("--key is not a verifier key")?;
            if let Some(server) = server {
                remote::verify(
                    &server,
                    &key,
                    checkpoint.as_deref(),
                    index,
                    artifact.as_deref(),
                )
                .await?;
                return Ok(ExitCode::SUCCESS);
            }
            let (Some(checkpoint), Some(proof)) = (checkpoint, proof) else {
                anyhow::bail!("give --checkpoint and --proof, or --server");
            };
            let cp = read_checkpoint(&checkpoint, &key)?;
            let p: RecordProof = read_json(&proof)?;
            if p.size != cp.size {
                anyhow::bail!(
                    "{} proves record {} in a tree of {} records, the checkpoint has {}: make the proof with --size {}",
                    proof.display(),
                    p.index,
                    p.size,
                    cp.size,
                    cp.size
                );
            }
            let hashes = from_hex(&p.proof, &proof)?;
            checkpoint::verify_record(p.record.as_bytes(), p.index, &hashes, &cp).with_context(
                || format!("record {} is not in the log the checkpoint signs", p.index),
            )?;
            println!(
                "record {} is in {} at size {} (tree head {})",
                p.index,
                cp.origin,
                cp.size,
                hex::encode(cp.root)
            );
            return Ok(ExitCode::SUCCESS);
        }
        LedgerCommand::Audit {
            old,
            new,
            key,
            proof,
            server,
            save,
        } => {
            let key: VerifierKey = key.parse().context("--key is not a verifier key")?;
            if let Some(server) = server {
                remote::audit(&server, &key, old.as_deref(), save.as_deref()).await?;
                return Ok(ExitCode::SUCCESS);
            }
            let (Some(old), Some(new), Some(proof)) = (old, new, proof) else {
                anyhow::bail!("give --old, --new and --proof, or --server");
            };
            let o = read_checkpoint(&old, &key)?;
            let n = read_checkpoint(&new, &key)?;
            let p: ConsistencyProof = read_json(&proof)?;
            if (p.old, p.new) != (o.size, n.size) {
                anyhow::bail!(
                    "{} is a proof from size {} to {}, the checkpoints have {} and {}",
                    proof.display(),
                    p.old,
                    p.new,
                    o.size,
                    n.size
                );
            }
            checkpoint::audit(&o, &n, &from_hex(&p.proof, &proof)?)
                .context("the newer checkpoint does not extend the older one")?;
            println!(
                "{}: size {} extends size {}: the log only grew",
                n.origin, n.size, o.size
            );
            return Ok(ExitCode::SUCCESS);
        }
        _ => {}
    }

    let dir = global.data.join("ledger");
    let ledger = FileLedger::open(&dir).context("opening the ledger")?;
    match cmd {
        LedgerCommand::Status { json } => {
            let size = ledger.size().await?;
            let root = hex::encode(ledger.root_at(size).await?);
            if json {
                println!("{}", serde_json::json!({ "size": size, "root": root }));
            } else {
                println!(
                    "ledger {}: {size} records, tree head {root}",
                    ledger.path().display()
                );
            }
        }
        LedgerCommand::Find { sha256, json } => {
            let digest: Sha256 = sha256
                .parse()
                .with_context(|| format!("{sha256:?} is not a sha256 digest"))?;
            let mut out = Vec::new();
            for i in ledger.find_artifact(&digest).await? {
                if let Some(e) = ledger.get(i).await? {
                    out.push(serde_json::json!({
                        "index": e.index,
                        "leaf_hash": hex::encode(e.leaf_hash),
                        "record": e.record,
                    }));
                }
            }
            if out.is_empty() {
                anyhow::bail!("the ledger has no record of artifact {digest}");
            }
            if json {
                println!("{}", serde_json::to_string_pretty(&out)?);
            } else {
                for e in out {
                    println!("{}", serde_json::to_string_pretty(&e)?);
                }
            }
        }
        LedgerCommand::Checkpoint { key } => {
            let signer = CheckpointSigner::from_signer_key(key.trim())
                .context("the ledger key is not a signer key from `albs ledger keygen`")?;
            let size = ledger.size().await?;
            let root = ledger.root_at(size).await?;
            print!("{}", signer.sign(signer.name(), size, &root)?);
        }
        LedgerCommand::Prove { index, size } => {
            let size = match size {
                Some(s) => s,
                None => ledger.size().await?,
            };
            let entry = ledger
                .get(index)
                .await?
                .with_context(|| format!("the ledger has no record {index}"))?;
            let proof = ledger.inclusion_proof(index, size).await?;
            let out = RecordProof {
                index,
                size,
                record: String::from_utf8(entry.record.canonical_bytes())
                    .context("records are UTF-8 JSON")?,
                proof: to_hex(&proof),
            };
            println!("{}", serde_json::to_string_pretty(&out)?);
        }
        LedgerCommand::Consistency { old, new } => {
            let proof = ledger.consistency_proof(old, new).await?;
            let out = ConsistencyProof {
                old,
                new,
                proof: to_hex(&proof),
            };
            println!("{}", serde_json::to_string_pretty(&out)?);
        }
        LedgerCommand::Keygen { .. }
        | LedgerCommand::Verify { .. }
        | LedgerCommand::Audit { .. } => {
            unreachable!("handled above")
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// `albs ledger verify --server` and `albs ledger audit --server`: what a
/// server says is checked here, with nothing trusted but the verifier key.
mod remote {
    use std::path::Path;

    use albs_core::Sha256;
    use albs_core::api::LedgerEntryView;
    use albs_core::checkpoint::{self, Checkpoint, VerifierKey};
    use albs_core::client::Client;
    use albs_core::ledger::{TreeHash, leaf_hash, merkle_root};
    use anyhow::Context;

    use super::read_checkpoint;

    fn hashes(proof: &[String], what: &str) -> anyhow::Result<Vec<TreeHash>> {
        proof
            .iter()
            .map(|h| {
                let mut out = [0u8; 32];
                hex::decode_to_slice(h, &mut out)
                    .with_context(|| format!("{what}: {h:?} is not a 32-byte hex hash"))?;
                Ok(out)
            })
            .collect()
    }

    /// The server's latest checkpoint, verified with `key`.
    async fn latest(client: &Client, key: &VerifierKey) -> anyhow::Result<(String, Checkpoint)> {
        let note = client
            .ledger_checkpoint()
            .await
            .context("fetching the ledger checkpoint")?;
        let cp = key.verify(&note).with_context(|| {
            format!(
                "the checkpoint of {} does not verify with --key",
                client.base()
            )
        })?;
        Ok((note, cp))
    }

    /// The record's leaf hash, recomputed here; refused (naming the index)
    /// when it is not the one the ledger logged.
    fn rehash(e: &LedgerEntryView) -> anyhow::Result<TreeHash> {
        let leaf = leaf_hash(&e.record.canonical_bytes());
        if hex::encode(leaf) != e.leaf_hash {
            anyhow::bail!(
                "record {}: the record the server holds hashes to {}, the ledger logged {}: \
                 it was changed after it was logged",
                e.index,
                hex::encode(leaf),
                e.leaf_hash
            );
        }
        Ok(leaf)
    }

    /// Checks one record against a verified checkpoint.
    async fn check(client: &Client, cp: &Checkpoint, e: &LedgerEntryView) -> anyhow::Result<()> {
        let i = e.index;
        if i >= cp.size {
            anyhow::bail!(
                "record {i} was logged after the checkpoint (size {}); verify it against a newer one",
                cp.size
            );
        }
        rehash(e)?;
        let p = client
            .ledger_inclusion_proof(i, cp.size)
            .await
            .with_context(|| format!("fetching the inclusion proof of record {i}"))?;
        if (p.index, p.size) != (i, cp.size) {
            anyhow::bail!(
                "asked for the proof of record {i} at size {}, the server sent {} at {}",
                cp.size,
                p.index,
                p.size
            );
        }
        let proof = hashes(&p.proof, &format!("the proof of record {i}"))?;
        checkpoint::verify_record(&e.record.canonical_bytes(), i, &proof, cp)
            .with_context(|| format!("record {i} is not in the log the checkpoint signs"))?;
        Ok(())
    }

    async fn record(client: &Client, index: u64) -> anyhow::Result<LedgerEntryView> {
        let e = client
            .ledger_record(index)
            .await
            .with_context(|| format!("fetching ledger record {index}"))?;
        if e.index != index {
            anyhow::bail!("asked for record {index}, the server sent {}", e.index);
        }
        Ok(e)
    }

    pub(super) async fn verify(
        server: &str,
        key: &VerifierKey,
        checkpoint: Option<&Path>,
        index: Option<u64>,
        artifact: Option<&str>,
    ) -> anyhow::Result<()> {
        let client = Client::new(server, None);
        let cp = match checkpoint {
            Some(file) => read_checkpoint(file, key)?,
            None => latest(&client, key).await?.1,
        };
        let entries = match (index, artifact) {
            (Some(i), _) => vec![record(&client, i).await?],
            (None, Some(a)) => {
                let digest: Sha256 = a
                    .parse()
                    .with_context(|| format!("--artifact {a:?} is not a sha256 digest"))?;
                let found = client
                    .ledger_artifact(&digest)
                    .await
                    .with_context(|| format!("looking up artifact {digest}"))?;
                if found.is_empty() {
                    anyhow::bail!("the ledger of {server} has no record of artifact {digest}");
                }
                found
            }
            (None, None) => {
                let mut all = Vec::new();
                for i in 0..cp.size {
                    all.push(record(&client, i).await?);
                }
                all
            }
        };
        for e in &entries {
            check(&client, &cp, e).await?;
            let what = e
                .record
                .artifact
                .map_or_else(|| "sources".to_owned(), |a| a.to_string());
            println!(
                "record {} ({what}) is in {} at size {}",
                e.index, cp.origin, cp.size
            );
        }
        println!(
            "{} records verified against {} at size {} (tree head {})",
            entries.len(),
            cp.origin,
            cp.size,
            hex::encode(cp.root)
        );
        Ok(())
    }

    pub(super) async fn audit(
        server: &str,
        key: &VerifierKey,
        old: Option<&Path>,
        save: Option<&Path>,
    ) -> anyhow::Result<()> {
        let client = Client::new(server, None);
        let (note, cp) = latest(&client, key).await?;
        if let Some(file) = old {
            let o = read_checkpoint(file, key)?;
            if o.size > cp.size {
                anyhow::bail!(
                    "{} has {} records, the server's checkpoint only {}: the log shrank",
                    file.display(),
                    o.size,
                    cp.size
                );
            }
            let p = client
                .ledger_consistency_proof(o.size, cp.size)
                .await
                .context("fetching the consistency proof")?;
            let proof = hashes(&p.proof, "the consistency proof")?;
            checkpoint::audit(&o, &cp, &proof).with_context(|| {
                format!(
                    "the server's log at size {} does not extend {} (size {}): its history was rewritten",
                    cp.size,
                    file.display(),
                    o.size
                )
            })?;
            println!(
                "{}: size {} extends size {}: the log only grew",
                cp.origin, cp.size, o.size
            );
        }
        let mut leaves = Vec::with_capacity(cp.size as usize);
        for i in 0..cp.size {
            leaves.push(rehash(&record(&client, i).await?)?);
        }
        let root = merkle_root(&leaves);
        if root != cp.root {
            anyhow::bail!(
                "the server's {} records hash to tree head {}, its checkpoint signs {}",
                cp.size,
                hex::encode(root),
                hex::encode(cp.root)
            );
        }
        println!(
            "{}: all {} records rehashed to the signed tree head {}",
            cp.origin,
            cp.size,
            hex::encode(cp.root)
        );
        if let Some(file) = save {
            std::fs::write(file, &note).with_context(|| format!("writing {}", file.display()))?;
        }
        Ok(())
    }
}

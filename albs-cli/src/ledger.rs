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
        } => {
            let key: VerifierKey = key.parse().context("--key is not a verifier key")?;
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
        } => {
            let key: VerifierKey = key.parse().context("--key is not a verifier key")?;
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

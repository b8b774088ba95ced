//! `albs ledger`: read the local ledger.

use std::process::ExitCode;

use albs_core::Sha256;
use albs_core::ledger::{FileLedger, Ledger, LedgerExt};
use anyhow::Context;

use crate::cli::{Global, LedgerCommand};

pub async fn run(global: &Global, cmd: LedgerCommand) -> anyhow::Result<ExitCode> {
    let dir = global.data.join("ledger");
    let ledger = FileLedger::open(&dir).context("opening the ledger")?;
    match cmd {
        LedgerCommand::Status { json } => {
            let size = ledger.size().await?;
            let root = hex_root(&ledger, size).await?;
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
    }
    Ok(ExitCode::SUCCESS)
}

async fn hex_root(ledger: &FileLedger, size: u64) -> anyhow::Result<String> {
    Ok(hex::encode(ledger.root_at(size).await?))
}

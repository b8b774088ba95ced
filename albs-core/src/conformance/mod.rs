//! One conformance suite per port, run on every implementation.
//!
//! Enabled in albs-core's own tests and, for other crates, with the
//! `conformance` feature. Each suite panics with a message that names the
//! behaviour that failed.

mod build;
pub use build::{BuildFixture, build_executor};
mod source;
pub use source::{SourceFixture, source_fetcher};
mod store;
pub use store::{T0, add_node, git_ref, new_build, put_bundled_platforms, queue_src_tasks, store};

use std::path::PathBuf;

use tokio::io::AsyncReadExt;

use crate::hash::Sha256;
use crate::ledger::{
    Inputs, Ledger, LedgerExt, LedgerRecord, RecordKind, TaskInfo, leaf_hash, merkle_root,
};
use crate::model::Arch;
use crate::platform::Platforms;
use crate::sign::{HashAlgo, Signer};
use crate::source::{GitRef, SourceRef};
use crate::store::{ArtifactStore, StoreError};
use crate::test::{TestError, Tester};

/// The [`ArtifactStore`] suite: round trip, idempotent put, verified put that
/// stores nothing on a mismatch, not-found.
pub async fn artifact_store(store: &dyn ArtifactStore) {
    let data = b"hello albs".repeat(10_000);
    let want = Sha256::of(&data);
    let s = store.put(Box::pin(&data[..]), Some(want)).await.unwrap();
    assert_eq!(s.sha256, want, "put returns the content digest");
    assert_eq!(s.size, data.len() as u64, "put returns the size");
    assert!(s.new, "first put is new");
    assert!(store.has(&want).await.unwrap(), "has after put");
    let mut back = Vec::new();
    store
        .get(&want)
        .await
        .unwrap()
        .read_to_end(&mut back)
        .await
        .unwrap();
    assert_eq!(back, data, "get returns what was put");
    let again = store.put(Box::pin(&data[..]), None).await.unwrap();
    assert!(!again.new, "second put of the same content is not new");

    let other = b"tampered".to_vec();
    let err = store
        .put(Box::pin(&other[..]), Some(Sha256::of(b"something else")))
        .await
        .expect_err("a digest mismatch is refused");
    assert!(matches!(err, StoreError::DigestMismatch { .. }), "{err}");
    assert!(
        !store.has(&Sha256::of(&other)).await.unwrap(),
        "a refused put stores nothing"
    );
    let missing = Sha256::of(b"never stored");
    assert!(!store.has(&missing).await.unwrap());
    assert!(
        matches!(store.get(&missing).await, Err(StoreError::NotFound(_))),
        "get of a missing blob is NotFound"
    );
    let empty = store.put(Box::pin(&b""[..]), None).await.unwrap();
    assert_eq!(empty.sha256, Sha256::of(b""), "empty blobs are fine");
}

/// A ledger record for tests, distinct for each `i`.
pub fn sample_record(i: u64) -> LedgerRecord {
    LedgerRecord {
        kind: if i.is_multiple_of(2) {
            RecordKind::Rpm
        } else {
            RecordKind::Srpm
        },
        artifact: Some(Sha256::of(&i.to_le_bytes())),
        nevra: Some(format!("pkg{i}-1.0-1.el9.x86_64").parse().unwrap()),
        task: TaskInfo {
            build_id: Some(1),
            task_id: Some(i),
            arch: Arch::host(),
            host: "node-1".into(),
            platform: "almalinux-9".into(),
        },
        inputs: Inputs {
            source: SourceRef::Git {
                url: "https://git.example/rpms/pkg".into(),
                reference: Some(GitRef::Branch("a9".into())),
            },
            commit: Some("0123456789abcdef0123456789abcdef01234567".into()),
            lookaside: vec![],
            srpm: None,
        },
        time: time::OffsetDateTime::from_unix_timestamp(1_700_000_000 + i as i64).unwrap(),
        signature: None,
        release: None,
    }
}

/// The [`Ledger`] suite: indices are dense, leaf hashes are RFC 9162 over the
/// canonical record, records read back equal, lookup by artifact, tree heads
/// of prefixes stay stable as the log grows, batches append in order, and
/// inclusion and consistency proofs for every prefix match RFC 9162 and
/// verify, while impossible ones are refused.
pub async fn ledger(ledger: &dyn Ledger) {
    assert_eq!(ledger.size().await.unwrap(), 0, "a new ledger is empty");
    assert_eq!(ledger.root_at(0).await.unwrap(), merkle_root(&[]));
    let mut roots = Vec::new();
    for i in 0..7 {
        let rec = sample_record(i);
        let a = ledger.append(&rec).await.unwrap();
        assert_eq!(a.index, i, "indices are dense from 0");
        assert_eq!(a.leaf_hash, leaf_hash(&rec.canonical_bytes()), "leaf hash");
        roots.push(ledger.root_at(i + 1).await.unwrap());
    }
    assert_eq!(ledger.size().await.unwrap(), 7);
    let e = ledger.get(3).await.unwrap().expect("record 3 exists");
    assert_eq!(e.record, sample_record(3), "records read back equal");
    assert_eq!(e.index, 3);
    assert!(
        ledger.get(7).await.unwrap().is_none(),
        "no record past the end"
    );
    let art = sample_record(5).artifact.unwrap();
    assert_eq!(ledger.find_artifact(&art).await.unwrap(), vec![5]);
    assert!(
        ledger
            .find_artifact(&Sha256::of(b"none"))
            .await
            .unwrap()
            .is_empty()
    );
    // Appending the same record again is a new entry (the log is a history).
    let again = ledger.append(&sample_record(5)).await.unwrap();
    assert_eq!(again.index, 7);
    assert_eq!(ledger.find_artifact(&art).await.unwrap(), vec![5, 7]);
    for (i, root) in roots.iter().enumerate() {
        assert_eq!(
            &ledger.root_at(i as u64 + 1).await.unwrap(),
            root,
            "the head of a prefix does not change as the log grows"
        );
    }
    let leaves = ledger.leaves(0, 8).await.unwrap();
    assert_eq!(leaves.len(), 8);
    assert_eq!(merkle_root(&leaves), ledger.root_at(8).await.unwrap());

    // Batches land in order, densely, with the same leaf hashes.
    let batch: Vec<LedgerRecord> = (8..21).map(sample_record).collect();
    let done = ledger.append_batch(&batch).await.unwrap();
    assert_eq!(done.len(), batch.len(), "one entry per batched record");
    for (a, rec) in done.iter().zip(&batch) {
        assert_eq!(
            a.index,
            rec.task.task_id.unwrap(),
            "batch indices are dense"
        );
        assert_eq!(a.leaf_hash, leaf_hash(&rec.canonical_bytes()), "batch leaf");
    }
    assert!(ledger.append_batch(&[]).await.unwrap().is_empty());
    assert_eq!(ledger.get(20).await.unwrap().unwrap().record, batch[12]);
    let size = ledger.size().await.unwrap();
    assert_eq!(size, 21);

    // Proofs for every prefix agree with RFC 9162 and verify.
    use crate::ledger::LedgerError;
    use crate::merkle::{self, ProofError};
    let leaves = ledger.leaves(0, size).await.unwrap();
    for n in 0..=size {
        let root = ledger.root_at(n).await.unwrap();
        assert_eq!(root, merkle_root(&leaves[..n as usize]), "head of {n}");
        for i in 0..n {
            let proof = ledger.inclusion_proof(i, n).await.unwrap();
            assert_eq!(
                proof,
                merkle::inclusion_proof(&leaves, i, n).unwrap(),
                "inclusion proof of {i} in {n}"
            );
            merkle::verify_inclusion(&leaves[i as usize], i, n, &proof, &root)
                .unwrap_or_else(|e| panic!("inclusion of {i} in {n}: {e}"));
        }
        for old in 0..=n {
            let proof = ledger.consistency_proof(old, n).await.unwrap();
            assert_eq!(
                proof,
                merkle::consistency_proof(&leaves, old, n).unwrap(),
                "consistency proof {old} -> {n}"
            );
            let old_root = merkle_root(&leaves[..old as usize]);
            merkle::verify_consistency(old, n, &old_root, &root, &proof)
                .unwrap_or_else(|e| panic!("consistency {old} -> {n}: {e}"));
        }
    }
    // Proofs that cannot exist are refused, not made up.
    assert!(
        matches!(
            ledger.inclusion_proof(size, size).await,
            Err(LedgerError::Proof(ProofError::IndexOutOfRange { .. }))
        ),
        "no inclusion proof for an index past the tree"
    );
    assert!(
        matches!(
            ledger.inclusion_proof(0, size + 1).await,
            Err(LedgerError::BeyondEnd { .. })
        ),
        "no inclusion proof in a tree larger than the ledger"
    );
    assert!(
        matches!(
            ledger.consistency_proof(3, size + 1).await,
            Err(LedgerError::BeyondEnd { .. })
        ),
        "no consistency proof to a tree larger than the ledger"
    );
    assert!(
        matches!(
            ledger.consistency_proof(5, 4).await,
            Err(LedgerError::Proof(ProofError::SizesOutOfOrder { .. }))
        ),
        "no consistency proof from a larger to a smaller tree"
    );
    assert!(
        matches!(
            ledger.root_at(size + 1).await,
            Err(LedgerError::BeyondEnd { .. })
        ),
        "no head for a tree larger than the ledger"
    );
}

/// The [`Signer`] suite: a stable identity, deterministic-length signatures
/// that differ per digest, wrong-length digests refused.
pub async fn signer(signer: &dyn Signer) {
    let id = signer.identity().clone();
    assert!(!id.fingerprint.is_empty(), "a signer has a fingerprint");
    assert!(!id.public_key.is_empty(), "a signer has a public key");
    let a = signer.sign(HashAlgo::Sha256, &[1u8; 32]).await.unwrap();
    let b = signer.sign(HashAlgo::Sha256, &[2u8; 32]).await.unwrap();
    assert!(!a.is_empty());
    assert_ne!(a, b, "different digests give different signatures");
    assert!(
        signer.sign(HashAlgo::Sha256, &[1u8; 31]).await.is_err(),
        "a digest of the wrong length is refused"
    );
    assert!(signer.sign(HashAlgo::Sha512, &[1u8; 64]).await.is_ok());
    assert_eq!(signer.identity(), &id, "the identity does not change");
}

/// The [`Tester`] suite: nothing to test is an error; a report over good
/// packages passes and names each package in its TAP.
pub async fn tester(tester: &dyn Tester, good_rpms: &[PathBuf]) {
    let platforms = Platforms::bundled();
    let platform = platforms.get("almalinux-9").unwrap();
    let arch = Arch::host();
    assert!(matches!(
        tester.test(&[], platform, &arch).await,
        Err(TestError::NothingToTest)
    ));
    let report = tester.test(good_rpms, platform, &arch).await.unwrap();
    assert!(report.passed(), "good packages pass: {report:?}");
    for stage in &report.stages {
        assert!(stage.tap.starts_with("TAP version 13\n"), "TAP 13");
        for rpm in good_rpms {
            let name = rpm.file_name().unwrap().to_string_lossy();
            assert!(stage.tap.contains(name.as_ref()), "TAP names {name}");
        }
    }
}

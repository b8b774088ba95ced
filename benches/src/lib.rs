//! Inputs shared by the albs benchmarks (`benches/core.rs`) and the
//! `albs-sha256` helper used by `compare/sha256.sh`.
//!
//! Everything here is deterministic: the same call gives the same data on
//! every run, so numbers from different runs measure the same work.

use std::future::Future;
use std::pin::pin;
use std::task::{Context, Poll, Waker};

use albs_core::ledger::{Inputs, LedgerRecord, RecordKind, TaskInfo, TreeHash, leaf_hash};
use albs_core::source::{GitRef, SourceRef};
use albs_core::{Evr, Nevra, Sha256};

/// Versions and releases as they appear in a distribution: plain dotted
/// versions, `el9_N` releases, pre-releases with `~`, snapshots with `^`,
/// module releases with `+`, letters, dates and leading zeros.
pub const VERSIONS: &[&str] = &[
    "1.0",
    "1.0.0",
    "1.2.3",
    "1.2.10",
    "2.11",
    "2.34",
    "3.0.7",
    "4.18.0",
    "5.14.0",
    "8.2.2637",
    "1.1.1k",
    "1.1.1l",
    "0.8.0",
    "1.36.1",
    "10.0001",
    "20230101",
    "1.0~rc1",
    "1.0~rc2",
    "9.0~beta2",
    "1.2.3~rc1^post1",
    "7.4.0^20230101git1234abc",
    "1.0^git1",
    "5.el9",
    "60.el9",
    "60.el9_2",
    "1.el9",
    "1.el9.alma.1",
    "2.el8_10",
    "2.el8_9",
    "16.el9",
    "20.el9_1",
    "25.el9_3",
    "427.el9",
    "427.13.1.el9_4",
    "553.el8_10",
    "0.1.rc1.fc38",
    "3.module_el8.9.0+3735+82bd6ac7",
    "1.module+el8.10.0+1+abc",
    "2.fc39",
    "11.fc40",
];

/// A small deterministic pseudo-random generator (SplitMix64).
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// A generator seeded with `seed`.
    pub fn new(seed: u64) -> Self {
        Rng(seed)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A number in `0..n` (`n > 0`).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n
    }
}

/// `n` EVRs as a distribution's package list holds them: mostly epoch 0,
/// versions and releases from [`VERSIONS`] with some random numbers mixed in,
/// in random order and with duplicates.
pub fn evr_corpus(n: usize) -> Vec<Evr> {
    let mut rng = Rng::new(0xe5_0001);
    let pick = |rng: &mut Rng| VERSIONS[rng.below(VERSIONS.len() as u64) as usize];
    (0..n)
        .map(|_| {
            let epoch = match rng.below(10) {
                0 => 1,
                1 => 2,
                _ => 0,
            };
            let version = match rng.below(3) {
                0 => format!("{}.{}.{}", rng.below(10), rng.below(40), rng.below(200)),
                _ => pick(&mut rng).to_owned(),
            };
            let release = format!("{}.el9_{}", rng.below(100), rng.below(6));
            let release = if rng.below(2) == 0 {
                release
            } else {
                pick(&mut rng).to_owned()
            };
            Evr::new(epoch, version, release)
        })
        .collect()
}

/// `n` distinct leaf hashes.
pub fn leaves(n: usize) -> Vec<TreeHash> {
    (0..n as u64).map(|i| leaf_hash(&i.to_le_bytes())).collect()
}

/// A realistic ledger record for a binary RPM; `i` makes it unique.
pub fn sample_record(i: u64) -> LedgerRecord {
    let nevra: Nevra = format!("bash-5.1.8-{i}.el9.x86_64")
        .parse()
        .expect("valid NEVRA");
    LedgerRecord {
        kind: RecordKind::Rpm,
        artifact: Some(Sha256::of(&i.to_le_bytes())),
        nevra: Some(nevra),
        task: TaskInfo {
            build_id: Some(i / 8),
            task_id: Some(i),
            arch: "x86_64".parse().expect("valid arch"),
            host: "builder-01.example.org".to_owned(),
            platform: "AlmaLinux-9".to_owned(),
        },
        inputs: Inputs {
            source: SourceRef::Git {
                url: "https://git.almalinux.org/rpms/bash.git".to_owned(),
                reference: Some(GitRef::Tag(format!("imports/c9/bash-5.1.8-{i}.el9"))),
            },
            commit: Some(format!("{:040x}", u128::from(i) * 0x9e37_79b9)),
            lookaside: Vec::new(),
            srpm: Some(Sha256::of(&(i + 1).to_le_bytes())),
        },
        time: time::OffsetDateTime::UNIX_EPOCH + time::Duration::seconds(i as i64),
        signature: None,
        release: None,
    }
}

/// Runs a future that completes without waiting on I/O or timers (such as
/// the in-memory ledger's methods) to completion on this thread.
///
/// It polls with a no-op waker, yielding the thread while the future is
/// pending, so it must not be given futures that need a runtime.
pub fn block_on<F: Future>(future: F) -> F::Output {
    let mut future = pin!(future);
    let mut cx = Context::from_waker(Waker::noop());
    loop {
        if let Poll::Ready(out) = future.as_mut().poll(&mut cx) {
            return out;
        }
        std::thread::yield_now();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use albs_core::ledger::{Ledger, MemoryLedger};

    #[test]
    fn corpora_are_deterministic() {
        assert_eq!(evr_corpus(100), evr_corpus(100));
        assert_eq!(leaves(3), leaves(3));
        assert_eq!(sample_record(7), sample_record(7));
    }

    #[test]
    fn block_on_runs_the_memory_ledger() {
        let ledger = MemoryLedger::new();
        let a = block_on(ledger.append(&sample_record(0))).unwrap();
        let b = block_on(ledger.append(&sample_record(1))).unwrap();
        assert_eq!((a.index, b.index), (0, 1));
        assert_eq!(block_on(ledger.size()).unwrap(), 2);
    }
}

//! Criterion benchmarks of albs-core's hot paths: rpm version comparison,
//! EVR sorting, sha256 over a large reader, the ledger's Merkle root and
//! in-memory appends.

use std::hint::black_box;
use std::time::Duration;

use albs_benches::{VERSIONS, block_on, evr_corpus, leaves, sample_record};
use albs_core::Sha256;
use albs_core::evr::rpmvercmp;
use albs_core::ledger::{Ledger, MemoryLedger, merkle_root};
use criterion::{BatchSize, Criterion, Throughput};

/// Every ordered pair of [`VERSIONS`] compared once.
fn bench_rpmvercmp(c: &mut Criterion) {
    let mut g = c.benchmark_group("rpmvercmp");
    let n = VERSIONS.len() as u64;
    g.throughput(Throughput::Elements(n * n));
    g.bench_function("all_pairs", |b| {
        b.iter(|| {
            let mut less = 0u32;
            for x in VERSIONS {
                for y in VERSIONS {
                    less += u32::from(rpmvercmp(black_box(x), black_box(y)).is_lt());
                }
            }
            less
        })
    });
    g.finish();
}

/// Sorting 10k EVRs with `Ord` (rpm's order with the text as tie-break).
fn bench_evr_sort(c: &mut Criterion) {
    let evrs = evr_corpus(10_000);
    let mut g = c.benchmark_group("evr");
    g.throughput(Throughput::Elements(evrs.len() as u64));
    g.bench_function("sort_10k", |b| {
        b.iter_batched_ref(|| evrs.clone(), |v| v.sort(), BatchSize::LargeInput)
    });
    g.finish();
}

/// `Sha256::of_reader` over 64 MiB held in memory.
fn bench_sha256(c: &mut Criterion) {
    const SIZE: usize = 64 << 20;
    let data: Vec<u8> = (0..SIZE as u64)
        .map(|i| (i.wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 56) as u8)
        .collect();
    let mut g = c.benchmark_group("sha256");
    g.sample_size(10);
    g.measurement_time(Duration::from_secs(8));
    g.throughput(Throughput::Bytes(SIZE as u64));
    g.bench_function("of_reader_64MiB", |b| {
        b.iter(|| Sha256::of_reader(black_box(&data[..])).expect("reading memory"))
    });
    g.finish();
}

/// The RFC 9162 tree head over 100k leaves.
fn bench_merkle(c: &mut Criterion) {
    let leaves = leaves(100_000);
    let mut g = c.benchmark_group("ledger");
    g.sample_size(20);
    g.throughput(Throughput::Elements(leaves.len() as u64));
    g.bench_function("merkle_root_100k", |b| {
        b.iter(|| merkle_root(black_box(&leaves)))
    });
    g.finish();
}

/// 1000 appends of realistic records into a fresh `MemoryLedger`.
fn bench_memory_append(c: &mut Criterion) {
    let records: Vec<_> = (0..1000).map(sample_record).collect();
    let mut g = c.benchmark_group("ledger");
    g.throughput(Throughput::Elements(records.len() as u64));
    g.bench_function("memory_append_1k", |b| {
        b.iter_batched(
            MemoryLedger::new,
            |ledger| {
                for r in &records {
                    block_on(ledger.append(black_box(r))).expect("memory append");
                }
                ledger
            },
            BatchSize::LargeInput,
        )
    });
    g.finish();
}

fn main() {
    // What `criterion_group!`/`criterion_main!` expand to, written out so the
    // group function needs no doc comment of its own.
    let mut c = Criterion::default().configure_from_args();
    bench_rpmvercmp(&mut c);
    bench_evr_sort(&mut c);
    bench_sha256(&mut c);
    bench_merkle(&mut c);
    bench_memory_append(&mut c);
    c.final_summary();
}

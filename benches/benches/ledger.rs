//! Criterion benchmarks of the ledger's durable appends and its proofs:
//! appends per second into a `FileLedger` in batches of 1 to 10,000 (each
//! fdatasynced before it returns), into the Store's ledger on SQLite and,
//! when `ALBS_TEST_DATABASE_URL` is set, PostgreSQL (one transaction per
//! batch), and the time to produce an inclusion proof, a consistency proof
//! and a tree head at one million records (in memory and in SQLite),
//! against the rehash-everything baseline.

use std::hint::black_box;
use std::time::Duration;

use albs_benches::{Rng, block_on, leaves, sample_record};
use albs_core::db::{PgStore, SqliteStore};
use albs_core::ledger::{FileLedger, Ledger, LedgerExt, LedgerRecord, MemoryLedger};
use albs_core::merkle;
use criterion::{BatchSize, Criterion, Throughput};

/// Records appended to a `FileLedger` in batches of 1 to 10,000.
fn bench_file_append(c: &mut Criterion) {
    let records: Vec<LedgerRecord> = (0..20_000).map(sample_record).collect();
    let mut g = c.benchmark_group("ledger_file_append");
    g.sample_size(10);
    g.measurement_time(Duration::from_secs(6));
    for batch in [1usize, 10, 100, 1000, 10_000] {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let ledger = FileLedger::open(dir.path()).expect("opening the ledger");
        let mut at = 0;
        g.throughput(Throughput::Elements(batch as u64));
        g.bench_function(format!("batch_{batch}"), |b| {
            b.iter(|| {
                if at + batch > records.len() {
                    at = 0;
                }
                let chunk = &records[at..at + batch];
                at += batch;
                block_on(ledger.append_batch(black_box(chunk))).expect("appending")
            })
        });
        let records = block_on(ledger.size()).expect("the ledger's size");
        let bytes = std::fs::metadata(ledger.path()).map_or(0, |m| m.len());
        if let Some(per_record) = bytes.checked_div(records) {
            println!(
                "ledger_file_append/batch_{batch}: {per_record} bytes per record in {}",
                ledger.path().display()
            );
        }
    }
    g.finish();
}

/// The CPU side of an append, without the disk: serialising and hashing a
/// batch (on every core), and appending it to a `MemoryLedger` (that plus
/// the tree and the artifact index).
fn bench_cpu(c: &mut Criterion) {
    let records: Vec<LedgerRecord> = (0..10_000).map(sample_record).collect();
    let mut g = c.benchmark_group("ledger_cpu");
    g.sample_size(20);
    g.throughput(Throughput::Elements(records.len() as u64));
    g.bench_function("encode_batch_10000", |b| {
        b.iter(|| albs_core::ledger::encode_batch(black_box(&records)))
    });
    g.bench_function("encode_10000_one_core", |b| {
        b.iter(|| {
            black_box(&records)
                .iter()
                .map(|r| albs_core::ledger::leaf_hash(&r.canonical_bytes()))
                .collect::<Vec<_>>()
        })
    });
    g.bench_function("canonical_bytes_10000_one_core", |b| {
        b.iter(|| {
            black_box(&records)
                .iter()
                .map(|r| r.canonical_bytes().len())
                .sum::<usize>()
        })
    });
    g.bench_function("memory_append_batch_10000", |b| {
        b.iter_batched(
            MemoryLedger::new,
            |ledger| {
                block_on(ledger.append_batch(black_box(&records))).expect("appending");
                ledger
            },
            BatchSize::PerIteration,
        )
    });
    g.finish();
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a tokio runtime")
}

/// Appends to a Store ledger in batches, one group per backend.
fn bench_db_append(
    c: &mut Criterion,
    rt: &tokio::runtime::Runtime,
    name: &str,
    ledger: &dyn Ledger,
) {
    let records: Vec<LedgerRecord> = (0..20_000).map(sample_record).collect();
    let mut g = c.benchmark_group(name);
    g.sample_size(10);
    g.measurement_time(Duration::from_secs(8));
    for batch in [1usize, 100, 1000, 10_000] {
        let mut at = 0;
        g.throughput(Throughput::Elements(batch as u64));
        g.bench_function(format!("batch_{batch}"), |b| {
            b.iter(|| {
                if at + batch > records.len() {
                    at = 0;
                }
                let chunk = &records[at..at + batch];
                at += batch;
                rt.block_on(ledger.append_batch(black_box(chunk)))
                    .expect("appending")
            })
        });
    }
    g.finish();
}

/// The Store's ledger on SQLite (a file, WAL) and on PostgreSQL when
/// `ALBS_TEST_DATABASE_URL` is set (in a schema of its own, dropped after).
fn bench_store_ledgers(c: &mut Criterion) {
    let rt = runtime();
    let dir = tempfile::tempdir().expect("a temporary directory");
    let store = rt
        .block_on(SqliteStore::open(&dir.path().join("albs.db")))
        .expect("opening SQLite");
    let ledger = rt.block_on(store.ledger()).expect("the SQLite ledger");
    bench_db_append(c, &rt, "ledger_sqlite_append", &ledger);

    // Proofs at 1M records: the cached tree plus one query for new rows.
    const SIZE: u64 = 1_000_000;
    let records: Vec<LedgerRecord> = (0..10_000).map(sample_record).collect();
    let mut n = rt.block_on(ledger.size()).expect("size");
    while n < SIZE {
        let take = (SIZE - n).min(records.len() as u64) as usize;
        rt.block_on(ledger.append_batch(&records[..take]))
            .expect("appending");
        n += take as u64;
    }
    let mut rng = Rng::new(0x5e1f);
    let mut g = c.benchmark_group("ledger_sqlite_proof_1M");
    g.bench_function("inclusion_proof", |b| {
        b.iter(|| {
            let i = rng.below(SIZE);
            rt.block_on(ledger.inclusion_proof(black_box(i), SIZE))
                .expect("proof")
        })
    });
    g.bench_function("get_record", |b| {
        b.iter(|| {
            let i = rng.below(SIZE);
            rt.block_on(ledger.get(black_box(i))).expect("record")
        })
    });
    g.sample_size(10);
    g.bench_function("open_1M", |b| {
        b.iter(|| rt.block_on(store.ledger()).expect("the SQLite ledger"))
    });
    g.finish();

    if let Ok(url) = std::env::var("ALBS_TEST_DATABASE_URL") {
        let schema = format!("albs_bench_ledger_{}", std::process::id());
        let pg = rt
            .block_on(PgStore::connect_schema(&url, &schema))
            .expect("connecting to PostgreSQL");
        let ledger = rt.block_on(pg.ledger()).expect("the PostgreSQL ledger");
        bench_db_append(c, &rt, "ledger_postgres_append", &ledger);
        rt.block_on(pg.drop_schema()).expect("dropping the schema");
    } else {
        eprintln!("ledger_postgres_append: skipped, ALBS_TEST_DATABASE_URL is not set");
    }
}

/// Proofs and heads at 1M records, from the ledger's subtree hashes and from
/// the leaves alone.
fn bench_proofs(c: &mut Criterion) {
    const SIZE: u64 = 1_000_000;
    let ledger = MemoryLedger::new();
    let records: Vec<LedgerRecord> = (0..10_000).map(sample_record).collect();
    let mut n = 0;
    while n < SIZE {
        let take = (SIZE - n).min(records.len() as u64) as usize;
        block_on(ledger.append_batch(&records[..take])).expect("appending");
        n += take as u64;
    }
    let all = leaves(SIZE as usize);
    let mut rng = Rng::new(0x1ed9e4);
    let mut g = c.benchmark_group("ledger_proof_1M");
    g.bench_function("inclusion_proof", |b| {
        b.iter(|| {
            let i = rng.below(SIZE);
            block_on(ledger.inclusion_proof(black_box(i), SIZE)).expect("proof")
        })
    });
    g.bench_function("consistency_proof", |b| {
        b.iter(|| {
            let old = 1 + rng.below(SIZE - 1);
            block_on(ledger.consistency_proof(black_box(old), SIZE)).expect("proof")
        })
    });
    g.bench_function("root_at", |b| {
        b.iter(|| block_on(ledger.root_at(black_box(SIZE - 1))).expect("head"))
    });
    g.bench_function("verify_inclusion", |b| {
        let root = merkle::merkle_root(&all);
        let i = rng.below(SIZE);
        let proof = merkle::inclusion_proof(&all, i, SIZE).expect("proof");
        b.iter(|| {
            merkle::verify_inclusion(&all[i as usize], black_box(i), SIZE, &proof, &root)
                .expect("verifies")
        })
    });
    g.sample_size(10);
    g.bench_function("inclusion_proof_rehashing_leaves", |b| {
        b.iter(|| {
            let i = rng.below(SIZE);
            merkle::inclusion_proof(black_box(&all), i, SIZE).expect("proof")
        })
    });
    g.finish();
}

/// Whether a filter given on the command line can match benchmarks of the
/// groups starting with `prefix`, so that the (slow) setup of the others is
/// skipped.
fn wanted(prefix: &str) -> bool {
    let mut args = std::env::args().skip(1);
    let mut filter = None;
    while let Some(a) = args.next() {
        match a.as_str() {
            // Criterion's options that take a value.
            "--save-baseline"
            | "--baseline"
            | "--baseline-lenient"
            | "--load-baseline"
            | "--sample-size"
            | "--warm-up-time"
            | "--measurement-time"
            | "--profile-time"
            | "--output-format"
            | "--color"
            | "--plotting-backend"
            | "--nresamples"
            | "--noise-threshold"
            | "--confidence-level"
            | "--significance-level"
            | "--format" => {
                args.next();
            }
            a if a.starts_with('-') => {}
            a => filter = Some(a.to_owned()),
        }
    }
    filter.is_none_or(|f| f.starts_with(prefix) || prefix.starts_with(&f) || f.contains(prefix))
}

fn main() {
    // What `criterion_group!`/`criterion_main!` expand to, written out so the
    // group function needs no doc comment of its own.
    let mut c = Criterion::default().configure_from_args();
    if wanted("ledger_cpu") {
        bench_cpu(&mut c);
    }
    if wanted("ledger_file_append") {
        bench_file_append(&mut c);
    }
    if wanted("ledger_sqlite") || wanted("ledger_postgres") {
        bench_store_ledgers(&mut c);
    }
    if wanted("ledger_proof_1M") {
        bench_proofs(&mut c);
    }
    c.final_summary();
}

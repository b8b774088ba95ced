//! Repodata benchmarks on synthetic packages: writing the metadata of 1,000
//! RPMs into a fresh repository, and adding one package to a published
//! 10,000-package repository (open, read the one package, re-emit from the
//! stored fragments, stage, swap `repomd.xml`, prune).
//!
//! The packages are small v4 RPMs made with the `rpm` crate's
//! `PackageBuilder` (files, provides, requires, a changelog), deterministic,
//! and cached under `target/albs-bench/rpms-<N>/`.
//!
//! Besides the criterion run, `ALBS_REPODATA_CORPUS=N` prints the directory
//! of the N-package corpus (making it if needed) and exits; that is how
//! `compare/repodata.sh` gets the same packages for createrepo_c.

use std::path::{Path, PathBuf};
use std::time::Duration;

use albs_core::repo::{Repo, RetainPolicy};
use criterion::{BatchSize, Criterion};

/// Where corpora are cached: `target/albs-bench/`.
fn cache_root() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../target"));
    target.join("albs-bench")
}

/// One synthetic package: `pkg-<i>`, a few files, provides and requires.
fn package(i: usize) -> rpm::Package {
    let name = format!("pkg{i:05}");
    let when = rpm::Timestamp(1_700_000_000 + i as u32);
    let mut b = rpm::PackageBuilder::new(
        &name,
        &format!("1.{}.{}", i % 7, i % 13),
        "MIT",
        if i.is_multiple_of(3) {
            "noarch"
        } else {
            "x86_64"
        },
        &format!("synthetic package number {i}"),
    );
    b.using_config(
        rpm::BuildConfig::v4()
            .compression(rpm::CompressionType::Gzip)
            .source_date(when),
    )
    .release(format!("{}.el9", 1 + i % 4))
    .description(format!(
        "Package {i} of the albs repodata benchmark: a few files, provides, requires and a changelog."
    ))
    .url(format!("https://example.invalid/{name}"))
    .vendor("albs bench")
    .packager("albs bench <bench@albs.invalid>")
    .group("Unspecified")
    .build_host("bench.albs.invalid")
    .provides(rpm::Dependency::eq(format!("lib{name}"), "1.0"))
    .provides(rpm::Dependency::any(format!("{name}-tools")))
    .requires(rpm::Dependency::greater_eq(
        format!("libpkg{:05}", (i * 7 + 1) % 10_000),
        "1.0",
    ))
    .requires(rpm::Dependency::any("/bin/sh"))
    .add_changelog_entry(
        "albs bench <bench@albs.invalid> - 1.0-1",
        format!("- build {i}"),
        when,
    );
    for f in 0..3 {
        b.with_file_contents(
            format!("{name} file {f}\n"),
            rpm::FileOptions::new(format!("/usr/share/{name}/data{f}.txt")),
        )
        .expect("a regular file");
    }
    b.with_file_contents(
        format!("#!/bin/sh\necho {name}\n"),
        rpm::FileOptions::new(format!("/usr/bin/{name}")).permissions(0o755),
    )
    .expect("a regular file");
    b.build().expect("the synthetic package builds")
}

/// The directory of `n` synthetic packages, made once.
fn corpus(n: usize) -> PathBuf {
    let dir = cache_root().join(format!("rpms-{n}"));
    let done = dir.join(".complete");
    if done.exists() {
        return dir;
    }
    std::fs::create_dir_all(&dir).unwrap();
    let workers = std::thread::available_parallelism().map_or(1, |n| n.get());
    std::thread::scope(|s| {
        for w in 0..workers {
            let dir = &dir;
            s.spawn(move || {
                for i in (w..n).step_by(workers) {
                    let path = dir.join(format!("pkg{i:05}.rpm"));
                    if !path.exists() {
                        let tmp = dir.join(format!(".pkg{i:05}.rpm.tmp"));
                        package(i).write_file(&tmp).unwrap();
                        std::fs::rename(&tmp, &path).unwrap();
                    }
                }
            });
        }
    });
    std::fs::write(&done, b"").unwrap();
    dir
}

/// A fresh repository directory whose `Packages/` holds hard links to the
/// first `n` packages of `corpus` (or copies, across file systems).
fn repo_with(corpus: &Path, n: usize, into: &Path) {
    let pkgs = into.join("Packages");
    std::fs::create_dir_all(&pkgs).unwrap();
    for i in 0..n {
        let name = format!("pkg{i:05}.rpm");
        let (from, to) = (corpus.join(&name), pkgs.join(&name));
        if std::fs::hard_link(&from, &to).is_err() {
            std::fs::copy(&from, &to).unwrap();
        }
    }
}

fn bench_create(c: &mut Criterion) {
    let src = corpus(10_001);
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("repo");
    repo_with(&src, 1_000, &dir);
    let mut g = c.benchmark_group("repodata");
    g.sample_size(10);
    g.throughput(criterion::Throughput::Elements(1_000));
    g.bench_function("create_1000", |b| {
        b.iter_batched(
            || {
                for d in ["repodata", albs_core::repo::STATE_DIR] {
                    let _ = std::fs::remove_dir_all(dir.join(d));
                }
            },
            |()| {
                let mut repo = Repo::open(&dir).unwrap();
                repo.sync().unwrap();
                let p = repo.publish().unwrap();
                assert_eq!(p.packages, 1_000);
            },
            BatchSize::PerIteration,
        );
    });
    g.finish();
}

fn bench_add_one(c: &mut Criterion) {
    let src = corpus(10_001);
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("repo");
    repo_with(&src, 10_000, &dir);
    {
        let mut repo = Repo::open(&dir).unwrap();
        repo.set_retain(RetainPolicy {
            generations: 2,
            grace: Duration::ZERO,
        });
        repo.sync().unwrap();
        repo.publish().unwrap();
    }
    let extra = dir.join("Packages/pkg10000.rpm");
    std::fs::copy(src.join("pkg10000.rpm"), &extra).unwrap();
    let extra_nevra = {
        let mut repo = Repo::open(&dir).unwrap();
        let n = repo.add(std::slice::from_ref(&extra)).unwrap().remove(0);
        repo.remove(std::slice::from_ref(&n)).unwrap();
        repo.publish().unwrap();
        n
    };
    let mut g = c.benchmark_group("repodata");
    g.sample_size(10);
    g.bench_function("add_one_to_10000", |b| {
        b.iter_batched(
            || {
                let mut repo = Repo::open(&dir).unwrap();
                if repo.packages().len() > 10_000 {
                    repo.remove(std::slice::from_ref(&extra_nevra)).unwrap();
                    repo.publish().unwrap();
                }
                // A new mtime, so the package is read, not taken from the
                // fragments kept for earlier generations.
                std::fs::File::options()
                    .write(true)
                    .open(&extra)
                    .unwrap()
                    .set_modified(std::time::SystemTime::now())
                    .unwrap();
            },
            |()| {
                let mut repo = Repo::open(&dir).unwrap();
                repo.add(std::slice::from_ref(&extra)).unwrap();
                let p = repo.publish().unwrap();
                assert_eq!(p.packages, 10_001);
            },
            BatchSize::PerIteration,
        );
    });
    g.finish();
}

fn main() {
    if let Ok(n) = std::env::var("ALBS_REPODATA_CORPUS") {
        let n: usize = n.parse().expect("ALBS_REPODATA_CORPUS is a package count");
        println!("{}", corpus(n).display());
        return;
    }
    let mut c = Criterion::default().configure_from_args();
    bench_create(&mut c);
    bench_add_one(&mut c);
    c.final_summary();
}

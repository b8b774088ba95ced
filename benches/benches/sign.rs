//! RPM signing: albs-sign (sequoia, in process) against `rpmsign --addsign`
//! (gpg), both with the same RSA-4096 key over the same packages. Builds a
//! noarch fixture with `rpmbuild`, copies it `ALBS_BENCH_RPMS` times (200),
//! times both, checks every signed package with `rpm -K`, and prints both
//! times and the ratio.
//!
//! ```sh
//! cargo bench -p albs-benches --bench sign
//! ```
//!
//! The key is a throwaway: its passphrase is passed to gpg on the command line.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use albs_sign::{KeyAlgorithm, Passphrase, SigningKey, sign_rpm};

const PASSPHRASE: &str = "albs bench";

fn run(cmd: &mut Command) -> String {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("{cmd:?}: {e} (run scripts/setup.sh)"));
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{cmd:?} failed: {text}");
    text
}

fn fixture(dir: &Path) -> PathBuf {
    let spec = dir.join("bench.spec");
    std::fs::write(
        &spec,
        "Name: albs-sign-bench\nVersion: 1.0\nRelease: 1\nSummary: bench\nLicense: MIT\n\
         BuildArch: noarch\n%description\nbench\n%install\n\
         mkdir -p %{buildroot}/usr/share/albs\n\
         head -c 65536 /dev/urandom > %{buildroot}/usr/share/albs/data\n\
         %files\n/usr/share/albs/data\n",
    )
    .unwrap();
    run(Command::new("rpmbuild")
        .arg("-bb")
        .arg("--define")
        .arg(format!("_topdir {}", dir.join("top").display()))
        .arg(&spec));
    dir.join("top/RPMS/noarch/albs-sign-bench-1.0-1.noarch.rpm")
}

fn copies(rpm: &Path, dir: &Path, n: usize) -> Vec<PathBuf> {
    std::fs::create_dir_all(dir).unwrap();
    (0..n)
        .map(|i| {
            let p = dir.join(format!("pkg-{i:04}.rpm"));
            std::fs::copy(rpm, &p).unwrap();
            p
        })
        .collect()
}

/// `rpm -K` over `rpms` with `root` trusting the key: every one is OK.
fn check_all(root: &Path, rpms: &[PathBuf], key_id: &str) {
    let out = run(Command::new("rpm")
        .arg("--root")
        .arg(root)
        .args(["--define", "_dbpath /rpmdb", "-Kv"])
        .args(rpms));
    let ok = out
        .matches(&format!(
            "Header V4 RSA/SHA256 Signature, key ID {key_id}: OK"
        ))
        .count();
    assert_eq!(ok, rpms.len(), "rpm -K: {out}");
}

fn main() {
    let n: usize = std::env::var("ALBS_BENCH_RPMS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(200);
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let rpm = fixture(dir);

    let start = Instant::now();
    let key = SigningKey::generate("albs bench <bench@albs.invalid>", KeyAlgorithm::Rsa4096)
        .expect("generate RSA-4096");
    let keygen = start.elapsed();
    let id = key.signing_key_id().to_lowercase();
    let short_id = &id[id.len() - 8..];

    // The same key for gpg, and an rpm database that trusts it.
    let home = dir.join("gnupg");
    std::fs::create_dir(&home).unwrap();
    std::fs::write(
        dir.join("secret.asc"),
        key.export_tsk(&Passphrase::from_secret(PASSPHRASE))
            .unwrap(),
    )
    .unwrap();
    std::fs::write(dir.join("public.asc"), key.public_key_armored()).unwrap();
    run(Command::new("gpg")
        .arg("--homedir")
        .arg(&home)
        .args([
            "--batch",
            "--pinentry-mode",
            "loopback",
            "--passphrase",
            PASSPHRASE,
        ])
        .arg("--import")
        .arg(dir.join("secret.asc")));
    let root = dir.join("root");
    run(Command::new("rpmkeys")
        .arg("--root")
        .arg(&root)
        .args(["--define", "_dbpath /rpmdb", "--import"])
        .arg(dir.join("public.asc")));

    let ours = copies(&rpm, &dir.join("albs"), n);
    let theirs = copies(&rpm, &dir.join("rpmsign"), n);

    let start = Instant::now();
    for p in &ours {
        sign_rpm(p, p, &key).expect("sign_rpm");
    }
    let albs = start.elapsed();

    let start = Instant::now();
    run(Command::new("rpmsign")
        .env("GNUPGHOME", &home)
        .args(["--define", "__gpg /usr/bin/gpg"])
        .args(["--define", "_gpg_digest_algo sha256"])
        .arg("--define")
        .arg(format!("_gpg_name {}", key.fingerprint()))
        .arg("--define")
        .arg(format!("_gpg_path {}", home.display()))
        .arg("--define")
        .arg(format!(
            "_gpg_sign_cmd_extra_args --batch --pinentry-mode loopback --passphrase '{PASSPHRASE}'"
        ))
        .arg("--addsign")
        .args(&theirs));
    let rpmsign = start.elapsed();
    let _ = Command::new("gpgconf")
        .arg("--homedir")
        .arg(&home)
        .args(["--kill", "gpg-agent"])
        .status();

    check_all(&root, &ours, short_id);
    check_all(&root, &theirs, short_id);

    let per = |d: Duration| d.as_secs_f64() * 1000.0 / n as f64;
    println!("sign: RSA-4096 key generated in {:.2?}", keygen);
    println!(
        "sign: albs-sign sign_rpm  {n} RPMs in {:>9.2?} ({:.2} ms each)",
        albs,
        per(albs)
    );
    println!(
        "sign: rpmsign --addsign   {n} RPMs in {:>9.2?} ({:.2} ms each)",
        rpmsign,
        per(rpmsign)
    );
    println!(
        "sign: rpmsign / albs-sign = {:.1}x; all {} signed packages pass rpm -K",
        rpmsign.as_secs_f64() / albs.as_secs_f64(),
        2 * n
    );
}

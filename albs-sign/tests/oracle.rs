//! albs-sign against the real consumers: `rpmkeys --import` and `rpm -K` of
//! rpm, `gpg --verify` for detached signatures. Fixtures are built by the
//! tests with `rpmbuild`.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

use albs_sign::{
    Error, HashAlgo, KeyAlgorithm, Keyring, Passphrase, RpmVerifier, Signer, SigningKey, sign_rpm,
    verify_detached,
};
use sequoia_openpgp as openpgp;

fn rsa_key() -> &'static SigningKey {
    static KEY: OnceLock<SigningKey> = OnceLock::new();
    KEY.get_or_init(|| {
        SigningKey::generate("albs test RSA <rsa@albs.invalid>", KeyAlgorithm::Rsa4096).unwrap()
    })
}

fn ed_key() -> &'static SigningKey {
    static KEY: OnceLock<SigningKey> = OnceLock::new();
    KEY.get_or_init(|| {
        SigningKey::generate("albs test Ed25519 <ed@albs.invalid>", KeyAlgorithm::Ed25519).unwrap()
    })
}

/// An unsigned noarch RPM built once per test binary by `rpmbuild`.
fn fixture_rpm() -> &'static Path {
    static RPM: OnceLock<PathBuf> = OnceLock::new();
    RPM.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap().keep();
        let spec = dir.join("fixture.spec");
        std::fs::write(
            &spec,
            "Name: albs-sign-fixture\nVersion: 1.0\nRelease: 1\nSummary: fixture\n\
             License: MIT\nBuildArch: noarch\n%description\nA fixture.\n\
             %install\nmkdir -p %{buildroot}/usr/share/albs\n\
             echo hello > %{buildroot}/usr/share/albs/hello.txt\n\
             %files\n/usr/share/albs/hello.txt\n",
        )
        .unwrap();
        let out = Command::new("rpmbuild")
            .arg("-bb")
            .arg("--define")
            .arg(format!("_topdir {}", dir.join("top").display()))
            .arg(&spec)
            .output()
            .expect("rpmbuild runs (scripts/setup.sh installs rpm)");
        assert!(out.status.success(), "rpmbuild: {}", text(&out));
        dir.join("top/RPMS/noarch/albs-sign-fixture-1.0-1.noarch.rpm")
    })
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// An rpm root whose database trusts `public_key` (armored).
fn rpm_root(public_key: &str) -> tempfile::TempDir {
    let root = tempfile::tempdir().unwrap();
    let asc = root.path().join("key.asc");
    std::fs::write(&asc, public_key).unwrap();
    let out = rpm_cmd("rpmkeys", root.path())
        .arg("--import")
        .arg(&asc)
        .output()
        .unwrap();
    assert!(out.status.success(), "rpmkeys --import: {}", text(&out));
    root
}

fn rpm_cmd(program: &str, root: &Path) -> Command {
    let mut c = Command::new(program);
    c.arg("--root")
        .arg(root)
        .arg("--define")
        .arg("_dbpath /rpmdb");
    c
}

/// `rpm -Kv` of `rpm` in `root`: (success, output).
fn rpm_k(root: &Path, rpm: &Path) -> (bool, String) {
    let out = rpm_cmd("rpm", root).arg("-Kv").arg(rpm).output().unwrap();
    (out.status.success(), text(&out))
}

fn short_id(key: &SigningKey) -> String {
    let id = key.signing_key_id().to_lowercase();
    id[id.len() - 8..].to_string()
}

fn signed_copy(key: &SigningKey, dir: &Path) -> PathBuf {
    let out = dir.join("signed.rpm");
    sign_rpm(fixture_rpm(), &out, key).unwrap();
    out
}

#[test]
fn rsa4096_signed_rpm_passes_rpm_k() {
    let key = rsa_key();
    assert_eq!(key.algorithm(), "rsa4096");
    let root = rpm_root(key.public_key_armored());
    let rpm = signed_copy(key, root.path());
    let (ok, out) = rpm_k(root.path(), &rpm);
    assert!(ok, "rpm -K: {out}");
    let line = format!(
        "Header V4 RSA/SHA256 Signature, key ID {}: OK",
        short_id(key)
    );
    assert!(out.contains(&line), "rpm -K says {out}");
    let v = RpmVerifier::new(vec![key.cert().clone()])
        .verify_rpm(&rpm)
        .unwrap();
    assert_eq!(v.fingerprint, key.fingerprint());
    // The signature takes the reserved space: the payload does not move.
    let before = std::fs::metadata(fixture_rpm()).unwrap().len();
    let after = std::fs::metadata(&rpm).unwrap().len();
    assert_eq!(before, after);
}

#[test]
fn ed25519_signed_rpm_passes_rpm_k_and_resigning_replaces() {
    let key = ed_key();
    assert_eq!(key.algorithm(), "ed25519");
    let root = rpm_root(key.public_key_armored());
    let rpm = signed_copy(key, root.path());
    // Signing a signed package again replaces its signature.
    sign_rpm(&rpm, &rpm, key).unwrap();
    let (ok, out) = rpm_k(root.path(), &rpm);
    assert!(ok, "rpm -K: {out}");
    let line = format!(
        "Header V4 EdDSA/SHA256 Signature, key ID {}: OK",
        short_id(key)
    );
    assert!(out.contains(&line), "rpm -K says {out}");
    // One header signature and one over header and payload (as
    // `rpmsign --rpmv3` writes), each replaced, not added to.
    assert_eq!(
        out.matches("Header V4 EdDSA/SHA256 Signature, key ID")
            .count(),
        1,
        "one header signature: {out}"
    );
    let whole = format!(
        "\n    V4 EdDSA/SHA256 Signature, key ID {}: OK",
        short_id(key)
    );
    assert_eq!(
        out.matches(&whole).count(),
        1,
        "one whole-package signature: {out}"
    );
    assert_eq!(out.matches("Signature, key ID").count(), 2, "{out}");
    let size = |p: &Path| std::fs::metadata(p).unwrap().len();
    assert_eq!(size(&rpm), size(fixture_rpm()), "re-signing keeps the size");
}

#[test]
fn tampered_payload_fails_rpm_k_and_our_check() {
    let key = ed_key();
    let root = rpm_root(key.public_key_armored());
    let rpm = signed_copy(key, root.path());
    let mut bytes = std::fs::read(&rpm).unwrap();
    let last = bytes.len() - 20;
    bytes[last] ^= 0x55;
    std::fs::write(&rpm, &bytes).unwrap();
    let (ok, out) = rpm_k(root.path(), &rpm);
    assert!(!ok, "rpm -K accepted a tampered payload: {out}");
    assert!(
        out.contains("Payload SHA256 digest: BAD"),
        "rpm -K says {out}"
    );
    let err = RpmVerifier::new(vec![key.cert().clone()])
        .verify_rpm(&rpm)
        .unwrap_err();
    assert!(matches!(err, Error::Untrusted { .. }), "{err}");
}

#[test]
fn another_keys_signature_is_refused_by_rpm_k_and_our_check() {
    let root = rpm_root(ed_key().public_key_armored());
    let rpm = signed_copy(rsa_key(), root.path());
    let (ok, out) = rpm_k(root.path(), &rpm);
    assert!(!ok, "rpm -K accepted an unknown key: {out}");
    assert!(out.contains("NOKEY"), "rpm -K says {out}");
    let err = RpmVerifier::new(vec![ed_key().cert().clone()])
        .verify_rpm(&rpm)
        .unwrap_err();
    assert!(err.to_string().contains("no trusted key"), "{err}");
}

#[test]
fn unsigned_rpm_is_refused() {
    let err = RpmVerifier::new(vec![ed_key().cert().clone()])
        .verify_rpm(fixture_rpm())
        .unwrap_err();
    assert!(
        err.to_string().contains("no OpenPGP header signature"),
        "{err}"
    );
}

#[test]
fn detached_signature_verifies_with_gpg_and_fails_on_a_modified_file() {
    let key = rsa_key();
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("gnupg");
    std::fs::create_dir(&home).unwrap();
    let gpg = |args: &[&str]| {
        Command::new("gpg")
            .arg("--homedir")
            .arg(&home)
            .args(["--batch", "--no-tty"])
            .args(args)
            .current_dir(dir.path())
            .output()
            .expect("gpg runs (scripts/setup.sh installs gnupg)")
    };
    std::fs::write(dir.path().join("key.asc"), key.public_key_armored()).unwrap();
    let out = gpg(&["--import", "key.asc"]);
    assert!(out.status.success(), "gpg --import: {}", text(&out));

    let data = b"<repomd>revision 1</repomd>\n";
    let sig = key.sign_detached(data).unwrap();
    assert!(sig.starts_with("-----BEGIN PGP SIGNATURE-----"));
    std::fs::write(dir.path().join("repomd.xml"), data).unwrap();
    std::fs::write(dir.path().join("repomd.xml.asc"), &sig).unwrap();
    let out = gpg(&["--verify", "repomd.xml.asc", "repomd.xml"]);
    assert!(out.status.success(), "gpg --verify: {}", text(&out));
    assert!(text(&out).contains("Good signature"), "{}", text(&out));

    std::fs::write(
        dir.path().join("repomd.xml"),
        b"<repomd>revision 2</repomd>\n",
    )
    .unwrap();
    let out = gpg(&["--verify", "repomd.xml.asc", "repomd.xml"]);
    assert!(!out.status.success(), "gpg accepted a modified file");
    assert!(text(&out).contains("BAD signature"), "{}", text(&out));
}

#[test]
fn verify_detached_fails_closed() {
    let key = ed_key();
    let certs = vec![key.cert().clone()];
    let data = b"repomd";
    let sig = key.sign_detached(data).unwrap();
    let v = verify_detached(data, sig.as_bytes(), &certs).unwrap();
    assert_eq!(v.fingerprint, key.fingerprint());
    // The same signature, checked again, on other data: refused every time.
    assert!(verify_detached(b"repomd!", sig.as_bytes(), &certs).is_err());
    assert!(verify_detached(data, sig.as_bytes(), &certs).is_ok());
    // Unknown key, no key at all, garbage, and a public key instead of a signature.
    assert!(verify_detached(data, sig.as_bytes(), &[rsa_key().cert().clone()]).is_err());
    assert!(verify_detached(data, sig.as_bytes(), &[]).is_err());
    assert!(verify_detached(data, b"not a signature", &certs).is_err());
    assert!(verify_detached(data, key.public_key_armored().as_bytes(), &certs).is_err());
}

#[test]
fn keyring_keeps_secrets_encrypted_and_unlocks_with_the_passphrase() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("keyring.asc");
    let pass = Passphrase::from_secret("correct horse");
    let mut ring = Keyring::open(&path).unwrap();
    assert!(ring.fingerprints().is_empty());
    ring.add(ed_key(), &pass).unwrap();
    ring.add(ed_key(), &pass).unwrap();
    ring.save().unwrap();

    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(&path).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600);
    let file = std::fs::read_to_string(&path).unwrap();
    assert!(file.starts_with("-----BEGIN PGP PRIVATE KEY BLOCK-----"));

    let ring = Keyring::open(&path).unwrap();
    assert_eq!(
        ring.fingerprints(),
        vec![ed_key().fingerprint().to_string()]
    );
    let wrong = ring.unlock(ed_key().fingerprint(), &Passphrase::from_secret("wrong"));
    assert!(
        matches!(wrong, Err(Error::WrongPassphrase { .. })),
        "{wrong:?}"
    );
    let key = ring.unlock(ed_key().fingerprint(), &pass).unwrap();
    let sig = key.sign_detached(b"x").unwrap();
    verify_detached(
        b"x",
        sig.as_bytes(),
        &[ring.public_cert(key.fingerprint()).unwrap()],
    )
    .unwrap();
    assert!(ring.unlock("0000", &pass).is_err());

    // A keyring file with an unencrypted secret key is refused.
    let tsk = rsa_key().export_tsk(&pass).unwrap();
    let bad = dir.path().join("bad.asc");
    let unlocked = SigningKey::from_tsk(tsk.as_bytes(), Some(&pass)).unwrap();
    assert_eq!(unlocked.fingerprint(), rsa_key().fingerprint());
    std::fs::write(&bad, unencrypted_tsk(&tsk, "correct horse")).unwrap();
    let err = Keyring::open(&bad).unwrap_err();
    assert!(err.to_string().contains("unencrypted"), "{err}");
}

/// The TSK `tsk` with its secret decrypted (what a careless export looks like).
fn unencrypted_tsk(tsk: &str, password: &str) -> Vec<u8> {
    use openpgp::parse::Parse;
    use openpgp::serialize::SerializeInto;
    let cert = openpgp::Cert::from_bytes(tsk.as_bytes()).unwrap();
    let secret = cert
        .primary_key()
        .key()
        .clone()
        .parts_into_secret()
        .unwrap()
        .decrypt_secret(&openpgp::crypto::Password::from(password))
        .unwrap();
    let (cert, _) = cert.insert_packets(Some(secret)).unwrap();
    assert!(cert.keys().unencrypted_secret().next().is_some());
    cert.as_tsk().armored().to_vec().unwrap()
}

#[test]
fn exported_tsk_is_encrypted_and_needs_its_passphrase() {
    let pass = Passphrase::from_secret("s3cret");
    let tsk = ed_key().export_tsk(&pass).unwrap();
    assert!(tsk.starts_with("-----BEGIN PGP PRIVATE KEY BLOCK-----"));
    assert!(matches!(
        SigningKey::from_tsk(tsk.as_bytes(), None),
        Err(Error::Locked { .. })
    ));
    assert!(matches!(
        SigningKey::from_tsk(tsk.as_bytes(), Some(&Passphrase::from_secret("nope"))),
        Err(Error::WrongPassphrase { .. })
    ));
    let key = SigningKey::from_tsk(tsk.as_bytes(), Some(&pass)).unwrap();
    assert_eq!(key.fingerprint(), ed_key().fingerprint());
    // A public key is not a signing key.
    let err = SigningKey::from_tsk(ed_key().public_key_armored().as_bytes(), None).unwrap_err();
    assert!(
        err.to_string()
            .contains("no valid signing-capable secret key"),
        "{err}"
    );
}

#[test]
fn passphrases_come_from_files_or_env_and_never_show() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("pass");
    std::fs::write(&file, "hunter2\n").unwrap();
    let p = Passphrase::from_file(&file).unwrap();
    let shown = format!("{p:?} {:?}", ed_key());
    assert!(!shown.contains("hunter2"), "{shown}");
    let tsk = ed_key().export_tsk(&p).unwrap();
    let again = Passphrase::from_secret("hunter2");
    SigningKey::from_tsk(tsk.as_bytes(), Some(&again)).unwrap();

    std::fs::write(&file, "").unwrap();
    assert!(Passphrase::from_file(&file).is_err());
    assert!(Passphrase::from_file(dir.path().join("missing")).is_err());
    let err = Passphrase::from_env("ALBS_SIGN_TEST_SURELY_UNSET").unwrap_err();
    assert!(
        err.to_string().contains("env ALBS_SIGN_TEST_SURELY_UNSET"),
        "{err}"
    );
}

#[tokio::test]
async fn signing_keys_conform_to_the_signer_port() {
    for key in [ed_key(), rsa_key()] {
        albs_core::conformance::signer(key).await;
        let id = Signer::identity(key);
        assert_eq!(id.fingerprint, id.fingerprint.to_uppercase());
        assert!(
            String::from_utf8_lossy(&id.public_key)
                .starts_with("-----BEGIN PGP PUBLIC KEY BLOCK-----")
        );

        // The raw signature verifies with the public key, and only for its digest.
        let digest = [9u8; 32];
        let raw = key.sign(HashAlgo::Sha256, &digest).await.unwrap();
        let public = key.cert().primary_key().key().clone();
        let mpis = openpgp::crypto::mpi::Signature::parse(public.pk_algo(), &raw[..]).unwrap();
        let sha256 = openpgp::types::HashAlgorithm::SHA256;
        public.verify(&mpis, sha256, &digest).unwrap();
        assert!(public.verify(&mpis, sha256, &[8u8; 32]).is_err());
    }
}

#[test]
fn a_key_made_by_gpg_imports_and_signs_rpms_rpm_k_accepts() {
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("gnupg");
    std::fs::create_dir(&home).unwrap();
    let gpg = |args: &[&str]| {
        let out = Command::new("gpg")
            .arg("--homedir")
            .arg(&home)
            .args(["--batch", "--no-tty", "--pinentry-mode", "loopback"])
            .args(["--passphrase", "gpg pass"])
            .args(args)
            .output()
            .expect("gpg runs (scripts/setup.sh installs gnupg)");
        assert!(out.status.success(), "gpg {args:?}: {}", text(&out));
        out.stdout
    };
    gpg(&[
        "--quick-gen-key",
        "gpg made <gpg@albs.invalid>",
        "ed25519",
        "sign",
        "never",
    ]);
    let secret = gpg(&["--armor", "--export-secret-keys"]);
    let public = String::from_utf8(gpg(&["--armor", "--export"])).unwrap();

    let _ = Command::new("gpgconf")
        .arg("--homedir")
        .arg(&home)
        .args(["--kill", "gpg-agent"])
        .status();

    let key = SigningKey::from_tsk(&secret, Some(&Passphrase::from_secret("gpg pass"))).unwrap();
    let root = rpm_root(&public);
    let rpm = signed_copy(&key, root.path());
    let (ok, out) = rpm_k(root.path(), &rpm);
    assert!(ok, "rpm -K: {out}");
    assert!(
        out.contains(&format!("key ID {}: OK", short_id(&key))),
        "rpm -K says {out}"
    );
}

#[test]
fn the_rpm_crate_traits_sign_and_verify_and_fail_closed() {
    use rpm::signature::{Signing, Verifying};
    let key = ed_key();
    let verifier = RpmVerifier::new(vec![key.cert().clone()]);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as u32;
    let header = b"header bytes".as_slice();
    let sig = Signing::sign(key, header, rpm::Timestamp(now)).unwrap();
    Verifying::verify(&verifier, header, &sig).unwrap();
    assert!(Verifying::verify(&verifier, b"header bytez".as_slice(), &sig).is_err());
    assert!(Verifying::verify(&verifier, header, &sig[..sig.len() - 1]).is_err());
    let stranger = RpmVerifier::new(vec![rsa_key().cert().clone()]);
    assert!(Verifying::verify(&stranger, header, &sig).is_err());
    // A signature dated before the key existed is refused.
    let old = Signing::sign(key, header, rpm::Timestamp(1_000_000_000)).unwrap();
    assert!(Verifying::verify(&verifier, header, &old).is_err());
}

//! Fixtures for the security data tests: example packages in two versions,
//! a test `almalinux-release`, a gpg key that signs them with rpmsign, and
//! rpm databases to install them into.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;

use albs_tests::fixtures::{rpmbuild, workspace_root};

/// Runs a command, panicking with its output when it fails; returns stdout.
pub fn run(cmd: &mut Command) -> String {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("{cmd:?} did not start ({e}): run scripts/setup.sh"));
    assert!(
        out.status.success(),
        "{cmd:?} failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Builds the example `albs-docs` (noarch) at `version-release` in its own
/// topdir under `dir`.
pub fn build_docs(dir: &Path, version: &str, release: &str) -> PathBuf {
    let top = dir.join(format!("top-docs-{version}-{release}"));
    std::fs::create_dir_all(top.join("SOURCES")).unwrap();
    let example = workspace_root().join("examples/rpms/albs-docs");
    std::fs::copy(
        example.join("README.examples"),
        top.join("SOURCES/README.examples"),
    )
    .unwrap();
    let spec = std::fs::read_to_string(example.join("albs-docs.spec")).unwrap();
    let spec: String = spec
        .lines()
        .map(|l| {
            if l.starts_with("Version:") {
                format!("Version:        {version}")
            } else if l.starts_with("Release:") {
                format!("Release:        {release}")
            } else {
                l.to_owned()
            }
        })
        .collect::<Vec<_>>()
        .join("\n");
    assert!(spec.contains(&format!("Version:        {version}")));
    rpmbuild(&top, "-ba", "albs-docs", &spec)
        .rpm
        .expect("albs-docs builds")
}

/// Builds a tiny `almalinux-release` owning `/etc/almalinux-release`.
pub fn build_release(dir: &Path, version: &str) -> PathBuf {
    let top = dir.join(format!("top-release-{version}"));
    std::fs::create_dir_all(&top).unwrap();
    let major = version.split('.').next().unwrap();
    let spec = format!(
        "Name: almalinux-release\nVersion: {version}\nRelease: 1.el{major}\nSummary: AlmaLinux release file for tests\nLicense: MIT\nBuildArch: noarch\n\n%description\nThe release file the OVAL platform criterion looks for.\n\n%install\nmkdir -p %{{buildroot}}/etc\necho 'AlmaLinux release {version}' > %{{buildroot}}/etc/almalinux-release\n\n%files\n/etc/almalinux-release\n"
    );
    rpmbuild(&top, "-bb", "almalinux-release", &spec)
        .rpm
        .expect("almalinux-release builds")
}

/// A gpg home with one passphrase-less RSA signing key.
pub struct GpgKey {
    /// GNUPGHOME.
    pub home: PathBuf,
    /// The 16 hex digit key id, lower case.
    pub key_id: String,
    /// The armored public key.
    pub public: PathBuf,
}

impl GpgKey {
    /// Makes a key named `name` in `dir/name`.
    pub fn new(dir: &Path, name: &str) -> Self {
        let home = dir.join(name);
        std::fs::create_dir_all(&home).unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&home, std::fs::Permissions::from_mode(0o700)).unwrap();
        }
        let gpg = |args: &[&str]| {
            run(Command::new("gpg")
                .env("GNUPGHOME", &home)
                .args(["--batch", "--pinentry-mode", "loopback", "--passphrase", ""])
                .args(args))
        };
        gpg(&[
            "--quick-gen-key",
            &format!("{name} <{name}@albs.invalid>"),
            "rsa2048",
            "sign",
            "never",
        ]);
        let listing = gpg(&["--with-colons", "--list-keys"]);
        let key_id = listing
            .lines()
            .find(|l| l.starts_with("pub:"))
            .and_then(|l| l.split(':').nth(4))
            .expect("gpg lists the key")
            .to_ascii_lowercase();
        let public = dir.join(format!("{name}.asc"));
        let armored = gpg(&["--armor", "--export"]);
        std::fs::write(&public, armored).unwrap();
        GpgKey {
            home,
            key_id,
            public,
        }
    }

    /// Signs `rpm` in place with rpmsign: a header signature and the
    /// header+payload (v3) one, as distribution packages carry; OpenSCAP's
    /// rpminfo probe reads the key id from the latter.
    pub fn sign(&self, rpm: &Path) {
        self.sign_with(rpm, true);
    }

    /// Signs `rpm` with the header signature only (rpm 4.18's default), or
    /// also with the v3 one.
    pub fn sign_with(&self, rpm: &Path, v3: bool) {
        run(Command::new("rpmsign")
            .env("GNUPGHOME", &self.home)
            .arg("--addsign")
            .args(v3.then_some("--rpmv3"))
            .args(["--define", "__gpg /usr/bin/gpg"])
            .arg("--define")
            .arg(format!("_gpg_name {}", self.key_id))
            .arg(rpm));
    }
}

impl Drop for GpgKey {
    fn drop(&mut self) {
        let _ = Command::new("gpgconf")
            .env("GNUPGHOME", &self.home)
            .args(["--kill", "gpg-agent"])
            .output();
    }
}

/// An rpm database in `dir/rpmdb` and a HOME whose `.rpmmacros` points
/// rpm (and so oscap's probes) at it.
pub struct RpmDb {
    /// The database directory.
    pub db: PathBuf,
    /// The HOME to run rpm and oscap with.
    pub home: PathBuf,
}

impl RpmDb {
    /// Creates the database.
    pub fn new(dir: &Path) -> Self {
        let db = dir.join("rpmdb");
        let home = dir.join("home");
        std::fs::create_dir_all(&db).unwrap();
        std::fs::create_dir_all(&home).unwrap();
        std::fs::write(
            home.join(".rpmmacros"),
            format!("%_dbpath {}\n", db.display()),
        )
        .unwrap();
        let me = RpmDb { db, home };
        run(me.rpm().arg("--initdb"));
        me
    }

    /// `rpm` with HOME and `--dbpath` set.
    pub fn rpm(&self) -> Command {
        let mut c = Command::new("rpm");
        c.env("HOME", &self.home).arg("--dbpath").arg(&self.db);
        c
    }

    /// Installs or upgrades packages into the database only (`-U --justdb`).
    pub fn install(&self, rpms: &[&Path]) {
        run(self
            .rpm()
            .args(["-U", "--justdb", "--nodeps", "--noscripts", "--ignoresize"])
            .args(rpms));
    }

    /// The NEVRAs installed, sorted.
    pub fn installed(&self) -> Vec<String> {
        let out = run(self
            .rpm()
            .args(["-qa", "--qf", "%{NAME}-%{VERSION}-%{RELEASE}.%{ARCH}\n"]));
        let mut v: Vec<String> = out.lines().map(str::to_owned).collect();
        v.sort();
        v
    }
}

//! What the host system provides to packages installed into a test root.
//!
//! Test roots start empty and repositories seldom carry a C library or a
//! shell, so automatic requires such as `libc.so.6(GLIBC_2.34)(64bit)`,
//! `rtld(GNU_HASH)` or `/bin/sh` are checked against the host instead: a
//! file require holds when the file exists on the host, a library require
//! when the dynamic loader's cache (or a standard library directory) holds a
//! library of that soname and word size that defines the symbol version
//! asked for. Anything else is not host-provided.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use super::elf;

/// Standard library directories, searched after the loader cache.
const LIB_DIRS: &[&str] = &[
    "/lib64",
    "/usr/lib64",
    "/lib/x86_64-linux-gnu",
    "/usr/lib/x86_64-linux-gnu",
    "/lib/aarch64-linux-gnu",
    "/usr/lib/aarch64-linux-gnu",
    "/lib",
    "/usr/lib",
];

/// Dynamic loaders that provide `rtld(GNU_HASH)`.
const LOADERS: &[&str] = &[
    "/lib64/ld-linux-x86-64.so.2",
    "/lib/ld-linux-aarch64.so.1",
    "/lib64/ld64.so.2",
    "/lib/ld-linux.so.2",
];

/// A library require such as `libc.so.6(GLIBC_2.34)(64bit)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LibRequire {
    /// The soname (`libc.so.6`).
    pub soname: String,
    /// The symbol version asked for (`GLIBC_2.34`), when any.
    pub version: Option<String>,
    /// Whether the 64-bit library is meant (`(64bit)`).
    pub is_64: bool,
}

/// Parses rpm's soname capability syntax; `None` for other capabilities.
pub fn parse_lib_require(cap: &str) -> Option<LibRequire> {
    let (soname, mut rest) = match cap.find('(') {
        Some(i) => (&cap[..i], &cap[i..]),
        None => (cap, ""),
    };
    if soname.is_empty() || !soname.contains(".so") || soname.contains(['/', ' ']) {
        return None;
    }
    let mut groups = Vec::new();
    while let Some(r) = rest.strip_prefix('(') {
        let end = r.find(')')?;
        groups.push(&r[..end]);
        rest = &r[end + 1..];
    }
    if !rest.is_empty() {
        return None;
    }
    let is_64 = groups.last() == Some(&"64bit");
    if is_64 {
        groups.pop();
    }
    if groups.len() > 1 {
        return None;
    }
    Some(LibRequire {
        soname: soname.to_owned(),
        version: groups
            .first()
            .filter(|g| !g.is_empty())
            .map(|g| (*g).to_owned()),
        is_64,
    })
}

/// The host's libraries, looked up once and cached.
#[derive(Debug, Default)]
pub struct Host {
    /// (soname, 64-bit) → path, from `ldconfig -p`.
    cache: HashMap<(String, bool), PathBuf>,
    /// Version definitions per library read so far.
    versions: Mutex<HashMap<PathBuf, Vec<String>>>,
}

impl Host {
    /// Reads the loader cache (`ldconfig -p`); without it only the standard
    /// directories are searched.
    pub fn detect() -> Host {
        let mut cache = HashMap::new();
        let out = std::process::Command::new("ldconfig").arg("-p").output();
        let out = match out {
            Ok(o) if o.status.success() => o.stdout,
            _ => std::process::Command::new("/sbin/ldconfig")
                .arg("-p")
                .output()
                .map(|o| o.stdout)
                .unwrap_or_default(),
        };
        for line in String::from_utf8_lossy(&out).lines() {
            // "\tlibc.so.6 (libc6,x86-64) => /lib/x86_64-linux-gnu/libc.so.6"
            let Some((left, path)) = line.trim().split_once(" => ") else {
                continue;
            };
            let Some((name, flags)) = left.split_once(" (") else {
                continue;
            };
            let is_64 = flags.contains("64");
            cache
                .entry((name.to_owned(), is_64))
                .or_insert_with(|| PathBuf::from(path));
        }
        Host {
            cache,
            versions: Mutex::default(),
        }
    }

    /// The host library of `soname` and word size, when there is one.
    pub fn library(&self, soname: &str, is_64: bool) -> Option<PathBuf> {
        if let Some(p) = self.cache.get(&(soname.to_owned(), is_64)) {
            return Some(p.clone());
        }
        LIB_DIRS
            .iter()
            .map(|d| Path::new(d).join(soname))
            .find(|p| elf_class(p) == Some(is_64))
    }

    /// How the host provides `cap`, or `None` when it does not.
    pub fn provides(&self, cap: &str) -> Option<String> {
        if cap.starts_with('/') {
            let p = Path::new(cap);
            return p.exists().then(|| format!("{cap} exists on the host"));
        }
        if cap == "rtld(GNU_HASH)" {
            return LOADERS
                .iter()
                .find(|l| Path::new(l).exists())
                .map(|l| format!("the host's dynamic loader {l}"));
        }
        let lib = parse_lib_require(cap)?;
        let path = self.library(&lib.soname, lib.is_64)?;
        match &lib.version {
            None => Some(format!("host library {}", path.display())),
            Some(v) => {
                let mut versions = self.versions.lock().expect("host cache lock");
                let defs = versions.entry(path.clone()).or_insert_with(|| {
                    std::fs::read(&path)
                        .ok()
                        .and_then(|d| elf::parse(&d))
                        .map(|i| i.version_defs)
                        .unwrap_or_default()
                });
                defs.iter()
                    .any(|d| d == v)
                    .then(|| format!("host library {} defines {v}", path.display()))
            }
        }
    }
}

/// Whether `path` is a 64-bit ELF (`Some(true)`), 32-bit, or not ELF.
fn elf_class(path: &Path) -> Option<bool> {
    use std::io::Read;
    let mut head = [0u8; 5];
    std::fs::File::open(path).ok()?.read_exact(&mut head).ok()?;
    elf::is_elf(&head).then_some(head[4] == 2)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn soname_capabilities() {
        assert_eq!(
            parse_lib_require("libc.so.6(GLIBC_2.34)(64bit)"),
            Some(LibRequire {
                soname: "libc.so.6".into(),
                version: Some("GLIBC_2.34".into()),
                is_64: true
            })
        );
        let plain = parse_lib_require("libc.so.6()(64bit)").unwrap();
        assert_eq!(plain.version, None);
        assert!(plain.is_64);
        let x32 = parse_lib_require("libm.so.6").unwrap();
        assert!(!x32.is_64);
        assert_eq!(parse_lib_require("hello"), None);
        assert_eq!(parse_lib_require("/usr/lib64/libx.so.1"), None);
        assert_eq!(parse_lib_require("perl(Foo::Bar)"), None);
    }

    #[test]
    fn the_host_provides_its_libc_and_shell_but_not_made_up_names() {
        let host = Host::detect();
        assert!(host.provides("/bin/sh").is_some());
        assert!(host.provides("/bin/no-such-shell").is_none());
        let libc = host.provides("libc.so.6()(64bit)").expect("host libc");
        assert!(libc.contains("libc.so.6"), "{libc}");
        assert!(host.provides("libc.so.6(GLIBC_2.2.5)(64bit)").is_some());
        assert!(host.provides("libc.so.6(GLIBC_99.0)(64bit)").is_none());
        assert!(host.provides("libalbs-none.so.1()(64bit)").is_none());
        assert!(host.provides("rtld(GNU_HASH)").is_some());
        assert!(
            host.provides("bash").is_none(),
            "package names are never host-provided"
        );
    }
}

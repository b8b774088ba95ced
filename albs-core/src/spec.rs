//! Spec queries: what a spec file builds and needs, read with `rpmspec -q`
//! under a platform's macros.

use std::path::Path;
use std::process::Stdio;

use serde::{Deserialize, Serialize};

use crate::evr::Evr;
use crate::platform::Platform;

/// What a spec file says about itself, with the platform's macros applied.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SpecInfo {
    /// Source package name.
    pub name: String,
    /// Its EVR (release with the platform's dist tag).
    pub evr: Evr,
    /// Names of the binary packages it builds.
    pub packages: Vec<String>,
    /// Everything the binary packages provide, as rpm prints it (`hello = 1.0-1.el9`).
    pub provides: Vec<String>,
    /// BuildRequires, as rpm prints them (`gcc`, `hello >= 1.0`).
    pub build_requires: Vec<String>,
    /// ExclusiveArch entries (empty: any).
    pub exclusive_arch: Vec<String>,
    /// ExcludeArch entries.
    pub exclude_arch: Vec<String>,
    /// Whether every binary package is noarch.
    pub noarch: bool,
}

/// Errors from spec queries.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SpecError {
    /// rpmspec could not be run.
    #[error("rpmspec is not installed or not runnable: {0}; run scripts/setup.sh")]
    ToolMissing(String),
    /// rpmspec refused the spec.
    #[error("spec {spec} cannot be parsed: {message}")]
    Parse {
        /// The spec file.
        spec: String,
        /// rpmspec's error lines.
        message: String,
    },
    /// A directory holds no spec file to use.
    #[error("{dir} has no spec file at its root or in SPECS/{found}")]
    NoSpec {
        /// The directory.
        dir: String,
        /// The spec files found when there are several and none is named
        /// after the directory (`: a.spec, b.spec`), else empty.
        found: String,
    },
    /// Local I/O failed.
    #[error("{what}: {source}")]
    Io {
        /// What was being done.
        what: String,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
}

/// Reads `spec` with `rpmspec -q` under `platform`'s macros.
///
/// Sources are looked for next to the spec, or in `../SOURCES` for a spec in
/// `SPECS/`; most specs parse without them. HOME is a private empty
/// directory, so the caller's `~/.rpmmacros` does not change the answer.
pub async fn query(spec: &Path, platform: &Platform) -> Result<SpecInfo, SpecError> {
    let home = tempfile::Builder::new()
        .prefix("albs-rpmspec-")
        .tempdir()
        .map_err(|source| SpecError::Io {
            what: "cannot create a private HOME for rpmspec".into(),
            source,
        })?;
    let q = Query {
        spec,
        platform,
        home: home.path(),
    };
    let head = q
        .run(&[
            "--srpm",
            "--qf",
            "N:%{name}\\nE:%{epochnum}\\nV:%{version}\\nR:%{release}\\n\
             [X:%{exclusivearch}\\n][x:%{excludearch}\\n]",
        ])
        .await?;
    let (packages, provides, build_requires) = tokio::try_join!(
        q.run(&["--qf", "%{name}\\t%{arch}\\n"]),
        q.run(&["--provides"]),
        q.run(&["--buildrequires"]),
    )?;

    let field = |tag: &str| -> Vec<String> {
        head.lines()
            .filter_map(|l| l.strip_prefix(tag))
            .map(str::to_owned)
            .collect()
    };
    let one = |tag: &str, what: &str| -> Result<String, SpecError> {
        field(tag)
            .into_iter()
            .next()
            .ok_or_else(|| SpecError::Parse {
                spec: spec.display().to_string(),
                message: format!("rpmspec printed no {what}"),
            })
    };
    let epoch_text = one("E:", "epoch")?;
    let epoch = epoch_text.parse::<u32>().map_err(|_| SpecError::Parse {
        spec: spec.display().to_string(),
        message: format!("epoch {epoch_text:?} is not a number"),
    })?;
    let evr = Evr::new(epoch, one("V:", "version")?, one("R:", "release")?);

    let mut names = Vec::new();
    let mut noarch = true;
    for l in packages.lines().filter(|l| !l.is_empty()) {
        let (name, arch) = l.split_once('\t').unwrap_or((l, ""));
        noarch &= arch == "noarch";
        push_unique(&mut names, name);
    }
    Ok(SpecInfo {
        name: one("N:", "name")?,
        evr,
        noarch: noarch && !names.is_empty(),
        packages: names,
        provides: unique_lines(&provides),
        build_requires: unique_lines(&build_requires),
        exclusive_arch: field("X:"),
        exclude_arch: field("x:"),
    })
}

/// The spec file of a source tree (a git checkout): the one at its root or
/// in `SPECS/`; when there are several, the one named after the directory.
pub fn find_spec(dir: &Path) -> Result<std::path::PathBuf, SpecError> {
    let mut specs = Vec::new();
    for sub in ["", "SPECS"] {
        let Ok(entries) = std::fs::read_dir(dir.join(sub)) else {
            continue;
        };
        for e in entries.flatten() {
            let path = e.path();
            if path.extension().is_some_and(|x| x == "spec") && path.is_file() {
                specs.push(path);
            }
        }
    }
    specs.sort();
    if let [one] = specs.as_slice() {
        return Ok(one.clone());
    }
    let own = dir.canonicalize().ok().and_then(|d| {
        d.file_name()
            .map(|n| format!("{}.spec", n.to_string_lossy()))
    });
    if let Some(own) = own
        && let Some(p) = specs
            .iter()
            .find(|p| p.file_name().is_some_and(|n| *n == *own))
    {
        return Ok(p.clone());
    }
    let found = if specs.is_empty() {
        String::new()
    } else {
        let names: Vec<String> = specs
            .iter()
            .map(|p| p.strip_prefix(dir).unwrap_or(p).display().to_string())
            .collect();
        format!(" named after it (found {})", names.join(", "))
    };
    Err(SpecError::NoSpec {
        dir: dir.display().to_string(),
        found,
    })
}

fn push_unique(v: &mut Vec<String>, s: &str) {
    if !v.iter().any(|x| x == s) {
        v.push(s.to_owned());
    }
}

fn unique_lines(text: &str) -> Vec<String> {
    let mut v = Vec::new();
    for l in text.lines().map(str::trim).filter(|l| !l.is_empty()) {
        push_unique(&mut v, l);
    }
    v
}

/// One spec under one platform.
struct Query<'a> {
    spec: &'a Path,
    platform: &'a Platform,
    home: &'a Path,
}

impl Query<'_> {
    /// Runs `rpmspec -q ARGS SPEC` and returns its stdout.
    async fn run(&self, args: &[&str]) -> Result<String, SpecError> {
        let dir = self
            .spec
            .parent()
            .filter(|d| !d.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        let sources = match (dir.file_name(), dir.parent()) {
            (Some(n), Some(up)) if n == "SPECS" && up.join("SOURCES").is_dir() => {
                up.join("SOURCES")
            }
            _ => dir.to_owned(),
        };
        let mut cmd = tokio::process::Command::new("rpmspec");
        cmd.arg("-q")
            .arg("--define")
            .arg(format!("_sourcedir {}", sources.display()));
        for (k, v) in self.platform.all_macros() {
            cmd.arg("--define").arg(format!("{k} {v}"));
        }
        cmd.args(args)
            .arg(self.spec)
            .env_clear()
            .env("PATH", "/usr/local/bin:/usr/bin:/bin")
            .env("HOME", self.home)
            .env("LANG", "C.UTF-8")
            .env("TZ", "UTC")
            .stdin(Stdio::null())
            .kill_on_drop(true);
        let out = cmd
            .output()
            .await
            .map_err(|e| SpecError::ToolMissing(e.to_string()))?;
        if !out.status.success() {
            let err = String::from_utf8_lossy(&out.stderr);
            let errors: Vec<&str> = err.lines().filter(|l| l.starts_with("error:")).collect();
            let message = if errors.is_empty() {
                format!("rpmspec failed with {}: {}", out.status, err.trim())
            } else {
                errors.join("; ")
            };
            return Err(SpecError::Parse {
                spec: self.spec.display().to_string(),
                message,
            });
        }
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use super::*;
    use crate::platform::Platforms;

    fn example(p: &str) -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../examples/rpms")
            .join(p)
    }

    fn el9() -> Platform {
        Platforms::bundled().get("almalinux-9").unwrap().clone()
    }

    #[tokio::test]
    async fn hello_under_el9() {
        let info = query(&example("hello/SPECS/hello.spec"), &el9())
            .await
            .unwrap();
        assert_eq!(info.name, "hello");
        assert_eq!(info.evr, Evr::new(0, "1.0", "1.el9"));
        assert_eq!(info.packages, vec!["hello"]);
        assert!(info.provides.contains(&"greeter = 1.0".to_owned()));
        assert!(info.provides.contains(&"hello = 1.0-1.el9".to_owned()));
        assert_eq!(info.build_requires, vec!["gcc", "make"]);
        assert!(info.exclusive_arch.is_empty() && info.exclude_arch.is_empty());
        assert!(!info.noarch);
    }

    #[tokio::test]
    async fn dist_tag_follows_the_platform() {
        let el8 = Platforms::bundled().get("almalinux-8").unwrap().clone();
        let info = query(&example("albs-docs/albs-docs.spec"), &el8)
            .await
            .unwrap();
        assert_eq!(info.evr, Evr::new(0, "2.1", "3.el8"));
        assert!(info.noarch);
    }

    #[tokio::test]
    async fn subpackages_and_build_requires() {
        let info = query(&example("hello-extras/hello-extras.spec"), &el9())
            .await
            .unwrap();
        assert_eq!(info.packages, vec!["hello-extras", "hello-extras-devel"]);
        assert_eq!(info.build_requires, vec!["hello >= 1.0"]);
        assert!(
            info.provides
                .contains(&"hello-extras-devel = 0.3-1.el9".to_owned())
        );
    }

    #[test]
    fn spec_found_at_the_root_or_in_specs() {
        assert_eq!(
            find_spec(&example("hello")).unwrap(),
            example("hello/SPECS/hello.spec")
        );
        assert_eq!(
            find_spec(&example("hello-extras")).unwrap(),
            example("hello-extras/hello-extras.spec")
        );
        let dir = tempfile::tempdir().unwrap();
        let err = find_spec(dir.path()).unwrap_err().to_string();
        assert!(
            err.contains("has no spec file at its root or in SPECS/"),
            "{err}"
        );
        std::fs::write(dir.path().join("a.spec"), "").unwrap();
        std::fs::write(dir.path().join("b.spec"), "").unwrap();
        let err = find_spec(dir.path()).unwrap_err().to_string();
        assert!(err.contains("(found a.spec, b.spec)"), "{err}");
    }

    #[tokio::test]
    async fn arch_tags_and_epoch() {
        let dir = tempfile::tempdir().unwrap();
        let spec = dir.path().join("x.spec");
        std::fs::write(
            &spec,
            "Name: x\nEpoch: 2\nVersion: 3\nRelease: 4%{?dist}\nSummary: x\nLicense: MIT\n\
             ExclusiveArch: x86_64 aarch64\nExcludeArch: i686\n%description\nx\n%files\n",
        )
        .unwrap();
        let info = query(&spec, &el9()).await.unwrap();
        assert_eq!(info.evr, Evr::new(2, "3", "4.el9"));
        assert_eq!(info.exclusive_arch, vec!["x86_64", "aarch64"]);
        assert_eq!(info.exclude_arch, vec!["i686"]);
    }

    #[tokio::test]
    async fn a_bad_spec_is_a_parse_error_with_rpmspec_text() {
        let dir = tempfile::tempdir().unwrap();
        let spec = dir.path().join("bad.spec");
        std::fs::write(
            &spec,
            "Name: bad\nVersion: 1\nRelease: 1\nSummary: x\nLicense: MIT\nFoo: bar\n%description\nx\n",
        )
        .unwrap();
        let err = query(&spec, &el9()).await.unwrap_err();
        let SpecError::Parse { spec: s, message } = &err else {
            panic!("expected Parse, got {err:?}");
        };
        assert!(s.ends_with("bad.spec"), "{s}");
        assert!(message.contains("line 6: Unknown tag: Foo"), "{message}");
        let missing = query(&dir.path().join("none.spec"), &el9()).await;
        assert!(
            matches!(missing, Err(SpecError::Parse { .. })),
            "{missing:?}"
        );
    }
}

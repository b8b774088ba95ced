//! rpmbuild in a sandbox.
//!
//! Every build runs in a fresh work directory holding a private HOME, topdir
//! and temporary directory. With [`Sandbox::Bubblewrap`] the build sees the
//! host read-only, has no network and lives in its own PID namespace, so
//! killing bwrap ends every process of the build.

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use async_trait::async_trait;

use super::run::{Ended, Finished, Invocation, run};
use super::{BuildContext, BuildError, BuildExecutor, BuildOutcome, LogStream};
use crate::model::Arch;
use crate::platform::Platform;
use crate::source::FetchedSource;

const PATH: &str = "/usr/local/bin:/usr/bin:/bin:/usr/local/sbin:/usr/sbin:/sbin";

/// How builds are isolated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sandbox {
    /// bubblewrap: the host read-only, private `/tmp` and `/var/tmp`, no
    /// network, own PID namespace.
    Bubblewrap,
    /// No isolation: rpmbuild runs on the host in a process group of its own
    /// (still with a private HOME and topdir and a cleared environment).
    None,
}

impl Sandbox {
    /// Bubblewrap when a trial `bwrap` sandbox starts on this machine, else
    /// [`Sandbox::None`] with a warning. Blocks for the trial run.
    pub fn detect() -> Sandbox {
        let trial = std::process::Command::new("bwrap")
            .args([
                "--unshare-all",
                "--die-with-parent",
                "--new-session",
                "--ro-bind",
                "/",
                "/",
                "--dev",
                "/dev",
                "--proc",
                "/proc",
                "--",
                "true",
            ])
            .env_clear()
            .env("PATH", PATH)
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .output();
        match trial {
            Ok(o) if o.status.success() => Sandbox::Bubblewrap,
            Ok(o) => {
                tracing::warn!(
                    "bubblewrap cannot create a sandbox here ({}): builds run without isolation",
                    String::from_utf8_lossy(&o.stderr).trim()
                );
                Sandbox::None
            }
            Err(e) => {
                tracing::warn!("bwrap cannot be run ({e}): builds run without isolation");
                Sandbox::None
            }
        }
    }
}

/// Runs `rpmbuild`, isolated by a [`Sandbox`].
///
/// Binary builds use `--nodeps`: albs has no build root with the
/// BuildRequires installed yet, so a package builds only with what the host
/// already has, and missing dependencies show up as build failures.
pub struct RpmbuildExecutor {
    sandbox: Sandbox,
}

impl RpmbuildExecutor {
    /// An executor that isolates builds with `sandbox`.
    pub fn new(sandbox: Sandbox) -> Self {
        RpmbuildExecutor { sandbox }
    }

    /// The sandbox in use.
    pub fn sandbox(&self) -> Sandbox {
        self.sandbox
    }

    /// Wraps the rpmbuild arguments `args` into a command: in bwrap with
    /// `work` writable and `read_only` paths visible, or bare.
    fn invocation(&self, work: &WorkDir, read_only: &[&Path], args: Vec<OsString>) -> Invocation {
        let env = vec![
            ("PATH", OsString::from(PATH)),
            ("HOME", work.home().into_os_string()),
            ("LANG", OsString::from("C.UTF-8")),
            ("TZ", OsString::from("UTC")),
            ("TMPDIR", work.tmp().into_os_string()),
        ];
        match self.sandbox {
            Sandbox::None => Invocation {
                program: "rpmbuild".into(),
                args,
                env,
                cwd: work.path().to_owned(),
                own_group: true,
            },
            Sandbox::Bubblewrap => {
                let w = work.path().as_os_str();
                let mut a: Vec<OsString> = [
                    "--unshare-all",
                    "--die-with-parent",
                    "--new-session",
                    "--hostname",
                    "albs-build",
                    "--ro-bind",
                    "/",
                    "/",
                    "--dev",
                    "/dev",
                    "--proc",
                    "/proc",
                    "--tmpfs",
                    "/tmp",
                    "--tmpfs",
                    "/var/tmp",
                ]
                .iter()
                .map(OsString::from)
                .collect();
                a.extend(["--bind".into(), w.to_owned(), w.to_owned()]);
                for p in read_only {
                    a.extend([
                        "--ro-bind".into(),
                        p.as_os_str().to_owned(),
                        p.as_os_str().to_owned(),
                    ]);
                }
                a.extend([
                    "--chdir".into(),
                    w.to_owned(),
                    "--".into(),
                    "rpmbuild".into(),
                ]);
                a.extend(args);
                Invocation {
                    program: "bwrap".into(),
                    args: a,
                    env,
                    cwd: work.path().to_owned(),
                    own_group: false,
                }
            }
        }
    }
}

#[async_trait]
impl BuildExecutor for RpmbuildExecutor {
    async fn build_srpm(
        &self,
        source: &FetchedSource,
        ctx: &BuildContext,
        out: &Path,
    ) -> Result<BuildOutcome, BuildError> {
        create_out(out).await?;
        if let Some(srpm) = &source.srpm {
            let srpm = source.root.join(srpm);
            let name = file_name(&srpm)?;
            let dest = out.join(name);
            tokio::fs::copy(&srpm, &dest)
                .await
                .map_err(|e| BuildError::BadInput {
                    input: srpm.display().to_string(),
                    message: format!("cannot copy the SRPM to {}: {e}", out.display()),
                })?;
            ctx.log.line(
                LogStream::Albs,
                &format!("albs: using the SRPM {}", srpm.display()),
            );
            return Ok(BuildOutcome::Built { files: vec![dest] });
        }
        let spec_rel = source.spec.as_ref().ok_or_else(|| BuildError::BadInput {
            input: source.root.display().to_string(),
            message: "the source tree has neither a spec file nor an SRPM".into(),
        })?;
        let root = existing(&source.root, "source tree")?;
        let spec = existing(&root.join(spec_rel), "spec file")?;
        let sources = existing(&root.join(&source.sources_dir), "sources directory")?;

        let work = WorkDir::new().await?;
        let mut args: Vec<OsString> = vec!["-bs".into(), "--nodeps".into()];
        args.extend(defines(&work, &ctx.platform, Some(&sources)));
        args.push(spec.into_os_string());
        let inv = self.invocation(&work, &[&root, &sources], args);
        let finished = run(inv, ctx).await?;
        let tail = match ended_early(finished, ctx) {
            Ok(tail) => tail,
            Err(outcome) => return Ok(outcome),
        };
        let found = collect(&work.top().join("SRPMS"), false).await?;
        if found.len() != 1 {
            return Ok(BuildOutcome::Failed {
                reason: format!(
                    "rpmbuild -bs succeeded but wrote {} source packages instead of one",
                    found.len()
                ),
                log_tail: tail,
            });
        }
        Ok(BuildOutcome::Built {
            files: copy_out(&found, out).await?,
        })
    }

    async fn build_rpms(
        &self,
        srpm: &Path,
        ctx: &BuildContext,
        out: &Path,
    ) -> Result<BuildOutcome, BuildError> {
        create_out(out).await?;
        let srpm = existing(srpm, "SRPM")?;
        if ctx.arch.is_source() {
            return Err(BuildError::BadInput {
                input: srpm.display().to_string(),
                message: format!("{} is not a binary architecture to build for", ctx.arch),
            });
        }
        let rules = {
            let path = srpm.clone();
            tokio::task::spawn_blocking(move || ArchRules::read(&path))
                .await
                .map_err(|e| BuildError::BadInput {
                    input: srpm.display().to_string(),
                    message: format!("reading the header failed: {e}"),
                })??
        };
        if let Some(reason) = rules.exclusion(&ctx.arch) {
            ctx.log.line(
                LogStream::Albs,
                &format!("albs: not building for {}: {reason}", ctx.arch),
            );
            return Ok(BuildOutcome::Excluded { reason });
        }
        let host = Arch::host();
        if ctx.arch != host && !rules.noarch_only() {
            return Err(BuildError::BadInput {
                input: srpm.display().to_string(),
                message: format!(
                    "cannot build {} packages on this {host} host: only {host} and noarch packages build here",
                    ctx.arch
                ),
            });
        }

        let work = WorkDir::new().await?;
        let mut args: Vec<OsString> = vec![
            "--rebuild".into(),
            "--nodeps".into(),
            "--target".into(),
            ctx.arch.as_str().into(),
        ];
        args.extend(defines(&work, &ctx.platform, None));
        args.push(srpm.clone().into_os_string());
        let inv = self.invocation(&work, &[&srpm], args);
        let finished = run(inv, ctx).await?;
        let tail = match ended_early(finished, ctx) {
            Ok(tail) => tail,
            Err(outcome) => return Ok(outcome),
        };
        let found = collect(&work.top().join("RPMS"), true).await?;
        if found.is_empty() {
            return Ok(BuildOutcome::Failed {
                reason: "rpmbuild --rebuild succeeded but wrote no binary packages".into(),
                log_tail: tail,
            });
        }
        Ok(BuildOutcome::Built {
            files: copy_out(&found, out).await?,
        })
    }
}

/// The log tail of a successful exit, else the outcome that ends the step.
fn ended_early(f: Finished, ctx: &BuildContext) -> Result<Vec<String>, BuildOutcome> {
    match f.ended {
        Ended::Exited(s) if s.success() => Ok(f.log.tail()),
        Ended::Exited(s) => Err(BuildOutcome::Failed {
            reason: f.log.reason("rpmbuild", s),
            log_tail: f.log.tail(),
        }),
        Ended::TimedOut => Err(BuildOutcome::TimedOut {
            after: ctx.timeout,
            log_tail: f.log.tail(),
        }),
        Ended::Cancelled => Err(BuildOutcome::Cancelled),
    }
}

/// `--define` arguments: the private topdir and tmppath, the sources
/// directory when given, and every platform macro.
fn defines(work: &WorkDir, platform: &Platform, sources: Option<&Path>) -> Vec<OsString> {
    let mut pairs: Vec<(String, String)> = vec![
        ("_topdir".into(), work.top().display().to_string()),
        ("_tmppath".into(), work.tmp().display().to_string()),
    ];
    if let Some(s) = sources {
        pairs.push(("_sourcedir".into(), s.display().to_string()));
    }
    pairs.extend(platform.all_macros());
    pairs
        .into_iter()
        .flat_map(|(k, v)| ["--define".into(), OsString::from(format!("{k} {v}"))])
        .collect()
}

/// A private work directory: `home/`, `top/` (the rpmbuild topdir), `tmp/`.
/// Removed when dropped.
struct WorkDir {
    _dir: tempfile::TempDir,
    /// The canonical path, so that bwrap binds and rpmbuild paths agree.
    path: PathBuf,
}

impl WorkDir {
    async fn new() -> Result<WorkDir, BuildError> {
        let io = |what: &str, source| BuildError::Io {
            what: what.to_owned(),
            source,
        };
        let dir = tempfile::Builder::new()
            .prefix("albs-build-")
            .tempdir()
            .map_err(|e| io("cannot create a build work directory", e))?;
        let path = dir
            .path()
            .canonicalize()
            .map_err(|e| io("cannot resolve the build work directory", e))?;
        let w = WorkDir { _dir: dir, path };
        for d in [w.home(), w.top(), w.tmp()] {
            tokio::fs::create_dir_all(&d)
                .await
                .map_err(|e| io(&format!("cannot create {}", d.display()), e))?;
        }
        Ok(w)
    }
    fn path(&self) -> &Path {
        &self.path
    }
    fn home(&self) -> PathBuf {
        self.path().join("home")
    }
    fn top(&self) -> PathBuf {
        self.path().join("top")
    }
    fn tmp(&self) -> PathBuf {
        self.path().join("tmp")
    }
}

async fn create_out(out: &Path) -> Result<(), BuildError> {
    tokio::fs::create_dir_all(out)
        .await
        .map_err(|source| BuildError::Io {
            what: format!("cannot create the output directory {}", out.display()),
            source,
        })
}

/// The canonical form of an input path that must exist.
fn existing(p: &Path, what: &str) -> Result<PathBuf, BuildError> {
    p.canonicalize().map_err(|e| BuildError::BadInput {
        input: p.display().to_string(),
        message: format!("the {what} cannot be read: {e}"),
    })
}

fn file_name(p: &Path) -> Result<&std::ffi::OsStr, BuildError> {
    p.file_name().ok_or_else(|| BuildError::BadInput {
        input: p.display().to_string(),
        message: "not a file name".into(),
    })
}

/// The `.rpm` files in `dir` (or, with `nested`, in its subdirectories), sorted.
async fn collect(dir: &Path, nested: bool) -> Result<Vec<PathBuf>, BuildError> {
    let io = |source| BuildError::Io {
        what: format!("cannot list {}", dir.display()),
        source,
    };
    let mut dirs = vec![dir.to_owned()];
    if nested {
        dirs.clear();
        if let Ok(mut rd) = tokio::fs::read_dir(dir).await {
            while let Some(e) = rd.next_entry().await.map_err(io)? {
                if e.file_type().await.map_err(io)?.is_dir() {
                    dirs.push(e.path());
                }
            }
        }
    }
    let mut files = Vec::new();
    for d in dirs {
        let Ok(mut rd) = tokio::fs::read_dir(&d).await else {
            continue;
        };
        while let Some(e) = rd.next_entry().await.map_err(io)? {
            let p = e.path();
            if p.extension().is_some_and(|x| x == "rpm")
                && e.file_type().await.map_err(io)?.is_file()
            {
                files.push(p);
            }
        }
    }
    files.sort();
    Ok(files)
}

async fn copy_out(found: &[PathBuf], out: &Path) -> Result<Vec<PathBuf>, BuildError> {
    let mut files = Vec::new();
    for f in found {
        let dest = out.join(file_name(f)?);
        tokio::fs::copy(f, &dest)
            .await
            .map_err(|source| BuildError::Io {
                what: format!("cannot copy {} to {}", f.display(), out.display()),
                source,
            })?;
        files.push(dest);
    }
    Ok(files)
}

/// The architecture tags of a source package.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ArchRules {
    /// ExclusiveArch.
    pub exclusive: Vec<String>,
    /// ExcludeArch.
    pub exclude: Vec<String>,
    /// BuildArch of the main package (`noarch` for noarch packages).
    pub build_archs: Vec<String>,
}

impl ArchRules {
    /// Reads the tags from an SRPM's header (the payload is not read).
    pub fn read(srpm: &Path) -> Result<ArchRules, BuildError> {
        let bad = |message: String| BuildError::BadInput {
            input: srpm.display().to_string(),
            message,
        };
        let meta = rpm::PackageMetadata::open(srpm)
            .map_err(|e| bad(format!("not a readable RPM: {e}")))?;
        if !meta.is_source_package() {
            return Err(bad("is a binary RPM, not a source RPM".into()));
        }
        let list = |tag| match meta.header.get_entry_data_as_string_array(tag) {
            Ok(v) => Ok(v.into_iter().map(str::to_owned).collect()),
            Err(rpm::Error::TagNotFound(_)) => Ok(Vec::new()),
            Err(e) => Err(bad(format!("bad {tag:?} tag: {e}"))),
        };
        Ok(ArchRules {
            exclusive: list(rpm::IndexTag::RPMTAG_EXCLUSIVEARCH)?,
            exclude: list(rpm::IndexTag::RPMTAG_EXCLUDEARCH)?,
            build_archs: list(rpm::IndexTag::RPMTAG_BUILDARCHS)?,
        })
    }

    /// Whether the package builds only noarch packages (`BuildArch: noarch`).
    pub fn noarch_only(&self) -> bool {
        !self.build_archs.is_empty() && self.build_archs.iter().all(|a| a == "noarch")
    }

    /// Why the package does not build for `arch`, or `None` when it does.
    ///
    /// ExcludeArch listing `arch` excludes it; a non-empty ExclusiveArch
    /// without `arch` excludes it, except that a noarch package whose
    /// ExclusiveArch lists `noarch` builds anywhere; a BuildArch list without
    /// `arch` or `noarch` excludes it.
    pub fn exclusion(&self, arch: &Arch) -> Option<String> {
        let a = arch.as_str();
        let has = |list: &[String], x: &str| list.iter().any(|i| i == x);
        if has(&self.exclude, a) {
            return Some(format!(
                "ExcludeArch ({}) lists {a}",
                self.exclude.join(" ")
            ));
        }
        let noarch_anywhere = self.noarch_only() && has(&self.exclusive, "noarch");
        if !self.exclusive.is_empty() && !has(&self.exclusive, a) && !noarch_anywhere {
            return Some(format!(
                "ExclusiveArch ({}) does not include {a}",
                self.exclusive.join(" ")
            ));
        }
        if !self.build_archs.is_empty()
            && !has(&self.build_archs, a)
            && !has(&self.build_archs, "noarch")
        {
            return Some(format!(
                "BuildArch ({}) does not include {a}",
                self.build_archs.join(" ")
            ));
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules(exclusive: &[&str], exclude: &[&str], build: &[&str]) -> ArchRules {
        let v = |l: &[&str]| l.iter().map(|s| s.to_string()).collect();
        ArchRules {
            exclusive: v(exclusive),
            exclude: v(exclude),
            build_archs: v(build),
        }
    }

    fn arch(a: &str) -> Arch {
        a.parse().unwrap()
    }

    #[test]
    fn exclusion_rules() {
        assert_eq!(rules(&[], &[], &[]).exclusion(&arch("x86_64")), None);
        let r = rules(&["s390x"], &[], &[])
            .exclusion(&arch("x86_64"))
            .unwrap();
        assert_eq!(r, "ExclusiveArch (s390x) does not include x86_64");
        assert_eq!(
            rules(&["s390x", "x86_64"], &[], &[]).exclusion(&arch("x86_64")),
            None
        );
        let r = rules(&[], &["i686", "x86_64"], &[])
            .exclusion(&arch("x86_64"))
            .unwrap();
        assert!(r.starts_with("ExcludeArch (i686 x86_64)"), "{r}");
        assert_eq!(rules(&[], &["i686"], &[]).exclusion(&arch("x86_64")), None);
        // A noarch package listing noarch in ExclusiveArch builds anywhere.
        assert_eq!(
            rules(&["x86_64", "noarch"], &[], &["noarch"]).exclusion(&arch("aarch64")),
            None
        );
        // Without noarch in ExclusiveArch it builds only on the arches listed.
        assert!(
            rules(&["x86_64"], &[], &["noarch"])
                .exclusion(&arch("aarch64"))
                .is_some()
        );
        assert_eq!(rules(&[], &[], &["noarch"]).exclusion(&arch("s390x")), None);
        let r = rules(&[], &[], &["x86_64"])
            .exclusion(&arch("aarch64"))
            .unwrap();
        assert!(r.starts_with("BuildArch"), "{r}");
    }

    #[test]
    fn noarch_only() {
        assert!(rules(&[], &[], &["noarch"]).noarch_only());
        assert!(!rules(&[], &[], &[]).noarch_only());
        assert!(!rules(&[], &[], &["noarch", "x86_64"]).noarch_only());
    }

    #[test]
    fn a_missing_or_binary_rpm_is_bad_input() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("junk.src.rpm");
        std::fs::write(&p, b"not an rpm").unwrap();
        let e = ArchRules::read(&p).unwrap_err().to_string();
        assert!(e.contains("junk.src.rpm"), "{e}");
    }
}

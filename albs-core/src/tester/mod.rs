//! The test system: built packages are installed into a fresh root, checked,
//! exercised by third-party tests and removed again.
//!
//! [`RootTester`] is the [`Tester`] that does it. Each run gets a temporary
//! install root, and every `rpm` command runs as `rpm --root ROOT --dbpath
//! /var/lib/rpm` inside bubblewrap with no network (bare when bwrap cannot
//! make a sandbox here, as [`Sandbox::detect`] decides). The stages:
//!
//! - `install`: dependencies are resolved by the albs solver over the
//!   packages under test and the configured rpm-md repositories. Requires
//!   that nothing there provides but the host does (see [`host`]) are listed
//!   in the log as host-provided, and rpm then runs with `--nodeps`; a
//!   require satisfied by neither fails the stage, named.
//! - `integrity`: payload digests (`rpm -K`), the very version installed
//!   (`rpm -q`), every file present and unchanged (`rpm -V`), symlinks that
//!   resolve inside the root, and the ELF `NEEDED` libraries of each packaged
//!   binary found in the root or on the host.
//! - `rpmlint`: informative; its findings are `# TODO` lines that never fail
//!   the report.
//! - `third-party`: tests from a git repository (or directory) laid out as
//!   `<package-name>/*.{sh,bats,py}`, run by file type then name with the
//!   installed package first on `PATH` and `LD_LIBRARY_PATH`; TAP output is
//!   judged as TAP, anything else by its exit status.
//! - `uninstall`: `rpm -e` of everything installed, then the rpm database
//!   must be empty and no packaged file left in the root.
//!
//! Source packages are skipped in every stage.

pub mod elf;
pub mod host;
mod jail;
pub mod node;
pub mod tap;

use std::collections::{BTreeMap, HashMap};
use std::path::{Component, Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;

use crate::build::Sandbox;
use crate::model::Arch;
use crate::platform::Platform;
use crate::solve::pool::DepRec;
use crate::solve::pool::EvrRec;
use crate::solve::{DepKind, Job, PkgId, Pool, Sense, Solver};
use crate::test::{TestError, TestReport, TestStage, Tester};

use host::Host;
use jail::{Jail, Ran};
use tap::TapWriter;

/// The rpm database inside every test root (set explicitly: Debian's rpm
/// would otherwise use `~/.rpmdb`).
pub const DBPATH: &str = "/var/lib/rpm";

/// The name of the stand-in package that carries host-provided capabilities
/// while solving.
const HOST_PACKAGE: &str = "(host system)";

/// Timeout of one rpm command.
const RPM_TIMEOUT: Duration = Duration::from_secs(600);

/// Installs, checks, tests and removes built packages in a fresh root.
pub struct RootTester {
    sandbox: Sandbox,
    repos: Vec<PathBuf>,
    tests: Option<String>,
    test_timeout: Duration,
    host: Arc<Host>,
    keep: Option<PathBuf>,
}

impl RootTester {
    /// A tester isolating its commands with `sandbox`, with no repositories
    /// and no third-party tests.
    pub fn new(sandbox: Sandbox) -> Self {
        RootTester {
            sandbox,
            repos: Vec::new(),
            tests: None,
            test_timeout: Duration::from_secs(600),
            host: Arc::new(Host::detect()),
            keep: None,
        }
    }

    /// A tester with the sandbox [`Sandbox::detect`] finds (blocks for its trial run).
    pub fn detect() -> Self {
        Self::new(Sandbox::detect())
    }

    /// Adds rpm-md repository directories that dependencies are taken from.
    pub fn with_repos(mut self, repos: impl IntoIterator<Item = PathBuf>) -> Self {
        // Absolute, as the sandbox binds them at the same place.
        self.repos.extend(
            repos
                .into_iter()
                .map(|r| std::path::absolute(&r).unwrap_or(r)),
        );
        self
    }

    /// Takes third-party tests from `source`: a git URL or a directory (a
    /// git repository is cloned, a plain directory used as it is). A
    /// `#REF` suffix clones that branch or tag instead of the default branch.
    pub fn with_tests(mut self, source: impl Into<String>) -> Self {
        self.tests = Some(source.into());
        self
    }

    /// Limits each third-party test file to `timeout` (default 10 minutes).
    pub fn with_test_timeout(mut self, timeout: Duration) -> Self {
        self.test_timeout = timeout;
        self
    }

    /// Works in `dir` (created if needed) and keeps it: the install root is
    /// `dir/root`, for inspection after the run. By default a temporary
    /// directory is used and removed.
    pub fn with_work_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.keep = Some(dir.into());
        self
    }

    /// The sandbox in use.
    pub fn sandbox(&self) -> Sandbox {
        self.sandbox
    }

    fn jail(&self, timeout: Duration) -> Jail {
        Jail::new(self.sandbox, timeout)
    }

    /// rpm against the root, seeing `extra` read-only.
    async fn rpm(&self, root: &Path, extra: &[&Path], args: &[&str]) -> Result<Ran, TestError> {
        let mut j = self.jail(RPM_TIMEOUT).rw(root);
        for p in extra {
            j = j.ro(p);
        }
        let mut a: Vec<std::ffi::OsString> = vec![
            "--root".into(),
            root.into(),
            "--dbpath".into(),
            DBPATH.into(),
        ];
        a.extend(args.iter().map(Into::into));
        j.run("rpm", a).await
    }
}

/// A package under test.
#[derive(Debug, Clone)]
struct Pkg {
    path: PathBuf,
    file: String,
    name: String,
    /// `name-[epoch:]version-release.arch`, as `rpm -q` is asked to print it.
    nevra: String,
    arch: String,
}

impl Pkg {
    fn is_source(&self) -> bool {
        self.arch == "src" || self.arch == "nosrc"
    }
}

/// What the install stage leaves for the next ones.
struct Installed {
    root: PathBuf,
}

fn io_err(context: String) -> impl FnOnce(std::io::Error) -> TestError {
    move |source| TestError::Io { context, source }
}

fn stage(name: &str, tap: &TapWriter, log: String) -> TestStage {
    TestStage {
        name: name.to_owned(),
        passed: !tap.failed(),
        tap: tap.finish(),
        log,
    }
}

fn nevra_of(pool: &Pool, id: PkgId) -> String {
    let p = pool.package(id);
    let e = pool.evr_ref(p.evr);
    let epoch = e
        .epoch
        .filter(|&n| n > 0)
        .map(|n| format!("{n}:"))
        .unwrap_or_default();
    format!(
        "{}-{epoch}{}-{}.{}",
        pool.str(p.name),
        e.version,
        e.release.unwrap_or(""),
        pool.str(p.arch)
    )
}

#[async_trait]
impl Tester for RootTester {
    async fn test(
        &self,
        rpms: &[PathBuf],
        _platform: &Platform,
        arch: &Arch,
    ) -> Result<TestReport, TestError> {
        if rpms.is_empty() {
            return Err(TestError::NothingToTest);
        }
        let temp;
        let work = match &self.keep {
            Some(dir) => {
                std::fs::create_dir_all(dir).map_err(io_err(format!(
                    "create the work directory {}",
                    dir.display()
                )))?;
                std::path::absolute(dir).unwrap_or_else(|_| dir.clone())
            }
            None => {
                temp = tempfile::Builder::new()
                    .prefix("albs-test-")
                    .tempdir()
                    .map_err(io_err("create a work directory for the test root".into()))?;
                temp.path().to_owned()
            }
        };
        let root = work.join("root");
        std::fs::create_dir(&root).map_err(io_err(format!(
            "create the test root {} (it must not exist yet)",
            root.display()
        )))?;
        let rpms: Vec<PathBuf> = rpms
            .iter()
            .map(|p| std::path::absolute(p).unwrap_or_else(|_| p.clone()))
            .collect();
        let mut stages = Vec::new();
        let (install, pkgs, installed) = self.install(&root, &rpms, arch).await?;
        stages.push(install);
        if let Some(inst) = installed {
            stages.push(self.integrity(&inst, &pkgs).await?);
            stages.push(self.rpmlint(&work, &pkgs).await?);
            stages.push(self.third_party(&work, &inst, &pkgs).await?);
            stages.push(self.uninstall(&inst, &pkgs).await?);
        } else {
            stages.push(self.rpmlint(&work, &pkgs).await?);
        }
        Ok(TestReport { stages })
    }
}

impl RootTester {
    /// The `install` stage; `None` when nothing was installed.
    async fn install(
        &self,
        root: &Path,
        rpms: &[PathBuf],
        arch: &Arch,
    ) -> Result<(TestStage, Vec<Pkg>, Option<Installed>), TestError> {
        let mut tap = TapWriter::new();
        let mut log = String::new();
        let mut pool = Pool::new();
        if !matches!(arch.as_str(), "noarch" | "src") {
            pool.set_arch(arch.as_str());
        }
        let mut pkgs = Vec::new();
        let mut ids = Vec::new();
        let mut unreadable = Vec::new();
        for path in rpms {
            let file = path
                .file_name()
                .map(|f| f.to_string_lossy().into_owned())
                .unwrap_or_else(|| path.display().to_string());
            match pool.add_rpm(path) {
                Ok(id) => {
                    let p = pool.package(id);
                    pkgs.push(Pkg {
                        path: path.clone(),
                        file,
                        name: pool.str(p.name).to_owned(),
                        nevra: nevra_of(&pool, id),
                        arch: pool.str(p.arch).to_owned(),
                    });
                    ids.push(id);
                }
                Err(e) => unreadable.push((file, e.to_string())),
            }
        }
        if !unreadable.is_empty() {
            for (file, why) in &unreadable {
                tap.result(
                    false,
                    &format!("{file}: readable package"),
                    std::slice::from_ref(why),
                );
                log.push_str(&format!("{why}\n"));
            }
            for p in &pkgs {
                tap.skip(&p.file, "another package of the set cannot be read");
            }
            return Ok((stage("install", &tap, log), pkgs, None));
        }
        for repo in &self.repos {
            match pool.add_repo(repo) {
                Ok(n) => log.push_str(&format!("repository {}: {n} packages\n", repo.display())),
                Err(e) => {
                    let why = format!("repository {} cannot be read: {e}", repo.display());
                    log.push_str(&format!("{why}\n"));
                    for p in &pkgs {
                        tap.result(false, &p.file, std::slice::from_ref(&why));
                    }
                    return Ok((stage("install", &tap, log), pkgs, None));
                }
            }
        }
        pool.reindex();

        // Requires nothing in the pool provides: the host's, or nobody's.
        let mut host_caps: BTreeMap<String, String> = BTreeMap::new();
        let mut checked: HashMap<String, bool> = HashMap::new();
        let mut scratch = Vec::new();
        for id in pool.ids().collect::<Vec<_>>() {
            for &d in pool.deps(id, DepKind::Requires) {
                let rec = *pool.dep(d);
                if rec.rich.is_some() || rec.sense != Sense::ANY {
                    continue;
                }
                let name = pool.str(rec.name);
                if let Some(_known) = checked.get(name) {
                    continue;
                }
                scratch.clear();
                pool.what_provides(d, &mut scratch);
                let host = if scratch.is_empty() {
                    self.host.provides(name)
                } else {
                    None
                };
                checked.insert(name.to_owned(), host.is_some());
                if let Some(how) = host {
                    host_caps.insert(name.to_owned(), how);
                }
            }
        }
        let host_pkg = if host_caps.is_empty() {
            None
        } else {
            let provides: Vec<_> = host_caps
                .keys()
                .map(|c| {
                    let name = pool.intern(c);
                    pool.intern_dep(DepRec {
                        name,
                        sense: Sense::ANY,
                        evr: None,
                        rich: None,
                    })
                })
                .collect();
            let name = pool.intern(HOST_PACKAGE);
            let arch = pool.intern("noarch");
            let zero = pool.intern("0");
            let evr = pool.intern_evr(EvrRec {
                epoch: Some(0),
                version: zero,
                release: Some(zero),
            });
            let mut lists: [Vec<_>; 9] = Default::default();
            lists[0] = provides;
            let id = pool.add_package(name, arch, evr, &lists);
            pool.reindex();
            Some(id)
        };

        let installable: Vec<(usize, PkgId)> = ids
            .iter()
            .enumerate()
            .filter(|(i, _)| !pkgs[*i].is_source())
            .map(|(i, id)| (i, *id))
            .collect();
        for p in pkgs.iter().filter(|p| p.is_source()) {
            tap.skip(&p.file, "source package");
        }
        if installable.is_empty() {
            log.push_str("only source packages were given: nothing to install\n");
            return Ok((stage("install", &tap, log), pkgs, None));
        }
        let jobs: Vec<Job> = installable
            .iter()
            .map(|(_, id)| Job::InstallPkg(*id))
            .collect();
        let mut solver = Solver::new(&pool);
        solver.set_weak(false);
        let solution = match solver.solve(&jobs) {
            Ok(s) => s,
            Err(problem) => {
                log.push_str("the dependencies cannot be resolved:\n");
                for l in &problem.lines {
                    log.push_str(&format!("  {l}\n"));
                }
                for (i, _) in &installable {
                    tap.result(false, &pkgs[*i].file, &problem.lines);
                }
                return Ok((stage("install", &tap, log), pkgs, None));
            }
        };
        let own: HashMap<PkgId, usize> = installable.iter().map(|(i, id)| (*id, *i)).collect();
        let mut files: Vec<PathBuf> = installable
            .iter()
            .map(|(i, _)| pkgs[*i].path.clone())
            .collect();
        let mut host_used = false;
        let mut missing_files = Vec::new();
        let mut repo_index: Option<HashMap<String, PathBuf>> = None;
        for &id in &solution.packages {
            if Some(id) == host_pkg {
                host_used = true;
                continue;
            }
            if own.contains_key(&id) {
                continue;
            }
            let nevra = nevra_of(&pool, id);
            if ids.contains(&id) {
                continue; // a source package of the set cannot be pulled in
            }
            let index = repo_index.get_or_insert_with(|| index_rpms(&self.repos));
            let p = pool.package(id);
            let e = pool.evr_ref(p.evr);
            let file = format!(
                "{}-{}-{}.{}.rpm",
                pool.str(p.name),
                e.version,
                e.release.unwrap_or(""),
                pool.str(p.arch)
            );
            match index.get(&file) {
                Some(path) => {
                    log.push_str(&format!("dependency {nevra} from {}\n", path.display()));
                    files.push(path.clone());
                }
                None => missing_files.push(format!(
                    "{nevra} is needed but no file {file} is in the repositories"
                )),
            }
        }
        if !missing_files.is_empty() {
            log.push_str(&missing_files.join("\n"));
            log.push('\n');
            for (i, _) in &installable {
                tap.result(false, &pkgs[*i].file, &missing_files);
            }
            return Ok((stage("install", &tap, log), pkgs, None));
        }
        if host_used {
            for (cap, how) in &host_caps {
                log.push_str(&format!("host-provided: {cap} ({how})\n"));
            }
        }
        let mut args: Vec<String> = vec!["-i".into(), "-v".into()];
        if host_used {
            // rpm cannot see the host's capabilities; the solver checked them.
            args.push("--nodeps".into());
        }
        args.extend(files.iter().map(|f| f.display().to_string()));
        let dirs: Vec<&Path> = files.iter().filter_map(|f| f.parent()).collect();
        let arg_refs: Vec<&str> = args.iter().map(String::as_str).collect();
        log.push_str(&format!("rpm {}\n", args.join(" ")));
        let ran = self.rpm(root, &dirs, &arg_refs).await?;
        log.push_str(&ran.text);
        let lines: Vec<String> = ran.text.lines().map(str::to_owned).collect();
        let scriptlets = scriptlet_failures(&ran.text, root);
        if !scriptlets.is_empty() {
            log.push_str(&scriptlets.join("\n"));
            log.push('\n');
        }
        let ours = |p: &Pkg, l: &String| l.contains(&format!("({})", p.nevra));
        // A failing scriptlet of a dependency fails every package.
        let foreign = scriptlets
            .iter()
            .any(|l| !installable.iter().any(|(i, _)| ours(&pkgs[*i], l)));
        let mut all_ok = ran.success;
        for (i, _) in &installable {
            let p = &pkgs[*i];
            let mut diag = Vec::new();
            if !ran.success {
                diag.push(format!("rpm -i: {}", ran.status));
                diag.extend(
                    lines
                        .iter()
                        .filter(|l| l.contains("error") || l.contains(&p.name))
                        .cloned(),
                );
            }
            diag.extend(scriptlets.iter().filter(|l| foreign || ours(p, l)).cloned());
            let ok = diag.is_empty();
            all_ok &= ok;
            tap.result(ok, &p.file, &diag);
        }
        let installed = all_ok.then(|| Installed {
            root: root.to_owned(),
        });
        Ok((stage("install", &tap, log), pkgs, installed))
    }

    /// The `integrity` stage.
    async fn integrity(&self, inst: &Installed, pkgs: &[Pkg]) -> Result<TestStage, TestError> {
        let mut tap = TapWriter::new();
        let mut log = String::new();
        let root = &inst.root;
        for p in pkgs {
            if p.is_source() {
                tap.skip(&p.file, "source package");
                continue;
            }
            // Digests of header and payload.
            let dir = p.path.parent().unwrap_or(Path::new("/"));
            let k = self
                .jail(RPM_TIMEOUT)
                .ro(dir)
                .run(
                    "rpm",
                    [
                        "-K".into(),
                        "--nosignature".into(),
                        p.path.clone().into_os_string(),
                    ],
                )
                .await?;
            log.push_str(&k.text);
            tap.result(
                k.success,
                &format!("{}: digests", p.file),
                &[k.text.trim().to_owned()],
            );

            // The version installed.
            let q = self
                .rpm(
                    root,
                    &[],
                    &[
                        "-q",
                        "--qf",
                        "%{NAME}-%{EPOCH}:%{VERSION}-%{RELEASE}.%{ARCH}\\n",
                        &p.name,
                    ],
                )
                .await?;
            let want = p.nevra.clone();
            let got: Vec<String> = q
                .stdout
                .lines()
                .map(|l| l.replace("(none):", "").replace("-0:", "-"))
                .collect();
            let ok = q.success && got.contains(&want);
            log.push_str(&format!("rpm -q {}: {}\n", p.name, got.join(", ")));
            tap.result(
                ok,
                &format!("{}: {want} installed", p.file),
                &[format!("rpm -q {} printed: {}", p.name, q.text.trim())],
            );

            // Every file present and as packaged.
            let v = self.rpm(root, &[], &["-V", "--nodeps", &p.nevra]).await?;
            log.push_str(&format!("rpm -V {}: {}\n{}", p.nevra, v.status, v.text));
            let vlines: Vec<String> = v.text.lines().map(str::to_owned).collect();
            tap.result(v.success, &format!("{}: files verified", p.file), &vlines);

            // Packaged files: symlinks and ELF objects.
            let l = self
                .rpm(
                    root,
                    &[],
                    &["-q", "--qf", "[%{FILENAMES}\\t%{FILEFLAGS}\\n]", &p.nevra],
                )
                .await?;
            let mut dangling = Vec::new();
            let mut libs_missing = Vec::new();
            for line in l.stdout.lines() {
                let Some((name, flags)) = line.rsplit_once('\t') else {
                    continue;
                };
                let ghost = flags.parse::<u32>().is_ok_and(|f| f & (1 << 6) != 0);
                if ghost || name == "(contains no files)" {
                    continue;
                }
                let inside = join_inside(root, Path::new(name));
                let Ok(meta) = std::fs::symlink_metadata(&inside) else {
                    continue; // rpm -V reports missing files
                };
                if meta.file_type().is_symlink() {
                    let target = std::fs::read_link(&inside)
                        .map(|t| t.display().to_string())
                        .unwrap_or_default();
                    match resolve_in_root(root, Path::new(name)) {
                        Some(to) => log.push_str(&format!(
                            "symlink {name} -> {target} resolves to {}\n",
                            to.display()
                        )),
                        None => {
                            dangling.push(format!("{name} -> {target} is dangling in the root"))
                        }
                    }
                } else if meta.is_file() {
                    let Ok(data) = std::fs::read(&inside) else {
                        continue;
                    };
                    let Some(info) = elf::parse(&data) else {
                        continue;
                    };
                    for need in &info.needed {
                        match self.find_library(root, Path::new(name), &info, need) {
                            Some(w) => log.push_str(&format!("{name} needs {need}: {w}\n")),
                            None => libs_missing.push(format!(
                                "{name} needs {need}, found neither in the root nor on the host"
                            )),
                        }
                    }
                }
            }
            for d in dangling.iter().chain(&libs_missing) {
                log.push_str(&format!("{d}\n"));
            }
            tap.result(
                dangling.is_empty(),
                &format!("{}: symlinks resolve", p.file),
                &dangling,
            );
            tap.result(
                libs_missing.is_empty(),
                &format!("{}: shared libraries resolvable", p.file),
                &libs_missing,
            );
        }
        Ok(stage("integrity", &tap, log))
    }

    /// Where the library `need` of the packaged ELF `file` comes from.
    fn find_library(
        &self,
        root: &Path,
        file: &Path,
        info: &elf::ElfInfo,
        need: &str,
    ) -> Option<String> {
        if need.contains('/') {
            return resolve_in_root(root, Path::new(need))
                .map(|p| format!("{} in the root", p.display()));
        }
        let origin = file
            .parent()
            .unwrap_or(Path::new("/"))
            .display()
            .to_string();
        let mut dirs: Vec<String> = info
            .runpath
            .iter()
            .map(|d| d.replace("$ORIGIN", &origin).replace("${ORIGIN}", &origin))
            .collect();
        let std_dirs: &[&str] = if info.is_64 {
            &["/lib64", "/usr/lib64", "/lib", "/usr/lib"]
        } else {
            &["/lib", "/usr/lib"]
        };
        dirs.extend(std_dirs.iter().map(|d| (*d).to_owned()));
        for d in &dirs {
            let cand = Path::new(d).join(need);
            if let Some(real) = resolve_in_root(root, &cand) {
                let class = std::fs::read(&real)
                    .ok()
                    .and_then(|b| elf::parse(&b))
                    .map(|i| i.is_64);
                if class == Some(info.is_64) {
                    return Some(format!("{} in the root", cand.display()));
                }
            }
        }
        self.host
            .library(need, info.is_64)
            .map(|p| format!("host library {}", p.display()))
    }

    /// The informative `rpmlint` stage.
    async fn rpmlint(&self, work: &Path, pkgs: &[Pkg]) -> Result<TestStage, TestError> {
        let mut tap = TapWriter::new();
        let mut log = String::new();
        let home = work.join("rpmlint-home");
        std::fs::create_dir_all(&home).map_err(io_err(format!("create {}", home.display())))?;
        // One run for the whole set; its lines start with `name.arch:`.
        let mut jail = self.jail(RPM_TIMEOUT).rw(&home).env("HOME", &home);
        for p in pkgs {
            jail = jail.ro(p.path.parent().unwrap_or(Path::new("/")));
        }
        let ran = jail
            .run(
                "rpmlint",
                pkgs.iter().map(|p| p.path.clone().into_os_string()),
            )
            .await;
        match ran {
            Ok(r) => {
                log.push_str(&format!("rpmlint ({})\n{}", r.status, r.text));
                for p in pkgs {
                    let prefix = format!("{}.{}: ", p.name, p.arch);
                    let count = |kind: &str| {
                        r.text
                            .lines()
                            .filter(|l| {
                                l.starts_with(&prefix) && l[prefix.len()..].starts_with(kind)
                            })
                            .count()
                    };
                    let (errors, warnings) = (count("E: "), count("W: "));
                    tap.todo(
                        errors == 0,
                        &p.file,
                        &format!("rpmlint is informative: {errors} errors, {warnings} warnings"),
                    );
                }
            }
            Err(e) => {
                log.push_str(&format!("rpmlint cannot run: {e}\n"));
                for p in pkgs {
                    tap.skip(&p.file, "rpmlint is not installed");
                }
            }
        }
        let mut s = stage("rpmlint", &tap, log);
        s.passed = true;
        Ok(s)
    }

    /// The `third-party` stage.
    async fn third_party(
        &self,
        work: &Path,
        inst: &Installed,
        pkgs: &[Pkg],
    ) -> Result<TestStage, TestError> {
        let mut tap = TapWriter::new();
        let mut log = String::new();
        let Some(source) = &self.tests else {
            for p in pkgs {
                tap.skip(&p.file, "no third-party tests configured");
            }
            return Ok(stage(
                "third-party",
                &tap,
                "no third-party tests configured\n".into(),
            ));
        };
        let checkout = match fetch_tests(source, &work.join("tests")).await {
            Ok((dir, how)) => {
                log.push_str(&how);
                dir
            }
            Err(why) => {
                log.push_str(&why);
                for p in pkgs {
                    tap.result(false, &p.file, std::slice::from_ref(&why));
                }
                return Ok(stage("third-party", &tap, log));
            }
        };
        let home = work.join("test-home");
        std::fs::create_dir_all(&home).map_err(io_err(format!("create {}", home.display())))?;
        let root = &inst.root;
        let prepend = |dirs: &[&str], rest: &str| -> String {
            let mut v: Vec<String> = dirs
                .iter()
                .map(|d| root.join(d).display().to_string())
                .collect();
            if !rest.is_empty() {
                v.push(rest.to_owned());
            }
            v.join(":")
        };
        let path_env = prepend(
            &["usr/local/bin", "usr/bin", "bin", "usr/sbin", "sbin"],
            jail::PATH,
        );
        let ld_env = prepend(&["usr/lib64", "lib64", "usr/lib", "lib"], "");
        for p in pkgs {
            if p.is_source() {
                tap.skip(&p.file, "source package");
                continue;
            }
            let dir = checkout.join(&p.name);
            let tests = list_tests(&dir);
            if tests.is_empty() {
                tap.skip(&p.file, &format!("no tests for {}", p.name));
                continue;
            }
            for t in tests {
                let rel = format!(
                    "{}/{}",
                    p.name,
                    t.file_name().unwrap_or_default().to_string_lossy()
                );
                let (program, args) = runner_for(&t);
                let ran = self
                    .jail(self.test_timeout)
                    .ro(&checkout)
                    .ro(root)
                    .rw(&home)
                    .cwd(&dir)
                    .env("PATH", path_env.clone())
                    .env("LD_LIBRARY_PATH", ld_env.clone())
                    .env("HOME", &home)
                    .env("ALBS_TEST_ROOT", root)
                    .env("ALBS_TEST_PACKAGE", p.name.clone())
                    .env("ALBS_TEST_NEVRA", p.nevra.clone())
                    .run(program, args)
                    .await;
                let ran = match ran {
                    Ok(r) => r,
                    Err(e) => {
                        let why = format!("{rel} cannot be run: {e}");
                        log.push_str(&format!("{why}\n"));
                        tap.result(false, &format!("{}: {rel}", p.file), &[why]);
                        continue;
                    }
                };
                log.push_str(&format!("== {rel} ({})\n{}", ran.status, ran.text));
                let summary = tap::parse(&ran.stdout);
                let mut problems = Vec::new();
                if summary.is_tap() {
                    problems.extend(summary.problems());
                    if !ran.success {
                        problems.push(format!("the test ended with {}", ran.status));
                    }
                } else if !ran.success {
                    problems.push(format!("the test ended with {}", ran.status));
                    problems.extend(
                        ran.text
                            .lines()
                            .rev()
                            .take(5)
                            .collect::<Vec<_>>()
                            .into_iter()
                            .rev()
                            .map(str::to_owned),
                    );
                }
                if !problems.is_empty() {
                    log.push_str(&format!("{rel} failed: {}\n", problems.join("; ")));
                }
                tap.result(
                    problems.is_empty(),
                    &format!("{}: {rel}", p.file),
                    &problems,
                );
            }
        }
        Ok(stage("third-party", &tap, log))
    }

    /// The `uninstall` stage.
    async fn uninstall(&self, inst: &Installed, pkgs: &[Pkg]) -> Result<TestStage, TestError> {
        let mut tap = TapWriter::new();
        let mut log = String::new();
        let root = &inst.root;
        // Every file rpm put there, to check the root is clean afterwards.
        let all = self
            .rpm(
                root,
                &[],
                &["-qa", "--qf", "[%{FILENAMES}\\t%{FILEFLAGS}\\n]"],
            )
            .await?;
        let owned: Vec<String> = all
            .stdout
            .lines()
            .filter_map(|l| l.rsplit_once('\t'))
            .filter(|(_, f)| f.parse::<u32>().is_ok_and(|f| f & (1 << 6) == 0))
            .map(|(n, _)| n.to_owned())
            .collect();
        let qa = self.rpm(root, &[], &["-qa"]).await?;
        let names: Vec<&str> = qa.stdout.lines().filter(|l| !l.is_empty()).collect();
        let mut args = vec!["-e", "-v"];
        args.extend(names.iter().copied());
        log.push_str(&format!("rpm {}\n", args.join(" ")));
        let e = self.rpm(root, &[], &args).await?;
        log.push_str(&e.text);
        let scriptlets = scriptlet_failures(&e.text, root);
        for l in &scriptlets {
            log.push_str(&format!("{l}\n"));
        }
        let after = self.rpm(root, &[], &["-qa"]).await?;
        let left: Vec<String> = after
            .stdout
            .lines()
            .filter(|l| !l.is_empty())
            .map(str::to_owned)
            .collect();
        let left_names = self
            .rpm(root, &[], &["-qa", "--qf", "%{NAME}\\n"])
            .await?
            .stdout;
        for p in pkgs {
            if p.is_source() {
                tap.skip(&p.file, "source package");
                continue;
            }
            let still = left_names.lines().any(|l| l == p.name);
            let mut diag: Vec<String> = scriptlets
                .iter()
                .filter(|l| l.contains(&format!("({})", p.nevra)))
                .cloned()
                .collect();
            if !e.success {
                diag.push(format!("rpm -e: {}", e.status));
                diag.extend(e.text.lines().map(str::to_owned));
            }
            if still {
                diag.push(format!("{} is still in the rpm database", p.name));
            }
            tap.result(diag.is_empty(), &format!("{}: erased", p.file), &diag);
        }
        let mut leftovers: Vec<String> = owned
            .iter()
            .filter(|f| {
                let inside = join_inside(root, Path::new(f.as_str()));
                std::fs::symlink_metadata(&inside).is_ok_and(|m| !m.is_dir())
            })
            .map(|f| format!("{f} is left in the root"))
            .collect();
        if !left.is_empty() {
            leftovers.push(format!("the rpm database still lists {}", left.join(", ")));
        }
        for l in &leftovers {
            log.push_str(&format!("{l}\n"));
        }
        tap.result(
            leftovers.is_empty(),
            "root clean after uninstall",
            &leftovers,
        );
        Ok(stage("uninstall", &tap, log))
    }
}

/// The scriptlet failures rpm reported (it warns and still exits 0 for
/// `%post` and `%postun`), with a hint when the root lacks the interpreter.
fn scriptlet_failures(rpm_output: &str, root: &Path) -> Vec<String> {
    let mut out: Vec<String> = rpm_output
        .lines()
        .filter(|l| l.contains("scriptlet failed"))
        .map(|l| l.trim().to_owned())
        .collect();
    let missing_interpreters: Vec<&str> = rpm_output
        .lines()
        .filter_map(|l| l.split("failed to exec scriptlet interpreter ").nth(1))
        .filter_map(|rest| rest.split(':').next())
        .collect();
    for i in missing_interpreters {
        if resolve_in_root(root, Path::new(i)).is_none() {
            out.push(format!(
                "the scriptlet interpreter {i} is not in the test root (scriptlets run chrooted \
                 there; host-provided files are not): add a repository that provides it"
            ));
        }
    }
    out
}

/// Every `.rpm` file under the repositories, by file name.
fn index_rpms(repos: &[PathBuf]) -> HashMap<String, PathBuf> {
    fn walk(dir: &Path, out: &mut HashMap<String, PathBuf>, depth: usize) {
        let Ok(rd) = std::fs::read_dir(dir) else {
            return;
        };
        for e in rd.flatten() {
            let p = e.path();
            let Ok(ft) = e.file_type() else { continue };
            if ft.is_dir() && depth < 8 {
                walk(&p, out, depth + 1);
            } else if p.extension().is_some_and(|x| x == "rpm") {
                out.entry(e.file_name().to_string_lossy().into_owned())
                    .or_insert(p);
            }
        }
    }
    let mut out = HashMap::new();
    for r in repos {
        walk(r, &mut out, 0);
    }
    out
}

/// `path` (absolute, as packaged) inside `root`, without following anything.
fn join_inside(root: &Path, path: &Path) -> PathBuf {
    let mut out = root.to_path_buf();
    for c in path.components() {
        if let Component::Normal(n) = c {
            out.push(n);
        }
    }
    out
}

/// Resolves `path` as the root's own processes would see it: symlinks
/// followed with the root as `/`, `..` stopping at the root. `None` when a
/// component does not exist (a dangling link) or links loop.
pub fn resolve_in_root(root: &Path, path: &Path) -> Option<PathBuf> {
    let mut todo: Vec<std::ffi::OsString> = path
        .components()
        .rev()
        .filter_map(|c| match c {
            Component::Normal(n) => Some(n.to_owned()),
            Component::ParentDir => Some("..".into()),
            _ => None,
        })
        .collect();
    let mut cur: Vec<std::ffi::OsString> = Vec::new();
    let mut hops = 0;
    while let Some(c) = todo.pop() {
        if c == ".." {
            cur.pop();
            continue;
        }
        cur.push(c);
        let real = cur.iter().fold(root.to_path_buf(), |p, c| p.join(c));
        let meta = std::fs::symlink_metadata(&real).ok()?;
        if meta.file_type().is_symlink() {
            hops += 1;
            if hops > 40 {
                return None;
            }
            let target = std::fs::read_link(&real).ok()?;
            cur.pop();
            if target.is_absolute() {
                cur.clear();
            }
            for tc in target.components().rev() {
                match tc {
                    Component::Normal(n) => todo.push(n.to_owned()),
                    Component::ParentDir => todo.push("..".into()),
                    _ => {}
                }
            }
        }
    }
    Some(cur.iter().fold(root.to_path_buf(), |p, c| p.join(c)))
}

/// Gets the tests: a git repository is cloned into `into`, a plain directory
/// used as it is. Returns the directory and a log line, or why it failed.
async fn fetch_tests(source: &str, into: &Path) -> Result<(PathBuf, String), String> {
    let (location, git_ref) = match source.rsplit_once('#') {
        Some((l, r)) if !r.is_empty() && !Path::new(source).exists() => (l, Some(r)),
        _ => (source, None),
    };
    let local = Path::new(location);
    if git_ref.is_none()
        && local.is_dir()
        && !local.join(".git").exists()
        && !local.join("HEAD").exists()
    {
        let dir = std::path::absolute(local).unwrap_or_else(|_| local.to_owned());
        return Ok((dir, format!("third-party tests from directory {source}\n")));
    }
    if let Some(r) = git_ref {
        crate::source::check_ref_name(r).map_err(|e| format!("tests ref {r} is refused: {e}\n"))?;
    }
    if !local.is_dir() {
        crate::source::check_location(location)
            .map_err(|e| format!("tests location {location} is refused: {e}\n"))?;
    }
    let out = tokio::process::Command::new("git")
        .args(["clone", "--quiet", "--depth", "1"])
        .args(git_ref.map(|r| format!("--branch={r}")))
        .arg("--")
        .arg(if local.is_dir() {
            format!(
                "file://{}",
                std::path::absolute(local)
                    .unwrap_or_else(|_| local.to_owned())
                    .display()
            )
        } else {
            location.to_owned()
        })
        .arg(into)
        .env("GIT_TERMINAL_PROMPT", "0")
        .stdin(std::process::Stdio::null())
        .output()
        .await
        .map_err(|e| format!("git cannot be run to clone the tests from {source}: {e}\n"))?;
    if !out.status.success() {
        return Err(format!(
            "git clone of the tests from {source} failed ({}): {}\n",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    let head = tokio::process::Command::new("git")
        .args(["-C"])
        .arg(into)
        .args(["rev-parse", "HEAD"])
        .output()
        .await
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .unwrap_or_default();
    Ok((
        into.to_owned(),
        format!("third-party tests cloned from {source} at {head}\n"),
    ))
}

/// The test files of one package: `*.sh`, then `*.bats`, then `*.py`, each by name.
fn list_tests(dir: &Path) -> Vec<PathBuf> {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut v: Vec<(usize, String, PathBuf)> = rd
        .flatten()
        .filter(|e| e.file_type().is_ok_and(|t| t.is_file()))
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            let rank = test_kind(&name)?;
            Some((rank, name, e.path()))
        })
        .collect();
    v.sort();
    v.into_iter().map(|(_, _, p)| p).collect()
}

fn test_kind(name: &str) -> Option<usize> {
    ["sh", "bats", "py"].iter().position(|x| {
        name.strip_suffix(x)
            .is_some_and(|s| s.ends_with('.') && s.len() > 1)
    })
}

/// The interpreter and arguments for a test file.
fn runner_for(test: &Path) -> (&'static str, Vec<std::ffi::OsString>) {
    let name = test
        .file_name()
        .unwrap_or_default()
        .to_string_lossy()
        .into_owned();
    let f = test.as_os_str().to_owned();
    match test_kind(&name) {
        Some(1) => ("bats", vec!["--tap".into(), f]),
        Some(2) => {
            // Debian's own Python, which sees the distribution's modules.
            let py = if Path::new("/usr/bin/python3").exists() {
                "/usr/bin/python3"
            } else {
                "python3"
            };
            (py, vec![f])
        }
        _ => ("bash", vec![f]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn symlinks_resolve_inside_the_root() {
        let t = tempfile::tempdir().unwrap();
        let r = t.path();
        std::fs::create_dir_all(r.join("usr/bin")).unwrap();
        std::fs::create_dir_all(r.join("usr/lib64")).unwrap();
        std::fs::write(r.join("usr/bin/real"), "x").unwrap();
        std::os::unix::fs::symlink("real", r.join("usr/bin/rel")).unwrap();
        std::os::unix::fs::symlink("/usr/bin/real", r.join("usr/bin/abs")).unwrap();
        std::os::unix::fs::symlink("../../../../usr/bin/real", r.join("usr/lib64/up")).unwrap();
        std::os::unix::fs::symlink("usr/lib64", r.join("lib64")).unwrap();
        std::os::unix::fs::symlink("/nowhere/x", r.join("usr/bin/dangling")).unwrap();
        std::os::unix::fs::symlink("loop", r.join("usr/bin/loop")).unwrap();
        let real = r.join("usr/bin/real");
        assert_eq!(
            resolve_in_root(r, Path::new("/usr/bin/rel")),
            Some(real.clone())
        );
        assert_eq!(
            resolve_in_root(r, Path::new("/usr/bin/abs")),
            Some(real.clone())
        );
        assert_eq!(
            resolve_in_root(r, Path::new("/usr/lib64/up")),
            Some(real.clone())
        );
        assert_eq!(resolve_in_root(r, Path::new("/lib64/up")), Some(real));
        assert_eq!(resolve_in_root(r, Path::new("/usr/bin/dangling")), None);
        assert_eq!(resolve_in_root(r, Path::new("/usr/bin/loop")), None);
        // /bin/sh exists on the host, not in this root.
        assert_eq!(resolve_in_root(r, Path::new("/bin/sh")), None);
    }

    #[test]
    fn tests_run_by_type_then_name() {
        let t = tempfile::tempdir().unwrap();
        for f in [
            "b.py", "a.py", "z.sh", "m.bats", "a.sh", "README", "x.shx", ".sh",
        ] {
            std::fs::write(t.path().join(f), "").unwrap();
        }
        let names: Vec<String> = list_tests(t.path())
            .iter()
            .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
            .collect();
        assert_eq!(names, ["a.sh", "z.sh", "m.bats", "a.py", "b.py"]);
    }
}

//! Fixtures made by scripts: the example packages as git repositories.

use std::path::{Path, PathBuf};
use std::process::Command;

/// The examples turned into dist-git repositories and a lookaside store.
pub struct Examples {
    /// `git/<name>` repositories (branch `a9`, tag `imports/a9/<nvr>`).
    pub git: PathBuf,
    /// The lookaside directory (blobs named by sha256).
    pub lookaside: PathBuf,
}

impl Examples {
    /// The repository of example `name`.
    pub fn repo(&self, name: &str) -> PathBuf {
        self.git.join(name)
    }
}

/// The workspace root.
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ is inside the workspace")
        .to_path_buf()
}

/// Runs `examples/make-fixtures.sh` into `dir`.
pub fn make_examples(dir: &Path) -> Examples {
    let script = workspace_root().join("examples/make-fixtures.sh");
    let out = Command::new("bash")
        .arg(&script)
        .arg(dir)
        .output()
        .expect("bash runs");
    assert!(
        out.status.success(),
        "make-fixtures.sh failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    Examples {
        git: dir.join("git"),
        lookaside: dir.join("lookaside"),
    }
}

/// Runs git in `dir` with a fixed identity, panicking with its stderr on failure.
pub fn git(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .current_dir(dir)
        .args(args)
        .env("GIT_AUTHOR_NAME", "albs tests")
        .env("GIT_AUTHOR_EMAIL", "tests@albs.invalid")
        .env("GIT_COMMITTER_NAME", "albs tests")
        .env("GIT_COMMITTER_EMAIL", "tests@albs.invalid")
        .output()
        .expect("git runs");
    assert!(
        out.status.success(),
        "git {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

/// Every file under `dir`, recursively, sorted.
pub fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(files_under(&p));
        } else {
            out.push(p);
        }
    }
    out.sort();
    out
}

/// The packages rpmbuild made of one spec.
pub struct Built {
    /// The binary package (with `-bb` or `-ba`).
    pub rpm: Option<PathBuf>,
    /// The source package (with `-bs` or `-ba`).
    pub srpm: Option<PathBuf>,
}

/// Writes `spec` to `top/<name>.spec` and runs `rpmbuild <mode> --nodeps`
/// (`mode` is `-bb`, `-bs` or `-ba`) with `top` as topdir; returns the
/// package named `name-…` in RPMS and in SRPMS.
pub fn rpmbuild(top: &Path, mode: &str, name: &str, spec: &str) -> Built {
    let path = top.join(format!("{name}.spec"));
    std::fs::write(&path, spec).unwrap();
    let out = Command::new("rpmbuild")
        .args([mode, "--nodeps", "--define"])
        .arg(format!("_topdir {}", top.display()))
        .arg(&path)
        .output()
        .expect("rpmbuild is not installed: run scripts/setup.sh");
    assert!(
        out.status.success(),
        "rpmbuild {mode} {name}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let find = |dir: &str| -> Option<PathBuf> {
        let dir = top.join(dir);
        if !dir.exists() {
            return None;
        }
        let prefix = format!("{name}-");
        let hits: Vec<PathBuf> = files_under(&dir)
            .into_iter()
            .filter(|p| {
                p.file_name()
                    .is_some_and(|f| f.to_string_lossy().starts_with(&prefix))
            })
            .collect();
        assert!(hits.len() <= 1, "several packages named {name}: {hits:?}");
        hits.into_iter().next()
    };
    Built {
        rpm: find("RPMS"),
        srpm: find("SRPMS"),
    }
}

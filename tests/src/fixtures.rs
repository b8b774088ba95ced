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

//! Running the tester's commands: in bubblewrap with no network when it
//! works here, else bare with a cleared environment, always with a timeout.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use crate::build::Sandbox;
use crate::test::TestError;

/// The PATH commands see unless a caller prepends to it.
pub(super) const PATH: &str = "/usr/local/bin:/usr/bin:/bin:/usr/local/sbin:/usr/sbin:/sbin";

/// What a command did.
#[derive(Debug)]
pub(super) struct Ran {
    /// Exit status zero.
    pub success: bool,
    /// The exit status as text (`exit status: 1`), or the kill after the timeout.
    pub status: String,
    /// Standard output.
    pub stdout: String,
    /// Standard output then standard error.
    pub text: String,
}

/// A command line and what it may see.
pub(super) struct Jail {
    sandbox: Sandbox,
    writable: Vec<PathBuf>,
    read_only: Vec<PathBuf>,
    env: Vec<(String, OsString)>,
    cwd: Option<PathBuf>,
    timeout: Duration,
}

impl Jail {
    /// A jail that sees the host read-only.
    pub fn new(sandbox: Sandbox, timeout: Duration) -> Self {
        Jail {
            sandbox,
            writable: Vec::new(),
            read_only: Vec::new(),
            env: vec![
                ("PATH".into(), PATH.into()),
                ("LANG".into(), "C.UTF-8".into()),
                ("TZ".into(), "UTC".into()),
            ],
            cwd: None,
            timeout,
        }
    }

    /// Makes `p` writable (it lives under the private `/tmp` otherwise).
    pub fn rw(mut self, p: &Path) -> Self {
        self.writable.push(p.to_owned());
        self
    }

    /// Makes `p` visible read-only (needed for paths under `/tmp`).
    pub fn ro(mut self, p: &Path) -> Self {
        self.read_only.push(p.to_owned());
        self
    }

    /// Sets an environment variable (replacing one of the same name).
    pub fn env(mut self, key: &str, value: impl Into<OsString>) -> Self {
        self.env.retain(|(k, _)| k != key);
        self.env.push((key.to_owned(), value.into()));
        self
    }

    /// Runs in `dir`.
    pub fn cwd(mut self, dir: &Path) -> Self {
        self.cwd = Some(dir.to_owned());
        self
    }

    /// Runs `program args`; `Err` only when the program cannot be started.
    pub async fn run<I, S>(&self, program: &str, args: I) -> Result<Ran, TestError>
    where
        I: IntoIterator<Item = S>,
        S: Into<OsString>,
    {
        let args: Vec<OsString> = args.into_iter().map(Into::into).collect();
        let mut cmd = match self.sandbox {
            Sandbox::Bubblewrap => {
                let mut c = tokio::process::Command::new("bwrap");
                c.args([
                    "--unshare-all",
                    "--die-with-parent",
                    "--new-session",
                    "--hostname",
                    "albs-test",
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
                ]);
                for p in &self.read_only {
                    c.arg("--ro-bind").arg(p).arg(p);
                }
                for p in &self.writable {
                    c.arg("--bind").arg(p).arg(p);
                }
                if let Some(d) = &self.cwd {
                    c.arg("--chdir").arg(d);
                }
                c.arg("--").arg(program).args(&args);
                c
            }
            Sandbox::None => {
                let mut c = tokio::process::Command::new(program);
                c.args(&args).process_group(0);
                if let Some(d) = &self.cwd {
                    c.current_dir(d);
                }
                c
            }
        };
        cmd.env_clear()
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        let started = match self.sandbox {
            Sandbox::Bubblewrap => "bwrap",
            Sandbox::None => program,
        };
        let child = cmd.spawn().map_err(|e| TestError::ToolMissing {
            tool: started.to_owned(),
            message: e.to_string(),
        })?;
        match tokio::time::timeout(self.timeout, child.wait_with_output()).await {
            Ok(Ok(out)) => {
                let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
                let text = stdout.clone() + &String::from_utf8_lossy(&out.stderr);
                Ok(Ran {
                    success: out.status.success(),
                    status: out.status.to_string(),
                    stdout,
                    text,
                })
            }
            Ok(Err(e)) => Ok(Ran {
                success: false,
                status: format!("could not be waited for: {e}"),
                stdout: String::new(),
                text: String::new(),
            }),
            Err(_) => Ok(Ran {
                success: false,
                status: format!("a kill after the timeout of {}s", self.timeout.as_secs()),
                stdout: String::new(),
                text: String::new(),
            }),
        }
    }
}

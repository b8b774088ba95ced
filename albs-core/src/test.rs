//! The testing port: built RPMs + platform → a report of test stages.
//!
//! [`Tester`] runs stages (integrity, install, third-party tests, uninstall)
//! and returns TAP results with logs. [`IntegrityTester`] is the first real
//! stage: `rpm -K --nosignature` on every package, which checks header and
//! payload digests. [`ScriptedTester`] replays given reports for tests.
//! [`crate::tester::RootTester`] runs every stage in a fresh install root.

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::model::Arch;
use crate::platform::Platform;

/// One stage of a test run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TestStage {
    /// Stage name (`integrity`, `install`, `tests`, `uninstall`).
    pub name: String,
    /// Whether every test in it passed.
    pub passed: bool,
    /// Results in TAP 13.
    pub tap: String,
    /// What the stage printed.
    pub log: String,
}

/// The result of testing a set of packages.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct TestReport {
    /// Stages in the order they ran.
    pub stages: Vec<TestStage>,
}

impl TestReport {
    /// Whether every stage passed (an empty report has not passed).
    pub fn passed(&self) -> bool {
        !self.stages.is_empty() && self.stages.iter().all(|s| s.passed)
    }
}

/// Errors of the tester itself (not of the packages tested).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TestError {
    /// A tool the tester needs is missing.
    #[error("{tool} is not installed or not runnable: {message}; run scripts/setup.sh")]
    ToolMissing {
        /// The tool.
        tool: String,
        /// What happened.
        message: String,
    },
    /// Nothing to test.
    #[error("no packages were given to test")]
    NothingToTest,
    /// The tester could not prepare its own files (work directory, test root).
    #[error("cannot {context}: {source}; check the temporary directory's space and permissions")]
    Io {
        /// What the tester was doing.
        context: String,
        /// The cause.
        source: std::io::Error,
    },
}

/// Tests built packages.
#[async_trait]
pub trait Tester: Send + Sync {
    /// Tests `rpms` built for `platform` and `arch`.
    async fn test(
        &self,
        rpms: &[PathBuf],
        platform: &Platform,
        arch: &Arch,
    ) -> Result<TestReport, TestError>;
}

/// Checks every package with `rpm -K --nosignature` (header and payload digests).
#[derive(Debug, Default, Clone)]
pub struct IntegrityTester;

#[async_trait]
impl Tester for IntegrityTester {
    async fn test(
        &self,
        rpms: &[PathBuf],
        _platform: &Platform,
        _arch: &Arch,
    ) -> Result<TestReport, TestError> {
        if rpms.is_empty() {
            return Err(TestError::NothingToTest);
        }
        let mut tap = format!("TAP version 13\n1..{}\n", rpms.len());
        let mut log = String::new();
        let mut passed = true;
        for (i, rpm) in rpms.iter().enumerate() {
            let out = tokio::process::Command::new("rpm")
                .args(["-K", "--nosignature"])
                .arg(rpm)
                .output()
                .await
                .map_err(|e| TestError::ToolMissing {
                    tool: "rpm".into(),
                    message: e.to_string(),
                })?;
            let text = String::from_utf8_lossy(&out.stdout).into_owned()
                + &String::from_utf8_lossy(&out.stderr);
            log.push_str(&text);
            let ok = out.status.success();
            passed &= ok;
            let name = file_name(rpm);
            tap.push_str(&format!(
                "{} {} - {name}\n",
                if ok { "ok" } else { "not ok" },
                i + 1
            ));
        }
        Ok(TestReport {
            stages: vec![TestStage {
                name: "integrity".into(),
                passed,
                tap,
                log,
            }],
        })
    }
}

fn file_name(p: &Path) -> String {
    p.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// Replays reports given in advance, in order, for tests.
#[derive(Default)]
pub struct ScriptedTester {
    reports: Mutex<Vec<TestReport>>,
}

impl ScriptedTester {
    /// A tester that returns `reports` one per call, then passing reports.
    pub fn new(mut reports: Vec<TestReport>) -> Self {
        reports.reverse();
        ScriptedTester {
            reports: Mutex::new(reports),
        }
    }
}

#[async_trait]
impl Tester for ScriptedTester {
    async fn test(
        &self,
        rpms: &[PathBuf],
        _platform: &Platform,
        _arch: &Arch,
    ) -> Result<TestReport, TestError> {
        if rpms.is_empty() {
            return Err(TestError::NothingToTest);
        }
        if let Some(r) = self.reports.lock().expect("tester lock").pop() {
            return Ok(r);
        }
        let tap = format!(
            "TAP version 13\n1..{}\n{}",
            rpms.len(),
            rpms.iter()
                .enumerate()
                .map(|(i, r)| format!("ok {} - {}\n", i + 1, file_name(r)))
                .collect::<String>()
        );
        Ok(TestReport {
            stages: vec![TestStage {
                name: "scripted".into(),
                passed: true,
                tap,
                log: String::new(),
            }],
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn scripted_tester_conforms() {
        crate::conformance::tester(
            &ScriptedTester::default(),
            &[
                PathBuf::from("/x/a-1-1.noarch.rpm"),
                PathBuf::from("/x/b-1-1.x86_64.rpm"),
            ],
        )
        .await;
    }
}

//! The dependency solver: rpm-md repositories in, installable package sets,
//! installability and repository-closure reports out.
//!
//! - [`rpmmd`] streams `primary.xml` (plain, gzip, zstd, xz) into a [`Pool`];
//! - [`filelists`] adds the complete file lists of `filelists.xml`;
//! - [`rpmhdr`] adds packages from `.rpm` headers ([`Pool::add_rpm`]);
//! - [`dep`] holds rpm's range semantics and rich (boolean) dependencies;
//! - [`order`] computes the build order of source packages and its cycles;
//! - [`arch`] holds multilib colors and the arch changes an update may make;
//! - [`transaction`] turns a solution over an installed set into steps;
//! - [`sat`] is a CDCL solver over the package rules, with explanations for
//!   jobs that cannot be satisfied, plus [`sat::installcheck`] and
//!   [`sat::repoclosure`].
//!
//! The semantics follow rpm (and libsolv with `DISTTYPE_RPM`): unversioned
//! provides satisfy versioned requires, a missing epoch is 0, a dependency
//! without release matches every release, packages of one name exclude each
//! other, obsoletes match package names.

pub mod arch;
pub mod dep;
pub mod filelists;
pub mod order;
pub mod pool;
pub mod rpmhdr;
pub mod rpmmd;
pub mod sat;
pub mod transaction;

use std::path::Path;

pub use dep::{Rich, RichError, Sense};
pub use pool::{DepId, DepKind, PkgId, Pool, StrId};
pub use sat::{Job, Problem, Solution, Solver};
pub use transaction::{Step, Transaction};

/// Errors from reading a repository.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RepoError {
    /// The file could not be opened or read.
    #[error("cannot read {input}")]
    Io {
        /// The file.
        input: String,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The XML is malformed or holds something the reader refuses.
    #[error("{input}, line {line} (byte {offset}){}: {reason}", .package.as_deref().map(|p| format!(", package {p}")).unwrap_or_default())]
    Parse {
        /// The file or stream.
        input: String,
        /// Line (from 1) where the element at fault starts, in the decompressed stream.
        line: u64,
        /// Byte offset in the decompressed stream.
        offset: u64,
        /// The package being read, once its name is known.
        package: Option<String>,
        /// What is wrong.
        reason: String,
    },
    /// An `.rpm` file cannot be read as a package.
    #[error("{input} is not a readable RPM package: {reason}")]
    Package {
        /// The file.
        input: String,
        /// What is wrong.
        reason: String,
    },
}

impl Pool {
    /// Loads a primary.xml file (compressed or not) into a new pool.
    pub fn from_primary(path: &Path) -> Result<Pool, RepoError> {
        let mut pool = Pool::new();
        pool.add_primary(path)?;
        Ok(pool)
    }

    /// Adds a repository: a `primary.xml` file (compressed or not) or a
    /// repository directory whose `repodata/` holds one (and, when present,
    /// a `filelists.xml` whose files become file provides of the packages
    /// just added); returns how many packages were added.
    pub fn add_repo(&mut self, path: &Path) -> Result<usize, RepoError> {
        if !path.is_dir() {
            return self.add_primary(path);
        }
        let repodata = path.join("repodata");
        let io = |source| RepoError::Io {
            input: repodata.display().to_string(),
            source,
        };
        let mut found = Vec::new();
        let mut filelists = Vec::new();
        for e in std::fs::read_dir(&repodata).map_err(io)? {
            let e = e.map_err(io)?;
            let name = e.file_name().to_string_lossy().into_owned();
            if name.contains("primary.xml") {
                found.push(e.path());
            } else if name.contains("filelists.xml") {
                filelists.push(e.path());
            }
        }
        found.sort();
        if filelists.len() > 1 {
            return Err(RepoError::Io {
                input: repodata.display().to_string(),
                source: std::io::Error::other("more than one *filelists.xml* file"),
            });
        }
        match found.as_slice() {
            [one] => {
                let first = self.len() as u32;
                let added = self.add_primary(one)?;
                if let Some(fl) = filelists.first() {
                    let reader = rpmmd::open(fl)?;
                    let end = self.len() as u32;
                    filelists::read_filelists(self, reader, &fl.display().to_string(), first..end)?;
                }
                Ok(added)
            }
            [] => Err(RepoError::Io {
                input: repodata.display().to_string(),
                source: std::io::Error::new(
                    std::io::ErrorKind::NotFound,
                    "no *primary.xml* file: give the file itself, or a repository made by createrepo_c",
                ),
            }),
            _ => Err(RepoError::Io {
                input: repodata.display().to_string(),
                source: std::io::Error::other(
                    "more than one *primary.xml* file: give the one to use",
                ),
            }),
        }
    }

    /// Adds the packages of a primary.xml file; returns how many were added.
    pub fn add_primary(&mut self, path: &Path) -> Result<usize, RepoError> {
        let reader = rpmmd::open(path)?;
        rpmmd::read_primary(self, reader, &path.display().to_string())
    }
}

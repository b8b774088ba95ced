//! The error type of albs-sign.

use std::path::PathBuf;

/// A boxed error from a library underneath (sequoia, rpm).
pub type Cause = Box<dyn std::error::Error + Send + Sync + 'static>;

/// What went wrong while handling keys, signing or verifying.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The passphrase could not be read from where the caller said it is.
    #[error("passphrase from {origin} is unavailable: {message}")]
    Passphrase {
        /// `env VAR` or `file PATH` (never the passphrase itself).
        origin: String,
        /// What to fix.
        message: String,
    },
    /// The secret key is encrypted and no passphrase was given.
    #[error("the secret key {fingerprint} is encrypted: give its passphrase")]
    Locked {
        /// The key.
        fingerprint: String,
    },
    /// The passphrase does not decrypt the secret key.
    #[error("the passphrase does not unlock secret key {fingerprint}")]
    WrongPassphrase {
        /// The key.
        fingerprint: String,
    },
    /// The key material is unusable for what was asked.
    #[error("key {fingerprint}: {message}")]
    Key {
        /// The key (or `-` when it is not known yet).
        fingerprint: String,
        /// What is wrong and what to do.
        message: String,
    },
    /// OpenPGP data could not be parsed, built or serialized.
    #[error("{what}: {source}")]
    OpenPgp {
        /// What was being done.
        what: String,
        /// The OpenPGP library's error.
        #[source]
        source: Cause,
    },
    /// Reading or writing a file failed.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The error.
        #[source]
        source: std::io::Error,
    },
    /// The RPM could not be read or written.
    #[error("RPM {}: {source}", path.display())]
    Rpm {
        /// The package file.
        path: PathBuf,
        /// The rpm crate's error.
        #[source]
        source: rpm::Error,
    },
    /// Verification refused the data: there is no valid signature by a trusted key.
    #[error("{what} is not trusted: {reason}")]
    Untrusted {
        /// What was checked (a package path, "detached signature").
        what: String,
        /// Why it is refused.
        reason: String,
    },
}

impl Error {
    pub(crate) fn pgp(what: impl Into<String>, source: impl Into<Cause>) -> Self {
        Error::OpenPgp {
            what: what.into(),
            source: source.into(),
        }
    }

    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            path: path.into(),
            source,
        }
    }

    pub(crate) fn untrusted(what: impl Into<String>, reason: impl Into<String>) -> Self {
        Error::Untrusted {
            what: what.into(),
            reason: reason.into(),
        }
    }
}

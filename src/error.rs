//! The one error type every stage returns, and the exit code each kind maps to.
//!
//! Exit codes (documented in the README and `--help`):
//! - `0` success;
//! - `1` an operational failure (network, registry, store, cluster, file system);
//! - `2` bad input: a flag, argument or file the user must fix (checked before any network call);
//! - `3` trust failure: a release has no signature the cluster would accept.

use std::fmt;

/// Exit code for operational failures.
pub const EXIT_FAILURE: i32 = 1;
/// Exit code for bad input.
pub const EXIT_USAGE: i32 = 2;
/// Exit code for a release without a trusted signature.
pub const EXIT_UNTRUSTED: i32 = 3;

/// What went wrong, with a message that tells the user what to do.
#[derive(Debug)]
pub struct Error {
    kind: ErrorKind,
    message: String,
}

/// The class of an [`Error`], which decides the exit code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// Bad input; exit 2.
    Usage,
    /// Network, registry, store, cluster or file-system failure; exit 1.
    Failure,
    /// No trusted signature; exit 3.
    Untrusted,
}

impl Error {
    /// A bad-input error (exit 2).
    pub fn usage(message: impl Into<String>) -> Error {
        Error {
            kind: ErrorKind::Usage,
            message: message.into(),
        }
    }

    /// An operational error (exit 1).
    pub fn failure(message: impl Into<String>) -> Error {
        Error {
            kind: ErrorKind::Failure,
            message: message.into(),
        }
    }

    /// A trust error (exit 3).
    pub fn untrusted(message: impl Into<String>) -> Error {
        Error {
            kind: ErrorKind::Untrusted,
            message: message.into(),
        }
    }

    /// The class of this error.
    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    /// The process exit code for this error.
    pub fn exit_code(&self) -> i32 {
        match self.kind {
            ErrorKind::Usage => EXIT_USAGE,
            ErrorKind::Failure => EXIT_FAILURE,
            ErrorKind::Untrusted => EXIT_UNTRUSTED,
        }
    }

    /// Prefixes the message with context, keeping the kind.
    pub fn context(self, context: impl fmt::Display) -> Error {
        Error {
            kind: self.kind,
            message: format!("{context}: {}", self.message),
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Error {}

/// Shorthand for results of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

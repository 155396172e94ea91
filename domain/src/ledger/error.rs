//! Errors of the ledger and of command execution.
//!
//! ### Handling
//! - [`LedgerError::Unavailable`]: NATS did not answer (down, timed out). The API answers 503 and
//!   logs; nothing was written, the client may retry (with the same `Idempotency-Key`). It
//!   keeps async-nats's error as its `source()` (built with [`LedgerError::unavailable`]), or
//!   has none when we noticed the outage ourselves ([`LedgerError::unavailable_because`]: a
//!   consumer stopped, a read stalled, the server is too old).
//! - [`LedgerError::Corrupt`]: a stored message cannot be read back. Never a client's fault: logged
//!   with the subject and sequence, 500 (the one case that is ours).
//! - [`LedgerError::InvalidName`]: a bad prefix or subject token, caught at start-up from config.
//! - [`CommandError::Rejected`]: the aggregate refused the command (its own typed error, usually
//!   422/404/409).
//! - [`CommandError::Conflict`]: another writer won the race more times than we retry; 409.
//! - [`CommandError::PreconditionFailed`]: `If-Match` named a version that is not the current one;
//!   412.

use crate::cause::{BoxError, Cause};

/// A failure of the ledger itself (not of a command's rules).
///
/// `Corrupt`, `InvalidName` and `Conflict` are messages we compose (a rule broken, where it
/// happened), so they stay strings.
#[derive(Debug, thiserror::Error)]
pub enum LedgerError {
    /// `what` failed talking to NATS; `source` is async-nats's error, if there is one.
    #[error("NATS JetStream is unavailable: {}", Cause(what, source.as_ref()))]
    Unavailable {
        what: String,
        source: Option<BoxError>,
    },
    #[error("ledger message {subject} #{sequence} is unreadable: {reason}")]
    Corrupt {
        subject: String,
        sequence: u64,
        reason: String,
    },
    #[error("{0}")]
    InvalidName(String),
    #[error("optimistic concurrency conflict on {0}")]
    Conflict(String),
}

impl LedgerError {
    /// NATS failed `what` with `err` (async-nats's error, kept as the source); displayed as
    /// `what: err`.
    pub fn unavailable(what: &str, err: impl Into<BoxError>) -> Self {
        Self::Unavailable {
            what: what.to_owned(),
            source: Some(err.into()),
        }
    }

    /// NATS is unavailable for a reason we noticed ourselves, with no error beneath it.
    pub fn unavailable_because(what: impl Into<String>) -> Self {
        Self::Unavailable {
            what: what.into(),
            source: None,
        }
    }
}

/// What executing a command can end in, besides success.
#[derive(Debug, thiserror::Error)]
pub enum CommandError<E: std::error::Error> {
    #[error(transparent)]
    Rejected(E),
    #[error("the aggregate was changed concurrently; retry")]
    Conflict,
    #[error("If-Match names version {expected} but the current version is {current}")]
    PreconditionFailed { expected: u64, current: u64 },
    #[error(transparent)]
    Ledger(#[from] LedgerError),
}

impl<E: std::error::Error> CommandError<E> {
    /// The aggregate's own error, when the command was refused by its rules.
    pub fn rejected(&self) -> Option<&E> {
        match self {
            Self::Rejected(e) => Some(e),
            _ => None,
        }
    }
}

//! `ProjectionError`: what reading or maintaining a view can fail with.
//!
//! ### Handling
//! - [`ProjectionError::Database`]: PostgreSQL did not answer or refused a statement. Queries
//!   surface it (the API answers 503); the projector logs it, backs off and starts again from
//!   its checkpoint, so nothing is lost: the checkpoint only moves with a committed batch.
//! - [`ProjectionError::Ledger`]: NATS did not answer (503 for callers; the projector retries).
//! - [`ProjectionError::Timeout`]: a read-your-writes wait ran out before the view applied the
//!   sequence. The write itself succeeded; the API answers with what it has (or 503).
//! - [`ProjectionError::Corrupt`]: a stored message or row cannot be read back. Never a
//!   client's fault; logged with where it happened, and the projector retries (a fix in code
//!   or data is needed to move past it). It keeps the error beneath it (serde_json's, a
//!   migration's, a task's) as its `source()` ([`ProjectionError::corrupt`]), or has none when
//!   we found the fault ourselves ([`ProjectionError::corrupt_because`]: a reader ended, a
//!   definition we do not know).

use hookledger_domain::cause::{BoxError, Cause};
use hookledger_domain::ledger::LedgerError;

use crate::View;

#[derive(Debug, thiserror::Error)]
pub enum ProjectionError {
    #[error("PostgreSQL: {0}")]
    Database(#[from] sqlx::Error),
    #[error(transparent)]
    Ledger(#[from] LedgerError),
    #[error("the {view} view did not reach sequence {sequence} in time")]
    Timeout { view: View, sequence: u64 },
    /// `what` cannot be read back (where, and what is wrong); `source` is the error beneath.
    #[error("corrupt projection input: {}", Cause(what, source.as_ref()))]
    Corrupt {
        what: String,
        source: Option<BoxError>,
    },
}

impl ProjectionError {
    /// `what` failed to read back with `err` (kept as the source); displayed as `what: err`.
    pub fn corrupt(what: &str, err: impl Into<BoxError>) -> Self {
        Self::Corrupt {
            what: what.to_owned(),
            source: Some(err.into()),
        }
    }

    /// A fault we found ourselves, with no error beneath it.
    pub fn corrupt_because(what: impl Into<String>) -> Self {
        Self::Corrupt {
            what: what.into(),
            source: None,
        }
    }
}

impl From<sqlx::migrate::MigrateError> for ProjectionError {
    fn from(e: sqlx::migrate::MigrateError) -> Self {
        match e {
            sqlx::migrate::MigrateError::Execute(e) => Self::Database(e),
            other => Self::corrupt("migrations", other),
        }
    }
}

impl From<serde_json::Error> for ProjectionError {
    fn from(e: serde_json::Error) -> Self {
        Self::corrupt("JSON", e)
    }
}

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
//!   or data is needed to move past it).

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
    #[error("corrupt projection input: {0}")]
    Corrupt(String),
}

impl From<sqlx::migrate::MigrateError> for ProjectionError {
    fn from(e: sqlx::migrate::MigrateError) -> Self {
        match e {
            sqlx::migrate::MigrateError::Execute(e) => Self::Database(e),
            other => Self::Corrupt(format!("migrations: {other}")),
        }
    }
}

impl From<serde_json::Error> for ProjectionError {
    fn from(e: serde_json::Error) -> Self {
        Self::Corrupt(format!("JSON: {e}"))
    }
}

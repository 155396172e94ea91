//! `hookledger projections status`: each view's checkpoint, and its lag behind its stream.

use hookledger_domain::ledger::Nats;
use serde::Serialize;
use sqlx::PgPool;

use crate::{ProjectionError, View, checkpoint};

/// Every view's checkpoint by view name (a view that never ran is absent).
pub async fn checkpoints(pool: &PgPool) -> Result<Vec<(String, i64)>, ProjectionError> {
    checkpoint::all(pool).await
}

/// Where one view stands.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ViewStatus {
    pub view: View,
    pub checkpoint: u64,
    /// The last sequence of the view's stream.
    pub head: u64,
    /// `head - checkpoint`.
    pub lag: u64,
}

/// Checkpoint, head and lag of every view.
pub async fn views(nats: &Nats, pool: &PgPool) -> Result<Vec<ViewStatus>, ProjectionError> {
    let mut out = Vec::new();
    for view in View::ALL {
        let checkpoint = checkpoint::read_pool(pool, view).await?;
        let head = nats.head(view.stream()).await?;
        out.push(ViewStatus {
            view,
            checkpoint,
            head,
            lag: head.saturating_sub(checkpoint),
        });
    }
    Ok(out)
}

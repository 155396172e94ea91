//! Statistics of the views' live tables, for the writers' plans, when autovacuum does not keep
//! them (it can be off, as on this project's CI machine, or slow behind a burst).
//!
//! A writer's batch looks rows up by the keys of its messages (the deliveries fold, the
//! webhooks fold). Without statistics the planner estimates every index at one row and may
//! probe one that matches only `(tenant, webhook_id)`, reading a webhook's every delivery per
//! key: measured, the deliveries view fell minutes behind at 9,000 deliveries/s. With them the
//! primary key is the one cheap probe (the batch transaction also turns hash and merge joins
//! off, see `crate::lock::batch_checkpoint`).
//!
//! Decisions: autovacuum's own rule decides what is stale (more than 50 rows plus 10 % of the
//! table modified since the last analyze), checked at most every [`CHECK_EVERY`] by the
//! projector, and the `ANALYZE` runs on a pool connection in a task of its own, never on the
//! writer's connection: it takes a lock that does not block writes, and a batch does not wait
//! for it. When autovacuum does its job, the check finds nothing to do.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use sqlx::PgPool;

use crate::rebuild::analyzed_columns;
use crate::{ProjectionError, View};

/// How often a projector looks for stale statistics (one query on `pg_stat_user_tables`; a
/// table growing from empty needs new ones within seconds).
pub(crate) const CHECK_EVERY: Duration = Duration::from_secs(1);

/// The live tables of `view` whose statistics are missing or stale.
pub(crate) async fn stale(pool: &PgPool, view: View) -> Result<Vec<String>, ProjectionError> {
    let rows: Vec<(String,)> = sqlx::query_as(
        "SELECT relname::text FROM pg_stat_user_tables
          WHERE schemaname = current_schema() AND relname = ANY($1)
            AND n_mod_since_analyze > 50 + 0.1 * greatest(n_live_tup, 0)
          ORDER BY relname",
    )
    .bind(view.tables())
    .fetch_all(pool)
    .await?;
    Ok(rows.into_iter().map(|(t,)| t).collect())
}

/// `ANALYZE`s the stale tables of `view`; answers which.
pub async fn refresh(pool: &PgPool, view: View) -> Result<Vec<String>, ProjectionError> {
    let tables = stale(pool, view).await?;
    for table in &tables {
        sqlx::query(&format!("ANALYZE {table} {}", analyzed_columns(table)))
            .execute(pool)
            .await?;
    }
    Ok(tables)
}

/// Starts [`refresh`] in a task unless one of `view` still runs (`running`).
pub(crate) fn spawn_refresh(pool: &PgPool, view: View, running: &Arc<AtomicBool>) {
    if running.swap(true, Ordering::AcqRel) {
        return;
    }
    let (pool, running) = (pool.clone(), running.clone());
    tokio::spawn(async move {
        match refresh(&pool, view).await {
            Ok(tables) if !tables.is_empty() => {
                tracing::debug!(%view, ?tables, "analyzed tables with stale statistics");
            }
            Ok(_) => {}
            Err(error) => tracing::warn!(%view, %error, "cannot refresh table statistics"),
        }
        running.store(false, Ordering::Release);
    });
}

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
//! Decisions:
//! - A table that holds rows and was never analyzed (`pg_class.reltuples < 0`, which
//!   `ANALYZE` sets at once, where the modification counts reach the statistics views up to a
//!   second after a commit) is stale. That first one matters most: until a table has
//!   statistics, the planner guesses every index at one row and may probe `(tenant,
//!   webhook_id, status, created_at)` instead of the primary key, reading a webhook's every
//!   delivery per key, so a fresh view's first large batches took seconds (measured: 0.9 s
//!   for the lookup of 2,000 keys in a table of 3,700 rows, 6 ms once analyzed).
//! - So is a table with more than 50 rows plus as many as it held at its last analyze
//!   modified since: a growing table has about doubled, as in `crate::rebuild`'s fill.
//!   Autovacuum's rule takes a tenth of the rows instead, which analyzed a growing table at
//!   every tenth of its growth, each time sorting a sample of up to 30,000 rows per column: a
//!   fifth of PostgreSQL's CPU in a deployed run at 1 webhook while the deliveries grew from
//!   empty (BENCHMARKS.md, issue 14). The plan needs the statistics' shape (a unique `id`,
//!   few webhooks), which a table twice as small has too: the planner scales the row count by
//!   the table's current size, and a unique column's distinct count is kept as a fraction.
//!   Statistics from a few dozen rows only, never refreshed, did not do: in one run of four
//!   the deliveries view then fell 20 s behind (the plan was not caught, the cause inferred).
//!
//! Checked at most every [`CHECK_EVERY`] by the projector, and
//! the `ANALYZE` runs on a pool connection in a task of its own, never on the writer's
//! connection: it takes a lock that does not block writes, and a batch does not wait
//! for it. When autovacuum does its job, the check finds nothing to do.
//!
//! The big tables are analyzed on the columns queries use only (`crate::rebuild::analyzed_columns`),
//! and PostgreSQL resets `n_mod_since_analyze` only after an `ANALYZE` of every column: so a
//! [`Statistics`] remembers the count each table had when it last analyzed it and measures
//! staleness from there (a count below that one was reset by a full analyze: from zero).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use sqlx::PgPool;
use tokio::task::JoinHandle;

use crate::rebuild::analyzed_columns;
use crate::{ProjectionError, View};

/// How often a projector looks for stale statistics (one query on `pg_stat_user_tables`; a
/// table growing from empty needs new ones within seconds).
const CHECK_EVERY: Duration = Duration::from_secs(1);

/// Whether a table that held `analyzed_rows` at its last analyze (`pg_class.reltuples`, which
/// an analyze of some columns sets too) and has had `modified` rows changed since needs
/// another: more than 50 plus as many as it held, so a growing table has about doubled (see
/// the module docs). Autovacuum's rule is the same with a tenth of `analyzed_rows`.
fn is_stale(modified: i64, analyzed_rows: f64) -> bool {
    modified as f64 > 50.0 + analyzed_rows
}

/// The statistics refresh of one view's writer: see the module docs.
#[derive(Debug, Default)]
pub struct Statistics {
    /// Per table: `n_mod_since_analyze` when this refresh last analyzed it.
    baselines: Mutex<HashMap<String, i64>>,
    /// The refresh started last, until [`Statistics::finish`] awaits it.
    task: Mutex<Option<JoinHandle<()>>>,
    /// When [`Statistics::refresh_if_due`] last started a refresh.
    checked: Mutex<Option<Instant>>,
}

impl Statistics {
    /// The live tables of `view` whose statistics are missing or stale, with their
    /// modification counts now.
    async fn stale(
        &self,
        pool: &PgPool,
        view: View,
    ) -> Result<Vec<(String, i64)>, ProjectionError> {
        let rows: Vec<(String, i64, f64, bool)> = sqlx::query_as(
            "SELECT s.relname::text, s.n_mod_since_analyze, greatest(c.reltuples, 0)::float8,
                    c.reltuples < 0 AND pg_relation_size(c.oid) > 0
               FROM pg_stat_user_tables s JOIN pg_class c ON c.oid = s.relid
              WHERE s.schemaname = current_schema() AND s.relname = ANY($1)
              ORDER BY s.relname",
        )
        .bind(view.tables())
        .fetch_all(pool)
        .await?;
        let baselines = self.baselines.lock().expect("statistics baselines");
        Ok(rows
            .into_iter()
            .filter(|(table, modified, analyzed_rows, never)| {
                let base = baselines.get(table).copied().unwrap_or(0);
                let since = if *modified >= base {
                    modified - base
                } else {
                    *modified
                };
                *never || is_stale(since, *analyzed_rows)
            })
            .map(|(table, modified, _, _)| (table, modified))
            .collect())
    }

    /// `ANALYZE`s the stale tables of `view`; answers which.
    pub async fn refresh(&self, pool: &PgPool, view: View) -> Result<Vec<String>, ProjectionError> {
        let tables = self.stale(pool, view).await?;
        for (table, modified) in &tables {
            let columns = analyzed_columns(table);
            sqlx::query(&format!("ANALYZE {table} {columns}"))
                .execute(pool)
                .await?;
            // A full analyze resets the count; one of some columns leaves it as it was.
            let base = if columns.is_empty() { 0 } else { *modified };
            self.baselines
                .lock()
                .expect("statistics baselines")
                .insert(table.clone(), base);
        }
        Ok(tables.into_iter().map(|(t, _)| t).collect())
    }

    /// Starts [`Statistics::refresh`] in a task, at most every [`CHECK_EVERY`] and unless one
    /// still runs.
    pub(crate) fn refresh_if_due(self: &Arc<Self>, pool: &PgPool, view: View) {
        {
            let mut checked = self.checked.lock().expect("statistics check time");
            if checked.is_some_and(|at| at.elapsed() < CHECK_EVERY) {
                return;
            }
            *checked = Some(Instant::now());
        }
        let mut task = self.task.lock().expect("statistics task");
        if task.as_ref().is_some_and(|running| !running.is_finished()) {
            return;
        }
        let (pool, this) = (pool.clone(), self.clone());
        *task = Some(tokio::spawn(async move {
            match this.refresh(&pool, view).await {
                Ok(tables) if !tables.is_empty() => {
                    tracing::debug!(%view, ?tables, "analyzed tables with stale statistics");
                }
                Ok(_) => {}
                Err(error) => tracing::warn!(%view, %error, "cannot refresh table statistics"),
            }
        }));
    }

    /// Waits for a refresh still running, so that a projector that stops leaves no query
    /// behind on the pool (an `ANALYZE` of the columns queries use takes milliseconds to a
    /// few hundred of them).
    pub(crate) async fn finish(&self) {
        let task = self.task.lock().expect("statistics task").take();
        if let Some(task) = task
            && let Err(error) = task.await
        {
            tracing::warn!(%error, "a statistics refresh ended abnormally");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::is_stale;

    #[test]
    fn a_table_is_stale_once_it_has_about_doubled() {
        // Rows written since an analyze of 1,000: a tenth (autovacuum's rule) is not enough.
        assert!(!is_stale(100, 1_000.0));
        assert!(!is_stale(1_050, 1_000.0));
        assert!(is_stale(1_051, 1_000.0));
        assert!(!is_stale(50, 0.0));
        assert!(is_stale(51, 0.0));
    }
}

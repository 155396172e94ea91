//! The single-writer rule: a PostgreSQL advisory lock per view, held on a dedicated connection.
//!
//! The projector writes its batches **on the connection that holds the lock**. If that
//! connection dies (Postgres restart, `pg_terminate_backend`), the lock and the in-flight batch
//! die with it, so no replica can ever write without holding the lock.
//!
//! A rebuild takes a second lock (`rebuild_lock`) first, then waits for the writer lock. Live
//! projectors look for the rebuild lock inside every batch transaction (a shared, transaction
//! scoped try-lock) and whenever they sit idle; when they see it, they release the writer lock
//! and stand aside until the rebuild has swapped its tables in.

use sqlx::{Connection, PgConnection, PgPool};

use crate::{ProjectionError, View};

/// The writer lock of one view, and the connection that holds it (closing the connection
/// releases the lock).
pub(crate) struct WriterLock {
    conn: PgConnection,
}

impl WriterLock {
    /// Takes the writer lock of `view` if it is free and no rebuild of the view is under way.
    pub(crate) async fn try_acquire(
        pool: &PgPool,
        view: View,
    ) -> Result<Option<Self>, ProjectionError> {
        let mut conn = PgConnection::connect_with(&pool.connect_options()).await?;
        let (locked,): (bool,) = sqlx::query_as("SELECT pg_try_advisory_lock($1)")
            .bind(view.writer_lock())
            .fetch_one(&mut conn)
            .await?;
        if !locked {
            conn.close().await.ok();
            return Ok(None);
        }
        let mut lock = Self { conn };
        if lock.rebuild_requested(view).await? {
            lock.conn.close().await.ok();
            return Ok(None);
        }
        Ok(Some(lock))
    }

    /// Waits for the writer lock of `view` (a rebuild, which has made projectors stand aside).
    pub(crate) async fn acquire(pool: &PgPool, view: View) -> Result<Self, ProjectionError> {
        let mut conn = PgConnection::connect_with(&pool.connect_options()).await?;
        sqlx::query("SELECT pg_advisory_lock($1)")
            .bind(view.writer_lock())
            .execute(&mut conn)
            .await?;
        Ok(Self { conn })
    }

    /// The connection that holds the lock; batches run their transactions on it.
    pub(crate) fn conn(&mut self) -> &mut PgConnection {
        &mut self.conn
    }

    /// True when a rebuild of `view` holds the rebuild lock (outside a transaction).
    pub(crate) async fn rebuild_requested(&mut self, view: View) -> Result<bool, ProjectionError> {
        let (requested,): (bool,) = sqlx::query_as(
            "SELECT CASE WHEN pg_try_advisory_lock_shared($1) THEN NOT pg_advisory_unlock_shared($1) ELSE true END",
        )
        .bind(view.rebuild_lock())
        .fetch_one(&mut self.conn)
        .await?;
        Ok(requested)
    }

    /// Releases the lock by closing its connection.
    pub(crate) async fn release(self) {
        self.conn.close().await.ok();
    }
}

/// At the start of a batch transaction, in one round trip: `None` when a rebuild of `view` has
/// asked projectors to stand aside (the shared lock taken here is released at commit or
/// rollback), otherwise the view's checkpoint (0 before its first batch), its row locked
/// until the transaction ends.
pub(crate) async fn batch_checkpoint(
    tx: &mut PgConnection,
    view: View,
) -> Result<Option<u64>, ProjectionError> {
    // set_config(…, true) is SET LOCAL, at no extra round trip: this transaction commits
    // without waiting for the WAL flush (see crate::projector), and its statements are planned
    // for their parameters each time, with nested loops only. A batch's statements look rows
    // up by the keys of its messages, which is always a probe of the primary key per key:
    // - a generic plan cached while a table was tiny (every index estimated at one row)
    //   stays on this long-lived connection, and for the deliveries fold's lookup it probed
    //   `(tenant, webhook_id, …)` and filtered on `id`, reading a webhook's every delivery per
    //   key (see `crate::rebuild::fill_deliveries`);
    // - a plan made for a batch's 2,000 keys prefers a hash or merge join over a full scan
    //   of the table: measured, the deliveries view then fell minutes behind at 9,000
    //   deliveries/s.
    let (free, sequence, _, _, _, _): (bool, Option<i64>, String, String, String, String) = sqlx::query_as(
        "SELECT pg_try_advisory_xact_lock_shared($1), c.sequence,
                set_config('synchronous_commit', 'off', true),
                set_config('plan_cache_mode', 'force_custom_plan', true),
                set_config('enable_hashjoin', 'off', true),
                set_config('enable_mergejoin', 'off', true)
           FROM (SELECT) AS one
           LEFT JOIN LATERAL (SELECT sequence FROM projection_checkpoints WHERE view = $2 FOR UPDATE) AS c ON true",
    )
    .bind(view.rebuild_lock())
    .bind(view.name())
    .fetch_one(tx)
    .await?;
    Ok(free.then(|| sequence.map_or(0, crate::checkpoint::to_u64)))
}

/// The rebuild lock of `view`, held on its own connection for the whole rebuild.
pub(crate) struct RebuildLock {
    conn: PgConnection,
}

impl RebuildLock {
    /// Waits until no other rebuild of `view` runs and no batch is in flight, then holds it.
    pub(crate) async fn acquire(pool: &PgPool, view: View) -> Result<Self, ProjectionError> {
        let mut conn = PgConnection::connect_with(&pool.connect_options()).await?;
        sqlx::query("SELECT pg_advisory_lock($1)")
            .bind(view.rebuild_lock())
            .execute(&mut conn)
            .await?;
        Ok(Self { conn })
    }

    pub(crate) async fn release(self) {
        self.conn.close().await.ok();
    }
}

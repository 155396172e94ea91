//! `projection_checkpoints`: the last stream sequence each view has applied.
//!
//! A checkpoint only moves inside the transaction that applies its batch, so after any crash
//! the view and its checkpoint agree, and the projector resumes at `checkpoint + 1`.

use sqlx::{PgConnection, PgPool};

use crate::{ProjectionError, View};

/// The checkpoint of `view` (0 when the view has applied nothing).
pub(crate) async fn read(conn: &mut PgConnection, view: View) -> Result<u64, ProjectionError> {
    let row: Option<(i64,)> =
        sqlx::query_as("SELECT sequence FROM projection_checkpoints WHERE view = $1")
            .bind(view.name())
            .fetch_optional(conn)
            .await?;
    Ok(row.map_or(0, |(s,)| to_u64(s)))
}

/// The checkpoint of `view`, read from the pool (for waits in a replica that is not the writer).
pub(crate) async fn read_pool(pool: &PgPool, view: View) -> Result<u64, ProjectionError> {
    let mut conn = pool.acquire().await?;
    read(&mut conn, view).await
}

/// Moves the checkpoint of `view` to `sequence` (inside the batch's transaction).
pub(crate) async fn write(
    tx: &mut PgConnection,
    view: View,
    sequence: u64,
) -> Result<(), ProjectionError> {
    sqlx::query(
        "INSERT INTO projection_checkpoints (view, sequence, updated_at) VALUES ($1, $2, now())
         ON CONFLICT (view) DO UPDATE SET sequence = EXCLUDED.sequence, updated_at = EXCLUDED.updated_at",
    )
    .bind(view.name())
    .bind(to_i64(sequence))
    .execute(tx)
    .await?;
    Ok(())
}

/// Every view's checkpoint, by view name (views that never ran are absent).
pub(crate) async fn all(pool: &PgPool) -> Result<Vec<(String, i64)>, ProjectionError> {
    Ok(
        sqlx::query_as("SELECT view, sequence FROM projection_checkpoints ORDER BY view")
            .fetch_all(pool)
            .await?,
    )
}

pub(crate) fn to_i64(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

pub(crate) fn to_u64(n: i64) -> u64 {
    u64::try_from(n).unwrap_or(0)
}

//! Blue/green rebuild: refill a view from sequence 1 into shadow tables, then swap them in.
//!
//! 1. Take the view's rebuild lock, then its writer lock: live projectors (in any replica)
//!    notice the rebuild lock within a batch or an idle second, release the writer lock and
//!    stand aside.
//! 2. Read the stream's head, create `<table>_shadow` for each table of the view (`LIKE …
//!    INCLUDING ALL`: same columns, constraints and indexes) and apply every message from 1 to
//!    the head to them, in large batches, with the projector's own apply code.
//! 3. In **one transaction**: rename each live table away, rename its shadow in, drop the old
//!    one, give the indexes back their usual names, and set the checkpoint to the head.
//! 4. Release the locks; projectors resume from the head.
//!
//! Reads keep using the live tables until the swap commits; they never see a half-built view.

use std::time::{Duration, Instant};

use futures::StreamExt;
use hookledger_domain::ledger::Nats;
use sqlx::{Connection, PgConnection, PgPool};

use crate::lock::{RebuildLock, WriterLock};
use crate::projector::fill_batch;
use crate::view::Target;
use crate::{ProjectionError, View, apply, checkpoint};

/// Messages per transaction while refilling (larger than live batches: nobody waits on them).
const REBUILD_BATCH: usize = 5_000;

/// What a rebuild did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RebuildReport {
    pub views: Vec<ViewRebuilt>,
}

/// One rebuilt view.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ViewRebuilt {
    pub view: View,
    /// Messages applied.
    pub messages: u64,
    /// The checkpoint after the swap (the stream's head when the rebuild started).
    pub checkpoint: u64,
    pub elapsed: Duration,
}

/// Rebuilds `views` (each once, in order), calling `progress(done, total)` with message
/// counts over all of them as it goes.
pub async fn rebuild(
    nats: &Nats,
    pool: &PgPool,
    views: &[View],
    progress: impl Fn(u64, u64),
) -> Result<RebuildReport, ProjectionError> {
    let mut wanted: Vec<View> = views.to_vec();
    wanted.sort();
    wanted.dedup();
    let mut locks = Vec::new();
    let mut total = 0;
    for &view in &wanted {
        let rebuild_lock = RebuildLock::acquire(pool, view).await?;
        let writer = WriterLock::acquire(pool, view).await?;
        let head = nats.head(view.stream()).await?;
        total += head;
        locks.push((view, rebuild_lock, writer, head));
    }
    let mut report = RebuildReport { views: Vec::new() };
    let mut done = 0;
    progress(0, total);
    for (view, rebuild_lock, mut writer, head) in locks {
        let started = Instant::now();
        let result = rebuild_one(nats, writer.conn(), view, head, |n| {
            progress(done + n, total)
        })
        .await;
        writer.release().await;
        rebuild_lock.release().await;
        let messages = result?;
        done += head;
        progress(done, total);
        report.views.push(ViewRebuilt {
            view,
            messages,
            checkpoint: head,
            elapsed: started.elapsed(),
        });
        tracing::info!(%view, messages, checkpoint = head, "view rebuilt and swapped in");
    }
    Ok(report)
}

/// Refills `view`'s shadow tables up to `head` on `conn` and swaps them in. Returns the
/// number of messages applied.
async fn rebuild_one(
    nats: &Nats,
    conn: &mut PgConnection,
    view: View,
    head: u64,
    progress: impl Fn(u64),
) -> Result<u64, ProjectionError> {
    for table in view.tables() {
        let shadow = Target::Shadow.table(table);
        sqlx::query(&format!("DROP TABLE IF EXISTS {shadow}"))
            .execute(&mut *conn)
            .await?;
        sqlx::query(&format!(
            "CREATE TABLE {shadow} (LIKE {table} INCLUDING ALL)"
        ))
        .execute(&mut *conn)
        .await?;
    }
    let mut applied = 0;
    if head > 0 {
        let names = nats.names().clone();
        let mut tail = nats.tail(view.stream(), &view.filter(&names), 1).await?;
        while let Some(first) = tail.next().await {
            let batch = fill_batch(&mut tail, first?, REBUILD_BATCH).await?;
            let upto: Vec<_> = batch.iter().filter(|m| m.sequence <= head).collect();
            let mut tx = conn.begin().await?;
            apply::apply(view, &mut tx, Target::Shadow, &names, &upto).await?;
            tx.commit().await?;
            applied += upto.len() as u64;
            let last = batch.last().map_or(head, |m| m.sequence);
            progress(last.min(head));
            if last >= head || batch.last().is_some_and(|m| m.pending == 0) {
                break;
            }
        }
    }
    swap(conn, view, head).await?;
    Ok(applied)
}

/// Swaps the shadow tables in and sets the checkpoint, in one transaction.
async fn swap(conn: &mut PgConnection, view: View, head: u64) -> Result<(), ProjectionError> {
    let mut tx = conn.begin().await?;
    for table in view.tables() {
        let shadow = Target::Shadow.table(table);
        sqlx::query(&format!("ALTER TABLE {table} RENAME TO {table}_replaced"))
            .execute(&mut *tx)
            .await?;
        sqlx::query(&format!("ALTER TABLE {shadow} RENAME TO {table}"))
            .execute(&mut *tx)
            .await?;
        sqlx::query(&format!("DROP TABLE {table}_replaced"))
            .execute(&mut *tx)
            .await?;
        let indexes: Vec<(String,)> = sqlx::query_as("SELECT indexname FROM pg_indexes WHERE schemaname = current_schema() AND tablename = $1")
            .bind(table)
            .fetch_all(&mut *tx)
            .await?;
        for (index,) in indexes {
            if let Some(rest) = index.strip_prefix(&shadow) {
                sqlx::query(&format!(
                    "ALTER INDEX \"{index}\" RENAME TO \"{table}{rest}\""
                ))
                .execute(&mut *tx)
                .await?;
            }
        }
    }
    checkpoint::write(&mut tx, view, head).await?;
    tx.commit().await?;
    Ok(())
}

/// [`rebuild`] with an indicatif progress bar on stderr (messages done, rate, ETA), for the
/// `hookledger projections rebuild` command.
pub async fn with_progress_bar(
    nats: &Nats,
    pool: &PgPool,
    views: &[View],
) -> Result<RebuildReport, ProjectionError> {
    let bar = indicatif::ProgressBar::new(0);
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "{spinner} [{elapsed_precise}] {wide_bar} {pos}/{len} events  {per_sec}  ETA {eta}",
        )
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    let report = rebuild(nats, pool, views, |done, total| {
        bar.set_length(total);
        bar.set_position(done);
    })
    .await;
    bar.finish();
    report
}

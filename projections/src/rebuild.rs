//! Blue/green rebuild: refill a view from sequence 1 into shadow tables, then swap them in.
//!
//! 1. Take the view's rebuild lock, then its writer lock: live projectors (in any replica)
//!    notice the rebuild lock within a batch or an idle second, release the writer lock and
//!    stand aside.
//! 2. Read the stream's head, create `<table>_shadow` for each table of the view (`LIKE …
//!    INCLUDING ALL`: same columns, constraints and indexes; the big append-only tables,
//!    `events_archive` and `webhook_history`, without indexes until they are full) and apply
//!    every message from 1 to the head to them, in large batches. The deliveries view uses the
//!    projector's own apply code; the ledger view uses `apply::LedgerBulk` (the same
//!    fold, carried in memory from batch to batch, rows streamed with `COPY` while the next
//!    batch is folded). Batches do not wait for WAL flushes (`synchronous_commit = off`).
//!    The deliveries view's shadow tables are `ANALYZE`d as they fill (after the first batch,
//!    then each time the fill has doubled), so its per-batch lookups stay index probes.
//! 3. Give the shadow tables their remaining indexes, `ANALYZE` them.
//! 4. In **one transaction**: rename each live table away, rename its shadow in, drop the old
//!    one, give the indexes back their usual names, and set the checkpoint to the head.
//! 5. Release the locks; projectors resume from the head.
//!
//! Reads keep using the live tables until the swap commits; they never see a half-built view.

use std::time::{Duration, Instant};

use futures::StreamExt;
use hookledger_domain::ledger::Nats;
use hookledger_domain::ledger::reader::{RawMessage, Tail};
use sqlx::{Connection, PgConnection, PgPool};
use tokio::sync::mpsc;

use crate::apply::LedgerBulk;
use crate::lock::{RebuildLock, WriterLock};
use crate::projector::fill_batch;
use crate::view::Target;
use crate::{ProjectionError, View, apply, checkpoint};

/// Messages per batch while refilling (larger than live batches: nobody waits on them; small
/// enough that reading, folding and copying overlap well).
const REBUILD_BATCH: usize = 2_000;
/// How long a refill batch waits for the rest of its messages. A rebuild reads a backlog, so a
/// batch fills in milliseconds and only the last one waits this long; but the first batch is
/// the sample of the first `ANALYZE` ([`fill_deliveries`]), and one cut short by a slow first
/// fetch (a few dozen rows) gave statistics on which the second batch's lookup still probed the
/// status index.
const REBUILD_LINGER: Duration = Duration::from_millis(200);

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
/// counts over all of them as it goes. The library draws nothing itself: the CLI turns the
/// calls into a progress bar, the bench ignores them.
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
        let result = rebuild_one(nats, pool, writer.conn(), view, head, |n| {
            progress(done + n, total)
        })
        .await;
        writer.release().await;
        rebuild_lock.release().await;
        let messages = result?;
        done += head;
        progress(done, total);
        let elapsed = started.elapsed();
        let per_second = (messages as f64 / elapsed.as_secs_f64().max(1e-9)).round();
        tracing::info!(%view, messages, checkpoint = head, ?elapsed, per_second, "view rebuilt and swapped in");
        report.views.push(ViewRebuilt {
            view,
            messages,
            checkpoint: head,
            elapsed,
        });
    }
    Ok(report)
}

/// The tables filled by `COPY` and only written, never read, during a rebuild: their shadows
/// get their indexes (and primary key) once full, which is much cheaper than maintaining them
/// row by row.
const INDEXED_WHEN_FULL: [&str; 2] = ["events_archive", "webhook_history"];

/// Tables whose statistics (gathered before the swap, and by `crate::statistics` as the live
/// tables grow) cover only these columns, those queries filter, join and sort on: statistics on
/// the big JSON and text columns (bodies, headers, errors) would cost more than the rest of a
/// rebuild, and were a fifth of PostgreSQL's time in a deployed run while the deliveries grew.
/// Row counts and sizes are gathered whatever the columns. Autovacuum gathers the rest later.
const ANALYZE_ONLY: [(&str, &str); 4] = [
    (
        "deliveries",
        "(tenant, webhook_id, id, event_id, event_type, status, created_at)",
    ),
    (
        "delivery_attempts",
        "(tenant, webhook_id, delivery_id, attempt, at, outcome)",
    ),
    (
        "webhook_history",
        "(tenant, webhook_id, sequence, valid_from, valid_to)",
    ),
    (
        "events_archive",
        "(aggregate_type, aggregate_id, sequence, event_type)",
    ),
];

/// Refills `view`'s shadow tables up to `head` on `conn` and swaps them in. Returns the
/// number of messages applied.
async fn rebuild_one(
    nats: &Nats,
    pool: &PgPool,
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
        let indexes = if INDEXED_WHEN_FULL.contains(table) {
            " EXCLUDING INDEXES"
        } else {
            ""
        };
        sqlx::query(&format!(
            "CREATE TABLE {shadow} (LIKE {table} INCLUDING ALL{indexes})"
        ))
        .execute(&mut *conn)
        .await?;
    }
    let applied = match view {
        _ if head == 0 => 0,
        View::Ledger => fill_ledger(nats, pool, conn, head, &progress).await?,
        View::Deliveries => {
            // The fold looks up each batch's deliveries by primary key in the shadow table.
            // Probing that index is always right here (a batch's keys are few, the table
            // large), but given the batch's 2,000 keys the planner prefers a hash or merge
            // join over a full scan of the table (or of an index), once per batch, even with
            // statistics; the session is the rebuild's own. Which index it probes is settled
            // by the statistics `fill_deliveries` gathers.
            sqlx::query("SET enable_hashjoin = off")
                .execute(&mut *conn)
                .await?;
            sqlx::query("SET enable_mergejoin = off")
                .execute(&mut *conn)
                .await?;
            let filled = fill_deliveries(nats, conn, head, &progress).await;
            sqlx::query("RESET enable_hashjoin")
                .execute(&mut *conn)
                .await?;
            sqlx::query("RESET enable_mergejoin")
                .execute(&mut *conn)
                .await?;
            filled?
        }
    };
    let indexing = Instant::now();
    // The big tables get their indexes and statistics side by side, each on a connection of
    // its own (index builds are CPU-bound sorts); the small ones are analyzed meanwhile.
    let big = view
        .tables()
        .iter()
        .filter(|t| INDEXED_WHEN_FULL.contains(t))
        .map(|table| async move {
            let mut own = PgConnection::connect_with(&pool.connect_options()).await?;
            let shadow = Target::Shadow.table(table);
            for statement in index_statements(&mut own, table, &shadow).await? {
                sqlx::query(&statement).execute(&mut own).await?;
            }
            analyze(&mut own, table).await?;
            own.close().await.ok();
            Ok::<_, ProjectionError>(())
        });
    let small = async {
        for table in view.tables() {
            if !INDEXED_WHEN_FULL.contains(table) {
                analyze(conn, table).await?;
            }
        }
        Ok::<_, ProjectionError>(())
    };
    futures::future::try_join(futures::future::try_join_all(big), small).await?;
    tracing::debug!(%view, elapsed = ?indexing.elapsed(), "rebuild: indexes built, tables analyzed");
    swap(conn, view, head).await?;
    Ok(applied)
}

/// The column list `ANALYZE` of `table` takes (see [`ANALYZE_ONLY`]; empty: every column).
pub(crate) fn analyzed_columns(table: &str) -> &'static str {
    ANALYZE_ONLY
        .iter()
        .find(|(t, _)| *t == table)
        .map_or("", |(_, columns)| columns)
}

/// `ANALYZE`s the shadow of `table` (see [`ANALYZE_ONLY`]).
async fn analyze(conn: &mut PgConnection, table: &str) -> Result<(), ProjectionError> {
    sqlx::query(&format!(
        "ANALYZE {} {}",
        Target::Shadow.table(table),
        analyzed_columns(table)
    ))
    .execute(conn)
    .await?;
    Ok(())
}

/// The statements giving `shadow` the indexes and index-backed constraints of `table`, named
/// as the swap expects (`<shadow><rest of the live name>`).
async fn index_statements(
    conn: &mut PgConnection,
    table: &str,
    shadow: &str,
) -> Result<Vec<String>, ProjectionError> {
    let indexes: Vec<(String, String, Option<String>)> = sqlx::query_as(
        "SELECT c.relname::text, pg_get_indexdef(i.indexrelid), pg_get_constraintdef(con.oid)
           FROM pg_index i
           JOIN pg_class c ON c.oid = i.indexrelid
           LEFT JOIN pg_constraint con
             ON con.conindid = i.indexrelid AND con.conrelid = i.indrelid AND con.contype IN ('p', 'u', 'x')
          WHERE i.indrelid = $1::text::regclass
          ORDER BY con.oid IS NULL, c.relname",
    )
    .bind(table)
    .fetch_all(&mut *conn)
    .await?;
    indexes
        .into_iter()
        .map(|(name, definition, constraint)| {
            let name = match name.strip_prefix(table) {
                Some(rest) => format!("{shadow}{rest}"),
                None => format!("{shadow}_{name}"),
            };
            if let Some(constraint) = constraint {
                return Ok(format!(
                    "ALTER TABLE {shadow} ADD CONSTRAINT \"{name}\" {constraint}"
                ));
            }
            let using = definition.find(" USING ").ok_or_else(|| {
                ProjectionError::corrupt_because(format!(
                    "unexpected index definition: {definition}"
                ))
            })?;
            let unique = if definition.starts_with("CREATE UNIQUE") {
                "UNIQUE "
            } else {
                ""
            };
            Ok(format!(
                "CREATE {unique}INDEX \"{name}\" ON {shadow}{}",
                &definition[using..]
            ))
        })
        .collect()
}

/// The ledger view's fill: messages parsed in the read-ahead task, folded and queued by
/// [`LedgerBulk`], whose writer copies them in meanwhile.
async fn fill_ledger(
    nats: &Nats,
    pool: &PgPool,
    conn: &mut PgConnection,
    head: u64,
    progress: &impl Fn(u64),
) -> Result<u64, ProjectionError> {
    let view = View::Ledger;
    let names = nats.names().clone();
    let mut bulk = LedgerBulk::open(pool, names.clone()).await?;
    let tail = nats.tail(view.stream(), &view.filter(&names), 1).await?;
    let mut batches = read_ahead(tail, head, |batch| LedgerBulk::parse(&batch));
    let mut applied = 0;
    let mut waited = Instant::now();
    while let Some(batch) = batches.recv().await {
        let (entries, last) = batch?;
        let started = Instant::now();
        bulk.apply(conn, &entries).await?;
        tracing::debug!(%view, messages = entries.len(), wait = ?(started - waited), apply = ?started.elapsed(), "rebuild batch");
        waited = Instant::now();
        applied += entries.len() as u64;
        progress(last);
    }
    let finishing = Instant::now();
    bulk.finish(conn).await?;
    tracing::debug!(%view, elapsed = ?finishing.elapsed(), "rebuild: rows written");
    Ok(applied)
}

/// The deliveries view's fill: the projector's own apply code, one transaction per batch.
///
/// The shadow tables are `ANALYZE`d after the first batch and each time the fill has doubled
/// since (see [`next_analyze`]). Without statistics, a fresh table's planner estimates clamp to
/// one row, so every index whose leading columns a batch's keys match costs the same: the
/// plan the connection caches for the fold's lookup (sqlx prepares it once, PostgreSQL keeps
/// a generic plan after five runs) probed `(tenant, webhook_id, status, created_at)` on
/// `(tenant, webhook_id)` and filtered on `id`, reading every delivery of the webhook for each
/// key: measured at 200,000 deliveries, 91 million index tuples read for 135,000 rows
/// written, and batches slowing from 0.2 to over 1 s. Nothing replaces a cached plan while
/// the table only grows; `ANALYZE` both gives the planner the columns' distinct counts (the
/// primary key is then the one cheap probe) and invalidates the cached plans. Doubling keeps
/// the estimates near the truth at a cost logarithmic in the stream (each `ANALYZE` reads a
/// bounded sample).
async fn fill_deliveries(
    nats: &Nats,
    conn: &mut PgConnection,
    head: u64,
    progress: &impl Fn(u64),
) -> Result<u64, ProjectionError> {
    let view = View::Deliveries;
    let names = nats.names().clone();
    let tail = nats.tail(view.stream(), &view.filter(&names), 1).await?;
    let mut batches = read_ahead(tail, head, Ok);
    let mut applied = 0;
    let mut analyze_at = next_analyze(0);
    let mut waited = Instant::now();
    while let Some(batch) = batches.recv().await {
        let (batch, last) = batch?;
        let started = Instant::now();
        let upto: Vec<&RawMessage> = batch.iter().collect();
        let mut tx = conn.begin().await?;
        // Nothing reads the shadow tables before the swap, whose commit is synchronous: no
        // need to wait for each batch's WAL flush.
        sqlx::query("SET LOCAL synchronous_commit = off")
            .execute(&mut *tx)
            .await?;
        apply::apply(view, &mut tx, Target::Shadow, &names, &upto).await?;
        tx.commit().await?;
        applied += upto.len() as u64;
        let applying = started.elapsed();
        if applied >= analyze_at {
            let analyzing = Instant::now();
            for table in view.tables() {
                analyze(conn, table).await?;
            }
            analyze_at = next_analyze(applied);
            tracing::debug!(%view, applied, elapsed = ?analyzing.elapsed(), "rebuild: shadow tables analyzed");
        }
        tracing::debug!(%view, messages = upto.len(), wait = ?(started - waited), apply = ?applying, "rebuild batch");
        waited = Instant::now();
        progress(last);
    }
    Ok(applied)
}

/// After how many applied messages the deliveries fill next `ANALYZE`s its shadow tables,
/// having just done so at `applied` (the first time: 0, i.e. after the first batch).
fn next_analyze(applied: u64) -> u64 {
    applied.saturating_mul(2).max(1)
}

/// Reads a stream from its start up to `head` in batches of up to [`REBUILD_BATCH`], in a task
/// of its own, and hands each batch through `prepare` there, with the last sequence it covers:
/// the next batch is read (and prepared) while the current one is applied. The task ends after
/// the batch that reaches `head`, at the first error, or when the receiver is dropped.
fn read_ahead<T: Send + 'static>(
    mut tail: Tail,
    head: u64,
    prepare: impl Fn(Vec<RawMessage>) -> Result<T, ProjectionError> + Send + 'static,
) -> mpsc::Receiver<Result<(T, u64), ProjectionError>> {
    let (sender, receiver) = mpsc::channel(1);
    tokio::spawn(async move {
        loop {
            let next = tokio::select! {
                _ = sender.closed() => return,
                next = tail.next() => next,
            };
            let Some(first) = next else { return };
            let batch = match first {
                Ok(first) => fill_batch(&mut tail, first, REBUILD_BATCH, REBUILD_LINGER).await,
                Err(e) => Err(e.into()),
            };
            let last = batch.as_ref().ok().and_then(|b| b.last());
            let done = last.is_none_or(|m| m.sequence >= head || m.pending == 0);
            let batch = batch.and_then(|mut b| {
                b.retain(|m| m.sequence <= head);
                let last = b.last().map_or(head, |m| m.sequence);
                Ok((prepare(b)?, last))
            });
            if sender.send(batch).await.is_err() || done {
                return;
            }
        }
    });
    receiver
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

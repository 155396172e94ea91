//! `stream_archive`: published events (`EVENTS`) and delivery facts (`DELIVERIES`) copied to
//! PostgreSQL as they arrive, so they outlive the streams' retention (`nats.events_max_age_days`,
//! `nats.deliveries_max_age_days`) and an audit export over an old range still answers.
//!
//! Decisions:
//! - One row per stream message with the payload as stored (bytes), its subject, sequence and
//!   stream time (exact, in nanoseconds, besides a `timestamptz` for people), plus the tenant and webhook parsed from the subject for filtering: a row
//!   turns back into exactly the message it was, and the audit record built from it equals
//!   the one built from JetStream.
//! - Not a projection: it is the only copy once JetStream drops a message, so a rebuild never
//!   touches it and nothing deletes from it. Its checkpoint is the highest sequence it holds
//!   per stream; inserts are `ON CONFLICT DO NOTHING`, so replicas that all run it (the
//!   projector role) and restarts stay correct, at the price of duplicate work.
//! - The archiver follows each stream with an ordered consumer and writes a batch of what
//!   arrives within [`LINGER`] of its first message, at most [`BATCH`]. It must keep up well
//!   within the retention: a message that expires before the archiver reached it is lost to
//!   the archive (the lag is logged).

use std::time::Duration;

use chrono::{DateTime, Utc};
use futures::{StreamExt, TryStreamExt};
use hookledger_domain::ledger::Nats;
use hookledger_domain::ledger::reader::{RawMessage, StreamKind};
use sqlx::PgPool;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::ProjectionError;

/// Messages written per statement at most.
pub const BATCH: usize = 1_000;
/// How long a batch waits for more messages after its first: the archive must keep up within
/// the streams' retention (days), not within milliseconds, and a statement per few dozen
/// messages (what arrives during one insert at thousands a second) was most of its cost.
const LINGER: Duration = Duration::from_millis(200);

/// The `stream` column of `kind` (`events` or `deliveries`); the ledger is never archived here
/// (it is kept forever, and `events_archive` already copies it).
pub fn stream_name(kind: StreamKind) -> &'static str {
    match kind {
        StreamKind::Events => "events",
        StreamKind::Deliveries => "deliveries",
        StreamKind::Ledger => "ledger",
    }
}

/// `(tenant, webhook id)` of a message of `kind`, from its subject.
fn owner<'s>(nats: &Nats, kind: StreamKind, subject: &'s str) -> (&'s str, Option<&'s str>) {
    let names = nats.names();
    match kind {
        StreamKind::Events => (
            names.parse_event_subject(subject).map_or("", |(t, _)| t),
            None,
        ),
        _ => {
            let rest = subject
                .strip_prefix(names.prefix())
                .and_then(|s| s.strip_prefix(".delivery."))
                .unwrap_or("");
            let mut tokens = rest.split('.');
            (tokens.next().unwrap_or(""), tokens.next())
        }
    }
}

/// The highest sequence archived of `kind` (0 when none).
pub async fn checkpoint(pool: &PgPool, kind: StreamKind) -> Result<u64, ProjectionError> {
    let (max,): (Option<i64>,) =
        sqlx::query_as("SELECT max(sequence) FROM stream_archive WHERE stream = $1")
            .bind(stream_name(kind))
            .fetch_one(pool)
            .await?;
    Ok(max.map_or(0, |m| u64::try_from(m).unwrap_or(0)))
}

/// Writes `batch` (messages of `kind`), skipping those already archived.
async fn write(
    nats: &Nats,
    pool: &PgPool,
    kind: StreamKind,
    batch: &[RawMessage],
) -> Result<(), ProjectionError> {
    if batch.is_empty() {
        return Ok(());
    }
    let (mut seq, mut subject, mut time, mut nanos) = (vec![], vec![], vec![], vec![]);
    let (mut tenant, mut webhook, mut payload) = (vec![], vec![], vec![]);
    let mut headers: Vec<serde_json::Value> = Vec::with_capacity(batch.len());
    for m in batch {
        let (t, w) = owner(nats, kind, &m.subject);
        seq.push(crate::checkpoint::to_i64(m.sequence));
        subject.push(m.subject.as_str());
        time.push(crate::apply::pg_time(m.time));
        nanos.push(unix_nanos(m.time));
        tenant.push(t);
        webhook.push(w);
        payload.push(m.payload.as_ref());
        headers.push(serde_json::json!(m.headers));
    }
    // `set_config(…, true)` in the statement is SET LOCAL for its implicit transaction: the
    // commit does not wait for the WAL flush. A crash can lose only the last commits, never
    // one in the middle, so the checkpoint (the highest sequence held) falls back with them
    // and they are copied again from JetStream, which still holds them. Waiting for the flush
    // made this the most expensive statement of a deployed run.
    sqlx::query(
        "INSERT INTO stream_archive (stream, sequence, subject, time, unix_nanos, tenant, webhook_id, payload, headers)
         SELECT $1, x.* FROM UNNEST($2::int8[], $3::text[], $4::timestamptz[], $5::int8[], $6::text[], $7::text[], $8::bytea[], $9::jsonb[]) AS x,
                (SELECT set_config('synchronous_commit', 'off', true)) AS local
         ON CONFLICT (stream, sequence) DO NOTHING",
    )
    .bind(stream_name(kind))
    .bind(&seq)
    .bind(&subject)
    .bind(&time)
    .bind(&nanos)
    .bind(&tenant)
    .bind(&webhook)
    .bind(&payload)
    .bind(&headers)
    .execute(pool)
    .await?;
    Ok(())
}

/// Copies every message of `kind` after the archive's checkpoint up to the stream's head as it
/// is now; answers how many were read. What `archive` does continuously, once.
pub async fn archive_to_head(
    nats: &Nats,
    pool: &PgPool,
    kind: StreamKind,
) -> Result<u64, ProjectionError> {
    let from = checkpoint(pool, kind).await? + 1;
    let head = nats.head(kind).await?;
    if head < from {
        return Ok(0);
    }
    let mut tail = nats.tail_with_headers(kind, "", from).await?;
    let mut batch = Vec::with_capacity(BATCH);
    let mut read = 0;
    while let Some(message) = tail.next().await {
        let message = message?;
        let last = message.sequence >= head;
        batch.push(message);
        read += 1;
        if last || batch.len() >= BATCH {
            write(nats, pool, kind, &batch).await?;
            batch.clear();
        }
        if last {
            break;
        }
    }
    Ok(read)
}

/// Follows `kind` from the archive's checkpoint until `shutdown`, writing what arrives within
/// [`LINGER`] of a batch's first message (at most [`BATCH`]) in one statement.
async fn follow(
    nats: &Nats,
    pool: &PgPool,
    kind: StreamKind,
    shutdown: &CancellationToken,
) -> Result<(), ProjectionError> {
    let from = checkpoint(pool, kind).await? + 1;
    let mut tail = nats.tail_with_headers(kind, "", from).await?;
    loop {
        let next = tokio::select! {
            () = shutdown.cancelled() => return Ok(()),
            next = tail.next() => next,
        };
        let Some(first) = next else {
            return Err(ProjectionError::corrupt_because(format!(
                "the {} reader ended",
                stream_name(kind)
            )));
        };
        let batch = crate::projector::fill_batch(&mut tail, first?, BATCH, LINGER).await?;
        write(nats, pool, kind, &batch).await?;
        let age: DateTime<Utc> = batch.last().map_or_else(Utc::now, |m| m.time);
        let lag = (Utc::now() - age).num_seconds();
        if lag > 3600 {
            tracing::warn!(
                stream = stream_name(kind),
                lag_seconds = lag,
                "the stream archive lags"
            );
        }
    }
}

/// Runs one archiver for each of `kinds` (`EVENTS`, `DELIVERIES`: the streams with a
/// retention) until `shutdown`; a failing one starts again from its checkpoint after a pause
/// that doubles up to a minute.
pub fn spawn(
    nats: Nats,
    pool: PgPool,
    kinds: Vec<StreamKind>,
    shutdown: CancellationToken,
    tracker: &TaskTracker,
) {
    for kind in kinds {
        let (nats, pool, shutdown) = (nats.clone(), pool.clone(), shutdown.clone());
        tracker.spawn(async move {
            let mut pause = Duration::from_millis(500);
            while !shutdown.is_cancelled() {
                match follow(&nats, &pool, kind, &shutdown).await {
                    Ok(()) => return,
                    Err(error) => {
                        tracing::warn!(stream = stream_name(kind), %error, "stream archiver failed; starting again");
                        tokio::select! {
                            () = shutdown.cancelled() => return,
                            () = tokio::time::sleep(pause) => {}
                        }
                        pause = (pause * 2).min(Duration::from_secs(60));
                    }
                }
            }
        });
    }
}

/// Rows read per query by [`read`].
const PAGE: i64 = 1_000;

/// Which archived messages an export reads.
#[derive(Debug, Clone, Default)]
pub struct ArchiveScope {
    pub tenant: Option<String>,
    pub webhook_id: Option<String>,
    pub since: Option<DateTime<Utc>>,
    pub until: Option<DateTime<Utc>>,
    /// Only sequences below this one (the first JetStream still holds for the read).
    pub before_sequence: Option<u64>,
}

type Row = (
    i64,
    String,
    i64,
    Vec<u8>,
    sqlx::types::Json<Vec<(String, String)>>,
);

/// Nanoseconds since the Unix epoch (saturating: stream times are well inside `i64`).
fn unix_nanos(t: DateTime<Utc>) -> i64 {
    t.timestamp_nanos_opt().unwrap_or(i64::MAX)
}

/// The archived messages of `kind` in `scope`, in sequence order, read a page at a time (keyset
/// on the sequence), so memory stays flat however many there are.
pub fn read(
    pool: PgPool,
    kind: StreamKind,
    scope: ArchiveScope,
) -> impl futures::Stream<Item = Result<RawMessage, ProjectionError>> + Send + 'static {
    let before = scope
        .before_sequence
        .map_or(i64::MAX, crate::checkpoint::to_i64);
    let pages = futures::stream::try_unfold(Some(0_i64), move |after| {
        let (pool, scope) = (pool.clone(), scope.clone());
        async move {
            let Some(after) = after else {
                return Ok(None);
            };
            let rows: Vec<Row> = sqlx::query_as(
                "SELECT sequence, subject, unix_nanos, payload, headers FROM stream_archive
                  WHERE stream = $1 AND sequence > $2 AND sequence < $3
                    AND ($4::text IS NULL OR tenant = $4)
                    AND ($5::text IS NULL OR webhook_id = $5)
                    AND ($6::int8 IS NULL OR unix_nanos >= $6)
                    AND ($7::int8 IS NULL OR unix_nanos <= $7)
                  ORDER BY sequence LIMIT $8",
            )
            .bind(stream_name(kind))
            .bind(after)
            .bind(before)
            .bind(scope.tenant.as_deref())
            .bind(scope.webhook_id.as_deref())
            .bind(scope.since.map(unix_nanos))
            .bind(scope.until.map(unix_nanos))
            .bind(PAGE)
            .fetch_all(&pool)
            .await?;
            let next = (rows.len() as i64 == PAGE).then(|| rows.last().map_or(after, |r| r.0));
            Ok::<_, ProjectionError>(Some((rows, next)))
        }
    });
    pages
        .map_ok(|rows| {
            futures::stream::iter(rows.into_iter().map(
                |(sequence, subject, nanos, payload, headers)| {
                    Ok(RawMessage {
                        subject,
                        sequence: u64::try_from(sequence).unwrap_or(0),
                        time: DateTime::from_timestamp_nanos(nanos),
                        payload: payload.into(),
                        pending: 0,
                        headers: headers.0,
                    })
                },
            ))
        })
        .try_flatten()
}

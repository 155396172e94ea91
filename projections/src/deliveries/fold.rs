//! Applies a batch of DELIVERIES facts to `deliveries`, `delivery_attempts`, `webhook_stats`
//! and the hourly rollup `webhook_stats_hourly` (`crate::timeline::rollup`).
//!
//! The deliveries a batch touches are loaded with one query, the facts are folded in memory
//! (in stream order), and the results are written in bulk together with the stats deltas.
//! Rules, so a replay writes the same rows and a repeated fact counts once:
//! - `delivery.attempted` numbered at or below the delivery's latest attempt is a repeat and
//!   is ignored. A new attempt of a closed delivery (redeliver, recover) reopens it: `pending`.
//! - `delivery.succeeded` / `delivery.failed` close the delivery; closing it again with the
//!   same status is ignored. A new attempt that `closes` its delivery applies as the attempt
//!   followed by its closing fact.
//! - Stats count deliveries by their current status, so a failed delivery that later succeeds
//!   moves from `failed` to `succeeded`.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use hookledger_domain::delivery::{AttemptOutcome, AttemptRecord, DeliveryEnd, DeliveryFact};
use hookledger_domain::ledger::reader::RawMessage;
use sqlx::PgConnection;

use super::{COLUMNS, DeliveryRow};
use crate::ProjectionError;
use crate::apply::pg_time;
use crate::stats::{self, StatsDelta};
use crate::view::Target;

type Key = (String, String, String);

struct AttemptInsert {
    key: Key,
    record: AttemptRecord,
    sequence: i64,
}

fn code<T: serde::Serialize>(value: &T) -> Option<String> {
    serde_json::to_value(value)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
}

fn new_row(
    key: &Key,
    event_id: String,
    event_type: String,
    at: DateTime<Utc>,
    sequence: i64,
) -> DeliveryRow {
    DeliveryRow {
        tenant: key.0.clone(),
        webhook_id: key.1.clone(),
        id: key.2.clone(),
        event_id,
        event_type,
        status: "pending".into(),
        attempt_count: 0,
        last_attempt: 0,
        last_outcome: None,
        response_status: None,
        last_attempt_at: None,
        next_attempt_at: None,
        created_at: pg_time(at),
        closed_at: None,
        reason: None,
        sequence,
    }
}

/// Applies `batch` (DELIVERIES messages in stream order) to the `target` tables.
pub(crate) async fn apply(
    conn: &mut PgConnection,
    target: Target,
    batch: &[&RawMessage],
) -> Result<(), ProjectionError> {
    let mut facts = Vec::with_capacity(batch.len());
    for m in batch {
        let fact: DeliveryFact = serde_json::from_slice(&m.payload)
            .map_err(|e| ProjectionError::corrupt(&format!("{} #{}", m.subject, m.sequence), e))?;
        let key = (
            fact.tenant().to_string(),
            fact.webhook_id().to_string(),
            fact.delivery_id().to_string(),
        );
        facts.push((key, fact, crate::checkpoint::to_i64(m.sequence)));
    }
    if facts.is_empty() {
        return Ok(());
    }
    let keys: Vec<&Key> = facts.iter().map(|(k, _, _)| k).collect();
    let mut rows = load(conn, target, &keys).await?;
    let mut touched: Vec<Key> = Vec::new();
    let mut seen: std::collections::HashSet<Key> = std::collections::HashSet::new();
    let mut attempts = Vec::new();
    let mut deltas: HashMap<(String, String), StatsDelta> = HashMap::new();
    for (key, fact, sequence) in facts {
        let delta = deltas.entry((key.0.clone(), key.1.clone())).or_default();
        let created = !rows.contains_key(&key);
        if created {
            let (event_id, event_type, at) = match &fact {
                DeliveryFact::Attempted(a) => (a.event_id.to_string(), a.event_type.clone(), a.at),
                DeliveryFact::Succeeded(c) | DeliveryFact::Failed(c) => {
                    (c.event_id.to_string(), c.event_type.clone(), c.at)
                }
            };
            rows.insert(
                key.clone(),
                new_row(&key, event_id, event_type, at, sequence),
            );
            delta.count_new("pending");
        }
        let row = rows.get_mut(&key).expect("inserted above");
        let changed = match fact {
            DeliveryFact::Attempted(a) => {
                let reason = (a.closes == Some(DeliveryEnd::Failed)).then_some(a.outcome);
                let closing = a.closes.map(|end| (end.as_str(), a.at, reason));
                let new = attempted(row, a, sequence, delta, &mut attempts, &key);
                if let (true, Some((status, at, reason))) = (new, closing) {
                    closed(row, status, at, reason, sequence, delta);
                }
                new
            }
            DeliveryFact::Succeeded(c) => closed(row, "succeeded", c.at, c.reason, sequence, delta),
            DeliveryFact::Failed(c) => closed(row, "failed", c.at, c.reason, sequence, delta),
        };
        if (created || changed) && seen.insert(key.clone()) {
            touched.push(key);
        }
    }
    let changed: Vec<&DeliveryRow> = touched.iter().filter_map(|k| rows.get(k)).collect();
    upsert(conn, target, &changed).await?;
    insert_attempts(conn, target, &attempts).await?;
    stats::add(conn, target, &deltas).await?;
    // The hourly rollup counts exactly the attempts inserted above: the new ones.
    let new = attempts
        .iter()
        .map(|a| (a.key.0.as_str(), a.key.1.as_str(), &a.record));
    crate::timeline::rollup::add(conn, target, new).await
}

fn attempted(
    row: &mut DeliveryRow,
    a: AttemptRecord,
    sequence: i64,
    delta: &mut StatsDelta,
    out: &mut Vec<AttemptInsert>,
    key: &Key,
) -> bool {
    let number = i32::try_from(a.attempt).unwrap_or(i32::MAX);
    if number <= row.last_attempt {
        return false;
    }
    if row.status != "pending" {
        delta.move_status(&row.status, "pending");
        row.status = "pending".into();
        row.closed_at = None;
        row.reason = None;
    }
    row.attempt_count += 1;
    row.last_attempt = number;
    row.last_outcome = Some(a.outcome.as_str().to_owned());
    row.response_status = a.response_status.map(i32::from);
    row.last_attempt_at = Some(pg_time(a.at));
    row.next_attempt_at = a.next_attempt_at.map(pg_time);
    row.sequence = sequence;
    delta.attempt(a.latency_ms);
    out.push(AttemptInsert {
        key: key.clone(),
        record: a,
        sequence,
    });
    true
}

/// The delivery ends with `status` at `at` (`reason`: the last attempt's outcome, failures only).
fn closed(
    row: &mut DeliveryRow,
    status: &str,
    at: DateTime<Utc>,
    reason: Option<AttemptOutcome>,
    sequence: i64,
    delta: &mut StatsDelta,
) -> bool {
    if row.status == status {
        return false;
    }
    delta.move_status(&row.status, status);
    let at = pg_time(at);
    delta.closed(status, at);
    row.status = status.to_owned();
    row.closed_at = Some(at);
    row.reason = reason.map(|r| r.as_str().to_owned());
    row.next_attempt_at = None;
    row.sequence = sequence;
    true
}

async fn load(
    conn: &mut PgConnection,
    target: Target,
    keys: &[&Key],
) -> Result<HashMap<Key, DeliveryRow>, ProjectionError> {
    let tenants: Vec<&str> = keys.iter().map(|k| k.0.as_str()).collect();
    let hooks: Vec<&str> = keys.iter().map(|k| k.1.as_str()).collect();
    let ids: Vec<&str> = keys.iter().map(|k| k.2.as_str()).collect();
    // A join from the keys, probing the primary key once per key. Which index it probes
    // depends on the planner knowing the table: see `crate::lock::batch_checkpoint` (live
    // writer: a plan per batch) and `crate::rebuild::fill_deliveries` (shadow: ANALYZE).
    let columns = COLUMNS
        .split(", ")
        .map(|c| format!("d.{c}"))
        .collect::<Vec<_>>()
        .join(", ");
    let rows: Vec<DeliveryRow> = sqlx::query_as(&format!(
        "SELECT DISTINCT ON (d.tenant, d.webhook_id, d.id) {columns}
           FROM UNNEST($1::text[], $2::text[], $3::text[]) AS k(tenant, webhook_id, id)
           JOIN {} d ON d.tenant = k.tenant AND d.webhook_id = k.webhook_id AND d.id = k.id",
        target.table("deliveries")
    ))
    .bind(&tenants)
    .bind(&hooks)
    .bind(&ids)
    .fetch_all(conn)
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| ((r.tenant.clone(), r.webhook_id.clone(), r.id.clone()), r))
        .collect())
}

async fn upsert(
    conn: &mut PgConnection,
    target: Target,
    rows: &[&DeliveryRow],
) -> Result<(), ProjectionError> {
    if rows.is_empty() {
        return Ok(());
    }
    let updates = COLUMNS
        .split(", ")
        .filter(|c| !matches!(*c, "tenant" | "webhook_id" | "id"))
        .map(|c| format!("{c} = EXCLUDED.{c}"))
        .collect::<Vec<_>>()
        .join(", ");
    let text = |f: fn(&DeliveryRow) -> &str| rows.iter().map(|r| f(r)).collect::<Vec<&str>>();
    let optional =
        |f: fn(&DeliveryRow) -> Option<&str>| rows.iter().map(|r| f(r)).collect::<Vec<_>>();
    let time = |f: fn(&DeliveryRow) -> Option<DateTime<Utc>>| {
        rows.iter().map(|r| f(r)).collect::<Vec<_>>()
    };
    sqlx::query(&format!(
        "INSERT INTO {} ({COLUMNS})
         SELECT * FROM UNNEST($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[],
                              $7::int4[], $8::int4[], $9::text[], $10::int4[], $11::timestamptz[],
                              $12::timestamptz[], $13::timestamptz[], $14::timestamptz[], $15::text[],
                              $16::int8[])
         ON CONFLICT (tenant, webhook_id, id) DO UPDATE SET {updates}",
        target.table("deliveries")
    ))
    .bind(text(|r| &r.tenant))
    .bind(text(|r| &r.webhook_id))
    .bind(text(|r| &r.id))
    .bind(text(|r| &r.event_id))
    .bind(text(|r| &r.event_type))
    .bind(text(|r| &r.status))
    .bind(rows.iter().map(|r| r.attempt_count).collect::<Vec<i32>>())
    .bind(rows.iter().map(|r| r.last_attempt).collect::<Vec<i32>>())
    .bind(optional(|r| r.last_outcome.as_deref()))
    .bind(rows.iter().map(|r| r.response_status).collect::<Vec<Option<i32>>>())
    .bind(time(|r| r.last_attempt_at))
    .bind(time(|r| r.next_attempt_at))
    .bind(time(|r| Some(r.created_at)))
    .bind(time(|r| r.closed_at))
    .bind(optional(|r| r.reason.as_deref()))
    .bind(rows.iter().map(|r| r.sequence).collect::<Vec<i64>>())
    .execute(&mut *conn)
    .await?;
    Ok(())
}

async fn insert_attempts(
    conn: &mut PgConnection,
    target: Target,
    attempts: &[AttemptInsert],
) -> Result<(), ProjectionError> {
    if attempts.is_empty() {
        return Ok(());
    }
    let key = |f: fn(&Key) -> &str| attempts.iter().map(|a| f(&a.key)).collect::<Vec<&str>>();
    let records = || attempts.iter().map(|a| &a.record);
    sqlx::query(&format!(
        "INSERT INTO {} (tenant, webhook_id, delivery_id, attempt, at, outcome, response_status, latency_ms, error, \
         response_body, next_attempt_at, trigger, sequence, response_headers)
         SELECT * FROM UNNEST($1::text[], $2::text[], $3::text[], $4::int4[], $5::timestamptz[], $6::text[],
                              $7::int4[], $8::int8[], $9::text[], $10::text[], $11::timestamptz[], $12::text[],
                              $13::int8[], $14::jsonb[])
         ON CONFLICT (tenant, webhook_id, delivery_id, attempt) DO NOTHING",
        target.table("delivery_attempts")
    ))
    .bind(key(|k| &k.0))
    .bind(key(|k| &k.1))
    .bind(key(|k| &k.2))
    .bind(
        records()
            .map(|r| i32::try_from(r.attempt).unwrap_or(i32::MAX))
            .collect::<Vec<_>>(),
    )
    .bind(records().map(|r| pg_time(r.at)).collect::<Vec<_>>())
    .bind(records().map(|r| r.outcome.as_str()).collect::<Vec<_>>())
    .bind(
        records()
            .map(|r| r.response_status.map(i32::from))
            .collect::<Vec<_>>(),
    )
    .bind(
        records()
            .map(|r| i64::try_from(r.latency_ms).unwrap_or(i64::MAX))
            .collect::<Vec<_>>(),
    )
    .bind(records().map(|r| r.error.as_deref()).collect::<Vec<_>>())
    .bind(records().map(|r| r.response_body.as_deref()).collect::<Vec<_>>())
    .bind(
        records()
            .map(|r| r.next_attempt_at.map(pg_time))
            .collect::<Vec<_>>(),
    )
    .bind(records().map(|r| code(&r.trigger)).collect::<Vec<_>>())
    .bind(attempts.iter().map(|a| a.sequence).collect::<Vec<i64>>())
    // NULL, not `{}`, without headers: the same as rows from before the column.
    .bind(
        records()
            .map(|r| Some(sqlx::types::Json(&r.response_headers)).filter(|h| !h.is_empty()))
            .collect::<Vec<_>>(),
    )
    .execute(&mut *conn)
    .await?;
    Ok(())
}

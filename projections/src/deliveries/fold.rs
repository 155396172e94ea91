//! Applies a batch of DELIVERIES facts to `deliveries`, `delivery_attempts` and
//! `webhook_stats`.
//!
//! The deliveries a batch touches are loaded with one query, the facts are folded in memory
//! (in stream order), and the results are written in bulk together with the stats deltas.
//! Rules, so a replay writes the same rows and a repeated fact counts once:
//! - `delivery.attempted` numbered at or below the delivery's latest attempt is a repeat and
//!   is ignored. A new attempt of a closed delivery (redeliver, recover) reopens it: `pending`.
//! - `delivery.succeeded` / `delivery.failed` close the delivery; closing it again with the
//!   same status is ignored.
//! - Stats count deliveries by their current status, so a failed delivery that later succeeds
//!   moves from `failed` to `succeeded`.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use hookledger_domain::delivery::{AttemptRecord, DeliveryClosed, DeliveryFact};
use hookledger_domain::ledger::reader::RawMessage;
use sqlx::{PgConnection, Postgres, QueryBuilder};

use super::{COLUMNS, DeliveryRow};
use crate::ProjectionError;
use crate::apply::{BIND_CHUNK, pg_time};
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
            .map_err(|e| ProjectionError::Corrupt(format!("{} #{}: {e}", m.subject, m.sequence)))?;
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
            DeliveryFact::Attempted(a) => attempted(row, a, sequence, delta, &mut attempts, &key),
            DeliveryFact::Succeeded(c) => closed(row, c, "succeeded", sequence, delta),
            DeliveryFact::Failed(c) => closed(row, c, "failed", sequence, delta),
        };
        if (created || changed) && !touched.contains(&key) {
            touched.push(key);
        }
    }
    let changed: Vec<&DeliveryRow> = touched.iter().filter_map(|k| rows.get(k)).collect();
    upsert(conn, target, &changed).await?;
    insert_attempts(conn, target, &attempts).await?;
    stats::add(conn, target, &deltas).await
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
    row.last_outcome = code(&a.outcome);
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

fn closed(
    row: &mut DeliveryRow,
    c: DeliveryClosed,
    status: &str,
    sequence: i64,
    delta: &mut StatsDelta,
) -> bool {
    if row.status == status {
        return false;
    }
    delta.move_status(&row.status, status);
    let at = pg_time(c.at);
    delta.closed(status, at);
    row.status = status.to_owned();
    row.closed_at = Some(at);
    row.reason = c.reason.as_ref().and_then(code);
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
    let rows: Vec<DeliveryRow> = sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM {} WHERE (tenant, webhook_id, id) IN (SELECT * FROM UNNEST($1::text[], $2::text[], $3::text[]))",
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
    let updates = COLUMNS
        .split(", ")
        .filter(|c| !matches!(*c, "tenant" | "webhook_id" | "id"))
        .map(|c| format!("{c} = EXCLUDED.{c}"))
        .collect::<Vec<_>>()
        .join(", ");
    for chunk in rows.chunks(BIND_CHUNK / 16) {
        let mut q = QueryBuilder::<Postgres>::new(format!(
            "INSERT INTO {} ({COLUMNS}) ",
            target.table("deliveries")
        ));
        q.push_values(chunk, |mut b, r| {
            b.push_bind(&r.tenant)
                .push_bind(&r.webhook_id)
                .push_bind(&r.id)
                .push_bind(&r.event_id)
                .push_bind(&r.event_type);
            b.push_bind(&r.status)
                .push_bind(r.attempt_count)
                .push_bind(r.last_attempt)
                .push_bind(&r.last_outcome);
            b.push_bind(r.response_status)
                .push_bind(r.last_attempt_at)
                .push_bind(r.next_attempt_at)
                .push_bind(r.created_at);
            b.push_bind(r.closed_at)
                .push_bind(&r.reason)
                .push_bind(r.sequence);
        });
        q.push(format!(
            " ON CONFLICT (tenant, webhook_id, id) DO UPDATE SET {updates}"
        ));
        q.build().execute(&mut *conn).await?;
    }
    Ok(())
}

async fn insert_attempts(
    conn: &mut PgConnection,
    target: Target,
    attempts: &[AttemptInsert],
) -> Result<(), ProjectionError> {
    for chunk in attempts.chunks(BIND_CHUNK / 13) {
        let mut q = QueryBuilder::<Postgres>::new(format!(
            "INSERT INTO {} (tenant, webhook_id, delivery_id, attempt, at, outcome, response_status, latency_ms, error, \
             response_body, next_attempt_at, trigger, sequence) ",
            target.table("delivery_attempts")
        ));
        q.push_values(chunk, |mut b, a| {
            let r = &a.record;
            b.push_bind(a.key.0.clone())
                .push_bind(a.key.1.clone())
                .push_bind(a.key.2.clone());
            b.push_bind(i32::try_from(r.attempt).unwrap_or(i32::MAX))
                .push_bind(pg_time(r.at));
            b.push_bind(code(&r.outcome).unwrap_or_default())
                .push_bind(r.response_status.map(i32::from));
            b.push_bind(i64::try_from(r.latency_ms).unwrap_or(i64::MAX))
                .push_bind(r.error.clone());
            b.push_bind(r.response_body.clone())
                .push_bind(r.next_attempt_at.map(pg_time))
                .push_bind(code(&r.trigger));
            b.push_bind(a.sequence);
        });
        q.push(" ON CONFLICT (tenant, webhook_id, delivery_id, attempt) DO NOTHING");
        q.build().execute(&mut *conn).await?;
    }
    Ok(())
}

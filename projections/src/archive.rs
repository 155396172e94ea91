//! `events_archive`: the ledger in postgres-es 0.5's event table schema.
//!
//! One row per event (a ledger message of N events gives N rows): `aggregate_type`,
//! `aggregate_id`, `sequence` (the per-aggregate event count, 1..n, as cqrs-es numbers
//! envelopes), `event_type`, `event_version`, `payload` (the event enum's serde form,
//! `{"type", "data"}`, which is what postgres-es deserializes) and `metadata` (string values
//! only, as cqrs-es expects: `ledger.sequence`, `actor`, `commandId`, `occurredAt`, and
//! `correlationId` when set). So `PostgresEventRepository` + cqrs-es load any aggregate from
//! SQL ([`load`]), and auditors can query the ledger with SQL; it is also the cold copy of the
//! ledger.

use std::collections::HashMap;

use cqrs_es::persist::PersistedEventStore;
use cqrs_es::{Aggregate, EventStore};
use hookledger_domain::ledger::LedgerEntry;
use hookledger_domain::ledger::store::SEQUENCE_KEY;
use postgres_es::PostgresEventRepository;
use serde_json::{Map, Value};
use sqlx::{PgConnection, PgPool, Postgres, QueryBuilder};

use crate::ProjectionError;
use crate::apply::BIND_CHUNK;
use crate::view::Target;

/// The archive's table name (for `PostgresEventRepository::with_tables`).
pub const TABLE: &str = "events_archive";
/// The snapshot table name given to postgres-es; hookledger takes no snapshots and does not
/// create it (cqrs-es 0.5's event-store mode never reads it).
pub const SNAPSHOT_TABLE: &str = "events_archive_snapshots";

/// A postgres-es repository reading the archive.
pub fn repository(pool: PgPool) -> PostgresEventRepository {
    PostgresEventRepository::new(pool).with_tables(TABLE, SNAPSHOT_TABLE)
}

/// Loads aggregate `A` from the archive with cqrs-es (event-store mode); the default state
/// when the archive holds no event of it.
pub async fn load<A: Aggregate>(pool: &PgPool, aggregate_id: &str) -> Result<A, ProjectionError> {
    let store = PersistedEventStore::<PostgresEventRepository, A>::new_event_store(repository(
        pool.clone(),
    ));
    let context = store.load_aggregate(aggregate_id).await.map_err(|e| {
        ProjectionError::Corrupt(format!("events_archive {}/{aggregate_id}: {e}", A::TYPE))
    })?;
    Ok(context.aggregate)
}

struct ArchiveRow {
    aggregate_type: String,
    aggregate_id: String,
    sequence: i64,
    event_type: String,
    event_version: String,
    payload: Value,
    metadata: Value,
}

/// Appends every event of `entries` (in stream order).
pub(crate) async fn append(
    conn: &mut PgConnection,
    target: Target,
    entries: &[LedgerEntry],
) -> Result<(), ProjectionError> {
    if entries.is_empty() {
        return Ok(());
    }
    let table = target.table(TABLE);
    let types: Vec<&str> = entries
        .iter()
        .map(|e| e.record.aggregate_type.as_str())
        .collect();
    let ids: Vec<&str> = entries
        .iter()
        .map(|e| e.record.aggregate_id.as_str())
        .collect();
    let last: Vec<(String, String, i64)> = sqlx::query_as(&format!(
        "SELECT aggregate_type, aggregate_id, max(sequence) FROM {table}
          WHERE (aggregate_type, aggregate_id) IN (SELECT * FROM UNNEST($1::text[], $2::text[]))
          GROUP BY aggregate_type, aggregate_id"
    ))
    .bind(&types)
    .bind(&ids)
    .fetch_all(&mut *conn)
    .await?;
    let mut next: HashMap<(String, String), i64> =
        last.into_iter().map(|(t, id, s)| ((t, id), s)).collect();
    let mut rows = Vec::new();
    for entry in entries {
        let record = &entry.record;
        let counter = next
            .entry((record.aggregate_type.clone(), record.aggregate_id.clone()))
            .or_insert(0);
        for event in &record.events {
            *counter += 1;
            let mut payload = Map::with_capacity(2);
            payload.insert("type".into(), Value::String(event.event_type.clone()));
            if !event.data.is_null() {
                payload.insert("data".into(), event.data.clone());
            }
            let mut metadata = Map::new();
            metadata.insert(SEQUENCE_KEY.into(), entry.sequence.to_string().into());
            metadata.insert("actor".into(), record.actor.clone().into());
            metadata.insert("commandId".into(), record.command_id.clone().into());
            metadata.insert("occurredAt".into(), record.occurred_at.to_rfc3339().into());
            if let Some(correlation) = &record.correlation_id {
                metadata.insert("correlationId".into(), correlation.clone().into());
            }
            rows.push(ArchiveRow {
                aggregate_type: record.aggregate_type.clone(),
                aggregate_id: record.aggregate_id.clone(),
                sequence: *counter,
                event_type: event.event_type.clone(),
                event_version: event.version.clone(),
                payload: Value::Object(payload),
                metadata: Value::Object(metadata),
            });
        }
    }
    for chunk in rows.chunks(BIND_CHUNK / 7) {
        let mut q = QueryBuilder::<Postgres>::new(format!(
            "INSERT INTO {table} (aggregate_type, aggregate_id, sequence, event_type, event_version, payload, metadata) "
        ));
        q.push_values(chunk, |mut b, r| {
            b.push_bind(&r.aggregate_type)
                .push_bind(&r.aggregate_id)
                .push_bind(r.sequence)
                .push_bind(&r.event_type);
            b.push_bind(&r.event_version)
                .push_bind(sqlx::types::Json(&r.payload))
                .push_bind(sqlx::types::Json(&r.metadata));
        });
        q.build().execute(&mut *conn).await?;
    }
    Ok(())
}

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
use postgres_es::PostgresEventRepository;
use serde::Serialize;
use serde_json::Value;
use sqlx::{PgConnection, PgPool};

use crate::ProjectionError;
use crate::apply::copy::CopyText;
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
pub async fn load<A>(pool: &PgPool, aggregate_id: &str) -> Result<A, ProjectionError>
where
    A: Aggregate,
    A::Error: Send + Sync + 'static,
{
    let store = PersistedEventStore::<PostgresEventRepository, A>::new_event_store(repository(
        pool.clone(),
    ));
    let context = store.load_aggregate(aggregate_id).await.map_err(|e| {
        ProjectionError::corrupt(&format!("events_archive {}/{aggregate_id}", A::TYPE), e)
    })?;
    Ok(context.aggregate)
}

/// Each aggregate's last archive `sequence` (its event count so far), by (type, id).
pub(crate) type Counters = HashMap<(String, String), i64>;

/// The columns of the archive, in the order [`Rows::copy_into`] writes them.
pub(crate) const COPY_COLUMNS: &str =
    "aggregate_type, aggregate_id, sequence, event_type, event_version, payload, metadata";

/// `payload`: the event enum's serde form. Fields in this order so the text is the one a
/// `serde_json::Map` (sorted keys) gives.
#[derive(Serialize)]
struct Payload<'a> {
    #[serde(skip_serializing_if = "Value::is_null")]
    data: &'a Value,
    #[serde(rename = "type")]
    event_type: &'a str,
}

/// `metadata`: string values only, as cqrs-es expects. Fields in sorted order, as a
/// `serde_json::Map` writes them; `ledger.sequence` is the event store's `SEQUENCE_KEY` (a
/// test checks).
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Metadata<'a> {
    actor: &'a str,
    command_id: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    correlation_id: Option<&'a str>,
    #[serde(rename = "ledger.sequence")]
    sequence: String,
    occurred_at: String,
}

/// The archive rows of a batch, column by column (bound as arrays, or copied).
pub(crate) struct Rows<'a> {
    aggregate_type: Vec<&'a str>,
    aggregate_id: Vec<&'a str>,
    sequence: Vec<i64>,
    event_type: Vec<&'a str>,
    event_version: Vec<&'a str>,
    payload: Vec<String>,
    metadata: Vec<String>,
}

impl<'a> Rows<'a> {
    /// One row per event of `entries` (in stream order), numbered after `counters`, which
    /// move on.
    pub(crate) fn of(
        entries: &'a [LedgerEntry],
        counters: &mut Counters,
    ) -> Result<Self, ProjectionError> {
        let n = entries.iter().map(|e| e.record.events.len()).sum();
        let mut rows = Self {
            aggregate_type: Vec::with_capacity(n),
            aggregate_id: Vec::with_capacity(n),
            sequence: Vec::with_capacity(n),
            event_type: Vec::with_capacity(n),
            event_version: Vec::with_capacity(n),
            payload: Vec::with_capacity(n),
            metadata: Vec::with_capacity(n),
        };
        for entry in entries {
            let record = &entry.record;
            let counter = counters
                .entry((record.aggregate_type.clone(), record.aggregate_id.clone()))
                .or_insert(0);
            let metadata = serde_json::to_string(&Metadata {
                actor: &record.actor,
                command_id: &record.command_id,
                correlation_id: record.correlation_id.as_deref(),
                sequence: entry.sequence.to_string(),
                occurred_at: record.occurred_at.to_rfc3339(),
            })?;
            for event in &record.events {
                *counter += 1;
                rows.aggregate_type.push(record.aggregate_type.as_str());
                rows.aggregate_id.push(record.aggregate_id.as_str());
                rows.sequence.push(*counter);
                rows.event_type.push(event.event_type.as_str());
                rows.event_version.push(event.version.as_str());
                rows.payload.push(serde_json::to_string(&Payload {
                    data: &event.data,
                    event_type: &event.event_type,
                })?);
                rows.metadata.push(metadata.clone());
            }
        }
        Ok(rows)
    }

    /// Appends the rows to a `COPY` of [`COPY_COLUMNS`].
    pub(crate) fn copy_into(&self, out: &mut CopyText) {
        for i in 0..self.sequence.len() {
            out.text(self.aggregate_type[i]);
            out.text(self.aggregate_id[i]);
            out.int(self.sequence[i]);
            out.text(self.event_type[i]);
            out.text(self.event_version[i]);
            out.text(&self.payload[i]);
            out.text(&self.metadata[i]);
            out.end_row();
        }
    }
}

/// Appends every event of `entries` (in stream order), in one statement: each aggregate's
/// events are numbered after the last one the table holds for it.
pub(crate) async fn append(
    conn: &mut PgConnection,
    target: Target,
    entries: &[LedgerEntry],
) -> Result<(), ProjectionError> {
    if entries.is_empty() {
        return Ok(());
    }
    let table = target.table(TABLE);
    // Numbered from 1 within the batch; PostgreSQL adds what the table holds already.
    let rows = Rows::of(entries, &mut Counters::new())?;
    sqlx::query(&format!(
        "INSERT INTO {table} ({COPY_COLUMNS})
         SELECT x.t, x.i, COALESCE(last.sequence, 0) + x.n, x.e, x.v, x.p::json, x.m::json
           FROM UNNEST($1::text[], $2::text[], $3::int8[], $4::text[], $5::text[], $6::text[], $7::text[])
             AS x(t, i, n, e, v, p, m)
           LEFT JOIN LATERAL (SELECT max(a.sequence) AS sequence FROM {table} a
                               WHERE a.aggregate_type = x.t AND a.aggregate_id = x.i) AS last ON true"
    ))
    .bind(&rows.aggregate_type)
    .bind(&rows.aggregate_id)
    .bind(&rows.sequence)
    .bind(&rows.event_type)
    .bind(&rows.event_version)
    .bind(&rows.payload)
    .bind(&rows.metadata)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use hookledger_domain::ledger::store::SEQUENCE_KEY;

    use super::*;

    #[test]
    fn metadata_carries_the_ledger_sequence_under_the_key_the_event_store_reads() {
        let text = serde_json::to_string(&Metadata {
            actor: "operator",
            command_id: "c1",
            correlation_id: None,
            sequence: "42".into(),
            occurred_at: "2025-01-01T00:00:00+00:00".into(),
        })
        .unwrap();
        let value: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(value[SEQUENCE_KEY], "42");
        assert_eq!(
            text,
            r#"{"actor":"operator","commandId":"c1","ledger.sequence":"42","occurredAt":"2025-01-01T00:00:00+00:00"}"#
        );
    }
}

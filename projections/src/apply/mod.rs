//! Applying a batch of stream messages to a view's tables (live or shadow).
//!
//! The projector and the rebuild share this code; it only writes rows and never decides
//! anything, so a replay from sequence 1 writes the same rows again. Helpers shared by the view
//! modules live here too.
//!
//! # Layout
//! - `ledger`: `LEDGER` messages → tenants, api_keys, event_types, webhooks (+ history),
//!   events_archive; and [`LedgerBulk`], the same for a rebuild, without reading rows back.
//! - `copy`: rows in `COPY` text format, and the rebuild's `COPY` writer task.
//! - [`crate::deliveries`]' `fold`: `DELIVERIES` facts → deliveries, delivery_attempts, stats.

use chrono::{DateTime, Duration, Utc};
use hookledger_domain::cause::BoxError;
use hookledger_domain::ledger::reader::RawMessage;
use hookledger_domain::ledger::{LedgerEntry, Names, RecordedEvent};
use serde::de::value::{BorrowedStrDeserializer, MapAccessDeserializer};
use serde::de::{DeserializeOwned, DeserializeSeed, MapAccess};
use serde::ser::SerializeMap;
use serde::{Serialize, Serializer};
use serde_json::Value;
use sqlx::PgConnection;

use crate::view::Target;
use crate::{ProjectionError, View};

pub(crate) mod copy;
mod ledger;

pub(crate) use ledger::LedgerBulk;

/// SQL turning `column` (a JSON array of strings, as text) into a `text[]`. Bulk statements
/// bind each column as one array (`UNNEST($1::text[], …)`), and PostgreSQL has no arrays of
/// arrays of different lengths, so `text[]` values travel as JSON text.
pub(crate) fn text_array(column: &str) -> String {
    format!("ARRAY(SELECT json_array_elements_text({column}::json))")
}

/// `$first::<type>[], $first+1::<type>[], …`: the arguments of an `UNNEST` of bound arrays.
pub(crate) fn array_params(first: usize, types: &[&str]) -> String {
    types
        .iter()
        .enumerate()
        .map(|(i, t)| format!("${}::{t}[]", first + i))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Applies `batch` (in stream order, all above the checkpoint) to `view`'s `target` tables,
/// inside the caller's transaction.
pub(crate) async fn apply(
    view: View,
    conn: &mut PgConnection,
    target: Target,
    names: &Names,
    batch: &[&RawMessage],
) -> Result<(), ProjectionError> {
    match view {
        View::Ledger => ledger::apply(conn, target, names, batch).await,
        View::Deliveries => crate::deliveries::fold::apply(conn, target, batch).await,
    }
}

/// A stream time as PostgreSQL stores it: rounded **up** to the microsecond. Rounding up keeps
/// "stored at or before T" exact for any T given in microseconds (see `history::as_of`).
pub(crate) fn pg_time(t: DateTime<Utc>) -> DateTime<Utc> {
    match t.timestamp_subsec_nanos() % 1_000 {
        0 => t,
        ns => t + Duration::nanoseconds(i64::from(1_000 - ns)),
    }
}

/// A ledger message that does not read back as the events its type promises.
pub(crate) fn corrupt(entry: &LedgerEntry, e: impl Into<BoxError>) -> ProjectionError {
    ProjectionError::corrupt(&format!("{} #{}", entry.subject, entry.sequence), e)
}

/// `value` as it serializes with every `secret` field, at any depth, replaced by
/// `"[redacted]"` (without copying it).
struct Redacted<'a>(&'a Value);

impl Serialize for Redacted<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self.0 {
            Value::Object(map) => {
                let mut out = serializer.serialize_map(Some(map.len()))?;
                for (key, v) in map {
                    if key == "secret" {
                        out.serialize_entry(key, "[redacted]")?;
                    } else {
                        out.serialize_entry(key, &Redacted(v))?;
                    }
                }
                out.end()
            }
            Value::Array(items) => serializer.collect_seq(items.iter().map(Redacted)),
            other => other.serialize(serializer),
        }
    }
}

/// One element of [`changes_of`] (fields in sorted order, as a `serde_json::Map` writes them).
#[derive(Serialize)]
struct Change<'a> {
    data: Redacted<'a>,
    #[serde(rename = "type")]
    event_type: &'a str,
    version: &'a str,
}

/// `[{type, version, data}]` of a message's events, secrets redacted, as JSON text.
pub(crate) fn changes_of(events: &[RecordedEvent]) -> Result<String, ProjectionError> {
    let changes: Vec<Change<'_>> = events
        .iter()
        .map(|e| Change {
            data: Redacted(&e.data),
            event_type: &e.event_type,
            version: &e.version,
        })
        .collect();
    Ok(serde_json::to_string(&changes)?)
}

/// Reads a recorded event into its enum, like [`RecordedEvent::to_event`] but without copying
/// its data first (the fold reads every event of a replay).
pub(crate) fn decode<E: DeserializeOwned>(event: &RecordedEvent) -> Result<E, serde_json::Error> {
    E::deserialize(MapAccessDeserializer::new(Tagged {
        event_type: &event.event_type,
        data: (!event.data.is_null()).then_some(&event.data),
        next: 0,
    }))
}

/// `{"type": …, "data": …}` (no `data` when it is null, as `RecordedEvent::to_event` does),
/// read from borrowed parts.
struct Tagged<'a> {
    event_type: &'a str,
    data: Option<&'a Value>,
    /// 0: the `type` key is next; 1: its value; 2: the `data` key; 3: its value; 4: done.
    next: u8,
}

impl<'de> MapAccess<'de> for Tagged<'de> {
    type Error = serde_json::Error;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, Self::Error> {
        let key = match (self.next, self.data) {
            (0, _) => "type",
            (2, Some(_)) => "data",
            _ => return Ok(None),
        };
        self.next += 1;
        seed.deserialize(BorrowedStrDeserializer::new(key))
            .map(Some)
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(
        &mut self,
        seed: V,
    ) -> Result<V::Value, Self::Error> {
        self.next += 1;
        match (self.next, self.data) {
            (2, _) => seed.deserialize(BorrowedStrDeserializer::new(self.event_type)),
            (4, Some(data)) => seed.deserialize(data),
            _ => Err(serde::de::Error::custom("no value here")),
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn stream_times_are_rounded_up_to_the_microsecond() {
        let t = DateTime::parse_from_rfc3339("2025-01-01T00:00:00.123456001Z")
            .unwrap()
            .to_utc();
        assert_eq!(pg_time(t).to_rfc3339(), "2025-01-01T00:00:00.123457+00:00");
        let exact = DateTime::parse_from_rfc3339("2025-01-01T00:00:00.123456Z")
            .unwrap()
            .to_utc();
        assert_eq!(pg_time(exact), exact);
    }

    #[test]
    fn array_params_are_numbered_from_the_first() {
        assert_eq!(array_params(3, &["text", "int8"]), "$3::text[], $4::int8[]");
    }

    #[test]
    fn every_secret_field_is_redacted_at_any_depth() {
        let event = RecordedEvent {
            event_type: "webhook.created".into(),
            version: "1".into(),
            data: json!({"secret": {"kid": "k"}, "spec": {"name": "x", "inner": [{"secret": "s"}]}}),
        };
        let changes: Value = serde_json::from_str(&changes_of(&[event]).unwrap()).unwrap();
        assert_eq!(
            changes,
            json!([{"type": "webhook.created", "version": "1", "data":
                {"secret": "[redacted]", "spec": {"name": "x", "inner": [{"secret": "[redacted]"}]}}}])
        );
    }

    #[test]
    fn events_decode_from_borrowed_parts_as_to_event_decodes_them() {
        use hookledger_domain::webhook::WebhookEvent;
        for (event_type, data) in [
            ("webhook.paused", json!({"reason": "because"})),
            ("webhook.paused", json!({})),
            ("webhook.resumed", json!({"from": "disabled"})),
            ("webhook.resumed", json!({"from": "nowhere"})),
            ("webhook.deleted", json!({})),
            ("webhook.deleted", Value::Null),
            ("webhook.disabled", Value::Null),
            ("webhook.unknown", json!({})),
        ] {
            let event = RecordedEvent {
                event_type: event_type.into(),
                version: "1".into(),
                data,
            };
            let ours = decode::<WebhookEvent>(&event).map_err(|e| e.to_string());
            let theirs = event.to_event::<WebhookEvent>().map_err(|e| e.to_string());
            assert_eq!(
                ours.is_ok(),
                theirs.is_ok(),
                "{event_type}: {ours:?} / {theirs:?}"
            );
            assert_eq!(ours.ok(), theirs.ok());
        }
    }
}

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
use hookledger_domain::ledger::reader::RawMessage;
use hookledger_domain::ledger::{LedgerEntry, Names, RecordedEvent};
use serde_json::{Value, json};
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
pub(crate) fn corrupt(entry: &LedgerEntry, e: impl std::fmt::Display) -> ProjectionError {
    ProjectionError::Corrupt(format!("{} #{}: {e}", entry.subject, entry.sequence))
}

/// Replaces the value of every `secret` field, at any depth, with `"[redacted]"`.
pub(crate) fn redact(value: &mut Value) {
    match value {
        Value::Object(map) => {
            for (key, v) in map.iter_mut() {
                if key == "secret" {
                    *v = Value::String("[redacted]".into());
                } else {
                    redact(v);
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(redact),
        _ => {}
    }
}

/// `[{type, version, data}]` of a message's events, secrets redacted.
pub(crate) fn changes_of(events: &[RecordedEvent]) -> Value {
    Value::Array(
        events
            .iter()
            .map(|e| {
                let mut data = e.data.clone();
                redact(&mut data);
                json!({"type": e.event_type, "version": e.version, "data": data})
            })
            .collect(),
    )
}

#[cfg(test)]
mod tests {
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
    fn every_secret_field_is_redacted_at_any_depth() {
        let mut v =
            json!({"secret": {"kid": "k"}, "spec": {"name": "x", "inner": [{"secret": "s"}]}});
        redact(&mut v);
        assert_eq!(
            v,
            json!({"secret": "[redacted]", "spec": {"name": "x", "inner": [{"secret": "[redacted]"}]}})
        );
    }
}

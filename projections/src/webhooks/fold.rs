//! Applies a batch of `webhook.*` ledger messages to `webhooks` and `webhook_history`.
//!
//! The batch is folded in memory: the current rows of the webhooks it touches are loaded with
//! one query, every message is applied in order (each one also becomes a history row valid
//! until the next message of the same webhook), then the results are written in bulk: close
//! the open history rows, insert the new ones, upsert the surviving webhooks, delete the
//! deleted ones (the SQL is in `sql`). Times are the stream's (see [`crate::apply::pg_time`]),
//! so a replay writes the same rows.
//!
//! A row's spec columns come from the events' own [`WebhookSpec`], which reads back from the
//! ledger without validating again, with the same defaults the aggregate sees; status comes
//! from [`WebhookEvent::status_after`].

use std::collections::HashMap;

use chrono::{DateTime, Utc};

use hookledger_domain::ledger::LedgerEntry;
use hookledger_domain::webhook::{WebhookEvent, WebhookSpec, WebhookStatus};
use serde_json::{Map, Value};
use sqlx::PgConnection;

use super::WebhookRow;
use super::sql::{load, write};
use crate::ProjectionError;
use crate::apply::{changes_of, corrupt, decode, pg_time};
use crate::history::HistoryInsert;
use crate::view::Target;

pub(crate) type Key = (String, String);

impl WebhookRow {
    /// Sets the spec columns from `spec`; fails only on a retry delay beyond `i32`.
    fn set_spec(&mut self, spec: &WebhookSpec) -> Result<(), std::num::TryFromIntError> {
        let headers = spec.headers.iter();
        self.name = spec.name.as_str().to_owned();
        self.description = spec.description.as_ref().map(|d| d.as_str().to_owned());
        self.url = spec.url.as_str().to_owned();
        self.http_method = spec.http_method.as_str().to_owned();
        self.events = spec.events.iter().map(|e| e.as_str().to_owned()).collect();
        self.filter = spec.filter.as_ref().map(|f| f.as_json().clone());
        self.headers = Value::Object(
            headers
                .map(|(name, value)| (name.to_owned(), Value::String(value.to_owned())))
                .collect::<Map<_, _>>(),
        );
        self.properties = Value::Object(spec.properties.as_map().clone());
        self.retry_attempts = i32::from(spec.retry.attempts);
        self.retry_delay_seconds = i32::try_from(spec.retry.delay_seconds)?;
        self.retry_policy = spec.retry.policy.as_str().to_owned();
        self.timeout_seconds = i32::from(spec.timeout_seconds.get());
        self.errors_email = spec.errors_email.as_ref().map(|e| e.as_str().to_owned());
        Ok(())
    }

    fn created(
        key: &Key,
        spec: &WebhookSpec,
        status: WebhookStatus,
        entry: &LedgerEntry,
    ) -> Result<Self, std::num::TryFromIntError> {
        let at = pg_time(entry.time);
        let mut row = WebhookRow {
            tenant: key.0.clone(),
            id: key.1.clone(),
            name: String::new(),
            description: None,
            url: String::new(),
            http_method: String::new(),
            events: Vec::new(),
            filter: None,
            headers: Value::Null,
            properties: Value::Null,
            status: status.as_str().to_owned(),
            retry_attempts: 0,
            retry_delay_seconds: 0,
            retry_policy: String::new(),
            timeout_seconds: 0,
            errors_email: None,
            created_at: at,
            updated_at: at,
            created_by: entry.record.actor.clone(),
            updated_by: entry.record.actor.clone(),
            version: 0,
        };
        row.set_spec(spec)?;
        Ok(row)
    }
}

/// The webhook after `entry`, given the webhook before it (`None`: absent or deleted).
pub(crate) fn fold(
    mut state: Option<WebhookRow>,
    key: &Key,
    entry: &LedgerEntry,
) -> Result<Option<WebhookRow>, ProjectionError> {
    for recorded in &entry.record.events {
        let event: WebhookEvent = decode(recorded).map_err(|e| corrupt(entry, e))?;
        let status = event.status_after();
        match &event {
            WebhookEvent::Created(created) => {
                let row = WebhookRow::created(key, &created.spec, created.status, entry);
                state = Some(row.map_err(|e| corrupt(entry, e))?);
            }
            WebhookEvent::Updated(updated) => {
                if let Some(row) = state.as_mut() {
                    row.set_spec(&updated.spec).map_err(|e| corrupt(entry, e))?;
                }
            }
            WebhookEvent::Deleted {} => state = None,
            WebhookEvent::Paused { .. }
            | WebhookEvent::Resumed { .. }
            | WebhookEvent::Disabled { .. }
            | WebhookEvent::SecretRotated { .. } => {}
        }
        if let (Some(status), Some(row)) = (status, state.as_mut()) {
            row.status = status.as_str().to_owned();
        }
    }
    if let Some(row) = state.as_mut() {
        row.updated_at = pg_time(entry.time);
        row.updated_by = entry.record.actor.clone();
        row.version = crate::checkpoint::to_i64(entry.sequence);
    }
    Ok(state)
}

/// `(tenant, webhook id)` of a webhook aggregate id `<tenant>.<wh_…>`.
fn key_of(entry: &LedgerEntry) -> Result<Key, ProjectionError> {
    let (tenant, id) = entry.record.aggregate_id.split_once('.').ok_or_else(|| {
        ProjectionError::corrupt_because(format!(
            "{} #{}: webhook aggregate id without a tenant",
            entry.subject, entry.sequence
        ))
    })?;
    Ok((tenant.to_owned(), id.to_owned()))
}

/// A batch of webhook messages folded in memory.
pub(crate) struct Folded {
    /// One history row per message, in stream order. Every row but the last of its webhook is
    /// closed (`valid_to` = the time of the webhook's next message); the last stays open.
    pub(crate) history: Vec<HistoryInsert>,
    /// The webhooks the batch touched, in the order first touched, with the time of their
    /// first message in the batch (which closes the row that was open before it).
    pub(crate) touched: Vec<(Key, DateTime<Utc>)>,
}

/// Folds `entries` (webhook messages, in stream order) into `states`, the webhooks before the
/// batch (missing or `None`: absent or deleted), which hold the webhooks after it on return.
pub(crate) fn fold_batch(
    states: &mut HashMap<Key, Option<WebhookRow>>,
    entries: &[&LedgerEntry],
) -> Result<Folded, ProjectionError> {
    let mut history: Vec<HistoryInsert> = Vec::with_capacity(entries.len());
    let mut last_row: HashMap<Key, usize> = HashMap::new();
    let mut touched = Vec::new();
    for entry in entries {
        let key = key_of(entry)?;
        let before = states.remove(&key).flatten();
        if before.is_none()
            && !last_row.contains_key(&key)
            && !entry
                .record
                .events
                .iter()
                .any(|e| e.event_type == "webhook.created")
        {
            tracing::warn!(subject = %entry.subject, sequence = entry.sequence, "webhook message for a webhook the view does not know");
        }
        let after = fold(before, &key, entry)?;
        let at = pg_time(entry.time);
        match last_row.get(&key) {
            Some(&i) => history[i].valid_to = Some(at),
            None => touched.push((key.clone(), at)),
        }
        last_row.insert(key.clone(), history.len());
        history.push(HistoryInsert {
            tenant: key.0.clone(),
            webhook_id: key.1.clone(),
            sequence: crate::checkpoint::to_i64(entry.sequence),
            valid_from: at,
            valid_to: None,
            actor: entry.record.actor.clone(),
            event_types: entry
                .record
                .events
                .iter()
                .map(|e| e.event_type.clone())
                .collect(),
            changes: changes_of(&entry.record.events)?,
            state: after.as_ref().map(serde_json::to_string).transpose()?,
        });
        states.insert(key, after);
    }
    Ok(Folded { history, touched })
}

/// Applies `entries` (webhook messages, in stream order) to the `target` tables: loads the
/// webhooks they touch, folds, then closes their open history rows, inserts the new ones,
/// upserts the webhooks that survive and deletes the deleted ones.
pub(crate) async fn apply(
    conn: &mut PgConnection,
    target: Target,
    entries: &[&LedgerEntry],
) -> Result<(), ProjectionError> {
    if entries.is_empty() {
        return Ok(());
    }
    let keys = entries
        .iter()
        .map(|e| key_of(e))
        .collect::<Result<Vec<_>, _>>()?;
    let mut states = load(conn, target, &keys).await?;
    let folded = fold_batch(&mut states, entries)?;
    let mut alive = Vec::new();
    let mut gone = Vec::new();
    for (key, _) in &folded.touched {
        match states.remove(key).flatten() {
            Some(row) => alive.push(row),
            None => gone.push(key),
        }
    }
    write(conn, target, &folded, &alive, &gone).await
}

/// The rebuild's side of the fold: the webhooks and their open history rows carried from one
/// batch to the next in memory, so a rebuild never reads its shadow tables back and writes
/// each history row once, complete (memory grows with the number of webhooks, not of messages).
#[derive(Default)]
pub(crate) struct Carry {
    states: HashMap<Key, Option<WebhookRow>>,
    /// The latest history row of each webhook, still valid (its `valid_to` is not known yet).
    open: HashMap<Key, HistoryInsert>,
}

impl Carry {
    /// Folds a batch; returns the history rows that are complete now (closed ones).
    pub(crate) fn fold(
        &mut self,
        entries: &[&LedgerEntry],
    ) -> Result<Vec<HistoryInsert>, ProjectionError> {
        let folded = fold_batch(&mut self.states, entries)?;
        let mut done = Vec::with_capacity(folded.history.len());
        for (key, at) in &folded.touched {
            if let Some(mut row) = self.open.remove(key) {
                row.valid_to = Some(*at);
                done.push(row);
            }
        }
        for row in folded.history {
            if row.valid_to.is_some() {
                done.push(row);
            } else {
                self.open
                    .insert((row.tenant.clone(), row.webhook_id.clone()), row);
            }
        }
        Ok(done)
    }

    /// The end of the rebuild: the history rows still open, and the webhooks that exist.
    pub(crate) fn finish(self) -> (Vec<HistoryInsert>, Vec<WebhookRow>) {
        (
            self.open.into_values().collect(),
            self.states.into_values().flatten().collect(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use hookledger_domain::ledger::{LedgerRecord, RecordedEvent};
    use serde_json::json;

    const KEY: &str = "acme.wh_0190f1d2c3b4a5968778695a4b3c2d1e";

    fn entry(sequence: u64, events: Vec<RecordedEvent>) -> LedgerEntry {
        let time = Utc.with_ymd_and_hms(2025, 1, 2, 3, 4, 5).unwrap();
        LedgerEntry {
            subject: format!("p.ledger.webhook.{KEY}"),
            sequence,
            time,
            hash: String::new(),
            record: LedgerRecord {
                command_id: format!("c{sequence}"),
                actor: "key_1".into(),
                occurred_at: time,
                correlation_id: None,
                aggregate_type: "webhook".into(),
                aggregate_id: KEY.into(),
                prev_hash: None,
                events,
            },
        }
    }

    fn created(spec: Value, status: &str) -> RecordedEvent {
        let secret = json!({"kid": "k1", "nonce": "AAECAwQFBgcICQoL", "ciphertext": "c2VhbGVk"});
        let (tenant, id) = KEY.split_once('.').unwrap();
        RecordedEvent {
            event_type: "webhook.created".into(),
            version: "1".into(),
            data: json!({"tenant": tenant, "id": id, "spec": spec, "secret": secret, "status": status}),
        }
    }

    fn fold_one(event: RecordedEvent) -> Result<WebhookRow, ProjectionError> {
        let entry = entry(7, vec![event]);
        Ok(fold(None, &key_of(&entry)?, &entry)?.expect("created"))
    }

    #[test]
    fn the_row_holds_the_spec_exactly_as_the_ledger_wrote_it() {
        let given = created(
            json!({
                "name": "CRM", "description": "Leads", "url": "https://example.com/h",
                "httpMethod": "PUT", "events": ["lead.*", "deal.won"],
                "filter": {"==": [{"var": "data.stage"}, "won"]},
                "headers": {"X-B": "2", "X-A": "1"}, "properties": {"z": 1, "a": {"b": [1]}},
                "retryAttempts": 5, "retryDelaySeconds": 30, "retryPolicy": "fixed",
                "timeoutSeconds": 20, "errorsEmail": "ops@example.com"
            }),
            "paused",
        );
        // As the ledger holds it: the event as hookledger serializes it.
        let event: WebhookEvent = decode(&given).unwrap();
        let recorded = RecordedEvent::from_event(&event).unwrap();
        let written = recorded.data["spec"].clone();
        let row = fold_one(recorded).unwrap();
        assert_eq!(
            (
                row.name.as_str(),
                row.description.as_deref(),
                row.url.as_str()
            ),
            ("CRM", Some("Leads"), "https://example.com/h")
        );
        assert_eq!(
            (row.http_method.as_str(), row.status.as_str()),
            ("PUT", "paused")
        );
        assert_eq!(row.events, ["lead.*", "deal.won"]);
        assert_eq!(
            (
                row.retry_attempts,
                row.retry_delay_seconds,
                row.retry_policy.as_str()
            ),
            (5, 30, "fixed")
        );
        assert_eq!(row.timeout_seconds, 20);
        assert_eq!(row.errors_email.as_deref(), Some("ops@example.com"));
        // The JSON columns, byte for byte, as the ledger's JSON has them (key order included).
        assert_eq!(row.headers.to_string(), written["headers"].to_string());
        assert_eq!(
            row.properties.to_string(),
            written["properties"].to_string()
        );
        assert_eq!(
            row.filter.unwrap().to_string(),
            written["filter"].to_string()
        );
        assert_eq!((row.version, row.created_by.as_str()), (7, "key_1"));
    }

    #[test]
    fn a_spec_without_its_optional_fields_reads_with_their_defaults() {
        let row = fold_one(created(
            json!({
                "name": "CRM", "url": "https://example.com/h", "events": ["*"],
                "retryAttempts": 3, "retryDelaySeconds": 60, "retryPolicy": "exponential",
                "timeoutSeconds": 15
            }),
            "active",
        ))
        .unwrap();
        assert_eq!((row.description, row.errors_email), (None, None));
        assert_eq!((row.http_method.as_str(), row.filter), ("POST", None));
        assert_eq!((row.headers, row.properties), (json!({}), json!({})));
        // `WebhookSpec` defaults `timeoutSeconds` to 15; the projection's former hand copy of
        // the spec required it, so such an event used to stop the fold as corrupt.
        let mut spec = json!({
            "name": "CRM", "url": "https://example.com/h", "events": ["*"],
            "retryAttempts": 3, "retryDelaySeconds": 60, "retryPolicy": "exponential"
        });
        assert_eq!(
            fold_one(created(spec.clone(), "active"))
                .unwrap()
                .timeout_seconds,
            15
        );
        spec["retryAttempts"] = Value::Null;
        assert!(matches!(
            fold_one(created(spec, "active")),
            Err(ProjectionError::Corrupt { .. })
        ));
    }

    #[test]
    fn status_follows_the_status_events_and_a_deletion_removes_the_row() {
        let spec = json!({
            "name": "CRM", "url": "https://example.com/h", "events": ["*"],
            "retryAttempts": 3, "retryDelaySeconds": 60, "retryPolicy": "exponential",
            "timeoutSeconds": 15
        });
        let event = |event: WebhookEvent| RecordedEvent::from_event(&event).unwrap();
        let pause = event(WebhookEvent::Paused { reason: None });
        let disable = event(WebhookEvent::Disabled {
            reason: "410 Gone".into(),
        });
        let resume = event(WebhookEvent::Resumed {
            from: WebhookStatus::Disabled,
        });
        let e = entry(1, vec![created(spec, "active"), pause.clone()]);
        let key = key_of(&e).unwrap();
        let row = fold(None, &key, &e).unwrap();
        assert_eq!(row.as_ref().unwrap().status, "paused");
        let row = fold(row, &key, &entry(2, vec![disable])).unwrap();
        assert_eq!(row.as_ref().unwrap().status, "disabled");
        let row = fold(row, &key, &entry(3, vec![resume])).unwrap();
        assert_eq!(row.as_ref().unwrap().status, "active");
        let deleted = entry(4, vec![event(WebhookEvent::Deleted {}), pause]);
        assert_eq!(fold(row, &key, &deleted).unwrap(), None);
    }
}

//! Applies a batch of `webhook.*` ledger messages to `webhooks` and `webhook_history`.
//!
//! The batch is folded in memory: the current rows of the webhooks it touches are loaded with
//! one query, every message is applied in order (each one also becomes a history row valid
//! until the next message of the same webhook), then the results are written in bulk: close
//! the open history rows, insert the new ones, upsert the surviving webhooks, delete the
//! deleted ones. Times are the stream's (see [`crate::apply::pg_time`]), so a replay writes the
//! same rows.

use std::collections::HashMap;

use chrono::{DateTime, Utc};

use hookledger_domain::ledger::LedgerEntry;
use hookledger_domain::webhook::{WebhookEvent, WebhookStatus};
use serde::Deserialize;
use serde_json::Value;
use sqlx::PgConnection;

use super::{COLUMNS, WebhookRow};
use crate::ProjectionError;
use crate::apply::{changes_of, corrupt, pg_time, text_array};
use crate::history::{self, HistoryInsert};
use crate::view::Target;

pub(crate) type Key = (String, String);

/// The spec as it appears in `webhook.created` and `webhook.updated` (camelCase JSON).
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct SpecFields {
    name: String,
    #[serde(default)]
    description: Option<String>,
    url: String,
    #[serde(default = "default_method")]
    http_method: String,
    events: Vec<String>,
    #[serde(default)]
    filter: Option<Value>,
    #[serde(default)]
    headers: Value,
    #[serde(default)]
    properties: Value,
    retry_attempts: i32,
    retry_delay_seconds: i32,
    retry_policy: String,
    timeout_seconds: i32,
    #[serde(default)]
    errors_email: Option<String>,
}

fn default_method() -> String {
    "POST".to_owned()
}

fn object_or_empty(v: Value) -> Value {
    if v.is_null() {
        Value::Object(Default::default())
    } else {
        v
    }
}

impl WebhookRow {
    fn set_spec(&mut self, spec: &Value) -> Result<(), serde_json::Error> {
        let s = SpecFields::deserialize(spec)?;
        self.name = s.name;
        self.description = s.description;
        self.url = s.url;
        self.http_method = s.http_method;
        self.events = s.events;
        self.filter = s.filter.filter(|f| !f.is_null());
        self.headers = object_or_empty(s.headers);
        self.properties = object_or_empty(s.properties);
        self.retry_attempts = s.retry_attempts;
        self.retry_delay_seconds = s.retry_delay_seconds;
        self.retry_policy = s.retry_policy;
        self.timeout_seconds = s.timeout_seconds;
        self.errors_email = s.errors_email;
        Ok(())
    }

    fn created(
        key: &Key,
        spec: &Value,
        status: WebhookStatus,
        entry: &LedgerEntry,
    ) -> Result<Self, serde_json::Error> {
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
fn fold(
    mut state: Option<WebhookRow>,
    key: &Key,
    entry: &LedgerEntry,
) -> Result<Option<WebhookRow>, ProjectionError> {
    for recorded in &entry.record.events {
        let event: WebhookEvent = recorded.to_event().map_err(|e| corrupt(entry, e))?;
        let status = match event {
            WebhookEvent::Created(created) => {
                state = Some(
                    WebhookRow::created(key, &recorded.data["spec"], created.status, entry)
                        .map_err(|e| corrupt(entry, e))?,
                );
                None
            }
            WebhookEvent::Updated(_) => {
                if let Some(row) = state.as_mut() {
                    row.set_spec(&recorded.data["spec"])
                        .map_err(|e| corrupt(entry, e))?;
                }
                None
            }
            WebhookEvent::Paused { .. } => Some(WebhookStatus::Paused),
            WebhookEvent::Resumed { .. } => Some(WebhookStatus::Active),
            WebhookEvent::Disabled { .. } => Some(WebhookStatus::Disabled),
            WebhookEvent::Deleted {} => {
                state = None;
                None
            }
            WebhookEvent::SecretRotated { .. } => None,
        };
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
        ProjectionError::Corrupt(format!(
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
            changes: changes_of(&entry.record.events).to_string(),
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
    history::close_open(conn, target, &folded.touched).await?;
    history::insert(conn, target, &folded.history).await?;
    let mut alive = Vec::new();
    let mut gone = Vec::new();
    for (key, _) in &folded.touched {
        match states.remove(key).flatten() {
            Some(row) => alive.push(row),
            None => gone.push(key),
        }
    }
    upsert(conn, target, &alive).await?;
    delete(conn, target, &gone).await?;
    Ok(())
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

/// The current rows of the webhooks in `keys`; absent ones map to `None` (or are missing).
async fn load(
    conn: &mut PgConnection,
    target: Target,
    keys: &[Key],
) -> Result<HashMap<Key, Option<WebhookRow>>, ProjectionError> {
    let tenants: Vec<&str> = keys.iter().map(|k| k.0.as_str()).collect();
    let ids: Vec<&str> = keys.iter().map(|k| k.1.as_str()).collect();
    let rows: Vec<WebhookRow> = sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM {} WHERE (tenant, id) IN (SELECT * FROM UNNEST($1::text[], $2::text[]))",
        target.table("webhooks")
    ))
    .bind(&tenants)
    .bind(&ids)
    .fetch_all(conn)
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| ((r.tenant.clone(), r.id.clone()), Some(r)))
        .collect())
}

/// Inserts or replaces `rows` (at most [`UPSERT_CHUNK`] per statement).
pub(crate) async fn upsert(
    conn: &mut PgConnection,
    target: Target,
    rows: &[WebhookRow],
) -> Result<(), ProjectionError> {
    for chunk in rows.chunks(UPSERT_CHUNK) {
        upsert_chunk(conn, target, chunk).await?;
    }
    Ok(())
}

/// Rows per upsert statement (a rebuild writes every webhook at once).
const UPSERT_CHUNK: usize = 10_000;

async fn upsert_chunk(
    conn: &mut PgConnection,
    target: Target,
    rows: &[WebhookRow],
) -> Result<(), ProjectionError> {
    if rows.is_empty() {
        return Ok(());
    }
    let updates = COLUMNS
        .split(", ")
        .filter(|c| *c != "tenant" && *c != "id")
        .map(|c| format!("{c} = EXCLUDED.{c}"))
        .collect::<Vec<_>>()
        .join(", ");
    let column = |f: fn(&WebhookRow) -> &str| rows.iter().map(f).collect::<Vec<&str>>();
    let optional =
        |f: fn(&WebhookRow) -> Option<&str>| rows.iter().map(f).collect::<Vec<Option<&str>>>();
    let int = |f: fn(&WebhookRow) -> i32| rows.iter().map(f).collect::<Vec<i32>>();
    let time = |f: fn(&WebhookRow) -> DateTime<Utc>| {
        rows.iter().map(f).collect::<Vec<_>>()
    };
    let events = rows
        .iter()
        .map(|r| serde_json::to_string(&r.events))
        .collect::<Result<Vec<_>, _>>()?;
    let filters: Vec<Option<String>> = rows
        .iter()
        .map(|r| r.filter.as_ref().map(Value::to_string))
        .collect();
    let headers: Vec<String> = rows.iter().map(|r| r.headers.to_string()).collect();
    let properties: Vec<String> = rows.iter().map(|r| r.properties.to_string()).collect();
    let versions: Vec<i64> = rows.iter().map(|r| r.version).collect();
    sqlx::query(&format!(
        "INSERT INTO {} ({COLUMNS})
         SELECT tenant, id, name, description, url, http_method, {}, filter::jsonb, headers::jsonb,
                properties::jsonb, status, retry_attempts, retry_delay_seconds, retry_policy,
                timeout_seconds, errors_email, created_at, updated_at, created_by, updated_by, version
           FROM UNNEST($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[],
                       $8::text[], $9::text[], $10::text[], $11::text[], $12::int4[], $13::int4[],
                       $14::text[], $15::int4[], $16::text[], $17::timestamptz[], $18::timestamptz[],
                       $19::text[], $20::text[], $21::int8[])
             AS x({COLUMNS})
         ON CONFLICT (tenant, id) DO UPDATE SET {updates}",
        target.table("webhooks"),
        text_array("events"),
    ))
    .bind(column(|r| &r.tenant))
    .bind(column(|r| &r.id))
    .bind(column(|r| &r.name))
    .bind(optional(|r| r.description.as_deref()))
    .bind(column(|r| &r.url))
    .bind(column(|r| &r.http_method))
    .bind(&events)
    .bind(&filters)
    .bind(&headers)
    .bind(&properties)
    .bind(column(|r| &r.status))
    .bind(int(|r| r.retry_attempts))
    .bind(int(|r| r.retry_delay_seconds))
    .bind(column(|r| &r.retry_policy))
    .bind(int(|r| r.timeout_seconds))
    .bind(optional(|r| r.errors_email.as_deref()))
    .bind(time(|r| r.created_at))
    .bind(time(|r| r.updated_at))
    .bind(column(|r| &r.created_by))
    .bind(column(|r| &r.updated_by))
    .bind(&versions)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

async fn delete(
    conn: &mut PgConnection,
    target: Target,
    keys: &[&Key],
) -> Result<(), ProjectionError> {
    if keys.is_empty() {
        return Ok(());
    }
    let tenants: Vec<&str> = keys.iter().map(|k| k.0.as_str()).collect();
    let ids: Vec<&str> = keys.iter().map(|k| k.1.as_str()).collect();
    sqlx::query(&format!(
        "DELETE FROM {} WHERE (tenant, id) IN (SELECT * FROM UNNEST($1::text[], $2::text[]))",
        target.table("webhooks")
    ))
    .bind(&tenants)
    .bind(&ids)
    .execute(conn)
    .await?;
    Ok(())
}

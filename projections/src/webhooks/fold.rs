//! Applies a batch of `webhook.*` ledger messages to `webhooks` and `webhook_history`.
//!
//! The batch is folded in memory: the current rows of the webhooks it touches are loaded with
//! one query, every message is applied in order (each one also becomes a history row valid
//! until the next message of the same webhook), then the results are written in bulk: close
//! the open history rows, insert the new ones, upsert the surviving webhooks, delete the
//! deleted ones. Times are the stream's (see [`crate::apply::pg_time`]), so a replay writes the
//! same rows.

use std::collections::HashMap;

use hookledger_domain::ledger::LedgerEntry;
use hookledger_domain::webhook::{WebhookEvent, WebhookStatus};
use serde::Deserialize;
use serde_json::Value;
use sqlx::{PgConnection, Postgres, QueryBuilder};

use super::{COLUMNS, WebhookRow};
use crate::ProjectionError;
use crate::apply::{BIND_CHUNK, changes_of, corrupt, pg_time};
use crate::history::{self, HistoryInsert};
use crate::view::Target;

type Key = (String, String);

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

/// Applies `entries` (webhook messages, in stream order) to the `target` tables.
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
    let mut history: Vec<HistoryInsert> = Vec::with_capacity(entries.len());
    let mut last_row: HashMap<Key, usize> = HashMap::new();
    let mut to_close: Vec<(Key, chrono::DateTime<chrono::Utc>)> = Vec::new();
    let mut order: Vec<Key> = Vec::new();
    for (entry, key) in entries.iter().zip(&keys) {
        let before = states.remove(key).flatten();
        if before.is_none()
            && !last_row.contains_key(key)
            && !entry
                .record
                .events
                .iter()
                .any(|e| e.event_type == "webhook.created")
        {
            tracing::warn!(subject = %entry.subject, sequence = entry.sequence, "webhook message for a webhook the view does not know");
        }
        let after = fold(before, key, entry)?;
        let at = pg_time(entry.time);
        match last_row.get(key) {
            Some(&i) => history[i].valid_to = Some(at),
            None => {
                to_close.push((key.clone(), at));
                order.push(key.clone());
            }
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
            changes: changes_of(&entry.record.events),
            state: after.as_ref().map(serde_json::to_value).transpose()?,
        });
        states.insert(key.clone(), after);
    }
    history::close_open(conn, target, &to_close).await?;
    history::insert(conn, target, &history).await?;
    let (alive, gone): (Vec<_>, Vec<_>) = order
        .iter()
        .map(|k| (k, states.remove(k).flatten()))
        .partition(|(_, s)| s.is_some());
    let alive: Vec<WebhookRow> = alive.into_iter().filter_map(|(_, s)| s).collect();
    let gone: Vec<&Key> = gone.into_iter().map(|(k, _)| k).collect();
    upsert(conn, target, &alive).await?;
    delete(conn, target, &gone).await?;
    Ok(())
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

async fn upsert(
    conn: &mut PgConnection,
    target: Target,
    rows: &[WebhookRow],
) -> Result<(), ProjectionError> {
    let updates = COLUMNS
        .split(", ")
        .filter(|c| *c != "tenant" && *c != "id")
        .map(|c| format!("{c} = EXCLUDED.{c}"))
        .collect::<Vec<_>>()
        .join(", ");
    for chunk in rows.chunks(BIND_CHUNK / 21) {
        let mut q = QueryBuilder::<Postgres>::new(format!(
            "INSERT INTO {} ({COLUMNS}) ",
            target.table("webhooks")
        ));
        q.push_values(chunk, |mut b, r| {
            b.push_bind(&r.tenant)
                .push_bind(&r.id)
                .push_bind(&r.name)
                .push_bind(&r.description)
                .push_bind(&r.url);
            b.push_bind(&r.http_method)
                .push_bind(&r.events)
                .push_bind(&r.filter)
                .push_bind(&r.headers)
                .push_bind(&r.properties);
            b.push_bind(&r.status)
                .push_bind(r.retry_attempts)
                .push_bind(r.retry_delay_seconds)
                .push_bind(&r.retry_policy);
            b.push_bind(r.timeout_seconds)
                .push_bind(&r.errors_email)
                .push_bind(r.created_at)
                .push_bind(r.updated_at);
            b.push_bind(&r.created_by)
                .push_bind(&r.updated_by)
                .push_bind(r.version);
        });
        q.push(format!(" ON CONFLICT (tenant, id) DO UPDATE SET {updates}"));
        q.build().execute(&mut *conn).await?;
    }
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

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
use crate::apply::{array_params, changes_of, corrupt, decode, pg_time, text_array};
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
        let event: WebhookEvent = decode(recorded).map_err(|e| corrupt(entry, e))?;
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

/// The types of the arrays [`HistoryColumns`] binds, in order.
const HISTORY_TYPES: [&str; 9] = [
    "text",
    "text",
    "int8",
    "timestamptz",
    "timestamptz",
    "text",
    "text",
    "text",
    "text",
];

/// History rows, column by column (JSON as text, `event_types` as a JSON array).
struct HistoryColumns<'a> {
    tenant: Vec<&'a str>,
    webhook_id: Vec<&'a str>,
    sequence: Vec<i64>,
    valid_from: Vec<DateTime<Utc>>,
    valid_to: Vec<Option<DateTime<Utc>>>,
    actor: Vec<&'a str>,
    event_types: Vec<String>,
    changes: Vec<&'a str>,
    state: Vec<Option<&'a str>>,
}

impl<'a> HistoryColumns<'a> {
    fn of(rows: &'a [HistoryInsert]) -> Result<Self, ProjectionError> {
        Ok(Self {
            tenant: rows.iter().map(|h| h.tenant.as_str()).collect(),
            webhook_id: rows.iter().map(|h| h.webhook_id.as_str()).collect(),
            sequence: rows.iter().map(|h| h.sequence).collect(),
            valid_from: rows.iter().map(|h| h.valid_from).collect(),
            valid_to: rows.iter().map(|h| h.valid_to).collect(),
            actor: rows.iter().map(|h| h.actor.as_str()).collect(),
            event_types: rows
                .iter()
                .map(|h| serde_json::to_string(&h.event_types))
                .collect::<Result<_, _>>()?,
            changes: rows.iter().map(|h| h.changes.as_str()).collect(),
            state: rows.iter().map(|h| h.state.as_deref()).collect(),
        })
    }
}

/// The types of the arrays [`WebhookColumns`] binds, in the order of [`COLUMNS`].
const WEBHOOK_TYPES: [&str; 21] = [
    "text",
    "text",
    "text",
    "text",
    "text",
    "text",
    "text",
    "text",
    "text",
    "text",
    "text",
    "int4",
    "int4",
    "text",
    "int4",
    "text",
    "timestamptz",
    "timestamptz",
    "text",
    "text",
    "int8",
];

/// Webhook rows, column by column (`events` as a JSON array, JSON as text).
struct WebhookColumns<'a> {
    tenant: Vec<&'a str>,
    id: Vec<&'a str>,
    name: Vec<&'a str>,
    description: Vec<Option<&'a str>>,
    url: Vec<&'a str>,
    http_method: Vec<&'a str>,
    events: Vec<String>,
    filter: Vec<Option<String>>,
    headers: Vec<String>,
    properties: Vec<String>,
    status: Vec<&'a str>,
    retry_attempts: Vec<i32>,
    retry_delay_seconds: Vec<i32>,
    retry_policy: Vec<&'a str>,
    timeout_seconds: Vec<i32>,
    errors_email: Vec<Option<&'a str>>,
    created_at: Vec<DateTime<Utc>>,
    updated_at: Vec<DateTime<Utc>>,
    created_by: Vec<&'a str>,
    updated_by: Vec<&'a str>,
    version: Vec<i64>,
}

impl<'a> WebhookColumns<'a> {
    fn of(rows: &'a [WebhookRow]) -> Result<Self, ProjectionError> {
        Ok(Self {
            tenant: rows.iter().map(|r| r.tenant.as_str()).collect(),
            id: rows.iter().map(|r| r.id.as_str()).collect(),
            name: rows.iter().map(|r| r.name.as_str()).collect(),
            description: rows.iter().map(|r| r.description.as_deref()).collect(),
            url: rows.iter().map(|r| r.url.as_str()).collect(),
            http_method: rows.iter().map(|r| r.http_method.as_str()).collect(),
            events: rows
                .iter()
                .map(|r| serde_json::to_string(&r.events))
                .collect::<Result<_, _>>()?,
            filter: rows
                .iter()
                .map(|r| r.filter.as_ref().map(Value::to_string))
                .collect(),
            headers: rows.iter().map(|r| r.headers.to_string()).collect(),
            properties: rows.iter().map(|r| r.properties.to_string()).collect(),
            status: rows.iter().map(|r| r.status.as_str()).collect(),
            retry_attempts: rows.iter().map(|r| r.retry_attempts).collect(),
            retry_delay_seconds: rows.iter().map(|r| r.retry_delay_seconds).collect(),
            retry_policy: rows.iter().map(|r| r.retry_policy.as_str()).collect(),
            timeout_seconds: rows.iter().map(|r| r.timeout_seconds).collect(),
            errors_email: rows.iter().map(|r| r.errors_email.as_deref()).collect(),
            created_at: rows.iter().map(|r| r.created_at).collect(),
            updated_at: rows.iter().map(|r| r.updated_at).collect(),
            created_by: rows.iter().map(|r| r.created_by.as_str()).collect(),
            updated_by: rows.iter().map(|r| r.updated_by.as_str()).collect(),
            version: rows.iter().map(|r| r.version).collect(),
        })
    }
}

/// `INSERT INTO <table> (COLUMNS) SELECT … FROM UNNEST(<the arrays from $first>) ON CONFLICT
/// … DO UPDATE`: the upsert of [`WebhookColumns`].
fn upsert_sql(table: &str, first: usize) -> String {
    let updates = COLUMNS
        .split(", ")
        .filter(|c| *c != "tenant" && *c != "id")
        .map(|c| format!("{c} = EXCLUDED.{c}"))
        .collect::<Vec<_>>()
        .join(", ");
    format!(
        "INSERT INTO {table} ({COLUMNS})
         SELECT tenant, id, name, description, url, http_method, {}, filter::jsonb, headers::jsonb,
                properties::jsonb, status, retry_attempts, retry_delay_seconds, retry_policy,
                timeout_seconds, errors_email, created_at, updated_at, created_by, updated_by, version
           FROM UNNEST({}) AS x({COLUMNS})
         ON CONFLICT (tenant, id) DO UPDATE SET {updates}",
        text_array("events"),
        array_params(first, &WEBHOOK_TYPES),
    )
}

type PgQuery<'q> = sqlx::query::Query<'q, sqlx::Postgres, sqlx::postgres::PgArguments>;

impl<'a> WebhookColumns<'a> {
    fn bind<'q>(&'q self, q: PgQuery<'q>) -> PgQuery<'q> {
        q.bind(&self.tenant)
            .bind(&self.id)
            .bind(&self.name)
            .bind(&self.description)
            .bind(&self.url)
            .bind(&self.http_method)
            .bind(&self.events)
            .bind(&self.filter)
            .bind(&self.headers)
            .bind(&self.properties)
            .bind(&self.status)
            .bind(&self.retry_attempts)
            .bind(&self.retry_delay_seconds)
            .bind(&self.retry_policy)
            .bind(&self.timeout_seconds)
            .bind(&self.errors_email)
            .bind(&self.created_at)
            .bind(&self.updated_at)
            .bind(&self.created_by)
            .bind(&self.updated_by)
            .bind(&self.version)
    }
}

impl<'a> HistoryColumns<'a> {
    fn bind<'q>(&'q self, q: PgQuery<'q>) -> PgQuery<'q> {
        q.bind(&self.tenant)
            .bind(&self.webhook_id)
            .bind(&self.sequence)
            .bind(&self.valid_from)
            .bind(&self.valid_to)
            .bind(&self.actor)
            .bind(&self.event_types)
            .bind(&self.changes)
            .bind(&self.state)
    }
}

/// Writes a folded batch in **one statement** (one round trip): close the open history rows of
/// the webhooks it touched, insert its history rows, delete the deleted webhooks, upsert the
/// others. The parts of a statement share one snapshot, so the close cannot see (and end) the
/// rows inserted beside it, and no row is written twice (a webhook is either gone or alive).
async fn write(
    conn: &mut PgConnection,
    target: Target,
    folded: &Folded,
    alive: &[WebhookRow],
    gone: &[&Key],
) -> Result<(), ProjectionError> {
    let history_table = target.table("webhook_history");
    let sql = format!(
        "WITH closed AS (
            UPDATE {history_table} AS h SET valid_to = c.at
              FROM UNNEST($1::text[], $2::text[], $3::timestamptz[]) AS c(tenant, webhook_id, at)
             WHERE h.tenant = c.tenant AND h.webhook_id = c.webhook_id AND h.valid_to IS NULL
         ), added AS (
            INSERT INTO {history_table} ({})
            SELECT t, w, s, f, v, a, {}, c::json, st::json
              FROM UNNEST({}) AS x(t, w, s, f, v, a, e, c, st)
         ), gone AS (
            DELETE FROM {webhooks} WHERE (tenant, id) IN (SELECT * FROM UNNEST($13::text[], $14::text[]))
         )
         {}",
        history::COPY_COLUMNS,
        text_array("e"),
        array_params(4, &HISTORY_TYPES),
        upsert_sql(&target.table("webhooks"), 15),
        webhooks = target.table("webhooks"),
    );
    let closed_tenants: Vec<&str> = folded.touched.iter().map(|(k, _)| k.0.as_str()).collect();
    let closed_ids: Vec<&str> = folded.touched.iter().map(|(k, _)| k.1.as_str()).collect();
    let closed_at: Vec<DateTime<Utc>> = folded.touched.iter().map(|(_, at)| *at).collect();
    let gone_tenants: Vec<&str> = gone.iter().map(|k| k.0.as_str()).collect();
    let gone_ids: Vec<&str> = gone.iter().map(|k| k.1.as_str()).collect();
    let history = HistoryColumns::of(&folded.history)?;
    let webhooks = WebhookColumns::of(alive)?;
    let q = sqlx::query(&sql)
        .bind(&closed_tenants)
        .bind(&closed_ids)
        .bind(&closed_at);
    let q = history.bind(q).bind(&gone_tenants).bind(&gone_ids);
    webhooks.bind(q).execute(&mut *conn).await?;
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
    let sql = upsert_sql(&target.table("webhooks"), 1);
    let columns = WebhookColumns::of(rows)?;
    columns.bind(sqlx::query(&sql)).execute(&mut *conn).await?;
    Ok(())
}

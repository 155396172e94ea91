//! The SQL of the `webhooks` fold: one query that loads the rows a batch touches, and the bulk
//! statements that write a folded batch back.
//!
//! Every statement binds each column as one array and `UNNEST`s them (one round trip however
//! many rows), so the column lists, their array types and the bind order must agree: they sit
//! together here, apart from the folding logic in `fold`, which never sees SQL.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx::PgConnection;

use super::fold::{Folded, Key};
use super::{COLUMNS, WebhookRow};
use crate::ProjectionError;
use crate::apply::{array_params, text_array};
use crate::history::{self, HistoryInsert};
use crate::view::Target;

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
pub(super) async fn write(
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

/// The current rows of the webhooks in `keys`; absent ones map to `None` (or are missing).
pub(super) async fn load(
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

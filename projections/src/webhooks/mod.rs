//! The `webhooks` view: the current state of every webhook that exists (deleted ones are gone;
//! their history stays in `webhook_history`), and the list/get queries the API reads.
//!
//! # Layout
//! - this file: [`WebhookRow`], [`ListFilter`], [`list`], [`get`].
//! - `fold`: applies a batch of `webhook.*` ledger messages (in memory, then bulk writes).
//! - `sql`: the fold's statements: loading the rows a batch touches, bulk writes, upserts.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sqlx::{PgPool, Postgres, QueryBuilder};

use crate::ProjectionError;
use crate::page::{Page, Paging};

pub(crate) mod fold;
pub(crate) mod sql;

/// The columns of `webhooks`, in table order.
pub(crate) const COLUMNS: &str = "tenant, id, name, description, url, http_method, events, filter, headers, properties, \
     status, retry_attempts, retry_delay_seconds, retry_policy, timeout_seconds, errors_email, created_at, updated_at, \
     created_by, updated_by, version";

/// A webhook as the API shows it (without its secret). Its JSON form (camelCase) is also what
/// `webhook_history.state` stores, so [`crate::history::as_of`] returns the same shape.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, sqlx::FromRow)]
#[serde(rename_all = "camelCase")]
pub struct WebhookRow {
    pub tenant: String,
    pub id: String,
    pub name: String,
    pub description: Option<String>,
    pub url: String,
    pub http_method: String,
    /// Event types and patterns (`lead.*`, `*`).
    pub events: Vec<String>,
    /// The JSONLogic filter, if any.
    pub filter: Option<Value>,
    /// Custom headers, a JSON object.
    pub headers: Value,
    /// Custom properties merged into each delivery body, a JSON object.
    pub properties: Value,
    /// `active`, `paused` or `disabled`.
    pub status: String,
    pub retry_attempts: i32,
    pub retry_delay_seconds: i32,
    pub retry_policy: String,
    pub timeout_seconds: i32,
    pub errors_email: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// The actor of the creating command (`key_…`, `operator`, `system`).
    pub created_by: String,
    pub updated_by: String,
    /// The ledger sequence of the webhook's last message (the ETag).
    pub version: i64,
}

impl WebhookRow {
    /// `status == "active"`.
    pub fn is_active(&self) -> bool {
        self.status == "active"
    }
}

/// The list filters of `GET /v1/webhooks`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ListFilter {
    /// `Some(true)`: only `active`; `Some(false)`: only `paused` or `disabled`.
    pub is_active: Option<bool>,
    pub status: Option<String>,
    /// Only webhooks subscribed to this event type, directly or by a pattern.
    pub event: Option<String>,
    /// Only webhooks whose id matches this POSIX regular expression (a vendor dialect's ids,
    /// `Dialect::id_regex`).
    pub id_regex: Option<String>,
    pub page: u32,
    pub limit: u32,
}

/// The patterns that match `event_type`: itself, `*`, and `<prefix>.*` for every proper
/// prefix of its segments (`lead.created.v2` → `lead.*`, `lead.created.*`).
pub fn patterns_matching(event_type: &str) -> Vec<String> {
    let mut patterns = vec![event_type.to_owned(), "*".to_owned()];
    for (i, _) in event_type.match_indices('.') {
        patterns.push(format!("{}.*", &event_type[..i]));
    }
    patterns
}

fn push_filters<'a>(q: &mut QueryBuilder<'a, Postgres>, tenant: &'a str, filter: &'a ListFilter) {
    q.push(" WHERE tenant = ").push_bind(tenant);
    match filter.is_active {
        Some(true) => {
            q.push(" AND status = 'active'");
        }
        Some(false) => {
            q.push(" AND status <> 'active'");
        }
        None => {}
    }
    if let Some(status) = &filter.status {
        q.push(" AND status = ").push_bind(status.as_str());
    }
    if let Some(event) = &filter.event {
        q.push(" AND events && ")
            .push_bind(patterns_matching(event));
    }
    if let Some(regex) = &filter.id_regex {
        q.push(" AND id ~ ").push_bind(regex.as_str());
    }
}

/// The greatest id matching `id_regex` that the tenant has or had (deleted webhooks count:
/// their history stays), for dialects that number their webhooks.
pub async fn max_id_matching(
    pool: &PgPool,
    tenant: &str,
    id_regex: &str,
) -> Result<Option<String>, ProjectionError> {
    let (max,): (Option<String>,) = sqlx::query_as(
        "SELECT max(id) FROM ( \
            SELECT id FROM webhooks WHERE tenant = $1 AND id ~ $2 \
            UNION ALL \
            SELECT webhook_id FROM webhook_history WHERE tenant = $1 AND webhook_id ~ $2) ids",
    )
    .bind(tenant)
    .bind(id_regex)
    .fetch_one(pool)
    .await?;
    Ok(max)
}

/// One page of a tenant's webhooks, oldest first (`created_at`, then id).
pub async fn list(
    pool: &PgPool,
    tenant: &str,
    filter: &ListFilter,
) -> Result<Page<WebhookRow>, ProjectionError> {
    let paging = Paging::new(filter.page, filter.limit);
    let mut count = QueryBuilder::new("SELECT count(*) FROM webhooks");
    push_filters(&mut count, tenant, filter);
    let (total,): (i64,) = count.build_query_as().fetch_one(pool).await?;
    let mut rows = QueryBuilder::new(format!("SELECT {COLUMNS} FROM webhooks"));
    push_filters(&mut rows, tenant, filter);
    rows.push(" ORDER BY created_at, id LIMIT ")
        .push_bind(paging.limit())
        .push(" OFFSET ")
        .push_bind(paging.offset());
    let data = rows.build_query_as::<WebhookRow>().fetch_all(pool).await?;
    Ok(paging.page(data, total))
}

/// One webhook of `tenant`; `None` if it does not exist, was deleted, or belongs to another
/// tenant.
pub async fn get(
    pool: &PgPool,
    tenant: &str,
    id: &str,
) -> Result<Option<WebhookRow>, ProjectionError> {
    Ok(sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM webhooks WHERE tenant = $1 AND id = $2"
    ))
    .bind(tenant)
    .bind(id)
    .fetch_optional(pool)
    .await?)
}

#[cfg(test)]
mod tests {
    use super::patterns_matching;

    #[test]
    fn an_event_type_is_matched_by_itself_the_wildcard_and_each_prefix_pattern() {
        assert_eq!(
            patterns_matching("lead.created.v2"),
            ["lead.created.v2", "*", "lead.*", "lead.created.*"]
        );
        assert_eq!(patterns_matching("ping"), ["ping", "*"]);
    }
}

//! The `deliveries` and `delivery_attempts` views: every delivery of an event to a webhook,
//! its status and last result, and every HTTP attempt of it.
//!
//! Written by the deliveries projector from the DELIVERIES facts (see `fold`); read by
//! `GET /v1/webhooks/{id}/deliveries[/{deliveryId}]` and by `recover` ([`failed_since`]).
//!
//! # Layout
//! - this file: rows, [`DeliveryFilter`], [`list`], [`get`], [`failed_since`].
//!   [`list`] takes its total from the `webhook_stats` counters when the filter is none or a
//!   status only (a count over a hot webhook's rows was most of the page's time); other
//!   filters count rows.
//! - [`by_event`]: the deliveries of one event, the last failure of each webhook (console).
//! - `fold`: applies a batch of facts (in memory, then bulk writes; also the stats counters).

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::{PgPool, Postgres, QueryBuilder};

use crate::ProjectionError;
use crate::page::{Page, Paging};

pub mod by_event;
pub(crate) mod fold;

const COLUMNS: &str = "tenant, webhook_id, id, event_id, event_type, status, attempt_count, last_attempt, last_outcome, \
     response_status, last_attempt_at, next_attempt_at, created_at, closed_at, reason, sequence";

/// One delivery (one event to one webhook).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow)]
#[serde(rename_all = "camelCase")]
pub struct DeliveryRow {
    #[serde(skip)]
    pub tenant: String,
    pub webhook_id: String,
    pub id: String,
    pub event_id: String,
    pub event_type: String,
    /// `pending` (attempted, not over), `succeeded` or `failed`.
    pub status: String,
    /// Attempts made so far.
    pub attempt_count: i32,
    /// The number of the latest attempt (attempts are numbered from 1, redeliveries continue).
    #[serde(skip)]
    pub last_attempt: i32,
    /// The outcome code of the latest attempt.
    pub last_outcome: Option<String>,
    /// The HTTP status of the latest attempt.
    pub response_status: Option<i32>,
    pub last_attempt_at: Option<DateTime<Utc>>,
    pub next_attempt_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    /// When the delivery ended (succeeded or failed for good).
    pub closed_at: Option<DateTime<Utc>>,
    /// For a failed delivery: the outcome code that ended it.
    pub reason: Option<String>,
    /// The DELIVERIES sequence of the latest fact.
    #[serde(skip)]
    pub sequence: i64,
}

/// One attempt of a delivery.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow)]
#[serde(rename_all = "camelCase")]
pub struct AttemptRow {
    pub attempt: i32,
    pub at: DateTime<Utc>,
    /// `success`, `http_error`, `timeout`, `connect`, `dns`, `refused_target`, `gone`, `paused`.
    pub outcome: String,
    pub response_status: Option<i32>,
    pub latency_ms: Option<i64>,
    pub error: Option<String>,
    /// The start of the response body (at most 2 KiB).
    pub response_body: Option<String>,
    pub next_attempt_at: Option<DateTime<Utc>>,
    /// `event`, `redeliver`, `recover` or `test`.
    pub trigger: Option<String>,
    /// The response's headers (lower-case names, repeated values joined with `, `, bounded by
    /// the dispatcher). Empty without a response and for attempts recorded before headers
    /// were kept (the column is NULL there; [`get`] reads it as `{}`).
    #[sqlx(json)]
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub response_headers: BTreeMap<String, String>,
}

/// A delivery with every attempt, oldest first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DeliveryDetail {
    #[serde(flatten)]
    pub delivery: DeliveryRow,
    pub attempts: Vec<AttemptRow>,
}

/// The filters of `GET /v1/webhooks/{id}/deliveries`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DeliveryFilter {
    /// `Some(true)`: succeeded only; `Some(false)`: failed only.
    pub success: Option<bool>,
    /// Exact event type.
    pub event: Option<String>,
    pub status: Option<String>,
    /// Created at or after.
    pub since: Option<DateTime<Utc>>,
    /// Created before.
    pub until: Option<DateTime<Utc>>,
    pub page: u32,
    pub limit: u32,
}

fn push_filters<'a>(
    q: &mut QueryBuilder<'a, Postgres>,
    tenant: &'a str,
    webhook_id: &'a str,
    f: &'a DeliveryFilter,
) {
    q.push(" WHERE tenant = ")
        .push_bind(tenant)
        .push(" AND webhook_id = ")
        .push_bind(webhook_id);
    match f.success {
        Some(true) => {
            q.push(" AND status = 'succeeded'");
        }
        Some(false) => {
            q.push(" AND status = 'failed'");
        }
        None => {}
    }
    if let Some(event) = &f.event {
        q.push(" AND event_type = ").push_bind(event.as_str());
    }
    if let Some(status) = &f.status {
        q.push(" AND status = ").push_bind(status.as_str());
    }
    if let Some(since) = f.since {
        q.push(" AND created_at >= ").push_bind(since);
    }
    if let Some(until) = f.until {
        q.push(" AND created_at < ").push_bind(until);
    }
}

/// One page of a webhook's deliveries, newest first.
pub async fn list(
    pool: &PgPool,
    tenant: &str,
    webhook_id: &str,
    filter: &DeliveryFilter,
) -> Result<Page<DeliveryRow>, ProjectionError> {
    let paging = Paging::new(filter.page, filter.limit);
    let total = match counted_status(filter) {
        Some(status) => total_from_counters(pool, tenant, webhook_id, status).await?,
        None => {
            let mut count = QueryBuilder::new("SELECT count(*) FROM deliveries");
            push_filters(&mut count, tenant, webhook_id, filter);
            let (total,): (i64,) = count.build_query_as().fetch_one(pool).await?;
            total
        }
    };
    let mut rows = QueryBuilder::new(format!("SELECT {COLUMNS} FROM deliveries"));
    push_filters(&mut rows, tenant, webhook_id, filter);
    rows.push(" ORDER BY created_at DESC, id DESC LIMIT ")
        .push_bind(paging.limit())
        .push(" OFFSET ")
        .push_bind(paging.offset());
    let data = rows.build_query_as::<DeliveryRow>().fetch_all(pool).await?;
    Ok(paging.page(data, total))
}

/// Which total of `webhook_stats` answers the filter: `Some(None)` for every delivery,
/// `Some(Some(status))` for one status; `None` when only counting rows can answer (an event
/// type, a time range, an unknown status, or `success` and `status` disagreeing).
fn counted_status(f: &DeliveryFilter) -> Option<Option<&'static str>> {
    if f.event.is_some() || f.since.is_some() || f.until.is_some() {
        return None;
    }
    let from_success = f.success.map(|ok| if ok { "succeeded" } else { "failed" });
    let from_status = match f.status.as_deref() {
        None => None,
        Some(s) => Some(
            ["pending", "succeeded", "failed"]
                .into_iter()
                .find(|k| *k == s)?,
        ),
    };
    match (from_success, from_status) {
        (Some(a), Some(b)) if a != b => None,
        (a, b) => Some(a.or(b)),
    }
}

/// The number of a webhook's deliveries (with `status`) from its `webhook_stats` counters,
/// which the projector moves in the same transaction as the rows: one row read instead of a
/// count over every delivery (50,000 rows took ~30 ms).
async fn total_from_counters(
    pool: &PgPool,
    tenant: &str,
    webhook_id: &str,
    status: Option<&str>,
) -> Result<i64, ProjectionError> {
    let counters: Option<(i64, i64, i64)> = sqlx::query_as(
        "SELECT deliveries, succeeded, failed FROM webhook_stats WHERE tenant = $1 AND webhook_id = $2",
    )
    .bind(tenant)
    .bind(webhook_id)
    .fetch_optional(pool)
    .await?;
    let (all, succeeded, failed) = counters.unwrap_or_default();
    Ok(match status {
        None => all,
        Some("succeeded") => succeeded,
        Some("failed") => failed,
        Some(_) => all - succeeded - failed,
    })
}

/// One delivery of a webhook with its attempts.
pub async fn get(
    pool: &PgPool,
    tenant: &str,
    webhook_id: &str,
    delivery_id: &str,
) -> Result<Option<DeliveryDetail>, ProjectionError> {
    let delivery: Option<DeliveryRow> = sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM deliveries WHERE tenant = $1 AND webhook_id = $2 AND id = $3"
    ))
    .bind(tenant)
    .bind(webhook_id)
    .bind(delivery_id)
    .fetch_optional(pool)
    .await?;
    let Some(delivery) = delivery else {
        return Ok(None);
    };
    let attempts = sqlx::query_as(
        "SELECT attempt, at, outcome, response_status, latency_ms, error, response_body, next_attempt_at, trigger,
                COALESCE(response_headers, '{}') AS response_headers
           FROM delivery_attempts WHERE tenant = $1 AND webhook_id = $2 AND delivery_id = $3 ORDER BY attempt",
    )
    .bind(tenant)
    .bind(webhook_id)
    .bind(delivery_id)
    .fetch_all(pool)
    .await?;
    Ok(Some(DeliveryDetail { delivery, attempts }))
}

/// Every failed delivery of a webhook created at or after `since`, oldest first (for
/// `recover`).
pub async fn failed_since(
    pool: &PgPool,
    tenant: &str,
    webhook_id: &str,
    since: DateTime<Utc>,
) -> Result<Vec<DeliveryRow>, ProjectionError> {
    Ok(sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM deliveries
          WHERE tenant = $1 AND webhook_id = $2 AND status = 'failed' AND created_at >= $3
          ORDER BY created_at, id"
    ))
    .bind(tenant)
    .bind(webhook_id)
    .bind(since)
    .fetch_all(pool)
    .await?)
}

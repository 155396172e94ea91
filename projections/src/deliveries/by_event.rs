//! Reads of the deliveries view across a tenant's webhooks, for the console: every delivery
//! of one event, and the last failed attempt of each webhook of a page.
//!
//! Both are served by indexes of migration 0005: `deliveries (tenant, event_id)` and the
//! partial `delivery_attempts (tenant, webhook_id, at) WHERE outcome <> 'success'`, so the last
//! failure of a webhook is one index entry however many successes followed it.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use sqlx::PgPool;

use super::{COLUMNS, DeliveryRow};
use crate::ProjectionError;

/// The most deliveries of one event returned (one per webhook subscribed to it).
pub const FOR_EVENT_LIMIT: i64 = 500;

/// A delivery of one event, with the name of its webhook (`None`: deleted since).
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct EventDelivery {
    #[sqlx(flatten)]
    pub delivery: DeliveryRow,
    pub webhook_name: Option<String>,
}

/// Every delivery of event `event_id` to any of the tenant's webhooks, oldest first (at most
/// [`FOR_EVENT_LIMIT`]), with the webhooks' names (one query).
pub async fn for_event(
    pool: &PgPool,
    tenant: &str,
    event_id: &str,
) -> Result<Vec<EventDelivery>, ProjectionError> {
    Ok(sqlx::query_as(&format!(
        "SELECT d.*, (SELECT w.name FROM webhooks w WHERE w.tenant = d.tenant AND w.id = d.webhook_id) AS webhook_name
           FROM (SELECT {COLUMNS} FROM deliveries WHERE tenant = $1 AND event_id = $2
                  ORDER BY created_at, webhook_id, id LIMIT $3) d
          ORDER BY d.created_at, d.webhook_id, d.id"
    ))
    .bind(tenant)
    .bind(event_id)
    .bind(FOR_EVENT_LIMIT)
    .fetch_all(pool)
    .await?)
}

/// The last attempt of a webhook that did not succeed.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct LastFailure {
    pub webhook_id: String,
    pub delivery_id: String,
    pub at: DateTime<Utc>,
    pub outcome: String,
    pub response_status: Option<i32>,
    pub error: Option<String>,
}

/// The last failed attempt of each of `webhook_ids` (one query); a webhook that never failed
/// is absent.
pub async fn last_failures(
    pool: &PgPool,
    tenant: &str,
    webhook_ids: &[String],
) -> Result<HashMap<String, LastFailure>, ProjectionError> {
    let rows: Vec<LastFailure> = sqlx::query_as(
        "SELECT w.id AS webhook_id, a.delivery_id, a.at, a.outcome, a.response_status, a.error
           FROM unnest($2::text[]) AS w(id)
           CROSS JOIN LATERAL (
               SELECT delivery_id, at, outcome, response_status, error FROM delivery_attempts
                WHERE tenant = $1 AND webhook_id = w.id AND outcome <> 'success'
                ORDER BY at DESC LIMIT 1
           ) a",
    )
    .bind(tenant)
    .bind(webhook_ids)
    .fetch_all(pool)
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| (r.webhook_id.clone(), r))
        .collect())
}

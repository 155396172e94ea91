//! The `event_types` view: each tenant's event-type catalog, from `catalog.*` events.
//!
//! Read by `GET /v1/event-types` ([`list`]) and by anything that needs the set of known names
//! ([`names`]). The catalog aggregate itself stays the authority for validating commands.

use std::collections::BTreeSet;

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::Value;
use sqlx::PgPool;

use crate::ProjectionError;
use crate::page::{Page, Paging};

/// One event type of a tenant's catalog.
#[derive(Debug, Clone, PartialEq, Serialize, sqlx::FromRow)]
#[serde(rename_all = "camelCase")]
pub struct EventTypeRow {
    pub name: String,
    pub description: Option<String>,
    /// A JSON Schema of the event's data, when one was given.
    pub schema: Option<Value>,
    pub created_at: DateTime<Utc>,
}

/// One page of a tenant's event types, oldest first.
pub async fn list(
    pool: &PgPool,
    tenant: &str,
    page: u32,
    limit: u32,
) -> Result<Page<EventTypeRow>, ProjectionError> {
    let paging = Paging::new(page, limit);
    let (total,): (i64,) = sqlx::query_as("SELECT count(*) FROM event_types WHERE tenant = $1")
        .bind(tenant)
        .fetch_one(pool)
        .await?;
    let data = sqlx::query_as(
        "SELECT name, description, schema, created_at FROM event_types WHERE tenant = $1
          ORDER BY created_at, name LIMIT $2 OFFSET $3",
    )
    .bind(tenant)
    .bind(paging.limit())
    .bind(paging.offset())
    .fetch_all(pool)
    .await?;
    Ok(paging.page(data, total))
}

/// Every event type name of a tenant.
pub async fn names(pool: &PgPool, tenant: &str) -> Result<BTreeSet<String>, ProjectionError> {
    let rows: Vec<(String,)> = sqlx::query_as("SELECT name FROM event_types WHERE tenant = $1")
        .bind(tenant)
        .fetch_all(pool)
        .await?;
    Ok(rows.into_iter().map(|(n,)| n).collect())
}

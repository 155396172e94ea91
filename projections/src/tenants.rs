//! The `tenants` and `api_keys` views: who exists, and which key hash acts for which tenant.
//!
//! Written by the ledger projector from `tenant.*` events (see `apply::ledger`); read by the
//! admin routes and by authentication ([`find_api_key`]: one primary-key lookup by hash).

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::PgPool;

use crate::ProjectionError;
use crate::page::{Page, Paging};

/// A tenant.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow)]
#[serde(rename_all = "camelCase")]
pub struct TenantRow {
    pub id: String,
    pub name: String,
    pub created_at: DateTime<Utc>,
    /// Console links minted up to this instant no longer sign in (`tenant.console_links_revoked`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub console_links_revoked_before: Option<DateTime<Utc>>,
}

/// An API key (never the key itself: its hash identifies it).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow)]
#[serde(rename_all = "camelCase")]
pub struct ApiKeyRow {
    pub key_id: String,
    pub tenant: String,
    pub name: Option<String>,
    /// The first characters of the key, for people to recognise it.
    pub prefix: String,
    pub created_at: DateTime<Utc>,
    /// Set once the key is revoked; a revoked key authenticates nothing.
    pub revoked_at: Option<DateTime<Utc>>,
}

impl ApiKeyRow {
    pub fn is_revoked(&self) -> bool {
        self.revoked_at.is_some()
    }
}

/// One page of tenants, oldest first.
pub async fn list(
    pool: &PgPool,
    page: u32,
    limit: u32,
) -> Result<Page<TenantRow>, ProjectionError> {
    let paging = Paging::new(page, limit);
    let (total,): (i64,) = sqlx::query_as("SELECT count(*) FROM tenants")
        .fetch_one(pool)
        .await?;
    let data = sqlx::query_as(
        "SELECT id, name, created_at, console_links_revoked_before FROM tenants ORDER BY created_at, id LIMIT $1 OFFSET $2",
    )
    .bind(paging.limit())
    .bind(paging.offset())
    .fetch_all(pool)
    .await?;
    Ok(paging.page(data, total))
}

/// One tenant.
pub async fn get(pool: &PgPool, id: &str) -> Result<Option<TenantRow>, ProjectionError> {
    Ok(sqlx::query_as(
        "SELECT id, name, created_at, console_links_revoked_before FROM tenants WHERE id = $1",
    )
    .bind(id)
    .fetch_optional(pool)
    .await?)
}

/// A console link an operator minted (its id; the signed token is never stored).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow)]
#[serde(rename_all = "camelCase")]
pub struct ConsoleLinkRow {
    pub link_id: String,
    pub read_only: bool,
    pub minted_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    /// Set once this link was revoked on its own.
    pub revoked_at: Option<DateTime<Utc>>,
}

/// The tenant's console links not yet expired, newest first (at most `limit`).
pub async fn live_console_links(
    pool: &PgPool,
    tenant: &str,
    limit: i64,
) -> Result<Vec<ConsoleLinkRow>, ProjectionError> {
    Ok(sqlx::query_as(
        "SELECT link_id, read_only, minted_at, expires_at, revoked_at FROM console_links
          WHERE tenant = $1 AND expires_at > now() ORDER BY minted_at DESC LIMIT $2",
    )
    .bind(tenant)
    .bind(limit)
    .fetch_all(pool)
    .await?)
}

/// What revokes one console link: itself, or its tenant's links up to an instant.
#[derive(Debug, Clone, Default, PartialEq, Eq, sqlx::FromRow)]
pub struct LinkRevocation {
    /// When the link was revoked on its own.
    pub revoked_at: Option<DateTime<Utc>>,
    /// The instant up to which the tenant's links were revoked.
    pub console_links_revoked_before: Option<DateTime<Utc>>,
}

/// What revokes the console link `link_id` of `tenant`, in one read (nothing for an unknown
/// tenant or link).
pub async fn console_link_revocation(
    pool: &PgPool,
    tenant: &str,
    link_id: &str,
) -> Result<LinkRevocation, ProjectionError> {
    let row: Option<LinkRevocation> = sqlx::query_as(
        "SELECT l.revoked_at, t.console_links_revoked_before
           FROM tenants t LEFT JOIN console_links l ON l.link_id = $2 AND l.tenant = t.id
          WHERE t.id = $1",
    )
    .bind(tenant)
    .bind(link_id)
    .fetch_optional(pool)
    .await?;
    Ok(row.unwrap_or_default())
}

/// The key whose hash is `key_hash` (revoked or not: callers check [`ApiKeyRow::is_revoked`]).
pub async fn find_api_key(
    pool: &PgPool,
    key_hash: &str,
) -> Result<Option<ApiKeyRow>, ProjectionError> {
    Ok(sqlx::query_as("SELECT key_id, tenant, name, prefix, created_at, revoked_at FROM api_keys WHERE key_hash = $1")
        .bind(key_hash)
        .fetch_optional(pool)
        .await?)
}

/// A tenant's keys, oldest first.
pub async fn api_keys(pool: &PgPool, tenant: &str) -> Result<Vec<ApiKeyRow>, ProjectionError> {
    Ok(sqlx::query_as(
        "SELECT key_id, tenant, name, prefix, created_at, revoked_at FROM api_keys WHERE tenant = $1 ORDER BY created_at, key_id",
    )
    .bind(tenant)
    .fetch_all(pool)
    .await?)
}

//! `LEDGER` messages → the ledger view's tables.
//!
//! Every message goes to `events_archive`; then, by aggregate type, tenant messages to
//! `tenants`/`api_keys`, catalog messages to `event_types` (both rare: one statement per
//! event), and webhook messages to `webhooks`/`webhook_history` (folded in memory and written
//! in bulk, see [`crate::webhooks`]).

use hookledger_domain::catalog::CatalogEvent;
use hookledger_domain::ledger::reader::RawMessage;
use hookledger_domain::ledger::{LedgerEntry, Names};
use hookledger_domain::tenant::TenantEvent;
use sqlx::PgConnection;

use super::{corrupt, pg_time};
use crate::view::Target;
use crate::{ProjectionError, archive, checkpoint, webhooks};

pub(super) async fn apply(
    conn: &mut PgConnection,
    target: Target,
    names: &Names,
    batch: &[&RawMessage],
) -> Result<(), ProjectionError> {
    let entries = batch
        .iter()
        .map(|m| m.ledger_entry())
        .collect::<Result<Vec<_>, _>>()?;
    archive::append(conn, target, &entries).await?;
    let mut hooks = Vec::new();
    for entry in &entries {
        let kind = names
            .parse_ledger_subject(&entry.subject)
            .map(|(kind, _)| kind)
            .unwrap_or(entry.record.aggregate_type.as_str());
        match kind {
            "webhook" => hooks.push(entry),
            "tenant" => apply_tenant(conn, target, entry).await?,
            "catalog" => apply_catalog(conn, target, entry).await?,
            other => {
                tracing::warn!(subject = %entry.subject, sequence = entry.sequence, aggregate_type = other, "ledger message of an unknown aggregate type; archived only")
            }
        }
    }
    webhooks::fold::apply(conn, target, &hooks).await
}

async fn apply_tenant(
    conn: &mut PgConnection,
    target: Target,
    entry: &LedgerEntry,
) -> Result<(), ProjectionError> {
    let tenant = entry.record.aggregate_id.as_str();
    let at = pg_time(entry.time);
    let version = checkpoint::to_i64(entry.sequence);
    for recorded in &entry.record.events {
        match recorded
            .to_event::<TenantEvent>()
            .map_err(|e| corrupt(entry, e))?
        {
            TenantEvent::Created { id, name } => {
                sqlx::query(&format!(
                    "INSERT INTO {} (id, name, created_at, version) VALUES ($1, $2, $3, $4)
                     ON CONFLICT (id) DO UPDATE SET name = EXCLUDED.name, version = EXCLUDED.version",
                    target.table("tenants")
                ))
                .bind(id.as_str())
                .bind(name.unwrap_or_else(|| id.to_string()))
                .bind(at)
                .bind(version)
                .execute(&mut *conn)
                .await?;
            }
            TenantEvent::ApiKeyIssued {
                key_id,
                name,
                key_hash,
                key_prefix,
            } => {
                sqlx::query(&format!(
                    "INSERT INTO {} (key_id, tenant, name, key_hash, prefix, created_at) VALUES ($1, $2, $3, $4, $5, $6)
                     ON CONFLICT (key_id) DO NOTHING",
                    target.table("api_keys")
                ))
                .bind(key_id.as_str())
                .bind(tenant)
                .bind(name)
                .bind(key_hash)
                .bind(key_prefix)
                .bind(at)
                .execute(&mut *conn)
                .await?;
            }
            TenantEvent::ApiKeyRevoked { key_id } => {
                sqlx::query(&format!(
                    "UPDATE {} SET revoked_at = $3 WHERE key_id = $1 AND tenant = $2 AND revoked_at IS NULL",
                    target.table("api_keys")
                ))
                .bind(key_id.as_str())
                .bind(tenant)
                .bind(at)
                .execute(&mut *conn)
                .await?;
            }
        }
    }
    sqlx::query(&format!(
        "UPDATE {} SET version = $2 WHERE id = $1",
        target.table("tenants")
    ))
    .bind(tenant)
    .bind(version)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

async fn apply_catalog(
    conn: &mut PgConnection,
    target: Target,
    entry: &LedgerEntry,
) -> Result<(), ProjectionError> {
    let tenant = entry.record.aggregate_id.as_str();
    for recorded in &entry.record.events {
        match recorded
            .to_event::<CatalogEvent>()
            .map_err(|e| corrupt(entry, e))?
        {
            CatalogEvent::EventTypeAdded {
                name,
                description,
                schema,
            } => {
                sqlx::query(&format!(
                    "INSERT INTO {} (tenant, name, description, schema, created_at) VALUES ($1, $2, $3, $4, $5)
                     ON CONFLICT (tenant, name) DO UPDATE SET description = EXCLUDED.description, schema = EXCLUDED.schema",
                    target.table("event_types")
                ))
                .bind(tenant)
                .bind(name.to_string())
                .bind(description)
                .bind(schema.filter(|s| !s.is_null()))
                .bind(pg_time(entry.time))
                .execute(&mut *conn)
                .await?;
            }
        }
    }
    Ok(())
}

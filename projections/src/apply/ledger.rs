//! `LEDGER` messages → the ledger view's tables.
//!
//! Every message goes to `events_archive`; then, by aggregate type, tenant messages to
//! `tenants`/`api_keys`, catalog messages to `event_types` (both rare: one statement per
//! event), and webhook messages to `webhooks`/`webhook_history` (folded in memory and written
//! in bulk, see [`crate::webhooks`]). A rebuild of the view goes through [`LedgerBulk`]
//! instead: the same fold, without reading its tables back.

use hookledger_domain::catalog::CatalogEvent;
use hookledger_domain::ledger::reader::RawMessage;
use hookledger_domain::ledger::{LedgerEntry, Names};
use hookledger_domain::notification::NotificationLog;
use hookledger_domain::tenant::TenantEvent;
use sqlx::{Connection, PgConnection, PgPool};

use super::copy::{CopyText, CopyWriter};
use super::{corrupt, pg_time};
use crate::view::Target;
use crate::{ProjectionError, archive, checkpoint, history, webhooks};

/// The ledger entries of a batch (parsed messages).
fn entries(batch: &[&RawMessage]) -> Result<Vec<LedgerEntry>, ProjectionError> {
    Ok(batch
        .iter()
        .map(|m| m.ledger_entry())
        .collect::<Result<Vec<_>, _>>()?)
}

/// The aggregate type of a ledger message (from its subject).
fn kind<'e>(names: &Names, entry: &'e LedgerEntry) -> &'e str {
    names
        .parse_ledger_subject(&entry.subject)
        .map(|(kind, _)| kind)
        .unwrap_or(entry.record.aggregate_type.as_str())
}

/// Facts about error emails (`domain::notification`): in the archive (and so the audit log),
/// in no view.
const NOTIFICATION: &str = <NotificationLog as cqrs_es::Aggregate>::TYPE;

fn unknown_kind(entry: &LedgerEntry, kind: &str) {
    tracing::warn!(subject = %entry.subject, sequence = entry.sequence, aggregate_type = kind, "ledger message of an unknown aggregate type; archived only");
}

/// Applies a batch to the live tables (or any copy whose rows it may read back).
pub(super) async fn apply(
    conn: &mut PgConnection,
    target: Target,
    names: &Names,
    batch: &[&RawMessage],
) -> Result<(), ProjectionError> {
    let entries = entries(batch)?;
    archive::append(conn, target, &entries).await?;
    let mut hooks = Vec::new();
    for entry in &entries {
        match kind(names, entry) {
            "webhook" => hooks.push(entry),
            "tenant" => apply_tenant(conn, target, entry).await?,
            "catalog" => apply_catalog(conn, target, entry).await?,
            NOTIFICATION => {}
            other => unknown_kind(entry, other),
        }
    }
    webhooks::fold::apply(conn, target, &hooks).await
}

/// The rebuild's way of filling the ledger view's shadow tables, batch after batch, without
/// reading them back: archive counters, webhooks and open history rows are carried in memory
/// (see [`webhooks::fold::Carry`]); `events_archive` and `webhook_history` rows are streamed
/// with `COPY` by a [`CopyWriter`] while the next batch is folded; `webhooks` is written once,
/// at the end; the rare tenant and catalog messages go through the same statements as live.
pub(crate) struct LedgerBulk {
    names: Names,
    counters: archive::Counters,
    carry: webhooks::fold::Carry,
    /// One writer per big table: PostgreSQL copies both side by side.
    archive_writer: CopyWriter,
    history_writer: CopyWriter,
}

impl LedgerBulk {
    pub(crate) async fn open(pool: &PgPool, names: Names) -> Result<Self, ProjectionError> {
        Ok(Self {
            names,
            counters: archive::Counters::new(),
            carry: webhooks::fold::Carry::default(),
            archive_writer: CopyWriter::open(
                pool,
                Target::Shadow.table(archive::TABLE),
                archive::COPY_COLUMNS,
            )
            .await?,
            history_writer: CopyWriter::open(
                pool,
                Target::Shadow.table("webhook_history"),
                history::COPY_COLUMNS,
            )
            .await?,
        })
    }

    /// Parses a batch (the rebuild does it in its read-ahead task, beside the fold).
    pub(crate) fn parse(batch: &[RawMessage]) -> Result<Vec<LedgerEntry>, ProjectionError> {
        Ok(batch
            .iter()
            .map(RawMessage::ledger_entry)
            .collect::<Result<Vec<_>, _>>()?)
    }

    /// Folds a parsed batch and queues its rows; tenant and catalog messages are applied on
    /// `conn`.
    pub(crate) async fn apply(
        &mut self,
        conn: &mut PgConnection,
        entries: &[LedgerEntry],
    ) -> Result<(), ProjectionError> {
        let mut archive_rows = CopyText::new();
        archive::Rows::of(entries, &mut self.counters)?.copy_into(&mut archive_rows);
        let mut hooks = Vec::new();
        let mut others = Vec::new();
        for entry in entries {
            match kind(&self.names, entry) {
                "webhook" => hooks.push(entry),
                "tenant" | "catalog" => others.push(entry),
                NOTIFICATION => {}
                other => unknown_kind(entry, other),
            }
        }
        if !others.is_empty() {
            let mut tx = conn.begin().await?;
            sqlx::query("SET LOCAL synchronous_commit = off")
                .execute(&mut *tx)
                .await?;
            for entry in others {
                match kind(&self.names, entry) {
                    "tenant" => apply_tenant(&mut tx, Target::Shadow, entry).await?,
                    _ => apply_catalog(&mut tx, Target::Shadow, entry).await?,
                }
            }
            tx.commit().await?;
        }
        let mut history_rows = CopyText::new();
        for row in self.carry.fold(&hooks)? {
            row.copy_row(&mut history_rows);
        }
        self.archive_writer.send(archive_rows).await?;
        self.history_writer.send(history_rows).await
    }

    /// Writes what is still in memory (the open history rows, every webhook) and waits for
    /// the writers.
    pub(crate) async fn finish(self, conn: &mut PgConnection) -> Result<(), ProjectionError> {
        let Self {
            carry,
            archive_writer,
            mut history_writer,
            ..
        } = self;
        let (open, hooks) = carry.finish();
        let mut history_rows = CopyText::new();
        for row in &open {
            row.copy_row(&mut history_rows);
        }
        history_writer.send(history_rows).await?;
        tokio::try_join!(
            archive_writer.finish(),
            history_writer.finish(),
            webhooks::sql::upsert(conn, Target::Shadow, &hooks),
        )?;
        Ok(())
    }
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
            TenantEvent::ConsoleLinkMinted {
                link_id,
                read_only,
                expires_at,
            } => {
                sqlx::query(&format!(
                    "INSERT INTO {} (link_id, tenant, read_only, minted_at, expires_at)
                     VALUES ($1, $2, $3, $4, $5) ON CONFLICT (link_id) DO NOTHING",
                    target.table("console_links")
                ))
                .bind(link_id)
                .bind(tenant)
                .bind(read_only)
                .bind(at)
                .bind(expires_at)
                .execute(&mut *conn)
                .await?;
            }
            TenantEvent::ConsoleLinkRevoked { link_id } => {
                sqlx::query(&format!(
                    "UPDATE {} SET revoked_at = $3
                      WHERE link_id = $1 AND tenant = $2 AND revoked_at IS NULL",
                    target.table("console_links")
                ))
                .bind(link_id)
                .bind(tenant)
                .bind(at)
                .execute(&mut *conn)
                .await?;
            }
            TenantEvent::ConsoleLinksRevoked { before } => {
                sqlx::query(&format!(
                    "UPDATE {} SET console_links_revoked_before =
                         greatest(console_links_revoked_before, $2) WHERE id = $1",
                    target.table("tenants")
                ))
                .bind(tenant)
                .bind(before)
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

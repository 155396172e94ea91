//! `hookledger audit show WEBHOOK --as-of T` and `audit diff WEBHOOK --from T0 --to T1`: a
//! webhook folded from its own ledger subject (`<p>.ledger.webhook.<tenant>.<id>`, the tenant
//! a wildcard when not given: webhook ids are unique), the authoritative answer that
//! `GET /v1/webhooks/{id}?asOf=T` (the `webhook_history` view) is tested against.
//!
//! Decisions: `show` prints exactly the JSON the GET answers (`WebhookOut`), so the two can be
//! compared byte for byte; instants are taken to the microsecond, as PostgreSQL keeps them.
//! `diff` compares the webhook at both instants field by field and names, for each field that
//! differs, the last message between them that changed it (actor, time, command id, sequence);
//! the bookkeeping fields every message moves (`updatedAt`, `updatedBy`, `version`) are not
//! listed, the versions at both ends are. A field that changed and changed back is not listed.

use std::collections::BTreeMap;
use std::process::ExitCode;

use chrono::{DateTime, SubsecRound, Utc};
use futures::StreamExt;
use hookledger_domain::ids::{TenantId, WebhookId};
use hookledger_domain::ledger::reader::StreamKind;
use hookledger_domain::ledger::{LedgerEntry, Nats};
use hookledger_projections::replay::WebhookReplay;
use hookledger_projections::webhooks::WebhookRow;
use serde::Serialize;
use serde_json::{Map, Value};

use crate::cli::EXIT_NOT_FOUND;
use crate::http::routes::webhook_dto::WebhookOut;

/// What a webhook was at an instant.
#[derive(Debug, Clone, PartialEq)]
pub enum AsOf {
    /// It existed: the webhook then.
    Existed(Box<WebhookRow>),
    /// Its subject holds no message: no such webhook (of this tenant).
    Unknown,
    /// Created only after the instant, at this time.
    NotYet(DateTime<Utc>),
    /// Deleted at or before the instant, at this time.
    Deleted(DateTime<Utc>),
}

/// A webhook's JSON as `GET /v1/webhooks/{id}` answers it.
pub fn webhook_json(row: WebhookRow) -> Value {
    serde_json::to_value(WebhookOut::from(row)).expect("a webhook serializes")
}

/// The entries of one webhook's subject, in order, ending at the head taken at the start.
async fn subject_entries(
    nats: &Nats,
    webhook: &WebhookId,
    tenant: Option<&TenantId>,
) -> anyhow::Result<impl futures::Stream<Item = anyhow::Result<LedgerEntry>> + use<>> {
    let p = nats.names().prefix();
    let t = tenant.map_or("*", |t| t.as_str());
    let subject = format!("{p}.ledger.webhook.{t}.{webhook}");
    let read = nats
        .bounded_read(StreamKind::Ledger, vec![subject], None)
        .await?;
    Ok(read.map(|raw| Ok(raw?.ledger_entry()?)))
}

/// Folds the webhook's subject up to and including `at` (to the microsecond).
pub async fn as_of(
    nats: &Nats,
    webhook: &WebhookId,
    tenant: Option<&TenantId>,
    at: DateTime<Utc>,
) -> anyhow::Result<AsOf> {
    let at = at.trunc_subsecs(6);
    let mut entries = Box::pin(subject_entries(nats, webhook, tenant).await?);
    let mut replay = WebhookReplay::default();
    let mut first_later = None;
    while let Some(entry) = entries.next().await {
        let entry = entry?;
        if WebhookReplay::stored_time(&entry) > at {
            first_later = Some(WebhookReplay::stored_time(&entry));
            break;
        }
        replay.apply(&entry)?;
    }
    Ok(match (replay.state(), replay.deleted(), first_later) {
        (Some(row), ..) => AsOf::Existed(Box::new(row.clone())),
        (None, Some(deleted), _) => AsOf::Deleted(deleted),
        (None, None, Some(later)) => AsOf::NotYet(replay.created().unwrap_or(later)),
        (None, None, None) => AsOf::Unknown,
    })
}

/// Prints why there is nothing to show and gives exit code 4; `None` when there is.
fn absent(webhook: &WebhookId, at: DateTime<Utc>, found: &AsOf) -> Option<ExitCode> {
    let line = match found {
        AsOf::Existed(_) => return None,
        AsOf::Unknown => format!("webhook {webhook} does not exist"),
        AsOf::NotYet(created) => format!(
            "webhook {webhook} did not exist yet at {} (created at {})",
            at.to_rfc3339(),
            created.to_rfc3339()
        ),
        AsOf::Deleted(deleted) => format!(
            "webhook {webhook} no longer existed at {} (deleted at {})",
            at.to_rfc3339(),
            deleted.to_rfc3339()
        ),
    };
    eprintln!("{line}");
    Some(ExitCode::from(EXIT_NOT_FOUND))
}

/// `audit show`.
pub async fn show(
    nats: &Nats,
    webhook: &WebhookId,
    tenant: Option<&TenantId>,
    at: DateTime<Utc>,
) -> anyhow::Result<ExitCode> {
    let found = as_of(nats, webhook, tenant, at).await?;
    if let Some(code) = absent(webhook, at, &found) {
        return Ok(code);
    }
    if let AsOf::Existed(row) = found {
        println!("{}", serde_json::to_string_pretty(&webhook_json(*row))?);
    }
    Ok(ExitCode::SUCCESS)
}

/// One field that differs between the two instants.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct FieldChange {
    pub field: String,
    pub from: Value,
    pub to: Value,
    /// The last message between the instants that changed the field.
    pub changed_at: DateTime<Utc>,
    pub changed_by: String,
    pub command_id: String,
    pub sequence: u64,
}

/// What `audit diff` prints.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Diff {
    pub webhook_id: String,
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    /// The webhook's version at each instant (`None`: it did not exist then).
    pub version_from: Option<i64>,
    pub version_to: Option<i64>,
    pub changes: Vec<FieldChange>,
}

const BOOKKEEPING: [&str; 3] = ["updatedAt", "updatedBy", "version"];

fn fields(state: Option<&WebhookRow>) -> Map<String, Value> {
    match state.map(|row| webhook_json(row.clone())) {
        Some(Value::Object(map)) => map,
        _ => Map::new(),
    }
}

/// The differences of a webhook between `from` and `to` (to the microsecond); `None` when its
/// subject holds no message up to `to`.
pub async fn diff_of(
    nats: &Nats,
    webhook: &WebhookId,
    tenant: Option<&TenantId>,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> anyhow::Result<Option<Diff>> {
    let (from, to) = (from.trunc_subsecs(6), to.trunc_subsecs(6));
    let mut entries = Box::pin(subject_entries(nats, webhook, tenant).await?);
    let mut replay = WebhookReplay::default();
    let mut start: Option<Map<String, Value>> = None;
    let mut version_from = None;
    let mut last_change: BTreeMap<String, (DateTime<Utc>, String, String, u64)> = BTreeMap::new();
    while let Some(entry) = entries.next().await {
        let entry = entry?;
        let at = WebhookReplay::stored_time(&entry);
        if at > to {
            break;
        }
        if at > from && start.is_none() {
            start = Some(fields(replay.state()));
            version_from = replay.state().map(|r| r.version);
        }
        let before = fields(replay.state());
        replay.apply(&entry)?;
        if start.is_none() {
            continue;
        }
        let after = fields(replay.state());
        for key in before.keys().chain(after.keys()) {
            if before.get(key) != after.get(key) {
                let who = (
                    at,
                    entry.record.actor.clone(),
                    entry.record.command_id.clone(),
                );
                last_change.insert(key.clone(), (who.0, who.1, who.2, entry.sequence));
            }
        }
    }
    if replay.messages() == 0 {
        return Ok(None);
    }
    let start = match start {
        Some(start) => start,
        None => {
            version_from = replay.state().map(|r| r.version);
            fields(replay.state())
        }
    };
    let end = fields(replay.state());
    let mut changes = Vec::new();
    for (field, (changed_at, changed_by, command_id, sequence)) in last_change {
        let (a, b) = (start.get(&field), end.get(&field));
        if a == b || BOOKKEEPING.contains(&field.as_str()) {
            continue;
        }
        changes.push(FieldChange {
            field,
            from: a.cloned().unwrap_or(Value::Null),
            to: b.cloned().unwrap_or(Value::Null),
            changed_at,
            changed_by,
            command_id,
            sequence,
        });
    }
    Ok(Some(Diff {
        webhook_id: webhook.to_string(),
        from,
        to,
        version_from,
        version_to: replay.state().map(|r| r.version),
        changes,
    }))
}

/// `audit diff`.
pub async fn diff(
    nats: &Nats,
    webhook: &WebhookId,
    tenant: Option<&TenantId>,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> anyhow::Result<ExitCode> {
    if from > to {
        eprintln!("error: --from must not be later than --to");
        return Ok(ExitCode::from(2));
    }
    match diff_of(nats, webhook, tenant, from, to).await? {
        None => {
            let found = as_of(nats, webhook, tenant, to).await?;
            Ok(absent(webhook, to, &found).unwrap_or(ExitCode::from(EXIT_NOT_FOUND)))
        }
        Some(diff) => {
            println!("{}", serde_json::to_string_pretty(&diff)?);
            Ok(ExitCode::SUCCESS)
        }
    }
}

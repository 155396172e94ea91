//! The `webhook_history` view: one row per ledger message of a webhook, valid from the
//! message's time until the next message's (`valid_to` NULL for the latest), with the actor,
//! the event types, the changes (event data, secrets redacted) and the whole webhook after it.
//! A delete adds a row whose state is NULL, so [`as_of`] a later instant finds nothing.
//!
//! Serves `GET /v1/webhooks/{id}/history` ([`list`]) and `GET /v1/webhooks/{id}?asOf=T`
//! ([`as_of`], one indexed query). History outlives the webhook.

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::Value;
use sqlx::PgPool;

use crate::ProjectionError;
use crate::apply::copy::CopyText;
use crate::page::{Page, Paging};
use crate::webhooks::WebhookRow;

/// One event in a webhook's history, as `/history` answers it.
#[derive(Debug, Clone, PartialEq, Serialize, sqlx::FromRow)]
#[serde(rename_all = "camelCase")]
pub struct HistoryRow {
    /// The ledger sequence of the message that carried the event.
    pub sequence: i64,
    /// The message's stream time.
    pub time: DateTime<Utc>,
    pub actor: String,
    /// `webhook.created`, `webhook.paused`, …
    #[serde(rename = "type")]
    pub event_type: String,
    /// The webhook's version after the event (its ledger sequence).
    pub version: i64,
    /// The event's data, with every `secret` field replaced by `"[redacted]"`.
    pub change: Value,
}

/// A history row to write (one ledger message).
#[derive(Debug, Clone)]
pub(crate) struct HistoryInsert {
    pub(crate) tenant: String,
    pub(crate) webhook_id: String,
    pub(crate) sequence: i64,
    pub(crate) valid_from: DateTime<Utc>,
    pub(crate) valid_to: Option<DateTime<Utc>>,
    pub(crate) actor: String,
    pub(crate) event_types: Vec<String>,
    /// `[{type, version, data}]`, secrets redacted, as JSON text.
    pub(crate) changes: String,
    /// The webhook after the message as JSON text; `None` once deleted.
    pub(crate) state: Option<String>,
}

/// The columns of `webhook_history`, in the order [`HistoryInsert::copy_row`] writes them.
pub(crate) const COPY_COLUMNS: &str =
    "tenant, webhook_id, sequence, valid_from, valid_to, actor, event_types, changes, state";

impl HistoryInsert {
    /// Appends this row to a `COPY … FROM STDIN` (text format) of [`COPY_COLUMNS`].
    pub(crate) fn copy_row(&self, out: &mut CopyText) {
        out.text(&self.tenant);
        out.text(&self.webhook_id);
        out.int(self.sequence);
        out.time(self.valid_from);
        out.opt_time(self.valid_to);
        out.text(&self.actor);
        out.text_array(&self.event_types);
        out.text(&self.changes);
        out.opt_text(self.state.as_deref());
        out.end_row();
    }
}

/// One page of a webhook's history, one item per event, oldest first.
pub async fn list(
    pool: &PgPool,
    tenant: &str,
    webhook_id: &str,
    page: u32,
    limit: u32,
) -> Result<Page<HistoryRow>, ProjectionError> {
    let paging = Paging::new(page, limit);
    let (total,): (i64,) = sqlx::query_as(
        "SELECT COALESCE(sum(json_array_length(changes)), 0)::bigint FROM webhook_history WHERE tenant = $1 AND webhook_id = $2",
    )
    .bind(tenant)
    .bind(webhook_id)
    .fetch_one(pool)
    .await?;
    let data = sqlx::query_as(
        "SELECT h.sequence, h.valid_from AS time, h.actor, c.value->>'type' AS event_type,
                h.sequence AS version, COALESCE(c.value->'data', 'null'::json) AS change
           FROM webhook_history h
           CROSS JOIN LATERAL json_array_elements(h.changes) WITH ORDINALITY AS c(value, n)
          WHERE h.tenant = $1 AND h.webhook_id = $2
          ORDER BY h.sequence, c.n
          LIMIT $3 OFFSET $4",
    )
    .bind(tenant)
    .bind(webhook_id)
    .bind(paging.limit())
    .bind(paging.offset())
    .fetch_all(pool)
    .await?;
    Ok(paging.page(data, total))
}

/// The webhook as it was at `at`: the state after its last message stored at or before `at`
/// (`None` before its creation and after its deletion). Instants are compared to the
/// microsecond (stream times are rounded up to the next microsecond when stored, so for any
/// `at` given in microseconds this equals folding the webhook's ledger subject up to `at`).
pub async fn as_of(
    pool: &PgPool,
    tenant: &str,
    webhook_id: &str,
    at: DateTime<Utc>,
) -> Result<Option<WebhookRow>, ProjectionError> {
    let row: Option<(Option<Value>,)> = sqlx::query_as(
        "SELECT state FROM webhook_history
          WHERE tenant = $1 AND webhook_id = $2 AND valid_from <= $3 AND (valid_to IS NULL OR valid_to > $3)
          ORDER BY valid_from DESC, sequence DESC
          LIMIT 1",
    )
    .bind(tenant)
    .bind(webhook_id)
    .bind(at)
    .fetch_optional(pool)
    .await?;
    match row {
        Some((Some(state),)) => Ok(Some(serde_json::from_value(state)?)),
        _ => Ok(None),
    }
}

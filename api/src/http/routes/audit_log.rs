//! `GET /v1/audit/log`: the tenant's share of the ledger and of the delivery facts, replayed
//! as NDJSON, one line per event, in time order.
//!
//! The answer is streamed, never buffered: two ordered consumers (`LEDGER` and `DELIVERIES`,
//! filtered to the tenant's subjects, or one webhook's) are merged by stream time and written
//! line by line as they arrive, so memory stays flat however long the history. Each read ends
//! at the head sequence its stream had when the request began. Filters: `since`/`until` (RFC
//! 3339, `since` positions the consumers, `until` ends the answer), `webhookId`, `type` (an
//! event type, or a pattern ending in `.*`). Secrets in event data are redacted.

use std::pin::Pin;

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use futures::{Stream, StreamExt};
use hookledger_domain::delivery::DeliveryFact;
use hookledger_domain::ids::WebhookId;
use hookledger_domain::ledger::LedgerError;
use hookledger_domain::ledger::bounded_read::{AuditScope, BoundedRead};
use hookledger_domain::ledger::reader::{RawMessage, StreamKind};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::deliveries::rfc3339;
use crate::AppState;
use crate::http::error::ApiError;
use crate::http::extract::{ApiQuery, TenantAuth};

pub(super) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(audit_log))
}

/// Filters of the audit log.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(rename_all = "camelCase")]
#[into_params(parameter_in = Query)]
struct AuditQuery {
    /// Only events stored at or after this instant (RFC 3339).
    #[param(format = DateTime)]
    since: Option<String>,
    /// Only events stored at or before this instant (RFC 3339).
    #[param(format = DateTime)]
    until: Option<String>,
    /// Only this webhook's events and deliveries.
    webhook_id: Option<String>,
    /// Only this event type (`webhook.created`), or types matching a pattern (`webhook.*`).
    #[serde(rename = "type")]
    #[param(rename = "type", max_length = 255)]
    event_type: Option<String>,
}

/// One line of the audit log.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(example = json!({"stream": "ledger", "sequence": 42, "time": "2025-01-01T00:00:00Z",
    "tenant": "acme", "actor": "key_0190f1d2c3b4a5968778695a4b3c2d20",
    "commandId": "0190f1d2c3b4a5968778695a4b3c2d21", "type": "webhook.paused",
    "eventVersion": "1", "webhookId": "wh_0190f1d2c3b4a5968778695a4b3c2d1f",
    "data": {"reason": null}}))]
struct AuditLine {
    /// `ledger` (changes) or `deliveries` (delivery facts).
    stream: &'static str,
    /// The message's sequence in its stream.
    sequence: u64,
    /// When the stream stored it.
    time: DateTime<Utc>,
    tenant: String,
    /// `key_…`, `operator` or `system`.
    actor: String,
    /// The command (ledger) or fact (deliveries) id: the message's `Nats-Msg-Id`.
    command_id: String,
    #[serde(rename = "type")]
    event_type: String,
    /// The version of the event's schema.
    event_version: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    webhook_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    delivery_id: Option<String>,
    /// The event's data, secrets redacted.
    data: Value,
}

#[utoipa::path(
    get, path = "/v1/audit/log", tag = "audit",
    security(("apiKey" = []), ("bearerAuth" = [])),
    params(AuditQuery),
    responses((status = 200, description = "One JSON object (`AuditLine`) per line, oldest first",
        content_type = "application/x-ndjson", body = AuditLine))
)]
/// Replay the tenant's ledger as NDJSON.
async fn audit_log(
    auth: TenantAuth,
    State(state): State<AppState>,
    ApiQuery(query): ApiQuery<AuditQuery>,
) -> Result<Response, ApiError> {
    let since = rfc3339("since", query.since.as_deref())?;
    let until = rfc3339("until", query.until.as_deref())?;
    let webhook_id = match query.webhook_id.as_deref() {
        None => None,
        Some(raw) => {
            Some(WebhookId::parse(raw).map_err(|e| ApiError::field("webhookId", e.to_string()))?)
        }
    };
    if query.event_type.as_ref().is_some_and(|t| t.len() > 255) {
        return Err(ApiError::field("type", "must be at most 255 characters"));
    }
    let scope = AuditScope {
        tenant: auth.tenant.to_string(),
        webhook_id: webhook_id.map(String::from),
    };
    let nats = &state.nats;
    let ledger = nats
        .bounded_read(
            StreamKind::Ledger,
            scope.filters(nats, StreamKind::Ledger),
            since,
        )
        .await?;
    let deliveries = nats
        .bounded_read(
            StreamKind::Deliveries,
            scope.filters(nats, StreamKind::Deliveries),
            since,
        )
        .await?;
    let tenant = scope.tenant;
    let wanted = query.event_type;
    let lines = merge_by_time(ledger, deliveries)
        .take_while(move |m| {
            std::future::ready(match (m, until) {
                (Ok((_, raw)), Some(until)) => raw.time <= until,
                _ => true,
            })
        })
        .flat_map(move |m| {
            let lines = m.and_then(|(kind, raw)| lines_of(kind, &raw, &tenant));
            futures::stream::iter(match lines {
                Ok(lines) => lines.into_iter().map(Ok).collect::<Vec<_>>(),
                Err(e) => vec![Err(e)],
            })
        })
        .filter(move |line| {
            std::future::ready(match (line, &wanted) {
                (Ok(line), Some(wanted)) => type_matches(wanted, &line.event_type),
                _ => true,
            })
        })
        .map(|line| match line {
            Ok(line) => {
                let mut bytes = serde_json::to_vec(&line).map_err(std::io::Error::other)?;
                bytes.push(b'\n');
                Ok(Bytes::from(bytes))
            }
            Err(e) => {
                tracing::warn!(error = %e, "audit log stream ended early");
                Err(std::io::Error::other(e))
            }
        });
    let mut response = Body::from_stream(lines).into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/x-ndjson"),
    );
    Ok(response)
}

/// `lead.*` matches `lead.created` and `lead.created.v2`; anything else matches itself.
fn type_matches(wanted: &str, event_type: &str) -> bool {
    match wanted.strip_suffix('*') {
        Some("") => true,
        Some(prefix) if prefix.ends_with('.') => event_type.starts_with(prefix),
        _ => wanted == event_type,
    }
}

type Tagged = Result<(StreamKind, RawMessage), LedgerError>;

/// Merges two time-ordered reads into one, oldest first.
fn merge_by_time(
    ledger: BoundedRead,
    deliveries: BoundedRead,
) -> Pin<Box<dyn Stream<Item = Tagged> + Send>> {
    let a = ledger
        .map(|m| m.map(|m| (StreamKind::Ledger, m)))
        .boxed()
        .peekable();
    let b = deliveries
        .map(|m| m.map(|m| (StreamKind::Deliveries, m)))
        .boxed()
        .peekable();
    Box::pin(futures::stream::unfold(
        (a, b),
        |(mut a, mut b)| async move {
            let ta = Pin::new(&mut a)
                .peek()
                .await
                .map(|m| m.as_ref().ok().map(|(_, raw)| raw.time));
            let tb = Pin::new(&mut b)
                .peek()
                .await
                .map(|m| m.as_ref().ok().map(|(_, raw)| raw.time));
            let take_a = match (ta, tb) {
                (None, None) => return None,
                (Some(_), None) => true,
                (None, Some(_)) => false,
                // An error goes first, so the answer ends.
                (Some(None), _) => true,
                (_, Some(None)) => false,
                (Some(Some(x)), Some(Some(y))) => x <= y,
            };
            let next = if take_a {
                a.next().await
            } else {
                b.next().await
            };
            next.map(|item| (item, (a, b)))
        },
    ))
}

/// The audit lines of one message: one per event of a ledger message, one per fact.
fn lines_of(
    kind: StreamKind,
    raw: &RawMessage,
    tenant: &str,
) -> Result<Vec<AuditLine>, LedgerError> {
    let corrupt = |reason: String| LedgerError::Corrupt {
        subject: raw.subject.clone(),
        sequence: raw.sequence,
        reason,
    };
    if kind == StreamKind::Deliveries {
        let fact: DeliveryFact =
            serde_json::from_slice(&raw.payload).map_err(|e| corrupt(e.to_string()))?;
        let mut value = serde_json::to_value(&fact).map_err(|e| corrupt(e.to_string()))?;
        let mut data = value
            .get_mut("data")
            .map(Value::take)
            .unwrap_or(Value::Null);
        redact(&mut data);
        return Ok(vec![AuditLine {
            stream: "deliveries",
            sequence: raw.sequence,
            time: raw.time,
            tenant: tenant.to_owned(),
            actor: "system".into(),
            command_id: fact.msg_id(),
            event_type: fact.event_type().to_owned(),
            event_version: "1".into(),
            webhook_id: Some(fact.webhook_id().to_string()),
            delivery_id: Some(fact.delivery_id().to_string()),
            data,
        }]);
    }
    let entry = raw.ledger_entry()?;
    let record = entry.record;
    let webhook_id = (record.aggregate_type == "webhook")
        .then(|| {
            record
                .aggregate_id
                .split_once('.')
                .map(|(_, id)| id.to_owned())
        })
        .flatten();
    Ok(record
        .events
        .into_iter()
        .map(|event| {
            let mut data = event.data;
            redact(&mut data);
            AuditLine {
                stream: "ledger",
                sequence: entry.sequence,
                time: entry.time,
                tenant: tenant.to_owned(),
                actor: record.actor.clone(),
                command_id: record.command_id.clone(),
                event_type: event.event_type,
                event_version: event.version,
                webhook_id: webhook_id.clone(),
                delivery_id: None,
                data,
            }
        })
        .collect())
}

/// Replaces every `secret` and `keyHash` value, at any depth, with `"[redacted]"`.
fn redact(value: &mut Value) {
    match value {
        Value::Object(map) => {
            for (key, v) in map.iter_mut() {
                if key == "secret" || key == "keyHash" {
                    *v = Value::String("[redacted]".into());
                } else {
                    redact(v);
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(redact),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::type_matches;

    #[test]
    fn a_type_filter_matches_itself_or_by_a_trailing_pattern() {
        assert!(type_matches("webhook.created", "webhook.created"));
        assert!(!type_matches("webhook.created", "webhook.updated"));
        assert!(type_matches("webhook.*", "webhook.secret_rotated"));
        assert!(!type_matches("webhook.*", "delivery.failed"));
        assert!(type_matches("*", "tenant.created"));
    }
}

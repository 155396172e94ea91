//! `GET /v1/audit/log`: the tenant's share of the ledger and of the delivery facts, replayed
//! as NDJSON, one line per event, in time order.
//!
//! The answer is streamed, never buffered: two ordered consumers (`LEDGER` and `DELIVERIES`,
//! filtered to the tenant's subjects, or one webhook's) are merged by stream time and written
//! line by line as they arrive, so memory stays flat however long the history. Each read ends
//! at the head sequence its stream had when the request began. Filters: `since`/`until` (RFC
//! 3339, `since` positions the consumers, `until` ends the answer), `webhookId`, `type` (an
//! event type, or a pattern ending in `.*`). Secrets in event data are redacted. The lines
//! are built by [`crate::audit`], which `hookledger audit export` shares.

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use futures::StreamExt;
use hookledger_domain::ids::WebhookId;
use hookledger_domain::ledger::bounded_read::AuditScope;
use hookledger_domain::ledger::reader::StreamKind;
use serde::Deserialize;
use utoipa::IntoParams;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::deliveries::rfc3339;
use crate::AppState;
use crate::audit::{AuditLine, lines_of, merge_by_time, type_matches};
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
    let wanted = query.event_type;
    let lines = merge_by_time(ledger, deliveries)
        .take_while(move |m| {
            std::future::ready(match (m, until) {
                (Ok((_, raw)), Some(until)) => raw.time <= until,
                _ => true,
            })
        })
        .flat_map(move |m| {
            let lines = m.and_then(|(kind, raw)| lines_of(kind, &raw));
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

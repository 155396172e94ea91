//! Helpers the webhook routes share: ids, `If-Match`, command metadata, read-your-writes and
//! the `ETag` of an answer.

use axum::Json;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use hookledger_domain::ids::{TenantId, WebhookId};
use hookledger_domain::ledger::CommandMeta;
use hookledger_domain::webhook::EventCatalogSnapshot;
use hookledger_projections::View;

use super::webhook_dto::WebhookOut;
use crate::AppState;
use crate::http::error::{ApiError, FieldProblem};
use crate::http::extract::TenantAuth;
use crate::http::idempotency;

/// A webhook id from a path; a malformed one names no webhook (404).
pub(super) fn webhook_id(raw: &str) -> Result<WebhookId, ApiError> {
    WebhookId::parse(raw).map_err(|_| ApiError::NotFound("webhook"))
}

/// The ledger aggregate id of a webhook: `<tenant>.<wh_…>`, so another tenant's id names an
/// aggregate that does not exist.
pub(super) fn aggregate_id(tenant: &TenantId, id: &WebhookId) -> String {
    format!("{tenant}.{id}")
}

/// `If-Match: "12"` (or `12`, or `W/"12"`) → 12; `*` or absent → no precondition.
pub(super) fn if_match(headers: &HeaderMap) -> Result<Option<u64>, ApiError> {
    let Some(raw) = headers.get(header::IF_MATCH) else {
        return Ok(None);
    };
    let text = raw.to_str().unwrap_or("").trim();
    if text == "*" {
        return Ok(None);
    }
    let bare = text.trim_start_matches("W/").trim_matches('"');
    bare.parse::<u64>()
        .map(Some)
        .map_err(|_| ApiError::BadRequest {
            detail: format!(
                "If-Match must be a version as sent in ETag, like \"12\"; got {text:?}"
            ),
            errors: vec![FieldProblem::new(
                "If-Match",
                "must be a quoted integer version",
            )],
        })
}

/// The command's metadata: the key as actor; the `Idempotency-Key` header, scoped to the
/// tenant, as command id (so the ledger stores a retried command once), or a fresh id.
pub(super) fn command_meta(
    auth: &TenantAuth,
    headers: &HeaderMap,
) -> Result<CommandMeta, ApiError> {
    let meta = CommandMeta::new(auth.actor());
    Ok(match idempotency::parse_key(headers)? {
        Some(key) => meta.with_command_id(format!("{}:{key}", auth.tenant)),
        None => meta,
    })
}

/// The tenant's event-type names, for commands that check `events` against the catalog.
pub(super) async fn catalog(
    state: &AppState,
    tenant: &TenantId,
) -> Result<EventCatalogSnapshot, ApiError> {
    let names = hookledger_projections::event_types::names(&state.pool, tenant.as_str()).await?;
    Ok(EventCatalogSnapshot::new(names))
}

/// Waits until the ledger view applied `version` (read-your-writes).
pub(super) async fn caught_up(state: &AppState, version: u64) -> Result<(), ApiError> {
    state
        .projections
        .wait_for(View::Ledger, version, state.ryw_timeout())
        .await?;
    Ok(())
}

/// Waits for the view to apply `version`, then reads the webhook from it.
pub(super) async fn read_back(
    state: &AppState,
    tenant: &TenantId,
    id: &WebhookId,
    version: u64,
) -> Result<WebhookOut, ApiError> {
    caught_up(state, version).await?;
    let row = hookledger_projections::webhooks::get(&state.pool, tenant.as_str(), id.as_str())
        .await?
        .ok_or(ApiError::NotFound("webhook"))?;
    Ok(row.into())
}

/// True when the tenant has, or had, this webhook (deleted ones keep their history,
/// deliveries and stats).
pub(super) async fn webhook_known(
    state: &AppState,
    tenant: &TenantId,
    id: &WebhookId,
) -> Result<bool, ApiError> {
    let pool = &state.pool;
    if hookledger_projections::webhooks::get(pool, tenant.as_str(), id.as_str())
        .await?
        .is_some()
    {
        return Ok(true);
    }
    let history =
        hookledger_projections::history::list(pool, tenant.as_str(), id.as_str(), 1, 1).await?;
    Ok(history.total > 0)
}

/// The answer of a route returning one webhook: JSON with `ETag: "<version>"`.
pub(super) fn with_etag(status: StatusCode, out: WebhookOut) -> Response {
    let etag = HeaderValue::from_str(&format!("\"{}\"", out.version))
        .unwrap_or_else(|_| HeaderValue::from_static("\"0\""));
    let mut response = (status, Json(out)).into_response();
    response.headers_mut().insert(header::ETAG, etag);
    response
}

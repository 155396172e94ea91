//! Helpers the webhook routes share: ids, `If-Match`, command metadata, read-your-writes and
//! the `ETag` of an answer.

use axum::Json;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use hookledger_domain::ids::{TenantId, WebhookId, WebhookKey};
use hookledger_domain::ledger::CommandMeta;
use hookledger_domain::webhook::EventCatalogSnapshot;
use hookledger_domain::webhook::{WebhookCommand, WebhookStatus};
use hookledger_projections::View;
use hookledger_projections::webhooks::WebhookRow;

use super::webhook_dto::WebhookOut;
use crate::AppState;
use crate::http::error::{ApiError, FieldProblem};
use crate::http::extract::TenantAuth;
use crate::http::idempotency;

/// `If-Match: "12"` (or `12`, or `W/"12"`) → 12; `*` or absent → no precondition.
pub(crate) fn if_match(headers: &HeaderMap) -> Result<Option<u64>, ApiError> {
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
pub(crate) fn command_meta(
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
pub(crate) async fn catalog(
    state: &AppState,
    tenant: &TenantId,
) -> Result<EventCatalogSnapshot, ApiError> {
    let names = hookledger_projections::event_types::names(&state.pool, tenant.as_str()).await?;
    Ok(EventCatalogSnapshot::new(names))
}

/// Waits until the ledger view applied `version` (read-your-writes).
pub(crate) async fn caught_up(state: &AppState, version: u64) -> Result<(), ApiError> {
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
    Ok(read_row(state, tenant, id, version).await?.into())
}

/// Waits for the view to apply `version`, then reads the webhook's row from it.
pub(crate) async fn read_row(
    state: &AppState,
    tenant: &TenantId,
    id: &WebhookId,
    version: u64,
) -> Result<WebhookRow, ApiError> {
    caught_up(state, version).await?;
    hookledger_projections::webhooks::get(&state.pool, tenant.as_str(), id.as_str())
        .await?
        .ok_or(ApiError::NotFound("webhook"))
}

/// True when the tenant has, or had, this webhook (deleted ones keep their history,
/// deliveries and stats).
pub(crate) async fn webhook_known(
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

/// Applies a spec change and then a status change (two commands when both change; the first
/// carries `If-Match`, the second must follow it) and answers the webhook's version.
/// `Disabled` (SuperOffice's `TooManyErrors`) disables it as if the circuit breaker had.
pub(crate) async fn apply_change(
    state: &AppState,
    auth: &TenantAuth,
    headers: &HeaderMap,
    id: &WebhookId,
    spec_command: Option<WebhookCommand>,
    status: Option<WebhookStatus>,
) -> Result<u64, ApiError> {
    let aggregate = WebhookKey::new(&auth.tenant, id).aggregate_id();
    let mut meta = command_meta(auth, headers)?.expecting(if_match(headers)?);
    let (current, mut version) = state.webhooks.load(&aggregate).await?;
    if !current.exists() || current.is_deleted() {
        return Err(ApiError::NotFound("webhook"));
    }
    if let Some(command) = spec_command {
        version = state
            .webhooks
            .execute(&aggregate, command, &meta)
            .await?
            .version;
        let status_id = format!("{}:status", meta.command_id);
        meta = meta.with_command_id(status_id).expecting(None);
    } else if let Some(expected) = meta.expected_version
        && status.is_none()
        && expected != version
    {
        return Err(ApiError::PreconditionFailed {
            expected,
            current: version,
        });
    }
    if let Some(status) = status {
        let command = match status {
            WebhookStatus::Active => WebhookCommand::ResumeWebhook,
            WebhookStatus::Paused => WebhookCommand::PauseWebhook { reason: None },
            WebhookStatus::Disabled => WebhookCommand::DisableWebhook {
                reason: "set by the caller".into(),
            },
        };
        version = state
            .webhooks
            .execute(&aggregate, command, &meta)
            .await?
            .version;
    }
    Ok(version)
}

/// A list's `field` filter must be one of `allowed` (422 naming it otherwise).
pub(crate) fn one_of(field: &str, value: Option<&str>, allowed: &[&str]) -> Result<(), ApiError> {
    match value {
        Some(v) if !allowed.contains(&v) => Err(ApiError::field(
            field,
            format!("must be one of {}", allowed.join(", ")),
        )),
        _ => Ok(()),
    }
}

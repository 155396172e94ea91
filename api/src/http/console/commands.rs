//! The console's side of the shared write path: the same `WebhookCommand`s through the same
//! ledger (`AppState::webhooks`) as `/v1`, then the same read-your-writes wait
//! (`routes::support`) before a page shows the result. Only the actor differs: it comes from
//! the session (the key id, `console-link:<id>` or `operator`).

use hookledger_domain::ids::{TenantId, WebhookId, WebhookKey};
use hookledger_domain::ledger::{CommandMeta, Committed};
use hookledger_domain::secrets::SigningSecret;
use hookledger_domain::webhook::{Webhook, WebhookCommand, secret_aad};
use hookledger_projections::webhooks::WebhookRow;

use super::session::Session;
use crate::AppState;
use crate::http::error::ApiError;
use crate::http::routes::support;

/// Runs `command` on the tenant's webhook `id` (at `expected` version, when given) and waits
/// until the views show it.
pub(crate) async fn run(
    state: &AppState,
    session: &Session,
    tenant: &TenantId,
    id: &WebhookId,
    command: WebhookCommand,
    expected: Option<u64>,
) -> Result<Committed<Webhook>, ApiError> {
    let meta = CommandMeta::new(session.actor.clone()).expecting(expected);
    let committed = state
        .webhooks
        .execute(&WebhookKey::new(tenant, id).aggregate_id(), command, &meta)
        .await?;
    support::caught_up(state, committed.version).await?;
    Ok(committed)
}

/// The webhook's current row, or 404.
pub(crate) async fn row(
    state: &AppState,
    tenant: &TenantId,
    id: &WebhookId,
) -> Result<WebhookRow, ApiError> {
    hookledger_projections::webhooks::get(&state.pool, tenant.as_str(), id.as_str())
        .await?
        .ok_or(ApiError::NotFound("webhook"))
}

/// The signing secret of a webhook just created or rotated (shown once, then never).
pub(crate) fn open_secret(
    state: &AppState,
    webhook: &Webhook,
    tenant: &TenantId,
    id: &WebhookId,
) -> Result<SigningSecret, ApiError> {
    let sealed = webhook
        .secret()
        .ok_or_else(|| ApiError::Internal(format!("webhook {id} has no secret")))?;
    state
        .keyring
        .open(sealed, &secret_aad(tenant, id))
        .map_err(|e| ApiError::Internal(format!("cannot open the secret of {id}: {e}")))
}

/// The names of the tenant's event types (the form's picker).
pub(crate) async fn catalog_names(
    state: &AppState,
    tenant: &TenantId,
) -> Result<std::collections::BTreeSet<String>, ApiError> {
    Ok(hookledger_projections::event_types::names(&state.pool, tenant.as_str()).await?)
}

/// A path's webhook id; a malformed one names no webhook (404, as in `/v1`).
pub(crate) fn webhook_id(raw: &str) -> Result<WebhookId, ApiError> {
    WebhookId::parse(raw).map_err(|_| ApiError::NotFound("webhook"))
}

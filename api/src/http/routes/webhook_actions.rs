//! `/v1/webhooks/{id}/…` actions: pause, resume, the signing secret (read and rotate) and the
//! webhook's history from the ledger.

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use chrono::{DateTime, Utc};
use hookledger_domain::ids::{TenantId, WebhookId, WebhookKey};
use hookledger_domain::secrets::SigningSecret;
use hookledger_domain::webhook::{Webhook, WebhookCommand, secret_aad};
use hookledger_projections::history::HistoryRow;
use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::paging::{Paged, Paging};
use super::support::{caught_up, command_meta, if_match, read_back, with_etag};
use super::webhook_dto::WebhookOut;
use crate::AppState;
use crate::http::error::ApiError;
use crate::http::extract::{ApiQuery, TenantAuth, WebhookPath};

pub(super) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(pause))
        .routes(routes!(resume))
        .routes(routes!(secret))
        .routes(routes!(regenerate_secret))
        .routes(routes!(history))
}

async fn set_status(
    state: AppState,
    auth: TenantAuth,
    headers: HeaderMap,
    id: WebhookId,
    command: WebhookCommand,
) -> Result<Response, ApiError> {
    let meta = command_meta(&auth, &headers)?.expecting(if_match(&headers)?);
    let committed = state
        .webhooks
        .execute(
            &WebhookKey::new(&auth.tenant, &id).aggregate_id(),
            command,
            &meta,
        )
        .await?;
    let out = read_back(&state, &auth.tenant, &id, committed.version).await?;
    Ok(with_etag(StatusCode::OK, out))
}

#[utoipa::path(
    post, path = "/v1/webhooks/{id}/pause", tag = "webhooks",
    security(("apiKey" = []), ("bearerAuth" = [])),
    params(("id" = String, Path, description = "The webhook id, `wh_…`"),
        ("If-Match" = Option<String>, Header, description = "Apply only at this version (`\"12\"`)")),
    responses((status = 200, description = "The paused webhook; events published while it is \
        paused are not delivered to it", body = WebhookOut,
        headers(("ETag" = String, description = "The webhook's new version, quoted"))))
)]
/// Pause a webhook.
async fn pause(
    auth: TenantAuth,
    State(state): State<AppState>,
    headers: HeaderMap,
    WebhookPath(id): WebhookPath,
) -> Result<Response, ApiError> {
    let command = WebhookCommand::PauseWebhook { reason: None };
    set_status(state, auth, headers, id, command).await
}

#[utoipa::path(
    post, path = "/v1/webhooks/{id}/resume", tag = "webhooks",
    security(("apiKey" = []), ("bearerAuth" = [])),
    params(("id" = String, Path, description = "The webhook id, `wh_…`"),
        ("If-Match" = Option<String>, Header, description = "Apply only at this version (`\"12\"`)")),
    responses((status = 200, description = "The active webhook (a disabled one is re-enabled)",
        body = WebhookOut,
        headers(("ETag" = String, description = "The webhook's new version, quoted"))))
)]
/// Resume a paused or disabled webhook.
async fn resume(
    auth: TenantAuth,
    State(state): State<AppState>,
    headers: HeaderMap,
    WebhookPath(id): WebhookPath,
) -> Result<Response, ApiError> {
    set_status(state, auth, headers, id, WebhookCommand::ResumeWebhook).await
}

/// A webhook's signing secret.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(example = json!({"secret": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
    "previousSecretExpiresAt": "2025-01-02T00:00:00Z"}))]
struct SecretOut {
    /// `whsec_…` (or a SuperOffice caller's raw secret, as given).
    secret: String,
    /// While a rotated secret still signs beside the new one: until when.
    #[serde(skip_serializing_if = "Option::is_none")]
    previous_secret_expires_at: Option<DateTime<Utc>>,
}

fn open_secret(
    state: &AppState,
    webhook: &Webhook,
    tenant: &TenantId,
    id: &WebhookId,
) -> Result<SecretOut, ApiError> {
    let sealed = webhook
        .secret()
        .ok_or_else(|| ApiError::Internal(format!("webhook {id} has no secret")))?;
    let secret = state
        .keyring
        .open(sealed, &secret_aad(tenant, id))
        .map_err(|e| ApiError::Internal(format!("cannot open the secret of {id}: {e}")))?;
    let previous = webhook
        .previous_secret()
        .map(|(_, until)| until)
        .filter(|until| *until > Utc::now());
    Ok(SecretOut {
        secret: secret.expose().to_owned(),
        previous_secret_expires_at: previous,
    })
}

#[utoipa::path(
    get, path = "/v1/webhooks/{id}/secret", tag = "webhooks",
    security(("apiKey" = []), ("bearerAuth" = [])),
    params(("id" = String, Path, description = "The webhook id, `wh_…`")),
    responses((status = 200, description = "The signing secret", body = SecretOut))
)]
/// Get a webhook's signing secret.
async fn secret(
    auth: TenantAuth,
    State(state): State<AppState>,
    WebhookPath(id): WebhookPath,
) -> Result<Json<SecretOut>, ApiError> {
    let (webhook, _) = state
        .webhooks
        .load(&WebhookKey::new(&auth.tenant, &id).aggregate_id())
        .await?;
    if !webhook.exists() || webhook.is_deleted() {
        return Err(ApiError::NotFound("webhook"));
    }
    Ok(Json(open_secret(&state, &webhook, &auth.tenant, &id)?))
}

#[utoipa::path(
    post, path = "/v1/webhooks/{id}/regenerate-secret", tag = "webhooks",
    security(("apiKey" = []), ("bearerAuth" = [])),
    params(("id" = String, Path, description = "The webhook id, `wh_…`"),
        ("If-Match" = Option<String>, Header, description = "Apply only at this version (`\"12\"`)")),
    responses((status = 200, description = "The new secret; the old one keeps signing beside it \
        until `previousSecretExpiresAt` (`secrets.rotation_grace_seconds`)", body = SecretOut))
)]
/// Rotate a webhook's signing secret.
async fn regenerate_secret(
    auth: TenantAuth,
    State(state): State<AppState>,
    headers: HeaderMap,
    WebhookPath(id): WebhookPath,
) -> Result<Json<SecretOut>, ApiError> {
    let grace = chrono::Duration::from_std(state.config.rotation_grace())
        .map_err(|e| ApiError::Internal(e.to_string()))?;
    let command = WebhookCommand::RotateSecret {
        secret: SigningSecret::generate(&ring::rand::SystemRandom::new()),
        now: Utc::now(),
        grace,
    };
    let meta = command_meta(&auth, &headers)?.expecting(if_match(&headers)?);
    let committed = state
        .webhooks
        .execute(
            &WebhookKey::new(&auth.tenant, &id).aggregate_id(),
            command,
            &meta,
        )
        .await?;
    caught_up(&state, committed.version).await?;
    Ok(Json(open_secret(
        &state,
        &committed.aggregate,
        &auth.tenant,
        &id,
    )?))
}

/// One ledger event of a webhook.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(example = json!({"sequence": 42, "time": "2025-01-01T00:00:00Z",
    "actor": "key_0190f1d2c3b4a5968778695a4b3c2d20", "type": "webhook.paused", "version": 42,
    "change": {"reason": null}}))]
struct HistoryItem {
    /// The ledger sequence of the message that carried the event.
    sequence: i64,
    /// When the ledger stored it.
    time: DateTime<Utc>,
    /// `key_…`, `operator` or `system`.
    actor: String,
    /// `webhook.created`, `webhook.updated`, `webhook.paused`, `webhook.resumed`,
    /// `webhook.secret_rotated`, `webhook.disabled`, `webhook.deleted`, …
    #[serde(rename = "type")]
    event_type: String,
    /// The webhook's version after the event.
    version: i64,
    /// The event's data, secrets redacted.
    change: Value,
}

impl From<HistoryRow> for HistoryItem {
    fn from(r: HistoryRow) -> Self {
        Self {
            sequence: r.sequence,
            time: r.time,
            actor: r.actor,
            event_type: r.event_type,
            version: r.version,
            change: r.change,
        }
    }
}

#[utoipa::path(
    get, path = "/v1/webhooks/{id}/history", tag = "webhooks",
    security(("apiKey" = []), ("bearerAuth" = [])),
    params(("id" = String, Path, description = "The webhook id, `wh_…`"), Paging),
    responses((status = 200, description = "Every ledger event of the webhook, oldest first; \
        still answers after a delete", body = Paged<HistoryItem>))
)]
/// List a webhook's history.
async fn history(
    auth: TenantAuth,
    State(state): State<AppState>,
    WebhookPath(id): WebhookPath,
    ApiQuery(paging): ApiQuery<Paging>,
) -> Result<Json<Paged<HistoryItem>>, ApiError> {
    let (page, limit) = paging.resolve()?;
    let rows = hookledger_projections::history::list(
        &state.pool,
        auth.tenant.as_str(),
        id.as_str(),
        page,
        limit,
    )
    .await?;
    if rows.total == 0 {
        return Err(ApiError::NotFound("webhook"));
    }
    Ok(Json(Paged::from_page(rows, HistoryItem::from)))
}

//! `/v1/webhooks`: create, read, change and delete webhooks, their secrets and their history.
//!
//! Writes go through the `Webhook` aggregate on the ledger and answer once the `webhooks`
//! view has applied them (read-your-writes); reads come from the views. The webhook's version
//! is its ledger sequence, sent as `ETag: "<version>"` and checked against `If-Match`.

use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use chrono::{DateTime, Utc};
use hookledger_domain::ids::{TenantId, WebhookId};
use hookledger_domain::ledger::CommandMeta;
use hookledger_domain::secrets::SigningSecret;
use hookledger_domain::webhook::values::{
    WebhookPatch, WebhookPatchInput, WebhookSpec, WebhookSpecInput,
};
use hookledger_domain::webhook::{
    EventCatalogSnapshot, Webhook, WebhookCommand, WebhookStatus, secret_aad,
};
use hookledger_projections::View;
use hookledger_projections::webhooks::{ListFilter, WebhookRow};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::Paging;
use crate::AppState;
use crate::error::{ApiError, FieldProblem};
use crate::extract::{ApiJson, ApiQuery, TenantAuth};

pub(super) fn router() -> Router<AppState> {
    Router::new()
        .route("/v1/webhooks", get(list).post(create))
        .route(
            "/v1/webhooks/{id}",
            get(get_one).patch(patch).put(replace).delete(remove),
        )
        .route("/v1/webhooks/{id}/pause", post(pause))
        .route("/v1/webhooks/{id}/resume", post(resume))
        .route("/v1/webhooks/{id}/secret", get(secret))
        .route(
            "/v1/webhooks/{id}/regenerate-secret",
            post(regenerate_secret),
        )
        .route("/v1/webhooks/{id}/history", get(history))
}

/// A webhook as the API shows it (never with its secret, except where a route says so).
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct WebhookOut {
    id: String,
    name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    description: Option<String>,
    url: String,
    http_method: String,
    events: Vec<String>,
    filter: Option<Value>,
    headers: Value,
    properties: Value,
    is_active: bool,
    status: String,
    retry_attempts: i64,
    retry_delay_seconds: i64,
    retry_policy: String,
    timeout_seconds: i64,
    errors_email: Option<String>,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
    created_by: String,
    updated_by: String,
    version: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    secret: Option<String>,
}

impl From<WebhookRow> for WebhookOut {
    fn from(r: WebhookRow) -> Self {
        Self {
            is_active: r.status == "active",
            id: r.id,
            name: r.name,
            description: r.description,
            url: r.url,
            http_method: r.http_method,
            events: r.events,
            filter: r.filter,
            headers: r.headers,
            properties: r.properties,
            status: r.status,
            retry_attempts: r.retry_attempts.into(),
            retry_delay_seconds: r.retry_delay_seconds.into(),
            retry_policy: r.retry_policy,
            timeout_seconds: r.timeout_seconds.into(),
            errors_email: r.errors_email,
            created_at: r.created_at,
            updated_at: r.updated_at,
            created_by: r.created_by,
            updated_by: r.updated_by,
            version: r.version,
            secret: None,
        }
    }
}

/// The answer of a route returning one webhook: JSON with its ETag.
fn with_etag(status: StatusCode, out: WebhookOut) -> Response {
    let etag =
        HeaderValue::from_str(&format!("\"{}\"", out.version)).expect("digits are a valid header");
    let mut response = (status, Json(out)).into_response();
    response.headers_mut().insert(header::ETAG, etag);
    response
}

fn webhook_id(raw: &str) -> Result<WebhookId, ApiError> {
    WebhookId::parse(raw).map_err(|_| ApiError::NotFound("webhook"))
}

fn aggregate_id(tenant: &TenantId, id: &WebhookId) -> String {
    format!("{tenant}.{id}")
}

/// `If-Match: "12"` (or `12`, or `W/"12"`) → 12; `*` or absent → no precondition.
fn if_match(headers: &HeaderMap) -> Result<Option<u64>, ApiError> {
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
            errors: vec![FieldProblem {
                field: "If-Match".into(),
                message: "must be a quoted integer version".into(),
            }],
        })
}

/// The command id: the `Idempotency-Key` header scoped to the tenant, or a fresh one.
fn command_meta(auth: &TenantAuth, headers: &HeaderMap) -> Result<CommandMeta, ApiError> {
    let meta = CommandMeta::new(auth.actor());
    match headers.get("idempotency-key") {
        None => Ok(meta),
        Some(v) => {
            let key = v
                .to_str()
                .ok()
                .filter(|k| !k.is_empty() && k.len() <= 255)
                .ok_or_else(|| ApiError::BadRequest {
                    detail: "Idempotency-Key must be 1-255 visible ASCII characters".into(),
                    errors: vec![FieldProblem {
                        field: "Idempotency-Key".into(),
                        message: "must be 1-255 visible ASCII characters".into(),
                    }],
                })?;
            Ok(meta.with_command_id(format!("{}:{key}", auth.tenant)))
        }
    }
}

async fn catalog(state: &AppState, tenant: &TenantId) -> Result<EventCatalogSnapshot, ApiError> {
    let names = hookledger_projections::event_types::names(&state.pool, tenant.as_str()).await?;
    Ok(EventCatalogSnapshot::new(names))
}

/// Waits for the view to apply `version`, then reads the webhook from it.
async fn read_back(
    state: &AppState,
    tenant: &TenantId,
    id: &WebhookId,
    version: u64,
) -> Result<WebhookOut, ApiError> {
    state
        .projections
        .wait_for(View::Ledger, version, state.ryw_timeout())
        .await?;
    let row = hookledger_projections::webhooks::get(&state.pool, tenant.as_str(), id.as_str())
        .await?
        .ok_or(ApiError::NotFound("webhook"))?;
    Ok(row.into())
}

/// `status` / `isActive` of a request body, as the status the client asks for.
fn requested_status(
    status: Option<&str>,
    is_active: Option<bool>,
) -> Result<Option<WebhookStatus>, ApiError> {
    let from_status = match status {
        None => None,
        Some("active") => Some(WebhookStatus::Active),
        Some("paused") => Some(WebhookStatus::Paused),
        Some(other) => {
            return Err(ApiError::field(
                "status",
                format!(
                    "must be \"active\" or \"paused\" (\"disabled\" is set by hookledger itself); got {other:?}"
                ),
            ));
        }
    };
    let from_flag = is_active.map(|a| {
        if a {
            WebhookStatus::Active
        } else {
            WebhookStatus::Paused
        }
    });
    match (from_status, from_flag) {
        (Some(a), Some(b)) if a != b => Err(ApiError::field("isActive", "contradicts status")),
        (a, b) => Ok(a.or(b)),
    }
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct WebhookIn {
    #[serde(flatten)]
    spec: WebhookSpecInput,
    is_active: Option<bool>,
    status: Option<String>,
    secret: Option<String>,
}

async fn create(
    auth: TenantAuth,
    State(state): State<AppState>,
    headers: HeaderMap,
    ApiJson(body): ApiJson<WebhookIn>,
) -> Result<Response, ApiError> {
    let mut problems = Vec::new();
    let spec = WebhookSpec::from_input(body.spec, &state.limits, state.allow_private_targets())
        .map_err(|errors| problems.extend(errors.iter().map(FieldProblem::from)))
        .ok();
    let secret = match body.secret.as_deref() {
        None => Some(SigningSecret::generate(&ring::rand::SystemRandom::new())),
        Some(raw) => SigningSecret::parse_whsec(raw)
            .map_err(|e| problems.push(FieldProblem::from(&e.to_field_error("secret"))))
            .ok(),
    };
    let status =
        requested_status(body.status.as_deref(), body.is_active)?.unwrap_or(WebhookStatus::Active);
    let (Some(spec), Some(secret)) = (spec, secret) else {
        return Err(ApiError::Unprocessable(problems));
    };
    let id = WebhookId::new();
    let command = WebhookCommand::CreateWebhook {
        tenant: auth.tenant.clone(),
        id: id.clone(),
        spec,
        secret: secret.clone(),
        status,
        catalog: catalog(&state, &auth.tenant).await?,
    };
    let meta = command_meta(&auth, &headers)?;
    let committed = state
        .webhooks
        .execute(&aggregate_id(&auth.tenant, &id), command, &meta)
        .await?;
    if committed.duplicate {
        return Err(ApiError::Conflict(
            "this Idempotency-Key was already used for another request; its webhook exists".into(),
        ));
    }
    let mut out = read_back(&state, &auth.tenant, &id, committed.version).await?;
    out.secret = Some(secret.expose().to_owned());
    Ok(with_etag(StatusCode::CREATED, out))
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ListQuery {
    is_active: Option<bool>,
    status: Option<String>,
    event: Option<String>,
    #[serde(flatten)]
    paging: Paging,
}

async fn list(
    auth: TenantAuth,
    State(state): State<AppState>,
    ApiQuery(query): ApiQuery<ListQuery>,
) -> Result<Json<Value>, ApiError> {
    let (page, limit) = query.paging.resolve()?;
    if let Some(status) = query.status.as_deref()
        && !["active", "paused", "disabled"].contains(&status)
    {
        return Err(ApiError::field(
            "status",
            "must be one of active, paused, disabled",
        ));
    }
    let filter = ListFilter {
        is_active: query.is_active,
        status: query.status,
        event: query.event,
        page,
        limit,
    };
    let page =
        hookledger_projections::webhooks::list(&state.pool, auth.tenant.as_str(), &filter).await?;
    let data: Vec<WebhookOut> = page.data.into_iter().map(WebhookOut::from).collect();
    Ok(Json(
        json!({"data": data, "page": page.page, "limit": page.limit, "total": page.total, "hasMore": page.has_more}),
    ))
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct GetQuery {
    as_of: Option<String>,
}

async fn get_one(
    auth: TenantAuth,
    State(state): State<AppState>,
    Path(id): Path<String>,
    ApiQuery(query): ApiQuery<GetQuery>,
) -> Result<Response, ApiError> {
    let id = webhook_id(&id)?;
    let row = match query.as_of.as_deref() {
        None => {
            hookledger_projections::webhooks::get(&state.pool, auth.tenant.as_str(), id.as_str())
                .await?
        }
        Some(raw) => {
            let at = DateTime::parse_from_rfc3339(raw)
                .map_err(|e| ApiError::field("asOf", format!("must be an RFC 3339 time: {e}")))?
                .with_timezone(&Utc);
            hookledger_projections::history::as_of(
                &state.pool,
                auth.tenant.as_str(),
                id.as_str(),
                at,
            )
            .await?
        }
    };
    let row = row.ok_or(ApiError::NotFound("webhook"))?;
    Ok(with_etag(StatusCode::OK, row.into()))
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct WebhookPatchIn {
    #[serde(flatten)]
    patch: WebhookPatchInput,
    is_active: Option<bool>,
    status: Option<String>,
}

/// Applies a spec change and then a status change (two commands when both change; the first
/// carries `If-Match`, the second must follow it).
async fn change(
    state: &AppState,
    auth: &TenantAuth,
    headers: &HeaderMap,
    id: &WebhookId,
    spec_command: Option<WebhookCommand>,
    status: Option<WebhookStatus>,
) -> Result<Response, ApiError> {
    let aggregate = aggregate_id(&auth.tenant, id);
    let mut meta = command_meta(auth, headers)?.expecting(if_match(headers)?);
    let (current, mut version) = state.webhooks.load(&aggregate).await?;
    if !current.exists() || current.is_deleted() {
        return Err(ApiError::NotFound("webhook"));
    }
    if let Some(command) = spec_command {
        let committed = state.webhooks.execute(&aggregate, command, &meta).await?;
        version = committed.version;
        let status_id = format!("{}:status", meta.command_id);
        meta = meta.with_command_id(status_id).expecting(None);
    }
    if let Some(status) = status {
        let command = match status {
            WebhookStatus::Active => WebhookCommand::ResumeWebhook,
            _ => WebhookCommand::PauseWebhook { reason: None },
        };
        version = state
            .webhooks
            .execute(&aggregate, command, &meta)
            .await?
            .version;
    }
    Ok(with_etag(
        StatusCode::OK,
        read_back(state, &auth.tenant, id, version).await?,
    ))
}

async fn patch(
    auth: TenantAuth,
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<WebhookPatchIn>,
) -> Result<Response, ApiError> {
    let id = webhook_id(&id)?;
    let patch = WebhookPatch::from_input(body.patch, &state.limits, state.allow_private_targets())
        .map_err(|e| ApiError::unprocessable(&e))?;
    let status = requested_status(body.status.as_deref(), body.is_active)?;
    let command = (!patch.is_empty()).then_some(());
    let command = match command {
        Some(()) => Some(WebhookCommand::UpdateWebhook {
            patch,
            catalog: catalog(&state, &auth.tenant).await?,
        }),
        None => None,
    };
    change(&state, &auth, &headers, &id, command, status).await
}

async fn replace(
    auth: TenantAuth,
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<WebhookIn>,
) -> Result<Response, ApiError> {
    let id = webhook_id(&id)?;
    if body.secret.is_some() {
        return Err(ApiError::field(
            "secret",
            "cannot be replaced here; use POST /v1/webhooks/{id}/regenerate-secret",
        ));
    }
    let spec = WebhookSpec::from_input(body.spec, &state.limits, state.allow_private_targets())
        .map_err(|e| ApiError::unprocessable(&e))?;
    let status = requested_status(body.status.as_deref(), body.is_active)?;
    let command = WebhookCommand::ReplaceWebhook {
        spec,
        catalog: catalog(&state, &auth.tenant).await?,
    };
    change(&state, &auth, &headers, &id, Some(command), status).await
}

async fn remove(
    auth: TenantAuth,
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let id = webhook_id(&id)?;
    let meta = command_meta(&auth, &headers)?.expecting(if_match(&headers)?);
    let committed = state
        .webhooks
        .execute(
            &aggregate_id(&auth.tenant, &id),
            WebhookCommand::DeleteWebhook,
            &meta,
        )
        .await?;
    state
        .projections
        .wait_for(View::Ledger, committed.version, state.ryw_timeout())
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn set_status(
    state: AppState,
    auth: TenantAuth,
    headers: HeaderMap,
    id: String,
    command: WebhookCommand,
) -> Result<Response, ApiError> {
    let id = webhook_id(&id)?;
    let meta = command_meta(&auth, &headers)?.expecting(if_match(&headers)?);
    let committed = state
        .webhooks
        .execute(&aggregate_id(&auth.tenant, &id), command, &meta)
        .await?;
    Ok(with_etag(
        StatusCode::OK,
        read_back(&state, &auth.tenant, &id, committed.version).await?,
    ))
}

async fn pause(
    auth: TenantAuth,
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    set_status(
        state,
        auth,
        headers,
        id,
        WebhookCommand::PauseWebhook { reason: None },
    )
    .await
}

async fn resume(
    auth: TenantAuth,
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    set_status(state, auth, headers, id, WebhookCommand::ResumeWebhook).await
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct SecretOut {
    secret: String,
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

async fn secret(
    auth: TenantAuth,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<SecretOut>, ApiError> {
    let id = webhook_id(&id)?;
    let (webhook, _) = state
        .webhooks
        .load(&aggregate_id(&auth.tenant, &id))
        .await?;
    if !webhook.exists() || webhook.is_deleted() {
        return Err(ApiError::NotFound("webhook"));
    }
    Ok(Json(open_secret(&state, &webhook, &auth.tenant, &id)?))
}

async fn regenerate_secret(
    auth: TenantAuth,
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Json<SecretOut>, ApiError> {
    let id = webhook_id(&id)?;
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
        .execute(&aggregate_id(&auth.tenant, &id), command, &meta)
        .await?;
    state
        .projections
        .wait_for(View::Ledger, committed.version, state.ryw_timeout())
        .await?;
    Ok(Json(open_secret(
        &state,
        &committed.aggregate,
        &auth.tenant,
        &id,
    )?))
}

async fn history(
    auth: TenantAuth,
    State(state): State<AppState>,
    Path(id): Path<String>,
    ApiQuery(paging): ApiQuery<Paging>,
) -> Result<Json<Value>, ApiError> {
    let id = webhook_id(&id)?;
    let (page, limit) = paging.resolve()?;
    let page = hookledger_projections::history::list(
        &state.pool,
        auth.tenant.as_str(),
        id.as_str(),
        page,
        limit,
    )
    .await?;
    if page.total == 0 {
        return Err(ApiError::NotFound("webhook"));
    }
    Ok(Json(
        serde_json::to_value(page).map_err(|e| ApiError::Internal(e.to_string()))?,
    ))
}

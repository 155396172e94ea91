//! `/v1/webhooks` and `/v1/webhooks/{id}`: create, list, read, change and delete webhooks.
//!
//! Writes go through the `Webhook` aggregate on the ledger and answer once the `webhooks`
//! view has applied them (read-your-writes); reads come from the views. The webhook's version
//! is its ledger sequence, sent as `ETag: "<version>"` and checked against `If-Match`. List
//! answers are kept in the [`ReadCache`] while the ledger view has not moved.
//! Pause/resume, secrets and history live in `webhook_actions`; the shapes in `webhook_dto`.

use std::sync::Arc;

use axum::Extension;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use hookledger_domain::ids::{WebhookId, WebhookKey};
use hookledger_domain::secrets::SigningSecret;
use hookledger_domain::webhook::values::{WebhookPatch, WebhookSpec};
use hookledger_domain::webhook::{WebhookCommand, WebhookStatus};
use hookledger_projections::webhooks::ListFilter;
use serde::Deserialize;
use utoipa::IntoParams;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::paging::{Paged, Paging};
use super::support::{
    apply_change, catalog, caught_up, command_meta, if_match, read_back, with_etag,
};
use super::webhook_dto::{WebhookIn, WebhookOut, WebhookPatchIn, requested_status};
use crate::AppState;
use crate::http::error::{ApiError, FieldProblem};
use crate::http::extract::{ApiJson, ApiQuery, TenantAuth, WebhookPath};
use crate::http::readcache::ReadCache;
use crate::http::runtime::HttpRuntime;

pub(super) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list, create))
        .routes(routes!(get_one, patch, replace, remove))
}

#[utoipa::path(
    post, path = "/v1/webhooks", tag = "webhooks",
    security(("apiKey" = []), ("bearerAuth" = [])),
    request_body = WebhookIn,
    responses(
        (status = 201, description = "Created; the body holds the secret, shown here once more \
            than on reads", body = WebhookOut,
            headers(("ETag" = String, description = "The webhook's version, quoted"))),
    )
)]
/// Create a webhook.
async fn create(
    auth: TenantAuth,
    State(state): State<AppState>,
    headers: HeaderMap,
    ApiJson(mut body): ApiJson<WebhookIn>,
) -> Result<Response, ApiError> {
    let mut problems = Vec::new();
    let spec = WebhookSpec::from_input(body.spec(), &state.limits, state.allow_private_targets())
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
        .execute(
            &WebhookKey::new(&auth.tenant, &id).aggregate_id(),
            command,
            &meta,
        )
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

/// Filters of the webhook list.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(rename_all = "camelCase")]
#[into_params(parameter_in = Query)]
struct ListQuery {
    /// `true`: only active webhooks; `false`: only paused or disabled ones.
    is_active: Option<bool>,
    /// Only webhooks with this status: `active`, `paused` or `disabled`.
    status: Option<String>,
    /// Only webhooks subscribed to this event type, directly or by a pattern.
    #[param(max_length = 255)]
    event: Option<String>,
}

#[utoipa::path(
    get, path = "/v1/webhooks", tag = "webhooks",
    security(("apiKey" = []), ("bearerAuth" = [])),
    params(ListQuery, Paging),
    responses((status = 200, description = "One page of the tenant's webhooks, oldest first",
        body = Paged<WebhookOut>))
)]
/// List webhooks.
async fn list(
    auth: TenantAuth,
    State(state): State<AppState>,
    ApiQuery(query): ApiQuery<ListQuery>,
    ApiQuery(paging): ApiQuery<Paging>,
    Extension(runtime): Extension<Arc<HttpRuntime>>,
) -> Result<Response, ApiError> {
    let (page, limit) = paging.resolve()?;
    super::support::one_of("status", query.status.as_deref(), super::WEBHOOK_STATUSES)?;
    if query.event.as_ref().is_some_and(|e| e.len() > 255) {
        return Err(ApiError::field("event", "must be at most 255 characters"));
    }
    let filter = ListFilter {
        is_active: query.is_active,
        status: query.status,
        event: query.event,
        id_regex: None,
        page,
        limit,
    };
    // The answer depends on the tenant and the normalised filter only.
    let key = format!("webhooks|{}|{filter:?}", auth.tenant);
    let stamp = ReadCache::stamp(&state.projections);
    if let Some(bytes) = runtime.reads.get(&key, stamp) {
        return Ok(json_bytes(bytes));
    }
    let rows =
        hookledger_projections::webhooks::list(&state.pool, auth.tenant.as_str(), &filter).await?;
    let page = Paged::from_page(rows, WebhookOut::from);
    let bytes =
        Bytes::from(serde_json::to_vec(&page).map_err(|e| ApiError::Internal(e.to_string()))?);
    runtime.reads.put(key, stamp, bytes.clone());
    Ok(json_bytes(bytes))
}

/// A JSON answer from bytes already serialized.
fn json_bytes(bytes: Bytes) -> Response {
    let mut response = bytes.into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}

/// Time travel.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(rename_all = "camelCase")]
#[into_params(parameter_in = Query)]
struct GetQuery {
    /// RFC 3339: the webhook as it was at that instant (404 before its creation and after
    /// its deletion).
    #[param(format = DateTime)]
    as_of: Option<String>,
}

#[utoipa::path(
    get, path = "/v1/webhooks/{id}", tag = "webhooks",
    security(("apiKey" = []), ("bearerAuth" = [])),
    params(("id" = String, Path, description = "The webhook id, `wh_…`"), GetQuery),
    responses((status = 200, description = "The webhook", body = WebhookOut,
        headers(("ETag" = String, description = "The webhook's version, quoted"))))
)]
/// Get a webhook, now or as it was at `asOf`.
async fn get_one(
    auth: TenantAuth,
    State(state): State<AppState>,
    WebhookPath(id): WebhookPath,
    ApiQuery(query): ApiQuery<GetQuery>,
) -> Result<Response, ApiError> {
    let (pool, tenant) = (&state.pool, auth.tenant.as_str());
    let row = match query.as_of.as_deref() {
        None => hookledger_projections::webhooks::get(pool, tenant, id.as_str()).await?,
        Some(raw) => {
            let at = DateTime::parse_from_rfc3339(raw)
                .map_err(|e| ApiError::field("asOf", format!("must be an RFC 3339 time: {e}")))?
                .with_timezone(&Utc);
            hookledger_projections::history::as_of(pool, tenant, id.as_str(), at).await?
        }
    };
    let row = row.ok_or(ApiError::NotFound("webhook"))?;
    Ok(with_etag(StatusCode::OK, row.into()))
}

/// Applies the changes (see [`support::apply_change`]) and answers the webhook.
async fn change(
    state: &AppState,
    auth: &TenantAuth,
    headers: &HeaderMap,
    id: &WebhookId,
    spec_command: Option<WebhookCommand>,
    status: Option<WebhookStatus>,
) -> Result<Response, ApiError> {
    let version = apply_change(state, auth, headers, id, spec_command, status).await?;
    Ok(with_etag(
        StatusCode::OK,
        read_back(state, &auth.tenant, id, version).await?,
    ))
}

#[utoipa::path(
    patch, path = "/v1/webhooks/{id}", tag = "webhooks",
    security(("apiKey" = []), ("bearerAuth" = [])),
    params(("id" = String, Path, description = "The webhook id, `wh_…`"),
        ("If-Match" = Option<String>, Header, description = "Apply only at this version (`\"12\"`)")),
    request_body = WebhookPatchIn,
    responses(
        (status = 200, description = "The changed webhook", body = WebhookOut,
            headers(("ETag" = String, description = "The webhook's new version, quoted"))),
    )
)]
/// Change some fields of a webhook.
async fn patch(
    auth: TenantAuth,
    State(state): State<AppState>,
    headers: HeaderMap,
    WebhookPath(id): WebhookPath,
    ApiJson(mut body): ApiJson<WebhookPatchIn>,
) -> Result<Response, ApiError> {
    let patch =
        WebhookPatch::from_input(body.patch(), &state.limits, state.allow_private_targets())
            .map_err(|e| ApiError::unprocessable(&e))?;
    let status = requested_status(body.status.as_deref(), body.is_active)?;
    let command = if patch.is_empty() {
        None
    } else {
        let catalog = catalog(&state, &auth.tenant).await?;
        Some(WebhookCommand::UpdateWebhook { patch, catalog })
    };
    change(&state, &auth, &headers, &id, command, status).await
}

#[utoipa::path(
    put, path = "/v1/webhooks/{id}", tag = "webhooks",
    security(("apiKey" = []), ("bearerAuth" = [])),
    params(("id" = String, Path, description = "The webhook id, `wh_…`"),
        ("If-Match" = Option<String>, Header, description = "Apply only at this version (`\"12\"`)")),
    request_body(content = WebhookIn, description = "The whole webhook; `secret` is refused \
        (use regenerate-secret)"),
    responses(
        (status = 200, description = "The replaced webhook", body = WebhookOut,
            headers(("ETag" = String, description = "The webhook's new version, quoted"))),
    )
)]
/// Replace a webhook.
async fn replace(
    auth: TenantAuth,
    State(state): State<AppState>,
    headers: HeaderMap,
    WebhookPath(id): WebhookPath,
    ApiJson(mut body): ApiJson<WebhookIn>,
) -> Result<Response, ApiError> {
    if body.secret.is_some() {
        return Err(ApiError::field(
            "secret",
            "cannot be replaced here; use POST /v1/webhooks/{id}/regenerate-secret",
        ));
    }
    let spec = WebhookSpec::from_input(body.spec(), &state.limits, state.allow_private_targets())
        .map_err(|e| ApiError::unprocessable(&e))?;
    let status = requested_status(body.status.as_deref(), body.is_active)?;
    let catalog = catalog(&state, &auth.tenant).await?;
    let command = WebhookCommand::ReplaceWebhook { spec, catalog };
    change(&state, &auth, &headers, &id, Some(command), status).await
}

#[utoipa::path(
    delete, path = "/v1/webhooks/{id}", tag = "webhooks",
    security(("apiKey" = []), ("bearerAuth" = [])),
    params(("id" = String, Path, description = "The webhook id, `wh_…`"),
        ("If-Match" = Option<String>, Header, description = "Delete only at this version (`\"12\"`)")),
    responses(
        (status = 204, description = "Deleted; its history stays in the ledger"),
    )
)]
/// Delete a webhook.
async fn remove(
    auth: TenantAuth,
    State(state): State<AppState>,
    headers: HeaderMap,
    WebhookPath(id): WebhookPath,
) -> Result<StatusCode, ApiError> {
    let meta = command_meta(&auth, &headers)?.expecting(if_match(&headers)?);
    let committed = state
        .webhooks
        .execute(
            &WebhookKey::new(&auth.tenant, &id).aggregate_id(),
            WebhookCommand::DeleteWebhook,
            &meta,
        )
        .await?;
    caught_up(&state, committed.version).await?;
    Ok(StatusCode::NO_CONTENT)
}

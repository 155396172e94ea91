//! `/api/webhooks` and `/api/webhooks/{id}`: list, create, get, patch, delete.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::{Extension, Json};
use hookledger_domain::webhook::values::{WebhookPatch, WebhookPatchInput, WebhookSpecInput};
use hookledger_domain::webhook::{WebhookCommand, WebhookStatus};
use hookledger_projections::webhooks::ListFilter;
use serde::{Deserialize, Deserializer};

use super::{SALESOS, WebhookOut, existing, paging, unknown_events, with_problems};
use crate::AppState;
use crate::http::error::{ApiError, FieldProblem};
use crate::http::extract::{ApiJson, ApiPath, ApiQuery, TenantAuth};
use crate::http::routes::Paged;
use crate::http::routes::support::caught_up;
use crate::http::runtime::HttpRuntime;

/// The list's query.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct ListQuery {
    is_active: Option<bool>,
    page: Option<i64>,
    limit: Option<i64>,
}

/// `GET /api/webhooks`: the tenant's SalesOS webhooks, oldest first.
pub(super) async fn list(
    auth: TenantAuth,
    State(state): State<AppState>,
    ApiQuery(query): ApiQuery<ListQuery>,
    Extension(runtime): Extension<Arc<HttpRuntime>>,
) -> Result<Response, ApiError> {
    let (page, limit) = paging(query.page, query.limit)?;
    let filter = ListFilter {
        is_active: query.is_active,
        page,
        limit,
        ..ListFilter::default()
    };
    (SALESOS)
        .list_json(&state, &runtime, &auth.tenant, filter, |rows| {
            Paged::from_page(rows, WebhookOut::from)
        })
        .await
}

/// The body of a create. Members of the wrong JSON type are 400s naming them; missing
/// required ones are 422s from the validation.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct CreateIn {
    name: Option<String>,
    description: Option<String>,
    url: Option<String>,
    events: Option<Vec<String>>,
    headers: Option<BTreeMap<String, String>>,
    is_active: Option<bool>,
    retry_attempts: Option<i64>,
    retry_delay_seconds: Option<i64>,
}

/// `POST /api/webhooks`: 201 with the webhook and its secret.
pub(super) async fn create(
    auth: TenantAuth,
    State(state): State<AppState>,
    headers: HeaderMap,
    ApiJson(body): ApiJson<CreateIn>,
) -> Result<(StatusCode, Json<WebhookOut>), ApiError> {
    let unknown = unknown_events(body.events.as_deref());
    let input = WebhookSpecInput {
        name: body.name,
        description: body.description,
        url: body.url,
        events: body.events,
        headers: body.headers,
        retry_attempts: body.retry_attempts,
        retry_delay_seconds: body.retry_delay_seconds,
        ..WebhookSpecInput::default()
    };
    let spec = with_problems(SALESOS.spec(&state, input), unknown)?;
    let status = if body.is_active.unwrap_or(true) {
        WebhookStatus::Active
    } else {
        WebhookStatus::Paused
    };
    let (row, secret) = (SALESOS)
        .create(&state, &auth, &headers, spec, None, status)
        .await?;
    let mut out = WebhookOut::from(row);
    out.secret = Some(secret.expose().to_owned());
    Ok((StatusCode::CREATED, Json(out)))
}

/// `GET /api/webhooks/{id}`.
pub(super) async fn get_one(
    auth: TenantAuth,
    State(state): State<AppState>,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<WebhookOut>, ApiError> {
    let row = SALESOS.get(&state, &auth.tenant, &id).await?;
    Ok(Json(row.into()))
}

/// Runs only for members present in the JSON: `Some(None)` is `null`, `None` is absent.
fn present<'de, D, T>(deserializer: D) -> Result<Option<Option<T>>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(deserializer).map(Some)
}

/// The body of a PATCH: absent members stay as they are.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct PatchIn {
    #[serde(default, deserialize_with = "present")]
    name: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    description: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    url: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    events: Option<Option<Vec<String>>>,
    #[serde(default, deserialize_with = "present")]
    headers: Option<Option<BTreeMap<String, String>>>,
    #[serde(default, deserialize_with = "present")]
    is_active: Option<Option<bool>>,
    #[serde(default, deserialize_with = "present")]
    retry_attempts: Option<Option<i64>>,
    #[serde(default, deserialize_with = "present")]
    retry_delay_seconds: Option<Option<i64>>,
}

/// `PATCH /api/webhooks/{id}`: changes the fields sent; `isActive` pauses or resumes.
pub(super) async fn patch(
    auth: TenantAuth,
    State(state): State<AppState>,
    headers: HeaderMap,
    ApiPath(id): ApiPath<String>,
    ApiJson(body): ApiJson<PatchIn>,
) -> Result<Json<WebhookOut>, ApiError> {
    let id = SALESOS.webhook_id(&id)?;
    let mut problems = unknown_events(body.events.as_ref().and_then(|e| e.as_deref()));
    let status = match body.is_active {
        None => None,
        Some(Some(true)) => Some(WebhookStatus::Active),
        Some(Some(false)) => Some(WebhookStatus::Paused),
        Some(None) => {
            problems.push(FieldProblem::new("isActive", "must be true or false"));
            None
        }
    };
    let input = WebhookPatchInput {
        name: body.name,
        description: body.description,
        url: body.url,
        events: body.events,
        headers: body.headers,
        retry_attempts: body.retry_attempts,
        retry_delay_seconds: body.retry_delay_seconds,
        ..WebhookPatchInput::default()
    };
    // Validated here too (again inside `patch`), so that every problem is told at once.
    let checked =
        WebhookPatch::from_input(input.clone(), &state.limits, state.allow_private_targets())
            .map_err(|e| ApiError::unprocessable(&e));
    with_problems(checked, problems)?;
    let row = (SALESOS)
        .patch(&state, &auth, &headers, &id, input, status)
        .await?;
    Ok(Json(row.into()))
}

/// `DELETE /api/webhooks/{id}`: 204.
pub(super) async fn remove(
    auth: TenantAuth,
    State(state): State<AppState>,
    headers: HeaderMap,
    ApiPath(id): ApiPath<String>,
) -> Result<StatusCode, ApiError> {
    let (id, _) = existing(&state, &auth.tenant, &id).await?;
    let version = (SALESOS)
        .execute(&state, &auth, &headers, &id, WebhookCommand::DeleteWebhook)
        .await?;
    caught_up(&state, version).await?;
    Ok(StatusCode::NO_CONTENT)
}

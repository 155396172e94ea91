//! `/v1/admin`: tenants and their API keys, for the operator.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{delete, get, post};
use axum::{Json, Router};
use hookledger_domain::ids::{ApiKeyId, TenantId};
use hookledger_domain::ledger::CommandMeta;
use hookledger_projections::View;
use serde::Deserialize;

use super::Paging;
use crate::error::ApiError;
use crate::extract::{ApiJson, ApiQuery, OperatorAuth};
use crate::{AppState, tenancy};

pub(super) fn router() -> Router<AppState> {
    Router::new()
        .route("/v1/admin/tenants", post(create_tenant).get(list_tenants))
        .route("/v1/admin/tenants/{tenant_id}/keys", post(issue_key))
        .route(
            "/v1/admin/tenants/{tenant_id}/keys/{key_id}",
            delete(revoke_key),
        )
        .route("/v1/admin/tenants/{tenant_id}", get(get_tenant))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TenantIn {
    id: Option<String>,
    name: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct KeyIn {
    name: Option<String>,
}

fn tenant_id(raw: &str, field: &str) -> Result<TenantId, ApiError> {
    TenantId::parse(raw).map_err(|e| ApiError::field(field, e.to_string()))
}

async fn create_tenant(
    _: OperatorAuth,
    State(state): State<AppState>,
    ApiJson(body): ApiJson<TenantIn>,
) -> Result<(StatusCode, Json<tenancy::CreatedTenant>), ApiError> {
    let raw = body
        .id
        .ok_or_else(|| ApiError::field("id", "is required"))?;
    let id = tenant_id(&raw, "id")?;
    let created =
        tenancy::create_tenant(&state.tenants, id, body.name, &CommandMeta::new("operator"))
            .await?;
    state
        .projections
        .wait_for(View::Ledger, created.version, state.ryw_timeout())
        .await?;
    Ok((StatusCode::CREATED, Json(created)))
}

async fn list_tenants(
    _: OperatorAuth,
    State(state): State<AppState>,
    ApiQuery(paging): ApiQuery<Paging>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let (page, limit) = paging.resolve()?;
    let page = hookledger_projections::tenants::list(&state.pool, page, limit).await?;
    Ok(Json(
        serde_json::to_value(page).map_err(|e| ApiError::Internal(e.to_string()))?,
    ))
}

async fn get_tenant(
    _: OperatorAuth,
    State(state): State<AppState>,
    Path(tenant_id): Path<String>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let id = TenantId::parse(&tenant_id).map_err(|_| ApiError::NotFound("tenant"))?;
    let row = hookledger_projections::tenants::get(&state.pool, id.as_str())
        .await?
        .ok_or(ApiError::NotFound("tenant"))?;
    Ok(Json(
        serde_json::to_value(row).map_err(|e| ApiError::Internal(e.to_string()))?,
    ))
}

async fn issue_key(
    _: OperatorAuth,
    State(state): State<AppState>,
    Path(tenant_id): Path<String>,
    body: axum::body::Bytes,
) -> Result<(StatusCode, Json<tenancy::IssuedKey>), ApiError> {
    let tenant = TenantId::parse(&tenant_id).map_err(|_| ApiError::NotFound("tenant"))?;
    // The body is optional: none, or `{"name": …}`.
    let body: KeyIn = if body.iter().all(u8::is_ascii_whitespace) {
        KeyIn::default()
    } else {
        serde_json::from_slice(&body).map_err(|e| ApiError::BadRequest {
            detail: format!("the body is not a valid key request: {e}"),
            errors: Vec::new(),
        })?
    };
    if body.name.as_ref().is_some_and(|n| n.chars().count() > 200) {
        return Err(ApiError::field("name", "must be at most 200 characters"));
    }
    let name = body.name;
    let (key, version) =
        tenancy::issue_key(&state.tenants, &tenant, name, &CommandMeta::new("operator")).await?;
    state
        .projections
        .wait_for(View::Ledger, version, state.ryw_timeout())
        .await?;
    Ok((StatusCode::CREATED, Json(key)))
}

async fn revoke_key(
    _: OperatorAuth,
    State(state): State<AppState>,
    Path((tenant_id, key_id)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    let tenant = TenantId::parse(&tenant_id).map_err(|_| ApiError::NotFound("tenant"))?;
    let key_id = ApiKeyId::parse(&key_id).map_err(|_| ApiError::NotFound("API key"))?;
    let version = tenancy::revoke_key(
        &state.tenants,
        &tenant,
        key_id,
        &CommandMeta::new("operator"),
    )
    .await?;
    // The key stops working once the api_keys view applied the revocation: wait for it.
    state
        .projections
        .wait_for(View::Ledger, version, state.ryw_timeout())
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

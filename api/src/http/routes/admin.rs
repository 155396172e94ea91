//! `/v1/admin`: tenants and their API keys, for the operator (`Authorization: Bearer
//! <http.operator_token>`). Tenant and key changes are ledger events like any other.

use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use axum::{Extension, Json};
use chrono::{DateTime, Utc};
use hookledger_domain::ids::{ApiKeyId, TenantId};
use hookledger_domain::ledger::CommandMeta;
use hookledger_projections::tenants::TenantRow;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::members::not_null;
use super::paging::{Paged, Paging};
use super::support::caught_up;
use crate::http::error::{ApiError, FieldProblem};
use crate::http::extract::{ApiBody, ApiJson, ApiPath, ApiQuery, OperatorAuth};
use crate::http::runtime::HttpRuntime;
use crate::{AppState, tenancy};

pub(super) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_tenants, create_tenant))
        .routes(routes!(get_tenant))
        .routes(routes!(issue_key))
        .routes(routes!(revoke_key))
}

/// A tenant to create.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"id": "acme", "name": "Acme Inc."}))]
struct TenantIn {
    /// A slug, `[a-z0-9][a-z0-9-]{0,62}`; also the tenant's token in NATS subjects.
    #[schema(value_type = String, pattern = "^[a-z0-9][a-z0-9-]{0,62}$")]
    #[serde(default, deserialize_with = "not_null")]
    #[schema(required = true)]
    id: Option<String>,
    #[schema(max_length = 200)]
    #[serde(default, deserialize_with = "not_null")]
    name: Option<String>,
}

/// A key to issue.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct KeyIn {
    /// A label for people, at most 200 characters.
    #[schema(max_length = 200)]
    #[serde(default, deserialize_with = "not_null")]
    name: Option<String>,
}

/// A tenant.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
struct TenantOut {
    id: String,
    name: String,
    created_at: DateTime<Utc>,
    /// Set once the tenant's console links were revoked: links minted up to this instant, and
    /// the sessions they opened, no longer sign in.
    #[serde(skip_serializing_if = "Option::is_none")]
    console_links_revoked_before: Option<DateTime<Utc>>,
}

impl From<TenantRow> for TenantOut {
    fn from(r: TenantRow) -> Self {
        Self {
            id: r.id,
            name: r.name,
            created_at: r.created_at,
            console_links_revoked_before: r.console_links_revoked_before,
        }
    }
}

/// An API key, shown once.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(example = json!({"id": "key_0190f1d2c3b4a5968778695a4b3c2d20",
    "key": "hk_4fQ0yJ2aZ8mN1bV7cX3dR6tY9uI5oP0lK2jH8gF4sD1", "createdAt": "2025-01-01T00:00:00Z"}))]
struct KeyOut {
    /// `key_…`: names the key for revocation.
    id: String,
    /// `hk_` + 43 base62 characters. Stored only as a hash: this is the one time it is shown.
    key: String,
    created_at: DateTime<Utc>,
}

impl From<tenancy::IssuedKey> for KeyOut {
    fn from(k: tenancy::IssuedKey) -> Self {
        Self {
            id: k.id.to_string(),
            key: k.key,
            created_at: k.created_at,
        }
    }
}

/// A new tenant with its first key.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
struct CreatedTenantOut {
    id: String,
    name: Option<String>,
    created_at: DateTime<Utc>,
    api_key: KeyOut,
}

fn tenant_path(raw: &str) -> Result<TenantId, ApiError> {
    TenantId::parse(raw).map_err(|_| ApiError::NotFound("tenant"))
}

#[utoipa::path(
    post, path = "/v1/admin/tenants", tag = "admin",
    security(("operatorToken" = [])),
    request_body = TenantIn,
    responses((status = 201, description = "The tenant with its first API key (shown once)",
        body = CreatedTenantOut))
)]
/// Create a tenant.
async fn create_tenant(
    _: OperatorAuth,
    State(state): State<AppState>,
    ApiJson(body): ApiJson<TenantIn>,
) -> Result<(StatusCode, Json<CreatedTenantOut>), ApiError> {
    let raw = body
        .id
        .ok_or_else(|| ApiError::field("id", "is required"))?;
    let id = TenantId::parse(&raw).map_err(|e| ApiError::field("id", e.to_string()))?;
    if body.name.as_ref().is_some_and(|n| n.chars().count() > 200) {
        return Err(ApiError::field("name", "must be at most 200 characters"));
    }
    let meta = CommandMeta::new("operator");
    let created = tenancy::create_tenant(&state.tenants, id, body.name, &meta).await?;
    caught_up(&state, created.version).await?;
    let out = CreatedTenantOut {
        id: created.id.to_string(),
        name: created.name,
        created_at: created.created_at,
        api_key: created.api_key.into(),
    };
    Ok((StatusCode::CREATED, Json(out)))
}

#[utoipa::path(
    get, path = "/v1/admin/tenants", tag = "admin",
    security(("operatorToken" = [])),
    params(Paging),
    responses((status = 200, description = "One page of tenants, oldest first",
        body = Paged<TenantOut>))
)]
/// List tenants.
async fn list_tenants(
    _: OperatorAuth,
    State(state): State<AppState>,
    ApiQuery(paging): ApiQuery<Paging>,
) -> Result<Json<Paged<TenantOut>>, ApiError> {
    let (page, limit) = paging.resolve()?;
    let rows = hookledger_projections::tenants::list(&state.pool, page, limit).await?;
    Ok(Json(Paged::from_page(rows, TenantOut::from)))
}

#[utoipa::path(
    get, path = "/v1/admin/tenants/{tenantId}", tag = "admin",
    security(("operatorToken" = [])),
    params(("tenantId" = String, Path, description = "The tenant id")),
    responses((status = 200, description = "The tenant", body = TenantOut))
)]
/// Get a tenant.
async fn get_tenant(
    _: OperatorAuth,
    State(state): State<AppState>,
    ApiPath(tenant_id): ApiPath<String>,
) -> Result<Json<TenantOut>, ApiError> {
    let id = tenant_path(&tenant_id)?;
    let row = hookledger_projections::tenants::get(&state.pool, id.as_str())
        .await?
        .ok_or(ApiError::NotFound("tenant"))?;
    Ok(Json(row.into()))
}

#[utoipa::path(
    post, path = "/v1/admin/tenants/{tenantId}/keys", tag = "admin",
    security(("operatorToken" = [])),
    params(("tenantId" = String, Path, description = "The tenant id")),
    request_body(content = Option<KeyIn>, description = "Optional: a body, or none"),
    responses((status = 201, description = "The new key (shown once)", body = KeyOut))
)]
/// Issue an API key.
async fn issue_key(
    _: OperatorAuth,
    State(state): State<AppState>,
    ApiPath(tenant_id): ApiPath<String>,
    ApiBody(body): ApiBody,
) -> Result<(StatusCode, Json<KeyOut>), ApiError> {
    let tenant = tenant_path(&tenant_id)?;
    // The body is optional: none, or `{"name": …}`.
    let body: KeyIn = if body.iter().all(u8::is_ascii_whitespace) {
        KeyIn::default()
    } else {
        let json = &mut serde_json::Deserializer::from_slice(&body);
        serde_path_to_error::deserialize(json).map_err(|e| {
            let field = e.path().to_string();
            let message = e.inner().to_string();
            ApiError::BadRequest {
                detail: format!("the body is not a valid key request: {e}"),
                errors: (field != ".")
                    .then_some(FieldProblem { field, message })
                    .into_iter()
                    .collect(),
            }
        })?
    };
    if let Some(name) = &body.name {
        if name.chars().count() > 200 {
            return Err(ApiError::field("name", "must be at most 200 characters"));
        }
        if name.contains('\0') {
            return Err(ApiError::field(
                "name",
                "must not contain the NUL character",
            ));
        }
    }
    let meta = CommandMeta::new("operator");
    let (key, version) = tenancy::issue_key(&state.tenants, &tenant, body.name, &meta).await?;
    caught_up(&state, version).await?;
    Ok((StatusCode::CREATED, Json(key.into())))
}

#[utoipa::path(
    delete, path = "/v1/admin/tenants/{tenantId}/keys/{keyId}", tag = "admin",
    security(("operatorToken" = [])),
    params(("tenantId" = String, Path, description = "The tenant id"),
        ("keyId" = String, Path, description = "The key id, `key_…`")),
    responses((status = 204, description = "Revoked: the key stops working at once"))
)]
/// Revoke an API key.
async fn revoke_key(
    _: OperatorAuth,
    State(state): State<AppState>,
    Extension(runtime): Extension<Arc<HttpRuntime>>,
    ApiPath((tenant_id, key_id)): ApiPath<(String, String)>,
) -> Result<StatusCode, ApiError> {
    let tenant = tenant_path(&tenant_id)?;
    let key_id = ApiKeyId::parse(&key_id).map_err(|_| ApiError::NotFound("API key"))?;
    let meta = CommandMeta::new("operator");
    let version = tenancy::revoke_key(&state.tenants, &tenant, key_id.clone(), &meta).await?;
    // The key stops working once the api_keys view applied the revocation: wait for it, and
    // drop it from this process's key cache.
    caught_up(&state, version).await?;
    runtime.keys.forget(&key_id);
    Ok(StatusCode::NO_CONTENT)
}

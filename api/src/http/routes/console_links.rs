//! `POST /v1/admin/tenants/{tenantId}/console-links`: the operator mints a short-lived
//! console sign-in link for a tenant (the route form of `hookledger console link`). The link
//! is a signed token (see `http::console::links`); the ledger records its id
//! (`tenant.console_link_minted`), never the token. `DELETE …/console-links/{linkId}` revokes
//! that link (`tenant.console_link_revoked`), and `POST …/console-links/revoke` every link of
//! the tenant minted up to now (`tenant.console_links_revoked`), each with the sessions it
//! opened.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use hookledger_domain::ids::TenantId;
use hookledger_domain::ledger::CommandMeta;

use super::members::not_null;
use super::support::caught_up;
use crate::http::console::links;
use crate::http::error::ApiError;
use crate::http::extract::{ApiBody, ApiPath, OperatorAuth};
use crate::{AppState, tenancy};

pub(super) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(mint))
        .routes(routes!(revoke_console_link))
        .routes(routes!(revoke_console_links))
}

/// A console link to mint.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[schema(example = json!({"ttl": "1h", "readOnly": true}))]
struct LinkIn {
    /// How long the link (and the session it opens) lasts: `90s`, `30m`, `1h`, `2d`; 1m..7d,
    /// default `1h`.
    #[serde(default, deserialize_with = "not_null")]
    ttl: Option<String>,
    /// A read-only link opens a session that can look and not change (default false).
    #[serde(default, deserialize_with = "not_null")]
    read_only: Option<bool>,
}

/// A minted console link.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
struct LinkOut {
    /// The link's id: what revokes it (`DELETE …/console-links/{id}`), and what the actor
    /// `console-link:<id>` of its sessions' commands names.
    id: String,
    /// The path to open on this server: `/console/link?token=…`.
    path: String,
    /// The signed token alone.
    token: String,
    expires_at: DateTime<Utc>,
    read_only: bool,
}

#[utoipa::path(
    post, path = "/v1/admin/tenants/{tenantId}/console-links", tag = "admin",
    security(("operatorToken" = [])),
    params(("tenantId" = String, Path, description = "The tenant id")),
    request_body(content = Option<LinkIn>, description = "Optional; defaults: 1h, read-write"),
    responses((status = 201, description = "A console link; opening it after `expiresAt` shows \
        a page saying it expired", body = LinkOut))
)]
/// Mint a console sign-in link for a tenant.
async fn mint(
    _: OperatorAuth,
    State(state): State<AppState>,
    ApiPath(tenant): ApiPath<String>,
    ApiBody(body): ApiBody,
) -> Result<(StatusCode, Json<LinkOut>), ApiError> {
    let input: LinkIn = if body.iter().all(u8::is_ascii_whitespace) {
        LinkIn::default()
    } else {
        serde_json::from_slice(&body).map_err(|e| ApiError::BadRequest {
            detail: format!("the body is not a console link request: {e}"),
            errors: Vec::new(),
        })?
    };
    let ttl = links::parse_ttl(input.ttl.as_deref().unwrap_or("1h"))
        .map_err(|e| ApiError::field("ttl", e))?;
    let tenant = TenantId::parse(&tenant).map_err(|_| ApiError::NotFound("tenant"))?;
    let read_only = input.read_only.unwrap_or(false);
    let meta = CommandMeta::new("operator");
    let (link, version) = links::mint_recorded(
        &state.tenants,
        &state.config,
        &tenant,
        ttl,
        read_only,
        &meta,
    )
    .await?;
    // Read-your-writes: the operator's list shows the link once this answers.
    caught_up(&state, version).await?;
    Ok((
        StatusCode::CREATED,
        Json(LinkOut {
            id: link.id,
            path: link.path,
            token: link.token,
            expires_at: link.expires_at,
            read_only: link.read_only,
        }),
    ))
}

#[utoipa::path(
    delete, path = "/v1/admin/tenants/{tenantId}/console-links/{linkId}", tag = "admin",
    security(("operatorToken" = [])),
    params(("tenantId" = String, Path, description = "The tenant id"),
        ("linkId" = String, Path, description = "The link's id, as minted")),
    responses((status = 204, description = "Revoked: the link, and the sessions it opened, \
        stop working at once"))
)]
/// Revoke one console link.
async fn revoke_console_link(
    _: OperatorAuth,
    State(state): State<AppState>,
    ApiPath((tenant, link_id)): ApiPath<(String, String)>,
) -> Result<StatusCode, ApiError> {
    let tenant = TenantId::parse(&tenant).map_err(|_| ApiError::NotFound("tenant"))?;
    let meta = CommandMeta::new("operator");
    let version = tenancy::revoke_console_link(&state.tenants, &tenant, link_id, &meta).await?;
    caught_up(&state, version).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// What a revocation of a tenant's console links covers.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
struct LinksRevokedOut {
    /// Every link of the tenant minted up to this instant is refused (410), and so is each
    /// session such a link opened; links minted later work.
    revoked_before: DateTime<Utc>,
}

#[utoipa::path(
    post, path = "/v1/admin/tenants/{tenantId}/console-links/revoke", tag = "admin",
    security(("operatorToken" = [])),
    params(("tenantId" = String, Path, description = "The tenant id")),
    responses((status = 200, description = "Revoked: the tenant's console links minted until \
        `revokedBefore`, and their sessions, stop working at once", body = LinksRevokedOut))
)]
/// Revoke every console link of a tenant minted up to now.
async fn revoke_console_links(
    _: OperatorAuth,
    State(state): State<AppState>,
    ApiPath(tenant): ApiPath<String>,
) -> Result<Json<LinksRevokedOut>, ApiError> {
    let tenant = TenantId::parse(&tenant).map_err(|_| ApiError::NotFound("tenant"))?;
    let meta = CommandMeta::new("operator");
    let (before, version) = tenancy::revoke_console_links(&state.tenants, &tenant, &meta).await?;
    // The links stop working once the tenants view has the instant: wait for it.
    caught_up(&state, version).await?;
    let now = hookledger_projections::tenants::get(&state.pool, tenant.as_str()).await?;
    let revoked_before = now.and_then(|t| t.console_links_revoked_before);
    Ok(Json(LinksRevokedOut {
        revoked_before: revoked_before.unwrap_or(before),
    }))
}

//! Request extractors whose rejections are problem documents, and authentication.
//!
//! - [`ApiJson`]: JSON bodies. Wrong content type → 415, not JSON → 400, a field of the wrong
//!   JSON type → 400 naming the field, too large → 413.
//! - [`ApiQuery`]: query strings; a malformed one → 400.
//! - [`TenantAuth`]: the tenant's API key, as `x-api-key: KEY` or `Authorization: Bearer KEY`.
//!   Unknown or revoked → 401.
//! - [`OperatorAuth`]: `Authorization: Bearer <http.operator_token>`, for `/v1/admin`.

use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::StatusCode;
use axum::http::request::Parts;
use hookledger_domain::ids::{ApiKeyId, TenantId};
use hookledger_domain::secrets::{hash_api_key, looks_like_api_key};
use serde::de::DeserializeOwned;
use sha2::{Digest, Sha256};

use crate::AppState;
use crate::error::{ApiError, FieldProblem};

/// A JSON body whose rejections are problem documents.
pub struct ApiJson<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        match axum::Json::<T>::from_request(req, state).await {
            Ok(axum::Json(value)) => Ok(Self(value)),
            Err(rejection) => Err(json_rejection(rejection)),
        }
    }
}

fn json_rejection(rejection: JsonRejection) -> ApiError {
    match rejection {
        JsonRejection::MissingJsonContentType(_) => ApiError::UnsupportedMediaType(
            "the body must be JSON, sent with content-type: application/json".into(),
        ),
        JsonRejection::JsonDataError(e) => {
            // "Failed to deserialize the JSON body into the target type: events[0]: invalid type: …"
            let text = e.body_text();
            let detail = text
                .split_once("target type: ")
                .map_or(text.as_str(), |(_, d)| d)
                .to_owned();
            let errors = match detail.split_once(": ") {
                Some((field, message)) if !field.contains(' ') => {
                    vec![FieldProblem {
                        field: field.to_owned(),
                        message: message.to_owned(),
                    }]
                }
                _ => Vec::new(),
            };
            ApiError::BadRequest { detail, errors }
        }
        JsonRejection::JsonSyntaxError(e) => {
            let text = e.body_text();
            let detail = text
                .split_once("JSON: ")
                .map_or(text.as_str(), |(_, d)| d)
                .to_owned();
            ApiError::BadRequest {
                detail: format!("the body is not valid JSON: {detail}"),
                errors: Vec::new(),
            }
        }
        other if other.status() == StatusCode::PAYLOAD_TOO_LARGE => ApiError::PayloadTooLarge(0),
        other => ApiError::BadRequest {
            detail: other.body_text(),
            errors: Vec::new(),
        },
    }
}

/// A query string whose rejection is a problem document.
pub struct ApiQuery<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequestParts<S> for ApiQuery<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        match axum::extract::Query::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Query(value)) => Ok(Self(value)),
            Err(QueryRejection::FailedToDeserializeQueryString(e)) => {
                let text = e.body_text();
                let detail = text
                    .split_once("query string: ")
                    .map_or(text.as_str(), |(_, d)| d)
                    .to_owned();
                Err(ApiError::BadRequest {
                    detail,
                    errors: Vec::new(),
                })
            }
            Err(other) => Err(ApiError::BadRequest {
                detail: other.body_text(),
                errors: Vec::new(),
            }),
        }
    }
}

/// The credential of a request: `x-api-key`, else `Authorization: Bearer`.
fn presented_key(parts: &Parts) -> Option<&str> {
    if let Some(v) = parts.headers.get("x-api-key").and_then(|v| v.to_str().ok()) {
        return Some(v.trim());
    }
    let auth = parts
        .headers
        .get(axum::http::header::AUTHORIZATION)?
        .to_str()
        .ok()?;
    let (scheme, token) = auth.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then_some(token.trim())
}

/// The authenticated tenant of a request.
#[derive(Debug, Clone)]
pub struct TenantAuth {
    pub tenant: TenantId,
    pub key_id: ApiKeyId,
}

impl TenantAuth {
    /// The actor recorded in the ledger for this request's commands.
    pub fn actor(&self) -> String {
        self.key_id.to_string()
    }
}

impl FromRequestParts<AppState> for TenantAuth {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let key = presented_key(parts).ok_or(ApiError::Unauthorized)?;
        if !looks_like_api_key(key) {
            return Err(ApiError::Unauthorized);
        }
        let row = hookledger_projections::tenants::find_api_key(&state.pool, &hash_api_key(key))
            .await?
            .ok_or(ApiError::Unauthorized)?;
        if row.revoked_at.is_some() {
            return Err(ApiError::Unauthorized);
        }
        let tenant = TenantId::parse(&row.tenant)
            .map_err(|e| ApiError::Internal(format!("stored tenant id: {e}")))?;
        let key_id = ApiKeyId::parse(&row.key_id)
            .map_err(|e| ApiError::Internal(format!("stored key id: {e}")))?;
        Ok(Self { tenant, key_id })
    }
}

/// The operator, for `/v1/admin`.
#[derive(Debug, Clone, Copy)]
pub struct OperatorAuth;

impl FromRequestParts<AppState> for OperatorAuth {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let expected = &state.config.http.operator_token;
        let given = presented_key(parts).ok_or(ApiError::Unauthorized)?;
        // Compare digests, so the comparison's time says nothing about the token.
        if expected.is_empty()
            || Sha256::digest(given.as_bytes()) != Sha256::digest(expected.as_bytes())
        {
            return Err(ApiError::Unauthorized);
        }
        Ok(Self)
    }
}

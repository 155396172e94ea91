//! Request extractors whose rejections are problem documents, and authentication.
//!
//! - [`ApiJson`]: JSON bodies. Wrong content type → 415, not JSON → 400, a field of the wrong
//!   JSON type → 400 naming the field, too large → 413, a string holding the NUL character
//!   (which PostgreSQL cannot store) → 422.
//! - [`ApiQuery`]: query strings; a malformed one → 400, one holding `%00` → 422.
//! - [`ApiPath`]: path parameters; a malformed one → 400. [`WebhookPath`] and [`DeliveryPath`]:
//!   the `{id}` and `{deliveryId}` of webhook routes as validated ids (malformed → 404).
//! - [`ApiBody`]: a raw body (for routes whose body is optional); too large → 413.
//! - [`TenantAuth`]: the tenant's API key, as `x-api-key: KEY`, `Authorization: Bearer KEY` or
//!   `Authorization: Basic` with the key as password (for the SuperOffice dialect)
//!   (checked through the [`crate::http::keycache`]), then the key's rate limit (for
//!   `POST /v1/events` the handler spends the publish limit, a token an event). Unknown or
//!   revoked → 401; over the rate → 429.
//! - [`OperatorAuth`]: `Authorization: Bearer <http.operator_token>`, for `/v1/admin`.

use std::collections::HashMap;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::rejection::{JsonRejection, PathRejection, QueryRejection};
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{StatusCode, header};
use hookledger_domain::ids::{ApiKeyId, DeliveryId, TenantId, WebhookId};
use hookledger_domain::secrets::looks_like_api_key;
use serde::de::DeserializeOwned;
use sha2::{Digest, Sha256};

use crate::AppState;
use crate::http::error::{ApiError, FieldProblem};
use crate::http::runtime::HttpRuntime;

/// A JSON body whose rejections are problem documents.
pub struct ApiJson<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        let limit = req
            .extensions()
            .get::<Arc<HttpRuntime>>()
            .map_or(0, |r| r.max_body_bytes);
        if !is_json(req.headers()) {
            return Err(ApiError::UnsupportedMediaType(
                "the body must be JSON, sent with content-type: application/json".into(),
            ));
        }
        let bytes = Bytes::from_request(req, state).await.map_err(|rejection| {
            if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
                ApiError::PayloadTooLarge(limit)
            } else {
                ApiError::BadRequest {
                    detail: rejection.body_text(),
                    errors: Vec::new(),
                }
            }
        })?;
        if has_nul_escape(&bytes) {
            return Err(ApiError::field(
                "body",
                "strings must not contain the NUL character (\\u0000)",
            ));
        }
        match axum::Json::<T>::from_bytes(&bytes) {
            Ok(axum::Json(value)) => Ok(Self(value)),
            Err(rejection) => Err(json_rejection(rejection)),
        }
    }
}

/// A raw body whose rejections are problem documents (too large → 413).
pub struct ApiBody(pub Bytes);

impl<S: Send + Sync> FromRequest<S> for ApiBody {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        let limit = req
            .extensions()
            .get::<Arc<HttpRuntime>>()
            .map_or(0, |r| r.max_body_bytes);
        Bytes::from_request(req, state)
            .await
            .map(Self)
            .map_err(|rejection| {
                if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
                    ApiError::PayloadTooLarge(limit)
                } else {
                    ApiError::BadRequest {
                        detail: rejection.body_text(),
                        errors: Vec::new(),
                    }
                }
            })
    }
}

/// `application/json` or `application/<something>+json`, parameters ignored.
fn is_json(headers: &axum::http::HeaderMap) -> bool {
    let Some(value) = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
    else {
        return false;
    };
    let essence = value
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    essence == "application/json"
        || (essence.starts_with("application/") && essence.ends_with("+json"))
}

/// True when the JSON text holds the escape `\u0000` (an escaped backslash followed by
/// `u0000` is text, not an escape).
fn has_nul_escape(bytes: &[u8]) -> bool {
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'\\' {
            if bytes[i + 1..].starts_with(b"u0000") {
                return true;
            }
            i += 2;
        } else {
            i += 1;
        }
    }
    false
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
        if parts.uri.query().is_some_and(|q| q.contains("%00")) {
            return Err(ApiError::field(
                "query",
                "parameters must not contain the NUL character (%00)",
            ));
        }
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

/// Path parameters whose rejection is a problem document.
pub struct ApiPath<T>(pub T);

impl<T: DeserializeOwned + Send, S: Send + Sync> FromRequestParts<S> for ApiPath<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        match axum::extract::Path::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Path(value)) => Ok(Self(value)),
            Err(rejection) => Err(path_rejection(rejection)),
        }
    }
}

/// The `{id}` of a route under `/v1/webhooks/{id}`, as a validated [`WebhookId`]; a malformed
/// one names no webhook (404, like an unknown one).
pub struct WebhookPath(pub WebhookId);

/// The `{deliveryId}` of a route under `…/deliveries/{deliveryId}`, as a validated
/// [`DeliveryId`]; a malformed one is 404.
pub struct DeliveryPath(pub DeliveryId);

/// The path parameter `name`, as text.
async fn path_param<S: Send + Sync>(
    parts: &mut Parts,
    state: &S,
    name: &str,
) -> Result<Option<String>, ApiError> {
    let ApiPath(mut params) =
        ApiPath::<HashMap<String, String>>::from_request_parts(parts, state).await?;
    Ok(params.remove(name))
}

impl<S: Send + Sync> FromRequestParts<S> for WebhookPath {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let raw = path_param(parts, state, "id").await?;
        raw.and_then(|raw| WebhookId::parse(&raw).ok())
            .map(Self)
            .ok_or(ApiError::NotFound("webhook"))
    }
}

impl<S: Send + Sync> FromRequestParts<S> for DeliveryPath {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let raw = path_param(parts, state, "deliveryId").await?;
        raw.and_then(|raw| DeliveryId::parse(&raw).ok())
            .map(Self)
            .ok_or(ApiError::NotFound("delivery"))
    }
}

fn path_rejection(rejection: PathRejection) -> ApiError {
    ApiError::BadRequest {
        detail: rejection.body_text(),
        errors: Vec::new(),
    }
}

/// The tenant credential of a request: `x-api-key`, else `Authorization: Bearer KEY`, else
/// `Authorization: Basic` with the key as password (SuperOffice's form; the user name is
/// ignored, and a key given as the user name with no password is accepted too).
fn presented_key(parts: &Parts) -> Option<String> {
    if let Some(v) = parts.headers.get("x-api-key").and_then(|v| v.to_str().ok()) {
        return Some(v.trim().to_owned());
    }
    bearer(parts).map(str::to_owned).or_else(|| basic(parts))
}

/// The password (or, when it is empty, the user name) of `Authorization: Basic …`.
fn basic(parts: &Parts) -> Option<String> {
    use base64::Engine as _;
    let auth = parts.headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, encoded) = auth.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .ok()?;
    let text = String::from_utf8(decoded).ok()?;
    let (user, password) = text.split_once(':').unwrap_or((text.as_str(), ""));
    Some(if password.is_empty() { user } else { password }.to_owned())
}

/// The token of `Authorization: Bearer TOKEN`.
fn bearer(parts: &Parts) -> Option<&str> {
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

    /// Authenticates once per request: the result is kept in the request's extensions, so
    /// middleware that authenticated before the handler does not spend a second token.
    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        if let Some(auth) = parts.extensions.get::<TenantAuth>() {
            return Ok(auth.clone());
        }
        let key = presented_key(parts).ok_or(ApiError::Unauthorized)?;
        if !looks_like_api_key(&key) {
            return Err(ApiError::Unauthorized);
        }
        let runtime = parts
            .extensions
            .get::<Arc<HttpRuntime>>()
            .cloned()
            .ok_or_else(|| ApiError::Internal("the router did not install HttpRuntime".into()))?;
        let auth = runtime.keys.authenticate(state, &key).await?;
        // Publishing has a limit of its own, spent per event by the handler.
        if !is_publish(parts) {
            runtime
                .limiter
                .check(auth.key_id.as_str())
                .map_err(|retry_after_seconds| ApiError::TooManyRequests {
                    retry_after_seconds,
                })?;
        }
        parts.extensions.insert(auth.clone());
        Ok(auth)
    }
}

/// `POST /v1/events`, whose events spend `HttpRuntime::publish_limiter` instead.
fn is_publish(parts: &Parts) -> bool {
    parts.method == axum::http::Method::POST && parts.uri.path() == "/v1/events"
}

/// The operator, for `/v1/admin`.
#[derive(Debug, Clone, Copy)]
pub struct OperatorAuth;

impl FromRequestParts<AppState> for OperatorAuth {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let expected = &state.config.http.operator_token;
        let given = bearer(parts).ok_or(ApiError::Unauthorized)?;
        // Compare digests, so the comparison's time says nothing about the token.
        if expected.is_empty()
            || Sha256::digest(given.as_bytes()) != Sha256::digest(expected.as_bytes())
        {
            return Err(ApiError::Unauthorized);
        }
        Ok(Self)
    }
}

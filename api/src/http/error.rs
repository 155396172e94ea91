//! `ApiError`: the one place that turns failures into HTTP answers, as RFC 9457
//! `application/problem+json` `{type, title, status, detail, errors: [{field, message}]}`.
//!
//! ### Handling
//! Client mistakes (400, 401, 404, 405, 409, 412, 413, 415, 422, 429) are answered as such and
//! logged at debug. A dependency that is down (NATS, PostgreSQL) is 503 with a warning log and
//! `Retry-After`; nothing was written, the client may retry. Only a broken invariant of ours is
//! 500, logged as an error with its source chain; its details never reach the client.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use hookledger_dispatcher::DispatchError;
use hookledger_domain::catalog::CatalogError;
use hookledger_domain::cause::Cause;
use hookledger_domain::ledger::{CommandError, LedgerError};
use hookledger_domain::tenant::TenantError;
use hookledger_domain::validation::FieldError;
use hookledger_domain::webhook::WebhookError;
use hookledger_projections::ProjectionError;
use serde::Serialize;
use utoipa::ToSchema;

/// One field-level problem.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
#[schema(example = json!({"field": "retryAttempts", "message": "must be between 0 and 20"}))]
pub struct FieldProblem {
    /// The JSON field (`events[0]`), query parameter or header (`Idempotency-Key`) at fault.
    pub field: String,
    /// What is wrong with it.
    pub message: String,
}

impl FieldProblem {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            message: message.into(),
        }
    }
}

impl From<&FieldError> for FieldProblem {
    fn from(e: &FieldError) -> Self {
        let full = e.to_string();
        let message = full
            .strip_prefix(&format!("{}: ", e.field))
            .unwrap_or(&full)
            .to_owned();
        Self {
            field: e.field.clone(),
            message,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// 400: not JSON, or a field of the wrong JSON type.
    #[error("{detail}")]
    BadRequest {
        detail: String,
        errors: Vec<FieldProblem>,
    },
    /// 401: no key, a wrong key, or a revoked key.
    #[error("missing or invalid credentials")]
    Unauthorized,
    /// 404: unknown id, or another tenant's.
    #[error("{0} not found")]
    NotFound(&'static str),
    /// 405: the path exists, the method does not.
    #[error("this method is not allowed on this path")]
    MethodNotAllowed,
    /// 409: conflicts with existing state.
    #[error("{0}")]
    Conflict(String),
    /// 412: `If-Match` is stale.
    #[error("If-Match names version {expected}, the current version is {current}")]
    PreconditionFailed { expected: u64, current: u64 },
    /// 413: the body is larger than `http.max_body_bytes`.
    #[error("the request body is larger than {0} bytes")]
    PayloadTooLarge(usize),
    /// 415.
    #[error("{0}")]
    UnsupportedMediaType(String),
    /// 422: well-formed input that breaks a rule.
    #[error("the request breaks {} rule(s)", .0.len())]
    Unprocessable(Vec<FieldProblem>),
    /// 429: the API key used up its rate (`http.rate_limit_per_second`).
    #[error("too many requests for this API key; retry in {retry_after_seconds} s")]
    TooManyRequests { retry_after_seconds: u64 },
    /// 501: a route of the contract that is not built yet.
    #[error("{0} is not implemented yet")]
    NotImplemented(&'static str),
    /// 503: NATS or PostgreSQL is down or too slow.
    #[error("{0}")]
    Unavailable(String),
    /// 500: a broken invariant of ours.
    #[error("internal error")]
    Internal(String),
}

impl ApiError {
    pub fn unprocessable(errors: &[FieldError]) -> Self {
        Self::Unprocessable(errors.iter().map(FieldProblem::from).collect())
    }

    pub fn field(field: &str, message: impl Into<String>) -> Self {
        Self::Unprocessable(vec![FieldProblem {
            field: field.into(),
            message: message.into(),
        }])
    }

    fn parts(&self) -> (StatusCode, &'static str, &'static str) {
        use ApiError::*;
        match self {
            BadRequest { .. } => (StatusCode::BAD_REQUEST, "bad-request", "Malformed request"),
            Unauthorized => (StatusCode::UNAUTHORIZED, "unauthorized", "Unauthorized"),
            NotFound(_) => (StatusCode::NOT_FOUND, "not-found", "Not found"),
            MethodNotAllowed => (
                StatusCode::METHOD_NOT_ALLOWED,
                "method-not-allowed",
                "Method not allowed",
            ),
            Conflict(_) => (StatusCode::CONFLICT, "conflict", "Conflict"),
            PreconditionFailed { .. } => (
                StatusCode::PRECONDITION_FAILED,
                "precondition-failed",
                "Precondition failed",
            ),
            PayloadTooLarge(_) => (
                StatusCode::PAYLOAD_TOO_LARGE,
                "payload-too-large",
                "Payload too large",
            ),
            UnsupportedMediaType(_) => (
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported-media-type",
                "Unsupported media type",
            ),
            Unprocessable(_) => (
                StatusCode::UNPROCESSABLE_ENTITY,
                "validation",
                "Validation failed",
            ),
            TooManyRequests { .. } => (
                StatusCode::TOO_MANY_REQUESTS,
                "rate-limited",
                "Too many requests",
            ),
            NotImplemented(_) => (
                StatusCode::NOT_IMPLEMENTED,
                "not-implemented",
                "Not implemented",
            ),
            Unavailable(_) => (
                StatusCode::SERVICE_UNAVAILABLE,
                "unavailable",
                "Service unavailable",
            ),
            Internal(_) => (
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal",
                "Internal error",
            ),
        }
    }
}

/// An RFC 9457 problem document, the body of every error answer
/// (`content-type: application/problem+json`).
#[derive(Debug, Clone, Serialize, ToSchema)]
#[schema(example = json!({
    "type": "https://hookledger.dev/problems/validation",
    "title": "Validation failed",
    "status": 422,
    "detail": "the request breaks 1 rule(s)",
    "errors": [{"field": "url", "message": "must be an absolute http(s) URL"}]
}))]
pub struct Problem {
    /// A URI naming the kind of problem: `https://hookledger.dev/problems/<slug>`.
    #[serde(rename = "type")]
    pub kind: String,
    /// A short summary of the kind of problem.
    pub title: String,
    /// The HTTP status code.
    pub status: u16,
    /// What went wrong with this request.
    pub detail: String,
    /// Field-level problems (400 and 422); absent otherwise.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    #[schema(required = false)]
    pub errors: Vec<FieldProblem>,
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, slug, title) = self.parts();
        match &self {
            ApiError::Unavailable(cause) => tracing::warn!(%cause, "answering 503"),
            ApiError::Internal(cause) => tracing::error!(%cause, "answering 500"),
            other => tracing::debug!(error = %other, status = status.as_u16(), "client error"),
        }
        let detail = match &self {
            ApiError::Internal(_) => "an unexpected error occurred; it has been logged".to_owned(),
            ApiError::Unavailable(_) => {
                "a dependency (NATS or PostgreSQL) is unavailable; retry later".to_owned()
            }
            other => other.to_string(),
        };
        let retry_after = match &self {
            ApiError::TooManyRequests {
                retry_after_seconds,
            } => Some(*retry_after_seconds),
            ApiError::Unavailable(_) => Some(1),
            _ => None,
        };
        let errors = match self {
            ApiError::BadRequest { errors, .. } | ApiError::Unprocessable(errors) => errors,
            _ => Vec::new(),
        };
        let body = Problem {
            kind: format!("https://hookledger.dev/problems/{slug}"),
            title: title.to_owned(),
            status: status.as_u16(),
            detail,
            errors,
        };
        let mut response = (status, axum::Json(body)).into_response();
        response.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/problem+json"),
        );
        if let Some(seconds) = retry_after {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        response
    }
}

impl From<LedgerError> for ApiError {
    fn from(e: LedgerError) -> Self {
        match e {
            LedgerError::Unavailable { what, source } => {
                ApiError::Unavailable(Cause(&what, source.as_ref()).to_string())
            }
            LedgerError::Conflict(_) => {
                ApiError::Conflict("the resource was changed concurrently; retry".into())
            }
            other => ApiError::Internal(other.to_string()),
        }
    }
}

impl From<ProjectionError> for ApiError {
    fn from(e: ProjectionError) -> Self {
        match e {
            ProjectionError::Database(cause) => {
                ApiError::Unavailable(format!("PostgreSQL: {cause}"))
            }
            ProjectionError::Ledger(cause) => cause.into(),
            ProjectionError::Timeout { .. } => ApiError::Unavailable(e.to_string()),
            other => ApiError::Internal(other.to_string()),
        }
    }
}

impl From<sqlx::Error> for ApiError {
    fn from(e: sqlx::Error) -> Self {
        ApiError::Unavailable(format!("PostgreSQL: {e}"))
    }
}

fn from_command<E: std::error::Error>(
    e: CommandError<E>,
    rejected: impl FnOnce(E) -> ApiError,
) -> ApiError {
    match e {
        CommandError::Rejected(e) => rejected(e),
        CommandError::Conflict => {
            ApiError::Conflict("the resource was changed concurrently; retry".into())
        }
        CommandError::PreconditionFailed { expected, current } => {
            ApiError::PreconditionFailed { expected, current }
        }
        CommandError::Ledger(e) => e.into(),
    }
}

impl From<CommandError<WebhookError>> for ApiError {
    fn from(e: CommandError<WebhookError>) -> Self {
        from_command(e, |e| match e {
            WebhookError::Validation(errors) => ApiError::unprocessable(&errors),
            WebhookError::AlreadyExists => {
                ApiError::Conflict("a webhook with this id exists".into())
            }
            WebhookError::NotFound => ApiError::NotFound("webhook"),
        })
    }
}

impl From<CommandError<TenantError>> for ApiError {
    fn from(e: CommandError<TenantError>) -> Self {
        from_command(e, |e| match e {
            TenantError::Validation(errors) => ApiError::unprocessable(&errors),
            TenantError::AlreadyExists => ApiError::Conflict("a tenant with this id exists".into()),
            TenantError::NotFound => ApiError::NotFound("tenant"),
            TenantError::KeyNotFound => ApiError::NotFound("API key"),
            TenantError::LinkNotFound => ApiError::NotFound("console link"),
            TenantError::KeyAlreadyExists => {
                ApiError::Conflict("an API key with this id exists".into())
            }
        })
    }
}

impl From<CommandError<CatalogError>> for ApiError {
    fn from(e: CommandError<CatalogError>) -> Self {
        from_command(e, |e| match e {
            CatalogError::Validation(errors) => ApiError::unprocessable(&errors),
            CatalogError::AlreadyExists { name } => {
                ApiError::Conflict(format!("event type {name} exists"))
            }
        })
    }
}

impl From<DispatchError> for ApiError {
    fn from(e: DispatchError) -> Self {
        match e {
            DispatchError::Ledger(e) => e.into(),
            DispatchError::WebhookNotFound => ApiError::NotFound("webhook"),
            DispatchError::DeliveryNotFound => ApiError::NotFound("delivery"),
            e @ DispatchError::EventUnavailable(_) => ApiError::Conflict(e.to_string()),
            other => ApiError::Internal(other.to_string()),
        }
    }
}

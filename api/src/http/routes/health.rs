//! `/healthz` (the process runs), `/readyz` (NATS and PostgreSQL answer), `/metrics`
//! (Prometheus text) and `/openapi.json` (this API's OpenAPI document). None needs a key.

use std::sync::Arc;

use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::AppState;
use crate::http::openapi::OpenApiJson;

pub(super) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(healthz))
        .routes(routes!(readyz))
        .routes(routes!(metrics))
        .routes(routes!(openapi_json))
}

/// The process is up.
#[derive(Debug, Serialize, ToSchema)]
struct Health {
    /// Always `ok`.
    #[schema(example = "ok")]
    status: &'static str,
}

/// Whether each dependency answers.
#[derive(Debug, Serialize, ToSchema)]
struct Readiness {
    nats: bool,
    postgres: bool,
}

#[utoipa::path(
    get, path = "/healthz", tag = "operations",
    responses((status = 200, description = "The process runs", body = Health))
)]
/// Liveness.
async fn healthz() -> Json<Health> {
    Json(Health { status: "ok" })
}

#[utoipa::path(
    get, path = "/readyz", tag = "operations",
    responses(
        (status = 200, description = "NATS and PostgreSQL answer", body = Readiness),
        (status = 503, description = "A dependency does not answer", body = Readiness),
    )
)]
/// Readiness: NATS and PostgreSQL answer.
async fn readyz(State(state): State<AppState>) -> (StatusCode, Json<Readiness>) {
    let nats = state.nats.is_connected();
    let postgres = sqlx::query("SELECT 1").execute(&state.pool).await.is_ok();
    let status = if nats && postgres {
        StatusCode::OK
    } else {
        tracing::warn!(nats, postgres, "not ready");
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, Json(Readiness { nats, postgres }))
}

#[utoipa::path(
    get, path = "/metrics", tag = "operations",
    responses((status = 200, description = "Prometheus text exposition: HTTP requests by route \
        template, method and status class, request latency, projection lag",
        content_type = "text/plain; version=0.0.4", body = String))
)]
/// Prometheus metrics.
async fn metrics() -> Response {
    let body = crate::http::metrics::render();
    let mut response = body.into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; version=0.0.4"),
    );
    response
}

#[utoipa::path(
    get, path = "/openapi.json", tag = "operations",
    responses((status = 200, description = "This document", content_type = "application/json",
        body = Object))
)]
/// The OpenAPI document of this API.
async fn openapi_json(Extension(doc): Extension<Arc<OpenApiJson>>) -> Response {
    let mut response = doc.0.clone().into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}

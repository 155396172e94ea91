//! Routes of the contract that are not built yet: they answer 501 with a problem document,
//! never a fake success. Each disappears from here when its issue lands.

use axum::Router;
use axum::routing::{get, post};

use crate::AppState;
use crate::error::ApiError;

pub(super) fn router() -> Router<AppState> {
    Router::new()
        .route(
            "/v1/events",
            post(|| pending("POST /v1/events (event ingestion)")),
        )
        .route(
            "/v1/webhooks/stats",
            get(|| pending("GET /v1/webhooks/stats")),
        )
        .route(
            "/v1/webhooks/{id}/stats",
            get(|| pending("GET /v1/webhooks/{id}/stats")),
        )
        .route(
            "/v1/webhooks/{id}/test",
            post(|| pending("POST /v1/webhooks/{id}/test")),
        )
        .route(
            "/v1/webhooks/{id}/deliveries",
            get(|| pending("GET /v1/webhooks/{id}/deliveries")),
        )
        .route(
            "/v1/webhooks/{id}/deliveries/{delivery_id}",
            get(|| pending("GET /v1/webhooks/{id}/deliveries/{deliveryId}")),
        )
        .route(
            "/v1/webhooks/{id}/deliveries/{delivery_id}/redeliver",
            post(|| pending("POST /v1/webhooks/{id}/deliveries/{deliveryId}/redeliver")),
        )
        .route(
            "/v1/webhooks/{id}/recover",
            post(|| pending("POST /v1/webhooks/{id}/recover")),
        )
        .route("/v1/audit/log", get(|| pending("GET /v1/audit/log")))
        .route("/metrics", get(|| pending("GET /metrics")))
        .route("/openapi.json", get(|| pending("GET /openapi.json")))
}

async fn pending(what: &'static str) -> ApiError {
    ApiError::NotImplemented(what)
}

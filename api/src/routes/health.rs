//! `/healthz` (the process runs) and `/readyz` (NATS and PostgreSQL answer).

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use serde_json::json;

use crate::AppState;

pub(super) fn router() -> Router<AppState> {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
}

async fn healthz() -> axum::Json<serde_json::Value> {
    axum::Json(json!({"status": "ok"}))
}

async fn readyz(State(state): State<AppState>) -> (StatusCode, axum::Json<serde_json::Value>) {
    let nats = state.nats.is_connected();
    let postgres = sqlx::query("SELECT 1").execute(&state.pool).await.is_ok();
    let status = if nats && postgres {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    if status != StatusCode::OK {
        tracing::warn!(nats, postgres, "not ready");
    }
    (
        status,
        axum::Json(json!({"nats": nats, "postgres": postgres})),
    )
}

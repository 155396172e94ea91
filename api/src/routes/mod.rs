//! The HTTP routes: one router per resource, merged, with the shared layers.

mod admin;
mod event_types;
mod health;
mod not_ready;
mod webhooks;

use std::time::Duration;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::StatusCode;
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::TraceLayer;

use crate::AppState;
use crate::error::ApiError;

/// Every route, with body limit, timeout and request tracing.
pub fn router(state: AppState) -> Router {
    let max_body = state.config.http.max_body_bytes;
    let timeout = Duration::from_secs(state.config.http.request_timeout_seconds);
    Router::new()
        .merge(health::router())
        .merge(admin::router())
        .merge(event_types::router())
        .merge(webhooks::router())
        .merge(not_ready::router())
        .fallback(|| async { ApiError::NotFound("route") })
        .layer(DefaultBodyLimit::max(max_body))
        .layer(TimeoutLayer::with_status_code(
            StatusCode::SERVICE_UNAVAILABLE,
            timeout,
        ))
        .layer(TraceLayer::new_for_http())
        .with_state(state)
}

/// Paging parameters shared by every list: `page` from 1, `limit` 1..=100 (default 20).
#[derive(Debug, Clone, Copy, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Paging {
    pub page: Option<i64>,
    pub limit: Option<i64>,
}

impl Paging {
    pub fn resolve(self) -> Result<(u32, u32), ApiError> {
        let page = self.page.unwrap_or(1);
        let limit = self.limit.unwrap_or(20);
        let mut errors = Vec::new();
        if !(1..=1_000_000).contains(&page) {
            errors.push(crate::error::FieldProblem {
                field: "page".into(),
                message: "must be at least 1".into(),
            });
        }
        if !(1..=100).contains(&limit) {
            errors.push(crate::error::FieldProblem {
                field: "limit".into(),
                message: "must be between 1 and 100".into(),
            });
        }
        if errors.is_empty() {
            Ok((page as u32, limit as u32))
        } else {
            Err(ApiError::Unprocessable(errors))
        }
    }
}

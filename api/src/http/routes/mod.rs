//! The HTTP routes: one router per resource, merged, with the shared layers.
//!
//! Each resource module exports `router() -> OpenApiRouter<AppState>` built with
//! `utoipa_axum::routes!`, so a route and its OpenAPI operation cannot drift apart; [`openapi`]
//! is the document of exactly the routes [`router`] serves.
//!
//! Layers, outermost first: request tracing; metrics (route template, method, status class);
//! the request timeout (503 problem); the per-process [`HttpRuntime`] and OpenAPI document as
//! extensions; the body limit (413); `Idempotency-Key` on POSTs.

mod admin;
mod audit_log;
mod console_links;
mod deliveries;
mod dispatch;
mod event_types;
mod events;
mod health;
mod members;
mod paging;
pub(crate) mod support;
mod webhook_actions;
pub(crate) mod webhook_dto;
mod webhooks;

use std::sync::Arc;
use std::time::Duration;

use axum::extract::{DefaultBodyLimit, Request};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Router};
use tower_http::trace::TraceLayer;
use utoipa::OpenApi as _;
use utoipa_axum::router::OpenApiRouter;

pub use paging::{Paged, Paging};
pub(crate) use support::one_of;

/// The values of a webhook list's `status` filter.
pub(crate) const WEBHOOK_STATUSES: &[&str] = &["active", "paused", "disabled"];
/// The values of a delivery list's `status` filter.
pub(crate) const DELIVERY_STATUSES: &[&str] = &["pending", "succeeded", "failed"];

use crate::AppState;
use crate::http::error::ApiError;
use crate::http::openapi::{ApiDoc, OpenApiJson};
use crate::http::runtime::HttpRuntime;

/// The documented routes.
fn api() -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .merge(health::router())
        .merge(admin::router())
        .merge(console_links::router())
        .merge(event_types::router())
        .merge(webhooks::router())
        .merge(webhook_actions::router())
        .merge(deliveries::router())
        .merge(dispatch::router())
        .merge(events::router())
        .merge(audit_log::router())
}

/// The OpenAPI document of every documented route.
pub fn openapi() -> utoipa::openapi::OpenApi {
    crate::http::openapi::finish(api().split_for_parts().1)
}

/// Every route, with the shared layers (see the module docs).
pub fn router(state: AppState) -> Router {
    crate::http::metrics::install();
    let runtime = HttpRuntime::new(&state.config);
    let (routes, doc) = api().split_for_parts();
    let doc = Arc::new(OpenApiJson(crate::http::openapi::pretty_json(
        &crate::http::openapi::finish(doc),
    )));
    let timeout = Duration::from_secs(state.config.http.request_timeout_seconds);
    routes
        .merge(crate::compat::router())
        .merge(crate::http::console::router())
        .fallback(|| async { ApiError::NotFound("route") })
        .method_not_allowed_fallback(|| async { ApiError::MethodNotAllowed })
        .layer(middleware::from_fn_with_state(
            state.clone(),
            crate::http::idempotency::middleware,
        ))
        .layer(DefaultBodyLimit::max(runtime.max_body_bytes))
        .layer(Extension(doc))
        .layer(Extension(runtime))
        .layer(middleware::from_fn(move |request: Request, next: Next| {
            within(timeout, request, next)
        }))
        .layer(middleware::from_fn(crate::http::metrics::track))
        .layer(TraceLayer::new_for_http())
        .with_state(state)
}

/// Answers 503 (a problem document) when the handler has not answered within `timeout`. A
/// streamed body (the audit log) is not limited: its head is the answer.
async fn within(timeout: Duration, request: Request, next: Next) -> Response {
    match tokio::time::timeout(timeout, next.run(request)).await {
        Ok(response) => response,
        Err(_) => ApiError::Unavailable(format!(
            "the request took longer than {} s (http.request_timeout_seconds)",
            timeout.as_secs()
        ))
        .into_response(),
    }
}

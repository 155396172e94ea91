//! The web console at `/console`: server-rendered pages for tenants and operators, embedded
//! in the binary.
//!
//! # Layout
//! - [`session`], [`csrf`], [`seal`]: the signed session cookie, CSRF tokens, and the HMAC
//!   tokens both are made of (keys derived from `secrets.master_key`).
//! - [`links`]: console links minted by the operator (CLI and admin route).
//! - [`signin`], [`operator`]: signing in (API key, link, operator token) and out;
//!   [`operator`] and [`verify`]: the operator's pages.
//! - [`webhooks`], [`webhook_form`], [`webhook_actions`], [`webhook_delete`], [`deliveries`],
//!   [`history`], [`stats`], [`timeline`] (charts over time), [`events`] (deliveries per event): the
//!   tenant's pages; [`sent`]: the request an attempt sent, reconstructed.
//! - [`commands`]: the shared write path; [`form`]: bodies and the write checks;
//!   [`layout`]: the page shell and problem pages.
//! - `assets/`: the CSS and JS, embedded with `include_str!`.
//!
//! Decisions:
//! - HTML is rendered on the server with maud; the little script (`console.js`) only
//!   enhances (the history slider, confirmations); every page works without it. No Node
//!   build, no CDN, no chart library (charts are inline SVG, drawn on the server).
//! - The console calls the same commands (through `AppState::webhooks`, the dispatcher) and
//!   the same view queries as the `/v1` handlers, and shows their `ApiError`s as the same
//!   problem documents: there is no second path to the ledger.
//! - Every console answer carries a strict Content-Security-Policy (no inline script or
//!   style, nothing from elsewhere, no framing, forms only to this origin), `nosniff`,
//!   `Referrer-Policy: same-origin` (`no-referrer` on the link page) and `Cache-Control: no-store` ([`headers`]).

pub mod links;

mod commands;
mod csrf;
mod deliveries;
mod events;
mod form;
mod history;
mod layout;
mod operator;
mod seal;
mod sent;
mod session;
mod signin;
mod stats;
mod timeline;
mod verify;
mod webhook_actions;
mod webhook_delete;
mod webhook_form;
mod webhooks;

use axum::Router;
use axum::extract::Request;
use axum::http::{HeaderName, HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use maud::html;

use crate::AppState;

/// The policy of every console answer.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

const CSS: &str = include_str!("assets/console.css");
const JS: &str = include_str!("assets/console.js");

/// The console's routes, all under `/console`.
pub fn router() -> Router<AppState> {
    let wh = "/console/webhooks/{id}";
    Router::new()
        .route("/console", get(signin::home))
        .route("/console/", get(signin::home))
        .route(
            "/console/sign-in",
            get(signin::sign_in_form).post(signin::sign_in),
        )
        .route("/console/link", get(signin::link))
        .route("/console/sign-out", post(signin::sign_out))
        .route(
            "/console/webhooks",
            get(webhooks::list).post(webhooks::create),
        )
        .route("/console/webhooks/new", get(webhooks::new_form))
        .route(wh, get(webhooks::show))
        .route(
            &format!("{wh}/edit"),
            get(webhooks::edit_form).post(webhooks::update),
        )
        .route(&format!("{wh}/pause"), post(webhook_actions::pause))
        .route(&format!("{wh}/resume"), post(webhook_actions::resume))
        .route(&format!("{wh}/rotate"), post(webhook_actions::rotate))
        .route(&format!("{wh}/test"), post(webhook_actions::test))
        .route(
            &format!("{wh}/delete"),
            get(webhook_delete::confirm).post(webhook_delete::delete),
        )
        .route(&format!("{wh}/deliveries"), get(deliveries::list))
        .route(&format!("{wh}/deliveries/{{dlv}}"), get(deliveries::detail))
        .route(
            &format!("{wh}/deliveries/{{dlv}}/redeliver"),
            post(deliveries::redeliver),
        )
        .route(&format!("{wh}/recover"), post(deliveries::recover))
        .route(&format!("{wh}/history"), get(history::history))
        .route(&format!("{wh}/stats"), get(timeline::webhook))
        .route("/console/events", get(events::lookup))
        .route("/console/events/{event}", get(events::show))
        .route("/console/stats", get(stats::tenant))
        .route(
            "/console/operator/sign-in",
            get(operator::sign_in_form).post(operator::sign_in),
        )
        .route("/console/operator", get(operator::overview))
        .route("/console/operator/tenants/{id}", get(operator::tenant))
        .route("/console/operator/verify", post(verify::run))
        .route(
            "/console/operator/tenants/{id}/console-link",
            post(operator::mint_link),
        )
        .route(
            "/console/operator/tenants/{id}/console-links/revoke",
            post(operator::revoke_links),
        )
        .route(
            "/console/operator/tenants/{id}/console-links/{link}/revoke",
            post(operator::revoke_link),
        )
        .route(
            "/console/assets/console.css",
            get(|| async { asset("text/css; charset=utf-8", CSS) }),
        )
        .route(
            "/console/assets/console.js",
            get(|| async { asset("text/javascript; charset=utf-8", JS) }),
        )
        .route("/console/{*rest}", get(not_found))
        .layer(middleware::from_fn(headers))
}

fn asset(content_type: &'static str, body: &'static str) -> Response {
    let mut response = body.into_response();
    let h = response.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=300"),
    );
    response
}

async fn not_found() -> Response {
    layout::render(
        StatusCode::NOT_FOUND,
        layout::page(
            &layout::PUBLIC,
            "Not found",
            html! { p { "There is no such console page. " a href="/console" { "Start over" } } },
        ),
    )
}

/// The security headers of every console answer (see the module docs).
async fn headers(request: Request, next: Next) -> Response {
    let mut response = next.run(request).await;
    let h = response.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CONTENT_SECURITY_POLICY),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    // `same-origin`, not `no-referrer`: with `no-referrer` browsers send `Origin: null` on form
    // posts, which the origin check must refuse.
    h.entry(header::REFERRER_POLICY)
        .or_insert(HeaderValue::from_static("same-origin"));
    h.insert(
        HeaderName::from_static("cross-origin-opener-policy"),
        HeaderValue::from_static("same-origin"),
    );
    if !h.contains_key(header::CACHE_CONTROL) {
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    response
}

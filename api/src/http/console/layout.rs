//! The page shell (head, navigation, who is signed in, sign-out) and how failures become
//! pages.
//!
//! Decisions: every page is a whole HTML document rendered with maud (escaped by default);
//! no inline script or style anywhere, so the Content-Security-Policy can forbid both.
//! A failure from the shared commands and queries is an [`ApiError`]: it is turned into the
//! very problem document the API would answer ([`problem_of`]) and shown with its field
//! errors, with the same status code.

use axum::body::to_bytes;
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use maud::{DOCTYPE, Markup, html};
use serde::Deserialize;

use super::session::{OperatorSession, TenantSession};
use crate::http::error::ApiError;

/// Who the page is rendered for.
pub(crate) struct Chrome<'a> {
    pub(crate) tenant: Option<&'a str>,
    pub(crate) read_only: bool,
    pub(crate) operator: bool,
    pub(crate) csrf: Option<&'a str>,
    /// The navigation entry to highlight.
    pub(crate) active: &'a str,
}

impl TenantSession {
    pub(crate) fn chrome<'a>(&'a self, active: &'a str) -> Chrome<'a> {
        Chrome {
            tenant: Some(self.tenant.as_str()),
            read_only: self.session.read_only,
            operator: false,
            csrf: Some(&self.csrf),
            active,
        }
    }
}

impl OperatorSession {
    pub(crate) fn chrome<'a>(&'a self, active: &'a str) -> Chrome<'a> {
        Chrome {
            tenant: None,
            read_only: false,
            operator: true,
            csrf: Some(&self.csrf),
            active,
        }
    }
}

/// A signed-out page (sign-in, expired link).
pub(crate) const PUBLIC: Chrome<'static> = Chrome {
    tenant: None,
    read_only: false,
    operator: false,
    csrf: None,
    active: "",
};

/// The hidden CSRF field of a form.
pub(crate) fn csrf_field(chrome: &Chrome<'_>) -> Markup {
    html! { input type="hidden" name="csrf" value=(chrome.csrf.unwrap_or("")); }
}

/// A whole page.
pub(crate) fn page(chrome: &Chrome<'_>, title: &str, body: Markup) -> Markup {
    let nav: &[(&str, &str, &str)] = if chrome.operator {
        &[("operator", "/console/operator", "Operator")]
    } else if chrome.tenant.is_some() {
        &[
            ("webhooks", "/console/webhooks", "Webhooks"),
            ("events", "/console/events", "Events"),
            ("stats", "/console/stats", "Stats"),
        ]
    } else {
        &[]
    };
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " · hookledger console" }
                link rel="stylesheet" href="/console/assets/console.css";
                script src="/console/assets/console.js" defer {}
            }
            body {
                header.top {
                    a.brand href="/console" { "hookledger" }
                    nav {
                        @for (key, href, label) in nav {
                            a href=(href) class=[(chrome.active == *key).then_some("active")] { (label) }
                        }
                    }
                    @if chrome.tenant.is_some() || chrome.operator {
                        div.who {
                            @if let Some(tenant) = chrome.tenant {
                                span #signed-in-tenant { (tenant) }
                            } @else {
                                span #signed-in-operator { "operator" }
                            }
                            @if chrome.read_only { span.badge #read-only-badge { "read-only" } }
                            form method="post" action="/console/sign-out" {
                                (csrf_field(chrome))
                                button #sign-out type="submit" { "Sign out" }
                            }
                        }
                    }
                }
                main { h1 { (title) } (body) }
            }
        }
    }
}

/// An HTML answer.
pub(crate) fn render(status: StatusCode, markup: Markup) -> Response {
    (status, Html(markup.into_string())).into_response()
}

/// The problem document the API answers for `error`.
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct ShownProblem {
    pub(crate) title: String,
    pub(crate) status: u16,
    pub(crate) detail: String,
    #[serde(default)]
    pub(crate) errors: Vec<ShownField>,
}

#[derive(Debug, Clone, Deserialize)]
pub(crate) struct ShownField {
    pub(crate) field: String,
    pub(crate) message: String,
}

impl ShownProblem {
    /// The message of `field`, if the problem names it.
    pub(crate) fn field(&self, field: &str) -> Option<&str> {
        self.errors
            .iter()
            .find(|e| e.field == field || e.field.starts_with(&format!("{field}[")))
            .map(|e| e.message.as_str())
    }
}

/// Renders `error` through `ApiError`'s own `IntoResponse` and reads the problem back, so the
/// console shows exactly what the API would answer.
pub(crate) async fn problem_of(error: ApiError) -> ShownProblem {
    let response = error.into_response();
    let status = response.status().as_u16();
    let bytes = to_bytes(response.into_body(), 64 * 1024)
        .await
        .unwrap_or_default();
    serde_json::from_slice(&bytes).unwrap_or(ShownProblem {
        title: "Error".into(),
        status,
        detail: String::from_utf8_lossy(&bytes).into_owned(),
        errors: Vec::new(),
    })
}

/// The problem as a box on a page.
pub(crate) fn problem_box(problem: &ShownProblem) -> Markup {
    html! {
        div.problem role="alert" {
            strong { (problem.title) } " — " (problem.detail)
            @if !problem.errors.is_empty() {
                ul { @for e in &problem.errors { li { code { (e.field) } ": " (e.message) } } }
            }
        }
    }
}

/// A failure that ends the request: the problem as a page, with its status.
pub(crate) async fn failure_page(chrome: &Chrome<'_>, error: ApiError) -> Response {
    let problem = problem_of(error).await;
    let status = StatusCode::from_u16(problem.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    render(status, page(chrome, &problem.title, problem_box(&problem)))
}

/// The page, or the failure page of its error (a 4xx/5xx with the API's problem in it).
pub(crate) async fn page_or_failure(
    chrome: &Chrome<'_>,
    page: Result<Markup, ApiError>,
) -> Response {
    match page {
        Ok(markup) => render(StatusCode::OK, markup),
        Err(e) => failure_page(chrome, e).await,
    }
}

/// A failure before any session is known (in an extractor).
pub(crate) fn failure(error: ApiError) -> Response {
    let status = match &error {
        ApiError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
        _ => StatusCode::INTERNAL_SERVER_ERROR,
    };
    tracing::warn!(%error, "console request failed");
    render(
        status,
        page(
            &PUBLIC,
            "Unavailable",
            html! { p { "The console cannot answer now; retry later." } },
        ),
    )
}

/// 403 for a write attempted by a read-only session, or with a bad CSRF token.
pub(crate) fn forbidden(chrome: &Chrome<'_>, why: &str) -> Response {
    render(
        StatusCode::FORBIDDEN,
        page(
            chrome,
            "Not allowed",
            html! { p.problem #forbidden { (why) } },
        ),
    )
}

/// A time for people, to the second, UTC.
pub(crate) fn when(t: &chrono::DateTime<chrono::Utc>) -> String {
    t.format("%Y-%m-%d %H:%M:%S UTC").to_string()
}

/// A time with full precision, as a query parameter (`asOf`).
pub(crate) fn exact(t: &chrono::DateTime<chrono::Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
}

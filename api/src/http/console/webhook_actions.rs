//! Actions on one webhook from its page: pause, resume, rotate the secret (the new one shown
//! once), send a test event. The same commands as `POST /v1/webhooks/{id}/pause`, `/resume`,
//! `/regenerate-secret`, and the dispatcher's `test_delivery` as `POST /test`.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use chrono::Utc;
use hookledger_domain::secrets::SigningSecret;
use hookledger_domain::webhook::WebhookCommand;
use maud::html;

use super::commands::{self, open_secret, webhook_id};
use super::form::{Form, refuse_write};
use super::layout::{failure_page, page, render};
use super::session::TenantSession;
use super::webhooks::secret_once;
use crate::AppState;
use crate::http::error::ApiError;

/// The checks of a write, then `step`; its failure as a page.
async fn act<F, Fut>(
    s: &TenantSession,
    state: &AppState,
    headers: &HeaderMap,
    body: &Bytes,
    step: F,
) -> Response
where
    F: FnOnce() -> Fut,
    Fut: Future<Output = Result<Response, ApiError>>,
{
    let chrome = s.chrome("webhooks");
    if let Some(refused) = refuse_write(state, headers, &s.session, &chrome, &Form::parse(body)) {
        return refused;
    }
    match step().await {
        Ok(response) => response,
        Err(e) => failure_page(&chrome, e).await,
    }
}

async fn set_status(
    s: TenantSession,
    state: AppState,
    raw: String,
    headers: HeaderMap,
    body: Bytes,
    command: WebhookCommand,
) -> Response {
    act(&s, &state, &headers, &body, || async {
        let id = webhook_id(&raw)?;
        commands::run(&state, &s.session, &s.tenant, &id, command, None).await?;
        Ok(Redirect::to(&format!("/console/webhooks/{id}")).into_response())
    })
    .await
}

pub(crate) async fn pause(
    s: TenantSession,
    State(state): State<AppState>,
    Path(raw): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    set_status(
        s,
        state,
        raw,
        headers,
        body,
        WebhookCommand::PauseWebhook { reason: None },
    )
    .await
}

pub(crate) async fn resume(
    s: TenantSession,
    State(state): State<AppState>,
    Path(raw): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    set_status(s, state, raw, headers, body, WebhookCommand::ResumeWebhook).await
}

pub(crate) async fn rotate(
    s: TenantSession,
    State(state): State<AppState>,
    Path(raw): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    act(&s, &state, &headers, &body, || async {
        let id = webhook_id(&raw)?;
        let grace = chrono::Duration::from_std(state.config.rotation_grace())
            .map_err(|e| ApiError::Internal(e.to_string()))?;
        let command = WebhookCommand::RotateSecret {
            secret: SigningSecret::generate(&ring::rand::SystemRandom::new()),
            now: Utc::now(),
            grace,
        };
        let committed = commands::run(&state, &s.session, &s.tenant, &id, command, None).await?;
        let secret = open_secret(&state, &committed.aggregate, &s.tenant, &id)?;
        let until = committed.aggregate.previous_secret().map(|(_, until)| until);
        let body = html! {
            (secret_once(secret.expose()))
            @if let Some(until) = until { p { "The previous secret keeps signing beside it until " (super::layout::when(&until)) "." } }
            p { a href={ "/console/webhooks/" (id) } { "Back to the webhook" } }
        };
        Ok(render(StatusCode::OK, page(&s.chrome("webhooks"), "Secret rotated", body)))
    })
    .await
}

pub(crate) async fn test(
    s: TenantSession,
    State(state): State<AppState>,
    Path(raw): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    act(&s, &state, &headers, &body, || async {
        let id = webhook_id(&raw)?;
        let result = state.dispatcher.test_delivery(&s.tenant, &id).await?;
        let body = html! {
            dl #test-result.facts {
                dt { "Success" } dd #test-success { (result.success) }
                dt { "Response status" } dd { (result.response_status.map_or("—".into(), |s| s.to_string())) }
                dt { "Latency" } dd { (result.latency_ms) " ms" }
                @if let Some(error) = &result.error { dt { "Error" } dd { (error) } }
            }
            p { a href={ "/console/webhooks/" (id) } { "Back to the webhook" } }
        };
        Ok(render(StatusCode::OK, page(&s.chrome("webhooks"), "Test event sent", body)))
    })
    .await
}

//! Deleting a webhook from the console: a confirmation page (`GET …/delete`) that asks for the
//! webhook's name, then the same `DeleteWebhook` command as `DELETE /v1/webhooks/{id}`
//! (`POST …/delete`).
//!
//! Decisions: the confirmation works without script (typing the name, checked on the server:
//! a mistyped name is a field error and nothing is deleted); the form carries the version the
//! page showed, so a webhook changed meanwhile is not deleted (the API's 412); read-only
//! sessions, a missing CSRF token or another origin are refused by the shared write checks.
//! The ledger keeps the webhook's history, and the history page still shows it.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use hookledger_domain::webhook::WebhookCommand;
use maud::{Markup, html};

use super::commands::{self, webhook_id};
use super::form::{Form, refuse_write};
use super::layout::{
    Chrome, ShownProblem, csrf_field, failure_page, page, page_or_failure, problem_box, problem_of,
    render,
};
use super::session::TenantSession;
use crate::AppState;
use crate::http::error::ApiError;

fn confirm_form(
    chrome: &Chrome<'_>,
    id: &str,
    name: &str,
    version: i64,
    problem: Option<&ShownProblem>,
    read_only: bool,
) -> Markup {
    html! {
        @if let Some(p) = problem { (problem_box(p)) }
        p { "Deleting " strong { (name) } " stops its deliveries. Its history stays in the ledger." }
        form #delete-form.stack method="post" action={ "/console/webhooks/" (id) "/delete" } {
            (csrf_field(chrome))
            input type="hidden" name="version" value=(version);
            fieldset disabled[read_only] {
                label { "Type the webhook's name to confirm " input #confirm-name name="confirm" autocomplete="off" required; }
                @if let Some(msg) = problem.and_then(|p| p.field("confirm")) { span.field-error { (msg) } }
                button #delete type="submit" { "Delete the webhook" }
            }
        }
        p { a href={ "/console/webhooks/" (id) } { "Cancel" } }
    }
}

pub(crate) async fn confirm(
    s: TenantSession,
    State(state): State<AppState>,
    Path(raw): Path<String>,
) -> Response {
    let chrome = s.chrome("webhooks");
    let result = async {
        let id = webhook_id(&raw)?;
        let row = commands::row(&state, &s.tenant, &id).await?;
        let form = confirm_form(
            &chrome,
            &row.id,
            &row.name,
            row.version,
            None,
            s.session.read_only,
        );
        Ok::<_, ApiError>(page(&chrome, &format!("Delete {}", row.name), form))
    }
    .await;
    page_or_failure(&chrome, result).await
}

pub(crate) async fn delete(
    s: TenantSession,
    State(state): State<AppState>,
    Path(raw): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let chrome = s.chrome("webhooks");
    let form = Form::parse(&body);
    if let Some(refused) = refuse_write(&state, &headers, &s.session, &chrome, &form) {
        return refused;
    }
    let found = async {
        let id = webhook_id(&raw)?;
        let row = commands::row(&state, &s.tenant, &id).await?;
        Ok::<_, ApiError>((id, row))
    }
    .await;
    let (id, row) = match found {
        Ok(found) => found,
        Err(e) => return failure_page(&chrome, e).await,
    };
    let result = if form.get("confirm").unwrap_or_default().trim() != row.name {
        Err(ApiError::field("confirm", "must be the webhook's name"))
    } else {
        let expected = form.get("version").and_then(|v| v.parse::<u64>().ok());
        commands::run(
            &state,
            &s.session,
            &s.tenant,
            &id,
            WebhookCommand::DeleteWebhook,
            expected,
        )
        .await
        .map(|_| ())
    };
    match result {
        Ok(()) => Redirect::to("/console/webhooks").into_response(),
        Err(e) => {
            let problem = problem_of(e).await;
            let status =
                StatusCode::from_u16(problem.status).unwrap_or(StatusCode::UNPROCESSABLE_ENTITY);
            let form = confirm_form(
                &chrome,
                &row.id,
                &row.name,
                row.version,
                Some(&problem),
                false,
            );
            render(status, page(&chrome, &format!("Delete {}", row.name), form))
        }
    }
}

//! Webhook pages: the list (state, success rate, last error, filters, paging), create, the
//! webhook's page, and edit. Actions (pause, resume, rotate, test) are in
//! [`super::webhook_actions`].
//!
//! Reads call the same view queries as `GET /v1/webhooks` (one page of rows, then the page's
//! statistics in one query and the page's last failed attempts in another: no query per row);
//! writes build the same commands as
//! `POST /v1/webhooks` and `PUT /v1/webhooks/{id}`, validated by the same
//! `WebhookSpec::from_input`.

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use hookledger_domain::ids::{WebhookId, WebhookKey};
use hookledger_domain::ledger::CommandMeta;
use hookledger_domain::secrets::SigningSecret;
use hookledger_domain::webhook::values::WebhookSpec;
use hookledger_domain::webhook::{WebhookCommand, WebhookStatus};
use hookledger_projections::webhooks::ListFilter;
use maud::{Markup, html};
use serde::Deserialize;

use super::commands::{self, webhook_id};
use super::form::{Form, refuse_write};
use super::layout::{ShownProblem, failure_page, page, page_or_failure, problem_of, render, when};
use super::session::TenantSession;
use super::webhook_form::{self, Values};
use crate::AppState;
use crate::http::error::ApiError;
use crate::http::routes::support;

/// Rows per page of the list.
const PAGE_SIZE: u32 = 50;

/// The filters and page of a list (webhooks here, deliveries in `deliveries`): a status, an
/// event type, a page number from 1.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct ListQuery {
    pub(super) status: Option<String>,
    pub(super) event: Option<String>,
    pub(super) page: Option<u32>,
}

pub(crate) async fn list(
    s: TenantSession,
    State(state): State<AppState>,
    Query(q): Query<ListQuery>,
) -> Response {
    page_or_failure(&s.chrome("webhooks"), list_page(&s, &state, q).await).await
}

async fn list_page(s: &TenantSession, state: &AppState, q: ListQuery) -> Result<Markup, ApiError> {
    let status = q.status.filter(|v| !v.is_empty());
    crate::http::routes::one_of(
        "status",
        status.as_deref(),
        crate::http::routes::WEBHOOK_STATUSES,
    )?;
    let event = q.event.filter(|v| !v.is_empty());
    let page_no = q.page.unwrap_or(1).max(1);
    let filter = ListFilter {
        is_active: None,
        status: status.clone(),
        event: event.clone(),
        id_regex: None,
        page: page_no,
        limit: PAGE_SIZE,
    };
    let tenant = s.tenant.as_str();
    let rows = hookledger_projections::webhooks::list(&state.pool, tenant, &filter).await?;
    let ids: Vec<String> = rows.data.iter().map(|r| r.id.clone()).collect();
    let stats = hookledger_projections::stats::for_webhooks(&state.pool, tenant, &ids).await?;
    let failures =
        hookledger_projections::deliveries::by_event::last_failures(&state.pool, tenant, &ids)
            .await?;
    let chrome = s.chrome("webhooks");
    let more = u64::from(page_no) * u64::from(PAGE_SIZE) < rows.total as u64;
    let link = |p: u32| {
        format!(
            "/console/webhooks?status={}&event={}&page={p}",
            status.as_deref().unwrap_or(""),
            event.as_deref().unwrap_or("")
        )
    };
    let body = html! {
        div.toolbar {
            form.inline #webhook-filters method="get" action="/console/webhooks" {
                select name="status" {
                    option value="" { "any status" }
                    @for st in ["active", "paused", "disabled"] {
                        option value=(st) selected[status.as_deref() == Some(st)] { (st) }
                    }
                }
                input name="event" placeholder="event type" value=(event.as_deref().unwrap_or(""));
                button type="submit" { "Filter" }
            }
            @if !s.session.read_only { a.button #new-webhook href="/console/webhooks/new" { "New webhook" } }
        }
        p.muted { (rows.total) " webhook(s)" }
        table #webhooks {
            thead { tr { th { "Name" } th { "URL" } th { "Events" } th { "State" } th { "Success" } th { "Deliveries" } th { "Last error" } } }
            tbody {
                @for row in &rows.data {
                    @let st = stats.get(&row.id);
                    tr data-id=(row.id) {
                        td { a href={ "/console/webhooks/" (row.id) } { (row.name) } }
                        td.url { (row.url) }
                        td { (row.events.join(", ")) }
                        td { span class={ "state " (row.status) } { (row.status) } }
                        td { @match st { Some(st) if st.succeeded + st.failed > 0 => { (format!("{:.1} %", st.success_rate * 100.0)) }, _ => { "—" } } }
                        td { (st.map_or(0, |st| st.deliveries)) }
                        td.last-error { @match failures.get(&row.id) {
                            Some(f) => { (when(&f.at)) br; span.error { (last_error_text(f)) } },
                            None => { "—" },
                        } }
                    }
                }
            }
        }
        nav.pager {
            @if page_no > 1 { a href=(link(page_no - 1)) { "← newer page" } }
            " page " (page_no) " "
            @if more { a href=(link(page_no + 1)) { "next page →" } }
        }
    };
    Ok(page(&chrome, "Webhooks", body))
}

/// The error of a failed attempt in a few words: its error text, else its outcome and HTTP
/// status.
fn last_error_text(f: &hookledger_projections::deliveries::by_event::LastFailure) -> String {
    let text = match (&f.error, f.response_status) {
        (Some(e), _) if !e.is_empty() => e.clone(),
        (_, Some(status)) => format!("{} (HTTP {status})", f.outcome),
        _ => f.outcome.clone(),
    };
    if text.chars().count() > 120 {
        format!("{}…", text.chars().take(120).collect::<String>())
    } else {
        text
    }
}

pub(crate) async fn new_form(s: TenantSession, State(state): State<AppState>) -> Response {
    let chrome = s.chrome("webhooks");
    match commands::catalog_names(&state, &s.tenant).await {
        Ok(catalog) => {
            let form = webhook_form::render(
                &chrome,
                "/console/webhooks",
                &Values::defaults(),
                &catalog,
                None,
                true,
            );
            render(StatusCode::OK, page(&chrome, "New webhook", form))
        }
        Err(e) => failure_page(&chrome, e).await,
    }
}

pub(crate) async fn create(
    s: TenantSession,
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let form = Form::parse(&body);
    let chrome = s.chrome("webhooks");
    if let Some(refused) = refuse_write(&state, &headers, &s.session, &chrome, &form) {
        return refused;
    }
    let values = Values::submitted(&form);
    match create_webhook(&s, &state, &values).await {
        Ok(markup) => render(StatusCode::CREATED, markup),
        Err(e) => {
            form_again(
                &s,
                &state,
                "/console/webhooks",
                "New webhook",
                &values,
                e,
                true,
            )
            .await
        }
    }
}

async fn create_webhook(
    s: &TenantSession,
    state: &AppState,
    values: &Values,
) -> Result<Markup, ApiError> {
    let input = values.to_input().map_err(ApiError::Unprocessable)?;
    let spec = WebhookSpec::from_input(input, &state.limits, state.allow_private_targets())
        .map_err(|e| ApiError::unprocessable(&e))?;
    let id = WebhookId::new();
    let secret = SigningSecret::generate(&ring::rand::SystemRandom::new());
    let command = WebhookCommand::CreateWebhook {
        tenant: s.tenant.clone(),
        id: id.clone(),
        spec,
        secret: secret.clone(),
        status: if values.paused {
            WebhookStatus::Paused
        } else {
            WebhookStatus::Active
        },
        catalog: support::catalog(state, &s.tenant).await?,
    };
    let meta = CommandMeta::new(s.session.actor.clone());
    let committed = state
        .webhooks
        .execute(
            &WebhookKey::new(&s.tenant, &id).aggregate_id(),
            command,
            &meta,
        )
        .await?;
    let row = support::read_row(state, &s.tenant, &id, committed.version).await?;
    let chrome = s.chrome("webhooks");
    Ok(page(
        &chrome,
        "Webhook created",
        html! {
            (secret_once(secret.expose()))
            p { a #open-webhook href={ "/console/webhooks/" (row.id) } { "Open " (row.name) } }
        },
    ))
}

/// The secret box, shown once after create or rotate.
pub(crate) fn secret_once(secret: &str) -> Markup {
    html! {
        div.secret {
            p { "Signing secret — shown once; store it now:" }
            code #webhook-secret { (secret) }
        }
    }
}

/// The form again with the problem and the submitted values; the problem's status.
async fn form_again(
    s: &TenantSession,
    state: &AppState,
    action: &str,
    title: &str,
    values: &Values,
    error: ApiError,
    creating: bool,
) -> Response {
    let chrome = s.chrome("webhooks");
    let problem: ShownProblem = problem_of(error).await;
    let catalog = commands::catalog_names(state, &s.tenant)
        .await
        .unwrap_or_default();
    let status = StatusCode::from_u16(problem.status).unwrap_or(StatusCode::UNPROCESSABLE_ENTITY);
    let form = webhook_form::render(&chrome, action, values, &catalog, Some(&problem), creating);
    render(status, page(&chrome, title, form))
}

pub(crate) async fn show(
    s: TenantSession,
    State(state): State<AppState>,
    Path(raw): Path<String>,
) -> Response {
    let chrome = s.chrome("webhooks");
    page_or_failure(&chrome, show_page(&s, &state, &raw).await).await
}

async fn show_page(s: &TenantSession, state: &AppState, raw: &str) -> Result<Markup, ApiError> {
    let id = webhook_id(raw)?;
    let row = commands::row(state, &s.tenant, &id).await?;
    let stats =
        hookledger_projections::stats::for_webhook(&state.pool, s.tenant.as_str(), id.as_str())
            .await?;
    let chrome = s.chrome("webhooks");
    let base = format!("/console/webhooks/{id}");
    let action = |name: &str, label: &str, button_id: &str| {
        html! {
            form.inline method="post" action={ (base) "/" (name) } {
                (super::layout::csrf_field(&chrome))
                button id=(button_id) type="submit" disabled[s.session.read_only] { (label) }
            }
        }
    };
    let body = html! {
        div.toolbar {
            a.button #edit-webhook href={ (base) "/edit" } { "Edit" }
            @if row.status == "active" { (action("pause", "Pause", "pause")) } @else { (action("resume", "Resume", "resume")) }
            (action("rotate", "Rotate secret", "rotate"))
            (action("test", "Send test event", "send-test"))
            a.button #deliveries-link href={ (base) "/deliveries" } { "Deliveries" }
            a.button #history-link href={ (base) "/history" } { "History" }
            a.button #stats-link href={ (base) "/stats" } { "Over time" }
            @if !s.session.read_only { a.button.danger #delete-link href={ (base) "/delete" } { "Delete" } }
        }
        (super::history::fields(&row))
        h2 { "Deliveries" }
        (super::stats::summary(&stats))
    };
    Ok(page(&chrome, &row.name, body))
}

pub(crate) async fn edit_form(
    s: TenantSession,
    State(state): State<AppState>,
    Path(raw): Path<String>,
) -> Response {
    let chrome = s.chrome("webhooks");
    let result = async {
        let id = webhook_id(&raw)?;
        let row = commands::row(&state, &s.tenant, &id).await?;
        let catalog = commands::catalog_names(&state, &s.tenant).await?;
        let action = format!("/console/webhooks/{id}/edit");
        let form = webhook_form::render(&chrome, &action, &Values::of(&row), &catalog, None, false);
        Ok::<_, ApiError>(page(&chrome, &format!("Edit {}", row.name), form))
    }
    .await;
    page_or_failure(&chrome, result).await
}

pub(crate) async fn update(
    s: TenantSession,
    State(state): State<AppState>,
    Path(raw): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let form = Form::parse(&body);
    let chrome = s.chrome("webhooks");
    if let Some(refused) = refuse_write(&state, &headers, &s.session, &chrome, &form) {
        return refused;
    }
    let values = Values::submitted(&form);
    let action = format!("/console/webhooks/{raw}/edit");
    let result = async {
        let id = webhook_id(&raw)?;
        let input = values.to_input().map_err(ApiError::Unprocessable)?;
        let spec = WebhookSpec::from_input(input, &state.limits, state.allow_private_targets())
            .map_err(|e| ApiError::unprocessable(&e))?;
        let catalog = support::catalog(&state, &s.tenant).await?;
        let command = WebhookCommand::ReplaceWebhook { spec, catalog };
        let expected = values.version.map(|v| v as u64);
        commands::run(&state, &s.session, &s.tenant, &id, command, expected).await?;
        Ok::<_, ApiError>(id)
    }
    .await;
    match result {
        Ok(id) => Redirect::to(&format!("/console/webhooks/{id}")).into_response(),
        Err(e) => form_again(&s, &state, &action, "Edit webhook", &values, e, false).await,
    }
}

//! Delivery pages: a webhook's deliveries (filters, paging), one delivery with every attempt
//! (outcome, status, latency, error, response headers, response body excerpt, and the request
//! it sent, reconstructed by [`super::sent`]), redeliver one, and recover every failed
//! delivery since an instant. The same view queries as
//! `GET /v1/webhooks/{id}/deliveries[/{deliveryId}]` and the same dispatcher calls as
//! `POST …/redeliver` and `POST …/recover`.

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use chrono::{DateTime, Utc};
use hookledger_domain::ids::DeliveryId;
use hookledger_projections::deliveries::DeliveryFilter;
use maud::{Markup, html};

use super::commands::webhook_id;
use super::form::{Form, refuse_write};
use super::layout::{csrf_field, failure_page, page, page_or_failure, render, when};
use super::sent::{SentEvent, request_block};
use super::session::TenantSession;
use super::webhooks::ListQuery;
use crate::AppState;
use crate::http::error::ApiError;
use crate::http::routes::support::webhook_known;

const PAGE_SIZE: u32 = 50;

pub(crate) async fn list(
    s: TenantSession,
    State(state): State<AppState>,
    Path(raw): Path<String>,
    Query(q): Query<ListQuery>,
) -> Response {
    let chrome = s.chrome("webhooks");
    page_or_failure(&chrome, list_page(&s, &state, &raw, q).await).await
}

async fn list_page(
    s: &TenantSession,
    state: &AppState,
    raw: &str,
    q: ListQuery,
) -> Result<Markup, ApiError> {
    let id = webhook_id(raw)?;
    if !webhook_known(state, &s.tenant, &id).await? {
        return Err(ApiError::NotFound("webhook"));
    }
    let status = q.status.filter(|v| !v.is_empty());
    crate::http::routes::one_of(
        "status",
        status.as_deref(),
        crate::http::routes::DELIVERY_STATUSES,
    )?;
    let event = q.event.filter(|v| !v.is_empty());
    let page_no = q.page.unwrap_or(1).max(1);
    let filter = DeliveryFilter {
        success: None,
        event: event.clone(),
        status: status.clone(),
        since: None,
        until: None,
        page: page_no,
        limit: PAGE_SIZE,
    };
    let rows = hookledger_projections::deliveries::list(
        &state.pool,
        s.tenant.as_str(),
        id.as_str(),
        &filter,
    )
    .await?;
    let chrome = s.chrome("webhooks");
    let base = format!("/console/webhooks/{id}");
    let more = u64::from(page_no) * u64::from(PAGE_SIZE) < rows.total as u64;
    let link = |p: u32| {
        format!(
            "{base}/deliveries?status={}&event={}&page={p}",
            status.as_deref().unwrap_or(""),
            event.as_deref().unwrap_or("")
        )
    };
    let body = html! {
        p { a href=(base) { "← the webhook" } }
        div.toolbar {
            form.inline method="get" action={ (base) "/deliveries" } {
                select name="status" {
                    option value="" { "any status" }
                    @for st in ["pending", "succeeded", "failed"] { option value=(st) selected[status.as_deref() == Some(st)] { (st) } }
                }
                input name="event" placeholder="event type" value=(event.as_deref().unwrap_or(""));
                button type="submit" { "Filter" }
            }
            form.inline #recover-form method="post" action={ (base) "/recover" } {
                (csrf_field(&chrome))
                fieldset disabled[s.session.read_only] {
                    label { "Re-send failed since " input name="since" type="datetime-local" step="1" required; " UTC" }
                    button type="submit" { "Recover" }
                }
            }
        }
        p.muted { (rows.total) " deliveries" }
        table #deliveries {
            thead { tr { th { "Delivery" } th { "Event" } th { "Status" } th { "Attempts" } th { "HTTP" } th { "Last outcome" } th { "Created" } } }
            tbody {
                @for d in &rows.data {
                    tr data-id=(d.id) {
                        td { a href={ (base) "/deliveries/" (d.id) } { code { (d.id) } } }
                        td { code { (d.event_type) } }
                        td { span class={ "state " (d.status) } { (d.status) } }
                        td { (d.attempt_count) }
                        td { (d.response_status.map_or("—".into(), |s| s.to_string())) }
                        td { (d.last_outcome.as_deref().unwrap_or("—")) }
                        td { (when(&d.created_at)) }
                    }
                }
            }
        }
        nav.pager {
            @if page_no > 1 { a href=(link(page_no - 1)) { "← newer" } }
            " page " (page_no) " "
            @if more { a href=(link(page_no + 1)) { "older →" } }
        }
    };
    Ok(page(&chrome, "Deliveries", body))
}

pub(crate) async fn detail(
    s: TenantSession,
    State(state): State<AppState>,
    Path((raw, dlv)): Path<(String, String)>,
) -> Response {
    let chrome = s.chrome("webhooks");
    let result = async {
        let id = webhook_id(&raw)?;
        let dlv = DeliveryId::parse(&dlv).map_err(|_| ApiError::NotFound("delivery"))?;
        let found = hookledger_projections::deliveries::get(&state.pool, s.tenant.as_str(), id.as_str(), dlv.as_str())
            .await?
            .ok_or(ApiError::NotFound("delivery"))?;
        let d = &found.delivery;
        let base = format!("/console/webhooks/{id}");
        let event = super::sent::event_of(&state, &s.tenant, &id, &dlv).await?;
        let mut sent = Vec::with_capacity(found.attempts.len());
        for a in &found.attempts {
            sent.push(match &event {
                SentEvent::Found(e) => super::sent::request_of(&state, (&s.tenant, &id, &dlv), e, a).await?,
                SentEvent::Missing(_) => None,
            });
        }
        let missing = match &event {
            SentEvent::Found(_) => None,
            SentEvent::Missing(why) => Some(*why),
        };
        let body = html! {
            p { a href={ (base) "/deliveries" } { "← deliveries" } }
            dl.facts {
                dt { "Event" } dd { code { (d.event_type) } " " a #event-link href={ "/console/events/" (d.event_id) } { code { (d.event_id) } } }
                dt { "Status" } dd #delivery-status { (d.status) }
                dt { "Created" } dd { (when(&d.created_at)) }
                @if let Some(reason) = &d.reason { dt { "Reason" } dd { (reason) } }
            }
            form.inline method="post" action={ (base) "/deliveries/" (d.id) "/redeliver" } {
                (csrf_field(&chrome))
                button #redeliver type="submit" disabled[s.session.read_only] { "Redeliver" }
            }
            h2 { "Attempts" }
            table #attempts {
                thead { tr { th { "#" } th { "At" } th { "Trigger" } th { "Outcome" } th { "HTTP" } th { "Latency" } th { "Error" } } }
                tbody {
                    @for (a, sent) in found.attempts.iter().zip(&sent) {
                        tr.attempt {
                            td { (a.attempt) }
                            td { (when(&a.at)) }
                            td { (a.trigger.as_deref().unwrap_or("event")) }
                            td.outcome { (a.outcome) }
                            td.status { (a.response_status.map_or("—".into(), |s| s.to_string())) }
                            td { (a.latency_ms.map_or("—".into(), |l| format!("{l} ms"))) }
                            td { (a.error.as_deref().unwrap_or("")) }
                        }
                        @if !a.response_headers.is_empty() {
                            tr.response-headers { td colspan="7" { details {
                                summary { "Response headers (" (a.response_headers.len()) ")" }
                                table.response-headers { tbody {
                                    @for (name, value) in &a.response_headers { tr { th { code { (name) } } td { code { (value) } } } }
                                } }
                            } } }
                        }
                        @if let Some(body) = a.response_body.as_deref().filter(|b| !b.is_empty()) {
                            tr.response { td colspan="7" { details { summary { "Response body (excerpt)" } pre { (body) } } } }
                        }
                        tr.request { td colspan="7" { (request_block(sent.as_ref(), missing)) } }
                    }
                }
            }
        };
        Ok::<_, ApiError>(page(&chrome, &format!("Delivery {}", d.id), body))
    }
    .await;
    page_or_failure(&chrome, result).await
}

pub(crate) async fn redeliver(
    s: TenantSession,
    State(state): State<AppState>,
    Path((raw, dlv)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let chrome = s.chrome("webhooks");
    if let Some(refused) = refuse_write(&state, &headers, &s.session, &chrome, &Form::parse(&body))
    {
        return refused;
    }
    let result = async {
        let id = webhook_id(&raw)?;
        let dlv = DeliveryId::parse(&dlv).map_err(|_| ApiError::NotFound("delivery"))?;
        state.dispatcher.redeliver(&s.tenant, &id, &dlv).await?;
        Ok::<_, ApiError>(format!("/console/webhooks/{id}/deliveries/{dlv}"))
    }
    .await;
    match result {
        Ok(to) => Redirect::to(&to).into_response(),
        Err(e) => failure_page(&chrome, e).await,
    }
}

/// `datetime-local` (no zone, read as UTC) or RFC 3339.
fn instant(raw: &str) -> Result<DateTime<Utc>, ApiError> {
    if let Ok(t) = DateTime::parse_from_rfc3339(raw) {
        return Ok(t.with_timezone(&Utc));
    }
    ["%Y-%m-%dT%H:%M:%S", "%Y-%m-%dT%H:%M"]
        .iter()
        .find_map(|f| chrono::NaiveDateTime::parse_from_str(raw, f).ok())
        .map(|t| t.and_utc())
        .ok_or_else(|| ApiError::field("since", "must be a date and time, like 2025-01-31T14:00"))
}

pub(crate) async fn recover(
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
    let result = async {
        let id = webhook_id(&raw)?;
        let since = instant(&form.get("since").ok_or_else(|| ApiError::field("since", "is required"))?)?;
        if !webhook_known(&state, &s.tenant, &id).await? {
            return Err(ApiError::NotFound("webhook"));
        }
        let failed = hookledger_projections::deliveries::failed_since(&state.pool, s.tenant.as_str(), id.as_str(), since).await?;
        let ids = failed.into_iter().filter_map(|row| DeliveryId::parse(&row.id).ok());
        let count = state.dispatcher.recover(&s.tenant, &id, ids).await?;
        Ok(page(&chrome, "Recovery queued", html! {
            p #recovered { (count) " failed deliveries since " (when(&since)) " queued again." }
            p { a href={ "/console/webhooks/" (id) "/deliveries" } { "Back to the deliveries" } }
        }))
    }
    .await;
    match result {
        Ok(markup) => render(StatusCode::ACCEPTED, markup),
        Err(e) => failure_page(&chrome, e).await,
    }
}

//! Deliveries per event: for one event id, every delivery of it across the tenant's webhooks
//! (`/console/events/{eventId}`, and `/console/events?id=…` from the lookup form).
//!
//! Source: `projections::deliveries::by_event::for_event` (the `deliveries (tenant, event_id)`
//! index; the webhooks' names in the same query). A tenant only ever sees its own deliveries:
//! the tenant is part of the query.

use axum::extract::{Path, Query, State};
use axum::response::Response;
use hookledger_domain::ids::EventId;
use maud::{Markup, html};
use serde::Deserialize;

use super::layout::{page, page_or_failure, when};
use super::session::TenantSession;
use crate::AppState;
use crate::http::error::ApiError;

#[derive(Debug, Default, Deserialize)]
pub(crate) struct LookupQuery {
    id: Option<String>,
}

pub(crate) async fn lookup(
    s: TenantSession,
    State(state): State<AppState>,
    Query(q): Query<LookupQuery>,
) -> Response {
    respond(&s, &state, q.id.filter(|v| !v.is_empty())).await
}

pub(crate) async fn show(
    s: TenantSession,
    State(state): State<AppState>,
    Path(raw): Path<String>,
) -> Response {
    respond(&s, &state, Some(raw)).await
}

async fn respond(s: &TenantSession, state: &AppState, raw: Option<String>) -> Response {
    let chrome = s.chrome("events");
    page_or_failure(&chrome, event_page(s, state, raw).await).await
}

fn lookup_form(value: &str) -> Markup {
    html! {
        form.inline #event-lookup method="get" action="/console/events" {
            label { "Event id " input name="id" value=(value) required; }
            button type="submit" { "Show deliveries" }
        }
    }
}

async fn event_page(
    s: &TenantSession,
    state: &AppState,
    raw: Option<String>,
) -> Result<Markup, ApiError> {
    let chrome = s.chrome("events");
    let Some(raw) = raw else {
        return Ok(page(&chrome, "Deliveries of an event", lookup_form("")));
    };
    let event = EventId::parse(&raw).map_err(|e| ApiError::field("id", e.to_string()))?;
    let rows = hookledger_projections::deliveries::by_event::for_event(
        &state.pool,
        s.tenant.as_str(),
        event.as_str(),
    )
    .await?;
    let body = html! {
        (lookup_form(event.as_str()))
        @if rows.is_empty() {
            p.muted #no-event-deliveries { "No delivery of this event to any of your webhooks." }
        } @else {
            p.muted { (rows.len()) " deliveries of " code { (event.as_str()) } " (" code { (rows[0].delivery.event_type) } ")" }
            table #event-deliveries {
                thead { tr { th { "Webhook" } th { "Delivery" } th { "Status" } th { "Attempts" } th { "HTTP" } th { "Last outcome" } th { "Created" } } }
                tbody {
                    @for row in &rows {
                        @let d = &row.delivery;
                        tr data-webhook=(d.webhook_id) data-id=(d.id) {
                            td { a href={ "/console/webhooks/" (d.webhook_id) } { (row.webhook_name.as_deref().unwrap_or("(deleted)")) } }
                            td { a href={ "/console/webhooks/" (d.webhook_id) "/deliveries/" (d.id) } { code { (d.id) } } }
                            td { span class={ "state " (d.status) } { (d.status) } }
                            td { (d.attempt_count) }
                            td { (d.response_status.map_or("—".into(), |s| s.to_string())) }
                            td { (d.last_outcome.as_deref().unwrap_or("—")) }
                            td { (when(&d.created_at)) }
                        }
                    }
                }
            }
        }
    };
    Ok(page(&chrome, &format!("Event {}", event.as_str()), body))
}

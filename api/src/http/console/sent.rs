//! What an attempt sent, reconstructed: the request body and headers of each attempt of a
//! delivery, for the delivery page.
//!
//! The attempt facts keep the response (status, excerpt, latency, error), not the request. The
//! request is a pure function of things the ledger keeps, so it is rebuilt from them:
//! - the event: the delivery's last fact on DELIVERIES names the EVENTS sequence of its event
//!   (`Nats::last_fact`), read back with `Nats::event_at`;
//! - the webhook as it was at the attempt's instant (`projections::history::as_of`): its
//!   properties (merged into the body), custom headers, method and URL;
//! - the body is rendered by the dispatcher's own `Job::render`, so it is byte for byte what
//!   a worker would send.
//!
//! Decisions: the page labels all of it as reconstructed. The signature is not stored and is
//! never recomputed here (that would need the secret): the page says it was signed with the
//! secret live at that time. `webhook-timestamp` is the attempt's time in unix seconds (the
//! worker signs just before sending). When the event is past EVENTS retention, the fact past
//! DELIVERIES retention, or the delivery was a test (no event on EVENTS), the page says so
//! instead of guessing.

use chrono::{DateTime, Utc};
use hookledger_dispatcher::job::{EventBody, Job};
use hookledger_domain::delivery::DeliveryTrigger;
use hookledger_domain::ids::{DeliveryId, TenantId, WebhookId};
use hookledger_domain::webhook::Properties;
use hookledger_projections::deliveries::AttemptRow;
use maud::{Markup, html};

use crate::AppState;
use crate::http::error::ApiError;

/// The event of a delivery, or why it cannot be shown.
pub(crate) enum SentEvent {
    Found(EventBody),
    Missing(&'static str),
}

/// Reads the event a delivery carried (one DELIVERIES read, one EVENTS read).
pub(crate) async fn event_of(
    state: &AppState,
    tenant: &TenantId,
    webhook_id: &WebhookId,
    delivery_id: &DeliveryId,
) -> Result<SentEvent, ApiError> {
    let Some(stored) = state
        .nats
        .last_fact(tenant, webhook_id, delivery_id)
        .await?
    else {
        return Ok(SentEvent::Missing(
            "The delivery's facts are past DELIVERIES retention: the request cannot be rebuilt.",
        ));
    };
    let Some(sequence) = stored.event_sequence else {
        return Ok(SentEvent::Missing(
            "A test delivery: its event is not kept on EVENTS, so the request cannot be rebuilt.",
        ));
    };
    let Some(event) = state
        .nats
        .event_at(sequence)
        .await?
        .filter(|e| &e.tenant == tenant)
    else {
        return Ok(SentEvent::Missing(
            "The event is past EVENTS retention: the request body cannot be rebuilt.",
        ));
    };
    let Ok(data) = EventBody::data_of(&event.data) else {
        return Ok(SentEvent::Missing(
            "The stored event is not JSON: the request body cannot be rebuilt.",
        ));
    };
    Ok(SentEvent::Found(EventBody {
        id: event.id,
        event_type: event.event_type,
        timestamp: event.occurred_at,
        data,
    }))
}

/// The reconstructed request of one attempt.
pub(crate) struct Sent {
    pub(crate) method: String,
    pub(crate) url: String,
    pub(crate) headers: Vec<(String, String)>,
    pub(crate) body: String,
}

/// The request `attempt` sent, from the event and the webhook as of the attempt's time;
/// `None` when the webhook did not exist then.
pub(crate) async fn request_of(
    state: &AppState,
    ids: (&TenantId, &WebhookId, &DeliveryId),
    event: &EventBody,
    attempt: &AttemptRow,
) -> Result<Option<Sent>, ApiError> {
    let (tenant, webhook_id, delivery_id) = ids;
    let Some(row) = hookledger_projections::history::as_of(
        &state.pool,
        tenant.as_str(),
        webhook_id.as_str(),
        attempt.at,
    )
    .await?
    else {
        return Ok(None);
    };
    let properties: Properties = serde_json::from_value(row.properties.clone()).unwrap_or_default();
    let job = Job {
        tenant: tenant.clone(),
        webhook_id: webhook_id.clone(),
        delivery_id: delivery_id.clone(),
        event: event.clone(),
        event_sequence: None,
        ledger_sequence: None,
        attempt: u32::try_from(attempt.attempt).unwrap_or(1),
        first_attempt: 1,
        trigger: DeliveryTrigger::Event,
    };
    let body = String::from_utf8_lossy(&job.render(&properties)).into_owned();
    let mut headers = vec![("content-type".to_owned(), "application/json".to_owned())];
    if let Some(custom) = row.headers.as_object() {
        headers.extend(custom.iter().map(|(k, v)| {
            (
                k.clone(),
                v.as_str().map_or_else(|| v.to_string(), str::to_owned),
            )
        }));
    }
    headers.push(("webhook-id".to_owned(), event.id.as_str().to_owned()));
    headers.push(("webhook-timestamp".to_owned(), unix(attempt.at)));
    Ok(Some(Sent {
        method: row.http_method.to_uppercase(),
        url: row.url,
        headers,
        body,
    }))
}

fn unix(at: DateTime<Utc>) -> String {
    at.timestamp().to_string()
}

/// The request block of one attempt.
pub(crate) fn request_block(sent: Option<&Sent>, missing: Option<&str>) -> Markup {
    html! {
        details.sent {
            summary { "Request sent (reconstructed)" }
            @if let Some(why) = missing {
                p.muted.sent-missing { (why) }
            } @else if let Some(sent) = sent {
                p.muted { "Rebuilt from the event on EVENTS and the webhook as it was at the attempt's time." }
                p { code { (sent.method) " " (sent.url) } }
                table.sent-headers {
                    tbody {
                        @for (name, value) in &sent.headers { tr { th { code { (name) } } td { code { (value) } } } }
                        tr { th { code { "webhook-signature" } } td.muted { "signed with the secret live at that time (not stored)" } }
                    }
                }
                pre.sent-body { (sent.body) }
            } @else {
                p.muted.sent-missing { "The webhook did not exist at the attempt's time." }
            }
        }
    }
}

//! `POST /v1/events`: a tenant publishes a domain event over HTTP instead of NATS.
//!
//! The event goes to the EVENTS stream exactly as a NATS publisher's would
//! (`events.<tenant>.<type>`, the data as the body), with `Nats-Msg-Id = <tenant>:<id>`: event
//! ids share one deduplication space per tenant, so the same `id` from two tenants is two
//! events, and the same `id` again from one tenant inside `nats.events_duplicate_window` is
//! accepted (202) and not delivered again. Without an `id`, one is generated (`evt_…`). The
//! answer is given once JetStream has stored the event: from then on it will be delivered to
//! every webhook it matches, even if this process stops.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use hookledger_domain::ids::EventId;
use hookledger_domain::webhook::values::EventTypeName;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::members::{any_but_null, not_null};
use crate::AppState;
use crate::http::error::{ApiError, FieldProblem};
use crate::http::extract::{ApiJson, TenantAuth};

/// Room kept in a NATS message for headers and the job that carries the event onwards.
const ENVELOPE_BYTES: usize = 16 * 1024;

pub(super) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(publish))
}

/// A domain event.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(example = json!({"type": "lead.created", "data": {"leadId": 42},
    "id": "lead-42-created", "occurredAt": "2025-01-01T12:00:00Z"}))]
struct EventIn {
    /// The event type: dot-separated segments of `A-Z a-z 0-9 _ -` (`lead.created`), at most
    /// 128 characters. Required.
    #[serde(rename = "type")]
    #[schema(value_type = String, pattern = "^[A-Za-z0-9_.-]+$", max_length = 128)]
    #[serde(default, deserialize_with = "not_null")]
    #[schema(required = true)]
    event_type: Option<String>,
    /// The event's data: any JSON value but `null`. Required.
    #[schema(value_type = Object)]
    #[serde(default, deserialize_with = "any_but_null")]
    #[schema(required = true)]
    data: Option<Value>,
    /// The idempotency key and the `webhook-id` receivers see: 1 to 128 characters of
    /// `A-Z a-z 0-9 _ . : -`. Generated (`evt_…`) when absent.
    #[schema(pattern = "^[A-Za-z0-9_.:-]{1,128}$")]
    #[serde(default, deserialize_with = "not_null")]
    id: Option<String>,
    /// When the event happened (RFC 3339); the delivery's `timestamp`. Defaults to when
    /// hookledger received it.
    #[schema(format = DateTime)]
    #[serde(default, deserialize_with = "not_null")]
    occurred_at: Option<String>,
}

/// The event was stored.
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({"id": "lead-42-created"}))]
struct EventAccepted {
    id: String,
}

/// An event that keeps every rule.
struct ValidEvent {
    event_type: EventTypeName,
    data: Value,
    id: EventId,
    occurred_at: Option<DateTime<Utc>>,
}

/// Every rule the event breaks, or the event.
fn check(body: EventIn) -> Result<ValidEvent, ApiError> {
    let mut errors = Vec::new();
    let event_type = match body.event_type.as_deref() {
        None => {
            errors.push(FieldProblem::new("type", "is required"));
            None
        }
        Some(raw) => EventTypeName::parse(raw)
            .map_err(|rule| errors.push(FieldProblem::new("type", rule.to_string())))
            .ok(),
    };
    if body.data.is_none() {
        errors.push(FieldProblem::new(
            "data",
            "is required (any JSON value but null)",
        ));
    }
    let id = match body.id.as_deref() {
        None => Some(EventId::new()),
        Some(raw) => EventId::parse(raw)
            .map_err(|e| errors.push(FieldProblem::new("id", e.expected)))
            .ok(),
    };
    let occurred_at = match body.occurred_at.as_deref() {
        None => None,
        Some(raw) => match DateTime::parse_from_rfc3339(raw) {
            Ok(at) => Some(at.with_timezone(&Utc)),
            Err(_) => {
                errors.push(FieldProblem::new(
                    "occurredAt",
                    "must be an RFC 3339 date-time",
                ));
                None
            }
        },
    };
    match (event_type, body.data, id) {
        (Some(event_type), Some(data), Some(id)) if errors.is_empty() => Ok(ValidEvent {
            event_type,
            data,
            id,
            occurred_at,
        }),
        _ => Err(ApiError::Unprocessable(errors)),
    }
}

#[utoipa::path(
    post, path = "/v1/events", tag = "events",
    security(("apiKey" = []), ("bearerAuth" = [])),
    request_body = EventIn,
    responses(
        (status = 202, description = "Stored on the EVENTS stream; it will be delivered to \
            every matching webhook (a repeated id inside the duplicate window is accepted and \
            not delivered again)", body = EventAccepted),
        (status = 413, description = "The data is larger than a NATS message allows",
            body = crate::http::error::Problem, content_type = "application/problem+json"),
        (status = 422, description = "A rule is broken (type, id, occurredAt, missing data)",
            body = crate::http::error::Problem, content_type = "application/problem+json"),
    )
)]
/// Publish a domain event.
async fn publish(
    auth: TenantAuth,
    State(state): State<AppState>,
    ApiJson(body): ApiJson<EventIn>,
) -> Result<(StatusCode, Json<EventAccepted>), ApiError> {
    let ValidEvent {
        event_type,
        data,
        id,
        occurred_at,
    } = check(body)?;
    let data = serde_json::to_vec(&data).expect("a JSON value serializes");
    let limit = state.nats.max_payload().saturating_sub(ENVELOPE_BYTES);
    if data.len() > limit {
        return Err(ApiError::PayloadTooLarge(limit));
    }
    let stored = state
        .nats
        .publish_event(
            &auth.tenant,
            event_type.as_str(),
            &id,
            occurred_at,
            data.into(),
        )
        .await?;
    tracing::debug!(tenant = %auth.tenant, event_id = %id, sequence = stored.sequence,
        duplicate = stored.duplicate, "event published");
    Ok((
        StatusCode::ACCEPTED,
        Json(EventAccepted { id: id.to_string() }),
    ))
}

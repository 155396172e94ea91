//! `POST /v1/events`: a tenant publishes domain events over HTTP instead of NATS, one (an
//! object) or a batch (an array of 1 to [`MAX_EVENTS_PER_REQUEST`] objects).
//!
//! Each event goes to the EVENTS stream exactly as a NATS publisher's would
//! (`events.<tenant>.<type>`, the data as the body), with `Nats-Msg-Id = <tenant>:<id>`: event
//! ids share one deduplication space per tenant, so the same `id` from two tenants is two
//! events, and the same `id` again from one tenant inside `nats.events_duplicate_window` is
//! accepted (202) and not delivered again. Without an `id`, one is generated (`evt_…`). The
//! answer is given once JetStream has stored the events: from then on each will be delivered
//! to every webhook it matches, even if this process stops.
//!
//! A batch is checked whole before anything is published: one broken event answers 422 naming
//! it (`[3].type`) and publishes none. Its events are then published pipelined (every publish
//! sent, then every ack awaited), which is what makes a batch cheaper than its events one by
//! one. If NATS fails part-way the answer is 503 and some events may be stored: a retry of the
//! same batch is safe when every event has an `id` (the stored ones are deduplicated). Each
//! event spends one token of the key's publish limit (`http.publish_rate_limit_per_second`).
use std::fmt;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use hookledger_domain::ids::EventId;
use hookledger_domain::webhook::values::EventTypeName;
use serde::de::{self, MapAccess, SeqAccess, Visitor};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::members::{not_null, raw_but_null};
use crate::AppState;
use crate::config::MAX_EVENTS_PER_REQUEST;
use crate::http::error::{ApiError, FieldProblem};
use crate::http::extract::{ApiJson, TenantAuth};
use crate::http::runtime::HttpRuntime;

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
    #[serde(default, deserialize_with = "raw_but_null")]
    #[schema(required = true)]
    data: Option<Box<RawValue>>,
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

/// One event, or a batch of 1 to 500.
enum PublishBody {
    One(EventIn),
    Many(Vec<EventIn>),
}

/// The request body's schema (parsing is [`PublishBody`]'s, which keeps serde's field paths).
#[derive(Deserialize, ToSchema)]
#[serde(untagged)]
#[allow(dead_code)]
enum PublishRequest {
    /// One event.
    One(EventIn),
    /// A batch: 1 to 500 events, checked whole, then published together.
    Many(Vec<EventIn>),
}

impl<'de> Deserialize<'de> for PublishBody {
    fn deserialize<D: de::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct OneOrMany;
        impl<'de> Visitor<'de> for OneOrMany {
            type Value = PublishBody;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an event object or an array of event objects")
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<PublishBody, A::Error> {
                EventIn::deserialize(de::value::MapAccessDeserializer::new(map))
                    .map(PublishBody::One)
            }
            fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<PublishBody, A::Error> {
                Vec::deserialize(de::value::SeqAccessDeserializer::new(seq)).map(PublishBody::Many)
            }
        }
        deserializer.deserialize_any(OneOrMany)
    }
}

/// The event was stored.
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({"id": "lead-42-created"}))]
struct EventAccepted {
    id: String,
}

/// Each event of a batch, in the order sent.
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({"data": [{"id": "lead-42-created", "duplicate": false}]}))]
struct BatchAccepted {
    data: Vec<BatchResult>,
}

/// One event of a batch: stored, or a repeat of an id stored before (not delivered again).
#[derive(Debug, Serialize, ToSchema)]
struct BatchResult {
    id: String,
    /// The id was stored before, inside the duplicate window: accepted, not delivered again.
    duplicate: bool,
}

/// What a 202 carries: one event's id, or a batch's results.
#[derive(Debug, Serialize, ToSchema)]
#[serde(untagged)]
enum Accepted {
    One(EventAccepted),
    Many(BatchAccepted),
}

/// An event that keeps every rule.
struct ValidEvent {
    event_type: EventTypeName,
    /// As the publisher wrote it: stored and delivered byte for byte.
    data: Box<RawValue>,
    id: EventId,
    occurred_at: Option<DateTime<Utc>>,
}

/// Every rule the event breaks, or the event.
fn check(body: EventIn) -> Result<ValidEvent, Vec<FieldProblem>> {
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
        _ => Err(errors),
    }
}

/// Checks every event of a batch; the problems name the event (`[3].type`).
fn check_all(events: Vec<EventIn>) -> Result<Vec<ValidEvent>, ApiError> {
    let limit = MAX_EVENTS_PER_REQUEST as usize;
    if events.is_empty() || events.len() > limit {
        return Err(ApiError::field(
            "body",
            format!("a batch must hold 1 to {limit} events"),
        ));
    }
    let mut valid = Vec::with_capacity(events.len());
    let mut errors = Vec::new();
    for (i, event) in events.into_iter().enumerate() {
        match check(event) {
            Ok(event) => valid.push(event),
            Err(problems) => errors.extend(
                problems
                    .into_iter()
                    .map(|p| FieldProblem::new(format!("[{i}].{}", p.field), p.message)),
            ),
        }
    }
    if errors.is_empty() {
        Ok(valid)
    } else {
        Err(ApiError::Unprocessable(errors))
    }
}

#[utoipa::path(
    post, path = "/v1/events", tag = "events",
    security(("apiKey" = []), ("bearerAuth" = [])),
    request_body = PublishRequest,
    responses(
        (status = 202, description = "Stored on the EVENTS stream; each event will be delivered \
            to every matching webhook (a repeated id inside the duplicate window is accepted and \
            not delivered again). One event answers its id; a batch answers each event's id and \
            whether it was a duplicate, in order", body = Accepted),
        (status = 413, description = "An event's data is larger than a NATS message allows",
            body = crate::http::error::Problem, content_type = "application/problem+json"),
        (status = 422, description = "A rule is broken (type, id, occurredAt, missing data; \
            in a batch the field names the event, `[3].type`, and nothing is published)",
            body = crate::http::error::Problem, content_type = "application/problem+json"),
        (status = 429, description = "The key used up its publish rate (a token an event)",
            body = crate::http::error::Problem, content_type = "application/problem+json"),
    )
)]
/// Publish a domain event, or a batch of up to 500.
async fn publish(
    auth: TenantAuth,
    State(state): State<AppState>,
    runtime: axum::Extension<std::sync::Arc<HttpRuntime>>,
    ApiJson(body): ApiJson<PublishBody>,
) -> Result<Response, ApiError> {
    let (events, one) = match body {
        PublishBody::One(event) => (vec![check(event).map_err(ApiError::Unprocessable)?], true),
        PublishBody::Many(events) => (check_all(events)?, false),
    };
    let n = u32::try_from(events.len()).unwrap_or(u32::MAX);
    runtime
        .publish_limiter
        .spend(auth.key_id.as_str(), n)
        .map_err(|retry_after_seconds| ApiError::TooManyRequests {
            retry_after_seconds,
        })?;
    let limit = state.nats.max_payload().saturating_sub(ENVELOPE_BYTES);
    let mut encoded = Vec::with_capacity(events.len());
    for event in events {
        let data = event.data.get().as_bytes().to_vec();
        if data.len() > limit {
            return Err(ApiError::PayloadTooLarge(limit));
        }
        encoded.push((event, bytes::Bytes::from(data)));
    }
    // Every publish is sent before any ack is awaited (one client: in order, pipelined).
    let stored = futures::future::try_join_all(encoded.iter().map(|(event, data)| {
        state.nats.publish_event(
            &auth.tenant,
            event.event_type.as_str(),
            &event.id,
            event.occurred_at,
            data.clone(),
        )
    }))
    .await?;
    for ((event, _), stored) in encoded.iter().zip(&stored) {
        tracing::debug!(tenant = %auth.tenant, event_id = %event.id, sequence = stored.sequence,
            duplicate = stored.duplicate, "event published");
    }
    let accepted = if one {
        Accepted::One(EventAccepted {
            id: encoded[0].0.id.to_string(),
        })
    } else {
        Accepted::Many(BatchAccepted {
            data: (encoded.iter().zip(&stored))
                .map(|((event, _), stored)| BatchResult {
                    id: event.id.to_string(),
                    duplicate: stored.duplicate,
                })
                .collect(),
        })
    };
    Ok((StatusCode::ACCEPTED, Json(accepted)).into_response())
}

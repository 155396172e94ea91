//! Saleshandy: `POST /compat/saleshandy/v1/webhook/create` (`shared/seeds/
//! saleshandy-create-webhook.txt`), authenticated with `x-api-key`.
//!
//! The body is `{name, webhookUrl, webhookEvent, headers}`, every member required (`headers`
//! may be `{}`); each one missing (or `null`) is a 422 naming it, all at once. `webhookEvent`
//! takes only the 19 names the document lists (it lists them twice, in two orders; the set is
//! the same), exactly spelled: no patterns, no other names. A member of the wrong JSON type is
//! a 400 naming it, as on the native routes.
//!
//! The document answers a webhook with `status` and `testDelivery.status`, and its example is
//! a webhook left `paused` after a `failed` test: Saleshandy tests the URL when the webhook is
//! made. We do the same, in this order, so that no event reaches a URL before it proved it
//! answers:
//! 1. the webhook is created **paused** (ordinary ledger webhook, id of the Saleshandy
//!    dialect: its 24 hex digits are the `id` of the answer);
//! 2. a signed test event (`webhook.test`) is sent at once through the dispatcher, a real
//!    delivery that is logged like any other (`GET /v1/webhooks/{id}/deliveries`);
//! 3. on a 2xx answer the webhook is resumed (`active`); otherwise it stays `paused`, and the
//!    client resumes it (natively) once its receiver works.
//!
//! Decisions where the document is silent:
//! - **The dispatcher or NATS failing during the test** counts as a failed test: the answer is
//!   still 201 with `status: "paused"` and `testDelivery.status: "failed"`. The webhook exists
//!   by then (its creation is on the ledger), so a 503 (which in this API means "nothing was
//!   written, retry") would be untrue and a retry would make a second webhook; the paused state
//!   is safe, since nothing is delivered to it. The same holds when the test succeeds but the
//!   resume cannot be written: the answer says `paused` with `success`, which is the truth.
//! - **No extra detail about a failed test** in the answer: its shape is exactly the
//!   document's. Why it failed (status, error, latency) is in the delivery log.
//! - **Retries and timeouts** are the native defaults (3 retries from 60 s, exponential; 15 s),
//!   since the document names none. Deliveries carry the custom `headers`.
//! - The answer is 201 (`API.md`), `{"message": "Webhook created successfully", "payload":
//!   {id, name, webhookUrl, webhookEvent, headers, status, testDelivery: {status}}}` and
//!   nothing else; the signing secret is not in it (the document has no field for it): read
//!   it natively, `GET /v1/webhooks/{id}/secret`.
//! - An `Idempotency-Key` covers the whole request (the middleware replays the first answer);
//!   the resume after the test is its own command, so it is never taken for a repeat of the
//!   create.

use std::collections::BTreeMap;

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use axum::{Json, Router};
use hookledger_domain::dialect::Dialect;
use hookledger_domain::ids::WebhookId;
use hookledger_domain::webhook::values::WebhookSpecInput;
use hookledger_domain::webhook::{WebhookCommand, WebhookStatus};
use hookledger_projections::webhooks::WebhookRow;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::support::{Vendor, follow_up};
use crate::AppState;
use crate::http::error::{ApiError, FieldProblem};
use crate::http::extract::{ApiJson, TenantAuth};
use crate::http::routes::support::read_row;

/// Saleshandy's constants: its 19 event names and field names.
static SALESHANDY: Vendor = Vendor {
    dialect: Dialect::Saleshandy,
    events: &[
        "email-sent",
        "email-opened",
        "email-link-clicked",
        "reply-received",
        "email-bounced",
        "prospect-unsubscribed",
        "prospect-finished",
        "prospect-outcome-updated",
        "sequence-paused",
        "email-account-disconnected",
        "email-account-paused",
        "inbox-analyser-test-completed",
        "task-created",
        "task-updated",
        "bulk-task-updated",
        "call-task-updated",
        "linkedin-task-updated",
        "custom-task-updated",
        "whatsapp-task-updated",
    ],
    fields: &[("url", "webhookUrl"), ("events", "webhookEvent")],
};

pub(super) fn router() -> Router<AppState> {
    Router::new().route("/v1/webhook/create", post(create))
}

/// The request body; every member is required (checked here, so that a missing one is a 422
/// naming it).
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct CreateIn {
    name: Option<String>,
    webhook_url: Option<String>,
    webhook_event: Option<Vec<String>>,
    headers: Option<BTreeMap<String, String>>,
}

/// The answer's envelope.
#[derive(Debug, Serialize)]
struct CreatedOut {
    message: &'static str,
    payload: WebhookOut,
}

/// A Saleshandy webhook.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct WebhookOut {
    /// 24 hex digits.
    id: String,
    name: String,
    webhook_url: String,
    webhook_event: Vec<String>,
    headers: Value,
    /// `active`, `paused` (or `disabled`, once the circuit breaker stopped it).
    status: String,
    test_delivery: TestDeliveryOut,
}

#[derive(Debug, Serialize)]
struct TestDeliveryOut {
    /// `success` or `failed`.
    status: &'static str,
}

impl WebhookOut {
    fn new(row: WebhookRow, tested: bool) -> Self {
        Self {
            id: SALESHANDY.vendor_id(&row),
            name: row.name,
            webhook_url: row.url,
            webhook_event: row.events,
            headers: row.headers,
            status: row.status,
            test_delivery: TestDeliveryOut {
                status: if tested { "success" } else { "failed" },
            },
        }
    }
}

/// `webhookEvent` names that are not Saleshandy's, as 422 problems naming each one.
fn unknown_events(events: &[String]) -> Vec<FieldProblem> {
    (events.iter().enumerate())
        .filter(|(_, name)| !SALESHANDY.knows(name))
        .map(|(i, name)| {
            FieldProblem::new(
                format!("webhookEvent[{i}]"),
                format!(
                    "{name:?} is not a Saleshandy webhook event; accepted: {}",
                    SALESHANDY.events.join(", ")
                ),
            )
        })
        .collect()
}

/// Create a webhook, test its URL, and answer both.
async fn create(
    auth: TenantAuth,
    State(state): State<AppState>,
    headers: HeaderMap,
    ApiJson(body): ApiJson<CreateIn>,
) -> Result<(StatusCode, Json<CreatedOut>), ApiError> {
    let missing: Vec<FieldProblem> = [
        ("name", body.name.is_none()),
        ("webhookUrl", body.webhook_url.is_none()),
        ("webhookEvent", body.webhook_event.is_none()),
        ("headers", body.headers.is_none()),
    ]
    .into_iter()
    .filter(|(_, absent)| *absent)
    .map(|(field, _)| {
        let hint = if field == "headers" {
            " (pass {} if no custom headers are needed)"
        } else {
            ""
        };
        FieldProblem::new(field, format!("is required{hint}"))
    })
    .collect();
    if !missing.is_empty() {
        return Err(ApiError::Unprocessable(missing));
    }
    let unknown = unknown_events(body.webhook_event.as_deref().unwrap_or_default());
    let input = WebhookSpecInput {
        name: body.name,
        url: body.webhook_url,
        events: body.webhook_event,
        headers: body.headers,
        ..WebhookSpecInput::default()
    };
    let spec = match SALESHANDY.spec(&state, input) {
        Ok(spec) if unknown.is_empty() => spec,
        Ok(_) => return Err(ApiError::Unprocessable(unknown)),
        Err(ApiError::Unprocessable(mut problems)) => {
            let fresh: Vec<FieldProblem> = (unknown.into_iter())
                .filter(|u| !problems.iter().any(|p| p.field == u.field))
                .collect();
            problems.extend(fresh);
            return Err(ApiError::Unprocessable(problems));
        }
        Err(other) => return Err(other),
    };
    let (row, _) = (SALESHANDY)
        .create(&state, &auth, &headers, spec, None, WebhookStatus::Paused)
        .await?;
    let id = WebhookId::parse(&row.id)
        .map_err(|e| ApiError::Internal(format!("the view holds a malformed id: {e}")))?;
    let tested = match state.dispatcher.test_delivery(&auth.tenant, &id).await {
        Ok(result) => result.success,
        Err(e) => {
            tracing::warn!(webhook_id = %id, error = %e, "the Saleshandy test delivery could not be made; the webhook stays paused");
            false
        }
    };
    let row = if tested {
        resume(&state, &auth, &headers, &id).await.unwrap_or(row)
    } else {
        row
    };
    let out = CreatedOut {
        message: "Webhook created successfully",
        payload: WebhookOut::new(row, tested),
    };
    Ok((StatusCode::CREATED, Json(out)))
}

/// Resumes the webhook after a successful test and reads it back; `None` (logged) when that
/// cannot be written, so the answer shows it still paused.
async fn resume(
    state: &AppState,
    auth: &TenantAuth,
    headers: &HeaderMap,
    id: &WebhookId,
) -> Option<WebhookRow> {
    // Its own command id: under the request's Idempotency-Key it would read as the create's.
    let headers = follow_up(headers, "resume");
    let resumed = async {
        let version = (SALESHANDY)
            .execute(state, auth, &headers, id, WebhookCommand::ResumeWebhook)
            .await?;
        read_row(state, &auth.tenant, id, version).await
    };
    match resumed.await {
        Ok(row) => Some(row),
        Err(e) => {
            tracing::warn!(webhook_id = %id, error = %e, "resuming the tested Saleshandy webhook failed; it stays paused");
            None
        }
    }
}

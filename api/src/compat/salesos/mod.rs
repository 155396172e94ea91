//! SalesOS: every route of `shared/seeds/salesos-webhooks.txt`, under
//! `/compat/salesos/api/webhooks`, authenticated with `Authorization: Bearer <API key>` (the
//! document's "JWT token" is the tenant's API key here).
//!
//! ```text
//! GET    /                         list, ?isActive=true|false (+ page, limit)
//! POST   /                         create: 201, the webhook with its secret
//! GET    /events                   the event names a webhook may subscribe to
//! GET    /stats                    delivery statistics, per webhook and in total
//! GET    /{id}                     one webhook
//! PATCH  /{id}                     change fields; isActive pauses or resumes
//! DELETE /{id}                     204
//! POST   /{id}/regenerate-secret   the webhook with its new secret
//! POST   /{id}/test                a signed test delivery now, and its result
//! GET    /{id}/deliveries          ?success&event&page&limit, newest first
//! ```
//!
//! The document shows requests only: no event list, no answer bodies, no status codes. What we
//! decided, and why:
//! - **Ids** are the whole `wh_…` webhook id (the document's `id: string`), of the SalesOS
//!   dialect ([`hookledger_domain::dialect`]): a native id or another dialect's is 404 on
//!   every `/{id}` route, as is a deleted webhook's.
//! - **Events**: the document names only `lead.created` and `opportunity.won` (in its create
//!   example). We define SalesOS's list as the CRM set in [`EVENTS`] (leads, contacts,
//!   accounts, opportunities, tasks, meetings: 20 names), answered by `GET /events` as
//!   `{"events": [{"name", "description"}]}`. Only those exact names are accepted (no
//!   patterns); any other is a 422 naming `events[i]`. So the PATCH example's
//!   `"events": ["string"]` is refused (422, unknown event), as is its `"url": "string"`
//!   (422, not an absolute http(s) URL): they are placeholders. Every other value of both
//!   examples is accepted as it stands.
//! - **Webhook shape** (every answer that returns one), camelCase like the native API:
//!   `{id, name, description (null when none), url, events, headers, isActive,
//!   retryAttempts, retryDelaySeconds, createdAt, updatedAt}`, plus `secret` (`whsec_…`) in
//!   the answers to create and regenerate-secret, and `previousSecretExpiresAt` after a
//!   regeneration (the old secret keeps signing beside the new one until then,
//!   `secrets.rotation_grace_seconds`). `isActive` is false for a paused webhook and for one
//!   the circuit breaker disabled; `PATCH {"isActive": true}` resumes either.
//! - **Defaults** on create are the document's: `isActive` true, `retryAttempts` 3,
//!   `retryDelaySeconds` 60 (exponential growth and a 15 s timeout, as natively).
//!   `retryAttempts: 0` means no retry; `retryDelaySeconds: 0` means retry at once.
//!   `name`, `url` and `events` are required (422 naming each one missing). In a PATCH,
//!   `null` clears `description` and resets `headers`, `retryAttempts` and
//!   `retryDelaySeconds` to their defaults; `null` for `name`, `url`, `events` or `isActive`
//!   is refused.
//! - **Lists** (webhooks and deliveries) answer the native envelope `{data, page, limit,
//!   total, hasMore}`. `page` counts from 1, `limit` is at most 100; 0 (as in the document's
//!   `page=0&limit=0`) or an absent value means the default (page 1, 20 items). The document
//!   gives the webhook list no paging; we page it all the same, since an unbounded answer is
//!   a hazard, and `hasMore` says when there is more. Webhooks come oldest first; deliveries
//!   newest first, `success=true` keeping succeeded ones and `success=false` failed ones.
//! - **Deliveries** are `{id, webhookId, eventId, event, status (pending|succeeded|failed),
//!   success, attemptCount, responseStatus, lastOutcome, lastAttemptAt, nextAttemptAt,
//!   createdAt, closedAt, reason}`; test deliveries are listed too (event `webhook.test`).
//! - **Stats** are `{totalWebhooks, activeWebhooks, inactiveWebhooks, totalDeliveries,
//!   successfulDeliveries, failedDeliveries, pendingDeliveries, successRate, webhooks: [{id,
//!   name, isActive, totalDeliveries, successfulDeliveries, failedDeliveries,
//!   pendingDeliveries, totalAttempts, successRate, lastSuccessAt, lastFailureAt, latencyMs:
//!   {p50, p95, p99}}]}`, over the tenant's current SalesOS webhooks (deleted ones and other
//!   dialects' are left out). `successRate` is `successful / (successful + failed)`, 0
//!   before any delivery ended. Latency percentiles are per webhook only: percentiles do not
//!   add up.
//! - **Test** answers 200 `{deliveryId, success, responseStatus, latencyMs, error}`: a
//!   signed `webhook.test` event sent now, whatever the webhook's state, logged as a delivery.
//! - **Delete** answers 204 with no body, as natively.
//!
//! # Layout
//! - this file: the constants, the router and the shapes both halves answer.
//! - `webhooks`: list, create, get, patch, delete.
//! - `activity`: events, stats, test, regenerate-secret, deliveries.

mod activity;
mod webhooks;

use axum::Router;
use axum::routing::{get, post};
use chrono::{DateTime, Utc};
use hookledger_domain::dialect::Dialect;
use hookledger_domain::ids::{TenantId, WebhookId};
use hookledger_projections::webhooks::WebhookRow;
use serde::Serialize;
use serde_json::Value;

use super::support::Vendor;
use crate::AppState;
use crate::http::error::{ApiError, FieldProblem};

/// SalesOS's events (our definition, see the module docs), with what each one means.
pub(super) const EVENTS: [(&str, &str); 20] = [
    ("lead.created", "A lead was created"),
    ("lead.updated", "A lead was changed"),
    (
        "lead.converted",
        "A lead was converted into a contact, account or opportunity",
    ),
    ("lead.deleted", "A lead was deleted"),
    ("contact.created", "A contact was created"),
    ("contact.updated", "A contact was changed"),
    ("contact.deleted", "A contact was deleted"),
    ("account.created", "An account was created"),
    ("account.updated", "An account was changed"),
    ("account.deleted", "An account was deleted"),
    ("opportunity.created", "An opportunity was created"),
    ("opportunity.updated", "An opportunity was changed"),
    (
        "opportunity.stage_changed",
        "An opportunity moved to another stage",
    ),
    ("opportunity.won", "An opportunity was closed as won"),
    ("opportunity.lost", "An opportunity was closed as lost"),
    ("opportunity.deleted", "An opportunity was deleted"),
    ("task.created", "A task was created"),
    ("task.completed", "A task was completed"),
    ("meeting.scheduled", "A meeting was scheduled"),
    ("meeting.completed", "A meeting took place"),
];

const NAMES: [&str; EVENTS.len()] = {
    let mut names = [""; EVENTS.len()];
    let mut i = 0;
    while i < EVENTS.len() {
        names[i] = EVENTS[i].0;
        i += 1;
    }
    names
};

/// SalesOS's constants; its field names are the native ones.
static SALESOS: Vendor = Vendor {
    dialect: Dialect::Salesos,
    events: &NAMES,
    fields: &[],
};

pub(super) fn router() -> Router<AppState> {
    Router::new()
        .route("/api/webhooks", get(webhooks::list).post(webhooks::create))
        .route("/api/webhooks/events", get(activity::events))
        .route("/api/webhooks/stats", get(activity::stats))
        .route(
            "/api/webhooks/{id}",
            get(webhooks::get_one)
                .patch(webhooks::patch)
                .delete(webhooks::remove),
        )
        .route(
            "/api/webhooks/{id}/regenerate-secret",
            post(activity::regenerate_secret),
        )
        .route("/api/webhooks/{id}/test", post(activity::test))
        .route("/api/webhooks/{id}/deliveries", get(activity::deliveries))
}

/// A SalesOS webhook.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct WebhookOut {
    /// `wh_…`.
    id: String,
    name: String,
    description: Option<String>,
    url: String,
    events: Vec<String>,
    headers: Value,
    is_active: bool,
    retry_attempts: i32,
    retry_delay_seconds: i32,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
    /// Only in the answers to create and regenerate-secret.
    #[serde(skip_serializing_if = "Option::is_none")]
    secret: Option<String>,
    /// Only in the answer to regenerate-secret.
    #[serde(skip_serializing_if = "Option::is_none")]
    previous_secret_expires_at: Option<DateTime<Utc>>,
}

impl From<WebhookRow> for WebhookOut {
    fn from(r: WebhookRow) -> Self {
        Self {
            is_active: r.is_active(),
            id: r.id,
            name: r.name,
            description: r.description,
            url: r.url,
            events: r.events,
            headers: r.headers,
            retry_attempts: r.retry_attempts,
            retry_delay_seconds: r.retry_delay_seconds,
            created_at: r.created_at,
            updated_at: r.updated_at,
            secret: None,
            previous_secret_expires_at: None,
        }
    }
}

/// The webhook a path names, with its id; 404 unless it is a current SalesOS webhook of the
/// tenant.
async fn existing(
    state: &AppState,
    tenant: &TenantId,
    raw: &str,
) -> Result<(WebhookId, WebhookRow), ApiError> {
    let id = SALESOS.webhook_id(raw)?;
    let row = SALESOS.get(state, tenant, raw).await?;
    Ok((id, row))
}

/// `page` and `limit` of a query, checked; 0 or absent means the default (the views
/// normalise 0: page 1, 20 items).
fn paging(page: Option<i64>, limit: Option<i64>) -> Result<(u32, u32), ApiError> {
    let mut problems = Vec::new();
    let page = page.unwrap_or(0);
    let limit = limit.unwrap_or(0);
    if !(0..=1_000_000).contains(&page) {
        problems.push(FieldProblem::new(
            "page",
            "must be between 0 and 1000000 (0: the first page)",
        ));
    }
    if !(0..=100).contains(&limit) {
        problems.push(FieldProblem::new(
            "limit",
            "must be between 0 and 100 (0: the default, 20)",
        ));
    }
    match (u32::try_from(page), u32::try_from(limit)) {
        (Ok(page), Ok(limit)) if problems.is_empty() => Ok((page, limit)),
        _ => Err(ApiError::Unprocessable(problems)),
    }
}

/// `events[i]` problems for the names that are not SalesOS events.
fn unknown_events(events: Option<&[String]>) -> Vec<FieldProblem> {
    (events.unwrap_or_default().iter().enumerate())
        .filter(|(_, name)| !SALESOS.knows(name))
        .map(|(i, name)| {
            FieldProblem::new(
                format!("events[{i}]"),
                format!("{name:?} is not a SalesOS webhook event; see GET /api/webhooks/events"),
            )
        })
        .collect()
}

/// `result`'s 422 problems (if any) followed by `extra`, each field named once; `Ok` only
/// when there are none.
fn with_problems<T>(result: Result<T, ApiError>, extra: Vec<FieldProblem>) -> Result<T, ApiError> {
    match result {
        Ok(value) if extra.is_empty() => Ok(value),
        Ok(_) => Err(ApiError::Unprocessable(extra)),
        Err(ApiError::Unprocessable(mut problems)) => {
            let fresh: Vec<FieldProblem> = (extra.into_iter())
                .filter(|e| !problems.iter().any(|p| p.field == e.field))
                .collect();
            problems.extend(fresh);
            Err(ApiError::Unprocessable(problems))
        }
        Err(other) => Err(other),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_event_list_holds_the_documents_examples_once_each_and_valid_names() {
        assert!(SALESOS.knows("lead.created") && SALESOS.knows("opportunity.won"));
        let mut names = NAMES.to_vec();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), EVENTS.len());
        for name in NAMES {
            assert!(
                hookledger_domain::webhook::EventTypeName::parse(name).is_ok(),
                "{name}"
            );
        }
    }

    #[test]
    fn zero_paging_is_the_default_and_out_of_range_values_are_named() {
        assert_eq!(paging(Some(0), Some(0)).ok(), Some((0, 0)));
        assert_eq!(paging(None, None).ok(), Some((0, 0)));
        assert!(paging(Some(-1), Some(101)).is_err());
    }
}

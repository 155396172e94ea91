//! `/api/webhooks/events`, `/stats`, and `/{id}/test`, `/{id}/regenerate-secret`,
//! `/{id}/deliveries`: what a webhook may subscribe to and what happened to its deliveries.

use axum::Json;
use axum::extract::State;
use axum::http::HeaderMap;
use chrono::{DateTime, Utc};
use hookledger_domain::secrets::SigningSecret;
use hookledger_domain::webhook::WebhookCommand;
use hookledger_projections::deliveries::{DeliveryFilter, DeliveryRow};
use hookledger_projections::stats::{Percentiles, Stats};
use hookledger_projections::webhooks::{ListFilter, WebhookRow};
use serde::{Deserialize, Serialize};

use super::{EVENTS, SALESOS, WebhookOut, existing, paging};
use crate::AppState;
use crate::http::error::ApiError;
use crate::http::extract::{ApiPath, ApiQuery, TenantAuth};
use crate::http::routes::Paged;
use crate::http::routes::support::read_row;

/// One event a webhook may subscribe to.
#[derive(Debug, Serialize)]
pub(super) struct EventOut {
    name: &'static str,
    description: &'static str,
}

/// The answer of `GET /events`.
#[derive(Debug, Serialize)]
pub(super) struct EventsOut {
    events: Vec<EventOut>,
}

/// `GET /api/webhooks/events`.
pub(super) async fn events(_auth: TenantAuth) -> Json<EventsOut> {
    let events = (EVENTS.iter())
        .map(|&(name, description)| EventOut { name, description })
        .collect();
    Json(EventsOut { events })
}

/// Delivery counters, as the stats answer names them.
#[derive(Debug, Default, Serialize)]
#[serde(rename_all = "camelCase")]
struct Counts {
    total_deliveries: i64,
    successful_deliveries: i64,
    failed_deliveries: i64,
    pending_deliveries: i64,
    /// `successful / (successful + failed)`; 0 before any delivery ended.
    success_rate: f64,
}

impl Counts {
    fn new(total: i64, succeeded: i64, failed: i64, pending: i64) -> Self {
        let ended = succeeded + failed;
        Self {
            total_deliveries: total,
            successful_deliveries: succeeded,
            failed_deliveries: failed,
            pending_deliveries: pending,
            success_rate: if ended > 0 {
                succeeded as f64 / ended as f64
            } else {
                0.0
            },
        }
    }
}

/// One webhook's statistics.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct WebhookStatsOut {
    id: String,
    name: String,
    is_active: bool,
    #[serde(flatten)]
    counts: Counts,
    total_attempts: i64,
    last_success_at: Option<DateTime<Utc>>,
    last_failure_at: Option<DateTime<Utc>>,
    /// Attempt latency percentiles in milliseconds (bucket upper bounds); null before any.
    latency_ms: Percentiles,
}

/// The answer of `GET /stats`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct StatsOut {
    total_webhooks: usize,
    active_webhooks: usize,
    inactive_webhooks: usize,
    #[serde(flatten)]
    counts: Counts,
    webhooks: Vec<WebhookStatsOut>,
}

/// Every current SalesOS webhook of the tenant, oldest first (page by page).
async fn every_webhook(state: &AppState, auth: &TenantAuth) -> Result<Vec<WebhookRow>, ApiError> {
    let mut rows = Vec::new();
    for page in 1.. {
        let filter = ListFilter {
            page,
            limit: hookledger_projections::MAX_LIMIT,
            ..ListFilter::default()
        };
        let found = SALESOS.list(state, &auth.tenant, filter).await?;
        rows.extend(found.data);
        if !found.has_more {
            break;
        }
    }
    Ok(rows)
}

/// `GET /api/webhooks/stats`: per webhook and in total.
pub(super) async fn stats(
    auth: TenantAuth,
    State(state): State<AppState>,
) -> Result<Json<StatsOut>, ApiError> {
    let rows = every_webhook(&state, &auth).await?;
    let mut webhooks = Vec::with_capacity(rows.len());
    for row in rows {
        let s: Stats =
            hookledger_projections::stats::for_webhook(&state.pool, auth.tenant.as_str(), &row.id)
                .await?;
        webhooks.push(WebhookStatsOut {
            is_active: row.is_active(),
            id: row.id,
            name: row.name,
            counts: Counts::new(s.deliveries, s.succeeded, s.failed, s.pending),
            total_attempts: s.attempts,
            last_success_at: s.last_success_at,
            last_failure_at: s.last_failure_at,
            latency_ms: s.latency_ms,
        });
    }
    let sum = |f: fn(&Counts) -> i64| webhooks.iter().map(|w| f(&w.counts)).sum::<i64>();
    let counts = Counts::new(
        sum(|c| c.total_deliveries),
        sum(|c| c.successful_deliveries),
        sum(|c| c.failed_deliveries),
        sum(|c| c.pending_deliveries),
    );
    let active = webhooks.iter().filter(|w| w.is_active).count();
    Ok(Json(StatsOut {
        total_webhooks: webhooks.len(),
        active_webhooks: active,
        inactive_webhooks: webhooks.len() - active,
        counts,
        webhooks,
    }))
}

/// The result of a test delivery.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct TestOut {
    /// `dlv_…`: the test is in the webhook's delivery log.
    delivery_id: String,
    /// True for a 2xx answer.
    success: bool,
    response_status: Option<u16>,
    latency_ms: u64,
    /// What went wrong, when it did.
    error: Option<String>,
}

/// `POST /api/webhooks/{id}/test`: a signed `webhook.test` event now.
pub(super) async fn test(
    auth: TenantAuth,
    State(state): State<AppState>,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<TestOut>, ApiError> {
    let (id, _) = existing(&state, &auth.tenant, &id).await?;
    let result = state.dispatcher.test_delivery(&auth.tenant, &id).await?;
    Ok(Json(TestOut {
        delivery_id: result.delivery_id.to_string(),
        success: result.success,
        response_status: result.response_status,
        latency_ms: result.latency_ms,
        error: result.error,
    }))
}

/// `POST /api/webhooks/{id}/regenerate-secret`: the webhook with its new secret; the old one
/// signs beside it until `previousSecretExpiresAt`.
pub(super) async fn regenerate_secret(
    auth: TenantAuth,
    State(state): State<AppState>,
    headers: HeaderMap,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<WebhookOut>, ApiError> {
    let (id, _) = existing(&state, &auth.tenant, &id).await?;
    let grace = chrono::Duration::from_std(state.config.rotation_grace())
        .map_err(|e| ApiError::Internal(e.to_string()))?;
    let now = Utc::now();
    let secret = SigningSecret::generate(&ring::rand::SystemRandom::new());
    let command = WebhookCommand::RotateSecret {
        secret: secret.clone(),
        now,
        grace,
    };
    let version = (SALESOS)
        .execute(&state, &auth, &headers, &id, command)
        .await?;
    let mut out = WebhookOut::from(read_row(&state, &auth.tenant, &id, version).await?);
    out.secret = Some(secret.expose().to_owned());
    out.previous_secret_expires_at = (grace > chrono::Duration::zero()).then(|| now + grace);
    Ok(Json(out))
}

/// The delivery log's query.
#[derive(Debug, Deserialize)]
pub(super) struct DeliveriesQuery {
    /// `true`: succeeded only; `false`: failed only.
    success: Option<bool>,
    /// Only deliveries of this event.
    event: Option<String>,
    page: Option<i64>,
    limit: Option<i64>,
}

/// One delivery of an event to the webhook.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct DeliveryOut {
    id: String,
    webhook_id: String,
    event_id: String,
    /// The event's type.
    event: String,
    /// `pending`, `succeeded` or `failed`.
    status: String,
    /// `status == "succeeded"`.
    success: bool,
    attempt_count: i32,
    response_status: Option<i32>,
    last_outcome: Option<String>,
    last_attempt_at: Option<DateTime<Utc>>,
    next_attempt_at: Option<DateTime<Utc>>,
    created_at: DateTime<Utc>,
    closed_at: Option<DateTime<Utc>>,
    /// For a failed delivery: the outcome that ended it.
    reason: Option<String>,
}

impl From<DeliveryRow> for DeliveryOut {
    fn from(r: DeliveryRow) -> Self {
        Self {
            success: r.status == "succeeded",
            id: r.id,
            webhook_id: r.webhook_id,
            event_id: r.event_id,
            event: r.event_type,
            status: r.status,
            attempt_count: r.attempt_count,
            response_status: r.response_status,
            last_outcome: r.last_outcome,
            last_attempt_at: r.last_attempt_at,
            next_attempt_at: r.next_attempt_at,
            created_at: r.created_at,
            closed_at: r.closed_at,
            reason: r.reason,
        }
    }
}

/// `GET /api/webhooks/{id}/deliveries`: newest first.
pub(super) async fn deliveries(
    auth: TenantAuth,
    State(state): State<AppState>,
    ApiPath(id): ApiPath<String>,
    ApiQuery(query): ApiQuery<DeliveriesQuery>,
) -> Result<Json<Paged<DeliveryOut>>, ApiError> {
    let (page, limit) = paging(query.page, query.limit)?;
    if query.event.as_ref().is_some_and(|e| e.len() > 255) {
        return Err(ApiError::field("event", "must be at most 255 characters"));
    }
    let (id, _) = existing(&state, &auth.tenant, &id).await?;
    let filter = DeliveryFilter {
        success: query.success,
        event: query.event,
        page,
        limit,
        ..DeliveryFilter::default()
    };
    let rows = hookledger_projections::deliveries::list(
        &state.pool,
        auth.tenant.as_str(),
        id.as_str(),
        &filter,
    )
    .await?;
    Ok(Json(Paged::from_page(rows, DeliveryOut::from)))
}

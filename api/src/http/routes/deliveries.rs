//! Deliveries and their statistics: `/v1/webhooks/stats`, `/v1/webhooks/{id}/stats`,
//! `/v1/webhooks/{id}/deliveries[/{deliveryId}]`, read from the deliveries views (the manual
//! re-sends are in `dispatch`).

use std::collections::BTreeMap;

use axum::Json;
use axum::extract::State;
use chrono::{DateTime, Utc};
use hookledger_domain::ids::{TenantId, WebhookId};
use hookledger_projections::deliveries::{AttemptRow, DeliveryFilter, DeliveryRow};
use hookledger_projections::stats::Stats;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::paging::{Paged, Paging};
use super::support::webhook_known;
use crate::AppState;
use crate::http::error::ApiError;
use crate::http::extract::{ApiQuery, DeliveryPath, TenantAuth, WebhookPath};

pub(super) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(tenant_stats))
        .routes(routes!(webhook_stats))
        .routes(routes!(list))
        .routes(routes!(detail))
}

/// A delivery's state.
#[derive(ToSchema)]
#[schema(rename_all = "lowercase")]
#[allow(dead_code)]
enum DeliveryStatus {
    Pending,
    Succeeded,
    Failed,
}

/// How an attempt ended (stable codes).
#[derive(ToSchema)]
#[schema(rename_all = "snake_case")]
#[allow(dead_code)]
enum Outcome {
    Success,
    HttpError,
    Timeout,
    Connect,
    Dns,
    RefusedTarget,
    Gone,
    Paused,
}

/// One event to one webhook.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(super) struct DeliveryOut {
    /// `dlv_…`.
    id: String,
    webhook_id: String,
    event_id: String,
    event_type: String,
    #[schema(value_type = DeliveryStatus)]
    status: String,
    /// Attempts made so far.
    attempt_count: i32,
    /// The HTTP status of the latest attempt.
    response_status: Option<i32>,
    /// The outcome of the latest attempt.
    #[schema(value_type = Option<Outcome>)]
    last_outcome: Option<String>,
    last_attempt_at: Option<DateTime<Utc>>,
    next_attempt_at: Option<DateTime<Utc>>,
    created_at: DateTime<Utc>,
    /// When the delivery ended (succeeded, or failed for good).
    closed_at: Option<DateTime<Utc>>,
    /// For a failed delivery: the outcome that ended it.
    #[schema(value_type = Option<Outcome>)]
    reason: Option<String>,
}

impl From<DeliveryRow> for DeliveryOut {
    fn from(r: DeliveryRow) -> Self {
        Self {
            id: r.id,
            webhook_id: r.webhook_id,
            event_id: r.event_id,
            event_type: r.event_type,
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

/// One HTTP attempt of a delivery.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
struct AttemptOut {
    /// From 1; redeliveries continue the count.
    attempt: i32,
    at: DateTime<Utc>,
    #[schema(value_type = Outcome)]
    outcome: String,
    response_status: Option<i32>,
    latency_ms: Option<i64>,
    /// What went wrong, for people (`outcome` is the stable code).
    error: Option<String>,
    /// The start of the response body (at most 2 KiB).
    response_body: Option<String>,
    /// The response's headers: names lower-case, a repeated header's values joined with `, `,
    /// at most 64 names (the first ones the receiver sent), each value cut at 1,024 bytes.
    /// Always present: `{}` when there was no response (timeout, connect error, not sent) and
    /// for attempts recorded before headers were kept.
    #[schema(example = json!({"content-type": "text/plain", "set-cookie": "a=1, b=2"}))]
    response_headers: BTreeMap<String, String>,
    next_attempt_at: Option<DateTime<Utc>>,
    /// `event`, `redeliver`, `recover` or `test`.
    trigger: Option<String>,
}

impl From<AttemptRow> for AttemptOut {
    fn from(r: AttemptRow) -> Self {
        Self {
            attempt: r.attempt,
            at: r.at,
            outcome: r.outcome,
            response_status: r.response_status,
            latency_ms: r.latency_ms,
            error: r.error,
            response_body: r.response_body,
            response_headers: r.response_headers,
            next_attempt_at: r.next_attempt_at,
            trigger: r.trigger,
        }
    }
}

/// A delivery with every attempt, oldest first.
#[derive(Debug, Serialize, ToSchema)]
struct DeliveryDetailOut {
    #[serde(flatten)]
    delivery: DeliveryOut,
    attempts: Vec<AttemptOut>,
}

/// Attempt latency percentiles in milliseconds (upper bounds of histogram buckets); null
/// before the first attempt.
#[derive(Debug, Serialize, ToSchema)]
struct LatencyOut {
    p50: Option<u64>,
    p95: Option<u64>,
    p99: Option<u64>,
}

/// Delivery statistics.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(example = json!({"deliveries": 120, "succeeded": 110, "failed": 6, "pending": 4,
    "attempts": 140, "successRate": 0.948, "lastSuccessAt": "2025-01-01T00:00:00Z",
    "lastFailureAt": null, "latencyMs": {"p50": 50, "p95": 300, "p99": 1000}}))]
struct StatsOut {
    deliveries: i64,
    succeeded: i64,
    failed: i64,
    /// Attempted and not over yet.
    pending: i64,
    attempts: i64,
    /// `succeeded / (succeeded + failed)`; 0 before any delivery ended.
    success_rate: f64,
    last_success_at: Option<DateTime<Utc>>,
    last_failure_at: Option<DateTime<Utc>>,
    latency_ms: LatencyOut,
}

impl From<Stats> for StatsOut {
    fn from(s: Stats) -> Self {
        Self {
            deliveries: s.deliveries,
            succeeded: s.succeeded,
            failed: s.failed,
            pending: s.pending,
            attempts: s.attempts,
            success_rate: s.success_rate,
            last_success_at: s.last_success_at,
            last_failure_at: s.last_failure_at,
            latency_ms: LatencyOut {
                p50: s.latency_ms.p50,
                p95: s.latency_ms.p95,
                p99: s.latency_ms.p99,
            },
        }
    }
}

#[utoipa::path(
    get, path = "/v1/webhooks/stats", tag = "deliveries",
    security(("apiKey" = []), ("bearerAuth" = [])),
    responses((status = 200, description = "Statistics of every webhook of the tenant (deleted \
        ones included), summed", body = StatsOut))
)]
/// Get the tenant's delivery statistics.
async fn tenant_stats(
    auth: TenantAuth,
    State(state): State<AppState>,
) -> Result<Json<StatsOut>, ApiError> {
    let stats =
        hookledger_projections::stats::for_tenant(&state.pool, auth.tenant.as_str()).await?;
    Ok(Json(stats.into()))
}

/// The webhook id of a path, if the tenant has or had that webhook; 404 otherwise.
async fn known(state: &AppState, tenant: &TenantId, id: WebhookId) -> Result<String, ApiError> {
    if !webhook_known(state, tenant, &id).await? {
        return Err(ApiError::NotFound("webhook"));
    }
    Ok(id.to_string())
}

#[utoipa::path(
    get, path = "/v1/webhooks/{id}/stats", tag = "deliveries",
    security(("apiKey" = []), ("bearerAuth" = [])),
    params(("id" = String, Path, description = "The webhook id, `wh_…`")),
    responses((status = 200, description = "The webhook's delivery statistics", body = StatsOut))
)]
/// Get a webhook's delivery statistics.
async fn webhook_stats(
    auth: TenantAuth,
    State(state): State<AppState>,
    WebhookPath(id): WebhookPath,
) -> Result<Json<StatsOut>, ApiError> {
    let id = known(&state, &auth.tenant, id).await?;
    let stats =
        hookledger_projections::stats::for_webhook(&state.pool, auth.tenant.as_str(), &id).await?;
    Ok(Json(stats.into()))
}

/// Filters of the delivery list.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(rename_all = "camelCase")]
#[into_params(parameter_in = Query)]
struct DeliveryQuery {
    /// `true`: succeeded only; `false`: failed only.
    success: Option<bool>,
    /// Only deliveries of this event type.
    #[param(max_length = 255)]
    event: Option<String>,
    /// `pending`, `succeeded` or `failed`.
    status: Option<String>,
    /// Created at or after (RFC 3339).
    #[param(format = DateTime)]
    since: Option<String>,
    /// Created before (RFC 3339).
    #[param(format = DateTime)]
    until: Option<String>,
}

/// Parses an optional RFC 3339 query parameter; 422 naming it otherwise.
pub(super) fn rfc3339(field: &str, raw: Option<&str>) -> Result<Option<DateTime<Utc>>, ApiError> {
    raw.map(|raw| {
        DateTime::parse_from_rfc3339(raw)
            .map(|t| t.with_timezone(&Utc))
            .map_err(|e| ApiError::field(field, format!("must be an RFC 3339 time: {e}")))
    })
    .transpose()
}

#[utoipa::path(
    get, path = "/v1/webhooks/{id}/deliveries", tag = "deliveries",
    security(("apiKey" = []), ("bearerAuth" = [])),
    params(("id" = String, Path, description = "The webhook id, `wh_…`"), DeliveryQuery, Paging),
    responses((status = 200, description = "One page of the webhook's deliveries, newest first",
        body = Paged<DeliveryOut>))
)]
/// List a webhook's deliveries.
async fn list(
    auth: TenantAuth,
    State(state): State<AppState>,
    WebhookPath(id): WebhookPath,
    ApiQuery(query): ApiQuery<DeliveryQuery>,
    ApiQuery(paging): ApiQuery<Paging>,
) -> Result<Json<Paged<DeliveryOut>>, ApiError> {
    let (page, limit) = paging.resolve()?;
    super::support::one_of("status", query.status.as_deref(), super::DELIVERY_STATUSES)?;
    if query.event.as_ref().is_some_and(|e| e.len() > 255) {
        return Err(ApiError::field("event", "must be at most 255 characters"));
    }
    let filter = DeliveryFilter {
        success: query.success,
        event: query.event,
        status: query.status,
        since: rfc3339("since", query.since.as_deref())?,
        until: rfc3339("until", query.until.as_deref())?,
        page,
        limit,
    };
    let id = known(&state, &auth.tenant, id).await?;
    let rows =
        hookledger_projections::deliveries::list(&state.pool, auth.tenant.as_str(), &id, &filter)
            .await?;
    Ok(Json(Paged::from_page(rows, DeliveryOut::from)))
}

#[utoipa::path(
    get, path = "/v1/webhooks/{id}/deliveries/{deliveryId}", tag = "deliveries",
    security(("apiKey" = []), ("bearerAuth" = [])),
    params(("id" = String, Path, description = "The webhook id, `wh_…`"),
        ("deliveryId" = String, Path, description = "The delivery id, `dlv_…`")),
    responses((status = 200, description = "The delivery with every attempt",
        body = DeliveryDetailOut))
)]
/// Get a delivery with its attempts.
async fn detail(
    auth: TenantAuth,
    State(state): State<AppState>,
    WebhookPath(id): WebhookPath,
    DeliveryPath(delivery_id): DeliveryPath,
) -> Result<Json<DeliveryDetailOut>, ApiError> {
    let found = hookledger_projections::deliveries::get(
        &state.pool,
        auth.tenant.as_str(),
        id.as_str(),
        delivery_id.as_str(),
    )
    .await?
    .ok_or(ApiError::NotFound("delivery"))?;
    Ok(Json(DeliveryDetailOut {
        delivery: found.delivery.into(),
        attempts: found.attempts.into_iter().map(AttemptOut::from).collect(),
    }))
}

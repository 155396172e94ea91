//! The dispatcher's manual actions on a webhook: `POST /test` (a signed test event now, its
//! result in the answer), `POST /deliveries/{id}/redeliver` and `POST /recover?since=` (queued
//! again, 202). They go through the dispatcher's one attempt code path.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use hookledger_dispatcher::{Redelivery, TestResult};
use hookledger_domain::ids::DeliveryId;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::deliveries::rfc3339;
use super::support::webhook_known;
use crate::AppState;
use crate::http::error::ApiError;
use crate::http::extract::{ApiQuery, DeliveryPath, TenantAuth, WebhookPath};

pub(super) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(test))
        .routes(routes!(redeliver))
        .routes(routes!(recover))
}

/// The result of a test delivery.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(example = json!({"success": true, "responseStatus": 200, "latencyMs": 87, "error": null}))]
pub(super) struct TestOut {
    /// True for a 2xx answer.
    success: bool,
    response_status: Option<u16>,
    latency_ms: u64,
    /// What went wrong, when it did.
    error: Option<String>,
}

/// A redelivery queued.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(super) struct RedeliverOut {
    delivery_id: String,
    /// The number the new attempt will carry.
    attempt: u32,
}

/// Failed deliveries queued again.
#[derive(Debug, Serialize, ToSchema)]
pub(super) struct RecoverOut {
    count: u64,
}

/// Where recovery starts.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct RecoverQuery {
    /// Re-send every failed delivery created at or after this instant (RFC 3339). Required.
    #[param(format = DateTime, required = true)]
    since: Option<String>,
}

impl From<TestResult> for TestOut {
    fn from(r: TestResult) -> Self {
        Self {
            success: r.success,
            response_status: r.response_status,
            latency_ms: r.latency_ms,
            error: r.error,
        }
    }
}

impl From<Redelivery> for RedeliverOut {
    fn from(r: Redelivery) -> Self {
        Self {
            delivery_id: r.delivery_id.to_string(),
            attempt: r.attempt,
        }
    }
}

#[utoipa::path(
    post, path = "/v1/webhooks/{id}/test", tag = "deliveries",
    security(("apiKey" = []), ("bearerAuth" = [])),
    params(("id" = String, Path, description = "The webhook id, `wh_…`")),
    responses(
        (status = 200, description = "The result of a signed test event sent now", body = TestOut),
    )
)]
/// Send a signed test event to a webhook now.
async fn test(
    auth: TenantAuth,
    State(state): State<AppState>,
    WebhookPath(id): WebhookPath,
) -> Result<Json<TestOut>, ApiError> {
    let result = state.dispatcher.test_delivery(&auth.tenant, &id).await?;
    Ok(Json(result.into()))
}

#[utoipa::path(
    post, path = "/v1/webhooks/{id}/deliveries/{deliveryId}/redeliver", tag = "deliveries",
    security(("apiKey" = []), ("bearerAuth" = [])),
    params(("id" = String, Path, description = "The webhook id, `wh_…`"),
        ("deliveryId" = String, Path, description = "The delivery id, `dlv_…`")),
    responses(
        (status = 202, description = "A new attempt of the delivery is queued", body = RedeliverOut),
        (status = 409, description = "The delivery's event is past the EVENTS retention, or the \
            delivery was a test: nothing was queued", body = crate::http::error::Problem,
            content_type = "application/problem+json"),
    )
)]
/// Send a delivery again.
async fn redeliver(
    auth: TenantAuth,
    State(state): State<AppState>,
    WebhookPath(webhook): WebhookPath,
    DeliveryPath(delivery): DeliveryPath,
) -> Result<(StatusCode, Json<RedeliverOut>), ApiError> {
    let queued = state
        .dispatcher
        .redeliver(&auth.tenant, &webhook, &delivery)
        .await?;
    Ok((StatusCode::ACCEPTED, Json(queued.into())))
}

#[utoipa::path(
    post, path = "/v1/webhooks/{id}/recover", tag = "deliveries",
    security(("apiKey" = []), ("bearerAuth" = [])),
    params(("id" = String, Path, description = "The webhook id, `wh_…`"), RecoverQuery),
    responses(
        (status = 202, description = "The failed deliveries since then are queued again",
            body = RecoverOut),
    )
)]
/// Send every failed delivery since an instant again.
async fn recover(
    auth: TenantAuth,
    State(state): State<AppState>,
    WebhookPath(webhook): WebhookPath,
    ApiQuery(query): ApiQuery<RecoverQuery>,
) -> Result<(StatusCode, Json<RecoverOut>), ApiError> {
    let since = rfc3339("since", query.since.as_deref())?
        .ok_or_else(|| ApiError::field("since", "is required"))?;
    if !webhook_known(&state, &auth.tenant, &webhook).await? {
        return Err(ApiError::NotFound("webhook"));
    }
    let failed = hookledger_projections::deliveries::failed_since(
        &state.pool,
        auth.tenant.as_str(),
        webhook.as_str(),
        since,
    )
    .await?;
    let ids = failed
        .into_iter()
        .filter_map(|row| DeliveryId::parse(&row.id).ok());
    let count = state
        .dispatcher
        .recover(&auth.tenant, &webhook, ids)
        .await?;
    Ok((
        StatusCode::ACCEPTED,
        Json(RecoverOut {
            count: count as u64,
        }),
    ))
}

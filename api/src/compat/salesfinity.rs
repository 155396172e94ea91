//! The Salesfinity dialect: `POST /compat/salesfinity/v1/webhooks` as
//! `shared/seeds/salesfinity-create-webhook.txt` describes it, plus the list, read and delete
//! a client of that API needs (`GET /v1/webhooks`, `GET` and `DELETE /v1/webhooks/{_id}`).
//! Authentication: `x-api-key`, as the document names (Bearer and Basic work too).
//!
//! The body is `{name, url, events, dispositions?}`; `name`, `url` and `events` are required
//! (422 naming each), `events` only `CALL_LOGGED` and `CONTACT_SNOOZED` (anything else is 422
//! naming `events[i]`). The 201 answer is exactly the document's object: `_id` (the 24 hex
//! digits written into the webhook id, see [`hookledger_domain::dialect`]), `name`, `url`,
//! `events`, `dispositions`, `status`, `createdAt` and `updatedAt` (RFC 3339 in UTC with
//! milliseconds, `2024-01-15T10:00:00.000Z`).
//!
//! `dispositions` is the webhook's payload filter, so it costs no storage of its own and is
//! evaluated where every filter is (the dispatcher's matcher, on `{type, data}`):
//! `{"or": [{"!=": [{"var": "type"}, "CALL_LOGGED"]}, {"in": [{"var": "data.dispositionId"},
//! [1, 4]]}]}`. A `CALL_LOGGED` event is delivered only when its `data.dispositionId` is listed
//! (a missing id is not listed); other events pass. Reads render `dispositions` back by
//! recognising exactly that shape.
//!
//! What the document leaves open, and what we decided:
//! - **`dispositions` absent or `[]`**: no filter, every `CALL_LOGGED` is delivered, and the
//!   answer says `[]` (the example always shows the member). An empty list that filtered
//!   every call out would make a webhook subscribed to `CALL_LOGGED` that never fires; the
//!   document's "if provided" reads as "if any are given".
//! - **`status`**: the native status word, `active`, `paused` or `disabled` (the document
//!   shows only `active`; a webhook paused through `/v1` or disabled by the circuit breaker
//!   says so in the same lowercase style).
//! - **The list** is a bare JSON array of those objects, oldest first: the document's create
//!   answers the bare object with no envelope, so the list is the bare collection. It holds at
//!   most 100 webhooks; `?page=2` (and `?limit=`, at most 100) reaches further ones
//!   (hookledger's addition).
//! - **Delete** answers 200 with the object as it was just before deletion, the usual answer
//!   of an API of this style (the `_id` of a document store); a second delete is 404.
//! - **The signing secret**: the document's answer has none, and deliveries are signed
//!   Standard Webhooks like every other; the secret is read with the native
//!   `GET /v1/webhooks/wh_…/secret` (the webhook is in the native list with its `wh_` id).
//! - **A filter changed through `/v1`** into any other shape renders as `dispositions: []`
//!   here; the native API shows it as it is.

use std::sync::Arc;

use axum::Extension;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::routing::{get, post};
use axum::{Json, Router};
use chrono::{DateTime, SecondsFormat, Utc};
use hookledger_domain::dialect::Dialect;
use hookledger_domain::webhook::WebhookStatus;
use hookledger_domain::webhook::values::WebhookSpecInput;
use hookledger_projections::webhooks::WebhookRow;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::support::{PageQuery, Vendor};
use crate::AppState;
use crate::http::error::{ApiError, FieldProblem};
use crate::http::extract::{ApiJson, ApiPath, ApiQuery, TenantAuth};
use crate::http::runtime::HttpRuntime;

/// The event type whose deliveries `dispositions` filters.
const CALL_LOGGED: &str = "CALL_LOGGED";
/// Where a `CALL_LOGGED` event carries its disposition id.
const DISPOSITION_VAR: &str = "data.dispositionId";

static VENDOR: Vendor = Vendor {
    dialect: Dialect::Salesfinity,
    events: &[CALL_LOGGED, "CONTACT_SNOOZED"],
    fields: &[("filter", "dispositions")],
};

pub(super) fn router() -> Router<AppState> {
    Router::new()
        .route("/v1/webhooks", post(create).get(list))
        .route("/v1/webhooks/{id}", get(get_one).delete(remove))
}

/// The create body. Wrong JSON types are 400 naming the member (the extractor's); missing
/// members are 422 from the native validation.
#[derive(Debug, Deserialize)]
struct WebhookIn {
    name: Option<String>,
    url: Option<String>,
    events: Option<Vec<String>>,
    dispositions: Option<Vec<i64>>,
}

/// A webhook as Salesfinity shows it.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct WebhookOut {
    #[serde(rename = "_id")]
    id: String,
    name: String,
    url: String,
    events: Vec<String>,
    dispositions: Vec<i64>,
    status: String,
    created_at: String,
    updated_at: String,
}

impl WebhookOut {
    fn from_row(row: WebhookRow) -> Self {
        Self {
            id: VENDOR.vendor_id(&row),
            dispositions: dispositions(row.filter.as_ref()).unwrap_or_default(),
            created_at: timestamp(row.created_at),
            updated_at: timestamp(row.updated_at),
            name: row.name,
            url: row.url,
            events: row.events,
            status: row.status,
        }
    }
}

/// `2024-01-15T10:00:00.000Z`.
fn timestamp(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// The filter that lets a `CALL_LOGGED` event through only with one of `ids` (none for no ids).
fn dispositions_filter(ids: &[i64]) -> Option<Value> {
    (!ids.is_empty()).then(|| {
        json!({"or": [
            {"!=": [{"var": "type"}, CALL_LOGGED]},
            {"in": [{"var": DISPOSITION_VAR}, ids]},
        ]})
    })
}

/// The ids of a filter of exactly [`dispositions_filter`]'s shape; `None` for any other
/// (recognised by making the filter again from the ids it holds).
fn dispositions(filter: Option<&Value>) -> Option<Vec<i64>> {
    let filter = filter?;
    let ids = filter.pointer("/or/1/in/1")?.as_array()?;
    let ids: Vec<i64> = ids.iter().map(Value::as_i64).collect::<Option<_>>()?;
    (dispositions_filter(&ids).as_ref() == Some(filter)).then_some(ids)
}

/// 422 for every event name that is not one of Salesfinity's, naming `events[i]`.
fn unknown_events(events: &[String]) -> Vec<FieldProblem> {
    (events.iter().enumerate())
        .filter(|(_, name)| !VENDOR.knows(name))
        .map(|(i, name)| {
            FieldProblem::new(
                format!("events[{i}]"),
                format!("must be one of {}; got {name:?}", VENDOR.events.join(", ")),
            )
        })
        .collect()
}

/// `POST /v1/webhooks`: 201 with the created webhook.
async fn create(
    auth: TenantAuth,
    State(state): State<AppState>,
    headers: HeaderMap,
    ApiJson(body): ApiJson<WebhookIn>,
) -> Result<(StatusCode, Json<WebhookOut>), ApiError> {
    let mut problems = unknown_events(body.events.as_deref().unwrap_or_default());
    let input = WebhookSpecInput {
        name: body.name,
        url: body.url,
        events: body.events,
        filter: dispositions_filter(body.dispositions.as_deref().unwrap_or_default()),
        ..WebhookSpecInput::default()
    };
    let spec = match VENDOR.spec(&state, input) {
        Ok(spec) if problems.is_empty() => spec,
        Ok(_) => return Err(ApiError::Unprocessable(problems)),
        Err(ApiError::Unprocessable(more)) => {
            // An unknown name may also be malformed: one problem per field is enough.
            let named = |p: &FieldProblem| problems.iter().any(|q| q.field == p.field);
            let more: Vec<FieldProblem> = more.into_iter().filter(|p| !named(p)).collect();
            problems.extend(more);
            return Err(ApiError::Unprocessable(problems));
        }
        Err(other) => return Err(other),
    };
    let (row, _secret) = VENDOR
        .create(&state, &auth, &headers, spec, None, WebhookStatus::Active)
        .await?;
    Ok((StatusCode::CREATED, Json(WebhookOut::from_row(row))))
}

/// `GET /v1/webhooks`: the tenant's Salesfinity webhooks, a bare array, oldest first.
async fn list(
    auth: TenantAuth,
    State(state): State<AppState>,
    ApiQuery(query): ApiQuery<PageQuery>,
    Extension(runtime): Extension<Arc<HttpRuntime>>,
) -> Result<Response, ApiError> {
    let filter = query.filter();
    VENDOR
        .list_json(&state, &runtime, &auth.tenant, filter, |page| {
            (page.data.into_iter())
                .map(WebhookOut::from_row)
                .collect::<Vec<_>>()
        })
        .await
}

/// `GET /v1/webhooks/{_id}`.
async fn get_one(
    auth: TenantAuth,
    State(state): State<AppState>,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<WebhookOut>, ApiError> {
    let row = VENDOR.get(&state, &auth.tenant, &id).await?;
    Ok(Json(WebhookOut::from_row(row)))
}

/// `DELETE /v1/webhooks/{_id}`: 200 with the webhook as it was.
async fn remove(
    auth: TenantAuth,
    State(state): State<AppState>,
    headers: HeaderMap,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<WebhookOut>, ApiError> {
    let row = VENDOR.delete(&state, &auth, &headers, &id).await?;
    Ok(Json(WebhookOut::from_row(row)))
}

#[cfg(test)]
mod tests {
    use hookledger_dispatcher::matcher::Matcher;
    use hookledger_domain::ids::WebhookId;
    use hookledger_domain::webhook::values::Limits;
    use hookledger_domain::webhook::{EventPattern, Filter, TargetUrl, WebhookName, WebhookSpec};

    use super::*;

    #[test]
    fn the_filter_passes_listed_calls_and_every_other_event() {
        let limits = Limits::default();
        let mut spec = WebhookSpec::new(
            WebhookName::parse("t", &limits).unwrap(),
            TargetUrl::parse("https://example.com", false).unwrap(),
            vec![EventPattern::parse("*").unwrap()],
        );
        spec.filter = Some(Filter::parse(dispositions_filter(&[1, 4]).unwrap(), &limits).unwrap());
        let matcher = Matcher::new();
        let route = matcher.route(WebhookId::new(), &spec);
        let passes = |t: &str, data: Value| matcher.filter_holds(&route, t, &data).unwrap();
        assert!(passes(CALL_LOGGED, json!({"dispositionId": 4})));
        assert!(passes(CALL_LOGGED, json!({"dispositionId": 1})));
        assert!(!passes(CALL_LOGGED, json!({"dispositionId": 2})));
        assert!(!passes(CALL_LOGGED, json!({"dispositionId": "4"})));
        assert!(!passes(CALL_LOGGED, json!({})));
        assert!(passes("CONTACT_SNOOZED", json!({"dispositionId": 2})));
        assert!(passes("CONTACT_SNOOZED", json!({})));
    }

    #[test]
    fn dispositions_read_back_only_from_the_exact_shape() {
        assert_eq!(
            dispositions(dispositions_filter(&[1, 4]).as_ref()),
            Some(vec![1, 4])
        );
        assert_eq!(dispositions_filter(&[]), None);
        assert_eq!(dispositions(None), None);
        let other = json!({"or": [
            {"!=": [{"var": "type"}, "CONTACT_SNOOZED"]},
            {"in": [{"var": DISPOSITION_VAR}, [1]]},
        ]});
        assert_eq!(dispositions(Some(&other)), None);
        let mut extra = dispositions_filter(&[1]).unwrap();
        extra["and"] = json!([]);
        assert_eq!(dispositions(Some(&extra)), None);
        let strings = json!({"or": [
            {"!=": [{"var": "type"}, CALL_LOGGED]},
            {"in": [{"var": DISPOSITION_VAR}, ["1"]]},
        ]});
        assert_eq!(dispositions(Some(&strings)), None);
    }
}

//! The Sonar dialect: `POST /compat/sonar/webhooks` as `shared/seeds/sonar-create-webhook.txt`
//! describes it, plus hookledger's additions for a client that manages what it made:
//! `GET /webhooks` (list), `GET /webhooks/{id}` and `DELETE /webhooks/{id}`. Authentication:
//! `Authorization: Bearer <api key>`, Sonar's style (`x-api-key` and Basic work too).
//!
//! The body is `{"webhook": {name, active, settings, url, http_method}}` and all five are
//! required: a missing (or `null`) one is 422 naming `webhook.<field>`. `settings` maps the
//! document's 11 event names to `"true"`/`"false"`; the webhook subscribes to those set to
//! true. `active: false` creates the webhook paused. `http_method` is the method deliveries
//! are sent with. The answer is 201 `{"webhook": {id, name, active, settings, url, http_method,
//! created_at, updated_at}}` with `id` the webhook's int32 number (written into its webhook
//! id, see [`hookledger_domain::dialect`]).
//!
//! What the document leaves open, and what we decided:
//! - **`active`** is "boolean" in the parameter table but the string `"true"` in the example:
//!   both are accepted (`true`, `false`, `"true"`, `"false"`); anything else is 422.
//! - **`settings` values**: the strings `"true"`/`"false"` the document lists, and also the
//!   JSON booleans, for the same reason as `active`. A key that is not one of the 11 events is
//!   422 naming `webhook.settings.<key>`, as is any other value; `false` entries subscribe to
//!   nothing; at least one event must be `true` (a webhook that can never fire is refused).
//! - **`http_method`**: hookledger delivers a JSON body, so `POST`, `PUT` and `PATCH`
//!   (any letter case, stored upper case); `GET`, `DELETE` and others are 422.
//! - **Wrong JSON types** (`name: 5`, `webhook: []`) are 400 naming the member, as on every
//!   hookledger body.
//! - **The create answer echoes the five values as sent**, types included (`"active": "true"`
//!   stays a string, `"false"` settings entries stay; other members sent are ignored and not
//!   echoed), so a client sees its own request back with the `id` added, plus `created_at`
//!   and `updated_at` (RFC 3339, milliseconds, `Z`, as Rails APIs write them). **Reads**
//!   (`GET`, list) keep no record of how a value was spelled, so they render the document's
//!   types: `active` as the boolean of the parameter table (`false` for a paused or disabled
//!   webhook) and `settings` as `{"<event>": "true"}` for each subscribed event.
//! - **The list** is `{"webhooks": [...]}`, oldest first, at most 100 (`?page=` and `?limit=`
//!   reach further), in the `{"webhook": ...}` style of the create answer; **delete** is 204,
//!   and a second one 404.
//! - **The signing secret**: Sonar's answer has none; deliveries are signed Standard Webhooks,
//!   and the secret is read with the native `GET /v1/webhooks/wh_…/secret`.

use std::sync::Arc;

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::routing::{get, post};
use axum::{Extension, Json, Router};
use chrono::{DateTime, SecondsFormat, Utc};
use hookledger_domain::dialect::Dialect;
use hookledger_domain::webhook::WebhookStatus;
use hookledger_domain::webhook::values::WebhookSpecInput;
use hookledger_projections::webhooks::WebhookRow;
use serde::Deserialize;
use serde_json::{Map, Value, json};

use super::support::{PageQuery, Vendor};
use crate::AppState;
use crate::http::error::{ApiError, FieldProblem};
use crate::http::extract::{ApiJson, ApiPath, ApiQuery, TenantAuth};
use crate::http::runtime::HttpRuntime;

static VENDOR: Vendor = Vendor {
    dialect: Dialect::Sonar,
    events: &[
        "new_assigned_message",
        "new_unassigned_message",
        "outbound_message",
        "customer_subscribed",
        "customer_unsubscribed",
        "user_assignment",
        "customer_created",
        "tag_added_to_message",
        "tag_removed_from_message",
        "customer_double_opted_in",
        "customer_state_changed",
    ],
    fields: &[
        ("name", "webhook.name"),
        ("url", "webhook.url"),
        ("httpMethod", "webhook.http_method"),
        ("events", "webhook.settings"),
    ],
};

/// The methods a delivery can be sent with.
const METHODS: [&str; 3] = ["POST", "PUT", "PATCH"];

pub(super) fn router() -> Router<AppState> {
    Router::new()
        .route("/webhooks", post(create).get(list))
        .route("/webhooks/{id}", get(get_one).delete(remove))
}

/// The create body; the `webhook` object is read member by member, so each problem names
/// its member.
#[derive(Debug, Deserialize)]
struct CreateIn {
    webhook: Option<Value>,
}

/// The problems found in a body: wrong JSON types (400) and broken rules (422).
#[derive(Debug, Default)]
struct Problems {
    types: Vec<FieldProblem>,
    rules: Vec<FieldProblem>,
}

impl Problems {
    fn wrong_type(&mut self, field: &str, expected: &str) {
        (self.types).push(FieldProblem::new(field, format!("must be {expected}")));
    }

    fn rule(&mut self, field: impl Into<String>, message: impl Into<String>) {
        self.rules.push(FieldProblem::new(field, message));
    }

    /// 400 when any type is wrong, else 422 when any rule is broken.
    fn into_result(self) -> Result<(), ApiError> {
        if !self.types.is_empty() {
            return Err(ApiError::BadRequest {
                detail: "a member of the webhook has the wrong JSON type".into(),
                errors: self.types,
            });
        }
        if !self.rules.is_empty() {
            return Err(ApiError::Unprocessable(self.rules));
        }
        Ok(())
    }
}

/// `true`, `false`, `"true"` or `"false"` → the boolean; `Err(true)` for another string,
/// `Err(false)` for another JSON type.
fn flag(value: &Value) -> Result<bool, bool> {
    match value {
        Value::Bool(b) => Ok(*b),
        Value::String(s) if s == "true" => Ok(true),
        Value::String(s) if s == "false" => Ok(false),
        Value::String(_) => Err(true),
        _ => Err(false),
    }
}

/// The members of a parsed `webhook` object.
struct Parsed {
    name: Option<String>,
    url: Option<String>,
    http_method: Option<String>,
    events: Vec<String>,
    status: WebhookStatus,
}

/// Reads the five members of `webhook`, recording every problem.
fn parse(webhook: &Map<String, Value>, problems: &mut Problems) -> Parsed {
    let member = |name: &str| webhook.get(name).filter(|v| !v.is_null());
    let text = |name: &str, problems: &mut Problems| -> Option<String> {
        let field = format!("webhook.{name}");
        match member(name) {
            None => problems.rule(field, "is required"),
            Some(Value::String(s)) => return Some(s.clone()),
            Some(_) => problems.wrong_type(&field, "a string"),
        }
        None
    };
    let name = text("name", problems);
    let url = text("url", problems);
    let http_method = text("http_method", problems).and_then(|method| {
        let upper = method.to_ascii_uppercase();
        if METHODS.contains(&upper.as_str()) {
            return Some(upper);
        }
        problems.rule(
            "webhook.http_method",
            format!("must be POST, PUT or PATCH (deliveries carry a JSON body); got {method:?}"),
        );
        None
    });
    let status = match member("active").map(flag) {
        None => {
            problems.rule("webhook.active", "is required");
            WebhookStatus::Active
        }
        Some(Ok(true)) => WebhookStatus::Active,
        Some(Ok(false)) => WebhookStatus::Paused,
        Some(Err(true)) => {
            problems.rule(
                "webhook.active",
                "must be true or false (or \"true\"/\"false\")",
            );
            WebhookStatus::Active
        }
        Some(Err(false)) => {
            problems.wrong_type(
                "webhook.active",
                "a boolean or the string \"true\"/\"false\"",
            );
            WebhookStatus::Active
        }
    };
    let events = match member("settings") {
        None => {
            problems.rule("webhook.settings", "is required");
            Vec::new()
        }
        Some(Value::Object(settings)) => subscribed(settings, problems),
        Some(_) => {
            problems.wrong_type(
                "webhook.settings",
                "an object of event names to \"true\"/\"false\"",
            );
            Vec::new()
        }
    };
    Parsed {
        name,
        url,
        http_method,
        events,
        status,
    }
}

/// The events `settings` sets to true; every unknown key or value is a problem.
fn subscribed(settings: &Map<String, Value>, problems: &mut Problems) -> Vec<String> {
    let before = problems.rules.len() + problems.types.len();
    let mut events = Vec::new();
    for (key, value) in settings {
        let field = format!("webhook.settings.{key}");
        if !VENDOR.knows(key) {
            let known = VENDOR.events.join(", ");
            problems.rule(
                field,
                format!("is not a Sonar event; the events are {known}"),
            );
            continue;
        }
        match flag(value) {
            Ok(true) => events.push(key.clone()),
            Ok(false) => {}
            Err(true) => problems.rule(field, "must be \"true\" or \"false\""),
            Err(false) => problems.wrong_type(&field, "\"true\" or \"false\""),
        }
    }
    if events.is_empty() && before == problems.rules.len() + problems.types.len() {
        problems.rule(
            "webhook.settings",
            "must set at least one event to \"true\"",
        );
    }
    events
}

/// `2024-01-15T10:00:00.000Z`.
fn timestamp(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// A webhook as reads show it (see the module doc for its types).
fn render(row: &WebhookRow) -> Value {
    let settings: Map<String, Value> = (row.events.iter())
        .map(|event| (event.clone(), json!("true")))
        .collect();
    json!({
        "id": VENDOR.number(row),
        "name": row.name,
        "active": row.is_active(),
        "settings": settings,
        "url": row.url,
        "http_method": row.http_method,
        "created_at": timestamp(row.created_at),
        "updated_at": timestamp(row.updated_at),
    })
}

/// `POST /webhooks`: 201 `{"webhook": {...as sent, id}}`.
async fn create(
    auth: TenantAuth,
    State(state): State<AppState>,
    headers: HeaderMap,
    ApiJson(body): ApiJson<CreateIn>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let sent = match body.webhook {
        None | Some(Value::Null) => return Err(ApiError::field("webhook", "is required")),
        Some(Value::Object(sent)) => sent,
        Some(_) => {
            return Err(ApiError::BadRequest {
                detail: "webhook must be an object".into(),
                errors: vec![FieldProblem::new("webhook", "must be an object")],
            });
        }
    };
    let mut problems = Problems::default();
    let parsed = parse(&sent, &mut problems);
    let input = WebhookSpecInput {
        name: parsed.name,
        url: parsed.url,
        http_method: parsed.http_method,
        events: Some(parsed.events),
        ..WebhookSpecInput::default()
    };
    let spec = match VENDOR.spec(&state, input) {
        Ok(spec) => Some(spec),
        Err(ApiError::Unprocessable(more)) => {
            // Keep one problem per field: a missing member is also missing natively.
            let reported = |p: &FieldProblem| {
                let all = problems.rules.iter().chain(&problems.types);
                all.clone()
                    .any(|q| p.field.starts_with(&q.field) || q.field.starts_with(&p.field))
            };
            let more: Vec<FieldProblem> = more.into_iter().filter(|p| !reported(p)).collect();
            problems.rules.extend(more);
            None
        }
        Err(other) => return Err(other),
    };
    problems.into_result()?;
    let spec = spec.ok_or_else(|| ApiError::Internal("a valid spec went missing".into()))?;
    let (row, _secret) = VENDOR
        .create(&state, &auth, &headers, spec, None, parsed.status)
        .await?;
    let echo = |member: &str| sent.get(member).cloned().unwrap_or(Value::Null);
    let out = json!({
        "id": VENDOR.number(&row),
        "name": echo("name"),
        "active": echo("active"),
        "settings": echo("settings"),
        "url": echo("url"),
        "http_method": echo("http_method"),
        "created_at": timestamp(row.created_at),
        "updated_at": timestamp(row.updated_at),
    });
    Ok((StatusCode::CREATED, Json(json!({"webhook": out}))))
}

/// `GET /webhooks` (hookledger's addition): `{"webhooks": [...]}`, oldest first.
async fn list(
    auth: TenantAuth,
    State(state): State<AppState>,
    ApiQuery(query): ApiQuery<PageQuery>,
    Extension(runtime): Extension<Arc<HttpRuntime>>,
) -> Result<Response, ApiError> {
    let filter = query.filter();
    VENDOR
        .list_json(
            &state,
            &runtime,
            &auth.tenant,
            filter,
            |page| json!({"webhooks": page.data.iter().map(render).collect::<Vec<_>>()}),
        )
        .await
}

/// `GET /webhooks/{id}` (hookledger's addition): `{"webhook": {...}}`.
async fn get_one(
    auth: TenantAuth,
    State(state): State<AppState>,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<Value>, ApiError> {
    let row = VENDOR.get(&state, &auth.tenant, &id).await?;
    Ok(Json(json!({"webhook": render(&row)})))
}

/// `DELETE /webhooks/{id}` (hookledger's addition): 204.
async fn remove(
    auth: TenantAuth,
    State(state): State<AppState>,
    headers: HeaderMap,
    ApiPath(id): ApiPath<String>,
) -> Result<StatusCode, ApiError> {
    VENDOR.delete(&state, &auth, &headers, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn problems_of(webhook: Value) -> (Parsed, Problems) {
        let mut problems = Problems::default();
        let parsed = parse(webhook.as_object().unwrap(), &mut problems);
        (parsed, problems)
    }

    fn fields(problems: &[FieldProblem]) -> Vec<&str> {
        problems.iter().map(|p| p.field.as_str()).collect()
    }

    #[test]
    fn active_and_settings_take_booleans_and_their_strings() {
        let (parsed, problems) = problems_of(json!({"name": "n", "url": "u", "http_method": "put",
            "active": false, "settings": {"customer_created": true, "outbound_message": "false",
            "customer_state_changed": "true"}}));
        assert!(problems.rules.is_empty() && problems.types.is_empty());
        assert_eq!(parsed.status, WebhookStatus::Paused);
        assert_eq!(parsed.http_method.as_deref(), Some("PUT"));
        let mut events = parsed.events;
        events.sort_unstable();
        assert_eq!(events, ["customer_created", "customer_state_changed"]);
    }

    #[test]
    fn every_problem_names_its_member() {
        let (_, problems) = problems_of(json!({"name": 5, "http_method": "GET", "active": "yes",
            "settings": {"nope": "true", "customer_created": "maybe"}}));
        assert_eq!(fields(&problems.types), ["webhook.name"]);
        let mut rules = fields(&problems.rules);
        rules.sort_unstable();
        assert_eq!(
            rules,
            [
                "webhook.active",
                "webhook.http_method",
                "webhook.settings.customer_created",
                "webhook.settings.nope",
                "webhook.url"
            ]
        );
        let (_, problems) = problems_of(json!({"settings": {"customer_created": "false"}}));
        assert!(fields(&problems.rules).contains(&"webhook.settings"));
    }
}

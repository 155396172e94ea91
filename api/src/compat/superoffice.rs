//! SuperOffice: `POST /api/v1/Agents/Webhook/SaveWebhook` (`shared/seeds/superoffice-save-
//! webhook.txt`), one route that creates (`WebhookId` 0) or updates (an existing id) a webhook
//! and answers it whole, in PascalCase.
//!
//! What the document leaves open, and what we decided:
//! - **Create or update.** `WebhookId` absent, `null` or `0` creates; a positive int32 names
//!   the webhook to update, and one the tenant does not have is 404 (there is no "save under
//!   this id": ids are allocated, `1, 2, …` per tenant, like the document's int32 key). The id
//!   is resolved before the body is validated, like a path parameter, so the document's sample
//!   request sent verbatim to a fresh tenant is 404 (its `WebhookId` 541 does not exist); sent
//!   as a create it is 422 naming `Events[0]`, `Events[1]` (its lorem-ipsum events) and `Type`
//!   (`"et"`). A realistic create is the document's sample *response* with `WebhookId: 0`. An id
//!   that is not an int32 (negative, fractional, too large) is 422 naming `WebhookId`; a
//!   string of digits is read as the number. Numbers are never reused: a webhook deleted
//!   through the native API keeps its number.
//! - **Only this route.** The document describes SaveWebhook alone; reading, listing and
//!   deleting go through the native `/v1/webhooks` (the id there is `wh_50ff1ce0…`, see
//!   [`hookledger_domain::dialect`]).
//! - **An update is a full replace** of `Name`, `Events`, `TargetUrl`, `Headers`, `Properties`,
//!   `ErrorsEmail` and `State` (what is not sent gets its default: no headers, no properties,
//!   no email, `Active`), as "Save" of a whole entity means in SuperOffice's agents.
//! - **Required**: `Name`, `Events` (non-empty) and `TargetUrl`; each missing one is named in
//!   the 422. `Name` does not have to be unique, but a webhook needs one to be told apart in
//!   lists (the native API requires it too).
//! - **Events** are SuperOffice's `<entity>.created|changed|deleted` for the entities in
//!   [`ENTITIES`], plus `sale.sold` and `sale.lost` (the sample response's). Names are exact:
//!   no patterns, since SuperOffice has none. Anything else is 422 naming `Events[i]`.
//! - **Secret**: a non-empty `Secret` is the HMAC-SHA256 key of the deliveries: a `whsec_`
//!   secret as Standard Webhooks defines it, any other text as its raw UTF-8 bytes (the document
//!   says only "shared secret key used for generating SHA256 HMAC signature"). The signature is
//!   in the Standard Webhooks headers (`webhook-signature` over `id.timestamp.body`), as on every
//!   hookledger delivery. Absent or empty on create: a `whsec_` secret is generated. On update, an empty or absent `Secret` keeps the current one, and a different one
//!   replaces it at once, with **no grace period** (the caller chose the new key and sends it
//!   with the save; signing with the old one too would only confuse a receiver that has
//!   already switched). The answer always carries the current `Secret`.
//! - **State**: `Active`, `Stopped`, `TooManyErrors` (any case) or `1`, `2`, `3` (string or
//!   number) → active, paused, disabled; absent, `null` or empty → `Active`. `TooManyErrors`
//!   disables the webhook as the circuit breaker would (a create is made paused, then
//!   disabled, so nothing is delivered in between). The answer spells the names.
//! - **Type**: `webhook` (any case; the default when absent or empty). `crmscript` is refused
//!   with 422 (hookledger runs no CRM scripts); anything else is 422 naming `Type`.
//! - **Headers** become custom delivery headers. `Content-Type: application/json` (the
//!   sample's) is accepted and echoed, but not stored: every delivery is sent with exactly that
//!   content type already. Another `Content-Type`, or another header the delivery sets itself,
//!   is 422 naming `Headers.<name>`.
//! - **Properties** are merged at the top level of the delivered JSON body (beside `id`,
//!   `type`, `timestamp`, `data`, which they may not name). `ErrorsEmail` is told when the
//!   webhook goes to `TooManyErrors`; `""` means none, and none is answered as `""`.
//! - **Registered / Updated** are the row's times in UTC, RFC 3339 to the second
//!   (`2024-03-20T14:15:00Z`): the document says "in UTC", so no offset other than `Z`.
//! - **RegisteredAssociate / UpdatedAssociate**: the acting API key as a small Associate,
//!   `{"AssociateId": 0, "Name": "key_…", "FullName": "API key key_…", "Type":
//!   "SystemAssociate"}` (0: no SuperOffice associate id exists for a key), or `null` when the
//!   actor is not a key (the operator, the system).
//! - Read-only members in the request (`Registered`, `Updated`, `…Associate`) and unknown ones
//!   are ignored. Answers are JSON whatever `Accept` asks; errors are problem documents with
//!   PascalCase field names (the document shows none). `SO-*` and language headers are
//!   ignored.
//! - **Auth**: `Authorization: Basic base64(user:APIKEY)` as the document's sample (the user
//!   name is ignored), or `Bearer APIKEY`, or `x-api-key`.

use std::collections::BTreeMap;

use axum::extract::State;
use axum::http::HeaderMap;
use axum::routing::post;
use axum::{Json, Router};
use chrono::{DateTime, SecondsFormat, Utc};
use hookledger_domain::dialect::Dialect;
use hookledger_domain::ids::WebhookId;
use hookledger_domain::secrets::SigningSecret;
use hookledger_domain::webhook::values::{WebhookSpec, WebhookSpecInput};
use hookledger_domain::webhook::{WebhookCommand, WebhookStatus};
use hookledger_projections::webhooks::WebhookRow;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::support::{Vendor, follow_up};
use crate::AppState;
use crate::http::error::{ApiError, FieldProblem};
use crate::http::extract::{ApiJson, TenantAuth};
use crate::http::routes::support::read_row;

/// The entities whose `.created`, `.changed` and `.deleted` events a webhook can subscribe to.
#[rustfmt::skip]
const ENTITIES: &[&str] = &[
    "appointment", "associate", "contact", "document", "person", "project", "projectmember",
    "quote", "sale", "salestakeholder", "selection", "ticket",
];

/// SuperOffice's webhook events: [`ENTITIES`] × created|changed|deleted, and sale.sold|lost.
#[rustfmt::skip]
const EVENTS: &[&str] = &[
    "appointment.created", "appointment.changed", "appointment.deleted",
    "associate.created", "associate.changed", "associate.deleted",
    "contact.created", "contact.changed", "contact.deleted",
    "document.created", "document.changed", "document.deleted",
    "person.created", "person.changed", "person.deleted",
    "project.created", "project.changed", "project.deleted",
    "projectmember.created", "projectmember.changed", "projectmember.deleted",
    "quote.created", "quote.changed", "quote.deleted",
    "sale.created", "sale.changed", "sale.deleted", "sale.sold", "sale.lost",
    "salestakeholder.created", "salestakeholder.changed", "salestakeholder.deleted",
    "selection.created", "selection.changed", "selection.deleted",
    "ticket.created", "ticket.changed", "ticket.deleted",
];

const VENDOR: Vendor = Vendor {
    dialect: Dialect::Superoffice,
    events: EVENTS,
    fields: &[
        ("name", "Name"),
        ("url", "TargetUrl"),
        ("events", "Events"),
        ("headers", "Headers"),
        ("properties", "Properties"),
        ("errorsEmail", "ErrorsEmail"),
        ("status", "State"),
        ("secret", "Secret"),
    ],
};

pub(super) fn router() -> Router<AppState> {
    Router::new().route("/api/v1/Agents/Webhook/SaveWebhook", post(save))
}

/// The request body. Members the document marks read-only are not read.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct SaveIn {
    webhook_id: Option<Value>,
    name: Option<String>,
    events: Option<Vec<String>>,
    target_url: Option<String>,
    secret: Option<String>,
    state: Option<Value>,
    #[serde(rename = "Type")]
    kind: Option<String>,
    headers: Option<BTreeMap<String, String>>,
    properties: Option<Value>,
    errors_email: Option<String>,
}

/// The answer: the saved webhook, the document's 14 members in its order.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
struct WebhookOut {
    webhook_id: i32,
    name: String,
    events: Vec<String>,
    target_url: String,
    secret: String,
    state: &'static str,
    #[serde(rename = "Type")]
    kind: &'static str,
    headers: Value,
    properties: Value,
    registered: String,
    registered_associate: Option<Associate>,
    updated: String,
    updated_associate: Option<Associate>,
    errors_email: String,
}

/// Who saved the webhook, as SuperOffice's Associate (only the members we can fill).
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
struct Associate {
    associate_id: i32,
    name: String,
    full_name: String,
    #[serde(rename = "Type")]
    kind: &'static str,
}

/// A validated save.
struct Save {
    spec: WebhookSpec,
    status: WebhookStatus,
    /// `None`: generate (create) or keep (update).
    secret: Option<SigningSecret>,
    /// A `Content-Type: application/json` header that was sent, echoed but not stored.
    content_type: Option<(String, String)>,
}

/// Save a webhook: create when `WebhookId` is 0, else replace the one it names.
async fn save(
    auth: TenantAuth,
    State(state): State<AppState>,
    headers: HeaderMap,
    ApiJson(body): ApiJson<SaveIn>,
) -> Result<Json<WebhookOut>, ApiError> {
    let existing = match webhook_number(body.webhook_id.as_ref())? {
        Some(n) => Some(VENDOR.get(&state, &auth.tenant, &n.to_string()).await?),
        None => None,
    };
    let save = parse(&state, body)?;
    let content_type = save.content_type.clone();
    let (row, secret) = match existing {
        None => create(&state, &auth, &headers, save).await?,
        Some(row) => update(&state, &auth, &headers, &row, save).await?,
    };
    Ok(Json(render(&row, &secret, content_type)))
}

async fn create(
    state: &AppState,
    auth: &TenantAuth,
    headers: &HeaderMap,
    save: Save,
) -> Result<(WebhookRow, SigningSecret), ApiError> {
    let disable = save.status == WebhookStatus::Disabled;
    let first = if disable {
        WebhookStatus::Paused
    } else {
        save.status
    };
    let (mut row, secret) =
        (VENDOR.create(state, auth, headers, save.spec, save.secret, first)).await?;
    if disable {
        let id = row_id(&row)?;
        let headers = follow_up(headers, "state");
        row = (VENDOR.replace(
            state,
            auth,
            &headers,
            &id,
            None,
            Some(WebhookStatus::Disabled),
        ))
        .await?;
    }
    Ok((row, secret))
}

async fn update(
    state: &AppState,
    auth: &TenantAuth,
    headers: &HeaderMap,
    existing: &WebhookRow,
    save: Save,
) -> Result<(WebhookRow, SigningSecret), ApiError> {
    let id = row_id(existing)?;
    let mut row = (VENDOR.replace(
        state,
        auth,
        headers,
        &id,
        Some(save.spec),
        Some(save.status),
    ))
    .await?;
    let current = VENDOR.secret(state, &auth.tenant, &id).await?;
    let secret = match save.secret {
        Some(given) if given != current => {
            let command = WebhookCommand::RotateSecret {
                secret: given.clone(),
                now: Utc::now(),
                grace: chrono::Duration::zero(),
            };
            let headers = follow_up(headers, "secret");
            let version = VENDOR.execute(state, auth, &headers, &id, command).await?;
            row = read_row(state, &auth.tenant, &id, version).await?;
            given
        }
        _ => current,
    };
    Ok((row, secret))
}

fn row_id(row: &WebhookRow) -> Result<WebhookId, ApiError> {
    WebhookId::parse(&row.id)
        .map_err(|e| ApiError::Internal(format!("a webhook row has a malformed id: {e}")))
}

/// `WebhookId`: `None` to create (absent, null, 0), `Some(n)` to update.
fn webhook_number(raw: Option<&Value>) -> Result<Option<i32>, ApiError> {
    let n = match raw {
        None | Some(Value::Null) => return Ok(None),
        Some(Value::Number(n)) => n.as_i64(),
        Some(Value::String(s)) => s.trim().parse::<i64>().ok(),
        Some(_) => None,
    };
    match n.map(i32::try_from) {
        Some(Ok(0)) => Ok(None),
        Some(Ok(n)) if n > 0 => Ok(Some(n)),
        _ => Err(ApiError::field(
            "WebhookId",
            "must be an int32: 0 creates a webhook, a positive id updates it",
        )),
    }
}

/// Validates the whole body, reporting every problem at once.
fn parse(state: &AppState, body: SaveIn) -> Result<Save, ApiError> {
    let mut problems = Vec::new();
    if let Err(problem) = check_type(body.kind.as_deref()) {
        problems.push(problem);
    }
    let status = (parse_state(body.state.as_ref()))
        .map_err(|p| problems.push(p))
        .ok();
    let secret = match body.secret.as_deref() {
        None | Some("") => Some(None),
        Some(raw) => SigningSecret::parse_any(raw)
            .map(Some)
            .map_err(|e| problems.push(FieldProblem::from(&e.to_field_error("Secret"))))
            .ok(),
    };
    for (i, event) in body.events.iter().flatten().enumerate() {
        if !VENDOR.knows(event) {
            problems.push(FieldProblem::new(
                format!("Events[{i}]"),
                format!(
                    "{event:?} is not a SuperOffice webhook event: events are <entity>.created, \
                     .changed or .deleted for {}, and sale.sold, sale.lost",
                    ENTITIES.join(", ")
                ),
            ));
        }
    }
    let mut headers = body.headers;
    let content_type = headers.as_mut().and_then(take_json_content_type);
    let input = WebhookSpecInput {
        name: body.name,
        url: body.target_url,
        events: body.events,
        headers,
        properties: body.properties,
        errors_email: body.errors_email.filter(|e| !e.is_empty()),
        ..WebhookSpecInput::default()
    };
    let spec = match VENDOR.spec(state, input) {
        Ok(spec) => Some(spec),
        Err(ApiError::Unprocessable(more)) => {
            problems.extend(more);
            None
        }
        Err(other) => return Err(other),
    };
    match (spec, status, secret) {
        (Some(spec), Some(status), Some(secret)) if problems.is_empty() => Ok(Save {
            spec,
            status,
            secret,
            content_type,
        }),
        _ => Err(ApiError::Unprocessable(problems)),
    }
}

/// `Type`: only `webhook` is run here.
fn check_type(kind: Option<&str>) -> Result<(), FieldProblem> {
    match kind.map(str::trim) {
        None | Some("") => Ok(()),
        Some(k) if k.eq_ignore_ascii_case("webhook") => Ok(()),
        Some(k) if k.eq_ignore_ascii_case("crmscript") => Err(FieldProblem::new(
            "Type",
            "crmscript webhooks invoke CRM scripts inside SuperOffice, and hookledger runs no \
             CRM scripts; use Type \"webhook\" with an HTTP TargetUrl",
        )),
        Some(_) => Err(FieldProblem::new(
            "Type",
            "must be \"webhook\" (HTTP POST notifications)",
        )),
    }
}

/// `State` as a status; absent, `null` or empty is `Active`.
fn parse_state(raw: Option<&Value>) -> Result<WebhookStatus, FieldProblem> {
    let text = match raw {
        None | Some(Value::Null) => return Ok(WebhookStatus::Active),
        Some(Value::String(s)) => s.trim().to_ascii_lowercase(),
        Some(Value::Number(n)) => n.to_string(),
        Some(_) => String::new(),
    };
    match text.as_str() {
        "" if raw.is_some_and(Value::is_string) => Ok(WebhookStatus::Active),
        "active" | "1" => Ok(WebhookStatus::Active),
        "stopped" | "2" => Ok(WebhookStatus::Paused),
        "toomanyerrors" | "3" => Ok(WebhookStatus::Disabled),
        _ => Err(FieldProblem::new(
            "State",
            "must be Active, Stopped or TooManyErrors (or 1, 2, 3)",
        )),
    }
}

/// Removes a `Content-Type` header whose media type is `application/json` (what deliveries
/// are sent with anyway) and returns it; any other `Content-Type` stays, to be refused.
fn take_json_content_type(headers: &mut BTreeMap<String, String>) -> Option<(String, String)> {
    let name = headers
        .iter()
        .find(|(name, value)| {
            let essence = value.split(';').next().unwrap_or("").trim();
            name.eq_ignore_ascii_case("content-type")
                && essence.eq_ignore_ascii_case("application/json")
        })
        .map(|(name, _)| name.clone())?;
    headers.remove_entry(&name)
}

fn render(
    row: &WebhookRow,
    secret: &SigningSecret,
    content_type: Option<(String, String)>,
) -> WebhookOut {
    let mut headers = row.headers.clone();
    if let (Some((name, value)), Value::Object(map)) = (content_type, &mut headers) {
        map.insert(name, Value::String(value));
    }
    WebhookOut {
        webhook_id: VENDOR.number(row),
        name: row.name.clone(),
        events: row.events.clone(),
        target_url: row.url.clone(),
        secret: secret.expose().to_owned(),
        state: match row.status.as_str() {
            "paused" => "Stopped",
            "disabled" => "TooManyErrors",
            _ => "Active",
        },
        kind: "webhook",
        headers,
        properties: row.properties.clone(),
        registered: time(row.created_at),
        registered_associate: associate(&row.created_by),
        updated: time(row.updated_at),
        updated_associate: associate(&row.updated_by),
        errors_email: row.errors_email.clone().unwrap_or_default(),
    }
}

fn time(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// The actor as an Associate when it is an API key (`key_…`).
fn associate(actor: &str) -> Option<Associate> {
    actor.starts_with("key_").then(|| Associate {
        associate_id: 0,
        name: actor.to_owned(),
        full_name: format!("API key {actor}"),
        kind: "SystemAssociate",
    })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn the_event_list_is_every_entity_created_changed_deleted_and_sale_sold_lost() {
        let mut expected: Vec<String> = (ENTITIES.iter())
            .flat_map(|e| ["created", "changed", "deleted"].map(|a| format!("{e}.{a}")))
            .chain(["sale.sold".to_owned(), "sale.lost".to_owned()])
            .collect();
        let mut listed: Vec<String> = EVENTS.iter().map(|e| (*e).to_owned()).collect();
        expected.sort();
        listed.sort();
        assert_eq!(listed, expected);
    }

    #[test]
    fn state_and_webhook_id_are_read_in_their_every_documented_form() {
        let state = |v: Value| parse_state(Some(&v)).ok();
        assert_eq!(state(json!("stopped")), Some(WebhookStatus::Paused));
        assert_eq!(state(json!("3")), Some(WebhookStatus::Disabled));
        assert_eq!(state(json!("")), Some(WebhookStatus::Active));
        for bad in [json!(0), json!("Paused"), json!(true), json!(1.0)] {
            assert!(state(bad.clone()).is_none(), "{bad}");
        }
        let id = |v: Value| webhook_number(Some(&v)).ok();
        assert_eq!((id(json!(0)), id(json!("7"))), (Some(None), Some(Some(7))));
        for bad in [json!(-1), json!(2_147_483_648_i64), json!(1.5), json!("x")] {
            assert!(id(bad.clone()).is_none(), "{bad}");
        }
    }
}

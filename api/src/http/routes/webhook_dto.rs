//! The JSON shapes of `/v1/webhooks`: what a client sends ([`WebhookIn`], [`WebhookPatchIn`])
//! and what it gets back ([`WebhookOut`]), with their OpenAPI schemas.
//!
//! Input fields are all optional in Rust, so that a missing required field or an out-of-range
//! number is a 422 naming the field (from the domain's validation), while a member of the wrong
//! JSON type, `null` included where it is not nullable, is a 400 from serde naming it
//! ([`super::members`]); the schemas still say which fields are required. Nullable on create
//! and replace: `description`, `filter`, `errorsEmail`; in a patch, `null` also resets a field
//! with a default, but never `name`, `url` or `events`.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use hookledger_domain::webhook::WebhookStatus;
use hookledger_domain::webhook::values::{WebhookPatchInput, WebhookSpecInput};
use hookledger_projections::webhooks::WebhookRow;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use utoipa::ToSchema;

use super::members::{not_null, present};
use crate::http::error::ApiError;

/// The HTTP method deliveries are sent with.
#[derive(ToSchema)]
#[allow(dead_code, clippy::upper_case_acronyms)]
pub(super) enum HttpMethodName {
    POST,
    PUT,
    PATCH,
}

/// How retry delays grow.
#[derive(ToSchema)]
#[schema(rename_all = "lowercase")]
#[allow(dead_code)]
pub(super) enum RetryPolicyName {
    Exponential,
    Fixed,
}

/// A status a client may ask for (`disabled` is set by hookledger after too many errors).
#[derive(ToSchema)]
#[schema(rename_all = "lowercase")]
#[allow(dead_code)]
pub(super) enum RequestedStatus {
    Active,
    Paused,
}

/// A webhook's status.
#[derive(ToSchema)]
#[schema(rename_all = "lowercase")]
#[allow(dead_code)]
pub(super) enum WebhookStatusName {
    Active,
    Paused,
    Disabled,
}

/// A webhook to create (`POST`), or the whole of one (`PUT`; omitted fields take defaults).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(example = json!({
    "name": "CRM sync", "url": "https://crm.example.com/hooks", "events": ["lead.*"],
    "headers": {"X-Env": "prod"}, "properties": {"source": "hookledger"}, "retryAttempts": 5
}))]
pub(super) struct WebhookIn {
    /// Display name, 1 to `limits.max_name` (200) characters after trimming.
    #[schema(value_type = String, min_length = 1, max_length = 200, example = "CRM sync")]
    #[serde(default, deserialize_with = "not_null")]
    #[schema(required = true)]
    pub(super) name: Option<String>,
    /// Free text, at most `limits.max_description` (2000) characters.
    #[schema(max_length = 2000)]
    pub(super) description: Option<String>,
    /// Absolute http(s) URL. Private, loopback and link-local targets are refused unless the
    /// operator allows them.
    #[schema(value_type = String, example = "https://crm.example.com/hooks")]
    #[serde(default, deserialize_with = "not_null")]
    #[schema(required = true)]
    pub(super) url: Option<String>,
    /// Default `POST`.
    #[schema(value_type = Option<HttpMethodName>)]
    #[serde(default, deserialize_with = "not_null")]
    pub(super) http_method: Option<String>,
    /// Event types or patterns (`lead.*`, `*`) of the tenant's catalog; 1 to
    /// `limits.max_event_patterns` (50).
    #[schema(value_type = Vec<String>, min_items = 1, max_items = 50, example = json!(["lead.*"]))]
    #[serde(default, deserialize_with = "not_null")]
    #[schema(required = true)]
    pub(super) events: Option<Vec<String>>,
    /// A JSONLogic expression evaluated on `{type, data}`; only events for which it is true
    /// are delivered.
    #[schema(value_type = Option<Object>)]
    pub(super) filter: Option<Map<String, Value>>,
    /// Custom headers added to each delivery (signature, `Host`, `Content-Length` and
    /// hop-by-hop headers are refused).
    #[serde(default, deserialize_with = "not_null")]
    pub(super) headers: Option<BTreeMap<String, String>>,
    /// JSON values merged into the body of each delivery.
    #[schema(value_type = Option<Object>)]
    #[serde(default, deserialize_with = "not_null")]
    pub(super) properties: Option<Map<String, Value>>,
    /// Retries after the first attempt, 0..20 (default 3).
    #[schema(minimum = 0, maximum = 20)]
    #[serde(default, deserialize_with = "not_null")]
    pub(super) retry_attempts: Option<i64>,
    /// First retry delay in seconds, 0..86400 (default 60).
    #[schema(minimum = 0, maximum = 86400)]
    #[serde(default, deserialize_with = "not_null")]
    pub(super) retry_delay_seconds: Option<i64>,
    /// Default `exponential`.
    #[schema(value_type = Option<RetryPolicyName>)]
    #[serde(default, deserialize_with = "not_null")]
    pub(super) retry_policy: Option<String>,
    /// Per-attempt timeout, 1..60 seconds (default 15).
    #[schema(minimum = 1, maximum = 60)]
    #[serde(default, deserialize_with = "not_null")]
    pub(super) timeout_seconds: Option<i64>,
    /// Told when the webhook is disabled for too many errors.
    #[schema(format = Email)]
    pub(super) errors_email: Option<String>,
    /// `false` creates the webhook paused (default `true`).
    #[serde(default, deserialize_with = "not_null")]
    pub(super) is_active: Option<bool>,
    /// Same as `isActive`, by name.
    #[schema(value_type = Option<RequestedStatus>)]
    #[serde(default, deserialize_with = "not_null")]
    pub(super) status: Option<String>,
    /// `whsec_` + base64 of 24..64 bytes; generated when absent. Only on `POST`.
    #[serde(default, deserialize_with = "not_null")]
    pub(super) secret: Option<String>,
}

impl WebhookIn {
    /// The spec fields, for the domain's validation.
    pub(super) fn spec(&mut self) -> WebhookSpecInput {
        WebhookSpecInput {
            name: self.name.take(),
            description: self.description.take(),
            url: self.url.take(),
            http_method: self.http_method.take(),
            events: self.events.take(),
            filter: self.filter.take().map(Value::Object),
            headers: self.headers.take(),
            properties: self.properties.take().map(Value::Object),
            retry_attempts: self.retry_attempts,
            retry_delay_seconds: self.retry_delay_seconds,
            retry_policy: self.retry_policy.take(),
            timeout_seconds: self.timeout_seconds,
            errors_email: self.errors_email.take(),
        }
    }
}

/// A partial update: absent members stay, `null` clears a field or resets it to its default.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(example = json!({"name": "CRM sync v2", "retryAttempts": 10, "filter": null}))]
pub(super) struct WebhookPatchIn {
    #[serde(default, deserialize_with = "not_null")]
    #[schema(value_type = Option<String>, min_length = 1, max_length = 200)]
    name: Option<String>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>, max_length = 2000)]
    description: Option<Option<String>>,
    #[serde(default, deserialize_with = "not_null")]
    #[schema(value_type = Option<String>)]
    url: Option<String>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<HttpMethodName>)]
    http_method: Option<Option<String>>,
    #[serde(default, deserialize_with = "not_null")]
    #[schema(value_type = Option<Vec<String>>, min_items = 1, max_items = 50)]
    events: Option<Vec<String>>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<Object>)]
    filter: Option<Option<Map<String, Value>>>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<BTreeMap<String, String>>)]
    headers: Option<Option<BTreeMap<String, String>>>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<Object>)]
    properties: Option<Option<Map<String, Value>>>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<i64>, minimum = 0, maximum = 20)]
    retry_attempts: Option<Option<i64>>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<i64>, minimum = 0, maximum = 86400)]
    retry_delay_seconds: Option<Option<i64>>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<RetryPolicyName>)]
    retry_policy: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<i64>, minimum = 1, maximum = 60)]
    timeout_seconds: Option<Option<i64>>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>, format = Email)]
    errors_email: Option<Option<String>>,
    /// `false` pauses, `true` activates (and re-enables a disabled webhook).
    #[serde(default, deserialize_with = "not_null")]
    pub(super) is_active: Option<bool>,
    #[schema(value_type = Option<RequestedStatus>)]
    #[serde(default, deserialize_with = "not_null")]
    pub(super) status: Option<String>,
}

impl WebhookPatchIn {
    pub(super) fn patch(&mut self) -> WebhookPatchInput {
        WebhookPatchInput {
            name: self.name.take().map(Some),
            description: self.description.take(),
            url: self.url.take().map(Some),
            http_method: self.http_method.take(),
            events: self.events.take().map(Some),
            filter: (self.filter.take()).map(|f| f.map(Value::Object)),
            headers: self.headers.take(),
            properties: (self.properties.take()).map(|p| p.map(Value::Object)),
            retry_attempts: self.retry_attempts.take(),
            retry_delay_seconds: self.retry_delay_seconds.take(),
            retry_policy: self.retry_policy.take(),
            timeout_seconds: self.timeout_seconds.take(),
            errors_email: self.errors_email.take(),
        }
    }
}

/// A webhook. Its secret appears only in the answer to its creation.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(example = json!({
    "id": "wh_0190f1d2c3b4a5968778695a4b3c2d1f", "name": "CRM sync",
    "url": "https://crm.example.com/hooks", "httpMethod": "POST", "events": ["lead.*"],
    "filter": null, "headers": {"X-Env": "prod"}, "properties": {}, "isActive": true,
    "status": "active", "retryAttempts": 3, "retryDelaySeconds": 60,
    "retryPolicy": "exponential", "timeoutSeconds": 15, "errorsEmail": null,
    "createdAt": "2025-01-01T00:00:00Z", "updatedAt": "2025-01-01T00:00:00Z",
    "createdBy": "key_0190f1d2c3b4a5968778695a4b3c2d20",
    "updatedBy": "key_0190f1d2c3b4a5968778695a4b3c2d20", "version": 42
}))]
pub(crate) struct WebhookOut {
    /// `wh_` + 32 hex digits (UUIDv7: sorts by creation).
    pub(super) id: String,
    pub(super) name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) description: Option<String>,
    pub(super) url: String,
    #[schema(value_type = HttpMethodName)]
    pub(super) http_method: String,
    pub(super) events: Vec<String>,
    #[schema(value_type = Option<Object>)]
    pub(super) filter: Option<Value>,
    #[schema(value_type = BTreeMap<String, String>)]
    pub(super) headers: Value,
    #[schema(value_type = Object)]
    pub(super) properties: Value,
    /// `status == "active"`.
    pub(super) is_active: bool,
    #[schema(value_type = WebhookStatusName)]
    pub(super) status: String,
    pub(super) retry_attempts: i64,
    pub(super) retry_delay_seconds: i64,
    #[schema(value_type = RetryPolicyName)]
    pub(super) retry_policy: String,
    pub(super) timeout_seconds: i64,
    pub(super) errors_email: Option<String>,
    pub(super) created_at: DateTime<Utc>,
    pub(super) updated_at: DateTime<Utc>,
    /// The API key (`key_…`) or actor (`operator`, `system`) that created it.
    pub(super) created_by: String,
    pub(super) updated_by: String,
    /// The webhook's ledger sequence; also its `ETag`.
    pub(super) version: i64,
    /// `whsec_…`: only in the answer to `POST /v1/webhooks`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) secret: Option<String>,
}

impl From<WebhookRow> for WebhookOut {
    fn from(r: WebhookRow) -> Self {
        Self {
            is_active: r.is_active(),
            id: r.id,
            name: r.name,
            description: r.description,
            url: r.url,
            http_method: r.http_method,
            events: r.events,
            filter: r.filter,
            headers: r.headers,
            properties: r.properties,
            status: r.status,
            retry_attempts: r.retry_attempts.into(),
            retry_delay_seconds: r.retry_delay_seconds.into(),
            retry_policy: r.retry_policy,
            timeout_seconds: r.timeout_seconds.into(),
            errors_email: r.errors_email,
            created_at: r.created_at,
            updated_at: r.updated_at,
            created_by: r.created_by,
            updated_by: r.updated_by,
            version: r.version,
            secret: None,
        }
    }
}

/// `status` / `isActive` of a request body, as the status the client asks for.
pub(super) fn requested_status(
    status: Option<&str>,
    is_active: Option<bool>,
) -> Result<Option<WebhookStatus>, ApiError> {
    let from_status = match status {
        None => None,
        Some("active") => Some(WebhookStatus::Active),
        Some("paused") => Some(WebhookStatus::Paused),
        Some(other) => {
            return Err(ApiError::field(
                "status",
                format!(
                    "must be \"active\" or \"paused\" (\"disabled\" is set by hookledger itself); got {other:?}"
                ),
            ));
        }
    };
    let from_flag = is_active.map(|active| {
        if active {
            WebhookStatus::Active
        } else {
            WebhookStatus::Paused
        }
    });
    match (from_status, from_flag) {
        (Some(a), Some(b)) if a != b => Err(ApiError::field("isActive", "contradicts status")),
        (a, b) => Ok(a.or(b)),
    }
}

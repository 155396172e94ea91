//! The webhook's specification: everything a user configures, validated as one value.
//!
//! Three forms, one per direction:
//! - [`WebhookSpecInput`]: the raw JSON the API deserializes (every field optional, numbers as
//!   `i64`) so that a missing field or an out-of-range number is a `422` with a field path, not a
//!   `400` from serde. [`WebhookSpec::from_input`] turns it into a spec or into **every** field
//!   error at once.
//! - [`WebhookSpec`]: the validated value events carry (`webhook.created`, `webhook.updated`).
//! - [`WebhookPatch`]: a PATCH, built from [`WebhookPatchInput`], which tells an absent member
//!   (leave it) from `null` (clear it, or reset it to its default).
//!
//! Status (`isActive`, `status`) is not part of the spec: pausing and resuming are commands.

use std::collections::BTreeMap;

use serde::{Deserialize, Deserializer, Serialize};
use serde_json::Value;

use super::fields::FieldParser;
use super::{
    CustomHeaders, Description, EmailAddress, EventPattern, Filter, HttpMethod, Limits, Properties,
    RetryPolicyKind, RetrySettings, TargetUrl, TimeoutSeconds, WebhookName,
};
use crate::validation::FieldError;

/// A validated webhook configuration. JSON: camelCase, retry settings flattened.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WebhookSpec {
    /// Display name.
    pub name: WebhookName,
    /// Free text.
    #[serde(default)]
    pub description: Option<Description>,
    /// Where deliveries go.
    pub url: TargetUrl,
    /// How deliveries are sent.
    #[serde(default)]
    pub http_method: HttpMethod,
    /// Event types and patterns subscribed to; never empty.
    pub events: Vec<EventPattern>,
    /// Only events for which this JSONLogic expression holds are delivered.
    #[serde(default)]
    pub filter: Option<Filter>,
    /// Added to every delivery request.
    #[serde(default)]
    pub headers: CustomHeaders,
    /// Merged into every delivery body.
    #[serde(default)]
    pub properties: Properties,
    /// `retryAttempts`, `retryDelaySeconds`, `retryPolicy`.
    #[serde(flatten)]
    pub retry: RetrySettings,
    /// Per-attempt timeout.
    #[serde(default)]
    pub timeout_seconds: TimeoutSeconds,
    /// Told when the webhook is disabled for too many errors.
    #[serde(default)]
    pub errors_email: Option<EmailAddress>,
}

/// The raw webhook fields as a client sends them (`POST` and `PUT`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WebhookSpecInput {
    pub name: Option<String>,
    pub description: Option<String>,
    pub url: Option<String>,
    pub http_method: Option<String>,
    pub events: Option<Vec<String>>,
    pub filter: Option<Value>,
    pub headers: Option<BTreeMap<String, String>>,
    pub properties: Option<Value>,
    pub retry_attempts: Option<i64>,
    pub retry_delay_seconds: Option<i64>,
    pub retry_policy: Option<String>,
    pub timeout_seconds: Option<i64>,
    pub errors_email: Option<String>,
}

/// The raw fields of a `PATCH`: `None` = absent (unchanged), `Some(None)` = `null`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WebhookPatchInput {
    #[serde(default, deserialize_with = "present")]
    pub name: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    pub description: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    pub url: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    pub http_method: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    pub events: Option<Option<Vec<String>>>,
    #[serde(default, deserialize_with = "present")]
    pub filter: Option<Option<Value>>,
    #[serde(default, deserialize_with = "present")]
    pub headers: Option<Option<BTreeMap<String, String>>>,
    #[serde(default, deserialize_with = "present")]
    pub properties: Option<Option<Value>>,
    #[serde(default, deserialize_with = "present")]
    pub retry_attempts: Option<Option<i64>>,
    #[serde(default, deserialize_with = "present")]
    pub retry_delay_seconds: Option<Option<i64>>,
    #[serde(default, deserialize_with = "present")]
    pub retry_policy: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    pub timeout_seconds: Option<Option<i64>>,
    #[serde(default, deserialize_with = "present")]
    pub errors_email: Option<Option<String>>,
}

/// Runs only for members present in the JSON, so `Some(None)` means `null` and `None` (the
/// `default`) means absent.
fn present<'de, D, T>(deserializer: D) -> Result<Option<Option<T>>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(deserializer).map(Some)
}

/// A validated partial update. `None` leaves a field as it is; for nullable fields
/// `Some(None)` clears it. A `null` on a field with a default was turned into that default.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct WebhookPatch {
    pub name: Option<WebhookName>,
    pub description: Option<Option<Description>>,
    pub url: Option<TargetUrl>,
    pub http_method: Option<HttpMethod>,
    pub events: Option<Vec<EventPattern>>,
    pub filter: Option<Option<Filter>>,
    pub headers: Option<CustomHeaders>,
    pub properties: Option<Properties>,
    pub retry_attempts: Option<u8>,
    pub retry_delay_seconds: Option<u32>,
    pub retry_policy: Option<RetryPolicyKind>,
    pub timeout_seconds: Option<TimeoutSeconds>,
    pub errors_email: Option<Option<EmailAddress>>,
}

impl WebhookSpec {
    /// A spec with the given required fields and every optional one at its default.
    pub fn new(name: WebhookName, url: TargetUrl, events: Vec<EventPattern>) -> Self {
        Self {
            name,
            description: None,
            url,
            http_method: HttpMethod::default(),
            events,
            filter: None,
            headers: CustomHeaders::default(),
            properties: Properties::default(),
            retry: RetrySettings::default(),
            timeout_seconds: TimeoutSeconds::default(),
            errors_email: None,
        }
    }

    /// Validates a full input: `name`, `url` and a non-empty `events` are required, omitted
    /// optional fields get their defaults. Returns every field error, not just the first.
    pub fn from_input(
        input: WebhookSpecInput,
        limits: &Limits,
        allow_private: bool,
    ) -> Result<Self, Vec<FieldError>> {
        let mut p = FieldParser::new(limits, allow_private);
        let name = p.required("name", input.name).and_then(|s| p.name(&s));
        let url = p.required("url", input.url).and_then(|s| p.url(&s));
        let events = p
            .required("events", input.events)
            .and_then(|l| p.events(&l));
        let description = input.description.and_then(|s| p.description(&s));
        let http_method = input.http_method.and_then(|s| p.http_method(&s));
        let filter = input.filter.and_then(|v| p.filter(v));
        let headers = input.headers.and_then(|m| p.headers(m));
        let properties = input.properties.and_then(|v| p.properties(v));
        let attempts = input.retry_attempts.and_then(|n| p.retry_attempts(n));
        let delay_seconds = (input.retry_delay_seconds).and_then(|n| p.retry_delay_seconds(n));
        let policy = input.retry_policy.and_then(|s| p.retry_policy(&s));
        let timeout_seconds = input.timeout_seconds.and_then(|n| p.timeout_seconds(n));
        let errors_email = input.errors_email.and_then(|s| p.errors_email(&s));
        let (Some(name), Some(url), Some(events)) = (name, url, events) else {
            return Err(p.errors.0);
        };
        let defaults = RetrySettings::default();
        let spec = Self {
            name,
            description,
            url,
            http_method: http_method.unwrap_or_default(),
            events,
            filter,
            headers: headers.unwrap_or_default(),
            properties: properties.unwrap_or_default(),
            retry: RetrySettings {
                attempts: attempts.unwrap_or(defaults.attempts),
                delay_seconds: delay_seconds.unwrap_or(defaults.delay_seconds),
                policy: policy.unwrap_or_default(),
            },
            timeout_seconds: timeout_seconds.unwrap_or_default(),
            errors_email,
        };
        p.errors.into_result(spec)
    }

    /// This spec with `patch` applied, and the camelCase names of the fields that changed
    /// (empty when the patch changes nothing).
    pub fn apply_patch(&self, patch: &WebhookPatch) -> (WebhookSpec, Vec<&'static str>) {
        fn set<T: Clone>(slot: &mut T, value: &Option<T>) {
            if let Some(value) = value {
                *slot = value.clone();
            }
        }
        let mut next = self.clone();
        set(&mut next.name, &patch.name);
        set(&mut next.description, &patch.description);
        set(&mut next.url, &patch.url);
        set(&mut next.http_method, &patch.http_method);
        set(&mut next.events, &patch.events);
        set(&mut next.filter, &patch.filter);
        set(&mut next.headers, &patch.headers);
        set(&mut next.properties, &patch.properties);
        set(&mut next.retry.attempts, &patch.retry_attempts);
        set(&mut next.retry.delay_seconds, &patch.retry_delay_seconds);
        set(&mut next.retry.policy, &patch.retry_policy);
        set(&mut next.timeout_seconds, &patch.timeout_seconds);
        set(&mut next.errors_email, &patch.errors_email);
        let changed = self.changed_fields(&next);
        (next, changed)
    }

    /// The camelCase names of the fields in which `other` differs from this spec, in spec
    /// order.
    pub fn changed_fields(&self, other: &WebhookSpec) -> Vec<&'static str> {
        [
            ("name", self.name != other.name),
            ("description", self.description != other.description),
            ("url", self.url != other.url),
            ("httpMethod", self.http_method != other.http_method),
            ("events", self.events != other.events),
            ("filter", self.filter != other.filter),
            ("headers", self.headers != other.headers),
            ("properties", self.properties != other.properties),
            ("retryAttempts", self.retry.attempts != other.retry.attempts),
            (
                "retryDelaySeconds",
                self.retry.delay_seconds != other.retry.delay_seconds,
            ),
            ("retryPolicy", self.retry.policy != other.retry.policy),
            (
                "timeoutSeconds",
                self.timeout_seconds != other.timeout_seconds,
            ),
            ("errorsEmail", self.errors_email != other.errors_email),
        ]
        .into_iter()
        .filter_map(|(field, differs)| differs.then_some(field))
        .collect()
    }
}

impl WebhookPatch {
    /// Validates the present members of a PATCH. `null` on `name`, `url` or `events` is
    /// `Required`; on `description`, `filter` or `errorsEmail` it clears the field; on any other
    /// field it resets it to its default (no headers, no properties, POST, 3 × 60 s exponential,
    /// 15 s).
    pub fn from_input(
        input: WebhookPatchInput,
        limits: &Limits,
        allow_private: bool,
    ) -> Result<Self, Vec<FieldError>> {
        let mut p = FieldParser::new(limits, allow_private);
        let defaults = RetrySettings::default();
        let patch = Self {
            name: input
                .name
                .and_then(|v| p.required("name", v))
                .and_then(|s| p.name(&s)),
            description: input.description.map(|v| v.and_then(|s| p.description(&s))),
            url: input
                .url
                .and_then(|v| p.required("url", v))
                .and_then(|s| p.url(&s)),
            http_method: input
                .http_method
                .map(|v| v.and_then(|s| p.http_method(&s)).unwrap_or_default()),
            events: (input.events.and_then(|v| p.required("events", v))).and_then(|l| p.events(&l)),
            filter: input.filter.map(|v| v.and_then(|v| p.filter(v))),
            headers: input
                .headers
                .map(|v| v.and_then(|m| p.headers(m)).unwrap_or_default()),
            properties: (input.properties)
                .map(|v| v.and_then(|v| p.properties(v)).unwrap_or_default()),
            retry_attempts: (input.retry_attempts).map(|v| {
                v.and_then(|n| p.retry_attempts(n))
                    .unwrap_or(defaults.attempts)
            }),
            retry_delay_seconds: input.retry_delay_seconds.map(|v| {
                (v.and_then(|n| p.retry_delay_seconds(n))).unwrap_or(defaults.delay_seconds)
            }),
            retry_policy: (input.retry_policy)
                .map(|v| v.and_then(|s| p.retry_policy(&s)).unwrap_or_default()),
            timeout_seconds: (input.timeout_seconds)
                .map(|v| v.and_then(|n| p.timeout_seconds(n)).unwrap_or_default()),
            errors_email: input
                .errors_email
                .map(|v| v.and_then(|s| p.errors_email(&s))),
        };
        p.errors.into_result(patch)
    }

    /// True when the patch names no field at all.
    pub fn is_empty(&self) -> bool {
        *self == Self::default()
    }
}

//! Field parsers shared by the full spec and the patch: each checks one raw field with its
//! value type and records a failure under the field's camelCase JSON path, so both forms report
//! the same field names and rules and collect every error of a request.

use std::collections::BTreeMap;

use serde_json::Value;

use super::{
    CustomHeaders, Description, EmailAddress, EventPattern, Filter, HttpMethod, Limits, Properties,
    RetryPolicyKind, RetrySettings, TargetUrl, TimeoutSeconds, WebhookName, in_range,
};
use crate::validation::{FieldErrors, Rule};

/// Validates single fields, recording each failure under its JSON path.
pub(super) struct FieldParser<'a> {
    limits: &'a Limits,
    allow_private: bool,
    pub(super) errors: FieldErrors,
}

impl<'a> FieldParser<'a> {
    pub(super) fn new(limits: &'a Limits, allow_private: bool) -> Self {
        Self {
            limits,
            allow_private,
            errors: FieldErrors::new(),
        }
    }

    pub(super) fn name(&mut self, s: &str) -> Option<WebhookName> {
        self.errors
            .check("name", WebhookName::parse(s, self.limits))
    }

    pub(super) fn description(&mut self, s: &str) -> Option<Description> {
        self.errors
            .check("description", Description::parse(s, self.limits))
    }

    pub(super) fn url(&mut self, s: &str) -> Option<TargetUrl> {
        self.errors
            .check("url", TargetUrl::parse(s, self.allow_private))
    }

    pub(super) fn http_method(&mut self, s: &str) -> Option<HttpMethod> {
        self.errors.check("httpMethod", HttpMethod::parse(s))
    }

    pub(super) fn events(&mut self, list: &[String]) -> Option<Vec<EventPattern>> {
        let before = self.errors.0.len();
        let max = self.limits.max_event_patterns;
        if list.is_empty() {
            self.errors.push("events", Rule::TooShort { min: 1 });
        } else if list.len() > max {
            self.errors.push("events", Rule::TooMany { max });
        }
        let patterns: Vec<_> = (list.iter().enumerate())
            .filter_map(|(i, s)| {
                self.errors
                    .check(format!("events[{i}]"), EventPattern::parse(s))
            })
            .collect();
        (self.errors.0.len() == before).then_some(patterns)
    }

    pub(super) fn filter(&mut self, value: Value) -> Option<Filter> {
        self.errors
            .check("filter", Filter::parse(value, self.limits))
    }

    pub(super) fn headers(&mut self, map: BTreeMap<String, String>) -> Option<CustomHeaders> {
        self.errors
            .check_all(CustomHeaders::parse(map, self.limits))
    }

    pub(super) fn properties(&mut self, value: Value) -> Option<Properties> {
        self.errors.check_all(Properties::parse(value, self.limits))
    }

    pub(super) fn retry_attempts(&mut self, n: i64) -> Option<u8> {
        self.errors
            .check("retryAttempts", in_range(n, RetrySettings::ATTEMPTS))
    }

    pub(super) fn retry_delay_seconds(&mut self, n: i64) -> Option<u32> {
        let range = RetrySettings::DELAY_SECONDS;
        self.errors.check("retryDelaySeconds", in_range(n, range))
    }

    pub(super) fn retry_policy(&mut self, s: &str) -> Option<RetryPolicyKind> {
        self.errors.check("retryPolicy", RetryPolicyKind::parse(s))
    }

    pub(super) fn timeout_seconds(&mut self, n: i64) -> Option<TimeoutSeconds> {
        self.errors
            .check("timeoutSeconds", TimeoutSeconds::parse(n))
    }

    pub(super) fn errors_email(&mut self, s: &str) -> Option<EmailAddress> {
        self.errors.check("errorsEmail", EmailAddress::parse(s))
    }

    /// Records `Required` for a missing (or `null`) required field.
    pub(super) fn required<T>(&mut self, field: &str, value: Option<T>) -> Option<T> {
        if value.is_none() {
            self.errors.push(field, Rule::Required);
        }
        value
    }
}

//! The create/edit form of a webhook: rendering (with the tenant's event types as a picker,
//! and the field errors of a refused submission) and parsing into the domain's
//! `WebhookSpecInput`, which the same validation as `POST /v1/webhooks` then checks.
//!
//! Text encodings: `headers` one `Name: value` per line; `filter` and `properties` JSON
//! objects; extra event patterns (`lead.*`, `*`) space- or comma-separated beside the
//! checkboxes of the catalog's types.

use std::collections::{BTreeMap, BTreeSet};

use hookledger_domain::webhook::values::WebhookSpecInput;
use hookledger_projections::webhooks::WebhookRow;
use maud::{Markup, html};
use serde_json::Value;

use super::form::Form;
use super::layout::{Chrome, ShownProblem, csrf_field, problem_box};
use crate::http::error::FieldProblem;

/// What the form shows: a row's values, or what was just submitted.
#[derive(Debug, Default, Clone)]
pub(crate) struct Values {
    pub(crate) name: String,
    pub(crate) description: String,
    pub(crate) url: String,
    pub(crate) http_method: String,
    pub(crate) events: Vec<String>,
    pub(crate) filter: String,
    pub(crate) headers: String,
    pub(crate) properties: String,
    pub(crate) retry_attempts: String,
    pub(crate) retry_delay_seconds: String,
    pub(crate) retry_policy: String,
    pub(crate) timeout_seconds: String,
    pub(crate) errors_email: String,
    pub(crate) paused: bool,
    pub(crate) version: Option<i64>,
}

fn pretty(value: &Value) -> String {
    match value {
        Value::Object(map) if map.is_empty() => String::new(),
        Value::Null => String::new(),
        other => serde_json::to_string_pretty(other).unwrap_or_default(),
    }
}

impl Values {
    pub(crate) fn defaults() -> Self {
        Self {
            http_method: "POST".into(),
            retry_attempts: "3".into(),
            retry_delay_seconds: "60".into(),
            retry_policy: "exponential".into(),
            timeout_seconds: "15".into(),
            ..Self::default()
        }
    }

    pub(crate) fn of(row: &WebhookRow) -> Self {
        let headers = row
            .headers
            .as_object()
            .map(|m| {
                m.iter()
                    .map(|(k, v)| format!("{k}: {}", v.as_str().unwrap_or_default()))
                    .collect::<Vec<_>>()
                    .join("\n")
            })
            .unwrap_or_default();
        Self {
            name: row.name.clone(),
            description: row.description.clone().unwrap_or_default(),
            url: row.url.clone(),
            http_method: row.http_method.clone(),
            events: row.events.clone(),
            filter: row.filter.as_ref().map(pretty).unwrap_or_default(),
            headers,
            properties: pretty(&row.properties),
            retry_attempts: row.retry_attempts.to_string(),
            retry_delay_seconds: row.retry_delay_seconds.to_string(),
            retry_policy: row.retry_policy.clone(),
            timeout_seconds: row.timeout_seconds.to_string(),
            errors_email: row.errors_email.clone().unwrap_or_default(),
            paused: row.status != "active",
            version: Some(row.version),
        }
    }

    pub(crate) fn submitted(form: &Form) -> Self {
        let mut events = form.all("events");
        for extra in form
            .raw("patterns")
            .unwrap_or("")
            .split([',', ' ', '\n', '\r', '\t'])
            .filter(|p| !p.is_empty())
        {
            if !events.iter().any(|e| e == extra) {
                events.push(extra.to_owned());
            }
        }
        let text = |name: &str| form.raw(name).unwrap_or("").trim().to_owned();
        Self {
            name: text("name"),
            description: text("description"),
            url: text("url"),
            http_method: text("httpMethod"),
            events,
            filter: text("filter"),
            headers: text("headers"),
            properties: text("properties"),
            retry_attempts: text("retryAttempts"),
            retry_delay_seconds: text("retryDelaySeconds"),
            retry_policy: text("retryPolicy"),
            timeout_seconds: text("timeoutSeconds"),
            errors_email: text("errorsEmail"),
            paused: form.get("paused").is_some(),
            version: form.get("version").and_then(|v| v.parse().ok()),
        }
    }

    /// The domain's input, or the problems of fields the form itself could not read.
    pub(crate) fn to_input(&self) -> Result<WebhookSpecInput, Vec<FieldProblem>> {
        let mut problems = Vec::new();
        let opt = |s: &str| (!s.is_empty()).then(|| s.to_owned());
        let mut number = |field: &str, raw: &str| -> Option<i64> {
            if raw.is_empty() {
                return None;
            }
            raw.parse()
                .map_err(|_| problems.push(FieldProblem::new(field, "must be a whole number")))
                .ok()
        };
        let retry_attempts = number("retryAttempts", &self.retry_attempts);
        let retry_delay_seconds = number("retryDelaySeconds", &self.retry_delay_seconds);
        let timeout_seconds = number("timeoutSeconds", &self.timeout_seconds);
        let mut object = |field: &str, raw: &str| -> Option<Value> {
            if raw.is_empty() {
                return None;
            }
            match serde_json::from_str::<Value>(raw) {
                Ok(v @ Value::Object(_)) => Some(v),
                _ => {
                    problems.push(FieldProblem::new(field, "must be a JSON object"));
                    None
                }
            }
        };
        let filter = object("filter", &self.filter);
        let properties = object("properties", &self.properties);
        let mut headers = BTreeMap::new();
        for line in self
            .headers
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
        {
            match line.split_once(':') {
                Some((k, v)) if !k.trim().is_empty() => {
                    headers.insert(k.trim().to_owned(), v.trim().to_owned());
                }
                _ => problems.push(FieldProblem::new(
                    "headers",
                    format!("{line:?} must be written `Name: value`"),
                )),
            }
        }
        if !problems.is_empty() {
            return Err(problems);
        }
        Ok(WebhookSpecInput {
            name: opt(&self.name),
            description: opt(&self.description),
            url: opt(&self.url),
            http_method: opt(&self.http_method),
            events: (!self.events.is_empty()).then(|| self.events.clone()),
            filter,
            headers: Some(headers),
            properties,
            retry_attempts,
            retry_delay_seconds,
            retry_policy: opt(&self.retry_policy),
            timeout_seconds,
            errors_email: opt(&self.errors_email),
        })
    }
}

fn error(problem: Option<&ShownProblem>, field: &str) -> Markup {
    html! {
        @if let Some(message) = problem.and_then(|p| p.field(field)) {
            span.field-error data-field=(field) { (message) }
        }
    }
}

/// The form. `action` is where it posts; `catalog` the tenant's event types.
pub(crate) fn render(
    chrome: &Chrome<'_>,
    action: &str,
    values: &Values,
    catalog: &BTreeSet<String>,
    problem: Option<&ShownProblem>,
    creating: bool,
) -> Markup {
    let patterns: Vec<&str> = values
        .events
        .iter()
        .map(String::as_str)
        .filter(|e| !catalog.contains(*e))
        .collect();
    let e = |field| error(problem, field);
    html! {
        @if let Some(problem) = problem { (problem_box(problem)) }
        form #webhook-form.stack method="post" action=(action) {
            (csrf_field(chrome))
            @if let Some(version) = values.version { input type="hidden" name="version" value=(version); }
            fieldset disabled[chrome.read_only] {
                label { "Name" input #name name="name" value=(values.name) required maxlength="200"; } (e("name"))
                label { "URL" input #url name="url" type="url" value=(values.url) required; } (e("url"))
                label { "Description" textarea name="description" rows="2" { (values.description) } } (e("description"))
                div.field {
                    span.label { "Event types" }
                    div.picker #event-picker {
                        @if catalog.is_empty() { em { "The catalog is empty: add event types with POST /v1/event-types, or type patterns below." } }
                        @for name in catalog {
                            label.check {
                                input type="checkbox" name="events" value=(name) checked[values.events.contains(name)];
                                code { (name) }
                            }
                        }
                    }
                    label { span { "More patterns (" code { "lead.*" } ", " code { "*" } ")" }
                        input #patterns name="patterns" value=(patterns.join(" ")); }
                    (e("events"))
                }
                label { "Payload filter (JSONLogic on {type, data})"
                    textarea #filter name="filter" rows="3" placeholder=r#"{"==": [{"var": "data.plan"}, "pro"]}"# { (values.filter) } } (e("filter"))
                div.row {
                    label { "Method" select name="httpMethod" {
                        @for m in ["POST", "PUT", "PATCH"] { option value=(m) selected[values.http_method == m] { (m) } } } } (e("httpMethod"))
                    label { "Retries" input name="retryAttempts" type="number" min="0" max="20" value=(values.retry_attempts); } (e("retryAttempts"))
                    label { "First retry delay (s)" input name="retryDelaySeconds" type="number" min="0" max="86400" value=(values.retry_delay_seconds); } (e("retryDelaySeconds"))
                    label { "Retry policy" select name="retryPolicy" {
                        @for p in ["exponential", "fixed"] { option value=(p) selected[values.retry_policy == p] { (p) } } } } (e("retryPolicy"))
                    label { "Timeout (s)" input name="timeoutSeconds" type="number" min="1" max="60" value=(values.timeout_seconds); } (e("timeoutSeconds"))
                }
                label { span { "Headers (one " code { "Name: value" } " per line)" } textarea name="headers" rows="2" { (values.headers) } } (e("headers"))
                label { "Properties (JSON object merged into each body)" textarea name="properties" rows="2" { (values.properties) } } (e("properties"))
                label { "Errors email" input name="errorsEmail" type="email" value=(values.errors_email); } (e("errorsEmail"))
                @if creating {
                    label.check { input type="checkbox" name="paused" value="1" checked[values.paused]; "Create paused" }
                }
                button #save type="submit" { @if creating { "Create webhook" } @else { "Save changes" } }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use axum::body::Bytes;

    use super::*;

    fn submitted(body: &str) -> Values {
        Values::submitted(&Form::parse(&Bytes::from(body.to_owned())))
    }

    #[test]
    fn checked_types_and_typed_patterns_become_one_events_list() {
        let v = submitted("events=lead.created&events=deal.won&patterns=lead.*+%2C+*");
        assert_eq!(v.events, ["lead.created", "deal.won", "lead.*", "*"]);
        let input = v.to_input().unwrap();
        assert_eq!(input.events.unwrap().len(), 4);
    }

    #[test]
    fn headers_lines_and_json_fields_are_read_or_named_as_problems() {
        let v = submitted("headers=X-Env%3A+prod%0AX-Team%3Aa%3Ab&properties=%7B%22a%22%3A1%7D");
        let input = v.to_input().unwrap();
        let headers = input.headers.unwrap();
        assert_eq!(headers["X-Env"], "prod");
        assert_eq!(headers["X-Team"], "a:b");
        assert_eq!(input.properties, Some(serde_json::json!({"a": 1})));

        let bad = submitted("headers=no-colon&filter=%5B1%5D&retryAttempts=two");
        let fields: Vec<String> = bad
            .to_input()
            .unwrap_err()
            .into_iter()
            .map(|p| p.field)
            .collect();
        assert_eq!(fields, ["retryAttempts", "filter", "headers"]);
    }

    #[test]
    fn blank_fields_are_absent_so_the_domain_applies_its_defaults_and_rules() {
        let input = submitted("name=&url=&retryAttempts=").to_input().unwrap();
        assert_eq!(
            (input.name, input.url, input.retry_attempts, input.events),
            (None, None, None, None)
        );
    }
}

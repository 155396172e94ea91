//! A webhook's history: the ledger timeline (who, when, which event, which fields, the
//! sequence) and the webhook as it was at any instant (`?asOf=`), with a diff to now.
//!
//! The instant is picked with a slider over the webhook's versions (enhanced by
//! `console.js`: moving it picks the version and reloads) or, without script, a select and a
//! button; both submit `asOf` = that version's exact stream time, read by the same
//! `history::as_of` query as `GET /v1/webhooks/{id}?asOf=`.

use axum::extract::{Path, Query, State};
use axum::response::Response;
use chrono::{DateTime, Utc};
use hookledger_projections::webhooks::WebhookRow;
use maud::{Markup, html};
use serde::Deserialize;
use serde_json::Value;

use super::commands::webhook_id;
use super::layout::{exact, page, page_or_failure, when};
use super::session::TenantSession;
use crate::AppState;
use crate::http::error::ApiError;

/// History events shown (the latest ones): the timeline and the slider's stops.
const HISTORY_ITEMS: u32 = 100;

/// The fields people compare, with their values as text.
fn field_values(row: &WebhookRow) -> Vec<(&'static str, String)> {
    let json = |v: &Value| match v {
        Value::Null => String::new(),
        Value::Object(m) if m.is_empty() => String::new(),
        other => other.to_string(),
    };
    vec![
        ("name", row.name.clone()),
        ("url", row.url.clone()),
        ("status", row.status.clone()),
        ("events", row.events.join(", ")),
        ("description", row.description.clone().unwrap_or_default()),
        ("httpMethod", row.http_method.clone()),
        ("filter", row.filter.as_ref().map(json).unwrap_or_default()),
        ("headers", json(&row.headers)),
        ("properties", json(&row.properties)),
        ("retryAttempts", row.retry_attempts.to_string()),
        ("retryDelaySeconds", row.retry_delay_seconds.to_string()),
        ("retryPolicy", row.retry_policy.clone()),
        ("timeoutSeconds", row.timeout_seconds.to_string()),
        ("errorsEmail", row.errors_email.clone().unwrap_or_default()),
        ("version", row.version.to_string()),
    ]
}

/// A webhook's fields as a list (its page, and the as-of view).
pub(crate) fn fields(row: &WebhookRow) -> Markup {
    html! {
        dl #webhook-fields.facts {
            dt { "id" } dd data-field="id" { code { (row.id) } }
            @for (name, value) in field_values(row) {
                dt { (name) } dd data-field=(name) { (value) }
            }
            dt { "updated" } dd { (when(&row.updated_at)) " by " code { (row.updated_by) } }
        }
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct HistoryQuery {
    as_of: Option<String>,
}

pub(crate) async fn history(
    s: TenantSession,
    State(state): State<AppState>,
    Path(raw): Path<String>,
    Query(q): Query<HistoryQuery>,
) -> Response {
    let chrome = s.chrome("webhooks");
    page_or_failure(&chrome, history_page(&s, &state, &raw, q).await).await
}

async fn history_page(
    s: &TenantSession,
    state: &AppState,
    raw: &str,
    q: HistoryQuery,
) -> Result<Markup, ApiError> {
    let id = webhook_id(raw)?;
    let (pool, tenant) = (&state.pool, s.tenant.as_str());
    let mut items =
        hookledger_projections::history::list(pool, tenant, id.as_str(), 1, HISTORY_ITEMS).await?;
    if items.total > i64::from(HISTORY_ITEMS) {
        // The latest events: the last page (a version may then start mid-message).
        let last = (items.total as u64).div_ceil(u64::from(HISTORY_ITEMS)) as u32;
        items =
            hookledger_projections::history::list(pool, tenant, id.as_str(), last, HISTORY_ITEMS)
                .await?;
    }
    if items.total == 0 {
        return Err(ApiError::NotFound("webhook"));
    }
    // One slider stop per ledger message (a message may carry several events).
    let mut versions: Vec<(i64, DateTime<Utc>, String)> = Vec::new();
    for item in &items.data {
        match versions.last_mut() {
            Some(last) if last.0 == item.sequence => {
                last.2.push_str(&format!(", {}", item.event_type))
            }
            _ => versions.push((item.sequence, item.time, item.event_type.clone())),
        }
    }
    let as_of = q
        .as_of
        .filter(|v| !v.is_empty())
        .map(|raw| {
            DateTime::parse_from_rfc3339(&raw)
                .map(|t| t.with_timezone(&Utc))
                .map_err(|e| ApiError::field("asOf", format!("must be an RFC 3339 time: {e}")))
        })
        .transpose()?;
    let now = hookledger_projections::webhooks::get(pool, tenant, id.as_str()).await?;
    let then = match as_of {
        Some(at) => {
            Some(hookledger_projections::history::as_of(pool, tenant, id.as_str(), at).await?)
        }
        None => None,
    };
    let selected = as_of.map_or(versions.len().saturating_sub(1), |at| {
        versions.iter().rposition(|v| v.1 <= at).unwrap_or(0)
    });
    let times: Vec<String> = versions.iter().map(|v| exact(&v.1)).collect();
    let chrome = s.chrome("webhooks");
    let body = html! {
        p { a href={ "/console/webhooks/" (id) } { "← the webhook" } }
        form #asof-form.stack method="get" action={ "/console/webhooks/" (id) "/history" } {
            label { "As of"
                input #asof-slider type="range" min="0" max=(versions.len().saturating_sub(1)) step="1" value=(selected)
                    aria-label="version" data-times=(times.join(" "));
            }
            div.row {
                select #asof-select name="asOf" {
                    @for (i, (seq, time, types)) in versions.iter().enumerate() {
                        option value=(exact(time)) selected[as_of.is_some() && i == selected] {
                            "v" (seq) " · " (when(time)) " · " (types)
                        }
                    }
                }
                button #asof-show type="submit" { "Show" }
                @if as_of.is_some() { a href={ "/console/webhooks/" (id) "/history" } { "now" } }
            }
        }
        @if let (Some(at), Some(then)) = (as_of, &then) {
            h2 { "As it was at " (when(&at)) }
            @match then {
                None => p #asof-missing { "The webhook did not exist at that instant." },
                Some(then) => (diff(then, now.as_ref())),
            }
        }
        h2 { "Ledger timeline" }
        @if items.total > i64::from(HISTORY_ITEMS) {
            p.muted { "The latest " (items.data.len()) " of " (items.total) " events; the whole history: " code { "GET /v1/webhooks/" (id) "/history" } "." }
        }
        table #timeline {
            thead { tr { th { "Seq" } th { "When" } th { "Who" } th { "Event" } th { "Change" } } }
            tbody {
                @for item in &items.data {
                    tr {
                        td { (item.sequence) }
                        td { (when(&item.time)) }
                        td { code { (item.actor) } }
                        td { code { (item.event_type) } }
                        td { (changed_fields(&item.change)) }
                    }
                }
            }
        }
    };
    Ok(page(&chrome, "History", body))
}

/// The names of the fields an event's data carries (the fields it set).
fn changed_fields(change: &Value) -> String {
    match change {
        Value::Object(m) => {
            let inner = m
                .get("patch")
                .or_else(|| m.get("spec"))
                .and_then(Value::as_object)
                .unwrap_or(m);
            inner.keys().cloned().collect::<Vec<_>>().join(", ")
        }
        _ => String::new(),
    }
}

/// Then beside now, changed rows marked.
fn diff(then: &WebhookRow, now: Option<&WebhookRow>) -> Markup {
    let now_values = now.map(field_values).unwrap_or_default();
    html! {
        table #asof-diff {
            thead { tr { th { "Field" } th { "Then" } th { "Now" } } }
            tbody {
                @for (name, value) in field_values(then) {
                    @let current = now_values.iter().find(|(n, _)| *n == name).map(|(_, v)| v.as_str());
                    tr class=[(current != Some(value.as_str())).then_some("changed")] data-field=(name) {
                        th { (name) }
                        td.then { (value) }
                        td.now { (current.unwrap_or("(deleted)")) }
                    }
                }
            }
        }
    }
}

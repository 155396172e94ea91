//! Statistics as server-rendered inline SVG charts (no chart library, no script): the
//! outcome split (succeeded, failed, pending) and attempt latency percentiles, for a webhook
//! and for the tenant, plus the success rate of each webhook on the first page of the list.
//!
//! Source: the `webhook_stats` view through the same queries as `GET /v1/webhooks/stats` and
//! `GET /v1/webhooks/{id}/stats`. That view keeps counters, not a time series, so the charts
//! show totals; a chart over time needs a time-bucketed view (not built yet).

use axum::extract::State;
use axum::response::Response;
use hookledger_projections::stats::Stats;
use hookledger_projections::webhooks::ListFilter;
use maud::{Markup, html};

use super::layout::{page, page_or_failure, when};
use super::session::TenantSession;
use crate::AppState;
use crate::http::error::ApiError;

/// Horizontal bars: `(label, value, css class)`, scaled to the largest.
fn bars(id: &str, title: &str, rows: &[(String, f64, &str)], unit: &str) -> Markup {
    let max = rows.iter().map(|r| r.1).fold(0.0_f64, f64::max).max(1e-9);
    let (width, bar_h, label_w) = (520.0, 22.0, 150.0);
    let height = rows.len() as f64 * (bar_h + 8.0) + 8.0;
    html! {
        figure.chart {
            figcaption { (title) }
            svg id=(id) viewBox={ "0 0 " (width + 90.0) " " (height) } width=(width + 90.0) height=(height) role="img" aria-label=(title) {
                @for (i, (label, value, class)) in rows.iter().enumerate() {
                    @let y = 8.0 + i as f64 * (bar_h + 8.0);
                    @let w = (value / max) * (width - label_w);
                    text x="0" y=(y + 15.0) class="label" { (label) }
                    rect x=(label_w) y=(y) width=(format!("{w:.1}")) height=(bar_h) class=(class) rx="3" {}
                    text x=(label_w + w + 6.0) y=(y + 15.0) class="value" { (format_value(*value, unit)) }
                }
            }
        }
    }
}

fn format_value(v: f64, unit: &str) -> String {
    match unit {
        "%" => format!("{v:.1} %"),
        "" => format!("{v:.0}"),
        unit => format!("{v:.0} {unit}"),
    }
}

/// Counters and the two charts of one [`Stats`].
pub(crate) fn summary(stats: &Stats) -> Markup {
    let outcomes = [
        ("succeeded".to_owned(), stats.succeeded as f64, "ok"),
        ("failed".to_owned(), stats.failed as f64, "bad"),
        ("pending".to_owned(), stats.pending as f64, "wait"),
    ];
    let p = &stats.latency_ms;
    let latency: Vec<(String, f64, &str)> = [("p50", p.p50), ("p95", p.p95), ("p99", p.p99)]
        .into_iter()
        .filter_map(|(name, v)| v.map(|v| (name.to_owned(), v as f64, "lat")))
        .collect();
    html! {
        dl.facts #stats {
            dt { "Deliveries" } dd #stat-deliveries { (stats.deliveries) }
            dt { "Attempts" } dd { (stats.attempts) }
            dt { "Success rate" } dd { (format!("{:.1} %", stats.success_rate * 100.0)) }
            dt { "Last success" } dd { (stats.last_success_at.map_or("—".into(), |t| when(&t))) }
            dt { "Last failure" } dd { (stats.last_failure_at.map_or("—".into(), |t| when(&t))) }
        }
        div.charts {
            (bars("chart-outcomes", "Deliveries by outcome", &outcomes, ""))
            @if latency.is_empty() { p.muted { "No attempt yet: no latency." } }
            @else { (bars("chart-latency", "Attempt latency (bucket upper bounds)", &latency, "ms")) }
        }
    }
}

pub(crate) async fn tenant(s: TenantSession, State(state): State<AppState>) -> Response {
    let chrome = s.chrome("stats");
    let result = async {
        let tenant = s.tenant.as_str();
        let stats = hookledger_projections::stats::for_tenant(&state.pool, tenant).await?;
        let filter = ListFilter { is_active: None, status: None, event: None, id_regex: None, page: 1, limit: 20 };
        let rows = hookledger_projections::webhooks::list(&state.pool, tenant, &filter).await?;
        let ids: Vec<String> = rows.data.iter().map(|r| r.id.clone()).collect();
        let per = hookledger_projections::stats::for_webhooks(&state.pool, tenant, &ids).await?;
        let rates: Vec<(String, f64, &str)> = rows
            .data
            .iter()
            .filter_map(|r| per.get(&r.id).filter(|s| s.succeeded + s.failed > 0).map(|s| (r.name.chars().take(20).collect(), s.success_rate * 100.0, "ok")))
            .collect();
        Ok::<_, ApiError>(page(&chrome, "Stats", html! {
            h2 { "All webhooks" }
            (summary(&stats))
            @if !rates.is_empty() { (bars("chart-rates", "Success rate per webhook (first 20)", &rates, "%")) }
        }))
    }
    .await;
    page_or_failure(&chrome, result).await
}

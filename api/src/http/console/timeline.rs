//! A webhook's statistics over time (`/console/webhooks/{id}/stats?range=24h|7d`): deliveries
//! per bucket, the attempt success rate and attempt latency percentiles (p50, p95, p99), as
//! inline SVG drawn on the server.
//!
//! Source: `projections::timeline::for_webhook` (the hourly rollup the deliveries projector
//! keeps, one bucket an hour over 24 h, six hours over 7 days: at most 168 rows a chart). Decisions: no script and no chart library — each chart
//! is a handful of `rect`/`polyline` elements styled by class from `console.css`, so the
//! Content-Security-Policy stays strict; every bucket has a `title` with its exact figures,
//! which browsers show on hover. A bucket without attempts has no rate and no latency: the
//! lines break there instead of dropping to zero.

use axum::extract::{Path, Query, State};
use axum::response::Response;
use chrono::Utc;
use hookledger_projections::timeline::{Bucket, Range};
use maud::{Markup, html};
use serde::Deserialize;

use super::commands::{self, webhook_id};
use super::layout::{page, page_or_failure};
use super::session::TenantSession;
use crate::AppState;
use crate::http::error::ApiError;

const WIDTH: f64 = 640.0;
const HEIGHT: f64 = 160.0;
const LEFT: f64 = 48.0;
const BOTTOM: f64 = 20.0;

#[derive(Debug, Default, Deserialize)]
pub(crate) struct RangeQuery {
    range: Option<String>,
}

pub(crate) async fn webhook(
    s: TenantSession,
    State(state): State<AppState>,
    Path(raw): Path<String>,
    Query(q): Query<RangeQuery>,
) -> Response {
    let chrome = s.chrome("webhooks");
    let result = async {
        let id = webhook_id(&raw)?;
        let range = match q.range.as_deref().filter(|r| !r.is_empty()) {
            None => Range::Day,
            Some(r) => Range::parse(r).ok_or_else(|| ApiError::field("range", "must be 24h or 7d"))?,
        };
        let row = commands::row(&state, &s.tenant, &id).await?;
        let buckets = hookledger_projections::timeline::for_webhook(&state.pool, s.tenant.as_str(), id.as_str(), range, Utc::now()).await?;
        let base = format!("/console/webhooks/{id}");
        let body = html! {
            p { a href=(base) { "← " (row.name) } }
            nav.pager #range {
                @for r in [Range::Day, Range::Week] {
                    @if r == range { strong { "last " (r.name()) } } @else { a href={ (base) "/stats?range=" (r.name()) } { "last " (r.name()) } }
                    " "
                }
                span.muted { "one bar per " (range.bucket().num_hours()) " h, UTC" }
            }
            (charts(&buckets))
        };
        Ok::<_, ApiError>(page(&chrome, &format!("{} · over time", row.name), body))
    }
    .await;
    page_or_failure(&chrome, result).await
}

/// The three charts of a series.
pub(crate) fn charts(buckets: &[Bucket]) -> Markup {
    let deliveries: Vec<Option<f64>> = buckets.iter().map(|b| Some(b.deliveries as f64)).collect();
    let rate: Vec<Option<f64>> = buckets
        .iter()
        .map(|b| b.success_rate().map(|r| r * 100.0))
        .collect();
    let ms = |f: fn(&Bucket) -> Option<u64>| {
        buckets
            .iter()
            .map(|b| f(b).map(|v| v as f64))
            .collect::<Vec<_>>()
    };
    let (p50, p95, p99) = (ms(|b| b.p50_ms), ms(|b| b.p95_ms), ms(|b| b.p99_ms));
    let latency_max = p99.iter().flatten().copied().fold(0.0, f64::max);
    let titles: Vec<String> = buckets
        .iter()
        .map(|b| {
            let rate = b
                .success_rate()
                .map_or("—".to_owned(), |r| format!("{:.1} %", r * 100.0));
            let lat = |v: Option<u64>| v.map_or("—".to_owned(), |v| format!("{v} ms"));
            format!(
                "{}: {} deliveries, {} attempts, {} succeeded ({rate}); p50 {}, p95 {}, p99 {}",
                b.start.format("%Y-%m-%d %H:%M"),
                b.deliveries,
                b.attempts,
                b.succeeded,
                lat(b.p50_ms),
                lat(b.p95_ms),
                lat(b.p99_ms)
            )
        })
        .collect();
    let labels: Vec<String> = buckets
        .iter()
        .map(|b| b.start.format("%d %H:%M").to_string())
        .collect();
    html! {
        div.charts.timeline {
            (columns("chart-deliveries-over-time", "Deliveries attempted", &deliveries, &titles, &labels))
            (lines("chart-success-over-time", "Attempt success rate (%)", &[("ok", &rate)], 100.0, &titles, &labels))
            (lines("chart-latency-over-time", "Attempt latency, ms (p50, p95, p99)", &[("p50", &p50), ("p95", &p95), ("p99", &p99)], latency_max, &titles, &labels))
        }
    }
}

fn x_of(i: usize, n: usize) -> f64 {
    LEFT + (WIDTH - LEFT) * (i as f64 + 0.5) / n.max(1) as f64
}

fn y_of(v: f64, max: f64) -> f64 {
    (HEIGHT - BOTTOM) * (1.0 - v / max.max(1e-9))
}

/// The frame: the y scale (0 and `max`) and a few x labels.
fn axes(max: f64, labels: &[String]) -> Markup {
    let n = labels.len();
    let every = n.div_ceil(6).max(1);
    html! {
        line.axis x1=(LEFT) y1=(HEIGHT - BOTTOM) x2=(WIDTH) y2=(HEIGHT - BOTTOM) {}
        text.label x="0" y="12" { (format!("{max:.0}")) }
        text.label x="0" y=(HEIGHT - BOTTOM) { "0" }
        @for (i, l) in labels.iter().enumerate().filter(|(i, _)| i % every == 0) {
            text.label x=(format!("{:.1}", x_of(i, n) - 20.0)) y=(HEIGHT - 4.0) { (l) }
        }
    }
}

fn columns(
    id: &str,
    title: &str,
    values: &[Option<f64>],
    titles: &[String],
    labels: &[String],
) -> Markup {
    let max = values
        .iter()
        .flatten()
        .copied()
        .fold(0.0, f64::max)
        .max(1.0);
    let n = values.len();
    let w = ((WIDTH - LEFT) / n.max(1) as f64 * 0.8).max(1.0);
    html! {
        figure.chart {
            figcaption { (title) }
            svg id=(id) viewBox={ "0 0 " (WIDTH) " " (HEIGHT) } width=(WIDTH) height=(HEIGHT) role="img" aria-label=(title) {
                (axes(max, labels))
                @for (i, v) in values.iter().enumerate() {
                    @let v = v.unwrap_or(0.0);
                    @let y = y_of(v, max);
                    rect.lat x=(format!("{:.1}", x_of(i, n) - w / 2.0)) y=(format!("{y:.1}")) width=(format!("{w:.1}")) height=(format!("{:.1}", HEIGHT - BOTTOM - y)) data-value=(v) {
                        title { (titles[i]) }
                    }
                }
            }
        }
    }
}

/// Polylines, one per series, broken where a bucket has no value; a dot on every value.
fn lines(
    id: &str,
    title: &str,
    series: &[(&str, &Vec<Option<f64>>)],
    max: f64,
    titles: &[String],
    labels: &[String],
) -> Markup {
    let max = max.max(1.0);
    html! {
        figure.chart {
            figcaption { (title) }
            svg id=(id) viewBox={ "0 0 " (WIDTH) " " (HEIGHT) } width=(WIDTH) height=(HEIGHT) role="img" aria-label=(title) {
                (axes(max, labels))
                @for (class, values) in series {
                    @let n = values.len();
                    @for run in runs(values) {
                        polyline class={ "series " (class) } points=(run.iter().map(|&(i, v)| format!("{:.1},{:.1}", x_of(i, n), y_of(v, max))).collect::<Vec<_>>().join(" ")) {}
                    }
                    @for (i, v) in values.iter().enumerate() {
                        @if let Some(v) = v {
                            circle class={ "dot " (class) } cx=(format!("{:.1}", x_of(i, n))) cy=(format!("{:.1}", y_of(*v, max))) r="2.5" data-value=(v) { title { (titles[i]) } }
                        }
                    }
                }
            }
        }
    }
}

/// The runs of consecutive values (index, value).
fn runs(values: &[Option<f64>]) -> Vec<Vec<(usize, f64)>> {
    let mut out: Vec<Vec<(usize, f64)>> = Vec::new();
    let mut current = Vec::new();
    for (i, v) in values.iter().enumerate() {
        match v {
            Some(v) => current.push((i, *v)),
            None if !current.is_empty() => out.push(std::mem::take(&mut current)),
            None => {}
        }
    }
    if !current.is_empty() {
        out.push(current);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::runs;

    #[test]
    fn a_line_breaks_where_a_bucket_has_no_value() {
        let r = runs(&[Some(1.0), None, Some(2.0), Some(3.0), None]);
        assert_eq!(r, vec![vec![(0, 1.0)], vec![(2, 2.0), (3, 3.0)]]);
    }
}

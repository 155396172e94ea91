//! Prometheus metrics: the process-wide recorder, the HTTP middleware that counts and times
//! requests, and the text rendered at `GET /metrics`.
//!
//! HTTP labels stay bounded: `route` is the route template (`/v1/webhooks/{id}`, or
//! `unmatched`), `method` one of the standard methods (or `other`), `status` the class (`2xx`).
//! Other crates record their own metrics through the `metrics` facade (the projectors'
//! `hookledger_projection_lag`, the dispatcher's attempts) and they are rendered here too.

use std::sync::OnceLock;
use std::time::Instant;

use axum::extract::{MatchedPath, Request};
use axum::http::Method;
use axum::middleware::Next;
use axum::response::Response;
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

/// Request latency buckets, in seconds.
const LATENCY_BUCKETS: [f64; 14] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];

static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();

/// Installs the Prometheus recorder as the process's `metrics` recorder, once. When another
/// recorder was installed first (an embedding program's), `/metrics` renders nothing.
pub fn install() {
    HANDLE.get_or_init(|| {
        let recorder = PrometheusBuilder::new()
            .set_buckets_for_metric(
                Matcher::Suffix("_duration_seconds".into()),
                &LATENCY_BUCKETS,
            )
            .map(PrometheusBuilder::build_recorder);
        let recorder = match recorder {
            Ok(recorder) => recorder,
            Err(e) => {
                tracing::warn!(error = %e, "cannot build the Prometheus recorder");
                return None;
            }
        };
        let handle = recorder.handle();
        match metrics::set_global_recorder(recorder) {
            Ok(()) => Some(handle),
            Err(e) => {
                tracing::warn!(error = %e, "another metrics recorder is installed; /metrics stays empty");
                None
            }
        }
    });
}

/// The Prometheus text of every metric recorded so far.
pub fn render() -> String {
    match HANDLE.get() {
        Some(Some(handle)) => {
            handle.run_upkeep();
            handle.render()
        }
        _ => String::new(),
    }
}

fn method_label(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::PATCH => "PATCH",
        Method::DELETE => "DELETE",
        Method::HEAD => "HEAD",
        Method::OPTIONS => "OPTIONS",
        _ => "other",
    }
}

fn status_class(status: u16) -> &'static str {
    match status / 100 {
        1 => "1xx",
        2 => "2xx",
        3 => "3xx",
        4 => "4xx",
        _ => "5xx",
    }
}

/// Counts and times every request: `hookledger_http_requests_total` and
/// `hookledger_http_request_duration_seconds` (time to the response head; a streamed body
/// such as the audit log is not included).
pub async fn track(request: Request, next: Next) -> Response {
    let start = Instant::now();
    let method = method_label(request.method());
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |p| p.as_str().to_owned());
    let response = next.run(request).await;
    let status = status_class(response.status().as_u16());
    let labels = [
        ("method", method.to_owned()),
        ("route", route),
        ("status", status.to_owned()),
    ];
    metrics::counter!("hookledger_http_requests_total", &labels).increment(1);
    metrics::histogram!("hookledger_http_request_duration_seconds", &labels)
        .record(start.elapsed().as_secs_f64());
    response
}

//! `hookledger bench …`: figures for BENCHMARKS.md, each under a throw-away prefix on the
//! configured NATS (and database), removed afterwards.
//!
//! # Layout
//! - [`ledger`]: `bench ledger`, commit rate and load latency of the ledger.
//! - [`api`]: `bench api`, HTTP throughput and p99 of `/v1/webhooks`.
//! - [`delivery`]: `bench delivery`, publish → signed POST → facts, with `isolation` (a
//!   healthy tenant beside failing and hanging ones).
//! - [`projections`]: `bench projections`, rebuild rate and live projection lag.
//! - [`deployed`]: `bench deployed`, delivery throughput of a running server (load from this
//!   process, receiver in another: [`receiver`], `bench receiver`), CPU of every process.
//! - [`ingest`]: `bench ingest`, `POST /v1/events` of a running server at N clients.
//! - [`audit`]: `bench audit`, export and verify rates over 1,000,000 ledger events, and
//!   `--as-of` latency (view and fold) on a webhook with 10,000 versions.
//! - [`console`]: `bench console`, server-side time of each console page for a tenant with
//!   1,000 webhooks and 100,000 deliveries.
//! - [`rebuild`]: `bench rebuild`, rate of a deliveries-view rebuild at growing sizes.
//! - [`scratch`]: the throw-away prefix and database every benchmark (and the test harness)
//!   runs on.
//! - this file: what else they share (latency percentiles, a tenant over HTTP).
//!
//! A new benchmark is a module here and a `BenchCommand` in [`crate::cli`].

pub mod api;
pub mod audit;
pub mod console;
pub mod delivery;
pub mod deployed;
pub mod ingest;
mod isolation;
pub mod ledger;
pub mod projections;
pub mod rebuild;
pub mod receiver;
pub mod scratch;

use std::time::Duration;

use anyhow::Context as _;
use hookledger_domain::delivery::{AttemptOutcome, AttemptRecord, DeliveryTrigger};
use hookledger_domain::ids::{DeliveryId, EventId, TenantId, WebhookId};
use serde_json::{Value, json};

/// Latency percentiles of a sample, in milliseconds (sorts it).
pub(crate) fn percentiles(samples: &mut [Duration]) -> String {
    if samples.is_empty() {
        return "no samples".into();
    }
    samples.sort_unstable();
    let at = |q: f64| {
        samples[((samples.len() as f64 - 1.0) * q).round() as usize].as_secs_f64() * 1000.0
    };
    format!(
        "p50 {:.2} ms, p95 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
        at(0.5),
        at(0.95),
        at(0.99),
        at(1.0)
    )
}

/// Creates tenant `id` over a server's admin API (operator `token`) with `event_type` in its
/// catalog; answers its first API key.
pub(crate) async fn tenant_over_http(
    http: &reqwest::Client,
    base: &str,
    token: &str,
    id: &str,
    event_type: &str,
) -> anyhow::Result<String> {
    let created: Value = http
        .post(format!("{base}/v1/admin/tenants"))
        .bearer_auth(token)
        .json(&json!({"id": id}))
        .send()
        .await
        .with_context(|| format!("creating tenant {id} at {base}"))?
        .error_for_status()?
        .json()
        .await?;
    let key = created["apiKey"]["key"]
        .as_str()
        .context("the new tenant's key")?
        .to_owned();
    http.post(format!("{base}/v1/event-types"))
        .header("x-api-key", &key)
        .json(&json!({"name": event_type}))
        .send()
        .await?
        .error_for_status()?;
    Ok(key)
}

/// An attempt for the benchmarks that record delivery facts themselves: attempt `number` of
/// `delivery` (a redelivery after the first) at `at`, a 200 or a 500 in 40 ms.
pub fn synthetic_attempt(
    (tenant, webhook, delivery, event): (&TenantId, &WebhookId, &DeliveryId, &EventId),
    number: u32,
    at: chrono::DateTime<chrono::Utc>,
    success: bool,
) -> AttemptRecord {
    AttemptRecord {
        delivery_id: delivery.clone(),
        tenant: tenant.clone(),
        webhook_id: webhook.clone(),
        event_id: event.clone(),
        event_type: "lead.created".into(),
        attempt: number,
        at,
        outcome: if success {
            AttemptOutcome::Success
        } else {
            AttemptOutcome::HttpError
        },
        response_status: Some(if success { 200 } else { 500 }),
        latency_ms: 40,
        error: (!success).then(|| "500 Internal Server Error".into()),
        response_body: Some("ok".into()),
        next_attempt_at: None,
        trigger: if number > 1 {
            DeliveryTrigger::Redeliver
        } else {
            DeliveryTrigger::Event
        },
        response_headers: Default::default(),
        closes: None,
    }
}

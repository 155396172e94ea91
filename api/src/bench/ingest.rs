//! `hookledger bench ingest`: `POST /v1/events` against a running server, one key, N clients:
//! events accepted per second and request latency, one event a request and then batches.
//!
//! The tenant has no webhook, so what is measured is ingest (HTTP, key check, publish limit,
//! JetStream write and ack), not delivery. Every answer other than 202 is counted and the
//! first is printed: a 429 means the key's publish limit is the bound, not the server.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tokio::sync::Mutex;

/// What to run.
#[derive(Debug, Clone)]
pub struct Settings {
    pub against: String,
    pub operator_token: String,
    pub clients: usize,
    pub seconds: u64,
    /// Events per request of the second phase.
    pub batch: usize,
}

#[derive(Default)]
struct Tally {
    events: AtomicU64,
    refused: AtomicU64,
    first_refusal: Mutex<Option<String>>,
    latencies_us: Mutex<Vec<u64>>,
}

/// Runs both phases and prints their figures.
pub async fn ingest(settings: Settings) -> anyhow::Result<()> {
    let http = reqwest::Client::new();
    let tenant = format!(
        "ingest-{}",
        uuid::Uuid::now_v7().simple().to_string()[20..].to_owned()
    );
    let key = crate::bench::tenant_over_http(
        &http,
        &settings.against,
        &settings.operator_token,
        &tenant,
        "bench.event",
    )
    .await?;
    for batch in [1, settings.batch.max(1)] {
        phase(&http, &settings, &key, batch).await?;
    }
    Ok(())
}

async fn phase(
    http: &reqwest::Client,
    settings: &Settings,
    key: &str,
    batch: usize,
) -> anyhow::Result<()> {
    let tally = Arc::new(Tally::default());
    let started = Instant::now();
    let until = started + Duration::from_secs(settings.seconds);
    let mut clients = Vec::with_capacity(settings.clients);
    for client in 0..settings.clients {
        let (http, tally, key) = (http.clone(), tally.clone(), key.to_owned());
        let url = format!("{}/v1/events", settings.against);
        clients.push(tokio::spawn(async move {
            let mut n = 0u64;
            let mut latencies = Vec::new();
            while Instant::now() < until {
                let events: Vec<Value> = (0..batch)
                    .map(|i| {
                        let id = format!("c{client}-b{batch}-{n}-{i}");
                        json!({"type": "bench.event", "id": id, "data": {"n": n}})
                    })
                    .collect();
                let body = if batch == 1 {
                    events.into_iter().next().expect("one event")
                } else {
                    Value::Array(events)
                };
                n += 1;
                let sent = Instant::now();
                let response = http.post(&url).header("x-api-key", &key).json(&body).send();
                match response.await {
                    Ok(r) if r.status() == reqwest::StatusCode::ACCEPTED => {
                        latencies.push(u64::try_from(sent.elapsed().as_micros()).unwrap_or(0));
                        tally.events.fetch_add(batch as u64, Ordering::Relaxed);
                    }
                    other => {
                        tally.refused.fetch_add(1, Ordering::Relaxed);
                        let mut first = tally.first_refusal.lock().await;
                        if first.is_none() {
                            *first = Some(match other {
                                Ok(r) => {
                                    format!("{} {}", r.status(), r.text().await.unwrap_or_default())
                                }
                                Err(e) => e.to_string(),
                            });
                        }
                    }
                }
            }
            tally.latencies_us.lock().await.extend(latencies);
        }));
    }
    for client in clients {
        client.await?;
    }
    let seconds = started.elapsed().as_secs_f64();
    let mut latencies = std::mem::take(&mut *tally.latencies_us.lock().await);
    latencies.sort_unstable();
    let at = |q: f64| {
        latencies
            .get(((latencies.len() as f64 * q) as usize).min(latencies.len().saturating_sub(1)))
            .map_or(0.0, |us| *us as f64 / 1000.0)
    };
    println!(
        "POST /v1/events, {} clients, {batch} event(s) a request: {:.0} events/s ({:.0} requests/s), p50 {:.1} ms, p99 {:.1} ms, {} refused",
        settings.clients,
        tally.events.load(Ordering::Relaxed) as f64 / seconds,
        latencies.len() as f64 / seconds,
        at(0.50),
        at(0.99),
        tally.refused.load(Ordering::Relaxed)
    );
    if let Some(first) = tally.first_refusal.lock().await.as_ref() {
        println!("  first refusal: {first}");
    }
    Ok(())
}

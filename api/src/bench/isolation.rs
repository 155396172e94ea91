//! `hookledger bench delivery`'s isolation scenarios: a healthy tenant's webhook (100 events/s)
//! alone, then beside noisy tenants whose webhooks share its receiver's `host:port`:
//! 1. alone (the control);
//! 2. beside a tenant whose webhook answers `500` at once, at 300 events/s;
//! 3. beside a tenant whose webhook answers `500` only after 10 s (hanging), at 300 events/s;
//! 4. beside 1,000 hanging webhooks of 100 tenants (10 each), 100 events/s spread over those
//!    tenants, so 1,000 jobs/s for hanging webhooks.
//!
//! Each reports the healthy tenant's delivered count, p50 and p99 publish-to-receive latency,
//! and compares with the control (target: p50 beside ≤ 2 × alone, every event delivered within
//! the run plus 30 s). The noisy webhooks are deleted after their scenario, so what they left
//! queued is dropped unsent and does not weigh on the next one.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::http::{HeaderMap, StatusCode, Uri};
use hookledger_domain::ids::{TenantId, WebhookId};
use hookledger_domain::ledger::Outgoing;
use hookledger_domain::webhook::RetrySettings;

use crate::bench::delivery::{Bench, unix_micros, usage};

/// The healthy tenant's rate (events/s).
const HEALTHY_RATE: u64 = 100;
/// How long a hanging receiver takes to answer `500`.
const HANG: Duration = Duration::from_secs(10);

/// What the scenario's receiver saw.
#[derive(Default)]
struct Seen {
    healthy: Mutex<Vec<u64>>,
    noisy: AtomicU64,
}

/// One receiver for a whole scenario: `/healthy` (200), `/fail` (500), `/hang` (500 after
/// [`HANG`]), all on one `host:port`.
async fn receiver(seen: Arc<Seen>) -> anyhow::Result<String> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let base = format!("http://{}", listener.local_addr()?);
    let app = axum::Router::new().fallback(move |uri: Uri, headers: HeaderMap| {
        let seen = seen.clone();
        async move {
            match uri.path() {
                "/healthy" => {
                    let sent = (headers.get("webhook-id").and_then(|v| v.to_str().ok()))
                        .and_then(|id| id.rsplit('-').next()?.parse::<u64>().ok());
                    let latency = sent.map_or(u64::MAX, |s| unix_micros().saturating_sub(s));
                    seen.healthy.lock().expect("bench lock").push(latency);
                    StatusCode::OK
                }
                "/hang" => {
                    seen.noisy.fetch_add(1, Ordering::Relaxed);
                    tokio::time::sleep(HANG).await;
                    StatusCode::INTERNAL_SERVER_ERROR
                }
                _ => {
                    seen.noisy.fetch_add(1, Ordering::Relaxed);
                    StatusCode::INTERNAL_SERVER_ERROR
                }
            }
        }
    });
    tokio::spawn(async move { axum::serve(listener, app).await });
    Ok(base)
}

/// The noisy side of a scenario.
struct Noise {
    path: &'static str,
    tenants: usize,
    webhooks_per_tenant: usize,
    /// Events per second over all its tenants.
    rate: u64,
}

/// The healthy tenant's figures in one scenario.
struct Figures {
    delivered: usize,
    expected: usize,
    p50_ms: f64,
    p99_ms: f64,
}

/// Runs the four scenarios for `seconds` each and prints their figures.
pub(crate) async fn run(bench: &Bench, seconds: u64) -> anyhow::Result<()> {
    let scenarios: [(&str, Option<Noise>); 4] = [
        ("healthy tenant alone (control)", None),
        (
            "beside a tenant answering 500 at once, 300 events/s, same host:port",
            Some(Noise {
                path: "/fail",
                tenants: 1,
                webhooks_per_tenant: 1,
                rate: 300,
            }),
        ),
        (
            "beside a tenant hanging 10 s then 500, 300 events/s, same host:port",
            Some(Noise {
                path: "/hang",
                tenants: 1,
                webhooks_per_tenant: 1,
                rate: 300,
            }),
        ),
        (
            "beside 1,000 hanging webhooks of 100 tenants, 100 events/s (1,000 jobs/s)",
            Some(Noise {
                path: "/hang",
                tenants: 100,
                webhooks_per_tenant: 10,
                rate: 100,
            }),
        ),
    ];
    println!("isolation: a healthy tenant at {HEALTHY_RATE} events/s for {seconds} s per scenario");
    let mut control: Option<Figures> = None;
    for (i, (name, noise)) in scenarios.into_iter().enumerate() {
        let figures = scenario(bench, i, name, noise.as_ref(), seconds).await?;
        if let Some(alone) = &control {
            let ratio = figures.p50_ms / alone.p50_ms.max(0.001);
            let met = ratio <= 2.0 && figures.delivered == figures.expected;
            println!(
                "  p50 {ratio:.2} × alone; target (≤ 2 ×, all delivered): {}",
                if met { "met" } else { "MISSED" }
            );
        } else {
            control = Some(figures);
        }
    }
    Ok(())
}

async fn scenario(
    bench: &Bench,
    index: usize,
    name: &str,
    noise: Option<&Noise>,
    seconds: u64,
) -> anyhow::Result<Figures> {
    let seen = Arc::new(Seen::default());
    let base = receiver(seen.clone()).await?;
    let healthy = TenantId::parse(&format!("iso{index}-healthy"))?;
    bench
        .create(
            &healthy,
            &format!("{base}/healthy"),
            RetrySettings::default(),
        )
        .await?;
    let mut noisy: Vec<(TenantId, WebhookId)> = Vec::new();
    let mut noisy_tenants = Vec::new();
    if let Some(noise) = noise {
        for t in 0..noise.tenants {
            let tenant = TenantId::parse(&format!("iso{index}-noisy{t}"))?;
            for _ in 0..noise.webhooks_per_tenant {
                let url = format!("{base}{}", noise.path);
                let id = bench
                    .create(&tenant, &url, RetrySettings::default())
                    .await?;
                noisy.push((tenant.clone(), id));
            }
            noisy_tenants.push(tenant);
        }
    }
    let (cpu0, _) = usage();
    let started = Instant::now();
    let noise_rate = noise.map_or(0, |n| n.rate);
    let expected = publish(bench, &healthy, &noisy_tenants, noise_rate, seconds).await?;
    let deadline = started + Duration::from_secs(seconds + 30);
    while seen.healthy.lock().expect("bench lock").len() < expected && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let (cpu1, rss) = usage();
    let mut latencies = std::mem::take(&mut *seen.healthy.lock().expect("bench lock"));
    latencies.sort_unstable();
    let pct = |q: f64| {
        let i = ((latencies.len().max(1) - 1) as f64 * q).round() as usize;
        latencies.get(i).map_or(f64::NAN, |us| *us as f64 / 1000.0)
    };
    let figures = Figures {
        delivered: latencies.len(),
        expected,
        p50_ms: pct(0.5),
        p99_ms: pct(0.99),
    };
    println!("{name}");
    println!(
        "  healthy: {}/{} delivered, p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms; noisy \
         receiver got {} requests; CPU {:.1} s, peak RSS {rss:.0} MiB",
        figures.delivered,
        figures.expected,
        figures.p50_ms,
        figures.p99_ms,
        pct(1.0),
        seen.noisy.load(Ordering::Relaxed),
        cpu1 - cpu0,
    );
    for (tenant, id) in &noisy {
        bench.delete(tenant, id).await?;
    }
    Ok(figures)
}

/// Publishes `bench.event`s for `seconds`: [`HEALTHY_RATE`]/s for `healthy` and `noise_rate`/s
/// spread round-robin over `noisy`, paced per 10 ms, acks awaited in windows. Returns how many
/// healthy events were published.
async fn publish(
    bench: &Bench,
    healthy: &TenantId,
    noisy: &[TenantId],
    noise_rate: u64,
    seconds: u64,
) -> anyhow::Result<usize> {
    let names = bench.nats.names();
    let subjects: HashMap<&TenantId, String> = (noisy.iter().chain([healthy]))
        .map(|t| (t, names.event_subject(t.as_str(), "bench.event")))
        .collect();
    let ticks = seconds * 100;
    let (mut healthy_sent, mut noisy_sent) = (0u64, 0u64);
    let mut pending = Vec::with_capacity(1000);
    let started = Instant::now();
    for tick in 1..=ticks {
        tokio::time::sleep_until((started + Duration::from_millis(10 * tick)).into()).await;
        let mut batch = Vec::new();
        while healthy_sent < HEALTHY_RATE * tick / 100 {
            batch.push(healthy);
            healthy_sent += 1;
        }
        while !noisy.is_empty() && noisy_sent < noise_rate * tick / 100 {
            batch.push(&noisy[usize::try_from(noisy_sent).unwrap_or(0) % noisy.len()]);
            noisy_sent += 1;
        }
        for tenant in batch {
            let message = Outgoing {
                subject: subjects[tenant].clone(),
                msg_id: format!("{tenant}-{tick}-{}", unix_micros()),
                headers: Vec::new(),
                payload: format!(r#"{{"tick":{tick}}}"#).into(),
                schedule: None,
            };
            pending.push(bench.nats.send(message).await?);
        }
        if pending.len() >= 1000 {
            for ack in pending.drain(..) {
                ack.wait().await?;
            }
        }
    }
    for ack in pending {
        ack.wait().await?;
    }
    Ok(usize::try_from(healthy_sent).unwrap_or(usize::MAX))
}

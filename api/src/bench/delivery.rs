//! `hookledger bench delivery`: end-to-end delivery figures for BENCHMARKS.md.
//!
//! On the configured NATS, under a throw-away prefix (streams deleted afterwards), the router
//! and the dispatcher run in this process with fast HTTP receivers on `127.0.0.1`. Events are
//! published on NATS as users would (`events.<tenant>.bench.event`, `Nats-Msg-Id`), the
//! receivers answer at once, and a scenario ends when every healthy delivery was received and
//! every fact of every delivery is on DELIVERIES. The event id carries its publish time, so
//! each receiver measures publish-to-receive latency. Scenarios:
//! 1. one webhook; 2. ten webhooks per event (ten endpoints); 3. ten webhooks of which five
//!    answer 500 (default retry policy, so their retries fall after the run; the circuit
//!    breaker is off for the bench), compared per healthy webhook with scenario 2;
//! 4. one webhook at a steady rate (default 1,000 events/s), for latency under load;
//!
//! then the isolation scenarios of [`crate::bench::isolation`] (healthy tenant alone, beside a
//! failing, a hanging, and 1,000 hanging webhooks).
//!
//! CPU seconds and peak RSS are those of this whole process: router, dispatcher, **and** the
//! publisher and receivers (the receivers answer without parsing the body, so most of it is
//! hookledger's).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use axum::http::{HeaderMap, StatusCode};
use hookledger_dispatcher::Dispatcher;
use hookledger_domain::ids::{TenantId, WebhookId, WebhookKey};
use hookledger_domain::ledger::reader::StreamKind;
use hookledger_domain::ledger::{CommandMeta, Ledger, Nats, Outgoing};
use hookledger_domain::secrets::{Keyring, SigningSecret};
use hookledger_domain::webhook::values::{EventPattern, TargetUrl, WebhookName, WebhookSpec};
use hookledger_domain::webhook::{
    EventCatalogSnapshot, RetrySettings, Webhook, WebhookCommand, WebhookServices, WebhookStatus,
};
use tokio_util::sync::CancellationToken;

use crate::Config;

/// What to run.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Events of the first three scenarios.
    pub events: usize,
    /// Events per second of the steady scenario.
    pub rate: u64,
    /// Seconds of the steady scenario.
    pub seconds: u64,
    /// Run the throughput scenarios (1 to 4).
    pub throughput: bool,
    /// Seconds of each isolation scenario ([`crate::bench::isolation`]); 0 skips them.
    pub isolation_seconds: u64,
}

/// What one receiver saw.
#[derive(Default)]
struct Seen {
    count: AtomicU64,
    /// Publish-to-receive latencies (µs) of the healthy receivers.
    latencies: Mutex<Vec<u64>>,
    last: Mutex<Option<Instant>>,
}

pub(crate) fn unix_micros() -> u64 {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    u64::try_from(now.as_micros()).unwrap_or(u64::MAX)
}

/// Starts a receiver answering `status`; returns its URL.
async fn receiver(status: StatusCode, seen: Arc<Seen>) -> anyhow::Result<String> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}/hook", listener.local_addr()?);
    let app = axum::Router::new().fallback(move |headers: HeaderMap| {
        let seen = seen.clone();
        async move {
            let sent = (headers.get("webhook-id").and_then(|v| v.to_str().ok()))
                .and_then(|id| id.rsplit('-').next()?.parse::<u64>().ok());
            seen.count.fetch_add(1, Ordering::Relaxed);
            if let (Some(sent), true) = (sent, status.is_success()) {
                let latency = unix_micros().saturating_sub(sent);
                seen.latencies.lock().expect("bench lock").push(latency);
                *seen.last.lock().expect("bench lock") = Some(Instant::now());
            }
            status
        }
    });
    tokio::spawn(async move { axum::serve(listener, app).await });
    Ok(url)
}

/// (user + system CPU seconds, peak RSS in MiB) of this process, from /proc (USER_HZ = 100).
pub(crate) fn usage() -> (f64, f64) {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let fields: Vec<&str> = stat
        .rsplit(')')
        .next()
        .unwrap_or("")
        .split_whitespace()
        .collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    let cpu = (ticks(11) + ticks(12)) / 100.0;
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let hwm = (status.lines())
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .unwrap_or(0.0);
    (cpu, hwm / 1024.0)
}

pub(crate) struct Bench {
    pub(crate) nats: Nats,
    pub(crate) webhooks: Arc<Ledger<Webhook>>,
}

/// One scenario's endpoints: (answers 2xx, retry policy).
struct Scenario {
    name: String,
    tenant: TenantId,
    healthy: usize,
    failing: usize,
    events: usize,
    /// Events per second; `None`: as fast as the windowed publisher goes.
    rate: Option<u64>,
}

impl Bench {
    /// Creates an active webhook of `tenant` to `url` for `bench.*`; returns its id.
    pub(crate) async fn create(
        &self,
        tenant: &TenantId,
        url: &str,
        retry: RetrySettings,
    ) -> anyhow::Result<WebhookId> {
        let id = WebhookId::new();
        let mut spec = WebhookSpec::new(
            WebhookName::parse("bench", &Default::default()).map_err(anyhow::Error::msg)?,
            TargetUrl::parse(url, true).map_err(anyhow::Error::msg)?,
            vec![EventPattern::parse("bench.*").map_err(anyhow::Error::msg)?],
        );
        spec.retry = retry;
        let command = WebhookCommand::CreateWebhook {
            tenant: tenant.clone(),
            id: id.clone(),
            spec,
            secret: SigningSecret::generate(&ring::rand::SystemRandom::new()),
            status: WebhookStatus::Active,
            catalog: EventCatalogSnapshot::new(["bench.event"]),
        };
        let meta = CommandMeta::new("bench");
        self.webhooks
            .execute(&WebhookKey::new(tenant, &id).aggregate_id(), command, &meta)
            .await?;
        Ok(id)
    }

    /// Deletes a webhook (its jobs still queued are then dropped unsent).
    pub(crate) async fn delete(&self, tenant: &TenantId, id: &WebhookId) -> anyhow::Result<()> {
        let meta = CommandMeta::new("bench");
        let command = WebhookCommand::DeleteWebhook;
        self.webhooks
            .execute(&WebhookKey::new(tenant, id).aggregate_id(), command, &meta)
            .await?;
        Ok(())
    }

    /// Runs one scenario; returns its healthy deliveries per second.
    async fn run(&self, s: Scenario) -> anyhow::Result<f64> {
        let seen = Arc::new(Seen::default());
        let failing = Arc::new(Seen::default());
        for _ in 0..s.healthy {
            let url = receiver(StatusCode::OK, seen.clone()).await?;
            self.create(&s.tenant, &url, RetrySettings::default())
                .await?;
        }
        for _ in 0..s.failing {
            let url = receiver(StatusCode::INTERNAL_SERVER_ERROR, failing.clone()).await?;
            self.create(&s.tenant, &url, RetrySettings::default())
                .await?;
        }
        let facts_before = self.nats.head(StreamKind::Deliveries).await?;
        let expected = (s.events * s.healthy) as u64;
        // One fact per delivery: a healthy one's only attempt closes it, a failing one's first
        // attempt schedules its retry (due in a minute, after the run).
        let facts = (s.events * (s.healthy + s.failing)) as u64;
        let (cpu0, _) = usage();
        let started = Instant::now();
        self.publish(&s).await?;
        let published = started.elapsed();
        let deadline = Instant::now() + Duration::from_secs(300);
        while seen.count.load(Ordering::Relaxed) < expected && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let received = seen.count.load(Ordering::Relaxed);
        let last = seen
            .last
            .lock()
            .expect("bench lock")
            .unwrap_or_else(Instant::now);
        let delivering = last.duration_since(started);
        while self.nats.head(StreamKind::Deliveries).await? - facts_before < facts
            && Instant::now() < deadline
        {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let stored = self.nats.head(StreamKind::Deliveries).await? - facts_before;
        let all_facts = started.elapsed();
        let (cpu1, rss) = usage();
        let rate = received as f64 / delivering.as_secs_f64();
        let mut latencies = std::mem::take(&mut *seen.latencies.lock().expect("bench lock"));
        latencies.sort_unstable();
        let pct = |q: f64| {
            let i = ((latencies.len().max(1) - 1) as f64 * q).round() as usize;
            latencies.get(i).map_or(0.0, |us| *us as f64 / 1000.0)
        };
        println!("{}", s.name);
        println!(
            "  {received}/{expected} healthy deliveries in {:.2} s = {:.0} deliveries/s \
             (events published in {:.2} s{})",
            delivering.as_secs_f64(),
            rate,
            published.as_secs_f64(),
            s.rate
                .map_or(String::new(), |r| format!(", paced at {r}/s")),
        );
        println!(
            "  publish-to-receive latency p50 {:.1} ms, p95 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
            pct(0.5),
            pct(0.95),
            pct(0.99),
            pct(1.0)
        );
        if s.failing > 0 {
            println!(
                "  failing endpoints got {} attempts",
                failing.count.load(Ordering::Relaxed)
            );
        }
        println!(
            "  {stored}/{facts} facts on DELIVERIES after {:.2} s; CPU {:.1} s ({:.0} % of one \
             core while delivering), peak RSS {rss:.0} MiB",
            all_facts.as_secs_f64(),
            cpu1 - cpu0,
            (cpu1 - cpu0) / all_facts.as_secs_f64() * 100.0,
        );
        Ok(rate)
    }

    /// Publishes the scenario's events, acks awaited in windows of 1,000.
    async fn publish(&self, s: &Scenario) -> anyhow::Result<()> {
        let subject = self
            .nats
            .names()
            .event_subject(s.tenant.as_str(), "bench.event");
        let mut pending = Vec::with_capacity(1000);
        let started = Instant::now();
        for i in 0..s.events {
            if let Some(rate) = s.rate {
                let due = started + Duration::from_secs_f64(i as f64 / rate as f64);
                tokio::time::sleep_until(due.into()).await;
            }
            let id = format!("{}-{i}-{}", s.tenant, unix_micros());
            let message = Outgoing {
                subject: subject.clone(),
                msg_id: id,
                headers: Vec::new(),
                payload: format!(r#"{{"i":{i}}}"#).into(),
                schedule: None,
            };
            pending.push(self.nats.send(message).await?);
            if pending.len() >= 1000 {
                for ack in pending.drain(..) {
                    ack.wait().await?;
                }
            }
        }
        for ack in pending {
            ack.wait().await?;
        }
        Ok(())
    }
}

/// Runs the delivery benchmark.
pub async fn delivery(config: &Config, settings: &Settings) -> anyhow::Result<()> {
    let (nats, prefix) = super::scratch::streams(config, "bench-").await?;
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    println!(
        "nats-server {} at {}, prefix {prefix}, {cores} cores, dispatcher concurrency {} \
         (per webhook {}, per tenant and host {})",
        nats.server_version(),
        config.nats.url,
        config.dispatcher.concurrency,
        config.dispatcher.per_webhook_concurrency,
        config.dispatcher.per_host_concurrency,
    );
    let result = run(&nats, config, settings).await;
    nats.delete_streams().await?;
    result
}

async fn run(nats: &Nats, config: &Config, settings: &Settings) -> anyhow::Result<()> {
    let keyring = Arc::new(Keyring::for_tests());
    let services = WebhookServices {
        keyring: keyring.clone(),
    };
    let webhooks = Arc::new(Ledger::open(nats, services).await?);
    let mut dispatcher_settings = config.dispatcher.settings();
    dispatcher_settings.allow_private_targets = true;
    dispatcher_settings.disable_after_failures = 0;
    let dispatcher =
        Dispatcher::new(nats.clone(), webhooks.clone(), keyring, dispatcher_settings).await?;
    let shutdown = CancellationToken::new();
    let router = tokio::spawn({
        let (d, s) = (dispatcher.clone(), shutdown.clone());
        async move { d.run_router(s).await }
    });
    let worker = tokio::spawn({
        let (d, s) = (dispatcher.clone(), shutdown.clone());
        async move { d.run_worker(s).await }
    });
    let bench = Bench {
        nats: nats.clone(),
        webhooks,
    };
    let n = settings.events;
    let scenarios = [
        ("1 webhook", "b1", 1, 0, n, None),
        (
            "10 webhooks per event (fan-out)",
            "b10",
            10,
            0,
            n / 10,
            None,
        ),
        ("10 webhooks, 5 answering 500", "b5", 5, 5, n / 10, None),
        (
            "1 webhook, steady rate",
            "steady",
            1,
            0,
            (settings.rate * settings.seconds) as usize,
            Some(settings.rate),
        ),
    ];
    let mut per_webhook = Vec::new();
    let scenarios = if settings.throughput {
        &scenarios[..]
    } else {
        &[]
    };
    for &(name, tenant, healthy, failing, events, rate) in scenarios {
        let delivered = bench
            .run(Scenario {
                name: name.to_owned(),
                tenant: TenantId::parse(tenant)?,
                healthy,
                failing,
                events,
                rate,
            })
            .await?;
        per_webhook.push(delivered / healthy as f64);
    }
    if let [_, all_healthy, half_failing, ..] = per_webhook[..] {
        println!(
            "healthy deliveries/s per healthy webhook with half the webhooks failing: {:.0} vs \
             {:.0} with all healthy ({:+.0} %)",
            half_failing,
            all_healthy,
            (half_failing / all_healthy - 1.0) * 100.0
        );
    }
    if settings.isolation_seconds > 0 {
        crate::bench::isolation::run(&bench, settings.isolation_seconds).await?;
    }
    shutdown.cancel();
    router.await??;
    worker.await??;
    Ok(())
}

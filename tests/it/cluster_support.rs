//! What the fault trials share: one tenant with ten webhooks (one receiver, one path each), a
//! steady load of events published through the replicas' APIs, and the checks that nothing was
//! lost (every (event, webhook) pair received, every delivery closed by one success fact).
//!
//! The load is 20,000 events into 10 webhooks (200,000 deliveries) per trial. The
//! suite runs the debug binary on two shared cores beside three nats-servers and PostgreSQL,
//! where that is minutes per trial; [`Load::trial()`] scales it to 400 events at 40/s (4,000
//! deliveries in ~10 s) so the six trials together take a few minutes. Every fault still lands
//! mid-run with deliveries in flight. `HOOKLEDGER_TRIAL_EVENTS=20000 HOOKLEDGER_TRIAL_RATE=400`
//! runs them at the size (BENCHMARKS.md "Scale-out" has such a run, release binary). `hookledger bench`-style figures at full size come from
//! `cluster_scale` (ignored by default, see BENCHMARKS.md).
//!
//! The publisher sends each event to the next replica's API in turn; a 503 (which must carry
//! `Retry-After`) or a refused connection (a killed replica) is retried on the next replica
//! with the same event id, so the ledger keeps one event. Any other 5xx fails the trial.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};
use tokio::time::Instant;

use crate::delivery_support::{facts, succeeded};
use crate::harness::app::OPERATOR_TOKEN;
use crate::harness::receiver::{Reply, TestReceiver};
use crate::harness::{TestEnv, eventually};

pub const WEBHOOKS: usize = 10;
pub const TENANT: &str = "acme";

/// How many events, how fast.
#[derive(Debug, Clone, Copy)]
pub struct Load {
    pub events: usize,
    pub per_second: u32,
}

impl Load {
    /// What each fault trial sends: 400 events at 40/s, or `HOOKLEDGER_TRIAL_EVENTS` at
    /// `HOOKLEDGER_TRIAL_RATE` a second (see the module doc for why not 20,000 by default).
    pub fn trial() -> Load {
        let var = |name: &str, default: usize| {
            std::env::var(name)
                .ok()
                .and_then(|v| v.parse().ok())
                .unwrap_or(default)
        };
        Load {
            events: var("HOOKLEDGER_TRIAL_EVENTS", 400),
            per_second: u32::try_from(var("HOOKLEDGER_TRIAL_RATE", 40)).unwrap_or(40),
        }
    }
}

/// The dispatcher settings every trial's replicas run with: a short ack wait, so a killed
/// replica's jobs come back within seconds.
pub const REPLICA_VARS: &[(&str, &str)] = &[
    ("HOOKLEDGER_DISPATCHER__ACK_WAIT_SECONDS", "5"),
    ("HOOKLEDGER_DISPATCHER__CONCURRENCY", "64"),
    ("HOOKLEDGER_DISPATCHER__DISABLE_AFTER_FAILURES", "0"),
    ("HOOKLEDGER_HTTP__RATE_LIMIT_PER_SECOND", "0"),
];

/// The tenant, its key and the webhooks' ids, created through `api` (a replica's base URL).
pub struct Setup {
    pub key: String,
    pub webhooks: Vec<String>,
    pub receiver: TestReceiver,
}

pub async fn setup(api: &str) -> Setup {
    let http = reqwest::Client::new();
    let created = (http.post(format!("{api}/v1/admin/tenants")))
        .bearer_auth(OPERATOR_TOKEN)
        .json(&json!({"id": TENANT}))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), StatusCode::CREATED);
    let key = created.json::<Value>().await.unwrap()["apiKey"]["key"]
        .as_str()
        .unwrap()
        .to_owned();
    let typed = (http.post(format!("{api}/v1/event-types")))
        .header("x-api-key", &key)
        .json(&json!({"name": "lead.created"}))
        .send()
        .await
        .unwrap();
    assert_eq!(typed.status(), StatusCode::CREATED);
    let receiver = TestReceiver::replying(Reply::status(200)).await;
    let mut webhooks = Vec::new();
    for i in 0..WEBHOOKS {
        let body = crate::delivery_support::hook(&receiver.url(&format!("/w{i}")), &["lead.*"]);
        let response = (http.post(format!("{api}/v1/webhooks")))
            .header("x-api-key", &key)
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::CREATED);
        let id = response.json::<Value>().await.unwrap()["id"]
            .as_str()
            .unwrap()
            .to_owned();
        webhooks.push(id);
    }
    Setup {
        key,
        webhooks,
        receiver,
    }
}

/// What the publisher saw.
#[derive(Debug, Default, Clone)]
pub struct Published {
    /// 503 answers, each with `Retry-After` (one without fails the trial at once).
    pub unavailable: usize,
    /// Requests that got no answer (a killed replica, a reset connection), retried.
    pub unanswered: usize,
    /// From the first 503 to the last (zero without any).
    pub unavailable_for: Duration,
    first_503: Option<Instant>,
    pub elapsed: Duration,
}

/// Publishes `load` through `apis` in turn at a steady rate; returns once every event was
/// accepted (202) by some replica. Panics on any 5xx but 503, and on a 503 without
/// `Retry-After`.
pub async fn publish(apis: Vec<String>, key: String, load: Load) -> Published {
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    let seen = Arc::new(Mutex::new(Published::default()));
    let started = Instant::now();
    let mut tick = tokio::time::interval(Duration::from_secs(1) / load.per_second);
    let mut tasks = Vec::new();
    for n in 0..load.events {
        tick.tick().await;
        let (http, apis, key, seen) = (http.clone(), apis.clone(), key.clone(), seen.clone());
        tasks.push(tokio::spawn(async move {
            let body = json!({"type": "lead.created", "id": format!("e{n}"), "data": {"n": n}});
            for round in 0usize.. {
                let api = &apis[(n + round) % apis.len()];
                let sent = (http.post(format!("{api}/v1/events")))
                    .header("x-api-key", &key)
                    .json(&body)
                    .send()
                    .await;
                match sent {
                    Ok(r) if r.status().is_success() => return,
                    Ok(r) if r.status() == StatusCode::SERVICE_UNAVAILABLE => {
                        assert!(
                            r.headers().contains_key("retry-after"),
                            "a 503 without Retry-After"
                        );
                        let mut seen = seen.lock().unwrap();
                        seen.unavailable += 1;
                        let first = *seen.first_503.get_or_insert_with(Instant::now);
                        seen.unavailable_for = first.elapsed();
                    }
                    Ok(r) => {
                        let status = r.status();
                        panic!(
                            "event e{n}: {status} {}",
                            r.text().await.unwrap_or_default()
                        )
                    }
                    Err(_) => seen.lock().unwrap().unanswered += 1,
                }
                assert!(round < 900, "event e{n} not accepted within 90 s");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }));
    }
    for task in tasks {
        task.await.expect("publisher task");
    }
    let mut out = seen.lock().unwrap().clone();
    out.elapsed = started.elapsed();
    out
}

/// What arrived.
#[derive(Debug)]
pub struct Delivered {
    /// Requests received beyond one per (event, webhook).
    pub duplicates: usize,
    /// Deliveries (delivery ids) beyond one per (event, webhook): an event routed again after
    /// a fault, whose job was already done and gone from the work queue (see BENCHMARKS.md).
    pub second_deliveries: usize,
    /// From the first event published to the last pair received.
    pub elapsed: Duration,
}

/// Waits until every (event, webhook) pair of `load` was received and closed by a
/// `delivery.succeeded` fact, no delivery closed twice; returns the duplicates.
pub async fn all_delivered(
    env: &TestEnv,
    setup: &Setup,
    load: Load,
    started: Instant,
    within: Duration,
) -> Delivered {
    let want = load.events * WEBHOOKS;
    // A larger load takes longer to publish: three times its publishing time at least.
    let publishing = Duration::from_secs_f64(load.events as f64 / f64::from(load.per_second));
    let within = within.max(publishing * 3);
    eventually(within, || async {
        // Counting is cheap; the pairs (a copy of every request) only once there are enough.
        let count = setup.receiver.count();
        if count < want {
            return Err(format!("{count} of {want} requests"));
        }
        let pairs: HashSet<(String, String)> = (setup.receiver.received().iter())
            .map(|r| {
                (
                    r.path.clone(),
                    r.json()["id"].as_str().unwrap_or("").to_owned(),
                )
            })
            .collect();
        if pairs.len() == want {
            Ok(())
        } else {
            Err(format!("{} of {want} pairs received", pairs.len()))
        }
    })
    .await;
    let elapsed = started.elapsed();
    let mut redelivered = 0;
    for id in &setup.webhooks {
        let facts = eventually(Duration::from_secs(60), || async {
            let facts = facts(env, TENANT, id).await;
            let events: HashSet<_> = (succeeded(&facts).iter())
                .map(|c| c.event_id.clone())
                .collect();
            if events.len() == load.events {
                Ok(facts)
            } else {
                Err(format!(
                    "{id}: {} of {} events closed",
                    events.len(),
                    load.events
                ))
            }
        })
        .await;
        let mut closed = HashMap::new();
        for c in succeeded(&facts) {
            *closed.entry(c.delivery_id.clone()).or_insert(0) += 1;
        }
        assert!(
            closed.values().all(|n| *n == 1),
            "{id}: a delivery closed twice"
        );
        redelivered += closed.len() - load.events;
    }
    Delivered {
        duplicates: setup.receiver.count() - want,
        second_deliveries: redelivered,
        elapsed,
    }
}

/// Waits until the receiver got `n` requests (the fault should land mid-run).
pub async fn received_at_least(setup: &Setup, n: usize) {
    setup.receiver.wait_for(n, Duration::from_secs(60)).await;
}

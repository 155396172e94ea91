//! Isolation: a hanging receiver costs only its own webhook. Tenant A's webhook and tenant B's
//! share one receiver (one `host:port`, as tenants share automation platforms); A's path
//! answers only after 10 s while events pour in for both, and B must not notice. And a webhook
//! whose attempts time out trips the circuit breaker like one answering 5xx.

use std::collections::HashMap;
use std::time::Duration;

use hookledger_api::Roles;
use serde_json::{Value, json};
use tokio::time::Instant;

use crate::delivery_support::{facts_until, failed, hook, publish, tenant, webhook};
use crate::harness::receiver::{Reply, TestReceiver};
use crate::harness::{TestApp, eventually, nats_url};

/// Publishes on NATS, per 10 ms tick, `per_tick` events of each tenant for `seconds`; returns
/// when each event of `watched` was published, by event id.
async fn publish_paced(
    app: &TestApp,
    per_tick: &[(&str, usize)],
    watched: &str,
    seconds: u64,
) -> HashMap<String, Instant> {
    let client = async_nats::connect(nats_url()).await.unwrap();
    let js = async_nats::jetstream::new(client);
    let mut sent = HashMap::new();
    let mut acks = Vec::new();
    let mut tick = tokio::time::interval(Duration::from_millis(10));
    for t in 0..seconds * 100 {
        tick.tick().await;
        for (tenant, n) in per_tick {
            for i in 0..*n {
                let id = format!("{tenant}-{t}-{i}");
                let mut headers = async_nats::HeaderMap::new();
                headers.insert("Nats-Msg-Id", id.as_str());
                let subject = format!("{}-events.{tenant}.lead.created", app.id);
                let payload = serde_json::to_vec(&json!({"t": t})).unwrap();
                let ack = js.publish_with_headers(subject, headers, payload.into());
                acks.push(ack.await.unwrap());
                if *tenant == watched {
                    sent.insert(id, Instant::now());
                }
            }
        }
    }
    for ack in acks {
        ack.await.unwrap();
    }
    sent
}

#[tokio::test]
async fn a_healthy_webhook_keeps_its_latency_beside_another_tenants_hanging_one_on_the_same_host() {
    const SECONDS: u64 = 8;
    let app = TestApp::spawn().await;
    let hanging_key = tenant(&app, "hang").await;
    let healthy_key = tenant(&app, "fine").await;
    let receiver = TestReceiver::start().await;
    receiver.on_path("/a", Reply::status(500).after(Duration::from_secs(10)));
    webhook(&app, &hanging_key, hook(&receiver.url("/a"), &["*"])).await;
    webhook(&app, &healthy_key, hook(&receiver.url("/b"), &["*"])).await;

    // 300 events/s for A, 100/s for B.
    let sent = publish_paced(&app, &[("hang", 3), ("fine", 1)], "fine", SECONDS).await;

    let expected = sent.len();
    let got = eventually(Duration::from_secs(30), || async {
        let got = receiver.received_on("/b");
        if got.len() >= expected {
            Ok(got)
        } else {
            Err(format!("{} of {expected} healthy deliveries", got.len()))
        }
    })
    .await;
    let mut latencies: Vec<Duration> = (got.iter())
        .map(|r| r.at - sent[r.header("webhook-id").unwrap()])
        .collect();
    latencies.sort();
    let at = |q: f64| latencies[((latencies.len() - 1) as f64 * q) as usize];
    let hanging = receiver.received_on("/a").len();
    println!(
        "healthy webhook beside another tenant's hanging one on the same host:port: p50 {:?}, \
         p99 {:?}, max {:?}; the hanging path got {hanging} requests",
        at(0.5),
        at(0.99),
        at(1.0),
    );
    assert!(hanging >= 1, "the hanging path was being called");
    assert!(
        hanging <= 64,
        "the hanging webhook was held to a few slots: {hanging}"
    );
    assert!(at(0.99) < Duration::from_secs(1), "p99 {:?}", at(0.99));
}

#[tokio::test]
async fn attempts_that_time_out_trip_the_circuit_breaker_like_5xx_answers() {
    let app = TestApp::spawn_with(Roles::ALL, |c| c.dispatcher.disable_after_failures = 2).await;
    let key = tenant(&app, "acme").await;
    let receiver = TestReceiver::replying(Reply::status(200).after(Duration::from_secs(5))).await;
    let mut body = hook(&receiver.url("/"), &["*"]);
    body["retryAttempts"] = json!(0);
    body["timeoutSeconds"] = json!(1);
    let id = webhook(&app, &key, body).await["id"]
        .as_str()
        .unwrap()
        .to_owned();

    for i in 0..2 {
        let event = json!({"type": "lead.created", "id": format!("e{i}"), "data": {}});
        publish(&app, &key, event).await;
        facts_until(&app, "acme", &id, Duration::from_secs(20), |f| {
            failed(f).len() > i
        })
        .await;
    }

    eventually(Duration::from_secs(20), || async {
        let response = (app.http.get(app.url(&format!("/v1/webhooks/{id}"))))
            .header("x-api-key", &key)
            .send()
            .await
            .unwrap();
        let webhook: Value = response.json().await.unwrap();
        match webhook["status"].as_str() {
            Some("disabled") => Ok(webhook),
            _ => Err(webhook),
        }
    })
    .await;
}

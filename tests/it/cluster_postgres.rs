//! Fault trial 4 of issue 16: PostgreSQL stopped for 30 s mid-run, under the trial load, with
//! three replicas on a 3-node JetStream cluster. The database is a private one
//! (`harness::postgres_server`): the shared server on 5432 serves every other test.
//!
//! While it is down: deliveries go on (the hot path needs no PostgreSQL: events published on
//! NATS meanwhile are delivered while it is down), reads answer 503 with `Retry-After`,
//! `POST /v1/events` goes on with keys checked before the outage (the key cache's last check is
//! used while PostgreSQL cannot be asked; the publisher retries any 503 and loses nothing),
//! and a create (a write that waits for its read model) answers 503 without
//! losing the command: once the database is back, a retry with the same `Idempotency-Key`
//! creates the webhook once and a second retry replays the stored answer. Afterwards every view
//! catches up and equals a fresh rebuild.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};
use tokio::time::Instant;

use crate::cluster_nats::{apis, replicas};
use crate::cluster_replicas::{equal_to_a_rebuild, views_caught_up};
use crate::cluster_support::{
    Load, Setup, TENANT, WEBHOOKS, all_delivered, publish, received_at_least, setup,
};
use crate::harness::TestEnv;
use crate::harness::cluster::NatsCluster;
use crate::harness::postgres_server::OwnPostgres;

const WITHIN: Duration = Duration::from_secs(120);
const OUTAGE: Duration = Duration::from_secs(30);
/// Long enough that PostgreSQL is down for a part of the run, with deliveries before, during
/// and after the outage.
const LOAD: Load = Load {
    events: 1_400,
    per_second: 35,
};

/// Events published on NATS (not through the API) while PostgreSQL is down.
const DIRECT: usize = 200;

/// Publishes [`DIRECT`] events `n<i>` on the EVENTS subject of the tenant; returns how many.
async fn publish_on_nats(url: &str, env: &TestEnv) -> usize {
    let client = async_nats::connect(url.split(',').next().unwrap())
        .await
        .unwrap();
    let js = async_nats::jetstream::new(client);
    let subject = format!("{}-events.{TENANT}.lead.created", env.id);
    let mut acks = Vec::new();
    for i in 0..DIRECT {
        let mut headers = async_nats::HeaderMap::new();
        headers.insert("Nats-Msg-Id", format!("n{i}").as_str());
        let payload = serde_json::to_vec(&json!({"i": i})).unwrap();
        acks.push(
            (js.publish_with_headers(subject.clone(), headers, payload.into()))
                .await
                .unwrap(),
        );
    }
    for ack in acks {
        ack.await.unwrap();
    }
    DIRECT
}

async fn create(http: &reqwest::Client, api: &str, setup: &Setup, key: &str) -> reqwest::Response {
    let body = crate::delivery_support::hook(&setup.receiver.url("/late"), &["lead.*"]);
    (http.post(format!("{api}/v1/webhooks")))
        .header("x-api-key", &setup.key)
        .header("idempotency-key", key)
        .json(&body)
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn trial_4_postgres_stopped_for_30_s_mid_run_delivery_goes_on_and_views_catch_up() {
    let postgres = OwnPostgres::start().await;
    let cluster = NatsCluster::start().await;
    let url = cluster.url();
    let env = TestEnv::on(&url, 3, &postgres.admin_url()).await;
    let replicas = replicas(&env, &url, 3, 3).await;
    let setup = setup(&replicas[0].url("")).await;
    let api = replicas[1].url("");
    let http = reqwest::Client::new();
    let started = Instant::now();
    let publisher = tokio::spawn(publish(apis(&replicas), setup.key.clone(), LOAD));

    received_at_least(&setup, 2_000).await;
    postgres.stop().await;
    let stopped = Instant::now();
    let before = setup.receiver.count();

    let read = (http.get(format!("{api}/v1/webhooks")))
        .header("x-api-key", &setup.key)
        .send()
        .await
        .unwrap();
    assert_eq!(read.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(read.headers().contains_key("retry-after"));
    let write = create(&http, &api, &setup, "create-during-outage").await;
    assert_eq!(write.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(write.headers().contains_key("retry-after"));

    // Deliveries go on while the database is down: events published straight on NATS.
    let direct = publish_on_nats(&url, &env).await;
    received_at_least(&setup, before + direct * WEBHOOKS).await;
    assert!(
        stopped.elapsed() < OUTAGE,
        "delivered only after the outage: {:?}",
        stopped.elapsed()
    );
    let during = setup.receiver.count() - before;
    tokio::time::sleep(OUTAGE.saturating_sub(stopped.elapsed())).await;
    postgres.start_again().await;

    let published = publisher.await.unwrap();
    let all = Load {
        events: LOAD.events + DIRECT,
        ..LOAD
    };
    let delivered = all_delivered(&env, &setup, all, started, WITHIN).await;

    let first = crate::harness::eventually(WITHIN, || async {
        let response = create(&http, &api, &setup, "create-during-outage").await;
        match response.status() {
            StatusCode::CREATED => Ok(response.json::<Value>().await.unwrap()),
            status => Err(format!("{status}: {}", response.text().await.unwrap())),
        }
    })
    .await;
    let again = create(&http, &api, &setup, "create-during-outage").await;
    assert_eq!(again.status(), StatusCode::CREATED);
    assert_eq!(
        again
            .headers()
            .get("idempotent-replayed")
            .map(|v| v.as_bytes()),
        Some(&b"true"[..])
    );
    let replayed: Value = again.json().await.unwrap();
    assert_eq!(replayed["id"], first["id"], "the stored answer");
    let listed: Value = (http.get(format!("{api}/v1/webhooks?limit=100")))
        .header("x-api-key", &setup.key)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let late = (listed["data"].as_array().unwrap().iter())
        .filter(|w| w["url"] == json!(setup.receiver.url("/late")))
        .count();
    assert_eq!(late, 1, "the command ran once");

    views_caught_up(&env).await;
    equal_to_a_rebuild(&env).await;
    println!(
        "trial 4: PostgreSQL down {OUTAGE:?}: {during} deliveries while it was down; {} \
         duplicates, {} 503s to the publisher",
        delivered.duplicates, published.unavailable,
    );
}

//! The scale-out figures of BENCHMARKS.md ("Scale-out (issue 16)"): deliveries per second with
//! 1, 2 and 3 hookledger replicas on a 3-node JetStream cluster with R3 streams.
//!
//! Ignored by default (a measurement, not a check the suite needs; it takes minutes). Run it
//! with the release binary:
//!
//! ```sh
//! cargo build --release --bins
//! HOOKLEDGER_TEST_BIN=target/release/hookledger SCALE_EVENTS=2000 \
//!   cargo nextest run -E 'test(/cluster_scale/)' --run-ignored only --no-capture
//! ```
//!
//! Per replica count: a fresh prefix on the same cluster, one replica with every role (the API
//! for the setup, the projector) and the others as `router,dispatcher`; then `SCALE_EVENTS`
//! events (default 2,000) published straight on NATS as fast as acks come back, into ten
//! webhooks (10 deliveries per event) answered 200 at once by one receiver. The figure is
//! pairs received ÷ time from the first publish to the last pair received; every pair must
//! arrive, so the measurement fails rather than report a lossy rate.

use std::time::Duration;

use serde_json::json;
use tokio::time::Instant;

use crate::cluster_support::{Load, REPLICA_VARS, TENANT, WEBHOOKS, all_delivered, setup};
use crate::harness::TestEnv;
use crate::harness::cluster::{NatsCluster, Replica};

async fn publish_backlog(url: &str, env: &TestEnv, events: usize) {
    let client = async_nats::connect(url.split(',').next().unwrap())
        .await
        .unwrap();
    let js = async_nats::jetstream::new(client);
    let subject = format!("{}-events.{TENANT}.lead.created", env.id);
    let mut acks = Vec::new();
    for i in 0..events {
        let mut headers = async_nats::HeaderMap::new();
        headers.insert("Nats-Msg-Id", format!("e{i}").as_str());
        let payload = serde_json::to_vec(&json!({"n": i})).unwrap();
        acks.push(
            (js.publish_with_headers(subject.clone(), headers, payload.into()))
                .await
                .unwrap(),
        );
        if acks.len() == 512 {
            for ack in acks.drain(..) {
                ack.await.unwrap();
            }
        }
    }
    for ack in acks {
        ack.await.unwrap();
    }
}

#[tokio::test]
#[ignore = "a measurement for BENCHMARKS.md; run with --run-ignored only"]
async fn cluster_scale_deliveries_per_second_with_one_two_and_three_replicas() {
    let events: usize = std::env::var("SCALE_EVENTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2_000);
    let load = Load {
        events,
        per_second: 1,
    };
    let cluster = NatsCluster::start().await;
    let url = cluster.url();
    let mut vars = REPLICA_VARS.to_vec();
    vars.push(("HOOKLEDGER_DISPATCHER__CONCURRENCY", "512"));
    vars.push(("HOOKLEDGER_LOG__FILTER", "warn"));
    for n in 1..=3 {
        let env = TestEnv::on(&url, 3, &crate::harness::admin_database_url()).await;
        let mut replicas =
            vec![Replica::start(&env, &url, 3, "api,router,dispatcher,projector", &vars).await];
        for _ in 1..n {
            replicas.push(Replica::start(&env, &url, 3, "router,dispatcher", &vars).await);
        }
        let setup = setup(&replicas[0].url("")).await;
        let started = Instant::now();
        publish_backlog(&url, &env, events).await;
        let published = started.elapsed();
        let delivered = all_delivered(&env, &setup, load, started, Duration::from_secs(600)).await;
        let pairs = events * WEBHOOKS;
        println!(
            "scale: {n} replica(s): {pairs} deliveries in {:?} = {:.0}/s (published in \
             {published:?}); {} duplicates",
            delivered.elapsed,
            pairs as f64 / delivered.elapsed.as_secs_f64(),
            delivered.duplicates,
        );
    }
}

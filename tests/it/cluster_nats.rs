//! Fault trials 1, 2 and 5 of issue 16: three `hookledger serve` replicas (every role) under a
//! steady load into ten webhooks, on a 3-node JetStream cluster with R3 streams (trials 1, 2)
//! and on a single nats-server (trial 5). Load sizes: see `cluster_support` (scaled down from
//! the 20,000 events so the suite stays within CI's time).

use std::time::Duration;

use tokio::time::Instant;

use crate::cluster_support::{
    Delivered, Load, REPLICA_VARS, WEBHOOKS, all_delivered, publish, received_at_least, setup,
};
use crate::harness::TestEnv;
use crate::harness::cluster::{NatsCluster, Replica};
use crate::harness::nats_server::OwnNatsServer;

const ALL_ROLES: &str = "api,router,dispatcher,projector";
const WITHIN: Duration = Duration::from_secs(120);

/// `n` replicas with every role on `env`, against `url` with `replicas` stream copies.
pub async fn replicas(env: &TestEnv, url: &str, copies: usize, n: usize) -> Vec<Replica> {
    let mut out = Vec::new();
    for _ in 0..n {
        out.push(Replica::start(env, url, copies, ALL_ROLES, REPLICA_VARS).await);
    }
    out
}

pub fn apis(replicas: &[Replica]) -> Vec<String> {
    replicas.iter().map(|r| r.url("")).collect()
}

/// The server name (`n0`..`n2`) leading stream `name`.
async fn stream_leader(url: &str, name: &str) -> String {
    let first = url.split(',').next().unwrap();
    let client = async_nats::connect(first).await.unwrap();
    let js = async_nats::jetstream::new(client);
    let mut stream = js.get_stream(name).await.unwrap();
    let info = stream.info().await.unwrap();
    (info.cluster.clone())
        .and_then(|c| c.leader)
        .expect("an R3 stream has a leader")
}

/// Duplicates come only from what was in flight at the fault: attempts sent and not yet
/// recorded (a replica holds at most its intake, 2 × the concurrency of 64, of jobs between
/// taking and acking them: 64 sending, the rest waiting for their fact to be stored, which is
/// where a restart catches them) and events the router had not acked yet (at most a second of
/// the load, ten webhooks each). Each of the trial's `faults` can catch a full intake: trial 2
/// faults twice, at the kill and at the restart, and one run of it saw 512 repeats (2026-12-07,
/// a slow machine), over one intake per replica. Which fault caught the second wave (a consumer
/// leader that took over without the acks its predecessor had not yet replicated, or the
/// restart's reconnects) is inferred, not observed.
fn in_flight_only(delivered: &Delivered, faults: usize) {
    let routed_again = delivered.second_deliveries;
    assert!(
        routed_again <= Load::trial().per_second as usize * WEBHOOKS,
        "events routed again: {routed_again}"
    );
    assert!(
        delivered.duplicates <= faults * 3 * 2 * 64 + routed_again,
        "only attempts in flight repeat: {}",
        delivered.duplicates
    );
}

#[tokio::test]
async fn trial_1_three_replicas_on_a_three_node_cluster_deliver_every_pair_once() {
    let cluster = NatsCluster::start().await;
    let env = TestEnv::on(&cluster.url(), 3, &crate::harness::admin_database_url()).await;
    let replicas = replicas(&env, &cluster.url(), 3, 3).await;
    let setup = setup(&replicas[0].url("")).await;
    let started = Instant::now();
    let published = publish(apis(&replicas), setup.key.clone(), Load::trial()).await;
    let delivered = all_delivered(&env, &setup, Load::trial(), started, WITHIN).await;
    let pairs = Load::trial().events * WEBHOOKS;
    println!(
        "trial 1: {pairs} deliveries by 3 replicas in {:?} ({:.0}/s), published in {:?}; \
         {} duplicates, {} 503s",
        delivered.elapsed,
        pairs as f64 / delivered.elapsed.as_secs_f64(),
        published.elapsed,
        delivered.duplicates,
        published.unavailable,
    );
    assert_eq!(delivered.duplicates, 0, "no fault, no duplicate");
    assert_eq!(delivered.second_deliveries, 0);
    assert_eq!(published.unavailable, 0);
}

#[tokio::test]
async fn trial_2_a_nats_node_killed_mid_run_and_restarted_loses_nothing() {
    let mut cluster = NatsCluster::start().await;
    let url = cluster.url();
    let env = TestEnv::on(&url, 3, &crate::harness::admin_database_url()).await;
    let replicas = replicas(&env, &url, 3, 3).await;
    let setup = setup(&replicas[0].url("")).await;
    let started = Instant::now();
    let publisher = tokio::spawn(publish(apis(&replicas), setup.key.clone(), Load::trial()));

    received_at_least(&setup, Load::trial().events * WEBHOOKS / 4).await;
    // The node leading EVENTS (where every publish lands): its loss forces an election.
    let leader = stream_leader(&url, &env.nats.names().events_stream()).await;
    let node: usize = leader.trim_start_matches('n').parse().unwrap();
    cluster.kill(node).await;
    let killed_at = setup.receiver.count();
    received_at_least(&setup, killed_at + 500).await;
    cluster.restart(node).await;

    let published = publisher.await.unwrap();
    let delivered = all_delivered(&env, &setup, Load::trial(), started, WITHIN).await;
    println!(
        "trial 2: node {leader} (EVENTS leader) killed after {killed_at} deliveries, restarted \
         after 500 more; {} duplicates ({} second deliveries), {} 503s (each with \
         Retry-After) over {:?}, {} unanswered",
        delivered.duplicates,
        delivered.second_deliveries,
        published.unavailable,
        published.unavailable_for,
        published.unanswered,
    );
    in_flight_only(&delivered, 2);
}

#[tokio::test]
async fn trial_5_a_single_nats_server_restarted_under_load_loses_nothing() {
    let mut server = OwnNatsServer::start().await;
    let url = server.url();
    let env = TestEnv::on(&url, 1, &crate::harness::admin_database_url()).await;
    let replicas = replicas(&env, &url, 1, 3).await;
    let setup = setup(&replicas[0].url("")).await;
    let started = Instant::now();
    let publisher = tokio::spawn(publish(apis(&replicas), setup.key.clone(), Load::trial()));

    received_at_least(&setup, Load::trial().events * WEBHOOKS / 4).await;
    let restarted_at = setup.receiver.count();
    server.restart().await;

    let published = publisher.await.unwrap();
    let delivered = all_delivered(&env, &setup, Load::trial(), started, WITHIN).await;
    println!(
        "trial 5: nats-server killed and restarted after {restarted_at} deliveries; {} \
         duplicates ({} second deliveries), {} 503s (each with Retry-After), {} unanswered",
        delivered.duplicates,
        delivered.second_deliveries,
        published.unavailable,
        published.unanswered,
    );
    in_flight_only(&delivered, 1);
}

//! Fault trials 3 and 6 of issue 16 on a 3-node JetStream cluster with R3 streams: a
//! hookledger replica killed (SIGKILL) mid-run, and a projector replica killed during its
//! batches. Load sizes: see `cluster_support`.

use std::time::Duration;

use hookledger_projections::View;
use tokio::time::Instant;

use crate::cluster_nats::{apis, replicas};
use crate::cluster_support::{
    Load, REPLICA_VARS, WEBHOOKS, all_delivered, publish, received_at_least, setup,
};
use crate::harness::TestEnv;
use crate::harness::cluster::{NatsCluster, Replica};
use crate::harness::eventually;
use crate::projections::snapshot;

const WITHIN: Duration = Duration::from_secs(120);

#[tokio::test]
async fn trial_3_a_replica_killed_mid_run_has_its_jobs_redelivered_by_the_others() {
    let cluster = NatsCluster::start().await;
    let url = cluster.url();
    let env = TestEnv::on(&url, 3, &crate::harness::admin_database_url()).await;
    let mut replicas = replicas(&env, &url, 3, 3).await;
    let setup = setup(&replicas[0].url("")).await;
    let started = Instant::now();
    // The publisher uses the two replicas that stay; the third only delivers, then dies.
    let publisher = tokio::spawn(publish(
        apis(&replicas[..2]),
        setup.key.clone(),
        Load::trial(),
    ));

    received_at_least(&setup, Load::trial().events * WEBHOOKS / 3).await;
    replicas[2].kill().await;
    let killed_at = Instant::now();
    let at_kill = setup.receiver.count();

    publisher.await.unwrap();
    let delivered = all_delivered(&env, &setup, Load::trial(), started, WITHIN).await;
    println!(
        "trial 3: replica killed after {at_kill} deliveries; all delivered {:?} after the \
         kill (ack wait 5 s); {} duplicates",
        killed_at.elapsed(),
        delivered.duplicates,
    );
    assert!(
        delivered.duplicates <= 64,
        "only the killed replica's attempts in flight repeat: {}",
        delivered.duplicates
    );
}

/// Waits until every view has applied its whole stream.
pub async fn views_caught_up(env: &TestEnv) {
    eventually(WITHIN, || async {
        let views = hookledger_projections::status::views(&env.nats, &env.pool)
            .await
            .map_err(|e| e.to_string())?;
        if views.iter().all(|v| v.lag == 0) {
            Ok(())
        } else {
            Err(format!("{views:?}"))
        }
    })
    .await;
}

/// Every view's tables now, then after a fresh rebuild of every view: they must be equal.
pub async fn equal_to_a_rebuild(env: &TestEnv) {
    let tables: Vec<&str> = View::ALL
        .iter()
        .flat_map(|v| v.tables().iter().copied())
        .collect();
    let live = snapshot(&env.pool, &tables).await;
    hookledger_projections::rebuild::rebuild(&env.nats, &env.pool, &View::ALL, |_, _| {})
        .await
        .unwrap();
    let rebuilt = snapshot(&env.pool, &tables).await;
    for table in &tables {
        assert_eq!(
            live[*table].len(),
            rebuilt[*table].len(),
            "{table}: row count differs from a rebuild"
        );
        assert!(
            live[*table] == rebuilt[*table],
            "{table}: rows differ from a rebuild"
        );
    }
}

#[tokio::test]
async fn trial_6_a_projector_killed_during_its_batches_leaves_views_equal_to_a_rebuild() {
    let cluster = NatsCluster::start().await;
    let url = cluster.url();
    let env = TestEnv::on(&url, 3, &crate::harness::admin_database_url()).await;
    let roles = "api,router,dispatcher";
    let mut workers = Vec::new();
    for _ in 0..2 {
        workers.push(Replica::start(&env, &url, 3, roles, REPLICA_VARS).await);
    }
    let mut projector = Replica::start(&env, &url, 3, "projector", REPLICA_VARS).await;
    // The API waits for its writes to be projected: the projector must be up for the setup.
    let setup = setup(&workers[0].url("")).await;
    let started = Instant::now();
    let publisher = tokio::spawn(publish(apis(&workers), setup.key.clone(), Load::trial()));

    // Under this load the deliveries view applies a batch of facts every few milliseconds:
    // a SIGKILL lands in or between batches, and a half batch would show below.
    received_at_least(&setup, Load::trial().events * WEBHOOKS / 3).await;
    projector.kill().await;
    let _second = Replica::start(&env, &url, 3, "projector", REPLICA_VARS).await;

    publisher.await.unwrap();
    all_delivered(&env, &setup, Load::trial(), started, WITHIN).await;
    views_caught_up(&env).await;
    equal_to_a_rebuild(&env).await;
}

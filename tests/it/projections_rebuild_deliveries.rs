//! Rebuild of the deliveries view over many batches: the same rows as the live projector, and
//! the fold's lookups probe the shadow table's primary key, not a prefix of another index.

use std::time::{Duration, Instant};

use hookledger_domain::delivery::DeliveryFact;
use hookledger_domain::ids::{DeliveryId, WebhookId};
use hookledger_projections::{View, rebuild};

use super::deliveries::{attempt, closed, publish};
use super::{caught_up, snapshot, start};
use crate::harness::{TestEnv, nats_url};

/// Deliveries published: with their redeliveries and repeats, about four rebuild batches.
const DELIVERIES: u32 = 3_000;

/// Publishes `facts` without `Nats-Msg-Id`, so the stream stores them again (as after a
/// restart of nats-server that forgot its deduplication window).
async fn publish_again(env: &TestEnv, facts: &[DeliveryFact]) {
    let js = async_nats::jetstream::new(async_nats::connect(nats_url()).await.unwrap());
    for fact in facts {
        let subject = env.nats.names().delivery_subject(
            fact.tenant().as_str(),
            fact.webhook_id().as_str(),
            fact.delivery_id().as_str(),
        );
        let payload = serde_json::to_vec(fact).unwrap();
        js.publish(subject, payload.into())
            .await
            .unwrap()
            .await
            .unwrap();
    }
}

/// Scans and tuples read of each index of `deliveries`, once the statistics collector counts
/// at least `probes` scans of its primary key (a session's counters reach it up to seconds
/// after its last transaction, all of them at once).
async fn index_reads(pool: &sqlx::PgPool, probes: i64) -> Vec<(String, i64, i64)> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let reads: Vec<(String, i64, i64)> = sqlx::query_as(
            "SELECT indexrelname::text, idx_scan, idx_tup_read FROM pg_stat_user_indexes
              WHERE relname = 'deliveries' ORDER BY 1",
        )
        .fetch_all(pool)
        .await
        .unwrap();
        let probed = reads
            .iter()
            .any(|(name, scans, _)| name == "deliveries_pkey" && *scans >= probes);
        if probed || Instant::now() > deadline {
            assert!(
                probed,
                "fewer than {probes} primary-key scans counted on deliveries: {reads:?}"
            );
            return reads;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test]
async fn a_deliveries_rebuild_over_many_batches_with_redeliveries_and_repeats_equals_the_live_view()
{
    let env = TestEnv::new().await;
    let (projections, shutdown, tracker) = start(&env);
    let tenants = ["acme", "globex"];
    let webhooks: Vec<WebhookId> = (0..20).map(|_| WebhookId::new()).collect();
    let deliveries: Vec<(&str, &WebhookId, DeliveryId, bool)> = (0..DELIVERIES)
        .map(|n| {
            let tenant = tenants[n as usize % tenants.len()];
            let webhook = &webhooks[n as usize % webhooks.len()];
            (tenant, webhook, DeliveryId::new(), n % 5 != 2)
        })
        .collect();
    let first: Vec<DeliveryFact> = deliveries
        .iter()
        .enumerate()
        .flat_map(|(n, (tenant, webhook, id, ok))| {
            let tried = attempt(tenant, webhook, id, 1, *ok, 10 + n as u64 % 500);
            // One in seven is still open: no end yet.
            if n % 7 == 4 {
                vec![tried]
            } else {
                vec![tried, closed(tenant, webhook, id, *ok)]
            }
        })
        .collect();
    publish(&env, &first).await;
    // Later, far back in the table: the failed ones redelivered (and succeeding), and one in
    // ten first attempts stored a second time.
    let later: Vec<DeliveryFact> = deliveries
        .iter()
        .filter(|(_, _, _, ok)| !ok)
        .flat_map(|(tenant, webhook, id, _)| {
            [
                attempt(tenant, webhook, id, 2, true, 20),
                closed(tenant, webhook, id, true),
            ]
        })
        .collect();
    publish(&env, &later).await;
    let repeats: Vec<DeliveryFact> = first.iter().step_by(20).cloned().collect();
    publish_again(&env, &repeats).await;
    caught_up(&env, &projections, View::Deliveries).await;

    let tables = View::Deliveries.tables();
    let live = snapshot(&env.pool, tables).await;
    let report = rebuild::rebuild(&env.nats, &env.pool, &[View::Deliveries], |_, _| {})
        .await
        .unwrap();
    let messages = report.views[0].messages;
    assert!(messages > 6_000, "{messages} messages: several batches");
    let after = snapshot(&env.pool, tables).await;
    for table in tables {
        assert_eq!(
            after[*table].len(),
            live[*table].len(),
            "{table}: row count"
        );
        assert!(after[*table] == live[*table], "{table}: rows differ");
    }
    assert_eq!(live["deliveries"].len(), DELIVERIES as usize);

    // The fold found each batch's deliveries through the primary key, one probe per fact
    // from the second batch on (the first finds an empty table), and no other index of the
    // (swapped-in) shadow table was read: a probe on a prefix of another index reads all of a
    // webhook's deliveries per key, which made rebuilds quadratic.
    let probes = i64::try_from(messages).unwrap() - 2_000;
    for (index, scans, read) in index_reads(&env.pool, probes).await {
        if index != "deliveries_pkey" {
            assert_eq!(read, 0, "{index}: {scans} scans read {read} tuples");
        }
    }

    shutdown.cancel();
    tracker.close();
    tracker.wait().await;
}

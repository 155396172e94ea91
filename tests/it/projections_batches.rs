//! Batches and checkpoints: restarts apply nothing twice, a failed batch leaves nothing, and a
//! projector that loses PostgreSQL catches up with nothing lost.

use std::time::Duration;

use futures::StreamExt;
use hookledger_domain::ledger::reader::{RawMessage, StreamKind};
use hookledger_domain::webhook::WebhookCommand;
use hookledger_projections::webhooks::ListFilter;
use hookledger_projections::{BatchOutcome, Projector, View, rebuild, status, webhooks};
use serde_json::Value;
use sqlx::{Connection, PgConnection};

use super::{Ledgers, caught_up, rename, rotate, snapshot, start};
use crate::harness::{TestEnv, admin_database_url, eventually};

/// Every message of the ledger, in order.
async fn ledger_messages(env: &TestEnv) -> Vec<RawMessage> {
    let head = env.nats.head(StreamKind::Ledger).await.unwrap();
    let mut tail = env.nats.tail(StreamKind::Ledger, "", 1).await.unwrap();
    let mut out = Vec::new();
    while out.last().is_none_or(|m: &RawMessage| m.sequence < head) {
        out.push(tail.next().await.unwrap().unwrap());
    }
    out
}

/// A ledger with two tenants and a few webhooks, each changed a few times.
async fn some_history(env: &TestEnv) {
    let ledgers = Ledgers::open(env).await;
    for tenant in ["acme", "globex"] {
        ledgers.tenant(tenant).await;
        for i in 0..4 {
            let id = ledgers
                .webhook(tenant, &format!("hook {i}"), &["lead.*"])
                .await;
            ledgers
                .run(tenant, &id, rename(&format!("hook {i} renamed")))
                .await;
            ledgers
                .run(tenant, &id, WebhookCommand::PauseWebhook { reason: None })
                .await;
            ledgers.run(tenant, &id, rotate()).await;
            if i == 3 {
                ledgers
                    .run(tenant, &id, WebhookCommand::DeleteWebhook)
                    .await;
            }
        }
    }
}

async fn ledger_tables(env: &TestEnv) -> std::collections::BTreeMap<String, Vec<Value>> {
    snapshot(&env.pool, View::Ledger.tables()).await
}

#[tokio::test]
async fn a_projector_stopped_after_its_commit_applies_nothing_twice_when_it_restarts() {
    let env = TestEnv::new().await;
    some_history(&env).await;
    let messages = ledger_messages(&env).await;
    let half = messages.len() / 2;

    let mut first = Projector::new(View::Ledger, env.nats.clone(), env.pool.clone());
    let outcome = first.apply(&messages[..half]).await.unwrap();
    assert_eq!(
        outcome,
        BatchOutcome::Applied {
            checkpoint: messages[half - 1].sequence,
            applied: half
        }
    );
    first.release().await;

    // The restarted projector is handed the whole range again (as a reader from an older
    // position would); only what lies above the checkpoint is applied.
    let mut second = Projector::new(View::Ledger, env.nats.clone(), env.pool.clone());
    let outcome = second.apply(&messages).await.unwrap();
    let head = messages.last().unwrap().sequence;
    assert_eq!(
        outcome,
        BatchOutcome::Applied {
            checkpoint: head,
            applied: messages.len() - half
        }
    );
    let applied = ledger_tables(&env).await;
    assert_eq!(
        second.apply(&messages).await.unwrap(),
        BatchOutcome::Applied {
            checkpoint: head,
            applied: 0
        }
    );
    assert_eq!(ledger_tables(&env).await, applied);
    second.release().await;

    // A rebuild from sequence 1 is the reference: the same rows, none twice.
    rebuild::rebuild(&env.nats, &env.pool, &[View::Ledger], |_, _| {})
        .await
        .unwrap();
    assert_eq!(ledger_tables(&env).await, applied);
    let webhook_messages = messages
        .iter()
        .filter(|m| m.subject.contains(".ledger.webhook."))
        .count();
    assert_eq!(applied["webhook_history"].len(), webhook_messages);
}

#[tokio::test]
async fn a_batch_that_fails_part_way_leaves_no_partial_batch() {
    let env = TestEnv::new().await;
    some_history(&env).await;
    let messages = ledger_messages(&env).await;

    // The tenants' and catalogs' messages come first and are written before the bad webhook
    // message at the end of the batch fails to fold.
    let last = messages.last().unwrap();
    let mut record: Value = serde_json::from_slice(&last.payload).unwrap();
    record["events"][0]["type"] = "webhook.exploded".into();
    let bad = RawMessage {
        payload: serde_json::to_vec(&record).unwrap().into(),
        ..last.clone()
    };
    let mut batch = messages[..messages.len() - 1].to_vec();
    batch.push(bad);

    let mut projector = Projector::new(View::Ledger, env.nats.clone(), env.pool.clone());
    let error = projector
        .apply(&batch)
        .await
        .expect_err("an unknown event type cannot be applied");
    assert!(
        matches!(
            error,
            hookledger_projections::ProjectionError::Corrupt { .. }
        ),
        "{error:?}"
    );
    assert!(
        ledger_tables(&env).await.values().all(Vec::is_empty),
        "rows of a failed batch remain"
    );
    assert!(
        status::checkpoints(&env.pool)
            .await
            .unwrap()
            .iter()
            .all(|(_, s)| *s == 0)
    );

    let outcome = projector.apply(&messages).await.unwrap();
    assert_eq!(
        outcome,
        BatchOutcome::Applied {
            checkpoint: last.sequence,
            applied: messages.len()
        }
    );
    projector.release().await;
}

#[tokio::test]
async fn the_projector_catches_up_with_nothing_lost_after_postgres_drops_its_connections() {
    let env = TestEnv::new().await;
    let (projections, shutdown, tracker) = start(&env);
    let ledgers = Ledgers::open(&env).await;
    ledgers.tenant("acme").await;
    let mut ids = Vec::new();
    for i in 0..10 {
        ids.push(
            ledgers
                .webhook("acme", &format!("before {i}"), &["lead.*"])
                .await,
        );
    }
    caught_up(&env, &projections, View::Ledger).await;

    // Terminate every connection to the test database, again and again, while commands go on.
    let killing = tokio_util::sync::CancellationToken::new();
    let killer = tokio::spawn({
        let (killing, database) = (killing.clone(), env.id.clone());
        async move {
            let mut admin = PgConnection::connect(&admin_database_url()).await.unwrap();
            let mut killed = 0u64;
            while !killing.is_cancelled() {
                let (n,): (i64,) = sqlx::query_as(
                    "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()",
                )
                .bind(&database)
                .fetch_one(&mut admin)
                .await
                .unwrap();
                killed += n as u64;
                tokio::time::sleep(Duration::from_millis(30)).await;
            }
            killed
        }
    });
    for i in 0..30 {
        let id = ledgers
            .webhook("acme", &format!("during {i}"), &["lead.*"])
            .await;
        ledgers
            .run("acme", &id, rename(&format!("during {i} renamed")))
            .await;
        ids.push(id);
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    killing.cancel();
    let killed = killer.await.unwrap();
    assert!(killed > 0, "no connection was terminated");

    caught_up(&env, &projections, View::Ledger).await;
    let all = eventually(Duration::from_secs(10), || async {
        webhooks::list(
            &env.pool,
            "acme",
            &ListFilter {
                limit: 100,
                ..Default::default()
            },
        )
        .await
    })
    .await;
    assert_eq!(all.total, 40);
    for id in &ids {
        let (_, version) = ledgers.webhooks.load(&format!("acme.{id}")).await.unwrap();
        let row = webhooks::get(&env.pool, "acme", id.as_str())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(row.version, version as i64, "{id}");
    }

    shutdown.cancel();
    tracker.close();
    tracker.wait().await;
}

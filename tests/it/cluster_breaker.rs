//! The circuit breaker's count is shared state: dispatcher replicas that take turns trip after
//! the same number of failed deliveries as one, and a restart (a fresh handle, a killed
//! process) keeps the count.
//!
//! Every failure is one event to a receiver answering 500, with no retries; the threshold is 4.
//! Each dispatcher sees only some of the four failures, so a per-replica count would never trip.

use std::time::Duration;

use futures::StreamExt;
use hookledger_api::Roles;
use hookledger_domain::ledger::reader::StreamKind;
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

use crate::delivery_support::{dispatcher, facts_until, failed, hook, publish, tenant, webhook};
use crate::harness::TestApp;
use crate::harness::receiver::{Reply, TestReceiver};

const THRESHOLD: u32 = 4;
const WITHIN: Duration = Duration::from_secs(30);

/// The reasons of every `webhook.disabled` event of the webhook, read from the ledger.
async fn disable_reasons(app: &TestApp, id: &str) -> Vec<String> {
    let filter = format!("{}.ledger.webhook.acme.{id}", app.id);
    let mut tail = (app.nats.tail(StreamKind::Ledger, &filter, 1))
        .await
        .unwrap();
    let mut reasons = Vec::new();
    while let Ok(Some(Ok(m))) = tokio::time::timeout(Duration::from_millis(300), tail.next()).await
    {
        let record: Value = serde_json::from_slice(&m.payload).unwrap();
        for event in record["events"].as_array().into_iter().flatten() {
            if event["type"] == "webhook.disabled" {
                reasons.push(event["data"]["reason"].as_str().unwrap_or("").to_owned());
            }
        }
        if m.pending == 0 {
            break;
        }
    }
    reasons
}

/// An app without the dispatcher role, a tenant and a webhook to a receiver answering 500.
async fn failing_webhook() -> (TestApp, String, String, TestReceiver) {
    let no_worker = Roles {
        dispatcher: false,
        ..Roles::ALL
    };
    let app = TestApp::spawn_with(no_worker, |_| {}).await;
    let key = tenant(&app, "acme").await;
    let receiver = TestReceiver::replying(Reply::status(500)).await;
    let mut body = hook(&receiver.url("/"), &["*"]);
    body["retryAttempts"] = json!(0);
    let id = webhook(&app, &key, body).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    (app, key, id, receiver)
}

/// Publishes failure number `n` (1-based) and waits for its `delivery.failed` fact.
async fn fail_once(app: &TestApp, key: &str, id: &str, n: usize) {
    publish(
        app,
        key,
        json!({"type": "lead.created", "id": format!("f{n}"), "data": {}}),
    )
    .await;
    facts_until(app, "acme", id, WITHIN, move |f| failed(f).len() >= n).await;
}

async fn disabled_with(app: &TestApp, id: &str) -> Vec<String> {
    crate::harness::eventually(WITHIN, || async {
        let reasons = disable_reasons(app, id).await;
        if reasons.is_empty() {
            Err("not disabled yet")
        } else {
            Ok(reasons)
        }
    })
    .await
}

#[tokio::test]
async fn two_dispatchers_taking_turns_trip_after_the_same_number_of_failures_as_one() {
    let (app, key, id, receiver) = failing_webhook().await;
    let configure = |c: &mut hookledger_api::Config| {
        c.dispatcher.disable_after_failures = THRESHOLD;
    };
    let replicas = [
        dispatcher(&app, configure).await,
        dispatcher(&app, configure).await,
    ];
    for n in 1..=THRESHOLD as usize {
        // Replica A takes failures 1 and 3, replica B 2 and 4; only one runs at a time.
        let replica = replicas[(n - 1) % 2].clone();
        let shutdown = CancellationToken::new();
        let worker = tokio::spawn({
            let shutdown = shutdown.clone();
            async move { replica.run_worker(shutdown).await }
        });
        fail_once(&app, &key, &id, n).await;
        shutdown.cancel();
        worker.await.unwrap().unwrap();
        if n < THRESHOLD as usize {
            assert_eq!(
                disable_reasons(&app, &id).await,
                Vec::<String>::new(),
                "tripped early, after {n} failures"
            );
        }
    }
    let reasons = disabled_with(&app, &id).await;
    assert_eq!(reasons, ["4 consecutive deliveries failed"]);
    assert_eq!(receiver.count(), THRESHOLD as usize);
}

#[tokio::test]
async fn a_success_between_failures_resets_the_shared_count() {
    let (app, key, id, receiver) = failing_webhook().await;
    let configure = |c: &mut hookledger_api::Config| {
        c.dispatcher.disable_after_failures = THRESHOLD;
    };
    let (a, b) = (
        dispatcher(&app, configure).await,
        dispatcher(&app, configure).await,
    );
    let shutdown = CancellationToken::new();
    let workers = [a, b].map(|d| {
        let shutdown = shutdown.clone();
        tokio::spawn(async move { d.run_worker(shutdown).await })
    });
    for n in 1..THRESHOLD as usize {
        fail_once(&app, &key, &id, n).await;
    }
    // One success on whichever replica takes it resets the count both replicas share.
    receiver.script([Reply::status(200)]);
    publish(
        &app,
        &key,
        json!({"type": "lead.created", "id": "ok", "data": {}}),
    )
    .await;
    facts_until(&app, "acme", &id, WITHIN, |f| {
        crate::delivery_support::succeeded(f).len() == 1
    })
    .await;
    for n in THRESHOLD as usize..2 * THRESHOLD as usize - 1 {
        fail_once(&app, &key, &id, n).await;
    }
    shutdown.cancel();
    for worker in workers {
        worker.await.unwrap().unwrap();
    }
    assert_eq!(
        disable_reasons(&app, &id).await,
        Vec::<String>::new(),
        "3 failures, a success, 3 failures: never 4 in a row"
    );
}

#[tokio::test]
async fn a_dispatcher_process_killed_between_failures_keeps_the_count() {
    let (app, key, id, receiver) = failing_webhook().await;
    let vars = [("HOOKLEDGER_DISPATCHER__DISABLE_AFTER_FAILURES", "4")];
    let mut first = crate::harness::cluster::Replica::start_on(&app, "dispatcher", &vars).await;
    fail_once(&app, &key, &id, 1).await;
    fail_once(&app, &key, &id, 2).await;
    fail_once(&app, &key, &id, 3).await;
    first.kill().await;
    let _second = crate::harness::cluster::Replica::start_on(&app, "dispatcher", &vars).await;
    fail_once(&app, &key, &id, 4).await;
    let reasons = disabled_with(&app, &id).await;
    assert_eq!(reasons, ["4 consecutive deliveries failed"]);
    assert_eq!(receiver.count(), THRESHOLD as usize);
}

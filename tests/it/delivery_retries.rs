//! Failed attempts: retries per the webhook's policy, timeouts, `410 Gone`, the circuit breaker
//! with its email, and the manual paths (test, redeliver, recover) that write the same facts.

use std::time::Duration;

use hookledger_api::Roles;
use hookledger_domain::delivery::{AttemptOutcome, DeliveryTrigger};
use serde_json::{Value, json};

use crate::delivery_support::{
    attempts, dispatcher, facts_until, failed, hook, publish, succeeded, tenant, webhook,
};
use crate::harness::TestApp;
use crate::harness::receiver::{Reply, TestReceiver};
use crate::harness::smtp::SmtpSink;

const WITHIN: Duration = Duration::from_secs(20);

async fn webhook_status(app: &TestApp, key: &str, id: &str) -> Value {
    let response = (app.http.get(app.url(&format!("/v1/webhooks/{id}"))))
        .header("x-api-key", key)
        .send()
        .await
        .unwrap();
    response.json::<Value>().await.unwrap()["status"].clone()
}

#[tokio::test]
async fn a_receiver_answering_500_500_200_gets_three_attempts_and_the_facts_record_one_success() {
    let app = TestApp::spawn().await;
    let key = tenant(&app, "acme").await;
    let receiver = TestReceiver::start().await;
    receiver.script([
        Reply::status(500),
        Reply::status(503).header("retry-after", "1"),
        Reply::status(200),
    ]);
    let mut body = hook(&receiver.url("/"), &["*"]);
    body["retryDelaySeconds"] = json!(1);
    let id = webhook(&app, &key, body).await["id"]
        .as_str()
        .unwrap()
        .to_owned();

    publish(
        &app,
        &key,
        json!({"type": "lead.created", "id": "retry-me", "data": {}}),
    )
    .await;

    let facts = facts_until(&app, "acme", &id, WITHIN, |f| succeeded(f).len() == 1).await;
    let tries = attempts(&facts);
    let summary: Vec<(u32, Option<u16>, bool)> = (tries.iter())
        .map(|a| (a.attempt, a.response_status, a.next_attempt_at.is_some()))
        .collect();
    assert_eq!(
        summary,
        [
            (1, Some(500), true),
            (2, Some(503), true),
            (3, Some(200), false)
        ]
    );
    assert!(tries.iter().all(|a| a.delivery_id == tries[0].delivery_id));
    assert_eq!(succeeded(&facts)[0].attempts, 3);
    assert!(failed(&facts).is_empty());
    let ids: Vec<String> = (receiver.received().iter())
        .map(|r| r.header("webhook-id").unwrap().to_owned())
        .collect();
    assert_eq!(
        ids, ["retry-me"; 3],
        "the webhook-id is stable across retries"
    );
    // The scheduled retries waited about their delays (1 s, then 2 s ± 25 %).
    let at: Vec<_> = receiver.received().iter().map(|r| r.at).collect();
    assert!(
        at[1] - at[0] >= Duration::from_millis(700),
        "{:?}",
        at[1] - at[0]
    );
}

#[tokio::test]
async fn a_receiver_slower_than_the_timeout_is_a_failed_attempt_with_outcome_timeout() {
    let app = TestApp::spawn().await;
    let key = tenant(&app, "acme").await;
    let receiver = TestReceiver::replying(Reply::status(200).after(Duration::from_secs(3))).await;
    let mut body = hook(&receiver.url("/"), &["*"]);
    body["timeoutSeconds"] = json!(1);
    body["retryAttempts"] = json!(0);
    let id = webhook(&app, &key, body).await["id"]
        .as_str()
        .unwrap()
        .to_owned();

    publish(&app, &key, json!({"type": "lead.created", "data": {}})).await;

    let facts = facts_until(&app, "acme", &id, WITHIN, |f| failed(f).len() == 1).await;
    let attempt = attempts(&facts)[0];
    assert_eq!(attempt.outcome, AttemptOutcome::Timeout);
    assert_eq!(attempt.response_status, None);
    assert!(
        (900..2_500).contains(&attempt.latency_ms),
        "{}",
        attempt.latency_ms
    );
    assert_eq!(failed(&facts)[0].reason, Some(AttemptOutcome::Timeout));
}

#[tokio::test]
async fn a_410_answer_disables_the_webhook_at_once() {
    let app = TestApp::spawn().await;
    let key = tenant(&app, "acme").await;
    let receiver = TestReceiver::replying(Reply::status(410)).await;
    let id = webhook(&app, &key, hook(&receiver.url("/"), &["*"])).await["id"]
        .as_str()
        .unwrap()
        .to_owned();

    publish(&app, &key, json!({"type": "lead.created", "data": {}})).await;

    let facts = facts_until(&app, "acme", &id, WITHIN, |f| failed(f).len() == 1).await;
    assert_eq!(attempts(&facts).len(), 1, "no retry after 410");
    assert_eq!(attempts(&facts)[0].outcome, AttemptOutcome::Gone);
    crate::harness::eventually(WITHIN, || async {
        let status = webhook_status(&app, &key, &id).await;
        if status == "disabled" {
            Ok(())
        } else {
            Err(status)
        }
    })
    .await;
    assert_eq!(receiver.count(), 1);
}

#[tokio::test]
async fn consecutive_failed_deliveries_disable_the_webhook_and_email_its_owner_once() {
    let smtp = SmtpSink::start().await;
    let port = smtp.addr.port();
    let app = TestApp::spawn_with(Roles::ALL, |c| {
        c.dispatcher.disable_after_failures = 3;
        c.dispatcher.smtp.host = "127.0.0.1".into();
        c.dispatcher.smtp.port = port;
        c.dispatcher.smtp.tls = hookledger_api::config::SmtpTlsConfig::None;
    })
    .await;
    let key = tenant(&app, "acme").await;
    let receiver = TestReceiver::replying(Reply::status(500)).await;
    let mut body = hook(&receiver.url("/"), &["*"]);
    body["retryAttempts"] = json!(0);
    body["errorsEmail"] = json!("owner@example.com");
    let id = webhook(&app, &key, body).await["id"]
        .as_str()
        .unwrap()
        .to_owned();

    for i in 0..3 {
        publish(
            &app,
            &key,
            json!({"type": "lead.created", "id": format!("e{i}"), "data": {}}),
        )
        .await;
        facts_until(&app, "acme", &id, WITHIN, |f| failed(f).len() > i).await;
    }

    let mails = smtp.wait_for(1, WITHIN).await;
    assert_eq!(mails[0].to, ["<owner@example.com>"]);
    assert!(mails[0].from.contains("hookledger"), "{}", mails[0].from);
    assert!(mails[0].data.contains(&id), "{}", mails[0].data);
    crate::harness::eventually(WITHIN, || async {
        let status = webhook_status(&app, &key, &id).await;
        if status == "disabled" {
            Ok(())
        } else {
            Err(status)
        }
    })
    .await;
    publish(
        &app,
        &key,
        json!({"type": "lead.created", "id": "late", "data": {}}),
    )
    .await;
    let witness = TestReceiver::start().await;
    webhook(&app, &key, hook(&witness.url("/"), &["*"])).await;
    publish(
        &app,
        &key,
        json!({"type": "lead.created", "id": "witness", "data": {}}),
    )
    .await;
    witness.wait_for(1, WITHIN).await;
    assert_eq!(receiver.count(), 3, "a disabled webhook gets nothing");
    assert_eq!(smtp.mails().len(), 1, "one email");
}

#[tokio::test]
async fn redeliver_and_recover_send_failed_deliveries_again_and_record_their_triggers() {
    let app = TestApp::spawn().await;
    let key = tenant(&app, "acme").await;
    let receiver = TestReceiver::replying(Reply::status(503)).await;
    let mut body = hook(&receiver.url("/"), &["*"]);
    body["retryAttempts"] = json!(0);
    let id = webhook(&app, &key, body).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let since = chrono::Utc::now() - chrono::Duration::seconds(5);
    for i in 0..3 {
        publish(
            &app,
            &key,
            json!({"type": "lead.created", "id": format!("r{i}"), "data": {}}),
        )
        .await;
    }
    let facts = facts_until(&app, "acme", &id, WITHIN, |f| failed(f).len() == 3).await;
    let first = failed(&facts)[0].delivery_id.clone();
    receiver.set_default(Reply::status(200));
    let handle = dispatcher(&app, |_| {}).await;
    let (tenant_id, webhook_id) = ("acme".parse().unwrap(), id.parse().unwrap());

    let again = handle
        .redeliver(&tenant_id, &webhook_id, &first)
        .await
        .unwrap();
    assert_eq!(
        (again.delivery_id.clone(), again.attempt),
        (first.clone(), 2)
    );
    let facts = facts_until(&app, "acme", &id, WITHIN, |f| succeeded(f).len() == 1).await;
    let redelivered = attempts(&facts)
        .into_iter()
        .find(|a| a.attempt == 2)
        .unwrap();
    assert_eq!(redelivered.trigger, DeliveryTrigger::Redeliver);
    assert_eq!(redelivered.delivery_id, first);

    crate::harness::eventually(WITHIN, || async {
        let rows = hookledger_projections::deliveries::failed_since(&app.pool, "acme", &id, since)
            .await
            .unwrap();
        if rows.len() == 2 {
            Ok(rows)
        } else {
            Err(rows.len())
        }
    })
    .await;
    let rows = hookledger_projections::deliveries::failed_since(&app.pool, "acme", &id, since)
        .await
        .unwrap();
    let ids = rows.iter().map(|r| r.id.parse().unwrap());
    assert_eq!(
        handle.recover(&tenant_id, &webhook_id, ids).await.unwrap(),
        2
    );
    let facts = facts_until(&app, "acme", &id, WITHIN, |f| succeeded(f).len() == 3).await;
    let recovered = attempts(&facts)
        .into_iter()
        .filter(|a| a.trigger == DeliveryTrigger::Recover);
    assert_eq!(recovered.count(), 2);
    let ids: Vec<String> = (receiver.received().iter().skip(3))
        .map(|r| r.header("webhook-id").unwrap().to_owned())
        .collect();
    assert_eq!(ids.len(), 3, "one redelivery and two recoveries: {ids:?}");
    assert!(
        ids.iter().all(|i| i.starts_with('r')),
        "the original event ids: {ids:?}"
    );
}

#[tokio::test]
async fn a_test_delivery_is_signed_recorded_and_answers_its_result() {
    let app = TestApp::spawn().await;
    let key = tenant(&app, "acme").await;
    let receiver = TestReceiver::replying(Reply::status(204)).await;
    let created = webhook(&app, &key, hook(&receiver.url("/"), &["*"])).await;
    let id = created["id"].as_str().unwrap();
    let handle = dispatcher(&app, |_| {}).await;

    let result = (handle.test_delivery(&"acme".parse().unwrap(), &id.parse().unwrap()))
        .await
        .unwrap();

    assert!(result.success, "{result:?}");
    assert_eq!(result.response_status, Some(204));
    let got = receiver.received();
    crate::delivery_support::verify(&got[0], created["secret"].as_str().unwrap()).unwrap();
    assert_eq!(got[0].json()["type"], "webhook.test");
    let facts = facts_until(&app, "acme", id, WITHIN, |f| succeeded(f).len() == 1).await;
    assert_eq!(attempts(&facts)[0].trigger, DeliveryTrigger::Test);
    let (tenant_id, unknown) = (
        "acme".parse().unwrap(),
        hookledger_domain::ids::WebhookId::new(),
    );
    let gone = handle.test_delivery(&tenant_id, &unknown).await;
    assert!(matches!(
        gone,
        Err(hookledger_dispatcher::DispatchError::WebhookNotFound)
    ));
}

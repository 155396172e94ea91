//! What the delivery tests share: a tenant with a catalog, webhooks and events over the API,
//! the delivery facts read straight from the DELIVERIES stream, a dispatcher handle of the
//! test's own, and Standard Webhooks verification with the official library.

use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use hookledger_api::Config;
use hookledger_dispatcher::Dispatcher;
use hookledger_domain::delivery::{AttemptRecord, DeliveryClosed, DeliveryEnd, DeliveryFact};
use hookledger_domain::ledger::Ledger;
use hookledger_domain::ledger::reader::StreamKind;
use hookledger_domain::webhook::{Webhook, WebhookServices};
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::harness::app::test_config;
use crate::harness::receiver::Received;
use crate::harness::{TestApp, TestEnv};

/// The event types every delivery test's tenant has.
pub const TYPES: &[&str] = &["lead.created", "lead.updated", "deal.won"];

/// Creates tenant `id` with [`TYPES`] in its catalog; returns its API key.
pub async fn tenant(app: &TestApp, id: &str) -> String {
    let key = crate::compat_support::tenant(app, id).await;
    for name in TYPES {
        let response = (app.http.post(app.url("/v1/event-types")))
            .header("x-api-key", &key)
            .json(&json!({"name": name}))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::CREATED);
    }
    key
}

/// Creates a webhook from `body` (a JSON object); returns the API's answer (id, secret, …).
pub async fn webhook(app: &TestApp, key: &str, body: Value) -> Value {
    let response = (app.http.post(app.url("/v1/webhooks")))
        .header("x-api-key", key)
        .json(&body)
        .send()
        .await
        .unwrap();
    let status = response.status();
    let created: Value = response.json().await.unwrap();
    assert_eq!(status, StatusCode::CREATED, "{created}");
    created
}

/// A webhook body to `url` for `events`, retrying at once (`retryDelaySeconds: 0`).
pub fn hook(url: &str, events: &[&str]) -> Value {
    json!({"name": "test hook", "url": url, "events": events, "retryDelaySeconds": 0})
}

/// `POST /v1/events`; returns the event id.
pub async fn publish(app: &TestApp, key: &str, event: Value) -> String {
    let response = (app.http.post(app.url("/v1/events")))
        .header("x-api-key", key)
        .json(&event)
        .send()
        .await
        .unwrap();
    let status = response.status();
    let body: Value = response.json().await.unwrap();
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    body["id"].as_str().unwrap().to_owned()
}

/// A webhook action (`pause`, `resume`, `regenerate-secret`); returns the answer.
pub async fn action(app: &TestApp, key: &str, webhook_id: &str, what: &str) -> Value {
    let response = (app
        .http
        .post(app.url(&format!("/v1/webhooks/{webhook_id}/{what}"))))
    .header("x-api-key", key)
    .send()
    .await
    .unwrap();
    assert_eq!(response.status(), StatusCode::OK, "{what}");
    response.json().await.unwrap()
}

/// Every fact of one webhook's deliveries, in stream order, read from DELIVERIES.
pub async fn facts(env: &TestEnv, tenant: &str, webhook_id: &str) -> Vec<DeliveryFact> {
    let filter = format!("{}.delivery.{tenant}.{webhook_id}.>", env.id);
    let mut tail = (env.nats.tail(StreamKind::Deliveries, &filter, 1))
        .await
        .unwrap();
    let mut facts = Vec::new();
    while let Ok(Some(Ok(m))) = tokio::time::timeout(Duration::from_millis(300), tail.next()).await
    {
        facts.push(serde_json::from_slice(&m.payload).expect("a delivery fact"));
        if m.pending == 0 {
            break;
        }
    }
    facts
}

/// The attempts among `facts`.
pub fn attempts(facts: &[DeliveryFact]) -> Vec<&AttemptRecord> {
    (facts.iter())
        .filter_map(|f| match f {
            DeliveryFact::Attempted(a) => Some(a),
            _ => None,
        })
        .collect()
}

/// The ends of deliveries among `facts` with `end`: `delivery.succeeded`/`failed` facts, and
/// attempts that close their delivery (as the separate fact would have said it).
fn ends(facts: &[DeliveryFact], end: DeliveryEnd) -> Vec<DeliveryClosed> {
    (facts.iter())
        .filter(|f| f.end() == Some(end))
        .filter_map(|f| match f {
            DeliveryFact::Attempted(a) => a.closing().map(|(_, c)| c),
            DeliveryFact::Succeeded(c) | DeliveryFact::Failed(c) => Some(c.clone()),
        })
        .collect()
}

/// The deliveries among `facts` that ended in success.
pub fn succeeded(facts: &[DeliveryFact]) -> Vec<DeliveryClosed> {
    ends(facts, DeliveryEnd::Succeeded)
}

/// The deliveries among `facts` that ended in failure.
pub fn failed(facts: &[DeliveryFact]) -> Vec<DeliveryClosed> {
    ends(facts, DeliveryEnd::Failed)
}

/// Waits until `probe` holds of the webhook's facts; returns them.
#[track_caller]
pub fn facts_until<'a, P>(
    env: &'a TestEnv,
    tenant: &'a str,
    webhook_id: &'a str,
    within: Duration,
    probe: P,
) -> impl Future<Output = Vec<DeliveryFact>> + 'a
where
    P: Fn(&[DeliveryFact]) -> bool + Clone + 'a,
{
    crate::harness::eventually(within, move || {
        let probe = probe.clone();
        async move {
            let facts = facts(env, tenant, webhook_id).await;
            if probe(&facts) { Ok(facts) } else { Err(facts) }
        }
    })
}

/// Verifies a received delivery with the official `standardwebhooks` library and `secret`.
#[track_caller]
pub fn verify(received: &Received, secret: &str) -> Result<(), String> {
    let verifier = standardwebhooks::Webhook::new(secret).map_err(|e| e.to_string())?;
    verifier
        .verify(&received.body, &received.headers)
        .map_err(|e| e.to_string())
}

/// A dispatcher handle of the test's own on the app's NATS prefix (for redeliver, recover,
/// test, and for running a worker the test can abort), with the app's master key.
pub async fn dispatcher(env: &TestEnv, configure: impl FnOnce(&mut Config)) -> Dispatcher {
    let mut config = test_config(env);
    configure(&mut config);
    let keyring = Arc::new(config.keyring().unwrap());
    let services = WebhookServices {
        keyring: keyring.clone(),
    };
    let webhooks: Arc<Ledger<Webhook>> = Arc::new(Ledger::open(&env.nats, services).await.unwrap());
    Dispatcher::new(
        env.nats.clone(),
        webhooks,
        keyring,
        config.dispatcher.settings(),
    )
    .await
    .unwrap()
}

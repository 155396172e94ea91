//! Delivery end to end: events published over HTTP or NATS reach the webhooks they match,
//! signed (verified with the official `standardwebhooks` library), once per webhook, and every
//! attempt is a fact on DELIVERIES.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::delivery_support::{
    action, attempts, facts_until, hook, publish, succeeded, tenant, verify, webhook,
};
use crate::harness::TestApp;
use crate::harness::receiver::TestReceiver;

const WITHIN: Duration = Duration::from_secs(15);

#[tokio::test]
async fn a_webhook_created_just_before_an_event_receives_it_signed_with_its_headers_and_properties()
{
    let app = TestApp::spawn().await;
    let key = tenant(&app, "acme").await;
    let receiver = TestReceiver::start().await;
    let mut body = hook(&receiver.url("/hooks"), &["lead.*"]);
    body["headers"] = json!({"X-Env": "test"});
    body["properties"] = json!({"source": "crm"});
    let created = webhook(&app, &key, body).await;
    let (id, secret) = (
        created["id"].as_str().unwrap(),
        created["secret"].as_str().unwrap(),
    );

    let event = json!({"type": "lead.created", "id": "lead-1", "data": {"leadId": 1},
        "occurredAt": "2025-01-02T03:04:05Z"});
    assert_eq!(publish(&app, &key, event).await, "lead-1");

    let got = receiver.wait_for(1, WITHIN).await;
    let delivery = &got[0];
    assert_eq!(
        (delivery.method.as_str(), delivery.path.as_str()),
        ("POST", "/hooks")
    );
    verify(delivery, secret).expect("the official library verifies the signature");
    assert_eq!(delivery.header("webhook-id"), Some("lead-1"));
    assert_eq!(delivery.header("x-env"), Some("test"));
    assert_eq!(delivery.header("content-type"), Some("application/json"));
    assert_eq!(
        delivery.json(),
        json!({"id": "lead-1", "type": "lead.created", "timestamp": "2025-01-02T03:04:05Z",
            "data": {"leadId": 1}, "source": "crm"})
    );
    let facts = facts_until(&app, "acme", id, WITHIN, |f| succeeded(f).len() == 1).await;
    let attempt = attempts(&facts)[0];
    assert_eq!((attempt.attempt, attempt.response_status), (1, Some(200)));
    assert_eq!(attempt.event_id.as_str(), "lead-1");
    assert_eq!(attempt.response_body.as_deref(), Some("status 200"));
}

#[tokio::test]
async fn both_secrets_sign_while_a_rotated_secret_is_in_its_grace_period() {
    let app = TestApp::spawn().await;
    let key = tenant(&app, "acme").await;
    let receiver = TestReceiver::start().await;
    let created = webhook(&app, &key, hook(&receiver.url("/"), &["*"])).await;
    let (id, old) = (
        created["id"].as_str().unwrap(),
        created["secret"].as_str().unwrap(),
    );
    let rotated = action(&app, &key, id, "regenerate-secret").await;
    let new = rotated["secret"].as_str().unwrap();
    assert_ne!(old, new);

    publish(&app, &key, json!({"type": "deal.won", "data": {}})).await;

    let got = receiver.wait_for(1, WITHIN).await;
    assert_eq!(
        got[0]
            .header("webhook-signature")
            .unwrap()
            .split(' ')
            .count(),
        2
    );
    verify(&got[0], new).expect("the new secret verifies");
    verify(&got[0], old).expect("the old secret still verifies during the grace period");
}

#[tokio::test]
async fn an_event_fans_out_to_five_webhooks_once_each() {
    let app = TestApp::spawn().await;
    let key = tenant(&app, "acme").await;
    let receiver = TestReceiver::start().await;
    let mut ids = Vec::new();
    for i in 0..5 {
        let body = hook(&receiver.url(&format!("/{i}")), &["lead.created"]);
        ids.push(
            webhook(&app, &key, body).await["id"]
                .as_str()
                .unwrap()
                .to_owned(),
        );
    }
    let other = webhook(&app, &key, hook(&receiver.url("/other"), &["deal.won"])).await;

    publish(
        &app,
        &key,
        json!({"type": "lead.created", "data": {"n": 1}}),
    )
    .await;

    receiver.wait_for(5, WITHIN).await;
    for id in &ids {
        facts_until(&app, "acme", id, WITHIN, |f| succeeded(f).len() == 1).await;
    }
    let mut paths: Vec<String> = receiver.received().iter().map(|r| r.path.clone()).collect();
    paths.sort();
    assert_eq!(
        paths,
        ["/0", "/1", "/2", "/3", "/4"],
        "each webhook once, the other none"
    );
    let other_id = other["id"].as_str().unwrap();
    assert!(
        crate::delivery_support::facts(&app, "acme", other_id)
            .await
            .is_empty()
    );
}

#[tokio::test]
async fn an_event_id_published_twice_is_delivered_once() {
    let app = TestApp::spawn().await;
    let key = tenant(&app, "acme").await;
    let receiver = TestReceiver::start().await;
    let id = webhook(&app, &key, hook(&receiver.url("/"), &["*"])).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    for _ in 0..2 {
        publish(
            &app,
            &key,
            json!({"type": "lead.created", "id": "same-1", "data": {}}),
        )
        .await;
    }
    publish(
        &app,
        &key,
        json!({"type": "lead.created", "id": "after", "data": {}}),
    )
    .await;

    // The later event arriving proves the earlier ones were routed.
    facts_until(&app, "acme", &id, WITHIN, |f| succeeded(f).len() >= 2).await;
    let ids: Vec<String> = (receiver.received().iter())
        .map(|r| r.header("webhook-id").unwrap().to_owned())
        .collect();
    assert_eq!(ids.iter().filter(|i| *i == "same-1").count(), 1, "{ids:?}");
    assert_eq!(ids.len(), 2, "{ids:?}");
}

#[tokio::test]
async fn a_paused_webhook_gets_nothing_and_gets_later_events_once_resumed() {
    let app = TestApp::spawn().await;
    let key = tenant(&app, "acme").await;
    let (paused, witness) = (TestReceiver::start().await, TestReceiver::start().await);
    let id = webhook(&app, &key, hook(&paused.url("/"), &["*"])).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    webhook(&app, &key, hook(&witness.url("/"), &["*"])).await;
    action(&app, &key, &id, "pause").await;

    publish(
        &app,
        &key,
        json!({"type": "lead.created", "id": "while-paused", "data": {}}),
    )
    .await;
    witness.wait_for(1, WITHIN).await;
    action(&app, &key, &id, "resume").await;
    publish(
        &app,
        &key,
        json!({"type": "lead.created", "id": "after-resume", "data": {}}),
    )
    .await;

    let got = paused.wait_for(1, WITHIN).await;
    witness.wait_for(2, WITHIN).await;
    let ids: Vec<&str> = got
        .iter()
        .map(|r| r.header("webhook-id").unwrap())
        .collect();
    assert_eq!(ids, ["after-resume"]);
}

#[tokio::test]
async fn an_event_published_on_nats_is_delivered_with_its_msg_id_as_webhook_id() {
    let app = TestApp::spawn().await;
    let key = tenant(&app, "acme").await;
    let receiver = TestReceiver::start().await;
    webhook(&app, &key, hook(&receiver.url("/"), &["deal.*"])).await;
    let client = async_nats::connect(crate::harness::nats_url())
        .await
        .unwrap();
    let mut headers = async_nats::HeaderMap::new();
    headers.insert("Nats-Msg-Id", "3f2a-deal");
    headers.insert("Hookledger-Occurred-At", "2025-05-05T05:05:05Z");
    let subject = format!("{}-events.acme.deal.won", app.id);
    let js = async_nats::jetstream::new(client);
    (js.publish_with_headers(subject, headers, br#"{"amount": 7}"#.as_slice().into()))
        .await
        .unwrap()
        .await
        .unwrap();

    let got = receiver.wait_for(1, WITHIN).await;
    assert_eq!(got[0].header("webhook-id"), Some("3f2a-deal"));
    let body = got[0].json();
    assert_eq!(body["timestamp"], "2025-05-05T05:05:05Z");
    assert_eq!(body["data"], json!({"amount": 7}));
}

#[tokio::test]
async fn the_data_is_delivered_as_published_over_http_and_nats_with_its_order_and_every_digit() {
    let app = TestApp::spawn().await;
    let key = tenant(&app, "acme").await;
    let receiver = TestReceiver::start().await;
    let created = webhook(&app, &key, hook(&receiver.url("/"), &["deal.*"])).await;
    let secret = created["secret"].as_str().unwrap();
    // Members out of alphabetical order, an integer beyond 64 bits, a float's trailing zero:
    // what a tree of values would reorder or round.
    let data =
        r#"{"zeta": 1, "amount": 123456789012345678901234567890, "rate": 1.50, "list": [3,1]}"#;
    let posted = (app.http.post(app.url("/v1/events")))
        .header("x-api-key", &key)
        .header("content-type", "application/json")
        .body(format!(
            r#"{{"type": "deal.won", "id": "over-http", "data": {data}}}"#
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(posted.status(), StatusCode::ACCEPTED);
    let client = async_nats::connect(crate::harness::nats_url())
        .await
        .unwrap();
    let mut headers = async_nats::HeaderMap::new();
    headers.insert("Nats-Msg-Id", "over-nats");
    let subject = format!("{}-events.acme.deal.won", app.id);
    let js = async_nats::jetstream::new(client);
    (js.publish_with_headers(subject, headers, data.as_bytes().to_vec().into()))
        .await
        .unwrap()
        .await
        .unwrap();

    let mut got = receiver.wait_for(2, WITHIN).await;
    got.sort_by_key(|r| r.header("webhook-id").unwrap().to_owned());
    for (delivery, id) in got.iter().zip(["over-http", "over-nats"]) {
        assert_eq!(delivery.header("webhook-id"), Some(id));
        verify(delivery, secret).expect("the official library verifies the signature");
        let body = std::str::from_utf8(&delivery.body).unwrap();
        assert!(
            body.contains(&format!(r#""data":{data}"#)),
            "{id}: the data byte for byte in {body}"
        );
    }
}

#[tokio::test]
async fn a_filter_lets_through_only_the_events_it_holds_for() {
    let app = TestApp::spawn().await;
    let key = tenant(&app, "acme").await;
    let receiver = TestReceiver::start().await;
    let mut body = hook(&receiver.url("/"), &["lead.*"]);
    body["filter"] = json!({">": [{"var": "data.amount"}, 100]});
    webhook(&app, &key, body).await;
    let witness = TestReceiver::start().await;
    webhook(&app, &key, hook(&witness.url("/"), &["*"])).await;

    for (id, amount) in [
        ("small", json!(5)),
        ("big", json!(500)),
        ("odd", json!("x")),
    ] {
        let event = json!({"type": "lead.updated", "id": id, "data": {"amount": amount}});
        publish(&app, &key, event).await;
    }
    witness.wait_for(3, WITHIN).await;
    let got = receiver.wait_for(1, WITHIN).await;
    let ids: Vec<&str> = got
        .iter()
        .map(|r| r.header("webhook-id").unwrap())
        .collect();
    assert_eq!(ids, ["big"]);
}

#[tokio::test]
async fn post_events_answers_422_naming_each_broken_field_and_400_for_bad_json() {
    let app = TestApp::spawn().await;
    let key = tenant(&app, "acme").await;
    let post = |body: Value| {
        let request = (app.http.post(app.url("/v1/events"))).header("x-api-key", &key);
        async move { request.json(&body).send().await.unwrap() }
    };
    let bad = post(json!({"type": "lead..x", "id": "a b", "occurredAt": "yesterday"})).await;
    assert_eq!(bad.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let problem: Value = bad.json().await.unwrap();
    let mut fields: Vec<&str> = (problem["errors"].as_array().unwrap().iter())
        .map(|e| e["field"].as_str().unwrap())
        .collect();
    fields.sort();
    assert_eq!(fields, ["data", "id", "occurredAt", "type"], "{problem}");
    let wrong_type = post(json!({"type": 5, "data": {}})).await;
    assert_eq!(wrong_type.status(), StatusCode::BAD_REQUEST);
    let anonymous = (app.http.post(app.url("/v1/events")))
        .json(&json!({"type": "a", "data": {}}))
        .send()
        .await
        .unwrap();
    assert_eq!(anonymous.status(), StatusCode::UNAUTHORIZED);
}

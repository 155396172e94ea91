//! `POST /v1/events` with an array: checked whole, published together, each event delivered
//! once with its own result; the publish limit counts events, apart from management calls.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::api_support::problem;
use crate::delivery_support::{hook, tenant, webhook};
use crate::harness::TestApp;
use crate::harness::receiver::TestReceiver;
use hookledger_api::Roles;

const WITHIN: Duration = Duration::from_secs(20);

async fn post(app: &TestApp, key: &str, body: &Value) -> reqwest::Response {
    (app.http.post(app.url("/v1/events")))
        .header("x-api-key", key)
        .json(body)
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn a_batch_is_delivered_event_by_event_and_answers_each_id_and_duplicate() {
    let app = TestApp::spawn().await;
    let key = tenant(&app, "acme").await;
    let receiver = TestReceiver::start().await;
    webhook(&app, &key, hook(&receiver.url("/"), &["*"])).await;

    let batch: Vec<Value> = (0..50)
        .map(|i| json!({"type": "lead.created", "id": format!("b-{i}"), "data": {"n": i}}))
        .collect();
    let response = post(&app, &key, &json!(batch)).await;
    assert_eq!(response.status(), StatusCode::ACCEPTED);
    let body: Value = response.json().await.unwrap();
    let results = body["data"].as_array().unwrap();
    assert_eq!(results.len(), 50, "{body}");
    for (i, result) in results.iter().enumerate() {
        assert_eq!(result["id"], format!("b-{i}"), "{body}");
        assert_eq!(result["duplicate"], false, "{body}");
    }
    let received = receiver.wait_for(50, WITHIN).await;
    let mut ns: Vec<i64> = received
        .iter()
        .map(|r| r.json()["data"]["n"].as_i64().unwrap())
        .collect();
    ns.sort_unstable();
    assert_eq!(ns, (0..50).collect::<Vec<_>>());

    // Sent again with one new event: the 50 are duplicates, only the new one is delivered.
    let mut again = batch.clone();
    again.push(json!({"type": "lead.created", "id": "b-new", "data": {"n": 50}}));
    let body: Value = post(&app, &key, &json!(again)).await.json().await.unwrap();
    let duplicates: Vec<bool> = (body["data"].as_array().unwrap().iter())
        .map(|r| r["duplicate"].as_bool().unwrap())
        .collect();
    assert_eq!(duplicates.iter().filter(|d| **d).count(), 50, "{body}");
    assert!(!duplicates[50], "{body}");
    let received = receiver.wait_for(51, WITHIN).await;
    assert_eq!(received.last().unwrap().json()["data"]["n"], 50);
}

#[tokio::test]
async fn a_batch_with_one_broken_event_is_422_naming_it_and_publishes_nothing() {
    let app = TestApp::spawn().await;
    let key = tenant(&app, "acme").await;
    let receiver = TestReceiver::start().await;
    webhook(&app, &key, hook(&receiver.url("/"), &["*"])).await;

    let broken = json!([
        {"type": "lead.created", "id": "ok-1", "data": {}},
        {"type": "not a type!", "id": "bad", "data": {}},
        {"type": "lead.created"},
    ]);
    let body = problem(
        post(&app, &key, &broken).await,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    let fields: Vec<&str> = (body["errors"].as_array().unwrap().iter())
        .map(|e| e["field"].as_str().unwrap())
        .collect();
    assert_eq!(fields, ["[1].type", "[2].data"], "{body}");

    let empty = problem(
        post(&app, &key, &json!([])).await,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    assert_eq!(empty["errors"][0]["field"], "body", "{empty}");
    let many: Vec<Value> = (0..501)
        .map(|_| json!({"type": "lead.created", "data": {}}))
        .collect();
    let too_many = post(&app, &key, &json!(many)).await;
    problem(too_many, StatusCode::UNPROCESSABLE_ENTITY).await;
    let wrong_type = post(&app, &key, &json!("lead.created")).await;
    problem(wrong_type, StatusCode::BAD_REQUEST).await;
    // A member of the wrong JSON type is a 400, and it too names the event.
    let null_data =
        json!([{"type": "lead.created", "data": {}}, {"type": "lead.created", "data": null}]);
    let body = problem(post(&app, &key, &null_data).await, StatusCode::BAD_REQUEST).await;
    assert_eq!(body["errors"][0]["field"], "[1].data", "{body}");

    // Nothing of the broken batch was stored: the id "ok-1" is still new.
    let body: Value = (post(
        &app,
        &key,
        &json!([{"type": "lead.created", "id": "ok-1", "data": {}}]),
    )
    .await)
        .json()
        .await
        .unwrap();
    assert_eq!(body["data"][0]["duplicate"], false, "{body}");
    receiver.wait_for(1, WITHIN).await;
}

#[tokio::test]
async fn the_publish_limit_counts_events_and_is_apart_from_the_management_limit() {
    let app = TestApp::spawn_with(Roles::ALL, |c| {
        c.http.rate_limit_per_second = 0.5;
        c.http.rate_limit_burst = 8;
        c.http.publish_rate_limit_per_second = 1.0;
        c.http.publish_rate_limit_burst = 500;
    })
    .await;
    let key = tenant(&app, "acme").await;
    let events = |n: usize| {
        json!(
            (0..n)
                .map(|_| json!({"type": "lead.created", "data": {}}))
                .collect::<Vec<_>>()
        )
    };
    // 500 tokens: 300 + 200 events pass, one more event does not.
    assert_eq!(
        post(&app, &key, &events(300)).await.status(),
        StatusCode::ACCEPTED
    );
    assert_eq!(
        post(&app, &key, &events(200)).await.status(),
        StatusCode::ACCEPTED
    );
    let limited = post(&app, &key, &json!({"type": "lead.created", "data": {}})).await;
    assert!(limited.headers().contains_key("retry-after"));
    problem(limited, StatusCode::TOO_MANY_REQUESTS).await;
    // Management calls have their own bucket, untouched by publishing.
    let list = (app.http.get(app.url("/v1/webhooks")))
        .header("x-api-key", &key)
        .send()
        .await
        .unwrap();
    assert_eq!(list.status(), StatusCode::OK);
}

//! `Idempotency-Key` on POST: the same key and request get the same answer, another request
//! with the key is a 422 naming the header, and keys are scoped per tenant.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::api_support::{fields, problem, tenant_with_catalog, webhook_body};
use crate::harness::TestApp;

#[tokio::test]
async fn the_same_key_and_body_get_the_same_status_and_body_and_create_once() {
    let app = TestApp::spawn().await;
    let key = tenant_with_catalog(&app, "acme").await;
    let post = || {
        app.http
            .post(app.url("/v1/webhooks"))
            .header("x-api-key", &key)
            .header("idempotency-key", "create-crm-1")
            .json(&webhook_body("crm"))
    };

    let first = post().send().await.unwrap();
    assert_eq!(first.status(), StatusCode::CREATED);
    let first_etag = first.headers()["etag"].clone();
    let first: Value = first.json().await.unwrap();
    let second = post().send().await.unwrap();
    assert_eq!(second.status(), StatusCode::CREATED);
    assert_eq!(second.headers()["idempotent-replayed"], "true");
    assert_eq!(second.headers()["etag"], first_etag);
    assert_eq!(second.headers()["content-type"], "application/json");
    let second: Value = second.json().await.unwrap();
    assert_eq!(first, second, "the same answer, secret included");

    let list: Value = app
        .http
        .get(app.url("/v1/webhooks"))
        .header("x-api-key", &key)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(list["total"], 1, "created once");
}

#[tokio::test]
async fn the_same_key_with_another_body_is_a_422_naming_idempotency_key() {
    let app = TestApp::spawn().await;
    let key = tenant_with_catalog(&app, "acme").await;
    let post = |body: Value| {
        app.http
            .post(app.url("/v1/webhooks"))
            .header("x-api-key", &key)
            .header("idempotency-key", "k-1")
            .json(&body)
    };
    assert_eq!(
        post(webhook_body("one")).send().await.unwrap().status(),
        StatusCode::CREATED
    );

    let p = problem(
        post(webhook_body("two")).send().await.unwrap(),
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    assert_eq!(fields(&p), ["Idempotency-Key"]);
    let malformed = app
        .http
        .post(app.url("/v1/webhooks"))
        .header("x-api-key", &key)
        .header("idempotency-key", "a b")
        .json(&webhook_body("x"));
    assert_eq!(
        fields(&problem(malformed.send().await.unwrap(), StatusCode::BAD_REQUEST).await),
        ["Idempotency-Key"]
    );
}

#[tokio::test]
async fn an_error_answer_is_replayed_too_and_keys_are_per_tenant() {
    let app = TestApp::spawn().await;
    let acme = tenant_with_catalog(&app, "acme").await;
    let globex = tenant_with_catalog(&app, "globex").await;
    let invalid = json!({"name": "no url", "events": ["lead.*"]});
    let post = |key: &str, body: &Value| {
        app.http
            .post(app.url("/v1/webhooks"))
            .header("x-api-key", key)
            .header("idempotency-key", "shared")
            .json(body)
    };

    let first = problem(
        post(&acme, &invalid).send().await.unwrap(),
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    let replay = post(&acme, &invalid).send().await.unwrap();
    assert_eq!(replay.headers()["idempotent-replayed"], "true");
    assert_eq!(
        problem(replay, StatusCode::UNPROCESSABLE_ENTITY).await,
        first
    );
    let theirs = post(&globex, &webhook_body("globex's"))
        .send()
        .await
        .unwrap();
    assert_eq!(
        theirs.status(),
        StatusCode::CREATED,
        "another tenant's key space"
    );
    assert!(theirs.headers().get("idempotent-replayed").is_none());
}

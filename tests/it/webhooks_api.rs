//! The native API end to end over HTTP: an operator creates a tenant, its key manages webhooks,
//! every change is on the ledger and visible at once.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::api_support::{self, event_type};
use crate::harness::TestApp;
use crate::harness::app::OPERATOR_TOKEN;

/// A tenant `id`; returns its first API key.
async fn tenant(app: &TestApp, id: &str) -> String {
    api_support::tenant(&app.http, &app.url(""), id).await.0
}

fn webhook_body() -> Value {
    json!({"name": "CRM sync", "url": "http://127.0.0.1:9/hooks", "events": ["lead.*"], "headers": {"X-Env": "test"}})
}

#[tokio::test]
async fn a_tenant_key_creates_a_webhook_that_a_following_get_and_list_see() {
    let app = TestApp::spawn().await;
    let key = tenant(&app, "acme").await;
    event_type(&app, &key, "lead.created").await;

    let response = app
        .http
        .post(app.url("/v1/webhooks"))
        .bearer_auth(&key)
        .json(&webhook_body())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::CREATED);
    let etag = response.headers()["etag"].to_str().unwrap().to_owned();
    let created: Value = response.json().await.unwrap();
    let id = created["id"].as_str().unwrap();
    assert!(id.starts_with("wh_"));
    assert!(created["secret"].as_str().unwrap().starts_with("whsec_"));
    assert_eq!(etag, format!("\"{}\"", created["version"]));
    assert_eq!(created["status"], "active");
    assert_eq!(created["isActive"], true);

    let got: Value = app
        .http
        .get(app.url(&format!("/v1/webhooks/{id}")))
        .header("x-api-key", &key)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(got["name"], "CRM sync");
    assert!(got.get("secret").is_none(), "reads never show the secret");
    let list: Value = app
        .http
        .get(app.url("/v1/webhooks?event=lead.created"))
        .header("x-api-key", &key)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(list["total"], 1);
    assert_eq!(list["data"][0]["id"], id);
}

#[tokio::test]
async fn create_answers_422_naming_every_broken_field() {
    let app = TestApp::spawn().await;
    let key = tenant(&app, "acme").await;

    let response = app
        .http
        .post(app.url("/v1/webhooks"))
        .header("x-api-key", &key)
        .json(&json!({"url": "ftp://x", "events": ["nobody.subscribes"], "retryAttempts": 99}))
        .send()
        .await
        .unwrap();

    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        response.headers()["content-type"],
        "application/problem+json"
    );
    let problem: Value = response.json().await.unwrap();
    let fields: Vec<&str> = problem["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap())
        .collect();
    for field in ["name", "url", "retryAttempts"] {
        assert!(fields.contains(&field), "{field} not named in {problem}");
    }
}

#[tokio::test]
async fn a_body_that_is_not_json_is_a_400_problem() {
    let app = TestApp::spawn().await;
    let key = tenant(&app, "acme").await;
    let response = app
        .http
        .post(app.url("/v1/webhooks"))
        .header("x-api-key", &key)
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert_eq!(
        response.headers()["content-type"],
        "application/problem+json"
    );
}

#[tokio::test]
async fn a_revoked_key_is_refused_at_once() {
    let app = TestApp::spawn().await;
    let _ = tenant(&app, "acme").await;
    let issued: Value = app
        .http
        .post(app.url("/v1/admin/tenants/acme/keys"))
        .bearer_auth(OPERATOR_TOKEN)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let (key, key_id) = (
        issued["key"].as_str().unwrap(),
        issued["id"].as_str().unwrap(),
    );
    assert_eq!(
        app.http
            .get(app.url("/v1/webhooks"))
            .header("x-api-key", key)
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::OK
    );

    let revoked = app
        .http
        .delete(app.url(&format!("/v1/admin/tenants/acme/keys/{key_id}")))
        .bearer_auth(OPERATOR_TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(revoked.status(), StatusCode::NO_CONTENT);

    assert_eq!(
        app.http
            .get(app.url("/v1/webhooks"))
            .header("x-api-key", key)
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn a_patch_with_a_stale_if_match_is_refused_with_412() {
    let app = TestApp::spawn().await;
    let key = tenant(&app, "acme").await;
    event_type(&app, &key, "lead.created").await;
    let created: Value = app
        .http
        .post(app.url("/v1/webhooks"))
        .header("x-api-key", &key)
        .json(&webhook_body())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let (id, version) = (
        created["id"].as_str().unwrap(),
        created["version"].as_i64().unwrap(),
    );
    let url = app.url(&format!("/v1/webhooks/{id}"));

    let first = app
        .http
        .patch(&url)
        .header("x-api-key", &key)
        .header("if-match", format!("\"{version}\""))
        .json(&json!({"name": "v2"}))
        .send()
        .await
        .unwrap();
    let second = app
        .http
        .patch(&url)
        .header("x-api-key", &key)
        .header("if-match", format!("\"{version}\""))
        .json(&json!({"name": "v3"}))
        .send()
        .await
        .unwrap();

    assert_eq!(first.status(), StatusCode::OK);
    assert_eq!(second.status(), StatusCode::PRECONDITION_FAILED);
}

#[tokio::test]
async fn history_lists_every_change_with_its_actor_and_survives_delete() {
    let app = TestApp::spawn().await;
    let key = tenant(&app, "acme").await;
    event_type(&app, &key, "lead.created").await;
    let created: Value = app
        .http
        .post(app.url("/v1/webhooks"))
        .header("x-api-key", &key)
        .json(&webhook_body())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let id = created["id"].as_str().unwrap();
    let base = app.url(&format!("/v1/webhooks/{id}"));
    for path in ["/pause", "/resume", "/regenerate-secret"] {
        let response = app
            .http
            .post(format!("{base}{path}"))
            .header("x-api-key", &key)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK, "{path}");
    }
    assert_eq!(
        app.http
            .delete(&base)
            .header("x-api-key", &key)
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        app.http
            .get(&base)
            .header("x-api-key", &key)
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::NOT_FOUND
    );

    let history: Value = app
        .http
        .get(format!("{base}/history"))
        .header("x-api-key", &key)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let types: Vec<&str> = history["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["type"].as_str().unwrap())
        .collect();
    assert_eq!(
        types,
        [
            "webhook.created",
            "webhook.paused",
            "webhook.resumed",
            "webhook.secret_rotated",
            "webhook.deleted"
        ]
    );
    assert!(
        history["data"][0]["actor"]
            .as_str()
            .unwrap()
            .starts_with("key_")
    );
    assert!(
        !history.to_string().contains("ciphertext"),
        "secrets are redacted in the history: {history}"
    );
    app.stop().await;
}

#[tokio::test]
async fn another_tenants_webhook_is_a_404() {
    let app = TestApp::spawn().await;
    let acme = tenant(&app, "acme").await;
    let globex = tenant(&app, "globex").await;
    event_type(&app, &acme, "lead.created").await;
    let created: Value = app
        .http
        .post(app.url("/v1/webhooks"))
        .header("x-api-key", &acme)
        .json(&webhook_body())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let id = created["id"].as_str().unwrap();

    for path in ["", "/history", "/secret"] {
        let response = app
            .http
            .get(app.url(&format!("/v1/webhooks/{id}{path}")))
            .header("x-api-key", &globex)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::NOT_FOUND, "{path}");
    }
}

//! `/v1/webhooks/{id}/…` actions (pause, resume, secret, regenerate-secret, history) and the
//! answers to unknown routes and methods, health, readiness and metrics.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::api_support::{problem, tenant_with_catalog, webhook};
use crate::harness::TestApp;

#[tokio::test]
async fn pause_resume_secret_and_regenerate_secret_answer_as_documented() {
    let app = TestApp::spawn().await;
    let key = tenant_with_catalog(&app, "acme").await;
    let created = webhook(&app, &key, "s").await;
    let base = app.url(&format!("/v1/webhooks/{}", created["id"].as_str().unwrap()));

    let paused: Value = app
        .http
        .post(format!("{base}/pause"))
        .header("x-api-key", &key)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(paused["status"], "paused");
    let resumed = app
        .http
        .post(format!("{base}/resume"))
        .header("x-api-key", &key)
        .send()
        .await
        .unwrap();
    assert!(resumed.headers().contains_key("etag"));
    assert_eq!(resumed.json::<Value>().await.unwrap()["status"], "active");

    let secret: Value = app
        .http
        .get(format!("{base}/secret"))
        .header("x-api-key", &key)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(secret["secret"], created["secret"]);
    let rotated: Value = app
        .http
        .post(format!("{base}/regenerate-secret"))
        .header("x-api-key", &key)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_ne!(rotated["secret"], created["secret"]);
    assert!(rotated["secret"].as_str().unwrap().starts_with("whsec_"));
    assert!(rotated["previousSecretExpiresAt"].is_string(), "{rotated}");
    problem(
        app.http
            .post(format!("{base}/pause"))
            .header("x-api-key", &key)
            .header("if-match", "\"1\"")
            .send()
            .await
            .unwrap(),
        StatusCode::PRECONDITION_FAILED,
    )
    .await;

    let history: Value = app
        .http
        .get(format!("{base}/history?limit=2"))
        .header("x-api-key", &key)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        (history["total"].as_i64(), history["hasMore"].as_bool()),
        (Some(4), Some(true))
    );
    assert_eq!(history["data"][1]["type"], "webhook.paused");
}

#[tokio::test]
async fn unknown_routes_and_methods_are_problems_too() {
    let app = TestApp::spawn().await;
    let key = tenant_with_catalog(&app, "acme").await;
    problem(
        app.http
            .get(app.url("/v1/nothing"))
            .header("x-api-key", &key)
            .send()
            .await
            .unwrap(),
        StatusCode::NOT_FOUND,
    )
    .await;
    problem(
        app.http
            .delete(app.url("/v1/webhooks"))
            .header("x-api-key", &key)
            .send()
            .await
            .unwrap(),
        StatusCode::METHOD_NOT_ALLOWED,
    )
    .await;
    let metrics = app
        .http
        .get(app.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains("hookledger_http_requests_total"),
        "{metrics}"
    );
    assert!(
        metrics.contains("route=\"/v1/event-types\""),
        "route templates label the requests"
    );
    assert_eq!(
        app.http
            .get(app.url("/healthz"))
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::OK
    );
    let ready: Value = app
        .http
        .get(app.url("/readyz"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(ready, json!({"nats": true, "postgres": true}));
}

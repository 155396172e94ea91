//! `/v1/webhooks` end to end: every route's success and its documented errors.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::api_support::{fields, problem, tenant_with_catalog, webhook, webhook_body};
use crate::harness::TestApp;

#[tokio::test]
async fn list_filters_by_status_and_event_and_pages_with_the_envelope() {
    let app = TestApp::spawn().await;
    let key = tenant_with_catalog(&app, "acme").await;
    for name in ["a", "b", "c"] {
        webhook(&app, &key, name).await;
    }
    let first: Value = webhook(&app, &key, "d").await;
    let id = first["id"].as_str().unwrap();
    let paused = app
        .http
        .post(app.url(&format!("/v1/webhooks/{id}/pause")))
        .header("x-api-key", &key)
        .send()
        .await
        .unwrap();
    assert_eq!(paused.status(), StatusCode::OK);

    let get = |q: &str| {
        let request = app
            .http
            .get(app.url(&format!("/v1/webhooks{q}")))
            .bearer_auth(&key);
        async move { request.send().await.unwrap() }
    };
    let page: Value = get("?limit=2&page=2").await.json().await.unwrap();
    assert_eq!(
        (
            page["page"].as_i64(),
            page["limit"].as_i64(),
            page["total"].as_i64()
        ),
        (Some(2), Some(2), Some(4))
    );
    assert_eq!(page["hasMore"], false);
    assert_eq!(page["data"].as_array().unwrap().len(), 2);
    let active: Value = get("?isActive=true").await.json().await.unwrap();
    assert_eq!(active["total"], 3);
    let paused: Value = get("?status=paused&event=lead.created")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(paused["total"], 1);
    assert_eq!(paused["data"][0]["id"], id);
    let none: Value = get("?event=order.created").await.json().await.unwrap();
    assert_eq!(none["total"], 0);
    webhook(&app, &key, "e").await;
    let again: Value = get("?limit=2&page=2").await.json().await.unwrap();
    assert_eq!(
        again["total"], 5,
        "a cached list answer never hides a write"
    );

    problem(get("?limit=101").await, StatusCode::UNPROCESSABLE_ENTITY).await;
    problem(get("?page=0").await, StatusCode::UNPROCESSABLE_ENTITY).await;
    problem(
        get("?status=sleeping").await,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    problem(get("?isActive=maybe").await, StatusCode::BAD_REQUEST).await;
    problem(get("?event=%00").await, StatusCode::UNPROCESSABLE_ENTITY).await;
}

#[tokio::test]
async fn create_refuses_bad_input_with_the_documented_status() {
    let app = TestApp::spawn().await;
    let key = tenant_with_catalog(&app, "acme").await;
    let post = |body: reqwest::Body, content_type: &'static str| {
        let request = app
            .http
            .post(app.url("/v1/webhooks"))
            .header("x-api-key", &key)
            .header("content-type", content_type)
            .body(body);
        async move { request.send().await.unwrap() }
    };

    let p = problem(
        post(
            json!({"url": "ftp://x", "events": ["nobody.subscribes"], "retryAttempts": 99})
                .to_string()
                .into(),
            "application/json",
        )
        .await,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    for field in ["name", "url", "retryAttempts"] {
        assert!(
            fields(&p).contains(&field.to_owned()),
            "{field} not named in {p}"
        );
    }
    let p = problem(
        post(json!({"name": 5}).to_string().into(), "application/json").await,
        StatusCode::BAD_REQUEST,
    )
    .await;
    assert_eq!(fields(&p), ["name"]);
    problem(
        post("{not json".into(), "application/json").await,
        StatusCode::BAD_REQUEST,
    )
    .await;
    problem(
        post(webhook_body("x").to_string().into(), "text/plain").await,
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
    )
    .await;
    let huge = json!({"name": "x".repeat(2 * 1024 * 1024)}).to_string();
    problem(
        post(huge.into(), "application/json").await,
        StatusCode::PAYLOAD_TOO_LARGE,
    )
    .await;
    let nul = r#"{"name": "a\u0000b", "url": "http://127.0.0.1:9/h", "events": ["lead.*"]}"#;
    problem(
        post(nul.into(), "application/json").await,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    let escaped = r#"{"name": "a\\u0000b", "url": "http://127.0.0.1:9/h", "events": ["lead.*"]}"#;
    assert_eq!(
        post(escaped.into(), "application/json").await.status(),
        StatusCode::CREATED,
        "an escaped backslash is text"
    );
    let mut forbidden = webhook_body("x");
    forbidden["headers"] = json!({"webhook-signature": "v1,forged"});
    let p = problem(
        post(forbidden.to_string().into(), "application/json").await,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    assert!(fields(&p).iter().any(|f| f.starts_with("headers")), "{p}");
}

#[tokio::test]
async fn get_put_and_delete_answer_with_the_etag_and_asof_sees_the_past() {
    let app = TestApp::spawn().await;
    let key = tenant_with_catalog(&app, "acme").await;
    let created = webhook(&app, &key, "v1").await;
    let id = created["id"].as_str().unwrap();
    let url = app.url(&format!("/v1/webhooks/{id}"));
    tokio::time::sleep(Duration::from_millis(20)).await;
    let between = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Micros, true);
    tokio::time::sleep(Duration::from_millis(20)).await;

    let mut replacement = webhook_body("v2");
    replacement["retryAttempts"] = json!(7);
    let replaced = app
        .http
        .put(&url)
        .header("x-api-key", &key)
        .json(&replacement)
        .send()
        .await
        .unwrap();
    assert_eq!(replaced.status(), StatusCode::OK);
    let etag = replaced.headers()["etag"].to_str().unwrap().to_owned();
    let replaced: Value = replaced.json().await.unwrap();
    assert_eq!(
        (
            replaced["name"].as_str(),
            replaced["retryAttempts"].as_i64()
        ),
        (Some("v2"), Some(7))
    );
    assert_eq!(etag, format!("\"{}\"", replaced["version"]));

    let then: Value = app
        .http
        .get(format!("{url}?asOf={}", between.replace('+', "%2B")))
        .header("x-api-key", &key)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(then["name"], "v1", "asOf shows the webhook as it was");
    problem(
        app.http
            .get(format!("{url}?asOf=yesterday"))
            .header("x-api-key", &key)
            .send()
            .await
            .unwrap(),
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    problem(
        app.http
            .get(format!("{url}?asOf=2000-01-01T00:00:00Z"))
            .header("x-api-key", &key)
            .send()
            .await
            .unwrap(),
        StatusCode::NOT_FOUND,
    )
    .await;

    let mut with_secret = webhook_body("v3");
    with_secret["secret"] = json!("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw");
    problem(
        app.http
            .put(&url)
            .header("x-api-key", &key)
            .json(&with_secret)
            .send()
            .await
            .unwrap(),
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    problem(
        app.http
            .delete(&url)
            .header("x-api-key", &key)
            .header("if-match", "\"1\"")
            .send()
            .await
            .unwrap(),
        StatusCode::PRECONDITION_FAILED,
    )
    .await;
    problem(
        app.http
            .delete(&url)
            .header("x-api-key", &key)
            .header("if-match", "soon")
            .send()
            .await
            .unwrap(),
        StatusCode::BAD_REQUEST,
    )
    .await;
    let deleted = app
        .http
        .delete(&url)
        .header("x-api-key", &key)
        .header("if-match", &etag)
        .send()
        .await
        .unwrap();
    assert_eq!(deleted.status(), StatusCode::NO_CONTENT);
    problem(
        app.http
            .get(&url)
            .header("x-api-key", &key)
            .send()
            .await
            .unwrap(),
        StatusCode::NOT_FOUND,
    )
    .await;
    problem(
        app.http
            .patch(&url)
            .header("x-api-key", &key)
            .json(&json!({"name": "x"}))
            .send()
            .await
            .unwrap(),
        StatusCode::NOT_FOUND,
    )
    .await;
    problem(
        app.http
            .get(app.url("/v1/webhooks/not-an-id"))
            .header("x-api-key", &key)
            .send()
            .await
            .unwrap(),
        StatusCode::NOT_FOUND,
    )
    .await;
}

#[tokio::test]
async fn concurrent_patches_with_the_same_if_match_give_one_200_and_the_rest_412() {
    let app = TestApp::spawn().await;
    let key = tenant_with_catalog(&app, "acme").await;
    let created = webhook(&app, &key, "race").await;
    let (id, version) = (
        created["id"].as_str().unwrap(),
        created["version"].as_i64().unwrap(),
    );
    let url = app.url(&format!("/v1/webhooks/{id}"));

    let attempts = (0..8).map(|i| {
        let request = app
            .http
            .patch(&url)
            .header("x-api-key", &key)
            .header("if-match", format!("\"{version}\""))
            .json(&json!({"name": format!("racer {i}")}));
        async move { request.send().await.unwrap().status() }
    });
    let statuses = futures::future::join_all(attempts).await;

    let ok = statuses.iter().filter(|s| **s == StatusCode::OK).count();
    let stale = statuses
        .iter()
        .filter(|s| **s == StatusCode::PRECONDITION_FAILED)
        .count();
    assert_eq!((ok, stale), (1, 7), "{statuses:?}");
}

#[tokio::test]
async fn patch_changes_fields_and_is_active_pauses_and_resumes() {
    let app = TestApp::spawn().await;
    let key = tenant_with_catalog(&app, "acme").await;
    let created = webhook(&app, &key, "p").await;
    let url = app.url(&format!("/v1/webhooks/{}", created["id"].as_str().unwrap()));
    let patch = |body: Value| {
        let request = app.http.patch(&url).header("x-api-key", &key).json(&body);
        async move { request.send().await.unwrap() }
    };

    let paused: Value = patch(json!({"isActive": false, "description": "quiet"}))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        (paused["status"].as_str(), paused["isActive"].as_bool()),
        (Some("paused"), Some(false))
    );
    assert_eq!(paused["description"], "quiet");
    let resumed: Value = patch(json!({"status": "active", "description": null}))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(resumed["status"], "active");
    assert!(
        resumed.get("description").is_none(),
        "null clears the description: {resumed}"
    );
    problem(
        patch(json!({"status": "disabled"})).await,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    problem(
        patch(json!({"isActive": true, "status": "paused"})).await,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    problem(
        patch(json!({"events": ["order.*"]})).await,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    problem(
        patch(json!({"timeoutSeconds": "soon"})).await,
        StatusCode::BAD_REQUEST,
    )
    .await;
}

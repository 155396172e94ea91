//! The Sonar dialect: the document's example body answers 201 with the values as sent and an
//! int32 id, every required member is named when missing, settings are checked against the
//! document's events, `active: "false"` creates a paused webhook, and deliveries use the
//! webhook's `http_method`, signed.

use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::compat_support::{call, native_list, publish_nats, tenant};
use crate::delivery_support::verify;
use crate::harness::TestApp;
use crate::harness::receiver::TestReceiver;

const WITHIN: Duration = Duration::from_secs(15);
const BASE: &str = "/compat/sonar/webhooks";

/// The document's example body, with `url` in place of its example URL.
fn example(url: &str) -> Value {
    json!({
        "webhook": {
            "name": "webhook to capture customer state changes",
            "active": "true",
            "settings": {
                "customer_state_changed": "true"
            },
            "url": url,
            "http_method": "POST"
        }
    })
}

/// `POST /webhooks` with `Authorization: Bearer`, Sonar's style.
async fn create(app: &TestApp, key: &str, body: Value) -> (StatusCode, Value) {
    call(app, Method::POST, BASE, |r| r.bearer_auth(key), Some(body)).await
}

/// The `field` of every problem of an error answer.
fn fields(problem: &Value) -> Vec<&str> {
    (problem["errors"].as_array().unwrap().iter())
        .map(|e| e["field"].as_str().unwrap())
        .collect()
}

/// A timestamp as the dialect writes them: `2024-01-15T10:00:00.000Z`.
fn assert_millis_utc(value: &Value) {
    let text = value.as_str().unwrap();
    assert!(text.len() == 24 && text.ends_with('Z'), "{text}");
    chrono::DateTime::parse_from_rfc3339(text).unwrap();
}

/// The native webhook named `name`, from the native list.
async fn native(app: &TestApp, key: &str, name: &str) -> Value {
    let list = native_list(app, key).await;
    (list["data"].as_array().unwrap().iter())
        .find(|w| w["name"] == name)
        .cloned()
        .unwrap_or_else(|| panic!("{name} is not in the native list: {list}"))
}

#[tokio::test]
async fn the_documents_example_body_answers_201_with_the_values_as_sent_and_an_int32_id() {
    let app = TestApp::spawn().await;
    let key = tenant(&app, "acme").await;
    let url = "http://127.0.0.1:9/catch-a-hook";

    let (status, body) = create(&app, &key, example(url)).await;

    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body.as_object().unwrap().len(), 1, "{body}");
    let webhook = &body["webhook"];
    let mut keys: Vec<&str> = webhook
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    keys.sort_unstable();
    assert_eq!(
        keys,
        [
            "active",
            "created_at",
            "http_method",
            "id",
            "name",
            "settings",
            "updated_at",
            "url"
        ]
    );
    assert_eq!(webhook["id"], 1);
    assert!(webhook["id"].is_i64());
    assert_eq!(webhook["name"], "webhook to capture customer state changes");
    assert_eq!(webhook["active"], "true");
    assert_eq!(
        webhook["settings"],
        json!({"customer_state_changed": "true"})
    );
    assert_eq!(webhook["url"], url);
    assert_eq!(webhook["http_method"], "POST");
    assert_millis_utc(&webhook["created_at"]);
    assert_millis_utc(&webhook["updated_at"]);

    let native = native(&app, &key, "webhook to capture customer state changes").await;
    assert_eq!(native["events"], json!(["customer_state_changed"]));
    assert_eq!(
        (native["status"].as_str(), native["httpMethod"].as_str()),
        (Some("active"), Some("POST"))
    );
    let (_, second) = create(&app, &key, example(url)).await;
    assert_eq!(second["webhook"]["id"], 2);
}

#[tokio::test]
async fn each_of_the_five_members_missing_in_turn_is_a_422_naming_it() {
    let app = TestApp::spawn().await;
    let key = tenant(&app, "acme").await;
    for member in ["name", "active", "settings", "url", "http_method"] {
        let mut body = example("http://127.0.0.1:9/hook");
        body["webhook"].as_object_mut().unwrap().remove(member);

        let (status, problem) = create(&app, &key, body).await;

        assert_eq!(
            status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{member}: {problem}"
        );
        assert_eq!(fields(&problem), [format!("webhook.{member}")], "{problem}");
    }
    let (status, problem) = create(&app, &key, json!({"name": "flat"})).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(fields(&problem), ["webhook"]);
    let mut body = example("http://127.0.0.1:9/hook");
    body["webhook"]["name"] = json!(5);
    let (status, problem) = create(&app, &key, body).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(fields(&problem), ["webhook.name"]);
    assert_eq!(native_list(&app, &key).await["data"], json!([]));
}

#[tokio::test]
async fn settings_keys_values_and_methods_outside_the_document_are_refused_naming_them() {
    let app = TestApp::spawn().await;
    let key = tenant(&app, "acme").await;
    let cases = [
        (
            json!({"customer_state_changed": "true", "lead_created": "true"}),
            "POST",
            "webhook.settings.lead_created",
        ),
        (
            json!({"customer_state_changed": "yes"}),
            "POST",
            "webhook.settings.customer_state_changed",
        ),
        (
            json!({"customer_state_changed": "false"}),
            "POST",
            "webhook.settings",
        ),
        (json!({}), "POST", "webhook.settings"),
        (
            json!({"customer_state_changed": "true"}),
            "GET",
            "webhook.http_method",
        ),
        (
            json!({"customer_state_changed": "true"}),
            "DELETE",
            "webhook.http_method",
        ),
    ];
    for (settings, method, field) in cases {
        let mut body = example("http://127.0.0.1:9/hook");
        body["webhook"]["settings"] = settings.clone();
        body["webhook"]["http_method"] = json!(method);

        let (status, problem) = create(&app, &key, body).await;

        assert_eq!(
            status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{settings} {method}: {problem}"
        );
        assert_eq!(fields(&problem), [field], "{problem}");
    }
    let mut body = example("http://127.0.0.1:9/hook");
    body["webhook"]["active"] = json!("maybe");
    let (status, problem) = create(&app, &key, body).await;
    assert_eq!(
        (status, fields(&problem)),
        (StatusCode::UNPROCESSABLE_ENTITY, vec!["webhook.active"])
    );
    assert_eq!(native_list(&app, &key).await["data"], json!([]));
}

#[tokio::test]
async fn active_false_as_a_string_or_a_boolean_creates_the_webhook_paused() {
    let app = TestApp::spawn().await;
    let key = tenant(&app, "acme").await;
    for (name, active) in [("string", json!("false")), ("boolean", json!(false))] {
        let mut body = example("http://127.0.0.1:9/hook");
        body["webhook"]["name"] = json!(name);
        body["webhook"]["active"] = active.clone();
        body["webhook"]["settings"] =
            json!({"customer_created": true, "outbound_message": "false"});

        let (status, created) = create(&app, &key, body).await;

        assert_eq!(status, StatusCode::CREATED, "{created}");
        assert_eq!(created["webhook"]["active"], active);
        assert_eq!(
            created["webhook"]["settings"],
            json!({"customer_created": true, "outbound_message": "false"})
        );
        let native = native(&app, &key, name).await;
        assert_eq!(native["status"], "paused", "{native}");
        assert_eq!(native["events"], json!(["customer_created"]));
    }
}

#[tokio::test]
async fn without_a_key_it_is_401_and_x_api_key_works_too() {
    let app = TestApp::spawn().await;
    let key = tenant(&app, "acme").await;
    let (status, _) = call(
        &app,
        Method::POST,
        BASE,
        |r| r,
        Some(example("http://127.0.0.1:9/")),
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, _) = call(&app, Method::GET, BASE, |r| r.bearer_auth("nope"), None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, list) = call(
        &app,
        Method::GET,
        BASE,
        |r| r.header("x-api-key", &key),
        None,
    )
    .await;
    assert_eq!((status, list), (StatusCode::OK, json!({"webhooks": []})));
}

#[tokio::test]
async fn list_get_and_delete_read_the_webhook_in_the_documents_types() {
    let app = TestApp::spawn().await;
    let key = tenant(&app, "acme").await;
    let auth = |r: reqwest::RequestBuilder| r.bearer_auth(&key);
    let (_, created) = create(&app, &key, example("http://127.0.0.1:9/a")).await;
    let mut paused = example("http://127.0.0.1:9/b");
    paused["webhook"]["active"] = json!(false);
    paused["webhook"]["http_method"] = json!("patch");
    paused["webhook"]["name"] = json!("paused");
    let (status, _) = create(&app, &key, paused).await;
    assert_eq!(status, StatusCode::CREATED);

    let (status, one) = call(&app, Method::GET, &format!("{BASE}/1"), auth, None).await;
    assert_eq!(status, StatusCode::OK, "{one}");
    let sent = &created["webhook"];
    assert_eq!(
        one,
        json!({"webhook": {"id": 1, "name": sent["name"], "active": true,
            "settings": {"customer_state_changed": "true"}, "url": sent["url"],
            "http_method": "POST", "created_at": sent["created_at"], "updated_at": sent["updated_at"]}})
    );
    let (status, list) = call(&app, Method::GET, BASE, auth, None).await;
    assert_eq!(status, StatusCode::OK);
    let webhooks = list["webhooks"].as_array().unwrap();
    assert_eq!(webhooks.len(), 2);
    assert_eq!(webhooks[0], one["webhook"]);
    assert_eq!(
        (webhooks[1]["id"].as_i64(), &webhooks[1]["active"]),
        (Some(2), &json!(false))
    );
    assert_eq!(webhooks[1]["http_method"], "PATCH");

    let (status, _) = call(&app, Method::DELETE, &format!("{BASE}/1"), auth, None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    for (method, path) in [
        (Method::GET, "1"),
        (Method::DELETE, "1"),
        (Method::GET, "0"),
        (Method::GET, "x"),
    ] {
        let (status, _) = call(&app, method.clone(), &format!("{BASE}/{path}"), auth, None).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{method} {path}");
    }
    let (_, list) = call(&app, Method::GET, BASE, auth, None).await;
    assert_eq!(list["webhooks"].as_array().unwrap().len(), 1);
    let (_, third) = create(&app, &key, example("http://127.0.0.1:9/c")).await;
    assert_eq!(
        third["webhook"]["id"], 3,
        "a deleted number is not given again"
    );
}

#[tokio::test]
async fn a_customer_state_change_on_nats_reaches_the_receiver_with_put_signed() {
    let app = TestApp::spawn().await;
    let key = tenant(&app, "acme").await;
    let receiver = TestReceiver::start().await;
    let mut body = example(&receiver.url("/catch-a-hook"));
    body["webhook"]["http_method"] = json!("PUT");
    let (status, created) = create(&app, &key, body).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    assert_eq!(created["webhook"]["http_method"], "PUT");
    let native = native(&app, &key, "webhook to capture customer state changes").await;
    let path = format!("/v1/webhooks/{}/secret", native["id"].as_str().unwrap());
    let (status, secret) = call(
        &app,
        Method::GET,
        &path,
        |r| r.header("x-api-key", &key),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{secret}");

    let data = json!({"customer": {"id": 7, "state": "closed"}});
    publish_nats(
        &app,
        "acme",
        "customer_state_changed",
        "state-1",
        data.clone(),
    )
    .await;

    let got = receiver.wait_for(1, WITHIN).await;
    let delivery = &got[0];
    assert_eq!(
        (delivery.method.as_str(), delivery.path.as_str()),
        ("PUT", "/catch-a-hook")
    );
    verify(delivery, secret["secret"].as_str().unwrap()).expect("signed with the webhook's secret");
    assert_eq!(delivery.header("webhook-id"), Some("state-1"));
    assert_eq!(delivery.json()["type"], "customer_state_changed");
    assert_eq!(delivery.json()["data"], data);
}

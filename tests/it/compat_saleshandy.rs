//! The Saleshandy dialect: `POST /compat/saleshandy/v1/webhook/create` as its document shows
//! it, the signed test delivery made on create (active on success, paused on failure), and
//! events published on NATS reaching the webhook signed, with its custom headers.

use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::compat_support::{call, native_list, publish_nats, tenant};
use crate::delivery_support::verify;
use crate::harness::receiver::{Reply, TestReceiver};
use crate::harness::{TestApp, eventually};

const WITHIN: Duration = Duration::from_secs(15);
const CREATE: &str = "/compat/saleshandy/v1/webhook/create";

/// The document's request body, verbatim but for the receiver's URL.
fn example(url: &str) -> Value {
    json!({
        "name": "Email Sent Webhook",
        "webhookUrl": url,
        "webhookEvent": [
            "email-sent"
        ],
        "headers": {
            "X-Webhook-Source": "saleshandy"
        }
    })
}

async fn create(app: &TestApp, key: &str, body: Value) -> (StatusCode, Value) {
    call(
        app,
        Method::POST,
        CREATE,
        |r| r.header("x-api-key", key),
        Some(body),
    )
    .await
}

/// The native webhook whose id holds the Saleshandy id `vendor_id`.
async fn native(app: &TestApp, key: &str, vendor_id: &str) -> Value {
    let list = native_list(app, key).await;
    let found = (list["data"].as_array().unwrap().iter())
        .find(|w| w["id"].as_str().unwrap().contains(vendor_id))
        .cloned();
    found.unwrap_or_else(|| panic!("no native webhook holds {vendor_id}: {list}"))
}

async fn native_secret(app: &TestApp, key: &str, native_id: &str) -> String {
    let path = format!("/v1/webhooks/{native_id}/secret");
    let (status, body) = call(
        app,
        Method::GET,
        &path,
        |r| r.header("x-api-key", key),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body["secret"].as_str().unwrap().to_owned()
}

#[track_caller]
fn assert_problem_names(body: &Value, fields: &[&str]) {
    let named: Vec<&str> = (body["errors"]
        .as_array()
        .expect("a problem with errors")
        .iter())
    .map(|e| e["field"].as_str().unwrap())
    .collect();
    assert_eq!(named, fields, "{body}");
}

#[tokio::test]
async fn the_documents_example_is_created_active_after_a_signed_test_delivery() {
    let app = TestApp::spawn().await;
    let key = tenant(&app, "acme").await;
    let receiver = TestReceiver::start().await;
    let url = receiver.url("/webhooks/email-sent");

    let (status, body) = create(&app, &key, example(&url)).await;

    assert_eq!(status, StatusCode::CREATED, "{body}");
    let id = body["payload"]["id"].as_str().unwrap().to_owned();
    assert_eq!(id.len(), 24, "{id}");
    assert!(
        id.bytes()
            .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
    );
    assert_eq!(
        body,
        json!({
            "message": "Webhook created successfully",
            "payload": {
                "id": id,
                "name": "Email Sent Webhook",
                "webhookUrl": url,
                "webhookEvent": ["email-sent"],
                "headers": {"X-Webhook-Source": "saleshandy"},
                "status": "active",
                "testDelivery": {"status": "success"}
            }
        })
    );
    // The test delivery came before the answer: signed, of type webhook.test, with the headers.
    let got = receiver.received();
    assert_eq!(got.len(), 1);
    let hook = native(&app, &key, &id).await;
    assert_eq!(hook["status"], "active");
    let native_id = hook["id"].as_str().unwrap();
    let secret = native_secret(&app, &key, native_id).await;
    verify(&got[0], &secret).expect("the test delivery is signed");
    assert_eq!(got[0].path, "/webhooks/email-sent");
    assert_eq!(got[0].json()["type"], "webhook.test");
    assert_eq!(got[0].header("x-webhook-source"), Some("saleshandy"));
    // …and it is a logged delivery.
    let deliveries = format!("/v1/webhooks/{native_id}/deliveries?event=webhook.test");
    let page = eventually(WITHIN, || async {
        let (_, page) = call(
            &app,
            Method::GET,
            &deliveries,
            |r| r.header("x-api-key", &key),
            None,
        )
        .await;
        // Wait for the attempt that closes the delivery (older facts closed it separately).
        if page["total"] == 1 && page["data"][0]["status"] != "pending" {
            Ok(page)
        } else {
            Err(page)
        }
    })
    .await;
    assert_eq!(page["data"][0]["status"], "succeeded");
}

#[tokio::test]
async fn a_receiver_that_fails_the_test_leaves_the_webhook_paused() {
    let app = TestApp::spawn().await;
    let key = tenant(&app, "acme").await;
    let receiver = TestReceiver::replying(Reply::status(500)).await;

    let (status, body) = create(&app, &key, example(&receiver.url("/hooks"))).await;

    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body["payload"]["status"], "paused");
    assert_eq!(body["payload"]["testDelivery"], json!({"status": "failed"}));
    assert_eq!(receiver.count(), 1, "the test was made once");
    let hook = native(&app, &key, body["payload"]["id"].as_str().unwrap()).await;
    assert_eq!(hook["status"], "paused");
    assert_eq!(hook["isActive"], false);
}

#[tokio::test]
async fn every_missing_field_is_refused_by_name_and_empty_headers_are_accepted() {
    let app = TestApp::spawn().await;
    let key = tenant(&app, "acme").await;
    let receiver = TestReceiver::start().await;
    let full = example(&receiver.url("/hooks"));

    for field in ["name", "webhookUrl", "webhookEvent", "headers"] {
        let mut body = full.clone();
        body.as_object_mut().unwrap().remove(field);
        let (status, problem) = create(&app, &key, body).await;
        assert_eq!(
            status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{field}: {problem}"
        );
        assert_problem_names(&problem, &[field]);
    }
    let (status, problem) = create(&app, &key, json!({})).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_problem_names(&problem, &["name", "webhookUrl", "webhookEvent", "headers"]);

    let mut body = full.clone();
    body["headers"] = json!({});
    let (status, created) = create(&app, &key, body).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    assert_eq!(created["payload"]["headers"], json!({}));
    assert_eq!(
        native_list(&app, &key).await["total"],
        1,
        "refused bodies made nothing"
    );
}

#[tokio::test]
async fn unknown_events_an_empty_event_list_and_a_bad_url_are_refused_by_name() {
    let app = TestApp::spawn().await;
    let key = tenant(&app, "acme").await;
    let receiver = TestReceiver::start().await;
    let mut body = example(&receiver.url("/hooks"));

    body["webhookEvent"] = json!(["email-sent", "email.sent", "lead.created"]);
    let (status, problem) = create(&app, &key, body.clone()).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{problem}");
    assert_problem_names(&problem, &["webhookEvent[1]", "webhookEvent[2]"]);

    body["webhookEvent"] = json!([]);
    let (status, problem) = create(&app, &key, body.clone()).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{problem}");
    assert_problem_names(&problem, &["webhookEvent"]);

    body["webhookEvent"] = json!(["whatsapp-task-updated", "inbox-analyser-test-completed"]);
    body["webhookUrl"] = json!("not a url");
    let (status, problem) = create(&app, &key, body).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{problem}");
    assert_problem_names(&problem, &["webhookUrl"]);
    assert_eq!(native_list(&app, &key).await["total"], 0);
    assert_eq!(receiver.count(), 0);
}

#[tokio::test]
async fn an_email_sent_event_on_nats_arrives_signed_with_the_custom_headers() {
    let app = TestApp::spawn().await;
    let key = tenant(&app, "acme").await;
    let receiver = TestReceiver::start().await;
    let (status, body) = create(&app, &key, example(&receiver.url("/webhooks/email-sent"))).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let hook = native(&app, &key, body["payload"]["id"].as_str().unwrap()).await;
    let secret = native_secret(&app, &key, hook["id"].as_str().unwrap()).await;

    let data = json!({"prospectId": 7, "sequenceId": 3});
    publish_nats(&app, "acme", "email-sent", "evt-email-1", data.clone()).await;

    let got = receiver.wait_for(2, WITHIN).await;
    let event = &got[1];
    verify(event, &secret).expect("the event is signed with the webhook's secret");
    assert_eq!(event.header("webhook-id"), Some("evt-email-1"));
    assert_eq!(event.header("x-webhook-source"), Some("saleshandy"));
    let delivered = event.json();
    assert_eq!(delivered["type"], "email-sent");
    assert_eq!(delivered["data"], data);
}

#[tokio::test]
async fn the_api_key_goes_in_x_api_key_and_no_key_is_401() {
    let app = TestApp::spawn().await;
    let key = tenant(&app, "acme").await;
    let receiver = TestReceiver::start().await;
    let body = example(&receiver.url("/hooks"));

    let (status, _) = call(&app, Method::POST, CREATE, |r| r, Some(body.clone())).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let wrong = |r: reqwest::RequestBuilder| r.header("x-api-key", "hl_wrong");
    let (status, _) = call(&app, Method::POST, CREATE, wrong, Some(body.clone())).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(receiver.count(), 0);
    let (status, created) = create(&app, &key, body.clone()).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let bearer = |r: reqwest::RequestBuilder| r.bearer_auth(&key);
    let (status, created) = call(&app, Method::POST, CREATE, bearer, Some(body)).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
}

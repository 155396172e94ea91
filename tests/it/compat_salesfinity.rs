//! The Salesfinity dialect: the document's example request answers its exact shape, the
//! rules refuse what the document refuses, `dispositions` filters `CALL_LOGGED` deliveries,
//! and the webhook is an ordinary, signed webhook of the native API.

use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::compat_support::{call, native_list, publish_nats, tenant};
use crate::delivery_support::verify;
use crate::harness::TestApp;
use crate::harness::receiver::{Received, TestReceiver};

const WITHIN: Duration = Duration::from_secs(15);
const BASE: &str = "/compat/salesfinity/v1/webhooks";

/// The document's example request, with `url` in place of its example URL.
fn example(url: &str) -> Value {
    json!({
        "name": "CRM Call Sync",
        "url": url,
        "events": ["CALL_LOGGED"],
        "dispositions": [1, 4]
    })
}

/// `POST` with `x-api-key`, as the document shows.
async fn create(app: &TestApp, key: &str, body: Value) -> (StatusCode, Value) {
    call(
        app,
        Method::POST,
        BASE,
        |r| r.header("x-api-key", key),
        Some(body),
    )
    .await
}

/// The `field` of every problem of a 422 answer.
fn fields(problem: &Value) -> Vec<&str> {
    (problem["errors"].as_array().unwrap().iter())
        .map(|e| e["field"].as_str().unwrap())
        .collect()
}

/// A Salesfinity timestamp: `2024-01-15T10:00:00.000Z`.
fn assert_millis_utc(value: &Value) {
    let text = value.as_str().unwrap();
    assert_eq!(text.len(), 24, "{text}");
    assert!(text.ends_with('Z') && text.as_bytes()[19] == b'.', "{text}");
    chrono::DateTime::parse_from_rfc3339(text).unwrap();
}

/// The native webhook of Salesfinity `_id`, from the native list.
async fn native(app: &TestApp, key: &str, vendor_id: &str) -> Value {
    let list = native_list(app, key).await;
    (list["data"].as_array().unwrap().iter())
        .find(|w| {
            w["id"]
                .as_str()
                .unwrap()
                .starts_with(&format!("wh_{vendor_id}"))
        })
        .cloned()
        .unwrap_or_else(|| panic!("{vendor_id} is not in the native list: {list}"))
}

/// The signing secret, from the native `GET /v1/webhooks/{id}/secret`.
async fn secret(app: &TestApp, key: &str, native_id: &str) -> String {
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

#[tokio::test]
async fn the_documents_example_request_answers_201_with_exactly_the_documents_shape() {
    let app = TestApp::spawn().await;
    let key = tenant(&app, "acme").await;
    let url = "http://127.0.0.1:9/webhooks/salesfinity";

    let (status, body) = create(&app, &key, example(url)).await;

    assert_eq!(status, StatusCode::CREATED, "{body}");
    let object = body.as_object().unwrap();
    let mut keys: Vec<&str> = object.keys().map(String::as_str).collect();
    keys.sort_unstable();
    assert_eq!(
        keys,
        [
            "_id",
            "createdAt",
            "dispositions",
            "events",
            "name",
            "status",
            "updatedAt",
            "url"
        ]
    );
    let id = body["_id"].as_str().unwrap();
    assert!(
        id.len() == 24
            && id
                .bytes()
                .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()),
        "{id}"
    );
    assert_eq!(body["name"], "CRM Call Sync");
    assert_eq!(body["url"], url);
    assert_eq!(body["events"], json!(["CALL_LOGGED"]));
    assert_eq!(body["dispositions"], json!([1, 4]));
    assert_eq!(body["status"], "active");
    assert_millis_utc(&body["createdAt"]);
    assert_millis_utc(&body["updatedAt"]);

    let native = native(&app, &key, id).await;
    assert_eq!(native["name"], "CRM Call Sync");
    assert_eq!(native["events"], json!(["CALL_LOGGED"]));
    assert_eq!(native["status"], "active");
}

#[tokio::test]
async fn each_required_field_missing_in_turn_is_a_422_naming_it() {
    let app = TestApp::spawn().await;
    let key = tenant(&app, "acme").await;
    for field in ["name", "url", "events"] {
        let mut body = example("http://127.0.0.1:9/hook");
        body.as_object_mut().unwrap().remove(field);

        let (status, problem) = create(&app, &key, body).await;

        assert_eq!(
            status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{field}: {problem}"
        );
        assert_eq!(fields(&problem), [field], "{problem}");
    }
    let mut body = example("http://127.0.0.1:9/hook");
    body.as_object_mut().unwrap().remove("dispositions");
    let (status, created) = create(&app, &key, body).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    assert_eq!(created["dispositions"], json!([]));
}

#[tokio::test]
async fn an_event_name_salesfinity_does_not_document_is_a_422_naming_its_index() {
    let app = TestApp::spawn().await;
    let key = tenant(&app, "acme").await;
    for unknown in ["CALL_ENDED", "call_logged", "CALL.*", "*"] {
        let mut body = example("http://127.0.0.1:9/hook");
        body["events"] = json!(["CONTACT_SNOOZED", unknown]);

        let (status, problem) = create(&app, &key, body).await;

        assert_eq!(
            status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{unknown}: {problem}"
        );
        assert_eq!(fields(&problem), ["events[1]"], "{problem}");
    }
    let mut body = example("http://127.0.0.1:9/hook");
    body["dispositions"] = json!([1, "four"]);
    let (status, problem) = create(&app, &key, body).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{problem}");
    assert_eq!(native_list(&app, &key).await["data"], json!([]));
}

#[tokio::test]
async fn requests_without_a_key_are_401_and_other_key_styles_work() {
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
    let (status, _) = call(
        &app,
        Method::GET,
        BASE,
        |r| r.header("x-api-key", "nope"),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, list) = call(&app, Method::GET, BASE, |r| r.bearer_auth(&key), None).await;
    assert_eq!((status, list), (StatusCode::OK, json!([])));
}

#[tokio::test]
async fn list_get_and_delete_find_only_salesfinity_webhooks_by_their_id() {
    let app = TestApp::spawn().await;
    let key = tenant(&app, "acme").await;
    let auth = |r: reqwest::RequestBuilder| r.header("x-api-key", &key);
    let (_, first) = create(&app, &key, example("http://127.0.0.1:9/a")).await;
    let mut second_body = example("http://127.0.0.1:9/b");
    second_body["events"] = json!(["CONTACT_SNOOZED", "CALL_LOGGED"]);
    second_body["name"] = json!("Snoozes");
    let (_, second) = create(&app, &key, second_body).await;
    // A native webhook is not Salesfinity's.
    let (status, _) = call(
        &app,
        Method::POST,
        "/v1/event-types",
        auth,
        Some(json!({"name": "other"})),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED);
    let native_body = json!({"name": "native", "url": "http://127.0.0.1:9/n", "events": ["other"]});
    let (status, _) = call(&app, Method::POST, "/v1/webhooks", auth, Some(native_body)).await;
    assert_eq!(status, StatusCode::CREATED);

    let (status, list) = call(&app, Method::GET, BASE, auth, None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(list, json!([first, second]));

    let one = format!("{BASE}/{}", first["_id"].as_str().unwrap());
    let (status, got) = call(&app, Method::GET, &one, auth, None).await;
    assert_eq!((status, &got), (StatusCode::OK, &first));

    let (status, deleted) = call(&app, Method::DELETE, &one, auth, None).await;
    assert_eq!((status, &deleted), (StatusCode::OK, &first));
    let (status, _) = call(&app, Method::GET, &one, auth, None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = call(&app, Method::DELETE, &one, auth, None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (_, list) = call(&app, Method::GET, BASE, auth, None).await;
    assert_eq!(list, json!([second]));
    for wrong in [
        "507F1F77BCF86CD799439011",
        "nope",
        "507f1f77bcf86cd799439011",
    ] {
        let (status, _) = call(&app, Method::GET, &format!("{BASE}/{wrong}"), auth, None).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{wrong}");
    }
}

#[tokio::test]
async fn dispositions_let_only_listed_calls_through_and_every_snooze_and_deliveries_are_signed() {
    let app = TestApp::spawn().await;
    let key = tenant(&app, "acme").await;
    let receiver = TestReceiver::start().await;
    let mut body = example(&receiver.url("/salesfinity"));
    body["events"] = json!(["CALL_LOGGED", "CONTACT_SNOOZED"]);
    let (status, created) = create(&app, &key, body).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let native = native(&app, &key, created["_id"].as_str().unwrap()).await;
    let secret = secret(&app, &key, native["id"].as_str().unwrap()).await;

    publish_nats(
        &app,
        "acme",
        "CALL_LOGGED",
        "call-2",
        json!({"dispositionId": 2}),
    )
    .await;
    publish_nats(
        &app,
        "acme",
        "CALL_LOGGED",
        "call-4",
        json!({"dispositionId": 4}),
    )
    .await;
    publish_nats(
        &app,
        "acme",
        "CONTACT_SNOOZED",
        "snooze-1",
        json!({"contactId": "c1"}),
    )
    .await;
    receiver.wait_for(2, WITHIN).await;
    // A marker published after the others: the router decides events in order, so once the
    // marker is delivered the call with disposition 2 was decided too.
    publish_nats(
        &app,
        "acme",
        "CALL_LOGGED",
        "call-1",
        json!({"dispositionId": 1}),
    )
    .await;
    let ids = |got: &[Received]| -> Vec<String> {
        let mut ids: Vec<String> = (got.iter())
            .map(|r| r.header("webhook-id").unwrap_or("").to_owned())
            .collect();
        ids.sort_unstable();
        ids
    };
    let got = crate::harness::eventually(WITHIN, || async {
        let got = receiver.received();
        if ids(&got).iter().any(|id| id == "call-1") {
            Ok(got)
        } else {
            Err(ids(&got))
        }
    })
    .await;

    assert_eq!(ids(&got), ["call-1", "call-4", "snooze-1"]);
    for delivery in &got {
        assert_eq!(
            (delivery.method.as_str(), delivery.path.as_str()),
            ("POST", "/salesfinity")
        );
        verify(delivery, &secret).expect("signed with the webhook's secret");
    }
    let call = got
        .iter()
        .find(|r| r.header("webhook-id") == Some("call-4"))
        .unwrap();
    assert_eq!(call.json()["type"], "CALL_LOGGED");
    assert_eq!(call.json()["data"], json!({"dispositionId": 4}));
}

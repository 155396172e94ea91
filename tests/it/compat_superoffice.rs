//! The SuperOffice dialect: `POST /compat/superoffice/api/v1/Agents/Webhook/SaveWebhook`
//! creates (`WebhookId` 0) and fully replaces webhooks, in PascalCase, with Basic auth; its
//! webhooks are native ones, delivered signed with the caller's raw secret.

use std::time::Duration;

use reqwest::{Method, RequestBuilder, StatusCode};
use serde_json::{Value, json};

use crate::compat_support::{call, native_list, publish_nats, tenant};
use crate::harness::TestApp;
use crate::harness::receiver::TestReceiver;

const SAVE: &str = "/compat/superoffice/api/v1/Agents/Webhook/SaveWebhook";
const WITHIN: Duration = Duration::from_secs(15);

/// The document's sample response body, as a create (`WebhookId: 0`) to `url`.
fn sample_response(url: &str) -> Value {
    json!({
        "WebhookId": 0,
        "Name": "Sale Won Notification",
        "Events": ["sale.sold", "sale.lost"],
        "TargetUrl": url,
        "Secret": "sk_live_9z8y7x6w5v4u3t2s1r0q",
        "State": "Active",
        "Type": "webhook",
        "Headers": {"X-API-Key": "prod_api_key_12345", "Content-Type": "application/json"},
        "Properties": {"fieldName": {}},
        "Registered": "2024-03-20T14:15:00+01:00",
        "RegisteredAssociate": null,
        "Updated": "2024-11-28T11:00:00+01:00",
        "UpdatedAssociate": null,
        "ErrorsEmail": "sales-team@example.com"
    })
}

/// The document's sample request, verbatim.
fn sample_request() -> Value {
    json!({
        "WebhookId": 541,
        "Name": "Ondricka Group",
        "Events": ["ad", "vero"],
        "TargetUrl": "http://www.example.com/",
        "Secret": "beatae",
        "State": "Active",
        "Type": "et",
        "Headers": {"Headers1": "ut", "Headers2": "vel"},
        "Properties": {"fieldName": {}},
        "Registered": "2004-03-28T10:11:01.8786829+02:00",
        "RegisteredAssociate": null,
        "Updated": "2024-10-14T10:11:01.8786829+02:00",
        "UpdatedAssociate": null,
        "ErrorsEmail": "adolph.olson@maggioconroy.us"
    })
}

/// `Authorization: Basic base64(user:key)`, as the document's sample authenticates.
fn basic(key: &str) -> impl FnOnce(RequestBuilder) -> RequestBuilder + '_ {
    move |r| r.basic_auth("tje0", Some(key))
}

async fn save(app: &TestApp, key: &str, body: Value) -> (StatusCode, Value) {
    call(app, Method::POST, SAVE, basic(key), Some(body)).await
}

/// The fields the problem document names.
fn fields(problem: &Value) -> Vec<&str> {
    problem["errors"]
        .as_array()
        .map(|errors| errors.iter().filter_map(|e| e["field"].as_str()).collect())
        .unwrap_or_default()
}

#[track_caller]
fn assert_utc_second(value: &Value) {
    let text = value.as_str().expect("a time string");
    let at = chrono::DateTime::parse_from_rfc3339(text).expect("RFC 3339");
    assert_eq!(at.offset().local_minus_utc(), 0, "{text} is UTC");
    assert!(
        text.ends_with('Z') && text.len() == 20,
        "{text} is to the second"
    );
}

#[tokio::test]
async fn the_sample_response_body_sent_as_a_create_answers_200_with_the_saved_webhook() {
    let app = TestApp::spawn().await;
    let key = tenant(&app, "acme").await;
    let receiver = TestReceiver::start().await;
    let url = receiver.url("/api/webhooks/sales");

    let (status, saved) = save(&app, &key, sample_response(&url)).await;

    assert_eq!(status, StatusCode::OK, "{saved}");
    let actor = native_list(&app, &key).await["data"][0]["createdBy"].clone();
    let actor = actor.as_str().expect("a key id").to_owned();
    assert!(actor.starts_with("key_"), "{actor}");
    let associate = json!({"AssociateId": 0, "Name": actor, "FullName": format!("API key {actor}"),
        "Type": "SystemAssociate"});
    let object = saved.as_object().unwrap();
    assert_eq!(object.len(), 14, "{saved}");
    for time in ["Registered", "Updated"] {
        assert_utc_second(&saved[time]);
    }
    let mut rest = saved.clone();
    rest["Registered"] = Value::Null;
    rest["Updated"] = Value::Null;
    assert_eq!(
        rest,
        json!({
            "WebhookId": 1,
            "Name": "Sale Won Notification",
            "Events": ["sale.sold", "sale.lost"],
            "TargetUrl": url,
            "Secret": "sk_live_9z8y7x6w5v4u3t2s1r0q",
            "State": "Active",
            "Type": "webhook",
            "Headers": {"X-API-Key": "prod_api_key_12345", "Content-Type": "application/json"},
            "Properties": {"fieldName": {}},
            "Registered": null,
            "RegisteredAssociate": associate,
            "Updated": null,
            "UpdatedAssociate": associate,
            "ErrorsEmail": "sales-team@example.com"
        })
    );
    // The next create in the tenant is number 2, with a generated secret when none is sent.
    let mut second = sample_response(&url);
    second["Secret"] = json!("");
    let (status, two) = save(&app, &key, second).await;
    assert_eq!(status, StatusCode::OK, "{two}");
    assert_eq!(two["WebhookId"], 2);
    assert!(
        two["Secret"].as_str().unwrap().starts_with("whsec_"),
        "{two}"
    );
}

#[tokio::test]
async fn the_documents_sample_request_is_404_verbatim_and_422_as_a_create() {
    let app = TestApp::spawn().await;
    let key = tenant(&app, "acme").await;

    let (status, problem) = save(&app, &key, sample_request()).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{problem}");
    assert_eq!(problem["status"], 404);

    let mut create = sample_request();
    create["WebhookId"] = json!(0);
    let (status, problem) = save(&app, &key, create).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{problem}");
    let mut named = fields(&problem);
    named.sort_unstable();
    assert_eq!(named, ["Events[0]", "Events[1]", "Type"], "{problem}");
    assert!(
        native_list(&app, &key).await["data"]
            .as_array()
            .unwrap()
            .is_empty()
    );
}

#[tokio::test]
async fn an_update_replaces_the_whole_webhook_and_an_unknown_id_is_404() {
    let app = TestApp::spawn().await;
    let key = tenant(&app, "acme").await;
    let receiver = TestReceiver::start().await;
    let (_, created) = save(&app, &key, sample_response(&receiver.url("/a"))).await;

    let update = json!({"WebhookId": 1, "Name": "Contacts", "Events": ["contact.created"],
        "TargetUrl": receiver.url("/b"), "Secret": ""});
    let (status, saved) = save(&app, &key, update).await;

    assert_eq!(status, StatusCode::OK, "{saved}");
    assert_eq!(saved["WebhookId"], 1);
    assert_eq!(saved["Name"], "Contacts");
    assert_eq!(saved["Events"], json!(["contact.created"]));
    assert_eq!(saved["TargetUrl"], receiver.url("/b"));
    assert_eq!(saved["Headers"], json!({}), "headers not sent are removed");
    assert_eq!(saved["Properties"], json!({}));
    assert_eq!(saved["ErrorsEmail"], "");
    assert_eq!(
        saved["Secret"], created["Secret"],
        "an empty Secret keeps it"
    );
    assert_eq!(saved["Registered"], created["Registered"]);
    let native = native_list(&app, &key).await;
    assert_eq!(native["total"], 1);
    assert_eq!(native["data"][0]["headers"], json!({}));
    assert_eq!(native["data"][0]["errorsEmail"], Value::Null);

    let rotate = json!({"WebhookId": "1", "Name": "Contacts", "Events": ["contact.created"],
        "TargetUrl": receiver.url("/b"), "Secret": "a new shared secret"});
    let (status, rotated) = save(&app, &key, rotate).await;
    assert_eq!(status, StatusCode::OK, "{rotated}");
    assert_eq!(rotated["Secret"], "a new shared secret");
    // The new secret signs at once, and alone: an explicit replace has no grace period.
    publish_nats(
        &app,
        "acme",
        "contact.created",
        "contact-1",
        json!({"ContactId": 1}),
    )
    .await;
    let got = receiver.wait_for(1, WITHIN).await;
    assert_eq!(got[0].path, "/b");
    let signatures = got[0].header("webhook-signature").unwrap();
    assert_eq!(signatures.split(' ').count(), 1, "{signatures}");
    let verifier = standardwebhooks::Webhook::from_bytes(b"a new shared secret".to_vec()).unwrap();
    verifier
        .verify(&got[0].body, &got[0].headers)
        .expect("signed with the new secret");

    let unknown = json!({"WebhookId": 7, "Name": "x", "Events": ["sale.sold"],
        "TargetUrl": receiver.url("/")});
    let (status, problem) = save(&app, &key, unknown).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{problem}");
    let (status, problem) = save(&app, &key, json!({"WebhookId": -1})).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{problem}");
    assert_eq!(fields(&problem), ["WebhookId"]);
}

#[tokio::test]
async fn each_required_field_missing_is_a_422_naming_it() {
    let app = TestApp::spawn().await;
    let key = tenant(&app, "acme").await;
    let receiver = TestReceiver::start().await;
    let full = json!({"Name": "n", "Events": ["sale.sold"], "TargetUrl": receiver.url("/")});

    for field in ["Name", "Events", "TargetUrl"] {
        let mut body = full.clone();
        body.as_object_mut().unwrap().remove(field);
        let (status, problem) = save(&app, &key, body).await;
        assert_eq!(
            status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{field}: {problem}"
        );
        assert_eq!(fields(&problem), [field], "{problem}");
    }
    let mut empty = full.clone();
    empty["Events"] = json!([]);
    let (status, problem) = save(&app, &key, empty).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{problem}");
    assert_eq!(fields(&problem), ["Events"]);
    let (status, problem) = save(&app, &key, json!({})).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{problem}");
    let mut named = fields(&problem);
    named.sort_unstable();
    assert_eq!(named, ["Events", "Name", "TargetUrl"]);
}

#[tokio::test]
async fn unknown_events_types_and_states_are_refused_naming_the_field() {
    let app = TestApp::spawn().await;
    let key = tenant(&app, "acme").await;
    let receiver = TestReceiver::start().await;
    let full = json!({"Name": "n", "Events": ["sale.sold"], "TargetUrl": receiver.url("/")});
    let with = |field: &str, value: Value| {
        let mut body = full.clone();
        body[field] = value;
        body
    };

    let (status, problem) = save(&app, &key, with("Events", json!(["sale.sold", "sale.*"]))).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{problem}");
    assert_eq!(fields(&problem), ["Events[1]"]);

    let (status, problem) = save(&app, &key, with("Type", json!("crmscript"))).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{problem}");
    assert_eq!(fields(&problem), ["Type"]);
    let message = problem["errors"][0]["message"].as_str().unwrap();
    assert!(message.contains("runs no CRM scripts"), "{message}");

    for (field, value) in [
        ("Type", json!("et")),
        ("State", json!("Paused")),
        ("State", json!(4)),
        ("Secret", json!("whsec_short")),
        ("Headers", json!({"Webhook-Signature": "x"})),
    ] {
        let (status, problem) = save(&app, &key, with(field, value.clone())).await;
        assert_eq!(
            status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{field} {value}: {problem}"
        );
        assert!(fields(&problem)[0].starts_with(field), "{problem}");
    }
    // No webhook was made, and no unknown name entered the tenant's catalog.
    assert_eq!(native_list(&app, &key).await["total"], 0);
    let (_, types) = call(&app, Method::GET, "/v1/event-types", basic(&key), None).await;
    assert!(!types.to_string().contains("sale.*"), "{types}");
}

#[tokio::test]
async fn stopped_and_2_pause_too_many_errors_disables_and_the_state_is_replaced() {
    let app = TestApp::spawn().await;
    let key = tenant(&app, "acme").await;
    let receiver = TestReceiver::start().await;
    let body = |state: Value| {
        json!({"Name": "n", "Events": ["sale.sold"], "TargetUrl": receiver.url("/"),
            "State": state})
    };

    let mut states = Vec::new();
    for state in [
        json!("Stopped"),
        json!("2"),
        json!("TooManyErrors"),
        json!(3),
        json!(1),
    ] {
        let (status, saved) = save(&app, &key, body(state)).await;
        assert_eq!(status, StatusCode::OK, "{saved}");
        states.push(saved["State"].as_str().unwrap().to_owned());
    }
    assert_eq!(
        states,
        [
            "Stopped",
            "Stopped",
            "TooManyErrors",
            "TooManyErrors",
            "Active"
        ]
    );
    let native = native_list(&app, &key).await;
    let statuses: Vec<&str> = (native["data"].as_array().unwrap().iter())
        .map(|w| w["status"].as_str().unwrap())
        .collect();
    assert_eq!(
        statuses,
        ["paused", "paused", "disabled", "disabled", "active"]
    );

    // TooManyErrors on create is two commands; under an Idempotency-Key both are written and
    // a retry gets the same answer.
    let idempotent = |r: RequestBuilder| {
        r.basic_auth("u", Some(&key))
            .header("idempotency-key", "k1")
    };
    let request = body(json!("TooManyErrors"));
    let (status, first) = call(&app, Method::POST, SAVE, idempotent, Some(request.clone())).await;
    assert_eq!(
        (status, first["State"].clone()),
        (StatusCode::OK, json!("TooManyErrors"))
    );
    let idempotent = |r: RequestBuilder| {
        r.basic_auth("u", Some(&key))
            .header("idempotency-key", "k1")
    };
    let (status, again) = call(&app, Method::POST, SAVE, idempotent, Some(request)).await;
    assert_eq!((status, &again), (StatusCode::OK, &first));
    assert_eq!(
        native_list(&app, &key).await["data"][5]["status"],
        "disabled"
    );

    // A save without State is a full replace: the webhook is Active again.
    let mut resume = body(Value::Null);
    resume["WebhookId"] = json!(3);
    resume.as_object_mut().unwrap().remove("State");
    let (status, saved) = save(&app, &key, resume).await;
    assert_eq!(
        (status, saved["State"].clone()),
        (StatusCode::OK, json!("Active"))
    );
}

#[tokio::test]
async fn basic_and_bearer_authenticate_and_no_key_is_401() {
    let app = TestApp::spawn().await;
    let key = tenant(&app, "acme").await;
    let receiver = TestReceiver::start().await;
    let body = json!({"Name": "n", "Events": ["contact.created"], "TargetUrl": receiver.url("/")});

    let (status, _) = save(&app, &key, body.clone()).await;
    assert_eq!(status, StatusCode::OK);
    let bearer = |r: RequestBuilder| r.bearer_auth(&key);
    let (status, _) = call(&app, Method::POST, SAVE, bearer, Some(body.clone())).await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = call(&app, Method::POST, SAVE, |r| r, Some(body.clone())).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    // The document's own sample credentials (tje0:Tje0) are not a key of ours.
    let sample = |r: RequestBuilder| r.header("authorization", "Basic dGplMDpUamUw");
    let (status, _) = call(&app, Method::POST, SAVE, sample, Some(body)).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn a_sale_sold_event_on_nats_arrives_signed_with_the_raw_secret_headers_and_properties() {
    let app = TestApp::spawn().await;
    let key = tenant(&app, "acme").await;
    let receiver = TestReceiver::start().await;
    let mut body = sample_response(&receiver.url("/api/webhooks/sales"));
    body["Properties"] = json!({"fieldName": {}, "source": "superoffice"});
    let (status, saved) = save(&app, &key, body).await;
    assert_eq!(status, StatusCode::OK, "{saved}");
    let native = native_list(&app, &key).await;
    assert_eq!(native["total"], 1);
    assert_eq!(
        native["data"][0]["events"],
        json!(["sale.sold", "sale.lost"])
    );

    publish_nats(
        &app,
        "acme",
        "sale.sold",
        "sale-42-sold",
        json!({"SaleId": 42}),
    )
    .await;

    let got = receiver.wait_for(1, WITHIN).await;
    let delivery = &got[0];
    assert_eq!(delivery.path, "/api/webhooks/sales");
    let raw = saved["Secret"].as_str().unwrap().as_bytes().to_vec();
    let verifier = standardwebhooks::Webhook::from_bytes(raw).unwrap();
    (verifier.verify(&delivery.body, &delivery.headers))
        .expect("signed with the raw UTF-8 secret as HMAC key");
    let as_base64 = standardwebhooks::Webhook::new(saved["Secret"].as_str().unwrap())
        .and_then(|w| w.verify(&delivery.body, &delivery.headers));
    assert!(
        as_base64.is_err(),
        "the key is the text itself, not base64 of it"
    );
    assert_eq!(delivery.header("x-api-key"), Some("prod_api_key_12345"));
    assert_eq!(delivery.header("content-type"), Some("application/json"));
    assert_eq!(delivery.header("webhook-id"), Some("sale-42-sold"));
    let json = delivery.json();
    assert_eq!(json["type"], "sale.sold");
    assert_eq!(json["data"], json!({"SaleId": 42}));
    assert_eq!(json["fieldName"], json!({}));
    assert_eq!(json["source"], "superoffice");
}

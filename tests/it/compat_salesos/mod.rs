//! The SalesOS dialect: every route of its document under `/compat/salesos/api/webhooks`,
//! with the document's example bodies, its defaults, and events published on NATS reaching
//! the webhook signed with the secret of the create answer.
//!
//! This file: the webhook routes (create, list, get, patch, delete, ids, auth); `delivery`:
//! events, deliveries, stats, test and regenerate-secret.

mod delivery;

use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::compat_support::{call, native_list, tenant};
use crate::harness::TestApp;
use crate::harness::receiver::TestReceiver;

const WITHIN: Duration = Duration::from_secs(15);
const BASE: &str = "/compat/salesos/api/webhooks";

/// The document's create example, verbatim but for the receiver's URL.
fn create_example(url: &str) -> Value {
    json!({
        "name": "string",
        "description": "string",
        "url": url,
        "events": [
            "lead.created",
            "opportunity.won"
        ],
        "headers": {},
        "isActive": true,
        "retryAttempts": 3,
        "retryDelaySeconds": 60
    })
}

/// The document's PATCH example, verbatim but for the receiver's URL.
fn patch_example(url: &str) -> Value {
    json!({
        "name": "string",
        "description": "string",
        "url": url,
        "events": [
            "string"
        ],
        "headers": {},
        "isActive": true,
        "retryAttempts": 0,
        "retryDelaySeconds": 0
    })
}

/// `method BASE+path` with the key as a Bearer token.
async fn salesos(
    app: &TestApp,
    key: &str,
    method: Method,
    path: &str,
    body: Option<Value>,
) -> (StatusCode, Value) {
    let path = format!("{BASE}{path}");
    call(app, method, &path, |r| r.bearer_auth(key), body).await
}

/// Creates a webhook from `body`, asserting 201; returns the answer.
async fn create(app: &TestApp, key: &str, body: Value) -> Value {
    let (status, created) = salesos(app, key, Method::POST, "", Some(body)).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    created
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

#[track_caller]
fn assert_keys(body: &Value, keys: &[&str]) {
    let mut got: Vec<&str> = body
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    let mut want = keys.to_vec();
    got.sort_unstable();
    want.sort_unstable();
    assert_eq!(got, want, "{body}");
}

#[track_caller]
fn assert_time(value: &Value) {
    let text = value
        .as_str()
        .unwrap_or_else(|| panic!("a time, not {value}"));
    chrono::DateTime::parse_from_rfc3339(text).expect("an RFC 3339 time");
}

const WEBHOOK_KEYS: &[&str] = &[
    "id",
    "name",
    "description",
    "url",
    "events",
    "headers",
    "isActive",
    "retryAttempts",
    "retryDelaySeconds",
    "createdAt",
    "updatedAt",
];

fn native_ids(list: &Value) -> Vec<String> {
    (list["data"].as_array().unwrap().iter())
        .map(|w| w["id"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn the_documents_create_example_gives_201_with_the_webhook_and_its_secret() {
    let app = TestApp::spawn().await;
    let key = tenant(&app, "acme").await;
    let receiver = TestReceiver::start().await;
    let url = receiver.url("/crm");

    let created = create(&app, &key, create_example(&url)).await;

    assert_keys(&created, &[WEBHOOK_KEYS, &["secret"]].concat());
    let id = created["id"].as_str().unwrap();
    assert!(id.starts_with("wh_") && id.len() == 35, "{id}");
    assert!(created["secret"].as_str().unwrap().starts_with("whsec_"));
    assert_time(&created["createdAt"]);
    assert_time(&created["updatedAt"]);
    let mut rest = created.clone();
    for volatile in ["id", "secret", "createdAt", "updatedAt"] {
        rest.as_object_mut().unwrap().remove(volatile);
    }
    assert_eq!(
        rest,
        json!({"name": "string", "description": "string", "url": url,
            "events": ["lead.created", "opportunity.won"], "headers": {}, "isActive": true,
            "retryAttempts": 3, "retryDelaySeconds": 60})
    );
    let (status, got) = salesos(&app, &key, Method::GET, &format!("/{id}"), None).await;
    assert_eq!(status, StatusCode::OK);
    created.as_object().unwrap().iter().for_each(|(k, v)| {
        if k != "secret" {
            assert_eq!(&got[k], v, "{k}");
        }
    });
    assert_keys(&got, WEBHOOK_KEYS);
    let native = native_list(&app, &key).await;
    assert_eq!(native_ids(&native), vec![id.to_owned()]);
    assert_eq!(native["data"][0]["status"], "active");
}

#[tokio::test]
async fn create_defaults_to_active_with_three_retries_sixty_seconds_apart() {
    let app = TestApp::spawn().await;
    let key = tenant(&app, "acme").await;
    let receiver = TestReceiver::start().await;
    let body = json!({"name": "Deals", "url": receiver.url("/"), "events": ["opportunity.won"]});

    let created = create(&app, &key, body).await;

    assert_eq!(created["isActive"], true);
    assert_eq!(created["retryAttempts"], 3);
    assert_eq!(created["retryDelaySeconds"], 60);
    assert_eq!(created["description"], Value::Null);
    assert_eq!(created["headers"], json!({}));
    let paused = json!({"name": "Off", "url": receiver.url("/"), "events": ["lead.created"],
        "isActive": false});
    assert_eq!(create(&app, &key, paused).await["isActive"], false);
}

#[tokio::test]
async fn missing_fields_placeholder_urls_and_unknown_events_are_refused_by_name() {
    let app = TestApp::spawn().await;
    let key = tenant(&app, "acme").await;
    let receiver = TestReceiver::start().await;
    let full = create_example(&receiver.url("/"));

    for field in ["name", "url", "events"] {
        let mut body = full.clone();
        body.as_object_mut().unwrap().remove(field);
        let (status, problem) = salesos(&app, &key, Method::POST, "", Some(body)).await;
        assert_eq!(
            status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{field}: {problem}"
        );
        assert_problem_names(&problem, &[field]);
    }
    let (status, problem) =
        salesos(&app, &key, Method::POST, "", Some(create_example("string"))).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_problem_names(&problem, &["url"]);
    let mut body = full.clone();
    body["events"] = json!(["lead.created", "string", "lead.*"]);
    let (status, problem) = salesos(&app, &key, Method::POST, "", Some(body)).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_problem_names(&problem, &["events[1]", "events[2]"]);
    let mut body = full.clone();
    body["retryAttempts"] = json!(-1);
    let (status, problem) = salesos(&app, &key, Method::POST, "", Some(body)).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_problem_names(&problem, &["retryAttempts"]);
    assert_eq!(native_list(&app, &key).await["total"], 0);

    // The PATCH example as it stands: both placeholders are named.
    let id = create(&app, &key, full).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let (status, problem) = salesos(
        &app,
        &key,
        Method::PATCH,
        &format!("/{id}"),
        Some(patch_example("string")),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_problem_names(&problem, &["url", "events[0]"]);
}

#[tokio::test]
async fn the_list_filters_on_is_active_and_holds_only_salesos_webhooks() {
    let app = TestApp::spawn().await;
    let key = tenant(&app, "acme").await;
    let receiver = TestReceiver::start().await;
    let on = create(&app, &key, create_example(&receiver.url("/on"))).await;
    let mut body = create_example(&receiver.url("/off"));
    body["isActive"] = json!(false);
    let off = create(&app, &key, body).await;
    let native = json!({"name": "native", "url": receiver.url("/n"), "events": ["lead.created"]});
    let (status, _) = call(
        &app,
        Method::POST,
        "/v1/webhooks",
        |r| r.header("x-api-key", &key),
        Some(native),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED);

    let ids = |page: &Value| -> Vec<String> {
        (page["data"].as_array().unwrap().iter())
            .map(|w| w["id"].as_str().unwrap().to_owned())
            .collect()
    };
    let (status, all) = salesos(&app, &key, Method::GET, "", None).await;
    assert_eq!(status, StatusCode::OK);
    assert_keys(&all, &["data", "page", "limit", "total", "hasMore"]);
    assert_eq!(
        ids(&all),
        [&on["id"], &off["id"]].map(|v| v.as_str().unwrap().to_owned())
    );
    assert_eq!(
        (&all["page"], &all["limit"], &all["total"]),
        (&json!(1), &json!(20), &json!(2))
    );
    assert_keys(&all["data"][0], WEBHOOK_KEYS);
    let (_, active) = salesos(&app, &key, Method::GET, "?isActive=true", None).await;
    assert_eq!(ids(&active), vec![on["id"].as_str().unwrap().to_owned()]);
    let (_, inactive) = salesos(&app, &key, Method::GET, "?isActive=false", None).await;
    assert_eq!(ids(&inactive), vec![off["id"].as_str().unwrap().to_owned()]);
    let (_, paged) = salesos(&app, &key, Method::GET, "?page=2&limit=1", None).await;
    assert_eq!(ids(&paged), vec![off["id"].as_str().unwrap().to_owned()]);
    let (status, problem) = salesos(&app, &key, Method::GET, "?limit=101", None).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_problem_names(&problem, &["limit"]);
}

#[tokio::test]
async fn patch_takes_the_documents_example_and_is_active_pauses_and_resumes() {
    let app = TestApp::spawn().await;
    let key = tenant(&app, "acme").await;
    let receiver = TestReceiver::start().await;
    let created = create(&app, &key, create_example(&receiver.url("/a"))).await;
    let path = format!("/{}", created["id"].as_str().unwrap());
    let url = receiver.url("/b");
    let mut body = patch_example(&url);
    body["events"] = json!(["opportunity.won"]);

    let (status, patched) = salesos(&app, &key, Method::PATCH, &path, Some(body)).await;

    assert_eq!(status, StatusCode::OK, "{patched}");
    assert_keys(&patched, WEBHOOK_KEYS);
    assert_eq!(patched["url"], url.as_str());
    assert_eq!(patched["events"], json!(["opportunity.won"]));
    assert_eq!(
        (&patched["retryAttempts"], &patched["retryDelaySeconds"]),
        (&json!(0), &json!(0))
    );
    assert_eq!(patched["isActive"], true);
    assert_eq!(patched["createdAt"], created["createdAt"]);

    let pause = Some(json!({"isActive": false}));
    let (status, paused) = salesos(&app, &key, Method::PATCH, &path, pause).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(paused["isActive"], false);
    assert_eq!(native_list(&app, &key).await["data"][0]["status"], "paused");
    let resume = Some(json!({"isActive": true, "description": null}));
    let (_, resumed) = salesos(&app, &key, Method::PATCH, &path, resume).await;
    assert_eq!(
        (&resumed["isActive"], &resumed["description"]),
        (&json!(true), &Value::Null)
    );
    assert_eq!(native_list(&app, &key).await["data"][0]["status"], "active");
    let (status, problem) = salesos(
        &app,
        &key,
        Method::PATCH,
        &path,
        Some(json!({"isActive": null})),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_problem_names(&problem, &["isActive"]);
}

#[tokio::test]
async fn delete_answers_204_and_the_webhook_is_gone_from_both_lists() {
    let app = TestApp::spawn().await;
    let key = tenant(&app, "acme").await;
    let receiver = TestReceiver::start().await;
    let created = create(&app, &key, create_example(&receiver.url("/"))).await;
    let path = format!("/{}", created["id"].as_str().unwrap());

    let (status, body) = salesos(&app, &key, Method::DELETE, &path, None).await;

    assert_eq!((status, body), (StatusCode::NO_CONTENT, Value::Null));
    let (status, _) = salesos(&app, &key, Method::GET, &path, None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = salesos(&app, &key, Method::DELETE, &path, None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(
        salesos(&app, &key, Method::GET, "", None).await.1["total"],
        0
    );
    assert_eq!(native_list(&app, &key).await["total"], 0);
}

#[tokio::test]
async fn unknown_native_and_other_dialects_ids_are_404_on_every_route() {
    let app = TestApp::spawn().await;
    let key = tenant(&app, "acme").await;
    let receiver = TestReceiver::start().await;
    let ours = create(&app, &key, create_example(&receiver.url("/"))).await;
    let ours = ours["id"].as_str().unwrap();
    // Another SalesOS-shaped id (one time digit changed) that names no webhook.
    let flipped = if &ours[3..4] == "0" { "1" } else { "0" };
    let unknown = format!("wh_{flipped}{}", &ours[4..]);
    let native = json!({"name": "n", "url": receiver.url("/"), "events": ["lead.created"]});
    let (_, native) = call(
        &app,
        Method::POST,
        "/v1/webhooks",
        |r| r.header("x-api-key", &key),
        Some(native),
    )
    .await;
    let saleshandy = json!({"name": "s", "webhookUrl": receiver.url("/"),
        "webhookEvent": ["email-sent"], "headers": {}});
    let (status, _) = call(
        &app,
        Method::POST,
        "/compat/saleshandy/v1/webhook/create",
        |r| r.header("x-api-key", &key),
        Some(saleshandy),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED);
    let others: Vec<String> = native_ids(&native_list(&app, &key).await)
        .into_iter()
        .filter(|id| id != ours)
        .collect();
    assert_eq!(others.len(), 2);
    assert!(others.contains(&native["id"].as_str().unwrap().to_owned()));

    for id in [
        unknown.as_str(),
        others[0].as_str(),
        others[1].as_str(),
        "42",
    ] {
        for (method, path, body) in [
            (Method::GET, format!("/{id}"), None),
            (Method::PATCH, format!("/{id}"), Some(json!({"name": "x"}))),
            (Method::DELETE, format!("/{id}"), None),
            (Method::POST, format!("/{id}/test"), None),
            (Method::POST, format!("/{id}/regenerate-secret"), None),
            (Method::GET, format!("/{id}/deliveries"), None),
        ] {
            let (status, problem) = salesos(&app, &key, method.clone(), &path, body).await;
            assert_eq!(status, StatusCode::NOT_FOUND, "{method} {path}: {problem}");
        }
    }
    assert_eq!(
        native_list(&app, &key).await["total"],
        3,
        "nothing was deleted"
    );
}

#[tokio::test]
async fn the_key_goes_as_a_bearer_token_and_no_key_is_401() {
    let app = TestApp::spawn().await;
    let key = tenant(&app, "acme").await;

    let (status, _) = call(&app, Method::GET, BASE, |r| r, None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, _) = call(&app, Method::GET, BASE, |r| r.bearer_auth("hl_nope"), None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let events = format!("{BASE}/events");
    let (status, _) = call(&app, Method::GET, &events, |r| r, None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        salesos(&app, &key, Method::GET, "", None).await.0,
        StatusCode::OK
    );
    let (status, _) = call(
        &app,
        Method::GET,
        BASE,
        |r| r.header("x-api-key", &key),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
}

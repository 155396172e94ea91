//! What every dialect shares: its event names join the tenant's catalog (so native webhooks can
//! subscribe to them afterwards), names outside the vendor's list never do, and each dialect
//! sees only its own webhooks while the native list sees them all.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::compat_support::{call, native_list, tenant};
use crate::harness::TestApp;

fn names(types: &Value) -> Vec<String> {
    let mut names: Vec<String> = (types["data"].as_array().unwrap().iter())
        .map(|t| t["name"].as_str().unwrap().to_owned())
        .collect();
    names.sort();
    names
}

#[tokio::test]
async fn a_dialect_adds_its_event_names_to_the_catalog_and_only_its_own() {
    let app = TestApp::spawn().await;
    let key = tenant(&app, "acme").await;
    let auth = |r: reqwest::RequestBuilder| r.header("x-api-key", &key);
    let url = "http://127.0.0.1:9/hook";

    // Refused (CALL_MADE is not Salesfinity's): nothing enters the catalog.
    let refused = json!({"name": "n", "url": url, "events": ["CALL_LOGGED", "CALL_MADE"]});
    let path = "/compat/salesfinity/v1/webhooks";
    let (status, _) = call(&app, Method::POST, path, auth, Some(refused)).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let (_, types) = call(&app, Method::GET, "/v1/event-types", auth, None).await;
    assert_eq!(names(&types), Vec::<String>::new());

    let body = json!({"name": "n", "url": url, "events": ["CALL_LOGGED", "CONTACT_SNOOZED"]});
    let (status, _) = call(&app, Method::POST, path, auth, Some(body.clone())).await;
    assert_eq!(status, StatusCode::CREATED);
    let (status, _) = call(&app, Method::POST, path, auth, Some(body)).await;
    assert_eq!(status, StatusCode::CREATED);
    let (_, types) = call(&app, Method::GET, "/v1/event-types", auth, None).await;
    assert_eq!(names(&types), ["CALL_LOGGED", "CONTACT_SNOOZED"]);

    // A native webhook may now subscribe to a vendor's name.
    let native = json!({"name": "native", "url": url, "events": ["CONTACT_SNOOZED"]});
    let (status, created) = call(&app, Method::POST, "/v1/webhooks", auth, Some(native)).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
}

#[tokio::test]
async fn each_dialect_lists_its_own_webhooks_and_the_native_list_holds_them_all() {
    let app = TestApp::spawn().await;
    let key = tenant(&app, "acme").await;
    let auth = |r: reqwest::RequestBuilder| r.header("x-api-key", &key);
    let url = "http://127.0.0.1:9/hook";
    let creates = [
        (
            "/compat/salesfinity/v1/webhooks",
            json!({"name": "f", "url": url, "events": ["CALL_LOGGED"]}),
        ),
        (
            "/compat/sonar/webhooks",
            json!({"webhook": {"name": "s", "active": true, "url": url, "http_method": "POST",
                "settings": {"customer_created": "true"}}}),
        ),
        (
            "/compat/superoffice/api/v1/Agents/Webhook/SaveWebhook",
            json!({"WebhookId": 0, "Name": "o", "TargetUrl": url, "Events": ["contact.created"]}),
        ),
        (
            "/compat/salesos/api/webhooks",
            json!({"name": "a", "url": url, "events": ["lead.created"]}),
        ),
    ];
    for (path, body) in creates {
        let (status, answer) = call(&app, Method::POST, path, auth, Some(body)).await;
        assert!(status.is_success(), "{path}: {status} {answer}");
    }

    let all = native_list(&app, &key).await;
    assert_eq!(all["total"], 4, "{all}");
    let (_, sonar) = call(&app, Method::GET, "/compat/sonar/webhooks", auth, None).await;
    assert_eq!(sonar["webhooks"].as_array().unwrap().len(), 1, "{sonar}");
    assert_eq!(sonar["webhooks"][0]["id"], 1);
    let path = "/compat/salesfinity/v1/webhooks";
    let (_, salesfinity) = call(&app, Method::GET, path, auth, None).await;
    assert_eq!(salesfinity.as_array().unwrap().len(), 1, "{salesfinity}");
    let (_, salesos) = call(
        &app,
        Method::GET,
        "/compat/salesos/api/webhooks",
        auth,
        None,
    )
    .await;
    assert_eq!(salesos["total"], 1, "{salesos}");
}

/// A second `hookledger` process on the same ledger and database (API and projector only).
async fn second_replica(app: &TestApp) -> (String, tokio_util::sync::CancellationToken) {
    let config = crate::harness::app::test_config(&app.env);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let shutdown = tokio_util::sync::CancellationToken::new();
    let roles = hookledger_api::Roles {
        api: true,
        projector: true,
        router: false,
        dispatcher: false,
    };
    let replica =
        hookledger_api::Application::build(config, Some(listener), roles, shutdown.clone())
            .await
            .unwrap();
    let base = format!("http://{}", replica.local_addr().unwrap());
    tokio::spawn(replica.run());
    (base, shutdown)
}

#[tokio::test]
async fn concurrent_numbered_creates_on_two_replicas_get_distinct_numbers() {
    const PER_REPLICA: usize = 12;
    let app = TestApp::spawn().await;
    let key = tenant(&app, "acme").await;
    let (other, stop_other) = second_replica(&app).await;
    let path = "/compat/superoffice/api/v1/Agents/Webhook/SaveWebhook";
    let mut creates = tokio::task::JoinSet::new();
    for i in 0..2 * PER_REPLICA {
        let base = if i % 2 == 0 {
            app.url("")
        } else {
            other.clone()
        };
        let (http, key) = (app.http.clone(), key.clone());
        creates.spawn(async move {
            let body = json!({"WebhookId": 0, "Name": format!("n{i}"),
                "TargetUrl": "http://127.0.0.1:9/hook", "Events": ["contact.created"]});
            let response = (http.post(format!("{base}{path}")))
                .bearer_auth(&key)
                .json(&body)
                .send()
                .await
                .unwrap();
            let status = response.status();
            let answer: Value = response.json().await.unwrap();
            assert_eq!(status, StatusCode::OK, "{answer}");
            answer["WebhookId"].as_i64().unwrap()
        });
    }
    let mut numbers = creates.join_all().await;
    numbers.sort_unstable();
    let before = numbers.len();
    numbers.dedup();
    assert_eq!(
        numbers.len(),
        before,
        "a number was given twice: {numbers:?}"
    );
    assert!(numbers.iter().all(|n| *n >= 1), "{numbers:?}");
    assert_eq!(native_list(&app, &key).await["total"], 2 * PER_REPLICA);
    stop_other.cancel();
}

//! `GET /v1/audit/log`: the tenant's ledger and delivery facts as NDJSON, in order, filtered.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::Value;

use crate::api_support::{delivery, problem, publish, tenant_with_catalog, webhook};
use crate::harness::TestApp;

async fn lines(app: &TestApp, key: &str, query: &str) -> Vec<Value> {
    let response = app
        .http
        .get(app.url(&format!("/v1/audit/log{query}")))
        .header("x-api-key", key)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["content-type"], "application/x-ndjson");
    let text = response.text().await.unwrap();
    text.lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn types(lines: &[Value]) -> Vec<&str> {
    lines.iter().map(|l| l["type"].as_str().unwrap()).collect()
}

#[tokio::test]
async fn the_audit_log_is_one_line_per_event_in_order_with_the_documented_fields() {
    let app = TestApp::spawn().await;
    let key = tenant_with_catalog(&app, "acme").await;
    let other = tenant_with_catalog(&app, "globex").await;
    let hook = webhook(&app, &key, "audited").await;
    let id = hook["id"].as_str().unwrap();
    webhook(&app, &other, "not yours").await;
    let paused = app
        .http
        .post(app.url(&format!("/v1/webhooks/{id}/pause")))
        .header("x-api-key", &key)
        .send()
        .await
        .unwrap();
    assert_eq!(paused.status(), StatusCode::OK);
    publish(&app.env, &delivery("acme", id, "lead.created", true)).await;

    let all = lines(&app, &key, "").await;
    assert_eq!(
        types(&all),
        [
            "tenant.created",
            "tenant.api_key_issued",
            "catalog.event_type_added",
            "webhook.created",
            "webhook.paused",
            "delivery.attempted",
            "delivery.succeeded"
        ],
        "{all:#?}"
    );
    let created = &all[3];
    for field in [
        "stream",
        "sequence",
        "time",
        "tenant",
        "actor",
        "commandId",
        "type",
        "eventVersion",
        "data",
    ] {
        assert!(!created[field].is_null(), "{field} in {created}");
    }
    assert_eq!(
        (
            created["stream"].as_str(),
            created["tenant"].as_str(),
            created["webhookId"].as_str()
        ),
        (Some("ledger"), Some("acme"), Some(id))
    );
    assert_eq!(created["data"]["secret"], "[redacted]");
    assert_eq!(all[1]["data"]["keyHash"], "[redacted]");
    assert_eq!(all[6]["stream"], "deliveries");
    assert!(all[6]["deliveryId"].as_str().unwrap().starts_with("dlv_"));
    let times: Vec<&str> = all.iter().map(|l| l["time"].as_str().unwrap()).collect();
    assert!(
        times.windows(2).all(|w| w[0] <= w[1]),
        "time order: {times:?}"
    );
}

#[tokio::test]
async fn the_audit_log_filters_by_webhook_type_and_time() {
    let app = TestApp::spawn().await;
    let key = tenant_with_catalog(&app, "acme").await;
    let first = webhook(&app, &key, "first").await;
    tokio::time::sleep(Duration::from_millis(20)).await;
    let between = chrono::Utc::now();
    tokio::time::sleep(Duration::from_millis(20)).await;
    let second = webhook(&app, &key, "second").await;
    let (a, b) = (
        first["id"].as_str().unwrap(),
        second["id"].as_str().unwrap(),
    );

    let only_b = lines(&app, &key, &format!("?webhookId={b}")).await;
    assert_eq!(types(&only_b), ["webhook.created"]);
    assert_eq!(only_b[0]["webhookId"], b);
    let webhooks = lines(&app, &key, "?type=webhook.*").await;
    assert_eq!(webhooks.len(), 2);
    let exact = lines(&app, &key, "?type=tenant.created").await;
    assert_eq!(exact.len(), 1);
    let stamp = between.to_rfc3339_opts(chrono::SecondsFormat::Micros, true);
    let after = lines(&app, &key, &format!("?since={stamp}")).await;
    assert_eq!(types(&after), ["webhook.created"]);
    assert_eq!(after[0]["webhookId"], b);
    let before = lines(&app, &key, &format!("?until={stamp}&type=webhook.created")).await;
    assert_eq!(before.len(), 1);
    assert_eq!(before[0]["webhookId"], a);

    let bad = app
        .http
        .get(app.url("/v1/audit/log?webhookId=nope"))
        .header("x-api-key", &key)
        .send()
        .await
        .unwrap();
    problem(bad, StatusCode::UNPROCESSABLE_ENTITY).await;
    let bad = app
        .http
        .get(app.url("/v1/audit/log?since=monday"))
        .header("x-api-key", &key)
        .send()
        .await
        .unwrap();
    problem(bad, StatusCode::UNPROCESSABLE_ENTITY).await;
}

//! Deliveries, attempts and stats as the API shows them, from delivery facts on the stream;
//! and the dispatcher's manual actions: test, redeliver, recover.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::api_support::{delivery, problem, publish, tenant_with_catalog, webhook, webhook_body};
use crate::harness::{TestApp, eventually};

#[tokio::test]
async fn deliveries_list_filter_and_detail_and_stats_follow_the_facts() {
    let app = TestApp::spawn().await;
    let key = tenant_with_catalog(&app, "acme").await;
    let hook = webhook(&app, &key, "d").await;
    let id = hook["id"].as_str().unwrap();
    let ok = delivery("acme", id, "lead.created", true);
    let failed = delivery("acme", id, "lead.updated", false);
    publish(&app.env, &[ok.clone(), failed.clone()].concat()).await;
    let get = |path: String| {
        let request = app.http.get(app.url(&path)).header("x-api-key", &key);
        async move { request.send().await.unwrap() }
    };
    let base = format!("/v1/webhooks/{id}");

    let all: Value = eventually(Duration::from_secs(10), || async {
        let page: Value = get(format!("{base}/deliveries"))
            .await
            .json()
            .await
            .unwrap();
        if page["total"] == 2 {
            Ok(page)
        } else {
            Err(page)
        }
    })
    .await;
    assert_eq!(all["hasMore"], false);
    let succeeded: Value = get(format!("{base}/deliveries?success=true"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(succeeded["data"][0]["id"], ok[0].delivery_id().as_str());
    let by_event: Value = get(format!(
        "{base}/deliveries?event=lead.updated&status=failed"
    ))
    .await
    .json()
    .await
    .unwrap();
    assert_eq!(by_event["total"], 1);
    let future: Value = get(format!("{base}/deliveries?since=2100-01-01T00:00:00Z"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(future["total"], 0);
    problem(
        get(format!("{base}/deliveries?status=lost")).await,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    problem(
        get(format!("{base}/deliveries?until=tomorrow")).await,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;

    let detail: Value = get(format!("{base}/deliveries/{}", failed[0].delivery_id()))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        (detail["status"].as_str(), detail["attemptCount"].as_i64()),
        (Some("failed"), Some(1))
    );
    assert_eq!(detail["attempts"][0]["outcome"], "http_error");
    assert_eq!(detail["attempts"][0]["responseStatus"], 500);
    problem(
        get(format!(
            "{base}/deliveries/dlv_0190f1d2c3b4a5968778695a4b3c2d1e"
        ))
        .await,
        StatusCode::NOT_FOUND,
    )
    .await;
    problem(
        get(format!("{base}/deliveries/%00")).await,
        StatusCode::NOT_FOUND,
    )
    .await;

    let stats: Value = get(format!("{base}/stats")).await.json().await.unwrap();
    assert_eq!(
        (
            stats["deliveries"].as_i64(),
            stats["succeeded"].as_i64(),
            stats["failed"].as_i64()
        ),
        (Some(2), Some(1), Some(1))
    );
    assert_eq!(stats["successRate"], 0.5);
    assert_eq!(stats["latencyMs"]["p50"], 50);
    let tenant: Value = get("/v1/webhooks/stats".into()).await.json().await.unwrap();
    assert_eq!(tenant["attempts"], 2);
    problem(
        get("/v1/webhooks/wh_0190f1d2c3b4a5968778695a4b3c2d1f/stats".into()).await,
        StatusCode::NOT_FOUND,
    )
    .await;
}

#[tokio::test]
async fn test_redeliver_and_recover_go_through_the_dispatcher() {
    let app = TestApp::spawn().await;
    let key = tenant_with_catalog(&app, "acme").await;
    let mut body = webhook_body("unreachable");
    body["retryAttempts"] = json!(0);
    let created = app
        .http
        .post(app.url("/v1/webhooks"))
        .header("x-api-key", &key)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), StatusCode::CREATED);
    let id = created.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let post = |path: String| {
        let request = app.http.post(app.url(&path)).header("x-api-key", &key);
        async move { request.send().await.unwrap() }
    };

    let tested = post(format!("/v1/webhooks/{id}/test")).await;
    assert_eq!(tested.status(), StatusCode::OK);
    let tested: Value = tested.json().await.unwrap();
    assert_eq!(
        tested["success"], false,
        "nothing listens on port 9: {tested}"
    );
    assert!(tested["error"].is_string(), "{tested}");

    let event = json!({"type": "lead.created", "data": {"leadId": 1}, "id": "lead-1"});
    let published = app
        .http
        .post(app.url("/v1/events"))
        .header("x-api-key", &key)
        .json(&event)
        .send()
        .await
        .unwrap();
    assert_eq!(published.status(), StatusCode::ACCEPTED);
    let failed: Value = eventually(Duration::from_secs(20), || async {
        let page: Value = app
            .http
            .get(app.url(&format!(
                "/v1/webhooks/{id}/deliveries?status=failed&event=lead.created"
            )))
            .header("x-api-key", &key)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        if page["total"] == 1 {
            Ok(page)
        } else {
            Err(page)
        }
    })
    .await;
    let dlv = failed["data"][0]["id"].as_str().unwrap();

    let redelivered = post(format!("/v1/webhooks/{id}/deliveries/{dlv}/redeliver")).await;
    assert_eq!(redelivered.status(), StatusCode::ACCEPTED);
    let redelivered: Value = redelivered.json().await.unwrap();
    assert_eq!(
        (
            redelivered["deliveryId"].as_str(),
            redelivered["attempt"].as_i64()
        ),
        (Some(dlv), Some(2))
    );
    let recovered = post(format!(
        "/v1/webhooks/{id}/recover?since=2000-01-01T00:00:00Z"
    ))
    .await;
    assert_eq!(recovered.status(), StatusCode::ACCEPTED);
    assert!(
        recovered.json::<Value>().await.unwrap()["count"]
            .as_u64()
            .is_some()
    );

    let unknown = "dlv_0190f1d2c3b4a5968778695a4b3c2d1e";
    problem(
        post(format!("/v1/webhooks/{id}/deliveries/{unknown}/redeliver")).await,
        StatusCode::NOT_FOUND,
    )
    .await;
    problem(
        post(format!("/v1/webhooks/{id}/recover")).await,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    problem(
        post(format!("/v1/webhooks/{id}/recover?since=last-week")).await,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
}

//! SalesOS events, deliveries, stats, test deliveries and secret regeneration: an
//! `opportunity.won` published on NATS reaches the webhook signed with the secret of the
//! create answer, and the delivery log and statistics show it.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use super::{WEBHOOK_KEYS, WITHIN, assert_keys, assert_time, create, create_example, salesos};
use crate::compat_support::{publish_nats, tenant};
use crate::delivery_support::verify;
use crate::harness::receiver::{Reply, TestReceiver};
use crate::harness::{TestApp, eventually};

#[tokio::test]
async fn events_lists_the_salesos_events_and_each_one_can_be_subscribed_to() {
    let app = TestApp::spawn().await;
    let key = tenant(&app, "acme").await;
    let receiver = TestReceiver::start().await;

    let (status, body) = salesos(&app, &key, Method::GET, "/events", None).await;

    assert_eq!(status, StatusCode::OK);
    assert_keys(&body, &["events"]);
    let events = body["events"].as_array().unwrap();
    assert!((15..=25).contains(&events.len()), "{body}");
    let names: Vec<&str> = events.iter().map(|e| e["name"].as_str().unwrap()).collect();
    assert!(names.contains(&"lead.created") && names.contains(&"opportunity.won"));
    for event in events {
        assert_keys(event, &["name", "description"]);
        assert!(!event["description"].as_str().unwrap().is_empty());
    }
    let all = json!({"name": "all", "url": receiver.url("/"), "events": names});
    assert_eq!(
        create(&app, &key, all).await["events"]
            .as_array()
            .unwrap()
            .len(),
        names.len()
    );
}

#[tokio::test]
async fn an_opportunity_won_on_nats_arrives_signed_and_shows_in_deliveries_and_stats() {
    let app = TestApp::spawn().await;
    let key = tenant(&app, "acme").await;
    let receiver = TestReceiver::start().await;
    let failing = TestReceiver::replying(Reply::status(500)).await;
    let created = create(&app, &key, create_example(&receiver.url("/crm"))).await;
    let (id, secret) = (
        created["id"].as_str().unwrap(),
        created["secret"].as_str().unwrap(),
    );
    let mut body = create_example(&failing.url("/down"));
    body["retryAttempts"] = json!(0);
    let broken = create(&app, &key, body).await;

    let data = json!({"opportunityId": "opp-1", "amount": 12000});
    publish_nats(&app, "acme", "opportunity.won", "evt-won-1", data.clone()).await;

    let got = receiver.wait_for(1, WITHIN).await;
    verify(&got[0], secret).expect("signed with the secret of the create answer");
    assert_eq!(got[0].header("webhook-id"), Some("evt-won-1"));
    assert_eq!(got[0].path, "/crm");
    assert_eq!(
        (got[0].json()["type"].clone(), got[0].json()["data"].clone()),
        (json!("opportunity.won"), data)
    );
    let query = format!("/{id}/deliveries?success=true&event=opportunity.won&page=0&limit=0");
    let page = eventually(WITHIN, || async {
        let (_, page) = salesos(&app, &key, Method::GET, &query, None).await;
        if page["total"] == 1 {
            Ok(page)
        } else {
            Err(page)
        }
    })
    .await;
    assert_eq!(
        (&page["page"], &page["limit"], &page["hasMore"]),
        (&json!(1), &json!(20), &json!(false))
    );
    let delivery = &page["data"][0];
    assert_keys(
        delivery,
        &[
            "id",
            "webhookId",
            "eventId",
            "event",
            "status",
            "success",
            "attemptCount",
            "responseStatus",
            "lastOutcome",
            "lastAttemptAt",
            "nextAttemptAt",
            "createdAt",
            "closedAt",
            "reason",
        ],
    );
    assert_eq!(
        (&delivery["webhookId"], &delivery["eventId"]),
        (&json!(id), &json!("evt-won-1"))
    );
    assert_eq!(
        (&delivery["status"], &delivery["success"]),
        (&json!("succeeded"), &json!(true))
    );
    assert_eq!(delivery["responseStatus"], 200);
    let failed_path = format!("/{id}/deliveries?success=false");
    assert_eq!(
        salesos(&app, &key, Method::GET, &failed_path, None).await.1["total"],
        0
    );
    let other_event = format!("/{id}/deliveries?event=lead.created");
    assert_eq!(
        salesos(&app, &key, Method::GET, &other_event, None).await.1["total"],
        0
    );

    let stats = eventually(WITHIN, || async {
        let (_, stats) = salesos(&app, &key, Method::GET, "/stats", None).await;
        if stats["failedDeliveries"] == 1 && stats["successfulDeliveries"] == 1 {
            Ok(stats)
        } else {
            Err(stats)
        }
    })
    .await;
    assert_eq!(
        (
            &stats["totalWebhooks"],
            &stats["activeWebhooks"],
            &stats["inactiveWebhooks"]
        ),
        (&json!(2), &json!(2), &json!(0))
    );
    assert_eq!(
        (
            &stats["totalDeliveries"],
            &stats["pendingDeliveries"],
            &stats["successRate"]
        ),
        (&json!(2), &json!(0), &json!(0.5))
    );
    let per: Vec<&Value> = stats["webhooks"].as_array().unwrap().iter().collect();
    assert_eq!((&per[0]["id"], &per[1]["id"]), (&json!(id), &broken["id"]));
    assert_eq!(
        (&per[0]["successfulDeliveries"], &per[0]["successRate"]),
        (&json!(1), &json!(1.0))
    );
    assert_eq!(
        (&per[1]["failedDeliveries"], &per[1]["totalAttempts"]),
        (&json!(1), &json!(1))
    );
    assert_time(&per[0]["lastSuccessAt"]);
    assert!(per[0]["latencyMs"]["p50"].is_u64(), "{stats}");
}

#[tokio::test]
async fn test_and_regenerate_secret_sign_with_the_current_secret() {
    let app = TestApp::spawn().await;
    let key = tenant(&app, "acme").await;
    let receiver = TestReceiver::start().await;
    let created = create(&app, &key, create_example(&receiver.url("/t"))).await;
    let (id, old) = (
        created["id"].as_str().unwrap(),
        created["secret"].as_str().unwrap(),
    );

    let (status, tested) = salesos(&app, &key, Method::POST, &format!("/{id}/test"), None).await;

    assert_eq!(status, StatusCode::OK, "{tested}");
    assert_keys(
        &tested,
        &[
            "deliveryId",
            "success",
            "responseStatus",
            "latencyMs",
            "error",
        ],
    );
    assert_eq!(
        (&tested["success"], &tested["responseStatus"]),
        (&json!(true), &json!(200))
    );
    assert!(tested["deliveryId"].as_str().unwrap().starts_with("dlv_"));
    let got = receiver.received();
    assert_eq!(got.len(), 1);
    verify(&got[0], old).expect("the test is signed");
    assert_eq!(got[0].json()["type"], "webhook.test");

    let path = format!("/{id}/regenerate-secret");
    let (status, rotated) = salesos(&app, &key, Method::POST, &path, None).await;
    assert_eq!(status, StatusCode::OK, "{rotated}");
    assert_keys(
        &rotated,
        &[WEBHOOK_KEYS, &["secret", "previousSecretExpiresAt"]].concat(),
    );
    let new = rotated["secret"].as_str().unwrap();
    assert!(new.starts_with("whsec_") && new != old);
    assert_time(&rotated["previousSecretExpiresAt"]);
    receiver.set_default(Reply::status(503));
    let (_, tested) = salesos(&app, &key, Method::POST, &format!("/{id}/test"), None).await;
    assert_eq!(
        (&tested["success"], &tested["responseStatus"]),
        (&json!(false), &json!(503))
    );
    let got = receiver.received();
    verify(&got[1], new).expect("signed with the new secret");
    let tests = format!("/{id}/deliveries?event=webhook.test");
    let page = eventually(WITHIN, || async {
        let (_, page) = salesos(&app, &key, Method::GET, &tests, None).await;
        // Each attempt and its outcome are two facts: wait for both outcomes.
        let settled =
            (page["data"].as_array().into_iter().flatten()).all(|d| d["status"] != "pending");
        if page["total"] == 2 && settled {
            Ok(page)
        } else {
            Err(page)
        }
    })
    .await;
    assert_eq!(
        (&page["data"][0]["success"], &page["data"][1]["success"]),
        (&json!(false), &json!(true))
    );
}

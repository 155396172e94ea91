//! Retention: delivery facts reach `stream_archive` (the projector role's archiver) before
//! JetStream drops them, and an export over a range JetStream no longer holds answers from the
//! archive, each record saying where it came from.

use std::time::Duration;

use futures::StreamExt;
use hookledger_api::cli::audit::export::Filter;
use hookledger_domain::ids::TenantId;
use hookledger_domain::ledger::reader::StreamKind;
use hookledger_domain::ledger::{StreamSettings, ensure_streams};
use hookledger_projections::events_archive;
use serde_json::Value;

use crate::api_support::{delivery, publish, tenant_with_catalog, webhook};
use crate::audit_export::export;
use hookledger_api::Roles;

use crate::harness::{TestApp, eventually};

/// Waits until the archive holds the deliveries stream up to its head.
async fn archived(app: &TestApp) {
    let head = app.env.nats.head(StreamKind::Deliveries).await.unwrap();
    eventually(Duration::from_secs(20), || async {
        let at = events_archive::checkpoint(&app.env.pool, StreamKind::Deliveries)
            .await
            .map_err(|e| e.to_string())?;
        if at >= head {
            Ok(())
        } else {
            Err(format!("archived {at} of {head}"))
        }
    })
    .await;
}

fn deliveries(lines: &[Value]) -> Vec<Value> {
    lines
        .iter()
        .filter(|l| l["stream"] == "deliveries")
        .cloned()
        .collect()
}

#[tokio::test]
async fn an_export_over_a_range_jetstream_dropped_answers_from_the_archive_saying_so() {
    // Delivery facts with a retention (the default keeps them forever, and then they are not
    // archived: see `startup::archived_streams`).
    let app = TestApp::spawn_with(Roles::ALL, |c| c.nats.deliveries_max_age_days = 30).await;
    let key = tenant_with_catalog(&app, "acme").await;
    let hook = webhook(&app, &key, "kept").await;
    let id = hook["id"].as_str().unwrap().to_owned();
    publish(&app.env, &delivery("acme", &id, "lead.created", false)).await;
    publish(&app.env, &delivery("acme", &id, "lead.created", true)).await;
    archived(&app).await;
    let before = deliveries(&export(&app.env, &Filter::default()).await);
    assert_eq!(before.len(), 4);
    assert!(before.iter().all(|l| l["source"] == "jetstream"));

    // The retention runs out: JetStream drops the facts (they are archived already).
    let nats = &app.env.nats;
    let short = StreamSettings {
        deliveries_max_age: Duration::from_secs(1),
        events_duplicate_window: Duration::from_secs(1),
        ..StreamSettings::default()
    };
    ensure_streams(nats, &short).await.unwrap();
    eventually(Duration::from_secs(30), || async {
        let left: Vec<_> = nats
            .bounded_read(
                StreamKind::Deliveries,
                vec![nats.names().deliveries_all()],
                None,
            )
            .await
            .map_err(|e| e.to_string())?
            .collect()
            .await;
        if left.is_empty() {
            Ok(())
        } else {
            Err(format!("{} facts left", left.len()))
        }
    })
    .await;
    ensure_streams(nats, &StreamSettings::default())
        .await
        .unwrap();
    publish(&app.env, &delivery("acme", &id, "lead.created", true)).await;

    let after = deliveries(&export(&app.env, &Filter::default()).await);
    assert_eq!(after.len(), 6, "{after:#?}");
    for (old, new) in before.iter().zip(&after) {
        let mut old = old.clone();
        old["source"] = "archive".into();
        assert_eq!(&old, new, "an archived record is the record JetStream gave");
    }
    assert!(
        after[4..].iter().all(|l| l["source"] == "jetstream"),
        "{after:#?}"
    );

    // The old range alone, and filters, answer from the archive too.
    let time = |l: &Value| {
        chrono::DateTime::parse_from_rfc3339(l["time"].as_str().unwrap())
            .unwrap()
            .with_timezone(&chrono::Utc)
    };
    let old_range = Filter {
        since: Some(time(&after[1])),
        until: Some(time(&after[3])),
        ..Filter::default()
    };
    let ranged = deliveries(&export(&app.env, &old_range).await);
    assert_eq!(ranged, after[1..4].to_vec());
    let theirs = Filter {
        tenant: Some(TenantId::parse("globex").unwrap()),
        ..Filter::default()
    };
    assert!(export(&app.env, &theirs).await.is_empty());
    let mine = Filter {
        webhook: Some(hookledger_domain::ids::WebhookId::parse(&id).unwrap()),
        types: vec!["delivery.succeeded".into()],
        ..Filter::default()
    };
    let succeeded = export(&app.env, &mine).await;
    let sources: Vec<&str> = succeeded
        .iter()
        .map(|l| l["source"].as_str().unwrap())
        .collect();
    assert_eq!(sources, ["archive", "jetstream"]);
}

#[tokio::test]
async fn published_events_reach_the_archive_with_their_tenant_body_and_headers_as_they_arrive() {
    let app = TestApp::spawn().await;
    let key = tenant_with_catalog(&app, "acme").await;
    let event = serde_json::json!({"type": "lead.created", "data": {"leadId": 7}, "id": "lead-7"});
    let published = app
        .http
        .post(app.url("/v1/events"))
        .header("x-api-key", &key)
        .json(&event)
        .send()
        .await
        .unwrap();
    assert_eq!(published.status(), reqwest::StatusCode::ACCEPTED);
    let head = app.env.nats.head(StreamKind::Events).await.unwrap();
    assert!(head >= 1);
    let pool = &app.env.pool;
    let (tenant, payload, headers): (String, Vec<u8>, Value) = eventually(Duration::from_secs(20), || async {
        sqlx::query_as(
            "SELECT tenant, payload, headers FROM stream_archive WHERE stream = 'events' AND sequence = $1",
        )
        .bind(head as i64)
        .fetch_optional(pool)
        .await
        .map_err(|e| e.to_string())?
        .ok_or_else(|| "not archived yet".to_owned())
    })
    .await;
    assert_eq!(tenant, "acme");
    let stored: Value = serde_json::from_slice(&payload).unwrap();
    // The body as published, and the headers that carry the event's id.
    assert_eq!(stored, serde_json::json!({"leadId": 7}));
    let pairs = headers.as_array().unwrap();
    assert!(
        pairs
            .iter()
            .any(|p| p[1] == "acme:lead-7" || p[1] == "lead-7"),
        "the event id is among the archived headers: {headers}"
    );
}

#[tokio::test]
async fn a_retention_set_on_deliveries_later_archives_them_before_the_stream_is_updated() {
    // Defaults: delivery facts are kept forever, so nothing copies them.
    let app = TestApp::spawn().await;
    let key = tenant_with_catalog(&app, "acme").await;
    let hook = webhook(&app, &key, "kept").await;
    let id = hook["id"].as_str().unwrap().to_owned();
    publish(&app.env, &delivery("acme", &id, "lead.created", true)).await;
    let head = app.env.nats.head(StreamKind::Deliveries).await.unwrap();
    assert!(head > 0);
    let at = events_archive::checkpoint(&app.env.pool, StreamKind::Deliveries)
        .await
        .unwrap();
    assert_eq!(at, 0, "delivery facts without a retention are not archived");

    // The next process to start with a retention copies the stream before it sets it: by the
    // time the stream's settings are updated, the archive holds its head.
    let mut config = crate::harness::app::test_config(&app.env);
    config.nats.deliveries_max_age_days = 30;
    let nats = hookledger_api::startup::connect_nats(&config)
        .await
        .unwrap();
    let at = events_archive::checkpoint(&app.env.pool, StreamKind::Deliveries)
        .await
        .unwrap();
    assert_eq!(at, head);
    let max_age = nats.max_age(StreamKind::Deliveries).await.unwrap();
    assert_eq!(max_age, Some(Duration::from_secs(30 * 24 * 3600)));
}

//! One event-id space per tenant across `POST /v1/events` and NATS: the same id for the same
//! tenant is one event whichever path came first, while another tenant's id is its own.

use std::time::Duration;

use hookledger_domain::ledger::Names;
use serde_json::json;

use crate::delivery_support::{hook, publish, tenant, webhook};
use crate::harness::receiver::TestReceiver;
use crate::harness::{TestApp, eventually, nats_url};

const WITHIN: Duration = Duration::from_secs(20);

/// Publishes `lead.created` for `tenant` on NATS with `Nats-Msg-Id: id`.
async fn publish_on_nats(app: &TestApp, tenant: &str, id: &str) {
    let client = async_nats::connect(nats_url()).await.unwrap();
    let js = async_nats::jetstream::new(client);
    let mut headers = async_nats::HeaderMap::new();
    headers.insert("Nats-Msg-Id", id);
    let subject = format!("{}-events.{tenant}.lead.created", app.id);
    let ack = js.publish_with_headers(subject, headers, b"{}".as_slice().into());
    ack.await.unwrap().await.unwrap();
}

/// Waits until every event was routed (the router's consumer has nothing pending) and every
/// job was worked off (DISPATCH is empty): after it, nothing more will be delivered.
async fn settled(app: &TestApp) {
    let client = async_nats::connect(nats_url()).await.unwrap();
    let js = async_nats::jetstream::new(client);
    let names = &Names::new(&app.id, &format!("{}-events", app.id)).unwrap();
    eventually(WITHIN, || async {
        let events = js.get_stream(names.events_stream()).await.unwrap();
        let mut router = (events.get_consumer::<async_nats::jetstream::consumer::pull::Config>(
            &names.durable("router"),
        ))
        .await
        .unwrap();
        let routing = router.info().await.unwrap().clone();
        let mut dispatch = js.get_stream(names.dispatch_stream()).await.unwrap();
        let jobs = dispatch.info().await.unwrap().state.messages;
        let (pending, in_flight) = (routing.num_pending, routing.num_ack_pending);
        if pending == 0 && in_flight == 0 && jobs == 0 {
            Ok(())
        } else {
            Err(format!(
                "{pending} events pending, {in_flight} being routed, {jobs} jobs"
            ))
        }
    })
    .await;
}

#[tokio::test]
async fn an_id_posted_over_http_then_published_on_nats_is_delivered_once_and_the_other_way_too() {
    let app = TestApp::spawn().await;
    let key = tenant(&app, "acme").await;
    let receiver = TestReceiver::start().await;
    webhook(&app, &key, hook(&receiver.url("/"), &["*"])).await;

    let event = |id: &str| json!({"type": "lead.created", "id": id, "data": {}});
    publish(&app, &key, event("http-first")).await;
    receiver.wait_for(1, WITHIN).await;
    publish_on_nats(&app, "acme", "http-first").await;
    publish_on_nats(&app, "acme", "nats-first").await;
    receiver.wait_for(2, WITHIN).await;
    // Accepted (202), and not delivered again.
    publish(&app, &key, event("nats-first")).await;
    settled(&app).await;

    let mut ids: Vec<String> = (receiver.received().iter())
        .map(|r| r.header("webhook-id").unwrap().to_owned())
        .collect();
    ids.sort();
    assert_eq!(ids, ["http-first", "nats-first"]);
}

#[tokio::test]
async fn the_same_id_in_another_tenant_is_another_event() {
    let app = TestApp::spawn().await;
    let receiver = TestReceiver::start().await;
    for name in ["acme", "beta"] {
        let key = tenant(&app, name).await;
        webhook(&app, &key, hook(&receiver.url(&format!("/{name}")), &["*"])).await;
        let event = json!({"type": "lead.created", "id": "shared-id", "data": {}});
        publish(&app, &key, event).await;
    }
    let got = receiver.wait_for(2, WITHIN).await;
    settled(&app).await;
    let mut paths: Vec<&str> = got.iter().map(|r| r.path.as_str()).collect();
    paths.sort();
    assert_eq!(paths, ["/acme", "/beta"]);
    assert_eq!(receiver.count(), 2);
}

//! Helpers of the `api_*` tests: a tenant with a key, an event type, a webhook, delivery facts
//! published as the dispatcher does, and an app with a configuration of the test's own.

use std::net::SocketAddr;

use hookledger_api::{Application, Config, Roles};
use hookledger_domain::delivery::{AttemptOutcome, AttemptRecord, DeliveryClosed, DeliveryFact};
use hookledger_domain::ids::{DeliveryId, EventId, TenantId, WebhookId};
use reqwest::StatusCode;
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::harness::app::{OPERATOR_TOKEN, test_config};
use crate::harness::{TestApp, TestEnv, nats_url};

/// A tenant `id` with its first key: `(key, key id)`.
pub async fn tenant(http: &reqwest::Client, base: &str, id: &str) -> (String, String) {
    let response = http
        .post(format!("{base}/v1/admin/tenants"))
        .bearer_auth(OPERATOR_TOKEN)
        .json(&json!({"id": id, "name": format!("{id} Inc.")}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::CREATED);
    let body: Value = response.json().await.unwrap();
    let key = &body["apiKey"];
    (
        key["key"].as_str().unwrap().to_owned(),
        key["id"].as_str().unwrap().to_owned(),
    )
}

/// Adds `name` to the tenant's catalog.
pub async fn event_type(app: &TestApp, key: &str, name: &str) {
    let response = app
        .http
        .post(app.url("/v1/event-types"))
        .header("x-api-key", key)
        .json(&json!({"name": name}))
        .send()
        .await
        .unwrap();
    assert_eq!(
        response.status(),
        StatusCode::CREATED,
        "{:?}",
        response.text().await
    );
}

/// A valid webhook body subscribed to `lead.*`.
pub fn webhook_body(name: &str) -> Value {
    json!({"name": name, "url": "http://127.0.0.1:9/hooks", "events": ["lead.*"],
           "headers": {"X-Env": "test"}, "properties": {"source": "tests"}})
}

/// A tenant with the `lead.created` event type: its key.
pub async fn tenant_with_catalog(app: &TestApp, id: &str) -> String {
    let (key, _) = tenant(&app.http, &app.url(""), id).await;
    event_type(app, &key, "lead.created").await;
    key
}

/// Creates a webhook; returns its JSON.
pub async fn webhook(app: &TestApp, key: &str, name: &str) -> Value {
    let response = app
        .http
        .post(app.url("/v1/webhooks"))
        .header("x-api-key", key)
        .json(&webhook_body(name))
        .send()
        .await
        .unwrap();
    assert_eq!(
        response.status(),
        StatusCode::CREATED,
        "{:?}",
        response.text().await
    );
    response.json().await.unwrap()
}

/// Asserts a problem answer with `status`; returns the problem.
pub async fn problem(response: reqwest::Response, status: StatusCode) -> Value {
    let got = response.status();
    let content_type = response.headers().get("content-type").cloned();
    let body = response.text().await.unwrap();
    assert_eq!(got, status, "{body}");
    assert_eq!(content_type.unwrap(), "application/problem+json", "{body}");
    let problem: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(problem["status"], status.as_u16(), "{problem}");
    assert!(
        problem["type"].as_str().unwrap().starts_with("https://"),
        "{problem}"
    );
    problem
}

/// The `field`s a problem names.
pub fn fields(problem: &Value) -> Vec<String> {
    problem["errors"]
        .as_array()
        .map(|errors| {
            errors
                .iter()
                .map(|e| e["field"].as_str().unwrap().to_owned())
                .collect()
        })
        .unwrap_or_default()
}

/// One delivery of `webhook`: an attempt fact, then its end.
pub fn delivery(tenant: &str, webhook: &str, event_type: &str, success: bool) -> Vec<DeliveryFact> {
    let delivery_id = DeliveryId::new();
    let tenant = TenantId::parse(tenant).unwrap();
    let webhook_id = WebhookId::parse(webhook).unwrap();
    let event_id = EventId::parse(&format!("evt-{delivery_id}")).unwrap();
    let now = chrono::Utc::now();
    let ids = (&tenant, &webhook_id, &delivery_id, &event_id);
    let attempt = AttemptRecord {
        event_type: event_type.into(),
        ..hookledger_api::bench::synthetic_attempt(ids, 1, now, success)
    };
    let closed = DeliveryClosed {
        delivery_id,
        tenant,
        webhook_id,
        event_id,
        event_type: event_type.into(),
        attempts: 1,
        at: now,
        reason: (!success).then_some(AttemptOutcome::HttpError),
    };
    let end = if success {
        DeliveryFact::Succeeded(closed)
    } else {
        DeliveryFact::Failed(closed)
    };
    vec![DeliveryFact::Attempted(attempt), end]
}

/// Publishes facts as the dispatcher does (subject per delivery, `Nats-Msg-Id`).
pub async fn publish(env: &TestEnv, facts: &[DeliveryFact]) {
    let js = async_nats::jetstream::new(async_nats::connect(nats_url()).await.unwrap());
    for fact in facts {
        let subject = env.nats.names().delivery_subject(
            fact.tenant().as_str(),
            fact.webhook_id().as_str(),
            fact.delivery_id().as_str(),
        );
        let mut headers = async_nats::HeaderMap::new();
        headers.insert("Nats-Msg-Id", fact.msg_id().as_str());
        let payload = serde_json::to_vec(fact).unwrap();
        js.publish_with_headers(subject, headers, payload.into())
            .await
            .unwrap()
            .await
            .unwrap();
    }
}

/// The app with a configuration changed by the test; stopped when dropped.
pub struct ConfiguredApp {
    /// Held so its database and streams live as long as the app.
    #[allow(dead_code)]
    pub env: TestEnv,
    pub addr: SocketAddr,
    pub http: reqwest::Client,
    shutdown: CancellationToken,
}

impl ConfiguredApp {
    pub async fn spawn(change: impl FnOnce(&mut Config)) -> Self {
        Self::spawn_in(TestEnv::new().await, change).await
    }

    /// As [`ConfiguredApp::spawn`] over a given environment (its NATS URL is used).
    pub async fn spawn_in(env: TestEnv, change: impl FnOnce(&mut Config)) -> Self {
        let mut config = test_config(&env);
        change(&mut config);
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let shutdown = CancellationToken::new();
        let app = Application::build(config, Some(listener), Roles::ALL, shutdown.clone())
            .await
            .unwrap();
        let addr = app.local_addr().unwrap();
        tokio::spawn(app.run());
        Self {
            env,
            addr,
            http: reqwest::Client::new(),
            shutdown,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }
}

impl Drop for ConfiguredApp {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

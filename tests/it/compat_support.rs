//! What the vendor-dialect tests share: a tenant without a catalog, requests in the vendor's
//! auth styles, and events published on NATS as a service would.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::harness::TestApp;
use crate::harness::app::OPERATOR_TOKEN;

/// Creates tenant `id` with an empty catalog (dialects bring their own event lists); returns
/// its API key.
pub async fn tenant(app: &TestApp, id: &str) -> String {
    let response = (app.http.post(app.url("/v1/admin/tenants")))
        .bearer_auth(OPERATOR_TOKEN)
        .json(&json!({"id": id}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::CREATED);
    response.json::<Value>().await.unwrap()["apiKey"]["key"]
        .as_str()
        .unwrap()
        .to_owned()
}

/// Sends `method path` with `body` (JSON, when given) and `auth` applied; returns the status
/// and the body as JSON (`Value::Null` when empty or not JSON).
pub async fn call(
    app: &TestApp,
    method: reqwest::Method,
    path: &str,
    auth: impl FnOnce(reqwest::RequestBuilder) -> reqwest::RequestBuilder,
    body: Option<Value>,
) -> (StatusCode, Value) {
    let mut request = auth(app.http.request(method, app.url(path)));
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.unwrap();
    let status = response.status();
    let text = response.text().await.unwrap();
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

/// Publishes a domain event on NATS, as a service does: `events.<tenant>.<type>` under the
/// test's prefix, with `Nats-Msg-Id: msg_id`.
pub async fn publish_nats(
    app: &TestApp,
    tenant: &str,
    event_type: &str,
    msg_id: &str,
    data: Value,
) {
    let client = async_nats::connect(crate::harness::nats_url())
        .await
        .unwrap();
    let mut headers = async_nats::HeaderMap::new();
    headers.insert("Nats-Msg-Id", msg_id);
    let subject = format!("{}-events.{tenant}.{event_type}", app.id);
    let js = async_nats::jetstream::new(client);
    (js.publish_with_headers(subject, headers, serde_json::to_vec(&data).unwrap().into()))
        .await
        .unwrap()
        .await
        .unwrap();
}

/// The tenant's native webhook list (`GET /v1/webhooks`), as JSON.
pub async fn native_list(app: &TestApp, key: &str) -> Value {
    let response = (app.http.get(app.url("/v1/webhooks?limit=100")))
        .header("x-api-key", key)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    response.json().await.unwrap()
}

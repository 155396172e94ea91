//! Helpers of the `console_*` tests: a client that keeps no cookies and follows no
//! redirects (so each test sees the console's own answers), signing in, the CSRF token of a
//! page, and publishing an event.

use reqwest::StatusCode;
use reqwest::header::{CONTENT_TYPE, COOKIE, LOCATION, SET_COOKIE};
use serde_json::{Value, json};

use crate::harness::TestApp;

pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

/// A form body.
pub fn encode(form: &[(&str, &str)]) -> String {
    url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(form)
        .finish()
}

/// The `name=value` of the session cookie a response sets.
pub fn session_cookie(response: &reqwest::Response) -> String {
    let set = response
        .headers()
        .get(SET_COOKIE)
        .expect("a Set-Cookie")
        .to_str()
        .unwrap();
    set.split(';').next().unwrap().to_owned()
}

/// Signs in with `key`; the session cookie.
pub async fn sign_in(app: &TestApp, key: &str) -> String {
    let response = client()
        .post(app.url("/console/sign-in"))
        .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(encode(&[("key", key)]))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(response.headers()[LOCATION], "/console/webhooks");
    session_cookie(&response)
}

/// GET with the session cookie: status and body.
pub async fn get(app: &TestApp, cookie: &str, path: &str) -> (StatusCode, String) {
    let response = client()
        .get(app.url(path))
        .header(COOKIE, cookie)
        .send()
        .await
        .unwrap();
    (response.status(), response.text().await.unwrap())
}

/// The CSRF token in a page's forms.
pub fn csrf_of(html: &str) -> String {
    let at = html
        .find(r#"name="csrf" value=""#)
        .expect("a form with a CSRF token");
    let rest = &html[at + r#"name="csrf" value=""#.len()..];
    rest[..rest.find('"').unwrap()].to_owned()
}

/// POST a form with the session cookie: the response.
pub async fn post(
    app: &TestApp,
    cookie: &str,
    path: &str,
    form: &[(&str, &str)],
) -> reqwest::Response {
    client()
        .post(app.url(path))
        .header(COOKIE, cookie)
        .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(encode(form))
        .send()
        .await
        .unwrap()
}

/// Publishes a `lead.created` event for the tenant of `key`.
pub async fn publish(app: &TestApp, key: &str, id: &str) {
    let response = app
        .http
        .post(app.url("/v1/events"))
        .header("x-api-key", key)
        .json(&json!({"type": "lead.created", "data": {"leadId": id}, "id": id}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::ACCEPTED);
}

/// Mints a console link through the admin route: its path.
pub async fn mint_link(app: &TestApp, tenant: &str, read_only: bool) -> String {
    minted_link(app, tenant, read_only).await["path"]
        .as_str()
        .unwrap()
        .to_owned()
}

/// Mints a console link through the admin route: the answer (`id`, `path`, …).
pub async fn minted_link(app: &TestApp, tenant: &str, read_only: bool) -> serde_json::Value {
    let response = app
        .http
        .post(app.url(&format!("/v1/admin/tenants/{tenant}/console-links")))
        .bearer_auth(crate::harness::app::OPERATOR_TOKEN)
        .json(&json!({"ttl": "10m", "readOnly": read_only}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::CREATED);
    response.json().await.unwrap()
}

/// The webhook's `status` as the API reads it.
pub async fn status_of(app: &TestApp, key: &str, id: &str) -> Value {
    app.http
        .get(app.url(&format!("/v1/webhooks/{id}")))
        .header("x-api-key", key)
        .send()
        .await
        .unwrap()
        .json::<Value>()
        .await
        .unwrap()["status"]
        .clone()
}

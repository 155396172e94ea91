//! The response headers of an attempt (issue 15): kept bounded on the `delivery.attempted`
//! fact, in the deliveries view (also after a rebuild), in the API's attempt listing and on
//! the console's delivery page; none when the receiver never answered.

use std::time::Duration;

use axum::Router;
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use hookledger_domain::delivery::{AttemptOutcome, AttemptRecord};
use hookledger_projections::{View, rebuild};
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

use crate::console_support::{get, sign_in};
use crate::delivery_support::{attempts, facts_until, hook, publish, tenant, webhook};
use crate::harness::receiver::{Reply, TestReceiver};
use crate::harness::{TestApp, eventually};

const WITHIN: Duration = Duration::from_secs(20);
/// Names the receiver sends after its own few: together more than a fact keeps.
const PADDING: usize = 70;
/// The bound on one value (`dispatcher::attempt::MAX_HEADER_VALUE`).
const VALUE_BYTES: usize = 1024;

/// A receiver on `127.0.0.1` answering every request with 200 and headers the shared
/// `TestReceiver` cannot send (it sets one value per name): `X-Receiver: one` first, two
/// `Set-Cookie`s, a value longer than the bound, markup, then [`PADDING`] more names.
async fn header_receiver() -> (String, JoinHandle<()>) {
    let mut headers = HeaderMap::new();
    headers.append("X-Receiver", HeaderValue::from_static("one"));
    headers.append("set-cookie", HeaderValue::from_static("a=1; Path=/"));
    headers.append("set-cookie", HeaderValue::from_static("b=2"));
    let long = HeaderValue::from_str(&"v".repeat(VALUE_BYTES + 500)).unwrap();
    headers.append("x-long", long);
    headers.append("x-markup", HeaderValue::from_static("<b>bold</b>"));
    for i in 0..PADDING {
        let name = HeaderName::try_from(format!("x-pad-{i:02}")).unwrap();
        headers.append(name, HeaderValue::from_static("p"));
    }
    let app = Router::new().fallback(move || {
        let headers = headers.clone();
        async move { (StatusCode::OK, headers, "fine") }
    });
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/in", listener.local_addr().unwrap());
    let task = tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (url, task)
}

/// The API's detail of the webhook's only delivery, once it lists `attempts` attempts.
async fn api_detail(app: &TestApp, key: &str, webhook: &str, attempts: usize) -> Value {
    eventually(WITHIN, || async {
        let get = |path: String| {
            let request = app.http.get(app.url(&path)).header("x-api-key", key);
            async move { request.send().await.unwrap().json::<Value>().await.unwrap() }
        };
        let base = format!("/v1/webhooks/{webhook}/deliveries");
        let list = get(base.clone()).await;
        let Some(dlv) = list["data"][0]["id"].as_str() else {
            return Err(list);
        };
        let detail = get(format!("{base}/{dlv}")).await;
        match detail["attempts"].as_array() {
            Some(a) if a.len() == attempts => Ok(detail),
            _ => Err(detail),
        }
    })
    .await
}

/// The console's page of a delivery once `ready` holds of it.
async fn console_page(
    app: &TestApp,
    cookie: &str,
    webhook: &str,
    dlv: &str,
    ready: impl Fn(&str) -> bool,
) -> String {
    let path = format!("/console/webhooks/{webhook}/deliveries/{dlv}");
    eventually(WITHIN, || async {
        let (status, html) = get(app, cookie, &path).await;
        if status == StatusCode::OK && ready(&html) {
            Ok(html)
        } else {
            Err(html)
        }
    })
    .await
}

/// One header row as the console renders it (maud escapes the value).
fn row(name: &str, value: &str) -> String {
    format!("<tr><th><code>{name}</code></th><td><code>{value}</code></td></tr>")
}

#[tokio::test]
async fn an_attempt_keeps_the_response_headers_bounded_in_its_fact_the_api_and_the_console() {
    let app = TestApp::spawn().await;
    let key = tenant(&app, "acme").await;
    let (url, _receiver) = header_receiver().await;
    let id = webhook(&app, &key, hook(&url, &["lead.*"])).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    publish(&app, &key, json!({"type": "lead.created", "data": {}})).await;

    let facts = facts_until(&app, "acme", &id, WITHIN, |f| !attempts(f).is_empty()).await;
    let attempt = attempts(&facts)[0];
    assert_eq!(attempt.response_status, Some(200), "{attempt:?}");
    let kept = &attempt.response_headers;
    assert_eq!(kept.len(), AttemptRecord::MAX_RESPONSE_HEADERS, "{kept:?}");
    assert_eq!(kept["x-receiver"], "one", "the name lower-case");
    assert_eq!(
        kept["set-cookie"], "a=1; Path=/, b=2",
        "repeated values joined"
    );
    assert_eq!(kept["x-long"], "v".repeat(VALUE_BYTES), "a long value cut");
    assert_eq!(kept["x-markup"], "<b>bold</b>");
    assert!(kept.contains_key("x-pad-00"), "{kept:?}");
    let last = format!("x-pad-{:02}", PADDING - 1);
    assert!(
        !kept.contains_key(&last),
        "the last names dropped: {kept:?}"
    );

    let detail = api_detail(&app, &key, &id, 1).await;
    let listed = &detail["attempts"][0]["responseHeaders"];
    assert_eq!(
        listed,
        &serde_json::to_value(kept).unwrap(),
        "the API lists what the fact keeps"
    );

    let dlv = detail["id"].as_str().unwrap();
    let cookie = sign_in(&app, &key).await;
    let html = console_page(&app, &cookie, &id, dlv, |h| h.contains("response-headers")).await;
    let shown = html
        .split(r#"<table class="response-headers">"#)
        .nth(1)
        .and_then(|rest| rest.split("</table>").next())
        .unwrap_or_else(|| panic!("a response headers table in {html}"));
    assert!(shown.contains(&row("x-receiver", "one")), "{shown}");
    assert!(
        shown.contains(&row("set-cookie", "a=1; Path=/, b=2")),
        "{shown}"
    );
    assert!(
        shown.contains(&row("x-long", &"v".repeat(VALUE_BYTES))),
        "{shown}"
    );
    assert!(
        shown.contains(&row("x-markup", "&lt;b&gt;bold&lt;/b&gt;")),
        "escaped: {shown}"
    );
    assert_eq!(
        shown.matches("<tr>").count(),
        AttemptRecord::MAX_RESPONSE_HEADERS
    );
    let headers_at = html.find("response-headers").unwrap();
    let body_at = html
        .find("Response body (excerpt)")
        .expect("the body excerpt");
    assert!(
        headers_at < body_at,
        "the headers come before the body excerpt"
    );

    rebuild::rebuild(&app.nats, &app.pool, &[View::Deliveries], |_, _| {})
        .await
        .unwrap();
    let rebuilt = api_detail(&app, &key, &id, 1).await;
    assert_eq!(
        &rebuilt["attempts"][0]["responseHeaders"], listed,
        "a rebuild keeps the column"
    );
}

#[tokio::test]
async fn an_attempt_that_timed_out_keeps_no_response_headers() {
    let app = TestApp::spawn().await;
    let key = tenant(&app, "acme").await;
    let late = Reply::status(200)
        .header("x-receiver", "late")
        .after(Duration::from_secs(3));
    let receiver = TestReceiver::replying(late).await;
    let mut body = hook(&receiver.url("/"), &["*"]);
    body["timeoutSeconds"] = json!(1);
    body["retryAttempts"] = json!(0);
    let id = webhook(&app, &key, body).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    publish(&app, &key, json!({"type": "lead.created", "data": {}})).await;

    let facts = facts_until(&app, "acme", &id, WITHIN, |f| !attempts(f).is_empty()).await;
    let attempt = attempts(&facts)[0];
    assert_eq!(attempt.outcome, AttemptOutcome::Timeout, "{attempt:?}");
    assert!(attempt.response_headers.is_empty(), "{attempt:?}");

    let detail = api_detail(&app, &key, &id, 1).await;
    assert_eq!(detail["attempts"][0]["outcome"], "timeout");
    assert_eq!(
        detail["attempts"][0]["responseHeaders"],
        json!({}),
        "always an object"
    );

    let dlv = detail["id"].as_str().unwrap();
    let cookie = sign_in(&app, &key).await;
    let html = console_page(&app, &cookie, &id, dlv, |h| {
        h.contains(r#"<td class="outcome">timeout</td>"#)
    })
    .await;
    assert!(!html.contains("response-headers"), "{html}");
}

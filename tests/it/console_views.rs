//! The console's read pages over plain HTTP, on real delivery facts: list totals from the
//! counters, charts over time, the request an attempt sent (reconstructed), the last error of
//! each webhook, and the deliveries of one event across webhooks.

use std::time::Duration;

use chrono::{DateTime, Duration as Span, Utc};
use hookledger_domain::delivery::DeliveryFact;
use hookledger_domain::ids::EventId;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::api_support::{delivery, publish, tenant_with_catalog, webhook};
use crate::console_support::{get, sign_in};
use crate::harness::receiver::TestReceiver;
use crate::harness::{TestApp, eventually};

/// One delivery whose attempt was at `at` and took `latency_ms`.
fn delivery_at(
    webhook: &str,
    success: bool,
    at: DateTime<Utc>,
    latency_ms: u64,
) -> Vec<DeliveryFact> {
    let mut facts = delivery("acme", webhook, "lead.created", success);
    for fact in &mut facts {
        match fact {
            DeliveryFact::Attempted(a) => {
                a.at = at;
                a.latency_ms = latency_ms;
            }
            DeliveryFact::Succeeded(c) | DeliveryFact::Failed(c) => c.at = at,
        }
    }
    facts
}

/// One delivery of event `event` to `webhook`.
fn delivery_of(tenant: &str, webhook: &str, event: &str) -> Vec<DeliveryFact> {
    let mut facts = delivery(tenant, webhook, "lead.created", true);
    let event = EventId::parse(event).unwrap();
    for fact in &mut facts {
        match fact {
            DeliveryFact::Attempted(a) => a.event_id = event.clone(),
            DeliveryFact::Succeeded(c) | DeliveryFact::Failed(c) => c.event_id = event.clone(),
        }
    }
    facts
}

/// The page once `ready` holds (the deliveries projector is asynchronous).
async fn page_when(
    app: &TestApp,
    cookie: &str,
    path: &str,
    ready: impl Fn(&str) -> bool,
) -> String {
    eventually(Duration::from_secs(15), || async {
        let (status, html) = get(app, cookie, path).await;
        if status == StatusCode::OK && ready(&html) {
            Ok(html)
        } else {
            Err(html)
        }
    })
    .await
}

fn unescape(html: &str) -> String {
    html.replace("&quot;", "\"")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
}

/// The text between `start` (after its end) and the next `end`.
fn between<'a>(html: &'a str, start: &str, end: &str) -> &'a str {
    let at = html
        .find(start)
        .unwrap_or_else(|| panic!("{start} in {html}"))
        + start.len();
    let rest = &html[at..];
    &rest[..rest.find(end).unwrap()]
}

#[tokio::test]
async fn delivery_list_totals_follow_the_counters_for_every_status_and_rows_for_other_filters() {
    let app = TestApp::spawn().await;
    let key = tenant_with_catalog(&app, "acme").await;
    let hook = webhook(&app, &key, "totals").await;
    let id = hook["id"].as_str().unwrap();
    let now = Utc::now();
    let mut facts = Vec::new();
    for i in 0..3 {
        facts.extend(delivery_at(id, true, now - Span::minutes(i), 40));
    }
    for i in 0..2 {
        facts.extend(delivery_at(id, false, now - Span::minutes(i), 40));
    }
    let pending = delivery_at(id, false, now, 40);
    facts.push(pending[0].clone());
    publish(&app.env, &facts).await;
    let cookie = sign_in(&app, &key).await;
    let base = format!("/console/webhooks/{id}/deliveries");
    page_when(&app, &cookie, &base, |h| h.contains(">6 deliveries<")).await;
    for (query, total) in [("pending", 1), ("succeeded", 3), ("failed", 2)] {
        let (_, html) = get(&app, &cookie, &format!("{base}?status={query}")).await;
        assert!(
            html.contains(&format!(">{total} deliveries<")),
            "{query}: {html}"
        );
    }
    let (_, html) = get(&app, &cookie, &format!("{base}?event=lead.updated")).await;
    assert!(html.contains(">0 deliveries<"), "{html}");

    let api = |query: &str| {
        let request = app
            .http
            .get(app.url(&format!("/v1/webhooks/{id}/deliveries{query}")))
            .header("x-api-key", &key);
        async move { request.send().await.unwrap().json::<Value>().await.unwrap() }
    };
    let all = api("?limit=4").await;
    assert_eq!(
        (all["total"].clone(), all["hasMore"].clone()),
        (json!(6), json!(true))
    );
    assert_eq!(all["data"].as_array().unwrap().len(), 4);
    assert_eq!(api("?success=true").await["total"], 3);
    assert_eq!(api("?success=false&status=failed").await["total"], 2);
    assert_eq!(api("?success=true&status=failed").await["total"], 0);
    assert_eq!(api("?status=pending").await["total"], 1);
    assert_eq!(
        api("?event=lead.created&status=succeeded").await["total"],
        3
    );
    let late = (now + Span::hours(1)).to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    assert_eq!(api(&format!("?since={late}")).await["total"], 0);
}

#[tokio::test]
async fn the_stats_page_charts_deliveries_success_and_latency_per_bucket_over_24h_and_7d() {
    let app = TestApp::spawn().await;
    let key = tenant_with_catalog(&app, "acme").await;
    let hook = webhook(&app, &key, "charts").await;
    let id = hook["id"].as_str().unwrap();
    let now = Utc::now();
    let earlier = now - Span::hours(3);
    let facts = [
        delivery_at(id, true, earlier, 40),
        delivery_at(id, false, earlier, 900),
        delivery_at(id, true, now, 20),
        delivery_at(id, true, now - Span::days(3), 20),
    ]
    .concat();
    publish(&app.env, &facts).await;
    let cookie = sign_in(&app, &key).await;
    let hour = |t: DateTime<Utc>| {
        let s = t.timestamp();
        DateTime::from_timestamp(s - s.rem_euclid(3_600), 0).unwrap()
    };
    let path = format!("/console/webhooks/{id}/stats");
    let title =
        |start: DateTime<Utc>, rest: &str| format!("{}: {rest}", start.format("%Y-%m-%d %H:%M"));
    let expected = title(
        hour(earlier),
        "2 deliveries, 2 attempts, 1 succeeded (50.0 %); p50 50 ms, p95 1000 ms, p99 1000 ms",
    );
    let html = page_when(&app, &cookie, &path, |h| h.contains(&expected)).await;
    for chart in [
        "chart-deliveries-over-time",
        "chart-success-over-time",
        "chart-latency-over-time",
    ] {
        assert!(html.contains(&format!(r#"id="{chart}""#)), "{chart}");
    }
    assert!(html.contains(&title(
        hour(now),
        "1 deliveries, 1 attempts, 1 succeeded (100.0 %); p50 20 ms"
    )));
    let deliveries = between(&html, r#"id="chart-deliveries-over-time""#, "</svg>");
    assert_eq!(deliveries.matches("<rect").count(), 24, "one bar per hour");
    assert!(
        !html.contains(&title(hour(now - Span::days(3)), "1 deliveries")),
        "outside 24 h"
    );
    assert!(!html.contains("<script>") && !html.contains(" style="));

    let six = |t: DateTime<Utc>| {
        let s = t.timestamp();
        DateTime::from_timestamp(s - s.rem_euclid(6 * 3_600), 0).unwrap()
    };
    let (status, week) = get(&app, &cookie, &format!("{path}?range=7d")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        week.contains(&title(
            six(now - Span::days(3)),
            "1 deliveries, 1 attempts, 1 succeeded"
        )),
        "{week}"
    );
    let bars = between(&week, r#"id="chart-deliveries-over-time""#, "</svg>");
    assert_eq!(bars.matches("<rect").count(), 28, "one bar per 6 hours");

    let (status, bad) = get(&app, &cookie, &format!("{path}?range=1y")).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        bad.contains("range") && bad.contains("must be 24h or 7d"),
        "{bad}"
    );
}

#[tokio::test]
async fn an_attempt_shows_the_request_it_sent_rebuilt_from_the_event_and_the_webhook_as_it_was() {
    let app = TestApp::spawn().await;
    let key = tenant_with_catalog(&app, "acme").await;
    let receiver = TestReceiver::start().await;
    let created = app
        .http
        .post(app.url("/v1/webhooks"))
        .header("x-api-key", &key)
        .json(
            &json!({"name": "sent", "url": receiver.url("/in"), "events": ["lead.*"],
                      "headers": {"X-Env": "one"}, "properties": {"source": "first"}}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), StatusCode::CREATED);
    let id = created.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    crate::console_support::publish(&app, &key, "lead-7").await;
    let got = receiver.wait_for(1, Duration::from_secs(20)).await;
    let changed = app
        .http
        .patch(app.url(&format!("/v1/webhooks/{id}")))
        .header("x-api-key", &key)
        .json(&json!({"headers": {"X-Env": "two"}, "properties": {"source": "second"}}))
        .send()
        .await
        .unwrap();
    assert_eq!(changed.status(), StatusCode::OK);

    let cookie = sign_in(&app, &key).await;
    let list = page_when(
        &app,
        &cookie,
        &format!("/console/webhooks/{id}/deliveries"),
        |h| h.contains("state succeeded"),
    )
    .await;
    let dlv = between(&list, "/deliveries/", "\"");
    let html = page_when(
        &app,
        &cookie,
        &format!("/console/webhooks/{id}/deliveries/{dlv}"),
        |h| h.contains("sent-body"),
    )
    .await;
    assert!(html.contains("Request sent (reconstructed)"), "{html}");
    let body: Value = serde_json::from_str(&unescape(between(
        &html,
        r#"<pre class="sent-body">"#,
        "</pre>",
    )))
    .unwrap();
    assert_eq!(body, got[0].json(), "the body as the receiver got it");
    assert_eq!(body["source"], "first", "the properties as they were");
    let headers = unescape(between(
        &html,
        r#"<table class="sent-headers">"#,
        "</table>",
    ));
    for (name, value) in [
        ("X-Env", "one"),
        ("content-type", "application/json"),
        ("webhook-id", got[0].header("webhook-id").unwrap()),
    ] {
        assert!(
            headers.contains(&format!("<code>{name}</code></th><td><code>{value}</code>")),
            "{name}: {headers}"
        );
        assert_eq!(
            got[0].header(&name.to_lowercase()),
            Some(value),
            "{name} as received"
        );
    }
    assert!(!headers.contains("two"));
    let stamp: i64 = got[0].header("webhook-timestamp").unwrap().parse().unwrap();
    let shown: i64 = between(
        &headers,
        "<code>webhook-timestamp</code></th><td><code>",
        "<",
    )
    .parse()
    .unwrap();
    assert!((stamp - shown).abs() <= 2, "{stamp} vs {shown}");
    assert!(headers.contains("signed with the secret live at that time"));
    assert!(!headers.contains(got[0].header("webhook-signature").unwrap()));
}

#[tokio::test]
async fn the_webhook_list_shows_each_webhooks_last_error_and_a_fact_without_its_event_says_why_no_request_is_shown()
 {
    let app = TestApp::spawn().await;
    let key = tenant_with_catalog(&app, "acme").await;
    let failing = webhook(&app, &key, "failing").await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let healthy = webhook(&app, &key, "healthy").await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let now = Utc::now();
    let mut facts = delivery_at(&failing, false, now - Span::minutes(5), 40);
    let mut newest = delivery_at(&failing, false, now - Span::minutes(1), 40);
    if let DeliveryFact::Attempted(a) = &mut newest[0] {
        a.error = Some("connection reset by the receiver".into());
    }
    facts.extend(newest);
    facts.extend(delivery_at(&failing, true, now, 40));
    facts.extend(delivery_at(&healthy, true, now, 40));
    publish(&app.env, &facts).await;
    let cookie = sign_in(&app, &key).await;
    let html = page_when(&app, &cookie, "/console/webhooks", |h| {
        h.contains("connection reset")
    })
    .await;
    let row = |id: &str| between(&html, &format!(r#"data-id="{id}""#), "</tr>").to_owned();
    let last = between(&row(&failing), r#"class="last-error""#, "</td>").to_owned();
    assert!(last.contains("connection reset by the receiver"), "{last}");
    assert!(
        !last.contains("500 Internal"),
        "the newest failure only: {last}"
    );
    assert!(between(&row(&healthy), r#"class="last-error""#, "</td>").contains('—'));

    let (_, list) = get(
        &app,
        &cookie,
        &format!("/console/webhooks/{failing}/deliveries"),
    )
    .await;
    let dlv = between(&list, "/deliveries/", "\"");
    let (status, detail) = get(
        &app,
        &cookie,
        &format!("/console/webhooks/{failing}/deliveries/{dlv}"),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        detail.contains("sent-missing") && detail.contains("cannot be rebuilt"),
        "{detail}"
    );
    assert!(!detail.contains("sent-body"));
}

#[tokio::test]
async fn the_event_page_lists_one_events_deliveries_across_the_tenants_webhooks_and_no_one_elses() {
    let app = TestApp::spawn().await;
    let key = tenant_with_catalog(&app, "acme").await;
    let other_key = tenant_with_catalog(&app, "other").await;
    let a = webhook(&app, &key, "first").await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let b = webhook(&app, &key, "second").await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let theirs = webhook(&app, &other_key, "theirs").await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let facts = [
        delivery_of("acme", &a, "evt-shared"),
        delivery_of("acme", &b, "evt-shared"),
        delivery_of("acme", &b, "evt-else"),
        delivery_of("other", &theirs, "evt-shared"),
    ]
    .concat();
    publish(&app.env, &facts).await;
    let cookie = sign_in(&app, &key).await;
    let html = page_when(&app, &cookie, "/console/events/evt-shared", |h| {
        h.matches("data-webhook=").count() == 2
    })
    .await;
    for id in [&a, &b] {
        assert!(html.contains(&format!(r#"data-webhook="{id}""#)), "{id}");
    }
    assert!(html.contains(">first<") && html.contains(">second<"));
    assert!(!html.contains(&theirs), "another tenant's delivery");
    let (_, lookup) = get(&app, &cookie, "/console/events?id=evt-else").await;
    assert_eq!(lookup.matches("data-webhook=").count(), 1, "{lookup}");

    let other = sign_in(&app, &other_key).await;
    let (_, html) = get(&app, &other, "/console/events/evt-shared").await;
    assert_eq!(html.matches("data-webhook=").count(), 1);
    assert!(html.contains(&theirs) && !html.contains(&a) && !html.contains(&b));
    let (_, none) = get(&app, &other, "/console/events/evt-else").await;
    assert!(none.contains("no-event-deliveries"), "{none}");
    let (status, bad) = get(&app, &cookie, "/console/events?id=not%20an%20id").await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{bad}");
}

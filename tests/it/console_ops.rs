//! The console's operator checks and its one destructive action, over plain HTTP: delivery
//! queue depths, the ledger verification and the revocation of a tenant's console links on the
//! operator pages, and deleting a webhook (confirmation, CSRF, read-only links, a stale page).

use std::time::Duration;

use hookledger_api::Roles;
use reqwest::StatusCode;
use reqwest::header::{CONTENT_TYPE, LOCATION};
use serde_json::json;

use crate::api_support::{tenant_with_catalog, webhook};
use crate::console_support::{
    client, csrf_of, encode, get, mint_link, minted_link, post, session_cookie, sign_in,
};
use crate::harness::app::OPERATOR_TOKEN;
use crate::harness::{TestApp, eventually};

async fn operator_session(app: &TestApp) -> String {
    let response = client()
        .post(app.url("/console/operator/sign-in"))
        .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(encode(&[("token", OPERATOR_TOKEN)]))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    session_cookie(&response)
}

fn cell<'a>(html: &'a str, row: &str, class: &str) -> &'a str {
    let at = html
        .find(&format!(r#"data-consumer="{row}""#))
        .unwrap_or_else(|| panic!("{row}: {html}"));
    let rest = &html[at..];
    let rest = &rest[..rest.find("</tr>").unwrap()];
    let start = rest
        .find(&format!(r#"class="{class}">"#))
        .map(|i| i + class.len() + 9);
    start.map_or("", |s| &rest[s..s + rest[s..].find('<').unwrap()])
}

#[tokio::test]
async fn the_operator_page_shows_jobs_waiting_on_dispatch_and_verifies_the_ledger_on_demand() {
    // A router and no dispatcher: the job the router makes stays on DISPATCH.
    let roles = Roles {
        dispatcher: false,
        ..Roles::ALL
    };
    let app = TestApp::spawn_with(roles, |_| {}).await;
    let key = tenant_with_catalog(&app, "acme").await;
    webhook(&app, &key, "queued").await;
    let operator = operator_session(&app).await;
    let (status, before) = get(&app, &operator, "/console/operator").await;
    assert_eq!(status, StatusCode::OK);
    assert!(before.contains("DISPATCH stream: 0 messages"), "{before}");
    assert!(
        cell(&before, "dispatcher (DISPATCH)", "pending").is_empty()
            && before.contains("not created yet"),
        "no dispatcher has started: {before}"
    );

    crate::console_support::publish(&app, &key, "lead-q").await;
    let after = eventually(Duration::from_secs(15), || async {
        let (_, html) = get(&app, &operator, "/console/operator").await;
        if html.contains("DISPATCH stream: 1 messages") {
            Ok(html)
        } else {
            Err(html)
        }
    })
    .await;
    assert_eq!(
        cell(&after, "router (EVENTS)", "pending"),
        "0",
        "the router took the event"
    );

    let csrf = csrf_of(&after);
    let refused = post(&app, &operator, "/console/operator/verify", &[]).await;
    assert_eq!(refused.status(), StatusCode::FORBIDDEN);
    let verified = post(
        &app,
        &operator,
        "/console/operator/verify",
        &[("csrf", &csrf)],
    )
    .await;
    assert_eq!(verified.status(), StatusCode::OK);
    let html = verified.text().await.unwrap();
    assert!(
        html.contains(r#"id="verify-result""#) && html.contains("Intact"),
        "{html}"
    );
    let messages: u64 = html
        .split(r#"id="verify-messages">"#)
        .nth(1)
        .and_then(|r| r.split('<').next())
        .and_then(|n| n.parse().ok())
        .expect("a message count");
    assert!(
        messages >= 3,
        "tenant, event type and webhook commands: {messages}"
    );

    let tenant = sign_in(&app, &key).await;
    let (_, page) = get(&app, &tenant, "/console/webhooks").await;
    let forged = post(
        &app,
        &tenant,
        "/console/operator/verify",
        &[("csrf", &csrf_of(&page))],
    )
    .await;
    assert_ne!(
        forged.status(),
        StatusCode::OK,
        "a tenant session cannot run it"
    );
}

#[tokio::test]
async fn deleting_a_webhook_needs_its_name_a_csrf_token_a_read_write_session_and_a_fresh_page() {
    let app = TestApp::spawn().await;
    let key = tenant_with_catalog(&app, "acme").await;
    let id = webhook(&app, &key, "doomed").await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let api_status = || {
        let request = app
            .http
            .get(app.url(&format!("/v1/webhooks/{id}")))
            .header("x-api-key", &key);
        async move { request.send().await.unwrap().status() }
    };
    let cookie = sign_in(&app, &key).await;
    let (_, show) = get(&app, &cookie, &format!("/console/webhooks/{id}")).await;
    assert!(show.contains(r#"id="delete-link""#));
    let path = format!("/console/webhooks/{id}/delete");
    let (status, confirm) = get(&app, &cookie, &path).await;
    assert_eq!(status, StatusCode::OK);
    let csrf = csrf_of(&confirm);
    let version = confirm
        .split(r#"name="version" value=""#)
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap()
        .to_owned();

    assert_eq!(
        post(&app, &cookie, &path, &[("confirm", "doomed")])
            .await
            .status(),
        StatusCode::FORBIDDEN
    );
    let wrong = post(
        &app,
        &cookie,
        &path,
        &[("csrf", &csrf), ("version", &version), ("confirm", "doome")],
    )
    .await;
    assert_eq!(wrong.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let refused = wrong.text().await.unwrap();
    assert!(refused.contains("must be the webhook's name"), "{refused}");
    assert_eq!(api_status().await, StatusCode::OK);

    let link = mint_link(&app, "acme", true).await;
    let ro = client().get(app.url(&link)).send().await.unwrap();
    let ro_cookie = session_cookie(&ro);
    let (_, ro_page) = get(&app, &ro_cookie, &path).await;
    assert!(
        !get(&app, &ro_cookie, &format!("/console/webhooks/{id}"))
            .await
            .1
            .contains("delete-link")
    );
    let ro_post = post(
        &app,
        &ro_cookie,
        &path,
        &[
            ("csrf", &csrf_of(&ro_page)),
            ("version", &version),
            ("confirm", "doomed"),
        ],
    )
    .await;
    assert_eq!(ro_post.status(), StatusCode::FORBIDDEN);
    assert_eq!(api_status().await, StatusCode::OK);

    let renamed = app
        .http
        .patch(app.url(&format!("/v1/webhooks/{id}")))
        .header("x-api-key", &key)
        .json(&json!({"description": "changed meanwhile"}))
        .send()
        .await
        .unwrap();
    assert_eq!(renamed.status(), StatusCode::OK);
    let stale = post(
        &app,
        &cookie,
        &path,
        &[
            ("csrf", &csrf),
            ("version", &version),
            ("confirm", "doomed"),
        ],
    )
    .await;
    assert_eq!(stale.status(), StatusCode::PRECONDITION_FAILED);
    assert_eq!(api_status().await, StatusCode::OK);

    let (_, fresh) = get(&app, &cookie, &path).await;
    let version = fresh
        .split(r#"name="version" value=""#)
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap()
        .to_owned();
    let done = post(
        &app,
        &cookie,
        &path,
        &[
            ("csrf", &csrf),
            ("version", &version),
            ("confirm", "doomed"),
        ],
    )
    .await;
    assert_eq!(done.status(), StatusCode::SEE_OTHER);
    assert_eq!(done.headers()[LOCATION], "/console/webhooks");
    assert_eq!(api_status().await, StatusCode::NOT_FOUND);
    let (_, list) = get(&app, &cookie, "/console/webhooks").await;
    assert!(!list.contains(&id));
    let (status, _) = get(&app, &cookie, &format!("/console/webhooks/{id}")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn the_operator_page_revokes_a_tenants_console_links_and_ends_their_sessions() {
    let app = TestApp::spawn().await;
    tenant_with_catalog(&app, "acme").await;
    let opened = client()
        .get(app.url(&mint_link(&app, "acme", false).await))
        .send()
        .await
        .unwrap();
    let link_session = session_cookie(&opened);
    assert_eq!(
        get(&app, &link_session, "/console/webhooks").await.0,
        StatusCode::OK
    );
    let operator = operator_session(&app).await;
    let (status, page) = get(&app, &operator, "/console/operator/tenants/acme").await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        page.contains("No console link of this tenant was ever revoked"),
        "{page}"
    );

    // One link from the list: its row, its button.
    let single = minted_link(&app, "acme", true).await;
    let single_id = single["id"].as_str().unwrap();
    let single_session = session_cookie(
        &client()
            .get(app.url(single["path"].as_str().unwrap()))
            .send()
            .await
            .unwrap(),
    );
    let (_, page) = get(&app, &operator, "/console/operator/tenants/acme").await;
    let row = format!(r#"data-link="{single_id}""#);
    assert!(page.contains(&row), "{page}");
    let one = format!("/console/operator/tenants/acme/console-links/{single_id}/revoke");
    assert!(page.contains(&one), "a revoke button for the link: {page}");
    let done = post(&app, &operator, &one, &[("csrf", &csrf_of(&page))]).await;
    assert_eq!(done.status(), StatusCode::SEE_OTHER);
    let (status, _) = get(&app, &single_session, "/console/webhooks").await;
    assert_eq!(
        status,
        StatusCode::SEE_OTHER,
        "the revoked link's session is over"
    );
    assert_eq!(
        get(&app, &link_session, "/console/webhooks").await.0,
        StatusCode::OK
    );
    let (_, page) = get(&app, &operator, "/console/operator/tenants/acme").await;
    assert!(page.contains(&row), "a revoked link stays listed: {page}");
    assert!(!page.contains(&one), "no button for a revoked link: {page}");

    let action = "/console/operator/tenants/acme/console-links/revoke";
    let refused = post(&app, &operator, action, &[]).await;
    assert_eq!(refused.status(), StatusCode::FORBIDDEN, "no CSRF token");
    assert_eq!(
        get(&app, &link_session, "/console/webhooks").await.0,
        StatusCode::OK
    );
    let done = post(&app, &operator, action, &[("csrf", &csrf_of(&page))]).await;
    assert_eq!(done.status(), StatusCode::SEE_OTHER);
    assert_eq!(done.headers()[LOCATION], "/console/operator/tenants/acme");
    let (_, page) = get(&app, &operator, "/console/operator/tenants/acme").await;
    assert!(page.contains("Links minted until"), "{page}");
    let (status, _) = get(&app, &link_session, "/console/webhooks").await;
    assert_eq!(status, StatusCode::SEE_OTHER, "the link's session is over");
    let unknown = post(
        &app,
        &operator,
        "/console/operator/tenants/nobody/console-links/revoke",
        &[("csrf", &csrf_of(&page))],
    )
    .await;
    assert_eq!(unknown.status(), StatusCode::NOT_FOUND);
}

//! The console over plain HTTP: security headers, the session cookie, CSRF, tenant isolation
//! and form errors that are the API's own problem documents. Console links are in
//! `console_links`, the browser tests in `console_browser`.

use reqwest::StatusCode;
use reqwest::header::{
    CONTENT_SECURITY_POLICY, CONTENT_TYPE, COOKIE, LOCATION, ORIGIN, SET_COOKIE,
};
use serde_json::{Value, json};

use crate::api_support::{tenant_with_catalog, webhook};
use crate::console_support::{client, csrf_of, get, post, session_cookie, sign_in, status_of};
use crate::harness::TestApp;

const CSP: &str = hookledger_api::http::console::CONTENT_SECURITY_POLICY;

#[tokio::test]
async fn console_answers_carry_a_strict_csp_and_the_session_cookie_is_httponly_strict_and_secure_behind_tls()
 {
    let app = TestApp::spawn().await;
    let key = tenant_with_catalog(&app, "acme").await;
    assert!(!CSP.contains("unsafe-inline") && CSP.contains("script-src 'self'"));

    for path in [
        "/console/sign-in",
        "/console/assets/console.js",
        "/console/assets/console.css",
        "/console/nope",
    ] {
        let response = client().get(app.url(path)).send().await.unwrap();
        assert_eq!(response.headers()[CONTENT_SECURITY_POLICY], CSP, "{path}");
        assert_eq!(
            response.headers()["x-content-type-options"],
            "nosniff",
            "{path}"
        );
    }
    let js = client()
        .get(app.url("/console/assets/console.js"))
        .send()
        .await
        .unwrap();
    assert!(
        js.headers()[CONTENT_TYPE]
            .to_str()
            .unwrap()
            .starts_with("text/javascript")
    );
    let unsigned = client()
        .get(app.url("/console/webhooks"))
        .send()
        .await
        .unwrap();
    assert_eq!(unsigned.status(), StatusCode::SEE_OTHER);
    assert_eq!(unsigned.headers()[LOCATION], "/console/sign-in");

    let plain = client()
        .post(app.url("/console/sign-in"))
        .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(crate::console_support::encode(&[("key", &key)]))
        .send()
        .await
        .unwrap();
    let cookie = plain.headers()[SET_COOKIE].to_str().unwrap().to_owned();
    for flag in ["HttpOnly", "SameSite=Strict", "Path=/console"] {
        assert!(cookie.contains(flag), "{cookie}");
    }
    assert!(!cookie.contains("Secure"), "plain HTTP: {cookie}");
    assert!(
        !cookie.contains(&key),
        "the cookie holds no credential: {cookie}"
    );
    let tls = client()
        .post(app.url("/console/sign-in"))
        .header("x-forwarded-proto", "https")
        .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(crate::console_support::encode(&[("key", &key)]))
        .send()
        .await
        .unwrap();
    assert!(
        tls.headers()[SET_COOKIE]
            .to_str()
            .unwrap()
            .contains("; Secure")
    );

    let (status, page) = get(&app, &session_cookie(&plain), "/console/webhooks").await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains(r#"id="signed-in-tenant">acme<"#), "{page}");
    assert!(
        !page.contains("<script>") && !page.contains(" style="),
        "no inline script or style"
    );

    let wrong = client()
        .post(app.url("/console/sign-in"))
        .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(crate::console_support::encode(&[(
            "key",
            &format!("hk_{}", "a".repeat(43)),
        )]))
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);
    assert!(wrong.headers().get(SET_COOKIE).is_none());
}

#[tokio::test]
async fn a_console_form_without_its_sessions_csrf_token_or_from_another_origin_changes_nothing() {
    let app = TestApp::spawn().await;
    let key = tenant_with_catalog(&app, "acme").await;
    let id = webhook(&app, &key, "crm").await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let cookie = sign_in(&app, &key).await;
    let other_session = sign_in(&app, &key).await;
    let (_, page) = get(&app, &cookie, &format!("/console/webhooks/{id}")).await;
    let csrf = csrf_of(&page);
    let (_, other_page) = get(&app, &other_session, "/console/webhooks").await;
    let foreign_csrf = csrf_of(&other_page);
    assert_ne!(csrf, foreign_csrf, "tokens are per session");

    let pause = format!("/console/webhooks/{id}/pause");
    assert_eq!(
        post(&app, &cookie, &pause, &[]).await.status(),
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        post(&app, &cookie, &pause, &[("csrf", &foreign_csrf)])
            .await
            .status(),
        StatusCode::FORBIDDEN
    );
    let cross = client()
        .post(app.url(&pause))
        .header(COOKIE, &cookie)
        .header(ORIGIN, "http://evil.example")
        .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(format!("csrf={csrf}"))
        .send()
        .await
        .unwrap();
    assert_eq!(cross.status(), StatusCode::FORBIDDEN);
    assert_eq!(status_of(&app, &key, &id).await, "active");

    let done = post(&app, &cookie, &pause, &[("csrf", &csrf)]).await;
    assert_eq!(done.status(), StatusCode::SEE_OTHER);
    assert_eq!(status_of(&app, &key, &id).await, "paused");
}

#[tokio::test]
async fn another_tenants_console_session_sees_and_changes_none_of_this_tenants_webhooks() {
    let app = TestApp::spawn().await;
    let acme = tenant_with_catalog(&app, "acme").await;
    let globex = tenant_with_catalog(&app, "globex").await;
    let id = webhook(&app, &acme, "acme-secret-crm").await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let cookie = sign_in(&app, &globex).await;

    let (_, list) = get(&app, &cookie, "/console/webhooks").await;
    assert!(!list.contains(&id) && !list.contains("acme-secret-crm"));
    for path in [
        "",
        "/edit",
        "/deliveries",
        "/history",
        "/history?asOf=2999-01-01T00:00:00Z",
    ] {
        let (status, page) = get(&app, &cookie, &format!("/console/webhooks/{id}{path}")).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{path}");
        assert!(!page.contains("acme-secret-crm"), "{path}: {page}");
    }
    let csrf = csrf_of(&list);
    for action in ["pause", "rotate", "test"] {
        let response = post(
            &app,
            &cookie,
            &format!("/console/webhooks/{id}/{action}"),
            &[("csrf", &csrf)],
        )
        .await;
        assert_eq!(response.status(), StatusCode::NOT_FOUND, "{action}");
    }
    assert_eq!(status_of(&app, &acme, &id).await, "active");
}

#[tokio::test]
async fn a_refused_console_form_shows_the_apis_own_field_errors_and_keeps_what_was_typed() {
    let app = TestApp::spawn().await;
    let key = tenant_with_catalog(&app, "acme").await;
    let cookie = sign_in(&app, &key).await;
    let (_, form) = get(&app, &cookie, "/console/webhooks/new").await;
    assert!(
        form.contains(r#"value="lead.created""#),
        "the catalog is offered: {form}"
    );
    let input = [
        ("name", "crm"),
        ("url", "ftp://example.com/x"),
        ("events", "lead.created"),
        ("retryAttempts", "99"),
    ];
    let refused = post(
        &app,
        &cookie,
        "/console/webhooks",
        &[&[("csrf", csrf_of(&form).as_str())][..], &input[..]].concat(),
    )
    .await;
    assert_eq!(refused.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let page = refused.text().await.unwrap();
    let api: Value = app
        .http
        .post(app.url("/v1/webhooks"))
        .header("x-api-key", &key)
        .json(&json!({"name": "crm", "url": "ftp://example.com/x", "events": ["lead.created"], "retryAttempts": 99}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let errors = api["errors"].as_array().unwrap();
    assert!(errors.len() >= 2, "{api}");
    let unescape = |s: &str| {
        s.replace("&quot;", "\"")
            .replace("&amp;", "&")
            .replace("&lt;", "<")
            .replace("&gt;", ">")
            .replace("&#39;", "'")
    };
    let page = unescape(&page);
    for e in errors {
        let (field, message) = (e["field"].as_str().unwrap(), e["message"].as_str().unwrap());
        assert!(
            page.contains(&format!(r#"data-field="{field}">{message}<"#)),
            "{field}: {message} not shown in {page}"
        );
    }
    assert!(
        page.contains(r#"value="ftp://example.com/x""#),
        "what was typed stays"
    );
    let list: Value = app
        .http
        .get(app.url("/v1/webhooks"))
        .header("x-api-key", &key)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(list["total"], 0);
}

#[tokio::test]
async fn an_edit_made_on_a_stale_page_is_refused_with_the_apis_412_and_changes_nothing() {
    let app = TestApp::spawn().await;
    let key = tenant_with_catalog(&app, "acme").await;
    let id = webhook(&app, &key, "crm").await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let cookie = sign_in(&app, &key).await;
    let (_, form) = get(&app, &cookie, &format!("/console/webhooks/{id}/edit")).await;
    let at = form
        .find(r#"name="version" value=""#)
        .expect("the form carries the version");
    let version = &form[at + r#"name="version" value=""#.len()..];
    let version = &version[..version.find('"').unwrap()];

    // Someone else changes the webhook after the form was loaded.
    let changed = app
        .http
        .patch(app.url(&format!("/v1/webhooks/{id}")))
        .header("x-api-key", &key)
        .json(&json!({"name": "changed elsewhere"}))
        .send()
        .await
        .unwrap();
    assert_eq!(changed.status(), StatusCode::OK);

    let fields = [
        ("csrf", csrf_of(&form)),
        ("version", version.to_owned()),
        ("name", "from the stale page".to_owned()),
        ("url", "http://127.0.0.1:9/hooks".to_owned()),
        ("events", "lead.*".to_owned()),
    ];
    let fields: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let refused = post(
        &app,
        &cookie,
        &format!("/console/webhooks/{id}/edit"),
        &fields,
    )
    .await;
    assert_eq!(refused.status(), StatusCode::PRECONDITION_FAILED);
    assert!(
        refused
            .text()
            .await
            .unwrap()
            .contains(&format!("If-Match names version {version}"))
    );
    let now: Value = app
        .http
        .get(app.url(&format!("/v1/webhooks/{id}")))
        .header("x-api-key", &key)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(now["name"], "changed elsewhere");
}

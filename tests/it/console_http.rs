//! The console over plain HTTP: security headers, the session cookie, CSRF, tenant
//! isolation, console links (read-only, read-write, expired, forged) and form errors that are
//! the API's own problem documents. The browser tests are in `console_browser`.

use reqwest::StatusCode;
use reqwest::header::{
    CONTENT_SECURITY_POLICY, CONTENT_TYPE, COOKIE, LOCATION, ORIGIN, SET_COOKIE,
};
use serde_json::{Value, json};

use crate::api_support::{tenant_with_catalog, webhook};
use crate::console_support::{
    client, csrf_of, get, mint_link, minted_link, post, session_cookie, sign_in,
};
use crate::harness::TestApp;
use crate::harness::app::{OPERATOR_TOKEN, test_config};

const CSP: &str = hookledger_api::http::console::CONTENT_SECURITY_POLICY;

async fn status_of(app: &TestApp, key: &str, id: &str) -> Value {
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
async fn console_links_sign_in_read_only_or_read_write_and_say_so_when_expired_or_forged() {
    let app = TestApp::spawn().await;
    let key = tenant_with_catalog(&app, "acme").await;
    let id = webhook(&app, &key, "crm").await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let route = app.url("/v1/admin/tenants/acme/console-links");
    assert_eq!(
        app.http.post(&route).send().await.unwrap().status(),
        StatusCode::UNAUTHORIZED
    );
    let unknown = app
        .http
        .post(app.url("/v1/admin/tenants/nobody/console-links"))
        .bearer_auth(OPERATOR_TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(unknown.status(), StatusCode::NOT_FOUND);
    let bad_ttl = app
        .http
        .post(&route)
        .bearer_auth(OPERATOR_TOKEN)
        .json(&json!({"ttl": "9d"}))
        .send()
        .await
        .unwrap();
    assert_eq!(bad_ttl.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let problem: Value = bad_ttl.json().await.unwrap();
    assert_eq!(problem["errors"][0]["field"], "ttl");

    let base = app.url("");
    let open = |path: String| {
        let url = format!("{base}{path}");
        async move { client().get(url).send().await.unwrap() }
    };
    let read_only = open(mint_link(&app, "acme", true).await).await;
    assert_eq!(read_only.status(), StatusCode::OK);
    let ro_cookie = session_cookie(&read_only);
    let (status, page) = get(&app, &ro_cookie, &format!("/console/webhooks/{id}")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains("read-only-badge"));
    let refused = post(
        &app,
        &ro_cookie,
        &format!("/console/webhooks/{id}/pause"),
        &[("csrf", &csrf_of(&page))],
    )
    .await;
    assert_eq!(refused.status(), StatusCode::FORBIDDEN);
    assert!(refused.text().await.unwrap().contains("read-only"));
    assert_eq!(status_of(&app, &key, &id).await, "active");

    let writer = session_cookie(&open(mint_link(&app, "acme", false).await).await);
    let (_, page) = get(&app, &writer, &format!("/console/webhooks/{id}")).await;
    let done = post(
        &app,
        &writer,
        &format!("/console/webhooks/{id}/pause"),
        &[("csrf", &csrf_of(&page))],
    )
    .await;
    assert_eq!(done.status(), StatusCode::SEE_OTHER);
    let history: Value = app
        .http
        .get(app.url(&format!("/v1/webhooks/{id}/history")))
        .header("x-api-key", &key)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let last = history["data"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(last["type"], "webhook.paused");
    assert!(
        last["actor"].as_str().unwrap().starts_with("console-link:"),
        "{last}"
    );

    let config = test_config(&app.env);
    let expired = hookledger_api::http::console::links::mint(&config, "acme", -5, false);
    let answer = open(expired.path.clone()).await;
    assert_eq!(answer.status(), StatusCode::GONE);
    assert!(answer.headers().get(SET_COOKIE).is_none());
    assert!(
        answer
            .text()
            .await
            .unwrap()
            .contains("This console link expired at")
    );
    let forged = format!("{}x", expired.path);
    assert_eq!(open(forged).await.status(), StatusCode::UNAUTHORIZED);
}

/// The tenant's audit log of event type `kind`: the text, and its lines.
async fn audit_log(app: &TestApp, key: &str, kind: &str) -> (String, Vec<Value>) {
    let text = app
        .http
        .get(app.url(&format!("/v1/audit/log?type={kind}")))
        .header("x-api-key", key)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let lines = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    (text, lines)
}

/// The session a revoked link opened is over (back to sign-in), and the link says when it was
/// revoked (410, no cookie).
async fn assert_revoked(app: &TestApp, session: &str, link_path: &str) {
    let (status, _) = get(app, session, "/console/webhooks").await;
    assert_eq!(
        status,
        StatusCode::SEE_OTHER,
        "the revoked link's session is over"
    );
    let again = client().get(app.url(link_path)).send().await.unwrap();
    assert_eq!(again.status(), StatusCode::GONE);
    assert!(again.headers().get(SET_COOKIE).is_none());
    let page = again.text().await.unwrap();
    assert!(page.contains("This console link was revoked at"), "{page}");
}

#[tokio::test]
async fn revoking_a_tenants_console_links_ends_their_sessions_and_refuses_them_but_not_later_ones()
{
    let app = TestApp::spawn().await;
    let key = tenant_with_catalog(&app, "acme").await;
    tenant_with_catalog(&app, "globex").await;
    let base = app.url("");
    let open = |path: String| {
        let url = format!("{base}{path}");
        async move { client().get(url).send().await.unwrap() }
    };
    let old_link = mint_link(&app, "acme", false).await;
    let opened = open(old_link.clone()).await;
    assert_eq!(opened.status(), StatusCode::OK);
    let old_session = session_cookie(&opened);
    let other_tenant = session_cookie(&open(mint_link(&app, "globex", false).await).await);
    let key_session = sign_in(&app, &key).await;
    assert_eq!(
        get(&app, &old_session, "/console/webhooks").await.0,
        StatusCode::OK
    );

    let route = |tenant: &str| app.url(&format!("/v1/admin/tenants/{tenant}/console-links/revoke"));
    assert_eq!(
        app.http.post(route("acme")).send().await.unwrap().status(),
        StatusCode::UNAUTHORIZED
    );
    let revoke = |tenant: &str| {
        let request = app.http.post(route(tenant)).bearer_auth(OPERATOR_TOKEN);
        async move { request.send().await.unwrap() }
    };
    assert_eq!(revoke("nobody").await.status(), StatusCode::NOT_FOUND);
    let before = chrono::Utc::now();
    let revoked = revoke("acme").await;
    assert_eq!(revoked.status(), StatusCode::OK);
    let revoked: Value = revoked.json().await.unwrap();
    let at: chrono::DateTime<chrono::Utc> =
        revoked["revokedBefore"].as_str().unwrap().parse().unwrap();
    assert!(at >= before - chrono::Duration::seconds(1), "{revoked}");

    let shown: Value = app
        .http
        .get(app.url("/v1/admin/tenants/acme"))
        .bearer_auth(OPERATOR_TOKEN)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        shown["consoleLinksRevokedBefore"], revoked["revokedBefore"],
        "{shown}"
    );

    // At once (the route waits for the view): the session the old link opened is over, and
    // the link itself says it was revoked.
    assert_revoked(&app, &old_session, &old_link).await;
    // Neither another tenant's link session nor a key sign-in is touched, and a link minted
    // after the revocation works.
    assert_eq!(
        get(&app, &other_tenant, "/console/webhooks").await.0,
        StatusCode::OK
    );
    assert_eq!(
        get(&app, &key_session, "/console/webhooks").await.0,
        StatusCode::OK
    );
    let fresh = session_cookie(&open(mint_link(&app, "acme", true).await).await);
    assert_eq!(
        get(&app, &fresh, "/console/webhooks").await.0,
        StatusCode::OK
    );

    // The revocation is a ledger event, with its actor, in the tenant's audit log.
    let (text, lines) = audit_log(&app, &key, "tenant.console_links_revoked").await;
    assert_eq!(lines.len(), 1, "{text}");
    assert_eq!(lines[0]["actor"], "operator", "{text}");
    assert_eq!(
        lines[0]["data"]["before"], revoked["revokedBefore"],
        "{text}"
    );
}

#[tokio::test]
async fn revoking_one_console_link_ends_its_sessions_and_leaves_the_tenants_other_links_working() {
    let app = TestApp::spawn().await;
    let key = tenant_with_catalog(&app, "acme").await;
    tenant_with_catalog(&app, "globex").await;
    let base = app.url("");
    let open = |path: String| {
        let url = format!("{base}{path}");
        async move { client().get(url).send().await.unwrap() }
    };
    let (first, second) = (
        minted_link(&app, "acme", false).await,
        minted_link(&app, "acme", true).await,
    );
    let id = first["id"].as_str().unwrap().to_owned();
    let path = |link: &Value| link["path"].as_str().unwrap().to_owned();
    let first_session = session_cookie(&open(path(&first)).await);
    let second_session = session_cookie(&open(path(&second)).await);

    let route = |link: &str| app.url(&format!("/v1/admin/tenants/acme/console-links/{link}"));
    let delete = |url: String| {
        let http = app.http.clone();
        async move {
            http.delete(url)
                .bearer_auth(OPERATOR_TOKEN)
                .send()
                .await
                .unwrap()
        }
    };
    assert_eq!(
        app.http.delete(route(&id)).send().await.unwrap().status(),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(delete(route("nope")).await.status(), StatusCode::NOT_FOUND);
    let other_tenant = app.url(&format!("/v1/admin/tenants/globex/console-links/{id}"));
    assert_eq!(delete(other_tenant).await.status(), StatusCode::NOT_FOUND);
    assert_eq!(delete(route(&id)).await.status(), StatusCode::NO_CONTENT);
    assert_eq!(
        delete(route(&id)).await.status(),
        StatusCode::NO_CONTENT,
        "revoking it again changes nothing"
    );

    assert_revoked(&app, &first_session, &path(&first)).await;
    assert_eq!(
        get(&app, &second_session, "/console/webhooks").await.0,
        StatusCode::OK
    );
    assert_eq!(open(path(&second)).await.status(), StatusCode::OK);

    // The ledger says who minted the link whose id the session's actor names, and who
    // revoked it.
    let (text, mut lines) = audit_log(&app, &key, "tenant.*").await;
    lines.retain(|l: &Value| {
        l["type"]
            .as_str()
            .unwrap()
            .starts_with("tenant.console_link_")
    });
    let kinds: Vec<(&str, &str, &str)> = lines
        .iter()
        .map(|l| {
            let kind = l["type"].as_str().unwrap();
            (
                kind,
                l["data"]["linkId"].as_str().unwrap(),
                l["actor"].as_str().unwrap(),
            )
        })
        .collect();
    let second_id = second["id"].as_str().unwrap();
    assert_eq!(
        kinds,
        [
            ("tenant.console_link_minted", id.as_str(), "operator"),
            ("tenant.console_link_minted", second_id, "operator"),
            ("tenant.console_link_revoked", id.as_str(), "operator"),
        ],
        "{text}"
    );
    assert_eq!(lines[1]["data"]["readOnly"], true);
    assert_eq!(lines[0]["data"]["expiresAt"], first["expiresAt"]);
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

//! Console links over plain HTTP: read-only and read-write sessions, expired and forged links,
//! and revocation, one link or every link of a tenant, with what the ledger records of it.

use reqwest::StatusCode;
use reqwest::header::SET_COOKIE;
use serde_json::{Value, json};

use crate::api_support::{tenant_with_catalog, webhook};
use crate::console_support::{
    client, csrf_of, get, mint_link, minted_link, post, session_cookie, sign_in, status_of,
};
use crate::harness::TestApp;
use crate::harness::app::{OPERATOR_TOKEN, test_config};

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

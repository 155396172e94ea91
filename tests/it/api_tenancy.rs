//! Tenants, keys and isolation: admin routes, both key headers, revocation at once, and
//! another tenant's ids answering 404 with no data on every tenant route.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::api_support::{delivery, problem, publish, tenant, tenant_with_catalog, webhook};
use crate::harness::TestApp;
use crate::harness::app::OPERATOR_TOKEN;

#[tokio::test]
async fn the_operator_creates_lists_and_reads_tenants_and_issues_keys() {
    let app = TestApp::spawn().await;
    let base = app.url("");
    let (key, _) = tenant(&app.http, &base, "acme").await;
    assert!(key.starts_with("hk_") && key.len() == 46, "{key}");
    let admin = |method: Method, path: &str| {
        app.http
            .request(method, app.url(path))
            .bearer_auth(OPERATOR_TOKEN)
    };

    let again = admin(Method::POST, "/v1/admin/tenants")
        .json(&json!({"id": "acme"}))
        .send()
        .await
        .unwrap();
    problem(again, StatusCode::CONFLICT).await;
    let bad = admin(Method::POST, "/v1/admin/tenants")
        .json(&json!({"id": "Not A Slug"}))
        .send()
        .await
        .unwrap();
    assert_eq!(
        crate::api_support::fields(&problem(bad, StatusCode::UNPROCESSABLE_ENTITY).await),
        ["id"]
    );
    let unknown_field = admin(Method::POST, "/v1/admin/tenants")
        .json(&json!({"id": "x", "plan": "gold"}))
        .send()
        .await
        .unwrap();
    problem(unknown_field, StatusCode::BAD_REQUEST).await;

    let list: Value = admin(Method::GET, "/v1/admin/tenants")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        (list["total"].as_i64(), list["data"][0]["id"].as_str()),
        (Some(1), Some("acme"))
    );
    let one: Value = admin(Method::GET, "/v1/admin/tenants/acme")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(one["id"], "acme");
    problem(
        admin(Method::GET, "/v1/admin/tenants/nobody")
            .send()
            .await
            .unwrap(),
        StatusCode::NOT_FOUND,
    )
    .await;

    let issued = admin(Method::POST, "/v1/admin/tenants/acme/keys")
        .json(&json!({"name": "ci"}))
        .send()
        .await
        .unwrap();
    assert_eq!(issued.status(), StatusCode::CREATED);
    let issued: Value = issued.json().await.unwrap();
    assert!(issued["id"].as_str().unwrap().starts_with("key_"));
    let bare = admin(Method::POST, "/v1/admin/tenants/acme/keys")
        .send()
        .await
        .unwrap();
    assert_eq!(bare.status(), StatusCode::CREATED, "the body is optional");
    problem(
        admin(Method::POST, "/v1/admin/tenants/nobody/keys")
            .send()
            .await
            .unwrap(),
        StatusCode::NOT_FOUND,
    )
    .await;
    let unknown_key = admin(
        Method::DELETE,
        "/v1/admin/tenants/acme/keys/key_0190f1d2c3b4a5968778695a4b3c2d20",
    )
    .send()
    .await
    .unwrap();
    problem(unknown_key, StatusCode::NOT_FOUND).await;
}

#[tokio::test]
async fn admin_routes_take_only_the_operator_token() {
    let app = TestApp::spawn().await;
    let (key, _) = tenant(&app.http, &app.url(""), "acme").await;
    let url = app.url("/v1/admin/tenants");
    problem(
        app.http.get(&url).send().await.unwrap(),
        StatusCode::UNAUTHORIZED,
    )
    .await;
    problem(
        app.http.get(&url).bearer_auth(&key).send().await.unwrap(),
        StatusCode::UNAUTHORIZED,
    )
    .await;
    problem(
        app.http
            .get(&url)
            .header("x-api-key", OPERATOR_TOKEN)
            .send()
            .await
            .unwrap(),
        StatusCode::UNAUTHORIZED,
    )
    .await;
    problem(
        app.http
            .get(&url)
            .bearer_auth("wrong-token-0123456789")
            .send()
            .await
            .unwrap(),
        StatusCode::UNAUTHORIZED,
    )
    .await;
}

#[tokio::test]
async fn a_key_works_as_x_api_key_and_as_bearer_and_a_wrong_one_is_401() {
    let app = TestApp::spawn().await;
    let (key, _) = tenant(&app.http, &app.url(""), "acme").await;
    let url = app.url("/v1/webhooks");
    assert_eq!(
        app.http
            .get(&url)
            .header("x-api-key", &key)
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::OK
    );
    assert_eq!(
        app.http
            .get(&url)
            .bearer_auth(&key)
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::OK
    );
    problem(
        app.http.get(&url).send().await.unwrap(),
        StatusCode::UNAUTHORIZED,
    )
    .await;
    let wrong = format!("hk_{}", "A".repeat(43));
    problem(
        app.http
            .get(&url)
            .header("x-api-key", wrong)
            .send()
            .await
            .unwrap(),
        StatusCode::UNAUTHORIZED,
    )
    .await;
}

#[tokio::test]
async fn a_revoked_key_is_refused_at_once_even_right_after_it_was_used() {
    let app = TestApp::spawn().await;
    let (_, _) = tenant(&app.http, &app.url(""), "acme").await;
    let issued: Value = app
        .http
        .post(app.url("/v1/admin/tenants/acme/keys"))
        .bearer_auth(OPERATOR_TOKEN)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let (key, key_id) = (
        issued["key"].as_str().unwrap(),
        issued["id"].as_str().unwrap(),
    );
    for _ in 0..3 {
        let ok = app
            .http
            .get(app.url("/v1/webhooks"))
            .header("x-api-key", key)
            .send()
            .await
            .unwrap();
        assert_eq!(
            ok.status(),
            StatusCode::OK,
            "the key is checked, then cached"
        );
    }

    let revoked = app
        .http
        .delete(app.url(&format!("/v1/admin/tenants/acme/keys/{key_id}")))
        .bearer_auth(OPERATOR_TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(revoked.status(), StatusCode::NO_CONTENT);

    let refused = app
        .http
        .get(app.url("/v1/webhooks"))
        .header("x-api-key", key)
        .send()
        .await
        .unwrap();
    problem(refused, StatusCode::UNAUTHORIZED).await;
}

#[tokio::test]
async fn every_tenant_route_with_another_tenants_ids_is_a_404_without_data() {
    let app = TestApp::spawn().await;
    let acme = tenant_with_catalog(&app, "acme").await;
    let globex = tenant_with_catalog(&app, "globex").await;
    let hook = webhook(&app, &acme, "acme's").await;
    let id = hook["id"].as_str().unwrap();
    let facts = delivery("acme", id, "lead.created", false);
    let delivery_id = facts[0].delivery_id().to_string();
    publish(&app.env, &facts).await;
    crate::harness::eventually(std::time::Duration::from_secs(10), || async {
        let r = app
            .http
            .get(app.url(&format!("/v1/webhooks/{id}/deliveries/{delivery_id}")))
            .header("x-api-key", &acme)
            .send()
            .await
            .unwrap();
        if r.status() == StatusCode::OK {
            Ok(())
        } else {
            Err(r.status())
        }
    })
    .await;

    let routes = [
        (Method::GET, format!("/v1/webhooks/{id}"), None),
        (
            Method::GET,
            format!("/v1/webhooks/{id}?asOf=2100-01-01T00:00:00Z"),
            None,
        ),
        (
            Method::PATCH,
            format!("/v1/webhooks/{id}"),
            Some(json!({"name": "stolen"})),
        ),
        (
            Method::PUT,
            format!("/v1/webhooks/{id}"),
            Some(crate::api_support::webhook_body("stolen")),
        ),
        (Method::DELETE, format!("/v1/webhooks/{id}"), None),
        (Method::POST, format!("/v1/webhooks/{id}/pause"), None),
        (Method::POST, format!("/v1/webhooks/{id}/resume"), None),
        (
            Method::POST,
            format!("/v1/webhooks/{id}/regenerate-secret"),
            None,
        ),
        (Method::GET, format!("/v1/webhooks/{id}/secret"), None),
        (Method::POST, format!("/v1/webhooks/{id}/test"), None),
        (Method::GET, format!("/v1/webhooks/{id}/stats"), None),
        (Method::GET, format!("/v1/webhooks/{id}/deliveries"), None),
        (
            Method::GET,
            format!("/v1/webhooks/{id}/deliveries/{delivery_id}"),
            None,
        ),
        (
            Method::POST,
            format!("/v1/webhooks/{id}/deliveries/{delivery_id}/redeliver"),
            None,
        ),
        (
            Method::POST,
            format!("/v1/webhooks/{id}/recover?since=2000-01-01T00:00:00Z"),
            None,
        ),
        (Method::GET, format!("/v1/webhooks/{id}/history"), None),
    ];
    for (method, path, body) in routes {
        let mut request = app
            .http
            .request(method.clone(), app.url(&path))
            .header("x-api-key", &globex);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let p = problem(request.send().await.unwrap(), StatusCode::NOT_FOUND).await;
        let text = p.to_string();
        assert!(
            !text.contains("acme") && !text.contains("hooks"),
            "{method} {path} leaks: {text}"
        );
    }
    let theirs: Value = app
        .http
        .get(app.url("/v1/webhooks"))
        .header("x-api-key", &globex)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(theirs["total"], 0);
    let stats: Value = app
        .http
        .get(app.url("/v1/webhooks/stats"))
        .header("x-api-key", &globex)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(stats["deliveries"], 0);
    let audit = app
        .http
        .get(app.url("/v1/audit/log"))
        .header("x-api-key", &globex)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        !audit.contains(id),
        "the audit log shows only the tenant's own events"
    );
    let still: Value = app
        .http
        .get(app.url(&format!("/v1/webhooks/{id}")))
        .header("x-api-key", &acme)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(still["name"], "acme's", "nothing was changed");
}

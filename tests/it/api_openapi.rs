//! The OpenAPI document: served at `/openapi.json`, equal to the committed `api/openapi.json`,
//! and covering every route of the contract with its error answers.
//!
//! After changing a route, update the snapshot with
//! `UPDATE_OPENAPI=1 cargo nextest run -p hookledger-tests -E 'test(/^api_openapi/)'`.

use std::path::PathBuf;

use serde_json::Value;

use crate::harness::TestApp;

fn snapshot_path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join(hookledger_api::http::openapi::SNAPSHOT_PATH)
}

#[tokio::test]
async fn the_served_document_is_the_committed_snapshot() {
    let app = TestApp::spawn().await;
    let served = app.http.get(app.url("/openapi.json")).send().await.unwrap();
    assert_eq!(served.status(), 200);
    assert_eq!(served.headers()["content-type"], "application/json");
    let served = served.text().await.unwrap();
    let generated =
        hookledger_api::http::openapi::pretty_json(&hookledger_api::http::openapi::document());
    assert_eq!(
        served, generated,
        "the served document is the generated one"
    );

    let path = snapshot_path();
    if std::env::var_os("UPDATE_OPENAPI").is_some() {
        std::fs::write(&path, &generated).unwrap();
        return;
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == generated,
        "api/openapi.json differs from the generated document; update it with \
         UPDATE_OPENAPI=1 cargo nextest run -p hookledger-tests -E 'test(/^api_openapi/)'"
    );
}

#[test]
fn every_route_of_the_contract_is_documented_with_its_errors() {
    let doc: Value = serde_json::from_str(&hookledger_api::http::openapi::pretty_json(
        &hookledger_api::http::openapi::document(),
    ))
    .unwrap();
    let paths = &doc["paths"];
    let routes = [
        ("post", "/v1/admin/tenants"),
        ("get", "/v1/admin/tenants"),
        ("post", "/v1/admin/tenants/{tenantId}/keys"),
        ("delete", "/v1/admin/tenants/{tenantId}/keys/{keyId}"),
        ("get", "/v1/event-types"),
        ("post", "/v1/event-types"),
        ("get", "/v1/webhooks"),
        ("post", "/v1/webhooks"),
        ("get", "/v1/webhooks/stats"),
        ("get", "/v1/webhooks/{id}"),
        ("patch", "/v1/webhooks/{id}"),
        ("put", "/v1/webhooks/{id}"),
        ("delete", "/v1/webhooks/{id}"),
        ("post", "/v1/webhooks/{id}/pause"),
        ("post", "/v1/webhooks/{id}/resume"),
        ("post", "/v1/webhooks/{id}/regenerate-secret"),
        ("get", "/v1/webhooks/{id}/secret"),
        ("post", "/v1/webhooks/{id}/test"),
        ("get", "/v1/webhooks/{id}/stats"),
        ("get", "/v1/webhooks/{id}/deliveries"),
        ("get", "/v1/webhooks/{id}/deliveries/{deliveryId}"),
        (
            "post",
            "/v1/webhooks/{id}/deliveries/{deliveryId}/redeliver",
        ),
        ("post", "/v1/webhooks/{id}/recover"),
        ("get", "/v1/webhooks/{id}/history"),
        ("get", "/v1/audit/log"),
        ("get", "/healthz"),
        ("get", "/readyz"),
        ("get", "/metrics"),
        ("get", "/openapi.json"),
    ];
    for (method, path) in routes {
        let op = &paths[path][method];
        assert!(op.is_object(), "{method} {path} is not documented");
        let responses = op["responses"].as_object().unwrap();
        if path.starts_with("/v1/") {
            for status in ["401", "503"] {
                assert!(
                    responses.contains_key(status),
                    "{method} {path} lacks {status}"
                );
            }
        }
        if path.contains('{') {
            assert!(responses.contains_key("404"), "{method} {path} lacks 404");
        }
        if method == "post" && path.starts_with("/v1/") {
            let params = op["parameters"].as_array().unwrap();
            assert!(
                params.iter().any(|p| p["name"] == "Idempotency-Key"),
                "{method} {path}"
            );
            assert!(responses.contains_key("422"), "{method} {path} lacks 422");
        }
    }
    let patch = &paths["/v1/webhooks/{id}"]["patch"]["responses"];
    assert!(patch["412"].is_object(), "PATCH documents 412");
    let problem = &doc["components"]["schemas"]["Problem"];
    for field in ["type", "title", "status", "detail", "errors"] {
        assert!(
            problem["properties"][field].is_object(),
            "Problem has {field}"
        );
    }
    let not_found = &doc["components"]["responses"]["NotFound"]["content"];
    assert!(not_found["application/problem+json"]["example"].is_object());
}

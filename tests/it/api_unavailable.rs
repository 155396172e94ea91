//! A dependency that is down is a 503 problem with `Retry-After`, never a 500 or a hang.

use reqwest::StatusCode;
use sqlx::Connection;

use crate::api_support::{ConfiguredApp, problem, tenant, webhook_body};
use crate::harness::nats_server::OwnNatsServer;
use crate::harness::{TestApp, TestEnv, admin_database_url};

#[tokio::test]
async fn a_dropped_database_turns_reads_and_writes_into_503_problems() {
    let app = TestApp::spawn().await;
    let (key, _) = tenant(&app.http, &app.url(""), "acme").await;
    let mut admin = sqlx::PgConnection::connect(&admin_database_url())
        .await
        .unwrap();
    sqlx::query(&format!("DROP DATABASE \"{}\" WITH (FORCE)", app.env.id))
        .execute(&mut admin)
        .await
        .unwrap();

    let read = app
        .http
        .get(app.url("/v1/webhooks"))
        .header("x-api-key", &key)
        .send()
        .await
        .unwrap();
    assert!(read.headers().contains_key("retry-after"));
    problem(read, StatusCode::SERVICE_UNAVAILABLE).await;
    let write = app
        .http
        .post(app.url("/v1/webhooks"))
        .header("x-api-key", &key)
        .json(&webhook_body("x"))
        .send()
        .await
        .unwrap();
    problem(write, StatusCode::SERVICE_UNAVAILABLE).await;
    let ready = app.http.get(app.url("/readyz")).send().await.unwrap();
    assert_eq!(ready.status(), StatusCode::SERVICE_UNAVAILABLE);
}

#[tokio::test]
async fn a_stopped_nats_server_turns_writes_into_503_problems() {
    let server = OwnNatsServer::start().await;
    let env = TestEnv::with_nats_url(&server.url()).await;
    let url = server.url();
    let app = ConfiguredApp::spawn_in(env, |config| config.nats.url = url).await;
    let (key, _) = tenant(&app.http, &app.url(""), "acme").await;
    drop(server);

    let write = app
        .http
        .post(app.url("/v1/event-types"))
        .header("x-api-key", &key)
        .json(&serde_json::json!({"name": "lead.created"}))
        .send()
        .await
        .unwrap();
    problem(write, StatusCode::SERVICE_UNAVAILABLE).await;
    let audit = app
        .http
        .get(app.url("/v1/audit/log"))
        .header("x-api-key", &key)
        .send()
        .await
        .unwrap();
    problem(audit, StatusCode::SERVICE_UNAVAILABLE).await;
}

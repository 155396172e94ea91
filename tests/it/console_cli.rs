//! `hookledger console link` and `console revoke`: the real binary mints a link the server
//! accepts, revokes it, and exits with the documented codes for an unknown tenant and a bad TTL.

use std::time::Duration;

use reqwest::StatusCode;

use crate::api_support::tenant;
use crate::console_support::client;
use crate::harness::TestApp;
use crate::harness::app::MASTER_KEY;
use crate::harness::poll::eventually;
use crate::process::{env_for, run};

#[tokio::test]
async fn console_link_prints_a_link_the_server_accepts_and_exits_4_for_an_unknown_tenant() {
    let app = TestApp::spawn().await;
    tenant(&app.http, &app.url(""), "acme").await;
    let mut vars = env_for(&app.env);
    vars.push(("HOOKLEDGER_SECRETS__MASTER_KEY", MASTER_KEY.into()));
    let base = app.url("");

    let minted = run(
        &vars,
        &[
            "console",
            "link",
            "acme",
            "--ttl",
            "30m",
            "--read-only",
            "--base-url",
            &base,
        ],
    )
    .await;
    assert!(
        minted.status.success(),
        "{}",
        String::from_utf8_lossy(&minted.stderr)
    );
    let link: serde_json::Value = serde_json::from_slice(&minted.stdout).unwrap();
    assert_eq!(link["readOnly"], true);
    let url = link["url"].as_str().unwrap();
    assert!(
        url.starts_with(&format!("{base}/console/link?token=")),
        "{url}"
    );
    let expires: chrono::DateTime<chrono::Utc> =
        link["expiresAt"].as_str().unwrap().parse().unwrap();
    let ttl = expires - chrono::Utc::now();
    assert!(
        ttl > chrono::Duration::minutes(29) && ttl <= chrono::Duration::minutes(30),
        "{ttl}"
    );
    let opened = client().get(url).send().await.unwrap();
    assert_eq!(opened.status(), StatusCode::OK);
    assert!(opened.headers().contains_key("set-cookie"));

    // One link by its id: that link is refused, a second one still opens.
    let second = run(&vars, &["console", "link", "acme", "--base-url", &base]).await;
    let second: serde_json::Value = serde_json::from_slice(&second.stdout).unwrap();
    let id = link["id"].as_str().unwrap();
    let one = run(&vars, &["console", "revoke", "acme", "--link", id]).await;
    assert!(
        one.status.success(),
        "{}",
        String::from_utf8_lossy(&one.stderr)
    );
    eventually(Duration::from_secs(10), || async {
        let status = client().get(url).send().await.unwrap().status();
        (status == StatusCode::GONE).then_some(()).ok_or(status)
    })
    .await;
    let second_url = second["url"].as_str().unwrap();
    assert_eq!(
        client().get(second_url).send().await.unwrap().status(),
        StatusCode::OK
    );
    let unknown_link = run(&vars, &["console", "revoke", "acme", "--link", "nope"]).await;
    assert_eq!(
        unknown_link.status.code(),
        Some(4),
        "{}",
        String::from_utf8_lossy(&unknown_link.stderr)
    );

    // Every link of the tenant: the second one too.
    let revoked = run(&vars, &["console", "revoke", "acme"]).await;
    assert!(
        revoked.status.success(),
        "{}",
        String::from_utf8_lossy(&revoked.stderr)
    );
    let revoked: serde_json::Value = serde_json::from_slice(&revoked.stdout).unwrap();
    assert!(revoked["revokedBefore"].is_string(), "{revoked}");
    // The CLI does not wait for the view: the server refuses the link once it has applied it.
    eventually(Duration::from_secs(10), || async {
        let status = client().get(second_url).send().await.unwrap().status();
        (status == StatusCode::GONE).then_some(()).ok_or(status)
    })
    .await;
    let unknown = run(&vars, &["console", "revoke", "nobody"]).await;
    assert_eq!(
        unknown.status.code(),
        Some(4),
        "{}",
        String::from_utf8_lossy(&unknown.stderr)
    );

    let unknown = run(&vars, &["console", "link", "nobody"]).await;
    assert_eq!(
        unknown.status.code(),
        Some(4),
        "{}",
        String::from_utf8_lossy(&unknown.stderr)
    );
    let bad = run(&vars, &["console", "link", "acme", "--ttl", "9d"]).await;
    assert!(!bad.status.success());
    assert!(
        String::from_utf8_lossy(&bad.stderr).contains("between 1m and 7d"),
        "{}",
        String::from_utf8_lossy(&bad.stderr)
    );
}

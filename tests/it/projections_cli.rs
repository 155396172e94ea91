//! `hookledger projections rebuild [NAME…]` and `hookledger projections status`, run as the
//! binary (the way `process.rs` runs it).

use std::process::{Output, Stdio};
use std::sync::OnceLock;
use std::time::Duration;

use hookledger_domain::ledger::reader::StreamKind;
use hookledger_projections::webhooks;
use serde_json::Value;
use tokio::process::Command;

use super::Ledgers;
use crate::harness::app::MASTER_KEY;
use crate::harness::{TestEnv, nats_url};

/// The binary: `HOOKLEDGER_TEST_BIN`, otherwise built here once per test process (a no-op
/// when it is up to date).
fn binary() -> &'static str {
    static BIN: OnceLock<String> = OnceLock::new();
    BIN.get_or_init(|| {
        if let Ok(bin) = std::env::var("HOOKLEDGER_TEST_BIN") {
            return bin;
        }
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let status = std::process::Command::new(cargo)
            .args([
                "build",
                "--quiet",
                "-p",
                "hookledger-api",
                "--bin",
                "hookledger",
            ])
            .status()
            .expect("cargo runs");
        assert!(status.success(), "building the hookledger binary failed");
        let target = std::env::var("CARGO_TARGET_DIR")
            .unwrap_or_else(|_| concat!(env!("CARGO_MANIFEST_DIR"), "/../target").into());
        format!("{target}/debug/hookledger")
    })
}

/// Runs `hookledger <args>` against `env` only (no HOOKLEDGER_* of the caller leaks in).
async fn run(env: &TestEnv, args: &[&str]) -> Output {
    let child = Command::new(binary())
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("HOOKLEDGER_SECRETS__MASTER_KEY", MASTER_KEY)
        .env("HOOKLEDGER_NATS__URL", nats_url())
        .env("HOOKLEDGER_NATS__PREFIX", &env.id)
        .env(
            "HOOKLEDGER_NATS__EVENTS_SUBJECT",
            format!("{}-events", env.id),
        )
        .env("HOOKLEDGER_POSTGRES__URL", &env.database_url)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("hookledger starts");
    tokio::time::timeout(Duration::from_secs(60), child.wait_with_output())
        .await
        .expect("hookledger exits in time")
        .expect("output")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// `projections status --json`, by projection name.
async fn status(env: &TestEnv) -> Value {
    let output = run(env, &["projections", "status", "--json"]).await;
    assert!(output.status.success(), "{}", text(&output.stderr));
    let views: Vec<Value> = serde_json::from_slice(&output.stdout).unwrap();
    views
        .into_iter()
        .map(|v| (v["view"].as_str().unwrap().to_owned(), v))
        .collect::<serde_json::Map<_, _>>()
        .into()
}

#[tokio::test]
async fn rebuild_fills_the_views_from_the_ledger_and_status_shows_checkpoints_and_lag() {
    let env = TestEnv::new().await;
    let ledgers = Ledgers::open(&env).await;
    ledgers.tenant("acme").await;
    let id = ledgers.webhook("acme", "from the cli", &["lead.*"]).await;
    let head = env.nats.head(StreamKind::Ledger).await.unwrap();

    // No projector ran: the ledger view is behind by the whole ledger.
    let before = status(&env).await;
    assert_eq!(before["ledger"]["checkpoint"], 0);
    assert_eq!(before["ledger"]["head"], head);
    assert_eq!(before["ledger"]["lag"], head);
    let table = run(&env, &["projections", "status"]).await;
    assert!(table.status.success(), "{}", text(&table.stderr));
    let table = text(&table.stdout);
    assert!(
        table.contains("checkpoint") && table.contains("ledger") && table.contains("deliveries"),
        "{table}"
    );

    let rebuilt = run(&env, &["projections", "rebuild"]).await;
    assert!(rebuilt.status.success(), "{}", text(&rebuilt.stderr));
    let report = text(&rebuilt.stdout);
    assert!(
        report.contains(&format!("ledger: {head} messages")),
        "{report}"
    );
    assert!(report.contains("deliveries: 0 messages"), "{report}");
    assert!(
        webhooks::get(&env.pool, "acme", id.as_str())
            .await
            .unwrap()
            .is_some(),
        "the rebuilt view holds the webhook"
    );
    let after = status(&env).await;
    assert_eq!(after["ledger"]["checkpoint"], head);
    assert_eq!(after["ledger"]["lag"], 0);

    // A table name picks its projection; only that one is rebuilt.
    let one = run(&env, &["projections", "rebuild", "webhooks"]).await;
    assert!(one.status.success(), "{}", text(&one.stderr));
    let report = text(&one.stdout);
    assert!(
        report.contains("ledger:") && !report.contains("deliveries:"),
        "{report}"
    );

    let unknown = run(&env, &["projections", "rebuild", "nope"]).await;
    assert_eq!(unknown.status.code(), Some(1));
    assert!(
        text(&unknown.stderr).contains("unknown projection \"nope\""),
        "{}",
        text(&unknown.stderr)
    );
}

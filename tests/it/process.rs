//! The `hookledger` binary as an operator runs it: start-up without its services, SIGTERM,
//! and the tenant/key commands.

use std::process::{Output, Stdio};
use std::sync::OnceLock;
use std::time::Duration;

use tokio::process::Command;

use crate::harness::app::{MASTER_KEY, OPERATOR_TOKEN};
use crate::harness::{TestEnv, eventually, nats_url};

/// The binary: `HOOKLEDGER_TEST_BIN` (scripts/test builds it before the suite), otherwise built
/// here once per test process (a no-op when it is up to date). The cluster harness uses it too.
pub fn binary() -> &'static str {
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

fn command(env: &[(&str, String)]) -> Command {
    let mut cmd = Command::new(binary());
    // Only what the test gives: no HOOKLEDGER_* or DATABASE_URL of the caller leaks in.
    cmd.env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("HOOKLEDGER_SECRETS__MASTER_KEY", MASTER_KEY);
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    cmd
}

pub async fn run(env: &[(&str, String)], args: &[&str]) -> Output {
    let child = command(env).args(args).spawn().expect("hookledger starts");
    tokio::time::timeout(Duration::from_secs(60), child.wait_with_output())
        .await
        .expect("hookledger exits in time")
        .expect("output")
}

fn closed_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

pub fn env_for(env: &TestEnv) -> Vec<(&'static str, String)> {
    vec![
        ("HOOKLEDGER_NATS__URL", nats_url()),
        ("HOOKLEDGER_NATS__PREFIX", env.id.clone()),
        (
            "HOOKLEDGER_NATS__EVENTS_SUBJECT",
            format!("{}-events", env.id),
        ),
        ("HOOKLEDGER_POSTGRES__URL", env.database_url.clone()),
        ("HOOKLEDGER_HTTP__OPERATOR_TOKEN", OPERATOR_TOKEN.into()),
    ]
}

#[tokio::test]
async fn serve_without_nats_gives_up_after_the_bounded_wait_naming_nats() {
    binary();
    let started = std::time::Instant::now();
    let output = run(
        &[
            (
                "HOOKLEDGER_NATS__URL",
                format!("nats://127.0.0.1:{}", closed_port()),
            ),
            ("HOOKLEDGER_NATS__CONNECT_TIMEOUT_SECONDS", "2".into()),
            (
                "HOOKLEDGER_HTTP__LISTEN",
                format!("127.0.0.1:{}", closed_port()),
            ),
        ],
        &["serve"],
    )
    .await;
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("NATS at nats://127.0.0.1"), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(started.elapsed() < Duration::from_secs(30));
}

#[tokio::test]
async fn serve_without_postgres_gives_up_after_the_bounded_wait_naming_postgres() {
    let env = TestEnv::new().await;
    let mut vars = env_for(&env);
    vars.push((
        "HOOKLEDGER_POSTGRES__URL",
        format!("postgres://postgres@127.0.0.1:{}/x", closed_port()),
    ));
    vars.push(("HOOKLEDGER_POSTGRES__CONNECT_TIMEOUT_SECONDS", "2".into()));
    vars.push((
        "HOOKLEDGER_HTTP__LISTEN",
        format!("127.0.0.1:{}", closed_port()),
    ));
    let output = run(&vars, &["serve"]).await;
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("PostgreSQL at postgres://"), "{stderr}");
}

#[tokio::test]
async fn a_bad_config_value_stops_the_process_naming_the_key() {
    let output = run(
        &[("HOOKLEDGER_NATS__REPLICAS", "nine".into())],
        &["migrate"],
    )
    .await;
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1));
    assert!(stderr.contains("nats.replicas"), "{stderr}");
}

#[tokio::test]
async fn sigterm_drains_and_exits_zero() {
    let env = TestEnv::new().await;
    let port = closed_port();
    let mut vars = env_for(&env);
    vars.push(("HOOKLEDGER_HTTP__LISTEN", format!("127.0.0.1:{port}")));
    let child = command(&vars).arg("serve").spawn().unwrap();
    let http = reqwest::Client::new();
    eventually(Duration::from_secs(30), || async {
        let response = http
            .get(format!("http://127.0.0.1:{port}/readyz"))
            .send()
            .await
            .map_err(|e| e.to_string())?;
        if response.status() == 200 {
            Ok(())
        } else {
            Err(format!("readyz {}", response.status()))
        }
    })
    .await;

    let pid = child.id().expect("running").to_string();
    let killed = std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap();
    assert!(killed.success());
    let output = tokio::time::timeout(Duration::from_secs(20), child.wait_with_output())
        .await
        .expect("exits after SIGTERM")
        .unwrap();

    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(0), "{stderr}");
    assert!(stderr.contains("hookledger stopped"), "{stderr}");
}

#[tokio::test]
async fn the_tenant_and_key_commands_print_json_and_exit_with_meaningful_codes() {
    let env = TestEnv::new().await;
    let vars = env_for(&env);

    let created = run(&vars, &["tenant", "create", "acme", "--name", "Acme"]).await;
    assert!(
        created.status.success(),
        "{}",
        String::from_utf8_lossy(&created.stderr)
    );
    let tenant: serde_json::Value = serde_json::from_slice(&created.stdout).unwrap();
    assert_eq!(tenant["id"], "acme");
    assert!(tenant["apiKey"]["key"].as_str().unwrap().starts_with("hk_"));

    let again = run(&vars, &["tenant", "create", "acme"]).await;
    assert_eq!(
        again.status.code(),
        Some(3),
        "an existing tenant exits with 3"
    );

    let issued = run(&vars, &["key", "issue", "acme", "--name", "ci"]).await;
    assert!(issued.status.success());
    let key: serde_json::Value = serde_json::from_slice(&issued.stdout).unwrap();
    let key_id = key["id"].as_str().unwrap();

    let revoked = run(&vars, &["key", "revoke", "acme", key_id]).await;
    assert!(
        revoked.status.success(),
        "{}",
        String::from_utf8_lossy(&revoked.stderr)
    );
    let unknown = run(&vars, &["key", "issue", "nobody"]).await;
    assert_eq!(
        unknown.status.code(),
        Some(4),
        "an unknown tenant exits with 4"
    );
}

#[tokio::test]
async fn audit_verify_passes_on_an_intact_ledger_and_names_a_forged_message() {
    let env = TestEnv::new().await;
    let vars = env_for(&env);
    assert!(
        run(&vars, &["tenant", "create", "acme"])
            .await
            .status
            .success()
    );
    assert!(run(&vars, &["key", "issue", "acme"]).await.status.success());

    let intact = run(&vars, &["audit", "verify"]).await;
    assert!(
        intact.status.success(),
        "{}",
        String::from_utf8_lossy(&intact.stderr)
    );
    assert!(
        String::from_utf8_lossy(&intact.stdout)
            .contains("ledger intact: 2 messages of 1 aggregates")
    );

    // A message published around hookledger onto the tenant's subject, not chained to it.
    let client = async_nats::connect(nats_url()).await.unwrap();
    let forged = serde_json::json!({
        "commandId": "forged", "actor": "operator", "occurredAt": "2026-01-01T00:00:00Z",
        "aggregateType": "tenant", "aggregateId": "acme", "prevHash": null,
        "events": [{"type": "tenant.api_key_revoked", "version": "1", "data": {"keyId": "key_00000000000000000000000000000000"}}]
    });
    let subject = format!("{}.ledger.tenant.acme", env.id);
    async_nats::jetstream::new(client)
        .publish(subject.clone(), forged.to_string().into())
        .await
        .unwrap()
        .await
        .unwrap();

    let tampered = run(&vars, &["audit", "verify"]).await;
    let stderr = String::from_utf8_lossy(&tampered.stderr);
    assert_eq!(tampered.status.code(), Some(5), "{stderr}");
    assert!(
        stderr.contains(&format!("TAMPERED: {subject} #3")),
        "{stderr}"
    );

    // And the command path refuses to build on it.
    let refused = run(&vars, &["key", "issue", "acme"]).await;
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("prevHash does not match"));
}

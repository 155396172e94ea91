//! `hookledger audit …` as an operator runs it: exit codes, one-line messages, clap errors
//! naming the flag and the format, `--out`, `--json`, and exit 5 on a tampered copy.

use std::process::Output;

use chrono::{SecondsFormat, Utc};
use hookledger_api::cli::audit::export::Filter;
use hookledger_api::cli::audit::show::{AsOf, as_of, webhook_json};
use hookledger_domain::ids::{TenantId, WebhookId};
use serde_json::Value;

use crate::audit_export::export;
use crate::audit_support::{copy_ledger, ledger_messages, scripted_history};
use crate::harness::TestEnv;
use crate::process::{env_for, run};

/// The process environment of `env`, logging only warnings (so stderr holds the message alone).
fn vars_for(env: &TestEnv) -> Vec<(&'static str, String)> {
    let mut vars = env_for(env);
    vars.push(("HOOKLEDGER_LOG__FILTER", "warn".into()));
    vars
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[track_caller]
fn exits(output: &Output, code: i32) -> String {
    let stderr = text(&output.stderr);
    assert_eq!(output.status.code(), Some(code), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    stderr
}

fn rfc3339(t: chrono::DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Micros, true)
}

#[tokio::test]
async fn audit_show_and_diff_exit_4_with_one_line_and_clap_names_a_malformed_time() {
    let env = TestEnv::new().await;
    let history = scripted_history(&env, 20).await;
    let vars = vars_for(&env);
    let (tenant, id) = history.webhooks[0].clone();
    let now = rfc3339(Utc::now());

    let shown = run(&vars, &["audit", "show", id.as_str(), "--as-of", &now]).await;
    exits(&shown, 0);
    let json: Value = serde_json::from_slice(&shown.stdout).unwrap();
    let tenant_id = TenantId::parse(&tenant).unwrap();
    match as_of(&env.nats, &id, Some(&tenant_id), Utc::now())
        .await
        .unwrap()
    {
        AsOf::Existed(row) => assert_eq!(json, webhook_json(*row)),
        AsOf::Deleted(_) => assert!(json.is_null()),
        other => panic!("{other:?}"),
    }

    let unknown = WebhookId::new();
    let missing = run(&vars, &["audit", "show", unknown.as_str(), "--as-of", &now]).await;
    let stderr = exits(&missing, 4);
    assert_eq!(stderr.trim(), format!("webhook {unknown} does not exist"));

    let long_ago = "2001-01-01T00:00:00Z";
    let early = run(&vars, &["audit", "show", id.as_str(), "--as-of", long_ago]).await;
    let stderr = exits(&early, 4);
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.contains("did not exist yet"), "{stderr}");

    for (args, flag) in [
        (
            vec!["audit", "show", id.as_str(), "--as-of", "yesterday"],
            "--as-of",
        ),
        (
            vec![
                "audit",
                "diff",
                id.as_str(),
                "--from",
                "2025-13-01",
                "--to",
                &now,
            ],
            "--from",
        ),
        (
            vec!["audit", "export", "--since", "2025-01-01 10:00"],
            "--since",
        ),
        (vec!["audit", "export", "--until", "soon"], "--until"),
    ] {
        let stderr = exits(&run(&vars, &args).await, 2);
        assert!(stderr.contains(flag), "{args:?}: {stderr}");
        assert!(stderr.contains("RFC 3339"), "{args:?}: {stderr}");
    }
    let bad_id = run(&vars, &["audit", "show", "not-a-webhook", "--as-of", &now]).await;
    exits(&bad_id, 2);
    let reversed = run(
        &vars,
        &[
            "audit",
            "diff",
            id.as_str(),
            "--from",
            &now,
            "--to",
            long_ago,
        ],
    )
    .await;
    exits(&reversed, 2);

    let diffed = run(
        &vars,
        &[
            "audit",
            "diff",
            id.as_str(),
            "--from",
            long_ago,
            "--to",
            &now,
        ],
    )
    .await;
    exits(&diffed, 0);
    let diff: Value = serde_json::from_slice(&diffed.stdout).unwrap();
    assert_eq!(diff["webhookId"], id.as_str());
    assert!(
        diff["versionFrom"].is_null(),
        "it did not exist in 2001: {diff}"
    );
    let missing_diff = run(
        &vars,
        &[
            "audit",
            "diff",
            unknown.as_str(),
            "--from",
            long_ago,
            "--to",
            &now,
        ],
    )
    .await;
    exits(&missing_diff, 4);
}

#[tokio::test]
async fn audit_export_out_writes_the_same_records_and_verify_json_sums_up() {
    let env = TestEnv::new().await;
    let history = scripted_history(&env, 20).await;
    let vars = vars_for(&env);
    let dir = std::env::temp_dir().join(format!("{}-export", env.id));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("acme.ndjson");
    let out = run(
        &vars,
        &[
            "audit",
            "export",
            "--tenant",
            "acme",
            "--out",
            file.to_str().unwrap(),
        ],
    )
    .await;
    let stderr = exits(&out, 0);
    let written: Vec<Value> = std::fs::read_to_string(&file)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    std::fs::remove_dir_all(&dir).unwrap();
    let filter = Filter {
        tenant: Some(TenantId::parse("acme").unwrap()),
        ..Filter::default()
    };
    assert_eq!(written, export(&env, &filter).await);
    assert!(
        stderr.contains(&format!("exported {} records", written.len())),
        "{stderr}"
    );

    let verified = run(&vars, &["audit", "verify", "--json"]).await;
    exits(&verified, 0);
    let summary: Value = serde_json::from_slice(&verified.stdout).unwrap();
    assert_eq!(summary["intact"], true);
    assert_eq!(summary["messages"], history.applied.len());
    assert_eq!(summary["firstSequence"], 1);
    assert_eq!(summary["lastSequence"], history.applied.len());
    assert!(summary["events"].as_u64().unwrap() > history.applied.len() as u64);
    assert!(summary["seconds"].as_f64().is_some());

    let acme = run(&vars, &["audit", "verify", "--tenant", "acme", "--json"]).await;
    exits(&acme, 0);
    let summary: Value = serde_json::from_slice(&acme.stdout).unwrap();
    let mine = history
        .applied
        .iter()
        .filter(|a| a.tenant == "acme")
        .count();
    assert_eq!(summary["messages"], mine);
}

#[tokio::test]
async fn audit_verify_exits_5_on_a_tampered_copy_naming_stream_sequence_and_both_hashes() {
    let env = TestEnv::new().await;
    scripted_history(&env, 10).await;
    let mut messages = ledger_messages(&env.nats).await;
    // The tenant's creation, followed by its second key on the same subject.
    let mut record: Value = serde_json::from_slice(&messages[0].1).unwrap();
    record["actor"] = "mallory".into();
    messages[0].1 = serde_json::to_vec(&record).unwrap();
    let scratch = TestEnv::new().await;
    copy_ledger(&env.nats, &scratch.nats, &messages).await;
    let expected = hookledger_domain::ledger::chain::hash(&messages[0].1);

    let tampered = run(&vars_for(&scratch), &["audit", "verify", "--json"]).await;
    let stderr = exits(&tampered, 5);
    let stream = scratch.nats.names().ledger_stream();
    let subject = format!("{}.ledger.tenant.acme", scratch.id);
    assert!(
        stderr.contains(&format!("TAMPERED: {subject} #2 in stream {stream}")),
        "{stderr}"
    );
    assert!(stderr.contains(&expected), "{stderr}");
    let found: Value = serde_json::from_slice(&tampered.stdout).unwrap();
    assert_eq!(found["intact"], false);
    assert_eq!(
        (
            found["sequence"].as_u64(),
            found["previousSequence"].as_u64()
        ),
        (Some(2), Some(1))
    );
    assert_eq!(found["expectedHash"], expected);
    let original = hookledger_domain::ledger::chain::hash(&ledger_messages(&env.nats).await[0].1);
    assert_eq!(found["foundHash"], original);
    assert!(stderr.contains(&original), "{stderr}");
}

//! `hookledger audit export`, in-process: the export is the commands applied (count, order,
//! actors, command ids), its filters cut the same records, and no secret leaves in it.

use hookledger_api::cli::audit::export::{Filter, export_to};
use hookledger_api::cli::audit::progress;
use hookledger_domain::ids::{TenantId, WebhookId};
use serde_json::Value;

use crate::api_support::{delivery, publish};
use crate::audit_support::{TENANTS, ledger_messages, scripted_history};
use crate::harness::TestEnv;

pub async fn export(env: &TestEnv, filter: &Filter) -> Vec<Value> {
    let mut out = Vec::new();
    export_to(
        &env.nats,
        Some(&env.pool),
        filter,
        &mut out,
        &progress::hidden(),
    )
    .await
    .unwrap();
    String::from_utf8(out)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn ledger_only(lines: &[Value]) -> Vec<&Value> {
    lines.iter().filter(|l| l["stream"] == "ledger").collect()
}

#[tokio::test]
async fn an_export_is_the_commands_applied_in_order_with_their_actors_and_command_ids() {
    let env = TestEnv::new().await;
    let history = scripted_history(&env, 60).await;
    let (tenant, webhook) = history.webhooks[0].clone();
    let facts = delivery(&tenant, webhook.as_str(), "lead.created", false);
    publish(&env, &facts).await;

    let all = export(&env, &Filter::default()).await;
    // One record per event; a message (one command) may carry several (a tenant's creation
    // also issues its first key): one entry per message here.
    let mut got: Vec<(String, String, String, Option<String>, u64)> = Vec::new();
    for l in ledger_only(&all) {
        let message = (
            l["tenant"].as_str().unwrap().to_owned(),
            l["actor"].as_str().unwrap().to_owned(),
            l["commandId"].as_str().unwrap().to_owned(),
            l["webhookId"].as_str().map(str::to_owned),
            l["sequence"].as_u64().unwrap(),
        );
        if got.last() != Some(&message) {
            got.push(message);
        }
    }
    let events: usize = ledger_messages(&env.nats)
        .await
        .iter()
        .map(|(_, p)| {
            serde_json::from_slice::<Value>(p).unwrap()["events"]
                .as_array()
                .unwrap()
                .len()
        })
        .sum();
    assert_eq!(ledger_only(&all).len(), events, "one record per event");
    let want: Vec<_> = history
        .applied
        .iter()
        .map(|a| {
            (
                a.tenant.clone(),
                a.actor.clone(),
                a.command_id.clone(),
                a.webhook.clone(),
                a.sequence,
            )
        })
        .collect();
    assert_eq!(got.len(), want.len());
    assert_eq!(got, want);
    assert!(all.iter().all(|l| l["source"] == "jetstream"), "{all:#?}");
    let deliveries: Vec<&Value> = all.iter().filter(|l| l["stream"] == "deliveries").collect();
    let types: Vec<&str> = deliveries
        .iter()
        .map(|l| l["type"].as_str().unwrap())
        .collect();
    assert_eq!(types, ["delivery.attempted", "delivery.failed"]);
    assert!(
        deliveries
            .iter()
            .all(|l| l["webhookId"] == webhook.as_str())
    );
    // Oldest first, across the two streams.
    let times: Vec<&str> = all.iter().map(|l| l["time"].as_str().unwrap()).collect();
    let mut sorted = times.clone();
    sorted.sort_by_key(|t| chrono::DateTime::parse_from_rfc3339(t).unwrap());
    assert_eq!(times, sorted);
}

#[tokio::test]
async fn export_filters_cut_exactly_the_matching_records_of_the_whole_export() {
    let env = TestEnv::new().await;
    let history = scripted_history(&env, 40).await;
    let (tenant, webhook) = history.webhooks[1].clone();
    publish(
        &env,
        &delivery(&tenant, webhook.as_str(), "lead.created", true),
    )
    .await;
    let all = export(&env, &Filter::default()).await;

    for tenant in TENANTS {
        let filter = Filter {
            tenant: Some(TenantId::parse(tenant).unwrap()),
            ..Filter::default()
        };
        let want: Vec<&Value> = all.iter().filter(|l| l["tenant"] == tenant).collect();
        assert!(!want.is_empty());
        assert_eq!(
            export(&env, &filter).await.iter().collect::<Vec<_>>(),
            want,
            "{tenant}"
        );
    }

    let by_webhook = export(
        &env,
        &Filter {
            webhook: Some(webhook.clone()),
            ..Filter::default()
        },
    )
    .await;
    let want: Vec<&Value> = all
        .iter()
        .filter(|l| l["webhookId"] == webhook.as_str())
        .collect();
    assert!(want.len() >= 3, "a create and two facts at least");
    assert_eq!(by_webhook.iter().collect::<Vec<_>>(), want);
    let other_tenant = TENANTS.iter().find(|t| **t != tenant).unwrap();
    let none = export(
        &env,
        &Filter {
            tenant: Some(TenantId::parse(other_tenant).unwrap()),
            webhook: Some(webhook.clone()),
            ..Filter::default()
        },
    )
    .await;
    assert!(none.is_empty(), "another tenant's webhook: {none:#?}");

    let types = vec!["webhook.paused".to_owned(), "delivery.*".to_owned()];
    let typed = export(
        &env,
        &Filter {
            types: types.clone(),
            ..Filter::default()
        },
    )
    .await;
    let want: Vec<&Value> = all
        .iter()
        .filter(|l| {
            let t = l["type"].as_str().unwrap();
            t == "webhook.paused" || t.starts_with("delivery.")
        })
        .collect();
    assert!(want.iter().any(|l| l["type"] == "webhook.paused"));
    assert_eq!(typed.iter().collect::<Vec<_>>(), want);

    // A window in the middle: starts at a record's time (by time, not from sequence 1).
    let ledger = ledger_only(&all);
    let time = |l: &Value| {
        chrono::DateTime::parse_from_rfc3339(l["time"].as_str().unwrap())
            .unwrap()
            .with_timezone(&chrono::Utc)
    };
    let (since, until) = (time(ledger[10]), time(ledger[30]));
    let window = export(
        &env,
        &Filter {
            since: Some(since),
            until: Some(until),
            ..Filter::default()
        },
    )
    .await;
    let want: Vec<&Value> = all
        .iter()
        .filter(|l| time(l) >= since && time(l) <= until)
        .collect();
    assert_eq!(window.iter().collect::<Vec<_>>(), want);
    assert_eq!(window[0]["sequence"], ledger[10]["sequence"]);
}

/// Every string of at least 16 characters under a `secret` or `keyHash` key, at any depth.
fn sealed_values(value: &Value, under_secret: bool, out: &mut Vec<String>) {
    match value {
        Value::String(s) if under_secret && s.len() >= 16 => out.push(s.clone()),
        Value::Object(map) => {
            for (k, v) in map {
                sealed_values(v, under_secret || k == "secret" || k == "keyHash", out);
            }
        }
        Value::Array(items) => items
            .iter()
            .for_each(|v| sealed_values(v, under_secret, out)),
        _ => {}
    }
}

#[tokio::test]
async fn no_secret_plain_or_sealed_appears_in_any_export() {
    let env = TestEnv::new().await;
    let history = scripted_history(&env, 40).await;
    let mut secrets = history.secrets.clone();
    for (_, payload) in ledger_messages(&env.nats).await {
        let record: Value = serde_json::from_slice(&payload).unwrap();
        sealed_values(&record["events"], false, &mut secrets);
    }
    let plain = history.secrets.len();
    assert!(
        plain >= 9 + 6,
        "a secret per webhook and two keys per tenant"
    );
    assert!(
        secrets.len() > plain,
        "the ledger holds sealed secrets and key hashes to look for"
    );
    let mut filters = vec![Filter::default()];
    filters.extend(TENANTS.iter().map(|t| Filter {
        tenant: Some(TenantId::parse(t).unwrap()),
        ..Filter::default()
    }));
    filters.extend(history.webhooks.iter().map(|(_, w)| Filter {
        webhook: Some(WebhookId::parse(w.as_str()).unwrap()),
        ..Filter::default()
    }));
    for filter in &filters {
        let lines = export(&env, filter).await;
        assert!(!lines.is_empty());
        let text = serde_json::to_string(&lines).unwrap();
        for secret in &secrets {
            assert!(
                !text.contains(secret.as_str()),
                "{secret} leaked through {filter:?}"
            );
        }
        let rotated = lines
            .iter()
            .find(|l| l["type"] == "webhook.secret_rotated" || l["type"] == "webhook.created")
            .map(|l| l["data"].to_string());
        if let Some(data) = rotated {
            assert!(data.contains("[redacted]"), "{data}");
        }
    }
}

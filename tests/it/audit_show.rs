//! `hookledger audit show --as-of` (a fold of the webhook's own subject) against
//! `GET /v1/webhooks/{id}?asOf=` (the `webhook_history` view), and `audit diff`.

use std::time::Duration;

use chrono::{DateTime, SecondsFormat, Utc};
use hookledger_api::cli::audit::show::{AsOf, as_of, diff_of, webhook_json};
use hookledger_domain::ids::{TenantId, WebhookId};
use hookledger_domain::ledger::LedgerEntry;
use hookledger_domain::ledger::reader::StreamKind;
use hookledger_projections::View;
use reqwest::StatusCode;
use serde_json::Value;

use crate::audit_support::{History, Rng, scripted_history};
use crate::harness::{TestApp, eventually};

/// Every ledger entry, in order.
async fn entries(app: &TestApp) -> Vec<LedgerEntry> {
    use futures::StreamExt;
    let nats = &app.env.nats;
    let read = nats
        .bounded_read(StreamKind::Ledger, vec![nats.names().ledger_all()], None)
        .await
        .unwrap();
    read.map(|m| m.unwrap().ledger_entry().unwrap())
        .collect()
        .await
}

/// Waits until the ledger view has applied the whole ledger.
async fn caught_up(app: &TestApp) {
    eventually(Duration::from_secs(30), || async {
        let views = hookledger_projections::status::views(&app.env.nats, &app.env.pool)
            .await
            .map_err(|e| e.to_string())?;
        let ledger = views.iter().find(|v| v.view == View::Ledger).unwrap();
        if ledger.lag == 0 && ledger.head > 0 {
            Ok(())
        } else {
            Err(format!("{} of {}", ledger.checkpoint, ledger.head))
        }
    })
    .await;
}

async fn get_as_of(app: &TestApp, key: &str, id: &WebhookId, at: DateTime<Utc>) -> Option<Value> {
    let at = at.to_rfc3339_opts(SecondsFormat::Micros, true);
    let response = app
        .http
        .get(app.url(&format!("/v1/webhooks/{id}?asOf={at}")))
        .header("x-api-key", key)
        .send()
        .await
        .unwrap();
    match response.status() {
        StatusCode::OK => Some(response.json().await.unwrap()),
        StatusCode::NOT_FOUND => None,
        other => panic!("GET ?asOf={at}: {other}"),
    }
}

/// Stream times as PostgreSQL keeps them: rounded up to the microsecond.
fn stored(t: DateTime<Utc>) -> DateTime<Utc> {
    let ns = t.timestamp_subsec_nanos() % 1_000;
    if ns == 0 {
        t
    } else {
        t + chrono::Duration::nanoseconds(i64::from(1_000 - ns))
    }
}

async fn app_with_history(commands: usize) -> (TestApp, History, Vec<LedgerEntry>) {
    let app = TestApp::spawn().await;
    let history = scripted_history(&app.env, commands).await;
    caught_up(&app).await;
    let entries = entries(&app).await;
    (app, history, entries)
}

#[tokio::test]
async fn show_as_of_equals_get_as_of_at_50_random_instants() {
    let (app, history, entries) = app_with_history(80).await;
    let first = stored(entries[0].time) - chrono::Duration::seconds(1);
    let last = stored(entries.last().unwrap().time) + chrono::Duration::seconds(1);
    let span = (last - first).num_microseconds().unwrap() as u64;
    let seed = u64::from(Utc::now().timestamp_subsec_nanos()) | 1;
    let mut rng = Rng(seed);
    let (mut existed, mut absent) = (0, 0);
    for n in 0..50 {
        // A third exactly at a message's stored time or 1 µs before it: the boundaries.
        let at = match n % 3 {
            0 => {
                let e = &entries[rng.below(entries.len() as u64) as usize];
                stored(e.time) - chrono::Duration::microseconds(rng.below(2) as i64)
            }
            _ => first + chrono::Duration::microseconds(rng.below(span) as i64),
        };
        let (tenant, id) = &history.webhooks[rng.below(history.webhooks.len() as u64) as usize];
        let key = &history.keys[tenant];
        let viewed = get_as_of(&app, key, id, at).await;
        let tenant_id = TenantId::parse(tenant).unwrap();
        let folded = as_of(&app.env.nats, id, Some(&tenant_id), at)
            .await
            .unwrap();
        match folded {
            AsOf::Existed(row) => {
                existed += 1;
                assert_eq!(
                    Some(webhook_json(*row)),
                    viewed,
                    "{id} at {at} (seed {seed})"
                );
            }
            other => {
                absent += 1;
                assert_eq!(
                    viewed, None,
                    "{id} at {at}: fold says {other:?} (seed {seed})"
                );
            }
        }
        // Without --tenant, the fold finds the same webhook.
        let untenanted = as_of(&app.env.nats, id, None, at).await.unwrap();
        assert_eq!(
            untenanted,
            as_of(&app.env.nats, id, Some(&tenant_id), at)
                .await
                .unwrap()
        );
    }
    assert!(
        existed > 10 && absent > 0,
        "{existed} existed, {absent} absent"
    );
}

#[tokio::test]
async fn show_names_why_a_webhook_is_absent_at_an_instant() {
    let (app, history, entries) = app_with_history(30).await;
    let (_, id) = &history.webhooks[0];
    let created = entries
        .iter()
        .find(|e| e.record.aggregate_id.ends_with(id.as_str()))
        .unwrap();
    let before = stored(created.time) - chrono::Duration::microseconds(1);
    let nats = &app.env.nats;
    assert_eq!(
        as_of(nats, id, None, before).await.unwrap(),
        AsOf::NotYet(stored(created.time))
    );
    assert_eq!(
        as_of(nats, &WebhookId::new(), None, Utc::now())
            .await
            .unwrap(),
        AsOf::Unknown
    );
    let other_tenant = TenantId::parse("nobody").unwrap();
    assert_eq!(
        as_of(nats, id, Some(&other_tenant), Utc::now())
            .await
            .unwrap(),
        AsOf::Unknown
    );
    if let Some(deleted) = history.applied.iter().find(|a| a.kind == "delete") {
        let id = WebhookId::parse(deleted.webhook.as_deref().unwrap()).unwrap();
        let at = entries
            .iter()
            .find(|e| e.sequence == deleted.sequence)
            .unwrap()
            .time;
        assert_eq!(
            as_of(nats, &id, None, Utc::now()).await.unwrap(),
            AsOf::Deleted(stored(at))
        );
    }
}

#[tokio::test]
async fn diff_lists_the_fields_that_differ_with_the_last_command_that_changed_each() {
    let (app, history, entries) = app_with_history(80).await;
    let time_of = |seq: u64| stored(entries.iter().find(|e| e.sequence == seq).unwrap().time);
    // The webhook with the most renames.
    let (tenant, id) = history
        .webhooks
        .iter()
        .max_by_key(|(_, w)| {
            history
                .applied
                .iter()
                .filter(|a| a.kind == "rename" && a.webhook.as_deref() == Some(w.as_str()))
                .count()
        })
        .unwrap();
    let mine: Vec<_> = history
        .applied
        .iter()
        .filter(|a| a.webhook.as_deref() == Some(id.as_str()))
        .collect();
    let renames: Vec<_> = mine.iter().filter(|a| a.kind == "rename").collect();
    assert!(!renames.is_empty(), "the scripted history renames webhooks");
    let from = time_of(mine[0].sequence);
    // Up to the last rename: the webhook still exists then.
    let to = time_of(renames.last().unwrap().sequence);
    let diff = diff_of(&app.env.nats, id, None, from, to)
        .await
        .unwrap()
        .unwrap();

    // The fields that differ are those that differ between the view's answers at both ends.
    let key = &history.keys[tenant];
    let a = get_as_of(&app, key, id, from).await.unwrap_or_default();
    let b = get_as_of(&app, key, id, to).await.unwrap_or_default();
    let field = |v: &Value, f: &str| v.get(f).cloned().unwrap_or(Value::Null);
    let mut want: Vec<String> = a
        .as_object()
        .into_iter()
        .chain(b.as_object())
        .flat_map(|m| m.keys().cloned())
        .filter(|f| !["updatedAt", "updatedBy", "version"].contains(&f.as_str()))
        .filter(|f| field(&a, f) != field(&b, f))
        .collect();
    want.sort();
    want.dedup();
    let got: Vec<String> = diff.changes.iter().map(|c| c.field.clone()).collect();
    assert_eq!(got, want, "{diff:#?}");
    for change in &diff.changes {
        assert_eq!(
            (&change.from, &change.to),
            (&field(&a, &change.field), &field(&b, &change.field))
        );
        let by = mine.iter().find(|m| m.sequence == change.sequence).unwrap();
        assert_eq!(
            (&change.changed_by, &change.command_id),
            (&by.actor, &by.command_id)
        );
        assert_eq!(change.changed_at, time_of(by.sequence));
    }
    let last_rename = renames.last().unwrap();
    let name = diff.changes.iter().find(|c| c.field == "name").unwrap();
    assert_eq!(name.command_id, last_rename.command_id);
    assert_eq!(diff.version_from, Some(mine[0].sequence as i64));
}

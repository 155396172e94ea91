//! The JetStream ledger under cqrs-es: concurrency, idempotency, folding, tamper evidence and
//! sealed secrets, against a real nats-server.

use std::collections::HashSet;
use std::time::Duration;

use futures::StreamExt;
use hookledger_domain::ids::{TenantId, WebhookId};
use hookledger_domain::ledger::reader::StreamKind;
use hookledger_domain::ledger::{CommandError, CommandMeta, JetStreamEventStore, Ledger, chain};
use hookledger_domain::secrets::SigningSecret;
use hookledger_domain::webhook::values::{
    EventPattern, TargetUrl, WebhookName, WebhookPatch, WebhookSpec,
};
use hookledger_domain::webhook::{
    EventCatalogSnapshot, Webhook, WebhookCommand, WebhookServices, WebhookStatus,
};

use crate::harness::TestEnv;

pub fn spec(name: &str) -> WebhookSpec {
    WebhookSpec::new(
        WebhookName::parse(name, &Default::default()).unwrap(),
        TargetUrl::parse("https://receiver.example.com/hooks", false).unwrap(),
        vec![EventPattern::parse("lead.*").unwrap()],
    )
}

pub fn create(tenant: &str, id: &WebhookId, secret: &str) -> WebhookCommand {
    WebhookCommand::CreateWebhook {
        tenant: TenantId::parse(tenant).unwrap(),
        id: id.clone(),
        spec: spec("first"),
        secret: SigningSecret::parse_whsec(secret).unwrap(),
        status: WebhookStatus::Active,
        catalog: EventCatalogSnapshot::new(["lead.created"]),
    }
}

pub fn rename(name: &str) -> WebhookCommand {
    let patch = WebhookPatch {
        name: Some(WebhookName::parse(name, &Default::default()).unwrap()),
        ..Default::default()
    };
    WebhookCommand::UpdateWebhook {
        patch,
        catalog: EventCatalogSnapshot::new(["lead.created"]),
    }
}

pub const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

async fn webhooks(env: &TestEnv) -> Ledger<Webhook> {
    Ledger::open(
        &env.nats,
        WebhookServices {
            keyring: env.keyring.clone(),
        },
    )
    .await
    .unwrap()
}

async fn new_webhook(ledger: &Ledger<Webhook>) -> (String, WebhookId) {
    let id = WebhookId::new();
    let aggregate = format!("acme.{id}");
    ledger
        .execute(
            &aggregate,
            create("acme", &id, SECRET),
            &CommandMeta::new("key_test"),
        )
        .await
        .unwrap();
    (aggregate, id)
}

#[tokio::test]
async fn concurrent_commands_with_the_same_expected_version_let_exactly_one_win() {
    let env = TestEnv::new().await;
    let ledger = webhooks(&env).await;
    let (aggregate, _) = new_webhook(&ledger).await;
    let (_, version) = ledger.load(&aggregate).await.unwrap();

    let attempts = (0..16).map(|i| {
        let meta = CommandMeta::new("key_test").expecting(Some(version));
        let (ledger, aggregate) = (&ledger, aggregate.clone());
        async move {
            ledger
                .execute(&aggregate, rename(&format!("name {i}")), &meta)
                .await
        }
    });
    let results = futures::future::join_all(attempts).await;

    let wins = results.iter().filter(|r| r.is_ok()).count();
    let stale = results
        .iter()
        .filter(|r| matches!(r, Err(CommandError::PreconditionFailed { .. })))
        .count();
    assert_eq!((wins, stale), (1, 15), "{results:?}");
    let (_, after) = ledger.load(&aggregate).await.unwrap();
    assert!(after > version);
    assert_eq!(ledger.store().history(&aggregate).await.unwrap().len(), 2);
}

#[tokio::test]
async fn concurrent_appends_from_one_loaded_state_conflict_except_the_first() {
    let env = TestEnv::new().await;
    let ledger = webhooks(&env).await;
    let (aggregate, _) = new_webhook(&ledger).await;
    let store: &JetStreamEventStore<Webhook> = ledger.store();
    let ctx = store.load_context(&aggregate).await.unwrap();
    let event = hookledger_domain::webhook::WebhookEvent::Paused { reason: None };

    let appends = (0..8).map(|_| {
        let (ctx, event) = (ctx.clone(), event.clone());
        async move {
            store
                .append(ctx, &[event], &CommandMeta::new("key_test"))
                .await
        }
    });
    let results = futures::future::join_all(appends).await;

    let sequences: Vec<u64> = results
        .iter()
        .filter_map(|r| r.as_ref().ok().map(|(seq, _)| *seq))
        .collect();
    let conflicts = results
        .iter()
        .filter(|r| matches!(r, Err(hookledger_domain::ledger::LedgerError::Conflict(_))))
        .count();
    assert_eq!(sequences.len(), 1, "{results:?}");
    assert_eq!(conflicts, 7);
}

#[tokio::test]
async fn commands_without_a_precondition_are_retried_until_each_is_applied_once() {
    let env = TestEnv::new().await;
    let ledger = webhooks(&env).await;
    let (aggregate, _) = new_webhook(&ledger).await;

    let commands = (0..4).map(|i| {
        let (ledger, aggregate) = (&ledger, aggregate.clone());
        async move {
            ledger
                .execute(
                    &aggregate,
                    rename(&format!("writer {i}")),
                    &CommandMeta::new("key_test"),
                )
                .await
        }
    });
    let results = futures::future::join_all(commands).await;

    let versions: HashSet<u64> = results
        .into_iter()
        .map(|r| r.expect("retried until applied").version)
        .collect();
    assert_eq!(versions.len(), 4, "each command got its own sequence");
    assert_eq!(ledger.store().history(&aggregate).await.unwrap().len(), 5);
}

#[tokio::test]
async fn the_same_command_id_twice_writes_once() {
    let env = TestEnv::new().await;
    let ledger = webhooks(&env).await;
    let (aggregate, _) = new_webhook(&ledger).await;
    let ctx = ledger.store().load_context(&aggregate).await.unwrap();
    let meta = CommandMeta::new("key_test").with_command_id("retried-request-1");
    let event = hookledger_domain::webhook::WebhookEvent::Paused { reason: None };

    let (first, first_dup) = ledger
        .store()
        .append(ctx.clone(), std::slice::from_ref(&event), &meta)
        .await
        .unwrap();
    let (second, second_dup) = ledger.store().append(ctx, &[event], &meta).await.unwrap();

    assert_eq!((first_dup, second_dup), (false, true));
    assert_eq!(
        first, second,
        "the duplicate answers with the stored sequence"
    );
    assert_eq!(ledger.store().history(&aggregate).await.unwrap().len(), 2);
}

#[tokio::test]
async fn a_create_sent_twice_concurrently_with_one_command_id_is_stored_once() {
    let env = TestEnv::new().await;
    let ledger = webhooks(&env).await;
    let id = WebhookId::new();
    let aggregate = format!("acme.{id}");
    let meta = CommandMeta::new("key_test").with_command_id("create-once");

    let (a, b) = tokio::join!(
        ledger.execute(&aggregate, create("acme", &id, SECRET), &meta),
        ledger.execute(&aggregate, create("acme", &id, SECRET), &meta),
    );

    let (a, b) = (a.unwrap(), b.unwrap());
    assert_eq!(
        [a.written, b.written].iter().filter(|w| **w).count(),
        1,
        "one of them wrote"
    );
    assert!(
        a.duplicate != b.duplicate,
        "the other one was recognised as a repeat"
    );
    assert_eq!(a.version, b.version);
    assert_eq!(ledger.store().history(&aggregate).await.unwrap().len(), 1);

    // Sent again later, it is still recognised (its message is the aggregate's last).
    let again = ledger
        .execute(&aggregate, create("acme", &id, SECRET), &meta)
        .await
        .unwrap();
    assert!(again.duplicate);
    assert_eq!(ledger.store().history(&aggregate).await.unwrap().len(), 1);
}

#[tokio::test]
async fn an_aggregate_loaded_after_1000_commands_equals_the_fold_of_its_events() {
    let env = TestEnv::new().await;
    let ledger = webhooks(&env).await;
    let (aggregate, _) = new_webhook(&ledger).await;
    let mut last = None;
    for i in 0..1000 {
        let command = match i % 4 {
            0 => WebhookCommand::PauseWebhook {
                reason: Some(format!("pause {i}")),
            },
            1 => WebhookCommand::ResumeWebhook,
            _ => rename(&format!("name {i}")),
        };
        last = Some(
            ledger
                .execute(&aggregate, command, &CommandMeta::new("key_test"))
                .await
                .unwrap(),
        );
    }
    let last = last.unwrap();

    // A fresh store has no cache: it folds the subject from the start.
    let fresh = webhooks(&env).await;
    let (loaded, version) = fresh.load(&aggregate).await.unwrap();
    let mut folded = Webhook::default();
    for envelope in cqrs_es_events(fresh.store(), &aggregate).await {
        cqrs_es::Aggregate::apply(&mut folded, envelope);
    }

    assert_eq!(version, last.version);
    assert_eq!(
        serde_json::to_value(&loaded).unwrap(),
        serde_json::to_value(&folded).unwrap()
    );
    assert_eq!(
        serde_json::to_value(&loaded).unwrap(),
        serde_json::to_value(&last.aggregate).unwrap()
    );
    assert_eq!(loaded.spec().unwrap().name.as_str(), "name 999");
    let history = fresh.store().history(&aggregate).await.unwrap();
    assert_eq!(history.len(), 1001);
    assert_eq!(
        chain::verify(&history),
        Ok(()),
        "the hash chain of the aggregate is intact"
    );
}

async fn cqrs_es_events(
    store: &JetStreamEventStore<Webhook>,
    aggregate: &str,
) -> Vec<hookledger_domain::webhook::WebhookEvent> {
    let envelopes = cqrs_es::EventStore::<Webhook>::load_events(store, aggregate)
        .await
        .unwrap();
    assert!(
        envelopes
            .windows(2)
            .all(|w| w[0].sequence + 1 == w[1].sequence),
        "cqrs-es sequences are dense"
    );
    envelopes.into_iter().map(|e| e.payload).collect()
}

#[tokio::test]
async fn a_command_that_changes_nothing_writes_nothing() {
    let env = TestEnv::new().await;
    let ledger = webhooks(&env).await;
    let (aggregate, _) = new_webhook(&ledger).await;
    let (_, before) = ledger.load(&aggregate).await.unwrap();

    let committed = ledger
        .execute(
            &aggregate,
            WebhookCommand::ResumeWebhook,
            &CommandMeta::new("key_test"),
        )
        .await
        .unwrap();

    assert!(!committed.written);
    assert_eq!(committed.version, before);
    assert_eq!(env.nats.head(StreamKind::Ledger).await.unwrap(), before);
}

#[tokio::test]
async fn a_secret_never_appears_in_clear_in_any_ledger_message() {
    let env = TestEnv::new().await;
    let ledger = webhooks(&env).await;
    let (aggregate, _) = new_webhook(&ledger).await;
    let rotated =
        SigningSecret::parse_whsec("whsec_c2VjcmV0LWtleS1yb3RhdGVkLTAxMjM0NTY3ODk=").unwrap();
    let rotate = WebhookCommand::RotateSecret {
        secret: rotated.clone(),
        now: chrono::Utc::now(),
        grace: chrono::Duration::hours(1),
    };
    ledger
        .execute(&aggregate, rotate, &CommandMeta::new("key_test"))
        .await
        .unwrap();

    let head = env.nats.head(StreamKind::Ledger).await.unwrap();
    let mut tail = env.nats.tail(StreamKind::Ledger, "", 1).await.unwrap();
    let mut seen = 0;
    while seen < head {
        let message = tokio::time::timeout(Duration::from_secs(10), tail.next())
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        seen = message.sequence;
        let text = String::from_utf8_lossy(&message.payload);
        for secret in [SECRET, rotated.expose()] {
            let key_part = secret.trim_start_matches("whsec_");
            assert!(
                !text.contains(key_part),
                "message #{seen} holds a secret in clear: {text}"
            );
        }
    }
    let (webhook, _) = ledger.load(&aggregate).await.unwrap();
    let opened = env
        .keyring
        .open(
            webhook.secret().unwrap(),
            &format!("acme/{}", aggregate.split('.').nth(1).unwrap()),
        )
        .unwrap();
    assert_eq!(
        opened.expose(),
        rotated.expose(),
        "the sealed secret opens with the master key"
    );
}

#[tokio::test]
async fn the_webhook_as_of_an_instant_is_the_fold_up_to_it() {
    let env = TestEnv::new().await;
    let ledger = webhooks(&env).await;
    let (aggregate, _) = new_webhook(&ledger).await;
    let created = ledger.store().history(&aggregate).await.unwrap()[0].time;
    ledger
        .execute(&aggregate, rename("second"), &CommandMeta::new("key_test"))
        .await
        .unwrap();

    let (then, _) = ledger
        .store()
        .load_as_of(&aggregate, created)
        .await
        .unwrap()
        .unwrap();
    let before = ledger
        .store()
        .load_as_of(&aggregate, created - chrono::Duration::milliseconds(1))
        .await
        .unwrap();

    assert_eq!(then.spec().unwrap().name.as_str(), "first");
    assert!(before.is_none(), "it did not exist before its creation");
}

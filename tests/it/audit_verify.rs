//! `hookledger audit verify`, in-process: a copy of a real ledger in a scratch stream passes
//! untouched, and fails at exactly the message that was altered, removed or swapped.

use hookledger_api::cli::audit::progress;
use hookledger_api::cli::audit::verify::{Break, Verdict, verify};
use hookledger_domain::ids::TenantId;
use hookledger_domain::ledger::chain::hash;
use serde_json::Value;

use crate::audit_support::{TENANTS, copy_ledger, ledger_messages, scripted_history};
use crate::harness::TestEnv;

type Messages = Vec<(String, Vec<u8>)>;

/// A copy of `messages` in a scratch stream, verified.
async fn verify_copy(source: &TestEnv, messages: &Messages) -> Verdict {
    let scratch = TestEnv::new().await;
    copy_ledger(&source.nats, &scratch.nats, messages).await;
    verify(&scratch.nats, None, &progress::hidden())
        .await
        .unwrap()
}

/// Two messages of one webhook, `(i, j)` with `j` the next message of the same subject after
/// `i`, picked in the middle of the ledger.
fn successive(messages: &Messages) -> (usize, usize) {
    let webhooks: Vec<usize> = (0..messages.len())
        .filter(|&i| messages[i].0.contains(".ledger.webhook."))
        .collect();
    for &i in &webhooks[webhooks.len() / 2..] {
        if let Some(j) = (i + 1..messages.len()).find(|&j| messages[j].0 == messages[i].0) {
            return (i, j);
        }
    }
    panic!("no webhook with two messages");
}

#[track_caller]
fn broken(verdict: Verdict) -> Break {
    match verdict {
        Verdict::Broken(b) => b,
        Verdict::Intact(s) => panic!("verified intact: {s:?}"),
    }
}

#[tokio::test]
async fn an_untouched_copy_verifies_and_each_tenant_alone_verifies() {
    let env = TestEnv::new().await;
    let history = scripted_history(&env, 40).await;
    let messages = ledger_messages(&env.nats).await;
    assert_eq!(messages.len(), history.applied.len());
    match verify_copy(&env, &messages).await {
        Verdict::Intact(s) => {
            assert_eq!(s.messages, messages.len() as u64);
            assert_eq!(s.first_sequence, Some(1));
            assert_eq!(s.last_sequence, Some(messages.len() as u64));
            assert_eq!(s.aggregates as usize, 3 + history.webhooks.len());
        }
        other => panic!("{other:?}"),
    }
    for tenant in TENANTS {
        let t = TenantId::parse(tenant).unwrap();
        let mine = history.applied.iter().filter(|a| a.tenant == tenant);
        match verify(&env.nats, Some(&t), &progress::hidden())
            .await
            .unwrap()
        {
            Verdict::Intact(s) => assert_eq!(s.messages as usize, mine.count(), "{tenant}"),
            other => panic!("{tenant}: {other:?}"),
        }
    }
}

#[tokio::test]
async fn an_altered_message_fails_verify_at_the_next_message_of_its_webhook_naming_it() {
    let env = TestEnv::new().await;
    scripted_history(&env, 40).await;
    let mut messages = ledger_messages(&env.nats).await;
    let (i, j) = successive(&messages);
    let original = messages[i].1.clone();
    let mut record: Value = serde_json::from_slice(&original).unwrap();
    record["actor"] = "mallory".into();
    messages[i].1 = serde_json::to_vec(&record).unwrap();

    let b = broken(verify_copy(&env, &messages).await);
    assert_eq!(b.sequence, j as u64 + 1, "{b:?}");
    assert_eq!(b.previous_sequence, Some(i as u64 + 1), "{b:?}");
    assert_eq!(b.expected_hash, Some(hash(&messages[i].1)));
    assert_eq!(b.found_hash, Some(hash(&original)));
    assert!(b.stream.ends_with("_LEDGER"), "{b:?}");
}

#[tokio::test]
async fn a_removed_message_fails_verify_at_its_successor() {
    let env = TestEnv::new().await;
    scripted_history(&env, 40).await;
    let mut messages = ledger_messages(&env.nats).await;
    let (i, j) = successive(&messages);
    let removed = messages.remove(i);
    // The copy numbers from 1 without the removed message: the successor moved up by one.
    let b = broken(verify_copy(&env, &messages).await);
    assert_eq!(b.sequence, j as u64, "{b:?}");
    assert_eq!(b.found_hash, Some(hash(&removed.1)));
    assert_ne!(b.expected_hash, b.found_hash);
}

#[tokio::test]
async fn two_swapped_messages_fail_verify_at_the_first_of_them() {
    let env = TestEnv::new().await;
    scripted_history(&env, 40).await;
    let mut messages = ledger_messages(&env.nats).await;
    let (i, j) = successive(&messages);
    messages.swap(i, j);
    let b = broken(verify_copy(&env, &messages).await);
    assert_eq!(b.sequence, i as u64 + 1, "{b:?}");
    // The later message, now first, names the earlier one as its predecessor.
    assert_eq!(b.found_hash, Some(hash(&messages[j].1)));
}

#[tokio::test]
async fn a_message_that_no_longer_parses_fails_verify_at_itself() {
    let env = TestEnv::new().await;
    scripted_history(&env, 20).await;
    let mut messages = ledger_messages(&env.nats).await;
    let (i, _) = successive(&messages);
    let half = messages[i].1.len() / 2;
    messages[i].1.truncate(half);
    let b = broken(verify_copy(&env, &messages).await);
    assert_eq!(b.sequence, i as u64 + 1, "{b:?}");
    assert!(b.reason.contains("does not parse"), "{b:?}");
}

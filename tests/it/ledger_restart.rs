//! The ledger survives a hard restart of nats-server (its own server, on a free port).

use std::time::Duration;

use hookledger_domain::ids::WebhookId;
use hookledger_domain::ledger::{CommandMeta, Ledger};
use hookledger_domain::webhook::{Webhook, WebhookServices};

use crate::harness::nats_server::OwnNatsServer;
use crate::harness::{TestEnv, eventually};
use crate::ledger::{SECRET, create, rename};

#[tokio::test]
async fn the_ledger_survives_a_kill_and_restart_of_nats_server() {
    let mut server = OwnNatsServer::start().await;
    let env = TestEnv::with_nats_url(&server.url()).await;
    let ledger: Ledger<Webhook> = Ledger::open(
        &env.nats,
        WebhookServices {
            keyring: env.keyring.clone(),
        },
    )
    .await
    .unwrap();
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
    for i in 0..50 {
        ledger
            .execute(
                &aggregate,
                rename(&format!("name {i}")),
                &CommandMeta::new("key_test"),
            )
            .await
            .unwrap();
    }
    let (before, version) = ledger.load(&aggregate).await.unwrap();

    server.restart().await;

    // The client reconnects by itself; a fresh ledger (no cache) reads everything back.
    let (after, version_after) = eventually(Duration::from_secs(20), || async {
        let fresh: Ledger<Webhook> = Ledger::open(
            &env.nats,
            WebhookServices {
                keyring: env.keyring.clone(),
            },
        )
        .await
        .map_err(|e| e.to_string())?;
        fresh.load(&aggregate).await.map_err(|e| e.to_string())
    })
    .await;
    assert_eq!(version_after, version);
    assert_eq!(
        serde_json::to_value(&after).unwrap(),
        serde_json::to_value(&before).unwrap()
    );
    let next = ledger
        .execute(
            &aggregate,
            rename("after restart"),
            &CommandMeta::new("key_test"),
        )
        .await
        .unwrap();
    assert!(next.version > version, "writes continue after the restart");
}

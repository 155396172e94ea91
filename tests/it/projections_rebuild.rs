//! Rebuild: shadow tables filled from sequence 1 and swapped in equal the live views.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use futures::StreamExt;
use hookledger_domain::ids::WebhookId;
use hookledger_domain::ledger::CommandMeta;
use hookledger_domain::tenant::TenantCommand;
use hookledger_domain::webhook::WebhookCommand;
use hookledger_projections::webhooks::ListFilter;
use hookledger_projections::{View, rebuild, status, webhooks};

use super::deliveries::{attempt, closed, publish};
use super::{Ledgers, caught_up, create, rename, rotate, snapshot, start};
use crate::harness::TestEnv;

const TENANTS: [&str; 3] = ["acme", "globex", "initech"];
const WORKERS: usize = 16;
const COMMANDS: usize = 10_000;
const WEBHOOKS: usize = 200;

/// A small xorshift generator, so each worker's command mix is reproducible from its seed.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 % n as u64) as usize
    }
}

/// One worker's share: its own webhooks (so workers never race on one aggregate) and its own
/// share of the commands. Returns how many commands it issued.
async fn work(ledgers: &Ledgers, worker: usize) -> usize {
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15 ^ (worker as u64 + 1));
    let tenant = TENANTS[worker % TENANTS.len()];
    let mut live: Vec<(WebhookId, bool)> = Vec::new();
    let mut issued = 0;
    for n in 0..WEBHOOKS / WORKERS + usize::from(worker < WEBHOOKS % WORKERS) {
        live.push((
            ledgers
                .webhook(tenant, &format!("w{worker} h{n}"), &["lead.*"])
                .await,
            true,
        ));
        issued += 1;
    }
    // 10,000 commands split evenly over 16 workers.
    const _: () = assert!(COMMANDS.is_multiple_of(WORKERS));
    let share = COMMANDS / WORKERS;
    while issued < share {
        let i = rng.below(live.len());
        let (id, active) = live[i].clone();
        let command = match rng.below(100) {
            0..=1 => {
                ledgers
                    .run(tenant, &id, WebhookCommand::DeleteWebhook)
                    .await;
                let fresh = WebhookId::new();
                ledgers
                    .run(
                        tenant,
                        &fresh,
                        create(tenant, &fresh, &format!("w{worker} r{issued}"), &["*"]),
                    )
                    .await;
                live[i] = (fresh, true);
                issued += 2;
                continue;
            }
            2..=40 => rename(&format!("w{worker} n{issued}")),
            41..=70 if active => WebhookCommand::PauseWebhook {
                reason: Some("because".into()),
            },
            41..=70 => WebhookCommand::ResumeWebhook,
            71..=85 => rotate(),
            _ if active => WebhookCommand::DisableWebhook {
                reason: "failures".into(),
            },
            _ => WebhookCommand::ResumeWebhook,
        };
        live[i].1 = match command {
            WebhookCommand::PauseWebhook { .. } | WebhookCommand::DisableWebhook { .. } => false,
            WebhookCommand::ResumeWebhook => true,
            _ => active,
        };
        ledgers.run(tenant, &id, command).await;
        issued += 1;
    }
    issued
}

/// Every index of the schema (with its definition) and every constraint, by table.
async fn indexes(pool: &sqlx::PgPool) -> Vec<(String, String, String)> {
    sqlx::query_as(
        "SELECT tablename::text, indexname::text, indexdef FROM pg_indexes WHERE schemaname = current_schema()
         UNION ALL
         SELECT conrelid::regclass::text, conname::text, pg_get_constraintdef(oid) FROM pg_constraint
          WHERE connamespace = current_schema()::regnamespace
         ORDER BY 1, 2, 3",
    )
    .fetch_all(pool)
    .await
    .unwrap()
}

#[tokio::test]
async fn a_rebuild_after_ten_thousand_mixed_commands_equals_the_live_views_row_for_row() {
    let env = TestEnv::new().await;
    let (projections, shutdown, tracker) = start(&env);
    let ledgers = Ledgers::open(&env).await;
    for tenant in TENANTS {
        ledgers.tenant(tenant).await;
    }
    // Console links: minted, one revoked on its own, and one tenant's all revoked (each
    // command with its own id: the ledger takes a repeated one as a retry).
    let operator = || CommandMeta::new("operator");
    for (n, tenant) in TENANTS.iter().enumerate() {
        for link in 0..3 {
            let mint = TenantCommand::MintConsoleLink {
                link_id: format!("l{n}-{link}"),
                read_only: link % 2 == 0,
                expires_at: chrono::Utc::now() + chrono::Duration::hours(1),
            };
            ledgers
                .tenants
                .execute(tenant, mint, &operator())
                .await
                .unwrap();
        }
        let revoke = TenantCommand::RevokeConsoleLink {
            link_id: format!("l{n}-1"),
        };
        ledgers
            .tenants
            .execute(tenant, revoke, &operator())
            .await
            .unwrap();
    }
    let all = TenantCommand::RevokeConsoleLinks {
        before: chrono::Utc::now(),
    };
    ledgers
        .tenants
        .execute(TENANTS[0], all, &operator())
        .await
        .unwrap();
    let issued: usize = futures::stream::iter(0..WORKERS)
        .map(|w| work(&ledgers, w))
        .buffer_unordered(WORKERS)
        .collect::<Vec<_>>()
        .await
        .into_iter()
        .sum();
    assert!(issued >= COMMANDS, "{issued} commands");

    let webhook = WebhookId::new();
    let facts: Vec<_> = (0..300u32)
        .flat_map(|n| {
            let delivery = hookledger_domain::ids::DeliveryId::new();
            let tenant = TENANTS[n as usize % 3];
            let first = attempt(tenant, &webhook, &delivery, 1, n % 3 == 0, u64::from(n));
            let end = closed(tenant, &webhook, &delivery, n % 3 == 0);
            if n % 5 == 0 {
                vec![first]
            } else {
                vec![first, end]
            }
        })
        .collect();
    publish(&env, &facts).await;
    caught_up(&env, &projections, View::Ledger).await;
    caught_up(&env, &projections, View::Deliveries).await;

    let tables: Vec<&str> = View::ALL
        .iter()
        .flat_map(|v| v.tables().iter().copied())
        .collect();
    let live = snapshot(&env.pool, &tables).await;
    assert_eq!(live["console_links"].len(), 9, "the links minted above");
    let indexes_before = indexes(&env.pool).await;
    let total_webhooks = webhooks::list(&env.pool, "acme", &ListFilter::default())
        .await
        .unwrap()
        .total;

    // Reads keep answering from the live tables while the rebuild runs.
    let rebuilding = AtomicBool::new(true);
    let reader = async {
        let mut reads = 0;
        while rebuilding.load(Ordering::Acquire) {
            let page = webhooks::list(&env.pool, "acme", &ListFilter::default())
                .await
                .unwrap();
            assert_eq!(page.total, total_webhooks);
            reads += 1;
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        reads
    };
    let seen = Mutex::new((0, 0));
    let rebuilt = async {
        let report = rebuild::rebuild(&env.nats, &env.pool, &View::ALL, |done, total| {
            *seen.lock().unwrap() = (done, total)
        })
        .await;
        rebuilding.store(false, Ordering::Release);
        report
    };
    let (report, reads) = tokio::join!(rebuilt, reader);
    let report = report.unwrap();
    assert!(reads > 0);
    let (done, total) = *seen.lock().unwrap();
    assert_eq!(done, total);
    assert_eq!(report.views.len(), 2);

    let after = snapshot(&env.pool, &tables).await;
    assert_eq!(
        indexes(&env.pool).await,
        indexes_before,
        "the swapped-in tables have the indexes and constraints, by name, of the old ones"
    );
    for table in &tables {
        assert_eq!(
            after[*table].len(),
            live[*table].len(),
            "{table}: row count"
        );
        assert!(
            after[*table] == live[*table],
            "{table}: rows differ after the rebuild"
        );
    }
    let checkpoints: BTreeMap<String, i64> = status::checkpoints(&env.pool)
        .await
        .unwrap()
        .into_iter()
        .collect();
    assert_eq!(checkpoints["ledger"], report.views[0].checkpoint as i64);

    // The live projector takes over again after the swap.
    let id = ledgers
        .webhook("acme", "after the rebuild", &["lead.*"])
        .await;
    caught_up(&env, &projections, View::Ledger).await;
    assert!(
        webhooks::get(&env.pool, "acme", id.as_str())
            .await
            .unwrap()
            .is_some()
    );

    shutdown.cancel();
    tracker.close();
    tracker.wait().await;
}

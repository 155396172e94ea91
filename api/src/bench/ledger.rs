//! `hookledger bench`: measurements that print figures (BENCHMARKS.md records them).
//!
//! `bench ledger` commits webhook commands to the ledger of the configured NATS server under a
//! throw-away prefix (`bench-<id>`, streams deleted afterwards): first one after another, then
//! from N concurrent writers on distinct webhooks; then it loads aggregates cold (no cache) and
//! warm. It prints commands/s and latency percentiles of each phase.

use std::sync::Arc;
use std::time::{Duration, Instant};

use hookledger_domain::ids::{TenantId, WebhookId, WebhookKey};
use hookledger_domain::ledger::{self, CommandMeta, Ledger};
use hookledger_domain::secrets::{Keyring, SigningSecret};
use hookledger_domain::webhook::values::{
    EventPattern, TargetUrl, WebhookName, WebhookPatch, WebhookSpec,
};
use hookledger_domain::webhook::{
    EventCatalogSnapshot, Webhook, WebhookCommand, WebhookServices, WebhookStatus,
};

use crate::Config;
use crate::bench::percentiles;

fn report(phase: &str, count: usize, elapsed: Duration, samples: &mut [Duration]) {
    println!(
        "{phase:<38} {count:>7} ops in {:>6.2} s = {:>8.0} ops/s   {}",
        elapsed.as_secs_f64(),
        count as f64 / elapsed.as_secs_f64(),
        percentiles(samples)
    );
}

fn create(tenant: &TenantId, id: &WebhookId) -> WebhookCommand {
    let spec = WebhookSpec::new(
        WebhookName::parse("bench", &Default::default()).expect("valid"),
        TargetUrl::parse("https://bench.example.com/hook", false).expect("valid"),
        vec![EventPattern::parse("lead.*").expect("valid")],
    );
    WebhookCommand::CreateWebhook {
        tenant: tenant.clone(),
        id: id.clone(),
        spec,
        secret: SigningSecret::generate(&ring::rand::SystemRandom::new()),
        status: WebhookStatus::Active,
        catalog: EventCatalogSnapshot::new(["lead.created"]),
    }
}

fn rename(i: usize) -> WebhookCommand {
    let patch = WebhookPatch {
        name: Some(WebhookName::parse(&format!("bench {i}"), &Default::default()).expect("valid")),
        ..Default::default()
    };
    WebhookCommand::UpdateWebhook {
        patch,
        catalog: EventCatalogSnapshot::new(["lead.created"]),
    }
}

/// Runs the ledger benchmark.
pub async fn ledger(config: &Config, commands: usize, concurrency: usize) -> anyhow::Result<()> {
    let (nats, prefix) = super::scratch::streams(config, "bench-").await?;
    println!(
        "nats-server {} at {}, prefix {prefix}, {commands} commands, {concurrency} writers",
        nats.server_version(),
        config.nats.url
    );
    let result = run(&nats, commands, concurrency).await;
    nats.delete_streams().await?;
    result
}

async fn run(nats: &ledger::Nats, commands: usize, concurrency: usize) -> anyhow::Result<()> {
    let services = WebhookServices {
        keyring: Arc::new(Keyring::for_tests()),
    };
    let tenant = TenantId::parse("bench")?;
    let ledger: Arc<Ledger<Webhook>> = Arc::new(Ledger::open(nats, services.clone()).await?);

    // Sequential: one writer, one webhook.
    let id = WebhookId::new();
    let aggregate = WebhookKey::new(&tenant, &id).aggregate_id();
    ledger
        .execute(&aggregate, create(&tenant, &id), &CommandMeta::new("bench"))
        .await?;
    let mut samples = Vec::with_capacity(commands);
    let start = Instant::now();
    for i in 0..commands {
        let t = Instant::now();
        ledger
            .execute(&aggregate, rename(i), &CommandMeta::new("bench"))
            .await?;
        samples.push(t.elapsed());
    }
    report(
        "commit, sequential (1 webhook)",
        commands,
        start.elapsed(),
        &mut samples,
    );

    // Concurrent: `concurrency` writers, each on its own webhook.
    let mut aggregates = Vec::new();
    for _ in 0..concurrency {
        let id = WebhookId::new();
        let aggregate = WebhookKey::new(&tenant, &id).aggregate_id();
        ledger
            .execute(&aggregate, create(&tenant, &id), &CommandMeta::new("bench"))
            .await?;
        aggregates.push(aggregate);
    }
    let per_writer = commands / concurrency.max(1);
    let start = Instant::now();
    let mut writers = tokio::task::JoinSet::new();
    for aggregate in aggregates.clone() {
        let ledger = ledger.clone();
        writers.spawn(async move {
            let mut samples = Vec::with_capacity(per_writer);
            for i in 0..per_writer {
                let t = Instant::now();
                ledger
                    .execute(&aggregate, rename(i), &CommandMeta::new("bench"))
                    .await?;
                samples.push(t.elapsed());
            }
            anyhow::Ok(samples)
        });
    }
    let mut samples = Vec::with_capacity(commands);
    while let Some(result) = writers.join_next().await {
        samples.extend(result??);
    }
    report(
        &format!("commit, {concurrency} concurrent (distinct webhooks)"),
        samples.len(),
        start.elapsed(),
        &mut samples,
    );

    // Loads: cold (a new store, so every load replays the subject) and warm (cache hit after
    // one direct get of the subject's last message).
    let cold: Ledger<Webhook> = Ledger::open(nats, services).await?;
    let mut samples = Vec::new();
    let start = Instant::now();
    for aggregate in &aggregates {
        let t = Instant::now();
        cold.load(aggregate).await?;
        samples.push(t.elapsed());
    }
    report(
        &format!("load, cold ({} events each)", per_writer + 1),
        samples.len(),
        start.elapsed(),
        &mut samples,
    );
    let mut samples = Vec::new();
    let start = Instant::now();
    for _ in 0..10 {
        for aggregate in &aggregates {
            let t = Instant::now();
            cold.load(aggregate).await?;
            samples.push(t.elapsed());
        }
    }
    report(
        "load, warm (cached, 1 direct get)",
        samples.len(),
        start.elapsed(),
        &mut samples,
    );
    Ok(())
}

//! `hookledger bench projections`: how fast the read side follows the ledger.
//!
//! Everything runs under a throw-away NATS prefix (`benchp-<id>`, streams deleted afterwards)
//! and a fresh PostgreSQL database created from `postgres.url` (dropped afterwards).
//!
//! 1. **Write**: 3 tenants (with a key and an event catalog each), then N mixed webhook
//!    commands (creates, renames, pauses/resumes, disables, secret rotations, deletes followed
//!    by a re-create) over W webhooks, from concurrent writers that each own their webhooks.
//! 2. **Catch-up**: live projectors start on the empty database and apply the whole ledger
//!    (batches of [`hookledger_projections::MAX_BATCH`]); time until the ledger view's
//!    checkpoint reaches the head.
//! 3. **Rebuild**: `projections::rebuild` of the ledger view (shadow tables from sequence 1,
//!    then the swap), timed → ledger messages per second.
//! 4. **Live lag**: a steady R commands/s for S seconds with the projectors running; for each
//!    command, the time from its commit ack (`Ledger::execute` returns its version) to the moment
//!    the local ledger projector has committed a batch containing that sequence, measured with
//!    [`hookledger_projections::Projections::wait_for`] (this process holds the writer lock, so
//!    the wait follows the projector's in-process watch channel, no polling).

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use hookledger_domain::catalog::{CatalogCommand, EventCatalog};
use hookledger_domain::ids::{TenantId, WebhookId, WebhookKey};
use hookledger_domain::ledger::reader::StreamKind;
use hookledger_domain::ledger::{CommandMeta, Ledger, Nats};
use hookledger_domain::secrets::{SigningSecret, generate_api_key};
use hookledger_domain::tenant::{ApiKeyGrant, Tenant, TenantCommand};
use hookledger_domain::webhook::values::{
    EventPattern, TargetUrl, WebhookName, WebhookPatch, WebhookSpec,
};
use hookledger_domain::webhook::{
    EventCatalogSnapshot, EventTypeName, Webhook, WebhookCommand, WebhookServices, WebhookStatus,
};
use hookledger_projections::{Projections, View};
use sqlx::postgres::PgPoolOptions;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::Config;
use crate::bench::percentiles;

const CATALOG: [&str; 3] = ["lead.created", "lead.won", "deal.closed"];

/// What `hookledger bench projections` runs.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Webhook commands written before the rebuild.
    pub commands: usize,
    pub webhooks: usize,
    pub tenants: usize,
    pub writers: usize,
    /// Live-lag phase: commands per second, for `seconds`.
    pub rate: u32,
    pub seconds: u64,
}

/// Runs the projections benchmark (see the module docs).
pub async fn projections(config: &Config, settings: &Settings) -> anyhow::Result<()> {
    super::scratch::with_share(config, "benchp-", |nats, _, url| async move {
        run(config, &nats, &url, settings).await
    })
    .await
}

struct Writers {
    webhooks: Ledger<Webhook>,
    catalog: EventCatalogSnapshot,
}

impl Writers {
    async fn run(
        &self,
        tenant: &str,
        id: &WebhookId,
        command: WebhookCommand,
    ) -> anyhow::Result<u64> {
        let committed = self
            .webhooks
            .execute(
                &WebhookKey::new(&TenantId::parse(tenant)?, id).aggregate_id(),
                command,
                &CommandMeta::new("bench"),
            )
            .await
            .map_err(|e| anyhow::anyhow!("webhook command: {e}"))?;
        Ok(committed.version)
    }

    fn create(&self, tenant: &str, id: &WebhookId, name: &str) -> anyhow::Result<WebhookCommand> {
        let spec = WebhookSpec::new(
            WebhookName::parse(name, &Default::default()).map_err(anyhow::Error::msg)?,
            TargetUrl::parse("https://bench.example.com/hook", false)
                .map_err(anyhow::Error::msg)?,
            vec![EventPattern::parse("lead.*").map_err(anyhow::Error::msg)?],
        );
        Ok(WebhookCommand::CreateWebhook {
            tenant: TenantId::parse(tenant).map_err(anyhow::Error::msg)?,
            id: id.clone(),
            spec,
            secret: SigningSecret::generate(&ring::rand::SystemRandom::new()),
            status: WebhookStatus::Active,
            catalog: self.catalog.clone(),
        })
    }

    fn rename(&self, name: &str) -> anyhow::Result<WebhookCommand> {
        Ok(WebhookCommand::UpdateWebhook {
            patch: WebhookPatch {
                name: Some(
                    WebhookName::parse(name, &Default::default()).map_err(anyhow::Error::msg)?,
                ),
                ..Default::default()
            },
            catalog: self.catalog.clone(),
        })
    }
}

/// A small xorshift generator: each writer's mix is reproducible.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 % n as u64) as usize
    }
}

/// One writer's share of the mixed commands, on webhooks only it touches.
async fn write_share(
    writers: &Writers,
    tenant: &str,
    worker: usize,
    webhooks: usize,
    share: usize,
) -> anyhow::Result<(usize, Vec<(String, WebhookId)>)> {
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15 ^ (worker as u64 + 1));
    let mut live: Vec<(WebhookId, bool)> = Vec::new();
    let mut issued = 0;
    for n in 0..webhooks.max(1) {
        let id = WebhookId::new();
        writers
            .run(
                tenant,
                &id,
                writers.create(tenant, &id, &format!("w{worker} h{n}"))?,
            )
            .await?;
        live.push((id, true));
        issued += 1;
    }
    while issued < share {
        let i = rng.below(live.len());
        let (id, active) = live[i].clone();
        let command = match rng.below(100) {
            0..=1 => {
                writers
                    .run(tenant, &id, WebhookCommand::DeleteWebhook)
                    .await?;
                let fresh = WebhookId::new();
                writers
                    .run(
                        tenant,
                        &fresh,
                        writers.create(tenant, &fresh, &format!("w{worker} r{issued}"))?,
                    )
                    .await?;
                live[i] = (fresh, true);
                issued += 2;
                continue;
            }
            2..=40 => writers.rename(&format!("w{worker} n{issued}"))?,
            41..=70 if active => WebhookCommand::PauseWebhook {
                reason: Some("bench".into()),
            },
            41..=70 => WebhookCommand::ResumeWebhook,
            71..=85 => WebhookCommand::RotateSecret {
                secret: SigningSecret::generate(&ring::rand::SystemRandom::new()),
                now: chrono::Utc::now(),
                grace: chrono::Duration::hours(1),
            },
            _ if active => WebhookCommand::DisableWebhook {
                reason: "bench".into(),
            },
            _ => WebhookCommand::ResumeWebhook,
        };
        live[i].1 = match command {
            WebhookCommand::PauseWebhook { .. } | WebhookCommand::DisableWebhook { .. } => false,
            WebhookCommand::ResumeWebhook => true,
            _ => active,
        };
        writers.run(tenant, &id, command).await?;
        issued += 1;
    }
    Ok((
        issued,
        live.into_iter()
            .map(|(id, _)| (tenant.to_owned(), id))
            .collect(),
    ))
}

async fn run(
    config: &Config,
    nats: &Nats,
    database_url: &str,
    settings: &Settings,
) -> anyhow::Result<()> {
    let pool = PgPoolOptions::new()
        .max_connections(8)
        .connect(database_url)
        .await
        .context("connecting to the benchmark database")?;
    hookledger_projections::migrate(&pool).await?;
    let writers = Arc::new(Writers {
        webhooks: Ledger::open(
            nats,
            WebhookServices {
                keyring: Arc::new(config.keyring()?),
            },
        )
        .await?,
        catalog: EventCatalogSnapshot::new(CATALOG),
    });

    // 1. Write.
    let tenants: Vec<String> = (0..settings.tenants.max(1))
        .map(|i| format!("bench-t{i}"))
        .collect();
    setup_tenants(nats, &tenants).await?;
    let started = Instant::now();
    let workers = settings.writers.max(1);
    let mut tasks = tokio::task::JoinSet::new();
    for w in 0..workers {
        let writers = writers.clone();
        let tenant = tenants[w % tenants.len()].clone();
        let webhooks = settings.webhooks / workers + usize::from(w < settings.webhooks % workers);
        let share = settings.commands / workers + usize::from(w < settings.commands % workers);
        tasks.spawn(async move { write_share(&writers, &tenant, w, webhooks, share).await });
    }
    let mut issued = 0;
    let mut hooks = Vec::new();
    while let Some(done) = tasks.join_next().await {
        let (n, live) = done??;
        issued += n;
        hooks.extend(live);
    }
    let write_time = started.elapsed();
    let head = nats.head(StreamKind::Ledger).await?;
    println!(
        "write    {issued} webhook commands from {workers} writers over {} webhooks, {} tenants in {:.2} s ({:.0}/s); ledger head {head}",
        settings.webhooks,
        tenants.len(),
        write_time.as_secs_f64(),
        issued as f64 / write_time.as_secs_f64()
    );

    // 2. Catch-up of live projectors from an empty database.
    let shutdown = CancellationToken::new();
    // Stops the projectors on an early return too (the database goes away next).
    let _stop = shutdown.clone().drop_guard();
    let tracker = TaskTracker::new();
    let started = Instant::now();
    let projections =
        hookledger_projections::spawn(nats.clone(), pool.clone(), shutdown.clone(), &tracker);
    projections
        .wait_for(View::Ledger, head, Duration::from_secs(600))
        .await
        .context("live catch-up")?;
    let catch_up = started.elapsed();
    println!(
        "catch-up live projector from 0 to {head}: {:.2} s = {:.0} messages/s (batches of {})",
        catch_up.as_secs_f64(),
        head as f64 / catch_up.as_secs_f64(),
        hookledger_projections::MAX_BATCH
    );

    // 3. Rebuild (the live projector stands aside meanwhile, and resumes after the swap).
    let events: (i64,) = sqlx::query_as("SELECT count(*) FROM events_archive")
        .fetch_one(&pool)
        .await?;
    let report =
        hookledger_projections::rebuild::rebuild(nats, &pool, &[View::Ledger], |_, _| {}).await?;
    for v in &report.views {
        println!(
            "rebuild  {} view: {} messages ({} events) in {:.2} s = {:.0} messages/s",
            v.view,
            v.messages,
            events.0,
            v.elapsed.as_secs_f64(),
            v.messages as f64 / v.elapsed.as_secs_f64()
        );
    }

    // 4. Live lag under a steady load, once the local projector is the writer again (so
    // `wait_for` follows its watch channel).
    let deadline = Instant::now() + Duration::from_secs(30);
    while !projections.is_writer(View::Ledger) {
        anyhow::ensure!(
            Instant::now() < deadline,
            "the projector did not resume after the rebuild"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let result = live_lag(&writers, &projections, &hooks, settings).await;
    shutdown.cancel();
    tracker.close();
    tracker.wait().await;
    pool.close().await;
    result
}

async fn setup_tenants(nats: &Nats, tenants: &[String]) -> anyhow::Result<()> {
    let ledger: Ledger<Tenant> = Ledger::open(nats, ()).await?;
    let catalogs: Ledger<EventCatalog> = Ledger::open(nats, ()).await?;
    for tenant in tenants {
        let key = generate_api_key();
        let create = TenantCommand::CreateTenant {
            id: TenantId::parse(tenant).map_err(anyhow::Error::msg)?,
            name: Some(format!("Bench {tenant}")),
            first_key: ApiKeyGrant::for_key(&key, Some("bench".into())),
        };
        ledger
            .execute(tenant, create, &CommandMeta::new("operator"))
            .await
            .map_err(|e| anyhow::anyhow!("create tenant: {e}"))?;
        for name in CATALOG {
            let add = CatalogCommand::AddEventType {
                name: EventTypeName::parse(name).map_err(anyhow::Error::msg)?,
                description: None,
                schema: None,
            };
            catalogs
                .execute(tenant, add, &CommandMeta::new("operator"))
                .await
                .map_err(|e| anyhow::anyhow!("add event type: {e}"))?;
        }
    }
    Ok(())
}

/// Phase 4: `rate` commands/s for `seconds`; lag = commit ack → ledger view applied.
async fn live_lag(
    writers: &Arc<Writers>,
    projections: &Projections,
    hooks: &[(String, WebhookId)],
    settings: &Settings,
) -> anyhow::Result<()> {
    anyhow::ensure!(!hooks.is_empty(), "no webhook to update");
    let rate = settings.rate.max(1);
    let total = rate as u64 * settings.seconds.max(1);
    let period = Duration::from_secs(1) / rate;
    let started = tokio::time::Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    let mut commits = Vec::with_capacity(total as usize);
    let mut lags = Vec::with_capacity(total as usize);
    for i in 0..total {
        tokio::time::sleep_until(started + period * i as u32).await;
        let writers = writers.clone();
        let projections = projections.clone();
        let (tenant, id) = hooks[i as usize % hooks.len()].clone();
        tasks.spawn(async move {
            let command = writers.rename(&format!("lag {i}"))?;
            let t0 = Instant::now();
            let version = writers.run(&tenant, &id, command).await?;
            let committed = Instant::now();
            projections
                .wait_for(View::Ledger, version, Duration::from_secs(10))
                .await?;
            anyhow::Ok((committed - t0, committed.elapsed()))
        });
        while let Some(done) = tasks.try_join_next() {
            let (commit, lag) = done??;
            commits.push(commit);
            lags.push(lag);
        }
    }
    let sent = started.elapsed();
    while let Some(done) = tasks.join_next().await {
        let (commit, lag) = done??;
        commits.push(commit);
        lags.push(lag);
    }
    println!(
        "live     {total} renames at {rate}/s target ({:.0}/s achieved) over {} webhooks",
        total as f64 / sent.as_secs_f64(),
        hooks.len()
    );
    println!(
        "  commit (execute → ack)               {}",
        percentiles(&mut commits)
    );
    println!(
        "  lag (ack → ledger view applied)      {}  (Projections::wait_for)",
        percentiles(&mut lags)
    );
    Ok(())
}

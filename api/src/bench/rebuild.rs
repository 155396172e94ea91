//! `hookledger bench rebuild`: the rate of a blue/green rebuild of the deliveries view, and
//! whether it stays linear in the number of deliveries.
//!
//! For each size N (`--deliveries 20000,200000`), under a throw-away NATS prefix (`benchr-…`,
//! streams deleted afterwards) and a fresh database (dropped afterwards):
//!
//! 1. **Record**: N deliveries over W webhooks of one tenant, as the dispatcher records them
//!    (`Nats::record_fact`): an attempt and its end each. One in ten fails, and is then
//!    redelivered (a second attempt that closes it as succeeded, recorded after all the
//!    others, so it finds its delivery far back in the shadow table).
//! 2. **Rebuild**: `projections::rebuild` of [`View::Deliveries`] on the empty database,
//!    timed → facts per second, overall and per tenth of the stream: a rebuild whose cost per
//!    batch grows with the shadow table shows as tenths that get slower.
//! 3. **Check**: the rebuilt view holds N deliveries and the expected counters.

use std::sync::Mutex;
use std::time::Instant;

use anyhow::Context as _;
use futures::StreamExt as _;
use hookledger_domain::delivery::{
    AttemptOutcome, AttemptRecord, DeliveryClosed, DeliveryEnd, DeliveryFact,
};
use hookledger_domain::ids::{DeliveryId, EventId, TenantId, WebhookId};
use hookledger_domain::ledger::Nats;
use hookledger_domain::ledger::reader::StreamKind;
use hookledger_projections::View;
use sqlx::postgres::PgPoolOptions;

use crate::Config;

/// What `hookledger bench rebuild` runs.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Sizes to measure, each on its own prefix and database.
    pub deliveries: Vec<usize>,
    pub webhooks: usize,
    /// Deliveries being recorded at once.
    pub window: usize,
}

/// Runs the rebuild benchmark (see the module docs).
pub async fn rebuild(config: &Config, settings: &Settings) -> anyhow::Result<()> {
    let mut rates = Vec::new();
    for &n in &settings.deliveries {
        println!("{n} deliveries:");
        let rate = super::scratch::with_share(config, "benchr-", |nats, _, url| async move {
            one(&nats, &url, n, settings).await
        })
        .await?;
        rates.push((n, rate));
    }
    if let [(small, first), .., (large, last)] = rates[..] {
        println!(
            "rate at {large} deliveries / rate at {small}: {:.2}",
            last / first
        );
    }
    Ok(())
}

/// Records `n` deliveries, rebuilds, checks; answers the facts per second of the rebuild.
async fn one(nats: &Nats, url: &str, n: usize, settings: &Settings) -> anyhow::Result<f64> {
    let pool = PgPoolOptions::new()
        .max_connections(4)
        .connect(url)
        .await
        .context("connecting to the benchmark database")?;
    hookledger_projections::migrate(&pool).await?;
    let started = Instant::now();
    record(nats, n, settings).await?;
    let head = nats.head(StreamKind::Deliveries).await?;
    println!(
        "  record   {head} facts in {:.1} s",
        started.elapsed().as_secs_f64()
    );

    let tenths = Mutex::new(Tenths::new(head));
    let report =
        hookledger_projections::rebuild::rebuild(nats, &pool, &[View::Deliveries], |done, _| {
            if let Ok(mut t) = tenths.lock() {
                t.observe(done);
            }
        })
        .await?;
    let view = report.views.first().context("the rebuilt view")?;
    let rate = view.messages as f64 / view.elapsed.as_secs_f64();
    println!(
        "  rebuild  {} facts ({n} deliveries) in {:.2} s = {rate:.0} facts/s",
        view.messages,
        view.elapsed.as_secs_f64()
    );

    let (deliveries, succeeded, failed): (i64, i64, i64) = sqlx::query_as(
        "SELECT count(*), count(*) FILTER (WHERE status = 'succeeded'), count(*) FILTER (WHERE status = 'failed') FROM deliveries",
    )
    .fetch_one(&pool)
    .await?;
    let (counted, attempts): (i64, i64) =
        sqlx::query_as("SELECT sum(deliveries)::int8, sum(attempts)::int8 FROM webhook_stats")
            .fetch_one(&pool)
            .await?;
    let redelivered = n.div_ceil(10);
    let expected = (n as i64, n as i64, 0, (n + redelivered) as i64);
    anyhow::ensure!(
        (deliveries, succeeded, failed, attempts) == expected && counted == deliveries,
        "rebuilt view: {deliveries} deliveries ({succeeded} succeeded, {failed} failed, \
         {counted} counted), {attempts} attempts; expected {expected:?}"
    );
    pool.close().await;
    Ok(rate)
}

/// Facts per second over each tenth of the stream, printed as each tenth completes.
struct Tenths {
    head: u64,
    next: u64,
    mark: (Instant, u64),
}

impl Tenths {
    fn new(head: u64) -> Self {
        Self {
            head,
            next: 1,
            mark: (Instant::now(), 0),
        }
    }

    fn observe(&mut self, done: u64) {
        while self.next <= 10 && done * 10 >= self.head * self.next {
            let (at, from) = self.mark;
            let secs = at.elapsed().as_secs_f64();
            println!(
                "    tenth {:>2}: {:>8} facts in {secs:>7.2} s = {:>7.0} facts/s",
                self.next,
                done - from,
                (done - from) as f64 / secs.max(1e-9)
            );
            self.mark = (Instant::now(), done);
            self.next += 1;
        }
    }
}

/// Records the facts (see the module docs).
async fn record(nats: &Nats, n: usize, settings: &Settings) -> anyhow::Result<()> {
    let tenant = TenantId::parse("bench")?;
    let webhooks: Vec<WebhookId> = (0..settings.webhooks.max(1))
        .map(|_| WebhookId::new())
        .collect();
    let ids: Vec<DeliveryId> = (0..n).map(|_| DeliveryId::new()).collect();
    let first = (0..n).map(|i| {
        let delivery = Delivery::new(&tenant, &webhooks[i % webhooks.len()], &ids[i], i);
        vec![delivery.attempt(1), delivery.end()]
    });
    let redeliveries = (0..n).filter(|i| i % 10 == 3).map(|i| {
        let delivery = Delivery::new(&tenant, &webhooks[i % webhooks.len()], &ids[i], i);
        vec![delivery.attempt(2)]
    });
    // Everything of the first pass is stored before the redeliveries start.
    publish(nats, first.collect(), settings.window).await?;
    publish(nats, redeliveries.collect(), settings.window).await
}

/// Records each delivery's facts in order, `window` deliveries at a time.
async fn publish(nats: &Nats, facts: Vec<Vec<DeliveryFact>>, window: usize) -> anyhow::Result<()> {
    let results: Vec<anyhow::Result<()>> = futures::stream::iter(facts)
        .map(|facts| async move {
            for fact in facts {
                nats.record_fact(&fact, None).await?;
            }
            Ok(())
        })
        .buffer_unordered(window.max(1))
        .collect()
        .await;
    results.into_iter().collect()
}

/// One delivery's facts.
struct Delivery {
    tenant: TenantId,
    webhook: WebhookId,
    id: DeliveryId,
    event: EventId,
    fails: bool,
    at: chrono::DateTime<chrono::Utc>,
}

impl Delivery {
    fn new(tenant: &TenantId, webhook: &WebhookId, id: &DeliveryId, i: usize) -> Self {
        Self {
            tenant: tenant.clone(),
            webhook: webhook.clone(),
            id: id.clone(),
            event: EventId::parse(&format!("evt-bench-{i}")).expect("a valid event id"),
            fails: i % 10 == 3,
            at: chrono::Utc::now(),
        }
    }

    /// Attempt `number`: the first fails for a failing delivery, a second one (a redelivery)
    /// succeeds and closes it.
    fn attempt(&self, number: u32) -> DeliveryFact {
        let success = number > 1 || !self.fails;
        let at = self.at + chrono::TimeDelta::milliseconds(2 * i64::from(number) - 2);
        let ids = (&self.tenant, &self.webhook, &self.id, &self.event);
        DeliveryFact::Attempted(AttemptRecord {
            closes: (number > 1).then_some(DeliveryEnd::Succeeded),
            ..super::synthetic_attempt(ids, number, at, success)
        })
    }

    fn end(&self) -> DeliveryFact {
        let closed = DeliveryClosed {
            delivery_id: self.id.clone(),
            tenant: self.tenant.clone(),
            webhook_id: self.webhook.clone(),
            event_id: self.event.clone(),
            event_type: "lead.created".into(),
            attempts: 1,
            at: self.at + chrono::TimeDelta::milliseconds(1),
            reason: self.fails.then_some(AttemptOutcome::HttpError),
        };
        if self.fails {
            DeliveryFact::Failed(closed)
        } else {
            DeliveryFact::Succeeded(closed)
        }
    }
}

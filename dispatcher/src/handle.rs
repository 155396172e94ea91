//! [`Dispatcher`]: the handle the process holds. It starts the router and the worker, and it is
//! what the API's `test`, `redeliver` and `recover` routes call; all three go through the same
//! attempt path as routed events and write the same facts.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use hookledger_domain::delivery::DeliveryTrigger;
use hookledger_domain::ids::{DeliveryId, EventId, TenantId, WebhookId};
use hookledger_domain::ledger::{Ledger, Nats};
use hookledger_domain::secrets::Keyring;
use hookledger_domain::webhook::Webhook;
use serde::Serialize;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::breaker::Breaker;
use crate::job::{EventBody, Job};
use crate::keys::Keys;
use crate::limits::Limits;
use crate::notify::{Notifier, SmtpSettings};
use crate::registry::Registry;
use crate::{DispatchError, client, router, worker};

/// The dispatcher's configuration (`[dispatcher]`).
#[derive(Debug, Clone)]
pub struct Settings {
    /// Deliver to private, loopback and link-local addresses (demos and tests).
    pub allow_private_targets: bool,
    /// HTTP attempts in flight, at most.
    pub concurrency: usize,
    /// HTTP attempts in flight for one webhook, at most (its limit adapts below it).
    pub per_webhook_concurrency: usize,
    /// HTTP attempts in flight for one tenant to one `host:port`, at most.
    pub per_host_concurrency: usize,
    /// The longest wait between two attempts.
    pub max_retry_delay: Duration,
    /// Bytes of a response body kept in the attempt's fact (at most 2048).
    pub response_excerpt_bytes: usize,
    /// Consecutive failed deliveries that disable a webhook (0: never; 410 always does).
    pub disable_after_failures: u32,
    /// A job not acknowledged for this long is delivered again (after a crash); in-flight jobs
    /// send "in progress" at a third of it.
    pub ack_wait: Duration,
    /// Where disable notifications go; `None` (or an empty host): logged and recorded as not
    /// sent.
    pub smtp: Option<SmtpSettings>,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            allow_private_targets: false,
            concurrency: 4096,
            per_webhook_concurrency: 32,
            per_host_concurrency: 64,
            max_retry_delay: Duration::from_secs(86_400),
            response_excerpt_bytes: 2048,
            disable_after_failures: 20,
            ack_wait: Duration::from_secs(30),
            smtp: None,
        }
    }
}

/// What the routes of the API get back from `test`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TestResult {
    pub delivery_id: DeliveryId,
    pub success: bool,
    pub response_status: Option<u16>,
    pub latency_ms: u64,
    pub error: Option<String>,
}

/// A delivery queued again: its id and the number of the attempt that will be made.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Redelivery {
    pub delivery_id: DeliveryId,
    pub attempt: u32,
}

/// What the router, the worker and the API calls share.
pub(crate) struct Inner {
    pub(crate) nats: Nats,
    pub(crate) webhooks: Arc<Ledger<Webhook>>,
    pub(crate) keys: Keys,
    pub(crate) client: reqwest::Client,
    pub(crate) settings: Settings,
    pub(crate) breaker: Breaker,
    pub(crate) notifier: Notifier,
    /// Caps attempts per webhook and per (tenant, host) (see `limits`).
    pub(crate) limits: Limits,
    /// Caps attempts in flight in this process (`concurrency` permits).
    pub(crate) sending: Arc<Semaphore>,
    /// The webhooks as the ledger has them, for the router and the worker (`registry`).
    pub(crate) registry: Arc<Registry>,
    /// The task folding the ledger into `registry`, once started by the router or the worker.
    follower: std::sync::Mutex<Option<tokio::task::JoinHandle<()>>>,
}

impl Inner {
    /// Starts the registry's follower unless it runs (it stops at `shutdown`).
    pub(crate) fn follow_ledger(&self, shutdown: &CancellationToken) {
        let mut follower = self.follower.lock().expect("follower lock");
        if follower.as_ref().is_none_or(|task| task.is_finished()) {
            let registry = self.registry.clone();
            let task = registry.follow(self.nats.clone(), shutdown.clone());
            *follower = Some(tokio::spawn(task));
        }
    }
}

/// Cheap to clone; every clone shares the client, the breaker and the limits.
#[derive(Clone)]
pub struct Dispatcher {
    inner: Arc<Inner>,
}

impl Dispatcher {
    /// Builds the HTTP client and the notifier; starts nothing.
    pub async fn new(
        nats: Nats,
        webhooks: Arc<Ledger<Webhook>>,
        keyring: Arc<Keyring>,
        settings: Settings,
    ) -> Result<Self, DispatchError> {
        let client = client::build(settings.allow_private_targets)?;
        let notifier = Notifier::new(&nats, settings.smtp.as_ref()).await?;
        let inner = Inner {
            breaker: Breaker::open(&nats, settings.disable_after_failures).await?,
            limits: Limits::new(
                settings.per_webhook_concurrency,
                settings.per_host_concurrency,
                settings.concurrency,
            ),
            sending: Arc::new(Semaphore::new(settings.concurrency.max(1))),
            registry: Arc::new(Registry::new()),
            follower: std::sync::Mutex::new(None),
            nats,
            webhooks,
            keys: Keys::new(keyring),
            client,
            notifier,
            settings,
        };
        Ok(Self {
            inner: Arc::new(inner),
        })
    }

    /// Routes events until `shutdown` (the webhook registry follows the ledger meanwhile).
    /// Returns only on shutdown or when NATS fails; [`Dispatcher::spawn_router`] restarts it.
    pub async fn run_router(&self, shutdown: CancellationToken) -> Result<(), DispatchError> {
        self.inner.follow_ledger(&shutdown);
        let registry = self.inner.registry.clone();
        Ok(router::run(self.inner.clone(), registry, shutdown.clone()).await?)
    }

    /// Works off DISPATCH jobs until `shutdown`, then finishes the attempts in flight.
    pub async fn run_worker(&self, shutdown: CancellationToken) -> Result<(), DispatchError> {
        self.check_worker()?;
        self.inner.follow_ledger(&shutdown);
        Ok(worker::run(self.inner.clone(), shutdown).await?)
    }

    /// Runs the router on `tracker`, restarting it (with backoff) when NATS fails.
    pub fn spawn_router(&self, shutdown: CancellationToken, tracker: &TaskTracker) {
        let this = self.clone();
        tracker.spawn(supervise("router", shutdown, move |token| {
            let this = this.clone();
            async move { this.run_router(token).await }
        }));
    }

    /// Runs the worker on `tracker`, restarting it (with backoff) when NATS fails.
    pub fn spawn_worker(&self, shutdown: CancellationToken, tracker: &TaskTracker) {
        let this = self.clone();
        tracker.spawn(supervise("dispatcher", shutdown, move |token| {
            let this = this.clone();
            async move { this.run_worker(token).await }
        }));
    }

    /// `POST /v1/webhooks/{id}/test`: sends a signed `webhook.test` event now (whatever the
    /// webhook's status), records it as a delivery with trigger `test` (one attempt, no
    /// retries, no effect on the circuit breaker) and answers how it went.
    pub async fn test_delivery(
        &self,
        tenant: &TenantId,
        webhook_id: &WebhookId,
    ) -> Result<TestResult, DispatchError> {
        let webhook = self.inner.load(tenant, webhook_id).await?;
        let Some(webhook) = webhook.filter(Webhook::exists) else {
            return Err(DispatchError::WebhookNotFound);
        };
        let now = Utc::now();
        let job = Job {
            tenant: tenant.clone(),
            webhook_id: webhook_id.clone(),
            delivery_id: DeliveryId::new(),
            event: EventBody {
                id: EventId::new(),
                event_type: "webhook.test".into(),
                timestamp: now,
                data: serde_json::value::to_raw_value(
                    &serde_json::json!({"test": true, "webhookId": webhook_id, "sentAt": now}),
                )
                .expect("a JSON value serializes"),
            },
            event_sequence: None,
            ledger_sequence: None,
            attempt: 1,
            first_attempt: 1,
            trigger: DeliveryTrigger::Test,
        };
        let result = self.inner.send(&job, Some(&webhook)).await?;
        let policy = webhook.spec().map(|s| s.retry).unwrap_or_default();
        self.inner.conclude(&job, &policy, &result).await?;
        Ok(TestResult {
            delivery_id: job.delivery_id,
            success: result.outcome.is_success(),
            response_status: result.status,
            latency_ms: u64::try_from(result.latency.as_millis()).unwrap_or(u64::MAX),
            error: result.error,
        })
    }

    /// `POST …/deliveries/{id}/redeliver`: queues the next attempt of a delivery now, with a
    /// fresh retry budget. The event is read back from EVENTS, so a delivery older than the
    /// EVENTS retention (or a test delivery) answers [`DispatchError::EventUnavailable`].
    /// A delivery whose retry is already scheduled is not queued twice: the answer names the
    /// scheduled attempt.
    pub async fn redeliver(
        &self,
        tenant: &TenantId,
        webhook_id: &WebhookId,
        delivery_id: &DeliveryId,
    ) -> Result<Redelivery, DispatchError> {
        self.inner
            .queue_again(tenant, webhook_id, delivery_id, DeliveryTrigger::Redeliver)
            .await
    }

    /// `POST …/recover?since=`: queues again each of `deliveries` (the caller passes the ids of
    /// `hookledger_projections::deliveries::failed_since`) and answers how many were queued;
    /// deliveries whose event is gone are skipped with a log line.
    pub async fn recover(
        &self,
        tenant: &TenantId,
        webhook_id: &WebhookId,
        deliveries: impl IntoIterator<Item = DeliveryId>,
    ) -> Result<usize, DispatchError> {
        let mut queued = 0;
        for delivery_id in deliveries {
            match (self.inner)
                .queue_again(tenant, webhook_id, &delivery_id, DeliveryTrigger::Recover)
                .await
            {
                Ok(_) => queued += 1,
                Err(e @ (DispatchError::EventUnavailable(_) | DispatchError::DeliveryNotFound)) => {
                    tracing::info!(%tenant, %webhook_id, %delivery_id, reason = %e, "not recovered");
                }
                Err(e) => return Err(e),
            }
        }
        Ok(queued)
    }

    /// Fails when this NATS server cannot run the worker (it needs scheduled messages,
    /// nats-server 2.12+); start-up calls it before starting the dispatcher role.
    pub fn check_worker(&self) -> Result<(), DispatchError> {
        if self.inner.nats.supports_message_schedules() {
            Ok(())
        } else {
            Err(DispatchError::NoSchedules(self.inner.nats.server_version()))
        }
    }
}

/// Runs `task` until `shutdown`, restarting it after a failure (100 ms, doubling to 10 s).
async fn supervise<F, Fut>(role: &'static str, shutdown: CancellationToken, task: F)
where
    F: Fn(CancellationToken) -> Fut,
    Fut: std::future::Future<Output = Result<(), DispatchError>>,
{
    let mut backoff = Duration::from_millis(100);
    loop {
        let started = tokio::time::Instant::now();
        match task(shutdown.clone()).await {
            Ok(()) if shutdown.is_cancelled() => return,
            Ok(()) => tracing::warn!(role, "stopped without being asked; restarting"),
            Err(error @ DispatchError::NoSchedules(_)) => {
                tracing::error!(role, %error, "cannot run");
                return;
            }
            Err(error) => tracing::warn!(role, %error, "failed; restarting"),
        }
        if started.elapsed() > Duration::from_secs(60) {
            backoff = Duration::from_millis(100);
        }
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tokio::time::sleep(backoff) => {}
        }
        backoff = (backoff * 2).min(Duration::from_secs(10));
    }
}

/// When an attempt made now after `delay` happens.
pub(crate) fn due(delay: Duration) -> DateTime<Utc> {
    let now = Utc::now();
    chrono::Duration::from_std(delay)
        .ok()
        .and_then(|d| now.checked_add_signed(d))
        .unwrap_or(DateTime::<Utc>::MAX_UTC)
}

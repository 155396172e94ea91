//! The worker: a durable pull consumer on DISPATCH jobs (`<p>_dispatcher`), each job one
//! attempt ([`crate::process`]), with bounded concurrency so that a slow, hanging or failing
//! endpoint costs only its own webhook.
//!
//! The limits, in the order a job meets them:
//! - **intake** (`2 × concurrency` permits): jobs taken from the consumer and not finished. The
//!   loop takes the next message only with a permit, so memory and the consumer's pending
//!   count stay bounded.
//! - **per webhook and per (tenant, host)** ([`crate::limits`]): a slot of each, after a short
//!   wait in line. A job that gets none is **deferred**: republished as a scheduled message on
//!   its delivery's schedule subject, due when its webhook can likely serve it, and acked. A
//!   waiting job thus holds nothing on the consumer, and a hanging webhook holds one slot and
//!   one intake permit or so, whatever its backlog.
//! - **sending** (`concurrency` permits): HTTP attempts in flight in this process.
//!
//! Delays between attempts are not spent here either: a retry is a scheduled message on
//! DISPATCH (nats-server 2.12+), held durably by the server and published onto the job subject
//! when due. A NAK with a delay would keep the message "pending" on the consumer for the whole
//! delay, so thousands of jobs waiting would fill `max_ack_pending` and stall every webhook
//! (which is what happened when deferred jobs were NAKed); a scheduled message occupies nothing
//! until it is due. NAKs remain only for a failing NATS or ledger, where every job waits alike.
//!
//! While a job waits or sends, it tells the server "in progress" every third of `ack_wait`; a
//! job whose worker died is delivered again after `ack_wait`. A job delivered again first
//! looks at its delivery's last fact: if its attempt was recorded, it continues from the fact
//! instead of sending again; if the delivery went past it (closed, or a later attempt), the
//! job is simply acked. Only an attempt that was in flight, sent but not yet recorded, is
//! sent twice.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use hookledger_domain::delivery::DeliveryFact;
use hookledger_domain::ledger::{ConsumerSettings, LedgerError, WorkMessage, WorkQueue};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use crate::Inner;
use crate::handle::due;
use crate::job::Job;
use crate::limits::Deferral;
use crate::retry::Verdict;

/// Works off jobs until `shutdown`, then waits for the jobs in flight. Returns an error when
/// the consumer breaks (after the jobs in flight finished).
pub(crate) async fn run(inner: Arc<Inner>, shutdown: CancellationToken) -> Result<(), LedgerError> {
    let concurrency = inner.settings.concurrency.max(1);
    let intake = Arc::new(Semaphore::new(concurrency * 2));
    let settings = ConsumerSettings {
        ack_wait: inner.settings.ack_wait,
        max_ack_pending: i64::try_from(concurrency * 4).unwrap_or(i64::MAX),
        batch: concurrency.min(512),
    };
    let mut messages = inner
        .nats
        .work_consumer(WorkQueue::Dispatcher, &settings)
        .await?;
    tracing::info!(
        concurrency,
        per_webhook = inner.settings.per_webhook_concurrency,
        per_host = inner.settings.per_host_concurrency,
        "dispatcher started"
    );
    let mut jobs = JoinSet::new();
    let result = loop {
        let permit = tokio::select! {
            _ = shutdown.cancelled() => break Ok(()),
            permit = intake.clone().acquire_owned() => permit.expect("the intake semaphore is never closed"),
        };
        let message = tokio::select! {
            _ = shutdown.cancelled() => break Ok(()),
            next = messages.next() => next,
        };
        match message {
            Some(Ok(message)) => {
                jobs.spawn(handle(inner.clone(), message, permit));
            }
            Some(Err(error)) => break Err(error),
            None => {
                break Err(LedgerError::unavailable_because(
                    "the dispatcher's consumer stopped",
                ));
            }
        }
        while let Some(done) = jobs.try_join_next() {
            if let Err(e) = done {
                tracing::error!(error = %e, "a delivery task panicked; its job comes back after ack_wait");
            }
        }
    };
    while jobs.join_next().await.is_some() {}
    result
}

/// One job, start to finish; `_intake` is released when it returns.
async fn handle(inner: Arc<Inner>, message: WorkMessage, _intake: OwnedSemaphorePermit) {
    let job: Job = match serde_json::from_slice(message.payload()) {
        Ok(job) => job,
        Err(error) => {
            tracing::error!(%error, subject = message.subject(), "unreadable job; dropped");
            let _ = message.term().await;
            return;
        }
    };
    let span = tracing::info_span!("delivery", tenant = %job.tenant, webhook_id = %job.webhook_id,
        delivery_id = %job.delivery_id, attempt = job.attempt);
    let every = inner.settings.ack_wait / 3;
    // Boxed: the attempt's future is large, and tasks are spawned (moved) by the thousand.
    let work = Box::pin(process(&inner, &job, &message));
    let done = with_progress(&message, every, work).instrument(span.clone());
    let result = match done.await {
        Step::Ack => message.ack().await,
        Step::Later(delay) => message.nak(Some(delay)).await,
        Step::Defer(deferral) => defer(&inner, &job, &message, deferral).await,
    };
    if let Err(error) = result {
        span.in_scope(|| tracing::warn!(%error, "acknowledging the job failed; it comes back"));
    }
}

/// What becomes of a job message.
enum Step {
    Ack,
    /// NAKed: delivered again after the delay (NATS or the ledger failed).
    Later(Duration),
    /// No slot: held as a scheduled message, out of the consumer.
    Defer(Deferral),
}

/// Hands a job back as a scheduled message, then acks it; if the publish fails, NAKs it.
async fn defer(
    inner: &Inner,
    job: &Job,
    message: &WorkMessage,
    deferral: Deferral,
) -> Result<(), LedgerError> {
    metrics::counter!("hookledger_dispatch_deferred_total", "limit" => deferral.limit).increment(1);
    let names = inner.nats.names();
    let held = job.deferred(names, due(deferral.delay), message.sequence());
    match inner.nats.publish(held).await {
        Ok(_) => message.ack().await,
        Err(error) => {
            tracing::warn!(%error, "deferring the job failed; it comes back in 2 s");
            message.nak(Some(Duration::from_secs(2))).await
        }
    }
}

async fn process(inner: &Inner, job: &Job, message: &WorkMessage) -> Step {
    if message.delivered() > 1 {
        // Delivered again (a worker died, or an ack was lost): the facts say how far it got.
        match inner
            .nats
            .last_fact(&job.tenant, &job.webhook_id, &job.delivery_id)
            .await
        {
            Ok(Some(stored)) => match stored.fact {
                DeliveryFact::Attempted(record) if record.attempt == job.attempt => {
                    return match inner.resume(job, &record).await {
                        Ok(()) => Step::Ack,
                        Err(error) => failed(error),
                    };
                }
                DeliveryFact::Attempted(record) if record.attempt > job.attempt => {
                    tracing::debug!("a later attempt is recorded; this job is done");
                    return Step::Ack;
                }
                DeliveryFact::Succeeded(closed) | DeliveryFact::Failed(closed)
                    if closed.attempts >= job.attempt =>
                {
                    tracing::debug!("the delivery was closed after this attempt; done");
                    return Step::Ack;
                }
                _ => {}
            },
            Ok(None) => {}
            Err(error) => return failed(error),
        }
    }
    // From the registry when it has applied what the router saw, else from the ledger.
    let cached = (job.ledger_sequence).and_then(|seq| {
        inner
            .registry
            .webhook_as_of(&job.tenant, &job.webhook_id, seq)
    });
    let webhook = match cached {
        Some(webhook) => webhook,
        None => match inner.load(&job.tenant, &job.webhook_id).await {
            Ok(webhook) => webhook.map(Arc::new),
            Err(error) => return failed(error),
        },
    };
    let spec = webhook
        .as_ref()
        .filter(|w| w.exists() && w.status().is_active())
        .and_then(|w| w.spec());
    let policy = spec.map(|s| s.retry).unwrap_or_default();
    // Paused, disabled or deleted: no slot needed, nothing is sent.
    let (admission, _sending) = match spec {
        None => (None, None),
        Some(spec) => {
            let (tenant, webhook) = (job.tenant.as_str(), job.webhook_id.as_str());
            let admission = match inner.limits.enter(tenant, webhook, spec.url.url()).await {
                Ok(admission) => admission,
                Err(deferral) => {
                    tracing::debug!(limit = deferral.limit, delay = ?deferral.delay,
                        "no free slot; the job is deferred");
                    return Step::Defer(deferral);
                }
            };
            let sending = inner
                .sending
                .clone()
                .acquire_owned()
                .await
                .expect("never closed");
            (Some(admission), Some(sending))
        }
    };
    let result = match inner.send(job, webhook.as_deref()).await {
        Ok(result) => result,
        Err(error) => {
            tracing::error!(%error, "cannot sign the delivery; the job comes back in a minute");
            return Step::Later(Duration::from_secs(60));
        }
    };
    if let Some(admission) = &admission {
        admission.record(&result);
    }
    drop((admission, _sending));
    match inner.conclude(job, &policy, &result).await {
        Ok(Verdict::Retry(delay)) => {
            tracing::debug!(
                outcome = result.outcome.as_str(),
                ?delay,
                "attempt failed; retry scheduled"
            );
            Step::Ack
        }
        Ok(verdict) => {
            tracing::debug!(
                outcome = result.outcome.as_str(),
                ?verdict,
                "delivery finished"
            );
            Step::Ack
        }
        Err(error) => failed(error),
    }
}

fn failed(error: LedgerError) -> Step {
    tracing::warn!(%error, "recording the delivery failed; the job comes back");
    Step::Later(Duration::from_secs(2))
}

/// Runs `work`, telling the server the message is in progress every `every`.
async fn with_progress<F: Future>(message: &WorkMessage, every: Duration, work: F) -> F::Output {
    let every = every.max(Duration::from_millis(100));
    tokio::pin!(work);
    let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
    loop {
        tokio::select! {
            out = &mut work => return out,
            _ = tick.tick() => {
                let _ = message.in_progress().await;
            }
        }
    }
}

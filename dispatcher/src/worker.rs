//! The worker: a durable pull consumer on DISPATCH jobs (`<p>_dispatcher`), each job one
//! attempt ([`crate::process`]), with bounded concurrency so that a failing endpoint never
//! holds back the healthy ones.
//!
//! Three limits, in the order a job meets them:
//! - **intake** (`4 × concurrency` permits): jobs taken from the consumer and not finished. The
//!   loop takes the next message only with a permit, so memory and the consumer's pending
//!   count stay bounded.
//! - **per endpoint** ([`crate::endpoint`], `per_host_concurrency` per `host:port`): attempts
//!   in flight to one endpoint, plus a waiting line as long as the endpoint can serve in about
//!   a second. A job that finds the line full, or waits longer, is NAKed with a delay (250 ms,
//!   doubling per delivery of the same job, at most 30 s) and comes back later, so an endpoint
//!   that always times out holds about `2 × per_host_concurrency` intake permits and
//!   `per_host_concurrency` sending permits, never all of them.
//! - **sending** (`concurrency` permits): HTTP attempts in flight in this process.
//!
//! Delays between attempts are not spent here: a retry is a scheduled message on DISPATCH
//! (nats-server 2.12+), held durably by the server and published onto the job subject when due.
//! We prefer it to a NAK with a delay because a NAKed message stays "pending" on the consumer
//! for the whole delay, so thousands of retries in back-off would fill `max_ack_pending` and
//! stall every webhook; a scheduled message occupies nothing until it is due.
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
use crate::endpoint::endpoint;
use crate::job::Job;
use crate::retry::Verdict;

/// Works off jobs until `shutdown`, then waits for the jobs in flight. Returns an error when
/// the consumer breaks (after the jobs in flight finished).
pub(crate) async fn run(inner: Arc<Inner>, shutdown: CancellationToken) -> Result<(), LedgerError> {
    let concurrency = inner.settings.concurrency.max(1);
    let intake = Arc::new(Semaphore::new(concurrency * 4));
    let settings = ConsumerSettings {
        ack_wait: inner.settings.ack_wait,
        max_ack_pending: i64::try_from(concurrency * 8).unwrap_or(i64::MAX),
        batch: concurrency.min(512),
    };
    let mut messages = inner
        .nats
        .work_consumer(WorkQueue::Dispatcher, &settings)
        .await?;
    tracing::info!(
        concurrency,
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
                break Err(LedgerError::Unavailable(
                    "the dispatcher's consumer stopped".into(),
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
    };
    if let Err(error) = result {
        span.in_scope(|| tracing::warn!(%error, "acknowledging the job failed; it comes back"));
    }
}

/// What becomes of a job message.
enum Step {
    Ack,
    Later(Duration),
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
    let webhook = match inner.load(&job.tenant, &job.webhook_id).await {
        Ok(webhook) => webhook,
        Err(error) => return failed(error),
    };
    let spec = webhook
        .as_ref()
        .filter(|w| w.exists() && w.status().is_active())
        .and_then(|w| w.spec());
    let policy = spec.map(|s| s.retry).unwrap_or_default();
    // Paused, disabled or deleted: no slot needed, nothing is sent.
    let (_host, _sending) = match spec {
        None => (None, None),
        Some(spec) => {
            let endpoint = endpoint(spec.url.as_str());
            let Some(host) = inner.hosts.enter(&endpoint).await else {
                let delay = busy_delay(message.delivered());
                tracing::debug!(%endpoint, ?delay, "endpoint is saturated; the job comes back later");
                metrics::counter!("hookledger_dispatch_deferred_total").increment(1);
                return Step::Later(delay);
            };
            let sending = inner
                .sending
                .clone()
                .acquire_owned()
                .await
                .expect("never closed");
            (Some(host), Some(sending))
        }
    };
    let result = match inner.send(job, webhook.as_ref()).await {
        Ok(result) => result,
        Err(error) => {
            tracing::error!(%error, "cannot sign the delivery; the job comes back in a minute");
            return Step::Later(Duration::from_secs(60));
        }
    };
    drop((_host, _sending));
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

/// The back-off of a job deferred because its endpoint is saturated.
fn busy_delay(delivered: i64) -> Duration {
    let doublings = u32::try_from(delivered.clamp(1, 8) - 1).unwrap_or(0);
    (Duration::from_millis(250) * 2u32.pow(doublings)).min(Duration::from_secs(30))
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_saturated_endpoint_backs_off_up_to_thirty_seconds() {
        assert_eq!(busy_delay(1), Duration::from_millis(250));
        assert_eq!(busy_delay(3), Duration::from_secs(1));
        assert_eq!(busy_delay(100), Duration::from_secs(30));
    }
}

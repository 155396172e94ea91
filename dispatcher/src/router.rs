//! The router: EVENTS → one DISPATCH job per (event × matching webhook).
//!
//! A durable pull consumer on EVENTS (`<p>_router`) hands over batches of whatever events are
//! ready (at most [`BATCH`]). For each batch the router first makes sure its [`Registry`] has
//! applied the ledger up to the stream's current last sequence, then matches every event, sends
//! one job per match (`Nats-Msg-Id = <events seq>:<webhookId>`, so handling an event twice makes
//! one job), awaits the publish acknowledgements, and only then acks the events. Publishes are
//! awaited in windows of at most [`WINDOW`] (the client itself allows 5,000 in flight). An
//! event whose jobs could not all be stored is NAKed and comes back; the jobs already stored
//! are not made twice.
//!
//! A delivery's id is derived from the event's sequence and the webhook
//! ([`DeliveryId::for_event`]). Message ids only dedupe while the job is stored (DISPATCH is a
//! work queue: a finished job is gone, and a nats-server restart forgets it), so an event that
//! comes back to the router after its jobs were worked off would be delivered twice: for an
//! event delivered more than once, the router first looks up each delivery's last fact and
//! makes no job for one that has facts (one direct get per match, only on redelivery).
//!
//! Before routing, each event whose publisher gave its id claims `<tenant>:<id>`
//! ([`hookledger_domain::ledger::Claim`]): an id already claimed by another event within the
//! events' duplicate window (the same id posted over HTTP and published on NATS) is acked
//! without routing, so one tenant has one event-id space across both paths.
//!
//! Events that cannot be delivered (a subject that is not `events.<tenant>.<type>`, a body
//! that is not JSON) are terminated with a warning: retrying cannot fix them.

use std::sync::Arc;
use std::time::Duration;

use futures::{FutureExt, StreamExt};
use hookledger_domain::delivery::DeliveryTrigger;
use hookledger_domain::ids::DeliveryId;
use hookledger_domain::ledger::reader::StreamKind;
use hookledger_domain::ledger::{
    Claim, ConsumerSettings, IncomingEvent, LedgerError, PendingAck, WorkMessage, WorkQueue,
};
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use crate::Inner;
use crate::job::{EventBody, Job};
use crate::registry::Registry;

/// An event's data as published: checked to be JSON, never parsed into a tree (the filters
/// read its text, the jobs carry it on).
type Parsed = Box<serde_json::value::RawValue>;

/// Events handled per batch, at most.
pub(crate) const BATCH: usize = 512;
/// Job publishes awaiting their acknowledgement, at most.
pub(crate) const WINDOW: usize = 1024;
/// How long a batch waits for the registry to reach the ledger's last sequence.
const CATCH_UP: Duration = Duration::from_secs(10);
/// An event whose jobs could not be stored comes back after this long.
const RETRY_EVENT: Duration = Duration::from_secs(1);

/// Routes until `shutdown`; returns an error when the consumer breaks (the caller restarts).
pub(crate) async fn run(
    inner: Arc<Inner>,
    registry: Arc<Registry>,
    shutdown: CancellationToken,
) -> Result<(), LedgerError> {
    let settings = ConsumerSettings {
        ack_wait: Duration::from_secs(30),
        max_ack_pending: 20_000,
        batch: BATCH,
    };
    let mut messages = inner
        .nats
        .work_consumer(WorkQueue::Router, &settings)
        .await?;
    tracing::info!("router started");
    loop {
        let first = tokio::select! {
            _ = shutdown.cancelled() => return Ok(()),
            next = messages.next() => next,
        };
        let mut batch = vec![first.ok_or_else(ended)??];
        while batch.len() < BATCH {
            match messages.next().now_or_never() {
                Some(Some(message)) => batch.push(message?),
                Some(None) => return Err(ended()),
                None => break,
            }
        }
        let span = tracing::debug_span!("router.batch", events = batch.len());
        route_batch(&inner, &registry, batch).instrument(span).await;
    }
}

fn ended() -> LedgerError {
    LedgerError::unavailable_because("the router's consumer stopped")
}

/// Outcome of one event of a batch.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Fate {
    Ack,
    Nak,
    Term,
}

async fn route_batch(inner: &Inner, registry: &Registry, batch: Vec<WorkMessage>) {
    let caught_up = match inner.nats.head(StreamKind::Ledger).await {
        Ok(head) => registry.catch_up(head, CATCH_UP).await.map(|()| head),
        Err(e) => Err(e),
    };
    let ledger_head = match caught_up {
        Ok(head) => head,
        Err(error) => {
            tracing::warn!(%error, events = batch.len(), "cannot see the current webhooks; the events come back later");
            for message in &batch {
                let _ = message.nak(Some(RETRY_EVENT)).await;
            }
            return;
        }
    };
    let mut fates = vec![Fate::Ack; batch.len()];
    let mut events = Vec::with_capacity(batch.len());
    for (i, message) in batch.iter().enumerate() {
        let event = match message.event(inner.nats.names()) {
            Ok(event) => event,
            Err(invalid) => {
                tracing::warn!(error = %invalid, "event cannot be delivered; dropped");
                fates[i] = Fate::Term;
                continue;
            }
        };
        match EventBody::data_of(&event.data) {
            Ok(data) => events.push((i, event, data)),
            Err(e) => {
                tracing::warn!(sequence = event.sequence, tenant = %event.tenant, error = %e, "event body is not JSON; dropped");
                fates[i] = Fate::Term;
            }
        }
    }
    claim(inner, &mut events, &mut fates).await;
    let mut pending: Vec<(usize, PendingAck)> = Vec::new();
    let mut jobs = 0usize;
    for (i, event, data) in events {
        let matches = registry.matching(&event.tenant, &event.event_type, &data);
        metrics::counter!("hookledger_router_events_total", "result" => if matches.is_empty() { "unmatched" } else { "routed" }).increment(1);
        let body = EventBody {
            id: event.id.clone(),
            event_type: event.event_type.clone(),
            timestamp: event.occurred_at,
            data,
        };
        // Routed before (its ack was lost, or nats-server restarted and forgot the jobs'
        // message ids): a delivery with facts already is not made again.
        let again = batch[i].delivered() > 1;
        for webhook_id in matches {
            let msg_id = Job::routed_msg_id(event.sequence, &webhook_id);
            let delivery_id = DeliveryId::for_event(event.sequence, &webhook_id, event.occurred_at);
            if again {
                match inner
                    .nats
                    .last_fact(&event.tenant, &webhook_id, &delivery_id)
                    .await
                {
                    Ok(Some(_)) => {
                        tracing::debug!(%delivery_id, "event routed before; its delivery exists");
                        metrics::counter!("hookledger_router_jobs_skipped_total").increment(1);
                        continue;
                    }
                    Ok(None) => {}
                    Err(error) => {
                        tracing::warn!(%error, "cannot look up the delivery; the event comes back");
                        fates[i] = Fate::Nak;
                        continue;
                    }
                }
            }
            let job = Job {
                tenant: event.tenant.clone(),
                webhook_id,
                delivery_id,
                event: body.clone(),
                event_sequence: Some(event.sequence),
                ledger_sequence: Some(ledger_head),
                attempt: 1,
                first_attempt: 1,
                trigger: DeliveryTrigger::Event,
            };
            match inner
                .nats
                .send(job.message(inner.nats.names(), msg_id))
                .await
            {
                Ok(ack) => pending.push((i, ack)),
                Err(error) => {
                    tracing::warn!(%error, "job publish failed; the event comes back");
                    fates[i] = Fate::Nak;
                }
            }
            jobs += 1;
            if pending.len() >= WINDOW {
                settle(&mut pending, &mut fates).await;
            }
        }
    }
    settle(&mut pending, &mut fates).await;
    metrics::counter!("hookledger_router_jobs_total").increment(jobs as u64);
    for (message, fate) in batch.iter().zip(fates) {
        let result = match fate {
            Fate::Ack => message.ack().await,
            Fate::Nak => message.nak(Some(RETRY_EVENT)).await,
            Fate::Term => message.term().await,
        };
        if let Err(error) = result {
            tracing::debug!(%error, "acknowledging an event failed; it will be routed again");
        }
    }
}

/// Claims the given ids of `events` (all sent, then all awaited): an event whose tenant and id
/// came in before as another event is acked without routing; one whose claim failed is NAKed.
/// Both leave `events`.
async fn claim(
    inner: &Inner,
    events: &mut Vec<(usize, IncomingEvent, Parsed)>,
    fates: &mut [Fate],
) {
    let mut claims = Vec::with_capacity(events.len());
    for (i, event, _) in events.iter() {
        claims.push((*i, inner.nats.claim_event_id(event).await));
    }
    let waits = claims.into_iter().map(|(i, sent)| async move {
        let claim = match sent {
            Ok(Some(pending)) => pending.wait(&inner.nats).await,
            Ok(None) => Ok(Claim::First),
            Err(error) => Err(error),
        };
        (i, claim)
    });
    let mut keep = vec![true; fates.len()];
    for (i, claim) in futures::future::join_all(waits).await {
        match claim {
            Ok(Claim::First) => {}
            Ok(Claim::Repeat { of }) => {
                tracing::debug!(first = of, "event id came in before; not routed again");
                metrics::counter!("hookledger_router_events_total", "result" => "duplicate")
                    .increment(1);
                keep[i] = false;
            }
            Err(error) => {
                tracing::warn!(%error, "cannot claim the event id; the event comes back");
                fates[i] = Fate::Nak;
                keep[i] = false;
            }
        }
    }
    events.retain(|(i, _, _)| keep[*i]);
}

/// Awaits every pending job publish, together (a publish lost with its connection costs one
/// ack timeout for the whole window, not one each); an event with a failed one is NAKed.
async fn settle(pending: &mut Vec<(usize, PendingAck)>, fates: &mut [Fate]) {
    let waits = pending
        .drain(..)
        .map(|(i, ack)| async move { (i, ack.wait().await) });
    for (i, stored) in futures::future::join_all(waits).await {
        if let Err(error) = stored {
            tracing::warn!(%error, "job was not stored; the event comes back");
            fates[i] = Fate::Nak;
        }
    }
}

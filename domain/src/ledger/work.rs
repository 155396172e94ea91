//! Delivery's use of JetStream: events in, jobs between router and dispatcher, facts out.
//!
//! The router and the dispatcher (crate `hookledger-dispatcher`) never touch `async_nats`; they
//! use the small typed surface here:
//! - [`Nats::work_consumer`]: the durable pull consumer of a role ([`WorkQueue::Router`] on
//!   EVENTS, [`WorkQueue::Dispatcher`] on DISPATCH), yielding [`WorkMessage`]s that are acked,
//!   NAKed (with a delay), terminated or kept alive (`in progress`) explicitly.
//! - [`Nats::send`] / [`Nats::publish`]: one message with a `Nats-Msg-Id`, headers and
//!   optionally a [`Schedule`] (a JetStream scheduled message, nats-server 2.12+: the server
//!   holds it on its own subject and publishes it to the target at the given time). `send`
//!   returns a [`PendingAck`], so callers can keep a window of publishes in flight.
//! - [`Nats::publish_event`]: `POST /v1/events` on the EVENTS stream, ids scoped by tenant.
//! - [`Nats::record_fact`], [`Nats::last_fact`]: delivery facts on DELIVERIES, each carrying
//!   the EVENTS sequence of its event in the `Hookledger-Event-Seq` header (so a redelivery can
//!   find the event again without changing the facts' JSON).
//! - [`Nats::event_at`]: one event by its EVENTS sequence.
//! - [`Nats::claim_event_id`]: the router's claim of a tenant's event id, so that an id used
//!   over HTTP and over NATS is one event (`claims`).
//!
//! Layout: this file (consumers and their messages), `publish` (sending, facts), `event`
//! (events as stored on EVENTS), `claims` (one event-id space per tenant).
//!
//! Subjects of the DISPATCH stream: jobs on `<p>.dispatch.<tenant>.<webhookId>` (what the
//! dispatcher consumes, filter `<p>.dispatch.*.*`); a scheduled retry is held on
//! `<p>.dispatch.<tenant>.<webhookId>.<deliveryId>` (one pending schedule per delivery, which is
//! all a delivery ever has) until the server publishes it onto the job subject.

mod claims;
mod event;
mod publish;

use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use async_nats::HeaderMap;
use async_nats::jetstream::consumer::{AckPolicy, DeliverPolicy, pull};
use async_nats::jetstream::{self, AckKind};
use bytes::Bytes;
use chrono::{DateTime, Utc};
use futures::Stream;

use super::{LedgerError, Names, Nats};

pub use claims::{Claim, PendingClaim};
pub use event::{IncomingEvent, InvalidEvent};
pub use publish::{Outgoing, PendingAck, Schedule, Stored, StoredFact};

/// Header of an event: its id as the publisher gave it (set by `POST /v1/events`, whose
/// `Nats-Msg-Id` is scoped by tenant). NATS publishers may set it too; without it the
/// `Nats-Msg-Id` is the event id.
pub const EVENT_ID_HEADER: &str = "Hookledger-Event-Id";
/// Header of an event: when it happened (RFC 3339), if the publisher said so.
pub const OCCURRED_AT_HEADER: &str = "Hookledger-Occurred-At";
/// Header of a delivery fact: the EVENTS sequence of the delivered event.
pub const EVENT_SEQUENCE_HEADER: &str = "Hookledger-Event-Seq";
/// The nats-server release that has scheduled messages (ADR-51).
pub const SCHEDULES_SERVER_VERSION: (u64, u64) = (2, 12);

/// The durable consumer of a delivery role.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WorkQueue {
    /// EVENTS, every tenant and type: durable `<p>_router`.
    Router,
    /// DISPATCH jobs (not the held schedules): durable `<p>_dispatcher`.
    Dispatcher,
}

/// How a durable work consumer behaves.
#[derive(Debug, Clone)]
pub struct ConsumerSettings {
    /// Unacknowledged messages are delivered again after this long (extend with
    /// [`WorkMessage::in_progress`]).
    pub ack_wait: Duration,
    /// Messages delivered and not yet acknowledged, at most (the server stops delivering).
    pub max_ack_pending: i64,
    /// Messages asked for per pull request.
    pub batch: usize,
}

impl Nats {
    /// Creates (or updates) the durable consumer of `queue` and starts pulling from it.
    pub async fn work_consumer(
        &self,
        queue: WorkQueue,
        settings: &ConsumerSettings,
    ) -> Result<WorkStream, LedgerError> {
        let (stream_name, durable, filter) = match queue {
            WorkQueue::Router => (
                self.names.events_stream(),
                self.names.durable("router"),
                self.names.events_all(),
            ),
            WorkQueue::Dispatcher => (
                self.names.dispatch_stream(),
                self.names.durable("dispatcher"),
                self.names.dispatch_jobs_filter(),
            ),
        };
        let stream = self
            .js
            .get_stream_no_info(&stream_name)
            .await
            .map_err(|e| LedgerError::unavailable(&stream_name, e))?;
        let consumer = stream
            .create_consumer(pull::Config {
                durable_name: Some(durable.clone()),
                description: Some(format!("hookledger {queue:?} (work queue)")),
                deliver_policy: DeliverPolicy::All,
                ack_policy: AckPolicy::Explicit,
                ack_wait: settings.ack_wait,
                max_deliver: -1,
                filter_subject: filter,
                max_ack_pending: settings.max_ack_pending,
                ..Default::default()
            })
            .await
            .map_err(|e| LedgerError::unavailable(&format!("durable consumer {durable}"), e))?;
        let inner = consumer
            .stream()
            .max_messages_per_batch(settings.batch.max(1))
            .heartbeat(Duration::from_secs(5))
            .expires(Duration::from_secs(30))
            .messages()
            .await
            .map_err(|e| LedgerError::unavailable(&format!("pulling from {durable}"), e))?;
        Ok(WorkStream { inner })
    }
}

pub(crate) fn header<'h>(headers: &'h HeaderMap, name: &str) -> Option<&'h str> {
    headers.get(name).map(|v| v.as_str())
}

impl Names {
    /// The dispatcher's filter: job subjects `<p>.dispatch.<tenant>.<webhookId>` only, not the
    /// schedules held one token deeper.
    pub fn dispatch_jobs_filter(&self) -> String {
        format!("{}.dispatch.*.*", self.prefix())
    }

    /// Where the next attempt of a delivery waits: `<p>.dispatch.<tenant>.<wh>.<dlv>`.
    pub fn dispatch_schedule_subject(
        &self,
        tenant: &str,
        webhook_id: &str,
        delivery_id: &str,
    ) -> String {
        format!(
            "{}.{delivery_id}",
            self.dispatch_subject(tenant, webhook_id)
        )
    }

    /// Splits `events.<tenant>.<type>` into tenant and event type.
    pub fn parse_event_subject<'s>(&self, subject: &'s str) -> Option<(&'s str, &'s str)> {
        subject
            .strip_prefix(self.events_root())?
            .strip_prefix('.')?
            .split_once('.')
    }
}

/// Messages of a durable work consumer.
pub struct WorkStream {
    inner: pull::Stream,
}

impl Stream for WorkStream {
    type Item = Result<WorkMessage, LedgerError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        match Pin::new(&mut self.inner).poll_next(cx) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(None) => Poll::Ready(None),
            Poll::Ready(Some(Err(e))) => {
                Poll::Ready(Some(Err(LedgerError::unavailable("work consumer", e))))
            }
            Poll::Ready(Some(Ok(message))) => Poll::Ready(Some(WorkMessage::new(message))),
        }
    }
}

/// One message of a work queue, to be acknowledged one way or another.
pub struct WorkMessage {
    message: jetstream::Message,
    sequence: u64,
    delivered: i64,
    published: DateTime<Utc>,
}

impl std::fmt::Debug for WorkMessage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WorkMessage")
            .field("subject", &self.message.subject.as_str())
            .field("sequence", &self.sequence)
            .field("delivered", &self.delivered)
            .finish_non_exhaustive()
    }
}

impl WorkMessage {
    fn new(message: jetstream::Message) -> Result<Self, LedgerError> {
        let info = message
            .info()
            .map_err(|e| LedgerError::unavailable("work message info", e))?;
        let (sequence, delivered, published) =
            (info.stream_sequence, info.delivered, info.published);
        Ok(Self {
            message,
            sequence,
            delivered,
            published,
        })
    }

    pub fn subject(&self) -> &str {
        self.message.subject.as_str()
    }

    pub fn payload(&self) -> &Bytes {
        &self.message.payload
    }

    /// A header's value, if present.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.message.headers.as_ref().and_then(|h| header(h, name))
    }

    /// The message's stream sequence.
    pub fn sequence(&self) -> u64 {
        self.sequence
    }

    /// How many times it was delivered, this time included (1 the first time).
    pub fn delivered(&self) -> i64 {
        self.delivered
    }

    /// When the stream stored it.
    pub fn published(&self) -> DateTime<Utc> {
        self.published
    }

    /// Done: the message leaves the consumer (and a work queue).
    pub async fn ack(&self) -> Result<(), LedgerError> {
        self.acknowledge(AckKind::Ack).await
    }

    /// Not now: deliver it again after `delay` (at once when `None`).
    pub async fn nak(&self, delay: Option<Duration>) -> Result<(), LedgerError> {
        self.acknowledge(AckKind::Nak(delay)).await
    }

    /// Never: the message cannot be processed (malformed); it is not delivered again.
    pub async fn term(&self) -> Result<(), LedgerError> {
        self.acknowledge(AckKind::Term).await
    }

    /// Still working: restarts the ack-wait clock.
    pub async fn in_progress(&self) -> Result<(), LedgerError> {
        self.acknowledge(AckKind::Progress).await
    }

    async fn acknowledge(&self, kind: AckKind) -> Result<(), LedgerError> {
        self.message
            .ack_with(kind)
            .await
            .map_err(|e| LedgerError::unavailable("acknowledge", e))
    }

    /// Reads the message as a domain event of the EVENTS stream.
    pub fn event(&self, names: &Names) -> Result<IncomingEvent, InvalidEvent> {
        let empty = HeaderMap::new();
        IncomingEvent::parse(
            names,
            self.subject(),
            self.sequence,
            self.published,
            self.message.headers.as_ref().unwrap_or(&empty),
            self.message.payload.clone(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Utc;

    fn names() -> Names {
        Names::new("p", "ev.root").unwrap()
    }

    #[test]
    fn dispatch_subjects_keep_schedules_out_of_the_job_filter() {
        let n = names();
        assert_eq!(n.dispatch_jobs_filter(), "p.dispatch.*.*");
        assert_eq!(
            n.dispatch_schedule_subject("acme", "wh_1", "dlv_2"),
            "p.dispatch.acme.wh_1.dlv_2"
        );
        assert_eq!(
            n.parse_event_subject("ev.root.acme.lead.created"),
            Some(("acme", "lead.created"))
        );
        assert_eq!(n.parse_event_subject("ev.rootx.acme.lead"), None);
    }

    #[test]
    fn an_event_without_an_id_gets_one_derived_from_where_it_is_stored() {
        let at = Utc::now();
        let parse = |headers: &HeaderMap| {
            IncomingEvent::parse(
                &names(),
                "ev.root.acme.lead.created",
                7,
                at,
                headers,
                "{}".into(),
            )
        };
        let a = parse(&HeaderMap::new()).unwrap();
        let b = parse(&HeaderMap::new()).unwrap();
        assert_eq!(a.id, b.id);
        assert!(a.id.as_str().starts_with("evt_"));
        assert_eq!(
            (a.tenant.as_str(), a.event_type.as_str()),
            ("acme", "lead.created")
        );

        let mut headers = HeaderMap::new();
        headers.insert("Nats-Msg-Id", "acme:ignored");
        headers.insert(EVENT_ID_HEADER, "order-1");
        headers.insert(OCCURRED_AT_HEADER, "2025-01-01T00:00:00Z");
        let c = parse(&headers).unwrap();
        assert_eq!(c.id.as_str(), "order-1");
        assert_eq!(c.occurred_at.to_rfc3339(), "2025-01-01T00:00:00+00:00");
    }

    #[test]
    fn events_on_malformed_subjects_are_refused() {
        let at = Utc::now();
        let h = HeaderMap::new();
        for subject in ["ev.root.ACME.lead", "ev.root.acme", "other.acme.lead"] {
            assert!(
                IncomingEvent::parse(&names(), subject, 1, at, &h, Bytes::new()).is_err(),
                "{subject}"
            );
        }
    }
}

//! One event-id space per tenant, whichever way an event came in.
//!
//! `POST /v1/events` stores an event with `Nats-Msg-Id = <tenant>:<id>` (JetStream's
//! deduplication is per stream, so the tenant must be part of it), while a NATS publisher's
//! `Nats-Msg-Id` is whatever it chose. JetStream alone therefore cannot see that an event
//! posted as `X` and one published on NATS as `X` for the same tenant are the same event.
//! The router closes the gap: before routing an event whose id the publisher gave, it
//! **claims** `<tenant>:<id>` by publishing the event's EVENTS sequence on
//! `<p>.event-ids.<tenant>` with that `Nats-Msg-Id` (stream `<P>_EVENT_IDS`, whose duplicate
//! window and retention are the events' duplicate window). The first claim is stored; a later
//! one is a duplicate, and its acknowledgement names the stored claim, whose payload says
//! which event won:
//! - the same EVENTS sequence: this event claimed it before (a router crashed between claim
//!   and routing, or handled a batch twice): route it, its jobs' ids keep them once;
//! - another sequence: the same tenant and id came in another way first: do not route it.
//!
//! Events without a given id (derived `evt_…` ids) are unique and claim nothing; a NATS
//! publisher that repeats a `Nats-Msg-Id` is deduplicated by JetStream before any of this.

use async_nats::jetstream::stream::DirectGetErrorKind;

use super::{IncomingEvent, PendingAck};
use crate::ledger::{LedgerError, Nats, Outgoing};

/// What the claim of an event id found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Claim {
    /// The id is this event's: route it.
    First,
    /// The id was claimed by the event at this EVENTS sequence: this one is a repeat.
    Repeat { of: u64 },
}

/// A claim sent, awaiting its acknowledgement.
pub struct PendingClaim {
    ack: PendingAck,
    event_sequence: u64,
}

impl Nats {
    /// Sends the claim of `event`'s id (see the module docs); `None` when the event has no
    /// given id and needs none.
    pub async fn claim_event_id(
        &self,
        event: &IncomingEvent,
    ) -> Result<Option<PendingClaim>, LedgerError> {
        if !event.id_given {
            return Ok(None);
        }
        let message = Outgoing {
            subject: self.names.event_id_subject(event.tenant.as_str()),
            msg_id: format!("{}:{}", event.tenant, event.id),
            headers: Vec::new(),
            payload: event.sequence.to_string().into(),
            schedule: None,
        };
        let ack = self.send(message).await?;
        Ok(Some(PendingClaim {
            ack,
            event_sequence: event.sequence,
        }))
    }
}

impl PendingClaim {
    /// Waits for the claim's acknowledgement and, for a repeat, reads which event holds it.
    pub async fn wait(self, nats: &Nats) -> Result<Claim, LedgerError> {
        let stored = self.ack.wait().await?;
        if !stored.duplicate {
            return Ok(Claim::First);
        }
        let name = nats.names.event_ids_stream();
        let stream = (nats.js.get_stream_no_info(&name).await)
            .map_err(|e| LedgerError::unavailable(&name, e))?;
        let holder = match stream.direct_get(stored.sequence).await {
            Ok(message) => std::str::from_utf8(&message.payload)
                .ok()
                .and_then(|s| s.parse::<u64>().ok()),
            // The claim aged out with the window: nothing says another event holds the id.
            Err(e) if e.kind() == DirectGetErrorKind::NotFound => None,
            Err(e) => return Err(LedgerError::unavailable("event id claim read", e)),
        };
        Ok(match holder {
            Some(of) if of != self.event_sequence => Claim::Repeat { of },
            _ => Claim::First,
        })
    }
}

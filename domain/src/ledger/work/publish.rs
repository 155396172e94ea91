//! Sending on JetStream with ids, headers and schedules; recording and reading delivery facts.

use async_nats::HeaderMap;
use async_nats::jetstream::context::PublishAckFuture;
use async_nats::jetstream::message::PublishMessage;
use async_nats::jetstream::stream::DirectGetErrorKind;
use bytes::Bytes;
use chrono::{DateTime, SecondsFormat, Utc};

use super::{
    EVENT_ID_HEADER, EVENT_SEQUENCE_HEADER, OCCURRED_AT_HEADER, SCHEDULES_SERVER_VERSION, header,
};
use crate::delivery::DeliveryFact;
use crate::ids::{DeliveryId, EventId, TenantId, WebhookId};
use crate::ledger::{LedgerError, Nats};

impl Nats {
    /// True when the server holds scheduled messages (nats-server 2.12 or newer).
    pub fn supports_message_schedules(&self) -> bool {
        crate::ledger::connect::version_at_least(&self.server_version(), SCHEDULES_SERVER_VERSION)
    }

    /// The largest message the server accepts, in bytes.
    pub fn max_payload(&self) -> usize {
        self.client.server_info().max_payload
    }

    /// Sends `message` and returns without waiting for the stream's acknowledgement; await the
    /// returned [`PendingAck`] for it. The client bounds the publishes awaiting an ack (it waits
    /// for a slot when 5,000 are outstanding).
    pub async fn send(&self, message: Outgoing) -> Result<PendingAck, LedgerError> {
        let mut headers = HeaderMap::new();
        for (name, value) in &message.headers {
            headers.insert(*name, value.as_str());
        }
        if let Some(schedule) = &message.schedule {
            let at = schedule.at.to_rfc3339_opts(SecondsFormat::Millis, true);
            headers.insert("Nats-Schedule", format!("@at {at}").as_str());
            headers.insert("Nats-Schedule-Target", schedule.target.as_str());
        }
        let publish = PublishMessage::build()
            .payload(message.payload)
            .headers(headers)
            .message_id(&message.msg_id);
        let ack = self
            .js
            .send_publish(message.subject.clone(), publish)
            .await
            .map_err(|e| LedgerError::unavailable(&format!("publish to {}", message.subject), e))?;
        Ok(PendingAck {
            ack,
            subject: message.subject,
        })
    }

    /// Sends `message` and waits until the stream stored it.
    pub async fn publish(&self, message: Outgoing) -> Result<Stored, LedgerError> {
        self.send(message).await?.wait().await
    }

    /// Publishes a domain event for `POST /v1/events`: subject `events.<tenant>.<type>`,
    /// `Nats-Msg-Id` = `<tenant>:<id>` (ids are scoped by tenant), the id and the time it
    /// happened in headers, the data as the body.
    pub async fn publish_event(
        &self,
        tenant: &TenantId,
        event_type: &str,
        id: &EventId,
        occurred_at: Option<DateTime<Utc>>,
        data: Bytes,
    ) -> Result<Stored, LedgerError> {
        let mut headers = vec![(EVENT_ID_HEADER, id.to_string())];
        if let Some(at) = occurred_at {
            let at = at.to_rfc3339_opts(SecondsFormat::AutoSi, true);
            headers.push((OCCURRED_AT_HEADER, at));
        }
        self.publish(Outgoing {
            subject: self.names.event_subject(tenant.as_str(), event_type),
            msg_id: format!("{tenant}:{id}"),
            headers,
            payload: data,
            schedule: None,
        })
        .await
    }

    /// Records a delivery fact on DELIVERIES (`Nats-Msg-Id` = [`DeliveryFact::msg_id`]) and
    /// waits for the stream to store it.
    pub async fn record_fact(
        &self,
        fact: &DeliveryFact,
        event_sequence: Option<u64>,
    ) -> Result<Stored, LedgerError> {
        let subject = self.names.delivery_subject(
            fact.tenant().as_str(),
            fact.webhook_id().as_str(),
            fact.delivery_id().as_str(),
        );
        let payload = serde_json::to_vec(fact).expect("a delivery fact always serializes");
        let headers = event_sequence
            .map(|s| vec![(EVENT_SEQUENCE_HEADER, s.to_string())])
            .unwrap_or_default();
        self.publish(Outgoing {
            subject,
            msg_id: fact.msg_id(),
            headers,
            payload: payload.into(),
            schedule: None,
        })
        .await
    }

    /// The latest fact of a delivery, with the EVENTS sequence of its event; `None` when the
    /// delivery has no fact.
    pub async fn last_fact(
        &self,
        tenant: &TenantId,
        webhook_id: &WebhookId,
        delivery_id: &DeliveryId,
    ) -> Result<Option<StoredFact>, LedgerError> {
        let name = self.names.deliveries_stream();
        let subject =
            self.names
                .delivery_subject(tenant.as_str(), webhook_id.as_str(), delivery_id.as_str());
        let stream = self
            .js
            .get_stream_no_info(&name)
            .await
            .map_err(|e| LedgerError::unavailable(&name, e))?;
        let message = match stream.direct_get_last_for_subject(subject.clone()).await {
            Ok(m) => m,
            Err(e) if e.kind() == DirectGetErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(LedgerError::unavailable("delivery fact read", e)),
        };
        let fact = serde_json::from_slice(&message.payload).map_err(|e| LedgerError::Corrupt {
            subject,
            sequence: message.sequence,
            reason: e.to_string(),
        })?;
        let event_sequence =
            header(&message.headers, EVENT_SEQUENCE_HEADER).and_then(|s| s.parse().ok());
        Ok(Some(StoredFact {
            fact,
            event_sequence,
        }))
    }
}

/// A message to publish.
#[derive(Debug, Clone)]
pub struct Outgoing {
    pub subject: String,
    /// `Nats-Msg-Id`: a second message with the same id inside the stream's duplicate window
    /// is not stored again.
    pub msg_id: String,
    pub headers: Vec<(&'static str, String)>,
    pub payload: Bytes,
    /// Hold the message and publish it to `target` at `at` (on `subject`, which must be free
    /// of other schedules).
    pub schedule: Option<Schedule>,
}

/// When and where a held message is published.
#[derive(Debug, Clone)]
pub struct Schedule {
    pub at: DateTime<Utc>,
    pub target: String,
}

/// A publish awaiting its acknowledgement.
pub struct PendingAck {
    ack: PublishAckFuture,
    subject: String,
}

impl PendingAck {
    /// Waits until the stream stored the message (or recognised its id as a duplicate).
    pub async fn wait(self) -> Result<Stored, LedgerError> {
        let ack = self
            .ack
            .await
            .map_err(|e| LedgerError::unavailable(&format!("publish to {}", self.subject), e))?;
        Ok(Stored {
            sequence: ack.sequence,
            duplicate: ack.duplicate,
        })
    }
}

/// Where a message was stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stored {
    pub sequence: u64,
    /// True when the `Nats-Msg-Id` was seen before: nothing new was stored.
    pub duplicate: bool,
}

/// A delivery fact as read back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredFact {
    pub fact: DeliveryFact,
    /// The EVENTS sequence of the event delivered; `None` for test deliveries.
    pub event_sequence: Option<u64>,
}

//! Domain events as stored on EVENTS: their tenant, type, id and time, from subject and headers.

use async_nats::HeaderMap;
use async_nats::jetstream::stream::DirectGetErrorKind;
use bytes::Bytes;
use chrono::{DateTime, Utc};

use super::{EVENT_ID_HEADER, OCCURRED_AT_HEADER, header};
use crate::ids::{EventId, TenantId};
use crate::ledger::{LedgerError, Names, Nats};

impl Nats {
    /// The event stored at `sequence` on EVENTS; `None` when it is gone (retention) or never
    /// existed.
    pub async fn event_at(&self, sequence: u64) -> Result<Option<IncomingEvent>, LedgerError> {
        let name = self.names.events_stream();
        let stream = self
            .js
            .get_stream_no_info(&name)
            .await
            .map_err(|e| LedgerError::unavailable(&name, e))?;
        let message = match stream.direct_get(sequence).await {
            Ok(m) => m,
            Err(e) if e.kind() == DirectGetErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(LedgerError::unavailable("event read", e)),
        };
        Ok(IncomingEvent::parse(
            &self.names,
            message.subject.as_str(),
            message.sequence,
            message.time,
            &message.headers,
            message.payload,
        )
        .ok())
    }
}

/// A domain event as stored on EVENTS.
#[derive(Debug, Clone, PartialEq)]
pub struct IncomingEvent {
    pub tenant: TenantId,
    pub event_type: String,
    /// `Hookledger-Event-Id`, else `Nats-Msg-Id`, else derived from the stream sequence and
    /// time (`evt_…`, the same every time the event is read).
    pub id: EventId,
    /// True when the publisher gave the id (a header), false when it was derived.
    pub id_given: bool,
    /// `Hookledger-Occurred-At`, else when the stream stored the event.
    pub occurred_at: DateTime<Utc>,
    pub sequence: u64,
    /// The body as published (the event's data, JSON).
    pub data: Bytes,
}

/// Why a message on EVENTS is not a deliverable event.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("event #{sequence} on {subject}: {reason}")]
pub struct InvalidEvent {
    pub subject: String,
    pub sequence: u64,
    pub reason: String,
}

impl IncomingEvent {
    pub(super) fn parse(
        names: &Names,
        subject: &str,
        sequence: u64,
        stored: DateTime<Utc>,
        headers: &HeaderMap,
        data: Bytes,
    ) -> Result<Self, InvalidEvent> {
        let invalid = |reason: &str| InvalidEvent {
            subject: subject.to_owned(),
            sequence,
            reason: reason.to_owned(),
        };
        let (tenant, event_type) = names
            .parse_event_subject(subject)
            .ok_or_else(|| invalid("the subject is not events.<tenant>.<type>"))?;
        let tenant = TenantId::parse(tenant).map_err(|e| invalid(&e.to_string()))?;
        let type_ok = event_type.split('.').all(|s| {
            !s.is_empty()
                && s.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
        });
        if !type_ok || event_type.len() > 128 {
            return Err(invalid("the event type is not [A-Za-z0-9_.-]+"));
        }
        let given = header(headers, EVENT_ID_HEADER).or_else(|| header(headers, "Nats-Msg-Id"));
        let (id, id_given) = match given.map(EventId::parse) {
            Some(Ok(id)) => (id, true),
            _ => (derived_event_id(sequence, stored), false),
        };
        let occurred_at = header(headers, OCCURRED_AT_HEADER)
            .and_then(|s| DateTime::parse_from_rfc3339(s).ok())
            .map_or(stored, |t| t.with_timezone(&Utc));
        Ok(Self {
            tenant,
            event_type: event_type.to_owned(),
            id,
            id_given,
            occurred_at,
            sequence,
            data,
        })
    }
}

/// `evt_` + a UUIDv7 whose time is when the stream stored the event and whose other bits are
/// its sequence: stable for one stored event, unique within the stream.
fn derived_event_id(sequence: u64, stored: DateTime<Utc>) -> EventId {
    let millis = u64::try_from(stored.timestamp_millis()).unwrap_or(0);
    let mut bytes = [0u8; 10];
    bytes[2..].copy_from_slice(&sequence.to_be_bytes());
    let uuid = uuid::Builder::from_unix_timestamp_millis(millis, &bytes).into_uuid();
    EventId::parse(&format!("{}{}", EventId::PREFIX, uuid.simple()))
        .expect("evt_ + hex is a valid event id")
}

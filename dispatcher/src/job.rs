//! A DISPATCH job: one attempt of one delivery, as the router (or a retry, a redelivery, a
//! recovery) asks the dispatcher to make it.
//!
//! The job carries the event itself (id, type, timestamp, data), so an attempt needs no read of
//! EVENTS; retries carry it on. The data travels as the publisher wrote it ([`RawValue`]): never
//! parsed into a tree and printed again, so a delivery sends its members in their order and
//! its numbers with every digit (an integer beyond 64 bits would otherwise become a float),
//! and a large payload costs a scan, not an allocation per node. Wire form (JSON, camelCase): `{tenant, webhookId, deliveryId,
//! event: {id, type, timestamp, data}, eventSequence?, ledgerSequence?, attempt, firstAttempt,
//! trigger}`. `ledgerSequence` is the LEDGER sequence the router had applied when it matched
//! the event: a worker whose webhook cache has applied it knows the webhook at least as the
//! router saw it, and needs no ledger read (see `crate::registry`).
//! `attempt` numbers continue across redeliveries (1, 2, 3 … then 4 for a redelivery), and
//! `firstAttempt` is where the current run began, so the retry budget restarts for a
//! redelivery or recovery.
//!
//! `Nats-Msg-Id`s: `<events seq>:<webhookId>` for the job the router makes (a router that
//! handles an event twice makes one job), `<deliveryId>:<attempt>:job` for the later ones,
//! `<deliveryId>:<attempt>:defer:<seq>` for a job handed back for lack of a slot.

use bytes::Bytes;
use chrono::{DateTime, SecondsFormat, Utc};
use hookledger_domain::delivery::DeliveryTrigger;
use hookledger_domain::ids::{DeliveryId, EventId, TenantId, WebhookId};
use hookledger_domain::ledger::{Names, Outgoing, Schedule};
use hookledger_domain::webhook::Properties;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use serde_json::value::RawValue;

/// The event a delivery carries.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct EventBody {
    pub id: EventId,
    #[serde(rename = "type")]
    pub event_type: String,
    /// When it happened (`occurredAt`), or when hookledger received it.
    pub timestamp: DateTime<Utc>,
    /// The event's JSON as published (see the module docs).
    pub data: Box<RawValue>,
}

impl EventBody {
    /// The data of a stored event, as published; an error if it is not JSON.
    pub fn data_of(stored: &[u8]) -> Result<Box<RawValue>, serde_json::Error> {
        serde_json::from_slice(stored)
    }
}

impl PartialEq for EventBody {
    fn eq(&self, other: &Self) -> bool {
        (self.id == other.id)
            && (self.event_type == other.event_type)
            && (self.timestamp == other.timestamp)
            && (self.data.get() == other.data.get())
    }
}

/// One attempt to make.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Job {
    pub tenant: TenantId,
    pub webhook_id: WebhookId,
    pub delivery_id: DeliveryId,
    pub event: EventBody,
    /// Where the event is on EVENTS; `None` for test deliveries.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event_sequence: Option<u64>,
    /// The LEDGER sequence the router had applied when it matched the event; `None` for jobs
    /// not made by the router (their worker reads the webhook from the ledger).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ledger_sequence: Option<u64>,
    /// The number of the attempt this job makes (1-based).
    pub attempt: u32,
    /// The first attempt of the current run (the retry budget counts from it).
    pub first_attempt: u32,
    pub trigger: DeliveryTrigger,
}

/// The body members of a delivery, in the order they are written.
#[derive(Serialize)]
struct Body<'a> {
    id: &'a EventId,
    #[serde(rename = "type")]
    event_type: &'a str,
    timestamp: String,
    data: &'a RawValue,
    #[serde(flatten)]
    properties: &'a serde_json::Map<String, Value>,
}

impl Job {
    /// The attempt's place in the current run: 1 for the first attempt after routing, a
    /// redelivery or a recovery.
    pub fn run_attempt(&self) -> u32 {
        self.attempt.saturating_sub(self.first_attempt) + 1
    }

    /// The job for the attempt after this one.
    pub fn next(&self) -> Job {
        Job {
            attempt: self.attempt + 1,
            ..self.clone()
        }
    }

    /// The request body: `{id, type, timestamp, data, ...properties}` (properties cannot
    /// override the first four; the webhook's validation refuses those keys).
    pub fn render(&self, properties: &Properties) -> Vec<u8> {
        let body = Body {
            id: &self.event.id,
            event_type: &self.event.event_type,
            timestamp: (self.event.timestamp).to_rfc3339_opts(SecondsFormat::AutoSi, true),
            data: &self.event.data,
            properties: properties.as_map(),
        };
        serde_json::to_vec(&body).expect("a delivery body always serializes")
    }

    fn payload(&self) -> Bytes {
        serde_json::to_vec(self)
            .expect("a job always serializes")
            .into()
    }

    /// The message that asks for this attempt now.
    pub fn message(&self, names: &Names, msg_id: String) -> Outgoing {
        Outgoing {
            subject: names.dispatch_subject(self.tenant.as_str(), self.webhook_id.as_str()),
            msg_id,
            headers: Vec::new(),
            payload: self.payload(),
            schedule: None,
        }
    }

    /// The message that asks for this attempt at `at`, held by the server until then.
    pub fn scheduled(&self, names: &Names, at: DateTime<Utc>) -> Outgoing {
        let (tenant, webhook) = (self.tenant.as_str(), self.webhook_id.as_str());
        Outgoing {
            subject: names.dispatch_schedule_subject(tenant, webhook, self.delivery_id.as_str()),
            msg_id: self.later_msg_id(),
            headers: Vec::new(),
            payload: self.payload(),
            schedule: Some(Schedule {
                at,
                target: names.dispatch_subject(tenant, webhook),
            }),
        }
    }

    /// The same attempt handed back because its webhook or host had no free slot, held by the
    /// server until `at`. Its id names the stream sequence of the message it replaces, so the
    /// same message deferred twice (a crash between publish and ack) is held once, while the
    /// job deferred again later gets a new id.
    pub fn deferred(&self, names: &Names, at: DateTime<Utc>, replaces: u64) -> Outgoing {
        Outgoing {
            msg_id: format!("{}:{}:defer:{replaces}", self.delivery_id, self.attempt),
            ..self.scheduled(names, at)
        }
    }

    /// `<deliveryId>:<attempt>:job`: the id of every job but the router's.
    pub fn later_msg_id(&self) -> String {
        format!("{}:{}:job", self.delivery_id, self.attempt)
    }

    /// `<events seq>:<webhookId>`: the id of the router's job.
    pub fn routed_msg_id(event_sequence: u64, webhook_id: &WebhookId) -> String {
        format!("{event_sequence}:{webhook_id}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn job() -> Job {
        Job {
            tenant: "acme".parse().unwrap(),
            webhook_id: "wh_0190f1d2c3b4a5968778695a4b3c2d1e".parse().unwrap(),
            delivery_id: "dlv_0190f1d2c3b4a5968778695a4b3c2d1f".parse().unwrap(),
            event: EventBody {
                id: "order-1".parse().unwrap(),
                event_type: "lead.created".into(),
                timestamp: DateTime::parse_from_rfc3339("2025-01-01T00:00:00Z")
                    .unwrap()
                    .to_utc(),
                data: EventBody::data_of(br#"{"b": 1, "a": 123456789012345678901234567890}"#)
                    .unwrap(),
            },
            event_sequence: Some(42),
            ledger_sequence: None,
            attempt: 4,
            first_attempt: 4,
            trigger: DeliveryTrigger::Redeliver,
        }
    }

    #[test]
    fn the_body_puts_the_event_first_and_the_properties_after() {
        let properties: Properties = serde_json::from_value(json!({"source": "crm"})).unwrap();
        let body = String::from_utf8(job().render(&properties)).unwrap();
        assert_eq!(
            body,
            r#"{"id":"order-1","type":"lead.created","timestamp":"2025-01-01T00:00:00Z","data":{"b": 1, "a": 123456789012345678901234567890},"source":"crm"}"#,
            "the data as published: its members' order, every digit"
        );
    }

    #[test]
    fn a_redelivery_run_counts_its_own_attempts() {
        let first = job();
        assert_eq!(first.run_attempt(), 1);
        let second = first.next();
        assert_eq!((second.attempt, second.run_attempt()), (5, 2));
        assert_eq!(
            second.later_msg_id(),
            "dlv_0190f1d2c3b4a5968778695a4b3c2d1f:5:job"
        );
    }

    #[test]
    fn a_job_round_trips_through_its_wire_form() {
        let j = job();
        let bytes = j.payload();
        let back: Job = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(back, j);
        let names = Names::new("p", "events").unwrap();
        let held = j.scheduled(&names, Utc::now());
        assert_eq!(
            held.subject,
            format!("p.dispatch.acme.{}.{}", j.webhook_id, j.delivery_id)
        );
        assert_eq!(
            held.schedule.unwrap().target,
            format!("p.dispatch.acme.{}", j.webhook_id)
        );
    }
}

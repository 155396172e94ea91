//! Delivery facts: what the dispatcher did, written to the DELIVERIES stream.
//!
//! A delivery is one event to one webhook; an attempt is one HTTP try of it. Deliveries are not
//! an aggregate: nothing is decided from their history. The dispatcher records each attempt as
//! a [`DeliveryFact`] **before** it acks the job, with `Nats-Msg-Id` = [`DeliveryFact::msg_id`],
//! so a crash between the two repeats the attempt but not its fact. Projections build the
//! `deliveries`, `delivery_attempts` and stats views from these facts.
//!
//! The `type` strings and the [`AttemptOutcome`] codes are stable API (they appear in delivery
//! listings and metrics labels): never rename one.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::ids::{DeliveryId, EventId, TenantId, WebhookId};

/// How one attempt ended. A closed set, so metrics labels stay bounded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AttemptOutcome {
    /// A 2xx answer.
    Success,
    /// Any other HTTP status.
    HttpError,
    /// No complete answer within the webhook's timeout.
    Timeout,
    /// The connection (or TLS) failed.
    Connect,
    /// The host name did not resolve.
    Dns,
    /// The host resolved to a forbidden (private, loopback, …) address.
    RefusedTarget,
    /// `410 Gone`: the receiver asks never to be called again; the webhook is disabled.
    Gone,
    /// The attempt came due while the webhook was paused or disabled and was not sent.
    Paused,
}

impl AttemptOutcome {
    /// The stable code, as in JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Success => "success",
            Self::HttpError => "http_error",
            Self::Timeout => "timeout",
            Self::Connect => "connect",
            Self::Dns => "dns",
            Self::RefusedTarget => "refused_target",
            Self::Gone => "gone",
            Self::Paused => "paused",
        }
    }

    /// True for `Success`.
    pub fn is_success(self) -> bool {
        self == Self::Success
    }
}

/// Why an attempt was made.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryTrigger {
    /// A published event matched the webhook (first attempt or a scheduled retry).
    Event,
    /// `POST …/deliveries/{id}/redeliver`.
    Redeliver,
    /// `POST …/recover?since=`.
    Recover,
    /// `POST …/test` or a vendor's test-on-create.
    Test,
}

/// How a delivery ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryEnd {
    Succeeded,
    Failed,
}

impl DeliveryEnd {
    /// The delivery status it leaves: `succeeded` or `failed`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Succeeded => "succeeded",
            Self::Failed => "failed",
        }
    }
}

/// `delivery.attempted`: one HTTP try and its result.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AttemptRecord {
    pub delivery_id: DeliveryId,
    pub tenant: TenantId,
    pub webhook_id: WebhookId,
    pub event_id: EventId,
    pub event_type: String,
    /// 1-based.
    pub attempt: u32,
    pub at: DateTime<Utc>,
    pub outcome: AttemptOutcome,
    pub response_status: Option<u16>,
    pub latency_ms: u64,
    /// What went wrong, for people (not a stable code; `outcome` is).
    pub error: Option<String>,
    /// The start of the response body, at most [`AttemptRecord::MAX_RESPONSE_BODY`] bytes.
    pub response_body: Option<String>,
    /// When the next attempt is scheduled; `None` when this was the last one.
    pub next_attempt_at: Option<DateTime<Utc>>,
    pub trigger: DeliveryTrigger,
    /// The response's headers: names lower-case, a repeated header's values joined with `, `,
    /// at most [`AttemptRecord::MAX_RESPONSE_HEADERS`] of them. Empty without a response (and
    /// in facts written before headers were kept).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub response_headers: BTreeMap<String, String>,
    /// Set when this attempt is the delivery's last: the delivery ends with it, and no
    /// `delivery.succeeded` / `delivery.failed` fact follows (one fact, one write, instead of
    /// two). Absent on facts written before, which are followed by a closing fact.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub closes: Option<DeliveryEnd>,
}

impl AttemptRecord {
    /// The most bytes of a response body a fact keeps.
    pub const MAX_RESPONSE_BODY: usize = 2048;
    /// The most response headers a fact keeps.
    pub const MAX_RESPONSE_HEADERS: usize = 64;

    /// The closing this attempt carries (`closes`), as the separate fact would have said it.
    pub fn closing(&self) -> Option<(DeliveryEnd, DeliveryClosed)> {
        let end = self.closes?;
        Some((
            end,
            DeliveryClosed {
                delivery_id: self.delivery_id.clone(),
                tenant: self.tenant.clone(),
                webhook_id: self.webhook_id.clone(),
                event_id: self.event_id.clone(),
                event_type: self.event_type.clone(),
                attempts: self.attempt,
                at: self.at,
                reason: (end == DeliveryEnd::Failed).then_some(self.outcome),
            },
        ))
    }

    /// The first [`Self::MAX_RESPONSE_BODY`] bytes of `body`, cut at a character boundary,
    /// with invalid UTF-8 replaced.
    pub fn excerpt(body: &[u8]) -> String {
        let head = &body[..body.len().min(Self::MAX_RESPONSE_BODY + 4)];
        let text = String::from_utf8_lossy(head);
        let mut end = text.len().min(Self::MAX_RESPONSE_BODY);
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        text[..end].to_owned()
    }
}

/// `delivery.succeeded` / `delivery.failed`: the delivery is over.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DeliveryClosed {
    pub delivery_id: DeliveryId,
    pub tenant: TenantId,
    pub webhook_id: WebhookId,
    pub event_id: EventId,
    pub event_type: String,
    /// How many attempts were made.
    pub attempts: u32,
    pub at: DateTime<Utc>,
    /// For `delivery.failed`: the outcome of the last attempt. Absent for success.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<AttemptOutcome>,
}

/// A fact on the DELIVERIES stream. JSON: `{"type": "delivery.attempted", "data": {...}}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", content = "data")]
pub enum DeliveryFact {
    #[serde(rename = "delivery.attempted")]
    Attempted(AttemptRecord),
    #[serde(rename = "delivery.succeeded")]
    Succeeded(DeliveryClosed),
    #[serde(rename = "delivery.failed")]
    Failed(DeliveryClosed),
}

impl DeliveryFact {
    /// The `type` literal.
    pub fn event_type(&self) -> &'static str {
        match self {
            Self::Attempted(_) => "delivery.attempted",
            Self::Succeeded(_) => "delivery.succeeded",
            Self::Failed(_) => "delivery.failed",
        }
    }

    /// The delivery the fact is about.
    pub fn delivery_id(&self) -> &DeliveryId {
        match self {
            Self::Attempted(a) => &a.delivery_id,
            Self::Succeeded(c) | Self::Failed(c) => &c.delivery_id,
        }
    }

    /// The tenant the delivery belongs to.
    pub fn tenant(&self) -> &TenantId {
        match self {
            Self::Attempted(a) => &a.tenant,
            Self::Succeeded(c) | Self::Failed(c) => &c.tenant,
        }
    }

    /// The webhook the delivery goes to.
    pub fn webhook_id(&self) -> &WebhookId {
        match self {
            Self::Attempted(a) => &a.webhook_id,
            Self::Succeeded(c) | Self::Failed(c) => &c.webhook_id,
        }
    }

    /// How the delivery ended, if this fact ends it: a closing fact, or an attempt that
    /// `closes` it.
    pub fn end(&self) -> Option<DeliveryEnd> {
        match self {
            Self::Attempted(a) => a.closes,
            Self::Succeeded(_) => Some(DeliveryEnd::Succeeded),
            Self::Failed(_) => Some(DeliveryEnd::Failed),
        }
    }

    /// The number of the delivery's latest attempt as of this fact.
    pub fn attempts(&self) -> u32 {
        match self {
            Self::Attempted(a) => a.attempt,
            Self::Succeeded(c) | Self::Failed(c) => c.attempts,
        }
    }

    /// The JetStream deduplication id: `<deliveryId>:<attempt>` for an attempt,
    /// `<deliveryId>:succeeded` or `<deliveryId>:failed` for the end of a delivery.
    pub fn msg_id(&self) -> String {
        match self {
            Self::Attempted(a) => format!("{}:{}", a.delivery_id, a.attempt),
            Self::Succeeded(c) => format!("{}:succeeded", c.delivery_id),
            Self::Failed(c) => format!("{}:failed", c.delivery_id),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};

    const DLV: &str = "dlv_0190f1d2c3b4a5968778695a4b3c2d1e";
    const WH: &str = "wh_0190f1d2c3b4a5968778695a4b3c2d1f";

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    fn closed(reason: Option<AttemptOutcome>) -> DeliveryClosed {
        DeliveryClosed {
            delivery_id: DLV.parse().unwrap(),
            tenant: "acme".parse().unwrap(),
            webhook_id: WH.parse().unwrap(),
            event_id: "evt-1".parse().unwrap(),
            event_type: "lead.created".into(),
            attempts: 4,
            at: at("2025-01-01T00:00:05Z"),
            reason,
        }
    }

    fn assert_shape(fact: &DeliveryFact, expected: Value) {
        let json = serde_json::to_value(fact).unwrap();
        assert_eq!(json, expected);
        assert_eq!(json["type"], fact.event_type());
        assert_eq!(&serde_json::from_value::<DeliveryFact>(json).unwrap(), fact);
    }

    #[test]
    fn delivery_attempted_shape_and_msg_id() {
        let fact = DeliveryFact::Attempted(AttemptRecord {
            delivery_id: DLV.parse().unwrap(),
            tenant: "acme".parse().unwrap(),
            webhook_id: WH.parse().unwrap(),
            event_id: "evt-1".parse().unwrap(),
            event_type: "lead.created".into(),
            attempt: 2,
            at: at("2025-01-01T00:00:00Z"),
            outcome: AttemptOutcome::HttpError,
            response_status: Some(503),
            latency_ms: 120,
            error: Some("503 Service Unavailable".into()),
            response_body: Some("busy".into()),
            next_attempt_at: Some(at("2025-01-01T00:02:00Z")),
            trigger: DeliveryTrigger::Event,
            response_headers: Default::default(),
            closes: None,
        });
        let data = json!({
            "deliveryId": DLV, "tenant": "acme", "webhookId": WH, "eventId": "evt-1",
            "eventType": "lead.created", "attempt": 2, "at": "2025-01-01T00:00:00Z",
            "outcome": "http_error", "responseStatus": 503, "latencyMs": 120,
            "error": "503 Service Unavailable", "responseBody": "busy",
            "nextAttemptAt": "2025-01-01T00:02:00Z", "trigger": "event"
        });
        assert_shape(&fact, json!({"type": "delivery.attempted", "data": data}));
        assert_eq!(fact.msg_id(), format!("{DLV}:2"));
        assert_eq!(
            (fact.tenant().as_str(), fact.webhook_id().as_str()),
            ("acme", WH)
        );
    }

    #[test]
    fn an_attempt_that_closes_its_delivery_says_so_and_keeps_response_headers() {
        let mut record = AttemptRecord {
            delivery_id: DLV.parse().unwrap(),
            tenant: "acme".parse().unwrap(),
            webhook_id: WH.parse().unwrap(),
            event_id: "evt-1".parse().unwrap(),
            event_type: "lead.created".into(),
            attempt: 4,
            at: at("2025-01-01T00:00:05Z"),
            outcome: AttemptOutcome::Timeout,
            response_status: None,
            latency_ms: 30_000,
            error: Some("timed out".into()),
            response_body: None,
            next_attempt_at: None,
            trigger: DeliveryTrigger::Event,
            response_headers: [("content-type".to_owned(), "text/plain".to_owned())].into(),
            closes: Some(DeliveryEnd::Failed),
        };
        let fact = DeliveryFact::Attempted(record.clone());
        let json = serde_json::to_value(&fact).unwrap();
        assert_eq!(json["data"]["closes"], "failed");
        assert_eq!(
            json["data"]["responseHeaders"],
            json!({"content-type": "text/plain"})
        );
        assert_eq!(serde_json::from_value::<DeliveryFact>(json).unwrap(), fact);
        assert_eq!(
            (fact.end(), fact.attempts()),
            (Some(DeliveryEnd::Failed), 4)
        );
        assert_eq!(
            record.closing(),
            Some((DeliveryEnd::Failed, closed(Some(AttemptOutcome::Timeout))))
        );

        record.closes = None;
        record.response_headers.clear();
        let json = serde_json::to_value(DeliveryFact::Attempted(record.clone())).unwrap();
        assert!(
            json["data"].get("closes").is_none() && json["data"].get("responseHeaders").is_none()
        );
        assert_eq!(
            (record.closing(), DeliveryFact::Attempted(record).end()),
            (None, None)
        );
    }

    #[test]
    fn delivery_succeeded_and_failed_shapes_and_msg_ids() {
        let base = json!({
            "deliveryId": DLV, "tenant": "acme", "webhookId": WH, "eventId": "evt-1",
            "eventType": "lead.created", "attempts": 4, "at": "2025-01-01T00:00:05Z"
        });
        let succeeded = DeliveryFact::Succeeded(closed(None));
        assert_shape(
            &succeeded,
            json!({"type": "delivery.succeeded", "data": base}),
        );
        assert_eq!(succeeded.msg_id(), format!("{DLV}:succeeded"));

        let failed = DeliveryFact::Failed(closed(Some(AttemptOutcome::Timeout)));
        let mut data = base;
        data["reason"] = json!("timeout");
        assert_shape(&failed, json!({"type": "delivery.failed", "data": data}));
        assert_eq!(failed.msg_id(), format!("{DLV}:failed"));
        assert_eq!(failed.delivery_id().as_str(), DLV);
    }

    #[test]
    fn outcome_and_trigger_codes_are_stable() {
        let outcomes = [
            (AttemptOutcome::Success, "success"),
            (AttemptOutcome::HttpError, "http_error"),
            (AttemptOutcome::Timeout, "timeout"),
            (AttemptOutcome::Connect, "connect"),
            (AttemptOutcome::Dns, "dns"),
            (AttemptOutcome::RefusedTarget, "refused_target"),
            (AttemptOutcome::Gone, "gone"),
            (AttemptOutcome::Paused, "paused"),
        ];
        for (outcome, code) in outcomes {
            assert_eq!(outcome.as_str(), code);
            assert_eq!(serde_json::to_value(outcome).unwrap(), json!(code));
        }
        assert!(AttemptOutcome::Success.is_success() && !AttemptOutcome::Gone.is_success());
        let triggers = [
            (DeliveryTrigger::Event, "event"),
            (DeliveryTrigger::Redeliver, "redeliver"),
            (DeliveryTrigger::Recover, "recover"),
            (DeliveryTrigger::Test, "test"),
        ];
        for (trigger, code) in triggers {
            assert_eq!(serde_json::to_value(trigger).unwrap(), json!(code));
        }
    }

    #[test]
    fn a_response_excerpt_is_bounded_and_cut_at_a_character_boundary() {
        assert_eq!(AttemptRecord::excerpt(b"ok"), "ok");
        let long = "é".repeat(2000);
        let excerpt = AttemptRecord::excerpt(long.as_bytes());
        assert_eq!(excerpt.len(), 2048);
        assert_eq!(AttemptRecord::excerpt(&[0xff, b'a']), "\u{fffd}a");
    }
}

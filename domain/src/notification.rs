//! The notification log: a fact on the ledger for every "your webhook was disabled" message
//! the dispatcher tried to send (`dispatcher::notify` sends them).
//!
//! Each webhook has a small aggregate of its own, `notification`, at
//! `<p>.ledger.notification.<tenant>.<webhookId>`, so the facts are hash-chained and replayed by
//! the audit log like every ledger message, without adding events to the webhook itself. It
//! decides nothing: every `RecordNotification` writes one `notification.recorded`. No view
//! reads it; the projector archives it like every ledger message.

use std::convert::Infallible;

use cqrs_es::event_sink::EventSink;
use cqrs_es::{Aggregate, DomainEvent};
use serde::{Deserialize, Serialize};

use crate::ids::WebhookId;

/// Whether the notification went out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NotificationStatus {
    Sent,
    Failed,
    NotSent,
}

/// `notification.recorded`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NotificationRecorded {
    pub webhook_id: WebhookId,
    /// `email`.
    pub channel: String,
    pub to: Option<String>,
    pub status: NotificationStatus,
    /// Why the webhook was disabled.
    pub reason: String,
    pub error: Option<String>,
}

/// The events of the notification log. JSON: `{"type": "notification.recorded", "data": …}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", content = "data")]
pub enum NotificationEvent {
    #[serde(rename = "notification.recorded")]
    Recorded(NotificationRecorded),
}

impl DomainEvent for NotificationEvent {
    fn event_type(&self) -> String {
        "notification.recorded".to_owned()
    }

    fn event_version(&self) -> String {
        "1".to_owned()
    }
}

/// Record a notification (the only command).
#[derive(Debug, Clone, PartialEq)]
pub struct RecordNotification(pub NotificationRecorded);

/// The notifications of one webhook: an append-only log, nothing to decide.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct NotificationLog {
    pub recorded: u64,
}

impl Aggregate for NotificationLog {
    const TYPE: &'static str = "notification";
    type Command = RecordNotification;
    type Event = NotificationEvent;
    type Error = Infallible;
    type Services = ();

    async fn handle(
        &mut self,
        command: RecordNotification,
        _: &(),
        sink: &EventSink<Self>,
    ) -> Result<(), Infallible> {
        sink.write(NotificationEvent::Recorded(command.0), self)
            .await;
        Ok(())
    }

    fn apply(&mut self, _: NotificationEvent) {
        self.recorded += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn notification_recorded_shape() {
        let event = NotificationEvent::Recorded(NotificationRecorded {
            webhook_id: "wh_0190f1d2c3b4a5968778695a4b3c2d1e".parse().unwrap(),
            channel: "email".into(),
            to: Some("ops@example.com".into()),
            status: NotificationStatus::NotSent,
            reason: "20 failed deliveries in a row".into(),
            error: None,
        });
        let json = serde_json::to_value(&event).unwrap();
        assert_eq!(
            json,
            json!({"type": "notification.recorded", "data": {
                "webhookId": "wh_0190f1d2c3b4a5968778695a4b3c2d1e", "channel": "email",
                "to": "ops@example.com", "status": "not_sent",
                "reason": "20 failed deliveries in a row", "error": null}})
        );
        assert_eq!(json["type"], event.event_type());
        assert_eq!(
            serde_json::from_value::<NotificationEvent>(json).unwrap(),
            event
        );
    }
}

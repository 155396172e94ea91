//! The ledger message: one command's events, who issued it, when, and the hash of the previous
//! message of the same aggregate.
//!
//! Wire form (JSON, camelCase), stable forever:
//! `{commandId, actor, occurredAt, correlationId?, aggregateType, aggregateId, prevHash?,
//!   events: [{type, version, data}]}`.
//! Event `type`s are the dotted literals of the aggregates' event enums (`webhook.created`);
//! `version` is the event schema's version.

use chrono::{DateTime, Utc};
use cqrs_es::DomainEvent;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// One ledger message.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LedgerRecord {
    pub command_id: String,
    /// Who acted: `key_…` (an API key), `operator`, or `system`.
    pub actor: String,
    /// When the command was issued (the caller's clock). The stream timestamp of the message is
    /// the ordering authority; this is informative.
    pub occurred_at: DateTime<Utc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub correlation_id: Option<String>,
    pub aggregate_type: String,
    pub aggregate_id: String,
    /// Hex SHA-256 of the previous message's bytes on this aggregate's subject; `None` for the
    /// first message.
    #[serde(default)]
    pub prev_hash: Option<String>,
    pub events: Vec<RecordedEvent>,
}

/// One event inside a ledger message.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RecordedEvent {
    #[serde(rename = "type")]
    pub event_type: String,
    pub version: String,
    #[serde(default)]
    pub data: Value,
}

impl RecordedEvent {
    /// Records a domain event. Event enums are serde adjacently tagged
    /// (`#[serde(tag = "type", content = "data")]`), so their JSON splits into type and data.
    pub fn from_event<E: DomainEvent>(event: &E) -> Result<Self, serde_json::Error> {
        let mut value = serde_json::to_value(event)?;
        let data = value
            .get_mut("data")
            .map(Value::take)
            .unwrap_or(Value::Null);
        Ok(Self {
            event_type: event.event_type(),
            version: event.event_version(),
            data,
        })
    }

    /// Reads the event back into its enum.
    pub fn to_event<E: DomainEvent>(&self) -> Result<E, serde_json::Error> {
        let mut tagged = serde_json::Map::with_capacity(2);
        tagged.insert("type".into(), Value::String(self.event_type.clone()));
        if !self.data.is_null() {
            tagged.insert("data".into(), self.data.clone());
        }
        serde_json::from_value(Value::Object(tagged))
    }
}

/// A ledger message as read back: the record plus where and when the stream stored it.
#[derive(Debug, Clone, PartialEq)]
pub struct LedgerEntry {
    pub subject: String,
    /// Stream sequence: the global order of the ledger, and the aggregate's version after it.
    pub sequence: u64,
    /// Server timestamp of the message.
    pub time: DateTime<Utc>,
    pub record: LedgerRecord,
    /// Hex SHA-256 of the stored bytes (what the next message of the aggregate names as
    /// `prevHash`).
    pub hash: String,
}

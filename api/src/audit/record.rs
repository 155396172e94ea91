//! One audit line per event: a ledger message gives one line per event it carries, a delivery
//! fact gives one line.
//!
//! Decisions: the tenant comes from the message itself (the first token of the aggregate id,
//! or the fact's tenant), so one builder serves a tenant's log and an operator's export of all
//! tenants. Secrets are redacted by key name at any depth (`secret`, `keyHash`): the sealed
//! signing secret of `webhook.created`/`webhook.secret_rotated` and the API key hashes never
//! leave in a record, sealed or not.

use chrono::{DateTime, Utc};
use hookledger_domain::delivery::DeliveryFact;
use hookledger_domain::ledger::LedgerError;
use hookledger_domain::ledger::reader::{RawMessage, StreamKind};
use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;

/// One line of the audit log.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(example = json!({"stream": "ledger", "sequence": 42, "time": "2025-01-01T00:00:00Z",
    "tenant": "acme", "actor": "key_0190f1d2c3b4a5968778695a4b3c2d20",
    "commandId": "0190f1d2c3b4a5968778695a4b3c2d21", "type": "webhook.paused",
    "eventVersion": "1", "webhookId": "wh_0190f1d2c3b4a5968778695a4b3c2d1f",
    "data": {"reason": null}}))]
pub struct AuditLine {
    /// `ledger` (changes) or `deliveries` (delivery facts).
    pub stream: &'static str,
    /// The message's sequence in its stream.
    pub sequence: u64,
    /// When the stream stored it.
    pub time: DateTime<Utc>,
    pub tenant: String,
    /// `key_…`, `operator` or `system`.
    pub actor: String,
    /// The command (ledger) or fact (deliveries) id: the message's `Nats-Msg-Id`.
    pub command_id: String,
    #[serde(rename = "type")]
    pub event_type: String,
    /// The version of the event's schema.
    pub event_version: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub webhook_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub delivery_id: Option<String>,
    /// The event's data, secrets redacted.
    pub data: Value,
}

/// `lead.*` matches `lead.created` and `lead.created.v2`; `*` matches everything; anything
/// else matches itself.
pub fn type_matches(wanted: &str, event_type: &str) -> bool {
    match wanted.strip_suffix('*') {
        Some("") => true,
        Some(prefix) if prefix.ends_with('.') => event_type.starts_with(prefix),
        _ => wanted == event_type,
    }
}

/// The audit lines of one message of `kind` (`LEDGER` or `DELIVERIES`).
pub fn lines_of(kind: StreamKind, raw: &RawMessage) -> Result<Vec<AuditLine>, LedgerError> {
    let corrupt = |reason: String| LedgerError::Corrupt {
        subject: raw.subject.clone(),
        sequence: raw.sequence,
        reason,
    };
    if kind == StreamKind::Deliveries {
        let fact: DeliveryFact =
            serde_json::from_slice(&raw.payload).map_err(|e| corrupt(e.to_string()))?;
        let mut value = serde_json::to_value(&fact).map_err(|e| corrupt(e.to_string()))?;
        let mut data = value
            .get_mut("data")
            .map(Value::take)
            .unwrap_or(Value::Null);
        redact(&mut data);
        return Ok(vec![AuditLine {
            stream: "deliveries",
            sequence: raw.sequence,
            time: raw.time,
            tenant: fact.tenant().to_string(),
            actor: "system".into(),
            command_id: fact.msg_id(),
            event_type: fact.event_type().to_owned(),
            event_version: "1".into(),
            webhook_id: Some(fact.webhook_id().to_string()),
            delivery_id: Some(fact.delivery_id().to_string()),
            data,
        }]);
    }
    let entry = raw.ledger_entry()?;
    let record = entry.record;
    let (tenant, rest) = match record.aggregate_id.split_once('.') {
        Some((tenant, rest)) => (tenant.to_owned(), Some(rest)),
        None => (record.aggregate_id.clone(), None),
    };
    let webhook_id = rest
        .filter(|_| record.aggregate_type == "webhook")
        .map(str::to_owned);
    let mut lines = Vec::with_capacity(record.events.len());
    for event in record.events {
        let mut data = event.data;
        redact(&mut data);
        lines.push(AuditLine {
            stream: "ledger",
            sequence: entry.sequence,
            time: entry.time,
            tenant: tenant.clone(),
            actor: record.actor.clone(),
            command_id: record.command_id.clone(),
            event_type: event.event_type,
            event_version: event.version,
            webhook_id: webhook_id.clone(),
            delivery_id: None,
            data,
        });
    }
    Ok(lines)
}

/// Replaces every `secret` and `keyHash` value, at any depth, with `"[redacted]"`.
pub fn redact(value: &mut Value) {
    match value {
        Value::Object(map) => {
            for (key, v) in map.iter_mut() {
                if key == "secret" || key == "keyHash" {
                    *v = Value::String("[redacted]".into());
                } else {
                    redact(v);
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(redact),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_type_filter_matches_itself_or_by_a_trailing_pattern() {
        assert!(type_matches("webhook.created", "webhook.created"));
        assert!(!type_matches("webhook.created", "webhook.updated"));
        assert!(type_matches("webhook.*", "webhook.secret_rotated"));
        assert!(!type_matches("webhook.*", "delivery.failed"));
        assert!(type_matches("*", "tenant.created"));
    }

    #[test]
    fn secrets_are_redacted_at_any_depth() {
        let mut value = serde_json::json!({
            "secret": {"keyId": "k1", "sealed": "abc"},
            "keys": [{"keyHash": "h", "name": "n"}],
            "spec": {"name": "kept"}
        });
        redact(&mut value);
        assert_eq!(
            value,
            serde_json::json!({
                "secret": "[redacted]",
                "keys": [{"keyHash": "[redacted]", "name": "n"}],
                "spec": {"name": "kept"}
            })
        );
    }
}

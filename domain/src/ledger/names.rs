//! Stream, subject and durable names, all derived from one configurable prefix.
//!
//! `nats.prefix` (default `hookledger`) is the first token of every subject and the start of
//! every stream name, so several installations (or test runs) share one NATS server without
//! seeing each other. Domain events published by users live under their own root
//! (`nats.events_subject`, default `events`): `events.<tenant>.<eventType>`.

use super::LedgerError;

/// Every NATS name hookledger uses. Cheap to clone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Names {
    prefix: String,
    events_root: String,
}

/// A subject token of ours: letters, digits, `_` and `-` (no dots, no wildcards).
pub(crate) fn is_token(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 128
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

impl Names {
    /// `prefix` must be 1..=32 lowercase letters, digits, `_` or `-`; `events_root` one or more
    /// dot-separated tokens.
    pub fn new(prefix: &str, events_root: &str) -> Result<Self, LedgerError> {
        let prefix_ok = prefix.len() <= 32
            && is_token(prefix)
            && prefix.bytes().all(|b| !b.is_ascii_uppercase());
        if !prefix_ok {
            return Err(LedgerError::InvalidName(format!(
                "nats.prefix {prefix:?} must be 1-32 characters of a-z, 0-9, '_' or '-'"
            )));
        }
        if !events_root.split('.').all(is_token) {
            return Err(LedgerError::InvalidName(format!(
                "nats.events_subject {events_root:?} must be dot-separated tokens of letters, \
                 digits, '_' or '-' (no wildcards)"
            )));
        }
        Ok(Self {
            prefix: prefix.to_owned(),
            events_root: events_root.to_owned(),
        })
    }

    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    fn stream(&self, what: &str) -> String {
        format!("{}_{what}", self.prefix.replace('-', "_")).to_uppercase()
    }

    /// `<P>_LEDGER`: webhook, tenant and catalog changes; kept forever, no delete, no purge.
    pub fn ledger_stream(&self) -> String {
        self.stream("LEDGER")
    }
    /// `<P>_EVENTS`: domain events published by users.
    pub fn events_stream(&self) -> String {
        self.stream("EVENTS")
    }
    /// `<P>_DISPATCH`: one job per (event × webhook); a work queue.
    pub fn dispatch_stream(&self) -> String {
        self.stream("DISPATCH")
    }
    /// `<P>_DELIVERIES`: delivery facts (attempts and outcomes).
    pub fn deliveries_stream(&self) -> String {
        self.stream("DELIVERIES")
    }
    /// `<P>_EVENT_IDS`: the router's claims of event ids, one dedup space per tenant.
    pub fn event_ids_stream(&self) -> String {
        self.stream("EVENT_IDS")
    }

    /// The subject of one aggregate instance: `<p>.ledger.<type>.<aggregate id>`. The aggregate
    /// id is one or more dot-separated tokens (a webhook's is `<tenant>.<wh_…>`).
    pub fn aggregate_subject(
        &self,
        aggregate_type: &str,
        aggregate_id: &str,
    ) -> Result<String, LedgerError> {
        if !is_token(aggregate_type) || !aggregate_id.split('.').all(is_token) {
            return Err(LedgerError::InvalidName(format!(
                "aggregate {aggregate_type}/{aggregate_id} is not a valid subject token sequence"
            )));
        }
        Ok(format!(
            "{}.ledger.{aggregate_type}.{aggregate_id}",
            self.prefix
        ))
    }

    /// All ledger subjects: `<p>.ledger.>`.
    pub fn ledger_all(&self) -> String {
        format!("{}.ledger.>", self.prefix)
    }
    /// All subjects of one aggregate type: `<p>.ledger.<type>.>`.
    pub fn ledger_of_type(&self, aggregate_type: &str) -> String {
        format!("{}.ledger.{aggregate_type}.>", self.prefix)
    }
    /// Splits a ledger subject into (aggregate type, aggregate id).
    pub fn parse_ledger_subject<'s>(&self, subject: &'s str) -> Option<(&'s str, &'s str)> {
        let rest = subject
            .strip_prefix(&self.prefix)?
            .strip_prefix(".ledger.")?;
        rest.split_once('.')
    }

    /// The root users publish domain events under (`events`).
    pub fn events_root(&self) -> &str {
        &self.events_root
    }
    /// `events.<tenant>.<eventType>`.
    pub fn event_subject(&self, tenant: &str, event_type: &str) -> String {
        format!("{}.{tenant}.{event_type}", self.events_root)
    }
    /// `events.>`.
    pub fn events_all(&self) -> String {
        format!("{}.>", self.events_root)
    }
    /// `<p>.dispatch.<tenant>.<webhookId>`.
    pub fn dispatch_subject(&self, tenant: &str, webhook_id: &str) -> String {
        format!("{}.dispatch.{tenant}.{webhook_id}", self.prefix)
    }
    pub fn dispatch_all(&self) -> String {
        format!("{}.dispatch.>", self.prefix)
    }
    /// `<p>.delivery.<tenant>.<webhookId>.<deliveryId>`.
    pub fn delivery_subject(&self, tenant: &str, webhook_id: &str, delivery_id: &str) -> String {
        format!(
            "{}.delivery.{tenant}.{webhook_id}.{delivery_id}",
            self.prefix
        )
    }
    pub fn deliveries_all(&self) -> String {
        format!("{}.delivery.>", self.prefix)
    }
    /// `<p>.event-ids.<tenant>`: where the router claims the tenant's event ids.
    pub fn event_id_subject(&self, tenant: &str) -> String {
        format!("{}.event-ids.{tenant}", self.prefix)
    }
    pub fn event_ids_all(&self) -> String {
        format!("{}.event-ids.>", self.prefix)
    }
    /// A durable consumer name owned by this installation (`<p>_<role>`).
    pub fn durable(&self, role: &str) -> String {
        format!("{}_{role}", self.prefix.replace('-', "_"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_name_derives_from_the_prefix() {
        let n = Names::new("run-42", "run-42-events").unwrap();
        assert_eq!(n.ledger_stream(), "RUN_42_LEDGER");
        assert_eq!(
            n.aggregate_subject("webhook", "acme.wh_1").unwrap(),
            "run-42.ledger.webhook.acme.wh_1"
        );
        assert_eq!(
            n.event_subject("acme", "lead.created"),
            "run-42-events.acme.lead.created"
        );
        assert_eq!(
            n.parse_ledger_subject("run-42.ledger.webhook.acme.wh_1"),
            Some(("webhook", "acme.wh_1"))
        );
        assert_eq!(n.durable("router"), "run_42_router");
    }

    #[test]
    fn a_prefix_with_dots_or_wildcards_is_refused() {
        for bad in ["", "a.b", "a*", ">", "UPPER", &"x".repeat(33)] {
            assert!(Names::new(bad, "events").is_err(), "{bad:?} was accepted");
        }
        assert!(Names::new("ok", "ev.*").is_err());
    }

    #[test]
    fn an_aggregate_id_with_wildcards_is_refused() {
        let n = Names::new("p", "events").unwrap();
        assert!(n.aggregate_subject("webhook", "acme.*").is_err());
        assert!(n.aggregate_subject("webhook", "acme..x").is_err());
        assert!(n.aggregate_subject("webhook", "").is_err());
    }
}

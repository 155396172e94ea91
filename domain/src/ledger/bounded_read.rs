//! Bounded, filtered reads for the audit log: one tenant's share of a stream, in order, from
//! a start time up to the head sequence the stream had when the read began.
//!
//! [`Nats::bounded_read`] opens an ordered consumer (flow-controlled: memory stays bounded
//! however long the stream is) with several subject filters, and ends the stream at the head
//! taken at the start, so a reader never waits for messages that arrive later.
//! [`AuditScope`] names the subjects of a tenant (and optionally one webhook) on the `LEDGER`
//! and `DELIVERIES` streams.

use std::pin::Pin;

use async_nats::jetstream::consumer::{DeliverPolicy, pull};
use chrono::{DateTime, Utc};
use futures::{Stream, StreamExt};

use super::reader::{RawMessage, StreamKind};
use super::{LedgerError, Nats};

/// A finite, ordered read of one stream.
pub type BoundedRead = Pin<Box<dyn Stream<Item = Result<RawMessage, LedgerError>> + Send>>;

/// Whose messages an audit read covers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditScope {
    /// The tenant id (a subject token).
    pub tenant: String,
    /// Only this webhook's messages (`wh_…`), when set.
    pub webhook_id: Option<String>,
}

impl AuditScope {
    /// The subject filters of this scope on `kind` (`LEDGER` or `DELIVERIES`; `EVENTS` has
    /// no audit subjects and yields none).
    pub fn filters(&self, nats: &Nats, kind: StreamKind) -> Vec<String> {
        let p = nats.names.prefix();
        let t = &self.tenant;
        match (kind, &self.webhook_id) {
            (StreamKind::Ledger, None) => vec![
                format!("{p}.ledger.tenant.{t}"),
                format!("{p}.ledger.catalog.{t}"),
                format!("{p}.ledger.webhook.{t}.*"),
            ],
            (StreamKind::Ledger, Some(w)) => vec![format!("{p}.ledger.webhook.{t}.{w}")],
            (StreamKind::Deliveries, None) => vec![format!("{p}.delivery.{t}.>")],
            (StreamKind::Deliveries, Some(w)) => vec![format!("{p}.delivery.{t}.{w}.>")],
            (StreamKind::Events, _) => Vec::new(),
        }
    }
}

impl Nats {
    /// Reads the messages of `kind` whose subjects match `filters`, stored at or after `since`
    /// (all when `None`), in stream order, and ends at the stream's head sequence as it was
    /// when this call began. An empty `filters` yields nothing.
    pub async fn bounded_read(
        &self,
        kind: StreamKind,
        filters: Vec<String>,
        since: Option<DateTime<Utc>>,
    ) -> Result<BoundedRead, LedgerError> {
        let head = self.head(kind).await?;
        if head == 0 || filters.is_empty() {
            return Ok(Box::pin(futures::stream::empty()));
        }
        let name = match kind {
            StreamKind::Ledger => self.names.ledger_stream(),
            StreamKind::Events => self.names.events_stream(),
            StreamKind::Deliveries => self.names.deliveries_stream(),
        };
        let what = format!("audit reader on {name}");
        let stream = self
            .js
            .get_stream_no_info(&name)
            .await
            .map_err(|e| LedgerError::unavailable(&name, e))?;
        let deliver_policy = match since {
            Some(start_time) => DeliverPolicy::ByStartTime { start_time },
            None => DeliverPolicy::All,
        };
        let (filter_subject, filter_subjects) = match filters.len() {
            1 => (filters[0].clone(), Vec::new()),
            _ => (String::new(), filters),
        };
        let mut consumer = stream
            .create_consumer(pull::OrderedConfig {
                filter_subject,
                filter_subjects,
                deliver_policy,
                ..Default::default()
            })
            .await
            .map_err(|e| LedgerError::unavailable(&what, e))?;
        let pending = consumer
            .info()
            .await
            .map_err(|e| LedgerError::unavailable(&what, e))?
            .num_pending;
        if pending == 0 {
            return Ok(Box::pin(futures::stream::empty()));
        }
        let messages = consumer
            .messages()
            .await
            .map_err(|e| LedgerError::unavailable(&what, e))?;
        let read = futures::stream::unfold(Some(messages), move |state| async move {
            let mut messages = state?;
            let message = match messages.next().await? {
                Ok(message) => message,
                Err(e) => return Some((Err(LedgerError::unavailable("audit reader", e)), None)),
            };
            let info = match message.info() {
                Ok(info) => info,
                Err(e) => {
                    let e = LedgerError::unavailable("audit reader message info", e);
                    return Some((Err(e), None));
                }
            };
            if info.stream_sequence > head {
                return None;
            }
            let raw = RawMessage {
                subject: message.subject.to_string(),
                sequence: info.stream_sequence,
                time: info.published,
                payload: message.payload.clone(),
                pending: info.pending,
                headers: Vec::new(),
            };
            let more = info.stream_sequence < head && info.pending > 0;
            Some((Ok(raw), more.then_some(messages)))
        });
        Ok(Box::pin(read))
    }
}

//! A webhook folded from its own ledger subject, message by message: the authoritative answer
//! to "what was this webhook at T" (`hookledger audit show --as-of`) that the `webhook_history`
//! view ([`crate::history::as_of`]) is tested against.
//!
//! Decision: it folds with the very function the `webhooks` view applies (`webhooks::fold`),
//! so both answer the same shape ([`WebhookRow`]); what the comparison tests is everything the
//! view adds on top (batching, `valid_from`/`valid_to`, the SQL), not a second definition of a
//! webhook. The caller decides where to stop (`entry.time <= at`); stream times are compared as
//! PostgreSQL stores them (rounded up to the microsecond, see [`crate::history::as_of`]).

use chrono::{DateTime, Utc};
use hookledger_domain::ledger::LedgerEntry;

use crate::ProjectionError;
use crate::webhooks::WebhookRow;

/// A webhook being folded from its subject. Feed it the subject's messages in order.
#[derive(Debug, Clone, Default)]
pub struct WebhookReplay {
    key: Option<(String, String)>,
    state: Option<WebhookRow>,
    messages: u64,
    created: Option<DateTime<Utc>>,
    deleted: Option<DateTime<Utc>>,
}

impl WebhookReplay {
    /// Applies the next message of the webhook's subject.
    pub fn apply(&mut self, entry: &LedgerEntry) -> Result<(), ProjectionError> {
        let key = match &self.key {
            Some(key) => key.clone(),
            None => {
                let (tenant, id) = entry.record.aggregate_id.split_once('.').ok_or_else(|| {
                    ProjectionError::corrupt_because(format!(
                        "{} #{}: webhook aggregate id without a tenant",
                        entry.subject, entry.sequence
                    ))
                })?;
                let key = (tenant.to_owned(), id.to_owned());
                self.key = Some(key.clone());
                key
            }
        };
        let after = crate::webhooks::fold::fold(self.state.take(), &key, entry)?;
        let at = Self::stored_time(entry);
        if after.is_some() && self.created.is_none() {
            self.created = Some(at);
        }
        self.deleted = match after {
            None if self.created.is_some() => Some(at),
            _ => None,
        };
        self.state = after;
        self.messages += 1;
        Ok(())
    }

    /// The time `entry` counts as stored at: its stream time as PostgreSQL keeps it.
    pub fn stored_time(entry: &LedgerEntry) -> DateTime<Utc> {
        crate::apply::pg_time(entry.time)
    }

    /// The webhook after the messages applied; `None` before its creation or once deleted.
    pub fn state(&self) -> Option<&WebhookRow> {
        self.state.as_ref()
    }

    /// The tenant, once a message was applied.
    pub fn tenant(&self) -> Option<&str> {
        self.key.as_ref().map(|(t, _)| t.as_str())
    }

    /// Messages applied so far.
    pub fn messages(&self) -> u64 {
        self.messages
    }

    /// When it was first created, if it was.
    pub fn created(&self) -> Option<DateTime<Utc>> {
        self.created
    }

    /// When it was deleted, if its last message applied deleted it.
    pub fn deleted(&self) -> Option<DateTime<Utc>> {
        self.deleted
    }
}

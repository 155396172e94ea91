//! The dispatcher's in-memory view of the webhooks: each tenant's webhooks with their status,
//! compiled route and whole aggregate, kept current from the ledger. The router matches events
//! against it, and the worker takes each job's webhook from it (no ledger read per attempt).
//!
//! [`Registry::follow`] reads the whole `LEDGER` stream in order (an ordered consumer from
//! sequence 1, then live), folds the `webhook.*` events, and publishes the last sequence it
//! applied. Other aggregates are skipped but their sequences count, so "applied" can reach the
//! stream's last sequence. Before the router matches a batch of events it asks the stream for
//! its last sequence and waits until the registry has applied it ([`Registry::catch_up`]): a
//! webhook whose creation (or pause) was acknowledged before an event was published is
//! already known when that event is matched.
//!
//! The worker ([`Registry::webhook_as_of`]): a job names the ledger sequence its router had
//! applied when it matched the event (`ledgerSequence`). Once this registry has applied that
//! sequence too, its webhook is at least as new as the router's, so a change acknowledged
//! before the event was published (a pause, a new URL, a rotated secret) is seen; a change
//! made after it is seen once the follower applied it (milliseconds), as before it was seen
//! when the worker read the ledger. A registry behind the job (a worker that just started) or
//! a job without the sequence (tests, redeliveries) makes the worker read the ledger instead.
//! One registry per process, shared by the router and the worker ([`crate::Inner`]).

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use cqrs_es::Aggregate;
use futures::StreamExt;
use hookledger_domain::ids::{TenantId, WebhookId};
use hookledger_domain::ledger::reader::StreamKind;
use hookledger_domain::ledger::{LedgerEntry, LedgerError, Nats};
use hookledger_domain::webhook::{Webhook, WebhookEvent, WebhookStatus};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use crate::matcher::{Matcher, Route};

struct Entry {
    status: WebhookStatus,
    route: Route,
    /// The aggregate folded from the same events, for the worker.
    webhook: Arc<Webhook>,
}

/// Every webhook of every tenant, as of [`Registry::applied`].
pub(crate) struct Registry {
    matcher: Matcher,
    /// Written only by the follower task; read by the router (never held across an await).
    tenants: RwLock<HashMap<TenantId, HashMap<WebhookId, Entry>>>,
    /// The last ledger sequence folded in; the router waits on it.
    applied: watch::Sender<u64>,
}

impl Default for Registry {
    fn default() -> Self {
        Self::new()
    }
}

impl Registry {
    pub(crate) fn new() -> Self {
        Self {
            matcher: Matcher::new(),
            tenants: RwLock::new(HashMap::new()),
            applied: watch::Sender::new(0),
        }
    }

    /// The last ledger sequence applied.
    pub(crate) fn applied(&self) -> u64 {
        *self.applied.borrow()
    }

    /// The webhook as of at least ledger sequence `sequence`: `None` when this registry has
    /// not applied it yet (read the ledger instead), `Some(None)` when it does not exist.
    pub(crate) fn webhook_as_of(
        &self,
        tenant: &TenantId,
        id: &WebhookId,
        sequence: u64,
    ) -> Option<Option<Arc<Webhook>>> {
        // Read the sequence first: what the map holds afterwards is at least as new.
        if self.applied() < sequence {
            return None;
        }
        let tenants = self.tenants.read().expect("registry lock");
        Some(
            tenants
                .get(tenant)
                .and_then(|w| w.get(id))
                .map(|e| e.webhook.clone()),
        )
    }

    /// The active webhooks of `tenant` that an event of `event_type` with `data` goes to.
    pub(crate) fn matching<D: serde::Serialize + ?Sized>(
        &self,
        tenant: &TenantId,
        event_type: &str,
        data: &D,
    ) -> Vec<WebhookId> {
        let tenants = self.tenants.read().expect("registry lock");
        let Some(webhooks) = tenants.get(tenant) else {
            return Vec::new();
        };
        (webhooks.values())
            .filter(|e| e.status == WebhookStatus::Active)
            .filter(|e| self.matcher.matches(&e.route, event_type, data))
            .map(|e| e.route.webhook_id.clone())
            .collect()
    }

    /// Folds one ledger message (any aggregate) and marks its sequence applied.
    pub(crate) fn apply(&self, entry: &LedgerEntry) {
        if entry.record.aggregate_type == "webhook" {
            self.apply_webhook(entry);
        }
        self.applied.send_replace(entry.sequence);
    }

    fn apply_webhook(&self, entry: &LedgerEntry) {
        let Some((tenant, id)) = entry.record.aggregate_id.split_once('.') else {
            return;
        };
        let (Ok(tenant), Ok(id)) = (TenantId::parse(tenant), WebhookId::parse(id)) else {
            return;
        };
        let mut tenants = self.tenants.write().expect("registry lock");
        for recorded in &entry.record.events {
            let event = match recorded.to_event::<WebhookEvent>() {
                Ok(event) => event,
                Err(e) => {
                    tracing::error!(sequence = entry.sequence, error = %e, "unreadable webhook event; the router skips it");
                    continue;
                }
            };
            let webhooks = tenants.entry(tenant.clone()).or_default();
            let status = event.status_after();
            if let Some(e) = webhooks.get_mut(&id) {
                Arc::make_mut(&mut e.webhook).apply(event.clone());
            }
            match event {
                WebhookEvent::Created(created) => {
                    let route = self.matcher.route(id.clone(), &created.spec);
                    let status = created.status;
                    let mut webhook = Webhook::default();
                    webhook.apply(WebhookEvent::Created(created));
                    let entry = Entry {
                        status,
                        route,
                        webhook: Arc::new(webhook),
                    };
                    webhooks.insert(id.clone(), entry);
                }
                WebhookEvent::Updated(updated) => {
                    if let Some(e) = webhooks.get_mut(&id) {
                        e.route = self.matcher.route(id.clone(), &updated.spec);
                    }
                }
                WebhookEvent::Deleted {} => {
                    webhooks.remove(&id);
                }
                WebhookEvent::Paused { .. }
                | WebhookEvent::Resumed { .. }
                | WebhookEvent::Disabled { .. }
                | WebhookEvent::SecretRotated { .. } => {}
            }
            if let (Some(status), Some(e)) = (status, webhooks.get_mut(&id)) {
                e.status = status;
            }
        }
    }

    /// Waits until the registry has applied `sequence`, at most `within`.
    pub(crate) async fn catch_up(
        &self,
        sequence: u64,
        within: Duration,
    ) -> Result<(), LedgerError> {
        let mut applied = self.applied.subscribe();
        let wait = applied.wait_for(|s| *s >= sequence);
        match tokio::time::timeout(within, wait).await {
            Ok(Ok(_)) => Ok(()),
            _ => Err(LedgerError::unavailable_because(format!(
                "the router's view of the ledger is at {} and did not reach {sequence} within {within:?}",
                self.applied()
            ))),
        }
    }

    /// Reads the ledger from the sequence after [`Registry::applied`] and keeps folding it
    /// until `shutdown`; on a read error, starts over from where it stands (after a pause).
    pub(crate) async fn follow(self: Arc<Self>, nats: Nats, shutdown: CancellationToken) {
        let mut backoff = Duration::from_millis(100);
        while !shutdown.is_cancelled() {
            let from = self.applied() + 1;
            let result = tokio::select! {
                _ = shutdown.cancelled() => return,
                r = self.follow_from(&nats, from) => r,
            };
            if let Err(error) = result {
                tracing::warn!(%error, from, "reading the ledger for the router failed; retrying");
            }
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = tokio::time::sleep(backoff) => {}
            }
            backoff = (backoff * 2).min(Duration::from_secs(5));
        }
    }

    async fn follow_from(&self, nats: &Nats, from: u64) -> Result<(), LedgerError> {
        let mut tail = nats.tail(StreamKind::Ledger, "", from).await?;
        while let Some(message) = tail.next().await {
            let message = message?;
            if message.sequence <= self.applied() {
                continue;
            }
            match message.ledger_entry() {
                Ok(entry) => self.apply(&entry),
                Err(error) => {
                    tracing::error!(%error, "unreadable ledger message; the router skips it");
                    self.applied.send_replace(message.sequence);
                }
            }
        }
        Err(LedgerError::unavailable_because("the ledger tail ended"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Utc;
    use hookledger_domain::ledger::{LedgerRecord, RecordedEvent};
    use hookledger_domain::webhook::values::Limits;
    use hookledger_domain::webhook::{
        EventPattern, TargetUrl, WebhookCreated, WebhookName, WebhookSpec,
    };
    use serde_json::json;

    fn entry(sequence: u64, aggregate_id: &str, events: Vec<WebhookEvent>) -> LedgerEntry {
        LedgerEntry {
            subject: format!("p.ledger.webhook.{aggregate_id}"),
            sequence,
            time: Utc::now(),
            hash: String::new(),
            record: LedgerRecord {
                command_id: format!("c{sequence}"),
                actor: "system".into(),
                occurred_at: Utc::now(),
                correlation_id: None,
                aggregate_type: "webhook".into(),
                aggregate_id: aggregate_id.into(),
                prev_hash: None,
                events: events
                    .iter()
                    .map(|e| RecordedEvent::from_event(e).unwrap())
                    .collect(),
            },
        }
    }

    fn created(tenant: &TenantId, id: &WebhookId) -> WebhookEvent {
        let spec = WebhookSpec::new(
            WebhookName::parse("x", &Limits::default()).unwrap(),
            TargetUrl::parse("https://example.com", false).unwrap(),
            vec![EventPattern::parse("lead.*").unwrap()],
        );
        let secret = hookledger_domain::secrets::Keyring::for_tests().seal(
            &hookledger_domain::secrets::SigningSecret::parse_any("raw").unwrap(),
            "aad",
        );
        WebhookEvent::Created(WebhookCreated {
            tenant: tenant.clone(),
            id: id.clone(),
            spec,
            secret,
            status: WebhookStatus::Active,
        })
    }

    #[tokio::test]
    async fn only_active_webhooks_of_the_tenant_match_and_the_applied_sequence_moves() {
        let registry = Registry::new();
        let acme: TenantId = "acme".parse().unwrap();
        let (a, b) = (WebhookId::new(), WebhookId::new());
        registry.apply(&entry(1, &format!("acme.{a}"), vec![created(&acme, &a)]));
        registry.apply(&entry(2, &format!("acme.{b}"), vec![created(&acme, &b)]));
        registry.apply(&entry(
            3,
            &format!("acme.{b}"),
            vec![WebhookEvent::Paused { reason: None }],
        ));
        assert_eq!(
            registry.matching(&acme, "lead.created", &json!({})),
            vec![a.clone()]
        );
        assert!(
            registry
                .matching(&"globex".parse().unwrap(), "lead.created", &json!({}))
                .is_empty()
        );
        registry.apply(&entry(
            4,
            &format!("acme.{a}"),
            vec![WebhookEvent::Deleted {}],
        ));
        assert!(
            registry
                .matching(&acme, "lead.created", &json!({}))
                .is_empty()
        );
        registry
            .catch_up(4, Duration::from_millis(10))
            .await
            .unwrap();
        assert!(
            registry
                .catch_up(5, Duration::from_millis(10))
                .await
                .is_err()
        );
    }
}

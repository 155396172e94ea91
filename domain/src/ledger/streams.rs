//! The five streams, created or updated at start.
//!
//! | stream | subjects | kept |
//! |---|---|---|
//! | `<P>_LEDGER` | `<p>.ledger.>` | forever; deletes and purges denied |
//! | `<P>_EVENTS` | `events.>` | `nats.events_max_age`; duplicate window for event ids |
//! | `<P>_DISPATCH` | `<p>.dispatch.>` | work queue: a job leaves when acked; retries are held as scheduled messages |
//! | `<P>_DELIVERIES` | `<p>.delivery.>` | `nats.deliveries_max_age` (0 = forever) |
//! | `<P>_EVENT_IDS` | `<p>.event-ids.>` | the events' duplicate window: the router's claims of event ids (see `work::claims`) |
//!
//! All use file storage and direct gets (reads by subject without a consumer). The circuit
//! breaker's KV bucket `<P>_BREAKER` (see `failures`) is created here too, with the same replicas.

use std::time::Duration;

use async_nats::jetstream::stream::{Config, DiscardPolicy, RetentionPolicy, StorageType};

use super::{LedgerError, Nats};

/// Stream settings from config.
#[derive(Debug, Clone)]
pub struct StreamSettings {
    /// Replicas of every stream (1 on one server, 3 on a cluster).
    pub replicas: usize,
    /// How long a ledger command id is remembered for deduplication.
    pub ledger_duplicate_window: Duration,
    /// How long domain events are kept.
    pub events_max_age: Duration,
    /// How long an event id is remembered for deduplication.
    pub events_duplicate_window: Duration,
    /// How long delivery facts are kept; zero keeps them forever.
    pub deliveries_max_age: Duration,
}

impl Default for StreamSettings {
    fn default() -> Self {
        Self {
            replicas: 1,
            ledger_duplicate_window: Duration::from_secs(600),
            events_max_age: Duration::from_secs(7 * 24 * 3600),
            events_duplicate_window: Duration::from_secs(600),
            deliveries_max_age: Duration::ZERO,
        }
    }
}

/// Creates the streams, or updates their settings when they exist.
pub async fn ensure_streams(nats: &Nats, settings: &StreamSettings) -> Result<(), LedgerError> {
    let n = &nats.names;
    let base = Config {
        storage: StorageType::File,
        num_replicas: settings.replicas,
        allow_direct: true,
        discard: DiscardPolicy::Old,
        ..Default::default()
    };
    let configs = [
        Config {
            name: n.ledger_stream(),
            description: Some(
                "hookledger: webhook, tenant and catalog changes (source of truth)".into(),
            ),
            subjects: vec![n.ledger_all()],
            duplicate_window: settings.ledger_duplicate_window,
            deny_delete: true,
            deny_purge: true,
            ..base.clone()
        },
        Config {
            name: n.events_stream(),
            description: Some("hookledger: domain events published by users".into()),
            subjects: vec![n.events_all()],
            max_age: settings.events_max_age,
            duplicate_window: settings.events_duplicate_window,
            ..base.clone()
        },
        Config {
            name: n.dispatch_stream(),
            description: Some("hookledger: delivery jobs (work queue)".into()),
            subjects: vec![n.dispatch_all()],
            retention: RetentionPolicy::WorkQueue,
            duplicate_window: settings.events_duplicate_window,
            allow_direct: false,
            // Retries wait as scheduled messages (see `work`), nats-server 2.12+.
            allow_message_schedules: nats.supports_message_schedules(),
            ..base.clone()
        },
        Config {
            name: n.deliveries_stream(),
            description: Some("hookledger: delivery attempts and outcomes".into()),
            subjects: vec![n.deliveries_all()],
            max_age: settings.deliveries_max_age,
            duplicate_window: settings.events_duplicate_window,
            ..base.clone()
        },
        Config {
            name: n.event_ids_stream(),
            description: Some("hookledger: event ids claimed by the router (dedup)".into()),
            subjects: vec![n.event_ids_all()],
            // A claim matters only inside the window; its message may go with it.
            max_age: settings.events_duplicate_window,
            duplicate_window: settings.events_duplicate_window,
            ..base
        },
    ];
    for config in configs {
        let name = config.name.clone();
        nats.js.create_or_update_stream(config).await.map_err(|e| {
            LedgerError::unavailable(&format!("cannot create or update stream {name}"), e)
        })?;
    }
    super::failures::ensure_bucket(nats, settings.replicas).await
}

impl Nats {
    /// Deletes this installation's five streams and its breaker bucket: for benchmarks and
    /// tests that used a throw-away prefix. Never called by the service.
    pub async fn delete_streams(&self) -> Result<(), LedgerError> {
        let n = &self.names;
        let mut first = None;
        for name in [
            n.ledger_stream(),
            n.events_stream(),
            n.dispatch_stream(),
            n.deliveries_stream(),
            n.event_ids_stream(),
        ] {
            // Every stream is tried; the first failure is answered after the rest.
            if let Err(e) = self.js.delete_stream(&name).await {
                first.get_or_insert(LedgerError::unavailable(&format!("delete {name}"), e));
            }
        }
        let bucket = super::failures::bucket_name(n);
        if let Err(e) = self.js.delete_key_value(&bucket).await {
            first.get_or_insert(LedgerError::unavailable(&format!("delete {bucket}"), e));
        }
        first.map_or(Ok(()), Err)
    }
}

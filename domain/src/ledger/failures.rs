//! The circuit breaker's shared count: consecutive failed deliveries per webhook, in a JetStream
//! key-value bucket (`<P>_BREAKER`, one key `<tenant>.<webhookId>` per webhook with failures).
//!
//! Decisions:
//! - **A KV bucket with compare-and-set, not a fold of the delivery facts.** Deriving the count
//!   from DELIVERIES would need a per-webhook read (or a consumer over every fact) on each
//!   closed delivery; a KV key is one small write per *failed* delivery and nothing per
//!   healthy one. Every increment is an `update` expecting the revision it read
//!   (`Nats-Expected-Last-Subject-Sequence`), retried on a lost race, so two replicas counting
//!   the same webhook never lose a failure: N replicas trip after the same number of failures
//!   as one. The bucket is on disk with `nats.replicas` copies, so a restart (of hookledger or
//!   of a NATS node) keeps the count.
//! - **A watch keeps the counts in memory.** [`FailureCounts`] follows the bucket (last value
//!   per key, then every change) in a task of its own, so [`FailureCounts::count`] is a map
//!   lookup. A success resets (deletes the key) only when the watched count is non-zero: a
//!   healthy delivery costs no NATS round trip. The watched value may lag a write of another
//!   replica by the watch's latency (milliseconds); a success racing a failure of the same
//!   webhook on another replica may then leave that one failure counted, which is what
//!   "consecutive" means under concurrency anyway.
//! - **The trip resets the count in the same write.** The increment that reaches the threshold
//!   stores 0 instead, so exactly one replica sees the trip per run of failures, and counting
//!   starts again (the ledger's `DisableWebhook` writes nothing when disabled already).
//! - **A failure counts once, even when its job runs twice.** The value is `<count> <deliveryId>`
//!   (the delivery counted last); counting the same delivery again (a job redelivered after a
//!   crash between the count and its ack) changes nothing.
//! - The bucket keeps one revision per key (`history: 1`); a reset is a delete marker, which
//!   the watch reads as 0.
//!
//! Only this module touches the bucket; the dispatcher sees [`FailureCounts`].

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_nats::jetstream::kv::{self, Operation, Store, UpdateErrorKind};
use futures::StreamExt;

use super::{LedgerError, Names, Nats};

/// Attempts of one compare-and-set before giving up (each lost race rereads the key).
const CAS_ATTEMPTS: usize = 16;

/// The bucket of this installation: `<P>_BREAKER`.
pub fn bucket_name(names: &Names) -> String {
    format!("{}_BREAKER", names.prefix().replace('-', "_")).to_uppercase()
}

/// Creates the bucket, or updates its settings (called by `ensure_streams`).
pub(crate) async fn ensure_bucket(nats: &Nats, replicas: usize) -> Result<(), LedgerError> {
    let name = bucket_name(&nats.names);
    nats.js
        .create_or_update_key_value(kv::Config {
            bucket: name.clone(),
            description: "hookledger: consecutive failed deliveries per webhook".into(),
            history: 1,
            num_replicas: replicas,
            storage: async_nats::jetstream::stream::StorageType::File,
            ..Default::default()
        })
        .await
        .map_err(|e| LedgerError::unavailable(&format!("cannot create bucket {name}"), e))?;
    Ok(())
}

/// One key as last seen.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct Count {
    value: u32,
    /// The delivery counted last.
    last: String,
    revision: u64,
}

/// The counts as last seen, by key.
type Seen = HashMap<String, Count>;

/// The shared failure counts, followed in memory. Cheap to clone; the watch stops when the last
/// clone drops.
#[derive(Clone)]
pub struct FailureCounts {
    store: Store,
    seen: Arc<Mutex<Seen>>,
    _watch: Arc<AbortOnDrop>,
}

struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

impl Nats {
    /// Opens the bucket (made by `ensure_streams`) and starts following it.
    pub async fn failure_counts(&self) -> Result<FailureCounts, LedgerError> {
        let name = bucket_name(&self.names);
        let store = (self.js.get_key_value(&name).await)
            .map_err(|e| LedgerError::unavailable(&format!("cannot open bucket {name}"), e))?;
        let seen = Arc::new(Mutex::new(HashMap::new()));
        let watch = tokio::spawn(follow(store.clone(), seen.clone()));
        Ok(FailureCounts {
            store,
            seen,
            _watch: Arc::new(AbortOnDrop(watch)),
        })
    }
}

/// The key of one webhook: `<tenant>.<webhookId>`.
fn key(tenant: &str, webhook: &str) -> String {
    format!("{tenant}.{webhook}")
}

/// `<count> <deliveryId>` → (count, delivery id); anything else reads as 0.
fn parse(value: &[u8]) -> (u32, String) {
    let text = std::str::from_utf8(value).unwrap_or("");
    let (count, last) = text.split_once(' ').unwrap_or((text, ""));
    (count.parse().unwrap_or(0), last.to_owned())
}

fn of_entry(entry: &kv::Entry) -> Count {
    let (value, last) = match entry.operation {
        Operation::Put => parse(&entry.value),
        Operation::Delete | Operation::Purge => (0, String::new()),
    };
    Count {
        value,
        last,
        revision: entry.revision,
    }
}

/// Keeps `count` unless `seen` holds a later revision of the key.
fn keep(seen: &Mutex<Seen>, key: &str, count: Count) {
    let mut seen = seen.lock().expect("failure counts lock");
    let slot = seen.entry(key.to_owned()).or_default();
    if count.revision >= slot.revision {
        *slot = count;
    }
}

impl FailureCounts {
    /// The count as last seen (no NATS round trip).
    pub fn count(&self, tenant: &str, webhook: &str) -> u32 {
        self.seen(&key(tenant, webhook)).value
    }

    fn seen(&self, key: &str) -> Count {
        let seen = self.seen.lock().expect("failure counts lock");
        seen.get(key).cloned().unwrap_or_default()
    }

    /// Failed delivery `delivery` of the webhook. Returns the count it reached; when that is
    /// `trip_at` (0: never) or more, the stored count went back to 0 in the same write. A
    /// delivery counted before returns `None` and changes nothing.
    pub async fn add_failure(
        &self,
        tenant: &str,
        webhook: &str,
        delivery: &str,
        trip_at: u32,
    ) -> Result<Option<u32>, LedgerError> {
        let key = key(tenant, webhook);
        let mut now = self.seen(&key);
        for _ in 0..CAS_ATTEMPTS {
            if now.last == delivery {
                return Ok(None);
            }
            let reached = now.value.saturating_add(1);
            let stored = if trip_at > 0 && reached >= trip_at {
                0
            } else {
                reached
            };
            let value = format!("{stored} {delivery}");
            let written = if now.revision == 0 {
                (self.store.create(&key, value.into()).await)
                    .map_err(|e| e.kind() == kv::CreateErrorKind::AlreadyExists)
            } else {
                (self.store.update(&key, value.into(), now.revision).await)
                    .map_err(|e| e.kind() == UpdateErrorKind::WrongLastRevision)
            };
            match written {
                Ok(revision) => {
                    let count = Count {
                        value: stored,
                        last: delivery.to_owned(),
                        revision,
                    };
                    keep(&self.seen, &key, count);
                    return Ok(Some(reached));
                }
                // Another replica wrote first: read what it wrote and count on top of it.
                Err(true) => now = self.read(&key).await?,
                Err(false) => {
                    return Err(LedgerError::unavailable_because(format!(
                        "cannot count a failure of {key} in the breaker bucket"
                    )));
                }
            }
        }
        Err(LedgerError::unavailable_because(format!(
            "the breaker count of {key} kept changing under {CAS_ATTEMPTS} attempts"
        )))
    }

    async fn read(&self, key: &str) -> Result<Count, LedgerError> {
        let entry = (self.store.entry(key).await)
            .map_err(|e| LedgerError::unavailable("read a breaker count", e))?;
        let now = entry.as_ref().map(of_entry).unwrap_or_default();
        keep(&self.seen, key, now.clone());
        Ok(now)
    }

    /// A delivery of the webhook succeeded: resets its count, with a write only when the
    /// watched count is not 0 already.
    pub async fn reset(&self, tenant: &str, webhook: &str) -> Result<(), LedgerError> {
        let key = key(tenant, webhook);
        if self.seen(&key).value == 0 {
            return Ok(());
        }
        (self.store.delete(&key).await)
            .map_err(|e| LedgerError::unavailable("reset a breaker count", e))?;
        let mut seen = self.seen.lock().expect("failure counts lock");
        if let Some(slot) = seen.get_mut(&key) {
            slot.value = 0;
            slot.last.clear();
        }
        Ok(())
    }
}

/// Follows the bucket into `seen` until aborted; a watch that ends or fails (NATS restarted) is
/// opened again after a pause, from the last value of every key.
async fn follow(store: Store, seen: Arc<Mutex<Seen>>) {
    let mut pause = Duration::from_millis(100);
    loop {
        match store.watch_with_history(">").await {
            Ok(mut watch) => {
                while let Some(Ok(entry)) = watch.next().await {
                    pause = Duration::from_millis(100);
                    keep(&seen, &entry.key, of_entry(&entry));
                }
                tracing::debug!("breaker watch ended; following again");
            }
            Err(error) => tracing::debug!(%error, "breaker watch cannot start; retrying"),
        }
        tokio::time::sleep(pause).await;
        pause = (pause * 2).min(Duration::from_secs(5));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_value_is_the_count_and_the_delivery_counted_last() {
        assert_eq!(parse(b"3 dlv_1"), (3, "dlv_1".to_owned()));
        assert_eq!(parse(b"0 dlv_2"), (0, "dlv_2".to_owned()));
        assert_eq!(parse(b"garbage"), (0, String::new()));
        assert_eq!(parse(b""), (0, String::new()));
    }

    #[test]
    fn the_bucket_name_derives_from_the_prefix() {
        let names = Names::new("run-42", "events").unwrap();
        assert_eq!(bucket_name(&names), "RUN_42_BREAKER");
    }

    #[test]
    fn a_later_revision_wins_and_an_earlier_one_is_ignored() {
        let seen = Mutex::new(Seen::new());
        let count = |value, revision| Count {
            value,
            last: format!("dlv_{value}"),
            revision,
        };
        keep(&seen, "k", count(2, 10));
        keep(&seen, "k", count(1, 9));
        assert_eq!(seen.lock().unwrap()["k"], count(2, 10));
        keep(&seen, "k", count(3, 11));
        assert_eq!(seen.lock().unwrap()["k"], count(3, 11));
    }
}

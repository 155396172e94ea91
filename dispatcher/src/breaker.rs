//! The circuit breaker: consecutive failed deliveries per webhook, shared by every replica.
//!
//! A delivery that ends `failed` (after its retries) adds one; one that succeeds resets the
//! count. At `dispatcher.disable_after_failures`, or at once when the receiver answered
//! `410 Gone`, the webhook must be disabled: the caller issues `DisableWebhook` (actor
//! `system`) through the ledger, which writes nothing if it is disabled already, so two
//! dispatchers tripping together disable it once. Deliveries that failed because the webhook
//! was paused do not count.
//!
//! The count is shared state, not this process's: a JetStream KV bucket with compare-and-set
//! per webhook, followed in memory by a watch (`hookledger_domain::ledger::failures`, where
//! the only `async_nats` import of the workspace lives; the reasons are in its module doc).
//! So N replicas trip after the same number of failures as one, and a restart keeps the count.
//! A healthy delivery costs no NATS round trip: a success writes only when the watched count
//! is not 0. Counting is best effort: when NATS cannot take the write, the failure is logged
//! and not counted (the delivery's own facts are written already; the breaker never fails a
//! delivery). Each failed delivery counts once, also when its job runs again after a crash.

use hookledger_domain::ids::{DeliveryId, TenantId, WebhookId};
use hookledger_domain::ledger::{FailureCounts, LedgerError, Nats};

/// Why a webhook is being disabled.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Trip {
    /// The receiver answered `410 Gone`.
    Gone,
    /// This many consecutive deliveries failed.
    Failures(u32),
}

impl Trip {
    /// The reason written into `webhook.disabled`.
    pub(crate) fn reason(&self) -> String {
        match self {
            Trip::Gone => "the receiver answered 410 Gone".to_owned(),
            Trip::Failures(n) => format!("{n} consecutive deliveries failed"),
        }
    }

    /// A bounded metric label.
    pub(crate) fn label(&self) -> &'static str {
        match self {
            Trip::Gone => "gone",
            Trip::Failures(_) => "failures",
        }
    }
}

/// Consecutive failures per webhook, counted in the shared bucket.
pub(crate) struct Breaker {
    threshold: u32,
    counts: FailureCounts,
}

impl Breaker {
    /// Trips after `threshold` consecutive failures (0 turns counting off; 410 still trips).
    /// Opens the bucket `ensure_streams` made and starts following it.
    pub(crate) async fn open(nats: &Nats, threshold: u32) -> Result<Self, LedgerError> {
        Ok(Self {
            threshold,
            counts: nats.failure_counts().await?,
        })
    }

    /// A delivery of `webhook` succeeded.
    pub(crate) async fn succeeded(&self, tenant: &TenantId, webhook: &WebhookId) {
        if let Err(error) = self.counts.reset(tenant.as_str(), webhook.as_str()).await {
            tracing::warn!(%tenant, webhook_id = %webhook, %error, "breaker count not reset");
        }
    }

    /// A delivery of `webhook` failed for good; `gone` when its last answer was 410. Returns
    /// the trip when the webhook must be disabled now (and counting starts again).
    pub(crate) async fn failed(
        &self,
        tenant: &TenantId,
        webhook: &WebhookId,
        delivery: &DeliveryId,
        gone: bool,
    ) -> Option<Trip> {
        if gone {
            self.succeeded(tenant, webhook).await;
            return Some(Trip::Gone);
        }
        if self.threshold == 0 {
            return None;
        }
        match (self.counts)
            .add_failure(
                tenant.as_str(),
                webhook.as_str(),
                delivery.as_str(),
                self.threshold,
            )
            .await
        {
            Ok(count) => count.and_then(|c| tripped(c, self.threshold)),
            Err(error) => {
                tracing::warn!(%tenant, webhook_id = %webhook, %error, "breaker count not added");
                None
            }
        }
    }
}

/// The trip when the count reached the threshold (0: never).
fn tripped(count: u32, threshold: u32) -> Option<Trip> {
    (threshold > 0 && count >= threshold).then_some(Trip::Failures(count))
}

#[cfg(test)]
mod tests {
    use super::*;

    // Counting against the shared bucket (two replicas, a restart) is tested in
    // tests/it/cluster_breaker.rs; here the decisions that need no NATS.
    #[test]
    fn the_threshold_trips_and_zero_never_does() {
        assert_eq!(tripped(2, 3), None);
        assert_eq!(tripped(3, 3), Some(Trip::Failures(3)));
        assert_eq!(tripped(1_000, 0), None);
    }

    #[test]
    fn trips_name_their_reason_and_label() {
        assert_eq!(Trip::Gone.label(), "gone");
        assert_eq!(Trip::Failures(20).label(), "failures");
        assert_eq!(
            Trip::Failures(20).reason(),
            "20 consecutive deliveries failed"
        );
        assert_eq!(Trip::Gone.reason(), "the receiver answered 410 Gone");
    }
}

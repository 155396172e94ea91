//! The circuit breaker's count: consecutive failed deliveries per webhook.
//!
//! A delivery that ends `failed` (after its retries) adds one; one that succeeds resets the
//! count. At `dispatcher.disable_after_failures`, or at once when the receiver answered
//! `410 Gone`, the webhook must be disabled: the caller issues `DisableWebhook` (actor
//! `system`) through the ledger, which writes nothing if it is disabled already, so two
//! dispatchers tripping together disable it once. Deliveries that failed because the webhook
//! was paused do not count.
//!
//! The count lives in memory: a restart starts it from zero, and with several dispatcher
//! replicas each counts the deliveries it made (an endpoint that always fails trips every
//! replica's count; one that fails now and then may take longer to trip). The decision to
//! disable is the ledger's, so neither case disables twice.

use std::collections::HashMap;
use std::sync::Mutex;

use hookledger_domain::ids::WebhookId;

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

/// Consecutive failures per webhook.
pub(crate) struct Breaker {
    threshold: u32,
    /// Only touched for a moment per finished delivery; never held across an await.
    failures: Mutex<HashMap<WebhookId, u32>>,
}

impl Breaker {
    /// Trips after `threshold` consecutive failures (0 turns counting off; 410 still trips).
    pub(crate) fn new(threshold: u32) -> Self {
        Self {
            threshold,
            failures: Mutex::new(HashMap::new()),
        }
    }

    /// A delivery of `webhook` succeeded.
    pub(crate) fn succeeded(&self, webhook: &WebhookId) {
        self.failures.lock().expect("breaker lock").remove(webhook);
    }

    /// A delivery of `webhook` failed for good; `gone` when its last answer was 410. Returns
    /// the trip when the webhook must be disabled now (and starts counting again).
    pub(crate) fn failed(&self, webhook: &WebhookId, gone: bool) -> Option<Trip> {
        let mut failures = self.failures.lock().expect("breaker lock");
        let count = failures.entry(webhook.clone()).or_default();
        *count += 1;
        let trip = if gone {
            Some(Trip::Gone)
        } else if self.threshold > 0 && *count >= self.threshold {
            Some(Trip::Failures(*count))
        } else {
            None
        };
        if trip.is_some() {
            failures.remove(webhook);
        }
        trip
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_nth_consecutive_failure_trips_and_a_success_resets() {
        let breaker = Breaker::new(3);
        let id = WebhookId::new();
        assert_eq!(breaker.failed(&id, false), None);
        assert_eq!(breaker.failed(&id, false), None);
        breaker.succeeded(&id);
        assert_eq!(breaker.failed(&id, false), None);
        assert_eq!(breaker.failed(&id, false), None);
        assert_eq!(breaker.failed(&id, false), Some(Trip::Failures(3)));
        assert_eq!(breaker.failed(&id, false), None, "counting starts again");
    }

    #[test]
    fn gone_trips_at_once_and_webhooks_count_separately() {
        let breaker = Breaker::new(20);
        let (a, b) = (WebhookId::new(), WebhookId::new());
        assert_eq!(breaker.failed(&a, false), None);
        assert_eq!(breaker.failed(&b, true), Some(Trip::Gone));
        assert_eq!(Trip::Gone.label(), "gone");
        assert_eq!(
            Trip::Failures(20).reason(),
            "20 consecutive deliveries failed"
        );
    }
}

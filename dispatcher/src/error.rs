//! `DispatchError`: what the dispatcher's API (test, redeliver, recover) and its start-up can
//! fail with. Inside the router and the worker, failures are outcomes, NAKs and logs; only
//! these reach a caller.
//!
//! ### Handling (suggested HTTP mapping)
//! - [`DispatchError::Ledger`]: NATS is unavailable or answered unexpectedly → 503 (retry);
//!   `LedgerError::Corrupt` → 500.
//! - [`DispatchError::WebhookNotFound`], [`DispatchError::DeliveryNotFound`] → 404.
//! - [`DispatchError::EventUnavailable`]: the delivery's event is no longer on EVENTS (its
//!   retention passed) or the delivery was a test → 409, nothing was queued.
//! - [`DispatchError::Secret`]: a signing secret does not open with the configured master keys
//!   (a key was removed from config) → 500, logged.
//! - [`DispatchError::Disable`]: the circuit breaker could not write `webhook.disabled` → logged;
//!   the next failed delivery tries again.
//! - [`DispatchError::Client`], [`DispatchError::NoSchedules`]: start-up; the process exits
//!   with the message.
//!
//! Each variant that wraps another error keeps it as its `source()`; its message still ends
//! with the cause's text (logs print `%error`).

use hookledger_domain::ids::DeliveryId;
use hookledger_domain::ledger::CommandError;
use hookledger_domain::ledger::LedgerError;
use hookledger_domain::secrets::SecretError;
use hookledger_domain::webhook::WebhookError;

#[derive(Debug, thiserror::Error)]
pub enum DispatchError {
    #[error(transparent)]
    Ledger(#[from] LedgerError),
    #[error("webhook not found")]
    WebhookNotFound,
    #[error("delivery not found")]
    DeliveryNotFound,
    #[error(
        "the event of delivery {0} can no longer be sent: it is past the EVENTS retention, or \
         the delivery was a test"
    )]
    EventUnavailable(DeliveryId),
    #[error("the webhook's signing secret does not open: {0}")]
    Secret(#[from] SecretError),
    /// The `webhook.disabled` command failed (boxed: it is large and rare).
    #[error("disabling the webhook failed: {0}")]
    Disable(#[source] Box<CommandError<WebhookError>>),
    #[error("cannot build the HTTP client: {0}")]
    Client(#[source] reqwest::Error),
    /// The server's version string: a rule broken, no error beneath it.
    #[error(
        "nats-server {0} has no scheduled messages; the dispatcher needs nats-server 2.12 or newer"
    )]
    NoSchedules(String),
}

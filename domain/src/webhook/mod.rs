//! The webhook: a tenant's subscription that turns matching events into signed HTTP deliveries.
//!
//! - [`values`]: validated value types and the [`WebhookSpec`] (what a user configures), with
//!   its raw input and patch forms.
//! - [`commands`]: [`WebhookCommand`] and the [`EventCatalogSnapshot`] it is checked against.
//! - [`events`]: [`WebhookEvent`], the `webhook.*` ledger events, and [`WebhookStatus`].
//! - [`error`]: [`WebhookError`], with the HTTP status of each variant.
//! - [`aggregate`]: the [`Webhook`] aggregate and its [`WebhookServices`] (the keyring).
//!
//! Everything public is re-exported here, so callers write `webhook::WebhookSpec`.

pub mod aggregate;
pub mod commands;
pub mod error;
pub mod events;
pub mod values;

#[cfg(test)]
mod tests;

pub use aggregate::{Webhook, WebhookServices, secret_aad};
pub use commands::{EventCatalogSnapshot, WebhookCommand};
pub use error::WebhookError;
pub use events::{WebhookCreated, WebhookEvent, WebhookStatus, WebhookUpdated};
pub use values::{
    CustomHeaders, Description, EmailAddress, EventPattern, EventTypeName, Filter, HttpMethod,
    Limits, Properties, RESERVED_HEADERS, RESERVED_PROPERTIES, RetryPolicyKind, RetrySettings,
    TargetUrl, TimeoutSeconds, WebhookName, WebhookPatch, WebhookPatchInput, WebhookSpec,
    WebhookSpecInput, is_forbidden_ip,
};

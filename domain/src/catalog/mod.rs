//! The event-type catalog: the event types a tenant's webhooks may subscribe to.
//!
//! One catalog per tenant (the aggregate id is the tenant id). Native webhooks may only name
//! types in it, or patterns matching them; a webhook created through a vendor dialect is checked
//! against the vendor's list instead and its names are added here with `EnsureEventTypes`.
//! Publishing events needs no catalog entry: an event nobody subscribed to is simply kept.
//!
//! - [`commands`]: the [`CatalogCommand`] type.
//! - [`events`]: [`CatalogEvent`] (`catalog.*`).
//! - [`error`]: the [`CatalogError`] type.
//! - [`aggregate`]: the [`EventCatalog`] aggregate and its [`EventTypeInfo`] entries.

pub mod aggregate;
pub mod commands;
pub mod error;
pub mod events;

#[cfg(test)]
mod tests;

pub use aggregate::{EventCatalog, EventTypeInfo};
pub use commands::CatalogCommand;
pub use error::CatalogError;
pub use events::CatalogEvent;

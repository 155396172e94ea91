//! The tenant: who owns webhooks, and the API keys that act for it.
//!
//! Tenants are created by an operator (CLI or `/v1/admin`), with a first API key issued in the
//! same command so a new tenant is usable at once. Keys are issued and revoked as ledger events;
//! only a key's SHA-256 hash and a display prefix are ever recorded, never the key.
//!
//! - [`commands`]: [`TenantCommand`] and [`ApiKeyGrant`].
//! - [`events`]: [`TenantEvent`] (`tenant.*`).
//! - [`error`]: the [`TenantError`] type.
//! - [`aggregate`]: the [`Tenant`] aggregate and its [`ApiKeyState`]s.

pub mod aggregate;
pub mod commands;
pub mod error;
pub mod events;

#[cfg(test)]
mod tests;

pub use aggregate::{ApiKeyState, Tenant};
pub use commands::{ApiKeyGrant, TenantCommand};
pub use error::TenantError;
pub use events::TenantEvent;

//! The hookledger model and its ledger.
//!
//! Everything that is true about hookledger is an event on the JetStream ledger; this crate
//! defines those events, the aggregates that decide them, and the store that writes and reads
//! them. It knows no HTTP and no SQL.
//!
//! # Layout
//! - [`ids`]: prefixed, subject-safe identifiers (`TenantId`, `WebhookId` `wh_…`, `DeliveryId`
//!   `dlv_…`, `EventId`, `ApiKeyId` `key_…`).
//! - [`secrets`]: webhook signing secrets, sealed with the operator's master key (AEAD) before
//!   they enter an event; API key generation and hashing.
//! - [`validation`]: `FieldError` and `Rule`, the typed "which field broke which rule" shared by
//!   every aggregate and rendered by the API as problem+json.
//! - [`webhook`], [`tenant`], [`catalog`]: the three aggregates, each as `commands`, `events`,
//!   `error`, `aggregate` (+ `values` for the webhook's validated value types).
//! - [`notification`]: the notification log aggregate (facts about "your webhook was
//!   disabled" emails).
//! - [`delivery`]: delivery facts (`delivery.attempted|succeeded|failed`) written by the
//!   dispatcher, and the closed set of attempt outcome codes.
//! - [`dialect`]: the five vendor dialects and their ids, written into the webhook id (no
//!   mapping table).
//! - [`cause`]: `BoxError` and `Cause`, how an error variant keeps the error beneath it as its
//!   `source()` while its message still ends with the cause's text; `one_line` for printers.
//! - [`deadline`]: `with_deadline`, the one bounded retry loop for a dependency to answer
//!   (NATS here, PostgreSQL in the API's start-up).
//! - [`ledger`]: the JetStream event store (`cqrs_es::EventStore`), subjects and streams derived
//!   from one prefix, the ledger message envelope with its hash chain, and the command executor.
//!   It is the **only** module that imports `async_nats`: the API, the dispatcher and the
//!   projections all need the ledger, and the workspace has no fifth crate for it.

pub mod catalog;
pub mod cause;
pub mod deadline;
pub mod delivery;
pub mod dialect;
pub mod ids;
pub mod ledger;
pub mod notification;
pub mod secrets;
pub mod tenant;
pub mod validation;
pub mod webhook;

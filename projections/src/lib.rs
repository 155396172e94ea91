//! hookledger's read side: views of the JetStream ledger in PostgreSQL.
//!
//! Two projectors, one per stream, keep the views current: the **ledger** projector (tenants,
//! API keys, event types, webhooks, webhook history, and `events_archive`, the ledger in
//! postgres-es's table schema) and the **deliveries** projector (deliveries, attempts, stats).
//! Each applies a batch of messages and its checkpoint in one transaction, skips what it has
//! already applied, and can always start again from sequence 1, so every table here is a pure
//! function of the streams and can be rebuilt at any time. The API only reads these tables,
//! through the query functions of the view modules.
//!
//! # Layout
//! - [`migrate`]: creates and updates the tables (`migrations/`, sqlx).
//! - [`View`] (`view`): the two projections, their streams, tables and advisory lock keys.
//! - [`spawn`] / [`Projections`] (`handle`): starts the supervised projectors; checkpoints and
//!   read-your-writes waits ([`Projections::wait_for`]).
//! - [`Projector`] (`projector`): the batch → apply → checkpoint loop, and its supervision.
//! - `lock`: the single-writer advisory lock, and how a rebuild makes projectors stand aside.
//! - `checkpoint`: `projection_checkpoints`.
//! - `apply`: turns a batch of stream messages into rows (shared by projector and rebuild), one
//!   bulk statement per table and batch; and `LedgerBulk`, the rebuild's way for the ledger
//!   view (the same fold carried in memory, rows streamed with `COPY`).
//! - Views and their queries: [`tenants`] (+ API keys), [`event_types`], [`webhooks`],
//!   [`history`], [`archive`], [`deliveries`] (+ attempts), [`stats`], [`timeline`] (stats
//!   per time bucket, from the hourly rollup `webhook_stats_hourly` it writes for the
//!   deliveries projector).
//! - [`replay`]: one webhook folded from its ledger subject (`audit show --as-of`).
//! - [`events_archive`]: `stream_archive`, published events and delivery facts kept past the
//!   streams' retention (not a projection: never rebuilt, never deleted).
//! - [`rebuild`]: refill shadow tables from sequence 1 and swap them in, one transaction.
//! - [`status`]: checkpoints and lag, for `hookledger projections status`.
//! - [`Page`] (`page`): the `{data, page, limit, total, hasMore}` answer of every list.
//! - [`ProjectionError`] (`error`).

mod apply;
pub mod archive;
mod checkpoint;
pub mod deliveries;
mod error;
pub mod event_types;
pub mod events_archive;
mod handle;
pub mod history;
mod lock;
mod page;
mod projector;
pub mod rebuild;
pub mod replay;
pub mod statistics;
pub mod stats;
pub mod status;
pub mod tenants;
pub mod timeline;
mod view;
pub mod webhooks;

pub use error::ProjectionError;
pub use handle::{POLL_EVERY, Projections, spawn, spawn_apart};
pub use page::{DEFAULT_LIMIT, MAX_LIMIT, Page};
pub use projector::{BatchOutcome, LOCK_RETRY, MAX_BATCH, Projector};
pub use view::{UnknownView, View};

/// Creates or updates every table of the read side (also run by `hookledger serve` at start).
pub async fn migrate(pool: &sqlx::PgPool) -> Result<(), ProjectionError> {
    sqlx::migrate!("./migrations").run(pool).await?;
    Ok(())
}

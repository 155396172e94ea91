//! `hookledger bench …`: figures for BENCHMARKS.md, each under a throw-away prefix on the
//! configured NATS (and database), removed afterwards.
//!
//! # Layout
//! - [`ledger`]: `bench ledger`, commit rate and load latency of the ledger.
//! - [`api`]: `bench api`, HTTP throughput and p99 of `/v1/webhooks`.
//! - [`delivery`]: `bench delivery`, publish → signed POST → facts, with `isolation` (a
//!   healthy tenant beside failing and hanging ones).
//! - [`projections`]: `bench projections`, rebuild rate and live projection lag.
//! - [`deployed`]: `bench deployed`, delivery throughput of a running server (load from this
//!   process, receiver in another: [`receiver`], `bench receiver`), CPU of every process.
//! - [`ingest`]: `bench ingest`, `POST /v1/events` of a running server at N clients.
//! - [`audit`]: `bench audit`, export and verify rates over 1,000,000 ledger events, and
//!   `--as-of` latency (view and fold) on a webhook with 10,000 versions.
//! - [`console`]: `bench console`, server-side time of each console page for a tenant with
//!   1,000 webhooks and 100,000 deliveries.
//! - [`scratch`]: the throw-away prefix and database every benchmark (and the test harness)
//!   runs on.
//! - this file: what else they share (process usage, clocks).
//!
//! A new benchmark is a module here and a `BenchCommand` in [`crate::cli`].

pub mod api;
pub mod audit;
pub mod console;
pub mod delivery;
pub mod deployed;
pub mod ingest;
mod isolation;
pub mod ledger;
pub mod projections;
pub mod receiver;
pub mod scratch;

//! `hookledger bench …`: figures for BENCHMARKS.md, each under a throw-away prefix on the
//! configured NATS (and database), removed afterwards.
//!
//! # Layout
//! - [`ledger`]: `bench ledger`, commit rate and load latency of the ledger.
//! - [`api`]: `bench api`, HTTP throughput and p99 of `/v1/webhooks`.
//! - [`delivery`]: `bench delivery`, publish → signed POST → facts, with `isolation` (a
//!   healthy tenant beside failing and hanging ones).
//! - [`projections`]: `bench projections`, rebuild rate and live projection lag.
//! - [`scratch`]: the throw-away prefix and database every benchmark (and the test harness)
//!   runs on.
//! - this file: what else they share (process usage, clocks).
//!
//! A new benchmark is a module here and a `BenchCommand` in [`crate::cli`].

pub mod api;
pub mod delivery;
mod isolation;
pub mod ledger;
pub mod projections;
pub mod scratch;

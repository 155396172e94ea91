#![allow(unreachable_pub)] // a test binary has no public API; `pub` here means "for the other test modules"
//! The one integration-test binary: every test runs against a real nats-server (JetStream) and
//! a real PostgreSQL, each test on its own prefix and its own database.
//!
//! Services come from `scripts/test` (`HOOKLEDGER_TEST_NATS_URL`, `HOOKLEDGER_TEST_DATABASE_URL`).
//! `TEST_LOG=1` shows the app's logs.

mod harness;

mod config;
mod ledger;
mod ledger_restart;
mod process;
mod webhooks_api;
mod projections;

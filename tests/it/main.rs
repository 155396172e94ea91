#![allow(unreachable_pub)] // a test binary has no public API; `pub` here means "for the other test modules"
//! The one integration-test binary: every test runs against a real nats-server (JetStream) and
//! a real PostgreSQL, each test on its own prefix and its own database.
//!
//! Services come from `scripts/test` (`HOOKLEDGER_TEST_NATS_URL`, `HOOKLEDGER_TEST_DATABASE_URL`).
//! `TEST_LOG=1` shows the app's logs.

mod harness;

mod api_audit;
mod api_contract;
mod api_deliveries;
mod api_events_batch;
mod api_idempotency;
mod api_openapi;
mod api_ratelimit;
mod api_support;
mod api_tenancy;
mod api_unavailable;
mod api_webhook_actions;
mod api_webhooks;
mod attempt_headers;

mod audit_cli;
mod audit_export;
mod audit_retention;
mod audit_show;
mod audit_support;
mod audit_verify;

mod compat_catalog;
mod compat_salesfinity;
mod compat_saleshandy;
mod compat_salesos;
mod compat_sonar;
mod compat_superoffice;
mod compat_support;

mod cluster_breaker;
mod cluster_nats;
mod cluster_postgres;
mod cluster_replicas;
mod cluster_scale;
mod cluster_support;
mod config;
mod console_browser;
mod console_cli;
mod console_http;
mod console_links;
mod console_ops;
mod console_support;
mod console_views;
mod delivery;
mod delivery_crash;
mod delivery_ids;
mod delivery_isolation;
mod delivery_retries;
mod delivery_support;
mod ledger;
mod ledger_restart;
mod process;
mod projections;
mod readme;
mod webhooks_api;

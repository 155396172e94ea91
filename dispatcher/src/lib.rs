//! Delivery: every published event reaches every matching webhook, signed, retried, at least
//! once, and every attempt is a fact on the ledger. Side effects (HTTP, email) live here and
//! nowhere else; everything NATS goes through `hookledger_domain::ledger::work`.
//!
//! ```text
//! EVENTS ──router──▶ DISPATCH jobs ──worker──▶ signed HTTP ──▶ DELIVERIES facts
//!   ▲ users publish      │  ▲ retries held as scheduled messages      │
//!   LEDGER ─registry─────┘  └──────────────────────────────────────────┘
//! ```
//!
//! # Layout
//! - [`Dispatcher`] (`handle`): the handle the process holds; starts the router and the worker;
//!   `test_delivery`, `redeliver`, `recover` for the API; [`Settings`].
//! - `router`: EVENTS → one DISPATCH job per (event × matching webhook), acked in windows.
//! - `registry`: the router's in-memory webhooks, folded from the ledger, with catch-up.
//! - [`matcher`]: pure: event patterns, then the JSONLogic filter (datalogic-rs).
//! - `worker`: DISPATCH consumer; intake and sending limits; defers jobs out of the consumer.
//! - `limits`: slots per webhook (adaptive) and per (tenant, host), lines, deferral delays.
//! - `process`: one attempt from job to facts (the path every trigger takes).
//! - [`attempt`]: one HTTP attempt → outcome, status, latency, excerpt.
//! - [`retry`]: pure: `(policy, attempt, outcome) → Succeeded | Retry(delay) | GiveUp`.
//! - [`signing`]: pure: Standard Webhooks headers (HMAC-SHA256).
//! - [`client`]: reqwest client: keep-alive, no redirects, SSRF guard after DNS.
//! - [`job`]: the DISPATCH job and the delivery body.
//! - `breaker`: consecutive failures per webhook (the circuit breaker's count), shared by every
//!   replica through a JetStream KV bucket.
//! - [`notify`]: the disable email (lettre) and its `notification.recorded` fact.
//! - [`DispatchError`] (`error`).
//!
//! # Metrics (bounded labels)
//! `hookledger_router_events_total{result}`, `hookledger_router_jobs_total`,
//! `hookledger_delivery_attempts_total{outcome,trigger}`,
//! `hookledger_delivery_attempt_seconds{outcome}`, `hookledger_deliveries_total{result}`,
//! `hookledger_dispatch_deferred_total{limit}`, `hookledger_webhooks_disabled_total{reason}`,
//! `hookledger_notifications_total{status}`, `hookledger_filter_errors_total`.

pub mod attempt;
mod breaker;
pub mod client;
mod error;
mod handle;
pub mod job;
mod keys;
mod limits;
pub mod matcher;
pub mod notify;
mod process;
mod registry;
pub mod retry;
mod router;
pub mod signing;
mod worker;

pub use error::DispatchError;
pub use handle::{Dispatcher, Redelivery, Settings, TestResult};
pub use notify::{SmtpSettings, SmtpTls};

pub(crate) use handle::Inner;

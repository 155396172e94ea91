//! The HTTP edge: everything between a request and the commands and queries it becomes.
//!
//! # Layout
//! - [`routes`]: the router and one module per resource (`webhooks`, `webhook_actions`,
//!   `deliveries`, `dispatch`, `events`, `event_types`, `admin`, `audit_log`, `health`), with
//!   their JSON shapes (`webhook_dto`, `members`, `paging`) and shared steps (`support`).
//!   A new route goes into its resource's module, or a new one merged in `routes::router`.
//! - [`extract`]: request extractors: JSON/query/path with problem rejections, tenant and
//!   operator authentication.
//! - [`error`]: `ApiError`, the one `IntoResponse` (RFC 9457 problem+json).
//! - [`runtime`]: what the HTTP layer keeps per process: the API-key cache ([`keycache`]), the
//!   per-key rate limit ([`ratelimit`]), the `Idempotency-Key` store ([`idempotency`]) and the
//!   checkpoint-validated read cache ([`readcache`]).
//! - [`openapi`]: the document of exactly the routes served.
//! - [`metrics`]: the Prometheus recorder and the HTTP request metrics.
//!
//! - [`console`]: the web console at `/console` (pages, signed session, CSRF, console links),
//!   merged into the same router; the vendor dialects are beside it in `crate::compat`.

pub mod console;
pub mod error;
pub mod extract;
pub mod idempotency;
pub mod keycache;
pub mod metrics;
pub mod openapi;
pub mod ratelimit;
pub mod readcache;
pub mod routes;
pub mod runtime;

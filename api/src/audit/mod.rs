//! The audit record: what `GET /v1/audit/log` streams and `hookledger audit export` writes, one
//! line per event of the ledger and of the delivery facts, secrets redacted.
//!
//! Both the HTTP route and the CLI build their lines here, so the two answers cannot drift: a
//! record is a pure function of one stored message ([`lines_of`]), and [`merge_by_time`] merges
//! the `LEDGER` and `DELIVERIES` reads into one time-ordered stream.
//!
//! # Layout
//! - [`record`]: [`AuditLine`], [`lines_of`], [`redact`], [`type_matches`].
//! - [`merge`]: [`merge_by_time`], two ordered reads merged by stream time.

pub mod merge;
pub mod record;

pub use merge::{Tagged, merge_by_time};
pub use record::{AuditLine, lines_of, redact, type_matches};

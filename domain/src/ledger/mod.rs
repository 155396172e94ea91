//! The JetStream ledger: hookledger's source of truth.
//!
//! Every webhook, tenant and catalog change is one message on the `LEDGER` stream, on the subject
//! of its aggregate (`<p>.ledger.<type>.<aggregate id>`). A message holds all the events of one
//! command, so a command is atomic; it is published with `Nats-Expected-Last-Subject-Sequence`
//! (optimistic concurrency: two writers of one aggregate cannot both win) and `Nats-Msg-Id` =
//! the command id (a retried command is stored once). Each message carries the SHA-256 of the
//! previous message of its aggregate, so any gap or edit in an aggregate's history is detectable
//! (see [`chain`]).
//!
//! This is the only module of the workspace that imports `async_nats`.
//!
//! # Layout
//! - [`names`]: stream, subject and consumer names, all derived from one prefix.
//! - [`queues`]: delivery queue depths (DISPATCH, the router's and dispatcher's consumers).
//! - [`streams`]: creates or updates the five streams at start.
//! - [`connect`]: connects to NATS with a bounded wait and a clear error.
//! - [`record`]: the ledger message (`LedgerRecord`) and its wire form.
//! - [`chain`]: the per-aggregate hash chain and its verification.
//! - [`store`]: `JetStreamEventStore`, the `cqrs_es::EventStore` over one subject per aggregate.
//! - [`executor`]: runs a command (load, handle, commit) with retries on conflicts, returning the
//!   committed version; cqrs-es's own `CqrsFramework::execute` discards it, and the API needs it
//!   for ETags and read-your-writes.
//! - [`reader`]: reads ranges of the ledger in order (audit log, projections, replays).
//! - [`bounded_read`]: bounded, per-tenant reads of the ledger and delivery facts (what
//!   `GET /v1/audit/log` streams).
//! - [`work`]: what delivery needs of JetStream: durable work consumers (router, dispatcher),
//!   publishes with ids, headers and schedules, delivery facts, events by sequence.
//! - [`error`]: `LedgerError` and `CommandError`.
//! - [`failures`]: the circuit breaker's shared count per webhook (a KV bucket, followed in
//!   memory).

pub mod bounded_read;
pub mod chain;
pub mod connect;
pub mod error;
pub mod executor;
pub mod failures;
pub mod names;
pub mod queues;
pub mod reader;
pub mod record;
pub mod store;
pub mod streams;
pub mod work;

pub use connect::{Nats, connect};
pub use error::{CommandError, LedgerError};
pub use executor::{CommandMeta, Committed, Ledger};
pub use failures::FailureCounts;
pub use names::Names;
pub use record::{LedgerEntry, LedgerRecord, RecordedEvent};
pub use store::{JetStreamEventStore, LedgerContext};
pub use streams::{StreamSettings, ensure_streams};
pub use work::{
    Claim, ConsumerSettings, IncomingEvent, InvalidEvent, Outgoing, PendingAck, Schedule, Stored,
    StoredFact, WorkMessage, WorkQueue, WorkStream,
};

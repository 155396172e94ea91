//! Runs commands against the ledger: load, handle, commit, and on a lost race, again.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use cqrs_es::Aggregate;
use cqrs_es::event_sink::EventSink;

use super::{CommandError, JetStreamEventStore, LedgerError, Nats};

/// How often a command without `If-Match` is retried after losing a race to another writer.
const MAX_ATTEMPTS: u32 = 5;

/// Who issues a command, when, and under which id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommandMeta {
    /// Also the message's `Nats-Msg-Id`: the same id twice (inside the ledger's duplicate
    /// window) is stored once. The API uses the request's `Idempotency-Key` when given.
    pub command_id: String,
    /// `key_…`, `operator` or `system`.
    pub actor: String,
    pub occurred_at: DateTime<Utc>,
    pub correlation_id: Option<String>,
    /// `If-Match`: the command applies only if the aggregate is at this version.
    pub expected_version: Option<u64>,
}

impl CommandMeta {
    /// A command with a fresh id.
    pub fn new(actor: impl Into<String>) -> Self {
        Self {
            command_id: uuid::Uuid::now_v7().simple().to_string(),
            actor: actor.into(),
            occurred_at: Utc::now(),
            correlation_id: None,
            expected_version: None,
        }
    }

    pub fn with_command_id(mut self, id: impl Into<String>) -> Self {
        self.command_id = id.into();
        self
    }

    pub fn expecting(mut self, version: Option<u64>) -> Self {
        self.expected_version = version;
        self
    }

    /// Reads the metadata map cqrs-es hands to `EventStore::commit` (keys `commandId`, `actor`,
    /// `correlationId`); missing values get a fresh id and actor `system`.
    pub(crate) fn from_metadata(metadata: &HashMap<String, String>) -> Self {
        let mut meta = Self::new(
            metadata
                .get("actor")
                .cloned()
                .unwrap_or_else(|| "system".into()),
        );
        if let Some(id) = metadata.get("commandId") {
            meta.command_id = id.clone();
        }
        meta.correlation_id = metadata.get("correlationId").cloned();
        meta
    }
}

/// The outcome of a command.
#[derive(Debug, Clone)]
pub struct Committed<A> {
    /// The aggregate after the command.
    pub aggregate: A,
    /// Its version: the stream sequence of its last message.
    pub version: u64,
    /// False when the command changed nothing, so nothing was written.
    pub written: bool,
    /// True when JetStream recognised the command id: an earlier run of the same command was
    /// stored, at `version`, and nothing new was written.
    pub duplicate: bool,
}

/// Executes commands of aggregate type `A`.
pub struct Ledger<A: Aggregate> {
    store: JetStreamEventStore<A>,
    services: A::Services,
}

impl<A> Ledger<A>
where
    A: Aggregate + Clone,
    A::Command: Clone,
{
    pub async fn open(nats: &Nats, services: A::Services) -> Result<Self, LedgerError> {
        Ok(Self {
            store: JetStreamEventStore::open(nats).await?,
            services,
        })
    }

    pub fn store(&self) -> &JetStreamEventStore<A> {
        &self.store
    }

    /// Loads the current state of an aggregate with its version (0 = never written).
    pub async fn load(&self, aggregate_id: &str) -> Result<(A, u64), LedgerError> {
        let ctx = self.store.load_context(aggregate_id).await?;
        Ok((ctx.aggregate, ctx.version))
    }

    /// Handles `command` on the aggregate and commits its events as one message.
    pub async fn execute(
        &self,
        aggregate_id: &str,
        command: A::Command,
        meta: &CommandMeta,
    ) -> Result<Committed<A>, CommandError<A::Error>> {
        let mut attempt = 0;
        loop {
            attempt += 1;
            let mut ctx = self.store.load_context(aggregate_id).await?;
            if ctx.last_command_id.as_deref() == Some(meta.command_id.as_str()) {
                // This command is the aggregate's last one: it was applied already.
                return Ok(Committed {
                    aggregate: ctx.aggregate,
                    version: ctx.version,
                    written: false,
                    duplicate: true,
                });
            }
            if let Some(expected) = meta.expected_version
                && expected != ctx.version
            {
                return Err(CommandError::PreconditionFailed {
                    expected,
                    current: ctx.version,
                });
            }
            let sink = EventSink::<A>::default();
            ctx.aggregate
                .handle(command.clone(), &self.services, &sink)
                .await
                .map_err(CommandError::Rejected)?;
            let events = sink.collect().await;
            if events.is_empty() {
                return Ok(Committed {
                    aggregate: ctx.aggregate,
                    version: ctx.version,
                    written: false,
                    duplicate: false,
                });
            }
            let aggregate = ctx.aggregate.clone();
            match self.store.append(ctx, &events, meta).await {
                Ok((version, duplicate)) => {
                    if duplicate {
                        let (aggregate, current) = self.load(aggregate_id).await?;
                        tracing::debug!(command_id = %meta.command_id, version, current, "duplicate command id; already stored");
                        return Ok(Committed {
                            aggregate,
                            version,
                            written: false,
                            duplicate: true,
                        });
                    }
                    return Ok(Committed {
                        aggregate,
                        version,
                        written: true,
                        duplicate: false,
                    });
                }
                Err(LedgerError::Conflict(subject)) => {
                    if let Some(expected) = meta.expected_version {
                        let (_, current) = self.load(aggregate_id).await?;
                        return Err(CommandError::PreconditionFailed { expected, current });
                    }
                    if attempt >= MAX_ATTEMPTS {
                        tracing::warn!(%subject, attempt, "giving up after repeated write conflicts");
                        return Err(CommandError::Conflict);
                    }
                    tracing::debug!(%subject, attempt, "write conflict; retrying the command");
                }
                Err(e) => return Err(e.into()),
            }
        }
    }
}

//! `JetStreamEventStore`: a `cqrs_es::EventStore` with one subject per aggregate instance.
//!
//! Loading asks the stream for the last message of the aggregate's subject (one direct get).
//! When an in-memory copy of the aggregate folded up to exactly that sequence is cached, it is
//! used as is; otherwise the messages after the cached sequence (or all of them) are read with
//! direct gets and folded. The cache can never serve a stale aggregate for a write: the commit
//! names the sequence it was loaded at, and JetStream refuses it if the subject moved since.
//!
//! Committing publishes **one** message holding every event of the command, with
//! `Nats-Expected-Last-Subject-Sequence` = the loaded sequence (0 for a new aggregate) and
//! `Nats-Msg-Id` = the command id.

use std::collections::HashMap;
use std::marker::PhantomData;
use std::sync::{Arc, Mutex};

use async_nats::jetstream::context::PublishErrorKind;
use async_nats::jetstream::message::PublishMessage;
use async_nats::jetstream::stream::{DirectGetErrorKind, Stream};
use cqrs_es::{Aggregate, AggregateContext, AggregateError, EventEnvelope, EventStore};

use super::chain::hash;
use super::executor::CommandMeta;
use super::{LedgerEntry, LedgerError, LedgerRecord, Nats, RecordedEvent};

/// Metadata key of an envelope that carries the ledger stream sequence.
pub const SEQUENCE_KEY: &str = "ledger.sequence";
const CACHE_CAPACITY: usize = 10_000;

/// The state of one aggregate as loaded, and where on its subject it was loaded.
#[derive(Debug, Clone)]
pub struct LedgerContext<A> {
    pub aggregate_id: String,
    pub aggregate: A,
    /// Stream sequence of the aggregate's last message; 0 when it has none (new aggregate).
    pub version: u64,
    /// Hash of that message (the next message's `prevHash`).
    pub last_hash: Option<String>,
    /// Number of events folded (cqrs-es's per-aggregate event sequence).
    pub event_count: usize,
    /// Command id of that message: a command arriving again with it was already applied.
    pub last_command_id: Option<String>,
}

impl<A: Aggregate> AggregateContext<A> for LedgerContext<A> {
    fn aggregate(&mut self) -> &mut A {
        &mut self.aggregate
    }
}

/// The event store of aggregate type `A`. Cheap to clone (shares the cache).
pub struct JetStreamEventStore<A> {
    nats: Nats,
    stream: Stream<()>,
    cache: Arc<Mutex<HashMap<String, LedgerContext<A>>>>,
    _aggregate: PhantomData<fn() -> A>,
}

impl<A> Clone for JetStreamEventStore<A> {
    fn clone(&self) -> Self {
        Self {
            nats: self.nats.clone(),
            stream: self.stream.clone(),
            cache: self.cache.clone(),
            _aggregate: PhantomData,
        }
    }
}

impl<A: Aggregate + Clone> JetStreamEventStore<A> {
    /// Opens the store on the ledger stream (which [`super::ensure_streams`] created).
    pub async fn open(nats: &Nats) -> Result<Self, LedgerError> {
        let name = nats.names.ledger_stream();
        let stream = nats
            .js
            .get_stream_no_info(&name)
            .await
            .map_err(|e| LedgerError::unavailable(&format!("stream {name}"), e))?;
        Ok(Self {
            nats: nats.clone(),
            stream,
            cache: Default::default(),
            _aggregate: PhantomData,
        })
    }

    fn subject(&self, aggregate_id: &str) -> Result<String, LedgerError> {
        self.nats.names.aggregate_subject(A::TYPE, aggregate_id)
    }

    /// Sequence of the last message on `subject`, 0 when there is none.
    async fn last_sequence(&self, subject: &str) -> Result<u64, LedgerError> {
        match self.stream.direct_get_last_for_subject(subject).await {
            Ok(message) => Ok(message.sequence),
            Err(e) if e.kind() == DirectGetErrorKind::NotFound => Ok(0),
            Err(e) => Err(LedgerError::unavailable("ledger read", e)),
        }
    }

    /// Every message on `subject` with a sequence in `from..=to`, in order.
    pub(crate) async fn read_range(
        &self,
        subject: &str,
        from: u64,
        to: u64,
    ) -> Result<Vec<LedgerEntry>, LedgerError> {
        read_subject(&self.stream, subject, from, to).await
    }

    /// Loads the aggregate and where it stands, using the cache when it is current.
    pub async fn load_context(&self, aggregate_id: &str) -> Result<LedgerContext<A>, LedgerError> {
        let subject = self.subject(aggregate_id)?;
        let last = self.last_sequence(&subject).await?;
        let cached = self
            .cache
            .lock()
            .expect("cache lock")
            .get(aggregate_id)
            .cloned();
        let mut ctx = match cached {
            Some(c) if c.version == last => return Ok(c),
            Some(c) if c.version < last => c,
            _ => LedgerContext {
                aggregate_id: aggregate_id.to_owned(),
                aggregate: A::default(),
                version: 0,
                last_hash: None,
                event_count: 0,
                last_command_id: None,
            },
        };
        if last == 0 {
            return Ok(ctx);
        }
        for entry in self.read_range(&subject, ctx.version + 1, last).await? {
            // Refuse to build on a history whose chain is broken (a message published around
            // hookledger, or a doctored store): `hookledger audit verify` says where.
            if entry.record.prev_hash != ctx.last_hash {
                return Err(LedgerError::Corrupt {
                    subject,
                    sequence: entry.sequence,
                    reason: "prevHash does not match the previous message of this aggregate".into(),
                });
            }
            for event in &entry.record.events {
                ctx.aggregate.apply(decode::<A>(&entry, event)?);
                ctx.event_count += 1;
            }
            ctx.version = entry.sequence;
            ctx.last_hash = Some(entry.hash);
            ctx.last_command_id = Some(entry.record.command_id);
        }
        self.remember(&ctx);
        Ok(ctx)
    }

    /// The aggregate as it was at `at` (fold of its messages stored at or before then), with
    /// its version then; `None` if it did not exist yet.
    pub async fn load_as_of(
        &self,
        aggregate_id: &str,
        at: chrono::DateTime<chrono::Utc>,
    ) -> Result<Option<(A, u64)>, LedgerError> {
        let entries = self.history(aggregate_id).await?;
        let mut aggregate = A::default();
        let mut version = 0;
        for entry in entries.into_iter().take_while(|e| e.time <= at) {
            for event in &entry.record.events {
                aggregate.apply(decode::<A>(&entry, event)?);
            }
            version = entry.sequence;
        }
        Ok((version > 0).then_some((aggregate, version)))
    }

    /// Every ledger message of one aggregate, oldest first.
    pub async fn history(&self, aggregate_id: &str) -> Result<Vec<LedgerEntry>, LedgerError> {
        let subject = self.subject(aggregate_id)?;
        let last = self.last_sequence(&subject).await?;
        if last == 0 {
            return Ok(Vec::new());
        }
        self.read_range(&subject, 1, last).await
    }

    fn remember(&self, ctx: &LedgerContext<A>) {
        let mut cache = self.cache.lock().expect("cache lock");
        if cache.len() >= CACHE_CAPACITY && !cache.contains_key(&ctx.aggregate_id) {
            // Drop an arbitrary entry: a miss costs one replay, never correctness.
            if let Some(key) = cache.keys().next().cloned() {
                cache.remove(&key);
            }
        }
        cache.insert(ctx.aggregate_id.clone(), ctx.clone());
    }

    fn forget(&self, aggregate_id: &str) {
        self.cache.lock().expect("cache lock").remove(aggregate_id);
    }

    /// Publishes one command's events as one message. `ctx.aggregate` must already have the
    /// events applied (cqrs-es's `EventSink` does that). Returns the stored sequence and whether
    /// JetStream recognised the command id as a duplicate of an earlier message.
    pub async fn append(
        &self,
        ctx: LedgerContext<A>,
        events: &[A::Event],
        meta: &CommandMeta,
    ) -> Result<(u64, bool), LedgerError> {
        let subject = self.subject(&ctx.aggregate_id)?;
        let record = LedgerRecord {
            command_id: meta.command_id.clone(),
            actor: meta.actor.clone(),
            occurred_at: meta.occurred_at,
            correlation_id: meta.correlation_id.clone(),
            aggregate_type: A::TYPE.to_owned(),
            aggregate_id: ctx.aggregate_id.clone(),
            prev_hash: ctx.last_hash.clone(),
            events: events
                .iter()
                .map(RecordedEvent::from_event)
                .collect::<Result<_, _>>()
                .map_err(|e| LedgerError::InvalidName(format!("event does not serialize: {e}")))?,
        };
        let payload = serde_json::to_vec(&record).expect("a ledger record always serializes");
        let message_hash = hash(&payload);
        let publish = PublishMessage::build()
            .payload(payload.into())
            .message_id(&meta.command_id)
            .expected_last_subject_sequence(ctx.version);
        let ack = match self.nats.js.send_publish(subject.clone(), publish).await {
            Ok(pending) => pending.await,
            Err(e) => Err(e),
        };
        match ack {
            Ok(ack) if ack.duplicate => {
                self.forget(&ctx.aggregate_id);
                Ok((ack.sequence, true))
            }
            Ok(ack) => {
                let ctx = LedgerContext {
                    version: ack.sequence,
                    last_hash: Some(message_hash),
                    event_count: ctx.event_count + events.len(),
                    last_command_id: Some(meta.command_id.clone()),
                    ..ctx
                };
                self.remember(&ctx);
                Ok((ack.sequence, false))
            }
            Err(e) if e.kind() == PublishErrorKind::WrongLastSequence => {
                self.forget(&ctx.aggregate_id);
                // JetStream checks the expected sequence before the message id, so a command
                // sent again from a stale state lands here: look for it among the messages
                // written since.
                let last = self.last_sequence(&subject).await?;
                let since = self.read_range(&subject, ctx.version + 1, last).await?;
                match since
                    .iter()
                    .find(|entry| entry.record.command_id == meta.command_id)
                {
                    Some(stored) => Ok((stored.sequence, true)),
                    None => Err(LedgerError::Conflict(subject)),
                }
            }
            Err(e) => {
                self.forget(&ctx.aggregate_id);
                Err(LedgerError::unavailable("ledger publish", e))
            }
        }
    }
}

fn decode<A: Aggregate>(
    entry: &LedgerEntry,
    event: &RecordedEvent,
) -> Result<A::Event, LedgerError> {
    event
        .to_event::<A::Event>()
        .map_err(|e| LedgerError::Corrupt {
            subject: entry.subject.clone(),
            sequence: entry.sequence,
            reason: format!("event {} v{}: {e}", event.event_type, event.version),
        })
}

/// Direct gets before a read switches to an ordered consumer.
const DIRECT_GETS: usize = 8;

/// Reads the messages of one subject in `from..=to`, in order. The usual read is short (the
/// few messages after a cached fold), so it starts with direct gets, one round trip each; a
/// long one (a cold load of a long history) continues with an ordered consumer, which streams
/// the rest in flow-controlled batches.
pub(crate) async fn read_subject(
    stream: &Stream<()>,
    subject: &str,
    from: u64,
    to: u64,
) -> Result<Vec<LedgerEntry>, LedgerError> {
    let mut entries = Vec::new();
    let mut next = from;
    while next <= to {
        if entries.len() == DIRECT_GETS {
            entries.extend(stream_subject(stream, subject, next, to).await?);
            break;
        }
        let message = match stream
            .direct_get_next_for_subject(subject, Some(next))
            .await
        {
            Ok(m) => m,
            Err(e) if e.kind() == DirectGetErrorKind::NotFound => break,
            Err(e) => return Err(LedgerError::unavailable("ledger read", e)),
        };
        if message.sequence > to {
            break;
        }
        next = message.sequence + 1;
        entries.push(parse_entry(
            message.subject.as_str(),
            message.sequence,
            message.time,
            &message.payload,
        )?);
    }
    Ok(entries)
}

/// The messages of `subject` in `from..=to` through an ordered consumer (deleted when dropped
/// by the server: ordered consumers are ephemeral).
async fn stream_subject(
    stream: &Stream<()>,
    subject: &str,
    from: u64,
    to: u64,
) -> Result<Vec<LedgerEntry>, LedgerError> {
    use async_nats::jetstream::consumer::{DeliverPolicy, pull};
    use futures::StreamExt;

    let consumer = stream
        .create_consumer(pull::OrderedConfig {
            filter_subject: subject.to_owned(),
            deliver_policy: DeliverPolicy::ByStartSequence {
                start_sequence: from,
            },
            ..Default::default()
        })
        .await
        .map_err(|e| LedgerError::unavailable("ledger read consumer", e))?;
    let mut messages = consumer
        .messages()
        .await
        .map_err(|e| LedgerError::unavailable("ledger read consumer", e))?;
    let mut entries = Vec::new();
    loop {
        let message =
            match tokio::time::timeout(std::time::Duration::from_secs(10), messages.next()).await {
                Ok(Some(Ok(m))) => m,
                Ok(Some(Err(e))) => return Err(LedgerError::unavailable("ledger read", e)),
                Ok(None) | Err(_) => {
                    return Err(LedgerError::unavailable_because(format!(
                        "ledger read of {subject} stalled"
                    )));
                }
            };
        let info = message
            .info()
            .map_err(|e| LedgerError::unavailable("ledger read", e))?;
        let (sequence, pending) = (info.stream_sequence, info.pending);
        if sequence > to {
            break;
        }
        entries.push(parse_entry(
            message.subject.as_str(),
            sequence,
            info.published,
            &message.payload,
        )?);
        if sequence == to || pending == 0 {
            break;
        }
    }
    Ok(entries)
}

/// Parses one stored ledger message.
pub(crate) fn parse_entry(
    subject: &str,
    sequence: u64,
    time: chrono::DateTime<chrono::Utc>,
    payload: &[u8],
) -> Result<LedgerEntry, LedgerError> {
    let record: LedgerRecord =
        serde_json::from_slice(payload).map_err(|e| LedgerError::Corrupt {
            subject: subject.to_owned(),
            sequence,
            reason: e.to_string(),
        })?;
    Ok(LedgerEntry {
        subject: subject.to_owned(),
        sequence,
        time,
        hash: hash(payload),
        record,
    })
}

fn to_aggregate_error<E: std::error::Error>(e: LedgerError) -> AggregateError<E> {
    match e {
        LedgerError::Conflict(_) => AggregateError::AggregateConflict,
        LedgerError::Unavailable { .. } => AggregateError::DatabaseConnectionError(Box::new(e)),
        LedgerError::Corrupt { .. } => AggregateError::DeserializationError(Box::new(e)),
        LedgerError::InvalidName(_) => AggregateError::UnexpectedError(Box::new(e)),
    }
}

/// The cqrs-es contract, so `CqrsFramework` (and anything written against cqrs-es) can use the
/// ledger. hookledger's own command path is [`super::Ledger`], which also reports versions.
impl<A: Aggregate + Clone> EventStore<A> for JetStreamEventStore<A> {
    type AC = LedgerContext<A>;

    async fn load_events(
        &self,
        aggregate_id: &str,
    ) -> Result<Vec<EventEnvelope<A>>, AggregateError<A::Error>> {
        let entries = self
            .history(aggregate_id)
            .await
            .map_err(to_aggregate_error)?;
        let mut envelopes = Vec::new();
        for entry in &entries {
            for event in &entry.record.events {
                envelopes.push(EventEnvelope {
                    aggregate_id: aggregate_id.to_owned(),
                    sequence: envelopes.len() + 1,
                    payload: decode::<A>(entry, event).map_err(to_aggregate_error)?,
                    metadata: HashMap::from([(
                        SEQUENCE_KEY.to_owned(),
                        entry.sequence.to_string(),
                    )]),
                });
            }
        }
        Ok(envelopes)
    }

    async fn load_aggregate(
        &self,
        aggregate_id: &str,
    ) -> Result<Self::AC, AggregateError<A::Error>> {
        self.load_context(aggregate_id)
            .await
            .map_err(to_aggregate_error)
    }

    async fn commit(
        &self,
        events: Vec<A::Event>,
        context: Self::AC,
        metadata: HashMap<String, String>,
    ) -> Result<Vec<EventEnvelope<A>>, AggregateError<A::Error>> {
        if events.is_empty() {
            return Ok(Vec::new());
        }
        let meta = CommandMeta::from_metadata(&metadata);
        let aggregate_id = context.aggregate_id.clone();
        let first = context.event_count;
        let (sequence, _) = self
            .append(context, &events, &meta)
            .await
            .map_err(to_aggregate_error)?;
        let mut metadata = metadata;
        metadata.insert(SEQUENCE_KEY.to_owned(), sequence.to_string());
        Ok(events
            .into_iter()
            .enumerate()
            .map(|(i, payload)| EventEnvelope {
                aggregate_id: aggregate_id.clone(),
                sequence: first + i + 1,
                payload,
                metadata: metadata.clone(),
            })
            .collect())
    }
}

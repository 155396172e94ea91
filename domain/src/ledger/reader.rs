//! Reading streams in order: the audit log, projections and replays.
//!
//! A [`Tail`] is an ordered consumer (ephemeral, flow-controlled, recreated by the client after
//! a gap or reconnect) on one stream from a start sequence. It yields every stored message in
//! order and keeps waiting for new ones; callers that want a bounded read stop at the head
//! sequence they asked for with [`Nats::head`].
//!
//! The ordered consumer asks the server for its next messages only while it is polled (a pull
//! of 500, renewed at half), so a reader that works between polls (a projector in its
//! transaction) waits a round trip for every few hundred messages. [`Tail::read_ahead`] polls
//! it from a task of its own into a bounded buffer instead.

use std::pin::Pin;
use std::task::{Context, Poll};

use async_nats::jetstream::consumer::{DeliverPolicy, pull};
use futures::Stream;

use super::{LedgerEntry, LedgerError, Nats};

/// Which stream to read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StreamKind {
    Ledger,
    Events,
    Deliveries,
}

impl Nats {
    fn stream_name(&self, kind: StreamKind) -> String {
        match kind {
            StreamKind::Ledger => self.names.ledger_stream(),
            StreamKind::Events => self.names.events_stream(),
            StreamKind::Deliveries => self.names.deliveries_stream(),
        }
    }

    /// The retention a stream has now (`Duration::ZERO`: forever); `None` when it does not
    /// exist yet.
    pub async fn max_age(
        &self,
        kind: StreamKind,
    ) -> Result<Option<std::time::Duration>, LedgerError> {
        use async_nats::jetstream::ErrorCode;
        use async_nats::jetstream::context::GetStreamErrorKind;
        let name = self.stream_name(kind);
        match self.js.get_stream(&name).await {
            Ok(stream) => Ok(Some(stream.cached_info().config.max_age)),
            Err(e)
                if matches!(e.kind(), GetStreamErrorKind::JetStream(j)
                    if j.error_code() == ErrorCode::STREAM_NOT_FOUND) =>
            {
                Ok(None)
            }
            Err(e) => Err(LedgerError::unavailable(&name, e)),
        }
    }

    /// The last sequence stored in a stream (0 when empty).
    pub async fn head(&self, kind: StreamKind) -> Result<u64, LedgerError> {
        let name = self.stream_name(kind);
        let stream = self
            .js
            .get_stream_no_info(&name)
            .await
            .map_err(|e| LedgerError::unavailable(&name, e))?;
        let info = stream
            .get_info()
            .await
            .map_err(|e| LedgerError::unavailable(&name, e))?;
        Ok(info.state.last_sequence)
    }

    /// [`Nats::tail`], each message with its headers (the archive keeps them; other readers
    /// do without, so they do not pay for copying them).
    pub async fn tail_with_headers(
        &self,
        kind: StreamKind,
        filter: &str,
        from: u64,
    ) -> Result<Tail, LedgerError> {
        let mut tail = self.tail(kind, filter, from).await?;
        tail.headers = true;
        Ok(tail)
    }

    /// Reads `kind` in order from sequence `from` (1 = the beginning), only subjects matching
    /// `filter` (empty = all).
    pub async fn tail(
        &self,
        kind: StreamKind,
        filter: &str,
        from: u64,
    ) -> Result<Tail, LedgerError> {
        let name = self.stream_name(kind);
        let stream = self
            .js
            .get_stream_no_info(&name)
            .await
            .map_err(|e| LedgerError::unavailable(&name, e))?;
        let consumer = stream
            .create_consumer(pull::OrderedConfig {
                filter_subject: filter.to_owned(),
                deliver_policy: DeliverPolicy::ByStartSequence {
                    start_sequence: from.max(1),
                },
                ..Default::default()
            })
            .await
            .map_err(|e| LedgerError::unavailable(&format!("ordered consumer on {name}"), e))?;
        let messages = consumer
            .messages()
            .await
            .map_err(|e| LedgerError::unavailable(&format!("ordered consumer on {name}"), e))?;
        Ok(Tail {
            inner: messages,
            headers: false,
        })
    }
}

/// A message read from a stream.
#[derive(Debug, Clone)]
pub struct RawMessage {
    pub subject: String,
    pub sequence: u64,
    pub time: chrono::DateTime<chrono::Utc>,
    pub payload: bytes::Bytes,
    /// Messages the server still holds for this reader after this one (0 = caught up).
    pub pending: u64,
    /// The message's headers, name and value, when read with [`Nats::tail_with_headers`]
    /// (empty otherwise).
    pub headers: Vec<(String, String)>,
}

impl RawMessage {
    /// Parses a `LEDGER` message.
    pub fn ledger_entry(&self) -> Result<LedgerEntry, LedgerError> {
        super::store::parse_entry(&self.subject, self.sequence, self.time, &self.payload)
    }
}

/// See the module docs.
pub struct Tail {
    inner: pull::Ordered,
    headers: bool,
}

impl Stream for Tail {
    type Item = Result<RawMessage, LedgerError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        match Pin::new(&mut self.inner).poll_next(cx) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(None) => Poll::Ready(None),
            Poll::Ready(Some(Err(e))) => {
                Poll::Ready(Some(Err(LedgerError::unavailable("ordered consumer", e))))
            }
            Poll::Ready(Some(Ok(message))) => {
                let item = match message.info() {
                    Ok(info) => Ok(RawMessage {
                        subject: message.subject.to_string(),
                        sequence: info.stream_sequence,
                        time: info.published,
                        payload: message.payload.clone(),
                        pending: info.pending,
                        headers: match (&message.headers, self.headers) {
                            (Some(headers), true) => header_pairs(headers),
                            _ => Vec::new(),
                        },
                    }),
                    Err(e) => Err(LedgerError::unavailable("ordered consumer message info", e)),
                };
                Poll::Ready(Some(item))
            }
        }
    }
}

impl Tail {
    /// Reads this tail from a task of its own into a buffer of up to `capacity` messages (see
    /// the module docs). The first error ends the read after it is handed on; the task ends
    /// when the [`ReadAhead`] is dropped.
    pub fn read_ahead(mut self, capacity: usize) -> ReadAhead {
        let (tx, rx) = tokio::sync::mpsc::channel(capacity.max(1));
        let task = tokio::spawn(async move {
            use futures::StreamExt;
            while let Some(item) = self.next().await {
                let failed = item.is_err();
                if tx.send(item).await.is_err() || failed {
                    return;
                }
            }
        });
        ReadAhead { rx, task }
    }
}

/// A [`Tail`] read ahead into a buffer: see [`Tail::read_ahead`].
pub struct ReadAhead {
    rx: tokio::sync::mpsc::Receiver<Result<RawMessage, LedgerError>>,
    task: tokio::task::JoinHandle<()>,
}

impl Stream for ReadAhead {
    type Item = Result<RawMessage, LedgerError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.rx.poll_recv(cx)
    }
}

impl Drop for ReadAhead {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Every header value as a (name, value) pair, in the map's order.
fn header_pairs(headers: &async_nats::HeaderMap) -> Vec<(String, String)> {
    headers
        .iter()
        .flat_map(|(name, values)| {
            values
                .iter()
                .map(move |v| (name.to_string(), v.as_str().to_owned()))
        })
        .collect()
}

//! Delivery queue depths for operators (the console's operator page): how many jobs the
//! DISPATCH stream holds, and where the router's (EVENTS) and the dispatcher's (DISPATCH)
//! durable consumers stand.
//!
//! Read-only: stream and consumer info requests, nothing is created. A consumer that does not
//! exist yet (no process with that role has started) is `None`, not an error.

use async_nats::jetstream::context::ConsumerInfoErrorKind;
use serde::Serialize;

use super::{LedgerError, Nats};

/// Where one durable consumer stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ConsumerDepth {
    /// Messages matching its filter not delivered yet.
    pub pending: u64,
    /// Delivered and not acknowledged yet (being worked on, or to be redelivered).
    pub ack_pending: u64,
    /// Delivered more than once.
    pub redelivered: u64,
}

/// The delivery queues at one instant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct QueueDepths {
    /// Messages on DISPATCH (jobs, and retries held until their time).
    pub dispatch_messages: u64,
    /// The dispatcher's durable consumer on DISPATCH.
    pub dispatcher: Option<ConsumerDepth>,
    /// The router's durable consumer on EVENTS.
    pub router: Option<ConsumerDepth>,
}

impl Nats {
    /// The delivery queue depths (three JetStream info requests).
    pub async fn queue_depths(&self) -> Result<QueueDepths, LedgerError> {
        let dispatch = self.names.dispatch_stream();
        let mut stream = self
            .js
            .get_stream(&dispatch)
            .await
            .map_err(|e| LedgerError::unavailable(&dispatch, e))?;
        let dispatch_messages = stream
            .info()
            .await
            .map_err(|e| LedgerError::unavailable(&dispatch, e))?
            .state
            .messages;
        let dispatcher = self
            .consumer_depth(&dispatch, &self.names.durable("dispatcher"))
            .await?;
        let router = self
            .consumer_depth(&self.names.events_stream(), &self.names.durable("router"))
            .await?;
        Ok(QueueDepths {
            dispatch_messages,
            dispatcher,
            router,
        })
    }

    async fn consumer_depth(
        &self,
        stream: &str,
        durable: &str,
    ) -> Result<Option<ConsumerDepth>, LedgerError> {
        let handle = self
            .js
            .get_stream_no_info(stream)
            .await
            .map_err(|e| LedgerError::unavailable(stream, e))?;
        match handle.consumer_info(durable).await {
            Ok(info) => Ok(Some(ConsumerDepth {
                pending: info.num_pending,
                ack_pending: info.num_ack_pending as u64,
                redelivered: info.num_redelivered as u64,
            })),
            Err(e) if e.kind() == ConsumerInfoErrorKind::NotFound => Ok(None),
            Err(e) => Err(LedgerError::unavailable(&format!("consumer {durable}"), e)),
        }
    }
}

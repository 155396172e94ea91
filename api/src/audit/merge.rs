//! Merging the `LEDGER` and `DELIVERIES` reads into one stream, oldest first.
//!
//! Each input is already in stream order; the merge peeks at both heads and takes the older
//! (the ledger first on a tie), so it holds at most one message of each and memory stays flat
//! however long the reads. An error is passed on first, so the answer ends there.

use std::pin::Pin;

use futures::{Stream, StreamExt};
use hookledger_domain::ledger::LedgerError;
use hookledger_domain::ledger::reader::{RawMessage, StreamKind};

/// A message and the stream it came from.
pub type Tagged = Result<(StreamKind, RawMessage), LedgerError>;

/// Merges two time-ordered reads (`LEDGER`, `DELIVERIES`) into one, oldest first.
pub fn merge_by_time<L, D>(ledger: L, deliveries: D) -> Pin<Box<dyn Stream<Item = Tagged> + Send>>
where
    L: Stream<Item = Result<RawMessage, LedgerError>> + Send + 'static,
    D: Stream<Item = Result<RawMessage, LedgerError>> + Send + 'static,
{
    let a = ledger
        .map(|m| m.map(|m| (StreamKind::Ledger, m)))
        .boxed()
        .peekable();
    let b = deliveries
        .map(|m| m.map(|m| (StreamKind::Deliveries, m)))
        .boxed()
        .peekable();
    Box::pin(futures::stream::unfold(
        (a, b),
        |(mut a, mut b)| async move {
            let ta = Pin::new(&mut a)
                .peek()
                .await
                .map(|m| m.as_ref().ok().map(|(_, raw)| raw.time));
            let tb = Pin::new(&mut b)
                .peek()
                .await
                .map(|m| m.as_ref().ok().map(|(_, raw)| raw.time));
            let take_a = match (ta, tb) {
                (None, None) => return None,
                (Some(_), None) => true,
                (None, Some(_)) => false,
                // An error goes first, so the answer ends.
                (Some(None), _) => true,
                (_, Some(None)) => false,
                (Some(Some(x)), Some(Some(y))) => x <= y,
            };
            let next = if take_a {
                a.next().await
            } else {
                b.next().await
            };
            next.map(|item| (item, (a, b)))
        },
    ))
}

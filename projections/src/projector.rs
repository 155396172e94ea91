//! The projector: an ordered reader of one stream, applying batches to one view.
//!
//! Each batch (up to [`View::max_batch`] messages, or whatever has arrived: it never waits for a full
//! batch) and the view's checkpoint are written in **one transaction**, on the connection that
//! holds the view's writer lock (see [`crate::lock`]). Messages at or below the checkpoint are
//! skipped, so re-reading a range applies nothing twice, and a batch that fails part-way leaves
//! nothing behind. The transaction commits with `synchronous_commit = off` (set by
//! [`lock::batch_checkpoint`]): JetStream is the source of truth, so a commit lost in a
//! PostgreSQL crash loses its checkpoint with it and is applied again; not waiting for the WAL
//! flush delays nothing readers see, only durability.
//!
//! The writer also keeps its tables' statistics from going stale when autovacuum does not
//! (see [`crate::statistics`]): a batch's lookups are planned on them.
//!
//! [`Projector::run`] supervises this: any error is logged, followed by a capped exponential
//! backoff, a fresh lock connection and a fresh reader from `checkpoint + 1`. Without the lock
//! (another replica projects, or a rebuild runs) it tries again every [`LOCK_RETRY`].

use std::time::Duration;

use futures::{FutureExt, StreamExt};
use hookledger_domain::ledger::LedgerError;
use hookledger_domain::ledger::Nats;
use hookledger_domain::ledger::reader::RawMessage;
use sqlx::{Connection, PgPool};
use tokio::time::timeout;
use tokio_util::sync::CancellationToken;

use crate::handle::ViewState;
use crate::lock::{self, WriterLock};
use crate::view::Target;
use crate::{ProjectionError, View, apply, checkpoint, statistics};

/// The most messages applied in one transaction by the ledger projector (the deliveries
/// projector takes more: [`View::max_batch`]).
pub const MAX_BATCH: usize = 500;
/// How often a projector without the writer lock tries to take it.
pub const LOCK_RETRY: Duration = Duration::from_secs(2);
/// How long an idle projector waits for a message before it checks for a rebuild and the lag.
const IDLE_CHECK: Duration = Duration::from_secs(1);
/// How long to wait for the rest of a batch the server says is pending.
const PENDING_WAIT: Duration = Duration::from_millis(5);
const BACKOFF_MIN: Duration = Duration::from_millis(100);
const BACKOFF_MAX: Duration = Duration::from_secs(10);

/// What applying a batch came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BatchOutcome {
    /// Committed: the checkpoint now, and how many messages were new (the rest were skipped).
    Applied { checkpoint: u64, applied: usize },
    /// Not applied: another writer holds the lock, or a rebuild asked projectors to stand aside.
    NotWriter,
}

/// Why a projecting session ended without an error.
enum Exit {
    Shutdown,
    StandAside,
}

/// The writer of one view. [`crate::spawn`] runs one per view; tests drive one step by step
/// with [`Projector::acquire`] and [`Projector::apply`].
pub struct Projector {
    view: View,
    nats: Nats,
    pool: PgPool,
    lock: Option<WriterLock>,
    checkpoint: u64,
}

impl Projector {
    pub fn new(view: View, nats: Nats, pool: PgPool) -> Self {
        Self {
            view,
            nats,
            pool,
            lock: None,
            checkpoint: 0,
        }
    }

    pub fn view(&self) -> View {
        self.view
    }

    /// The checkpoint as of the last lock acquisition or committed batch.
    pub fn checkpoint(&self) -> u64 {
        self.checkpoint
    }

    /// Takes the writer lock (if not held yet) and reads the checkpoint; false when another
    /// writer holds the lock or a rebuild runs.
    pub async fn acquire(&mut self) -> Result<bool, ProjectionError> {
        if self.lock.is_none() {
            let Some(mut lock) = WriterLock::try_acquire(&self.pool, self.view).await? else {
                return Ok(false);
            };
            self.checkpoint = checkpoint::read(lock.conn(), self.view).await?;
            self.lock = Some(lock);
        }
        Ok(true)
    }

    /// Releases the writer lock (another replica or a rebuild may take it).
    pub async fn release(&mut self) {
        if let Some(lock) = self.lock.take() {
            lock.release().await;
        }
    }

    /// Applies the messages above the checkpoint and moves the checkpoint to the last of them,
    /// in one transaction. Takes the writer lock first if needed.
    pub async fn apply(&mut self, batch: &[RawMessage]) -> Result<BatchOutcome, ProjectionError> {
        if !self.acquire().await? {
            return Ok(BatchOutcome::NotWriter);
        }
        let view = self.view;
        let names = self.nats.names().clone();
        let lock = self.lock.as_mut().expect("the lock was just acquired");
        let mut tx = lock.conn().begin().await?;
        let Some(current) = lock::batch_checkpoint(&mut tx, view).await? else {
            tx.rollback().await?;
            self.release().await;
            return Ok(BatchOutcome::NotWriter);
        };
        let fresh: Vec<&RawMessage> = batch.iter().filter(|m| m.sequence > current).collect();
        let Some(last) = fresh.last().map(|m| m.sequence) else {
            tx.rollback().await?;
            self.checkpoint = current;
            return Ok(BatchOutcome::Applied {
                checkpoint: current,
                applied: 0,
            });
        };
        apply::apply(view, &mut tx, Target::Live, &names, &fresh).await?;
        checkpoint::write(&mut tx, view, last).await?;
        tx.commit().await?;
        self.checkpoint = last;
        Ok(BatchOutcome::Applied {
            checkpoint: last,
            applied: fresh.len(),
        })
    }

    /// Projects until `shutdown` is cancelled, recovering from every error (see module docs).
    pub(crate) async fn run(
        mut self,
        state: std::sync::Arc<ViewState>,
        shutdown: CancellationToken,
    ) {
        let view = self.view;
        let mut backoff = BACKOFF_MIN;
        loop {
            let pause = match self.acquire().await {
                Ok(false) => LOCK_RETRY,
                Err(e) => {
                    tracing::warn!(%view, error = %e, retry_in = ?backoff, "projector cannot take its lock");
                    next_backoff(&mut backoff)
                }
                Ok(true) => {
                    tracing::info!(%view, checkpoint = self.checkpoint, "projector is the writer");
                    state.set_writer(true);
                    state.publish(self.checkpoint);
                    let outcome = self.project(&state, &shutdown, &mut backoff).await;
                    state.set_writer(false);
                    self.release().await;
                    match outcome {
                        Ok(Exit::Shutdown) => return,
                        Ok(Exit::StandAside) => {
                            tracing::info!(%view, "projector stands aside (another writer or a rebuild)");
                            LOCK_RETRY
                        }
                        Err(e) => {
                            tracing::warn!(%view, error = %e, retry_in = ?backoff, "projector failed; restarting from its checkpoint");
                            next_backoff(&mut backoff)
                        }
                    }
                }
            };
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = tokio::time::sleep(pause) => {}
            }
        }
    }

    /// One session as the writer: a fresh reader from `checkpoint + 1`, batches until an error,
    /// a rebuild or shutdown; then waits for its statistics refresh, if one still runs.
    async fn project(
        &mut self,
        state: &ViewState,
        shutdown: &CancellationToken,
        backoff: &mut Duration,
    ) -> Result<Exit, ProjectionError> {
        let stats = std::sync::Arc::new(statistics::Statistics::default());
        let outcome = self.batches(state, shutdown, backoff, &stats).await;
        stats.finish().await;
        outcome
    }

    async fn batches(
        &mut self,
        state: &ViewState,
        shutdown: &CancellationToken,
        backoff: &mut Duration,
        stats: &std::sync::Arc<statistics::Statistics>,
    ) -> Result<Exit, ProjectionError> {
        let view = self.view;
        let filter = view.filter(self.nats.names());
        // Read ahead: the next messages are fetched while a batch is in its transaction.
        let mut tail = self
            .nats
            .tail(view.stream(), &filter, self.checkpoint + 1)
            .await?
            .read_ahead(2 * view.max_batch());
        loop {
            let first = tokio::select! {
                biased;
                _ = shutdown.cancelled() => return Ok(Exit::Shutdown),
                next = timeout(IDLE_CHECK, tail.next()) => next,
            };
            let first = match first {
                Err(_idle) => {
                    let lock = self
                        .lock
                        .as_mut()
                        .expect("a projecting session holds the lock");
                    if lock.rebuild_requested(view).await? {
                        return Ok(Exit::StandAside);
                    }
                    let head = self.nats.head(view.stream()).await?;
                    report_lag(view, head.saturating_sub(self.checkpoint));
                    // Idle too: the counters of the last batches reach the statistics views
                    // only after their commit.
                    stats.refresh_if_due(&self.pool, view);
                    continue;
                }
                Ok(None) => {
                    return Err(ProjectionError::corrupt_because(format!(
                        "the {view} reader ended"
                    )));
                }
                Ok(Some(message)) => message?,
            };
            let batch = fill_batch(&mut tail, first, view.max_batch(), view.linger()).await?;
            let pending = batch.last().map_or(0, |m| m.pending);
            let started = std::time::Instant::now();
            match self.apply(&batch).await? {
                BatchOutcome::NotWriter => return Ok(Exit::StandAside),
                BatchOutcome::Applied {
                    checkpoint,
                    applied,
                } => {
                    tracing::debug!(%view, messages = batch.len(), applied, checkpoint, pending, elapsed = ?started.elapsed(), "batch applied");
                    state.publish(checkpoint);
                    report_lag(view, pending);
                    *backoff = BACKOFF_MIN;
                    stats.refresh_if_due(&self.pool, view);
                }
            }
        }
    }
}

/// Adds to `first` what has already arrived, what the server says is on its way (waited for
/// briefly) and, until `linger` after the call, what arrives meanwhile; up to `max` messages.
pub(crate) async fn fill_batch<S>(
    tail: &mut S,
    first: RawMessage,
    max: usize,
    linger: Duration,
) -> Result<Vec<RawMessage>, ProjectionError>
where
    S: futures::Stream<Item = Result<RawMessage, LedgerError>> + Unpin,
{
    let lingered = tokio::time::Instant::now() + linger;
    let mut batch = vec![first];
    while batch.len() < max {
        let pending = batch.last().map_or(0, |m| m.pending);
        let next = match tail.next().now_or_never() {
            Some(next) => next,
            None => {
                let now = tokio::time::Instant::now();
                let until = match pending {
                    0 if lingered > now => lingered,
                    0 => break,
                    _ => lingered.max(now + PENDING_WAIT),
                };
                match tokio::time::timeout_at(until, tail.next()).await {
                    Ok(next) => next,
                    Err(_) => break,
                }
            }
        };
        match next {
            Some(message) => batch.push(message?),
            None => break,
        }
    }
    Ok(batch)
}

fn report_lag(view: View, lag: u64) {
    metrics::gauge!("hookledger_projection_lag", "view" => view.name()).set(lag as f64);
}

/// Returns the current backoff and doubles it for next time, up to [`BACKOFF_MAX`].
fn next_backoff(backoff: &mut Duration) -> Duration {
    let now = *backoff;
    *backoff = (*backoff * 2).min(BACKOFF_MAX);
    now
}

#[cfg(test)]
mod tests {
    use futures::StreamExt;

    use super::*;

    fn message(sequence: u64) -> RawMessage {
        RawMessage {
            subject: "s".into(),
            sequence,
            time: chrono::Utc::now(),
            payload: Default::default(),
            pending: 0,
            headers: vec![],
        }
    }

    /// A stream whose next message is not ready when first polled (it yields once first).
    fn arriving_later(
        sequences: Vec<u64>,
    ) -> impl futures::Stream<Item = Result<RawMessage, LedgerError>> + Unpin {
        Box::pin(
            futures::stream::iter(sequences).then(|sequence| async move {
                tokio::task::yield_now().await;
                Ok(message(sequence))
            }),
        )
    }

    #[tokio::test]
    async fn without_a_linger_a_batch_is_what_has_arrived() {
        let mut tail = arriving_later(vec![2, 3]);
        let batch = fill_batch(&mut tail, message(1), 10, Duration::ZERO)
            .await
            .unwrap();
        assert_eq!(batch.len(), 1, "the next message was not there yet");
    }

    #[tokio::test]
    async fn a_lingering_batch_takes_what_arrives_meanwhile_up_to_its_size() {
        let mut tail = arriving_later(vec![2, 3, 4]);
        let long = Duration::from_secs(600);
        let batch = fill_batch(&mut tail, message(1), 3, long).await.unwrap();
        let sequences: Vec<u64> = batch.iter().map(|m| m.sequence).collect();
        assert_eq!(sequences, [1, 2, 3], "full before the linger ended");
    }

    #[tokio::test]
    async fn a_lingering_batch_ends_with_its_linger() {
        let mut tail = futures::stream::pending::<Result<RawMessage, LedgerError>>();
        let started = std::time::Instant::now();
        let linger = Duration::from_millis(20);
        let batch = fill_batch(&mut tail, message(1), 10, linger).await.unwrap();
        assert_eq!(batch.len(), 1);
        assert!(started.elapsed() >= linger, "{:?}", started.elapsed());
    }
}

//! `Projections`: the running projectors, as the API sees them (checkpoints and
//! read-your-writes waits).
//!
//! Each view has a [`ViewState`]: a `watch` channel carrying the checkpoint the local projector
//! last committed, and a flag saying whether the local projector currently holds the writer
//! lock. A wait for a sequence follows the watch while this process is the writer; otherwise
//! (another replica projects, or this process runs no projector) it polls
//! `projection_checkpoints` every [`POLL_EVERY`] until the deadline.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use hookledger_domain::ledger::Nats;
use hookledger_domain::ledger::reader::StreamKind;
use sqlx::PgPool;
use tokio::sync::watch;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::{ProjectionError, Projector, View, checkpoint};

/// How often a wait polls the checkpoint table when the writer is another process.
pub const POLL_EVERY: Duration = Duration::from_millis(20);

/// What the API knows about one view's projector in this process.
pub(crate) struct ViewState {
    view: View,
    /// The last checkpoint the local projector committed (sent after each commit).
    checkpoint: watch::Sender<u64>,
    /// True while the local projector holds the writer lock; waits trust `checkpoint` only then.
    writer: AtomicBool,
}

impl ViewState {
    fn new(view: View) -> Self {
        Self {
            view,
            checkpoint: watch::Sender::new(0),
            writer: AtomicBool::new(false),
        }
    }

    pub(crate) fn publish(&self, sequence: u64) {
        self.checkpoint.send_if_modified(|c| {
            let moved = *c != sequence;
            *c = sequence;
            moved
        });
    }

    pub(crate) fn set_writer(&self, writer: bool) {
        self.writer.store(writer, Ordering::Release);
    }

    fn is_writer(&self) -> bool {
        self.writer.load(Ordering::Acquire)
    }
}

/// Handle on the projections of this process; cheap to clone.
#[derive(Clone)]
pub struct Projections {
    pool: PgPool,
    states: Arc<[Arc<ViewState>; 2]>,
}

/// Starts one supervised projector per view, and an archiver per stream of `archived`
/// ([`crate::events_archive`]), on a thread and runtime of their own; they stop when `shutdown`
/// is cancelled (after the batch in flight, if any), and `tracker` waits for them.
///
/// Why apart: a projector's batch is a handful of PostgreSQL round trips, and each one ends
/// with its task waiting in the run queue. On the dispatcher's runtime that queue holds
/// thousands of delivery tasks whenever deliveries are busy, so every round trip waited behind
/// them and the views fell seconds behind the facts (BENCHMARKS.md, "Deployed"). On a thread of
/// its own the projector waits for the operating system's scheduler only, which hands a
/// thread that mostly sleeps the CPU at once. The work is the same; only its latency changes.
pub fn spawn_apart(
    nats: Nats,
    pool: PgPool,
    archived: Vec<StreamKind>,
    shutdown: CancellationToken,
    tracker: &TaskTracker,
) -> std::io::Result<Projections> {
    let projections = Projections::remote(pool.clone());
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let states = projections.states.clone();
    let (done, finished) = tokio::sync::oneshot::channel::<()>();
    std::thread::Builder::new()
        .name("projectors".into())
        .spawn(move || {
            runtime.block_on(async move {
                let local = TaskTracker::new();
                spawn_projectors(&states, &nats, &pool, &shutdown, &local);
                if !archived.is_empty() {
                    crate::events_archive::spawn(nats, pool, archived, shutdown, &local);
                }
                local.close();
                local.wait().await;
            });
            drop(done);
        })?;
    tracker.spawn(async move {
        let _ = finished.await;
    });
    Ok(projections)
}

/// Starts one supervised projector per view on `tracker`; they stop when `shutdown` is
/// cancelled (after the batch in flight, if any).
pub fn spawn(
    nats: Nats,
    pool: PgPool,
    shutdown: CancellationToken,
    tracker: &TaskTracker,
) -> Projections {
    let projections = Projections::remote(pool.clone());
    spawn_projectors(&projections.states, &nats, &pool, &shutdown, tracker);
    projections
}

fn spawn_projectors(
    states: &[Arc<ViewState>; 2],
    nats: &Nats,
    pool: &PgPool,
    shutdown: &CancellationToken,
    tracker: &TaskTracker,
) {
    for state in states {
        let projector = Projector::new(state.view, nats.clone(), pool.clone());
        tracker.spawn(projector.run(state.clone(), shutdown.clone()));
    }
}

impl Projections {
    /// A handle for a process that runs no projector: waits always poll the checkpoint table.
    pub fn remote(pool: PgPool) -> Self {
        Self {
            pool,
            states: Arc::new(View::ALL.map(|v| Arc::new(ViewState::new(v)))),
        }
    }

    fn state(&self, view: View) -> &ViewState {
        &self.states[match view {
            View::Ledger => 0,
            View::Deliveries => 1,
        }]
    }

    /// The checkpoint the local projector of `view` last committed (0 if it never ran here).
    pub fn checkpoint(&self, view: View) -> u64 {
        *self.state(view).checkpoint.borrow()
    }

    /// True while this process's projector of `view` holds the writer lock.
    pub fn is_writer(&self, view: View) -> bool {
        self.state(view).is_writer()
    }

    /// Returns once `view` has applied `sequence`, or [`ProjectionError::Timeout`] after
    /// `timeout`. Used for read-your-writes: a write answers once its view shows it.
    pub async fn wait_for(
        &self,
        view: View,
        sequence: u64,
        timeout: Duration,
    ) -> Result<(), ProjectionError> {
        let deadline = Instant::now() + timeout;
        let state = self.state(view);
        let mut local = state.checkpoint.subscribe();
        loop {
            let reached = if state.is_writer() {
                *local.borrow_and_update() >= sequence
            } else {
                checkpoint::read_pool(&self.pool, view).await? >= sequence
            };
            if reached {
                return Ok(());
            }
            let now = Instant::now();
            if now >= deadline {
                return Err(ProjectionError::Timeout { view, sequence });
            }
            let wake = deadline.min(now + POLL_EVERY);
            if state.is_writer() {
                tokio::select! {
                    _ = local.changed() => {}
                    _ = tokio::time::sleep_until(wake) => {}
                }
            } else {
                tokio::time::sleep_until(wake).await;
            }
        }
    }
}

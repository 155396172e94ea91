//! How many attempts may be in flight, per webhook and per (tenant, host): the limits that keep
//! one receiver's slowness its own.
//!
//! A job needs two slots before its attempt is made: one of its **webhook** and one of its
//! tenant's **host** (`host:port` of the URL, counted per tenant, so a politeness limit towards
//! a host shared by many tenants, an automation platform say, is never used up by one of
//! them). Each kind of slot has a waiting line sized by how fast its holder answers
//! ([`Pool::line`]); a job that finds no slot and a full line, or waits longer than
//! [`LINE_WAIT`], is **deferred**: the worker hands it back to JetStream as a scheduled
//! message due at [`Deferral::delay`] and acks it, so a waiting job occupies nothing on the
//! shared consumer.
//!
//! A webhook's limit adapts (additive increase, multiplicative decrease, as TCP does): it
//! starts at [`INITIAL_WEBHOOK_SLOTS`], gains one slot per answered attempt up to
//! `per_webhook_concurrency`, and halves (down to one) per attempt that timed out, could not
//! connect, or got 408, 429 or 5xx. A hanging webhook therefore holds one slot, not
//! `per_webhook_concurrency`, and a thousand of them hold about a thousand attempts in flight.
//!
//! The deferral delay is the webhook's own queue: each deferred job is given the next free
//! moment at the webhook's pace (time a slot is held ÷ slots, planned at the maximum while the
//! webhook answers well and at its current limit once it is congested), between [`MIN_DEFER`]
//! and [`MAX_DEFER`], so a job comes back about when it can be served and a backlog costs one
//! deferral per job per [`MAX_DEFER`], not a retry storm. Lines are sized the same way, so a
//! burst to a healthy webhook waits in line while its limit grows instead of being deferred.
//!
//! All of it is per process and in memory; with several replicas each keeps its own limits.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use hookledger_domain::delivery::AttemptOutcome;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::Instant;

use crate::attempt::AttemptResult;

/// How long a job may wait in a line before it is deferred.
pub(crate) const LINE_WAIT: Duration = Duration::from_secs(1);
/// The shortest deferral.
pub(crate) const MIN_DEFER: Duration = Duration::from_millis(250);
/// The longest deferral: how long a backlogged job may sleep before it looks again.
pub(crate) const MAX_DEFER: Duration = Duration::from_secs(60);
/// Slots of a webhook not seen before (it earns more by answering).
pub(crate) const INITIAL_WEBHOOK_SLOTS: usize = 2;
/// Pools kept before idle ones are forgotten.
const KEEP_POOLS: usize = 4096;

/// The slots of every webhook and (tenant, host) seen.
pub(crate) struct Limits {
    per_webhook: usize,
    per_host: usize,
    max_line: usize,
    /// Held for a moment to find a pool; never across an await.
    webhooks: Mutex<HashMap<String, Arc<Pool>>>,
    hosts: Mutex<HashMap<String, Arc<Pool>>>,
}

/// What a job holds while its attempt is made.
pub(crate) struct Admission {
    webhook: Slot,
    _host: Slot,
}

impl Admission {
    /// Tells the webhook's limit how the attempt went.
    pub(crate) fn record(&self, result: &AttemptResult) {
        self.webhook.pool.record(congested(result));
    }
}

/// Why a job must come back later, and when.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Deferral {
    /// `"webhook"` or `"host"`: which limit was full (a metric label).
    pub(crate) limit: &'static str,
    pub(crate) delay: Duration,
}

impl Limits {
    pub(crate) fn new(per_webhook: usize, per_host: usize, max_line: usize) -> Self {
        Self {
            per_webhook: per_webhook.max(1),
            per_host: per_host.max(1),
            max_line: max_line.max(1),
            webhooks: Mutex::new(HashMap::new()),
            hosts: Mutex::new(HashMap::new()),
        }
    }

    /// The slots for an attempt of `webhook` (of `tenant`, to `url`), after waiting in line if
    /// need be; or when to try again.
    pub(crate) async fn enter(
        &self,
        tenant: &str,
        webhook: &str,
        url: &url::Url,
    ) -> Result<Admission, Deferral> {
        let initial = INITIAL_WEBHOOK_SLOTS.min(self.per_webhook);
        let own = pool(&self.webhooks, webhook, || {
            Pool::new(initial, self.per_webhook)
        });
        let webhook = own.take(self.max_line).await.ok_or_else(|| Deferral {
            limit: "webhook",
            delay: own.defer_delay(),
        })?;
        let key = format!("{tenant} {}", endpoint(url));
        let host = pool(&self.hosts, &key, || {
            Pool::new(self.per_host, self.per_host)
        });
        let host_slot = host.take(self.max_line).await.ok_or_else(|| Deferral {
            limit: "host",
            delay: host.defer_delay(),
        })?;
        Ok(Admission {
            webhook,
            _host: host_slot,
        })
    }
}

/// The pool of `key`, made by `new` if it is not known yet.
fn pool(
    pools: &Mutex<HashMap<String, Arc<Pool>>>,
    key: &str,
    new: impl FnOnce() -> Pool,
) -> Arc<Pool> {
    let mut pools = pools.lock().expect("limits lock");
    if pools.len() > KEEP_POOLS {
        pools.retain(|_, p| Arc::strong_count(p) > 1 || !p.is_idle());
    }
    if let Some(pool) = pools.get(key) {
        return pool.clone();
    }
    let pool = Arc::new(new());
    pools.insert(key.to_owned(), pool.clone());
    pool
}

/// True when the attempt says the receiver is overloaded or unreachable.
fn congested(result: &AttemptResult) -> Option<bool> {
    match result.outcome {
        AttemptOutcome::Timeout | AttemptOutcome::Connect | AttemptOutcome::Dns => Some(true),
        AttemptOutcome::HttpError => {
            Some(matches!(result.status, Some(408 | 429) | Some(500..=599)))
        }
        AttemptOutcome::Success | AttemptOutcome::Gone => Some(false),
        // Not sent: says nothing about the receiver.
        AttemptOutcome::RefusedTarget | AttemptOutcome::Paused => None,
    }
}

/// Slots of one webhook or (tenant, host), with their line.
pub(crate) struct Pool {
    slots: Arc<Semaphore>,
    max: usize,
    /// Slots now allowed, permits to forget as they come back, the next free deferral time.
    state: Mutex<PoolState>,
    waiting: AtomicUsize,
    /// Moving average (1/8 weight) of how long a slot is held, in µs; 0 = not known yet.
    held_micros: AtomicU64,
}

struct PoolState {
    limit: usize,
    debt: usize,
    free_at: Instant,
    /// False after an attempt that said the receiver is congested, true after one that did not.
    healthy: bool,
    /// When the first slot was taken: until an attempt ends, how long it has been out is the
    /// best guess of the pace.
    first_taken: Option<Instant>,
}

/// A slot; dropping it frees the slot and records how long it was held.
pub(crate) struct Slot {
    permit: Option<OwnedSemaphorePermit>,
    pool: Arc<Pool>,
    taken: Instant,
}

impl Drop for Slot {
    fn drop(&mut self) {
        let held = u64::try_from(self.taken.elapsed().as_micros())
            .unwrap_or(u64::MAX)
            .max(1);
        let old = self.pool.held_micros.load(Ordering::Relaxed);
        let new = if old == 0 {
            held
        } else {
            old - old / 8 + held / 8
        };
        self.pool.held_micros.store(new, Ordering::Relaxed);
        let mut state = self.pool.state.lock().expect("pool lock");
        if state.debt > 0
            && let Some(permit) = self.permit.take()
        {
            state.debt -= 1;
            permit.forget();
        }
    }
}

/// Decrements a pool's waiting count when the wait ends, however it ends.
struct InLine<'p>(&'p AtomicUsize);

impl Drop for InLine<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

impl Pool {
    fn new(initial: usize, max: usize) -> Self {
        let initial = initial.clamp(1, max.max(1));
        Self {
            slots: Arc::new(Semaphore::new(initial)),
            max: max.max(1),
            state: Mutex::new(PoolState {
                limit: initial,
                debt: 0,
                free_at: Instant::now(),
                healthy: true,
                first_taken: None,
            }),
            waiting: AtomicUsize::new(0),
            held_micros: AtomicU64::new(0),
        }
    }

    #[cfg(test)]
    fn limit(&self) -> usize {
        self.state.lock().expect("pool lock").limit
    }

    fn is_idle(&self) -> bool {
        let state = self.state.lock().expect("pool lock");
        state.debt == 0 && self.slots.available_permits() == state.limit
    }

    /// A slot, after waiting in line at most [`LINE_WAIT`]; `None` when the line is full or
    /// the wait ran out.
    async fn take(self: &Arc<Self>, max_line: usize) -> Option<Slot> {
        let slot = |permit| {
            let taken = Instant::now();
            let mut state = self.state.lock().expect("pool lock");
            state.first_taken.get_or_insert(taken);
            Slot {
                permit: Some(permit),
                pool: self.clone(),
                taken,
            }
        };
        if let Ok(permit) = self.slots.clone().try_acquire_owned() {
            return Some(slot(permit));
        }
        if self.waiting.fetch_add(1, Ordering::Relaxed) >= self.line(max_line) {
            self.waiting.fetch_sub(1, Ordering::Relaxed);
            return None;
        }
        let _in_line = InLine(&self.waiting);
        let wait = self.slots.clone().acquire_owned();
        match tokio::time::timeout(LINE_WAIT, wait).await {
            Ok(Ok(permit)) => Some(slot(permit)),
            _ => None,
        }
    }

    /// The slots a pool is planned with, and the time one is held: a healthy pool is planned
    /// at its maximum (it is growing towards it), a congested one at its current limit; the
    /// time held is the moving average, or before any attempt ended, how long the first one
    /// has been out.
    fn pace(&self) -> (usize, Option<Duration>) {
        let state = self.state.lock().expect("pool lock");
        let slots = if state.healthy { self.max } else { state.limit };
        let held = match self.held_micros.load(Ordering::Relaxed) {
            0 => state.first_taken.map(|t| t.elapsed()),
            micros => Some(Duration::from_micros(micros)),
        };
        (slots.max(1), held.filter(|h| !h.is_zero()))
    }

    /// How many jobs may wait: what the slots serve in [`LINE_WAIT`] at their pace, at least
    /// the number of slots, at most `max_line`.
    fn line(&self, max_line: usize) -> usize {
        let (slots, held) = self.pace();
        let Some(held) = held else { return slots };
        let per_wait = slots as u128 * LINE_WAIT.as_micros() / held.as_micros().max(1);
        usize::try_from(per_wait)
            .unwrap_or(usize::MAX)
            .clamp(slots, max_line.max(slots))
    }

    /// Adapts the limit to an attempt: halves it when `congested`, adds a slot otherwise.
    fn record(&self, congested: Option<bool>) {
        let Some(congested) = congested else { return };
        let mut state = self.state.lock().expect("pool lock");
        state.healthy = !congested;
        if congested {
            let halved = (state.limit / 2).max(1);
            let cut = state.limit - halved;
            if cut > 0 {
                state.limit = halved;
                let forgotten = self.slots.forget_permits(cut);
                state.debt += cut - forgotten;
            }
        } else if state.limit < self.max {
            state.limit += 1;
            if state.debt > 0 {
                state.debt -= 1;
            } else {
                self.slots.add_permits(1);
            }
        }
    }

    /// The delay of a job deferred now: the next free moment of this pool's queue.
    fn defer_delay(&self) -> Duration {
        let (slots, held) = self.pace();
        let Some(held) = held else { return MIN_DEFER };
        let step = held / u32::try_from(slots).unwrap_or(u32::MAX);
        let mut state = self.state.lock().expect("pool lock");
        let now = Instant::now();
        let at = (state.free_at.max(now) + step).min(now + MAX_DEFER);
        state.free_at = at;
        (at - now).clamp(MIN_DEFER, MAX_DEFER)
    }
}

/// `host:port` of a URL: what the host limit counts (per tenant).
pub(crate) fn endpoint(url: &url::Url) -> String {
    let port = url.port_or_known_default().unwrap_or(0);
    format!("{}:{port}", url.host_str().unwrap_or(""))
}

#[cfg(test)]
mod tests;

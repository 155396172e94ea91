//! Per-endpoint limits: at most `per_host_concurrency` attempts in flight to one `host:port`,
//! and a waiting line sized by how fast the endpoint answers.
//!
//! A job whose endpoint has a free slot takes it. Otherwise it may wait in the endpoint's line
//! if the line is shorter than what the endpoint can serve in about [`LINE_WAIT`] at its
//! recent pace (`slots × LINE_WAIT / average time a slot is held`, between `per_host` and
//! `max_line`), and for at most [`LINE_WAIT`]. A job that finds the line full, or waits too
//! long, is handed back to JetStream for later. So a fast endpoint keeps a long line and is
//! never throttled by it, while one that always times out keeps a line of about its slots:
//! it holds a bounded share of the worker's intake and the other endpoints keep theirs.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// How long a job may wait for its endpoint before it is handed back.
pub(crate) const LINE_WAIT: Duration = Duration::from_secs(1);

/// Slots and lines of every endpoint seen.
pub(crate) struct Endpoints {
    per_host: usize,
    max_line: usize,
    /// Held for a moment to find an endpoint; never across an await.
    hosts: Mutex<HashMap<String, Arc<Host>>>,
}

struct Host {
    slots: Arc<Semaphore>,
    waiting: AtomicUsize,
    /// Moving average (1/8 weight) of how long a slot is held, in µs; 0 = not known yet.
    held_micros: AtomicU64,
}

/// A slot of an endpoint; dropping it frees the slot and records how long it was held.
pub(crate) struct Slot {
    _permit: OwnedSemaphorePermit,
    host: Arc<Host>,
    taken: Instant,
}

impl Drop for Slot {
    fn drop(&mut self) {
        let held = u64::try_from(self.taken.elapsed().as_micros())
            .unwrap_or(u64::MAX)
            .max(1);
        let old = self.host.held_micros.load(Ordering::Relaxed);
        let new = if old == 0 {
            held
        } else {
            old - old / 8 + held / 8
        };
        self.host.held_micros.store(new, Ordering::Relaxed);
    }
}

/// Decrements an endpoint's waiting count when the wait ends, however it ends.
struct InLine<'h>(&'h AtomicUsize);

impl Drop for InLine<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

impl Endpoints {
    pub(crate) fn new(per_host: usize, max_line: usize) -> Self {
        Self {
            per_host: per_host.max(1),
            max_line: max_line.max(per_host),
            hosts: Mutex::new(HashMap::new()),
        }
    }

    /// A slot of `endpoint`, after waiting in its line if need be; `None` when the line is
    /// full or the wait took longer than [`LINE_WAIT`].
    pub(crate) async fn enter(&self, endpoint: &str) -> Option<Slot> {
        let host = self.host(endpoint);
        let slot = |permit| Slot {
            _permit: permit,
            host: host.clone(),
            taken: Instant::now(),
        };
        if let Ok(permit) = host.slots.clone().try_acquire_owned() {
            return Some(slot(permit));
        }
        if host.waiting.fetch_add(1, Ordering::Relaxed) >= self.line(&host) {
            host.waiting.fetch_sub(1, Ordering::Relaxed);
            return None;
        }
        let _in_line = InLine(&host.waiting);
        let wait = host.slots.clone().acquire_owned();
        match tokio::time::timeout(LINE_WAIT, wait).await {
            Ok(Ok(permit)) => Some(slot(permit)),
            _ => None,
        }
    }

    /// How many jobs may wait for `host`: what it serves in [`LINE_WAIT`] at its pace.
    fn line(&self, host: &Host) -> usize {
        let held = host.held_micros.load(Ordering::Relaxed);
        if held == 0 {
            return self.per_host;
        }
        let per_wait = self.per_host as u128 * LINE_WAIT.as_micros() / u128::from(held);
        usize::try_from(per_wait)
            .unwrap_or(usize::MAX)
            .clamp(self.per_host, self.max_line)
    }

    fn host(&self, endpoint: &str) -> Arc<Host> {
        let mut hosts = self.hosts.lock().expect("endpoints lock");
        if hosts.len() > 4096 {
            let per_host = self.per_host;
            hosts.retain(|_, h| Arc::strong_count(h) > 1 || h.slots.available_permits() < per_host);
        }
        let new = || Host {
            slots: Arc::new(Semaphore::new(self.per_host)),
            waiting: AtomicUsize::new(0),
            held_micros: AtomicU64::new(0),
        };
        hosts
            .entry(endpoint.to_owned())
            .or_insert_with(|| Arc::new(new()))
            .clone()
    }
}

/// `host:port` of a URL: what the per-endpoint cap counts.
pub(crate) fn endpoint(url: &str) -> String {
    url::Url::parse(url).map_or_else(
        |_| url.to_owned(),
        |u| {
            let port = u.port_or_known_default().unwrap_or(0);
            format!("{}:{port}", u.host_str().unwrap_or(""))
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_are_host_and_port() {
        assert_eq!(endpoint("https://example.com/a"), "example.com:443");
        assert_eq!(endpoint("http://127.0.0.1:8080/x?y"), "127.0.0.1:8080");
    }

    #[tokio::test]
    async fn an_endpoint_takes_its_slots_then_a_line_then_refuses() {
        let limits = Arc::new(Endpoints::new(1, 8));
        let held = limits.enter("h:1").await.unwrap();
        assert!(
            limits.enter("other:1").await.is_some(),
            "other endpoints are not affected"
        );
        let waiter = tokio::spawn({
            let limits = limits.clone();
            async move { limits.enter("h:1").await.is_some() }
        });
        tokio::task::yield_now().await;
        assert!(
            limits.enter("h:1").await.is_none(),
            "slot and line (of one) are full"
        );
        drop(held);
        assert!(waiter.await.unwrap(), "the job in line gets the slot");
    }

    #[test]
    fn a_fast_endpoint_gets_a_long_line_and_a_slow_one_a_short_one() {
        let limits = Endpoints::new(4, 100);
        let host = limits.host("h:1");
        assert_eq!(limits.line(&host), 4, "unknown pace: a line of its slots");
        host.held_micros.store(1_000, Ordering::Relaxed);
        assert_eq!(
            limits.line(&host),
            100,
            "1 ms per attempt: capped at max_line"
        );
        host.held_micros.store(2_000_000, Ordering::Relaxed);
        assert_eq!(
            limits.line(&host),
            4,
            "2 s per attempt: no more than its slots"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_job_waits_in_line_at_most_line_wait() {
        let limits = Endpoints::new(1, 8);
        let _held = limits.enter("h:1").await.unwrap();
        let started = tokio::time::Instant::now();
        assert!(limits.enter("h:1").await.is_none());
        assert!(started.elapsed() >= LINE_WAIT);
        assert_eq!(limits.host("h:1").waiting.load(Ordering::Relaxed), 0);
    }
}

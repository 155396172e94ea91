//! Per-API-key rate limit: a token bucket per key, in memory.
//!
//! Two limiters, with separate settings: management calls (`http.rate_limit_per_second` and
//! `http.rate_limit_burst`; a request spends one token) and publishing
//! (`http.publish_rate_limit_per_second` and `http.publish_rate_limit_burst`; each event of
//! `POST /v1/events` spends one, so a batch of 100 spends 100). A publisher is a machine
//! sending thousands of events a second; a person or a script managing webhooks is not, and
//! one limit cannot suit both. Each key earns its rate in tokens a second up to its burst. An empty bucket answers 429 with `Retry-After` (the seconds until a
//! token is back). Buckets live in this process only: with N replicas behind a balancer a key
//! gets up to N times the rate, which is the usual trade for not adding a shared store.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Instant;

/// Buckets kept before idle ones are dropped (a full bucket holds no state worth keeping).
const MAX_BUCKETS: usize = 100_000;

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    at: Instant,
}

/// Token buckets by API key id.
#[derive(Debug)]
pub struct RateLimiter {
    rate: f64,
    burst: f64,
    buckets: Mutex<HashMap<String, Bucket>>,
}

impl RateLimiter {
    /// `rate` tokens a second (0 = no limit), at most `burst` at once.
    pub fn new(rate: f64, burst: u32) -> Self {
        Self {
            rate,
            burst: f64::from(burst.max(1)),
            buckets: Mutex::new(HashMap::new()),
        }
    }

    /// Spends a token of `key`; `Err(seconds)` to wait when none is left.
    pub fn check(&self, key: &str) -> Result<(), u64> {
        self.spend(key, 1)
    }

    /// Spends `n` tokens of `key` at once, or none; `Err(seconds)` until `n` are back (a
    /// request for more than the burst can never pass: callers keep `n` within it).
    pub fn spend(&self, key: &str, n: u32) -> Result<(), u64> {
        let n = f64::from(n.max(1));
        if self.rate <= 0.0 {
            return Ok(());
        }
        let now = Instant::now();
        let mut buckets = self.buckets.lock().unwrap_or_else(|e| e.into_inner());
        if buckets.len() >= MAX_BUCKETS && !buckets.contains_key(key) {
            let (rate, burst) = (self.rate, self.burst);
            buckets.retain(|_, b| b.tokens + now.duration_since(b.at).as_secs_f64() * rate < burst);
        }
        let bucket = buckets.entry(key.to_owned()).or_insert(Bucket {
            tokens: self.burst,
            at: now,
        });
        let earned = now.duration_since(bucket.at).as_secs_f64() * self.rate;
        bucket.tokens = (bucket.tokens + earned).min(self.burst);
        bucket.at = now;
        if bucket.tokens >= n {
            bucket.tokens -= n;
            Ok(())
        } else {
            let wait = (n - bucket.tokens) / self.rate;
            Err(wait.ceil().max(1.0) as u64)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::RateLimiter;

    #[test]
    fn a_key_may_spend_its_burst_and_then_waits() {
        let limiter = RateLimiter::new(1.0, 3);
        for _ in 0..3 {
            assert_eq!(limiter.check("key_a"), Ok(()));
        }
        assert_eq!(limiter.check("key_a"), Err(1));
        assert_eq!(
            limiter.check("key_b"),
            Ok(()),
            "keys have their own buckets"
        );
    }

    #[test]
    fn a_batch_spends_a_token_per_event_or_none() {
        let limiter = RateLimiter::new(10.0, 100);
        assert_eq!(limiter.spend("key_a", 60), Ok(()));
        assert_eq!(limiter.spend("key_a", 60), Err(2), "40 left: 2 s until 60");
        assert_eq!(
            limiter.spend("key_a", 40),
            Ok(()),
            "the refused batch spent nothing"
        );
    }

    #[test]
    fn a_rate_of_zero_turns_the_limit_off() {
        let limiter = RateLimiter::new(0.0, 1);
        for _ in 0..1000 {
            assert_eq!(limiter.check("key_a"), Ok(()));
        }
    }
}

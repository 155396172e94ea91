//! Delivery statistics over time for one webhook: per time bucket, the attempts made, how many
//! succeeded, and attempt latency percentiles (the console's charts).
//!
//! Decisions:
//! - Read from `delivery_attempts` only, in one statement (indexed on `(tenant, webhook_id,
//!   at)` with the outcome, latency and attempt number included, so the scan need not visit
//!   the table). `webhook_stats` keeps counters, not a series, and a time-bucketed view
//!   would be one more thing for every batch to write. Cost: one index entry per attempt of
//!   the range, so a webhook with 50,000 attempts in the range misses the console's 20 ms
//!   (BENCHMARKS.md); a rollup per hour written by the deliveries projector is the fix.
//! - Buckets come from the range ([`Range`]): an hour over 24 h, six hours over 7 days, aligned
//!   on UTC with `date_bin`; empty buckets are returned as zeros, so a chart has every slot.
//! - "Deliveries" of a bucket are the deliveries created in it (first attempts); the success
//!   rate is successful attempts over attempts; latency percentiles are exact to the bucket of the same histogram
//!   as `webhook_stats` (`stats::BUCKET_BOUNDS_MS`, the bucket's upper bound), counted with a
//!   hash aggregate (`width_bucket`) rather than sorting every latency.

use chrono::{DateTime, Duration, Utc};
use serde::Serialize;
use sqlx::PgPool;

use crate::ProjectionError;
use crate::stats::{BUCKET_BOUNDS_MS, percentile};

/// The span a chart covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Range {
    /// The last 24 hours, one bucket per hour.
    Day,
    /// The last 7 days, one bucket per 6 hours.
    Week,
}

impl Range {
    /// `24h` or `7d`.
    pub fn parse(raw: &str) -> Option<Self> {
        match raw {
            "24h" => Some(Self::Day),
            "7d" => Some(Self::Week),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Self::Day => "24h",
            Self::Week => "7d",
        }
    }

    /// The width of one bucket.
    pub fn bucket(self) -> Duration {
        match self {
            Self::Day => Duration::hours(1),
            Self::Week => Duration::hours(6),
        }
    }

    fn buckets(self) -> i32 {
        match self {
            Self::Day => 24,
            Self::Week => 28,
        }
    }
}

/// One bucket of the series.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Bucket {
    /// The start of the bucket.
    pub start: DateTime<Utc>,
    /// Deliveries created in the bucket (their first attempt, number 1, falls in it; a
    /// redelivery continues the numbering, so it is not a new delivery).
    pub deliveries: i64,
    pub attempts: i64,
    pub succeeded: i64,
    /// Attempt latency percentiles, as upper bounds of [`BUCKET_BOUNDS_MS`] (like
    /// [`crate::stats::Stats`]); `None` without an attempt that has a latency.
    pub p50_ms: Option<u64>,
    pub p95_ms: Option<u64>,
    pub p99_ms: Option<u64>,
}

impl Bucket {
    /// Successful attempts over attempts; `None` without attempts.
    pub fn success_rate(&self) -> Option<f64> {
        (self.attempts > 0).then(|| self.succeeded as f64 / self.attempts as f64)
    }
}

/// One (time bucket, latency bucket) row: its start, the latency bucket (`None`: attempts
/// without a latency), attempts, successful attempts, first attempts.
type Counted = (DateTime<Utc>, Option<i32>, i64, i64, i64);

/// Every bucket of `range` ending with the one holding `now`, oldest first.
pub async fn for_webhook(
    pool: &PgPool,
    tenant: &str,
    webhook_id: &str,
    range: Range,
    now: DateTime<Utc>,
) -> Result<Vec<Bucket>, ProjectionError> {
    let width = range.bucket();
    let secs = now.timestamp();
    let last =
        DateTime::from_timestamp(secs - secs.rem_euclid(width.num_seconds()), 0).unwrap_or(now);
    let first = last - width * (range.buckets() - 1);
    let end = last + width;
    let bounds: Vec<i64> = BUCKET_BOUNDS_MS.iter().map(|&b| b as i64).collect();
    // One row per (time bucket, latency bucket): a hash aggregate over the index, no sort.
    let attempts: Vec<Counted> = sqlx::query_as(
        "SELECT date_bin($5::int8 * interval '1 second', at, $3) AS slot,
                width_bucket(latency_ms - 1, $6::int8[]) AS lb,
                count(*), count(*) FILTER (WHERE outcome = 'success'), count(*) FILTER (WHERE attempt = 1)
           FROM delivery_attempts
          WHERE tenant = $1 AND webhook_id = $2 AND at >= $3 AND at < $4
          GROUP BY 1, 2",
    )
    .bind(tenant)
    .bind(webhook_id)
    .bind(first)
    .bind(end)
    .bind(width.num_seconds())
    .bind(&bounds)
    .fetch_all(pool)
    .await?;
    let n = range.buckets() as usize;
    let slot = |t: DateTime<Utc>| {
        usize::try_from((t - first).num_seconds() / width.num_seconds())
            .ok()
            .filter(|&i| i < n)
    };
    let mut histograms = vec![vec![0i64; BUCKET_BOUNDS_MS.len() + 1]; n];
    let mut out: Vec<Bucket> = (0..n)
        .map(|i| Bucket {
            start: first + width * i as i32,
            deliveries: 0,
            attempts: 0,
            succeeded: 0,
            p50_ms: None,
            p95_ms: None,
            p99_ms: None,
        })
        .collect();
    for (start, lb, count, ok, first_attempts) in attempts {
        let Some(i) = slot(start) else { continue };
        out[i].attempts += count;
        out[i].succeeded += ok;
        out[i].deliveries += first_attempts;
        if let Some(lb) = lb.and_then(|lb| usize::try_from(lb).ok()) {
            histograms[i][lb.min(BUCKET_BOUNDS_MS.len())] += count;
        }
    }
    for (bucket, histogram) in out.iter_mut().zip(&histograms) {
        bucket.p50_ms = percentile(histogram, 0.50);
        bucket.p95_ms = percentile(histogram, 0.95);
        bucket.p99_ms = percentile(histogram, 0.99);
    }
    Ok(out)
}

//! Delivery statistics over time for one webhook: per time bucket, the attempts made, how many
//! succeeded, and attempt latency percentiles (the console's charts).
//!
//! Decisions:
//! - Read from `webhook_stats_hourly`, one row per webhook and UTC hour, which the deliveries
//!   projector adds each batch's new attempts to (`rollup`, in the batch's transaction; the
//!   migration backfilled it from `delivery_attempts`). A chart reads at most 24 rows (24 h)
//!   or 168 (7 days, folded here into 28 six-hour buckets) by primary key, however many
//!   attempts the range holds: reading every attempt of the range took 35–43 ms for a webhook
//!   with 50,000 of them, over the console's 20 ms (issue 15, BENCHMARKS.md). Cost: one more
//!   upsert per batch, of one row per (webhook, hour) the batch touches.
//! - Buckets come from the range ([`Range`]): an hour over 24 h, six hours over 7 days, aligned
//!   on UTC (six-hour buckets start at 00, 06, 12 and 18 h, so each holds six whole hours);
//!   empty buckets are returned as zeros, so a chart has every slot.
//! - "Deliveries" of a bucket are the deliveries created in it (first attempts); the success
//!   rate is successful attempts over attempts; latency percentiles are exact to the bucket of
//!   the same histogram as `webhook_stats` (`stats::BUCKET_BOUNDS_MS`, the bucket's upper
//!   bound), summed over the bucket's hours.

use chrono::{DateTime, Duration, Utc};
use serde::Serialize;
use sqlx::PgPool;

use crate::ProjectionError;
use crate::stats::percentile;

pub(crate) mod rollup;

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
    /// Attempt latency percentiles, as upper bounds of [`crate::stats::BUCKET_BOUNDS_MS`] (like
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

/// One row of `webhook_stats_hourly`: the hour, attempts, successful attempts, first
/// attempts, the latency histogram.
type Hour = (DateTime<Utc>, i64, i64, i64, Vec<i64>);

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
    let hours: Vec<Hour> = sqlx::query_as(
        "SELECT hour, attempts, succeeded, first_attempts, latency_buckets
           FROM webhook_stats_hourly
          WHERE tenant = $1 AND webhook_id = $2 AND hour >= $3 AND hour < $4",
    )
    .bind(tenant)
    .bind(webhook_id)
    .bind(first)
    .bind(end)
    .fetch_all(pool)
    .await?;
    let n = range.buckets() as usize;
    let slot = |t: DateTime<Utc>| {
        usize::try_from((t - first).num_seconds() / width.num_seconds())
            .ok()
            .filter(|&i| i < n)
    };
    let mut histograms = vec![vec![0i64; crate::stats::BUCKETS]; n];
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
    for (hour, attempts, succeeded, first_attempts, latencies) in hours {
        let Some(i) = slot(hour) else { continue };
        out[i].attempts += attempts;
        out[i].succeeded += succeeded;
        out[i].deliveries += first_attempts;
        for (sum, count) in histograms[i].iter_mut().zip(latencies) {
            *sum += count;
        }
    }
    for (bucket, histogram) in out.iter_mut().zip(&histograms) {
        bucket.p50_ms = percentile(histogram, 0.50);
        bucket.p95_ms = percentile(histogram, 0.95);
        bucket.p99_ms = percentile(histogram, 0.99);
    }
    Ok(out)
}

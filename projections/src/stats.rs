//! The `webhook_stats` view: delivery counters per webhook, kept up to date by the deliveries
//! projector, and the per-webhook and per-tenant [`Stats`] the API answers.
//!
//! Latency is a histogram with fixed bucket bounds ([`BUCKET_BOUNDS_MS`]): one counter per
//! bucket, so percentiles are cheap (one row, or a sum over a tenant's rows) and exact to the
//! bucket: a percentile is the upper bound of the bucket that holds it.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::{PgConnection, PgPool};

use crate::ProjectionError;
use crate::view::Target;

/// Upper bounds (inclusive, milliseconds) of the latency buckets; one more bucket counts what
/// lies above the last bound. Changing them needs a migration of `webhook_stats`.
pub const BUCKET_BOUNDS_MS: [u64; 23] = [
    1, 2, 5, 10, 20, 50, 100, 200, 300, 500, 750, 1_000, 1_500, 2_000, 3_000, 5_000, 7_500, 10_000,
    15_000, 20_000, 30_000, 45_000, 60_000,
];
/// Latency buckets of a histogram: one per bound and one above the last.
pub(crate) const BUCKETS: usize = BUCKET_BOUNDS_MS.len() + 1;

/// Delivery statistics of one webhook or of a whole tenant.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Stats {
    pub deliveries: i64,
    pub succeeded: i64,
    pub failed: i64,
    /// Attempted and not over yet.
    pub pending: i64,
    pub attempts: i64,
    /// `succeeded / (succeeded + failed)`; 0 when no delivery has ended.
    pub success_rate: f64,
    pub last_success_at: Option<DateTime<Utc>>,
    pub last_failure_at: Option<DateTime<Utc>>,
    pub latency_ms: Percentiles,
}

/// Attempt latency percentiles (upper bounds of their buckets); `None` without attempts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Percentiles {
    pub p50: Option<u64>,
    pub p95: Option<u64>,
    pub p99: Option<u64>,
}

/// What one batch adds to one webhook's counters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct StatsDelta {
    deliveries: i64,
    succeeded: i64,
    failed: i64,
    attempts: i64,
    last_success_at: Option<DateTime<Utc>>,
    last_failure_at: Option<DateTime<Utc>>,
    buckets: Vec<i64>,
}

impl Default for StatsDelta {
    fn default() -> Self {
        Self {
            deliveries: 0,
            succeeded: 0,
            failed: 0,
            attempts: 0,
            last_success_at: None,
            last_failure_at: None,
            buckets: vec![0; BUCKETS],
        }
    }
}

impl StatsDelta {
    fn status_counter(&mut self, status: &str) -> Option<&mut i64> {
        match status {
            "succeeded" => Some(&mut self.succeeded),
            "failed" => Some(&mut self.failed),
            _ => None,
        }
    }

    /// A delivery appeared with `status`.
    pub(crate) fn count_new(&mut self, status: &str) {
        self.deliveries += 1;
        if let Some(c) = self.status_counter(status) {
            *c += 1;
        }
    }

    /// A delivery moved from one status to another.
    pub(crate) fn move_status(&mut self, from: &str, to: &str) {
        if let Some(c) = self.status_counter(from) {
            *c -= 1;
        }
        if let Some(c) = self.status_counter(to) {
            *c += 1;
        }
    }

    /// A delivery ended with `status` at `at`.
    pub(crate) fn closed(&mut self, status: &str, at: DateTime<Utc>) {
        let last = if status == "succeeded" {
            &mut self.last_success_at
        } else {
            &mut self.last_failure_at
        };
        *last = (*last).max(Some(at));
    }

    /// One attempt that took `latency_ms`.
    pub(crate) fn attempt(&mut self, latency_ms: u64) {
        self.attempts += 1;
        self.buckets[bucket_of(latency_ms)] += 1;
    }
}

pub(crate) fn bucket_of(latency_ms: u64) -> usize {
    BUCKET_BOUNDS_MS
        .iter()
        .position(|&bound| latency_ms <= bound)
        .unwrap_or(BUCKET_BOUNDS_MS.len())
}

/// The upper bound of the bucket holding the `p`-quantile (the last bound for the overflow
/// bucket); `None` when the histogram is empty.
pub(crate) fn percentile(buckets: &[i64], p: f64) -> Option<u64> {
    let total: i64 = buckets.iter().sum();
    if total <= 0 {
        return None;
    }
    let rank = ((p * total as f64).ceil() as i64).max(1);
    let mut seen = 0;
    for (i, n) in buckets.iter().enumerate() {
        seen += n;
        if seen >= rank {
            return Some(BUCKET_BOUNDS_MS[i.min(BUCKET_BOUNDS_MS.len() - 1)]);
        }
    }
    BUCKET_BOUNDS_MS.last().copied()
}

/// Adds the batch's deltas to `webhook_stats` (inside the batch's transaction).
pub(crate) async fn add(
    conn: &mut PgConnection,
    target: Target,
    deltas: &HashMap<(String, String), StatsDelta>,
) -> Result<(), ProjectionError> {
    if deltas.is_empty() {
        return Ok(());
    }
    let mut rows: Vec<(&(String, String), &StatsDelta)> = deltas.iter().collect();
    rows.sort_by(|a, b| a.0.cmp(b.0));
    let buckets = rows
        .iter()
        .map(|(_, d)| serde_json::to_string(&d.buckets))
        .collect::<Result<Vec<_>, _>>()?;
    let number = |f: fn(&StatsDelta) -> i64| rows.iter().map(|(_, d)| f(d)).collect::<Vec<_>>();
    sqlx::query(&format!(
        "INSERT INTO {} AS s (tenant, webhook_id, deliveries, succeeded, failed, attempts, last_success_at,
                              last_failure_at, latency_buckets)
         SELECT t, w, d, ok, ko, n, ls, lf,
                ARRAY(SELECT v::int8 FROM json_array_elements_text(b::json) WITH ORDINALITY AS e(v, i) ORDER BY i)
           FROM UNNEST($1::text[], $2::text[], $3::int8[], $4::int8[], $5::int8[], $6::int8[],
                       $7::timestamptz[], $8::timestamptz[], $9::text[]) AS x(t, w, d, ok, ko, n, ls, lf, b)
         ON CONFLICT (tenant, webhook_id) DO UPDATE SET
            deliveries = s.deliveries + EXCLUDED.deliveries,
            succeeded = s.succeeded + EXCLUDED.succeeded,
            failed = s.failed + EXCLUDED.failed,
            attempts = s.attempts + EXCLUDED.attempts,
            last_success_at = GREATEST(s.last_success_at, EXCLUDED.last_success_at),
            last_failure_at = GREATEST(s.last_failure_at, EXCLUDED.last_failure_at),
            latency_buckets = ARRAY(SELECT x.a + x.b FROM unnest(s.latency_buckets, EXCLUDED.latency_buckets)
                                    WITH ORDINALITY AS x(a, b, i) ORDER BY x.i)",
        target.table("webhook_stats")
    ))
    .bind(rows.iter().map(|(k, _)| k.0.as_str()).collect::<Vec<_>>())
    .bind(rows.iter().map(|(k, _)| k.1.as_str()).collect::<Vec<_>>())
    .bind(number(|d| d.deliveries))
    .bind(number(|d| d.succeeded))
    .bind(number(|d| d.failed))
    .bind(number(|d| d.attempts))
    .bind(rows.iter().map(|(_, d)| d.last_success_at).collect::<Vec<_>>())
    .bind(rows.iter().map(|(_, d)| d.last_failure_at).collect::<Vec<_>>())
    .bind(&buckets)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

#[derive(sqlx::FromRow)]
struct StatsRow {
    deliveries: i64,
    succeeded: i64,
    failed: i64,
    attempts: i64,
    last_success_at: Option<DateTime<Utc>>,
    last_failure_at: Option<DateTime<Utc>>,
    latency_buckets: Vec<i64>,
}

impl From<Vec<StatsRow>> for Stats {
    fn from(rows: Vec<StatsRow>) -> Self {
        let mut buckets = vec![0i64; BUCKETS];
        let (mut deliveries, mut succeeded, mut failed, mut attempts) = (0, 0, 0, 0);
        let (mut last_success_at, mut last_failure_at) = (None, None);
        for r in rows {
            deliveries += r.deliveries;
            succeeded += r.succeeded;
            failed += r.failed;
            attempts += r.attempts;
            last_success_at = last_success_at.max(r.last_success_at);
            last_failure_at = last_failure_at.max(r.last_failure_at);
            for (sum, n) in buckets.iter_mut().zip(r.latency_buckets) {
                *sum += n;
            }
        }
        let ended = succeeded + failed;
        Stats {
            deliveries,
            succeeded,
            failed,
            pending: deliveries - ended,
            attempts,
            success_rate: if ended > 0 {
                succeeded as f64 / ended as f64
            } else {
                0.0
            },
            last_success_at,
            last_failure_at,
            latency_ms: Percentiles {
                p50: percentile(&buckets, 0.50),
                p95: percentile(&buckets, 0.95),
                p99: percentile(&buckets, 0.99),
            },
        }
    }
}

const SELECT: &str = "SELECT deliveries, succeeded, failed, attempts, last_success_at, last_failure_at, latency_buckets FROM webhook_stats";

/// Statistics of one webhook (zeros when it has had no delivery).
pub async fn for_webhook(
    pool: &PgPool,
    tenant: &str,
    webhook_id: &str,
) -> Result<Stats, ProjectionError> {
    let rows: Vec<StatsRow> =
        sqlx::query_as(&format!("{SELECT} WHERE tenant = $1 AND webhook_id = $2"))
            .bind(tenant)
            .bind(webhook_id)
            .fetch_all(pool)
            .await?;
    Ok(rows.into())
}

/// Statistics of each of `webhook_ids` (one query, for a page of a list); a webhook without
/// deliveries is absent from the map.
pub async fn for_webhooks(
    pool: &PgPool,
    tenant: &str,
    webhook_ids: &[String],
) -> Result<HashMap<String, Stats>, ProjectionError> {
    #[derive(sqlx::FromRow)]
    struct Keyed {
        webhook_id: String,
        #[sqlx(flatten)]
        row: StatsRow,
    }
    let rows: Vec<Keyed> = sqlx::query_as(&format!(
        "SELECT webhook_id, {} WHERE tenant = $1 AND webhook_id = ANY($2)",
        SELECT.trim_start_matches("SELECT ")
    ))
    .bind(tenant)
    .bind(webhook_ids)
    .fetch_all(pool)
    .await?;
    let mut grouped: HashMap<String, Vec<StatsRow>> = HashMap::new();
    for keyed in rows {
        grouped.entry(keyed.webhook_id).or_default().push(keyed.row);
    }
    Ok(grouped
        .into_iter()
        .map(|(id, rows)| (id, rows.into()))
        .collect())
}

/// Statistics of every webhook of a tenant (deleted ones included), summed.
pub async fn for_tenant(pool: &PgPool, tenant: &str) -> Result<Stats, ProjectionError> {
    let rows: Vec<StatsRow> = sqlx::query_as(&format!("{SELECT} WHERE tenant = $1"))
        .bind(tenant)
        .fetch_all(pool)
        .await?;
    Ok(rows.into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn latencies_fall_in_the_first_bucket_whose_bound_is_not_below_them() {
        assert_eq!(bucket_of(0), 0);
        assert_eq!(bucket_of(1), 0);
        assert_eq!(bucket_of(3), 2);
        assert_eq!(bucket_of(60_000), BUCKET_BOUNDS_MS.len() - 1);
        assert_eq!(bucket_of(60_001), BUCKET_BOUNDS_MS.len());
    }

    #[test]
    fn percentiles_are_the_bounds_of_the_buckets_that_hold_them() {
        let mut d = StatsDelta::default();
        for _ in 0..98 {
            d.attempt(40);
        }
        d.attempt(900);
        d.attempt(90_000);
        assert_eq!(percentile(&d.buckets, 0.50), Some(50));
        assert_eq!(percentile(&d.buckets, 0.99), Some(1_000));
        assert_eq!(percentile(&d.buckets, 1.0), Some(60_000));
        assert_eq!(percentile(&[0; BUCKETS], 0.5), None);
    }

    #[test]
    fn a_delivery_that_fails_then_succeeds_counts_once_as_succeeded() {
        let mut d = StatsDelta::default();
        d.count_new("pending");
        d.move_status("pending", "failed");
        d.move_status("failed", "pending");
        d.move_status("pending", "succeeded");
        assert_eq!((d.deliveries, d.succeeded, d.failed), (1, 1, 0));
    }
}

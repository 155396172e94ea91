//! The write side of `webhook_stats_hourly`: what one batch of the deliveries projector adds
//! to each (tenant, webhook, UTC hour).
//!
//! The fold hands over the attempts it inserts into `delivery_attempts`, which are the new
//! ones only (a repeated fact is filtered before), so the rollup counts each attempt once and
//! a replay or a rebuild writes the same rows. One multi-row upsert per batch adds the deltas
//! (increments, like `stats::add`), in the batch's transaction.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use hookledger_domain::delivery::{AttemptOutcome, AttemptRecord};
use sqlx::PgConnection;

use crate::ProjectionError;
use crate::apply::pg_time;
use crate::stats::{BUCKETS, bucket_of};
use crate::view::Target;

/// The start of the UTC hour holding `t`, as PostgreSQL stores `t` (rounded up to the
/// microsecond, which can carry it into the next hour).
pub(super) fn hour_of(t: DateTime<Utc>) -> DateTime<Utc> {
    let t = pg_time(t);
    let secs = t.timestamp();
    DateTime::from_timestamp(secs - secs.rem_euclid(3_600), 0).unwrap_or(t)
}

/// What a batch adds to one hour of one webhook.
#[derive(Debug, Clone, PartialEq, Eq)]
struct HourDelta {
    attempts: i64,
    succeeded: i64,
    first_attempts: i64,
    buckets: [i64; BUCKETS],
}

type Key<'a> = (&'a str, &'a str, DateTime<Utc>);

fn deltas<'a>(
    attempts: impl IntoIterator<Item = (&'a str, &'a str, &'a AttemptRecord)>,
) -> HashMap<Key<'a>, HourDelta> {
    let mut out: HashMap<Key<'a>, HourDelta> = HashMap::new();
    for (tenant, webhook_id, a) in attempts {
        let d = out
            .entry((tenant, webhook_id, hour_of(a.at)))
            .or_insert(HourDelta {
                attempts: 0,
                succeeded: 0,
                first_attempts: 0,
                buckets: [0; BUCKETS],
            });
        d.attempts += 1;
        d.succeeded += i64::from(a.outcome == AttemptOutcome::Success);
        d.first_attempts += i64::from(a.attempt == 1);
        d.buckets[bucket_of(a.latency_ms)] += 1;
    }
    out
}

/// Adds `attempts` (the batch's new attempts: tenant, webhook id, record) to the `target`
/// copy of `webhook_stats_hourly`.
pub(crate) async fn add<'a>(
    conn: &mut PgConnection,
    target: Target,
    attempts: impl IntoIterator<Item = (&'a str, &'a str, &'a AttemptRecord)>,
) -> Result<(), ProjectionError> {
    let deltas = deltas(attempts);
    if deltas.is_empty() {
        return Ok(());
    }
    // In key order, as `stats::add`: one lock order for the rows of every batch.
    let mut rows: Vec<(&Key<'_>, &HourDelta)> = deltas.iter().collect();
    rows.sort_by(|a, b| a.0.cmp(b.0));
    let number = |f: fn(&HourDelta) -> i64| rows.iter().map(|(_, d)| f(d)).collect::<Vec<_>>();
    // The histograms travel as one flat array (sqlx binds no two-dimensional arrays), row i
    // (from 1) at [(i - 1) * BUCKETS + 1, i * BUCKETS].
    let buckets: Vec<i64> = rows.iter().flat_map(|(_, d)| d.buckets).collect();
    sqlx::query(&format!(
        "INSERT INTO {} AS s (tenant, webhook_id, hour, attempts, succeeded, first_attempts, latency_buckets)
         SELECT t, w, h, n, ok, f, ($7::int8[])[(i - 1) * {BUCKETS} + 1 : i * {BUCKETS}]
           FROM UNNEST($1::text[], $2::text[], $3::timestamptz[], $4::int8[], $5::int8[], $6::int8[])
                WITH ORDINALITY AS x(t, w, h, n, ok, f, i)
         ON CONFLICT (tenant, webhook_id, hour) DO UPDATE SET
            attempts = s.attempts + EXCLUDED.attempts,
            succeeded = s.succeeded + EXCLUDED.succeeded,
            first_attempts = s.first_attempts + EXCLUDED.first_attempts,
            latency_buckets = ARRAY(SELECT x.a + x.b FROM unnest(s.latency_buckets, EXCLUDED.latency_buckets)
                                    WITH ORDINALITY AS x(a, b, i) ORDER BY x.i)",
        target.table("webhook_stats_hourly")
    ))
    .bind(rows.iter().map(|(k, _)| k.0).collect::<Vec<_>>())
    .bind(rows.iter().map(|(k, _)| k.1).collect::<Vec<_>>())
    .bind(rows.iter().map(|(k, _)| k.2).collect::<Vec<_>>())
    .bind(number(|d| d.attempts))
    .bind(number(|d| d.succeeded))
    .bind(number(|d| d.first_attempts))
    .bind(&buckets)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stats::BUCKET_BOUNDS_MS;

    #[test]
    fn latencies_fall_in_the_first_bucket_whose_bound_is_not_below_them() {
        assert_eq!(bucket_of(0), 0);
        assert_eq!(bucket_of(1), 0);
        assert_eq!(bucket_of(2), 1);
        assert_eq!(bucket_of(3), 2);
        assert_eq!(bucket_of(60_000), BUCKET_BOUNDS_MS.len() - 1);
        assert_eq!(bucket_of(60_001), BUCKET_BOUNDS_MS.len());
        assert_eq!(bucket_of(u64::MAX), BUCKET_BOUNDS_MS.len());
    }

    #[test]
    fn the_backfill_buckets_with_the_same_bounds() {
        let migration = include_str!("../../migrations/0007_webhook_stats_hourly.sql");
        let bounds = BUCKET_BOUNDS_MS.map(|b| b.to_string()).join(",");
        assert!(migration.contains(&format!("'{{{bounds}}}'::int8[]")));
        assert!(migration.contains(&format!("generate_series(0, {})", BUCKETS - 1)));
    }

    #[test]
    fn an_attempt_rounded_up_into_the_next_hour_counts_there() {
        let t = DateTime::parse_from_rfc3339("2026-12-07T09:59:59.9999996Z")
            .unwrap()
            .to_utc();
        assert_eq!(hour_of(t).to_rfc3339(), "2026-12-07T10:00:00+00:00");
        let t = DateTime::parse_from_rfc3339("2026-12-07T09:30:00Z")
            .unwrap()
            .to_utc();
        assert_eq!(hour_of(t).to_rfc3339(), "2026-12-07T09:00:00+00:00");
    }
}

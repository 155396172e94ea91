//! The hourly rollup behind the charts over time (`webhook_stats_hourly`, issue 15): written by
//! the deliveries projector, refilled by a rebuild, backfilled by its migration, and read by
//! `timeline::for_webhook`.

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, Utc};
use hookledger_domain::delivery::DeliveryFact;
use hookledger_domain::ids::{DeliveryId, WebhookId};
use hookledger_projections::stats::BUCKET_BOUNDS_MS;
use hookledger_projections::timeline::{self, Range};
use hookledger_projections::{View, rebuild};
use sqlx::PgPool;

use super::deliveries::{attempt, closed, publish};
use super::{caught_up, start};
use crate::harness::{TestEnv, nats_url};

const MIGRATION: &str = include_str!("../../projections/migrations/0007_webhook_stats_hourly.sql");

/// (tenant, webhook, hour) → (attempts, succeeded, first attempts, latency histogram).
type Rollup = BTreeMap<(String, String, DateTime<Utc>), (i64, i64, i64, Vec<i64>)>;
/// A row of `webhook_stats_hourly`.
type HourRow = (String, String, DateTime<Utc>, i64, i64, i64, Vec<i64>);
/// The columns of `delivery_attempts` the rollup counts.
type AttemptRow = (String, String, DateTime<Utc>, String, i32, Option<i64>);

async fn rollup(pool: &PgPool) -> Rollup {
    let rows: Vec<HourRow> = sqlx::query_as(
        "SELECT tenant, webhook_id, hour, attempts, succeeded, first_attempts, latency_buckets
           FROM webhook_stats_hourly",
    )
    .fetch_all(pool)
    .await
    .unwrap();
    rows.into_iter()
        .map(|(t, w, h, n, ok, f, b)| ((t, w, h), (n, ok, f, b)))
        .collect()
}

/// The rollup computed here from every row of `delivery_attempts` (the oracle).
async fn aggregated(pool: &PgPool) -> Rollup {
    let rows: Vec<AttemptRow> = sqlx::query_as(
        "SELECT tenant, webhook_id, at, outcome, attempt, latency_ms FROM delivery_attempts",
    )
    .fetch_all(pool)
    .await
    .unwrap();
    let mut out = Rollup::new();
    for (tenant, webhook, at, outcome, number, latency) in rows {
        let s = at.timestamp();
        let hour = DateTime::from_timestamp(s - s.rem_euclid(3_600), 0).unwrap();
        let row = out
            .entry((tenant, webhook, hour))
            .or_insert_with(|| (0, 0, 0, vec![0; BUCKET_BOUNDS_MS.len() + 1]));
        row.0 += 1;
        row.1 += i64::from(outcome == "success");
        row.2 += i64::from(number == 1);
        if let Some(ms) = latency {
            let bucket = BUCKET_BOUNDS_MS
                .iter()
                .position(|&bound| ms as u64 <= bound)
                .unwrap_or(BUCKET_BOUNDS_MS.len());
            row.3[bucket] += 1;
        }
    }
    out
}

fn made_at(mut fact: DeliveryFact, at: DateTime<Utc>) -> DeliveryFact {
    if let DeliveryFact::Attempted(a) = &mut fact {
        a.at = at;
    }
    fact
}

/// Publishes `fact` again without a `Nats-Msg-Id`, so JetStream keeps the copy (a repeat
/// from outside its duplicate window).
async fn publish_again(env: &TestEnv, fact: &DeliveryFact) {
    let js = async_nats::jetstream::new(async_nats::connect(nats_url()).await.unwrap());
    let subject = env.nats.names().delivery_subject(
        fact.tenant().as_str(),
        fact.webhook_id().as_str(),
        fact.delivery_id().as_str(),
    );
    js.publish(subject, serde_json::to_vec(fact).unwrap().into())
        .await
        .unwrap()
        .await
        .unwrap();
}

#[tokio::test]
async fn the_hourly_rollup_counts_each_attempt_once_and_equals_the_attempts_rebuilt_and_backfilled()
{
    let env = TestEnv::new().await;
    let (projections, shutdown, tracker) = start(&env);
    let (hook, other) = (WebhookId::new(), WebhookId::new());
    let now = Utc::now();
    let hours = [now - Duration::hours(30), now - Duration::hours(3), now];
    // Latencies on and around the bucket bounds, the overflow bucket included.
    let latencies = [0, 1, 2, 50, 51, 60_000, 60_001, 90_000];
    let mut facts = Vec::new();
    let mut repeats = Vec::new();
    for (i, &ms) in latencies.iter().enumerate() {
        let at = hours[i % hours.len()];
        let delivery = DeliveryId::new();
        let first = made_at(attempt("acme", &hook, &delivery, 1, false, ms), at);
        let second = made_at(
            attempt("acme", &hook, &delivery, 2, true, ms + 7),
            at + Duration::minutes(1),
        );
        repeats.push(first.clone());
        facts.extend([first, second, closed("acme", &hook, &delivery, true)]);
        let elsewhere = DeliveryId::new();
        facts.push(made_at(
            attempt("globex", &other, &elsewhere, 1, true, ms),
            at,
        ));
    }
    publish(&env, &facts).await;
    // Repeats after the attempts they repeat, and an attempt 1 arriving after attempt 2: each
    // must not count again.
    for fact in &repeats {
        publish_again(&env, fact).await;
    }
    caught_up(&env, &projections, View::Deliveries).await;

    let live = rollup(&env.pool).await;
    assert_eq!(live, aggregated(&env.pool).await);
    let attempts: i64 = live.values().map(|r| r.0).sum();
    assert_eq!(attempts, 3 * latencies.len() as i64, "each attempt once");
    let (acme_hours, globex_hours) = (
        live.keys().filter(|k| k.0 == "acme").count(),
        live.keys().filter(|k| k.0 == "globex").count(),
    );
    assert!(
        (3..=6).contains(&acme_hours) && globex_hours == 3,
        "{live:?}"
    );
    let first_attempts: i64 = live.values().map(|r| r.2).sum();
    assert_eq!(first_attempts, 2 * latencies.len() as i64);

    // The charts read the rollup: 24 h holds the last two hours' attempts, 7 d all three.
    // Read a minute on, so the second attempts made "now + 1 min" are in the range too.
    let later = now + Duration::minutes(1);
    for (range, from) in [(Range::Day, 1), (Range::Week, 0)] {
        let buckets = timeline::for_webhook(&env.pool, "acme", hook.as_str(), range, later)
            .await
            .unwrap();
        let in_range = (0..latencies.len())
            .filter(|i| i % hours.len() >= from)
            .count() as i64;
        assert_eq!(
            buckets.iter().map(|b| b.deliveries).sum::<i64>(),
            in_range,
            "{range:?}"
        );
        assert_eq!(
            buckets.iter().map(|b| b.succeeded).sum::<i64>(),
            in_range,
            "{range:?}: the second attempts"
        );
        let last = buckets.last().unwrap();
        assert!(last.start <= later && later < last.start + range.bucket());
    }
    let day = timeline::for_webhook(&env.pool, "acme", hook.as_str(), Range::Day, later)
        .await
        .unwrap();
    let current = day.last().unwrap();
    // Unless the hour turned within the minute, the current hour holds latencies 2 and 60_000
    // (first attempts), 9 and 60_007 (second): p50 in the bucket of 10 ms, p99 above 60 s.
    if current.start <= now {
        assert_eq!(
            (current.attempts, current.p50_ms, current.p99_ms),
            (4, Some(10), Some(60_000))
        );
    }

    let report = rebuild::rebuild(&env.nats, &env.pool, &[View::Deliveries], |_, _| {})
        .await
        .unwrap();
    assert_eq!(report.views.len(), 1);
    assert_eq!(
        rollup(&env.pool).await,
        live,
        "a rebuild writes the same rows"
    );
    shutdown.cancel();
    tracker.close();
    tracker.wait().await;

    // The migration's backfill gives the same rows from `delivery_attempts`, and counts an
    // attempt without a latency in `attempts` only.
    sqlx::raw_sql(&format!("DROP TABLE webhook_stats_hourly; {MIGRATION}"))
        .execute(&env.pool)
        .await
        .unwrap();
    assert_eq!(
        rollup(&env.pool).await,
        live,
        "the backfill equals the fold"
    );
    sqlx::query(
        "INSERT INTO delivery_attempts (tenant, webhook_id, delivery_id, attempt, at, outcome, sequence)
         VALUES ('acme', $1, 'dlv_no_latency', 1, $2, 'success', 0)",
    )
    .bind(hook.as_str())
    .bind(hours[1])
    .execute(&env.pool)
    .await
    .unwrap();
    sqlx::raw_sql(&format!("DROP TABLE webhook_stats_hourly; {MIGRATION}"))
        .execute(&env.pool)
        .await
        .unwrap();
    let backfilled = rollup(&env.pool).await;
    assert_eq!(backfilled, aggregated(&env.pool).await);
    let changed: Vec<_> = backfilled
        .iter()
        .filter(|(k, v)| live.get(*k) != Some(*v))
        .collect();
    assert_eq!(changed.len(), 1, "{changed:?}");
    let (key, row) = changed[0];
    assert_eq!(
        (row.0, row.2, &row.3),
        (live[key].0 + 1, live[key].2 + 1, &live[key].3)
    );
}

//! The projector keeps its tables' statistics current when autovacuum does not (it is off on
//! the CI machine): a batch's lookups are planned on them (`projections::statistics`).

use std::time::Duration;

use hookledger_domain::ids::{DeliveryId, WebhookId};
use hookledger_projections::{View, statistics};

use super::deliveries::{attempt, publish};
use super::{caught_up, start};
use crate::harness::{TestEnv, eventually};

/// A projector that has applied `count` first attempts of one webhook.
async fn projected(
    env: &TestEnv,
    count: usize,
) -> (
    hookledger_projections::Projections,
    tokio_util::sync::CancellationToken,
    tokio_util::task::TaskTracker,
) {
    let (projections, shutdown, tracker) = start(env);
    let hook = WebhookId::new();
    let facts: Vec<_> = (0..count)
        .map(|_| attempt("acme", &hook, &DeliveryId::new(), 1, true, 5))
        .collect();
    publish(env, &facts).await;
    caught_up(env, &projections, View::Deliveries).await;
    (projections, shutdown, tracker)
}

#[tokio::test]
async fn a_table_never_analyzed_is_analyzed_once_it_holds_rows() {
    let env = TestEnv::new().await;
    // Fewer than autovacuum's 50 modifications: only "never analyzed" makes it stale.
    let (_projections, shutdown, tracker) = projected(&env, 10).await;
    eventually(Duration::from_secs(20), || async {
        let tuples: f32 =
            sqlx::query_scalar("SELECT reltuples FROM pg_class WHERE oid = 'deliveries'::regclass")
                .fetch_one(&env.pool)
                .await
                .map_err(|e| e.to_string())?;
        if tuples >= 10.0 {
            Ok(())
        } else {
            Err(format!("deliveries: {tuples} tuples estimated"))
        }
    })
    .await;
    shutdown.cancel();
    tracker.close();
    tracker.wait().await;
}

#[tokio::test]
async fn the_deliveries_projector_analyzes_its_tables_once_they_have_grown() {
    let env = TestEnv::new().await;
    let (_projections, shutdown, tracker) = projected(&env, 300).await;
    // Statistics that count the rows the projector wrote, gathered by it (or by autovacuum
    // where it runs): the estimate PostgreSQL plans with is no longer that of an empty table.
    // The projector analyzes again once a table has about doubled (more than 50 plus its rows
    // at the last analyze written since), so its last analyze saw at least (300 - 50) / 2.
    eventually(Duration::from_secs(20), || async {
        let (tuples, analyzed, modified): (f32, bool, i64) = sqlx::query_as(
            "SELECT c.reltuples, greatest(s.last_analyze, s.last_autoanalyze) IS NOT NULL, s.n_mod_since_analyze
               FROM pg_class c JOIN pg_stat_user_tables s ON s.relid = c.oid
              WHERE c.relname = 'deliveries' AND s.schemaname = current_schema()",
        )
        .fetch_one(&env.pool)
        .await
        .map_err(|e| e.to_string())?;
        if analyzed && tuples >= 125.0 {
            Ok(())
        } else {
            Err(format!(
                "deliveries: analyzed {analyzed}, {tuples} tuples estimated, {modified} modified since"
            ))
        }
    })
    .await;
    shutdown.cancel();
    tracker.close();
    tracker.wait().await;
    // Whatever the projector's refresh had left, once analyzed nothing is stale until more is
    // written, though an `ANALYZE` of some columns leaves PostgreSQL's modification count as
    // it was (deliveries and delivery_attempts are analyzed on their queried columns).
    let refresh = statistics::Statistics::default();
    refresh.refresh(&env.pool, View::Deliveries).await.unwrap();
    assert_eq!(
        refresh.refresh(&env.pool, View::Deliveries).await.unwrap(),
        Vec::<String>::new()
    );
}

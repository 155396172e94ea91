//! Deliveries, attempts and stats from the DELIVERIES facts.

use chrono::{Duration, Utc};
use hookledger_domain::delivery::{
    AttemptOutcome, AttemptRecord, DeliveryClosed, DeliveryEnd, DeliveryFact, DeliveryTrigger,
};
use hookledger_domain::ids::{DeliveryId, EventId, TenantId, WebhookId};
use hookledger_projections::deliveries::{self, DeliveryFilter};
use hookledger_projections::{View, stats};

use super::{caught_up, start};
use crate::harness::{TestEnv, nats_url};

/// An attempt fact: a success (200, `latency_ms`) or a 503.
pub fn attempt(
    tenant: &str,
    webhook: &WebhookId,
    delivery: &DeliveryId,
    n: u32,
    success: bool,
    latency_ms: u64,
) -> DeliveryFact {
    DeliveryFact::Attempted(AttemptRecord {
        delivery_id: delivery.clone(),
        tenant: TenantId::parse(tenant).unwrap(),
        webhook_id: webhook.clone(),
        event_id: EventId::parse(&format!("evt-{delivery}")).unwrap(),
        event_type: "lead.created".into(),
        attempt: n,
        at: Utc::now(),
        outcome: if success {
            AttemptOutcome::Success
        } else {
            AttemptOutcome::HttpError
        },
        response_status: Some(if success { 200 } else { 503 }),
        latency_ms,
        error: (!success).then(|| "503 Service Unavailable".into()),
        response_body: Some("ok".into()),
        next_attempt_at: (!success).then(|| Utc::now() + Duration::minutes(1)),
        trigger: if n == 1 {
            DeliveryTrigger::Event
        } else {
            DeliveryTrigger::Redeliver
        },
        response_headers: Default::default(),
        closes: None,
    })
}

/// The end of a delivery.
pub fn closed(
    tenant: &str,
    webhook: &WebhookId,
    delivery: &DeliveryId,
    success: bool,
) -> DeliveryFact {
    let closed = DeliveryClosed {
        delivery_id: delivery.clone(),
        tenant: TenantId::parse(tenant).unwrap(),
        webhook_id: webhook.clone(),
        event_id: EventId::parse(&format!("evt-{delivery}")).unwrap(),
        event_type: "lead.created".into(),
        attempts: 1,
        at: Utc::now(),
        reason: (!success).then_some(AttemptOutcome::HttpError),
    };
    if success {
        DeliveryFact::Succeeded(closed)
    } else {
        DeliveryFact::Failed(closed)
    }
}

/// Publishes facts as the dispatcher does (subject per delivery, `Nats-Msg-Id` = `msg_id()`).
pub async fn publish(env: &TestEnv, facts: &[DeliveryFact]) {
    let js = async_nats::jetstream::new(async_nats::connect(nats_url()).await.unwrap());
    for fact in facts {
        let subject = env.nats.names().delivery_subject(
            fact.tenant().as_str(),
            fact.webhook_id().as_str(),
            fact.delivery_id().as_str(),
        );
        let mut headers = async_nats::HeaderMap::new();
        headers.insert("Nats-Msg-Id", fact.msg_id().as_str());
        let payload = serde_json::to_vec(fact).unwrap();
        js.publish_with_headers(subject, headers, payload.into())
            .await
            .unwrap()
            .await
            .unwrap();
    }
}

#[tokio::test]
async fn deliveries_attempts_and_stats_follow_the_delivery_facts() {
    let env = TestEnv::new().await;
    let (projections, shutdown, tracker) = start(&env);
    let hook = WebhookId::new();
    let other = WebhookId::new();
    let [a, b, c, d] = [(); 4].map(|_| DeliveryId::new());
    publish(
        &env,
        &[
            attempt("acme", &hook, &a, 1, false, 40),
            attempt("acme", &hook, &a, 2, true, 80),
            closed("acme", &hook, &a, true),
            attempt("acme", &hook, &b, 1, false, 900),
            closed("acme", &hook, &b, false),
            attempt("acme", &hook, &c, 1, false, 30),
            attempt("acme", &other, &d, 1, true, 10),
            closed("acme", &other, &d, true),
            attempt("globex", &hook, &d, 1, true, 10),
        ],
    )
    .await;
    caught_up(&env, &projections, View::Deliveries).await;

    let all = deliveries::list(&env.pool, "acme", hook.as_str(), &DeliveryFilter::default())
        .await
        .unwrap();
    assert_eq!(all.total, 3);
    let statuses: Vec<(&str, &str)> = all
        .data
        .iter()
        .map(|d| (d.id.as_str(), d.status.as_str()))
        .collect();
    assert_eq!(
        statuses,
        [
            (c.as_str(), "pending"),
            (b.as_str(), "failed"),
            (a.as_str(), "succeeded")
        ],
        "newest first"
    );
    let detail = deliveries::get(&env.pool, "acme", hook.as_str(), a.as_str())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(detail.delivery.attempt_count, 2);
    assert_eq!(
        detail
            .attempts
            .iter()
            .map(|t| t.outcome.as_str())
            .collect::<Vec<_>>(),
        ["http_error", "success"]
    );
    assert!(
        deliveries::get(&env.pool, "globex", hook.as_str(), a.as_str())
            .await
            .unwrap()
            .is_none()
    );
    let failed = deliveries::failed_since(
        &env.pool,
        "acme",
        hook.as_str(),
        Utc::now() - Duration::hours(1),
    )
    .await
    .unwrap();
    assert_eq!(
        failed.iter().map(|d| d.id.as_str()).collect::<Vec<_>>(),
        [b.as_str()]
    );
    let succeeded = DeliveryFilter {
        success: Some(true),
        ..Default::default()
    };
    assert_eq!(
        deliveries::list(&env.pool, "acme", hook.as_str(), &succeeded)
            .await
            .unwrap()
            .total,
        1
    );

    let s = stats::for_webhook(&env.pool, "acme", hook.as_str())
        .await
        .unwrap();
    assert_eq!(
        (s.deliveries, s.succeeded, s.failed, s.pending, s.attempts),
        (3, 1, 1, 1, 4)
    );
    assert_eq!(s.success_rate, 0.5);
    assert_eq!(
        (s.latency_ms.p50, s.latency_ms.p99),
        (Some(50), Some(1_000))
    );

    // A repeated attempt fact (outside JetStream's duplicate window, say) counts once; a
    // redelivery reopens a failed delivery and its success moves it to `succeeded`.
    let mut repeat = attempt("acme", &hook, &b, 1, false, 900);
    if let hookledger_domain::delivery::DeliveryFact::Attempted(r) = &mut repeat {
        r.error = Some("repeated".into());
    }
    let duplicate_id = async_nats::jetstream::new(async_nats::connect(nats_url()).await.unwrap());
    let subject = env
        .nats
        .names()
        .delivery_subject("acme", hook.as_str(), b.as_str());
    duplicate_id
        .publish(subject, serde_json::to_vec(&repeat).unwrap().into())
        .await
        .unwrap()
        .await
        .unwrap();
    publish(
        &env,
        &[
            attempt("acme", &hook, &b, 2, true, 20),
            closed("acme", &hook, &b, true),
        ],
    )
    .await;
    caught_up(&env, &projections, View::Deliveries).await;

    let s = stats::for_webhook(&env.pool, "acme", hook.as_str())
        .await
        .unwrap();
    assert_eq!(
        (s.deliveries, s.succeeded, s.failed, s.pending, s.attempts),
        (3, 2, 0, 1, 5)
    );
    assert!(s.last_success_at.is_some() && s.last_failure_at.is_some());
    let b_detail = deliveries::get(&env.pool, "acme", hook.as_str(), b.as_str())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (b_detail.delivery.status.as_str(), b_detail.attempts.len()),
        ("succeeded", 2)
    );
    assert_eq!(
        b_detail.attempts[0].error.as_deref(),
        Some("503 Service Unavailable")
    );
    let tenant = stats::for_tenant(&env.pool, "acme").await.unwrap();
    assert_eq!(
        (tenant.deliveries, tenant.succeeded, tenant.attempts),
        (4, 3, 6)
    );

    shutdown.cancel();
    tracker.close();
    tracker.wait().await;
}

/// `fact` (an attempt) as the last attempt of its delivery, which it ends with `end`.
fn closing(mut fact: DeliveryFact, end: DeliveryEnd) -> DeliveryFact {
    if let DeliveryFact::Attempted(a) = &mut fact {
        a.next_attempt_at = None;
        a.closes = Some(end);
    }
    fact
}

#[tokio::test]
async fn an_attempt_that_closes_its_delivery_ends_it_as_a_closing_fact_would() {
    let env = TestEnv::new().await;
    let (projections, shutdown, tracker) = start(&env);
    let hook = WebhookId::new();
    let [a, b, c] = [(); 3].map(|_| DeliveryId::new());
    let b_gave_up = closing(
        attempt("acme", &hook, &b, 1, false, 900),
        DeliveryEnd::Failed,
    );
    publish(
        &env,
        &[
            attempt("acme", &hook, &a, 1, false, 40),
            closing(
                attempt("acme", &hook, &a, 2, true, 80),
                DeliveryEnd::Succeeded,
            ),
            b_gave_up.clone(),
            // The form written before attempts said it: an attempt, then its closing fact.
            attempt("acme", &hook, &c, 1, true, 10),
            closed("acme", &hook, &c, true),
        ],
    )
    .await;
    caught_up(&env, &projections, View::Deliveries).await;
    let status = |d: &DeliveryId| {
        let (pool, hook, d) = (env.pool.clone(), hook.clone(), d.clone());
        async move {
            let got = deliveries::get(&pool, "acme", hook.as_str(), d.as_str())
                .await
                .unwrap()
                .unwrap();
            (
                got.delivery.status.clone(),
                got.delivery.reason.clone(),
                got.attempts.len(),
            )
        }
    };
    assert_eq!(status(&a).await, ("succeeded".into(), None, 2));
    assert_eq!(
        status(&b).await,
        ("failed".into(), Some("http_error".into()), 1)
    );
    let s = stats::for_webhook(&env.pool, "acme", hook.as_str())
        .await
        .unwrap();
    assert_eq!(
        (s.deliveries, s.succeeded, s.failed, s.pending, s.attempts),
        (3, 2, 1, 0, 4)
    );

    // The closing attempt again (no message id: JetStream keeps it) changes nothing; a
    // redelivery that succeeds and closes moves the delivery from failed to succeeded.
    let js = async_nats::jetstream::new(async_nats::connect(nats_url()).await.unwrap());
    let subject = env
        .nats
        .names()
        .delivery_subject("acme", hook.as_str(), b.as_str());
    js.publish(subject, serde_json::to_vec(&b_gave_up).unwrap().into())
        .await
        .unwrap()
        .await
        .unwrap();
    caught_up(&env, &projections, View::Deliveries).await;
    assert_eq!(
        status(&b).await,
        ("failed".into(), Some("http_error".into()), 1)
    );
    publish(
        &env,
        &[closing(
            attempt("acme", &hook, &b, 2, true, 20),
            DeliveryEnd::Succeeded,
        )],
    )
    .await;
    caught_up(&env, &projections, View::Deliveries).await;
    assert_eq!(status(&b).await, ("succeeded".into(), None, 2));
    let s = stats::for_webhook(&env.pool, "acme", hook.as_str())
        .await
        .unwrap();
    assert_eq!(
        (s.deliveries, s.succeeded, s.failed, s.pending, s.attempts),
        (3, 3, 0, 0, 5)
    );

    shutdown.cancel();
    tracker.close();
    tracker.wait().await;
}

use super::*;

static URL: std::sync::LazyLock<url::Url> =
    std::sync::LazyLock::new(|| url::Url::parse("http://h:1/a").unwrap());

#[test]
fn endpoints_are_host_and_port() {
    let endpoint = |s: &str| endpoint(&url::Url::parse(s).unwrap());
    assert_eq!(endpoint("https://example.com/a"), "example.com:443");
    assert_eq!(endpoint("http://127.0.0.1:8080/x?y"), "127.0.0.1:8080");
}

#[tokio::test]
async fn a_full_webhook_defers_its_own_jobs_and_no_other_webhooks() {
    // One slot and a line of one per webhook.
    let limits = Arc::new(Limits::new(1, 8, 1));
    let held = limits.enter("a", "wh_1", &URL).await.unwrap();
    let in_line = tokio::spawn({
        let limits = limits.clone();
        async move { limits.enter("a", "wh_1", &URL).await.is_ok() }
    });
    tokio::task::yield_now().await;
    let refused = limits.enter("a", "wh_1", &URL).await;
    assert_eq!(refused.err().map(|d| d.limit), Some("webhook"));
    assert!(
        limits.enter("a", "wh_2", &URL).await.is_ok(),
        "another webhook on the same host is not affected"
    );
    drop(held);
    assert!(in_line.await.unwrap(), "the job in line gets the slot");
}

#[tokio::test(start_paused = true)]
async fn one_tenant_using_up_its_host_slots_leaves_other_tenants_theirs() {
    let limits = Limits::new(4, 2, 2);
    let _a1 = limits.enter("a", "wh_1", &URL).await.unwrap();
    let _a2 = limits.enter("a", "wh_2", &URL).await.unwrap();
    let started = tokio::time::Instant::now();
    let refused = limits.enter("a", "wh_3", &URL).await;
    assert_eq!(refused.err().map(|d| d.limit), Some("host"));
    assert!(
        started.elapsed() >= LINE_WAIT,
        "it waited in the host's line first"
    );
    assert!(
        limits.enter("b", "wh_4", &URL).await.is_ok(),
        "tenant b has its own slots towards the same host"
    );
}

#[test]
fn a_webhook_that_times_out_drops_to_one_slot_and_earns_them_back_by_answering() {
    let pool = Pool::new(INITIAL_WEBHOOK_SLOTS, 8);
    assert_eq!(pool.limit(), 2);
    for _ in 0..10 {
        pool.record(Some(false));
    }
    assert_eq!(pool.limit(), 8, "capped at per_webhook_concurrency");
    assert_eq!(pool.slots.available_permits(), 8);
    pool.record(Some(true));
    assert_eq!(pool.limit(), 4);
    pool.record(Some(true));
    pool.record(Some(true));
    pool.record(Some(true));
    assert_eq!(pool.limit(), 1, "never below one");
    assert_eq!(pool.slots.available_permits(), 1);
    pool.record(None);
    assert_eq!(pool.limit(), 1, "an attempt not sent says nothing");
    pool.record(Some(false));
    assert_eq!((pool.limit(), pool.slots.available_permits()), (2, 2));
}

#[tokio::test]
async fn slots_in_use_when_the_limit_drops_are_forgotten_as_they_come_back() {
    let limits = Limits::new(4, 16, 16);
    let pool = pool(&limits.webhooks, "wh_1", || Pool::new(4, 4));
    let held: Vec<_> = futures::future::join_all((0..4).map(|_| pool.take(16)))
        .await
        .into_iter()
        .map(Option::unwrap)
        .collect();
    pool.record(Some(true));
    assert_eq!(pool.limit(), 2);
    drop(held);
    assert_eq!(
        pool.slots.available_permits(),
        2,
        "two of the four came back"
    );
    assert!(pool.is_idle());
}

#[test]
fn the_outcomes_that_say_a_receiver_is_congested() {
    let result = |outcome, status| AttemptResult {
        status,
        ..AttemptResult::not_sent(outcome, "x")
    };
    assert_eq!(
        congested(&result(AttemptOutcome::Timeout, None)),
        Some(true)
    );
    assert_eq!(
        congested(&result(AttemptOutcome::Connect, None)),
        Some(true)
    );
    let http = |status| congested(&result(AttemptOutcome::HttpError, Some(status)));
    assert_eq!(
        (http(503), http(429), http(408)),
        (Some(true), Some(true), Some(true))
    );
    assert_eq!((http(404), http(302)), (Some(false), Some(false)));
    assert_eq!(
        congested(&result(AttemptOutcome::Success, Some(200))),
        Some(false)
    );
    assert_eq!(congested(&result(AttemptOutcome::Paused, None)), None);
}

#[test]
fn a_fast_pool_gets_a_long_line_and_a_slow_one_a_short_one() {
    let pool = Pool::new(4, 4);
    assert_eq!(pool.line(100), 4, "unknown pace: a line of its slots");
    pool.held_micros.store(1_000, Ordering::Relaxed);
    assert_eq!(pool.line(100), 100, "1 ms per attempt: capped at max_line");
    pool.held_micros.store(2_000_000, Ordering::Relaxed);
    assert_eq!(pool.line(100), 4, "2 s per attempt: no more than its slots");
}

#[test]
fn deferred_jobs_queue_up_at_the_pace_of_their_pool_up_to_max_defer() {
    let pool = Pool::new(1, 1);
    pool.held_micros.store(10_000_000, Ordering::Relaxed);
    let first = pool.defer_delay();
    let second = pool.defer_delay();
    assert!(first <= Duration::from_secs(10) && first > Duration::from_secs(9));
    assert!(second > Duration::from_secs(19), "{second:?}");
    for _ in 0..10 {
        assert!(pool.defer_delay() <= MAX_DEFER);
    }
    assert!(pool.defer_delay() > MAX_DEFER - Duration::from_secs(1));
    let fast = Pool::new(4, 4);
    fast.held_micros.store(1_000, Ordering::Relaxed);
    assert_eq!(fast.defer_delay(), MIN_DEFER);
}

#[test]
fn a_healthy_pool_is_planned_at_its_maximum_and_a_congested_one_at_its_limit() {
    let pool = Pool::new(2, 32);
    pool.held_micros.store(50_000, Ordering::Relaxed);
    assert_eq!(pool.line(1000), 640, "a burst waits while the limit grows");
    pool.record(Some(true));
    assert_eq!(pool.line(1000), 20, "one slot at 50 ms: 20 per second");
    let congested = Pool::new(1, 32);
    congested.record(Some(true));
    congested.held_micros.store(10_000_000, Ordering::Relaxed);
    assert_eq!(congested.line(1000), 1);
    assert!(congested.defer_delay() >= Duration::from_secs(9));
}

#[tokio::test(start_paused = true)]
async fn before_any_attempt_ends_the_pace_is_how_long_the_first_has_been_out() {
    let pool = Arc::new(Pool::new(1, 1));
    assert_eq!(pool.defer_delay(), MIN_DEFER, "nothing known, nothing out");
    let _out = pool.take(8).await.unwrap();
    tokio::time::advance(Duration::from_secs(5)).await;
    let first = pool.defer_delay();
    assert!(first >= Duration::from_secs(5), "{first:?}");
}

#[tokio::test(start_paused = true)]
async fn a_job_waits_in_line_at_most_line_wait() {
    let limits = Limits::new(1, 8, 8);
    let _held = limits.enter("a", "wh_1", &URL).await.unwrap();
    let started = tokio::time::Instant::now();
    assert!(limits.enter("a", "wh_1", &URL).await.is_err());
    assert!(started.elapsed() >= LINE_WAIT);
    let pool = pool(&limits.webhooks, "wh_1", || unreachable!());
    assert_eq!(pool.waiting.load(Ordering::Relaxed), 0);
}

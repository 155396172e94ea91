//! Delivery under stress: a dispatcher killed with deliveries in flight, and a receiver that
//! always times out next to a healthy one.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use hookledger_api::Roles;
use serde_json::json;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::delivery_support::{attempts, dispatcher, facts, hook, succeeded, tenant, webhook};
use crate::harness::nats_server::OwnNatsServer;
use crate::harness::receiver::{Reply, TestReceiver};
use crate::harness::{TestApp, TestEnv, eventually, nats_url};

/// Publishes `count` events `lead.created` with ids `<prefix>-<i>` straight on NATS, `pause`
/// apart; returns when each was published.
async fn publish_on_nats(
    url: &str,
    app: &TestApp,
    prefix: &str,
    count: usize,
    pause: Duration,
) -> HashMap<String, Instant> {
    let client = async_nats::connect(url).await.unwrap();
    let js = async_nats::jetstream::new(client);
    let subject = format!("{}-events.acme.lead.created", app.id);
    let mut sent = HashMap::new();
    let mut acks = Vec::new();
    for i in 0..count {
        let id = format!("{prefix}-{i}");
        let mut headers = async_nats::HeaderMap::new();
        headers.insert("Nats-Msg-Id", id.as_str());
        sent.insert(id, Instant::now());
        let payload = serde_json::to_vec(&json!({"i": i})).unwrap();
        acks.push(
            js.publish_with_headers(subject.clone(), headers, payload.into())
                .await
                .unwrap(),
        );
        if !pause.is_zero() {
            tokio::time::sleep(pause).await;
        }
    }
    for ack in acks {
        ack.await.unwrap();
    }
    sent
}

#[tokio::test]
async fn a_dispatcher_aborted_with_deliveries_in_flight_loses_nothing_after_a_restart() {
    const EVENTS: usize = 1000;
    const CONCURRENCY: usize = 64;
    let no_worker = Roles {
        dispatcher: false,
        ..Roles::ALL
    };
    let app = TestApp::spawn_with(no_worker, |_| {}).await;
    let key = tenant(&app, "acme").await;
    let receiver =
        TestReceiver::replying(Reply::status(200).after(Duration::from_millis(50))).await;
    let id = webhook(&app, &key, hook(&receiver.url("/"), &["lead.*"])).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let configure = |c: &mut hookledger_api::Config| {
        c.dispatcher.ack_wait_seconds = 2;
        c.dispatcher.concurrency = CONCURRENCY;
        c.dispatcher.per_host_concurrency = CONCURRENCY;
    };
    let first = dispatcher(&app, configure).await;
    let worker = tokio::spawn(async move { first.run_worker(CancellationToken::new()).await });
    publish_on_nats(&nats_url(), &app, "crash", EVENTS, Duration::ZERO).await;

    receiver.wait_for(EVENTS / 4, Duration::from_secs(30)).await;
    worker.abort();
    let _ = worker.await;
    let at_abort = receiver.count();
    assert!(
        at_abort < EVENTS,
        "the abort came too late to test anything"
    );

    let second = dispatcher(&app, configure).await;
    let shutdown = CancellationToken::new();
    let restarted = tokio::spawn({
        let shutdown = shutdown.clone();
        async move { second.run_worker(shutdown).await }
    });
    eventually(Duration::from_secs(60), || async {
        let ids: HashSet<String> = (receiver.received().iter())
            .map(|r| r.header("webhook-id").unwrap().to_owned())
            .collect();
        if ids.len() == EVENTS {
            Ok(())
        } else {
            Err(ids.len())
        }
    })
    .await;
    let facts = eventually(Duration::from_secs(30), || async {
        let facts = facts(&app, "acme", &id).await;
        if succeeded(&facts).len() >= EVENTS {
            Ok(facts)
        } else {
            Err(succeeded(&facts).len())
        }
    })
    .await;
    shutdown.cancel();
    restarted.await.unwrap().unwrap();

    let closed: HashSet<_> = succeeded(&facts)
        .iter()
        .map(|c| c.delivery_id.clone())
        .collect();
    assert_eq!(
        (closed.len(), succeeded(&facts).len()),
        (EVENTS, EVENTS),
        "one success per delivery"
    );
    let mut seen = HashSet::new();
    for a in attempts(&facts) {
        assert!(
            seen.insert((a.delivery_id.clone(), a.attempt)),
            "each attempt's fact once"
        );
    }
    for c in succeeded(&facts) {
        assert!(
            seen.contains(&(c.delivery_id.clone(), c.attempts)),
            "no fact lost: {c:?}"
        );
    }
    let duplicates = receiver.count() - EVENTS;
    println!("crash: {at_abort} received before the abort, {duplicates} sent twice");
    assert!(
        duplicates <= 4 * CONCURRENCY,
        "only attempts in flight repeat: {duplicates}"
    );
}

#[tokio::test]
async fn a_receiver_that_always_times_out_does_not_slow_a_healthy_webhook() {
    const EVENTS: usize = 200;
    let app = TestApp::spawn_with(Roles::ALL, |c| {
        c.dispatcher.concurrency = 32;
        c.dispatcher.per_host_concurrency = 4;
    })
    .await;
    let key = tenant(&app, "acme").await;
    let stuck = TestReceiver::replying(Reply::status(200).after(Duration::from_secs(30))).await;
    let healthy = TestReceiver::start().await;
    let mut slow = hook(&stuck.url("/"), &["*"]);
    slow["timeoutSeconds"] = json!(1);
    slow["retryAttempts"] = json!(2);
    webhook(&app, &key, slow).await;
    webhook(&app, &key, hook(&healthy.url("/"), &["*"])).await;

    let sent = publish_on_nats(
        &nats_url(),
        &app,
        "mixed",
        EVENTS,
        Duration::from_millis(10),
    )
    .await;

    let got = healthy.wait_for(EVENTS, Duration::from_secs(30)).await;
    let mut latencies: Vec<Duration> = (got.iter())
        .map(|r| r.at - sent[r.header("webhook-id").unwrap()])
        .collect();
    latencies.sort();
    let at = |q: f64| latencies[((latencies.len() - 1) as f64 * q) as usize];
    println!(
        "healthy webhook beside an always-timing-out one: p50 {:?}, p95 {:?}, p99 {:?}, max {:?}; \
         the stuck receiver got {} requests",
        at(0.5),
        at(0.95),
        at(0.99),
        at(1.0),
        stuck.count()
    );
    assert!(stuck.count() >= 4, "the stuck receiver was being called");
    assert!(at(0.99) < Duration::from_millis(1000), "p99 {:?}", at(0.99));
}

#[tokio::test]
async fn a_nats_server_restart_during_delivery_loses_nothing() {
    const EVENTS: usize = 300;
    let mut server = OwnNatsServer::start().await;
    let url = server.url();
    let env = TestEnv::with_nats_url(&url).await;
    let app = TestApp::spawn_on(env, Roles::ALL, |c| {
        c.nats.url = url.clone();
        c.dispatcher.ack_wait_seconds = 2;
    })
    .await;
    let key = tenant(&app, "acme").await;
    let receiver =
        TestReceiver::replying(Reply::status(200).after(Duration::from_millis(20))).await;
    let id = webhook(&app, &key, hook(&receiver.url("/"), &["lead.*"])).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    publish_on_nats(&url, &app, "restart", EVENTS, Duration::ZERO).await;
    receiver
        .wait_for(EVENTS / 10, Duration::from_secs(30))
        .await;

    server.restart().await;

    eventually(Duration::from_secs(60), || async {
        let ids: HashSet<String> = (receiver.received().iter())
            .map(|r| r.header("webhook-id").unwrap().to_owned())
            .collect();
        if ids.len() == EVENTS {
            Ok(())
        } else {
            Err(ids.len())
        }
    })
    .await;
    let facts = eventually(Duration::from_secs(60), || async {
        let facts = facts(&app, "acme", &id).await;
        let done: HashSet<_> = succeeded(&facts)
            .iter()
            .map(|c| c.delivery_id.clone())
            .collect();
        if done.len() == EVENTS {
            Ok(facts)
        } else {
            Err(done.len())
        }
    })
    .await;
    for c in succeeded(&facts) {
        let attempt = attempts(&facts)
            .into_iter()
            .any(|a| a.delivery_id == c.delivery_id && a.attempt == c.attempts);
        assert!(attempt, "every success has its attempt's fact: {c:?}");
    }
    println!("restart: {} requests for {EVENTS} events", receiver.count());
}

/// The `hookledger` binary (built once per test process, as `process.rs` does).
fn hookledger_binary() -> &'static str {
    static BIN: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    BIN.get_or_init(|| {
        if let Ok(bin) = std::env::var("HOOKLEDGER_TEST_BIN") {
            return bin;
        }
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let status = std::process::Command::new(cargo)
            .args([
                "build",
                "--quiet",
                "-p",
                "hookledger-api",
                "--bin",
                "hookledger",
            ])
            .status()
            .expect("cargo runs");
        assert!(status.success(), "building the hookledger binary failed");
        let target = std::env::var("CARGO_TARGET_DIR")
            .unwrap_or_else(|_| concat!(env!("CARGO_MANIFEST_DIR"), "/../target").into());
        format!("{target}/debug/hookledger")
    })
}

/// `hookledger serve --roles dispatcher` on the app's prefix and database.
fn dispatcher_process(app: &TestApp) -> tokio::process::Child {
    let env = [
        ("HOOKLEDGER_NATS__URL", nats_url()),
        ("HOOKLEDGER_NATS__PREFIX", app.id.clone()),
        (
            "HOOKLEDGER_NATS__EVENTS_SUBJECT",
            format!("{}-events", app.id),
        ),
        ("HOOKLEDGER_POSTGRES__URL", app.database_url.clone()),
        (
            "HOOKLEDGER_SECRETS__MASTER_KEY",
            crate::harness::app::MASTER_KEY.into(),
        ),
        (
            "HOOKLEDGER_DISPATCHER__ALLOW_PRIVATE_TARGETS",
            "true".into(),
        ),
        ("HOOKLEDGER_DISPATCHER__ACK_WAIT_SECONDS", "2".into()),
        ("HOOKLEDGER_DISPATCHER__CONCURRENCY", "64".into()),
        ("HOOKLEDGER_DISPATCHER__PER_HOST_CONCURRENCY", "64".into()),
    ];
    let mut command = tokio::process::Command::new(hookledger_binary());
    command
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default());
    command.envs(env).args(["serve", "--roles", "dispatcher"]);
    command
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null());
    command
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true);
    command.spawn().expect("hookledger starts")
}

#[tokio::test]
async fn a_dispatcher_process_killed_with_sigkill_mid_delivery_loses_nothing_after_a_restart() {
    const EVENTS: usize = 1000;
    hookledger_binary();
    let no_worker = Roles {
        dispatcher: false,
        ..Roles::ALL
    };
    let app = TestApp::spawn_with(no_worker, |_| {}).await;
    let key = tenant(&app, "acme").await;
    let receiver =
        TestReceiver::replying(Reply::status(200).after(Duration::from_millis(50))).await;
    let id = webhook(&app, &key, hook(&receiver.url("/"), &["lead.*"])).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    publish_on_nats(&nats_url(), &app, "kill", EVENTS, Duration::ZERO).await;

    let mut first = dispatcher_process(&app);
    receiver.wait_for(EVENTS / 4, Duration::from_secs(60)).await;
    first.start_kill().expect("SIGKILL");
    first.wait().await.unwrap();
    let at_kill = receiver.count();
    assert!(at_kill < EVENTS, "the kill came too late to test anything");
    let mut second = dispatcher_process(&app);

    eventually(Duration::from_secs(60), || async {
        let ids: HashSet<String> = (receiver.received().iter())
            .map(|r| r.header("webhook-id").unwrap().to_owned())
            .collect();
        if ids.len() == EVENTS {
            Ok(())
        } else {
            Err(ids.len())
        }
    })
    .await;
    let facts = eventually(Duration::from_secs(30), || async {
        let facts = facts(&app, "acme", &id).await;
        let done: HashSet<_> = succeeded(&facts)
            .iter()
            .map(|c| c.delivery_id.clone())
            .collect();
        if done.len() == EVENTS {
            Ok(facts)
        } else {
            Err(done.len())
        }
    })
    .await;
    second.start_kill().unwrap();
    let mut seen = HashSet::new();
    for a in attempts(&facts) {
        assert!(
            seen.insert((a.delivery_id.clone(), a.attempt)),
            "each attempt's fact once"
        );
    }
    for c in succeeded(&facts) {
        assert!(
            seen.contains(&(c.delivery_id.clone(), c.attempts)),
            "no fact lost: {c:?}"
        );
    }
    let duplicates = receiver.count() - EVENTS;
    println!("kill -9: {at_kill} received before the kill, {duplicates} sent twice");
    assert!(
        duplicates <= 4 * 64,
        "only attempts in flight repeat: {duplicates}"
    );
}

//! `hookledger bench api`: HTTP throughput and latency of the native API at N concurrent
//! clients: `POST /v1/webhooks` (each create on the ledger and visible to a GET when it
//! answers), then `GET /v1/webhooks?limit=20` of a tenant with 50 webhooks, then of the tenant
//! holding every webhook the create phase made (its `total` is a count over all of them).
//!
//! Without `--url` it runs the whole process in-process on `127.0.0.1:0` against the configured
//! NATS (a throw-away prefix, streams deleted afterwards) and a throw-away database created
//! from `postgres.url` (dropped afterwards), with the rate limit off; client and server then
//! share the machine's cores. With `--url` and `--key` it measures a running server (the key's
//! tenant needs the event type `lead.created`, and its rate limit must allow the load).
//!
//! Then the vendor dialects' twins of the same two operations: a create through Salesfinity
//! (a hex id) and SuperOffice (a number: one extra query for the highest), and the list of a
//! tenant of 50 Salesfinity webhooks, so their cost can be read beside the native figures.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::{Application, Config, Roles};

/// Webhooks of the tenant whose list is read in the first list phase (a typical tenant).
const LIST_TENANT_WEBHOOKS: usize = 50;

const NATIVE_LIST: &str = "/v1/webhooks?limit=20";
const SALESFINITY_LIST: &str = "/compat/salesfinity/v1/webhooks";

/// What to measure.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Concurrent clients.
    pub concurrency: usize,
    /// Seconds per phase.
    pub seconds: u64,
    /// A running server; in-process when `None`.
    pub url: Option<String>,
    /// The API key for `url`.
    pub key: Option<String>,
}

fn percentile(sorted: &[Duration], q: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    sorted[((sorted.len() as f64 - 1.0) * q).round() as usize].as_secs_f64() * 1000.0
}

/// Runs `request` from `concurrency` clients for `seconds`; prints requests/s and latency.
async fn phase<F, Fut>(
    name: &str,
    concurrency: usize,
    seconds: u64,
    request: F,
) -> anyhow::Result<()>
where
    F: Fn(usize) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = anyhow::Result<()>> + Send,
{
    let request = Arc::new(request);
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let start = Instant::now();
    let mut clients = tokio::task::JoinSet::new();
    for client in 0..concurrency {
        let request = request.clone();
        clients.spawn(async move {
            let mut samples = Vec::new();
            let mut i = 0;
            while Instant::now() < deadline {
                let t = Instant::now();
                request(client * 1_000_000 + i).await?;
                samples.push(t.elapsed());
                i += 1;
            }
            anyhow::Ok(samples)
        });
    }
    let mut samples = Vec::new();
    while let Some(done) = clients.join_next().await {
        samples.extend(done??);
    }
    let elapsed = start.elapsed();
    samples.sort_unstable();
    println!(
        "{name:<34} {:>7} requests in {:>5.2} s = {:>7.0}/s   p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
        samples.len(),
        elapsed.as_secs_f64(),
        samples.len() as f64 / elapsed.as_secs_f64(),
        percentile(&samples, 0.5),
        percentile(&samples, 0.99),
        percentile(&samples, 1.0),
    );
    Ok(())
}

/// One create request: the path and the body of request `i`.
type Create = (&'static str, fn(usize) -> Value, u16);

/// The native create and its dialect twins, then the native create again: the tenant holds
/// more webhooks in each phase, so the last phase shows what that alone costs.
const CREATES: [Create; 4] = [
    ("/v1/webhooks", native_body, 201),
    ("/compat/salesfinity/v1/webhooks", salesfinity_body, 201),
    (
        "/compat/superoffice/api/v1/Agents/Webhook/SaveWebhook",
        superoffice_body,
        200,
    ),
    ("/v1/webhooks", native_body, 201),
];

fn native_body(i: usize) -> Value {
    json!({"name": format!("bench {i}"), "url": "https://bench.example.com/hook",
        "events": ["lead.*"]})
}

fn salesfinity_body(i: usize) -> Value {
    json!({"name": format!("bench {i}"), "url": "https://bench.example.com/hook",
        "events": ["CALL_LOGGED"], "dispositions": [1, 4]})
}

fn superoffice_body(i: usize) -> Value {
    json!({"WebhookId": 0, "Name": format!("bench {i}"),
        "TargetUrl": "https://bench.example.com/hook", "Events": ["contact.created"]})
}

/// Runs `count` requests of `create` one after another (to seed a tenant).
async fn seed(
    http: &reqwest::Client,
    base: &str,
    key: &str,
    create: &Create,
    count: usize,
) -> anyhow::Result<()> {
    let (path, body, expected) = create;
    for i in 0..count {
        let response = (http.post(format!("{base}{path}")))
            .header("x-api-key", key)
            .json(&body(i))
            .send()
            .await?;
        anyhow::ensure!(
            response.status() == *expected,
            "{path} answered {}",
            response.status()
        );
    }
    Ok(())
}

/// Runs the create phases with `key`, then a list phase per `(label, path, key)` of `lists`.
async fn measure(
    base: &str,
    key: &str,
    lists: &[(String, &'static str, String)],
    settings: &Settings,
) -> anyhow::Result<()> {
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(settings.concurrency)
        .build()?;
    let (c, s) = (settings.concurrency, settings.seconds);
    for (path, body, expected) in CREATES {
        let (h, b, k) = (http.clone(), base.to_owned(), key.to_owned());
        phase(&format!("POST {path} (create)"), c, s, move |i| {
            let request = (h.post(format!("{b}{path}")))
                .header("x-api-key", &k)
                .json(&body(i));
            async move {
                let response = request.send().await?;
                anyhow::ensure!(
                    response.status() == expected,
                    "create answered {}",
                    response.status()
                );
                Ok(())
            }
        })
        .await?;
    }
    for (label, path, key) in lists {
        let (h, b, k, path) = (http.clone(), base.to_owned(), key.clone(), *path);
        phase(&format!("GET {path} ({label})"), c, s, move |_| {
            let request = h.get(format!("{b}{path}")).header("x-api-key", &k);
            async move {
                let response = request.send().await?;
                anyhow::ensure!(
                    response.status() == 200,
                    "list answered {}",
                    response.status()
                );
                response.bytes().await?;
                Ok(())
            }
        })
        .await?;
    }
    Ok(())
}

/// A tenant with the `lead.created` event type, `webhooks` native webhooks and as many
/// Salesfinity ones: its key.
async fn tenant(
    http: &reqwest::Client,
    base: &str,
    token: &str,
    id: &str,
    webhooks: usize,
) -> anyhow::Result<String> {
    let key = crate::bench::tenant_over_http(http, base, token, id, "lead.created").await?;
    seed(http, base, &key, &CREATES[0], webhooks).await?;
    seed(http, base, &key, &CREATES[1], webhooks).await?;
    Ok(key)
}

/// Runs the API benchmark.
pub async fn api(config: &Config, settings: &Settings) -> anyhow::Result<()> {
    if let Some(url) = &settings.url {
        let key = settings.key.as_deref().context("--url needs --key")?;
        println!(
            "server {url}, {} clients, {} s per phase",
            settings.concurrency, settings.seconds
        );
        let lists = [
            ("the key's tenant".to_owned(), NATIVE_LIST, key.to_owned()),
            (
                "the key's tenant".to_owned(),
                SALESFINITY_LIST,
                key.to_owned(),
            ),
        ];
        return measure(url.trim_end_matches('/'), key, &lists, settings).await;
    }
    let run = super::scratch::unique_id("bencha-");
    let database = run.replace('-', "_");
    let admin = config.postgres.url.clone();
    let mut bench = config.clone();
    bench.postgres.url = super::scratch::create_database(&admin, &database).await?;
    bench.nats.prefix = run.clone();
    bench.nats.events_subject = format!("{run}-events");
    bench.http.rate_limit_per_second = 0.0;
    bench.http.operator_token = format!("bench-operator-{run}");
    let result = in_process(bench, settings).await;
    let dropped = super::scratch::drop_database(&admin, &database).await;
    result?;
    dropped?;
    Ok(())
}

async fn in_process(config: Config, settings: &Settings) -> anyhow::Result<()> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let shutdown = CancellationToken::new();
    let token = config.http.operator_token.clone();
    let app = Application::build(config, Some(listener), Roles::ALL, shutdown.clone()).await?;
    let nats = app.state().nats.clone();
    let base = format!("http://{}", app.local_addr().context("listening")?);
    let server = tokio::spawn(app.run());
    println!(
        "in-process server on {base}, nats-server {}, {} clients, {} s per phase",
        nats.server_version(),
        settings.concurrency,
        settings.seconds
    );
    let result = async {
        let http = reqwest::Client::new();
        let writer = tenant(&http, &base, &token, "bench", 0).await?;
        let reader = tenant(&http, &base, &token, "bench-list", LIST_TENANT_WEBHOOKS).await?;
        let typical = format!("tenant of {LIST_TENANT_WEBHOOKS} webhooks");
        let lists = [
            (typical.clone(), NATIVE_LIST, reader.clone()),
            (typical, SALESFINITY_LIST, reader),
            (
                "tenant of every created webhook".to_owned(),
                NATIVE_LIST,
                writer.clone(),
            ),
        ];
        measure(&base, &writer, &lists, settings).await
    }
    .await;
    shutdown.cancel();
    server.await??;
    nats.delete_streams().await?;
    result
}

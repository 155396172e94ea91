//! `hookledger bench console`: server-side time of each console page for a tenant with 1,000
//! webhooks and 100,000 deliveries.
//!
//! Setup, in-process (throw-away prefix and database, like `bench api`): the webhooks are
//! created through `POST /v1/webhooks` (the ledger and the projector, as in production); the
//! deliveries are delivery facts (an attempt and its end, half of them on one "hot" webhook,
//! the rest spread over the others, one in ten failed on each) recorded on DELIVERIES with the
//! dispatcher's own `record_fact` and applied by the deliveries projector; the bench waits
//! until the views hold them all. Then each page is fetched `--requests` times, one at a time,
//! by a client in the same process over loopback with a signed-in session, and the time from
//! sending the request to the last byte of the body is reported (p50, p95, p99, max). That
//! time includes the HTTP round trip, so it bounds the server-side render from above.

use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use futures::StreamExt as _;
use hookledger_domain::delivery::{AttemptOutcome, DeliveryClosed, DeliveryFact};
use hookledger_domain::ids::{DeliveryId, EventId, TenantId, WebhookId};
use hookledger_domain::ledger::reader::StreamKind;
use hookledger_projections::View;
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::{Application, Config, Roles};

/// What to measure.
#[derive(Debug, Clone)]
pub struct Settings {
    pub webhooks: usize,
    pub deliveries: usize,
    /// Requests per page.
    pub requests: usize,
}

pub async fn console(config: &Config, settings: &Settings) -> anyhow::Result<()> {
    let run = super::scratch::unique_id("benchc-");
    let database = run.replace('-', "_");
    let admin = config.postgres.url.clone();
    let mut bench = config.clone();
    bench.postgres.url = super::scratch::create_database(&admin, &database).await?;
    bench.nats.prefix = run.clone();
    bench.nats.events_subject = format!("{run}-events");
    bench.http.rate_limit_per_second = 0.0;
    bench.http.operator_token = format!("bench-operator-{run}");
    bench.dispatcher.allow_private_targets = true;
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
    let roles = Roles {
        api: true,
        projector: true,
        ..Roles::NONE
    };
    let app = Application::build(config, Some(listener), roles, shutdown.clone()).await?;
    let state = app.state().clone();
    let base = format!("http://{}", app.local_addr().context("listening")?);
    let server = tokio::spawn(app.run());
    let result = async {
        let http = reqwest::Client::new();
        let key = tenant(&http, &base, &token).await?;
        let started = Instant::now();
        let ids = webhooks(&http, &base, &key, settings.webhooks).await?;
        println!(
            "{} webhooks created through POST /v1/webhooks in {:.1} s",
            ids.len(),
            started.elapsed().as_secs_f64()
        );
        let started = Instant::now();
        let hot = record_deliveries(&state, &ids, settings.deliveries).await?;
        let head = state.nats.head(StreamKind::Deliveries).await?;
        state
            .projections
            .wait_for(View::Deliveries, head, Duration::from_secs(600))
            .await?;
        println!(
            "{} deliveries ({} facts) recorded and projected in {:.1} s",
            settings.deliveries,
            head,
            started.elapsed().as_secs_f64()
        );
        measure(&base, &key, &ids, &hot, settings.requests).await
    }
    .await;
    shutdown.cancel();
    server.await??;
    state.nats.delete_streams().await?;
    result
}

async fn tenant(http: &reqwest::Client, base: &str, token: &str) -> anyhow::Result<String> {
    let created: Value = http
        .post(format!("{base}/v1/admin/tenants"))
        .bearer_auth(token)
        .json(&json!({"id": "bench"}))
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    let key = created["apiKey"]["key"]
        .as_str()
        .context("a key")?
        .to_owned();
    http.post(format!("{base}/v1/event-types"))
        .header("x-api-key", &key)
        .json(&json!({"name": "lead.created"}))
        .send()
        .await?
        .error_for_status()?;
    Ok(key)
}

async fn webhooks(
    http: &reqwest::Client,
    base: &str,
    key: &str,
    n: usize,
) -> anyhow::Result<Vec<String>> {
    let created: Vec<anyhow::Result<String>> = futures::stream::iter(0..n)
        .map(|i| async move {
            let body = json!({"name": format!("webhook {i:04}"), "url": format!("http://127.0.0.1:9/hooks/{i}"), "events": ["lead.created"]});
            let out: Value = http
                .post(format!("{base}/v1/webhooks"))
                .header("x-api-key", key)
                .json(&body)
                .send()
                .await?
                .error_for_status()?
                .json()
                .await?;
            Ok(out["id"].as_str().context("an id")?.to_owned())
        })
        .buffered(16)
        .collect()
        .await;
    created.into_iter().collect()
}

/// Records the deliveries; the hot webhook's id and one of its delivery ids.
async fn record_deliveries(
    state: &crate::AppState,
    ids: &[String],
    n: usize,
) -> anyhow::Result<(String, String)> {
    let tenant = TenantId::parse("bench")?;
    let webhook_ids: Vec<WebhookId> = ids
        .iter()
        .map(|id| WebhookId::parse(id))
        .collect::<Result<_, _>>()?;
    let first = DeliveryId::new();
    let results: Vec<anyhow::Result<()>> = futures::stream::iter(0..n)
        .map(|i| {
            let webhook = if i % 2 == 0 {
                webhook_ids[0].clone()
            } else {
                webhook_ids[1 + i % (webhook_ids.len() - 1)].clone()
            };
            let delivery = if i == 0 {
                first.clone()
            } else {
                DeliveryId::new()
            };
            let (tenant, nats) = (tenant.clone(), state.nats.clone());
            async move {
                for fact in facts(&tenant, &webhook, delivery, (i / 2) % 10 != 9)? {
                    nats.record_fact(&fact, None).await?;
                }
                Ok(())
            }
        })
        .buffer_unordered(256)
        .collect()
        .await;
    for r in results {
        r?;
    }
    Ok((ids[0].clone(), first.to_string()))
}

fn facts(
    tenant: &TenantId,
    webhook: &WebhookId,
    delivery: DeliveryId,
    success: bool,
) -> anyhow::Result<[DeliveryFact; 2]> {
    let event_id = EventId::parse(&format!("evt-{delivery}"))?;
    let now = chrono::Utc::now();
    let attempt =
        super::synthetic_attempt((tenant, webhook, &delivery, &event_id), 1, now, success);
    let closed = DeliveryClosed {
        delivery_id: delivery,
        tenant: tenant.clone(),
        webhook_id: webhook.clone(),
        event_id,
        event_type: "lead.created".into(),
        attempts: 1,
        at: now,
        reason: (!success).then_some(AttemptOutcome::HttpError),
    };
    let end = if success {
        DeliveryFact::Succeeded(closed)
    } else {
        DeliveryFact::Failed(closed)
    };
    Ok([DeliveryFact::Attempted(attempt), end])
}

async fn measure(
    base: &str,
    key: &str,
    ids: &[String],
    hot: &(String, String),
    requests: usize,
) -> anyhow::Result<()> {
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()?;
    let signed_in = http
        .post(format!("{base}/console/sign-in"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!("key={key}"))
        .send()
        .await?;
    let cookie = signed_in
        .headers()
        .get("set-cookie")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .context("a session cookie")?
        .to_owned();
    let (hot, delivery) = hot;
    let typical = &ids[1];
    let as_of = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Micros, true);
    let last_page = ids.len().div_ceil(50);
    let pages = [
        (
            "webhook list, page 1 (50 rows + their stats)".to_owned(),
            "/console/webhooks".to_owned(),
        ),
        (
            format!("webhook list, page {last_page}"),
            format!("/console/webhooks?page={last_page}"),
        ),
        (
            "webhook list filtered by status".to_owned(),
            "/console/webhooks?status=active".to_owned(),
        ),
        (
            "webhook page (hot webhook)".to_owned(),
            format!("/console/webhooks/{hot}"),
        ),
        (
            "edit form".to_owned(),
            format!("/console/webhooks/{hot}/edit"),
        ),
        (
            "deliveries of the hot webhook, page 1".to_owned(),
            format!("/console/webhooks/{hot}/deliveries"),
        ),
        (
            "deliveries of the hot webhook, page 100".to_owned(),
            format!("/console/webhooks/{hot}/deliveries?page=100"),
        ),
        (
            "deliveries of the hot webhook, failed only".to_owned(),
            format!("/console/webhooks/{hot}/deliveries?status=failed"),
        ),
        (
            "deliveries of a typical webhook".to_owned(),
            format!("/console/webhooks/{typical}/deliveries"),
        ),
        (
            "one delivery with its attempts".to_owned(),
            format!("/console/webhooks/{hot}/deliveries/{delivery}"),
        ),
        (
            "history".to_owned(),
            format!("/console/webhooks/{hot}/history"),
        ),
        (
            "history as of now, with the diff".to_owned(),
            format!("/console/webhooks/{hot}/history?asOf={as_of}"),
        ),
        (
            "stats (tenant, every webhook's row summed)".to_owned(),
            "/console/stats".to_owned(),
        ),
        (
            "hot webhook over 24 h (hourly charts of 50,000 attempts)".to_owned(),
            format!("/console/webhooks/{hot}/stats"),
        ),
        (
            "hot webhook over 7 d (6-hour buckets)".to_owned(),
            format!("/console/webhooks/{hot}/stats?range=7d"),
        ),
        (
            "deliveries of one event".to_owned(),
            format!("/console/events/evt-{delivery}"),
        ),
        // The API on the same queries, for comparison.
        (
            "API: GET /v1/webhooks?limit=50".to_owned(),
            "/v1/webhooks?limit=50".to_owned(),
        ),
        (
            "API: GET /v1/webhooks/{hot}/deliveries?limit=50".to_owned(),
            format!("/v1/webhooks/{hot}/deliveries?limit=50"),
        ),
    ];
    println!(
        "{requests} sequential requests per page, signed-in session; ms from request to last byte:"
    );
    println!(
        "  {:<56} {:>7} {:>7} {:>7} {:>7} {:>8}",
        "page", "p50", "p95", "p99", "max", "bytes"
    );
    for (name, path) in pages {
        let mut times = Vec::with_capacity(requests);
        let mut bytes = 0;
        for _ in 0..requests {
            let started = Instant::now();
            let request = http.get(format!("{base}{path}"));
            let request = if path.starts_with("/v1/") {
                request.header("x-api-key", key)
            } else {
                request.header("cookie", &cookie)
            };
            let response = request.send().await?;
            let status = response.status();
            let body = response.bytes().await?;
            times.push(started.elapsed());
            if !status.is_success() {
                bail!("{path} answered {status}");
            }
            bytes = body.len();
        }
        times.sort();
        let q = |q: f64| {
            times[((times.len() as f64 - 1.0) * q).round() as usize].as_secs_f64() * 1000.0
        };
        println!(
            "  {name:<56} {:>7.2} {:>7.2} {:>7.2} {:>7.2} {bytes:>8}",
            q(0.5),
            q(0.95),
            q(0.99),
            q(1.0)
        );
    }
    Ok(())
}

//! `hookledger bench deployed`: delivery throughput of a running server, driven as a user
//! would drive it. The server (`scripts/bench deployed` starts one as `scripts/run` does, with
//! its projectors), the counting receiver (`hookledger bench receiver`) and this load process
//! are three processes; nats-server and PostgreSQL are two more.
//!
//! 1. Over the server's HTTP API: a tenant (operator token), the event type, and `fanout`
//!    webhooks pointing at the receiver.
//! 2. `events` events published on NATS (`<events_subject>.<tenant>.bench.event`, each with a
//!    `Nats-Msg-Id`), pipelined: 1,000 publishes in flight, then their acks.
//! 3. Until the receiver counted `events × fanout` more requests: every 100 ms, the receiver's
//!    count, the DELIVERIES stream's last sequence and the deliveries view's checkpoint (read
//!    from PostgreSQL). The view's lag at a sample is how long ago the stream first held the
//!    fact the view has reached: p50, p99 and max over the run, then how long after the last
//!    delivery the view held every fact.
//! 4. CPU seconds of every process named with `--pid NAME=PID[,PID…]` or `--pid NAME=@COMM`
//!    (every process whose command is COMM, looked up at the start and the end, so
//!    PostgreSQL's backends are summed, those that connected during the run too), from
//!    `/proc`, per delivery and as cores. A process that exited during the run is not counted.
//! 5. With `--nats-monitor`, nats-server's message and JetStream API counters (`/varz`,
//!    `/jsz`) per delivery, from before the first publish until the view caught up. They count
//!    the whole server, so anything else using it counts too.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use hookledger_domain::ledger::reader::StreamKind;
use hookledger_domain::ledger::{self, Names, Nats, Outgoing};
use serde_json::{Value, json};
use sqlx::PgPool;

use crate::Config;

/// What to run.
#[derive(Debug, Clone)]
pub struct Settings {
    /// The server's base URL (`http://127.0.0.1:8080`).
    pub against: String,
    /// The receiver's base URL.
    pub receiver: String,
    /// `http.operator_token` of the server.
    pub operator_token: String,
    pub events: usize,
    /// Webhooks per event.
    pub fanout: usize,
    /// Processes to account.
    pub pids: Vec<(String, Procs)>,
    /// nats-server's HTTP monitoring (`http://127.0.0.1:8222`): messages per delivery.
    pub nats_monitor: Option<String>,
}

/// The processes of one `--pid`.
#[derive(Debug, Clone)]
pub enum Procs {
    Pids(Vec<u32>),
    /// Every process whose `/proc/PID/comm` is this.
    Command(String),
}

impl Procs {
    fn pids(&self) -> Vec<u32> {
        match self {
            Procs::Pids(pids) => pids.clone(),
            Procs::Command(comm) => std::fs::read_dir("/proc")
                .into_iter()
                .flatten()
                .flatten()
                .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
                .filter(|pid| {
                    std::fs::read_to_string(format!("/proc/{pid}/comm"))
                        .is_ok_and(|c| c.trim_end() == comm)
                })
                .collect(),
        }
    }

    /// CPU seconds by pid, now.
    fn cpu(&self) -> BTreeMap<u32, f64> {
        self.pids()
            .into_iter()
            .map(|p| (p, cpu_seconds(p)))
            .collect()
    }
}

/// CPU used between two readings by the processes alive at the second.
fn cpu_used(before: &BTreeMap<u32, f64>, after: &BTreeMap<u32, f64>) -> f64 {
    (after.iter())
        .map(|(pid, cpu)| cpu - before.get(pid).copied().unwrap_or(0.0))
        .sum()
}

/// Parses `NAME=PID[,PID…]` or `NAME=@COMM`.
pub fn parse_pids(raw: &str) -> Result<(String, Procs), String> {
    let (name, pids) = (raw.split_once('=')).ok_or("expected NAME=PID[,PID…] or NAME=@COMM")?;
    if let Some(comm) = pids.strip_prefix('@') {
        return Ok((name.to_owned(), Procs::Command(comm.to_owned())));
    }
    let pids = (pids.split(',').filter(|p| !p.is_empty()))
        .map(|p| {
            p.trim()
                .parse::<u32>()
                .map_err(|e| format!("pid {p:?}: {e}"))
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok((name.to_owned(), Procs::Pids(pids)))
}

/// CPU seconds (user + system) a process has used; 0 when it is gone.
fn cpu_seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the command (which may hold spaces) start after the last ')'.
    let Some((_, rest)) = stat.rsplit_once(')') else {
        return 0.0;
    };
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|f| f.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    // utime and stime are fields 14 and 15 of stat; 12 and 13 after the command.
    (ticks(11) + ticks(12)) / 100.0
}

/// nats-server's own counters (`/varz`, `/jsz`), for the whole server.
struct NatsTraffic {
    in_msgs: u64,
    out_msgs: u64,
    in_bytes: u64,
    out_bytes: u64,
    api_calls: u64,
}

impl NatsTraffic {
    async fn read(http: &reqwest::Client, monitor: &str) -> anyhow::Result<Self> {
        let get = |path: &'static str| async move {
            let url = format!("{}{path}", monitor.trim_end_matches('/'));
            let response = (http.get(&url).send().await).with_context(|| format!("GET {url}"))?;
            let body: Value = (response.error_for_status()?.json().await)
                .with_context(|| format!("GET {url}: not JSON"))?;
            anyhow::Ok(body)
        };
        let (varz, jsz) = (get("/varz").await?, get("/jsz").await?);
        let field = |v: &Value, name: &str| {
            v.pointer(name)
                .and_then(Value::as_u64)
                .with_context(|| format!("nats-server monitoring: no {name}"))
        };
        Ok(Self {
            in_msgs: field(&varz, "/in_msgs")?,
            out_msgs: field(&varz, "/out_msgs")?,
            in_bytes: field(&varz, "/in_bytes")?,
            out_bytes: field(&varz, "/out_bytes")?,
            api_calls: field(&jsz, "/api/total")?,
        })
    }
}

/// One sample of the run.
struct Sample {
    at: Instant,
    received: u64,
    stream_last: u64,
    checkpoint: u64,
}

struct Load {
    http: reqwest::Client,
    settings: Settings,
}

impl Load {
    async fn post(&self, path: &str, key: &str, body: Value) -> anyhow::Result<Value> {
        let url = format!("{}{path}", self.settings.against);
        let request = self.http.post(&url).json(&body).header("x-api-key", key);
        let response = request
            .send()
            .await
            .with_context(|| format!("POST {url}"))?;
        let status = response.status();
        let body: Value = response.json().await.unwrap_or(Value::Null);
        if !status.is_success() {
            bail!("POST {url}: {status}: {body}");
        }
        Ok(body)
    }

    async fn received(&self) -> anyhow::Result<u64> {
        let url = format!("{}/count", self.settings.receiver);
        let body: Value = self.http.get(&url).send().await?.json().await?;
        body["total"].as_u64().context("the receiver's count")
    }
}

/// Runs one scenario and prints its figures.
pub async fn deployed(config: &Config, settings: Settings) -> anyhow::Result<()> {
    let load = Load {
        http: reqwest::Client::new(),
        settings,
    };
    let s = &load.settings;
    let tenant = format!(
        "bench-{}",
        uuid::Uuid::now_v7().simple().to_string()[20..].to_owned()
    );
    let key = crate::bench::tenant_over_http(
        &load.http,
        &s.against,
        &s.operator_token,
        &tenant,
        "bench.event",
    )
    .await?;
    for i in 0..s.fanout {
        let url = format!("{}/w{i}", s.receiver);
        let body = json!({"name": format!("bench {i}"), "url": url, "events": ["bench.event"]});
        load.post("/v1/webhooks", &key, body).await?;
    }

    let names = Names::new(&config.nats.prefix, &config.nats.events_subject)?;
    let wait = Duration::from_secs(config.nats.connect_timeout_seconds);
    let nats = ledger::connect(&config.nats.url, names, wait).await?;
    let pool = PgPool::connect(&config.postgres.url).await?;
    let before_received = load.received().await?;
    let traffic_before = match &s.nats_monitor {
        Some(url) => Some(NatsTraffic::read(&load.http, url).await?),
        None => None,
    };
    let expected = (s.events * s.fanout) as u64;
    let cpu_before: Vec<_> = s.pids.iter().map(|(_, p)| p.cpu()).collect();
    let own_before = cpu_seconds(std::process::id());
    let started = Instant::now();

    let publisher = publish(&nats, &config.nats.events_subject, &tenant, s.events);
    let mut samples = Vec::new();
    let sampling = async {
        loop {
            let sample = sample(&load, &nats, &pool, before_received).await?;
            let done = sample.received >= expected;
            samples.push(sample);
            if done {
                return anyhow::Ok(());
            }
            if started.elapsed() > Duration::from_secs(600) {
                bail!("not every delivery arrived within 10 minutes");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    };
    let (published, sampled) = tokio::join!(publisher, sampling);
    let publish_seconds = published?;
    sampled?;
    let elapsed = samples.last().map_or(started, |s| s.at) - started;
    let cpu_after: Vec<_> = s.pids.iter().map(|(_, p)| p.cpu()).collect();
    let own = cpu_seconds(std::process::id()) - own_before;

    // After the run: until the view holds every fact (the stream's last sequence, stable).
    let run_end = Instant::now();
    let caught_up = loop {
        let a = sample(&load, &nats, &pool, before_received).await?;
        if a.checkpoint >= a.stream_last {
            tokio::time::sleep(Duration::from_millis(300)).await;
            let b = sample(&load, &nats, &pool, before_received).await?;
            if b.stream_last == a.stream_last && b.checkpoint >= b.stream_last {
                break a.at - run_end;
            }
        }
        if run_end.elapsed() > Duration::from_secs(300) {
            bail!("the deliveries view did not catch up within 5 minutes");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    pool.close().await;

    let deliveries = expected as f64;
    let seconds = elapsed.as_secs_f64();
    println!(
        "deployed delivery, {} events x {} webhooks: {:.0} deliveries/s ({expected} in {seconds:.2} s; published in {publish_seconds:.2} s)",
        s.events,
        s.fanout,
        deliveries / seconds
    );
    let mut total = 0.0;
    let mut by_name = BTreeMap::new();
    for (i, (name, _)) in s.pids.iter().enumerate() {
        let used = cpu_used(&cpu_before[i], &cpu_after[i]);
        total += used;
        by_name.insert(name.clone(), used);
    }
    for (name, used) in &by_name {
        println!(
            "  cpu {name:<12} {:>6.2} cores  {:>7.3} ms/delivery",
            used / seconds,
            used * 1000.0 / deliveries
        );
    }
    println!(
        "  cpu {:<12} {:>6.2} cores  {:>7.3} ms/delivery  (the load process, not in the total)",
        "load",
        own / seconds,
        own * 1000.0 / deliveries
    );
    println!(
        "  cpu {:<12} {:>6.2} cores  {:>7.3} ms/delivery",
        "total",
        total / seconds,
        total * 1000.0 / deliveries
    );
    // The counting receiver does the same few things for every delivery on every machine, so
    // its CPU per delivery gauges the machine's speed at the time of the run: costs in its
    // units compare across machines and across a machine's slow and fast hours.
    if let Some(&receiver) = by_name.get("receiver").filter(|r| **r > 0.0) {
        let units: Vec<String> = (by_name.iter())
            .filter(|(name, _)| name.as_str() != "receiver")
            .map(|(name, used)| format!("{name} {:.2}", used / receiver))
            .collect();
        println!(
            "  cpu per delivery in receivers: {}, total {:.2} (the receiver's {:.3} ms = 1)",
            units.join(", "),
            total / receiver,
            receiver * 1000.0 / deliveries
        );
    }
    if let (Some(url), Some(before)) = (&s.nats_monitor, traffic_before) {
        let after = NatsTraffic::read(&load.http, url).await?;
        let per = |a: u64, b: u64| a.saturating_sub(b) as f64 / deliveries;
        println!(
            "  nats-server per delivery: {:.2} messages in, {:.2} out ({:.0} and {:.0} bytes), {:.4} JetStream API calls (server-wide counts, start to caught up)",
            per(after.in_msgs, before.in_msgs),
            per(after.out_msgs, before.out_msgs),
            per(after.in_bytes, before.in_bytes),
            per(after.out_bytes, before.out_bytes),
            per(after.api_calls, before.api_calls),
        );
    }
    let lags = view_lags(&samples);
    println!(
        "  deliveries view behind the facts during the run: p50 {} ms, p99 {} ms, max {} ms; every fact in the view {} ms after the last delivery",
        percentile(&lags, 0.50),
        percentile(&lags, 0.99),
        lags.iter().max().copied().unwrap_or(0),
        caught_up.as_millis()
    );
    Ok(())
}

/// Deletes the streams of the configured prefix (the server of the run is stopped).
pub async fn delete_streams(config: &Config) -> anyhow::Result<()> {
    let names = Names::new(&config.nats.prefix, &config.nats.events_subject)?;
    let wait = Duration::from_secs(config.nats.connect_timeout_seconds);
    let nats = ledger::connect(&config.nats.url, names, wait).await?;
    Ok(nats.delete_streams().await?)
}

/// Publishes `events` events, 1,000 in flight at most; answers the seconds it took.
async fn publish(nats: &Nats, root: &str, tenant: &str, events: usize) -> anyhow::Result<f64> {
    let started = Instant::now();
    let subject = format!("{root}.{tenant}.bench.event");
    let mut pending = Vec::with_capacity(1000);
    for i in 0..events {
        let message = Outgoing {
            subject: subject.clone(),
            msg_id: format!("{tenant}-{i}"),
            headers: Vec::new(),
            payload: format!(r#"{{"i":{i}}}"#).into(),
            schedule: None,
        };
        pending.push(nats.send(message).await?);
        if pending.len() >= 1000 {
            for ack in pending.drain(..) {
                ack.wait().await?;
            }
        }
    }
    for ack in pending {
        ack.wait().await?;
    }
    Ok(started.elapsed().as_secs_f64())
}

async fn sample(load: &Load, nats: &Nats, pool: &PgPool, base: u64) -> anyhow::Result<Sample> {
    let received = load.received().await? - base;
    let stream_last = nats.head(StreamKind::Deliveries).await?;
    let checkpoint: Option<i64> =
        sqlx::query_scalar("SELECT sequence FROM projection_checkpoints WHERE view = 'deliveries'")
            .fetch_optional(pool)
            .await?;
    Ok(Sample {
        at: Instant::now(),
        received,
        stream_last,
        checkpoint: checkpoint.map_or(0, |c| u64::try_from(c).unwrap_or(0)),
    })
}

/// At each sample: how long ago the stream first held the view's checkpoint (ms).
fn view_lags(samples: &[Sample]) -> Vec<u64> {
    let mut lags: Vec<u64> = samples
        .iter()
        .map(|s| {
            let first = samples.iter().find(|t| t.stream_last >= s.checkpoint);
            first.map_or(0, |t| {
                u64::try_from(s.at.saturating_duration_since(t.at).as_millis()).unwrap_or(0)
            })
        })
        .collect();
    lags.sort_unstable();
    lags
}

fn percentile(sorted: &[u64], q: f64) -> u64 {
    if sorted.is_empty() {
        return 0;
    }
    let i = ((sorted.len() as f64 * q).ceil() as usize).clamp(1, sorted.len()) - 1;
    sorted[i]
}

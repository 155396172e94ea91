//! `hookledger bench audit`: export and verify rates over a ledger of 1,000,000 events, and
//! `--as-of` latency (view and fold) on a webhook with 10,000 versions.
//!
//! Everything runs under a throw-away NATS prefix (`bencha-<id>`, streams deleted afterwards)
//! and a fresh PostgreSQL database (dropped afterwards).
//!
//! 1. **Write**: N webhook messages (one event each) published straight onto the ledger
//!    stream, pipelined (thousands of publishes awaiting their acks), each chained to its
//!    webhook's previous message as the store does. W webhooks over T tenants get creates, then
//!    renames (70 %) and pauses/resumes; one webhook gets V versions (a create and V-1 renames)
//!    spread evenly over the whole stream, so its subject is sparse. Commands do not go
//!    through `Ledger::execute` (one round trip each): this is a fixture, not a measure.
//! 2. **Export**: `hookledger audit export --out /dev/null` in a child process (this binary),
//!    over the first tenth of the ledger (`--until`) and over all of it; wall time, records/s,
//!    and the child's peak RSS (VmHWM, sampled from /proc every 10 ms), to show memory flat.
//! 3. **Verify**: `hookledger audit verify --json` in a child process; its rate and peak RSS.
//! 4. **Fold**: `audit show`'s fold of the big webhook at random instants and at the end.
//! 5. **View**: a rebuild of the ledger views (timed), then `history::as_of` at random
//!    instants; every fold sample is also checked against the view.

use std::collections::VecDeque;
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use chrono::{DateTime, SubsecRound, Utc};
use hookledger_domain::ids::{TenantId, WebhookId};
use hookledger_domain::ledger::chain::hash;
use hookledger_domain::ledger::reader::StreamKind;
use hookledger_domain::ledger::{LedgerRecord, Nats, Outgoing, PendingAck, RecordedEvent};
use hookledger_domain::secrets::{Keyring, SigningSecret};
use hookledger_domain::webhook::values::{EventPattern, TargetUrl, WebhookName, WebhookSpec};
use hookledger_domain::webhook::{WebhookCreated, WebhookEvent, WebhookStatus, WebhookUpdated};
use hookledger_projections::View;
use sqlx::postgres::PgPoolOptions;

use crate::Config;
use crate::bench::percentiles;
use crate::cli::audit::show::{AsOf, as_of};

/// What `hookledger bench audit` runs.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Ledger messages (one event each).
    pub events: usize,
    /// Versions of the big webhook.
    pub versions: usize,
    pub webhooks: usize,
    pub tenants: usize,
    /// Publishes awaiting their ack at most.
    pub window: usize,
    /// `--as-of` samples per method.
    pub samples: usize,
}

/// Runs the audit benchmark (see the module docs).
pub async fn audit(config: &Config, settings: &Settings) -> anyhow::Result<()> {
    super::scratch::with_share(config, "bencha-", |nats, prefix, url| async move {
        run(config, &nats, &prefix, &url, settings).await
    })
    .await
}

/// One webhook being written.
struct Hook {
    tenant: TenantId,
    id: WebhookId,
    spec: WebhookSpec,
    paused: bool,
    versions: usize,
    last_hash: Option<String>,
}

impl Hook {
    fn new(tenant: TenantId, name: &str) -> anyhow::Result<Self> {
        let spec = WebhookSpec::new(
            WebhookName::parse(name, &Default::default()).map_err(anyhow::Error::msg)?,
            TargetUrl::parse("https://bench.example.com/hook", false)
                .map_err(anyhow::Error::msg)?,
            vec![EventPattern::parse("lead.*").map_err(anyhow::Error::msg)?],
        );
        Ok(Self {
            tenant,
            id: WebhookId::new(),
            spec,
            paused: false,
            versions: 0,
            last_hash: None,
        })
    }

    /// The next event of this webhook: a create first, then renames, pauses and resumes.
    fn next_event(
        &mut self,
        keyring: &Keyring,
        n: usize,
        rename: bool,
    ) -> anyhow::Result<WebhookEvent> {
        self.versions += 1;
        if self.versions == 1 {
            let secret = SigningSecret::generate(&ring::rand::SystemRandom::new());
            let aad = hookledger_domain::webhook::secret_aad(&self.tenant, &self.id);
            return Ok(WebhookEvent::Created(WebhookCreated {
                tenant: self.tenant.clone(),
                id: self.id.clone(),
                spec: self.spec.clone(),
                secret: keyring.seal(&secret, &aad),
                status: WebhookStatus::Active,
            }));
        }
        if rename {
            self.spec.name = WebhookName::parse(&format!("renamed {n}"), &Default::default())
                .map_err(anyhow::Error::msg)?;
            return Ok(WebhookEvent::Updated(WebhookUpdated {
                spec: self.spec.clone(),
                changed: vec!["name".into()],
            }));
        }
        self.paused = !self.paused;
        Ok(if self.paused {
            WebhookEvent::Paused {
                reason: Some("bench".into()),
            }
        } else {
            WebhookEvent::Resumed {
                from: WebhookStatus::Paused,
            }
        })
    }

    /// The ledger message of `event`, chained to this webhook's previous one.
    fn message(&mut self, nats: &Nats, event: &WebhookEvent) -> anyhow::Result<Outgoing> {
        let aggregate_id = format!("{}.{}", self.tenant, self.id);
        let command_id = uuid::Uuid::now_v7().simple().to_string();
        let record = LedgerRecord {
            command_id: command_id.clone(),
            actor: "bench".into(),
            occurred_at: Utc::now(),
            correlation_id: None,
            aggregate_type: "webhook".into(),
            aggregate_id: aggregate_id.clone(),
            prev_hash: self.last_hash.take(),
            events: vec![RecordedEvent::from_event(event)?],
        };
        let payload = serde_json::to_vec(&record)?;
        self.last_hash = Some(hash(&payload));
        Ok(Outgoing {
            subject: nats.names().aggregate_subject("webhook", &aggregate_id)?,
            msg_id: command_id,
            headers: Vec::new(),
            payload: payload.into(),
            schedule: None,
        })
    }
}

/// What the write phase left for the measurements.
struct Written {
    big: (TenantId, WebhookId),
    started: DateTime<Utc>,
    /// When a tenth of the messages had been sent.
    tenth: DateTime<Utc>,
    ended: DateTime<Utc>,
}

async fn write(nats: &Nats, s: &Settings) -> anyhow::Result<Written> {
    let keyring = Keyring::for_tests();
    let tenants: Vec<TenantId> = (0..s.tenants.max(1))
        .map(|t| TenantId::parse(&format!("bench-{t}")))
        .collect::<Result<_, _>>()?;
    let mut hooks: Vec<Hook> = (0..s.webhooks.max(1))
        .map(|w| Hook::new(tenants[w % tenants.len()].clone(), &format!("hook {w}")))
        .collect::<anyhow::Result<_>>()?;
    let mut big = Hook::new(tenants[0].clone(), "the big one")?;
    let every = (s.events / s.versions.max(1)).max(1);
    let mut rng = 0x9E37_79B9_7F4A_7C15_u64;
    let mut pending: VecDeque<PendingAck> = VecDeque::with_capacity(s.window);
    let started = Utc::now();
    let mut tenth = started;
    let clock = Instant::now();
    for n in 0..s.events {
        if n == s.events / 10 {
            tenth = Utc::now();
        }
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        let rename = rng % 10 < 7;
        let which = if n % every == 0 && big.versions < s.versions {
            None
        } else if n < s.webhooks {
            Some(n)
        } else {
            Some((rng >> 8) as usize % hooks.len())
        };
        let hook = match which {
            None => &mut big,
            Some(i) => &mut hooks[i],
        };
        let event = hook.next_event(&keyring, n, rename || which.is_none())?;
        let message = hook.message(nats, &event)?;
        if pending.len() >= s.window
            && let Some(ack) = pending.pop_front()
        {
            ack.wait().await?;
        }
        pending.push_back(nats.send(message).await?);
    }
    for ack in pending {
        ack.wait().await?;
    }
    let seconds = clock.elapsed().as_secs_f64();
    println!(
        "write: {} messages in {seconds:.1} s ({:.0}/s, {} publishes in flight); big webhook {} has {} versions",
        s.events,
        s.events as f64 / seconds,
        s.window,
        big.id,
        big.versions
    );
    Ok(Written {
        big: (big.tenant, big.id),
        started,
        tenth,
        ended: Utc::now(),
    })
}

/// Runs this binary with `args` on the bench's prefix; answers (stdout, stderr, wall
/// seconds, peak RSS in MiB).
async fn child(
    config: &Config,
    prefix: &str,
    args: &[&str],
) -> anyhow::Result<(String, String, f64, f64)> {
    let exe = std::env::current_exe().context("the path of this binary")?;
    let started = Instant::now();
    let mut child = tokio::process::Command::new(exe)
        .args(args)
        .env("HOOKLEDGER_NATS__URL", &config.nats.url)
        .env("HOOKLEDGER_NATS__PREFIX", prefix)
        .env(
            "HOOKLEDGER_NATS__EVENTS_SUBJECT",
            format!("{prefix}-events"),
        )
        .env("HOOKLEDGER_LOG__FILTER", "warn")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .context("starting hookledger")?;
    let pid = child.id().context("the child's pid")?;
    let status_path = format!("/proc/{pid}/status");
    let (out, err) = (child.stdout.take(), child.stderr.take());
    let outputs = tokio::spawn(async move { (read_all(out).await, read_all(err).await) });
    let mut peak_kib = 0.0_f64;
    let mut tick = tokio::time::interval(Duration::from_millis(10));
    let status = loop {
        tokio::select! {
            status = child.wait() => break status?,
            _ = tick.tick() => {
                let text = std::fs::read_to_string(&status_path).unwrap_or_default();
                let hwm = text
                    .lines()
                    .find_map(|l| l.strip_prefix("VmHWM:"))
                    .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok());
                peak_kib = peak_kib.max(hwm.unwrap_or(0.0));
            }
        }
    };
    let seconds = started.elapsed().as_secs_f64();
    let (stdout, stderr) = outputs.await?;
    let (stdout, stderr) = (stdout?, stderr?);
    anyhow::ensure!(status.success(), "hookledger {args:?} failed: {stderr}");
    Ok((stdout, stderr, seconds, peak_kib / 1024.0))
}

/// Everything a child's pipe gives until it closes.
async fn read_all(pipe: Option<impl tokio::io::AsyncRead + Unpin>) -> std::io::Result<String> {
    let mut text = String::new();
    if let Some(mut pipe) = pipe {
        tokio::io::AsyncReadExt::read_to_string(&mut pipe, &mut text).await?;
    }
    Ok(text)
}

async fn run(
    config: &Config,
    nats: &Nats,
    prefix: &str,
    database_url: &str,
    s: &Settings,
) -> anyhow::Result<()> {
    let w = write(nats, s).await?;
    let head = nats.head(StreamKind::Ledger).await?;

    let until = w.tenth.to_rfc3339();
    for (what, args) in [
        (
            "first tenth",
            vec!["audit", "export", "--out", "/dev/null", "--until", &until],
        ),
        (
            "whole ledger",
            vec!["audit", "export", "--out", "/dev/null"],
        ),
    ] {
        let (_, stderr, seconds, rss) = child(config, prefix, &args).await?;
        let records: f64 = stderr
            .split_whitespace()
            .nth(1)
            .and_then(|n| n.parse().ok())
            .unwrap_or(0.0);
        println!(
            "export ({what}): {records} records in {seconds:.2} s ({:.0} events/s, process wall time); peak RSS {rss:.1} MiB",
            records / seconds
        );
    }
    let (stdout, _, seconds, rss) = child(config, prefix, &["audit", "verify", "--json"]).await?;
    let summary: serde_json::Value = serde_json::from_str(&stdout)?;
    let messages = summary["messages"].as_f64().unwrap_or(0.0);
    println!(
        "verify: {messages} messages of {} aggregates in {seconds:.2} s ({:.0} events/s, process wall time; {:.2} s inside); peak RSS {rss:.1} MiB",
        summary["aggregates"],
        messages / seconds,
        summary["seconds"].as_f64().unwrap_or(0.0)
    );

    let (tenant, id) = &w.big;
    let span = (w.ended - w.started).num_microseconds().unwrap_or(1).max(1) as u64;
    let mut rng = 0x2545_F491_4F6C_DD1D_u64;
    let mut instants: Vec<DateTime<Utc>> = (0..s.samples)
        .map(|_| {
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            w.started + chrono::Duration::microseconds((rng % span) as i64)
        })
        .collect();
    instants.push(w.ended);
    let mut fold = Vec::new();
    let mut folded = Vec::new();
    for &at in &instants {
        let clock = Instant::now();
        let found = as_of(nats, id, Some(tenant), at).await?;
        fold.push(clock.elapsed());
        folded.push((at, found));
    }
    let latest = fold.pop().unwrap_or_default();
    println!(
        "as-of, fold of the webhook's subject ({} versions, {head} messages in the stream): random instants {}; at the end (all versions) {:.2} ms",
        s.versions,
        percentiles(&mut fold),
        latest.as_secs_f64() * 1000.0
    );

    let pool = PgPoolOptions::new()
        .max_connections(4)
        .connect(database_url)
        .await?;
    hookledger_projections::migrate(&pool).await?;
    let clock = Instant::now();
    let report =
        hookledger_projections::rebuild::rebuild(nats, &pool, &[View::Ledger], |_, _| {}).await?;
    let seconds = clock.elapsed().as_secs_f64();
    let rebuilt: u64 = report.views.iter().map(|v| v.messages).sum();
    println!(
        "rebuild of the ledger views (for the view figures): {rebuilt} messages in {seconds:.1} s ({:.0}/s)",
        rebuilt as f64 / seconds
    );
    let mut view = Vec::new();
    let mut mismatches = 0;
    for (at, found) in &folded {
        let at = at.trunc_subsecs(6);
        let clock = Instant::now();
        let row =
            hookledger_projections::history::as_of(&pool, tenant.as_str(), id.as_str(), at).await?;
        view.push(clock.elapsed());
        let same = match (found, &row) {
            (AsOf::Existed(a), Some(b)) => **a == *b,
            (AsOf::Existed(_), None) | (_, Some(_)) => false,
            (_, None) => true,
        };
        mismatches += usize::from(!same);
    }
    let first = if view.is_empty() {
        Duration::ZERO
    } else {
        view.remove(0)
    };
    println!(
        "as-of, webhook_history view (one indexed query): first (cold) {:.2} ms, then {}; fold and view disagree at {mismatches} of {} instants",
        first.as_secs_f64() * 1000.0,
        percentiles(&mut view),
        folded.len()
    );
    pool.close().await;
    Ok(())
}

//! Start-up: connect (bounded waits, clear errors), create streams, migrate, open the ledgers,
//! start the projectors, the router and the dispatcher (per role).

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use hookledger_domain::ledger::{self, Ledger, Names, Nats, StreamSettings};
use hookledger_domain::webhook::WebhookServices;
use sqlx::PgPool;
use sqlx::postgres::PgPoolOptions;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::{AppState, Config, Roles};

/// Connects to NATS (bounded wait) and creates or updates the streams.
pub async fn connect_nats(config: &Config) -> anyhow::Result<Nats> {
    let names = Names::new(&config.nats.prefix, &config.nats.events_subject)?;
    let wait = Duration::from_secs(config.nats.connect_timeout_seconds);
    tracing::info!(url = %config.nats.url, prefix = %config.nats.prefix, "connecting to NATS");
    let nats = ledger::connect(&config.nats.url, names, wait).await?;
    let settings = StreamSettings {
        replicas: config.nats.replicas,
        ledger_duplicate_window: Duration::from_secs(config.nats.ledger_duplicate_window_seconds),
        events_max_age: Duration::from_secs(config.nats.events_max_age_days * 24 * 3600),
        events_duplicate_window: Duration::from_secs(config.nats.events_duplicate_window_seconds),
        deliveries_max_age: Duration::ZERO,
    };
    ledger::ensure_streams(&nats, &settings).await?;
    Ok(nats)
}

/// Connects to PostgreSQL, retrying with backoff for `postgres.connect_timeout_seconds`.
pub async fn connect_postgres(config: &Config) -> anyhow::Result<PgPool> {
    let wait = Duration::from_secs(config.postgres.connect_timeout_seconds);
    let deadline = Instant::now() + wait;
    let mut backoff = Duration::from_millis(100);
    let url = redact(&config.postgres.url);
    loop {
        let attempt = PgPoolOptions::new()
            .max_connections(config.postgres.max_connections)
            .acquire_timeout(Duration::from_secs(5))
            .connect(&config.postgres.url)
            .await;
        match attempt {
            Ok(pool) => return Ok(pool),
            Err(err) if Instant::now() + backoff < deadline => {
                tracing::warn!(%url, error = %err, "PostgreSQL is not reachable yet; retrying");
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(2));
            }
            Err(err) => anyhow::bail!(
                "PostgreSQL at {url} did not answer within {}s: {err}",
                wait.as_secs()
            ),
        }
    }
}

/// Connects both, migrates and opens everything the roles need.
pub async fn start(
    config: Config,
    roles: Roles,
    shutdown: &CancellationToken,
    tracker: &TaskTracker,
) -> anyhow::Result<AppState> {
    let keyring = Arc::new(config.keyring()?);
    let nats = connect_nats(&config).await?;
    let pool = connect_postgres(&config).await?;
    hookledger_projections::migrate(&pool)
        .await
        .context("migrating the database")?;
    let webhooks = Ledger::open(
        &nats,
        WebhookServices {
            keyring: keyring.clone(),
        },
    )
    .await?;
    let tenants = Ledger::open(&nats, ()).await?;
    let catalogs = Ledger::open(&nats, ()).await?;
    let projections = if roles.projector {
        hookledger_projections::spawn(nats.clone(), pool.clone(), shutdown.clone(), tracker)
    } else {
        hookledger_projections::Projections::remote(pool.clone())
    };
    let limits = Arc::new(config.limits());
    let webhooks = Arc::new(webhooks);
    let dispatcher = hookledger_dispatcher::Dispatcher::new(
        nats.clone(),
        webhooks.clone(),
        keyring.clone(),
        config.dispatcher.settings(),
    )
    .await
    .context("starting the dispatcher")?;
    if roles.dispatcher {
        dispatcher.check_worker()?;
        raise_open_files(config.dispatcher.concurrency);
        dispatcher.spawn_worker(shutdown.clone(), tracker);
    }
    if roles.router {
        dispatcher.spawn_router(shutdown.clone(), tracker);
    }
    Ok(AppState {
        config: Arc::new(config),
        nats,
        pool,
        webhooks,
        dispatcher,
        tenants: Arc::new(tenants),
        catalogs: Arc::new(catalogs),
        keyring,
        projections,
        limits,
        dialect_numbers: Arc::default(),
    })
}

/// Raises this process's open-files limit to what `concurrency` attempts in flight (each a
/// socket) and the rest of the process need, as far as the hard limit allows; warns when it
/// does not.
fn raise_open_files(concurrency: usize) {
    let wanted = u64::try_from(concurrency)
        .unwrap_or(u64::MAX)
        .saturating_add(1024);
    match rlimit::increase_nofile_limit(wanted) {
        Ok(got) if got >= wanted => tracing::debug!(open_files = got, "open-files limit"),
        Ok(got) => tracing::warn!(
            open_files = got,
            wanted,
            "the open-files limit is below dispatcher.concurrency + 1024; attempts beyond it \
             fail to connect (raise `ulimit -n` or lower dispatcher.concurrency)"
        ),
        Err(error) => tracing::warn!(%error, "cannot read or raise the open-files limit"),
    }
}

/// A database URL without its password, for logs.
pub fn redact(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut u) if u.password().is_some() => {
            let _ = u.set_password(Some("***"));
            u.to_string()
        }
        _ => url.to_owned(),
    }
}

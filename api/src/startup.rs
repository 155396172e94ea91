//! Start-up: connect (bounded waits, clear errors), create streams, migrate, open the ledgers,
//! start the projectors, the router and the dispatcher (per role). What can fail is a
//! [`StartupError`] naming the dependency.

use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use hookledger_dispatcher::DispatchError;
use hookledger_domain::deadline::{TimedOut, with_deadline};
use hookledger_domain::ledger::reader::StreamKind;
use hookledger_domain::ledger::{self, Ledger, LedgerError, Names, Nats, StreamSettings};
use hookledger_domain::webhook::WebhookServices;
use hookledger_projections::ProjectionError;
use sqlx::PgPool;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::config::ConfigError;
use crate::{AppState, Config, Roles};

/// Why the process could not start: which dependency failed, with its error as the source.
///
/// The CLI prints the message as one line (`error: …`) and exits with
/// [`StartupError::exit_code`]. Each message already holds its cause's text (the dependency's
/// own message where that names it, `NATS at … did not answer within …`, or a prefix that
/// does), so the message alone is the line.
#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    /// The configuration cannot be loaded or does not hold (file, environment, master keys).
    #[error("{0}")]
    Config(#[from] ConfigError),
    /// `http.listen` cannot be bound.
    #[error("cannot listen on {addr} (http.listen): {source}")]
    Listen {
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
    /// `nats.prefix` / `nats.events_subject` do not make valid names.
    #[error("{0}")]
    Names(#[source] LedgerError),
    /// NATS did not answer within `nats.connect_timeout_seconds`, is older than 2.10 or runs
    /// without JetStream.
    #[error("{0}")]
    Nats(#[source] LedgerError),
    /// The streams cannot be created or updated (e.g. settings a stream cannot change to).
    #[error("{0}")]
    Streams(#[source] LedgerError),
    /// PostgreSQL did not answer within `postgres.connect_timeout_seconds`.
    #[error("{0}")]
    Postgres(#[source] TimedOut<sqlx::Error>),
    /// The schema migrations failed.
    #[error("migrating the database: {0}")]
    Migrations(#[source] ProjectionError),
    /// A stream whose retention is being shortened could not be archived first.
    #[error("archiving before a retention is shortened: {0}")]
    Archive(#[source] ProjectionError),
    /// A ledger (webhooks, tenants, catalogs) cannot be opened on NATS.
    #[error("{0}")]
    Ledger(#[source] LedgerError),
    /// The dispatcher cannot be built (its HTTP client, its notifier).
    #[error("starting the dispatcher: {0}")]
    Dispatcher(#[source] DispatchError),
    /// This NATS server cannot run the dispatcher role (no scheduled messages).
    #[error("{0}")]
    Worker(#[source] DispatchError),
    /// The projectors' thread cannot be started.
    #[error("starting the projectors' thread: {0}")]
    Thread(#[source] std::io::Error),
}

impl StartupError {
    /// The process's exit code: 1 for every dependency (what scripts and
    /// `tests/it/process.rs` expect of a process that cannot start).
    pub fn exit_code(&self) -> ExitCode {
        ExitCode::FAILURE
    }
}

/// Connects to NATS (bounded wait) and creates or updates the streams.
pub async fn connect_nats(config: &Config) -> Result<Nats, StartupError> {
    let names = Names::new(&config.nats.prefix, &config.nats.events_subject)
        .map_err(StartupError::Names)?;
    let wait = Duration::from_secs(config.nats.connect_timeout_seconds);
    tracing::info!(url = %config.nats.url, prefix = %config.nats.prefix, "connecting to NATS");
    let nats = ledger::connect(&config.nats.url, names, wait)
        .await
        .map_err(StartupError::Nats)?;
    let settings = StreamSettings {
        replicas: config.nats.replicas,
        ledger_duplicate_window: Duration::from_secs(config.nats.ledger_duplicate_window_seconds),
        events_max_age: Duration::from_secs(config.nats.events_max_age_days * 24 * 3600),
        events_duplicate_window: Duration::from_secs(config.nats.events_duplicate_window_seconds),
        deliveries_max_age: Duration::from_secs(config.nats.deliveries_max_age_days * 24 * 3600),
    };
    archive_before_dropping(config, &nats, &settings).await?;
    ledger::ensure_streams(&nats, &settings)
        .await
        .map_err(StartupError::Streams)?;
    Ok(nats)
}

/// The archive copies only streams with a retention ([`crate::config::NatsConfig::archived_streams`]),
/// so a retention that is introduced or shortened would let JetStream drop, at the stream
/// update, messages no archiver has copied. Before that update, whatever process makes it
/// copies such a stream to its head.
async fn archive_before_dropping(
    config: &Config,
    nats: &Nats,
    settings: &StreamSettings,
) -> Result<(), StartupError> {
    let mut dropping = Vec::new();
    for kind in config.nats.archived_streams() {
        let wanted = match kind {
            StreamKind::Events => settings.events_max_age,
            _ => settings.deliveries_max_age,
        };
        let current = nats.max_age(kind).await.map_err(StartupError::Streams)?;
        if current.is_some_and(|now| now.is_zero() || now > wanted) {
            dropping.push(kind);
        }
    }
    if dropping.is_empty() {
        return Ok(());
    }
    let pool = connect_postgres(config).await?;
    hookledger_projections::migrate(&pool)
        .await
        .map_err(StartupError::Migrations)?;
    for kind in dropping {
        let copied = hookledger_projections::events_archive::archive_to_head(nats, &pool, kind)
            .await
            .map_err(StartupError::Archive)?;
        tracing::info!(stream = ?kind, copied, "archived before the stream's retention is shortened");
    }
    Ok(())
}

/// Connects to PostgreSQL, retrying with backoff for `postgres.connect_timeout_seconds`
/// ([`with_deadline`], the loop NATS uses too).
///
/// Every connection plans each statement for its parameters (`plan_cache_mode =
/// force_custom_plan`). sqlx prepares statements once per connection and PostgreSQL then keeps
/// a generic plan; one made while a table was nearly empty (a new installation, a new tenant's
/// first requests) estimates every index at one row and may pick one that matches only the
/// tenant: `GET /v1/webhooks/{id}` and the answer to each create then read all of the tenant's
/// webhooks, and creates slowed from 1,600/s to 800/s as a tenant grew to 30,000 webhooks
/// (BENCHMARKS.md). Planning these short statements costs tens of microseconds.
pub async fn connect_postgres(config: &Config) -> Result<PgPool, StartupError> {
    let wait = Duration::from_secs(config.postgres.connect_timeout_seconds);
    let url = redact(&config.postgres.url);
    with_deadline("PostgreSQL", &url, wait, || async {
        let options = config
            .postgres
            .url
            .parse::<PgConnectOptions>()?
            .options([("plan_cache_mode", "force_custom_plan")]);
        let options = plain_on_loopback(
            options,
            &config.postgres.url,
            std::env::var_os("PGSSLMODE").is_some(),
        );
        PgPoolOptions::new()
            .max_connections(config.postgres.max_connections)
            .acquire_timeout(Duration::from_secs(5))
            .connect_with(options)
            .await
    })
    .await
    .map_err(StartupError::Postgres)
}

/// Without TLS to a PostgreSQL on this host when neither the URL (`sslmode`) nor `PGSSLMODE`
/// asks for a mode. libpq's default, `prefer`, takes TLS whenever the server offers it (Debian's
/// does, with its snakeoil certificate), and on loopback that protects nothing while both sides
/// encrypt every row: about 3 % of PostgreSQL's CPU and some of hookledger's in `scripts/run`'s
/// shape. A mode that is asked for is kept, whatever the host.
fn plain_on_loopback(options: PgConnectOptions, url: &str, env_mode: bool) -> PgConnectOptions {
    let asked = env_mode
        || url::Url::parse(url).is_ok_and(|u| {
            u.query_pairs().any(|(k, _)| {
                k.eq_ignore_ascii_case("sslmode") || k.eq_ignore_ascii_case("ssl-mode")
            })
        });
    let host = options
        .get_host()
        .trim_start_matches('[')
        .trim_end_matches(']');
    let loopback = host.eq_ignore_ascii_case("localhost")
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback());
    if asked || !loopback {
        return options;
    }
    tracing::debug!(
        host,
        "PostgreSQL on this host: connecting without TLS (sslmode sets it)"
    );
    options.ssl_mode(sqlx::postgres::PgSslMode::Disable)
}

/// Connects both, migrates and opens everything the roles need.
pub async fn start(
    config: Config,
    roles: Roles,
    shutdown: &CancellationToken,
    tracker: &TaskTracker,
) -> Result<AppState, StartupError> {
    let keyring = Arc::new(config.keyring()?);
    let nats = connect_nats(&config).await?;
    let pool = connect_postgres(&config).await?;
    hookledger_projections::migrate(&pool)
        .await
        .map_err(StartupError::Migrations)?;
    let webhooks = Ledger::open(
        &nats,
        WebhookServices {
            keyring: keyring.clone(),
        },
    )
    .await
    .map_err(StartupError::Ledger)?;
    let tenants = Ledger::open(&nats, ())
        .await
        .map_err(StartupError::Ledger)?;
    let catalogs = Ledger::open(&nats, ())
        .await
        .map_err(StartupError::Ledger)?;
    // Only a stream that drops messages needs a copy: with the default retention (delivery
    // facts kept forever) archiving DELIVERIES wrote every fact a second time, the largest
    // PostgreSQL cost of a delivery. A retention set later starts its archiver from sequence 1,
    // which the stream still holds.
    let projections = if roles.projector {
        hookledger_projections::spawn_apart(
            nats.clone(),
            pool.clone(),
            config.nats.archived_streams(),
            shutdown.clone(),
            tracker,
        )
        .map_err(StartupError::Thread)?
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
    .map_err(StartupError::Dispatcher)?;
    if roles.dispatcher {
        dispatcher.check_worker().map_err(StartupError::Worker)?;
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

#[cfg(test)]
mod tests {
    use std::error::Error as _;

    use super::*;

    fn keeps_its_causes<E: std::error::Error + Send + Sync + 'static>() {}

    #[test]
    fn a_loopback_postgres_is_reached_without_tls_unless_a_mode_is_asked_for() {
        use sqlx::postgres::PgSslMode;
        let mode = |url: &str, env: bool| {
            let options = url.parse::<PgConnectOptions>().unwrap();
            let mode = plain_on_loopback(options, url, env).get_ssl_mode();
            matches!(mode, PgSslMode::Disable)
        };
        assert!(mode("postgres://u@127.0.0.1:5432/db", false));
        assert!(mode("postgres://u@localhost/db", false));
        assert!(mode("postgres://u@[::1]:5432/db", false));
        assert!(
            !mode("postgres://u@db.internal:5432/db", false),
            "remote: libpq's default"
        );
        assert!(!mode("postgres://u@10.0.0.5/db", false));
        assert!(
            !mode("postgres://u@127.0.0.1/db?sslmode=require", false),
            "asked for"
        );
        assert!(!mode("postgres://u@127.0.0.1/db?ssl-mode=prefer", false));
        assert!(
            !mode("postgres://u@127.0.0.1/db", true),
            "PGSSLMODE asks for one"
        );
    }

    #[test]
    fn every_error_of_a_layer_stays_send_sync_and_static() {
        keeps_its_causes::<LedgerError>();
        keeps_its_causes::<ProjectionError>();
        keeps_its_causes::<DispatchError>();
        keeps_its_causes::<ConfigError>();
        keeps_its_causes::<StartupError>();
    }

    #[test]
    fn a_postgres_that_never_answers_names_itself_and_keeps_sqlx_error_as_the_source() {
        let error = StartupError::Postgres(TimedOut {
            what: "PostgreSQL",
            url: "postgres://hookledger@127.0.0.1:1/hookledger".into(),
            wait: Duration::from_secs(1),
            source: sqlx::Error::PoolTimedOut,
        });
        assert_eq!(
            error.to_string(),
            "PostgreSQL at postgres://hookledger@127.0.0.1:1/hookledger did not answer within \
             1s: pool timed out while waiting for an open connection"
        );
        let timed_out = error.source().expect("the wait is the source");
        let sqlx = timed_out.source().expect("sqlx's error is beneath it");
        assert!(matches!(
            sqlx.downcast_ref::<sqlx::Error>(),
            Some(sqlx::Error::PoolTimedOut)
        ));
        assert_eq!(error.exit_code(), ExitCode::FAILURE);
    }
}

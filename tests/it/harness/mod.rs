//! The test harness: real services, isolated per test.
//!
//! - [`TestEnv::new`]: a unique NATS prefix (streams created) and a fresh PostgreSQL database,
//!   both removed when the value drops.
//! - [`TestApp::spawn`]: the whole hookledger process in-process on `127.0.0.1:0` over a
//!   `TestEnv`, stopped (cancel + drain) on drop.
//! - [`poll::eventually`]: waiting without sleeps.
//! - [`receiver::TestReceiver`]: a real HTTP receiver with scripted answers;
//!   [`smtp::SmtpSink`]: a local SMTP server that keeps what it receives.
//! - [`cluster::NatsCluster`]: three private nats-servers in one JetStream cluster;
//!   [`cluster::Replica`]: a `hookledger serve` process; [`postgres_server::OwnPostgres`]: a
//!   private PostgreSQL a test may stop and start.

pub mod app;
pub mod browser;
pub mod cluster;
pub mod nats_server;
pub mod poll;
pub mod postgres_server;
pub mod receiver;
pub mod smtp;

use std::sync::{Arc, Once};

use hookledger_api::bench::scratch;
use hookledger_domain::ledger::{self, Names, Nats, StreamSettings};
use hookledger_domain::secrets::Keyring;
use sqlx::PgPool;
use sqlx::postgres::PgPoolOptions;

pub use app::TestApp;
#[allow(unused_imports)]
pub use poll::eventually;

/// NATS with JetStream, from `scripts/test`.
pub fn nats_url() -> String {
    std::env::var("HOOKLEDGER_TEST_NATS_URL").unwrap_or_else(|_| "nats://127.0.0.1:14222".into())
}

/// A maintenance database URL whose role may create databases.
pub fn admin_database_url() -> String {
    std::env::var("HOOKLEDGER_TEST_DATABASE_URL")
        .or_else(|_| std::env::var("DATABASE_URL"))
        .unwrap_or_else(|_| "postgres://postgres:postgres@127.0.0.1:5432/postgres".into())
}

/// Logs from the app when `TEST_LOG=1`.
pub fn init_logging() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        hookledger_api::install_crypto_provider();
        if std::env::var_os("TEST_LOG").is_some() {
            let _ = tracing_subscriber::fmt()
                .with_env_filter(tracing_subscriber::EnvFilter::new(
                    std::env::var("RUST_LOG").unwrap_or_else(|_| "hookledger=debug,info".into()),
                ))
                .with_test_writer()
                .try_init();
        }
    });
}

/// A run id: unique per test, a valid NATS token and database name.
pub fn unique_id() -> String {
    scratch::unique_id("t")
}

/// One test's share of the services.
pub struct TestEnv {
    pub id: String,
    pub nats: Nats,
    pub pool: PgPool,
    pub database_url: String,
    pub keyring: Arc<Keyring>,
}

impl TestEnv {
    pub async fn new() -> Self {
        Self::with_nats_url(&nats_url()).await
    }

    /// As [`TestEnv::new`] against another nats-server (restart tests run their own).
    pub async fn with_nats_url(url: &str) -> Self {
        Self::on(url, 1, &admin_database_url()).await
    }

    /// As [`TestEnv::new`] on a given nats-server (or cluster: streams with `replicas`) and a
    /// given PostgreSQL (its maintenance URL).
    pub async fn on(url: &str, replicas: usize, admin_database_url: &str) -> Self {
        init_logging();
        let id = unique_id();
        let names = Names::new(&id, &format!("{id}-events")).expect("valid names");
        let nats = ledger::connect(url, names, std::time::Duration::from_secs(10))
            .await
            .unwrap_or_else(|e| {
                panic!("NATS with JetStream must run at {url} (scripts/test starts it): {e}")
            });
        let settings = StreamSettings {
            replicas,
            ..StreamSettings::default()
        };
        ledger::ensure_streams(&nats, &settings)
            .await
            .expect("streams");
        let database_url = create_database(admin_database_url, &id).await;
        let pool = PgPoolOptions::new()
            .max_connections(8)
            .connect(&database_url)
            .await
            .expect("test database");
        hookledger_projections::migrate(&pool)
            .await
            .expect("migrations");
        Self {
            id,
            nats,
            pool,
            database_url,
            keyring: Arc::new(Keyring::for_tests()),
        }
    }
}

impl Drop for TestEnv {
    fn drop(&mut self) {
        let id = self.id.clone();
        // Drop cannot await, and the test's runtime is blocked while it runs: clean up on a
        // thread with a runtime of its own. `DROP DATABASE … WITH (FORCE)` ends the pool's
        // connections, so nothing of the test's runtime has to make progress.
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            rt.block_on(async move {
                drop_database(&id).await;
                delete_streams(&id).await;
            });
        })
        .join();
    }
}

async fn create_database(admin: &str, id: &str) -> String {
    scratch::create_database(admin, id)
        .await
        .unwrap_or_else(|e| {
            panic!("PostgreSQL must run at {admin} (scripts/test starts it): {e:#}")
        })
}

async fn drop_database(id: &str) {
    let _ = scratch::drop_database(&admin_database_url(), id).await;
}

async fn delete_streams(id: &str) {
    let Ok(names) = Names::new(id, &format!("{id}-events")) else {
        return;
    };
    let timeout = std::time::Duration::from_secs(5);
    if let Ok(nats) = ledger::connect(&nats_url(), names, timeout).await {
        let _ = nats.delete_streams().await;
    }
}

//! The `hookledger` process: HTTP API, command line and wiring.
//!
//! # Layout
//! Three edges around the wiring: `http/` (requests in), `cli/` (commands in), `bench/`
//! (figures out); the rest wires the process.
//! - [`http`]: the HTTP API (routes, extractors, problem documents, per-process caches and
//!   limits, OpenAPI). A new route or the console goes here.
//! - [`compat`]: the five vendor dialects under `/compat/<vendor>`, one module each, thin
//!   adapters onto the native commands and views (`compat::support`).
//! - [`cli`]: the `hookledger` subcommands (serve, migrate, tenant, key, projections, audit
//!   export/show/diff/verify, bench). A new subcommand goes here.
//! - [`bench`]: `hookledger bench …`, one module per benchmark.
//! - [`config`]: configuration (embedded defaults → file → `HOOKLEDGER_*` env), validated.
//! - [`startup`]: connects to NATS and PostgreSQL (bounded waits), creates streams, migrates,
//!   and builds [`AppState`]; `StartupError` names the dependency that failed.
//! - [`state`]: `AppState`, what every handler shares (ledgers, pool, projections handle).
//! - [`tenancy`]: tenant and API-key operations shared by the CLI and the admin routes.
//! - [`audit`]: the audit record, shared by `GET /v1/audit/log` and `hookledger audit export`.
//! - [`telemetry`]: logging setup (tracing, text or JSON).
//!
//! Views go to `projections/`, dispatcher steps to `dispatcher/`, rules and aggregates to
//! `domain/`; this crate only translates between the edges and them.
//!
//! [`Application::build`] binds nothing itself: it takes a listener, so tests run the whole
//! process in-process on `127.0.0.1:0`, and one `CancellationToken` stops it.

pub mod audit;
pub mod bench;
pub mod cli;
pub mod compat;
pub mod config;
pub mod http;
pub mod startup;
pub mod state;
pub mod telemetry;
pub mod tenancy;

use std::net::SocketAddr;

use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

pub use config::Config;
pub use startup::StartupError;
pub use state::AppState;

/// Installs ring as the process's TLS crypto provider (reqwest, sqlx and async-nats all use
/// rustls; one provider for all). Idempotent.
pub fn install_crypto_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// The roles a `serve` process can take; all by default.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Roles {
    pub api: bool,
    pub projector: bool,
    /// EVENTS → DISPATCH jobs.
    pub router: bool,
    /// DISPATCH jobs → signed HTTP attempts → delivery facts.
    pub dispatcher: bool,
}

impl Roles {
    pub const ALL: Roles = Roles {
        api: true,
        projector: true,
        router: true,
        dispatcher: true,
    };

    /// No role at all (start from it and switch roles on).
    pub const NONE: Roles = Roles {
        api: false,
        projector: false,
        router: false,
        dispatcher: false,
    };

    /// Parses a comma-separated list of `api`, `router`, `dispatcher`, `projector`.
    pub fn parse(list: &str) -> Result<Self, String> {
        let mut roles = Roles::NONE;
        for role in list.split(',').map(str::trim).filter(|r| !r.is_empty()) {
            match role {
                "api" => roles.api = true,
                "projector" => roles.projector = true,
                "router" => roles.router = true,
                "dispatcher" => roles.dispatcher = true,
                other => {
                    return Err(format!(
                        "unknown role {other:?} (api, router, dispatcher, projector)"
                    ));
                }
            }
        }
        Ok(roles)
    }
}

/// A built, not yet running, hookledger process.
pub struct Application {
    state: AppState,
    listener: Option<TcpListener>,
    shutdown: CancellationToken,
    tracker: TaskTracker,
}

impl Application {
    /// Connects, migrates, creates streams and starts the background roles (projectors, router,
    /// dispatcher). The HTTP API starts serving on `listener` in [`Application::run`]. A
    /// failure names the dependency ([`StartupError`]).
    pub async fn build(
        config: Config,
        listener: Option<TcpListener>,
        roles: Roles,
        shutdown: CancellationToken,
    ) -> Result<Self, StartupError> {
        install_crypto_provider();
        let tracker = TaskTracker::new();
        let state = startup::start(config, roles, &shutdown, &tracker).await?;
        Ok(Self {
            state,
            listener: if roles.api { listener } else { None },
            shutdown,
            tracker,
        })
    }

    pub fn local_addr(&self) -> Option<SocketAddr> {
        self.listener.as_ref().and_then(|l| l.local_addr().ok())
    }

    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// Serves until the shutdown token is cancelled, then drains: HTTP stops accepting and
    /// finishes in-flight requests, background tasks finish their batch.
    pub async fn run(self) -> anyhow::Result<()> {
        let Self {
            state,
            listener,
            shutdown,
            tracker,
        } = self;
        let result = match listener {
            Some(listener) => {
                let app = http::routes::router(state.clone());
                let token = shutdown.clone();
                axum::serve(
                    listener,
                    app.into_make_service_with_connect_info::<SocketAddr>(),
                )
                .with_graceful_shutdown(async move { token.cancelled().await })
                .await
                .map_err(anyhow::Error::from)
            }
            None => {
                shutdown.cancelled().await;
                Ok(())
            }
        };
        shutdown.cancel();
        tracker.close();
        tracker.wait().await;
        // Said goodbye to, PostgreSQL's connections end without a "connection reset" in its log.
        // Bounded, in case a request or task outside the tracker still holds one.
        if tokio::time::timeout(std::time::Duration::from_secs(5), state.pool.close())
            .await
            .is_err()
        {
            tracing::warn!("PostgreSQL connections still in use after 5 s; leaving them");
        }
        tracing::info!("hookledger stopped");
        result
    }
}

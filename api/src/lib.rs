//! The `hookledger` process: HTTP API, command line and wiring.
//!
//! # Layout
//! - [`config`]: configuration (embedded defaults → file → `HOOKLEDGER_*` env), validated.
//! - [`audit`]: `hookledger audit verify`, the hash-chain check of the whole ledger.
//! - [`bench`]: `hookledger bench ledger`, figures for BENCHMARKS.md; [`bench_api`]:
//!   `hookledger bench api`.
//! - [`bench_projections`]: `hookledger bench projections` (rebuild rate, live projection lag).
//! - [`bench_delivery`]: `hookledger bench delivery` (publish → signed POST → facts), with
//!   `bench_isolation` (a healthy tenant beside failing and hanging ones).
//! - [`projections_cli`]: `hookledger projections rebuild [NAME…]` and `projections status`.
//! - [`cli`]: the `hookledger` subcommands (serve, migrate, tenant, key, projections, audit).
//! - [`startup`]: connects to NATS and PostgreSQL (bounded waits), creates streams, migrates,
//!   and builds [`AppState`].
//! - [`state`]: `AppState`, what every handler shares (ledgers, pool, projections handle).
//! - [`tenancy`]: tenant and API-key operations shared by the CLI and the admin routes.
//! - [`error`]: `ApiError`, the one `IntoResponse` (RFC 9457 problem+json).
//! - [`extract`]: request extractors: JSON/query/path with problem rejections, tenant and
//!   operator authentication.
//! - [`routes`]: the HTTP routes; [`openapi`]: their OpenAPI document.
//! - [`runtime`]: what the HTTP layer keeps per process: the API-key cache ([`keycache`]), the
//!   per-key rate limit ([`ratelimit`]), the `Idempotency-Key` store ([`idempotency`]) and
//!   the checkpoint-validated read cache ([`readcache`]).
//! - [`metrics`]: the Prometheus recorder and the HTTP request metrics.
//! - [`telemetry`]: logging setup (tracing, text or JSON).
//!
//! [`Application::build`] binds nothing itself: it takes a listener, so tests run the whole
//! process in-process on `127.0.0.1:0`, and one `CancellationToken` stops it.

pub mod audit;
pub mod bench;
pub mod bench_api;
pub mod bench_delivery;
mod bench_isolation;
pub mod bench_projections;
pub mod cli;
pub mod config;
pub mod error;
pub mod extract;
pub mod idempotency;
pub mod keycache;
pub mod metrics;
pub mod openapi;
pub mod projections_cli;
pub mod ratelimit;
pub mod readcache;
pub mod routes;
pub mod runtime;
pub mod startup;
pub mod state;
pub mod telemetry;
pub mod tenancy;

use std::net::SocketAddr;

use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

pub use config::Config;
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
    /// dispatcher). The HTTP API starts serving on `listener` in [`Application::run`].
    pub async fn build(
        config: Config,
        listener: Option<TcpListener>,
        roles: Roles,
        shutdown: CancellationToken,
    ) -> anyhow::Result<Self> {
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
                let app = routes::router(state.clone());
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
        tracing::info!("hookledger stopped");
        result
    }
}

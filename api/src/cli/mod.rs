//! The `hookledger` command line: one subcommand per verb, parsed by clap.
//!
//! # Layout
//! - this file: the subcommands, serve, migrate, tenant and key.
//! - [`projections`]: `projections rebuild [NAME…]` and `projections status`.
//! - [`console`]: `console link`, short-lived console sign-in links.
//! - [`audit`]: `audit export|show|diff|verify`, the ledger taken away, asked and proved.
//! - [`bench`]: `bench …`, the subcommands that run [`crate::bench`].
//!
//! A new subcommand gets a variant here and, if it is more
//! than a few lines, a module of its own beside these.

pub mod audit;
pub mod bench;
pub mod console;
pub mod projections;

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;
use clap::{Parser, Subcommand};
use hookledger_domain::ids::{ApiKeyId, TenantId};
use hookledger_domain::ledger::{CommandError, CommandMeta, Ledger};
use hookledger_domain::tenant::TenantError;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::{Application, Config, Roles, StartupError, startup, telemetry, tenancy};

/// Exit code when the thing to create exists already (scripts rely on it).
pub const EXIT_EXISTS: u8 = 3;
/// Exit code when the thing named does not exist.
pub const EXIT_NOT_FOUND: u8 = 4;

#[derive(Debug, Parser)]
#[command(
    name = "hookledger",
    version,
    about = "Webhooks as an event-sourced ledger on NATS JetStream"
)]
pub struct Cli {
    /// A TOML file overriding the embedded defaults (see api/config.default.toml).
    #[arg(long, global = true, env = "HOOKLEDGER_CONFIG")]
    pub config: Option<PathBuf>,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the service: HTTP API and background roles, until SIGTERM or Ctrl-C.
    Serve {
        /// Roles to run, comma-separated: api, router, dispatcher, projector.
        #[arg(long, default_value = "api,router,dispatcher,projector")]
        roles: String,
    },
    /// Create or upgrade the PostgreSQL schema of the read models.
    Migrate,
    /// Manage tenants.
    #[command(subcommand)]
    Tenant(TenantCommand),
    /// Manage tenant API keys.
    #[command(subcommand)]
    Key(KeyCommand),
    /// Audit the ledger.
    #[command(subcommand)]
    Audit(crate::cli::audit::AuditCommand),
    /// Rebuild the read-side projections, or show where they stand.
    #[command(subcommand)]
    Projections(crate::cli::projections::ProjectionsCommand),
    /// Measure; prints figures (see BENCHMARKS.md).
    #[command(subcommand)]
    Bench(crate::cli::bench::BenchCommand),
    /// The web console: mint sign-in links.
    #[command(subcommand)]
    Console(crate::cli::console::ConsoleCommand),
}

#[derive(Debug, Subcommand)]
pub enum TenantCommand {
    /// Create a tenant and print it with its first API key (shown once) as JSON.
    /// Exits with code 3 if the tenant exists.
    Create {
        /// The tenant id: [a-z0-9][a-z0-9-]{0,62}.
        id: String,
        #[arg(long)]
        name: Option<String>,
    },
    /// List tenants as JSON (from the read model).
    List,
}

#[derive(Debug, Subcommand)]
pub enum KeyCommand {
    /// Issue an API key for a tenant and print it (shown once) as JSON.
    Issue {
        tenant: String,
        #[arg(long)]
        name: Option<String>,
    },
    /// Revoke an API key; it stops working at once.
    Revoke { tenant: String, key_id: String },
}

/// Runs one subcommand.
pub async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    crate::install_crypto_provider();
    let config = match Config::load(cli.config.as_deref()) {
        Ok(config) => config,
        Err(e) => return Ok(cannot_start(&e.into())),
    };
    telemetry::init(&config.log);
    match cli.command {
        Command::Serve { roles } => {
            serve(config, Roles::parse(&roles).map_err(anyhow::Error::msg)?).await
        }
        Command::Bench(command) => crate::cli::bench::run(&config, command).await,
        Command::Projections(command) => crate::cli::projections::run(&config, command).await,
        Command::Console(command) => crate::cli::console::run(&config, command).await,
        Command::Audit(command) => crate::cli::audit::run(&config, command).await,
        Command::Migrate => {
            let pool = startup::connect_postgres(&config).await?;
            hookledger_projections::migrate(&pool)
                .await
                .context("migrating the database")?;
            println!("database is up to date");
            Ok(ExitCode::SUCCESS)
        }
        Command::Tenant(TenantCommand::Create { id, name }) => {
            let id = TenantId::parse(&id).map_err(|e| anyhow::anyhow!("tenant id: {e}"))?;
            let nats = startup::connect_nats(&config).await?;
            let ledger = Ledger::open(&nats, ()).await?;
            match tenancy::create_tenant(&ledger, id.clone(), name, &CommandMeta::new("operator"))
                .await
            {
                Ok(created) => print_json(&created),
                Err(CommandError::Rejected(TenantError::AlreadyExists)) => {
                    eprintln!("tenant {id} already exists");
                    Ok(ExitCode::from(EXIT_EXISTS))
                }
                Err(e) => Err(e.into()),
            }
        }
        Command::Tenant(TenantCommand::List) => {
            let pool = startup::connect_postgres(&config).await?;
            let page = hookledger_projections::tenants::list(&pool, 1, 100).await?;
            print_json(&page)
        }
        Command::Key(KeyCommand::Issue { tenant, name }) => {
            let tenant = TenantId::parse(&tenant).map_err(|e| anyhow::anyhow!("tenant id: {e}"))?;
            let nats = startup::connect_nats(&config).await?;
            let ledger = Ledger::open(&nats, ()).await?;
            match tenancy::issue_key(&ledger, &tenant, name, &CommandMeta::new("operator")).await {
                Ok((key, _)) => print_json(&key),
                Err(CommandError::Rejected(TenantError::NotFound)) => {
                    not_found(&format!("tenant {tenant}"))
                }
                Err(e) => Err(e.into()),
            }
        }
        Command::Key(KeyCommand::Revoke { tenant, key_id }) => {
            let tenant = TenantId::parse(&tenant).map_err(|e| anyhow::anyhow!("tenant id: {e}"))?;
            let key_id = ApiKeyId::parse(&key_id).map_err(|e| anyhow::anyhow!("key id: {e}"))?;
            let nats = startup::connect_nats(&config).await?;
            let ledger = Ledger::open(&nats, ()).await?;
            match tenancy::revoke_key(
                &ledger,
                &tenant,
                key_id.clone(),
                &CommandMeta::new("operator"),
            )
            .await
            {
                Ok(_) => {
                    println!("revoked {key_id}");
                    Ok(ExitCode::SUCCESS)
                }
                Err(CommandError::Rejected(TenantError::NotFound)) => {
                    not_found(&format!("tenant {tenant}"))
                }
                Err(CommandError::Rejected(TenantError::KeyNotFound)) => {
                    not_found(&format!("key {key_id} of {tenant}"))
                }
                Err(e) => Err(e.into()),
            }
        }
    }
}

fn print_json(value: &impl serde::Serialize) -> anyhow::Result<ExitCode> {
    println!("{}", serde_json::to_string_pretty(value)?);
    Ok(ExitCode::SUCCESS)
}

fn not_found(what: &str) -> anyhow::Result<ExitCode> {
    eprintln!("{what} does not exist");
    Ok(ExitCode::from(EXIT_NOT_FOUND))
}

/// Prints why the process cannot start as one line and gives its exit code.
fn cannot_start(error: &StartupError) -> ExitCode {
    eprintln!("error: {error}");
    error.exit_code()
}

async fn serve(config: Config, roles: Roles) -> anyhow::Result<ExitCode> {
    let shutdown = CancellationToken::new();
    let app = match build(config, roles, shutdown.clone()).await {
        Ok(app) => app,
        Err(e) => return Ok(cannot_start(&e)),
    };
    if let Some(addr) = app.local_addr() {
        tracing::info!(%addr, "hookledger is serving");
    }
    tokio::spawn(signal_shutdown(shutdown));
    app.run().await?;
    Ok(ExitCode::SUCCESS)
}

/// Binds `http.listen` (when serving the API) and builds the application.
async fn build(
    config: Config,
    roles: Roles,
    shutdown: CancellationToken,
) -> Result<Application, StartupError> {
    let listen = config.http.listen;
    let listener = if roles.api {
        let bound = TcpListener::bind(listen).await;
        Some(bound.map_err(|source| StartupError::Listen {
            addr: listen,
            source,
        })?)
    } else {
        None
    };
    Application::build(config, listener, roles, shutdown).await
}

/// Cancels on SIGTERM or Ctrl-C.
async fn signal_shutdown(shutdown: CancellationToken) {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(s) => s,
                Err(e) => {
                    tracing::error!(error = %e, "cannot listen for SIGTERM");
                    let _ = ctrl_c.await;
                    shutdown.cancel();
                    return;
                }
            };
        tokio::select! {
            _ = ctrl_c => {},
            _ = term.recv() => {},
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
    tracing::info!("shutting down: draining requests and consumers");
    shutdown.cancel();
}

//! `hookledger console link TENANT [--ttl 1h] [--read-only] [--base-url URL]`: mints a
//! short-lived console sign-in link and prints it as JSON (`url`, `token`, `expiresAt`,
//! `readOnly`). The link is signed with a key derived from `secrets.master_key`, so the server
//! that opens it must share that key; the tenant must exist in the read model (exit code 4
//! otherwise).
//!
//! `hookledger console revoke TENANT`: every link of the tenant minted up to now stops working,
//! with the sessions it opened (prints `{"revokedBefore": …}`; exit code 4 for an unknown
//! tenant). It writes `tenant.console_links_revoked` to the ledger, so it needs NATS.

use std::process::ExitCode;

use clap::Subcommand;
use hookledger_domain::ids::TenantId;
use hookledger_domain::ledger::{CommandError, CommandMeta, Ledger};
use hookledger_domain::tenant::TenantError;
use serde::Serialize;

use super::EXIT_NOT_FOUND;
use crate::http::console::links;
use crate::{Config, startup, tenancy};

#[derive(Debug, Subcommand)]
pub enum ConsoleCommand {
    /// Mint a console sign-in link for a tenant and print it as JSON.
    Link {
        /// The tenant id.
        tenant: String,
        /// How long the link lasts: 90s, 30m, 1h, 2d (1m..7d).
        #[arg(long, default_value = "1h")]
        ttl: String,
        /// The session it opens can look but not change anything.
        #[arg(long)]
        read_only: bool,
        /// Where the console is served (default: http://<http.listen>).
        #[arg(long)]
        base_url: Option<String>,
    },
    /// Revoke every console link of a tenant minted up to now, and the sessions they opened.
    Revoke {
        /// The tenant id.
        tenant: String,
    },
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Printed {
    url: String,
    token: String,
    expires_at: chrono::DateTime<chrono::Utc>,
    read_only: bool,
}

pub async fn run(config: &Config, command: ConsoleCommand) -> anyhow::Result<ExitCode> {
    match command {
        ConsoleCommand::Link {
            tenant,
            ttl,
            read_only,
            base_url,
        } => link(config, tenant, ttl, read_only, base_url).await,
        ConsoleCommand::Revoke { tenant } => revoke(config, tenant).await,
    }
}

async fn revoke(config: &Config, tenant: String) -> anyhow::Result<ExitCode> {
    let tenant = TenantId::parse(&tenant).map_err(|e| anyhow::anyhow!("tenant id: {e}"))?;
    let nats = startup::connect_nats(config).await?;
    let ledger = Ledger::open(&nats, ()).await?;
    let meta = CommandMeta::new("operator");
    match tenancy::revoke_console_links(&ledger, &tenant, &meta).await {
        Ok((before, _)) => {
            println!(
                "{}",
                serde_json::to_string_pretty(&serde_json::json!({ "revokedBefore": before }))?
            );
            Ok(ExitCode::SUCCESS)
        }
        Err(CommandError::Rejected(TenantError::NotFound)) => {
            eprintln!("tenant {tenant} does not exist");
            Ok(ExitCode::from(EXIT_NOT_FOUND))
        }
        Err(e) => Err(e.into()),
    }
}

async fn link(
    config: &Config,
    tenant: String,
    ttl: String,
    read_only: bool,
    base_url: Option<String>,
) -> anyhow::Result<ExitCode> {
    let tenant = TenantId::parse(&tenant).map_err(|e| anyhow::anyhow!("tenant id: {e}"))?;
    let ttl = links::parse_ttl(&ttl).map_err(anyhow::Error::msg)?;
    // The link key derives from the master key: refuse to sign with none (or a bad one).
    config.keyring()?;
    let pool = startup::connect_postgres(config).await?;
    if hookledger_projections::tenants::get(&pool, tenant.as_str())
        .await?
        .is_none()
    {
        eprintln!("tenant {tenant} does not exist");
        return Ok(ExitCode::from(EXIT_NOT_FOUND));
    }
    let link = links::mint(config, tenant.as_str(), ttl, read_only);
    let base = base_url.unwrap_or_else(|| format!("http://{}", config.http.listen));
    let printed = Printed {
        url: format!("{}{}", base.trim_end_matches('/'), link.path),
        token: link.token,
        expires_at: link.expires_at,
        read_only: link.read_only,
    };
    println!("{}", serde_json::to_string_pretty(&printed)?);
    Ok(ExitCode::SUCCESS)
}

//! `hookledger console link TENANT [--ttl 1h] [--read-only] [--base-url URL]`: mints a
//! short-lived console sign-in link and prints it as JSON (`id`, `url`, `token`, `expiresAt`,
//! `readOnly`). The link is signed with a key derived from `secrets.master_key`, so the server
//! that opens it must share that key; its id is recorded in the ledger
//! (`tenant.console_link_minted`), so it needs NATS; exit code 4 for an unknown tenant.
//!
//! `hookledger console revoke TENANT [--link ID]`: that one link, or every link of the tenant
//! minted up to now, stops working with the sessions it opened (`tenant.console_link_revoked`,
//! `tenant.console_links_revoked`); prints `{"revokedBefore": …}` for the second; exit code 4
//! for an unknown tenant or link.

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
    /// Revoke one console link, or every link of a tenant minted up to now, and the sessions
    /// they opened.
    Revoke {
        /// The tenant id.
        tenant: String,
        /// Only this link (its `id`, as `console link` printed it).
        #[arg(long)]
        link: Option<String>,
    },
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Printed {
    id: String,
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
        ConsoleCommand::Revoke { tenant, link } => revoke(config, tenant, link).await,
    }
}

async fn revoke(config: &Config, tenant: String, link: Option<String>) -> anyhow::Result<ExitCode> {
    let tenant = TenantId::parse(&tenant).map_err(|e| anyhow::anyhow!("tenant id: {e}"))?;
    let nats = startup::connect_nats(config).await?;
    let ledger = Ledger::open(&nats, ()).await?;
    let meta = CommandMeta::new("operator");
    let revoked = match &link {
        Some(link_id) => {
            let done = tenancy::revoke_console_link(&ledger, &tenant, link_id.clone(), &meta).await;
            done.map(|_| format!("revoked console link {link_id}"))
        }
        None => tenancy::revoke_console_links(&ledger, &tenant, &meta)
            .await
            .map(|(before, _)| {
                let printed = serde_json::json!({ "revokedBefore": before });
                serde_json::to_string_pretty(&printed).expect("a JSON object prints")
            }),
    };
    match revoked {
        Ok(printed) => {
            println!("{printed}");
            Ok(ExitCode::SUCCESS)
        }
        Err(CommandError::Rejected(TenantError::NotFound)) => {
            eprintln!("tenant {tenant} does not exist");
            Ok(ExitCode::from(EXIT_NOT_FOUND))
        }
        Err(CommandError::Rejected(TenantError::LinkNotFound)) => {
            eprintln!(
                "console link {} of {tenant} does not exist",
                link.unwrap_or_default()
            );
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
    let nats = startup::connect_nats(config).await?;
    let ledger = Ledger::open(&nats, ()).await?;
    let meta = CommandMeta::new("operator");
    let link = match links::mint_recorded(&ledger, config, &tenant, ttl, read_only, &meta).await {
        Ok((link, _)) => link,
        Err(CommandError::Rejected(TenantError::NotFound)) => {
            eprintln!("tenant {tenant} does not exist");
            return Ok(ExitCode::from(EXIT_NOT_FOUND));
        }
        Err(e) => return Err(e.into()),
    };
    let base = base_url.unwrap_or_else(|| format!("http://{}", config.http.listen));
    let printed = Printed {
        id: link.id,
        url: format!("{}{}", base.trim_end_matches('/'), link.path),
        token: link.token,
        expires_at: link.expires_at,
        read_only: link.read_only,
    };
    println!("{}", serde_json::to_string_pretty(&printed)?);
    Ok(ExitCode::SUCCESS)
}

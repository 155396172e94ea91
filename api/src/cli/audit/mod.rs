//! `hookledger audit …`: take the ledger away, ask what a webhook was at an instant, see what
//! changed between two instants, and prove that nothing was altered.
//!
//! # Layout
//! - this file: the clap definitions and the exit codes.
//! - [`export`]: `audit export`, NDJSON of changes and delivery facts ([`crate::audit`] lines).
//! - [`show`]: `audit show` and `audit diff`, a webhook folded from its own ledger subject.
//! - [`verify`]: `audit verify`, the hash chains of the whole ledger or of one tenant.
//! - [`progress`]: the indicatif counter on stderr (drawn only on a terminal).
//!
//! Exit codes: 0 done, 2 bad usage (clap, naming the flag and the accepted format), 4 the
//! webhook does not exist (or did not yet, or no longer, at the instant asked), 5 a broken
//! chain. Times are RFC 3339 (`2025-01-01T00:00:00Z`, any offset).

pub mod export;
pub mod progress;
pub mod show;
pub mod verify;

use std::path::PathBuf;
use std::process::ExitCode;

use chrono::{DateTime, Utc};
use clap::Subcommand;
use hookledger_domain::ids::{TenantId, WebhookId};

use crate::{Config, startup};

#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Write configuration changes and delivery facts as NDJSON, one record per event, oldest
    /// first, secrets redacted; streamed with constant memory.
    Export {
        /// Only this tenant's changes and facts.
        #[arg(long, value_parser = tenant)]
        tenant: Option<TenantId>,
        /// Only this webhook's changes and facts (`wh_…`).
        #[arg(long, value_parser = webhook)]
        webhook: Option<WebhookId>,
        /// Only events stored at or after this instant (RFC 3339); the read starts there.
        #[arg(long, value_parser = rfc3339, value_name = "RFC3339")]
        since: Option<DateTime<Utc>>,
        /// Only events stored at or before this instant (RFC 3339).
        #[arg(long, value_parser = rfc3339, value_name = "RFC3339")]
        until: Option<DateTime<Utc>>,
        /// Only these event types, comma-separated; `webhook.*` matches a family.
        #[arg(long, value_delimiter = ',')]
        types: Vec<String>,
        /// Write here instead of stdout.
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Print a webhook as it was at an instant, folded from its own ledger subject.
    Show {
        /// The webhook id, `wh_…`.
        #[arg(value_parser = webhook)]
        webhook: WebhookId,
        /// The instant (RFC 3339).
        #[arg(long, value_parser = rfc3339, value_name = "RFC3339")]
        as_of: DateTime<Utc>,
        /// The webhook's tenant (found from the id when not given).
        #[arg(long, value_parser = tenant)]
        tenant: Option<TenantId>,
    },
    /// Print the fields of a webhook that changed between two instants, each with who
    /// changed it last, when, and with which command id.
    Diff {
        /// The webhook id, `wh_…`.
        #[arg(value_parser = webhook)]
        webhook: WebhookId,
        /// The earlier instant (RFC 3339).
        #[arg(long, value_parser = rfc3339, value_name = "RFC3339")]
        from: DateTime<Utc>,
        /// The later instant (RFC 3339).
        #[arg(long, value_parser = rfc3339, value_name = "RFC3339")]
        to: DateTime<Utc>,
        /// The webhook's tenant (found from the id when not given).
        #[arg(long, value_parser = tenant)]
        tenant: Option<TenantId>,
    },
    /// Replay the ledger (or one tenant's share) and check every aggregate's hash chain;
    /// exits 5 on a break, naming stream, sequence, expected and found hash.
    Verify {
        /// Only this tenant's aggregates (its tenant, catalog and webhooks).
        #[arg(long, value_parser = tenant)]
        tenant: Option<TenantId>,
        /// Print a JSON summary on stdout.
        #[arg(long)]
        json: bool,
    },
}

/// Exit code when a chain is broken.
pub const EXIT_TAMPERED: u8 = 5;

/// Parses an RFC 3339 instant (clap names the flag in its error).
pub fn rfc3339(raw: &str) -> Result<DateTime<Utc>, String> {
    DateTime::parse_from_rfc3339(raw)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|e| format!("must be an RFC 3339 time such as 2025-01-01T00:00:00Z ({e})"))
}

fn tenant(raw: &str) -> Result<TenantId, String> {
    TenantId::parse(raw).map_err(|e| e.to_string())
}

fn webhook(raw: &str) -> Result<WebhookId, String> {
    WebhookId::parse(raw).map_err(|e| e.to_string())
}

/// Runs one `audit` subcommand.
pub async fn run(config: &Config, command: AuditCommand) -> anyhow::Result<ExitCode> {
    let nats = startup::connect_nats(config).await?;
    match command {
        AuditCommand::Export {
            tenant,
            webhook,
            since,
            until,
            types,
            out,
        } => {
            let filter = export::Filter {
                tenant,
                webhook,
                since,
                until,
                types,
            };
            export::run(config, &nats, &filter, out.as_deref()).await
        }
        AuditCommand::Show {
            webhook,
            as_of,
            tenant,
        } => show::show(&nats, &webhook, tenant.as_ref(), as_of).await,
        AuditCommand::Diff {
            webhook,
            from,
            to,
            tenant,
        } => show::diff(&nats, &webhook, tenant.as_ref(), from, to).await,
        AuditCommand::Verify { tenant, json } => verify::run(&nats, tenant.as_ref(), json).await,
    }
}

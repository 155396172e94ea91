//! `hookledger projections rebuild [NAME…]` and `hookledger projections status`.
//!
//! The progress bar lives here, not in `hookledger-projections`: the library reports progress
//! through a callback and prints nothing, so the bench and the tests rebuild quietly.

use std::process::ExitCode;

use anyhow::Context as _;
use clap::Subcommand;
use hookledger_domain::ledger::Nats;
use hookledger_projections::rebuild::RebuildReport;
use hookledger_projections::{ProjectionError, View, rebuild, status};
use indicatif::{ProgressBar, ProgressStyle};
use sqlx::PgPool;

use crate::{Config, startup};

#[derive(Debug, Subcommand)]
pub enum ProjectionsCommand {
    /// Refill projections from sequence 1 into shadow tables (progress bar on stderr), then
    /// swap them in, in one transaction; reads see the old tables until the swap.
    Rebuild {
        /// Projections (`ledger`, `deliveries`) or tables of theirs (`webhooks`,
        /// `webhook_history`, …); all projections when none is given.
        names: Vec<String>,
    },
    /// Print each projection's checkpoint, its stream's head and the lag between them.
    Status {
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
}

/// The projections a rebuild covers: those named (by view or table name), or all.
pub fn views_named(names: &[String]) -> anyhow::Result<Vec<View>> {
    if names.is_empty() {
        return Ok(View::ALL.to_vec());
    }
    let mut views = names
        .iter()
        .map(|n| n.parse::<View>())
        .collect::<Result<Vec<_>, _>>()?;
    views.sort();
    views.dedup();
    Ok(views)
}

/// [`rebuild::rebuild`] with an indicatif progress bar on stderr (messages done, rate, ETA);
/// indicatif draws nothing when stderr is not a terminal.
async fn rebuild_with_progress_bar(
    nats: &Nats,
    pool: &PgPool,
    views: &[View],
) -> Result<RebuildReport, ProjectionError> {
    let bar = ProgressBar::new(0);
    bar.set_style(
        ProgressStyle::with_template(
            "{spinner} [{elapsed_precise}] {wide_bar} {pos}/{len} events  {per_sec}  ETA {eta}",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let report = rebuild::rebuild(nats, pool, views, |done, total| {
        bar.set_length(total);
        bar.set_position(done);
    })
    .await;
    bar.finish();
    report
}

/// Runs one `projections` subcommand.
pub async fn run(config: &Config, command: ProjectionsCommand) -> anyhow::Result<ExitCode> {
    match command {
        ProjectionsCommand::Rebuild { names } => {
            let views = views_named(&names)?;
            let nats = startup::connect_nats(config).await?;
            let pool = startup::connect_postgres(config).await?;
            hookledger_projections::migrate(&pool)
                .await
                .context("migrating the database")?;
            let report = rebuild_with_progress_bar(&nats, &pool, &views)
                .await
                .context("rebuilding the projections")?;
            for v in &report.views {
                let seconds = v.elapsed.as_secs_f64();
                println!(
                    "{}: {} messages in {seconds:.2} s ({:.0}/s), checkpoint {}",
                    v.view,
                    v.messages,
                    v.messages as f64 / seconds.max(1e-9),
                    v.checkpoint
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        ProjectionsCommand::Status { json } => {
            let nats = startup::connect_nats(config).await?;
            let pool = startup::connect_postgres(config).await?;
            let views = status::views(&nats, &pool)
                .await
                .context("reading the checkpoints (has `hookledger migrate` run?)")?;
            if json {
                println!("{}", serde_json::to_string_pretty(&views)?);
            } else {
                println!(
                    "{:<12} {:>12} {:>12} {:>10}",
                    "projection", "checkpoint", "head", "lag"
                );
                for v in &views {
                    println!(
                        "{:<12} {:>12} {:>12} {:>10}",
                        v.view.name(),
                        v.checkpoint,
                        v.head,
                        v.lag
                    );
                }
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

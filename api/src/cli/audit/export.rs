//! `hookledger audit export`: configuration changes and delivery facts as NDJSON, one record
//! per event, oldest first, the same records as `GET /v1/audit/log` ([`crate::audit`]) plus
//! `source`: `jetstream`, or `archive` for delivery facts JetStream no longer holds, read from
//! PostgreSQL (`hookledger_projections::events_archive`).
//!
//! Decisions: two ordered consumers (`LEDGER`, `DELIVERIES`), flow-controlled and merged by
//! stream time, each ending at the head sequence its stream had at the start, so memory is
//! flat whatever the size and a growing ledger does not keep the export running. `--since`
//! positions both consumers by time (JetStream's `DeliverPolicy::ByStartTime`: the server
//! finds the first sequence), never a scan from 1; `--until` ends the read at the first later
//! message. `--types` skips a whole stream when no pattern can match its types. The archive
//! is read (a page at a time) only when the deliveries stream no longer starts at sequence 1,
//! and only for sequences below the first one JetStream answers, so no fact comes twice; the
//! ledger is kept forever and always comes from JetStream. Output goes through one 1 MiB
//! buffer.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;
use std::pin::Pin;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context as _;
use chrono::{DateTime, Utc};
use futures::StreamExt;
use hookledger_domain::ids::{TenantId, WebhookId};
use hookledger_domain::ledger::bounded_read::BoundedRead;
use hookledger_domain::ledger::reader::StreamKind;
use hookledger_domain::ledger::{LedgerError, Names, Nats};
use hookledger_projections::events_archive::{self, ArchiveScope};
use indicatif::ProgressBar;
use serde::Serialize;
use sqlx::PgPool;
use sqlx::postgres::PgPoolOptions;

use crate::Config;
use crate::audit::{AuditLine, lines_of, merge_by_time, type_matches};

/// What to export.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    pub tenant: Option<TenantId>,
    pub webhook: Option<WebhookId>,
    pub since: Option<DateTime<Utc>>,
    pub until: Option<DateTime<Utc>>,
    /// Event types or `family.*` patterns; empty = all.
    pub types: Vec<String>,
}

/// One exported record: an audit line and where it was read.
#[derive(Debug, Serialize)]
pub struct ExportLine<'a> {
    #[serde(flatten)]
    pub line: &'a AuditLine,
    /// `jetstream`, or `archive` for records read from PostgreSQL.
    pub source: &'static str,
}

/// What an export wrote.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Exported {
    /// Stream messages read.
    pub messages: u64,
    /// Records written (one per event).
    pub records: u64,
}

impl Filter {
    fn wants(&self, event_type: &str) -> bool {
        self.types.is_empty() || self.types.iter().any(|t| type_matches(t, event_type))
    }

    /// Whether some wanted type can be a delivery fact's (`delivery.*`) or a ledger event's.
    fn reads(&self, kind: StreamKind) -> bool {
        self.types.is_empty()
            || self.types.iter().any(|t| {
                let delivery = t.starts_with("delivery.");
                t == "*" || (kind == StreamKind::Deliveries) == delivery
            })
    }

    /// The subject filters of this export on `kind`.
    pub fn subjects(&self, names: &Names, kind: StreamKind) -> Vec<String> {
        let p = names.prefix();
        let t = self.tenant.as_ref().map_or("*", |t| t.as_str());
        match (kind, &self.webhook, &self.tenant) {
            (StreamKind::Ledger, Some(w), _) => vec![format!("{p}.ledger.webhook.{t}.{w}")],
            (StreamKind::Ledger, None, Some(t)) => vec![
                format!("{p}.ledger.tenant.{t}"),
                format!("{p}.ledger.catalog.{t}"),
                format!("{p}.ledger.webhook.{t}.*"),
            ],
            (StreamKind::Ledger, None, None) => vec![names.ledger_all()],
            (StreamKind::Deliveries, Some(w), _) => vec![format!("{p}.delivery.{t}.{w}.>")],
            (StreamKind::Deliveries, None, Some(t)) => vec![format!("{p}.delivery.{t}.>")],
            (StreamKind::Deliveries, None, None) => vec![names.deliveries_all()],
            (StreamKind::Events, ..) => Vec::new(),
        }
    }
}

/// Writes the records of `filter` to `out`, one JSON object per line, oldest first; delivery
/// facts JetStream no longer holds come from `archive` when given.
pub async fn export_to(
    nats: &Nats,
    archive: Option<&PgPool>,
    filter: &Filter,
    out: &mut impl Write,
    progress: &ProgressBar,
) -> anyhow::Result<Exported> {
    let subjects = |kind| {
        if filter.reads(kind) {
            filter.subjects(nats.names(), kind)
        } else {
            Vec::new()
        }
    };
    let ledger = nats
        .bounded_read(
            StreamKind::Ledger,
            subjects(StreamKind::Ledger),
            filter.since,
        )
        .await?;
    let (deliveries, first_in_jetstream) =
        deliveries_read(nats, archive, filter, subjects(StreamKind::Deliveries)).await?;
    let mut merged = merge_by_time(ledger, deliveries);
    let mut done = Exported::default();
    let mut buffer = Vec::with_capacity(1024);
    while let Some(next) = merged.next().await {
        let (kind, raw) = next?;
        if filter.until.is_some_and(|until| raw.time > until) {
            break;
        }
        done.messages += 1;
        progress.inc(1);
        for line in lines_of(kind, &raw)? {
            if !filter.wants(&line.event_type) {
                continue;
            }
            buffer.clear();
            serde_json::to_writer(
                &mut buffer,
                &ExportLine {
                    line: &line,
                    source: if kind == StreamKind::Deliveries && raw.sequence < first_in_jetstream {
                        "archive"
                    } else {
                        "jetstream"
                    },
                },
            )?;
            buffer.push(b'\n');
            out.write_all(&buffer)?;
            done.records += 1;
        }
    }
    out.flush()?;
    Ok(done)
}

/// The delivery facts of `filter`: those JetStream no longer holds from the archive, then the
/// stream's; answers the read and the first sequence it takes from JetStream. A fact the
/// archive holds is in the JetStream part when the stream still has it (the read would have
/// met it first), so the archive part is exactly the facts below that sequence.
async fn deliveries_read(
    nats: &Nats,
    archive: Option<&PgPool>,
    filter: &Filter,
    subjects: Vec<String>,
) -> anyhow::Result<(BoundedRead, u64)> {
    let head = nats.head(StreamKind::Deliveries).await?;
    let empty = subjects.is_empty();
    let mut jetstream = nats
        .bounded_read(StreamKind::Deliveries, subjects, filter.since)
        .await?
        .peekable();
    let first = match Pin::new(&mut jetstream).peek().await {
        Some(Ok(m)) => m.sequence,
        _ => head + 1,
    };
    let Some(pool) = archive.filter(|_| !empty && first > 1) else {
        return Ok((Box::pin(jetstream), first));
    };
    // The stream's own first message: when it is sequence 1, JetStream dropped nothing yet.
    let mut whole = nats
        .bounded_read(
            StreamKind::Deliveries,
            vec![nats.names().deliveries_all()],
            None,
        )
        .await?;
    if whole
        .next()
        .await
        .transpose()?
        .is_none_or(|m| m.sequence == 1)
    {
        return Ok((Box::pin(jetstream), first));
    }
    let scope = ArchiveScope {
        tenant: filter.tenant.as_ref().map(ToString::to_string),
        webhook_id: filter.webhook.as_ref().map(ToString::to_string),
        since: filter.since,
        until: filter.until,
        before_sequence: Some(first),
    };
    let archived = events_archive::read(pool.clone(), StreamKind::Deliveries, scope)
        .map(|m| m.map_err(|e| LedgerError::unavailable("the stream archive", e)));
    Ok((Box::pin(archived.chain(jetstream)), first))
}

/// `audit export`: to `out` (a file, created or truncated) or stdout; a summary on stderr.
/// The archive (`postgres.url`) is connected lazily: only an export that needs facts
/// JetStream dropped talks to PostgreSQL.
pub async fn run(
    config: &Config,
    nats: &Nats,
    filter: &Filter,
    out: Option<&Path>,
) -> anyhow::Result<ExitCode> {
    let archive = PgPoolOptions::new()
        .max_connections(2)
        .acquire_timeout(Duration::from_secs(config.postgres.connect_timeout_seconds))
        .connect_lazy(&config.postgres.url)
        .context("postgres.url")?;
    let archive = Some(&archive);
    let total = nats.head(StreamKind::Ledger).await? + nats.head(StreamKind::Deliveries).await?;
    let progress = super::progress::bar(total, "messages");
    let exported = match out {
        Some(path) => {
            let file = File::create(path)
                .with_context(|| format!("cannot create --out {}", path.display()))?;
            let mut writer = BufWriter::with_capacity(1 << 20, file);
            export_to(nats, archive, filter, &mut writer, &progress).await?
        }
        None => {
            let mut writer = BufWriter::with_capacity(1 << 20, std::io::stdout());
            export_to(nats, archive, filter, &mut writer, &progress).await?
        }
    };
    progress.finish_and_clear();
    eprintln!(
        "exported {} records from {} messages",
        exported.records, exported.messages
    );
    Ok(ExitCode::SUCCESS)
}

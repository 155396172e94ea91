//! `hookledger audit verify [--tenant T] [--json]`: replays the ledger (or one tenant's share)
//! and checks every aggregate's hash chain.
//!
//! It proves that no ledger message was removed, inserted, reordered or altered since it was
//! written (see `hookledger_domain::ledger::chain`). It reads in stream order up to the head
//! sequence it found at start, so it finishes on a ledger that keeps growing; memory grows
//! with the number of aggregates, not of messages.
//!
//! Decision: the per-aggregate state here keeps the sequence of the last message besides its
//! hash (the domain's `ChainVerifier` keeps only the hash), so a break names both messages:
//! the one that names a wrong predecessor and the predecessor it should have named. An altered
//! message shows as a break at the next message of its aggregate, whose `expected` hash is the
//! altered message's; a removed message breaks at its successor; a swap breaks at the first
//! of the two. A message that no longer parses is a break at itself.

use std::collections::HashMap;
use std::process::ExitCode;
use std::time::Instant;

use futures::StreamExt;
use hookledger_domain::ids::TenantId;
use hookledger_domain::ledger::reader::StreamKind;
use hookledger_domain::ledger::{LedgerError, Nats};
use indicatif::ProgressBar;
use serde::Serialize;

use super::EXIT_TAMPERED;
use super::export::Filter;

/// What an intact run covered.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Summary {
    pub stream: String,
    pub aggregates: u64,
    /// Ledger messages (one per command).
    pub messages: u64,
    /// Events inside them.
    pub events: u64,
    pub first_sequence: Option<u64>,
    pub last_sequence: Option<u64>,
    pub seconds: f64,
}

/// Where a chain breaks.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Break {
    pub stream: String,
    pub subject: String,
    /// The message that names a predecessor other than the one stored before it.
    pub sequence: u64,
    /// The stored predecessor of that message in its aggregate (`None`: it is the first).
    pub previous_sequence: Option<u64>,
    /// The hash of the stored predecessor: what the message should name.
    pub expected_hash: Option<String>,
    /// The hash the message names (`None` when it names none or does not parse).
    pub found_hash: Option<String>,
    /// Why, in words.
    pub reason: String,
}

/// The outcome of a verification.
#[derive(Debug, Clone, PartialEq)]
pub enum Verdict {
    Intact(Summary),
    Broken(Break),
}

/// Checks every chain of the ledger (or of `tenant`'s aggregates).
pub async fn verify(
    nats: &Nats,
    tenant: Option<&TenantId>,
    progress: &ProgressBar,
) -> Result<Verdict, LedgerError> {
    let started = Instant::now();
    let stream = nats.names().ledger_stream();
    let filter = Filter {
        tenant: tenant.cloned(),
        ..Filter::default()
    };
    let subjects = filter.subjects(nats.names(), StreamKind::Ledger);
    let mut read = nats
        .bounded_read(StreamKind::Ledger, subjects, None)
        .await?;
    let mut last: HashMap<String, (String, u64)> = HashMap::new();
    let mut summary = Summary {
        stream: stream.clone(),
        aggregates: 0,
        messages: 0,
        events: 0,
        first_sequence: None,
        last_sequence: None,
        seconds: 0.0,
    };
    while let Some(raw) = read.next().await {
        let raw = raw?;
        progress.set_position(raw.sequence);
        let before = last.get(&raw.subject);
        let entry = match raw.ledger_entry() {
            Ok(entry) => entry,
            Err(e) => {
                return Ok(Verdict::Broken(Break {
                    stream,
                    subject: raw.subject.clone(),
                    sequence: raw.sequence,
                    previous_sequence: before.map(|(_, s)| *s),
                    expected_hash: before.map(|(h, _)| h.clone()),
                    found_hash: None,
                    reason: format!("the message does not parse: {e}"),
                }));
            }
        };
        if entry.record.prev_hash.as_ref() != before.map(|(h, _)| h) {
            let reason = match before {
                Some((_, s)) => format!(
                    "names a previous hash other than that of message #{s}, the aggregate's \
                     message stored before it"
                ),
                None => "names a previous message, but it is the first of its aggregate".into(),
            };
            return Ok(Verdict::Broken(Break {
                stream,
                subject: entry.subject,
                sequence: entry.sequence,
                previous_sequence: before.map(|(_, s)| *s),
                expected_hash: before.map(|(h, _)| h.clone()),
                found_hash: entry.record.prev_hash,
                reason,
            }));
        }
        summary.messages += 1;
        summary.events += entry.record.events.len() as u64;
        summary.first_sequence.get_or_insert(entry.sequence);
        summary.last_sequence = Some(entry.sequence);
        last.insert(entry.subject, (entry.hash, entry.sequence));
    }
    summary.aggregates = last.len() as u64;
    summary.seconds = started.elapsed().as_secs_f64();
    Ok(Verdict::Intact(summary))
}

/// `audit verify`: prints a summary (text, or JSON with `--json`) and exits 0, or names the
/// first break on stderr (and as JSON on stdout with `--json`) and exits 5.
pub async fn run(nats: &Nats, tenant: Option<&TenantId>, json: bool) -> anyhow::Result<ExitCode> {
    let head = nats.head(StreamKind::Ledger).await?;
    let progress = super::progress::bar(head, "ledger sequence");
    let verdict = verify(nats, tenant, &progress).await?;
    progress.finish_and_clear();
    match verdict {
        Verdict::Intact(summary) => {
            if json {
                let mut value = serde_json::to_value(&summary)?;
                value["intact"] = true.into();
                println!("{value}");
            } else {
                println!(
                    "ledger intact: {} messages of {} aggregates ({} events) verified, sequences {}..{}, in {:.2} s",
                    summary.messages,
                    summary.aggregates,
                    summary.events,
                    summary.first_sequence.unwrap_or(0),
                    summary.last_sequence.unwrap_or(0),
                    summary.seconds
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        Verdict::Broken(broken) => {
            eprintln!(
                "TAMPERED: {} #{} in stream {}: expected previous hash {}{}, found {}; {}",
                broken.subject,
                broken.sequence,
                broken.stream,
                broken.expected_hash.as_deref().unwrap_or("none"),
                broken
                    .previous_sequence
                    .map(|p| format!(" (of #{p})"))
                    .unwrap_or_default(),
                broken.found_hash.as_deref().unwrap_or("none"),
                broken.reason
            );
            if json {
                let mut value = serde_json::to_value(&broken)?;
                value["intact"] = false.into();
                println!("{value}");
            }
            Ok(ExitCode::from(EXIT_TAMPERED))
        }
    }
}

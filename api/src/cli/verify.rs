//! `hookledger audit verify`: replays the whole ledger and checks every aggregate's hash chain.
//!
//! It proves that no ledger message was removed, inserted or altered since it was written
//! (see `hookledger_domain::ledger::chain`). It reads the stream in order up to the head
//! sequence it found at start, so it finishes on a ledger that keeps growing.

use std::process::ExitCode;
use std::time::Duration;

use futures::StreamExt;
use hookledger_domain::ledger::chain::ChainVerifier;
use hookledger_domain::ledger::reader::StreamKind;
use hookledger_domain::ledger::{LedgerError, Nats};

/// Exit code when a chain is broken.
pub const EXIT_TAMPERED: u8 = 5;

/// Verifies every chain; prints a summary (or the first break) and returns the exit code.
pub async fn verify(nats: &Nats) -> anyhow::Result<ExitCode> {
    let head = nats.head(StreamKind::Ledger).await?;
    let mut verifier = ChainVerifier::default();
    if head > 0 {
        let mut tail = nats.tail(StreamKind::Ledger, "", 1).await?;
        loop {
            let next = tokio::time::timeout(Duration::from_secs(30), tail.next()).await;
            let message = match next {
                Ok(Some(message)) => message?,
                Ok(None) => anyhow::bail!("the ledger stream ended before sequence {head}"),
                Err(_) => {
                    return Err(
                        LedgerError::unavailable_because("no ledger message for 30 s").into(),
                    );
                }
            };
            let entry = message.ledger_entry()?;
            if let Err(broken) = verifier.check(&entry) {
                eprintln!(
                    "TAMPERED: {} #{}: names previous hash {:?}, but the previous message of this aggregate hashes to {:?}",
                    broken.subject,
                    broken.sequence,
                    broken.found_prev_hash,
                    broken.expected_prev_hash
                );
                return Ok(ExitCode::from(EXIT_TAMPERED));
            }
            if message.sequence >= head {
                break;
            }
        }
    }
    println!(
        "ledger intact: {} messages of {} aggregates verified up to sequence {head}",
        verifier.messages(),
        verifier.aggregates()
    );
    Ok(ExitCode::SUCCESS)
}

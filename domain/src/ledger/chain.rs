//! The per-aggregate hash chain.
//!
//! Every ledger message names the SHA-256 of the previous message of its aggregate
//! (`prevHash`). Replaying a subject and recomputing the hashes proves that no message was
//! removed, inserted or altered after the fact: JetStream already refuses deletes and purges on
//! the ledger stream (`deny_delete`, `deny_purge`), and the chain catches what an operator with
//! disk access or a doctored backup could still do.

use sha2::{Digest, Sha256};

use super::LedgerEntry;

/// Hex SHA-256 of a stored message's bytes.
pub fn hash(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// Where a chain breaks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChainBreak {
    pub subject: String,
    pub sequence: u64,
    pub expected_prev_hash: Option<String>,
    pub found_prev_hash: Option<String>,
}

/// Checks the entries of one aggregate, in order: each names its predecessor's hash and the
/// first names none.
pub fn verify(entries: &[LedgerEntry]) -> Result<(), ChainBreak> {
    let mut expected: Option<&str> = None;
    for entry in entries {
        if entry.record.prev_hash.as_deref() != expected {
            return Err(ChainBreak {
                subject: entry.subject.clone(),
                sequence: entry.sequence,
                expected_prev_hash: expected.map(str::to_owned),
                found_prev_hash: entry.record.prev_hash.clone(),
            });
        }
        expected = Some(&entry.hash);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ledger::LedgerRecord;

    fn entry(seq: u64, prev: Option<String>, body: &str) -> LedgerEntry {
        let record = LedgerRecord {
            command_id: body.into(),
            actor: "system".into(),
            occurred_at: chrono::DateTime::UNIX_EPOCH,
            correlation_id: None,
            aggregate_type: "webhook".into(),
            aggregate_id: "t.wh".into(),
            prev_hash: prev,
            events: vec![],
        };
        let bytes = serde_json::to_vec(&record).unwrap();
        LedgerEntry {
            subject: "p.ledger.webhook.t.wh".into(),
            sequence: seq,
            time: record.occurred_at,
            hash: hash(&bytes),
            record,
        }
    }

    #[test]
    fn an_intact_chain_verifies() {
        let a = entry(1, None, "a");
        let b = entry(5, Some(a.hash.clone()), "b");
        let c = entry(9, Some(b.hash.clone()), "c");
        assert_eq!(verify(&[a, b, c]), Ok(()));
    }

    #[test]
    fn a_removed_message_breaks_the_chain_where_it_was() {
        let a = entry(1, None, "a");
        let b = entry(5, Some(a.hash.clone()), "b");
        let c = entry(9, Some(b.hash.clone()), "c");
        let err = verify(&[a.clone(), c]).unwrap_err();
        assert_eq!(err.sequence, 9);
        assert_eq!(err.expected_prev_hash, Some(a.hash));
    }

    #[test]
    fn an_altered_message_breaks_the_chain_after_it() {
        let a = entry(1, None, "a");
        let b = entry(5, Some(a.hash.clone()), "b");
        let forged = entry(1, None, "a-forged");
        assert_eq!(verify(&[forged, b]).unwrap_err().sequence, 5);
    }
}

//! The per-aggregate hash chain.
//!
//! Every ledger message names the SHA-256 of the previous message of its aggregate
//! (`prevHash`). Replaying a subject and recomputing the hashes proves that no message was
//! removed, inserted or altered after the fact: JetStream already refuses deletes and purges on
//! the ledger stream (`deny_delete`, `deny_purge`), and the chain catches what an operator with
//! disk access or a doctored backup could still do.

use std::collections::HashMap;

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

/// Checks the whole ledger in one pass, in stream order: it remembers the last hash of every
/// aggregate it has seen, so memory grows with the number of aggregates, not of messages.
#[derive(Debug, Default)]
pub struct ChainVerifier {
    last: HashMap<String, String>,
    messages: u64,
}

impl ChainVerifier {
    /// Checks the next message of the ledger (messages must come in stream order).
    pub fn check(&mut self, entry: &LedgerEntry) -> Result<(), ChainBreak> {
        let expected = self.last.get(&entry.subject);
        if entry.record.prev_hash.as_ref() != expected {
            return Err(ChainBreak {
                subject: entry.subject.clone(),
                sequence: entry.sequence,
                expected_prev_hash: expected.cloned(),
                found_prev_hash: entry.record.prev_hash.clone(),
            });
        }
        self.last.insert(entry.subject.clone(), entry.hash.clone());
        self.messages += 1;
        Ok(())
    }

    pub fn messages(&self) -> u64 {
        self.messages
    }

    pub fn aggregates(&self) -> usize {
        self.last.len()
    }
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
    fn the_ledger_verifier_follows_each_aggregate_through_interleaved_messages() {
        let a1 = entry(1, None, "a1");
        let mut b1 = entry(2, None, "b1");
        b1.subject = "p.ledger.webhook.t.other".into();
        let a2 = entry(3, Some(a1.hash.clone()), "a2");
        let mut verifier = ChainVerifier::default();
        for e in [&a1, &b1, &a2] {
            verifier.check(e).unwrap();
        }
        assert_eq!((verifier.messages(), verifier.aggregates()), (3, 2));
        let forged = entry(4, Some(a1.hash.clone()), "a3");
        assert_eq!(verifier.check(&forged).unwrap_err().sequence, 4);
    }

    #[test]
    fn an_altered_message_breaks_the_chain_after_it() {
        let a = entry(1, None, "a");
        let b = entry(5, Some(a.hash.clone()), "b");
        let forged = entry(1, None, "a-forged");
        assert_eq!(verify(&[forged, b]).unwrap_err().sequence, 5);
    }
}

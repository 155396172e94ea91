//! Answers of read routes, kept while the view they were read from has not changed.
//!
//! A view changes only when its projector commits a batch, and the projector of this process
//! publishes every commit's checkpoint ([`hookledger_projections::Projections::checkpoint`]).
//! An answer read at checkpoint `c` is therefore exactly current while the checkpoint is still
//! `c`: it is served from memory until the next commit, then read again. Writes answer only once
//! the checkpoint reached their version, so read-your-writes holds. When this process does not
//! project the ledger (another replica holds the writer lock), nothing is cached.
//!
//! Bounded by total bytes: when full, the cache is emptied (hot answers come back at once).

use std::collections::HashMap;
use std::sync::Mutex;

use axum::body::Bytes;
use hookledger_projections::{Projections, View};

/// Bytes of answers kept at most.
const MAX_BYTES: usize = 32 * 1024 * 1024;

#[derive(Debug, Default)]
struct Entries {
    map: HashMap<String, (u64, Bytes)>,
    bytes: usize,
}

/// See the module docs.
#[derive(Debug, Default)]
pub struct ReadCache {
    entries: Mutex<Entries>,
}

/// Where a read stands: the checkpoint it is valid for, when caching applies.
#[derive(Debug, Clone, Copy)]
pub struct Stamp(Option<u64>);

impl ReadCache {
    /// The stamp of a read of the ledger view starting now (read it before querying).
    pub fn stamp(projections: &Projections) -> Stamp {
        Stamp(
            projections
                .is_writer(View::Ledger)
                .then(|| projections.checkpoint(View::Ledger)),
        )
    }

    /// The answer kept for `key` at `stamp`'s checkpoint.
    pub fn get(&self, key: &str, stamp: Stamp) -> Option<Bytes> {
        let checkpoint = stamp.0?;
        let entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        match entries.map.get(key) {
            Some((at, bytes)) if *at == checkpoint => Some(bytes.clone()),
            _ => None,
        }
    }

    /// Keeps `bytes` as the answer for `key` read at `stamp`.
    pub fn put(&self, key: String, stamp: Stamp, bytes: Bytes) {
        let Some(checkpoint) = stamp.0 else { return };
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        if entries.bytes + bytes.len() > MAX_BYTES {
            entries.map.clear();
            entries.bytes = 0;
        }
        entries.bytes += bytes.len();
        if let Some((_, old)) = entries.map.insert(key, (checkpoint, bytes)) {
            entries.bytes -= old.len();
        }
    }
}

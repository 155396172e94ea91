//! `View`: the two projectors, the stream each one reads and the tables each one owns.
//!
//! One projector per stream keeps things simple and fast: every table fed by the `LEDGER`
//! stream moves with one checkpoint (`ledger`), every table fed by `DELIVERIES` with another
//! (`deliveries`). A [`Target`] names the tables a batch is written to: the live ones, or their
//! `_shadow` copies during a rebuild.

use std::fmt;
use std::str::FromStr;

use hookledger_domain::ledger::Names;
use hookledger_domain::ledger::reader::StreamKind;

/// A projection (one projector, one checkpoint).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum View {
    /// `tenants`, `api_keys`, `event_types`, `webhooks`, `webhook_history`, `events_archive`,
    /// from the `LEDGER` stream.
    Ledger,
    /// `deliveries`, `delivery_attempts`, `webhook_stats`, `webhook_stats_hourly`, from the
    /// `DELIVERIES` stream.
    Deliveries,
}

impl View {
    pub const ALL: [View; 2] = [View::Ledger, View::Deliveries];

    /// The name used in `projection_checkpoints`, metrics and the CLI.
    pub fn name(self) -> &'static str {
        match self {
            View::Ledger => "ledger",
            View::Deliveries => "deliveries",
        }
    }

    /// The most messages its projector applies in one transaction. Delivery facts come in
    /// thousands a second and each batch costs a fixed handful of round trips, so their
    /// batches are larger; the ledger's stay small enough to keep read-your-writes quick.
    pub fn max_batch(self) -> usize {
        match self {
            View::Ledger => crate::MAX_BATCH,
            View::Deliveries => 4 * crate::MAX_BATCH,
        }
    }

    /// How long its projector waits, after a batch's first message, for more to join it when
    /// nothing more has arrived. Every batch costs a fixed handful of statements (the lookup,
    /// the writes, the stats, the checkpoint, the commit), so a projector that keeps up takes
    /// whatever came during its last commit, a few dozen facts at thousands a second, and
    /// spends most of its PostgreSQL time on the fixed part: waiting a little makes batches
    /// of hundreds, at that much more lag. The ledger's is zero: a create answers once its
    /// batch is committed (read-your-writes), and nothing waits for the deliveries view.
    pub fn linger(self) -> std::time::Duration {
        match self {
            View::Ledger => std::time::Duration::ZERO,
            View::Deliveries => std::time::Duration::from_millis(50),
        }
    }

    /// The tables this projection owns, in the order they are created and swapped.
    pub fn tables(self) -> &'static [&'static str] {
        match self {
            View::Ledger => &[
                "tenants",
                "api_keys",
                "console_links",
                "event_types",
                "webhooks",
                "webhook_history",
                "events_archive",
            ],
            View::Deliveries => &[
                "deliveries",
                "delivery_attempts",
                "webhook_stats",
                "webhook_stats_hourly",
            ],
        }
    }

    /// Which view owns `table` (for `projections rebuild webhooks`).
    pub fn of_table(table: &str) -> Option<View> {
        View::ALL.into_iter().find(|v| v.tables().contains(&table))
    }

    pub(crate) fn stream(self) -> StreamKind {
        match self {
            View::Ledger => StreamKind::Ledger,
            View::Deliveries => StreamKind::Deliveries,
        }
    }

    /// The subject filter of this view's reader (all of the stream).
    pub(crate) fn filter(self, names: &Names) -> String {
        match self {
            View::Ledger => names.ledger_all(),
            View::Deliveries => names.deliveries_all(),
        }
    }

    /// The advisory lock held by the one writer of this view (projector or rebuild).
    pub(crate) fn writer_lock(self) -> i64 {
        lock_key(&format!("hookledger.projection.{}", self.name()))
    }

    /// The advisory lock a rebuild holds to make live projectors stand aside.
    pub(crate) fn rebuild_lock(self) -> i64 {
        lock_key(&format!("hookledger.rebuild.{}", self.name()))
    }
}

impl fmt::Display for View {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A name that is neither a view nor one of their tables.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown projection {0:?}: expected ledger, deliveries or one of their tables")]
pub struct UnknownView(pub String);

impl FromStr for View {
    type Err = UnknownView;

    /// Accepts a view name or the name of one of its tables.
    fn from_str(s: &str) -> Result<Self, UnknownView> {
        View::ALL
            .into_iter()
            .find(|v| v.name() == s)
            .or_else(|| View::of_table(s))
            .ok_or_else(|| UnknownView(s.to_owned()))
    }
}

/// FNV-1a: a stable 64-bit key for `pg_advisory_lock` (advisory locks are per database).
fn lock_key(name: &str) -> i64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in name.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    i64::from_ne_bytes(h.to_ne_bytes())
}

/// Which copy of the tables a batch writes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Target {
    Live,
    Shadow,
}

impl Target {
    /// The name of `table` in this copy.
    pub(crate) fn table(self, table: &str) -> String {
        match self {
            Target::Live => table.to_owned(),
            Target::Shadow => format!("{table}_shadow"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn views_parse_from_their_names_and_their_tables() {
        assert_eq!("ledger".parse::<View>(), Ok(View::Ledger));
        assert_eq!("webhook_history".parse::<View>(), Ok(View::Ledger));
        assert_eq!("webhook_stats".parse::<View>(), Ok(View::Deliveries));
        assert!("nope".parse::<View>().is_err());
    }

    #[test]
    fn every_lock_key_is_distinct() {
        let keys = [
            View::Ledger.writer_lock(),
            View::Ledger.rebuild_lock(),
            View::Deliveries.writer_lock(),
            View::Deliveries.rebuild_lock(),
        ];
        for (i, a) in keys.iter().enumerate() {
            assert!(keys[i + 1..].iter().all(|b| a != b));
        }
    }
}

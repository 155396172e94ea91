//! Connecting to NATS: a bounded wait with a clear message, never a hang or a panic.

use std::time::Duration;

use async_nats::jetstream;

use super::{LedgerError, Names};
use crate::deadline::with_deadline;

/// The oldest nats-server hookledger runs on (stream features the ledger relies on).
pub const MIN_SERVER_VERSION: (u64, u64) = (2, 10);

/// A connection to NATS with its JetStream context and this installation's names. Cheap to
/// clone; every clone shares the one connection.
#[derive(Clone, Debug)]
pub struct Nats {
    pub(crate) client: async_nats::Client,
    pub(crate) js: jetstream::Context,
    pub(crate) names: Names,
}

impl Nats {
    pub fn names(&self) -> &Names {
        &self.names
    }

    /// True while the client holds a live connection (for `/readyz`).
    pub fn is_connected(&self) -> bool {
        self.client.connection_state() == async_nats::connection::State::Connected
    }

    /// The server's version string, as it announced itself.
    pub fn server_version(&self) -> String {
        self.client.server_info().version
    }

    /// Waits until everything published on this connection has reached the server.
    pub async fn flush(&self) -> Result<(), LedgerError> {
        self.client
            .flush()
            .await
            .map_err(|e| LedgerError::unavailable("flush", e))
    }
}

/// Connects to `url` (one URL, or a comma-separated list of a cluster's nodes), retrying with backoff for at most `wait` ([`with_deadline`]), then
/// checks that the server is recent enough and has JetStream.
pub async fn connect(url: &str, names: Names, wait: Duration) -> Result<Nats, LedgerError> {
    let client = with_deadline("NATS", url, wait, || {
        async_nats::ConnectOptions::new()
            .name("hookledger")
            .connection_timeout(Duration::from_secs(5).min(wait.max(Duration::from_millis(500))))
            // A cluster: several URLs, comma-separated; the client fails over between them.
            .connect(url.split(',').map(str::trim).collect::<Vec<_>>())
    })
    .await
    .map_err(|e| LedgerError::unavailable(&e.headline(), e.source))?;
    let version = client.server_info().version;
    if !version_at_least(&version, MIN_SERVER_VERSION) {
        return Err(LedgerError::unavailable_because(format!(
            "nats-server at {url} is version {version}; hookledger needs {}.{} or newer \
             (scripts/run installs 2.15.1)",
            MIN_SERVER_VERSION.0, MIN_SERVER_VERSION.1
        )));
    }
    if !client.server_info().jetstream {
        return Err(LedgerError::unavailable_because(format!(
            "nats-server at {url} runs without JetStream; start it with -js"
        )));
    }
    let js = jetstream::ContextBuilder::new()
        .timeout(Duration::from_secs(5))
        .build(client.clone());
    Ok(Nats { client, js, names })
}

pub(crate) fn version_at_least(version: &str, (major, minor): (u64, u64)) -> bool {
    let mut parts = version
        .trim_start_matches('v')
        .split(['.', '-'])
        .map(|p| p.parse::<u64>().unwrap_or(0));
    let (a, b) = (parts.next().unwrap_or(0), parts.next().unwrap_or(0));
    (a, b) >= (major, minor)
}

#[cfg(test)]
mod tests {
    use super::version_at_least;

    #[test]
    fn server_versions_compare_by_major_and_minor() {
        assert!(version_at_least("2.15.1", (2, 10)));
        assert!(version_at_least("2.10.0-beta", (2, 10)));
        assert!(!version_at_least("2.9.25", (2, 10)));
        assert!(version_at_least("3.0.0", (2, 10)));
    }
}

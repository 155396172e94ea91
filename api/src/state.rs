//! What every request handler shares.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use hookledger_domain::catalog::EventCatalog;
use hookledger_domain::dialect::Dialect;
use hookledger_domain::ids::TenantId;
use hookledger_domain::ledger::{Ledger, Nats};
use hookledger_domain::secrets::Keyring;
use hookledger_domain::tenant::Tenant;
use hookledger_domain::webhook::Webhook;
use hookledger_domain::webhook::values::Limits;
use hookledger_projections::Projections;
use sqlx::PgPool;

use crate::Config;

/// Cheap to clone: every field is shared.
#[derive(Clone)]
pub struct AppState {
    pub config: Arc<Config>,
    pub nats: Nats,
    pub pool: PgPool,
    pub webhooks: Arc<Ledger<Webhook>>,
    pub tenants: Arc<Ledger<Tenant>>,
    pub catalogs: Arc<Ledger<EventCatalog>>,
    pub keyring: Arc<Keyring>,
    pub projections: Projections,
    pub limits: Arc<Limits>,
    /// Delivery: `test`, `redeliver` and `recover` call it; it runs the router and the worker
    /// when this process has those roles.
    pub dispatcher: hookledger_dispatcher::Dispatcher,
    /// The last number each numbering dialect (SuperOffice, Sonar) handed out per tenant in
    /// this process; the ledger settles races between replicas.
    pub dialect_numbers: Arc<DialectNumbers>,
}

/// See [`AppState::dialect_numbers`].
pub type DialectNumbers = std::sync::Mutex<HashMap<(Dialect, TenantId), i32>>;

impl AppState {
    /// How long a write waits for the read model (read-your-writes).
    pub fn ryw_timeout(&self) -> Duration {
        Duration::from_millis(self.config.http.read_your_writes_timeout_ms)
    }

    pub fn allow_private_targets(&self) -> bool {
        self.config.dispatcher.allow_private_targets
    }
}

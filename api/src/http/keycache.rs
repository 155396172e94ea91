//! The API-key lookup cache: a checked key is remembered for a short time, so a busy key does
//! not cost a database lookup per request, and a revocation still takes effect at once.
//!
//! An entry is used only while all of these hold:
//! - it is younger than `http.api_key_cache_ttl_ms`;
//! - when this process projects the ledger, the ledger view has not moved since the entry was
//!   read (any ledger change, a revocation included, makes every entry stale);
//! - no revoke route of this process removed it ([`KeyCache::forget`]).
//!
//! So a revocation is seen at once by the process that projects the ledger and by the one that
//! served the revoke; another replica sees it within the TTL (the documented multi-replica
//! bound). Unknown and revoked keys are never cached.
//!
//! While PostgreSQL cannot be asked, an entry up to [`STALE_MAX`] old is used anyway, so a
//! publisher goes on publishing through an outage (deliveries need no PostgreSQL either). A
//! revocation cannot reach the view while PostgreSQL is down, so this delays nothing that
//! could have taken effect: it takes effect when PostgreSQL is back (and at once in the
//! process that served it, which forgets the entry). A key not seen in the last
//! [`STALE_MAX`] gets the 503.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use hookledger_domain::ids::{ApiKeyId, TenantId};
use hookledger_domain::secrets::hash_api_key;
use hookledger_projections::View;

use crate::AppState;
use crate::http::error::ApiError;
use crate::http::extract::TenantAuth;

/// Entries kept at most; the cache is emptied when full (it refills from hot keys at once).
const MAX_ENTRIES: usize = 10_000;
/// The oldest entry used while PostgreSQL cannot be asked.
pub const STALE_MAX: Duration = Duration::from_secs(300);

#[derive(Debug, Clone)]
struct Entry {
    auth: TenantAuth,
    at: Instant,
    checkpoint: u64,
}

/// See the module docs.
#[derive(Debug)]
pub struct KeyCache {
    ttl: Duration,
    entries: Mutex<HashMap<String, Entry>>,
}

impl KeyCache {
    pub fn new(ttl: Duration) -> Self {
        Self {
            ttl,
            entries: Mutex::new(HashMap::new()),
        }
    }

    /// The tenant and key id of `key`, or 401 when it is unknown or revoked.
    pub async fn authenticate(&self, state: &AppState, key: &str) -> Result<TenantAuth, ApiError> {
        let hash = hash_api_key(key);
        let writer = state.projections.is_writer(View::Ledger);
        // Read before the lookup: a change applied after this makes the new entry stale.
        let checkpoint = state.projections.checkpoint(View::Ledger);
        if let Some(auth) = self.cached(&hash, writer, checkpoint) {
            return Ok(auth);
        }
        let found = match hookledger_projections::tenants::find_api_key(&state.pool, &hash).await {
            Ok(found) => found,
            Err(error) => {
                if let Some(auth) = self.stale(&hash) {
                    tracing::debug!(%error, key_id = %auth.key_id, "PostgreSQL unavailable; using the key's last check");
                    return Ok(auth);
                }
                return Err(error.into());
            }
        };
        let row = found
            .filter(|row| !row.is_revoked())
            .ok_or(ApiError::Unauthorized)?;
        let tenant = TenantId::parse(&row.tenant)
            .map_err(|e| ApiError::Internal(format!("stored tenant id: {e}")))?;
        let key_id = ApiKeyId::parse(&row.key_id)
            .map_err(|e| ApiError::Internal(format!("stored key id: {e}")))?;
        let auth = TenantAuth { tenant, key_id };
        if !self.ttl.is_zero() {
            let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
            if entries.len() >= MAX_ENTRIES {
                entries.clear();
            }
            let entry = Entry {
                auth: auth.clone(),
                at: Instant::now(),
                checkpoint,
            };
            entries.insert(hash, entry);
        }
        Ok(auth)
    }

    fn cached(&self, hash: &str, writer: bool, checkpoint: u64) -> Option<TenantAuth> {
        if self.ttl.is_zero() {
            return None;
        }
        let entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        let entry = entries.get(hash)?;
        let fresh = entry.at.elapsed() < self.ttl && (!writer || entry.checkpoint == checkpoint);
        fresh.then(|| entry.auth.clone())
    }

    /// An entry up to [`STALE_MAX`] old, whatever the view did (PostgreSQL is down).
    fn stale(&self, hash: &str) -> Option<TenantAuth> {
        let entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        let entry = entries.get(hash)?;
        (entry.at.elapsed() < STALE_MAX).then(|| entry.auth.clone())
    }

    /// Drops every entry of `key_id` (called by the revoke route once the view applied it).
    pub fn forget(&self, key_id: &ApiKeyId) {
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        entries.retain(|_, entry| &entry.auth.key_id != key_id);
    }
}

//! What can be asked of a tenant.
//!
//! API keys are generated outside the aggregate ([`crate::secrets::generate_api_key`]): the
//! caller shows the plaintext once and hands the aggregate only an [`ApiKeyGrant`] (id, hash,
//! display prefix), so the plaintext never reaches the ledger.

use chrono::{DateTime, Utc};

use crate::ids::{ApiKeyId, TenantId};
use crate::secrets::NewApiKey;

/// An API key as the tenant aggregate records it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiKeyGrant {
    /// The key's id, `key_…`.
    pub id: ApiKeyId,
    /// An optional label, at most 200 characters.
    pub name: Option<String>,
    /// Lowercase hex SHA-256 of the key (64 characters).
    pub hash: String,
    /// The first characters of the key, for listings (at most 16).
    pub prefix: String,
}

impl ApiKeyGrant {
    /// The grant for a freshly generated key, with a new id.
    pub fn for_key(key: &NewApiKey, name: Option<String>) -> Self {
        Self {
            id: ApiKeyId::new(),
            name,
            hash: key.hash.clone(),
            prefix: key.prefix.clone(),
        }
    }
}

/// A request to change a tenant.
#[derive(Debug, Clone, PartialEq)]
pub enum TenantCommand {
    /// `hookledger tenant create` / `POST /v1/admin/tenants`: writes `tenant.created` and the
    /// first key's `tenant.api_key_issued` in one command. `AlreadyExists` if the id is taken.
    CreateTenant {
        id: TenantId,
        name: Option<String>,
        first_key: ApiKeyGrant,
    },
    /// `hookledger key issue` / `POST …/keys`: writes `tenant.api_key_issued`.
    IssueApiKey { key: ApiKeyGrant },
    /// `hookledger key revoke` / `DELETE …/keys/{keyId}`: writes `tenant.api_key_revoked`, or
    /// nothing when the key is already revoked.
    RevokeApiKey { key_id: ApiKeyId },
    /// `hookledger console revoke` / `POST …/console-links/revoke`: writes
    /// `tenant.console_links_revoked`, or nothing when links up to a later instant already are.
    RevokeConsoleLinks { before: DateTime<Utc> },
    /// `hookledger console link` / `POST …/console-links`: writes `tenant.console_link_minted`;
    /// `Validation` for a malformed id or one minted before (ids are random).
    MintConsoleLink {
        link_id: String,
        read_only: bool,
        expires_at: DateTime<Utc>,
    },
    /// `hookledger console revoke --link` / `DELETE …/console-links/{linkId}`: writes
    /// `tenant.console_link_revoked`, or nothing when the link is already revoked.
    RevokeConsoleLink { link_id: String },
}

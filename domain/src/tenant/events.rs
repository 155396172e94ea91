//! What happened to a tenant: the `tenant.*` ledger events.
//!
//! The `type` strings are written to the ledger forever: never rename one. Key events carry the
//! key's hash and display prefix, never the key.

use chrono::{DateTime, Utc};
use cqrs_es::DomainEvent;
use serde::{Deserialize, Serialize};

use crate::ids::{ApiKeyId, TenantId};

/// The events of the `tenant` aggregate. JSON: `{"type": "tenant.created", "data": {...}}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", content = "data")]
pub enum TenantEvent {
    /// The tenant exists.
    #[serde(rename = "tenant.created")]
    Created { id: TenantId, name: Option<String> },
    /// A key may now act for the tenant.
    #[serde(rename = "tenant.api_key_issued", rename_all = "camelCase")]
    ApiKeyIssued {
        key_id: ApiKeyId,
        name: Option<String>,
        key_hash: String,
        key_prefix: String,
    },
    /// The key stops working at once.
    #[serde(rename = "tenant.api_key_revoked", rename_all = "camelCase")]
    ApiKeyRevoked { key_id: ApiKeyId },
    /// Every console link minted for the tenant up to `before` stops working, and so do the
    /// sessions they opened; links minted later work.
    #[serde(rename = "tenant.console_links_revoked", rename_all = "camelCase")]
    ConsoleLinksRevoked { before: DateTime<Utc> },
    /// An operator minted a console sign-in link (the link itself, a signed token, is not
    /// recorded: only its id, which its sessions' commands carry as `console-link:<linkId>`).
    #[serde(rename = "tenant.console_link_minted", rename_all = "camelCase")]
    ConsoleLinkMinted {
        link_id: String,
        read_only: bool,
        expires_at: DateTime<Utc>,
    },
    /// This one console link stops working, and so do the sessions it opened.
    #[serde(rename = "tenant.console_link_revoked", rename_all = "camelCase")]
    ConsoleLinkRevoked { link_id: String },
}

impl DomainEvent for TenantEvent {
    fn event_type(&self) -> String {
        match self {
            Self::Created { .. } => "tenant.created",
            Self::ApiKeyIssued { .. } => "tenant.api_key_issued",
            Self::ApiKeyRevoked { .. } => "tenant.api_key_revoked",
            Self::ConsoleLinksRevoked { .. } => "tenant.console_links_revoked",
            Self::ConsoleLinkMinted { .. } => "tenant.console_link_minted",
            Self::ConsoleLinkRevoked { .. } => "tenant.console_link_revoked",
        }
        .to_owned()
    }

    fn event_version(&self) -> String {
        "1".to_owned()
    }
}

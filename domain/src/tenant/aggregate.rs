//! The `Tenant` aggregate: the tenant's existence and its API keys.
//!
//! `handle` is pure (no services). It checks what would otherwise land in the ledger forever:
//! names are bounded, and a key hash must look like a SHA-256 hex digest, so a plaintext key
//! passed by mistake is refused instead of recorded. Revoking a revoked key writes nothing, nor
//! does revoking console links up to an instant no later than one already revoked.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use cqrs_es::Aggregate;
use cqrs_es::event_sink::EventSink;
use serde::{Deserialize, Serialize};

use super::commands::{ApiKeyGrant, TenantCommand};
use super::error::TenantError;
use super::events::TenantEvent;
use crate::ids::{ApiKeyId, TenantId};
use crate::validation::{FieldErrors, Rule};

/// The longest tenant or key name.
const MAX_NAME: usize = 200;
/// The longest key display prefix.
const MAX_PREFIX: usize = 16;
/// The longest console link id.
const MAX_LINK_ID: usize = 64;

/// One API key of a tenant, as recorded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ApiKeyState {
    pub name: Option<String>,
    pub hash: String,
    pub prefix: String,
    pub revoked: bool,
}

/// The current state of one tenant.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tenant {
    id: Option<TenantId>,
    name: Option<String>,
    keys: BTreeMap<ApiKeyId, ApiKeyState>,
    /// Console links minted up to this instant no longer sign in.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    console_links_revoked_before: Option<DateTime<Utc>>,
    /// Every console link minted, by id: true once revoked.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    links: BTreeMap<String, bool>,
}

impl Tenant {
    /// The tenant's id, once created.
    pub fn id(&self) -> Option<&TenantId> {
        self.id.as_ref()
    }

    /// The tenant's display name.
    pub fn name(&self) -> Option<&str> {
        self.name.as_deref()
    }

    /// True once created.
    pub fn exists(&self) -> bool {
        self.id.is_some()
    }

    /// Every key ever issued, revoked ones included.
    pub fn keys(&self) -> &BTreeMap<ApiKeyId, ApiKeyState> {
        &self.keys
    }

    /// Console links minted up to this instant no longer sign in.
    pub fn console_links_revoked_before(&self) -> Option<DateTime<Utc>> {
        self.console_links_revoked_before
    }

    /// The id of the unrevoked key with this hash.
    pub fn active_key_by_hash(&self, hash: &str) -> Option<&ApiKeyId> {
        (self.keys.iter())
            .find(|(_, key)| !key.revoked && key.hash == hash)
            .map(|(id, _)| id)
    }

    fn decide(&self, command: TenantCommand) -> Result<Vec<TenantEvent>, TenantError> {
        match command {
            TenantCommand::CreateTenant {
                id,
                name,
                first_key,
            } => {
                if self.exists() {
                    return Err(TenantError::AlreadyExists);
                }
                let mut errors = FieldErrors::new();
                check_name(&mut errors, "name", name.as_deref());
                check_grant(&mut errors, "apiKey.", &first_key);
                errors.into_result(()).map_err(TenantError::Validation)?;
                Ok(vec![TenantEvent::Created { id, name }, issued(first_key)])
            }
            TenantCommand::IssueApiKey { key } => {
                if !self.exists() {
                    return Err(TenantError::NotFound);
                }
                if self.keys.contains_key(&key.id) {
                    return Err(TenantError::KeyAlreadyExists);
                }
                let mut errors = FieldErrors::new();
                check_grant(&mut errors, "", &key);
                errors.into_result(()).map_err(TenantError::Validation)?;
                Ok(vec![issued(key)])
            }
            TenantCommand::RevokeApiKey { key_id } => {
                if !self.exists() {
                    return Err(TenantError::NotFound);
                }
                match self.keys.get(&key_id) {
                    None => Err(TenantError::KeyNotFound),
                    Some(key) if key.revoked => Ok(vec![]),
                    Some(_) => Ok(vec![TenantEvent::ApiKeyRevoked { key_id }]),
                }
            }
            TenantCommand::MintConsoleLink {
                link_id,
                read_only,
                expires_at,
            } => {
                if !self.exists() {
                    return Err(TenantError::NotFound);
                }
                let well_formed = (1..=MAX_LINK_ID).contains(&link_id.len())
                    && link_id
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
                if !well_formed || self.links.contains_key(&link_id) {
                    let mut errors = FieldErrors::new();
                    let expected = "a new link id of 1-64 letters, digits, _ or -".into();
                    errors.push("linkId", Rule::InvalidFormat { expected });
                    return errors.into_result(vec![]).map_err(TenantError::Validation);
                }
                Ok(vec![TenantEvent::ConsoleLinkMinted {
                    link_id,
                    read_only,
                    expires_at,
                }])
            }
            TenantCommand::RevokeConsoleLink { link_id } => {
                if !self.exists() {
                    return Err(TenantError::NotFound);
                }
                match self.links.get(&link_id) {
                    None => Err(TenantError::LinkNotFound),
                    Some(true) => Ok(vec![]),
                    Some(false) => Ok(vec![TenantEvent::ConsoleLinkRevoked { link_id }]),
                }
            }
            TenantCommand::RevokeConsoleLinks { before } => {
                if !self.exists() {
                    return Err(TenantError::NotFound);
                }
                if self
                    .console_links_revoked_before
                    .is_some_and(|b| b >= before)
                {
                    return Ok(vec![]);
                }
                Ok(vec![TenantEvent::ConsoleLinksRevoked { before }])
            }
        }
    }
}

fn issued(key: ApiKeyGrant) -> TenantEvent {
    TenantEvent::ApiKeyIssued {
        key_id: key.id,
        name: key.name,
        key_hash: key.hash,
        key_prefix: key.prefix,
    }
}

fn check_name(errors: &mut FieldErrors, field: &str, name: Option<&str>) {
    if name.is_some_and(|n| n.chars().count() > MAX_NAME) {
        errors.push(field, Rule::TooLong { max: MAX_NAME });
    }
}

/// A grant's name is bounded, its hash is 64 lowercase hex digits, its prefix is short.
fn check_grant(errors: &mut FieldErrors, prefix: &str, key: &ApiKeyGrant) {
    check_name(errors, &format!("{prefix}name"), key.name.as_deref());
    let is_sha256_hex = key.hash.len() == 64
        && key
            .hash
            .bytes()
            .all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
    if !is_sha256_hex {
        let expected = "a SHA-256 digest in lowercase hex".into();
        errors.push(format!("{prefix}hash"), Rule::InvalidFormat { expected });
    }
    if key.prefix.chars().count() > MAX_PREFIX {
        errors.push(format!("{prefix}prefix"), Rule::TooLong { max: MAX_PREFIX });
    }
}

impl Aggregate for Tenant {
    const TYPE: &'static str = "tenant";
    type Command = TenantCommand;
    type Event = TenantEvent;
    type Error = TenantError;
    type Services = ();

    async fn handle(
        &mut self,
        command: TenantCommand,
        _services: &(),
        sink: &EventSink<Self>,
    ) -> Result<(), TenantError> {
        for event in self.decide(command)? {
            sink.write(event, self).await;
        }
        Ok(())
    }

    fn apply(&mut self, event: TenantEvent) {
        match event {
            TenantEvent::Created { id, name } => {
                self.id = Some(id);
                self.name = name;
            }
            TenantEvent::ApiKeyIssued {
                key_id,
                name,
                key_hash,
                key_prefix,
            } => {
                let key = ApiKeyState {
                    name,
                    hash: key_hash,
                    prefix: key_prefix,
                    revoked: false,
                };
                self.keys.insert(key_id, key);
            }
            TenantEvent::ApiKeyRevoked { key_id } => {
                if let Some(key) = self.keys.get_mut(&key_id) {
                    key.revoked = true;
                }
            }
            TenantEvent::ConsoleLinksRevoked { before } => {
                let latest = self.console_links_revoked_before.max(Some(before));
                self.console_links_revoked_before = latest;
            }
            TenantEvent::ConsoleLinkMinted { link_id, .. } => {
                self.links.insert(link_id, false);
            }
            TenantEvent::ConsoleLinkRevoked { link_id } => {
                self.links.insert(link_id, true);
            }
        }
    }
}

//! Tenant and API-key operations, shared by the `hookledger tenant|key` commands and the
//! `/v1/admin` routes. Keys are generated here (the only randomness of a tenant command), and
//! only their hash travels into the ledger.

use chrono::{DateTime, SubsecRound as _, Utc};
use hookledger_domain::ids::{ApiKeyId, TenantId};
use hookledger_domain::ledger::{CommandError, CommandMeta, Ledger};
use hookledger_domain::secrets::{NewApiKey, generate_api_key};
use hookledger_domain::tenant::{ApiKeyGrant, Tenant, TenantCommand, TenantError};
use serde::Serialize;

/// A key as shown once, when it is issued.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct IssuedKey {
    pub id: ApiKeyId,
    pub key: String,
    pub created_at: DateTime<Utc>,
}

/// A new tenant with its first key.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CreatedTenant {
    pub id: TenantId,
    pub name: Option<String>,
    pub created_at: DateTime<Utc>,
    pub api_key: IssuedKey,
    /// Ledger sequence of the creation (for read-your-writes).
    #[serde(skip)]
    pub version: u64,
}

fn grant(name: Option<String>) -> (ApiKeyGrant, NewApiKey) {
    let key = generate_api_key();
    let grant = ApiKeyGrant {
        id: ApiKeyId::new(),
        name,
        hash: key.hash.clone(),
        prefix: key.prefix.clone(),
    };
    (grant, key)
}

/// Creates a tenant and its first API key.
pub async fn create_tenant(
    ledger: &Ledger<Tenant>,
    id: TenantId,
    name: Option<String>,
    meta: &CommandMeta,
) -> Result<CreatedTenant, CommandError<TenantError>> {
    let (first_key, key) = grant(Some("default".into()));
    let key_id = first_key.id.clone();
    let command = TenantCommand::CreateTenant {
        id: id.clone(),
        name: name.clone(),
        first_key,
    };
    let committed = ledger.execute(id.as_str(), command, meta).await?;
    if committed.duplicate {
        // The same command id was stored before with another random key we cannot show again.
        return Err(CommandError::Rejected(TenantError::AlreadyExists));
    }
    Ok(CreatedTenant {
        id,
        name,
        created_at: meta.occurred_at,
        api_key: IssuedKey {
            id: key_id,
            key: key.plaintext,
            created_at: meta.occurred_at,
        },
        version: committed.version,
    })
}

/// Issues another API key for a tenant. Returns it with the ledger sequence of the change.
pub async fn issue_key(
    ledger: &Ledger<Tenant>,
    tenant: &TenantId,
    name: Option<String>,
    meta: &CommandMeta,
) -> Result<(IssuedKey, u64), CommandError<TenantError>> {
    let (grant, key) = grant(name);
    let id = grant.id.clone();
    let committed = ledger
        .execute(
            tenant.as_str(),
            TenantCommand::IssueApiKey { key: grant },
            meta,
        )
        .await?;
    if committed.duplicate {
        return Err(CommandError::Conflict);
    }
    Ok((
        IssuedKey {
            id,
            key: key.plaintext,
            created_at: meta.occurred_at,
        },
        committed.version,
    ))
}

/// Revokes a key; it stops working once the `api_keys` view applies the change. Returns that
/// ledger sequence.
pub async fn revoke_key(
    ledger: &Ledger<Tenant>,
    tenant: &TenantId,
    key_id: ApiKeyId,
    meta: &CommandMeta,
) -> Result<u64, CommandError<TenantError>> {
    let committed = ledger
        .execute(
            tenant.as_str(),
            TenantCommand::RevokeApiKey { key_id },
            meta,
        )
        .await?;
    Ok(committed.version)
}

/// Revokes every console link of a tenant minted up to now (and the sessions they opened).
/// Returns the instant and the ledger sequence of the change (the sequence the tenant had, when
/// links up to a later instant were already revoked and nothing was written).
pub async fn revoke_console_links(
    ledger: &Ledger<Tenant>,
    tenant: &TenantId,
    meta: &CommandMeta,
) -> Result<(DateTime<Utc>, u64), CommandError<TenantError>> {
    // Milliseconds, as links count their minting: the ledger, the view (microseconds) and
    // the answer then name the same instant.
    let before = meta.occurred_at.trunc_subsecs(3);
    let command = TenantCommand::RevokeConsoleLinks { before };
    let committed = ledger.execute(tenant.as_str(), command, meta).await?;
    Ok((before, committed.version))
}

/// Revokes one console link (and the sessions it opened). Returns the ledger sequence of the
/// change, or the tenant's when the link was already revoked.
pub async fn revoke_console_link(
    ledger: &Ledger<Tenant>,
    tenant: &TenantId,
    link_id: String,
    meta: &CommandMeta,
) -> Result<u64, CommandError<TenantError>> {
    let command = TenantCommand::RevokeConsoleLink { link_id };
    Ok(ledger
        .execute(tenant.as_str(), command, meta)
        .await?
        .version)
}

//! Console links: short-lived sign-in links an operator mints for a tenant
//! (`hookledger console link TENANT [--ttl 1h] [--read-only]` and
//! `POST /v1/admin/tenants/{id}/console-links`).
//!
//! Decisions: a link is a signed token (`{tenant, readOnly, exp, jti, iat}` sealed with the
//! link key derived from the master key), so any replica accepts it without a lookup of the
//! token. Minting is recorded in the ledger (`tenant.console_link_minted`: the link's id, the
//! `jti`, never the token), so an audit finds who minted the link whose id a command's actor
//! `console-link:<jti>` names. It is a bearer credential until it expires: opening it starts a
//! session that lasts until the link's expiry. A link used after its expiry gets a page saying so (410). TTLs run
//! from one minute to seven days.
//!
//! Revocation, of one link (`hookledger console revoke TENANT --link ID`, `DELETE
//! /v1/admin/tenants/{id}/console-links/{linkId}`: `tenant.console_link_revoked`) or of every
//! link of a tenant minted up to now (`hookledger console revoke TENANT`, `POST
//! /v1/admin/tenants/{id}/console-links/revoke`: `tenant.console_links_revoked`). A link
//! carries when it was minted (`iat`, milliseconds); opening a revoked one shows a page saying
//! when it was revoked (410), and a session it opened is checked on every request
//! ([`revoked_at`]). A link minted before `iat` existed counts as minted at 0, so any
//! tenant-wide revocation covers it.

use chrono::{DateTime, TimeZone as _, Utc};
use serde::{Deserialize, Serialize};

use hookledger_domain::ids::TenantId;
use hookledger_domain::ledger::{CommandError, CommandMeta, Ledger};
use hookledger_domain::tenant::{Tenant, TenantCommand, TenantError};
use hookledger_projections::ProjectionError;
use sqlx::PgPool;

use super::seal::{SealKey, random_id};
use crate::Config;

/// Shortest and longest link lifetime, in seconds.
pub const MIN_TTL_SECONDS: i64 = 60;
pub const MAX_TTL_SECONDS: i64 = 7 * 24 * 3600;

/// What a link carries.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct LinkClaims {
    pub(crate) tenant: String,
    pub(crate) read_only: bool,
    /// Unix seconds.
    pub(crate) exp: i64,
    pub(crate) jti: String,
    /// When it was minted, Unix milliseconds.
    #[serde(default)]
    pub(crate) iat: i64,
}

/// A minted link.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ConsoleLink {
    /// The link's id (`jti`): what revokes it, and what its sessions' actor names.
    pub id: String,
    /// The path to open on the server: `/console/link?token=…`.
    pub path: String,
    pub token: String,
    pub expires_at: DateTime<Utc>,
    pub read_only: bool,
}

/// Why a link does not sign in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum LinkError {
    /// Not a link this server signed (or altered).
    Invalid,
    /// Signed, but past its expiry.
    Expired(DateTime<Utc>),
}

/// Whether a link (or a session it opened) minted at `iat` falls under a revocation of the
/// tenant's links up to `before`.
pub(crate) fn is_revoked(iat: i64, before: Option<DateTime<Utc>>) -> bool {
    before.is_some_and(|before| iat <= before.timestamp_millis())
}

fn key(config: &Config) -> SealKey {
    SealKey::derive(config, "link")
}

/// Mints a link for `tenant` valid for `ttl_seconds` from now.
pub fn mint(config: &Config, tenant: &str, ttl_seconds: i64, read_only: bool) -> ConsoleLink {
    let now = Utc::now();
    let exp = now.timestamp() + ttl_seconds;
    let claims = LinkClaims {
        tenant: tenant.to_owned(),
        read_only,
        exp,
        jti: random_id(),
        iat: now.timestamp_millis(),
    };
    let token = key(config).seal(&claims);
    ConsoleLink {
        id: claims.jti,
        path: format!("/console/link?token={token}"),
        token,
        expires_at: Utc.timestamp_opt(exp, 0).single().unwrap_or_else(Utc::now),
        read_only,
    }
}

/// Mints a link for `tenant` and records it in the ledger (`tenant.console_link_minted`).
/// Returns it with the ledger sequence of the record.
pub async fn mint_recorded(
    ledger: &Ledger<Tenant>,
    config: &Config,
    tenant: &TenantId,
    ttl_seconds: i64,
    read_only: bool,
    meta: &CommandMeta,
) -> Result<(ConsoleLink, u64), CommandError<TenantError>> {
    let link = mint(config, tenant.as_str(), ttl_seconds, read_only);
    let command = TenantCommand::MintConsoleLink {
        link_id: link.id.clone(),
        read_only,
        expires_at: link.expires_at,
    };
    let committed = ledger.execute(tenant.as_str(), command, meta).await?;
    Ok((link, committed.version))
}

/// When the link `link_id` of `tenant`, minted at `iat` (Unix milliseconds), was revoked, if
/// it was: on its own, or with every link of the tenant minted up to an instant.
pub(crate) async fn revoked_at(
    pool: &PgPool,
    tenant: &str,
    link_id: &str,
    iat: i64,
) -> Result<Option<DateTime<Utc>>, ProjectionError> {
    let revocation =
        hookledger_projections::tenants::console_link_revocation(pool, tenant, link_id).await?;
    let before = revocation.console_links_revoked_before;
    Ok(revocation
        .revoked_at
        .or(before.filter(|_| is_revoked(iat, before))))
}

/// The claims of a valid, unexpired link.
pub(crate) fn verify(config: &Config, token: &str) -> Result<LinkClaims, LinkError> {
    let claims: LinkClaims = key(config).open(token).ok_or(LinkError::Invalid)?;
    if claims.exp <= Utc::now().timestamp() {
        let at = Utc
            .timestamp_opt(claims.exp, 0)
            .single()
            .unwrap_or_else(Utc::now);
        return Err(LinkError::Expired(at));
    }
    Ok(claims)
}

/// Parses a lifetime such as `90s`, `30m`, `1h` or `2d` (a bare number is seconds), checked
/// against [`MIN_TTL_SECONDS`]..=[`MAX_TTL_SECONDS`].
pub fn parse_ttl(raw: &str) -> Result<i64, String> {
    let raw = raw.trim();
    let (digits, unit) = raw.split_at(raw.find(|c: char| !c.is_ascii_digit()).unwrap_or(raw.len()));
    let n: i64 = digits
        .parse()
        .map_err(|_| format!("ttl {raw:?}: expected a number with s, m, h or d, like 1h"))?;
    let factor = match unit {
        "" | "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        other => {
            return Err(format!(
                "ttl {raw:?}: unknown unit {other:?} (s, m, h or d)"
            ));
        }
    };
    let seconds = n.saturating_mul(factor);
    if !(MIN_TTL_SECONDS..=MAX_TTL_SECONDS).contains(&seconds) {
        return Err(format!(
            "ttl {raw:?}: must be between 1m and 7d ({MIN_TTL_SECONDS}..={MAX_TTL_SECONDS} seconds)"
        ));
    }
    Ok(seconds)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_revocation_covers_links_minted_up_to_its_instant() {
        let before = Utc.timestamp_millis_opt(1_000_500).single();
        assert!(is_revoked(1_000_499, before));
        assert!(is_revoked(1_000_500, before));
        assert!(!is_revoked(1_000_501, before));
        assert!(!is_revoked(0, None));
        // A link minted before links carried `iat` reads as minted at 0.
        assert!(is_revoked(0, before));
    }

    #[test]
    fn ttls_parse_with_units_and_stay_in_range() {
        assert_eq!(parse_ttl("1h"), Ok(3600));
        assert_eq!(parse_ttl("30m"), Ok(1800));
        assert_eq!(parse_ttl("120"), Ok(120));
        assert_eq!(parse_ttl("2d"), Ok(172_800));
        assert!(parse_ttl("5s").unwrap_err().contains("between 1m and 7d"));
        assert!(parse_ttl("8d").is_err());
        assert!(parse_ttl("1w").unwrap_err().contains("unknown unit"));
        assert!(parse_ttl("h").is_err());
    }
}

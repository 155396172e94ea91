//! Console links: short-lived sign-in links an operator mints for a tenant
//! (`hookledger console link TENANT [--ttl 1h] [--read-only]` and
//! `POST /v1/admin/tenants/{id}/console-links`).
//!
//! Decisions: a link is a signed token (`{tenant, readOnly, exp, jti}` sealed with the link
//! key derived from the master key), so minting needs no storage and any replica accepts it.
//! It is a bearer credential until it expires: opening it starts a session that lasts until
//! the link's expiry, and commands made in it are recorded with the actor
//! `console-link:<jti>`. A link used after its expiry gets a page saying so (410). TTLs run
//! from one minute to seven days.

use chrono::{DateTime, TimeZone as _, Utc};
use serde::{Deserialize, Serialize};

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
}

/// A minted link.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ConsoleLink {
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

fn key(config: &Config) -> SealKey {
    SealKey::derive(config, "link")
}

/// Mints a link for `tenant` valid for `ttl_seconds` from now.
pub fn mint(config: &Config, tenant: &str, ttl_seconds: i64, read_only: bool) -> ConsoleLink {
    let exp = Utc::now().timestamp() + ttl_seconds;
    let claims = LinkClaims {
        tenant: tenant.to_owned(),
        read_only,
        exp,
        jti: random_id(),
    };
    let token = key(config).seal(&claims);
    ConsoleLink {
        path: format!("/console/link?token={token}"),
        token,
        expires_at: Utc.timestamp_opt(exp, 0).single().unwrap_or_else(Utc::now),
        read_only,
    }
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

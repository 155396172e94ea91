//! The console session: a signed cookie, and the extractors that read it.
//!
//! Decisions:
//! - The cookie holds no credential: `{sid, tenant, keyId?, actor, readOnly, exp}` sealed with
//!   the session key ([`super::seal`]). Nothing is kept on the server, so replicas share
//!   sessions without a store; signing out clears the cookie, and a key sign-in is re-checked
//!   against the `api_keys` view on every request, so revoking the key ends its sessions.
//! - `HttpOnly; SameSite=Strict; Path=/console`, plus `Secure` when the request came over TLS
//!   (`X-Forwarded-Proto: https` from the proxy in front).
//! - Lifetime: 8 hours for a key sign-in; a console link's session ends when the link expires,
//!   or when the link is revoked, alone or with the tenant's others (checked against the
//!   views on every request, as a key is: `super::links::revoked_at`).
//! - A missing, forged or expired cookie sends a page request to the sign-in page (303).

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Redirect, Response};
use chrono::Utc;
use hookledger_domain::ids::TenantId;
use serde::{Deserialize, Serialize};

use super::csrf;
use super::seal::{SealKey, random_id};
use crate::AppState;

pub(crate) const COOKIE: &str = "hookledger_console";
/// How long a key sign-in lasts.
pub(crate) const KEY_SESSION_SECONDS: i64 = 8 * 3600;

/// What the cookie says.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Session {
    pub(crate) sid: String,
    /// The tenant this session sees; `None` for an operator session.
    pub(crate) tenant: Option<String>,
    /// The API key that signed in (checked on each request), if any.
    pub(crate) key_id: Option<String>,
    /// Recorded as the actor of this session's commands: the key id, `console-link:<id>`, or
    /// `operator`.
    pub(crate) actor: String,
    pub(crate) read_only: bool,
    /// Unix seconds.
    pub(crate) exp: i64,
    /// For a session a console link opened: when the link was minted (Unix milliseconds).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) link_iat: Option<i64>,
}

impl Session {
    pub(crate) fn for_tenant(
        tenant: &str,
        key_id: Option<String>,
        actor: String,
        read_only: bool,
        exp: i64,
    ) -> Self {
        Self {
            sid: random_id(),
            tenant: Some(tenant.to_owned()),
            key_id,
            actor,
            read_only,
            exp,
            link_iat: None,
        }
    }

    pub(crate) fn operator() -> Self {
        Self {
            sid: random_id(),
            tenant: None,
            key_id: None,
            actor: "operator".into(),
            read_only: false,
            exp: Utc::now().timestamp() + KEY_SESSION_SECONDS,
            link_iat: None,
        }
    }

    pub(crate) fn is_operator(&self) -> bool {
        self.tenant.is_none()
    }
}

fn key(state: &AppState) -> SealKey {
    SealKey::derive(&state.config, "session")
}

/// True when the request reached the proxy in front over TLS.
fn behind_tls(headers: &HeaderMap) -> bool {
    headers
        .get("x-forwarded-proto")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("https"))
}

/// `Set-Cookie` for a new session.
pub(crate) fn set_cookie(state: &AppState, headers: &HeaderMap, session: &Session) -> HeaderValue {
    let max_age = (session.exp - Utc::now().timestamp()).max(0);
    let secure = if behind_tls(headers) { "; Secure" } else { "" };
    let value = format!(
        "{COOKIE}={}; Path=/console; HttpOnly; SameSite=Strict; Max-Age={max_age}{secure}",
        key(state).seal(session)
    );
    HeaderValue::from_str(&value).expect("a sealed token is a valid header value")
}

/// `Set-Cookie` that removes the session.
pub(crate) fn clear_cookie(headers: &HeaderMap) -> HeaderValue {
    let secure = if behind_tls(headers) { "; Secure" } else { "" };
    HeaderValue::from_str(&format!(
        "{COOKIE}=; Path=/console; HttpOnly; SameSite=Strict; Max-Age=0{secure}"
    ))
    .expect("a valid header value")
}

/// The session of a request, if its cookie is ours and not expired.
pub(crate) fn read(state: &AppState, headers: &HeaderMap) -> Option<Session> {
    let token = headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == COOKIE)
        .map(|(_, value)| value.to_owned())?;
    let session: Session = key(state).open(&token)?;
    (session.exp > Utc::now().timestamp()).then_some(session)
}

/// A signed-in tenant session (and its CSRF token for the page's forms).
#[derive(Debug, Clone)]
pub(crate) struct TenantSession {
    pub(crate) session: Session,
    pub(crate) tenant: TenantId,
    pub(crate) csrf: String,
}

/// A signed-in operator session.
#[derive(Debug, Clone)]
pub(crate) struct OperatorSession {
    pub(crate) session: Session,
    pub(crate) csrf: String,
}

impl FromRequestParts<AppState> for TenantSession {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Response> {
        let to_sign_in = || Redirect::to("/console/sign-in").into_response();
        let session = read(state, &parts.headers).ok_or_else(to_sign_in)?;
        let tenant = session
            .tenant
            .as_deref()
            .and_then(|t| TenantId::parse(t).ok())
            .ok_or_else(to_sign_in)?;
        if let Some(key_id) = &session.key_id {
            let keys = hookledger_projections::tenants::api_keys(&state.pool, tenant.as_str())
                .await
                .map_err(|e| super::layout::failure(e.into()))?;
            if !keys.iter().any(|k| &k.key_id == key_id && !k.is_revoked()) {
                return Err(to_sign_in());
            }
        }
        if let Some(link_id) = session.actor.strip_prefix("console-link:") {
            // A link session opened before sessions carried `linkIat` counts as minted at 0.
            let iat = session.link_iat.unwrap_or(0);
            let revoked = super::links::revoked_at(&state.pool, tenant.as_str(), link_id, iat)
                .await
                .map_err(|e| super::layout::failure(e.into()))?;
            if revoked.is_some() {
                return Err(to_sign_in());
            }
        }
        let csrf = csrf::token(state, &session);
        Ok(Self {
            session,
            tenant,
            csrf,
        })
    }
}

impl FromRequestParts<AppState> for OperatorSession {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Response> {
        let session = read(state, &parts.headers)
            .filter(Session::is_operator)
            .ok_or_else(|| Redirect::to("/console/operator/sign-in").into_response())?;
        let csrf = csrf::token(state, &session);
        Ok(Self { session, csrf })
    }
}

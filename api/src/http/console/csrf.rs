//! CSRF protection for the console's forms.
//!
//! Decisions: a synchronizer token tied to the session (`HMAC(csrf key, session id)`), put in
//! every form as the hidden field `csrf` and checked on every POST, so a token from another
//! session (or none) is refused. Defence in depth beside it: the session cookie is
//! `SameSite=Strict`, and a POST whose `Origin` names another host is refused too.

use axum::http::{HeaderMap, header};

use super::seal::SealKey;
use super::session::Session;
use crate::AppState;

/// The token of `session`'s forms.
pub(crate) fn token(state: &AppState, session: &Session) -> String {
    SealKey::derive(&state.config, "csrf").tag(session.sid.as_bytes())
}

/// True when `given` is `session`'s token.
pub(crate) fn valid(state: &AppState, session: &Session, given: Option<&str>) -> bool {
    given.is_some_and(|given| {
        SealKey::derive(&state.config, "csrf").check(session.sid.as_bytes(), given)
    })
}

/// False when the request carries an `Origin` whose host is not the request's `Host`.
pub(crate) fn same_origin(headers: &HeaderMap) -> bool {
    let Some(origin) = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok()) else {
        return true;
    };
    let host = headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let origin_host = origin
        .split_once("://")
        .map_or(origin, |(_, rest)| rest)
        .trim_end_matches('/');
    origin != "null" && origin_host.eq_ignore_ascii_case(host)
}

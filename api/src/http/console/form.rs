//! Form bodies (`application/x-www-form-urlencoded`) and the checks every console POST makes.
//!
//! Decisions: bodies are parsed with `form_urlencoded` into ordered pairs (repeated names,
//! such as the event-type checkboxes, stay repeated). Every write checks, in order: the
//! `Origin` (when sent) is this host, the CSRF token is the session's, and the session is not
//! read-only; any failure is a 403 page and nothing runs.

use axum::body::Bytes;
use axum::http::HeaderMap;
use axum::response::Response;

use super::csrf;
use super::layout::{Chrome, forbidden};
use super::session::Session;
use crate::AppState;

/// A parsed form.
#[derive(Debug, Default)]
pub(crate) struct Form(Vec<(String, String)>);

impl Form {
    pub(crate) fn parse(body: &Bytes) -> Self {
        Self(
            form_urlencoded::parse(body)
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect(),
        )
    }

    /// The first value of `name`, trimmed; `None` when absent or blank.
    pub(crate) fn get(&self, name: &str) -> Option<String> {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.trim().to_owned())
            .filter(|v| !v.is_empty())
    }

    /// Every non-blank value of `name`.
    pub(crate) fn all(&self, name: &str) -> Vec<String> {
        self.0
            .iter()
            .filter(|(k, v)| k == name && !v.trim().is_empty())
            .map(|(_, v)| v.trim().to_owned())
            .collect()
    }

    /// The raw value of `name` (untrimmed), for text areas.
    pub(crate) fn raw(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// The refusal of a write that fails the checks (see the module docs); `None` lets it run.
pub(crate) fn refuse_write(
    state: &AppState,
    headers: &HeaderMap,
    session: &Session,
    chrome: &Chrome<'_>,
    form: &Form,
) -> Option<Response> {
    if let Some(refused) = refuse_csrf(state, headers, session, chrome, form) {
        return Some(refused);
    }
    if session.read_only {
        return Some(forbidden(
            chrome,
            "This session is read-only (it was opened with a read-only console link): it can look, not change.",
        ));
    }
    None
}

/// The origin and CSRF checks alone (sign-out is allowed to read-only sessions).
pub(crate) fn refuse_csrf(
    state: &AppState,
    headers: &HeaderMap,
    session: &Session,
    chrome: &Chrome<'_>,
    form: &Form,
) -> Option<Response> {
    if !csrf::same_origin(headers) {
        return Some(forbidden(chrome, "This form was sent from another site."));
    }
    if !csrf::valid(state, session, form.get("csrf").as_deref()) {
        return Some(forbidden(
            chrome,
            "This form is stale or was not sent from this console (CSRF token mismatch). Reload the page and try again.",
        ));
    }
    None
}

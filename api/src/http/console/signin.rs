//! Signing in and out: with a tenant API key (checked by the same key cache as `/v1`), with
//! a console link, and sign-out.
//!
//! A link's page sets the cookie and then moves on with a `<meta http-equiv=refresh>` (and a
//! link), not a redirect: a link opened from a mail or chat is a cross-site navigation, and a
//! `SameSite=Strict` cookie is not sent on the redirect that would follow it, while it is on
//! the same-site navigation the page itself makes.

use std::sync::Arc;

use axum::Extension;
use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use maud::html;
use serde::Deserialize;

use super::form::{Form, refuse_csrf};
use super::layout::{PUBLIC, failure, page, render, when};
use super::links::{self, LinkError};
use super::session::{self, KEY_SESSION_SECONDS, Session};
use crate::AppState;
use crate::http::error::ApiError;
use crate::http::runtime::HttpRuntime;

pub(crate) async fn home(State(state): State<AppState>, headers: HeaderMap) -> Response {
    match session::read(&state, &headers) {
        Some(s) if s.is_operator() => Redirect::to("/console/operator").into_response(),
        Some(_) => Redirect::to("/console/webhooks").into_response(),
        None => Redirect::to("/console/sign-in").into_response(),
    }
}

#[derive(Debug, Default, Deserialize)]
pub(crate) struct SignInQuery {
    #[serde(default)]
    signed_out: Option<String>,
}

fn sign_in_page(status: StatusCode, message: Option<&str>, error: Option<&str>) -> Response {
    let body = html! {
        @if let Some(m) = message { p.notice #notice { (m) } }
        @if let Some(e) = error { div.problem role="alert" { span #sign-in-error { (e) } } }
        form #sign-in-form.stack method="post" action="/console/sign-in" {
            label { "Tenant API key" input #api-key name="key" type="password" autocomplete="off" required placeholder="hk_…"; }
            button #sign-in type="submit" { "Sign in" }
        }
        p.muted { "Operators mint short-lived console links with " code { "hookledger console link TENANT" } ". "
            a href="/console/operator/sign-in" { "Operator sign-in" } }
    };
    render(status, page(&PUBLIC, "Sign in", body))
}

pub(crate) async fn sign_in_form(Query(q): Query<SignInQuery>) -> Response {
    let message = q.signed_out.is_some().then_some("You are signed out.");
    sign_in_page(StatusCode::OK, message, None)
}

pub(crate) async fn sign_in(
    State(state): State<AppState>,
    Extension(runtime): Extension<Arc<HttpRuntime>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if !super::csrf::same_origin(&headers) {
        return sign_in_page(
            StatusCode::FORBIDDEN,
            None,
            Some("This form was sent from another site."),
        );
    }
    let form = Form::parse(&body);
    let Some(key) = form.get("key") else {
        return sign_in_page(
            StatusCode::UNPROCESSABLE_ENTITY,
            None,
            Some("key: is required"),
        );
    };
    if !hookledger_domain::secrets::looks_like_api_key(&key) {
        return sign_in_page(
            StatusCode::UNAUTHORIZED,
            None,
            Some("This is not a valid API key (hk_ followed by 43 characters)."),
        );
    }
    match runtime.keys.authenticate(&state, &key).await {
        Ok(auth) => {
            let exp = chrono::Utc::now().timestamp() + KEY_SESSION_SECONDS;
            let s = Session::for_tenant(
                auth.tenant.as_str(),
                Some(auth.key_id.to_string()),
                auth.actor(),
                false,
                exp,
            );
            signed_in(
                &state,
                &headers,
                &s,
                Redirect::to("/console/webhooks").into_response(),
            )
        }
        Err(ApiError::Unauthorized) => sign_in_page(
            StatusCode::UNAUTHORIZED,
            None,
            Some("Unknown or revoked API key."),
        ),
        Err(e) => failure(e),
    }
}

/// `response` with the session cookie.
pub(crate) fn signed_in(
    state: &AppState,
    headers: &HeaderMap,
    s: &Session,
    mut response: Response,
) -> Response {
    response
        .headers_mut()
        .append(header::SET_COOKIE, session::set_cookie(state, headers, s));
    response
}

#[derive(Debug, Default, Deserialize)]
pub(crate) struct LinkQuery {
    token: Option<String>,
}

pub(crate) async fn link(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(q): Query<LinkQuery>,
) -> Response {
    let token = q.token.unwrap_or_default();
    let claims = match links::verify(&state.config, &token) {
        Ok(claims) => claims,
        Err(LinkError::Expired(at)) => {
            let body = html! {
                p.problem #link-expired { "This console link expired at " (when(&at)) ". Console links are short-lived: ask your operator for a new one, or sign in with an API key." }
                p { a href="/console/sign-in" { "Sign in with an API key" } }
            };
            return render(
                StatusCode::GONE,
                page(&PUBLIC, "Console link expired", body),
            );
        }
        Err(LinkError::Invalid) => {
            let body = html! { p.problem #link-invalid { "This console link is not valid (it was altered, or minted by another server)." } };
            return render(
                StatusCode::UNAUTHORIZED,
                page(&PUBLIC, "Invalid console link", body),
            );
        }
    };
    match hookledger_projections::tenants::get(&state.pool, &claims.tenant).await {
        Ok(Some(_)) => {}
        Ok(None) => {
            let body = html! { p.problem { "The tenant of this link no longer exists." } };
            return render(StatusCode::NOT_FOUND, page(&PUBLIC, "Unknown tenant", body));
        }
        Err(e) => return failure(e.into()),
    }
    match links::revoked_at(&state.pool, &claims.tenant, &claims.jti, claims.iat).await {
        Ok(Some(at)) => return revoked_page(&at),
        Ok(None) => {}
        Err(e) => return failure(e.into()),
    }
    let mut s = Session::for_tenant(
        &claims.tenant,
        None,
        format!("console-link:{}", claims.jti),
        claims.read_only,
        claims.exp,
    );
    s.link_iat = Some(claims.iat);
    let mut response = render(
        StatusCode::OK,
        html! {
            (maud::DOCTYPE)
            html lang="en" {
                head {
                    meta charset="utf-8";
                    meta http-equiv="refresh" content="0;url=/console/webhooks";
                    title { "Signing in · hookledger console" }
                    link rel="stylesheet" href="/console/assets/console.css";
                }
                body { main { p #link-accepted { "Signed in to " (claims.tenant) @if claims.read_only { " (read-only)" } ". " a href="/console/webhooks" { "Continue" } } } }
            }
        },
    );
    response.headers_mut().insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    signed_in(&state, &headers, &s, response)
}

/// 410 for a revoked link.
fn revoked_page(at: &chrono::DateTime<chrono::Utc>) -> Response {
    let body = html! {
        p.problem #link-revoked { "This console link was revoked at " (when(at)) ". Ask your operator for a new one, or sign in with an API key." }
        p { a href="/console/sign-in" { "Sign in with an API key" } }
    };
    render(
        StatusCode::GONE,
        page(&PUBLIC, "Console link revoked", body),
    )
}

pub(crate) async fn sign_out(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let form = Form::parse(&body);
    if let Some(s) = session::read(&state, &headers)
        && let Some(refused) = refuse_csrf(&state, &headers, &s, &PUBLIC, &form)
    {
        return refused;
    }
    let mut response = Redirect::to("/console/sign-in?signed_out=1").into_response();
    response
        .headers_mut()
        .append(header::SET_COOKIE, session::clear_cookie(&headers));
    response
}

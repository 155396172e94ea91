//! Operator pages (signed in with `http.operator_token`): tenants with their keys, console
//! links minted for a tenant (and revoked: every link minted until now), and where each projection stands (checkpoint, stream head,
//! lag, and the EVENTS stream's head) — the same queries as `hookledger tenant list` and `hookledger projections status`
//! — the delivery queue depths (`Nats::queue_depths`), and the ledger check ([`super::verify`]).

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use maud::html;
use sha2::{Digest, Sha256};

use super::form::{Form, refuse_csrf};
use super::layout::{PUBLIC, csrf_field, failure_page, page, page_or_failure, render, when};
use super::links;
use super::session::{OperatorSession, Session};
use super::signin::signed_in;
use hookledger_domain::ids::TenantId;
use hookledger_domain::ledger::CommandMeta;

use crate::http::error::ApiError;
use crate::http::routes::support::caught_up;
use crate::{AppState, tenancy};

fn sign_in_page(status: StatusCode, error: Option<&str>) -> Response {
    let body = html! {
        @if let Some(e) = error { div.problem role="alert" { (e) } }
        form #operator-sign-in-form.stack method="post" action="/console/operator/sign-in" {
            label { "Operator token" input #operator-token name="token" type="password" autocomplete="off" required; }
            button #operator-sign-in type="submit" { "Sign in" }
        }
    };
    render(status, page(&PUBLIC, "Operator sign-in", body))
}

pub(crate) async fn sign_in_form() -> Response {
    sign_in_page(StatusCode::OK, None)
}

pub(crate) async fn sign_in(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if !super::csrf::same_origin(&headers) {
        return sign_in_page(
            StatusCode::FORBIDDEN,
            Some("This form was sent from another site."),
        );
    }
    let given = Form::parse(&body).get("token").unwrap_or_default();
    let expected = &state.config.http.operator_token;
    // Compare digests, so the comparison's time says nothing about the token.
    if expected.is_empty()
        || Sha256::digest(given.as_bytes()) != Sha256::digest(expected.as_bytes())
    {
        return sign_in_page(
            StatusCode::UNAUTHORIZED,
            Some("Wrong operator token (or none is configured: http.operator_token)."),
        );
    }
    signed_in(
        &state,
        &headers,
        &Session::operator(),
        Redirect::to("/console/operator").into_response(),
    )
}

pub(crate) async fn overview(s: OperatorSession, State(state): State<AppState>) -> Response {
    let chrome = s.chrome("operator");
    let result = async {
        let tenants = hookledger_projections::tenants::list(&state.pool, 1, 100).await?;
        let views = hookledger_projections::status::views(&state.nats, &state.pool).await?;
        let events = state
            .nats
            .head(hookledger_domain::ledger::reader::StreamKind::Events)
            .await?;
        let queues = state.nats.queue_depths().await?;
        let consumer = |name: &str, c: Option<hookledger_domain::ledger::queues::ConsumerDepth>| html! {
            tr data-consumer=(name) {
                td { (name) }
                @match c {
                    Some(c) => { td.pending { (c.pending) } td.ack-pending { (c.ack_pending) } td { (c.redelivered) } },
                    None => { td colspan="3" .muted { "not created yet (no process with this role has started)" } },
                }
            }
        };
        Ok::<_, ApiError>(page(&chrome, "Operator", html! {
            h2 { "Tenants (" (tenants.total) ")" }
            table #tenants {
                thead { tr { th { "Id" } th { "Name" } th { "Created" } } }
                tbody { @for t in &tenants.data { tr { td { a href={ "/console/operator/tenants/" (t.id) } { (t.id) } } td { (t.name) } td { (when(&t.created_at)) } } } }
            }
            h2 { "Projections" }
            table #projections {
                thead { tr { th { "View" } th { "Checkpoint" } th { "Stream head" } th { "Lag" } } }
                tbody { @for v in &views { tr { td { (format!("{:?}", v.view)) } td { (v.checkpoint) } td { (v.head) } td { (v.lag) } } } }
            }
            p #events-head { "EVENTS stream: last sequence " (events) "." }
            h2 { "Dispatcher queues" }
            p #dispatch-messages { "DISPATCH stream: " (queues.dispatch_messages) " messages (jobs and held retries)." }
            table #queues {
                thead { tr { th { "Consumer" } th { "Pending" } th { "Ack pending" } th { "Redelivered" } } }
                tbody {
                    (consumer("router (EVENTS)", queues.router))
                    (consumer("dispatcher (DISPATCH)", queues.dispatcher))
                }
            }
            h2 { "Ledger verification" }
            form #verify-form.inline method="post" action="/console/operator/verify" {
                (csrf_field(&chrome))
                button #verify type="submit" { "Verify the ledger's hash chains now" }
                span.muted { " replays the whole LEDGER stream, as " code { "hookledger audit verify" } " does" }
            }
        }))
    }
    .await;
    page_or_failure(&chrome, result).await
}

pub(crate) async fn tenant(
    s: OperatorSession,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Response {
    let chrome = s.chrome("operator");
    let result = async {
        let t = hookledger_projections::tenants::get(&state.pool, &id).await?.ok_or(ApiError::NotFound("tenant"))?;
        let keys = hookledger_projections::tenants::api_keys(&state.pool, &id).await?;
        let revoked = t.console_links_revoked_before;
        let live = hookledger_projections::tenants::live_console_links(&state.pool, &id, 50).await?;
        Ok::<_, ApiError>(page(&chrome, &format!("Tenant {}", t.id), html! {
            h2 { "API keys" }
            table #keys {
                thead { tr { th { "Id" } th { "Name" } th { "Prefix" } th { "Created" } th { "Revoked" } } }
                tbody { @for k in &keys { tr { td { code { (k.key_id) } } td { (k.name.as_deref().unwrap_or("")) } td { code { (k.prefix) "…" } } td { (when(&k.created_at)) } td { (k.revoked_at.map_or("—".into(), |t| when(&t))) } } } }
            }
            h2 { "Console link" }
            form #mint-link.inline method="post" action={ "/console/operator/tenants/" (t.id) "/console-link" } {
                (csrf_field(&chrome))
                label { "Valid for " input name="ttl" value="1h" size="5"; }
                label.check { input type="checkbox" name="readOnly" value="1"; "read-only" }
                button type="submit" { "Mint link" }
            }
            table #console-links {
                thead { tr { th { "Link" } th { "Access" } th { "Minted" } th { "Expires" } th { "Revoked" } th {} } }
                tbody {
                    @for l in &live {
                        @let gone = l.revoked_at.or(revoked.filter(|_| links::is_revoked(l.minted_at.timestamp_millis(), revoked)));
                        tr data-link=(l.link_id) {
                            td { code { (l.link_id) } }
                            td { @if l.read_only { "read-only" } @else { "read-write" } }
                            td { (when(&l.minted_at)) }
                            td { (when(&l.expires_at)) }
                            td { (gone.map_or("—".into(), |t| when(&t))) }
                            td {
                                @if gone.is_none() {
                                    form.inline method="post" action={ "/console/operator/tenants/" (t.id) "/console-links/" (l.link_id) "/revoke" } {
                                        (csrf_field(&chrome))
                                        button type="submit" { "Revoke" }
                                    }
                                }
                            }
                        }
                    }
                    @if live.is_empty() { tr { td colspan="6" { "No unexpired console link." } } }
                }
            }
            p #links-revoked.muted {
                @if let Some(at) = revoked { "Links minted until " (when(&at)) " are revoked, with their sessions." }
                @else { "No console link of this tenant was ever revoked." }
            }
            form #revoke-links.inline method="post" action={ "/console/operator/tenants/" (t.id) "/console-links/revoke" } {
                (csrf_field(&chrome))
                button type="submit" { "Revoke every link minted until now" }
                span.muted { " and end the sessions they opened, as " code { "hookledger console revoke " (t.id) } " does" }
            }
        }))
    }
    .await;
    page_or_failure(&chrome, result).await
}

pub(crate) async fn mint_link(
    s: OperatorSession,
    State(state): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let chrome = s.chrome("operator");
    let form = Form::parse(&body);
    if let Some(refused) = refuse_csrf(&state, &headers, &s.session, &chrome, &form) {
        return refused;
    }
    let result = async {
        let tenant = TenantId::parse(&id).map_err(|_| ApiError::NotFound("tenant"))?;
        let ttl = links::parse_ttl(&form.get("ttl").unwrap_or_else(|| "1h".into())).map_err(|e| ApiError::field("ttl", e))?;
        let meta = CommandMeta::new("operator");
        let read_only = form.get("readOnly").is_some();
        let (link, version) = links::mint_recorded(&state.tenants, &state.config, &tenant, ttl, read_only, &meta).await?;
        caught_up(&state, version).await?;
        Ok::<_, ApiError>(page(&chrome, "Console link minted", html! {
            p { "Give this link to the tenant; it signs in " @if link.read_only { "read-only " } "until " (when(&link.expires_at)) "." }
            pre #minted-link { (link.path) }
        }))
    }
    .await;
    match result {
        Ok(markup) => render(StatusCode::CREATED, markup),
        Err(e) => failure_page(&chrome, e).await,
    }
}

/// Revokes every console link of the tenant minted until now, then shows the tenant again.
pub(crate) async fn revoke_links(
    s: OperatorSession,
    State(state): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let ledger = &state.tenants;
    tenant_command(
        &s,
        &state,
        &id,
        &headers,
        &body,
        move |tenant, meta| async move {
            let (_, version) = tenancy::revoke_console_links(ledger, &tenant, &meta).await?;
            Ok(version)
        },
    )
    .await
}

/// Revokes one console link of the tenant, then shows the tenant again.
pub(crate) async fn revoke_link(
    s: OperatorSession,
    State(state): State<AppState>,
    Path((id, link_id)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let ledger = &state.tenants;
    tenant_command(
        &s,
        &state,
        &id,
        &headers,
        &body,
        move |tenant, meta| async move {
            Ok(tenancy::revoke_console_link(ledger, &tenant, link_id, &meta).await?)
        },
    )
    .await
}

/// An operator's form about tenant `id`: refused without the session's CSRF token (or from
/// another site); else `command` runs as the operator, the views apply it, and the tenant's
/// page shows again.
async fn tenant_command<F, Fut>(
    s: &OperatorSession,
    state: &AppState,
    id: &str,
    headers: &HeaderMap,
    body: &Bytes,
    command: F,
) -> Response
where
    F: FnOnce(TenantId, CommandMeta) -> Fut,
    Fut: Future<Output = Result<u64, ApiError>>,
{
    let chrome = s.chrome("operator");
    let form = Form::parse(body);
    if let Some(refused) = refuse_csrf(state, headers, &s.session, &chrome, &form) {
        return refused;
    }
    let result = async {
        let tenant = TenantId::parse(id).map_err(|_| ApiError::NotFound("tenant"))?;
        let version = command(tenant, CommandMeta::new("operator")).await?;
        caught_up(state, version).await
    }
    .await;
    match result {
        Ok(()) => Redirect::to(&format!("/console/operator/tenants/{id}")).into_response(),
        Err(e) => failure_page(&chrome, e).await,
    }
}

//! The operator's ledger check: a button on the operator page runs the hash-chain verifier of
//! `hookledger audit verify` (`cli::audit::verify::verify`, called through its public function
//! only) and shows its verdict — intact with what it covered, or the first break.
//!
//! Decisions: on demand, not on a schedule (it replays the whole ledger, seconds per million
//! messages); a POST with the operator session's CSRF token, so a link cannot start one; the
//! result is not kept (run it again to know again).

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use indicatif::ProgressBar;
use maud::html;

use super::form::{Form, refuse_csrf};
use super::layout::{failure_page, page, render};
use super::session::OperatorSession;
use crate::AppState;
use crate::cli::audit::verify::{Verdict, verify};
use crate::http::error::ApiError;

pub(crate) async fn run(
    s: OperatorSession,
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let chrome = s.chrome("operator");
    if let Some(refused) = refuse_csrf(&state, &headers, &s.session, &chrome, &Form::parse(&body)) {
        return refused;
    }
    let verdict = match verify(&state.nats, None, &ProgressBar::hidden()).await {
        Ok(v) => v,
        Err(e) => return failure_page(&chrome, ApiError::from(e)).await,
    };
    let (status, body) = match verdict {
        Verdict::Intact(sum) => (
            StatusCode::OK,
            html! {
                p #verify-result.ok { "Intact: every hash chain of " code { (sum.stream) } " checks out." }
                dl.facts {
                    dt { "Aggregates" } dd #verify-aggregates { (sum.aggregates) }
                    dt { "Messages" } dd #verify-messages { (sum.messages) }
                    dt { "Events" } dd { (sum.events) }
                    dt { "Sequences" } dd { (sum.first_sequence.map_or("—".into(), |s| s.to_string())) " – " (sum.last_sequence.map_or("—".into(), |s| s.to_string())) }
                    dt { "Took" } dd { (format!("{:.2} s", sum.seconds)) }
                }
            },
        ),
        Verdict::Broken(b) => (
            StatusCode::OK,
            html! {
                p #verify-result.bad { "Broken: " (b.reason) }
                dl.facts {
                    dt { "Subject" } dd { code { (b.subject) } }
                    dt { "Sequence" } dd { (b.sequence) }
                    dt { "Previous sequence" } dd { (b.previous_sequence.map_or("—".into(), |s| s.to_string())) }
                    dt { "Expected hash" } dd { code { (b.expected_hash.as_deref().unwrap_or("—")) } }
                    dt { "Found hash" } dd { code { (b.found_hash.as_deref().unwrap_or("—")) } }
                }
            },
        ),
    };
    let body = html! { (body) p { a href="/console/operator" { "← operator" } } };
    render(status, page(&chrome, "Ledger verification", body))
}

//! The five vendor dialects, each served under `/compat/<vendor>` exactly as its document
//! (`shared/seeds/`) describes, so a client written for the vendor works by changing the base
//! URL.
//!
//! Each vendor module is a thin adapter: it parses the vendor's JSON into the native commands
//! ([`support::Vendor`] runs them: validation, the ledger, read-your-writes) and renders the
//! native views in the vendor's shape. Every webhook made here is an ordinary webhook: it is in
//! `/v1/webhooks`, its deliveries are signed Standard Webhooks like any other, and its vendor
//! id is written into its webhook id ([`hookledger_domain::dialect`]), so no lookup is needed
//! either way. A dialect lists and finds only the webhooks made through it.
//!
//! Authentication is the tenant's API key as `x-api-key`, `Authorization: Bearer` or
//! `Authorization: Basic` (key as password), whichever the vendor's document names; errors are
//! problem documents (RFC 9457) with the vendor's field names, since none of the documents
//! shows an error body of its own.

mod numbers;
mod salesfinity;
mod saleshandy;
mod salesos;
mod sonar;
mod superoffice;
pub(crate) mod support;

use axum::Router;

use crate::AppState;

/// Every dialect's routes, under `/compat/<vendor>`.
pub fn router() -> Router<AppState> {
    Router::new()
        .nest("/compat/salesfinity", salesfinity::router())
        .nest("/compat/saleshandy", saleshandy::router())
        .nest("/compat/salesos", salesos::router())
        .nest("/compat/superoffice", superoffice::router())
        .nest("/compat/sonar", sonar::router())
}

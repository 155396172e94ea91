//! `hookledger bench receiver`: a counting webhook receiver, a process of its own, for
//! `bench deployed` (so the receiver's CPU is not the server's, as with a real customer).
//!
//! Every request to any path but `/count` answers `200` with an empty body, at once, without
//! reading the signature (a real receiver would verify it; the cost of that is the
//! customer's). `GET /count` answers `{"total": N}`, the requests received since start.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use anyhow::Context as _;
use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;

/// Serves until Ctrl-C or SIGTERM.
pub async fn run(listen: SocketAddr) -> anyhow::Result<()> {
    let count = Arc::new(AtomicU64::new(0));
    let app = Router::new()
        .route("/count", get(total))
        .fallback(received)
        .with_state(count);
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .with_context(|| format!("binding {listen}"))?;
    println!(
        "bench receiver listening on http://{}",
        listener.local_addr()?
    );
    axum::serve(listener, app)
        .with_graceful_shutdown(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await?;
    Ok(())
}

async fn received(State(count): State<Arc<AtomicU64>>) -> StatusCode {
    count.fetch_add(1, Ordering::Relaxed);
    StatusCode::OK
}

async fn total(State(count): State<Arc<AtomicU64>>) -> String {
    format!(r#"{{"total":{}}}"#, count.load(Ordering::Relaxed))
}

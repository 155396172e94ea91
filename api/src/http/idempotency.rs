//! `Idempotency-Key` on POST: the same key with the same request gets the same answer.
//!
//! The middleware keeps, per (tenant, key), the SHA-256 of the request (method, path, query,
//! body) and the answer it got, in the `idempotency_keys` table (`projections/migrations/
//! 0002_idempotency.sql`; it is not a projection: rebuilds leave it alone). Then:
//! - the same key and the same request → the stored answer, status, headers and body, with
//!   `Idempotent-Replayed: true`;
//! - the same key and another request → 422 naming `Idempotency-Key`;
//! - the same key while the first request still runs → 409 with `Retry-After`.
//!
//! Answers under 500 are kept, except 401 and 429, which say nothing about the request itself;
//! after a 5xx the key is released so a retry runs again (the ledger also dedupes it by command
//! id). Bodies are sealed with the master key before they are stored, because some answers
//! carry a secret (a new webhook's `secret`, a new tenant's API key). Rows are kept
//! `http.idempotency_retention_hours` (24 h by default), purged at most once a minute; a row
//! whose request never finished (a crash) is taken over after [`ABANDONED_AFTER`].

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::body::{Body, Bytes};
use axum::extract::{FromRequestParts, MatchedPath, Request, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use hookledger_domain::secrets::{SealedSecret, SigningSecret};
use serde_json::Value;
use sha2::{Digest, Sha256};
use sqlx::PgPool;

use crate::AppState;
use crate::http::error::{ApiError, FieldProblem};
use crate::http::extract::{OperatorAuth, TenantAuth};
use crate::http::runtime::HttpRuntime;

/// A request that holds its key longer than this is taken to have died with its process.
pub const ABANDONED_AFTER: Duration = Duration::from_secs(120);
/// Answers larger than this are not kept (none of ours comes close).
const MAX_STORED_BODY: usize = 1024 * 1024;
/// Headers replayed with a stored answer.
const KEPT_HEADERS: [HeaderName; 3] = [header::CONTENT_TYPE, header::ETAG, header::LOCATION];

/// The `Idempotency-Key` header value, checked: 1-255 visible ASCII characters.
pub fn parse_key(headers: &HeaderMap) -> Result<Option<String>, ApiError> {
    let Some(raw) = headers.get("idempotency-key") else {
        return Ok(None);
    };
    raw.to_str()
        .ok()
        .filter(|k| !k.is_empty() && k.len() <= 255 && k.bytes().all(|b| b.is_ascii_graphic()))
        .map(|k| Some(k.to_owned()))
        .ok_or_else(|| ApiError::BadRequest {
            detail: "Idempotency-Key must be 1-255 visible ASCII characters".into(),
            errors: vec![FieldProblem::new(
                "Idempotency-Key",
                "must be 1-255 visible ASCII characters",
            )],
        })
}

/// The table's access, with the purge clock.
#[derive(Debug)]
pub struct IdempotencyStore {
    retention: Duration,
    last_purge: AtomicU64,
}

enum Begin {
    /// The key is ours: run the request.
    Fresh,
    /// Answered before.
    Replay(Stored),
    /// The key was used with another request.
    Mismatch,
    /// The first request with this key is still running.
    InProgress,
}

#[derive(sqlx::FromRow)]
struct KeyRow {
    request_hash: String,
    status: Option<i16>,
    headers: Option<Value>,
    body: Option<Value>,
}

struct Stored {
    status: i16,
    headers: Value,
    body: Value,
}

impl IdempotencyStore {
    pub fn new(retention: Duration) -> Self {
        Self {
            retention,
            last_purge: AtomicU64::new(0),
        }
    }

    async fn begin(
        &self,
        pool: &PgPool,
        scope: &str,
        key: &str,
        hash: &str,
    ) -> Result<Begin, ApiError> {
        self.maybe_purge(pool);
        let claimed: Option<(bool,)> = sqlx::query_as(
            "INSERT INTO idempotency_keys (scope, key, request_hash) VALUES ($1, $2, $3)
             ON CONFLICT (scope, key) DO UPDATE
                SET request_hash = EXCLUDED.request_hash, status = NULL, headers = NULL, body = NULL, created_at = now()
              WHERE idempotency_keys.created_at < now() - make_interval(secs => $4)
                 OR (idempotency_keys.status IS NULL AND idempotency_keys.created_at < now() - make_interval(secs => $5))
             RETURNING true",
        )
        .bind(scope)
        .bind(key)
        .bind(hash)
        .bind(self.retention.as_secs_f64())
        .bind(ABANDONED_AFTER.as_secs_f64())
        .fetch_optional(pool)
        .await?;
        if claimed.is_some() {
            return Ok(Begin::Fresh);
        }
        let row: Option<KeyRow> = sqlx::query_as(
            "SELECT request_hash, status, headers, body FROM idempotency_keys WHERE scope = $1 AND key = $2",
        )
        .bind(scope)
        .bind(key)
        .fetch_optional(pool)
        .await?;
        Ok(match row {
            // Released between our two statements: treat as in progress; the client retries.
            None => Begin::InProgress,
            Some(row) if row.request_hash != hash => Begin::Mismatch,
            Some(KeyRow {
                status: Some(status),
                headers: Some(headers),
                body: Some(body),
                ..
            }) => Begin::Replay(Stored {
                status,
                headers,
                body,
            }),
            Some(_) => Begin::InProgress,
        })
    }

    async fn finish(
        &self,
        pool: &PgPool,
        scope: &str,
        key: &str,
        stored: &Stored,
    ) -> Result<(), sqlx::Error> {
        sqlx::query("UPDATE idempotency_keys SET status = $3, headers = $4, body = $5 WHERE scope = $1 AND key = $2")
            .bind(scope)
            .bind(key)
            .bind(stored.status)
            .bind(&stored.headers)
            .bind(&stored.body)
            .execute(pool)
            .await?;
        Ok(())
    }

    async fn release(&self, pool: &PgPool, scope: &str, key: &str) -> Result<(), sqlx::Error> {
        sqlx::query(
            "DELETE FROM idempotency_keys WHERE scope = $1 AND key = $2 AND status IS NULL",
        )
        .bind(scope)
        .bind(key)
        .execute(pool)
        .await?;
        Ok(())
    }

    /// Deletes expired rows, at most once a minute per process, off the request's path.
    fn maybe_purge(&self, pool: &PgPool) {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .as_secs();
        let last = self.last_purge.load(Ordering::Relaxed);
        if now < last + 60
            || self
                .last_purge
                .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
                .is_err()
        {
            return;
        }
        let (pool, secs) = (pool.clone(), self.retention.as_secs_f64());
        tokio::spawn(async move {
            let purged = sqlx::query(
                "DELETE FROM idempotency_keys WHERE created_at < now() - make_interval(secs => $1)",
            )
            .bind(secs)
            .execute(&pool)
            .await;
            if let Err(e) = purged {
                tracing::warn!(error = %e, "purging expired idempotency keys failed; retrying in a minute");
            }
        });
    }
}

/// The SHA-256 of what makes a request this request.
fn request_hash(method: &Method, uri: &axum::http::Uri, body: &[u8]) -> String {
    let mut hash = Sha256::new();
    hash.update(method.as_str());
    hash.update([0]);
    hash.update(uri.path_and_query().map_or("", |p| p.as_str()));
    hash.update([0]);
    hash.update(body);
    hex::encode(hash.finalize())
}

fn aad(scope: &str, key: &str) -> String {
    format!("idempotency/{scope}/{key}")
}

fn seal(state: &AppState, scope: &str, key: &str, body: &[u8]) -> Value {
    let text = String::from_utf8_lossy(body).into_owned();
    let sealed = state
        .keyring
        .seal(&SigningSecret::Raw(text), &aad(scope, key));
    serde_json::to_value(sealed).unwrap_or(Value::Null)
}

fn open(state: &AppState, scope: &str, key: &str, body: Value) -> Result<String, ApiError> {
    let sealed: SealedSecret = serde_json::from_value(body)
        .map_err(|e| ApiError::Internal(format!("stored idempotent answer: {e}")))?;
    let opened = state
        .keyring
        .open(&sealed, &aad(scope, key))
        .map_err(|e| ApiError::Internal(format!("stored idempotent answer: {e}")))?;
    Ok(opened.expose().to_owned())
}

fn replay(state: &AppState, scope: &str, key: &str, stored: Stored) -> Result<Response, ApiError> {
    let body = open(state, scope, key, stored.body)?;
    let status = StatusCode::from_u16(stored.status as u16)
        .map_err(|e| ApiError::Internal(format!("stored idempotent status: {e}")))?;
    let mut response = (status, body).into_response();
    let headers = response.headers_mut();
    headers.remove(header::CONTENT_TYPE);
    if let Value::Object(map) = stored.headers {
        for (name, value) in map {
            if let (Ok(name), Some(Ok(value))) = (
                HeaderName::try_from(name.as_str()),
                value.as_str().map(HeaderValue::from_str),
            ) {
                headers.insert(name, value);
            }
        }
    }
    headers.insert("idempotent-replayed", HeaderValue::from_static("true"));
    Ok(response)
}

/// Who a request acts for: the tenant, or `@operator` on `/v1/admin` (never a tenant id).
async fn scope_of(
    parts: &mut axum::http::request::Parts,
    state: &AppState,
) -> Result<String, ApiError> {
    if parts.uri.path().starts_with("/v1/admin/") {
        OperatorAuth::from_request_parts(parts, state).await?;
        Ok("@operator".to_owned())
    } else {
        Ok(TenantAuth::from_request_parts(parts, state)
            .await?
            .tenant
            .to_string())
    }
}

/// The middleware (see the module docs). Only POSTs to a known route with the header.
pub async fn middleware(State(state): State<AppState>, request: Request, next: Next) -> Response {
    if request.method() != Method::POST || request.extensions().get::<MatchedPath>().is_none() {
        return next.run(request).await;
    }
    match handle(state, request, next).await {
        Ok(response) | Err(response) => response,
    }
}

async fn handle(state: AppState, request: Request, next: Next) -> Result<Response, Response> {
    let key = match parse_key(request.headers()).map_err(IntoResponse::into_response)? {
        Some(key) => key,
        None => return Ok(next.run(request).await),
    };
    let (mut parts, body) = request.into_parts();
    let scope = scope_of(&mut parts, &state)
        .await
        .map_err(IntoResponse::into_response)?;
    let fail = |e: ApiError| e.into_response();
    let runtime = parts
        .extensions
        .get::<Arc<HttpRuntime>>()
        .cloned()
        .ok_or_else(|| {
            fail(ApiError::Internal(
                "the router did not install HttpRuntime".into(),
            ))
        })?;
    let limit = runtime.max_body_bytes;
    let body = axum::body::to_bytes(body, limit)
        .await
        .map_err(|_| fail(ApiError::PayloadTooLarge(limit)))?;
    let hash = request_hash(&parts.method, &parts.uri, &body);
    let store = &runtime.idempotency;
    match store
        .begin(&state.pool, &scope, &key, &hash)
        .await
        .map_err(fail)?
    {
        Begin::Fresh => {}
        Begin::Replay(stored) => return replay(&state, &scope, &key, stored).map_err(fail),
        Begin::Mismatch => {
            return Err(fail(ApiError::field(
                "Idempotency-Key",
                "was used before with a different request (method, path or body); use a new key",
            )));
        }
        Begin::InProgress => {
            let mut response = fail(ApiError::Conflict(
                "a request with this Idempotency-Key is still in progress; retry shortly".into(),
            ));
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(1));
            return Err(response);
        }
    }
    let response = next.run(Request::from_parts(parts, Body::from(body))).await;
    let status = response.status();
    let keep = status.as_u16() < 500
        && status != StatusCode::UNAUTHORIZED
        && status != StatusCode::TOO_MANY_REQUESTS;
    if !keep {
        if let Err(e) = store.release(&state.pool, &scope, &key).await {
            tracing::warn!(error = %e, "could not release an idempotency key; it frees itself later");
        }
        return Ok(response);
    }
    let (mut head, body) = response.into_parts();
    let bytes: Bytes = match axum::body::to_bytes(body, MAX_STORED_BODY).await {
        Ok(bytes) => bytes,
        Err(e) => {
            return Err(fail(ApiError::Internal(format!(
                "reading an answer to keep: {e}"
            ))));
        }
    };
    let headers: serde_json::Map<String, Value> = KEPT_HEADERS
        .iter()
        .filter_map(|name| {
            let value = head.headers.get(name)?.to_str().ok()?;
            Some((name.as_str().to_owned(), Value::String(value.to_owned())))
        })
        .collect();
    let stored = Stored {
        status: status.as_u16() as i16,
        headers: Value::Object(headers),
        body: seal(&state, &scope, &key, &bytes),
    };
    if let Err(e) = store.finish(&state.pool, &scope, &key, &stored).await {
        // The request itself succeeded; a retry will run again and the ledger dedupes it.
        tracing::warn!(error = %e, "could not keep an idempotent answer");
        let _ = store.release(&state.pool, &scope, &key).await;
    }
    head.headers.remove(header::CONTENT_LENGTH);
    Ok(Response::from_parts(head, Body::from(bytes)))
}

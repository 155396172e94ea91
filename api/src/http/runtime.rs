//! `HttpRuntime`: what the HTTP layer of one process keeps besides [`crate::AppState`]: the
//! API-key cache, the rate limiter, the idempotency store and the read cache. The router puts it in every
//! request's extensions; extractors and middleware read it from there.

use std::sync::Arc;
use std::time::Duration;

use crate::Config;
use crate::http::idempotency::IdempotencyStore;
use crate::http::keycache::KeyCache;
use crate::http::ratelimit::RateLimiter;
use crate::http::readcache::ReadCache;

#[derive(Debug)]
pub struct HttpRuntime {
    pub keys: KeyCache,
    /// Management calls: a token a request.
    pub limiter: RateLimiter,
    /// `POST /v1/events`: a token an event.
    pub publish_limiter: RateLimiter,
    pub idempotency: IdempotencyStore,
    pub reads: ReadCache,
    /// `http.max_body_bytes`, for 413 answers that name the limit.
    pub max_body_bytes: usize,
}

impl HttpRuntime {
    pub fn new(config: &Config) -> Arc<Self> {
        let http = &config.http;
        Arc::new(Self {
            keys: KeyCache::new(Duration::from_millis(http.api_key_cache_ttl_ms)),
            limiter: RateLimiter::new(http.rate_limit_per_second, http.rate_limit_burst),
            publish_limiter: RateLimiter::new(
                http.publish_rate_limit_per_second,
                http.publish_rate_limit_burst,
            ),
            idempotency: IdempotencyStore::new(Duration::from_secs(
                http.idempotency_retention_hours * 3600,
            )),
            reads: ReadCache::default(),
            max_body_bytes: http.max_body_bytes,
        })
    }
}

//! Configuration: embedded defaults, an optional file, `HOOKLEDGER_*` environment variables,
//! checked once at start. Every key is documented in `api/config.default.toml`.

use hookledger_domain::ledger::reader::StreamKind;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use figment::Figment;
use figment::providers::{Format, Toml};
use hookledger_domain::secrets::{Keyring, MasterKey, SecretError};
use hookledger_domain::webhook::values::Limits;
use serde::Deserialize;

/// The embedded defaults.
pub const DEFAULTS: &str = include_str!("../config.default.toml");

/// The most events one `POST /v1/events` may carry (an array); the publish burst must hold it.
pub const MAX_EVENTS_PER_REQUEST: u32 = 500;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    pub http: HttpConfig,
    pub nats: NatsConfig,
    pub postgres: PostgresConfig,
    pub secrets: SecretsConfig,
    pub dispatcher: DispatcherConfig,
    pub limits: LimitsConfig,
    pub log: LogConfig,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpConfig {
    pub listen: SocketAddr,
    pub operator_token: String,
    pub max_body_bytes: usize,
    pub request_timeout_seconds: u64,
    pub read_your_writes_timeout_ms: u64,
    pub rate_limit_per_second: f64,
    pub rate_limit_burst: u32,
    pub publish_rate_limit_per_second: f64,
    pub publish_rate_limit_burst: u32,
    pub api_key_cache_ttl_ms: u64,
    pub idempotency_retention_hours: u64,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NatsConfig {
    pub url: String,
    pub prefix: String,
    pub events_subject: String,
    pub connect_timeout_seconds: u64,
    pub replicas: usize,
    pub events_max_age_days: u64,
    pub deliveries_max_age_days: u64,
    pub archive_streams: bool,
    pub events_duplicate_window_seconds: u64,
    pub ledger_duplicate_window_seconds: u64,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PostgresConfig {
    pub url: String,
    pub max_connections: u32,
    pub connect_timeout_seconds: u64,
}

#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SecretsConfig {
    pub master_key: String,
    pub master_key_id: String,
    pub previous_master_keys: BTreeMap<String, String>,
    pub rotation_grace_seconds: u64,
}

impl std::fmt::Debug for SecretsConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SecretsConfig")
            .field("master_key", &"***")
            .field("master_key_id", &self.master_key_id)
            .field(
                "previous_master_keys",
                &self.previous_master_keys.keys().collect::<Vec<_>>(),
            )
            .field("rotation_grace_seconds", &self.rotation_grace_seconds)
            .finish()
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DispatcherConfig {
    pub allow_private_targets: bool,
    pub disable_after_failures: u32,
    pub concurrency: usize,
    pub per_webhook_concurrency: usize,
    pub per_host_concurrency: usize,
    pub max_retry_delay_seconds: u64,
    pub response_excerpt_bytes: usize,
    pub ack_wait_seconds: u64,
    pub smtp: SmtpConfig,
}

#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SmtpConfig {
    pub host: String,
    pub port: u16,
    pub tls: SmtpTlsConfig,
    pub username: String,
    pub password: String,
    pub from: String,
    pub timeout_seconds: u64,
}

impl std::fmt::Debug for SmtpConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SmtpConfig")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("tls", &self.tls)
            .field("username", &self.username)
            .field("password", &"***")
            .field("from", &self.from)
            .finish_non_exhaustive()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SmtpTlsConfig {
    None,
    Starttls,
    Tls,
}

impl DispatcherConfig {
    fn validate(&self) -> Result<(), ConfigError> {
        let fail =
            |key: &str, rule: &str| Err(ConfigError::Invalid(format!("dispatcher.{key}: {rule}")));
        if !(1..=100_000).contains(&self.concurrency) {
            return fail("concurrency", "must be between 1 and 100000");
        }
        if self.per_webhook_concurrency == 0 || self.per_webhook_concurrency > self.concurrency {
            return fail(
                "per_webhook_concurrency",
                "must be between 1 and dispatcher.concurrency",
            );
        }
        if self.per_host_concurrency == 0 || self.per_host_concurrency > self.concurrency {
            return fail(
                "per_host_concurrency",
                "must be between 1 and dispatcher.concurrency",
            );
        }
        if self.max_retry_delay_seconds == 0 {
            return fail("max_retry_delay_seconds", "must be at least 1");
        }
        if self.response_excerpt_bytes > 2048 {
            return fail("response_excerpt_bytes", "must be at most 2048");
        }
        if !(1..=3600).contains(&self.ack_wait_seconds) {
            return fail("ack_wait_seconds", "must be between 1 and 3600");
        }
        if !self.smtp.host.is_empty() && self.smtp.from.trim().is_empty() {
            return fail("smtp.from", "is required when smtp.host is set");
        }
        Ok(())
    }

    /// The dispatcher crate's settings.
    pub fn settings(&self) -> hookledger_dispatcher::Settings {
        use hookledger_dispatcher::{SmtpSettings, SmtpTls};
        let smtp = &self.smtp;
        hookledger_dispatcher::Settings {
            allow_private_targets: self.allow_private_targets,
            concurrency: self.concurrency,
            per_webhook_concurrency: self.per_webhook_concurrency,
            per_host_concurrency: self.per_host_concurrency,
            max_retry_delay: Duration::from_secs(self.max_retry_delay_seconds),
            response_excerpt_bytes: self.response_excerpt_bytes,
            disable_after_failures: self.disable_after_failures,
            ack_wait: Duration::from_secs(self.ack_wait_seconds),
            smtp: (!smtp.host.is_empty()).then(|| SmtpSettings {
                host: smtp.host.clone(),
                port: smtp.port,
                tls: match smtp.tls {
                    SmtpTlsConfig::None => SmtpTls::None,
                    SmtpTlsConfig::Starttls => SmtpTls::StartTls,
                    SmtpTlsConfig::Tls => SmtpTls::Tls,
                },
                username: smtp.username.clone(),
                password: smtp.password.clone(),
                from: smtp.from.clone(),
                timeout: Duration::from_secs(smtp.timeout_seconds.max(1)),
            }),
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LimitsConfig {
    pub max_headers: usize,
    pub max_header_name: usize,
    pub max_header_value: usize,
    pub max_properties_bytes: usize,
    pub max_filter_bytes: usize,
    pub max_filter_depth: usize,
    pub max_event_patterns: usize,
    pub max_name: usize,
    pub max_description: usize,
    pub max_event_type_schema_bytes: usize,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogConfig {
    pub format: LogFormat,
    pub filter: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Text,
    Json,
}

/// A configuration that cannot be used; the message names the key. The process exits with it
/// (code 1) before anything starts.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// A value breaks a rule checked here (`key: rule`), or the file named does not exist:
    /// messages we compose, with no error beneath them, so a `String`.
    #[error("invalid configuration: {0}")]
    Invalid(String),
    /// The defaults, file and environment do not deserialize into [`Config`]. The message
    /// lists figment's errors by key (without figment's profile); `source` is figment's error.
    #[error("invalid configuration: {}", describe(source))]
    Unreadable {
        #[source]
        source: Box<figment::Error>,
    },
    /// A master key (`secrets.master_key`, `secrets.previous_master_keys.<id>`) does not
    /// decode.
    #[error("invalid configuration: {key}: {source}")]
    MasterKey {
        key: String,
        #[source]
        source: SecretError,
    },
}

impl NatsConfig {
    /// The streams the projector role copies to `stream_archive`: those with a retention (a
    /// `*_max_age_days` above 0), none when `archive_streams` is off.
    pub fn archived_streams(&self) -> Vec<StreamKind> {
        [
            (StreamKind::Events, self.events_max_age_days),
            (StreamKind::Deliveries, self.deliveries_max_age_days),
        ]
        .into_iter()
        .filter(|&(_, days)| self.archive_streams && days > 0)
        .map(|(kind, _)| kind)
        .collect()
    }
}

impl Config {
    /// Defaults, then `file`, then the process environment.
    pub fn load(file: Option<&Path>) -> Result<Self, ConfigError> {
        let env: Vec<(String, String)> = std::env::vars().collect();
        Self::load_from(file, &env)
    }

    /// As [`Config::load`], with the environment given (tests).
    pub fn load_from(file: Option<&Path>, env: &[(String, String)]) -> Result<Self, ConfigError> {
        let mut figment = Figment::from(Toml::string(DEFAULTS));
        if let Some(path) = file {
            if !path.exists() {
                return Err(ConfigError::Invalid(format!(
                    "config file {} does not exist",
                    path.display()
                )));
            }
            figment = figment.merge(Toml::file(path));
        }
        let get = |k: &str| env.iter().find(|(key, _)| key == k).map(|(_, v)| v.clone());
        if get("HOOKLEDGER_POSTGRES__URL").is_none()
            && let Some(url) = get("DATABASE_URL")
        {
            figment = figment.merge(("postgres.url", url));
        }
        for (key, value) in env {
            let Some(rest) = key.strip_prefix("HOOKLEDGER_") else {
                continue;
            };
            // Only `SECTION__KEY` variables are configuration; others (HOOKLEDGER_TEST_…) are not.
            let Some((section, name)) = rest.split_once("__") else {
                continue;
            };
            let path = format!(
                "{}.{}",
                section.to_lowercase(),
                name.to_lowercase().replace("__", ".")
            );
            // Parsed as the Env provider does: numbers and booleans by their look.
            let value: figment::value::Value = value.parse().expect("infallible");
            figment = figment.merge((path, value));
        }
        let config: Config = figment.extract().map_err(|e| ConfigError::Unreadable {
            source: Box::new(e),
        })?;
        config.validate()?;
        Ok(config)
    }

    fn validate(&self) -> Result<(), ConfigError> {
        let fail = |key: &str, rule: &str| Err(ConfigError::Invalid(format!("{key}: {rule}")));
        let is_nats_url = |u: &str| u.starts_with("nats://") || u.starts_with("tls://");
        if !self.nats.url.split(',').map(str::trim).all(is_nats_url) {
            return fail(
                "nats.url",
                "must be a nats:// or tls:// URL, or a comma-separated list of them",
            );
        }
        if let Err(e) =
            hookledger_domain::ledger::Names::new(&self.nats.prefix, &self.nats.events_subject)
        {
            return fail("nats.prefix / nats.events_subject", &e.to_string());
        }
        if !(1..=5).contains(&self.nats.replicas) {
            return fail("nats.replicas", "must be between 1 and 5");
        }
        if self.nats.connect_timeout_seconds == 0 {
            return fail("nats.connect_timeout_seconds", "must be at least 1");
        }
        if !(self.postgres.url.starts_with("postgres://")
            || self.postgres.url.starts_with("postgresql://"))
        {
            return fail("postgres.url", "must be a postgres:// URL");
        }
        if self.postgres.max_connections == 0 {
            return fail("postgres.max_connections", "must be at least 1");
        }
        if self.http.max_body_bytes < 1024 {
            return fail("http.max_body_bytes", "must be at least 1024");
        }
        if !self.http.operator_token.is_empty() && self.http.operator_token.len() < 16 {
            return fail(
                "http.operator_token",
                "must be empty (admin routes off) or at least 16 characters",
            );
        }
        if !(self.http.rate_limit_per_second >= 0.0 && self.http.rate_limit_per_second.is_finite())
        {
            return fail(
                "http.rate_limit_per_second",
                "must be 0 (off) or a positive number",
            );
        }
        if self.http.rate_limit_per_second > 0.0 && self.http.rate_limit_burst == 0 {
            return fail(
                "http.rate_limit_burst",
                "must be at least 1 when rate limiting is on",
            );
        }
        if !(self.http.publish_rate_limit_per_second >= 0.0
            && self.http.publish_rate_limit_per_second.is_finite())
        {
            return fail(
                "http.publish_rate_limit_per_second",
                "must be 0 (off) or a positive number",
            );
        }
        if self.http.publish_rate_limit_per_second > 0.0
            && self.http.publish_rate_limit_burst < MAX_EVENTS_PER_REQUEST
        {
            return fail(
                "http.publish_rate_limit_burst",
                "must be at least 500 (the largest batch of POST /v1/events) when rate limiting is on",
            );
        }
        if self.http.idempotency_retention_hours == 0 {
            return fail("http.idempotency_retention_hours", "must be at least 1");
        }
        if self.limits.max_name == 0 || self.limits.max_name > 10_000 {
            return fail("limits.max_name", "must be between 1 and 10000");
        }
        self.keyring()?;
        self.dispatcher.validate()?;
        if self.limits.max_headers > 100 || self.limits.max_event_patterns == 0 {
            return fail(
                "limits",
                "max_headers must be at most 100 and max_event_patterns at least 1",
            );
        }
        Ok(())
    }

    /// The master keys as a keyring.
    pub fn keyring(&self) -> Result<Keyring, ConfigError> {
        let s = &self.secrets;
        if s.master_key.is_empty() {
            return Err(ConfigError::Invalid(
                "secrets.master_key: required (32 random bytes, base64; e.g. `openssl rand -base64 32`), \
                 set HOOKLEDGER_SECRETS__MASTER_KEY"
                    .into(),
            ));
        }
        let current =
            MasterKey::from_base64(&s.master_key_id, &s.master_key).map_err(|source| {
                ConfigError::MasterKey {
                    key: "secrets.master_key".into(),
                    source,
                }
            })?;
        let mut others = Vec::new();
        for (id, key) in &s.previous_master_keys {
            others.push(MasterKey::from_base64(id, key).map_err(|source| {
                ConfigError::MasterKey {
                    key: format!("secrets.previous_master_keys.{id}"),
                    source,
                }
            })?);
        }
        Ok(Keyring::new(current, others))
    }

    pub fn limits(&self) -> Limits {
        let l = &self.limits;
        Limits {
            max_headers: l.max_headers,
            max_header_name: l.max_header_name,
            max_header_value: l.max_header_value,
            max_properties_bytes: l.max_properties_bytes,
            max_filter_bytes: l.max_filter_bytes,
            max_filter_depth: l.max_filter_depth,
            max_event_patterns: l.max_event_patterns,
            max_name: l.max_name,
            max_description: l.max_description,
        }
    }

    pub fn rotation_grace(&self) -> Duration {
        Duration::from_secs(self.secrets.rotation_grace_seconds)
    }
}

/// Figment errors say "for key `default.http.listen`"; keep the key, drop the profile.
fn describe(error: &figment::Error) -> String {
    error
        .clone()
        .into_iter()
        .map(|e| {
            let key = e.path.join(".");
            let msg = e.kind.to_string();
            if key.is_empty() {
                msg
            } else {
                format!("{key}: {msg}")
            }
        })
        .collect::<Vec<_>>()
        .join("; ")
}

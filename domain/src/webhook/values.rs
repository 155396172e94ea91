//! Validated value types of a webhook: parse at the edge, trust afterwards.
//!
//! Each type has a `parse` that checks one field and returns the broken [`Rule`]; the spec
//! builder ([`WebhookSpec::from_input`]) attaches field paths and collects every error at once.
//! Limits that an operator may tune live in [`Limits`].
//!
//! Serde reads and writes each type as its plain JSON form **without** validating again: these
//! types are read back from the ledger, whose events were validated when written, and a later,
//! stricter limit (or a switched-off `allow_private_targets`) must not make history unreadable.
//!
//! Larger types live in submodules and are re-exported here: [`TargetUrl`] (`target`), the
//! delivery extras [`CustomHeaders`], [`Properties`] and [`Filter`] (`payload`), and the spec
//! with its input and patch forms (`spec`).

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::validation::Rule;

mod fields;
mod payload;
mod spec;
mod target;

pub use payload::{CustomHeaders, Filter, Properties, RESERVED_HEADERS, RESERVED_PROPERTIES};
pub use spec::{WebhookPatch, WebhookPatchInput, WebhookSpec, WebhookSpecInput};
pub use target::{TargetUrl, is_forbidden_ip};

/// Size limits on webhook input. The defaults are what the API uses unless configured.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// Custom headers per webhook (20).
    pub max_headers: usize,
    /// Characters in a custom header name (64).
    pub max_header_name: usize,
    /// Characters in a custom header value (1024).
    pub max_header_value: usize,
    /// Serialized JSON bytes of `properties` (16 KiB).
    pub max_properties_bytes: usize,
    /// Serialized JSON bytes of `filter` (8 KiB).
    pub max_filter_bytes: usize,
    /// Nesting depth of `filter`, counting arrays and objects (16).
    pub max_filter_depth: usize,
    /// Entries in `events` (50).
    pub max_event_patterns: usize,
    /// Characters in `name`, after trimming (200).
    pub max_name: usize,
    /// Characters in `description` (2000).
    pub max_description: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_headers: 20,
            max_header_name: 64,
            max_header_value: 1024,
            max_properties_bytes: 16 * 1024,
            max_filter_bytes: 8 * 1024,
            max_filter_depth: 16,
            max_event_patterns: 50,
            max_name: 200,
            max_description: 2000,
        }
    }
}

/// Implements `as_str`, `Display` and `AsRef<str>` for a string newtype.
macro_rules! text_value {
    ($name:ident) => {
        impl $name {
            /// The value as text.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }
    };
}

/// A webhook's display name: trimmed, 1 to `max_name` characters.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct WebhookName(String);

impl WebhookName {
    /// Trims `s` and checks its length.
    pub fn parse(s: &str, limits: &Limits) -> Result<Self, Rule> {
        let s = s.trim();
        match s.chars().count() {
            0 => Err(Rule::TooShort { min: 1 }),
            n if n > limits.max_name => Err(Rule::TooLong {
                max: limits.max_name,
            }),
            _ => Ok(Self(s.to_owned())),
        }
    }
}

text_value!(WebhookName);

/// A free-text description of at most `max_description` characters, kept as written.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Description(String);

impl Description {
    /// Checks the length of `s`.
    pub fn parse(s: &str, limits: &Limits) -> Result<Self, Rule> {
        if s.chars().count() > limits.max_description {
            return Err(Rule::TooLong {
                max: limits.max_description,
            });
        }
        Ok(Self(s.to_owned()))
    }
}

text_value!(Description);

/// Parses one of a closed set of names, spelled exactly (vendor dialects map their own
/// spellings before this).
fn one_of<T: Copy>(s: &str, options: &[(&str, T)]) -> Result<T, Rule> {
    options
        .iter()
        .find(|(name, _)| *name == s)
        .map(|(_, value)| *value)
        .ok_or_else(|| Rule::UnknownValue {
            allowed: options.iter().map(|(name, _)| (*name).to_owned()).collect(),
        })
}

/// The HTTP method deliveries are sent with.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum HttpMethod {
    /// `POST`, the default.
    #[default]
    Post,
    /// `PUT`.
    Put,
    /// `PATCH`.
    Patch,
}

impl HttpMethod {
    /// Accepts `POST`, `PUT` or `PATCH`, exactly so (HTTP methods are case-sensitive).
    pub fn parse(s: &str) -> Result<Self, Rule> {
        one_of(
            s,
            &[
                ("POST", Self::Post),
                ("PUT", Self::Put),
                ("PATCH", Self::Patch),
            ],
        )
    }

    /// The method as sent on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Post => "POST",
            Self::Put => "PUT",
            Self::Patch => "PATCH",
        }
    }
}

const EVENT_TYPE_MAX: usize = 128;
const EVENT_TYPE_SHAPE: &str =
    "an event type of dot-separated segments of `A-Z a-z 0-9 _ -`, such as `lead.created`";

/// True for `[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*`.
fn is_event_type(s: &str) -> bool {
    !s.is_empty()
        && s.split('.').all(|segment| {
            !segment.is_empty()
                && segment
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-'))
        })
}

/// An event type such as `lead.created`: dot-separated segments of `A-Z a-z 0-9 _ -`, at most
/// 128 characters. Its dots make it a tail of NATS subject tokens (`events.<tenant>.<type>`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct EventTypeName(String);

impl EventTypeName {
    /// Checks the shape and length of `s`.
    pub fn parse(s: &str) -> Result<Self, Rule> {
        if s.len() > EVENT_TYPE_MAX {
            Err(Rule::TooLong {
                max: EVENT_TYPE_MAX,
            })
        } else if is_event_type(s) {
            Ok(Self(s.to_owned()))
        } else {
            Err(Rule::InvalidFormat {
                expected: EVENT_TYPE_SHAPE.into(),
            })
        }
    }
}

text_value!(EventTypeName);

/// What a webhook subscribes to: an exact event type, a type whose last segment is `*`
/// (`lead.*`, matching one or more further segments), or `*` alone (every type).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct EventPattern(String);

impl EventPattern {
    /// Checks the shape and length of `s`.
    pub fn parse(s: &str) -> Result<Self, Rule> {
        let stem = s.strip_suffix(".*").unwrap_or(s);
        if s.len() > EVENT_TYPE_MAX {
            Err(Rule::TooLong {
                max: EVENT_TYPE_MAX,
            })
        } else if s == "*" || is_event_type(stem) {
            Ok(Self(s.to_owned()))
        } else {
            Err(Rule::InvalidFormat {
                expected: "an event type, a type ending in `.*` such as `lead.*`, or `*`".into(),
            })
        }
    }

    /// The prefix a matching type starts with (`lead.` for `lead.*`, empty for `*`), or `None`
    /// for an exact type.
    pub fn wildcard_prefix(&self) -> Option<&str> {
        if self.0 == "*" {
            Some("")
        } else {
            self.0.strip_suffix('*')
        }
    }

    /// True when `event_type` is this type, or has this pattern's prefix and at least one more
    /// segment: `lead.*` matches `lead.created` and `lead.created.v2`, not `lead` or `leads.x`.
    pub fn matches(&self, event_type: &str) -> bool {
        match self.wildcard_prefix() {
            Some(prefix) => event_type.len() > prefix.len() && event_type.starts_with(prefix),
            None => self.0 == event_type,
        }
    }
}

text_value!(EventPattern);

impl From<EventTypeName> for EventPattern {
    fn from(name: EventTypeName) -> Self {
        Self(name.0)
    }
}

/// How retry delays grow.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RetryPolicyKind {
    /// `retryDelaySeconds · 2^(n-1)` with jitter, capped (the default).
    #[default]
    Exponential,
    /// `retryDelaySeconds` between every attempt.
    Fixed,
}

impl RetryPolicyKind {
    /// Accepts `exponential` or `fixed`, exactly so.
    pub fn parse(s: &str) -> Result<Self, Rule> {
        one_of(
            s,
            &[("exponential", Self::Exponential), ("fixed", Self::Fixed)],
        )
    }

    /// `"exponential"` or `"fixed"`, as in the spec's JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Exponential => "exponential",
            Self::Fixed => "fixed",
        }
    }
}

/// When failed deliveries are tried again. In the spec's JSON the fields are flattened as
/// `retryAttempts`, `retryDelaySeconds` and `retryPolicy`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct RetrySettings {
    /// Retries after the first attempt, 0 to 20 (default 3).
    #[serde(rename = "retryAttempts")]
    pub attempts: u8,
    /// The first retry's delay, 0 (at once) to 86400 (default 60).
    #[serde(rename = "retryDelaySeconds")]
    pub delay_seconds: u32,
    /// How later delays grow (default exponential).
    #[serde(rename = "retryPolicy")]
    pub policy: RetryPolicyKind,
}

impl RetrySettings {
    /// The allowed range of `attempts`.
    pub const ATTEMPTS: (i64, i64) = (0, 20);
    /// The allowed range of `delay_seconds`.
    pub const DELAY_SECONDS: (i64, i64) = (0, 86_400);
}

impl Default for RetrySettings {
    fn default() -> Self {
        Self {
            attempts: 3,
            delay_seconds: 60,
            policy: RetryPolicyKind::Exponential,
        }
    }
}

/// Checks that `n` lies in `range` and converts it.
pub(crate) fn in_range<T: TryFrom<i64>>(n: i64, (min, max): (i64, i64)) -> Result<T, Rule> {
    if (min..=max).contains(&n) {
        T::try_from(n).map_err(|_| Rule::OutOfRange { min, max })
    } else {
        Err(Rule::OutOfRange { min, max })
    }
}

/// How long one delivery attempt may take, 1 to 60 seconds (default 15).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct TimeoutSeconds(u8);

impl TimeoutSeconds {
    /// The allowed range.
    pub const RANGE: (i64, i64) = (1, 60);

    /// Checks the range of `n`.
    pub fn parse(n: i64) -> Result<Self, Rule> {
        in_range(n, Self::RANGE).map(Self)
    }

    /// The timeout in seconds.
    pub fn get(self) -> u8 {
        self.0
    }

    /// The timeout as a duration.
    pub fn as_duration(self) -> std::time::Duration {
        std::time::Duration::from_secs(u64::from(self.0))
    }
}

impl Default for TimeoutSeconds {
    fn default() -> Self {
        Self(15)
    }
}

/// An address to tell when the webhook is disabled. A pragmatic check, not RFC 5322: one `@`,
/// a local part of 1 to 64 characters, a domain with a dot, no spaces, at most 254 characters.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct EmailAddress(String);

impl EmailAddress {
    /// Trims `s` and checks its shape.
    pub fn parse(s: &str) -> Result<Self, Rule> {
        let s = s.trim();
        if s.chars().count() > 254 {
            return Err(Rule::TooLong { max: 254 });
        }
        let Some((local, domain)) = s.split_once('@') else {
            return Err(Rule::InvalidEmail);
        };
        let forbidden =
            |c: char| c.is_whitespace() || c.is_control() || "<>()[],;:\\\"@".contains(c);
        let local_ok = (1..=64).contains(&local.chars().count()) && !local.contains(forbidden);
        let domain_ok = domain.contains('.')
            && domain.split('.').all(|label| {
                !label.is_empty()
                    && !label.starts_with('-')
                    && !label.ends_with('-')
                    && label.chars().all(|c| c.is_alphanumeric() || c == '-')
            });
        if local_ok && domain_ok {
            Ok(Self(s.to_owned()))
        } else {
            Err(Rule::InvalidEmail)
        }
    }
}

text_value!(EmailAddress);

#[cfg(test)]
mod tests;

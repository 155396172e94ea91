//! Identifiers: one newtype per kind of id, validated when parsed.
//!
//! Ids travel through HTTP paths, JSON bodies, NATS subjects and SQL rows, so each kind has one
//! spelling that is checked at the edge and trusted afterwards:
//! - [`TenantId`]: an operator-chosen slug, `[a-z0-9][a-z0-9-]{0,62}`; it is also the tenant's
//!   token in NATS subjects.
//! - [`WebhookId`] (`wh_`), [`DeliveryId`] (`dlv_`), [`ApiKeyId`] (`key_`): a prefix and a
//!   UUIDv7 written as 32 lowercase hex digits. UUIDv7 starts with the creation time, so ids sort
//!   by creation; hex without hyphens is a valid NATS subject token.
//! - [`EventId`]: chosen by publishers (the NATS `Nats-Msg-Id` header or the `id` of
//!   `POST /v1/events`), so it accepts any `[A-Za-z0-9_.:-]{1,128}`; generated ones are `evt_` +
//!   UUIDv7 hex.
//!
//! - [`WebhookKey`]: a tenant and a webhook id, the webhook aggregate's id `<tenant>.<wh_…>`.
//!
//! Every id serializes as a plain JSON string and is validated again when deserialized.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// An id that does not follow the rule of its kind.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid {kind} id: expected {expected}")]
pub struct IdError {
    /// The kind of id, e.g. `"webhook"`.
    pub kind: &'static str,
    /// The rule it breaks, as a phrase (`"wh_ followed by 32 lowercase hex digits"`).
    pub expected: &'static str,
}

/// Implements the common surface of a string id: accessors, `Display`, `FromStr` and the
/// `TryFrom<String>`/`Into<String>` pair that serde uses.
macro_rules! string_id {
    ($name:ident) => {
        impl $name {
            /// The id as written.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl FromStr for $name {
            type Err = IdError;

            fn from_str(s: &str) -> Result<Self, IdError> {
                Self::parse(s)
            }
        }

        impl TryFrom<String> for $name {
            type Error = IdError;

            fn try_from(s: String) -> Result<Self, IdError> {
                Self::parse(&s)
            }
        }

        impl From<$name> for String {
            fn from(id: $name) -> String {
                id.0
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }
    };
}

/// Defines an id made of a fixed prefix and a UUIDv7 in 32 lowercase hex digits.
macro_rules! uuid_id {
    ($(#[$doc:meta])* $name:ident, $prefix:literal, $kind:literal) => {
        $(#[$doc])*
        #[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(try_from = "String", into = "String")]
        pub struct $name(String);

        impl $name {
            /// The prefix every id of this kind starts with.
            pub const PREFIX: &'static str = $prefix;

            /// A new id; ids made later in the same process sort after this one.
            #[allow(clippy::new_without_default)]
            pub fn new() -> Self {
                Self(format!("{}{}", $prefix, Uuid::now_v7().simple()))
            }

            /// Accepts exactly the prefix followed by 32 lowercase hex digits.
            pub fn parse(s: &str) -> Result<Self, IdError> {
                match s.strip_prefix($prefix) {
                    Some(hex) if is_uuid_hex(hex) => Ok(Self(s.to_owned())),
                    _ => Err(IdError {
                        kind: $kind,
                        expected: concat!("`", $prefix, "` followed by 32 lowercase hex digits"),
                    }),
                }
            }
        }

        string_id!($name);
    };
}

uuid_id!(
    /// A webhook, `wh_` + UUIDv7 hex.
    WebhookId,
    "wh_",
    "webhook"
);
uuid_id!(
    /// One event to one webhook, `dlv_` + UUIDv7 hex.
    DeliveryId,
    "dlv_",
    "delivery"
);
uuid_id!(
    /// A tenant API key (the id, never the key itself), `key_` + UUIDv7 hex.
    ApiKeyId,
    "key_",
    "API key"
);

impl DeliveryId {
    /// The delivery of the event at EVENTS `sequence` to `webhook`: the same id every time the
    /// router handles that event, so an event routed a second time (its ack lost, or a
    /// nats-server restart that forgot the jobs' message ids) is recognised by the delivery's
    /// facts instead of becoming a second delivery. A UUIDv8: 48 bits of `at` in Unix
    /// milliseconds (so ids still sort by time, as UUIDv7s do), then SHA-256 of the sequence
    /// and the webhook id.
    pub fn for_event(
        sequence: u64,
        webhook: &WebhookId,
        at: chrono::DateTime<chrono::Utc>,
    ) -> Self {
        use sha2::{Digest, Sha256};
        let digest = Sha256::new()
            .chain_update(sequence.to_be_bytes())
            .chain_update(webhook.as_str().as_bytes())
            .finalize();
        let millis = u64::try_from(at.timestamp_millis())
            .unwrap_or(0)
            .to_be_bytes();
        let mut bytes = [0u8; 16];
        bytes[..6].copy_from_slice(&millis[2..]);
        bytes[6..].copy_from_slice(&digest[..10]);
        let uuid = uuid::Builder::from_custom_bytes(bytes).into_uuid();
        Self(format!("{}{}", Self::PREFIX, uuid.simple()))
    }
}

fn is_uuid_hex(s: &str) -> bool {
    s.len() == 32 && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// A tenant: a slug of 1 to 63 characters, `[a-z0-9][a-z0-9-]{0,62}`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct TenantId(String);

impl TenantId {
    /// Accepts a lowercase slug that starts with a letter or digit, at most 63 characters.
    pub fn parse(s: &str) -> Result<Self, IdError> {
        let bytes = s.as_bytes();
        let ok = matches!(bytes.first(), Some(b'a'..=b'z' | b'0'..=b'9'))
            && bytes.len() <= 63
            && bytes
                .iter()
                .all(|b| matches!(b, b'a'..=b'z' | b'0'..=b'9' | b'-'));
        if ok {
            Ok(Self(s.to_owned()))
        } else {
            Err(IdError {
                kind: "tenant",
                expected: "1 to 63 characters of `a-z`, `0-9` and `-`, not starting with `-`",
            })
        }
    }
}

string_id!(TenantId);

/// A domain event's id: publisher-chosen, `[A-Za-z0-9_.:-]{1,128}`, or generated as `evt_` +
/// UUIDv7 hex. It is the deduplication key, so it is kept exactly as given.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct EventId(String);

impl EventId {
    /// The prefix of generated event ids.
    pub const PREFIX: &'static str = "evt_";

    /// A new id; ids made later in the same process sort after this one.
    #[allow(clippy::new_without_default)]
    pub fn new() -> Self {
        Self(format!("{}{}", Self::PREFIX, Uuid::now_v7().simple()))
    }

    /// Accepts 1 to 128 characters of `A-Z a-z 0-9 _ . : -`.
    pub fn parse(s: &str) -> Result<Self, IdError> {
        let ok = (1..=128).contains(&s.len())
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b':' | b'-'));
        if ok {
            Ok(Self(s.to_owned()))
        } else {
            Err(IdError {
                kind: "event",
                expected: "1 to 128 characters of `A-Z`, `a-z`, `0-9`, `_`, `.`, `:` and `-`",
            })
        }
    }
}

string_id!(EventId);

/// A webhook's key in the ledger: its aggregate id is `<tenant>.<wh_…>`, so one tenant's
/// webhook id names no aggregate of another tenant. The one place that spells it.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct WebhookKey {
    pub tenant: TenantId,
    pub id: WebhookId,
}

impl WebhookKey {
    pub fn new(tenant: &TenantId, id: &WebhookId) -> Self {
        Self {
            tenant: tenant.clone(),
            id: id.clone(),
        }
    }

    /// Reads an aggregate id, `<tenant>.<wh_…>`.
    pub fn parse(s: &str) -> Result<Self, IdError> {
        let (tenant, id) = s.split_once('.').ok_or(IdError {
            kind: "webhook key",
            expected: "`<tenant>.<wh_…>`",
        })?;
        Ok(Self {
            tenant: TenantId::parse(tenant)?,
            id: WebhookId::parse(id)?,
        })
    }

    /// The aggregate id, `<tenant>.<wh_…>`.
    pub fn aggregate_id(&self) -> String {
        self.to_string()
    }
}

impl fmt::Display for WebhookKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.tenant, self.id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_webhook_key_is_tenant_dot_id_and_reads_back() {
        let key = WebhookKey::new(&TenantId::parse("acme").unwrap(), &WebhookId::new());
        let text = key.aggregate_id();
        assert_eq!(text, format!("acme.{}", key.id));
        assert_eq!(WebhookKey::parse(&text).unwrap(), key);
        assert!(WebhookKey::parse("acme").is_err());
        assert!(WebhookKey::parse("Acme.wh_1").is_err());
    }
    use proptest::prelude::*;

    #[test]
    fn a_webhook_id_is_the_prefix_and_32_hex_digits() {
        let id = WebhookId::new();
        assert!(id.as_str().starts_with("wh_"));
        assert_eq!(id.as_str().len(), 35);
        assert_eq!(WebhookId::parse(id.as_str()), Ok(id));
    }

    #[test]
    fn ids_of_the_wrong_kind_or_case_are_refused() {
        let hex = "0190f1d2c3b4a5968778695a4b3c2d1e";
        assert!(WebhookId::parse(&format!("wh_{hex}")).is_ok());
        assert!(WebhookId::parse(&format!("dlv_{hex}")).is_err());
        assert!(WebhookId::parse(&format!("wh_{}", hex.to_uppercase())).is_err());
        assert!(WebhookId::parse(&format!("wh_{hex}0")).is_err());
        assert!(DeliveryId::parse(&format!("dlv_{hex}")).is_ok());
        let err = ApiKeyId::parse("key_x").unwrap_err();
        assert_eq!(err.kind, "API key");
    }

    #[test]
    fn tenant_ids_are_lowercase_slugs() {
        for ok in ["acme", "a", "0-day", "acme-corp-2", &"a".repeat(63)] {
            assert!(TenantId::parse(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "-acme",
            "Acme",
            "acme_corp",
            "acme.corp",
            "a b",
            &"a".repeat(64),
        ] {
            assert!(TenantId::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn event_ids_accept_publisher_choices_within_the_charset() {
        for ok in ["evt_1", "3f2a-11:x.y", "A", &"a".repeat(128)] {
            assert!(EventId::parse(ok).is_ok(), "{ok}");
        }
        for bad in ["", "a b", "a/b", "a*b", "é", &"a".repeat(129)] {
            assert!(EventId::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn ids_serialize_as_plain_strings_and_validate_on_deserialize() {
        let id = TenantId::parse("acme").unwrap();
        assert_eq!(serde_json::to_string(&id).unwrap(), r#""acme""#);
        assert!(serde_json::from_str::<TenantId>(r#""ACME""#).is_err());
        assert!(serde_json::from_str::<WebhookId>(r#""wh_nope""#).is_err());
    }

    #[test]
    fn new_ids_sort_by_creation() {
        let ids: Vec<DeliveryId> = (0..1000).map(|_| DeliveryId::new()).collect();
        let wh = WebhookId::new();
        let at = chrono::Utc::now();
        let routed = DeliveryId::for_event(7, &wh, at);
        assert_eq!(
            routed,
            DeliveryId::for_event(7, &wh, at),
            "the same event and webhook"
        );
        assert_ne!(routed, DeliveryId::for_event(8, &wh, at));
        assert_ne!(routed, DeliveryId::for_event(7, &WebhookId::new(), at));
        assert!(DeliveryId::parse(routed.as_str()).is_ok(), "{routed}");
        let later = DeliveryId::for_event(1, &wh, at + chrono::Duration::milliseconds(5));
        assert!(later > routed, "ids sort by the event's time");
        assert!(ids.windows(2).all(|w| w[0] < w[1]));
        let events: Vec<EventId> = (0..1000).map(|_| EventId::new()).collect();
        assert!(events.windows(2).all(|w| w[0] < w[1]));
    }

    proptest! {
        #[test]
        fn generated_tenant_ids_parse_and_round_trip(s in "[a-z0-9][a-z0-9-]{0,62}") {
            let id = TenantId::parse(&s).unwrap();
            let json = serde_json::to_string(&id).unwrap();
            prop_assert_eq!(serde_json::from_str::<TenantId>(&json).unwrap(), id);
        }

        #[test]
        fn generated_event_ids_parse_and_round_trip(s in "[A-Za-z0-9_.:-]{1,128}") {
            let id: EventId = s.parse().unwrap();
            let json = serde_json::to_string(&id).unwrap();
            prop_assert_eq!(serde_json::from_str::<EventId>(&json).unwrap(), id);
        }

        #[test]
        fn prefixed_ids_parse_and_round_trip(hex in "[0-9a-f]{32}") {
            let id = WebhookId::parse(&format!("wh_{hex}")).unwrap();
            let json = serde_json::to_string(&id).unwrap();
            prop_assert_eq!(serde_json::from_str::<WebhookId>(&json).unwrap(), id.clone());
            prop_assert_eq!(id.to_string().parse::<WebhookId>().unwrap(), id);
            let key = format!("key_{hex}");
            prop_assert!(ApiKeyId::parse(&key).is_ok());
        }

        #[test]
        fn new_ids_round_trip_through_serde(_n in 0u8..8) {
            let id = ApiKeyId::new();
            let json = serde_json::to_string(&id).unwrap();
            prop_assert_eq!(serde_json::from_str::<ApiKeyId>(&json).unwrap(), id);
        }
    }
}

//! What happened to a webhook: the `webhook.*` ledger events.
//!
//! Each variant's `type` string is a literal that is written to the ledger forever: never rename
//! one. A change of shape gets a new `event_version` and an upcaster. Events carry full values
//! (the whole new spec on every update), so projections stay trivial and a replay needs nothing
//! but the log. Secrets appear only sealed.

use chrono::{DateTime, Utc};
use cqrs_es::DomainEvent;
use serde::{Deserialize, Serialize};

use super::values::WebhookSpec;
use crate::ids::{TenantId, WebhookId};
use crate::secrets::SealedSecret;

/// Whether a webhook receives deliveries. `isActive` in the API is `status == Active`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum WebhookStatus {
    /// Receives deliveries.
    #[default]
    Active,
    /// Stopped by its owner; resumes on request.
    Paused,
    /// Stopped by the circuit breaker (too many failures, or `410 Gone`); resume re-enables it.
    Disabled,
}

impl WebhookStatus {
    /// `"active"`, `"paused"` or `"disabled"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::Paused => "paused",
            Self::Disabled => "disabled",
        }
    }

    /// True for `Active`.
    pub fn is_active(self) -> bool {
        self == Self::Active
    }
}

/// `webhook.created`: a webhook came into being.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WebhookCreated {
    pub tenant: TenantId,
    pub id: WebhookId,
    pub spec: WebhookSpec,
    /// The signing secret, sealed for `"<tenant>/<id>"`.
    pub secret: SealedSecret,
    pub status: WebhookStatus,
}

/// `webhook.updated`: the spec changed (by PATCH or PUT).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WebhookUpdated {
    /// The whole new spec.
    pub spec: WebhookSpec,
    /// The camelCase names of the fields that changed; never empty.
    pub changed: Vec<String>,
}

/// The events of the `webhook` aggregate. JSON: `{"type": "webhook.paused", "data": {...}}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", content = "data")]
pub enum WebhookEvent {
    #[serde(rename = "webhook.created")]
    Created(WebhookCreated),
    #[serde(rename = "webhook.updated")]
    Updated(WebhookUpdated),
    #[serde(rename = "webhook.paused")]
    Paused { reason: Option<String> },
    /// Back to active, from `paused` or `disabled`.
    #[serde(rename = "webhook.resumed")]
    Resumed { from: WebhookStatus },
    #[serde(rename = "webhook.disabled")]
    Disabled { reason: String },
    #[serde(rename = "webhook.deleted")]
    Deleted {},
    /// A new signing secret; the previous one signs beside it until the expiry.
    #[serde(rename = "webhook.secret_rotated", rename_all = "camelCase")]
    SecretRotated {
        secret: SealedSecret,
        previous_secret_expires_at: DateTime<Utc>,
    },
}

impl WebhookEvent {
    /// The status the webhook has after this event, for the events that set one: its status
    /// at creation, or where a pause, resume or disable leads. `None` when the status stays as
    /// it was (updates, secret rotations) and after deletion (no webhook is left to have one).
    ///
    /// The one statement of this rule: the aggregate, the router's registry and the `webhooks`
    /// projection all fold status through it.
    pub fn status_after(&self) -> Option<WebhookStatus> {
        match self {
            Self::Created(created) => Some(created.status),
            Self::Paused { .. } => Some(WebhookStatus::Paused),
            Self::Resumed { .. } => Some(WebhookStatus::Active),
            Self::Disabled { .. } => Some(WebhookStatus::Disabled),
            Self::Updated(_) | Self::Deleted {} | Self::SecretRotated { .. } => None,
        }
    }
}

impl DomainEvent for WebhookEvent {
    fn event_type(&self) -> String {
        match self {
            Self::Created(_) => "webhook.created",
            Self::Updated(_) => "webhook.updated",
            Self::Paused { .. } => "webhook.paused",
            Self::Resumed { .. } => "webhook.resumed",
            Self::Disabled { .. } => "webhook.disabled",
            Self::Deleted {} => "webhook.deleted",
            Self::SecretRotated { .. } => "webhook.secret_rotated",
        }
        .to_owned()
    }

    fn event_version(&self) -> String {
        "1".to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::webhook::values::Limits;
    use crate::webhook::values::{EventPattern, TargetUrl, WebhookName};
    use serde_json::{Value, json};

    fn sealed() -> SealedSecret {
        SealedSecret {
            kid: "k1".into(),
            nonce: "AAECAwQFBgcICQoL".into(),
            ciphertext: "c2VhbGVk".into(),
        }
    }

    fn spec() -> WebhookSpec {
        WebhookSpec::new(
            WebhookName::parse("CRM", &Limits::default()).unwrap(),
            TargetUrl::parse("https://example.com/h", false).unwrap(),
            vec![EventPattern::parse("lead.*").unwrap()],
        )
    }

    fn spec_json() -> Value {
        json!({
            "name": "CRM", "description": null, "url": "https://example.com/h",
            "httpMethod": "POST", "events": ["lead.*"], "filter": null, "headers": {},
            "properties": {}, "retryAttempts": 3, "retryDelaySeconds": 60,
            "retryPolicy": "exponential", "timeoutSeconds": 15, "errorsEmail": null
        })
    }

    /// Serializes `event`, compares with `expected`, checks that the `type` is the
    /// `event_type()` literal, and that the JSON reads back into the same event.
    fn assert_shape(event: WebhookEvent, expected: Value) {
        let json = serde_json::to_value(&event).unwrap();
        assert_eq!(json, expected);
        assert_eq!(json["type"], event.event_type());
        assert_eq!(event.event_version(), "1");
        assert_eq!(serde_json::from_value::<WebhookEvent>(json).unwrap(), event);
    }

    #[test]
    fn webhook_created_shape() {
        let event = WebhookEvent::Created(WebhookCreated {
            tenant: "acme".parse().unwrap(),
            id: "wh_0190f1d2c3b4a5968778695a4b3c2d1e".parse().unwrap(),
            spec: spec(),
            secret: sealed(),
            status: WebhookStatus::Paused,
        });
        let data = json!({
            "tenant": "acme", "id": "wh_0190f1d2c3b4a5968778695a4b3c2d1e", "spec": spec_json(),
            "secret": {"kid": "k1", "nonce": "AAECAwQFBgcICQoL", "ciphertext": "c2VhbGVk"},
            "status": "paused"
        });
        assert_shape(event, json!({"type": "webhook.created", "data": data}));
    }

    #[test]
    fn webhook_updated_shape() {
        let event = WebhookEvent::Updated(WebhookUpdated {
            spec: spec(),
            changed: vec!["url".into(), "retryPolicy".into()],
        });
        let data = json!({"spec": spec_json(), "changed": ["url", "retryPolicy"]});
        assert_shape(event, json!({"type": "webhook.updated", "data": data}));
    }

    #[test]
    fn status_change_shapes() {
        assert_shape(
            WebhookEvent::Paused { reason: None },
            json!({"type": "webhook.paused", "data": {"reason": null}}),
        );
        assert_shape(
            WebhookEvent::Resumed {
                from: WebhookStatus::Disabled,
            },
            json!({"type": "webhook.resumed", "data": {"from": "disabled"}}),
        );
        assert_shape(
            WebhookEvent::Disabled {
                reason: "410 Gone".into(),
            },
            json!({"type": "webhook.disabled", "data": {"reason": "410 Gone"}}),
        );
        assert_shape(
            WebhookEvent::Deleted {},
            json!({"type": "webhook.deleted", "data": {}}),
        );
    }

    #[test]
    fn only_creation_and_the_status_changes_set_a_status() {
        let created = |status| {
            WebhookEvent::Created(WebhookCreated {
                tenant: "acme".parse().unwrap(),
                id: "wh_0190f1d2c3b4a5968778695a4b3c2d1e".parse().unwrap(),
                spec: spec(),
                secret: sealed(),
                status,
            })
        };
        let resumed = |from| WebhookEvent::Resumed { from };
        let cases = [
            (created(WebhookStatus::Paused), Some(WebhookStatus::Paused)),
            (created(WebhookStatus::Active), Some(WebhookStatus::Active)),
            (
                WebhookEvent::Paused { reason: None },
                Some(WebhookStatus::Paused),
            ),
            (resumed(WebhookStatus::Paused), Some(WebhookStatus::Active)),
            (
                resumed(WebhookStatus::Disabled),
                Some(WebhookStatus::Active),
            ),
            (
                WebhookEvent::Disabled {
                    reason: "410 Gone".into(),
                },
                Some(WebhookStatus::Disabled),
            ),
            (
                WebhookEvent::Updated(WebhookUpdated {
                    spec: spec(),
                    changed: vec!["url".into()],
                }),
                None,
            ),
            (WebhookEvent::Deleted {}, None),
            (
                WebhookEvent::SecretRotated {
                    secret: sealed(),
                    previous_secret_expires_at: Utc::now(),
                },
                None,
            ),
        ];
        for (event, status) in cases {
            assert_eq!(event.status_after(), status, "{}", event.event_type());
        }
    }

    #[test]
    fn webhook_secret_rotated_shape() {
        let at = DateTime::parse_from_rfc3339("2025-01-02T03:04:05Z").unwrap();
        let event = WebhookEvent::SecretRotated {
            secret: sealed(),
            previous_secret_expires_at: at.with_timezone(&Utc),
        };
        let data = json!({
            "secret": {"kid": "k1", "nonce": "AAECAwQFBgcICQoL", "ciphertext": "c2VhbGVk"},
            "previousSecretExpiresAt": "2025-01-02T03:04:05Z"
        });
        assert_shape(
            event,
            json!({"type": "webhook.secret_rotated", "data": data}),
        );
    }
}

//! What can be asked of a webhook, and the catalog snapshot those requests are checked against.
//!
//! Commands carry everything `handle` needs from outside, already validated and looked up: the
//! spec (parsed at the edge), the new secret, the time, and a snapshot of the tenant's event-type
//! catalog, so the aggregate stays pure and deterministic. Each command maps to one API route.

use std::collections::BTreeSet;

use chrono::{DateTime, Duration, Utc};

use super::events::WebhookStatus;
use super::values::{EventPattern, WebhookPatch, WebhookSpec};
use crate::ids::{TenantId, WebhookId};
use crate::secrets::SigningSecret;

/// The tenant's event type names at the time of the request, looked up by the caller.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EventCatalogSnapshot(BTreeSet<String>);

impl EventCatalogSnapshot {
    /// A snapshot holding `names`.
    pub fn new<S: Into<String>>(names: impl IntoIterator<Item = S>) -> Self {
        Self(names.into_iter().map(Into::into).collect())
    }

    /// True when a webhook may subscribe to `pattern`: `*` always; an exact type when the
    /// catalog holds it; a wildcard such as `lead.*` when it matches at least one catalog type.
    pub fn allows(&self, pattern: &EventPattern) -> bool {
        match pattern.wildcard_prefix() {
            Some("") => true,
            Some(_) => self.0.iter().any(|name| pattern.matches(name)),
            None => self.0.contains(pattern.as_str()),
        }
    }

    /// The type names.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.0.iter().map(String::as_str)
    }

    /// True when the catalog is empty.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl<S: Into<String>> FromIterator<S> for EventCatalogSnapshot {
    fn from_iter<I: IntoIterator<Item = S>>(iter: I) -> Self {
        Self::new(iter)
    }
}

/// A request to change a webhook. Every command but `CreateWebhook` answers `NotFound` for a
/// webhook that does not exist or was deleted.
#[derive(Debug, Clone, PartialEq)]
pub enum WebhookCommand {
    /// `POST /v1/webhooks`. `status` is `Active`, or `Paused` for `isActive: false` (and for a
    /// vendor test delivery that failed); `Disabled` is refused. Writes `webhook.created`.
    CreateWebhook {
        tenant: TenantId,
        id: WebhookId,
        spec: WebhookSpec,
        secret: SigningSecret,
        status: WebhookStatus,
        catalog: EventCatalogSnapshot,
    },
    /// `PATCH /v1/webhooks/{id}`. Writes `webhook.updated` with the changed fields, or nothing
    /// when the patch changes nothing.
    UpdateWebhook {
        patch: WebhookPatch,
        catalog: EventCatalogSnapshot,
    },
    /// `PUT /v1/webhooks/{id}`. Writes `webhook.updated`, or nothing for an identical spec.
    ReplaceWebhook {
        spec: WebhookSpec,
        catalog: EventCatalogSnapshot,
    },
    /// `POST …/pause` (or `isActive: false`): active or disabled → paused; paused → nothing.
    PauseWebhook { reason: Option<String> },
    /// `POST …/resume` (or `isActive: true`): paused or disabled → active; active → nothing.
    ResumeWebhook,
    /// The circuit breaker (too many failed deliveries, or `410 Gone`): active or paused →
    /// disabled; disabled → nothing.
    DisableWebhook { reason: String },
    /// `DELETE /v1/webhooks/{id}`: the webhook is gone for every later command; its history
    /// stays in the ledger.
    DeleteWebhook,
    /// `POST …/regenerate-secret`: `secret` signs from now on; the previous secret keeps
    /// signing beside it until `now + grace` (a negative grace counts as zero).
    RotateSecret {
        secret: SigningSecret,
        now: DateTime<Utc>,
        grace: Duration,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pattern(s: &str) -> EventPattern {
        EventPattern::parse(s).unwrap()
    }

    #[test]
    fn the_catalog_allows_known_types_and_wildcards_that_match_one() {
        let catalog = EventCatalogSnapshot::new(["lead.created", "lead.won", "deal.closed"]);
        assert!(catalog.allows(&pattern("lead.created")));
        assert!(catalog.allows(&pattern("lead.*")));
        assert!(catalog.allows(&pattern("*")));
        assert!(!catalog.allows(&pattern("lead.lost")));
        assert!(!catalog.allows(&pattern("contact.*")));
        assert!(!catalog.allows(&pattern("lead.created.*")));
    }

    #[test]
    fn an_empty_catalog_allows_only_star() {
        let catalog = EventCatalogSnapshot::default();
        assert!(catalog.is_empty());
        assert!(catalog.allows(&pattern("*")));
        assert!(!catalog.allows(&pattern("lead.*")));
    }
}

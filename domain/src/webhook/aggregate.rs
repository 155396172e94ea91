//! The `Webhook` aggregate: decides which events a command produces and folds them into state.
//!
//! `handle` is pure apart from sealing a new signing secret, which needs a random nonce and the
//! master key, both reached through [`WebhookServices`]. Everything else (time, ids, the catalog)
//! arrives in the command. A command that changes nothing writes nothing, so retried requests and
//! repeated pauses leave the ledger as it was.

use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use cqrs_es::Aggregate;
use cqrs_es::event_sink::EventSink;
use serde::{Deserialize, Serialize};

use super::commands::{EventCatalogSnapshot, WebhookCommand};
use super::error::WebhookError;
use super::events::{WebhookCreated, WebhookEvent, WebhookStatus, WebhookUpdated};
use super::values::{EventPattern, WebhookSpec};
use crate::ids::{TenantId, WebhookId};
use crate::secrets::{Keyring, SealedSecret};
use crate::validation::{FieldError, Rule};

/// What the webhook aggregate needs from outside: the keyring that seals signing secrets.
#[derive(Debug, Clone)]
pub struct WebhookServices {
    pub keyring: Arc<Keyring>,
}

impl WebhookServices {
    /// Services with the public test key ([`Keyring::for_tests`]). **For tests only.**
    pub fn for_tests() -> Self {
        Self {
            keyring: Arc::new(Keyring::for_tests()),
        }
    }
}

/// The associated data a webhook's secret is sealed for: `"<tenant>/<webhookId>"`.
pub fn secret_aad(tenant: &TenantId, id: &WebhookId) -> String {
    format!("{tenant}/{id}")
}

/// The current state of one webhook, as folded from its events.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Webhook {
    tenant: Option<TenantId>,
    id: Option<WebhookId>,
    spec: Option<WebhookSpec>,
    status: WebhookStatus,
    secret: Option<SealedSecret>,
    previous_secret: Option<(SealedSecret, DateTime<Utc>)>,
    deleted: bool,
    created: bool,
}

impl Webhook {
    /// The owning tenant, once created.
    pub fn tenant(&self) -> Option<&TenantId> {
        self.tenant.as_ref()
    }

    /// The webhook's id, once created.
    pub fn id(&self) -> Option<&WebhookId> {
        self.id.as_ref()
    }

    /// The current spec, once created.
    pub fn spec(&self) -> Option<&WebhookSpec> {
        self.spec.as_ref()
    }

    /// The current status (`Active` before creation).
    pub fn status(&self) -> WebhookStatus {
        self.status
    }

    /// True after `webhook.deleted`.
    pub fn is_deleted(&self) -> bool {
        self.deleted
    }

    /// True when created and not deleted.
    pub fn exists(&self) -> bool {
        self.created && !self.deleted
    }

    /// The sealed current signing secret; open it with `secret_aad(tenant, id)`.
    pub fn secret(&self) -> Option<&SealedSecret> {
        self.secret.as_ref()
    }

    /// The sealed previous secret and when it stops signing (it may already have).
    pub fn previous_secret(&self) -> Option<(&SealedSecret, DateTime<Utc>)> {
        self.previous_secret.as_ref().map(|(s, at)| (s, *at))
    }

    /// The sealed secrets that sign a delivery made at `now`: the current one, then the
    /// previous one while its grace period lasts.
    pub fn signing_secrets_at(&self, now: DateTime<Utc>) -> Vec<&SealedSecret> {
        let previous = (self.previous_secret.as_ref())
            .filter(|(_, expires)| now < *expires)
            .map(|(s, _)| s);
        self.secret.iter().chain(previous).collect()
    }

    /// The tenant, id and spec of a webhook that exists, or `NotFound`.
    fn existing(&self) -> Result<(&TenantId, &WebhookId, &WebhookSpec), WebhookError> {
        match (&self.tenant, &self.id, &self.spec) {
            (Some(tenant), Some(id), Some(spec)) if self.exists() => Ok((tenant, id, spec)),
            _ => Err(WebhookError::NotFound),
        }
    }

    fn decide(
        &self,
        command: WebhookCommand,
        services: &WebhookServices,
    ) -> Result<Vec<WebhookEvent>, WebhookError> {
        let events = match command {
            WebhookCommand::CreateWebhook {
                tenant,
                id,
                spec,
                secret,
                status,
                catalog,
            } => {
                if self.created {
                    return Err(WebhookError::AlreadyExists);
                }
                if status == WebhookStatus::Disabled {
                    let allowed = vec!["active".to_owned(), "paused".to_owned()];
                    let error = FieldError::new("status", Rule::UnknownValue { allowed });
                    return Err(WebhookError::Validation(vec![error]));
                }
                check_catalog(&spec.events, &catalog)?;
                let secret = services.keyring.seal(&secret, &secret_aad(&tenant, &id));
                vec![WebhookEvent::Created(WebhookCreated {
                    tenant,
                    id,
                    spec,
                    secret,
                    status,
                })]
            }
            WebhookCommand::UpdateWebhook { patch, catalog } => {
                let (_, _, spec) = self.existing()?;
                if let Some(events) = &patch.events {
                    check_catalog(events, &catalog)?;
                }
                updated(spec.apply_patch(&patch))
            }
            WebhookCommand::ReplaceWebhook {
                spec: next,
                catalog,
            } => {
                let (_, _, spec) = self.existing()?;
                check_catalog(&next.events, &catalog)?;
                let changed = spec.changed_fields(&next);
                updated((next, changed))
            }
            WebhookCommand::PauseWebhook { reason } => {
                self.existing()?;
                match self.status {
                    WebhookStatus::Paused => vec![],
                    _ => vec![WebhookEvent::Paused { reason }],
                }
            }
            WebhookCommand::ResumeWebhook => {
                self.existing()?;
                match self.status {
                    WebhookStatus::Active => vec![],
                    from => vec![WebhookEvent::Resumed { from }],
                }
            }
            WebhookCommand::DisableWebhook { reason } => {
                self.existing()?;
                match self.status {
                    WebhookStatus::Disabled => vec![],
                    _ => vec![WebhookEvent::Disabled { reason }],
                }
            }
            WebhookCommand::DeleteWebhook => {
                self.existing()?;
                vec![WebhookEvent::Deleted {}]
            }
            WebhookCommand::RotateSecret { secret, now, grace } => {
                let (tenant, id, _) = self.existing()?;
                vec![WebhookEvent::SecretRotated {
                    secret: services.keyring.seal(&secret, &secret_aad(tenant, id)),
                    previous_secret_expires_at: now + grace.max(Duration::zero()),
                }]
            }
        };
        Ok(events)
    }
}

/// `webhook.updated` for a changed spec, or nothing when no field changed.
fn updated((next, changed): (WebhookSpec, Vec<&str>)) -> Vec<WebhookEvent> {
    if changed.is_empty() {
        return vec![];
    }
    vec![WebhookEvent::Updated(WebhookUpdated {
        spec: next,
        changed: changed.into_iter().map(str::to_owned).collect(),
    })]
}

/// Every pattern must be allowed by the tenant's catalog; each one that is not is reported as
/// `events[i]`.
fn check_catalog(
    events: &[EventPattern],
    catalog: &EventCatalogSnapshot,
) -> Result<(), WebhookError> {
    let errors: Vec<FieldError> = (events.iter().enumerate())
        .filter(|(_, pattern)| !catalog.allows(pattern))
        .map(|(i, pattern)| {
            let name = pattern.as_str().to_owned();
            FieldError::new(format!("events[{i}]"), Rule::UnknownEventType { name })
        })
        .collect();
    if errors.is_empty() {
        Ok(())
    } else {
        Err(WebhookError::Validation(errors))
    }
}

impl Aggregate for Webhook {
    const TYPE: &'static str = "webhook";
    type Command = WebhookCommand;
    type Event = WebhookEvent;
    type Error = WebhookError;
    type Services = WebhookServices;

    async fn handle(
        &mut self,
        command: WebhookCommand,
        services: &WebhookServices,
        sink: &EventSink<Self>,
    ) -> Result<(), WebhookError> {
        for event in self.decide(command, services)? {
            sink.write(event, self).await;
        }
        Ok(())
    }

    fn apply(&mut self, event: WebhookEvent) {
        if let Some(status) = event.status_after() {
            self.status = status;
        }
        match event {
            WebhookEvent::Created(created) => {
                self.tenant = Some(created.tenant);
                self.id = Some(created.id);
                self.spec = Some(created.spec);
                self.secret = Some(created.secret);
                self.created = true;
            }
            WebhookEvent::Updated(updated) => self.spec = Some(updated.spec),
            WebhookEvent::Paused { .. }
            | WebhookEvent::Resumed { .. }
            | WebhookEvent::Disabled { .. } => {}
            WebhookEvent::Deleted {} => self.deleted = true,
            WebhookEvent::SecretRotated {
                secret,
                previous_secret_expires_at,
            } => {
                let previous = self.secret.replace(secret);
                self.previous_secret = previous.map(|s| (s, previous_secret_expires_at));
            }
        }
    }
}

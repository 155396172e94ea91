//! What every dialect does the same way: the native commands and views, reached by vendor id.
//!
//! A dialect module parses its vendor's JSON into a [`WebhookSpecInput`] (or a patch), calls
//! one of these, and renders the [`WebhookRow`] it gets back. These are the native routes'
//! steps (validation, `Idempotency-Key`, read-your-writes), with three differences:
//! - events are checked against the vendor's documented list (not the tenant's catalog), and
//!   the names are added to the tenant's catalog when it lacks them;
//! - the webhook id is the dialect's (see [`hookledger_domain::dialect`]), so the vendor id
//!   costs no lookup;
//! - field names in 422 answers are the vendor's ([`Vendor::fields`]).

use axum::body::Bytes;
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use hookledger_domain::catalog::CatalogCommand;
use hookledger_domain::dialect::{Dialect, IdForm};
use hookledger_domain::ids::{TenantId, WebhookId, WebhookKey};
use hookledger_domain::ledger::CommandError;
use hookledger_domain::secrets::SigningSecret;
use hookledger_domain::webhook::values::{
    WebhookPatch, WebhookPatchInput, WebhookSpec, WebhookSpecInput,
};
use hookledger_domain::webhook::{
    EventCatalogSnapshot, EventPattern, EventTypeName, Webhook, WebhookCommand, WebhookError,
    WebhookStatus, secret_aad,
};
use hookledger_projections::Page;
use hookledger_projections::webhooks::{ListFilter, WebhookRow};
use serde::Serialize;

use crate::AppState;
use crate::http::error::{ApiError, FieldProblem};
use crate::http::extract::TenantAuth;
use crate::http::idempotency;
use crate::http::readcache::ReadCache;
use crate::http::routes::support::{apply_change, caught_up, command_meta, read_row};
use crate::http::runtime::HttpRuntime;

/// How many numbers an `Int32` dialect tries past the highest it sees before giving up (each
/// try that finds the number taken by a concurrent create moves on to the next).
const NUMBER_TRIES: i32 = 32;

/// `?page=` and `?limit=` of a dialect's list where its document has none (hookledger's
/// addition): page 1 and the largest page by default.
#[derive(Debug, Default, serde::Deserialize)]
pub(crate) struct PageQuery {
    page: Option<u32>,
    limit: Option<u32>,
}

impl PageQuery {
    /// A list filter for this page.
    pub(crate) fn filter(&self) -> ListFilter {
        ListFilter {
            page: self.page.unwrap_or(1),
            limit: self.limit.unwrap_or(hookledger_projections::MAX_LIMIT),
            ..ListFilter::default()
        }
    }
}

/// One vendor's constants.
#[derive(Debug)]
pub(crate) struct Vendor {
    pub(crate) dialect: Dialect,
    /// The event names its document lists, exactly as spelled there.
    pub(crate) events: &'static [&'static str],
    /// Native field name → the vendor's, for error answers (`url` → `webhookUrl`). A problem
    /// about `events[2]` becomes one about `webhookEvent[2]`.
    pub(crate) fields: &'static [(&'static str, &'static str)],
}

impl Vendor {
    /// The vendor's list as the catalog a webhook is checked against.
    pub(crate) fn catalog(&self) -> EventCatalogSnapshot {
        EventCatalogSnapshot::new(self.events.iter().copied())
    }

    /// True when `name` is one of the vendor's events.
    pub(crate) fn knows(&self, name: &str) -> bool {
        self.events.contains(&name)
    }

    /// `field` as the vendor names it.
    pub(crate) fn field(&self, field: &str) -> String {
        for (native, vendor) in self.fields {
            if let Some(rest) = field.strip_prefix(native)
                && (rest.is_empty() || rest.starts_with('[') || rest.starts_with('.'))
            {
                return format!("{vendor}{rest}");
            }
        }
        field.to_owned()
    }

    /// `error` with its field names in the vendor's spelling.
    pub(crate) fn rename(&self, error: ApiError) -> ApiError {
        let rename = |problems: Vec<FieldProblem>| -> Vec<FieldProblem> {
            (problems.into_iter())
                .map(|p| FieldProblem::new(self.field(&p.field), p.message))
                .collect()
        };
        match error {
            ApiError::Unprocessable(problems) => ApiError::Unprocessable(rename(problems)),
            ApiError::BadRequest { detail, errors } => ApiError::BadRequest {
                detail,
                errors: rename(errors),
            },
            other => other,
        }
    }

    /// The webhook a vendor id names; a malformed id, or one of another dialect, is 404.
    pub(crate) fn webhook_id(&self, vendor_id: &str) -> Result<WebhookId, ApiError> {
        self.dialect
            .webhook_id(vendor_id)
            .ok_or(ApiError::NotFound("webhook"))
    }

    /// The vendor id of a webhook of this dialect.
    pub(crate) fn vendor_id(&self, row: &WebhookRow) -> String {
        WebhookId::parse(&row.id)
            .ok()
            .and_then(|id| self.dialect.vendor_id(&id))
            .unwrap_or_else(|| row.id.clone())
    }

    /// The vendor id as a number, for `Int32` dialects (0 if the row is not one of ours,
    /// which the dialect's list never returns).
    pub(crate) fn number(&self, row: &WebhookRow) -> i32 {
        WebhookId::parse(&row.id)
            .ok()
            .and_then(|id| self.dialect.number(&id))
            .unwrap_or(0)
    }

    /// Validates `input` as a whole webhook (422 in the vendor's field names).
    pub(crate) fn spec(
        &self,
        state: &AppState,
        input: WebhookSpecInput,
    ) -> Result<WebhookSpec, ApiError> {
        WebhookSpec::from_input(input, &state.limits, state.allow_private_targets())
            .map_err(|errors| self.rename(ApiError::unprocessable(&errors)))
    }

    /// Creates a webhook of this dialect and answers its row (read-your-writes) and secret.
    /// `secret: None` generates a `whsec_` secret.
    pub(crate) async fn create(
        &self,
        state: &AppState,
        auth: &TenantAuth,
        headers: &HeaderMap,
        spec: WebhookSpec,
        secret: Option<SigningSecret>,
        status: WebhookStatus,
    ) -> Result<(WebhookRow, SigningSecret), ApiError> {
        let secret =
            secret.unwrap_or_else(|| SigningSecret::generate(&ring::rand::SystemRandom::new()));
        self.ensure_catalog(state, auth, headers, &spec.events)
            .await?;
        let meta = command_meta(auth, headers)?;
        let mut number = match self.dialect.id_form() {
            IdForm::Int32 => Some(self.next_number(state, &auth.tenant, None).await?),
            _ => None,
        };
        let mut tries = 0;
        loop {
            tries += 1;
            let id = match number {
                Some(n) => self.dialect.numbered(n),
                None => self.dialect.new_webhook_id(),
            }
            .ok_or_else(|| {
                ApiError::Unavailable(format!(
                    "no {} webhook id is left for this tenant",
                    self.dialect
                ))
            })?;
            let command = WebhookCommand::CreateWebhook {
                tenant: auth.tenant.clone(),
                id: id.clone(),
                spec: spec.clone(),
                secret: secret.clone(),
                status,
                catalog: self.catalog(),
            };
            match state
                .webhooks
                .execute(
                    &WebhookKey::new(&auth.tenant, &id).aggregate_id(),
                    command,
                    &meta,
                )
                .await
            {
                Ok(committed) if committed.duplicate => {
                    return Err(ApiError::Conflict(
                        "this Idempotency-Key was already used for another request; its webhook \
                         exists"
                            .into(),
                    ));
                }
                Ok(committed) => {
                    let row = read_row(state, &auth.tenant, &id, committed.version).await?;
                    return Ok((row, secret));
                }
                // Taken by a create of another replica (or a one-in-2^44 random repeat), or
                // lost a race for it: another id.
                Err(
                    CommandError::Rejected(WebhookError::AlreadyExists) | CommandError::Conflict,
                ) if tries < NUMBER_TRIES => {
                    number = match number {
                        Some(taken) => {
                            Some(self.next_number(state, &auth.tenant, Some(taken)).await?)
                        }
                        None => None,
                    };
                }
                Err(e) => return Err(self.rename(e.into())),
            }
        }
    }

    /// Adds the spec's event names to the tenant's catalog when it lacks any (one query when
    /// it has them all, as a native create makes).
    async fn ensure_catalog(
        &self,
        state: &AppState,
        auth: &TenantAuth,
        headers: &HeaderMap,
        events: &[EventPattern],
    ) -> Result<(), ApiError> {
        let known =
            hookledger_projections::event_types::names(&state.pool, auth.tenant.as_str()).await?;
        // Only the vendor's own names: the command refuses any other, and must not find
        // them added to the catalog before it does.
        let missing: Vec<EventTypeName> = (events.iter())
            .filter(|p| self.knows(p.as_str()))
            .filter(|p| !known.iter().any(|k| k == p.as_str()))
            .filter_map(|p| EventTypeName::parse(p.as_str()).ok())
            .collect();
        if missing.is_empty() {
            return Ok(());
        }
        let meta = command_meta(auth, &follow_up(headers, "catalog"))?;
        let command = CatalogCommand::EnsureEventTypes { names: missing };
        state
            .catalogs
            .execute(auth.tenant.as_str(), command, &meta)
            .await?;
        Ok(())
    }

    /// The tenant's webhook of this dialect, from the view; 404 when there is none.
    pub(crate) async fn get(
        &self,
        state: &AppState,
        tenant: &TenantId,
        vendor_id: &str,
    ) -> Result<WebhookRow, ApiError> {
        let id = self.webhook_id(vendor_id)?;
        hookledger_projections::webhooks::get(&state.pool, tenant.as_str(), id.as_str())
            .await?
            .ok_or(ApiError::NotFound("webhook"))
    }

    /// One page of the tenant's webhooks of this dialect, oldest first; `filter.id_regex` is
    /// set here.
    pub(crate) async fn list(
        &self,
        state: &AppState,
        tenant: &TenantId,
        mut filter: ListFilter,
    ) -> Result<Page<WebhookRow>, ApiError> {
        filter.id_regex = Some(self.dialect.id_regex());
        Ok(hookledger_projections::webhooks::list(&state.pool, tenant.as_str(), &filter).await?)
    }

    /// [`Vendor::list`] rendered by `render` as a JSON answer, kept in the read cache while the
    /// ledger view has not moved, exactly as the native list is (so a dialect's list costs
    /// what the native one does).
    pub(crate) async fn list_json<T: Serialize>(
        &self,
        state: &AppState,
        runtime: &HttpRuntime,
        tenant: &TenantId,
        filter: ListFilter,
        render: impl FnOnce(Page<WebhookRow>) -> T,
    ) -> Result<Response, ApiError> {
        let key = format!("{}|{tenant}|{filter:?}", self.dialect);
        let stamp = ReadCache::stamp(&state.projections);
        let bytes = match runtime.reads.get(&key, stamp) {
            Some(bytes) => bytes,
            None => {
                let page = self.list(state, tenant, filter).await?;
                let bytes = Bytes::from(
                    serde_json::to_vec(&render(page))
                        .map_err(|e| ApiError::Internal(e.to_string()))?,
                );
                runtime.reads.put(key, stamp, bytes.clone());
                bytes
            }
        };
        let mut response = bytes.into_response();
        response.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        Ok(response)
    }

    /// Replaces the whole spec and/or sets the status, then answers the row.
    pub(crate) async fn replace(
        &self,
        state: &AppState,
        auth: &TenantAuth,
        headers: &HeaderMap,
        id: &WebhookId,
        spec: Option<WebhookSpec>,
        status: Option<WebhookStatus>,
    ) -> Result<WebhookRow, ApiError> {
        let command = match spec {
            Some(spec) => {
                self.ensure_catalog(state, auth, headers, &spec.events)
                    .await?;
                Some(WebhookCommand::ReplaceWebhook {
                    spec,
                    catalog: self.catalog(),
                })
            }
            None => None,
        };
        self.change(state, auth, headers, id, command, status).await
    }

    /// Changes the fields `patch` names and/or sets the status, then answers the row.
    pub(crate) async fn patch(
        &self,
        state: &AppState,
        auth: &TenantAuth,
        headers: &HeaderMap,
        id: &WebhookId,
        patch: WebhookPatchInput,
        status: Option<WebhookStatus>,
    ) -> Result<WebhookRow, ApiError> {
        let patch = WebhookPatch::from_input(patch, &state.limits, state.allow_private_targets())
            .map_err(|e| self.rename(ApiError::unprocessable(&e)))?;
        let command = if patch.is_empty() {
            None
        } else {
            if let Some(events) = &patch.events {
                self.ensure_catalog(state, auth, headers, events).await?;
            }
            Some(WebhookCommand::UpdateWebhook {
                patch,
                catalog: self.catalog(),
            })
        };
        self.change(state, auth, headers, id, command, status).await
    }

    async fn change(
        &self,
        state: &AppState,
        auth: &TenantAuth,
        headers: &HeaderMap,
        id: &WebhookId,
        command: Option<WebhookCommand>,
        status: Option<WebhookStatus>,
    ) -> Result<WebhookRow, ApiError> {
        let version = apply_change(state, auth, headers, id, command, status)
            .await
            .map_err(|e| self.rename(e))?;
        read_row(state, &auth.tenant, id, version).await
    }

    /// Deletes the tenant's webhook of this dialect that `vendor_id` names (404 when there is
    /// none) and answers it as it was; read-your-writes, like every write.
    pub(crate) async fn delete(
        &self,
        state: &AppState,
        auth: &TenantAuth,
        headers: &HeaderMap,
        vendor_id: &str,
    ) -> Result<WebhookRow, ApiError> {
        let row = self.get(state, &auth.tenant, vendor_id).await?;
        let id = self.webhook_id(vendor_id)?;
        let command = WebhookCommand::DeleteWebhook;
        let version = self.execute(state, auth, headers, &id, command).await?;
        caught_up(state, version).await?;
        Ok(row)
    }

    /// Runs one command on the webhook (pause, delete, rotate…) and answers its new version.
    pub(crate) async fn execute(
        &self,
        state: &AppState,
        auth: &TenantAuth,
        headers: &HeaderMap,
        id: &WebhookId,
        command: WebhookCommand,
    ) -> Result<u64, ApiError> {
        let meta = command_meta(auth, headers)?;
        let committed = state
            .webhooks
            .execute(
                &WebhookKey::new(&auth.tenant, id).aggregate_id(),
                command,
                &meta,
            )
            .await?;
        Ok(committed.version)
    }

    /// The webhook's current signing secret, from the ledger (404 when it does not exist).
    pub(crate) async fn secret(
        &self,
        state: &AppState,
        tenant: &TenantId,
        id: &WebhookId,
    ) -> Result<SigningSecret, ApiError> {
        let (webhook, _): (Webhook, u64) = state
            .webhooks
            .load(&WebhookKey::new(tenant, id).aggregate_id())
            .await?;
        let sealed = webhook
            .secret()
            .filter(|_| webhook.exists())
            .ok_or(ApiError::NotFound("webhook"))?;
        state
            .keyring
            .open(sealed, &secret_aad(tenant, id))
            .map_err(|e| ApiError::Internal(format!("the webhook's secret does not open: {e}")))
    }
}

/// The headers for a second command of the same request: its `Idempotency-Key` (if any) with
/// a suffix, so the ledger does not take the command for the first one (a key too long for
/// the suffix is dropped; the command is then idempotent by what it checks itself).
pub(crate) fn follow_up(headers: &HeaderMap, suffix: &str) -> HeaderMap {
    let mut headers = headers.clone();
    let key = idempotency::parse_key(&headers).ok().flatten();
    headers.remove("idempotency-key");
    let derived = key.and_then(|k| HeaderValue::from_str(&format!("{k}:{suffix}")).ok());
    if let Some(value) = derived.filter(|v| v.len() <= 255) {
        headers.insert("idempotency-key", value);
    }
    headers
}

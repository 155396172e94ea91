//! Numbers for the dialects whose ids are int32 (SuperOffice, Sonar): one past the last this
//! process handed out, per tenant, so concurrent creates in one process never collide; the
//! view is asked only for a tenant's first number and after a collision with another replica,
//! and the ledger (a create of an existing webhook is `AlreadyExists`) settles those races.

use std::collections::HashMap;
use std::sync::MutexGuard;

use hookledger_domain::dialect::Dialect;
use hookledger_domain::ids::{TenantId, WebhookId};

use super::support::Vendor;
use crate::AppState;
use crate::http::error::ApiError;

/// The numbers handed out (a poisoned lock still holds valid numbers: take it).
fn numbers(state: &AppState) -> MutexGuard<'_, HashMap<(Dialect, TenantId), i32>> {
    state
        .dialect_numbers
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl Vendor {
    /// The number for a new webhook of this `Int32` dialect: one past the last this process
    /// handed out, so concurrent creates in one process never collide. The view is asked
    /// only for the first number of a tenant and after a collision (`taken`: another replica
    /// made webhooks since).
    pub(super) async fn next_number(
        &self,
        state: &AppState,
        tenant: &TenantId,
        taken: Option<i32>,
    ) -> Result<i32, ApiError> {
        let key = (self.dialect, tenant.clone());
        let known = taken.is_none() && numbers(state).contains_key(&key);
        let floor = match (known, taken) {
            (true, _) => 0,
            (false, taken) => self
                .highest_number(state, tenant)
                .await?
                .max(taken.unwrap_or(0)),
        };
        let mut numbers = numbers(state);
        let last = numbers.entry(key).or_insert(0);
        *last = (*last).max(floor).saturating_add(1);
        Ok(*last)
    }

    /// The highest number of this `Int32` dialect the tenant has or had (0 for none).
    async fn highest_number(&self, state: &AppState, tenant: &TenantId) -> Result<i32, ApiError> {
        let max = hookledger_projections::webhooks::max_id_matching(
            &state.pool,
            tenant.as_str(),
            &self.dialect.id_regex(),
        )
        .await?;
        Ok(max
            .and_then(|id| WebhookId::parse(&id).ok())
            .and_then(|id| self.dialect.number(&id))
            .unwrap_or(0))
    }
}

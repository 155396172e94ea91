//! `/v1/event-types`: the tenant's event-type catalog.

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};
use hookledger_domain::catalog::CatalogCommand;
use hookledger_domain::ledger::CommandMeta;
use hookledger_domain::webhook::values::EventTypeName;
use hookledger_projections::View;
use serde::Deserialize;
use serde_json::{Value, json};

use super::Paging;
use crate::AppState;
use crate::error::{ApiError, FieldProblem};
use crate::extract::{ApiJson, ApiQuery, TenantAuth};

/// Largest accepted JSON Schema of an event type, serialized.
const MAX_SCHEMA_BYTES: usize = 65_536;
const MAX_DESCRIPTION: usize = 2_000;

pub(super) fn router() -> Router<AppState> {
    Router::new().route("/v1/event-types", get(list).post(add))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct EventTypeIn {
    name: Option<String>,
    description: Option<String>,
    schema: Option<Value>,
}

async fn list(
    auth: TenantAuth,
    State(state): State<AppState>,
    ApiQuery(paging): ApiQuery<Paging>,
) -> Result<Json<Value>, ApiError> {
    let (page, limit) = paging.resolve()?;
    let page =
        hookledger_projections::event_types::list(&state.pool, auth.tenant.as_str(), page, limit)
            .await?;
    Ok(Json(
        serde_json::to_value(page).map_err(|e| ApiError::Internal(e.to_string()))?,
    ))
}

async fn add(
    auth: TenantAuth,
    State(state): State<AppState>,
    ApiJson(body): ApiJson<EventTypeIn>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let mut errors = Vec::new();
    let name = match body.name.as_deref() {
        None => {
            errors.push(FieldProblem {
                field: "name".into(),
                message: "is required".into(),
            });
            None
        }
        Some(raw) => match EventTypeName::parse(raw) {
            Ok(n) => Some(n),
            Err(rule) => {
                errors.push(FieldProblem {
                    field: "name".into(),
                    message: rule.to_string(),
                });
                None
            }
        },
    };
    if body
        .description
        .as_ref()
        .is_some_and(|d| d.chars().count() > MAX_DESCRIPTION)
    {
        errors.push(FieldProblem {
            field: "description".into(),
            message: format!("must be at most {MAX_DESCRIPTION} characters"),
        });
    }
    match &body.schema {
        Some(schema) if !schema.is_object() => errors.push(FieldProblem {
            field: "schema".into(),
            message: "must be a JSON Schema object".into(),
        }),
        Some(schema) if schema.to_string().len() > MAX_SCHEMA_BYTES => errors.push(FieldProblem {
            field: "schema".into(),
            message: format!("must be at most {MAX_SCHEMA_BYTES} bytes"),
        }),
        _ => {}
    }
    let Some(name) = name.filter(|_| errors.is_empty()) else {
        return Err(ApiError::Unprocessable(errors));
    };
    let command = CatalogCommand::AddEventType {
        name: name.clone(),
        description: body.description.clone(),
        schema: body.schema.clone(),
    };
    let committed = state
        .catalogs
        .execute(
            auth.tenant.as_str(),
            command,
            &CommandMeta::new(auth.actor()),
        )
        .await?;
    state
        .projections
        .wait_for(View::Ledger, committed.version, state.ryw_timeout())
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(
            json!({"name": name.as_str(), "description": body.description, "schema": body.schema}),
        ),
    ))
}

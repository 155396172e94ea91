//! `/v1/event-types`: the tenant's event-type catalog. Native webhooks may only subscribe to
//! these types (or patterns over them).

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use chrono::{DateTime, Utc};
use hookledger_domain::catalog::CatalogCommand;
use hookledger_domain::webhook::values::EventTypeName;
use hookledger_projections::event_types::EventTypeRow;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::members::not_null;
use super::paging::{Paged, Paging};
use super::support::{caught_up, command_meta};
use crate::AppState;
use crate::http::error::{ApiError, FieldProblem};
use crate::http::extract::{ApiJson, ApiQuery, TenantAuth};

pub(super) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(list, add))
}

/// An event type to add to the catalog.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"name": "lead.created", "description": "A lead entered the CRM"}))]
struct EventTypeIn {
    /// `[A-Za-z0-9_.-]+`, dot-separated segments (`lead.created`).
    #[schema(value_type = String, pattern = "^[A-Za-z0-9_.-]+$", max_length = 255)]
    #[serde(default, deserialize_with = "not_null")]
    #[schema(required = true)]
    name: Option<String>,
    /// At most `limits.max_description` (2000) characters.
    #[schema(max_length = 2000)]
    #[serde(default, deserialize_with = "not_null")]
    description: Option<String>,
    /// A JSON Schema of the event's data (an object), at most
    /// `limits.max_event_type_schema_bytes` (64 KiB) serialized.
    #[schema(value_type = Option<Object>)]
    schema: Option<Map<String, Value>>,
}

/// An event type of the catalog.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(example = json!({"name": "lead.created", "description": "A lead entered the CRM",
    "schema": null, "createdAt": "2025-01-01T00:00:00Z"}))]
struct EventTypeOut {
    name: String,
    description: Option<String>,
    #[schema(value_type = Option<Object>)]
    schema: Option<Value>,
    created_at: DateTime<Utc>,
}

impl From<EventTypeRow> for EventTypeOut {
    fn from(r: EventTypeRow) -> Self {
        Self {
            name: r.name,
            description: r.description,
            schema: r.schema,
            created_at: r.created_at,
        }
    }
}

#[utoipa::path(
    get, path = "/v1/event-types", tag = "event-types",
    security(("apiKey" = []), ("bearerAuth" = [])),
    params(Paging),
    responses((status = 200, description = "One page of the catalog, oldest first",
        body = Paged<EventTypeOut>))
)]
/// List the tenant's event types.
async fn list(
    auth: TenantAuth,
    State(state): State<AppState>,
    ApiQuery(paging): ApiQuery<Paging>,
) -> Result<Json<Paged<EventTypeOut>>, ApiError> {
    let (page, limit) = paging.resolve()?;
    let rows =
        hookledger_projections::event_types::list(&state.pool, auth.tenant.as_str(), page, limit)
            .await?;
    Ok(Json(Paged::from_page(rows, EventTypeOut::from)))
}

/// Every rule an event type breaks.
fn check(state: &AppState, body: &EventTypeIn) -> Result<EventTypeName, ApiError> {
    let limits = &state.config.limits;
    let mut errors = Vec::new();
    let name = match body.name.as_deref() {
        None => {
            errors.push(FieldProblem::new("name", "is required"));
            None
        }
        Some(raw) if raw.len() > 255 => {
            errors.push(FieldProblem::new("name", "must be at most 255 characters"));
            None
        }
        Some(raw) => EventTypeName::parse(raw)
            .map_err(|rule| errors.push(FieldProblem::new("name", rule.to_string())))
            .ok(),
    };
    if body
        .description
        .as_ref()
        .is_some_and(|d| d.chars().count() > limits.max_description)
    {
        let max = limits.max_description;
        errors.push(FieldProblem::new(
            "description",
            format!("must be at most {max} characters"),
        ));
    }
    match &body.schema {
        Some(schema)
            if serde_json::to_string(schema).map_or(0, |s| s.len())
                > limits.max_event_type_schema_bytes =>
        {
            let max = limits.max_event_type_schema_bytes;
            errors.push(FieldProblem::new(
                "schema",
                format!("must be at most {max} bytes"),
            ));
        }
        _ => {}
    }
    match name {
        Some(name) if errors.is_empty() => Ok(name),
        _ => Err(ApiError::Unprocessable(errors)),
    }
}

#[utoipa::path(
    post, path = "/v1/event-types", tag = "event-types",
    security(("apiKey" = []), ("bearerAuth" = [])),
    request_body = EventTypeIn,
    responses((status = 201, description = "Added to the catalog", body = EventTypeOut))
)]
/// Add an event type to the catalog.
async fn add(
    auth: TenantAuth,
    State(state): State<AppState>,
    headers: HeaderMap,
    ApiJson(body): ApiJson<EventTypeIn>,
) -> Result<(StatusCode, Json<EventTypeOut>), ApiError> {
    let name = check(&state, &body)?;
    let command = CatalogCommand::AddEventType {
        name: name.clone(),
        description: body.description,
        schema: body.schema.map(Value::Object),
    };
    let meta = command_meta(&auth, &headers)?;
    let committed = state
        .catalogs
        .execute(auth.tenant.as_str(), command, &meta)
        .await?;
    caught_up(&state, committed.version).await?;
    let row = find(&state, auth.tenant.as_str(), name.as_str()).await?;
    Ok((StatusCode::CREATED, Json(row.into())))
}

/// One event type of the tenant's catalog, from the view (catalogs are small: a scan of its
/// pages, newest write last, finds it).
async fn find(state: &AppState, tenant: &str, name: &str) -> Result<EventTypeRow, ApiError> {
    let mut page = 1;
    loop {
        let rows =
            hookledger_projections::event_types::list(&state.pool, tenant, page, 100).await?;
        if let Some(row) = rows.data.iter().find(|r| r.name == name) {
            return Ok(row.clone());
        }
        if !rows.has_more {
            return Err(ApiError::Internal(format!(
                "event type {name} is not in the view after its write"
            )));
        }
        page += 1;
    }
}

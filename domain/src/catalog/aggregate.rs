//! The `EventCatalog` aggregate: the set of a tenant's event types, with their descriptions and
//! optional JSON Schemas.
//!
//! `handle` is pure (no services). The catalog only grows: types are never removed, so a webhook
//! valid against an older snapshot stays valid against a newer one.

use std::collections::BTreeMap;

use cqrs_es::Aggregate;
use cqrs_es::event_sink::EventSink;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::commands::CatalogCommand;
use super::error::CatalogError;
use super::events::CatalogEvent;
use crate::validation::{FieldErrors, Rule};
use crate::webhook::{EventCatalogSnapshot, EventTypeName};

/// The longest description, in characters.
const MAX_DESCRIPTION: usize = 2000;
/// The largest schema, in bytes of JSON.
const MAX_SCHEMA_BYTES: usize = 64 * 1024;

/// What the catalog knows about one event type.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EventTypeInfo {
    pub description: Option<String>,
    pub schema: Option<Value>,
}

/// The current state of one tenant's catalog.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct EventCatalog {
    types: BTreeMap<EventTypeName, EventTypeInfo>,
}

impl EventCatalog {
    /// Every type with what is known about it, by name.
    pub fn types(&self) -> &BTreeMap<EventTypeName, EventTypeInfo> {
        &self.types
    }

    /// True when the catalog has the type `name`.
    pub fn contains(&self, name: &str) -> bool {
        self.types.keys().any(|t| t.as_str() == name)
    }

    /// The names, as webhook commands check them.
    pub fn snapshot(&self) -> EventCatalogSnapshot {
        self.types.keys().map(EventTypeName::as_str).collect()
    }

    fn decide(&self, command: CatalogCommand) -> Result<Vec<CatalogEvent>, CatalogError> {
        match command {
            CatalogCommand::AddEventType {
                name,
                description,
                schema,
            } => {
                if self.types.contains_key(&name) {
                    return Err(CatalogError::AlreadyExists { name });
                }
                let mut errors = FieldErrors::new();
                if description
                    .as_ref()
                    .is_some_and(|d| d.chars().count() > MAX_DESCRIPTION)
                {
                    errors.push(
                        "description",
                        Rule::TooLong {
                            max: MAX_DESCRIPTION,
                        },
                    );
                }
                if let Some(schema) = &schema {
                    check_schema(&mut errors, schema);
                }
                errors.into_result(()).map_err(CatalogError::Validation)?;
                Ok(vec![CatalogEvent::EventTypeAdded {
                    name,
                    description,
                    schema,
                }])
            }
            CatalogCommand::EnsureEventTypes { names } => {
                let mut added = Vec::new();
                for name in names {
                    if !self.types.contains_key(&name) && !added.contains(&name) {
                        added.push(name);
                    }
                }
                let added = added.into_iter().map(|name| CatalogEvent::EventTypeAdded {
                    name,
                    description: None,
                    schema: None,
                });
                Ok(added.collect())
            }
        }
    }
}

/// A JSON Schema is an object or a boolean, and bounded in size.
fn check_schema(errors: &mut FieldErrors, schema: &Value) {
    if !(schema.is_object() || schema.is_boolean()) {
        let expected = "a JSON Schema (an object or a boolean)".into();
        errors.push("schema", Rule::InvalidFormat { expected });
    }
    let len = serde_json::to_vec(schema).map_or(usize::MAX, |bytes| bytes.len());
    if len > MAX_SCHEMA_BYTES {
        let max_bytes = MAX_SCHEMA_BYTES;
        errors.push("schema", Rule::TooLarge { max_bytes });
    }
}

impl Aggregate for EventCatalog {
    const TYPE: &'static str = "catalog";
    type Command = CatalogCommand;
    type Event = CatalogEvent;
    type Error = CatalogError;
    type Services = ();

    async fn handle(
        &mut self,
        command: CatalogCommand,
        _services: &(),
        sink: &EventSink<Self>,
    ) -> Result<(), CatalogError> {
        for event in self.decide(command)? {
            sink.write(event, self).await;
        }
        Ok(())
    }

    fn apply(&mut self, event: CatalogEvent) {
        match event {
            CatalogEvent::EventTypeAdded {
                name,
                description,
                schema,
            } => {
                self.types.insert(
                    name,
                    EventTypeInfo {
                        description,
                        schema,
                    },
                );
            }
        }
    }
}

//! What can be asked of a tenant's event-type catalog.

use serde_json::Value;

use crate::webhook::EventTypeName;

/// A request to change the catalog.
#[derive(Debug, Clone, PartialEq)]
pub enum CatalogCommand {
    /// `POST /v1/event-types`: adds one type; `AlreadyExists` if the catalog has it. The
    /// description is at most 2000 characters; the schema, when given, is a JSON Schema (an
    /// object or a boolean) of at most 64 KiB.
    AddEventType {
        name: EventTypeName,
        description: Option<String>,
        schema: Option<Value>,
    },
    /// Vendor dialects: adds each name the catalog lacks (once, in order) and ignores the rest,
    /// so repeating it writes nothing.
    EnsureEventTypes { names: Vec<EventTypeName> },
}

//! What happened to a catalog: the `catalog.*` ledger events. The `type` strings are written to
//! the ledger forever: never rename one.

use cqrs_es::DomainEvent;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::webhook::EventTypeName;

/// The events of the `catalog` aggregate. JSON: `{"type": "catalog.event_type_added", ...}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", content = "data")]
pub enum CatalogEvent {
    /// A type webhooks may now subscribe to.
    #[serde(rename = "catalog.event_type_added", rename_all = "camelCase")]
    EventTypeAdded {
        name: EventTypeName,
        description: Option<String>,
        schema: Option<Value>,
    },
}

impl DomainEvent for CatalogEvent {
    fn event_type(&self) -> String {
        match self {
            Self::EventTypeAdded { .. } => "catalog.event_type_added".to_owned(),
        }
    }

    fn event_version(&self) -> String {
        "1".to_owned()
    }
}

//! Why a catalog command was refused; each variant documents its HTTP status.

use crate::validation::{FieldError, describe};
use crate::webhook::EventTypeName;

/// A refused catalog command.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CatalogError {
    /// `409`: the catalog already has this type.
    #[error("event type `{name}` already exists")]
    AlreadyExists { name: EventTypeName },
    /// `422`: a description or schema that breaks a rule.
    #[error("invalid event type: {}", describe(.0))]
    Validation(Vec<FieldError>),
}

impl CatalogError {
    /// The HTTP status the API answers with.
    pub fn http_status(&self) -> u16 {
        match self {
            Self::AlreadyExists { .. } => 409,
            Self::Validation(_) => 422,
        }
    }
}

//! Why a webhook command was refused.
//!
//! One error type for the webhook aggregate; each variant documents the HTTP status the API
//! renders it as. Variants are compared in tests (`PartialEq`), never their messages.

use crate::validation::{FieldError, describe};

/// A refused webhook command.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WebhookError {
    /// `422`: well-formed input that breaks a rule, such as an event type outside the catalog.
    #[error("invalid webhook: {}", describe(.0))]
    Validation(Vec<FieldError>),
    /// `409`: a webhook with this id was already created (ids are never reused, even after
    /// deletion).
    #[error("a webhook with this id already exists")]
    AlreadyExists,
    /// `404`: no such webhook, or it was deleted.
    #[error("webhook not found")]
    NotFound,
}

impl WebhookError {
    /// The HTTP status the API answers with.
    pub fn http_status(&self) -> u16 {
        match self {
            Self::Validation(_) => 422,
            Self::AlreadyExists => 409,
            Self::NotFound => 404,
        }
    }
}

impl From<Vec<FieldError>> for WebhookError {
    fn from(errors: Vec<FieldError>) -> Self {
        Self::Validation(errors)
    }
}

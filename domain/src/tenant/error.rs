//! Why a tenant command was refused; each variant documents its HTTP status.

use crate::validation::{FieldError, describe};

/// A refused tenant command.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TenantError {
    /// `409`: a tenant with this id exists.
    #[error("a tenant with this id already exists")]
    AlreadyExists,
    /// `404`: no such tenant.
    #[error("tenant not found")]
    NotFound,
    /// `404`: the tenant has no key with this id.
    #[error("API key not found")]
    KeyNotFound,
    /// `404`: the tenant has no console link with this id.
    #[error("console link not found")]
    LinkNotFound,
    /// `409`: the tenant already has a key with this id.
    #[error("an API key with this id already exists")]
    KeyAlreadyExists,
    /// `422`: a name longer than 200 characters, or a malformed key hash.
    #[error("invalid tenant input: {}", describe(.0))]
    Validation(Vec<FieldError>),
}

impl TenantError {
    /// The HTTP status the API answers with.
    pub fn http_status(&self) -> u16 {
        match self {
            Self::AlreadyExists | Self::KeyAlreadyExists => 409,
            Self::NotFound | Self::KeyNotFound | Self::LinkNotFound => 404,
            Self::Validation(_) => 422,
        }
    }
}

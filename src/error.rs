//! How a use case can fail: the domain refuses (the caller's to fix), or the service cannot
//! do it right now (the database, a shutdown), or a fault of ours. The gRPC edge maps each to
//! its status code (`api::status`); the store classifies database errors.

pub use crate::domain::error::{FieldViolation, Refusal};

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The domain says no; the caller can do something about it.
    #[error(transparent)]
    Refused(#[from] Refusal),
    /// The database cannot be reached or cannot take the work now; the caller may retry.
    #[error("database unavailable: {0}")]
    Unavailable(String),
    /// The server is shutting down; the caller should reconnect, to this or another instance.
    #[error("server is shutting down: {0}")]
    ShuttingDown(String),
    /// A fault of ours, never of the caller's.
    #[error("internal error: {0}")]
    Internal(String),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// A request with a single bad field.
    pub fn invalid(field: impl Into<String>, description: impl Into<String>) -> Self {
        Refusal::invalid(field, description).into()
    }

    pub fn not_found(resource: &'static str, key: impl ToString) -> Self {
        Refusal::not_found(resource, key).into()
    }

    pub fn precondition(subject: impl Into<String>, description: impl Into<String>) -> Self {
        Refusal::precondition(subject, description).into()
    }

    pub fn is_not_found(&self) -> bool {
        matches!(self, Error::Refused(Refusal::NotFound { .. }))
    }

    pub fn is_already_exists(&self) -> bool {
        matches!(self, Error::Refused(Refusal::AlreadyExists { .. }))
    }
}

/// A lookup's answer as a use case needs it: the thing, or NOT_FOUND naming it.
pub trait Found<T> {
    fn found(self, resource: &'static str, key: impl ToString) -> Result<T>;
}

impl<T> Found<T> for Option<T> {
    fn found(self, resource: &'static str, key: impl ToString) -> Result<T> {
        self.ok_or_else(|| Error::not_found(resource, key))
    }
}

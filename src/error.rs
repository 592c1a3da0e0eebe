//! One error type for the whole service, and its one mapping to gRPC status codes with
//! google.rpc error details.

use tonic::{Code, Status};
use tonic_types::{ErrorDetails, StatusExt};

use crate::domain::lifecycle::Verb;
use crate::domain::ticket::Status as TicketStatus;

/// The gRPC error-info domain of feedbackd's errors.
const DOMAIN: &str = "feedbackd";

/// One bad field of a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldViolation {
    pub field: String,
    pub description: String,
}

impl FieldViolation {
    pub fn new(field: impl Into<String>, description: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            description: description.into(),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The request is malformed; every bad field is named.
    #[error("invalid request: {}", summary(.0))]
    InvalidArgument(Vec<FieldViolation>),
    #[error("{resource} {key} not found")]
    NotFound { resource: &'static str, key: String },
    #[error("{resource} {key} already exists")]
    AlreadyExists { resource: &'static str, key: String },
    /// The verb does not apply to the ticket's current status.
    #[error("cannot {verb} a ticket that is {status}; allowed now: {}", verbs(.allowed))]
    IllegalTransition {
        status: TicketStatus,
        verb: Verb,
        allowed: Vec<Verb>,
    },
    /// The system is not in the state the request needs.
    #[error("{subject}: {description}")]
    FailedPrecondition {
        subject: String,
        description: String,
    },
    /// The caller's etag is not the current one: someone changed the resource in between.
    #[error("etag {given} is stale; it is now {current}: read it again and retry")]
    StaleEtag { given: String, current: String },
    #[error("{field}: {description}")]
    OutOfRange {
        field: &'static str,
        description: String,
    },
    /// The database cannot be reached; the caller may retry.
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
        Error::InvalidArgument(vec![FieldViolation::new(field, description)])
    }

    pub fn not_found(resource: &'static str, key: impl ToString) -> Self {
        Error::NotFound {
            resource,
            key: key.to_string(),
        }
    }
}

fn summary(violations: &[FieldViolation]) -> String {
    violations
        .iter()
        .map(|v| format!("{}: {}", v.field, v.description))
        .collect::<Vec<_>>()
        .join("; ")
}

fn verbs(allowed: &[Verb]) -> String {
    if allowed.is_empty() {
        return "none".to_owned();
    }
    allowed
        .iter()
        .map(|v| v.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

impl From<sea_orm::DbErr> for Error {
    /// A database that cannot be reached, stops answering mid-call, or cannot take the work
    /// right now is UNAVAILABLE (the caller may retry); anything else it refuses is our fault.
    fn from(err: sea_orm::DbErr) -> Self {
        use sea_orm::{DbErr, RuntimeErr};
        let transient = match &err {
            DbErr::ConnectionAcquire(_) | DbErr::Conn(_) => true,
            DbErr::Exec(RuntimeErr::SqlxError(e)) | DbErr::Query(RuntimeErr::SqlxError(e)) => {
                transient(e)
            }
            _ => false,
        };
        if transient {
            Error::Unavailable(err.to_string())
        } else {
            Error::Internal(err.to_string())
        }
    }
}

/// Whether a driver error will likely pass if the call is retried.
fn transient(err: &sea_orm::sqlx::Error) -> bool {
    use sea_orm::sqlx::Error as Sqlx;
    match err {
        Sqlx::Io(_) | Sqlx::PoolTimedOut | Sqlx::PoolClosed | Sqlx::WorkerCrashed => true,
        Sqlx::Database(db) => {
            let code = db.code().unwrap_or_default();
            match db.try_downcast_ref::<sea_orm::sqlx::sqlite::SqliteError>() {
                // SQLITE_BUSY and SQLITE_LOCKED (with their extended codes): another writer
                // held the file past the busy timeout.
                Some(_) => code.parse::<i32>().is_ok_and(|c| matches!(c & 0xff, 5 | 6)),
                // PostgreSQL: connection trouble (08), shutting down or starting (57P),
                // read-only after a failover (25006), serialization failure or deadlock.
                None => {
                    code.starts_with("08")
                        || code.starts_with("57P")
                        || ["25006", "40001", "40P01"].contains(&&*code)
                }
            }
        }
        _ => false,
    }
}

impl From<Error> for Status {
    fn from(err: Error) -> Status {
        let message = err.to_string();
        let mut details = ErrorDetails::new();
        let code = match &err {
            Error::InvalidArgument(violations) => {
                for v in violations {
                    details.add_bad_request_violation(v.field.clone(), v.description.clone());
                }
                Code::InvalidArgument
            }
            Error::NotFound { resource, key } => {
                details.set_resource_info(*resource, key.clone(), "", "not found");
                Code::NotFound
            }
            Error::AlreadyExists { resource, key } => {
                details.set_resource_info(*resource, key.clone(), "", "already exists");
                Code::AlreadyExists
            }
            Error::IllegalTransition {
                status,
                verb,
                allowed,
            } => {
                details.add_precondition_failure_violation(
                    "STATUS",
                    status.as_str(),
                    format!("{verb} is not allowed; allowed now: {}", verbs(allowed)),
                );
                Code::FailedPrecondition
            }
            Error::FailedPrecondition {
                subject,
                description,
            } => {
                details.add_precondition_failure_violation(
                    "STATE",
                    subject.clone(),
                    description.clone(),
                );
                Code::FailedPrecondition
            }
            Error::StaleEtag { current, .. } => {
                details.set_error_info(
                    "STALE_ETAG",
                    DOMAIN,
                    [("current_etag".to_owned(), current.clone())],
                );
                Code::Aborted
            }
            Error::OutOfRange { field, description } => {
                details.add_bad_request_violation(*field, description.clone());
                Code::OutOfRange
            }
            Error::Unavailable(_) => {
                details.set_retry_info(Some(std::time::Duration::from_secs(1)));
                Code::Unavailable
            }
            Error::ShuttingDown(_) => {
                details.set_error_info("SHUTTING_DOWN", DOMAIN, []);
                Code::Unavailable
            }
            Error::Internal(detail) => {
                tracing::error!(%detail, "internal error");
                return Status::internal("internal error; see the server log");
            }
        };
        Status::with_error_details(code, message, details)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_request_names_every_field() {
        let err = Error::InvalidArgument(vec![
            FieldViolation::new("title", "required"),
            FieldViolation::new("customer.email", "not an email address"),
        ]);
        let status = Status::from(err);
        assert_eq!(status.code(), Code::InvalidArgument);
        let bad = status
            .get_details_bad_request()
            .expect("BadRequest details");
        let fields: Vec<_> = bad
            .field_violations
            .iter()
            .map(|v| v.field.as_str())
            .collect();
        assert_eq!(fields, ["title", "customer.email"]);
    }

    #[test]
    fn illegal_transition_names_status_and_verbs() {
        let err = Error::IllegalTransition {
            status: TicketStatus::Closed,
            verb: Verb::Resolve,
            allowed: vec![Verb::Reopen],
        };
        let status = Status::from(err);
        assert_eq!(status.code(), Code::FailedPrecondition);
        assert!(status.message().contains("CLOSED"), "{}", status.message());
        assert!(
            status.message().contains("ReopenTicket"),
            "{}",
            status.message()
        );
    }
}

//! The one mapping of the service's errors to gRPC status codes, with google.rpc error
//! details a client can act on.

use tonic::{Code, Status};
use tonic_types::{ErrorDetails, StatusExt};

use crate::app::access::Rejected;
use crate::domain::error::Refusal;
use crate::error::Error;

/// The gRPC error-info domain of feedbackd's errors.
const DOMAIN: &str = "feedbackd";

impl From<Error> for Status {
    fn from(err: Error) -> Status {
        let message = err.to_string();
        let mut details = ErrorDetails::new();
        let code = match err {
            Error::Refused(refusal) => refused(refusal, &mut details),
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

impl From<Rejected> for Status {
    fn from(why: Rejected) -> Status {
        let reason = match &why {
            Rejected::Missing => "CREDENTIALS_MISSING",
            Rejected::Unknown => "CREDENTIALS_UNKNOWN",
            Rejected::Revoked => "API_KEY_REVOKED",
            Rejected::Token(_) => "TOKEN_INVALID",
            // Not the caller's fault: the database is away.
            Rejected::Unchecked(detail) => return Error::Unavailable(detail.clone()).into(),
        };
        Status::with_error_details(
            Code::Unauthenticated,
            why.to_string(),
            ErrorDetails::with_error_info(reason, DOMAIN, []),
        )
    }
}

fn refused(refusal: Refusal, details: &mut ErrorDetails) -> Code {
    match refusal {
        Refusal::Invalid { violations, .. } => {
            for v in violations {
                details.add_bad_request_violation(v.field, v.description);
            }
            Code::InvalidArgument
        }
        Refusal::NotFound { resource, key } => {
            details.set_resource_info(resource, key, "", "not found");
            Code::NotFound
        }
        Refusal::AlreadyExists { resource, key } => {
            details.set_resource_info(resource, key, "", "already exists");
            Code::AlreadyExists
        }
        Refusal::NotAllowed {
            status,
            verb,
            allowed,
        } => {
            let allowed: Vec<&str> = allowed.iter().map(|v| v.as_str()).collect();
            details.add_precondition_failure_violation(
                "STATUS",
                status.as_str(),
                format!(
                    "{verb} is not allowed; allowed now: {}",
                    if allowed.is_empty() {
                        "none".to_owned()
                    } else {
                        allowed.join(", ")
                    }
                ),
            );
            Code::FailedPrecondition
        }
        Refusal::Precondition {
            subject,
            description,
        } => {
            details.add_precondition_failure_violation("STATE", subject, description);
            Code::FailedPrecondition
        }
        Refusal::StaleEtag { current, .. } => {
            details.set_error_info("STALE_ETAG", DOMAIN, [("current_etag".to_owned(), current)]);
            Code::Aborted
        }
        Refusal::Conflict { .. } => {
            details.set_error_info("CONCURRENT_CHANGE", DOMAIN, []);
            Code::Aborted
        }
        Refusal::RequestReused { request_id } => {
            details.set_error_info(
                "REQUEST_ID_REUSED",
                DOMAIN,
                [
                    ("field".to_owned(), "request_id".to_owned()),
                    ("request_id".to_owned(), request_id),
                ],
            );
            Code::AlreadyExists
        }
        Refusal::Forbidden { permission, .. } => {
            details.set_error_info(
                "PERMISSION_DENIED",
                DOMAIN,
                [("permission".to_owned(), permission.to_owned())],
            );
            Code::PermissionDenied
        }
        Refusal::Blocked { reason, until, .. } => {
            let mut metadata = vec![("reason".to_owned(), reason)];
            if let Some(until) = until {
                metadata.push(("until".to_owned(), until.to_rfc3339()));
            }
            details.set_error_info(
                "SENDER_BLOCKED",
                DOMAIN,
                metadata
                    .into_iter()
                    .collect::<std::collections::HashMap<_, _>>(),
            );
            Code::PermissionDenied
        }
        Refusal::Exhausted {
            subject,
            description,
            retry_after,
        } => {
            details.set_retry_info(Some(retry_after));
            details.add_quota_failure_violation(subject, description);
            Code::ResourceExhausted
        }
        Refusal::Quota {
            subject,
            description,
        } => {
            details.add_quota_failure_violation(subject, description);
            Code::ResourceExhausted
        }
        Refusal::OutOfRange { field, description } => {
            details.add_bad_request_violation(field, description);
            Code::OutOfRange
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::error::FieldViolation;
    use crate::domain::lifecycle::Verb;
    use crate::domain::ticket::Status as TicketStatus;

    #[test]
    fn bad_request_names_every_field() {
        let err: Error = Refusal::Invalid {
            violations: vec![
                FieldViolation::new("title", "required"),
                FieldViolation::new("customer.email", "not an email address"),
            ],
            more: 0,
        }
        .into();
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
        let err: Error = Refusal::NotAllowed {
            status: TicketStatus::Closed,
            verb: Verb::Resolve,
            allowed: vec![Verb::Reopen],
        }
        .into();
        let status = Status::from(err);
        assert_eq!(status.code(), Code::FailedPrecondition);
        assert!(status.message().contains("CLOSED"), "{}", status.message());
        assert!(
            status.message().contains("ReopenTicket"),
            "{}",
            status.message()
        );
    }

    #[test]
    fn a_huge_key_makes_a_small_status() {
        let status = Status::from(Error::not_found("ticket", "Z".repeat(1 << 20)));
        assert_eq!(status.code(), Code::NotFound);
        assert!(status.message().len() < 100, "{}", status.message());
        assert!(status.details().len() < 200);
    }
}

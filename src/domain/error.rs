//! The domain's refusals: why a request cannot be done, in the domain's terms. The gRPC edge
//! maps each to its status code; nothing here knows of gRPC or SQL.

use super::lifecycle::Verb;
use super::ticket::Status;

/// Longest part of a caller's value that a message quotes; the rest is cut with `…`.
const QUOTED: usize = 32;

/// A caller's value as a message may quote it: at most its first 32 characters, so that a
/// huge value never makes a huge error.
pub fn quote(value: &str) -> String {
    let mut chars = value.chars();
    let head: String = chars.by_ref().take(QUOTED).collect();
    let cut = if chars.next().is_some() { "…" } else { "" };
    format!("\"{}{cut}\"", head.escape_debug())
}

/// A caller's value shortened for a message or a detail, without quotes.
pub fn shorten(value: &str) -> String {
    let mut chars = value.chars();
    let head: String = chars.by_ref().take(QUOTED).collect();
    if chars.next().is_some() {
        format!("{head}…")
    } else {
        head
    }
}

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

/// Why the domain says no.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// The request is malformed; every bad field is named (up to a bound), and `more` counts
    /// those left out.
    #[error("invalid request: {}", summary(.violations, *.more))]
    Invalid {
        violations: Vec<FieldViolation>,
        more: usize,
    },
    /// A thing the request names does not exist.
    #[error("{resource} {key} not found")]
    NotFound { resource: &'static str, key: String },
    /// A thing the request would create exists already.
    #[error("{resource} {key} already exists")]
    AlreadyExists { resource: &'static str, key: String },
    /// The verb does not apply to the ticket's current status.
    #[error("cannot {verb} a ticket that is {status}; allowed now: {}", verbs(.allowed))]
    NotAllowed {
        status: Status,
        verb: Verb,
        allowed: Vec<Verb>,
    },
    /// The system is not in the state the request needs.
    #[error("{subject}: {description}")]
    Precondition {
        subject: String,
        description: String,
    },
    /// The caller's etag is not the current one: someone changed the resource in between.
    #[error("etag {given} is stale; it is now {current}: read it again and retry")]
    StaleEtag { given: String, current: String },
    /// Another call changed the same thing at the same moment; nothing was kept.
    #[error("{description}: retry")]
    Conflict { description: String },
    /// A request_id was used before for a different request.
    #[error("request_id {request_id} was used for a different request: choose a new one")]
    RequestReused { request_id: String },
    /// The caller's credential does not allow this.
    #[error("permission denied: {description}")]
    Forbidden {
        permission: &'static str,
        description: String,
    },
    /// The sender is blocked from opening tickets until `until` (for good when `None`).
    #[error("{sender} may not open tickets{}: {reason}", .until.map(|u| format!(" until {}", u.format("%Y-%m-%d %H:%M UTC"))).unwrap_or_default())]
    Blocked {
        sender: String,
        reason: String,
        until: Option<chrono::DateTime<chrono::Utc>>,
    },
    /// The caller has used up its allowance for now; it may try again after `retry_after`.
    #[error("{description}")]
    Exhausted {
        subject: String,
        description: String,
        retry_after: std::time::Duration,
    },
    /// A quota of something stored is used up (the bytes of a ticket's files); waiting does
    /// not help, freeing some does.
    #[error("{subject}: {description}")]
    Quota {
        subject: String,
        description: String,
    },
    /// A value beyond what exists (a cursor past the end of the log).
    #[error("{field}: {description}")]
    OutOfRange {
        field: &'static str,
        description: String,
    },
}

impl Refusal {
    /// A request with a single bad field.
    pub fn invalid(field: impl Into<String>, description: impl Into<String>) -> Refusal {
        Refusal::Invalid {
            violations: vec![FieldViolation::new(field, description)],
            more: 0,
        }
    }

    /// `resource` `key` does not exist; the key is shortened.
    pub fn not_found(resource: &'static str, key: impl ToString) -> Refusal {
        Refusal::NotFound {
            resource,
            key: shorten(&key.to_string()),
        }
    }

    pub fn already_exists(resource: &'static str, key: impl ToString) -> Refusal {
        Refusal::AlreadyExists {
            resource,
            key: shorten(&key.to_string()),
        }
    }

    pub fn precondition(subject: impl Into<String>, description: impl Into<String>) -> Refusal {
        Refusal::Precondition {
            subject: subject.into(),
            description: description.into(),
        }
    }

    /// A stale etag; the one given is shortened.
    pub fn stale(given: &str, current: String) -> Refusal {
        Refusal::StaleEtag {
            given: shorten(given),
            current,
        }
    }
}

fn summary(violations: &[FieldViolation], more: usize) -> String {
    let listed = violations
        .iter()
        .map(|v| format!("{}: {}", v.field, v.description))
        .collect::<Vec<_>>()
        .join("; ");
    match more {
        0 => listed,
        n => format!("{listed}; and {n} more"),
    }
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

/// What carries a version: its etag, the check of a caller's etag against it, and the step to
/// the next version when it changes.
pub trait Versioned {
    fn version(&self) -> i64;
    fn version_mut(&mut self) -> &mut i64;
    fn touch(&mut self, now: chrono::DateTime<chrono::Utc>);

    /// The version tag a caller passes back to say which state it saw.
    fn etag(&self) -> String {
        etag(self.version())
    }

    /// Refuses a caller's etag that is not the current one; no etag checks nothing.
    fn check_etag(&self, given: Option<&str>) -> Result<(), Refusal> {
        match given {
            Some(given) if given != self.etag() => Err(Refusal::stale(given, self.etag())),
            _ => Ok(()),
        }
    }

    /// The next version, changed at `now`.
    fn bump(&mut self, now: chrono::DateTime<chrono::Utc>) {
        *self.version_mut() += 1;
        self.touch(now);
    }
}

/// The version tag of version `version`.
pub fn etag(version: i64) -> String {
    format!("W/\"{version}\"")
}

/// Implements [`Versioned`] for a type with `version` and `updated_at` fields.
macro_rules! versioned {
    ($($name:ty),+ $(,)?) => {$(
        impl $crate::domain::error::Versioned for $name {
            fn version(&self) -> i64 {
                self.version
            }
            fn version_mut(&mut self) -> &mut i64 {
                &mut self.version
            }
            fn touch(&mut self, now: chrono::DateTime<chrono::Utc>) {
                self.updated_at = now;
            }
        }
    )+};
}
pub(crate) use versioned;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quotes_are_short() {
        assert_eq!(quote("abc"), "\"abc\"");
        let long = "x".repeat(1_000_000);
        let quoted = quote(&long);
        assert!(quoted.chars().count() < 40, "{quoted}");
        assert!(quoted.ends_with("…\""), "{quoted}");
        assert_eq!(shorten(&long).chars().count(), QUOTED + 1);
        let refusal = Refusal::not_found("ticket", &long);
        assert!(refusal.to_string().len() < 100);
    }

    #[test]
    fn a_summary_counts_what_it_leaves_out() {
        let refusal = Refusal::Invalid {
            violations: vec![FieldViolation::new("title", "is required")],
            more: 3,
        };
        assert_eq!(
            refusal.to_string(),
            "invalid request: title: is required; and 3 more"
        );
    }
}

//! Who handles tickets: teams (departments) and the agents in them.

use chrono::{DateTime, Utc};

use super::assignment::{Availability, Strategy};
use super::ticket::Status;

/// A team (department).
#[derive(Debug, Clone, PartialEq)]
pub struct Team {
    pub id: String,
    pub display_name: String,
    /// The agent who hears of escalations.
    pub supervisor: Option<String>,
    /// IANA name of the zone its hours are kept in.
    pub time_zone: String,
    /// The business calendar it works by; `None`: the default calendar.
    pub calendar: Option<String>,
    pub strategy: Strategy,
    /// Agent ids, sorted.
    pub members: Vec<String>,
    /// Tickets waiting for an agent.
    pub queued: u32,
    pub version: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// A person who works on tickets.
#[derive(Debug, Clone, PartialEq)]
pub struct Agent {
    pub id: String,
    pub display_name: String,
    /// Team ids, sorted.
    pub teams: Vec<String>,
    /// Lower-case `kind:value` labels, sorted.
    pub skills: Vec<String>,
    pub capacity: u32,
    pub availability: Availability,
    /// Open tickets assigned to them now.
    pub open_tickets: u32,
    pub version: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl Team {
    pub fn etag(&self) -> String {
        etag(self.version)
    }
}

impl Agent {
    pub fn etag(&self) -> String {
        etag(self.version)
    }

    pub fn has_room(&self) -> bool {
        self.open_tickets < self.capacity
    }
}

/// Tickets in these statuses count against their assignee's capacity.
pub const OPEN: &[Status] = &[
    Status::Assigned,
    Status::Acknowledged,
    Status::InProgress,
    Status::PendingCustomer,
    Status::Reopened,
];

/// Tickets in these statuses without an assignee wait in their team's queue.
pub const QUEUED: &[Status] = &[Status::New, Status::Reopened];

/// The version tag of a team, an agent or a rule.
pub fn etag(version: i64) -> String {
    format!("W/\"{version}\"")
}

/// Whether `id` may name a team or an agent: letters, digits and `-_.@`, 1 to 64 of them.
pub fn is_valid_key(id: &str) -> bool {
    (1..=super::ticket::limits::KEY).contains(&id.chars().count())
        && id
            .chars()
            .all(|c| c.is_alphanumeric() || matches!(c, '-' | '_' | '.' | '@'))
}

/// Skills and tags are matched without case: stored trimmed, lower-case, sorted, once each.
pub fn normalize_labels(labels: &[String]) -> Vec<String> {
    super::ticket::normalize_tags(labels.to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_short_and_plain() {
        assert!(is_valid_key("after-sales"));
        assert!(is_valid_key("ann@example.com"));
        assert!(is_valid_key("客服"));
        assert!(!is_valid_key(""));
        assert!(!is_valid_key("two words"));
        assert!(!is_valid_key(&"x".repeat(65)));
    }
}

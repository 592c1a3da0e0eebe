//! Who handles tickets: teams (departments) and the agents in them.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::assignment::{Availability, Strategy};
use super::error::{Refusal, versioned};
use super::ticket::{Status, Ticket};

/// A team (department).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Team {
    pub id: String,
    pub display_name: String,
    /// The agent who hears of escalations.
    pub supervisor: Option<String>,
    /// IANA name of its calendar's zone, as read with the team (not stored with it): its
    /// working hours and the times in its texts are its calendar's.
    #[serde(default, skip_serializing_if = "String::is_empty")]
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
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
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

versioned!(Team, Agent);

impl Agent {
    pub fn has_room(&self) -> bool {
        self.open_tickets < self.capacity
    }

    /// Refuses to give `ticket` to this agent unless they are in its (new) team and have
    /// room (a ticket already theirs takes no more room).
    pub fn can_take(&self, ticket: &Ticket, new_team: Option<&str>) -> Result<(), Refusal> {
        let refuse = |description: String| {
            Err(Refusal::precondition(
                format!("agent {}", self.id),
                description,
            ))
        };
        match new_team.or(ticket.team.as_deref()) {
            None => return refuse("the ticket has no team yet: name one".into()),
            Some(team) if !self.teams.iter().any(|t| t == team) => {
                return refuse(format!(
                    "{} is not a member of team {team} (their teams: {})",
                    self.id,
                    if self.teams.is_empty() {
                        "none".to_owned()
                    } else {
                        self.teams.join(", ")
                    }
                ));
            }
            Some(_) => {}
        }
        let already_theirs = ticket.assignee.as_deref() == Some(self.id.as_str());
        if !already_theirs && !self.has_room() {
            return refuse(format!(
                "{} is at capacity ({} of {} open tickets)",
                self.id, self.open_tickets, self.capacity
            ));
        }
        Ok(())
    }
}

/// Who is there to answer a team's tickets now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Duty {
    /// A member is online (capacity or not: they will take the next ticket they can).
    OnDuty,
    /// Members, none of them online.
    Away,
    /// No members at all.
    Nobody,
}

impl Duty {
    /// The duty of a team with `members`.
    pub fn of(members: &[Agent]) -> Duty {
        if members
            .iter()
            .any(|a| a.availability == Availability::Online && a.capacity > 0)
        {
            Duty::OnDuty
        } else if members.is_empty() {
            Duty::Nobody
        } else {
            Duty::Away
        }
    }
}

/// Why a reopened ticket cannot stay with its assignee, if it cannot. `agent` is the
/// assignee as read under their lock (`None` when they no longer exist).
pub fn cannot_keep(ticket: &Ticket, agent: Option<&Agent>) -> Option<String> {
    let assignee = ticket.assignee.as_deref()?;
    let Some(agent) = agent.filter(|a| a.id == assignee) else {
        return Some(format!("{assignee} is no longer an agent"));
    };
    if !ticket
        .team
        .as_ref()
        .is_some_and(|t| agent.teams.contains(t))
    {
        return Some(format!("{assignee} is no longer in the team"));
    }
    if agent.availability != Availability::Online {
        return Some(format!("{assignee} is {}", agent.availability));
    }
    if !agent.has_room() {
        return Some(format!(
            "{assignee} is at capacity ({} of {} open)",
            agent.open_tickets, agent.capacity
        ));
    }
    None
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

/// The largest queue position reported; a ticket further back is reported at it, so that a
/// long queue costs no more to count than a short one.
pub const MAX_QUEUE_POSITION: u32 = 1_000;

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

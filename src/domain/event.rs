//! What the event log records about each change: its type and the fields it changed.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::ticket::{Ticket, named_enum};

named_enum!(
    /// What happened to a ticket.
    EventType {
        TicketCreated = "TICKET_CREATED",
        TicketUpdated = "TICKET_UPDATED",
        TicketAssigned = "TICKET_ASSIGNED",
        TicketAcknowledged = "TICKET_ACKNOWLEDGED",
        CommentAdded = "COMMENT_ADDED",
        TicketPending = "TICKET_PENDING",
        TicketResumed = "TICKET_RESUMED",
        TicketResolved = "TICKET_RESOLVED",
        TicketClosed = "TICKET_CLOSED",
        TicketReopened = "TICKET_REOPENED",
        SurveyInvited = "SURVEY_INVITED",
        SurveyAnswered = "SURVEY_ANSWERED",
        SurveyExpired = "SURVEY_EXPIRED",
        SlaStarted = "SLA_STARTED",
        SlaPaused = "SLA_PAUSED",
        SlaResumed = "SLA_RESUMED",
        SlaMet = "SLA_MET",
        SlaRecomputed = "SLA_RECOMPUTED",
        SlaRestarted = "SLA_RESTARTED",
        SlaAtRisk = "SLA_AT_RISK",
        SlaBreached = "SLA_BREACHED",
        SlaEscalated = "SLA_ESCALATED",
        Notification = "NOTIFICATION",
        /// Held for review as a suspected malicious complaint.
        TicketQuarantined = "TICKET_QUARANTINED",
        /// Found genuine on review, and routed as if new.
        TicketReleased = "TICKET_RELEASED",
        /// Found malicious on review: closed, and its sender restricted.
        AbuseConfirmed = "ABUSE_CONFIRMED",
        /// Another team was asked for something (a task).
        TaskCreated = "TASK_CREATED",
        /// The team asked took the task on.
        TaskAccepted = "TASK_ACCEPTED",
        /// The team did what the task asked.
        TaskCompleted = "TASK_COMPLETED",
        /// The team will not do the task, and said why.
        TaskDeclined = "TASK_DECLINED",
        /// The task was withdrawn: its ticket was resolved without it.
        TaskCancelled = "TASK_CANCELLED",
        /// A task's clock used the at-risk share of its time.
        TaskAtRisk = "TASK_AT_RISK",
        /// A task's clock came due before the team accepted or answered it.
        TaskOverdue = "TASK_OVERDUE",
        /// The ticket was linked to another (parent, child, related, merged).
        TicketLinked = "TICKET_LINKED",
        /// A link to another ticket was removed.
        TicketUnlinked = "TICKET_UNLINKED",
        /// A file was attached.
        AttachmentAdded = "ATTACHMENT_ADDED",
        /// A file was removed (redacted).
        AttachmentRemoved = "ATTACHMENT_REMOVED",
    }
);

impl EventType {
    /// Whether a filter of `types` takes events of this type: the types it names, or when it
    /// names none, every change; notifications, which change nothing, only when named.
    pub fn wanted_by(self, types: &[EventType]) -> bool {
        if types.is_empty() {
            self != EventType::Notification
        } else {
            types.contains(&self)
        }
    }

    /// The types an empty filter takes: every one but NOTIFICATION.
    pub fn changes() -> Vec<EventType> {
        EventType::ALL
            .iter()
            .copied()
            .filter(|t| *t != EventType::Notification)
            .collect()
    }
}

/// One field's value before and after a change, as text (lists and maps as JSON).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FieldChange {
    pub field: String,
    pub before: String,
    pub after: String,
}

/// The fields whose values differ between two states of a ticket, by their API names.
/// Bookkeeping (`version`, `update_time`) is left out: every change touches it.
pub fn diff(before: &Ticket, after: &Ticket) -> Vec<FieldChange> {
    let (old, new) = (flatten(before), flatten(after));
    new.iter()
        .filter(|(field, value)| old.get(*field) != Some(value))
        .map(|(field, value)| FieldChange {
            field: field.clone(),
            before: old.get(field).map(text).unwrap_or_default(),
            after: text(value),
        })
        .collect()
}

/// The ticket as one flat JSON object keyed by API field names (`customer.phone`, `assign_time`).
fn flatten(ticket: &Ticket) -> serde_json::Map<String, Value> {
    let mut fields = serde_json::Map::new();
    // A ticket's fields are plain data: it always serializes, to an object.
    let map = match serde_json::to_value(ticket) {
        Ok(Value::Object(map)) => map,
        _ => serde_json::Map::new(),
    };
    for (key, value) in map {
        match (key.as_str(), value) {
            // The clocks change on their own events, which say how.
            ("id" | "number" | "version" | "updated_at" | "request_id" | "sla", _) => {}
            // Tasks and links change on their own events, which carry them.
            ("open_tasks" | "task_teams" | "links", _) => {}
            ("customer", Value::Object(customer)) => {
                for (k, v) in customer {
                    fields.insert(format!("customer.{k}"), v);
                }
            }
            (key, value) => {
                fields.insert(api_name(key).to_owned(), value);
            }
        }
    }
    fields
}

/// The API's name for a stored field where the two differ.
fn api_name(field: &str) -> &str {
    match field {
        "created_at" => "create_time",
        "assigned_at" => "assign_time",
        "acknowledged_at" => "acknowledge_time",
        "first_responded_at" => "first_response_time",
        "resolved_at" => "resolve_time",
        "closed_at" => "close_time",
        other => other,
    }
}

fn text(value: &Value) -> String {
    match value {
        Value::Null => String::new(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::ticket::{Customer, Kind, Status};
    use chrono::Utc;

    #[test]
    fn lists_exactly_the_changed_fields() {
        let before = crate::domain::ticket::sample(Kind::Inquiry, Customer::default(), Utc::now());
        let mut after = before.clone();
        after.status = Status::Assigned;
        after.customer.phone = "13800138000".into();
        after.tags = vec!["parcel".into()];
        after.version += 1;
        let changes = diff(&before, &after);
        let by_field = |f: &str| changes.iter().find(|c| c.field == f).cloned();
        assert_eq!(changes.len(), 3, "{changes:?}");
        assert_eq!(by_field("status").unwrap().before, "NEW");
        assert_eq!(by_field("status").unwrap().after, "ASSIGNED");
        assert_eq!(by_field("customer.phone").unwrap().after, "13800138000");
        assert_eq!(by_field("tags").unwrap().after, r#"["parcel"]"#);
    }
}

/// One committed change to one ticket, as the log holds it.
#[derive(Debug, Clone, PartialEq)]
pub struct TicketEvent {
    /// Position in the log; strictly increasing in commit order.
    pub cursor: i64,
    pub ticket_id: i64,
    pub event_type: EventType,
    pub actor: String,
    /// Who acted on the actor's behalf: an admin or supervisor for an agent.
    pub via: Option<String>,
    pub occurred_at: chrono::DateTime<chrono::Utc>,
    pub changes: Vec<FieldChange>,
    pub reason: Option<String>,
    pub comment: Option<super::ticket::Comment>,
    /// The survey the event is about, for survey events and what a survey caused.
    pub survey: Option<super::survey::SurveyRef>,
    /// The clocks an SLA event is about, and the escalation it started.
    pub sla: Option<SlaNote>,
    /// The message a NOTIFICATION event carries.
    pub notification: Option<super::notification::Notification>,
    /// The task a TASK_* event is about.
    pub task: Option<TaskNote>,
    /// The link a TICKET_LINKED or TICKET_UNLINKED event is about, as this ticket sees it.
    pub link: Option<super::link::Link>,
    /// The file attached or removed, for ATTACHMENT_ADDED and ATTACHMENT_REMOVED.
    pub attachment: Option<super::attachment::Attachment>,
    /// The ticket as it stood right after the event.
    pub ticket: Ticket,
}

impl TicketEvent {
    /// Takes out a survey's token, and the invitation's text and link that hold it: for
    /// whoever neither delivers nor answers surveys.
    pub fn hide_survey_token(&mut self) {
        if let Some(survey) = &mut self.survey
            && let Some(token) = survey.token.take()
            && let Some(n) = &mut self.notification
        {
            n.text = n.text.replace(&token, "…");
            n.link = n.link.take().map(|link| link.replace(&token, "…"));
        }
    }

    /// An event of `event_type` on `ticket` (as it stands after it), by `actor` at `at`, that
    /// changed no field and says nothing more yet; the log gives it its cursor.
    pub fn on(
        ticket: &Ticket,
        event_type: EventType,
        actor: &str,
        at: chrono::DateTime<chrono::Utc>,
    ) -> TicketEvent {
        TicketEvent {
            cursor: 0,
            ticket_id: ticket.id,
            event_type,
            actor: actor.to_owned(),
            via: None,
            occurred_at: at,
            changes: Vec::new(),
            reason: None,
            comment: None,
            survey: None,
            sla: None,
            notification: None,
            task: None,
            link: None,
            attachment: None,
            ticket: ticket.clone(),
        }
    }

    /// The value a field had before this event, if the event changed it.
    pub fn before(&self, field: &str) -> Option<&str> {
        self.changes
            .iter()
            .find(|c| c.field == field)
            .map(|c| c.before.as_str())
    }

    /// Whether the ticket is in `team` after the event, or the event took it out of it.
    pub fn in_team(&self, team: &str) -> bool {
        self.ticket.team.as_deref() == Some(team)
            || self.before("team") == Some(team)
            || self.ticket.task_teams.iter().any(|t| t == team)
    }

    /// Whether the ticket is `agent`'s after the event, or the event took it from them.
    pub fn with_assignee(&self, agent: &str) -> bool {
        self.ticket.assignee.as_deref() == Some(agent) || self.before("assignee") == Some(agent)
    }
}

/// Who acts when nobody asked: recorded as the actor of what the service does by itself.
pub mod actor {
    /// Assignment from a team's queue.
    pub const ROUTER: &str = "router";
    /// What a survey's send, answer or expiry does to its ticket.
    pub const SURVEY: &str = "survey";
    /// The SLA clocks and their escalations.
    pub const SLA: &str = "sla";
    /// A customer answering a survey.
    pub const CUSTOMER: &str = "customer";
    /// The notifications a change calls for.
    pub const NOTIFIER: &str = "notifier";
    /// Intake's check for malicious complaints.
    pub const ABUSE: &str = "abuse-check";
}

/// What a change of a ticket records besides the fields it changed.
#[derive(Debug, Default)]
pub struct Note {
    pub reason: Option<String>,
    /// A comment stored with the change; the event carries it as stored.
    pub comment: Option<super::ticket::NewComment>,
    /// The survey behind the change.
    pub survey: Option<super::survey::SurveyRef>,
    /// The clocks and escalation an SLA change is about.
    pub sla: Option<SlaNote>,
    /// The task the change is about.
    pub task: Option<TaskNote>,
    /// The link the change made or removed.
    pub link: Option<super::link::Link>,
    /// The file attached or removed, as stored.
    pub attachment: Option<super::attachment::Attachment>,
    /// The fingerprint of the request that wrote the comment, when that request was more than
    /// the comment (a canned reply: its template and values); else the comment's own.
    pub request_hash: Option<String>,
    /// Lifecycle steps the change took after its main one, each recorded as an event of its
    /// own, in the same ticket version.
    pub steps: Vec<Step>,
}

/// A lifecycle step one change took after its main one (a canned reply that also sets its
/// ticket pending): the event that records it, with the fields the step changed.
#[derive(Debug)]
pub struct Step {
    pub event: EventType,
    pub reason: Option<String>,
    /// The ticket as it stood before the step.
    pub from: Ticket,
}

/// A change the domain decided on a ticket: the event that records it, and its note.
#[derive(Debug)]
pub struct Change {
    pub event: EventType,
    pub note: Note,
}

impl Change {
    /// A change recorded as `event`, with nothing noted yet.
    pub fn of(event: EventType) -> Change {
        Change {
            event,
            note: Note::default(),
        }
    }

    /// The same, with the reason given.
    pub fn because(mut self, reason: impl Into<String>) -> Change {
        self.note.reason = Some(reason.into());
        self
    }

    /// The same, with the reason if there is one.
    pub fn reason(mut self, reason: Option<String>) -> Change {
        self.note.reason = reason;
        self
    }

    /// The same, about a survey.
    pub fn survey(mut self, survey: super::survey::SurveyRef) -> Change {
        self.note.survey = Some(survey);
        self
    }
}

/// The task a TASK_* event is about, as it stands after the event, and for TASK_OVERDUE the
/// supervisor alerted.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TaskNote {
    pub task: super::task::Task,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alert: Option<String>,
}

/// What an SLA event is about: its clocks (as they stand in the event's ticket) and, for
/// SLA_ESCALATED, the level reached.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct SlaNote {
    pub targets: Vec<super::sla::Target>,
    pub escalation: Option<Escalation>,
}

/// An escalation level that acted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Escalation {
    pub level: u32,
    pub actions: Vec<super::sla::EscalationAction>,
    /// The supervisor told, when NOTIFY_SUPERVISOR found one.
    pub notify: Option<String>,
}

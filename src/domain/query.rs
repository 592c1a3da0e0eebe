//! What a caller can ask of the ticket list: filters, order and where a page starts.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::access::Scope;
use super::event::{EventType, TicketEvent};
use super::ticket::{Channel, Kind, Priority, Resolution, Status, Ticket};

/// A list's total is counted up to this many tickets, and one more means "more than this":
/// an exact count of a million matches would cost a list page far more than the page.
pub const MAX_COUNTED: u64 = 10_000;

/// Every set filter must match; each list matches any of its values.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TicketFilter {
    /// The tickets the caller may see.
    pub scope: Scope,
    pub statuses: Vec<Status>,
    /// Only tickets still to be done ([`Status::is_open`]); with `statuses`, both must hold.
    pub open: bool,
    pub priorities: Vec<Priority>,
    pub kinds: Vec<Kind>,
    pub channels: Vec<Channel>,
    pub team: Option<String>,
    pub assignee: Option<String>,
    /// The first-contact owner towards the customer.
    pub owner: Option<String>,
    pub customer_external_id: Option<String>,
    pub product: Option<String>,
    pub tag: Option<String>,
    pub category: Option<String>,
    /// Repeating the ticket of this number.
    pub repeat_of: Option<String>,
    /// Reopened at least once (`Some(true)`) or never (`Some(false)`).
    pub reopened: Option<bool>,
    pub resolutions: Vec<Resolution>,
    pub created_after: Option<DateTime<Utc>>,
    pub created_before: Option<DateTime<Utc>>,
    /// Contained in the title or the description.
    pub text: Option<String>,
    /// With a breached SLA clock.
    pub sla_breached: bool,
    /// With a running clock past its at-risk share.
    pub sla_at_risk: bool,
    /// With a running clock due before this.
    pub sla_due_before: Option<DateTime<Utc>>,
}

/// A ticket, team, agent or product that a filter names. A filter naming one nobody knows
/// is refused rather than answered with nothing: a typo would otherwise look like a quiet day.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Named<'a> {
    Ticket(i64),
    Team(&'a str),
    Agent(&'a str),
    /// Products are not configured: one is known once a ticket names it.
    Product(&'a str),
}

impl Named<'_> {
    /// The kind of thing named, as a NOT_FOUND names it.
    pub fn resource(&self) -> &'static str {
        match self {
            Named::Ticket(_) => "ticket",
            Named::Team(_) => "team",
            Named::Agent(_) => "agent",
            Named::Product(_) => "product",
        }
    }

    pub fn key(&self) -> String {
        match self {
            Named::Ticket(id) => id.to_string(),
            Named::Team(key) | Named::Agent(key) | Named::Product(key) => (*key).to_owned(),
        }
    }
}

/// Every `Named` of `given`, in the order given.
fn named<'a>(given: impl IntoIterator<Item = Option<Named<'a>>>) -> Vec<Named<'a>> {
    given.into_iter().flatten().collect()
}

impl TicketFilter {
    /// What the filter names that must exist.
    pub fn named(&self) -> Vec<Named<'_>> {
        named([
            self.team.as_deref().map(Named::Team),
            self.assignee.as_deref().map(Named::Agent),
            self.owner.as_deref().map(Named::Agent),
            self.product.as_deref().map(Named::Product),
        ])
    }
}

/// The key tickets are sorted by; ties are broken by id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum SortKey {
    CreateTime,
    UpdateTime,
    Priority,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TicketOrder {
    pub key: SortKey,
    pub descending: bool,
}

impl Default for TicketOrder {
    fn default() -> Self {
        Self {
            key: SortKey::CreateTime,
            descending: false,
        }
    }
}

/// Where the previous page ended: the last ticket's sort value and id. Pages continue
/// strictly after it, so tickets inserted meanwhile are neither repeated nor skipped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Position {
    /// By creation: the id alone (ids grow in creation order).
    Id(i64),
    UpdateTime(DateTime<Utc>, i64),
    Priority(i16, i64),
}

/// Where a page that ends with `ticket` stops, for `order`.
pub fn position_of(ticket: &Ticket, order: TicketOrder) -> Position {
    match order.key {
        SortKey::CreateTime => Position::Id(ticket.id),
        SortKey::UpdateTime => Position::UpdateTime(ticket.updated_at, ticket.id),
        SortKey::Priority => Position::Priority(ticket.priority.rank(), ticket.id),
    }
}

/// What the survey responses list is narrowed to: every set filter must match.
#[derive(Debug, Clone, Default)]
pub struct ResponseFilter {
    pub submitted_after: Option<DateTime<Utc>>,
    pub submitted_before: Option<DateTime<Utc>>,
    pub team: Option<String>,
    pub agent: Option<String>,
    pub product: Option<String>,
    pub kinds: Vec<Kind>,
    pub channels: Vec<Channel>,
    pub min_score: Option<i32>,
    pub max_score: Option<i32>,
    pub has_comment: Option<bool>,
    pub ticket_id: Option<i64>,
}

impl ResponseFilter {
    /// What the filter names that must exist.
    pub fn named(&self) -> Vec<Named<'_>> {
        named([
            self.ticket_id.map(Named::Ticket),
            self.team.as_deref().map(Named::Team),
            self.agent.as_deref().map(Named::Agent),
            self.product.as_deref().map(Named::Product),
        ])
    }
}

/// What survey figures are grouped by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Grouping {
    Team,
    Agent,
    Kind,
    Channel,
    Product,
}

/// Who watches what on WatchTickets: every set filter must match.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct WatchFilter {
    /// The tickets the watcher may see.
    pub scope: Scope,
    pub ticket_id: Option<i64>,
    pub team: Option<String>,
    pub assignee: Option<String>,
    pub customer_external_id: Option<String>,
    pub event_types: Vec<EventType>,
}

impl WatchFilter {
    /// What the filter names that must exist.
    pub fn named(&self) -> Vec<Named<'_>> {
        named([
            self.ticket_id.map(Named::Ticket),
            self.team.as_deref().map(Named::Team),
            self.assignee.as_deref().map(Named::Agent),
        ])
    }

    /// Whether a watcher with this filter receives `event`. A team or assignee filter also
    /// matches the event that took the ticket away from that team or agent, so a desktop sees
    /// tickets leave its queue.
    pub fn matches(&self, event: &TicketEvent) -> bool {
        self.ticket_id.is_none_or(|id| id == event.ticket_id)
            && self.scope.admits(event)
            && event.event_type.wanted_by(&self.event_types)
            && self
                .customer_external_id
                .as_deref()
                .is_none_or(|c| event.ticket.customer.external_id == c)
            && self.team.as_deref().is_none_or(|t| event.in_team(t))
            && self
                .assignee
                .as_deref()
                .is_none_or(|a| event.with_assignee(a))
    }
}

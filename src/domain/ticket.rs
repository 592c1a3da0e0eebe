//! What a ticket is: its vocabulary and its fields.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::assignment::Strategy;
use super::language::Language;
use super::routing::Route;

/// Declares an enum stored and logged by a stable upper-case name, the same on every
/// database.
macro_rules! named_enum {
    ($(#[$meta:meta])* $name:ident { $($(#[$vmeta:meta])* $variant:ident = $text:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
        #[serde(rename_all = "SCREAMING_SNAKE_CASE")]
        pub enum $name { $($(#[$vmeta])* $variant),+ }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $text),+ }
            }
        }

        impl std::str::FromStr for $name {
            type Err = $crate::domain::ticket::UnknownName;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                match s {
                    $($text => Ok($name::$variant),)+
                    _ => Err($crate::domain::ticket::UnknownName { kind: stringify!($name), name: s.to_owned() }),
                }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}
pub(crate) use named_enum;

/// A stored name that no variant carries: the database holds something this build does not know.
#[derive(Debug, Clone, thiserror::Error)]
#[error("unknown {kind} {name:?}")]
pub struct UnknownName {
    pub kind: &'static str,
    pub name: String,
}

named_enum!(
    /// Where a ticket came in.
    Channel {
        Hotline = "HOTLINE",
        App = "APP",
        WebForm = "WEB_FORM",
        Email = "EMAIL",
        SocialMedia = "SOCIAL_MEDIA",
        Wechat = "WECHAT",
        InPerson = "IN_PERSON",
        Api = "API",
    }
);

named_enum!(
    /// What the customer is telling us.
    Kind {
        Suggestion = "SUGGESTION",
        Complaint = "COMPLAINT",
        Problem = "PROBLEM",
        Inquiry = "INQUIRY",
    }
);

named_enum!(
    /// How soon a ticket must be handled; declared most urgent first, so `Ord` sorts by urgency.
    Priority {
        Urgent = "URGENT",
        High = "HIGH",
        Medium = "MEDIUM",
        Low = "LOW",
    }
);

impl Priority {
    /// The priority a ticket gets when nobody says otherwise.
    pub fn default_for(kind: Kind) -> Priority {
        match kind {
            Kind::Complaint => Priority::High,
            Kind::Problem => Priority::Medium,
            Kind::Inquiry | Kind::Suggestion => Priority::Low,
        }
    }

    /// 1 for urgent … 4 for low: the sort key stored beside the name.
    pub fn rank(self) -> i16 {
        match self {
            Priority::Urgent => 1,
            Priority::High => 2,
            Priority::Medium => 3,
            Priority::Low => 4,
        }
    }
}

named_enum!(
    /// Where a ticket stands; see [`crate::domain::lifecycle`] for the moves between them.
    Status {
        New = "NEW",
        Assigned = "ASSIGNED",
        Acknowledged = "ACKNOWLEDGED",
        InProgress = "IN_PROGRESS",
        PendingCustomer = "PENDING_CUSTOMER",
        Resolved = "RESOLVED",
        Closed = "CLOSED",
        Reopened = "REOPENED",
        /// Held for review as a suspected malicious complaint: not routed, no SLA clocks.
        Quarantined = "QUARANTINED",
    }
);

impl Status {
    /// Whether the ticket is still to be done: anything but resolved or closed.
    pub fn is_open(self) -> bool {
        !matches!(self, Status::Resolved | Status::Closed)
    }
}

named_enum!(
    /// How a ticket was resolved.
    Resolution {
        /// Answered or fixed: the ordinary case.
        Solved = "SOLVED",
        /// Not a real request: nobody to survey.
        Spam = "SPAM",
        /// A duplicate, merged into another ticket: that ticket's survey covers it.
        Merged = "MERGED",
    }
);

named_enum!(
    /// The customer's service tier.
    Tier {
        Standard = "STANDARD",
        Premium = "PREMIUM",
        Vip = "VIP",
    }
);

named_enum!(
    /// Who can read a comment.
    Visibility {
        Public = "PUBLIC",
        Internal = "INTERNAL",
    }
);

named_enum!(
    /// Who wrote a comment.
    AuthorRole {
        Agent = "AGENT",
        Customer = "CUSTOMER",
    }
);

/// The person a ticket is about.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Customer {
    pub external_id: String,
    pub name: String,
    pub phone: String,
    pub email: String,
    pub tier: Tier,
    /// What to write to them in. `None` until intake or an update settles it
    /// ([`super::language::settle`]); always set on a stored ticket.
    #[serde(default)]
    pub language: Option<Language>,
}

/// Which of a customer's details identifies them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Identity {
    ExternalId,
    Phone,
    Email,
}

impl Customer {
    /// What identifies the customer across tickets: their CRM id when known, else their
    /// phone, else their email; `None` when they left none.
    pub fn identity(&self) -> Option<(Identity, &str)> {
        [
            (Identity::ExternalId, &self.external_id),
            (Identity::Phone, &self.phone),
            (Identity::Email, &self.email),
        ]
        .into_iter()
        .find(|(_, value)| !value.is_empty())
        .map(|(kind, value)| (kind, value.as_str()))
    }
}

impl Default for Customer {
    fn default() -> Self {
        Self {
            external_id: String::new(),
            name: String::new(),
            phone: String::new(),
            email: String::new(),
            tier: Tier::Standard,
            language: None,
        }
    }
}

/// A ticket as the caller describes it at intake, already validated.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct NewTicket {
    pub request_id: Option<String>,
    pub channel: Channel,
    pub kind: Kind,
    pub title: String,
    pub description: String,
    pub expected_outcome: String,
    pub product: String,
    pub customer: Customer,
    pub tags: Vec<String>,
    pub occurred_at: Option<DateTime<Utc>>,
    pub metadata: BTreeMap<String, String>,
    pub priority: Option<Priority>,
    /// The category when the caller knows it; otherwise routing proposes one.
    pub category: Option<String>,
    pub actor: String,
    /// Who took it in on the actor's behalf.
    pub via: Option<String>,
}

/// A ticket as stored, and as it stands after each event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Ticket {
    pub id: i64,
    pub number: String,
    pub request_id: Option<String>,
    pub channel: Channel,
    pub kind: Kind,
    pub status: Status,
    pub priority: Priority,
    pub title: String,
    pub description: String,
    pub expected_outcome: String,
    pub product: String,
    pub customer: Customer,
    pub tags: Vec<String>,
    pub occurred_at: Option<DateTime<Utc>>,
    pub metadata: BTreeMap<String, String>,
    pub team: Option<String>,
    pub assignee: Option<String>,
    pub owner: Option<String>,
    pub resolution_summary: Option<String>,
    pub status_reason: Option<String>,
    pub reopen_count: i32,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub assigned_at: Option<DateTime<Utc>>,
    pub acknowledged_at: Option<DateTime<Utc>>,
    pub first_responded_at: Option<DateTime<Utc>>,
    pub resolved_at: Option<DateTime<Utc>>,
    pub closed_at: Option<DateTime<Utc>>,
    pub category: Option<String>,
    /// Why the ticket has its priority, step by step.
    pub priority_reasons: Vec<String>,
    /// The number of the earlier ticket this one repeats.
    pub repeat_of: Option<String>,
    /// How the team was chosen.
    pub routing_reason: Option<String>,
    /// How an agent is picked while it waits; `None`: the team's strategy.
    pub assignment_strategy: Option<Strategy>,
    /// How it was resolved, while it is resolved or closed.
    #[serde(default)]
    pub resolution: Option<Resolution>,
    /// The number of the ticket it was merged into, when its resolution is MERGED.
    #[serde(default)]
    pub merged_into: Option<String>,
    /// Its SLA clocks and escalation level.
    #[serde(default)]
    pub sla: super::sla::Sla,
    /// Its tasks not finished yet.
    #[serde(default)]
    pub open_tasks: u32,
    /// The teams it asked to help (its tasks' teams): their staff may read it.
    #[serde(default)]
    pub task_teams: Vec<String>,
    /// Its links to other tickets, in the order they were made.
    #[serde(default)]
    pub links: Vec<super::link::Link>,
    /// Bumped by every change; the etag is derived from it.
    pub version: i64,
}

impl Ticket {
    /// The ticket as intake creates it, routed, before the store gives it an id and a number.
    pub fn intake(new: NewTicket, route: Route, number: String, now: DateTime<Utc>) -> Ticket {
        let mut tags = new.tags;
        tags.extend(route.tags);
        Ticket {
            id: 0,
            number,
            request_id: new.request_id,
            channel: new.channel,
            kind: new.kind,
            status: Status::New,
            priority: route.priority,
            title: new.title,
            description: new.description,
            expected_outcome: new.expected_outcome,
            product: new.product,
            customer: new.customer,
            tags: normalize_tags(tags),
            occurred_at: new.occurred_at,
            metadata: new.metadata,
            team: Some(route.team),
            assignee: None,
            owner: None,
            resolution_summary: None,
            status_reason: None,
            reopen_count: 0,
            created_at: now,
            updated_at: now,
            assigned_at: None,
            acknowledged_at: None,
            first_responded_at: None,
            resolved_at: None,
            closed_at: None,
            category: route.category,
            priority_reasons: route.priority_reasons,
            repeat_of: route.repeat_of,
            routing_reason: Some(route.reason),
            assignment_strategy: route.strategy,
            resolution: None,
            merged_into: None,
            sla: super::sla::Sla::default(),
            open_tasks: 0,
            task_teams: Vec::new(),
            links: Vec::new(),
            version: 1,
        }
    }
}

super::error::versioned!(Ticket);

/// A ticket as intake makes it, for the domain's unit tests: routed to `support` with the
/// kind's default priority, numbered FB202611220001.
#[cfg(test)]
pub(crate) fn sample(kind: Kind, customer: Customer, at: DateTime<Utc>) -> Ticket {
    let new = NewTicket {
        request_id: None,
        channel: Channel::App,
        kind,
        title: "Late parcel".into(),
        description: "Ordered a week ago".into(),
        expected_outcome: String::new(),
        product: String::new(),
        customer,
        tags: vec![],
        occurred_at: None,
        metadata: Default::default(),
        priority: None,
        category: None,
        via: None,
        actor: "test".into(),
    };
    Ticket::intake(
        new,
        super::routing::test_route(kind),
        "FB202611220001".into(),
        at,
    )
}

/// Tags are matched case-insensitively: stored trimmed, lower-case, sorted, without duplicates.
pub fn normalize_tags(tags: Vec<String>) -> Vec<String> {
    let mut tags: Vec<String> = tags
        .into_iter()
        .map(|t| t.trim().to_lowercase())
        .filter(|t| !t.is_empty())
        .collect();
    tags.sort();
    tags.dedup();
    tags
}

/// A comment as a caller writes it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct NewComment {
    pub visibility: Visibility,
    pub author: String,
    pub author_role: AuthorRole,
    pub body: String,
    pub request_id: Option<String>,
}

/// The descriptive fields of a ticket as an update gives them (see
/// [`super::patch::Patch`]), and who makes the change.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Edit {
    pub title: String,
    pub description: String,
    pub expected_outcome: String,
    pub product: String,
    pub customer: Customer,
    pub tags: Vec<String>,
    pub metadata: BTreeMap<String, String>,
    pub occurred_at: Option<DateTime<Utc>>,
    pub kind: Option<Kind>,
    pub priority: Option<Priority>,
    pub category: Option<String>,
    pub actor: String,
}

impl Ticket {
    /// Sets the priority by a person's hand, saying so among the priority's reasons.
    pub fn set_priority(&mut self, priority: Priority, by: &str) {
        if priority != self.priority {
            self.priority_reasons
                .push(format!("{priority}: set by {by}"));
            self.priority = priority;
        }
    }

    /// The skills the ticket calls for, as agents list theirs.
    pub fn wanted_skills(&self) -> Vec<String> {
        super::routing::wanted_skills(&self.product, self.category.as_deref(), self.language())
    }

    /// The language its customer is written to in.
    pub fn language(&self) -> Language {
        self.customer.language.unwrap_or_default()
    }
}

/// A comment on a ticket.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Comment {
    pub id: i64,
    pub ticket_id: i64,
    pub visibility: Visibility,
    pub author: String,
    pub author_role: AuthorRole,
    pub body: String,
    pub created_at: DateTime<Utc>,
}

/// Length limits, in characters, checked at intake and on update.
pub mod limits {
    pub const TITLE: usize = 200;
    pub const DESCRIPTION: usize = 10_000;
    pub const EXPECTED_OUTCOME: usize = 2_000;
    pub const PRODUCT: usize = 128;
    pub const EXTERNAL_ID: usize = 128;
    pub const PHONE: usize = 32;
    /// The longest e-mail address the standards allow.
    pub const EMAIL: usize = 254;
    pub const NAME: usize = 200;
    pub const REQUEST_ID: usize = 128;
    pub const TAG: usize = 64;
    pub const TAGS: usize = 20;
    pub const METADATA_ENTRIES: usize = 50;
    pub const METADATA_KEY: usize = 64;
    pub const METADATA_VALUE: usize = 1_000;
    pub const REASON: usize = 1_000;
    pub const COMMENT: usize = 10_000;
    pub const RESOLUTION: usize = 10_000;
    pub const ACTOR: usize = 128;
    pub const TEAM: usize = 128;
    pub const CATEGORY: usize = 64;
    /// Team and agent ids.
    pub const KEY: usize = 64;
    pub const SKILL: usize = 64;
    pub const SKILLS: usize = 50;
    pub const TEAMS_PER_AGENT: usize = 20;
    /// Agents named in one team's member list.
    pub const MEMBERS: usize = 1_000;
    pub const KEYWORDS: usize = 50;
    pub const MAX_CAPACITY: i32 = 1_000;
    /// Values a repeated filter may list (statuses, kinds, event types …).
    pub const FILTER_VALUES: usize = 50;
    /// Ticket ids or rule ids one request may list.
    pub const IDS: usize = 1_000;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for s in Status::ALL {
            assert_eq!(s.as_str().parse::<Status>().unwrap(), *s);
        }
        assert!("Open".parse::<Status>().is_err());
    }

    #[test]
    fn priority_orders_by_urgency() {
        assert!(Priority::Urgent < Priority::Low);
        assert_eq!(Priority::default_for(Kind::Complaint), Priority::High);
        assert_eq!(Priority::default_for(Kind::Suggestion), Priority::Low);
    }

    #[test]
    fn tags_are_normalized() {
        let tags = vec![" Refund ".into(), "refund".into(), "".into(), "App".into()];
        assert_eq!(normalize_tags(tags), vec!["app", "refund"]);
    }
}

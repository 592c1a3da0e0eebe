//! SLA clocks: one per target of a ticket (acknowledge, first response, resolution), each
//! counting the working time of a calendar against a budget, paused while the ticket waits
//! on the customer; the policies that set the budgets; and the escalation levels that act
//! when a clock runs out.
//!
//! A clock keeps the working time used up to its last pause or resume, and while it runs,
//! the instant it comes due; everything else follows from those and the calendar.

use std::collections::HashMap;

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

use super::calendar::{Calendar, DEFAULT_CALENDAR};
use super::error::Refusal;
use super::event::{EventType, SlaNote, TicketEvent, actor};
use super::format::{human, rfc3339};
use super::ticket::{Kind, Priority, Status, Ticket, Tier, named_enum};

named_enum!(
    /// What a clock measures.
    Target {
        /// The assignee confirms the ticket.
        Acknowledge = "ACKNOWLEDGE",
        /// The first public reply to the customer.
        FirstResponse = "FIRST_RESPONSE",
        /// The ticket is resolved.
        Resolution = "RESOLUTION",
    }
);

named_enum!(
    /// Where a clock stands.
    ClockState {
        Running = "RUNNING",
        Paused = "PAUSED",
        Met = "MET",
        Breached = "BREACHED",
    }
);

named_enum!(
    /// Which hours a policy's targets count.
    Basis {
        /// Every hour of every day (24×7).
        CalendarTime = "CALENDAR_TIME",
        /// The working hours of the ticket's team's calendar.
        BusinessHours = "BUSINESS_HOURS",
    }
);

named_enum!(
    /// What starts an escalation level.
    Trigger {
        /// The clock used the at-risk share of its budget.
        AtRisk = "AT_RISK",
        /// The clock came due with its target not reached.
        Breached = "BREACHED",
    }
);

named_enum!(
    /// What an escalation level does.
    EscalationAction {
        /// Tells the team's supervisor (the SLA_ESCALATED event names them).
        NotifySupervisor = "NOTIFY_SUPERVISOR",
        /// Raises the priority one step.
        RaisePriority = "RAISE_PRIORITY",
        /// Gives the ticket to the team's supervisor.
        ReassignToSupervisor = "REASSIGN_TO_SUPERVISOR",
        /// Moves the ticket to another team's queue (the level names the team).
        ReassignToTeam = "REASSIGN_TO_TEAM",
    }
);

/// `duration` without what is below a millisecond: a clock in memory reads as it does when
/// stored, so a ticket is the same whether just written or read back.
fn whole_millis(duration: Duration) -> Duration {
    Duration::milliseconds(duration.num_milliseconds())
}

/// Durations kept as whole milliseconds.
mod millis {
    use chrono::Duration;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_i64(d.num_milliseconds())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        i64::deserialize(d).map(Duration::milliseconds)
    }
}

/// One target's clock on one ticket.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SlaClock {
    pub target: Target,
    /// Working time allowed.
    #[serde(with = "millis")]
    pub budget: Duration,
    pub state: ClockState,
    /// When it started (again, after a reopen).
    pub started_at: DateTime<Utc>,
    /// Working time used before the current run (all of it when paused or stopped).
    #[serde(with = "millis")]
    used: Duration,
    /// When the current run began; `None` unless running.
    running_since: Option<DateTime<Utc>>,
    /// When the clock comes due; `None` unless running.
    pub due: Option<DateTime<Utc>>,
    /// When it will have used the at-risk share of its budget; `None` unless running.
    pub at_risk_at: Option<DateTime<Utc>>,
    /// Whether SLA_AT_RISK was recorded for it.
    pub warned: bool,
    /// Wall-clock time spent paused, and since when it is paused now.
    #[serde(with = "millis")]
    paused: Duration,
    paused_since: Option<DateTime<Utc>>,
    /// When its target was reached, in time or late.
    pub stopped_at: Option<DateTime<Utc>>,
}

/// How a clock's times are counted: by which calendar, and at what share of the budget it
/// is at risk.
#[derive(Debug, Clone, Copy)]
pub struct Counting<'a> {
    pub calendar: &'a Calendar,
    pub at_risk_share: f64,
}

impl SlaClock {
    /// Starts a clock with `budget` of working time at `now`.
    pub fn start(target: Target, budget: Duration, now: DateTime<Utc>, by: Counting) -> SlaClock {
        let mut clock = SlaClock {
            target,
            budget,
            state: ClockState::Running,
            started_at: now,
            used: Duration::zero(),
            running_since: Some(now),
            due: None,
            at_risk_at: None,
            warned: false,
            paused: Duration::zero(),
            paused_since: None,
            stopped_at: None,
        };
        clock.plan(by);
        clock
    }

    /// Working time used by `now`, in whole milliseconds as it is kept.
    pub fn elapsed(&self, now: DateTime<Utc>, calendar: &Calendar) -> Duration {
        whole_millis(
            self.used
                + self
                    .running_since
                    .map_or(Duration::zero(), |since| calendar.between(since, now)),
        )
    }

    /// Wall-clock time spent paused by `now`, in whole milliseconds as it is kept.
    pub fn paused(&self, now: DateTime<Utc>) -> Duration {
        whole_millis(
            self.paused
                + self
                    .paused_since
                    .map_or(Duration::zero(), |since| now - since),
        )
    }

    /// Working time used as of [`SlaClock::recorded_at`], the clock's last start, pause,
    /// resume or stop: what a ticket shows without a calendar at hand.
    pub fn used(&self) -> Duration {
        self.used
    }

    pub fn recorded_at(&self) -> DateTime<Utc> {
        self.running_since
            .or(self.paused_since)
            .or(self.stopped_at)
            .unwrap_or(self.started_at)
    }

    /// Working time left by `now`; negative once overdue.
    pub fn remaining(&self, now: DateTime<Utc>, calendar: &Calendar) -> Duration {
        self.budget - self.elapsed(now, calendar)
    }

    /// Whether its target was reached (in time or late).
    pub fn is_reached(&self) -> bool {
        self.stopped_at.is_some()
    }

    /// Whether the clock still counts or waits to count: neither met nor breached.
    pub fn is_open(&self) -> bool {
        matches!(self.state, ClockState::Running | ClockState::Paused)
    }

    /// Stops counting: the ticket waits on the customer. Only a running clock pauses.
    pub fn pause(&mut self, now: DateTime<Utc>, calendar: &Calendar) {
        if self.state != ClockState::Running {
            return;
        }
        self.used = self.elapsed(now, calendar);
        self.running_since = None;
        self.paused_since = Some(now);
        self.state = ClockState::Paused;
        self.due = None;
        self.at_risk_at = None;
    }

    /// Counts again from `now`, with what was left at the pause.
    pub fn resume(&mut self, now: DateTime<Utc>, by: Counting) {
        if self.state != ClockState::Paused {
            return;
        }
        self.paused = self.paused(now);
        self.paused_since = None;
        self.running_since = Some(now);
        self.state = ClockState::Running;
        self.plan(by);
    }

    /// The target was reached at `now`: met if in time, breached otherwise.
    pub fn stop(&mut self, now: DateTime<Utc>, by: Counting) {
        if self.is_reached() {
            return;
        }
        if self.state == ClockState::Breached {
            // Reached late, after the scheduler recorded the breach: the overdue time counts.
            self.used = self.elapsed(now, by.calendar);
            self.running_since = None;
            self.stopped_at = Some(now);
            return;
        }
        self.resume(now, by);
        self.used = self.elapsed(now, by.calendar);
        self.running_since = None;
        self.due = None;
        self.at_risk_at = None;
        self.state = if self.used <= self.budget {
            ClockState::Met
        } else {
            ClockState::Breached
        };
        self.stopped_at = Some(now);
    }

    /// The terms changed (the priority, and with it the policy, or the team's calendar): the
    /// time used so far is kept as counted by `old`, and what is left is counted anew.
    pub fn recount(&mut self, budget: Duration, now: DateTime<Utc>, old: &Calendar, by: Counting) {
        self.budget = budget;
        if self.state == ClockState::Running {
            self.used = self.elapsed(now, old);
            self.running_since = Some(now);
            self.plan(by);
            // A larger budget puts the at-risk point ahead again: warn again when it comes.
            if self.at_risk_at.is_some_and(|at| at > now) {
                self.warned = false;
            }
        }
    }

    /// Marks a running clock at risk and breached as their times pass; returns what it just
    /// recorded, each at most once in the clock's life.
    pub fn check(&mut self, now: DateTime<Utc>) -> Vec<Trigger> {
        let mut fired = Vec::new();
        if self.state != ClockState::Running {
            return fired;
        }
        if !self.warned && self.at_risk_at.is_some_and(|at| at <= now) {
            self.warned = true;
            fired.push(Trigger::AtRisk);
        }
        if self.due.is_some_and(|due| due <= now) {
            // Overdue: it goes on counting until the target is reached.
            self.state = ClockState::Breached;
            fired.push(Trigger::Breached);
        }
        fired
    }

    /// The next instant the scheduler must look at this clock.
    pub fn wake_at(&self) -> Option<DateTime<Utc>> {
        if self.state != ClockState::Running {
            return None;
        }
        match (self.warned, self.at_risk_at) {
            (false, Some(at)) => Some(at),
            _ => self.due,
        }
    }

    /// Sets when a running clock is at risk and due: what its budget leaves after the time
    /// used before this run, counted from the start of this run.
    fn plan(&mut self, by: Counting) {
        let Some(since) = self.running_since else {
            return;
        };
        let share = Duration::milliseconds(
            (self.budget.num_milliseconds() as f64 * by.at_risk_share) as i64,
        );
        let left = |part: Duration| (part - self.used).max(Duration::zero());
        self.due = by.calendar.add(since, left(self.budget));
        // Past it already (a recount to a smaller budget): at risk now, warned at the next pass.
        self.at_risk_at = by.calendar.add(since, left(share));
    }
}

/// The three budgets of a policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Targets {
    #[serde(with = "millis")]
    pub acknowledge: Duration,
    #[serde(with = "millis")]
    pub first_response: Duration,
    #[serde(with = "millis")]
    pub resolution: Duration,
}

impl Targets {
    pub fn of(&self, target: Target) -> Duration {
        match target {
            Target::Acknowledge => self.acknowledge,
            Target::FirstResponse => self.first_response,
            Target::Resolution => self.resolution,
        }
    }
}

/// One escalation level: when a clock of `target` fires `trigger`, do `actions`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EscalationLevel {
    pub target: Target,
    pub trigger: Trigger,
    pub actions: Vec<EscalationAction>,
    /// The team REASSIGN_TO_TEAM moves the ticket to.
    pub team: Option<String>,
}

/// An SLA policy: the targets for tickets of a priority, optionally narrowed to a kind and a
/// customer tier, and how they escalate.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Policy {
    pub id: String,
    pub display_name: String,
    pub priority: Priority,
    /// `None`: any kind.
    pub kind: Option<Kind>,
    /// `None`: any tier.
    pub tier: Option<Tier>,
    pub targets: Targets,
    pub basis: Basis,
    /// Level 1 first.
    pub escalations: Vec<EscalationLevel>,
    pub version: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl Policy {
    /// Whether the policy covers `ticket`.
    pub fn covers(&self, ticket: &Ticket) -> bool {
        self.priority == ticket.priority
            && self.kind.is_none_or(|k| k == ticket.kind)
            && self.tier.is_none_or(|t| t == ticket.customer.tier)
    }

    /// How narrowly it applies: a kind counts more than a tier.
    fn specificity(&self) -> u8 {
        2 * u8::from(self.kind.is_some()) + u8::from(self.tier.is_some())
    }

    /// Whether an escalation level moves tickets to `team`.
    pub fn escalates_to(&self, team: &str) -> bool {
        self.escalations
            .iter()
            .any(|l| l.team.as_deref() == Some(team))
    }

    /// Whether it is a priority's fallback, covering every kind and tier.
    pub fn is_fallback(&self) -> bool {
        self.kind.is_none() && self.tier.is_none()
    }

    /// Who the policy is for, in words: `HIGH COMPLAINT tickets of VIP customers`.
    pub fn scope(&self) -> String {
        let kind = self.kind.map(|k| format!(" {k}")).unwrap_or_default();
        let tier = self
            .tier
            .map(|t| format!(" of {t} customers"))
            .unwrap_or_default();
        format!("{}{kind} tickets{tier}", self.priority)
    }
}

super::error::versioned!(Policy);

/// The policies installed on first start, one fallback per priority: urgent in calendar
/// time, the others in business hours, escalating a missed acknowledgement to the
/// supervisor, a missed first response by priority, and a missed resolution to the
/// supervisor's hands.
pub fn default_policies(now: DateTime<Utc>) -> Vec<Policy> {
    let (m, h, d) = (Duration::minutes, Duration::hours, Duration::days);
    let level = |target, actions: &[EscalationAction]| EscalationLevel {
        target,
        trigger: Trigger::Breached,
        actions: actions.to_vec(),
        team: None,
    };
    use EscalationAction::*;
    let escalations = vec![
        level(Target::Acknowledge, &[NotifySupervisor]),
        level(Target::FirstResponse, &[NotifySupervisor, RaisePriority]),
        level(
            Target::Resolution,
            &[NotifySupervisor, ReassignToSupervisor],
        ),
    ];
    [
        (Priority::Urgent, m(15), h(1), h(24), Basis::CalendarTime),
        (Priority::High, h(1), h(4), d(3), Basis::BusinessHours),
        (Priority::Medium, h(2), h(24), d(3), Basis::BusinessHours),
        (Priority::Low, h(2), h(48), d(7), Basis::BusinessHours),
    ]
    .into_iter()
    .map(
        |(priority, acknowledge, first_response, resolution, basis)| Policy {
            id: priority.as_str().to_lowercase(),
            display_name: format!("{priority} default"),
            priority,
            kind: None,
            tier: None,
            targets: Targets {
                acknowledge,
                first_response,
                resolution,
            },
            basis,
            escalations: escalations.clone(),
            version: 1,
            created_at: now,
            updated_at: now,
        },
    )
    .collect()
}

/// Everything the clocks are counted by: the policies, the calendars, and which calendar
/// each team keeps.
#[derive(Debug, Clone, Default)]
pub struct Catalog {
    pub policies: Vec<Policy>,
    pub calendars: HashMap<String, Calendar>,
    /// Team id → the calendar it names, if any.
    pub team_calendars: HashMap<String, Option<String>>,
    pub at_risk_share: f64,
}

/// The terms a ticket's clocks run on.
#[derive(Debug, Clone, Copy)]
pub struct Terms<'a> {
    pub policy: &'a Policy,
    /// The calendar counted by; `None`: calendar time.
    pub calendar: Option<&'a str>,
}

impl Catalog {
    /// How a clock counts by `calendar`, at risk at this catalog's share.
    pub fn counting<'a>(&self, calendar: &'a Calendar) -> Counting<'a> {
        Counting {
            calendar,
            at_risk_share: self.at_risk_share,
        }
    }

    /// The narrowest policy covering `ticket`.
    pub fn policy_for(&self, ticket: &Ticket) -> Option<&Policy> {
        self.policies
            .iter()
            .filter(|p| p.covers(ticket))
            .max_by_key(|p| p.specificity())
    }

    /// The calendar a team works by: its own, or the default one.
    pub fn team_calendar(&self, team: Option<&str>) -> &str {
        team.and_then(|t| self.team_calendars.get(t))
            .and_then(|c| c.as_deref())
            .filter(|c| self.calendars.contains_key(*c))
            .unwrap_or(DEFAULT_CALENDAR)
    }

    /// The calendar named `id`, or the default one if it no longer exists; `None`: around
    /// the clock.
    pub fn calendar(&self, id: Option<&str>) -> Calendar {
        match id {
            None => Calendar::always(),
            Some(id) => self
                .calendars
                .get(id)
                .or_else(|| self.calendars.get(DEFAULT_CALENDAR))
                .cloned()
                .unwrap_or_else(Calendar::always),
        }
    }

    pub fn terms(&self, ticket: &Ticket) -> Option<Terms<'_>> {
        let policy = self.policy_for(ticket)?;
        let calendar = match policy.basis {
            Basis::CalendarTime => None,
            Basis::BusinessHours => Some(self.team_calendar(ticket.team.as_deref())),
        };
        Some(Terms { policy, calendar })
    }
}

/// A ticket's SLA: its clocks and what they are counted by.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Sla {
    /// The policy the clocks follow.
    pub policy: Option<String>,
    /// The calendar they count by; `None`: calendar time.
    pub calendar: Option<String>,
    pub clocks: Vec<SlaClock>,
    /// The highest escalation level reached; 0: none.
    pub escalation_level: u32,
    /// The time zone of the team's calendar at intake, to tell the customer times as the
    /// team's clock shows them.
    pub zone: Option<String>,
    /// Set when the ticket came in outside its team's working hours: when they start again.
    pub off_hours_until: Option<DateTime<Utc>>,
}

impl Sla {
    pub fn clock(&self, target: Target) -> Option<&SlaClock> {
        self.clocks.iter().find(|c| c.target == target)
    }

    /// The next instant the scheduler must look at the ticket.
    pub fn wake_at(&self) -> Option<DateTime<Utc>> {
        self.clocks.iter().filter_map(SlaClock::wake_at).min()
    }

    /// The earliest due time of a running clock.
    pub fn due_at(&self) -> Option<DateTime<Utc>> {
        self.clocks
            .iter()
            .filter(|c| c.state == ClockState::Running)
            .filter_map(|c| c.due)
            .min()
    }

    /// Whether a clock was breached.
    pub fn breached(&self) -> bool {
        self.clocks.iter().any(|c| c.state == ClockState::Breached)
    }

    /// Whether a running clock is past its at-risk point.
    pub fn at_risk(&self) -> bool {
        self.clocks
            .iter()
            .any(|c| c.state == ClockState::Running && c.warned)
    }
}

/// Clocks that changed together, recorded as one event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClockChange {
    pub event: EventType,
    pub targets: Vec<Target>,
    pub reason: String,
}

impl ClockChange {
    /// The event recording this change of `ticket`'s clocks.
    pub fn event(self, ticket: &Ticket, now: DateTime<Utc>) -> TicketEvent {
        sla_event(ticket, self.event, self.targets, self.reason, now)
    }
}

/// An event about clocks, recorded beside the change that moved them, by the SLA's actor.
pub fn sla_event(
    ticket: &Ticket,
    event_type: EventType,
    targets: Vec<Target>,
    reason: String,
    now: DateTime<Utc>,
) -> TicketEvent {
    TicketEvent {
        reason: Some(reason),
        sla: Some(SlaNote {
            targets,
            escalation: None,
        }),
        ..TicketEvent::on(ticket, event_type, actor::SLA, now)
    }
}

/// Refuses to delete or narrow a priority's fallback policy, which every such ticket needs.
pub fn fallback_needed(policy: &Policy) -> Refusal {
    Refusal::precondition(
        format!("SLA policy {}", policy.id),
        format!(
            "it is the fallback for {} tickets, which every such ticket needs; change its \
             targets instead",
            policy.priority
        ),
    )
}

/// Whether a change touches what the clocks depend on: status, priority, kind, tier, team,
/// acknowledgement or first response. Other changes leave them alone.
pub fn concerns(before: &Ticket, after: &Ticket) -> bool {
    before.status != after.status
        || before.priority != after.priority
        || before.kind != after.kind
        || before.customer.tier != after.customer.tier
        || before.team != after.team
        || before.acknowledged_at != after.acknowledged_at
        || before.first_responded_at != after.first_responded_at
}

/// Keeps a ticket's clocks in step with a change to it (`before` is `None` at intake): starts
/// them, pauses them while it waits on the customer, resumes them, stops each as its target
/// is reached, restarts resolution on a reopen, and recounts what is left when the policy or
/// the calendar changes. Returns the changes, one per event to record.
pub fn follow(
    before: Option<&Ticket>,
    after: &mut Ticket,
    catalog: &Catalog,
    now: DateTime<Utc>,
) -> Vec<ClockChange> {
    let mut sla = std::mem::take(&mut after.sla);
    let changes = step(before, after, &mut sla, catalog, now);
    after.sla = sla;
    changes
}

fn step(
    before: Option<&Ticket>,
    after: &Ticket,
    sla: &mut Sla,
    catalog: &Catalog,
    now: DateTime<Utc>,
) -> Vec<ClockChange> {
    let Some(terms) = catalog.terms(after) else {
        return Vec::new();
    };
    // A ticket held for review runs no clock until it is released (as if new).
    if after.status == Status::Quarantined {
        return Vec::new();
    }
    let finished = matches!(after.status, Status::Resolved | Status::Closed);
    if before.is_some() && sla.clocks.is_empty() && finished {
        // A ticket from before SLAs were kept, changed after it was resolved: nothing to count.
        return Vec::new();
    }
    let mut step = Step {
        calendar: catalog.calendar(terms.calendar),
        terms,
        catalog,
        now,
        changes: Vec::new(),
    };
    match before.filter(|_| !sla.clocks.is_empty()) {
        None => step.start(before.is_some(), after, sla),
        Some(before) => {
            step.recount(before, after, sla);
            step.restart_on_reopen(before, after, sla);
            step.pause_while_waiting(before, after, sla);
            step.stop_what_is_reached(before, after, sla);
            step.resume_after_waiting(before, after, sla);
        }
    }
    step.changes
}

/// One change of a ticket as its clocks follow it: the terms they run on now, and the clock
/// changes recorded so far, one per event.
struct Step<'a> {
    terms: Terms<'a>,
    calendar: Calendar,
    catalog: &'a Catalog,
    now: DateTime<Utc>,
    changes: Vec<ClockChange>,
}

impl Step<'_> {
    fn by(&self) -> Counting<'_> {
        self.catalog.counting(&self.calendar)
    }

    fn budget(&self, target: Target) -> Duration {
        self.terms.policy.targets.of(target)
    }

    /// Records a change of `targets` as one event, unless there are none.
    fn record(&mut self, event: EventType, targets: Vec<Target>, reason: String) {
        if !targets.is_empty() {
            self.changes.push(ClockChange {
                event,
                targets,
                reason,
            });
        }
    }

    /// Starts all three clocks: at intake, or on the first change of a ticket from before
    /// SLAs were kept (`legacy`), where what it reached counts as met and a ticket waiting
    /// on the customer waits.
    fn start(&mut self, legacy: bool, after: &Ticket, sla: &mut Sla) {
        let (now, terms) = (self.now, self.terms);
        sla.policy = Some(terms.policy.id.clone());
        sla.calendar = terms.calendar.map(str::to_owned);
        sla.clocks = Target::ALL
            .iter()
            .map(|&target| SlaClock::start(target, self.budget(target), now, self.by()))
            .collect();
        if legacy {
            for clock in &mut sla.clocks {
                let reached = match clock.target {
                    Target::Acknowledge => after.acknowledged_at.is_some(),
                    Target::FirstResponse => after.first_responded_at.is_some(),
                    Target::Resolution => false,
                };
                if reached {
                    clock.stop(now, self.by());
                } else if after.status == Status::PendingCustomer {
                    clock.pause(now, &self.calendar);
                }
            }
        }
        let catalog = self.catalog;
        let team_calendar = catalog.calendar(Some(catalog.team_calendar(after.team.as_deref())));
        sla.zone = Some(team_calendar.zone().name().to_owned());
        sla.off_hours_until = (!team_calendar.is_working(now))
            .then(|| team_calendar.next_working(now))
            .flatten();
        self.record(
            EventType::SlaStarted,
            Target::ALL.to_vec(),
            format!("policy {}: {}", terms.policy.id, budgets(terms)),
        );
    }

    /// New terms (another policy, budget or calendar): what is left is counted by the new
    /// budget and calendar; time already used stays used, counted by the old calendar.
    fn recount(&mut self, before: &Ticket, after: &Ticket, sla: &mut Sla) {
        let terms = self.terms;
        let new_calendar = sla.calendar.as_deref() != terms.calendar;
        let budget_changed = sla
            .clocks
            .iter()
            .any(|c| c.is_open() && c.budget != self.budget(c.target));
        let new_policy = sla.policy.as_deref() != Some(&terms.policy.id);
        if !(new_calendar || budget_changed || new_policy) {
            return;
        }
        let old = self.catalog.calendar(sla.calendar.as_deref());
        let mut targets = Vec::new();
        for clock in sla.clocks.iter_mut().filter(|c| c.is_open()) {
            let budget = self.budget(clock.target);
            if new_calendar || clock.budget != budget {
                targets.push(clock.target);
            }
            clock.recount(budget, self.now, &old, self.by());
        }
        let why = match (before.priority != after.priority, new_calendar) {
            (true, _) => format!("priority {} → {}", before.priority, after.priority),
            (false, true) => format!("team {}", after.team.as_deref().unwrap_or("none")),
            (false, false) => "the ticket's terms changed".to_owned(),
        };
        sla.policy = Some(terms.policy.id.clone());
        sla.calendar = terms.calendar.map(str::to_owned);
        self.record(
            EventType::SlaRecomputed,
            targets,
            format!("{why}: policy {}, {}", terms.policy.id, budgets(terms)),
        );
    }

    /// A reopen restarts resolution with its full budget.
    fn restart_on_reopen(&mut self, before: &Ticket, after: &Ticket, sla: &mut Sla) {
        let reopened = matches!(before.status, Status::Resolved | Status::Closed)
            && after.status == Status::Reopened;
        if !reopened {
            return;
        }
        let budget = self.budget(Target::Resolution);
        let Some(clock) = sla
            .clocks
            .iter_mut()
            .find(|c| c.target == Target::Resolution)
        else {
            return;
        };
        *clock = SlaClock::start(Target::Resolution, budget, self.now, self.by());
        self.record(
            EventType::SlaRestarted,
            vec![Target::Resolution],
            format!("reopened: {} to resolve it again", human(budget)),
        );
    }

    /// Waiting on the customer pauses the running clocks; one already past its due time
    /// keeps running, so the scheduler records the breach.
    fn pause_while_waiting(&mut self, before: &Ticket, after: &Ticket, sla: &mut Sla) {
        if waiting(before) || !waiting(after) {
            return;
        }
        let now = self.now;
        let mut paused = Vec::new();
        for clock in sla
            .clocks
            .iter_mut()
            .filter(|c| c.state == ClockState::Running && c.due.is_some_and(|due| due > now))
        {
            clock.pause(now, &self.calendar);
            paused.push(clock.target);
        }
        self.record(
            EventType::SlaPaused,
            paused,
            "waiting on the customer".into(),
        );
    }

    /// The acknowledgement stops ACKNOWLEDGE, the first public reply FIRST_RESPONSE, and a
    /// resolve stops every clock: met in time, or breached when reached late.
    fn stop_what_is_reached(&mut self, before: &Ticket, after: &Ticket, sla: &mut Sla) {
        let resolved = after.status == Status::Resolved;
        let reached: Vec<Target> = [
            (
                Target::Acknowledge,
                before.acknowledged_at.is_none() && after.acknowledged_at.is_some() || resolved,
            ),
            (
                Target::FirstResponse,
                before.first_responded_at.is_none() && after.first_responded_at.is_some()
                    || resolved,
            ),
            (Target::Resolution, resolved),
        ]
        .into_iter()
        .filter(|&(_, reached)| reached)
        .map(|(target, _)| target)
        .collect();
        let (mut met, mut late) = (Vec::new(), Vec::new());
        for clock in sla
            .clocks
            .iter_mut()
            .filter(|c| !c.is_reached() && reached.contains(&c.target))
        {
            let breach_recorded = clock.state == ClockState::Breached;
            clock.stop(self.now, self.by());
            match clock.state {
                ClockState::Met => met.push(clock.target),
                _ if !breach_recorded => late.push(clock.target),
                _ => {}
            }
        }
        self.record(EventType::SlaMet, met, "target reached in time".into());
        self.record(
            EventType::SlaBreached,
            late,
            "target reached after its due time".into(),
        );
    }

    /// The end of the wait on the customer resumes the paused clocks with what was left.
    fn resume_after_waiting(&mut self, before: &Ticket, after: &Ticket, sla: &mut Sla) {
        if !waiting(before) || waiting(after) {
            return;
        }
        let mut resumed = Vec::new();
        for clock in sla
            .clocks
            .iter_mut()
            .filter(|c| c.state == ClockState::Paused)
        {
            clock.resume(self.now, self.by());
            resumed.push(clock.target);
        }
        self.record(
            EventType::SlaResumed,
            resumed,
            "no longer waiting on the customer".into(),
        );
    }
}

/// Whether the ticket waits on the customer.
fn waiting(ticket: &Ticket) -> bool {
    ticket.status == Status::PendingCustomer
}

/// The budgets of a policy in a line: `acknowledge 15 min, first response 1 h, resolution 1 d
/// of calendar time`.
fn budgets(terms: Terms) -> String {
    let t = terms.policy.targets;
    let basis = match terms.calendar {
        None => "calendar time".to_owned(),
        Some(calendar) => format!("business hours of calendar {calendar}"),
    };
    format!(
        "acknowledge {}, first response {}, resolution {} of {basis}",
        human(t.acknowledge),
        human(t.first_response),
        human(t.resolution)
    )
}

/// What the scheduler found on one ticket: the clocks that fired, and the escalation levels
/// they start.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Fired {
    pub at_risk: Vec<Target>,
    pub breached: Vec<Target>,
    /// 1-based level numbers with their level, in order.
    pub levels: Vec<(u32, EscalationLevel)>,
}

impl Fired {
    pub fn is_empty(&self) -> bool {
        self.at_risk.is_empty() && self.breached.is_empty()
    }
}

/// Marks the ticket's clocks at risk and breached as of `now`, each once, and picks the
/// escalation levels of `policy` that this starts. Raises the ticket's level to the highest.
pub fn check(sla: &mut Sla, policy: Option<&Policy>, now: DateTime<Utc>) -> Fired {
    let mut fired = Fired::default();
    let mut triggers = Vec::new();
    for clock in &mut sla.clocks {
        for trigger in clock.check(now) {
            triggers.push((clock.target, trigger));
            match trigger {
                Trigger::AtRisk => fired.at_risk.push(clock.target),
                Trigger::Breached => fired.breached.push(clock.target),
            }
        }
    }
    if let Some(policy) = policy {
        fired.levels = (1u32..)
            .zip(&policy.escalations)
            .filter(|(_, level)| triggers.contains(&(level.target, level.trigger)))
            .map(|(n, level)| (n, level.clone()))
            .collect();
    }
    if let Some(&(highest, _)) = fired.levels.last() {
        sla.escalation_level = sla.escalation_level.max(highest);
    }
    fired
}

/// Why a clock's due time is what it is, in a sentence.
pub fn explain(
    clock: &SlaClock,
    calendar_id: Option<&str>,
    calendar: &Calendar,
    now: DateTime<Utc>,
) -> String {
    let basis = match calendar_id {
        None => "calendar time (24×7)".to_owned(),
        Some(id) => format!("business hours of calendar {id}: {}", calendar.describe()),
    };
    let elapsed = clock.elapsed(now, calendar);
    let paused = clock.paused(now);
    let mut text = format!(
        "{} of {basis}, started {}; {} used",
        human(clock.budget),
        rfc3339(clock.started_at),
        human(elapsed)
    );
    if paused > Duration::zero() {
        text += &format!(", {} paused waiting on the customer", human(paused));
    }
    match (clock.state, clock.due, clock.stopped_at) {
        (ClockState::Running, Some(due), _) => {
            // Used and left are both as of now, so they add up to the budget.
            if let Some(since) = clock.running_since.filter(|&at| at != clock.started_at) {
                text += &format!("; counting again since {}", rfc3339(since));
            }
            let left = clock.budget - elapsed;
            text += &if left >= Duration::zero() {
                format!("; {} left, due {}", human(left), rfc3339(due))
            } else {
                format!("; came due {} ({} over)", rfc3339(due), human(-left))
            };
        }
        (ClockState::Running, None, _) => text += "; the calendar has no working time left",
        (ClockState::Paused, ..) => {
            text += &format!(
                "; paused since {} with {} left",
                rfc3339(clock.paused_since.unwrap_or(now)),
                human((clock.budget - clock.used).max(Duration::zero()))
            )
        }
        (ClockState::Met, _, Some(at)) => text += &format!("; met at {}", rfc3339(at)),
        (ClockState::Breached, due, reached) => {
            if let Some(due) = due {
                text += &format!("; came due {}", rfc3339(due));
            }
            let over = human(elapsed - clock.budget);
            text += &match reached {
                Some(at) => format!(", reached at {} ({over} over)", rfc3339(at)),
                None => format!(", not reached yet ({over} over)"),
            };
        }
        _ => {}
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::ticket::Customer;
    use chrono::TimeZone;

    /// Monday to Friday 09:00–18:00 UTC.
    fn office() -> Calendar {
        Calendar::office_hours(chrono_tz::UTC)
    }

    fn by(calendar: &Calendar) -> Counting<'_> {
        Counting {
            calendar,
            at_risk_share: 0.8,
        }
    }

    fn at(d: u32, h: u32, m: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, d, h, m, 0).unwrap()
    }

    #[test]
    fn runs_pauses_resumes_and_meets() {
        let cal = office();
        // Monday 23 November 16:00, four working hours: due Tuesday 11:00.
        let mut clock = SlaClock::start(
            Target::Resolution,
            Duration::hours(4),
            at(23, 16, 0),
            by(&cal),
        );
        assert_eq!(clock.due, Some(at(24, 11, 0)));
        // Waiting on the customer from 17:00 Monday to 10:00 Wednesday: one hour used.
        clock.pause(at(23, 17, 0), &cal);
        assert_eq!((clock.state, clock.due), (ClockState::Paused, None));
        assert_eq!(clock.wake_at(), None, "a paused clock needs no scheduler");
        assert_eq!(clock.elapsed(at(25, 9, 0), &cal), Duration::hours(1));
        clock.resume(at(25, 10, 0), by(&cal));
        assert_eq!(clock.paused(at(25, 10, 0)), Duration::hours(41));
        // Three hours left from Wednesday 10:00.
        assert_eq!(clock.due, Some(at(25, 13, 0)));
        clock.stop(at(25, 12, 0), by(&cal));
        assert_eq!(
            (clock.state, clock.elapsed(at(26, 12, 0), &cal)),
            (ClockState::Met, Duration::hours(3))
        );
    }

    #[test]
    fn at_risk_then_breached_once_each() {
        let cal = Calendar::always();
        let mut clock = SlaClock::start(
            Target::Acknowledge,
            Duration::minutes(15),
            at(23, 10, 0),
            by(&cal),
        );
        assert_eq!(clock.wake_at(), Some(at(23, 10, 12)), "80 % of 15 minutes");
        assert_eq!(clock.check(at(23, 10, 11)), vec![]);
        assert_eq!(clock.check(at(23, 10, 12)), vec![Trigger::AtRisk]);
        assert_eq!(clock.check(at(23, 10, 13)), vec![]);
        assert_eq!(clock.wake_at(), Some(at(23, 10, 15)));
        assert_eq!(clock.check(at(23, 10, 15)), vec![Trigger::Breached]);
        assert_eq!(
            clock.check(at(23, 10, 16)),
            vec![],
            "a breach is reported once"
        );
        assert_eq!(
            (clock.state, clock.stopped_at, clock.wake_at()),
            (ClockState::Breached, None, None)
        );
        // Acknowledging late does not make it met; the overdue time counts until then.
        clock.stop(at(23, 10, 40), by(&cal));
        assert_eq!(
            (
                clock.state,
                clock.stopped_at,
                clock.elapsed(at(23, 11, 0), &cal)
            ),
            (
                ClockState::Breached,
                Some(at(23, 10, 40)),
                Duration::minutes(40)
            )
        );
        // A scheduler that was away fires both at once, in order.
        let mut away = SlaClock::start(
            Target::Acknowledge,
            Duration::minutes(15),
            at(23, 10, 0),
            by(&cal),
        );
        assert_eq!(
            away.check(at(23, 11, 0)),
            vec![Trigger::AtRisk, Trigger::Breached]
        );
        let mut late = SlaClock::start(
            Target::Acknowledge,
            Duration::minutes(15),
            at(23, 10, 0),
            by(&cal),
        );
        late.stop(at(23, 10, 20), by(&cal));
        assert_eq!(
            late.state,
            ClockState::Breached,
            "stopped after its due time without a check"
        );
    }

    #[test]
    fn a_new_budget_recounts_what_is_left() {
        let cal = Calendar::always();
        let mut clock = SlaClock::start(
            Target::FirstResponse,
            Duration::hours(24),
            at(23, 10, 0),
            by(&cal),
        );
        // Two hours in, a higher priority cuts the budget to four hours: two are left.
        clock.recount(Duration::hours(4), at(23, 12, 0), &cal, by(&cal));
        assert_eq!(clock.due, Some(at(23, 14, 0)));
        assert_eq!(clock.at_risk_at, Some(at(23, 13, 12)));
        clock.recount(Duration::hours(1), at(23, 12, 0), &cal, by(&cal));
        assert_eq!(
            clock.due,
            Some(at(23, 12, 0)),
            "over the new budget already: due now"
        );
        assert_eq!(
            clock.check(at(23, 12, 0)),
            vec![Trigger::AtRisk, Trigger::Breached]
        );
    }

    #[test]
    fn a_new_calendar_keeps_the_time_used_by_the_old() {
        let office = office();
        let always = Calendar::always();
        // Friday 27 November 17:00 with 4 h of office time: 1 h on Friday, due Monday 12:00.
        let mut clock = SlaClock::start(
            Target::Resolution,
            Duration::hours(4),
            at(27, 17, 0),
            by(&office),
        );
        assert_eq!(clock.due, Some(at(30, 12, 0)));
        // Moved to a team that works around the clock at 20:00: 1 h used, 3 h left from now.
        clock.recount(Duration::hours(4), at(27, 20, 0), &office, by(&always));
        assert_eq!(clock.due, Some(at(27, 23, 0)));
    }

    #[test]
    fn at_risk_at_a_share_of_the_budget_in_working_time() {
        let cal = office();
        let clock = SlaClock::start(
            Target::Resolution,
            Duration::hours(10),
            at(23, 9, 0),
            by(&cal),
        );
        // 80 % of ten working hours is eight: Monday 17:00.
        assert_eq!(clock.at_risk_at, Some(at(23, 17, 0)));
        assert_eq!(clock.due, Some(at(24, 10, 0)));
    }

    fn ticket(priority: Priority, kind: Kind, tier: Tier) -> Ticket {
        let customer = Customer {
            tier,
            ..Customer::default()
        };
        let mut t = crate::domain::ticket::sample(kind, customer, at(23, 10, 0));
        t.priority = priority;
        t
    }

    fn catalog() -> Catalog {
        let mut calendars = HashMap::new();
        calendars.insert(DEFAULT_CALENDAR.to_owned(), office());
        Catalog {
            policies: default_policies(at(1, 0, 0)),
            calendars,
            team_calendars: HashMap::new(),
            at_risk_share: 0.8,
        }
    }

    #[test]
    fn the_narrowest_policy_wins() {
        let mut catalog = catalog();
        let high = catalog.policies[1].clone();
        let narrow = |id: &str, kind, tier| Policy {
            id: id.into(),
            kind,
            tier,
            ..high.clone()
        };
        catalog.policies.push(narrow("vip", None, Some(Tier::Vip)));
        catalog
            .policies
            .push(narrow("complaints", Some(Kind::Complaint), None));
        catalog.policies.push(narrow(
            "vip-complaints",
            Some(Kind::Complaint),
            Some(Tier::Vip),
        ));
        let pick = |p, k, t| catalog.policy_for(&ticket(p, k, t)).unwrap().id.clone();
        assert_eq!(
            pick(Priority::High, Kind::Complaint, Tier::Vip),
            "vip-complaints"
        );
        assert_eq!(
            pick(Priority::High, Kind::Complaint, Tier::Standard),
            "complaints"
        );
        assert_eq!(pick(Priority::High, Kind::Problem, Tier::Vip), "vip");
        assert_eq!(pick(Priority::High, Kind::Problem, Tier::Standard), "high");
        assert_eq!(pick(Priority::Low, Kind::Complaint, Tier::Vip), "low");
    }

    #[test]
    fn clocks_follow_the_ticket() {
        let catalog = catalog();
        // A HIGH ticket on Monday 10:00 in office hours: ack 1 h, response 4 h, resolution 3 d.
        let mut t = ticket(Priority::High, Kind::Complaint, Tier::Standard);
        let started = follow(None, &mut t, &catalog, at(23, 10, 0));
        assert_eq!(started[0].event, EventType::SlaStarted);
        assert_eq!(t.sla.policy.as_deref(), Some("high"));
        assert_eq!(t.sla.calendar.as_deref(), Some(DEFAULT_CALENDAR));
        assert_eq!(t.sla.off_hours_until, None);
        let due = |t: &Ticket, target| t.sla.clock(target).unwrap().due;
        assert_eq!(due(&t, Target::Acknowledge), Some(at(23, 11, 0)));
        assert_eq!(due(&t, Target::FirstResponse), Some(at(23, 14, 0)));
        // Three days are 72 working hours: eight 9-hour days from Monday 10:00.
        assert_eq!(
            due(&t, Target::Resolution),
            Some(Utc.with_ymd_and_hms(2026, 12, 3, 10, 0, 0).unwrap())
        );
        assert_eq!(t.sla.wake_at(), Some(at(23, 10, 48)));

        // Acknowledged at 10:30: met.
        let mut next = t.clone();
        next.acknowledged_at = Some(at(23, 10, 30));
        next.status = Status::Acknowledged;
        let changes = follow(Some(&t), &mut next, &catalog, at(23, 10, 30));
        assert_eq!(
            changes,
            vec![ClockChange {
                event: EventType::SlaMet,
                targets: vec![Target::Acknowledge],
                reason: "target reached in time".into()
            }]
        );
        t = next;

        // Waiting on the customer from 11:00 to Tuesday 11:00: both open clocks pause.
        let mut next = t.clone();
        next.status = Status::PendingCustomer;
        let changes = follow(Some(&t), &mut next, &catalog, at(23, 11, 0));
        assert_eq!(changes[0].event, EventType::SlaPaused);
        assert_eq!(
            changes[0].targets,
            vec![Target::FirstResponse, Target::Resolution]
        );
        assert_eq!(next.sla.wake_at(), None);
        t = next;
        let mut next = t.clone();
        next.status = Status::InProgress;
        let changes = follow(Some(&t), &mut next, &catalog, at(24, 11, 0));
        assert_eq!(changes[0].event, EventType::SlaResumed);
        // One of four hours used: three left from Tuesday 11:00.
        assert_eq!(due(&next, Target::FirstResponse), Some(at(24, 14, 0)));
        t = next;

        // Raised to URGENT at 12:00: calendar time, 1 h to respond with 2 h used already.
        let mut next = t.clone();
        next.priority = Priority::Urgent;
        let changes = follow(Some(&t), &mut next, &catalog, at(24, 12, 0));
        assert_eq!(changes[0].event, EventType::SlaRecomputed);
        assert!(
            changes[0]
                .reason
                .starts_with("priority HIGH → URGENT: policy urgent"),
            "{}",
            changes[0].reason
        );
        assert_eq!(next.sla.calendar, None);
        assert_eq!(due(&next, Target::FirstResponse), Some(at(24, 12, 0)));
        t = next;

        // Resolved at 13:00: resolution met, first response reached (late) with it.
        let mut next = t.clone();
        next.status = Status::Resolved;
        let changes = follow(Some(&t), &mut next, &catalog, at(24, 13, 0));
        let events: Vec<_> = changes
            .iter()
            .map(|c| (c.event, c.targets.clone()))
            .collect();
        assert_eq!(
            events,
            vec![
                (EventType::SlaMet, vec![Target::Resolution]),
                (EventType::SlaBreached, vec![Target::FirstResponse]),
            ]
        );
        t = next;

        // Reopened on Wednesday: resolution starts again with the full budget.
        let mut next = t.clone();
        next.status = Status::Reopened;
        let changes = follow(Some(&t), &mut next, &catalog, at(25, 9, 0));
        assert_eq!(changes[0].event, EventType::SlaRestarted);
        let clock = next.sla.clock(Target::Resolution).unwrap();
        assert_eq!(
            (clock.state, clock.due),
            (ClockState::Running, Some(at(26, 9, 0)))
        );
    }

    #[test]
    fn an_overdue_clock_is_not_paused_and_counts_until_reached() {
        let catalog = catalog();
        let mut t = ticket(Priority::Urgent, Kind::Problem, Tier::Standard);
        follow(None, &mut t, &catalog, at(23, 10, 0));
        let mut acknowledged = t.clone();
        acknowledged.acknowledged_at = Some(at(23, 10, 5));
        acknowledged.status = Status::Acknowledged;
        follow(Some(&t), &mut acknowledged, &catalog, at(23, 10, 5));
        let t = acknowledged;
        // Twenty minutes past its 1-hour first response, the ticket starts waiting: the
        // resolution clock pauses, the overdue one keeps running for the scheduler.
        let mut next = t.clone();
        next.status = Status::PendingCustomer;
        let changes = follow(Some(&t), &mut next, &catalog, at(23, 11, 20));
        assert_eq!(changes[0].targets, vec![Target::Resolution]);
        let policy = catalog.policy_for(&next).cloned();
        let fired = check(&mut next.sla, policy.as_ref(), at(23, 11, 21));
        assert_eq!(fired.breached, vec![Target::FirstResponse]);
        // Answered at 11:30: reached late, half an hour over, and no second breach.
        let before = next.clone();
        next.first_responded_at = Some(at(23, 11, 30));
        let changes = follow(Some(&before), &mut next, &catalog, at(23, 11, 30));
        assert!(changes.is_empty(), "{changes:?}");
        let clock = next.sla.clock(Target::FirstResponse).unwrap();
        assert_eq!(
            (clock.state, clock.stopped_at),
            (ClockState::Breached, Some(at(23, 11, 30)))
        );
        assert_eq!(clock.used(), Duration::minutes(90));
    }

    #[test]
    fn a_larger_budget_warns_again() {
        let cal = Calendar::always();
        let mut clock = SlaClock::start(
            Target::Resolution,
            Duration::hours(1),
            at(23, 10, 0),
            by(&cal),
        );
        assert_eq!(clock.check(at(23, 10, 50)), vec![Trigger::AtRisk]);
        clock.recount(Duration::hours(4), at(23, 10, 50), &cal, by(&cal));
        assert!(!clock.warned);
        assert_eq!(clock.at_risk_at, Some(at(23, 13, 12)));
    }

    #[test]
    fn a_ticket_from_before_slas_starts_where_it_stands() {
        let catalog = catalog();
        let mut old = ticket(Priority::High, Kind::Problem, Tier::Standard);
        old.acknowledged_at = Some(at(20, 9, 0));
        old.status = Status::InProgress;
        let mut next = old.clone();
        next.status = Status::PendingCustomer;
        follow(Some(&old), &mut next, &catalog, at(23, 10, 0));
        let states: Vec<_> = next.sla.clocks.iter().map(|c| c.state).collect();
        assert_eq!(
            states,
            vec![ClockState::Met, ClockState::Paused, ClockState::Paused]
        );
        assert_eq!(next.sla.wake_at(), None);
        // Resolved before SLAs were kept: nothing to count.
        let mut done = old.clone();
        done.status = Status::Resolved;
        let mut closed = done.clone();
        closed.status = Status::Closed;
        assert!(follow(Some(&done), &mut closed, &catalog, at(23, 10, 0)).is_empty());
        assert!(closed.sla.clocks.is_empty());
    }

    #[test]
    fn a_ticket_taken_in_off_hours_knows_when_the_team_is_back() {
        let catalog = catalog();
        let mut t = ticket(Priority::Medium, Kind::Problem, Tier::Standard);
        // Saturday 28 November 22:00: the office opens Monday 09:00.
        follow(None, &mut t, &catalog, at(28, 22, 0));
        assert_eq!(t.sla.off_hours_until, Some(at(30, 9, 0)));
        assert_eq!(t.sla.zone.as_deref(), Some("UTC"));
        assert_eq!(
            t.sla.clock(Target::FirstResponse).unwrap().due,
            Some(Utc.with_ymd_and_hms(2026, 12, 2, 15, 0, 0).unwrap()),
            "24 working hours from Monday 09:00: Wednesday 15:00"
        );
    }

    #[test]
    fn escalation_levels_follow_what_fired() {
        let catalog = catalog();
        let mut t = ticket(Priority::Urgent, Kind::Complaint, Tier::Standard);
        follow(None, &mut t, &catalog, at(23, 10, 0));
        let policy = catalog.policy_for(&t).cloned();
        let fired = check(&mut t.sla, policy.as_ref(), at(23, 10, 12));
        assert_eq!(
            (fired.at_risk, fired.levels.len()),
            (vec![Target::Acknowledge], 0)
        );
        assert!(t.sla.at_risk());
        let fired = check(&mut t.sla, policy.as_ref(), at(23, 10, 15));
        assert_eq!(fired.breached, vec![Target::Acknowledge]);
        assert_eq!(fired.levels[0].0, 1);
        assert_eq!(
            fired.levels[0].1.actions,
            vec![EscalationAction::NotifySupervisor]
        );
        assert_eq!(t.sla.escalation_level, 1);
        assert!(t.sla.breached());
        assert!(check(&mut t.sla, policy.as_ref(), at(23, 10, 16)).is_empty());
        // The first response misses too: level 2.
        let fired = check(&mut t.sla, policy.as_ref(), at(23, 11, 0));
        assert_eq!(fired.breached, vec![Target::FirstResponse]);
        assert_eq!(fired.levels[0].0, 2);
        assert_eq!(t.sla.escalation_level, 2);
    }

    #[test]
    fn explains_a_due_time() {
        let cal = office();
        let mut clock = SlaClock::start(
            Target::Resolution,
            Duration::hours(4),
            at(23, 16, 0),
            by(&cal),
        );
        clock.pause(at(23, 17, 0), &cal);
        clock.resume(at(25, 10, 0), by(&cal));
        let sla = Sla {
            calendar: Some(DEFAULT_CALENDAR.into()),
            ..Sla::default()
        };
        assert_eq!(
            explain(&clock, sla.calendar.as_deref(), &cal, at(25, 11, 0)),
            "4 h of business hours of calendar default: Mon–Fri 09:00–18:00 (UTC), started \
             2026-11-23T16:00:00Z; 2 h used, 1 d 17 h paused waiting on the customer; counting \
             again since 2026-11-25T10:00:00Z; 2 h left, due 2026-11-25T13:00:00Z"
        );
        assert_eq!(
            explain(&clock, sla.calendar.as_deref(), &cal, at(25, 14, 30)),
            "4 h of business hours of calendar default: Mon–Fri 09:00–18:00 (UTC), started \
             2026-11-23T16:00:00Z; 5 h 30 min used, 1 d 17 h paused waiting on the customer; \
             counting again since 2026-11-25T10:00:00Z; came due 2026-11-25T13:00:00Z \
             (1 h 30 min over)"
        );
    }
}

//! SLA: policies and calendars with what must hold for them, the explanation of a ticket's
//! clocks, and the scheduler's pass that records clocks at risk or breached, once each, and
//! runs the escalation levels they start.

use chrono::{DateTime, Duration, Utc};

use super::admin::{Change as Changing, Resource};
use super::tickets::On;
use super::{App, created_or_there};
use crate::domain::access::{Caller, Principal};
use crate::domain::calendar::{BusinessCalendar, Calendar, CalendarError, DEFAULT_CALENDAR};
use crate::domain::error::Refusal;
use crate::domain::escalation::{self, Staff};
use crate::domain::event::{EventType, TicketEvent, actor};
use crate::domain::idempotency::Requested;
use crate::domain::patch::Patch;
use crate::domain::sla::{self, Catalog, Policy, SlaClock, default_policies, fallback_needed};
use crate::domain::task::Task;
use crate::domain::ticket::Ticket;
use crate::error::{Error, Found, Result};
use crate::store::{Inserted, Store, TaskFilter, TeamLock, Write};

/// Tickets looked at per scheduler read: a pass repeats until fewer come due.
pub(crate) const BATCH: u64 = 500;

impl Resource for Policy {
    const KIND: &'static str = "SLA policy";
    type Key = str;

    fn key(&self) -> String {
        self.id.clone()
    }

    async fn lock(store: &Store, write: &Write, key: &str) -> Result<Option<Policy>> {
        store.lock_policy(write, key).await
    }

    async fn insert(
        &mut self,
        store: &Store,
        write: &Write,
        _: Option<&Requested>,
    ) -> Result<Inserted> {
        store.insert_policy(write, self).await
    }

    async fn update(store: &Store, write: &Write, _: &Policy, after: &Policy) -> Result<()> {
        store.update_policy(write, after).await
    }

    async fn delete(&self, store: &Store, write: &Write) -> Result<()> {
        store.delete_policy(write, &self.id).await
    }

    async fn guard(app: &App, write: &Write, change: Changing<'_, Policy>) -> Result<()> {
        let policy = match change {
            Changing::Create(policy) => policy,
            Changing::Update { before, after } => {
                if before.is_fallback() && !after.is_fallback() || before.priority != after.priority
                {
                    return Err(fallback_needed(before).into());
                }
                after
            }
            Changing::Delete(policy) if policy.is_fallback() => {
                return Err(fallback_needed(policy).into());
            }
            Changing::Delete(_) => return Ok(()),
        };
        if let Some(other) = app.store.policy_of_same_scope(write, policy).await? {
            return Err(Error::precondition(
                format!("SLA policy {}", policy.id),
                format!(
                    "policy {other} already covers {}: change that one instead",
                    policy.scope()
                ),
            ));
        }
        for team in policy.escalations.iter().filter_map(|l| l.team.as_ref()) {
            if !app
                .store
                .missing_teams(write, std::slice::from_ref(team))
                .await?
                .is_empty()
            {
                return Err(Refusal::not_found("team", team).into());
            }
        }
        Ok(())
    }
}

impl Resource for BusinessCalendar {
    const KIND: &'static str = "calendar";
    type Key = str;

    fn key(&self) -> String {
        self.id.clone()
    }

    async fn lock(store: &Store, write: &Write, key: &str) -> Result<Option<BusinessCalendar>> {
        store.lock_calendar(write, key).await
    }

    async fn insert(
        &mut self,
        store: &Store,
        write: &Write,
        _: Option<&Requested>,
    ) -> Result<Inserted> {
        store.insert_calendar(write, self).await
    }

    async fn update(store: &Store, write: &Write, _: &Self, after: &Self) -> Result<()> {
        store.update_calendar(write, after).await
    }

    async fn delete(&self, store: &Store, write: &Write) -> Result<()> {
        store.delete_calendar(write, &self.id).await
    }

    async fn guard(app: &App, write: &Write, change: Changing<'_, BusinessCalendar>) -> Result<()> {
        match change {
            // Periods and days only make sense together: an update is checked as a whole.
            Changing::Create(c) | Changing::Update { after: c, .. } => {
                c.calendar.check().map_err(|e| calendar_refusal(&e).into())
            }
            Changing::Delete(c) => {
                let refuse =
                    |why: String| Err(Error::precondition(format!("calendar {}", c.id), why));
                if c.id == DEFAULT_CALENDAR {
                    return refuse(
                        "it is the default, used by teams that name no calendar; change its \
                         hours instead"
                            .into(),
                    );
                }
                let teams = app.store.teams_working_by(write, &c.id).await?;
                if !teams.is_empty() {
                    return refuse(format!("teams work by it: {}", teams.join(", ")));
                }
                Ok(())
            }
        }
    }
}

/// A calendar that cannot be used as given, named by the field at fault.
fn calendar_refusal(error: &CalendarError) -> Refusal {
    Refusal::invalid(format!("calendar.{}", error.field()), error.to_string())
}

/// Why each of a ticket's clocks stands where it does, as of `as_of`.
#[derive(Debug, Clone)]
pub struct Explanation {
    pub ticket: Ticket,
    pub policy: Option<Policy>,
    /// The calendar the clocks count by, with its description; `None`: calendar time.
    pub calendar: Option<(String, String)>,
    pub clocks: Vec<ClockExplanation>,
    /// Every SLA event of the ticket, oldest first.
    pub timeline: Vec<TicketEvent>,
    /// The clocks of its tasks, oldest task first.
    pub tasks: Vec<TaskClocks>,
    pub as_of: DateTime<Utc>,
}

/// One clock as of now.
#[derive(Debug, Clone)]
pub struct ClockExplanation {
    pub clock: SlaClock,
    pub elapsed: Duration,
    /// Negative once overdue; zero once the target is reached.
    pub remaining: Duration,
    pub why: String,
}

impl ClockExplanation {
    /// `clock` as of `now`, counted by `calendar` (named `calendar_id`; `None`: 24×7).
    fn of(
        clock: &SlaClock,
        calendar_id: Option<&str>,
        calendar: &Calendar,
        now: DateTime<Utc>,
    ) -> Self {
        ClockExplanation {
            clock: clock.clone(),
            elapsed: clock.elapsed(now, calendar),
            remaining: if clock.is_reached() {
                Duration::zero()
            } else {
                clock.remaining(now, calendar)
            },
            why: sla::explain(clock, calendar_id, calendar, now),
        }
    }
}

/// Most tasks ExplainSla shows: every task a ticket may hold open, and some finished.
const MAX_TASKS_EXPLAINED: u32 = 100;

/// A task's two clocks as of now.
#[derive(Debug, Clone)]
pub struct TaskClocks {
    pub task: Task,
    pub accept: ClockExplanation,
    pub answer: ClockExplanation,
}

/// What one scheduler pass did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Pass {
    /// Tickets whose clocks were looked at.
    pub tickets: usize,
    /// Events recorded.
    pub events: usize,
}

impl App {
    pub async fn create_policy(&self, by: &Caller, policy: Policy) -> Result<Policy> {
        self.create(policy, None, by).await
    }

    pub async fn policy(&self, id: &str) -> Result<Policy> {
        self.store.policy(id).await?.found(Policy::KIND, id)
    }

    pub async fn list_policies(&self, after: Option<String>, limit: u64) -> Result<Vec<Policy>> {
        self.store.list_policies(after.as_deref(), limit).await
    }

    /// Changes a policy; tickets follow its new terms from their next change on.
    pub async fn update_policy(
        &self,
        by: &Caller,
        id: &str,
        etag: Option<&str>,
        patch: &Patch<Policy>,
    ) -> Result<Policy> {
        self.update(id, etag, patch, by).await
    }

    pub async fn delete_policy(&self, by: &Caller, id: &str, etag: Option<&str>) -> Result<()> {
        self.delete::<Policy>(id, etag, by).await
    }

    pub async fn create_calendar(
        &self,
        by: &Caller,
        calendar: BusinessCalendar,
    ) -> Result<BusinessCalendar> {
        self.create(calendar, None, by).await
    }

    pub async fn calendar(&self, id: &str) -> Result<BusinessCalendar> {
        self.store
            .calendar(id)
            .await?
            .found(BusinessCalendar::KIND, id)
    }

    pub async fn list_calendars(
        &self,
        after: Option<String>,
        limit: u64,
    ) -> Result<Vec<BusinessCalendar>> {
        self.store.list_calendars(after.as_deref(), limit).await
    }

    /// Changes a calendar; tickets count by the new hours from their next change on.
    pub async fn update_calendar(
        &self,
        by: &Caller,
        id: &str,
        etag: Option<&str>,
        patch: &Patch<BusinessCalendar>,
    ) -> Result<BusinessCalendar> {
        self.update(id, etag, patch, by).await
    }

    pub async fn delete_calendar(&self, by: &Caller, id: &str, etag: Option<&str>) -> Result<()> {
        self.delete::<BusinessCalendar>(id, etag, by).await
    }

    /// Refuses a team's calendar that does not exist.
    pub(super) async fn check_calendar(&self, write: &Write, id: Option<&str>) -> Result<()> {
        match id {
            Some(id) if !self.store.calendar_exists(write, id).await? => {
                Err(Refusal::not_found(BusinessCalendar::KIND, id).into())
            }
            _ => Ok(()),
        }
    }

    /// What the clocks are counted by, read inside `write`.
    pub(crate) async fn catalog_in(&self, write: &Write) -> Result<Catalog> {
        let mut catalog = self.store.catalog_in(write).await?;
        catalog.at_risk_share = self.settings.sla_at_risk;
        Ok(catalog)
    }

    async fn catalog(&self) -> Result<Catalog> {
        let mut catalog = self.store.catalog().await?;
        catalog.at_risk_share = self.settings.sla_at_risk;
        Ok(catalog)
    }

    /// Why each of a ticket's clocks stands where it does now, with every SLA event.
    pub async fn explain_sla(&self, ticket_id: i64, by: &Principal) -> Result<Explanation> {
        let now = self.now();
        let ticket = self.visible_ticket(ticket_id, by).await?;
        let catalog = self.catalog().await?;
        let s = &ticket.sla;
        let calendar = catalog.calendar(s.calendar.as_deref());
        let clocks = s
            .clocks
            .iter()
            .map(|c| ClockExplanation::of(c, s.calendar.as_deref(), &calendar, now))
            .collect();
        let filter = TaskFilter {
            ticket_id: Some(ticket_id),
            ..TaskFilter::default()
        };
        let tasks = self
            .store
            .list_tasks(&filter, 0, u64::from(MAX_TASKS_EXPLAINED))
            .await?
            .into_iter()
            .map(|task| {
                let calendar = catalog.calendar(task.calendar.as_deref());
                let id = task.calendar.as_deref();
                TaskClocks {
                    accept: ClockExplanation::of(&task.clocks.accept, id, &calendar, now),
                    answer: ClockExplanation::of(&task.clocks.answer, id, &calendar, now),
                    task,
                }
            })
            .collect();
        let policy = s
            .policy
            .as_deref()
            .and_then(|id| catalog.policies.iter().find(|p| p.id == id))
            .cloned();
        Ok(Explanation {
            calendar: s
                .calendar
                .as_ref()
                .map(|id| (id.clone(), calendar.describe())),
            policy,
            clocks,
            timeline: self.store.sla_events(ticket_id).await?,
            tasks,
            as_of: now,
            ticket,
        })
    }

    /// One scheduler pass over the tickets whose clocks need a look by now. A ticket that
    /// fails (its transaction lost a race, say) is left for the next pass.
    pub async fn sla_pass(&self) -> Result<Pass> {
        let now = self.now();
        let catalog = self.catalog().await?;
        let mut pass = Pass::default();
        loop {
            let due = self.store.sla_due(now, BATCH).await?;
            let mut progress = false;
            for &id in &due {
                match self.fire(id, &catalog, now).await {
                    Ok(events) => {
                        progress |= events > 0;
                        pass.events += events;
                    }
                    Err(error) => tracing::warn!(ticket = id, %error, "SLA check failed"),
                }
            }
            pass.tickets += due.len();
            // Tickets left as they were (moved meanwhile, or failing) wait for the next pass.
            if due.len() < BATCH as usize || !progress {
                pass.events += self.task_pass(now).await?;
                return Ok(pass);
            }
        }
    }

    /// Records what the ticket's clocks reached by `now`: SLA_AT_RISK and SLA_BREACHED once
    /// per clock, then each escalation level they start, with its actions, in one
    /// transaction. Another instance that looked at the same ticket finds nothing left to
    /// record. Returns the number of events recorded.
    async fn fire(&self, id: i64, catalog: &Catalog, now: DateTime<Utc>) -> Result<usize> {
        let Some(read) = self.store.ticket(id).await? else {
            return Ok(0);
        };
        let policy = catalog.policy_for(&read).cloned();
        let mut preview = read.sla.clone();
        let levels = sla::check(&mut preview, policy.as_ref(), now).levels;
        // Teams and agents come before the ticket in the lock order: lock the ones the levels
        // may hand the ticket to, then check the ticket still is where it was read.
        let write = self.store.begin().await?;
        let staff = self
            .lock_staff(&write, &read, levels.iter().map(|(_, l)| l))
            .await?;
        let Some(mut ticket) = self.store.lock_ticket(&write, id).await? else {
            return Ok(0);
        };
        if ticket.version != read.version {
            // Changed meanwhile (moved, or its clocks recounted): the next pass looks again.
            return Ok(0);
        }
        let fired = sla::check(&mut ticket.sla, policy.as_ref(), now);
        if fired.is_empty() {
            return Ok(0);
        }
        let before = ticket.clone();
        crate::domain::error::Versioned::bump(&mut ticket, now);
        self.store.update_ticket(&write, &before, &ticket).await?;
        let mut events = Vec::new();
        for (event_type, targets, reason) in [
            (
                EventType::SlaAtRisk,
                fired.at_risk,
                format!("{:.0} % of the target used", catalog.at_risk_share * 100.0),
            ),
            (
                EventType::SlaBreached,
                fired.breached,
                "due with the target not reached".to_owned(),
            ),
        ] {
            if !targets.is_empty() {
                events.push(sla::sla_event(&ticket, event_type, targets, reason, now));
            }
        }
        let mut recorded = self.record_events(&write, &events).await?.len();
        let on = On::system(id, actor::SLA);
        for (level, escalation) in &fired.levels {
            let changed = self
                .change_in(&write, &on, now, |t| {
                    Ok(escalation::escalate(t, *level, escalation, &staff, now))
                })
                .await?;
            recorded += changed.events.len();
        }
        self.store.commit(write).await?;
        Ok(recorded)
    }

    /// Locks the teams escalation `levels` may move the ticket to or whose supervisor they may
    /// hand it to, with those supervisors' agent rows.
    async fn lock_staff<'a>(
        &self,
        write: &Write,
        ticket: &Ticket,
        levels: impl IntoIterator<Item = &'a sla::EscalationLevel>,
    ) -> Result<Staff> {
        let mut staff = Staff::default();
        for id in escalation::teams_involved(ticket, levels) {
            if let Some(team) = self.store.lock_team(write, &id, TeamLock::Keep).await? {
                staff.supervisors.insert(id, team.supervisor);
            }
        }
        let supervisors: Vec<String> = staff.supervisors.values().flatten().cloned().collect();
        staff.agents = self
            .store
            .lock_agents(write, &supervisors)
            .await?
            .into_iter()
            .map(|a| (a.id.clone(), a))
            .collect();
        Ok(staff)
    }

    /// The default calendar (office hours in the service's zone) and one policy per priority,
    /// installed on first start.
    pub(super) async fn install_sla_defaults(&self) -> Result<()> {
        let now = self.now();
        if self.store.calendar(DEFAULT_CALENDAR).await?.is_none() {
            let calendar = BusinessCalendar {
                id: DEFAULT_CALENDAR.into(),
                display_name: "Office hours".into(),
                calendar: Calendar::office_hours(self.settings.zone),
                version: 1,
                created_at: now,
                updated_at: now,
            };
            created_or_there(self.create(calendar, None, &Caller::system()).await)?;
        }
        if !self.store.has_policies().await? {
            for policy in default_policies(now) {
                created_or_there(self.create(policy, None, &Caller::system()).await)?;
            }
        }
        Ok(())
    }
}

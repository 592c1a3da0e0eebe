//! SLA: policies and business calendars, the clocks kept in step with every ticket change,
//! and the scheduler's pass over the clocks coming due, with its escalations.

use std::collections::{BTreeSet, HashMap};

use chrono::{DateTime, Utc};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DbBackend, EntityTrait, PaginatorTrait,
    QueryFilter, QueryOrder, QuerySelect, sea_query::LockType,
};

use super::entity::{calendar as stored_calendar, sla_policy, team, ticket};
use super::routing::check_can_take;
use super::staff::taken;
use super::tickets::Note;
use super::{Store, Write, check_etag, convert, created_or_there};
use crate::domain::calendar::{BusinessCalendar, DEFAULT_CALENDAR};
use crate::domain::event::{Escalation, EventType, SlaNote, TicketEvent};
use crate::domain::lifecycle::{self, Action};
use crate::domain::priority::one_step_up;
use crate::domain::sla::{self, Catalog, ClockChange, EscalationAction, EscalationLevel, Policy};
use crate::domain::staff::Agent;
use crate::domain::ticket::Ticket;
use crate::error::{Error, Result};

/// The actor recorded for what the SLA scheduler does to tickets.
pub const SLA: &str = "sla";

impl Store {
    // --- Calendars ---

    /// Installs the default calendar and policies unless they exist; for the first start.
    pub async fn ensure_sla_defaults(
        &self,
        calendar: BusinessCalendar,
        policies: Vec<Policy>,
    ) -> Result<()> {
        if stored_calendar::Entity::find_by_id(DEFAULT_CALENDAR)
            .one(&self.db)
            .await?
            .is_none()
        {
            created_or_there(self.create_calendar(calendar).await)?;
        }
        if sla_policy::Entity::find().one(&self.db).await?.is_none() {
            for policy in policies {
                created_or_there(self.create_policy(policy).await)?;
            }
        }
        Ok(())
    }

    pub async fn create_calendar(&self, calendar: BusinessCalendar) -> Result<BusinessCalendar> {
        let write = self.begin().await?;
        convert::calendar_row(&calendar)
            .insert(write.conn())
            .await
            .map_err(taken("calendar", &calendar.id))?;
        self.commit(write).await?;
        self.get_calendar(&calendar.id).await
    }

    pub async fn get_calendar(&self, id: &str) -> Result<BusinessCalendar> {
        let row = stored_calendar::Entity::find_by_id(id)
            .one(&self.db)
            .await?;
        convert::calendar(row.ok_or_else(|| Error::not_found("calendar", id))?)
    }

    /// Up to `limit` calendars by id, after `after`.
    pub async fn list_calendars(
        &self,
        after: Option<&str>,
        limit: u64,
    ) -> Result<Vec<BusinessCalendar>> {
        let mut query = stored_calendar::Entity::find().order_by_asc(stored_calendar::Column::Id);
        if let Some(after) = after {
            query = query.filter(stored_calendar::Column::Id.gt(after));
        }
        let rows = query.limit(limit).all(&self.db).await?;
        rows.into_iter().map(convert::calendar).collect()
    }

    /// Changes a calendar under its lock; `change` edits it. Tickets count by the new hours
    /// from their next change on.
    pub async fn update_calendar(
        &self,
        id: &str,
        etag: Option<&str>,
        now: DateTime<Utc>,
        change: impl FnOnce(&mut BusinessCalendar) -> Result<()>,
    ) -> Result<BusinessCalendar> {
        let write = self.begin().await?;
        let before = self.lock_calendar(&write, id).await?;
        check_etag(etag, before.etag())?;
        let mut after = before.clone();
        change(&mut after)?;
        if after == before {
            return Ok(before);
        }
        after.version += 1;
        after.updated_at = now;
        convert::calendar_row(&after).update(write.conn()).await?;
        self.commit(write).await?;
        Ok(after)
    }

    /// Deletes a calendar that is not the default and that no team works by.
    pub async fn delete_calendar(&self, id: &str, etag: Option<&str>) -> Result<()> {
        let refuse = |description: String| Error::FailedPrecondition {
            subject: format!("calendar {id}"),
            description,
        };
        if id == DEFAULT_CALENDAR {
            return Err(refuse(
                "it is the default, used by teams that name no calendar; change its hours \
                 instead"
                    .into(),
            ));
        }
        let write = self.begin().await?;
        let calendar = self.lock_calendar(&write, id).await?;
        check_etag(etag, calendar.etag())?;
        let teams: Vec<String> = team::Entity::find()
            .select_only()
            .column(team::Column::Id)
            .filter(team::Column::Calendar.eq(id))
            .order_by_asc(team::Column::Id)
            .into_tuple()
            .all(write.conn())
            .await?;
        if !teams.is_empty() {
            return Err(refuse(format!("teams work by it: {}", teams.join(", "))));
        }
        stored_calendar::Entity::delete_by_id(id)
            .exec(write.conn())
            .await?;
        self.commit(write).await
    }

    async fn lock_calendar(&self, write: &Write, id: &str) -> Result<BusinessCalendar> {
        let mut query = stored_calendar::Entity::find_by_id(id);
        if self.backend() == DbBackend::Postgres {
            query = query.lock(LockType::Update);
        }
        let row = query.one(write.conn()).await?;
        convert::calendar(row.ok_or_else(|| Error::not_found("calendar", id))?)
    }

    /// Refuses a team's calendar that does not exist, naming `field`.
    pub(crate) async fn check_calendar(&self, field: &str, id: Option<&str>) -> Result<()> {
        let Some(id) = id else { return Ok(()) };
        let found = stored_calendar::Entity::find_by_id(id)
            .count(&self.db)
            .await?;
        if found == 0 {
            return Err(Error::invalid(field, format!("there is no calendar {id}")));
        }
        Ok(())
    }

    // --- Policies ---

    pub async fn create_policy(&self, policy: Policy) -> Result<Policy> {
        let write = self.begin().await?;
        self.check_policy(&write, &policy).await?;
        convert::policy_row(&policy)
            .insert(write.conn())
            .await
            .map_err(taken("SLA policy", &policy.id))?;
        self.commit(write).await?;
        self.get_policy(&policy.id).await
    }

    pub async fn get_policy(&self, id: &str) -> Result<Policy> {
        let row = sla_policy::Entity::find_by_id(id).one(&self.db).await?;
        convert::policy(row.ok_or_else(|| Error::not_found("SLA policy", id))?)
    }

    /// Up to `limit` policies by id, after `after`.
    pub async fn list_policies(&self, after: Option<&str>, limit: u64) -> Result<Vec<Policy>> {
        let mut query = sla_policy::Entity::find().order_by_asc(sla_policy::Column::Id);
        if let Some(after) = after {
            query = query.filter(sla_policy::Column::Id.gt(after));
        }
        let rows = query.limit(limit).all(&self.db).await?;
        rows.into_iter().map(convert::policy).collect()
    }

    /// Changes a policy under its lock; `change` edits it. Tickets follow the new terms from
    /// their next change on.
    pub async fn update_policy(
        &self,
        id: &str,
        etag: Option<&str>,
        now: DateTime<Utc>,
        change: impl FnOnce(&mut Policy) -> Result<()>,
    ) -> Result<Policy> {
        let write = self.begin().await?;
        let before = self.lock_policy(&write, id).await?;
        check_etag(etag, before.etag())?;
        let mut after = before.clone();
        change(&mut after)?;
        if after == before {
            return Ok(before);
        }
        if before.is_fallback() && !after.is_fallback() || before.priority != after.priority {
            return Err(fallback_needed(&before));
        }
        self.check_policy(&write, &after).await?;
        after.version += 1;
        after.updated_at = now;
        convert::policy_row(&after).update(write.conn()).await?;
        self.commit(write).await?;
        Ok(after)
    }

    /// Deletes a policy narrowed to a kind or tier; a priority's fallback stays.
    pub async fn delete_policy(&self, id: &str, etag: Option<&str>) -> Result<()> {
        let write = self.begin().await?;
        let policy = self.lock_policy(&write, id).await?;
        check_etag(etag, policy.etag())?;
        if policy.is_fallback() {
            return Err(fallback_needed(&policy));
        }
        sla_policy::Entity::delete_by_id(id)
            .exec(write.conn())
            .await?;
        self.commit(write).await
    }

    async fn lock_policy(&self, write: &Write, id: &str) -> Result<Policy> {
        let mut query = sla_policy::Entity::find_by_id(id);
        if self.backend() == DbBackend::Postgres {
            query = query.lock(LockType::Update);
        }
        let row = query.one(write.conn()).await?;
        convert::policy(row.ok_or_else(|| Error::not_found("SLA policy", id))?)
    }

    /// Refuses a second policy for the same scope, and escalations to unknown teams.
    async fn check_policy(&self, write: &Write, policy: &Policy) -> Result<()> {
        let any = "";
        let same_scope = sla_policy::Entity::find()
            .filter(sla_policy::Column::Priority.eq(policy.priority.as_str()))
            .filter(sla_policy::Column::Kind.eq(policy.kind.map_or(any, |k| k.as_str())))
            .filter(sla_policy::Column::Tier.eq(policy.tier.map_or(any, |t| t.as_str())))
            .filter(sla_policy::Column::Id.ne(policy.id.as_str()))
            .one(write.conn())
            .await?;
        if let Some(other) = same_scope {
            return Err(Error::FailedPrecondition {
                subject: format!("SLA policy {}", policy.id),
                description: format!(
                    "policy {} already covers {}: change that one instead",
                    other.id,
                    policy.scope()
                ),
            });
        }
        let mut unknown = Vec::new();
        for (i, level) in policy.escalations.iter().enumerate() {
            if let Some(team_id) = &level.team
                && team::Entity::find_by_id(team_id.as_str())
                    .one(write.conn())
                    .await?
                    .is_none()
            {
                unknown.push(crate::error::FieldViolation::new(
                    format!("policy.escalation_levels[{i}].team"),
                    format!("there is no team {team_id}"),
                ));
            }
        }
        if !unknown.is_empty() {
            return Err(Error::InvalidArgument(unknown));
        }
        Ok(())
    }

    /// The ids of the policies whose escalations move tickets to `team`.
    pub(crate) async fn policies_escalating_to(
        &self,
        write: &Write,
        team: &str,
    ) -> Result<Vec<String>> {
        let policies = sla_policy::Entity::find()
            .order_by_asc(sla_policy::Column::Id)
            .all(write.conn())
            .await?;
        let mut named = Vec::new();
        for row in policies {
            let policy = convert::policy(row)?;
            if policy
                .escalations
                .iter()
                .any(|l| l.team.as_deref() == Some(team))
            {
                named.push(policy.id);
            }
        }
        Ok(named)
    }

    /// The policies, the calendars and the teams' calendars, as the clocks need them.
    pub async fn catalog(&self) -> Result<Catalog> {
        self.read_catalog(&self.db).await
    }

    /// [`Store::catalog`] inside a write.
    pub(crate) async fn catalog_in(&self, write: &Write) -> Result<Catalog> {
        self.read_catalog(write.conn()).await
    }

    async fn read_catalog(&self, conn: &impl ConnectionTrait) -> Result<Catalog> {
        let policies = sla_policy::Entity::find().all(conn).await?;
        let calendars = stored_calendar::Entity::find().all(conn).await?;
        let teams: Vec<(String, Option<String>)> = team::Entity::find()
            .select_only()
            .columns([team::Column::Id, team::Column::Calendar])
            .into_tuple()
            .all(conn)
            .await?;
        Ok(Catalog {
            policies: policies
                .into_iter()
                .map(convert::policy)
                .collect::<Result<_>>()?,
            calendars: calendars
                .into_iter()
                .map(|row| convert::calendar(row).map(|c| (c.id, c.calendar)))
                .collect::<Result<_>>()?,
            team_calendars: teams.into_iter().collect(),
            at_risk_share: self.at_risk_share,
        })
    }

    // --- Clocks in step with changes ---

    /// Brings the clocks of `after` in step with its change from `before` (`None` at intake)
    /// and returns what changed; reads the policies only when something they depend on did.
    pub(crate) async fn follow_sla(
        &self,
        write: &Write,
        before: Option<&Ticket>,
        after: &mut Ticket,
        now: DateTime<Utc>,
    ) -> Result<Vec<ClockChange>> {
        if before.is_some_and(|b| !sla::concerns(b, after)) {
            return Ok(Vec::new());
        }
        let catalog = self.catalog_in(write).await?;
        Ok(sla::follow(before, after, &catalog, now))
    }

    // --- The scheduler ---

    /// Up to `limit` tickets whose clocks need a look by `now`, soonest first: one index range,
    /// however many tickets are open.
    pub async fn sla_due(&self, now: DateTime<Utc>, limit: u64) -> Result<Vec<i64>> {
        Ok(ticket::Entity::find()
            .select_only()
            .column(ticket::Column::Id)
            .filter(ticket::Column::SlaWakeAt.lte(now))
            .order_by_asc(ticket::Column::SlaWakeAt)
            .limit(limit)
            .into_tuple()
            .all(&self.db)
            .await?)
    }

    /// Records what the ticket's clocks reached by `now`: SLA_AT_RISK and SLA_BREACHED once
    /// per clock, then each escalation level they start, with its actions, in one
    /// transaction. Another instance that looked at the same ticket finds nothing left to
    /// record. Returns the events recorded.
    pub async fn check_sla(
        &self,
        id: i64,
        catalog: &Catalog,
        now: DateTime<Utc>,
    ) -> Result<Vec<TicketEvent>> {
        let read = self.get_ticket(id).await?;
        let policy = catalog.policy_for(&read).cloned();
        let mut preview = read.sla.clone();
        let levels = sla::check(&mut preview, policy.as_ref(), now).levels;
        // Teams and agents come before the ticket in the lock order: lock the ones the levels
        // may hand the ticket to, then check the ticket still is where it was read.
        let write = self.begin().await?;
        let staff = self.lock_escalation_staff(&write, &read, &levels).await?;
        let mut ticket = self.lock_ticket(&write, id).await?;
        if ticket.version != read.version {
            // Changed meanwhile (moved, or its clocks recounted): the next pass looks again.
            return Ok(Vec::new());
        }
        let fired = sla::check(&mut ticket.sla, policy.as_ref(), now);
        if fired.is_empty() {
            return Ok(Vec::new());
        }
        ticket.version += 1;
        ticket.updated_at = now;
        convert::ticket_row(&ticket).update(write.conn()).await?;
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
            if targets.is_empty() {
                continue;
            }
            let mut event = sla_event(&ticket, event_type, targets, reason, now);
            event.cursor = self.append_event(&write, &event).await?;
            events.push(event);
        }
        for (level, escalation) in fired.levels {
            let (_, event) = self
                .change_in(&write, id, None, SLA, now, |t| {
                    Ok(escalate(t, level, &escalation, &staff, now))
                })
                .await?;
            events.extend(event);
        }
        self.commit(write).await?;
        Ok(events)
    }

    /// Locks the teams the escalation levels may move the ticket to or whose supervisor
    /// they may hand it to, with that supervisor's agent row.
    async fn lock_escalation_staff(
        &self,
        write: &Write,
        ticket: &Ticket,
        levels: &[(u32, EscalationLevel)],
    ) -> Result<Staff> {
        let mut teams = BTreeSet::new();
        for (_, level) in levels {
            for action in &level.actions {
                match action {
                    EscalationAction::NotifySupervisor | EscalationAction::ReassignToSupervisor => {
                        teams.extend(ticket.team.clone())
                    }
                    EscalationAction::ReassignToTeam => teams.extend(level.team.clone()),
                    EscalationAction::RaisePriority => {}
                }
            }
        }
        let mut staff = Staff::default();
        for id in teams {
            match self.lock_team(write, &id, LockType::KeyShare).await {
                Ok(team) => {
                    staff.supervisors.insert(id, team.supervisor);
                }
                Err(Error::NotFound { .. }) => {}
                Err(e) => return Err(e),
            }
        }
        let supervisors: Vec<String> = staff.supervisors.values().flatten().cloned().collect();
        staff.agents = self
            .lock_agents(write, &supervisors)
            .await?
            .into_iter()
            .map(|a| (a.id.clone(), a))
            .collect();
        Ok(staff)
    }
}

/// The staff an escalation may involve, locked: team id → its supervisor, and the supervisors'
/// agent rows.
#[derive(Debug, Default)]
struct Staff {
    supervisors: HashMap<String, Option<String>>,
    agents: HashMap<String, Agent>,
}

/// Does what an escalation level says to `ticket`, and names the event that records it.
fn escalate(
    ticket: &mut Ticket,
    level: u32,
    escalation: &EscalationLevel,
    staff: &Staff,
    now: DateTime<Utc>,
) -> (EventType, Note) {
    let why = format!(
        "level {level}: {} {}",
        escalation.target,
        escalation.trigger.as_str().to_lowercase().replace('_', " ")
    );
    let team = ticket.team.clone().unwrap_or_default();
    let supervisor = staff.supervisors.get(&team).cloned().flatten();
    let had_team = ticket.team.is_some();
    let nobody = |to: &str| match had_team {
        true => format!("team {team} has no supervisor {to}"),
        false => format!("the ticket has no team, so no supervisor {to}"),
    };
    let mut done = Vec::new();
    let mut notify = None;
    for action in &escalation.actions {
        let outcome = match action {
            EscalationAction::NotifySupervisor => match &supervisor {
                Some(id) => {
                    notify = Some(id.clone());
                    format!("supervisor {id} told")
                }
                None => nobody("to tell"),
            },
            EscalationAction::RaisePriority => {
                let higher = one_step_up(ticket.priority);
                if higher == ticket.priority {
                    format!("priority already {higher}")
                } else {
                    ticket
                        .priority_reasons
                        .push(format!("{higher}: SLA escalation ({why})"));
                    let text = format!("priority {} → {higher}", ticket.priority);
                    ticket.priority = higher;
                    text
                }
            }
            EscalationAction::ReassignToSupervisor => {
                match supervisor.as_ref().map(|id| (id, staff.agents.get(id))) {
                    None => nobody("to take it"),
                    Some((id, _)) if ticket.assignee.as_ref() == Some(id) => {
                        format!("already with supervisor {id}")
                    }
                    Some((id, None)) => format!("supervisor {id} is not an agent"),
                    Some((id, Some(agent))) => {
                        match check_can_take(agent, ticket, None).and_then(|()| {
                            lifecycle::apply(
                                ticket,
                                Action::Assign {
                                    team: None,
                                    agent: Some(id.clone()),
                                    transfer_ownership: false,
                                },
                                now,
                            )
                        }) {
                            Ok(()) => format!("reassigned to supervisor {id}"),
                            Err(refused) => format!("not reassigned to supervisor {id}: {refused}"),
                        }
                    }
                }
            }
            EscalationAction::ReassignToTeam => {
                let target = escalation.team.clone().unwrap_or_default();
                if !staff.supervisors.contains_key(&target) {
                    format!("team {target} no longer exists")
                } else if ticket.team.as_deref() == Some(target.as_str()) {
                    format!("already in team {target}")
                } else {
                    match lifecycle::apply(
                        ticket,
                        Action::Assign {
                            team: Some(target.clone()),
                            agent: None,
                            transfer_ownership: false,
                        },
                        now,
                    ) {
                        Ok(()) => format!("moved to team {target}'s queue"),
                        Err(refused) => format!("not moved to team {target}: {refused}"),
                    }
                }
            }
        };
        done.push(outcome);
    }
    (
        EventType::SlaEscalated,
        Note {
            reason: Some(format!("{why}: {}", done.join("; "))),
            sla: Some(SlaNote {
                targets: vec![escalation.target],
                escalation: Some(Escalation {
                    level,
                    actions: escalation.actions.clone(),
                    notify,
                }),
            }),
            ..Note::default()
        },
    )
}

/// An event about clocks, recorded beside the change that moved them.
pub(crate) fn sla_event(
    ticket: &Ticket,
    event_type: EventType,
    targets: Vec<sla::Target>,
    reason: String,
    now: DateTime<Utc>,
) -> TicketEvent {
    TicketEvent {
        reason: Some(reason),
        sla: Some(SlaNote {
            targets,
            escalation: None,
        }),
        ..TicketEvent::on(ticket, event_type, SLA, now)
    }
}

/// The events recording `changes` of a ticket's clocks.
pub(crate) fn clock_events(
    ticket: &Ticket,
    changes: Vec<ClockChange>,
    now: DateTime<Utc>,
) -> Vec<TicketEvent> {
    changes
        .into_iter()
        .map(|c| sla_event(ticket, c.event, c.targets, c.reason, now))
        .collect()
}

fn fallback_needed(policy: &Policy) -> Error {
    Error::FailedPrecondition {
        subject: format!("SLA policy {}", policy.id),
        description: format!(
            "it is the fallback for {} tickets, which every such ticket needs; change its \
             targets instead",
            policy.priority
        ),
    }
}

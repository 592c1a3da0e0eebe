//! Tasks: asking another team for something on a ticket, its answer, and its clocks. Every
//! change of a task is an event of its ticket, recorded in the same transaction: the ticket
//! locks first, then the task.

use std::sync::Arc;

use chrono::{DateTime, Utc};

use super::App;
use super::tickets::{Changed, On};
use crate::domain::access::{Acting, Principal};
use crate::domain::error::{Refusal, Versioned};
use crate::domain::event::{Change, EventType, TaskNote, TicketEvent, actor};
use crate::domain::idempotency::{check_replay, fingerprint};
use crate::domain::sla::Trigger;
use crate::domain::task::{self, NewTask, Task, limits};
use crate::domain::ticket::{AuthorRole, NewComment, Status, Ticket, Visibility};
use crate::error::{Found, Result};
use crate::store::{TaskFilter, Write};

/// A change someone asks for on a task: which, the etag they saw, who it is recorded under,
/// and the credential that asks.
#[derive(Debug, Clone)]
pub struct OnTask {
    pub task_id: i64,
    pub etag: Option<String>,
    pub acting: Acting,
    pub by: Arc<Principal>,
}

/// What a task verb does to the task.
pub enum TaskVerb {
    Accept,
    Complete { outcome: Option<String> },
    Decline { reason: String },
}

impl App {
    /// Asks `new.team` for something on a ticket `by` works on.
    pub async fn create_task(&self, by: &Principal, acting: Acting, new: NewTask) -> Result<Task> {
        let now = self.now();
        self.check_acting(by, &acting).await?;
        let team = self.store.team(&new.team).await?.found("team", &new.team)?;
        if let Some(agent) = &new.agent
            && !team.members.contains(agent)
        {
            self.store.agent(agent).await?.found("agent", agent)?;
            return Err(Refusal::precondition(
                format!("agent {agent}"),
                format!("is not a member of team {}", team.id),
            )
            .into());
        }
        let hash = new.request_id.as_ref().map(|_| fingerprint(&new));
        let write = self.store.begin().await?;
        let on = On {
            ticket_id: new.ticket_id,
            etag: None,
            actor: acting.actor.clone(),
            via: acting.via.clone(),
            by: Arc::new(by.clone()),
        };
        let ticket = self.lock_for(&write, &on).await?;
        if let Some(request_id) = &new.request_id
            && let Some((first, first_hash)) =
                self.store.task_by_request_id(&write, request_id).await?
        {
            check_replay(
                request_id,
                first_hash.as_deref(),
                hash.as_deref().unwrap_or(""),
            )?;
            return Ok(first);
        }
        if matches!(
            ticket.status,
            Status::Resolved | Status::Closed | Status::Quarantined
        ) {
            return Err(Refusal::precondition(
                format!("ticket {}", ticket.number),
                format!("is {}: a task is asked of an open ticket", ticket.status),
            )
            .into());
        }
        if ticket.open_tasks >= limits::OPEN_PER_TICKET {
            return Err(Refusal::precondition(
                format!("ticket {}", ticket.number),
                format!(
                    "has {} open tasks, the most a ticket holds",
                    limits::OPEN_PER_TICKET
                ),
            )
            .into());
        }
        let catalog = self.catalog_in(&write).await?;
        let calendar_id = catalog.team_calendar(Some(&team.id)).to_owned();
        let calendar = catalog.calendar(Some(&calendar_id));
        let counting = catalog.counting(&calendar);
        let asked = Task::ask(
            &ticket,
            new,
            &acting.actor,
            Some(calendar_id),
            counting,
            self.settings.task_accept_within,
            now,
        )?;
        let task = self
            .store
            .insert_task(&write, &asked, hash)
            .await?
            .ok_or_else(|| Refusal::RequestReused {
                request_id: crate::domain::error::shorten(
                    asked.request_id.as_deref().unwrap_or_default(),
                ),
            })?;
        let changed = self
            .task_changed(&write, &on, &task, now, EventType::TaskCreated, |t| {
                t.open_tasks += 1;
                if !t.task_teams.contains(&task.team) {
                    t.task_teams.push(task.team.clone());
                }
            })
            .await?;
        self.finish(write, changed).await?;
        Ok(task)
    }

    /// A task `by` may read.
    pub async fn task(&self, id: i64, by: &Principal) -> Result<Task> {
        let task = self.store.task(id).await?.found("task", id)?;
        let ticket = self.store.ticket(task.ticket_id).await?.found("task", id)?;
        if !by.sees_task(&task, &ticket) {
            return Err(Refusal::not_found("task", id).into());
        }
        Ok(task)
    }

    /// Up to `limit` tasks matching `filter` after task id `after` that `by` may read.
    pub async fn list_tasks(
        &self,
        filter: TaskFilter,
        after: i64,
        limit: u64,
        by: &Principal,
    ) -> Result<Vec<Task>> {
        // A ticket's tasks are for those who read the ticket, a team's queue for its staff; a
        // team asked for help reads its own tasks of the ticket, not the other teams'.
        let ticket = match filter.ticket_id {
            Some(id) => Some(self.visible_ticket(id, by).await?),
            None => None,
        };
        if let Some(team) = &filter.team
            && !by.sees_team_tasks(team)
        {
            return Err(Refusal::not_found("team", team).into());
        }
        let tasks = self.store.list_tasks(&filter, after, limit).await?;
        Ok(match ticket {
            Some(ticket) => tasks
                .into_iter()
                .filter(|t| by.sees_task(t, &ticket))
                .collect(),
            None => tasks,
        })
    }

    /// Accepts, completes or declines a task: the task and its ticket's event in one
    /// transaction. A milestone's completion adds its public message for the customer.
    pub async fn answer_task(&self, on: OnTask, verb: TaskVerb) -> Result<Task> {
        let now = self.now();
        self.check_acting(&on.by, &on.acting).await?;
        let read = self
            .store
            .task(on.task_id)
            .await?
            .found("task", on.task_id)?;
        if !on.by.works_on_task(&read) {
            return Err(Refusal::not_found("task", on.task_id).into());
        }
        let write = self.store.begin().await?;
        // The task's team works on the task, not on the ticket: the ticket is locked as the
        // service's, on the task's behalf.
        let ticket_on = On {
            actor: on.acting.actor.clone(),
            via: on.acting.via.clone(),
            ..On::system(read.ticket_id, &on.acting.actor)
        };
        self.lock_for(&write, &ticket_on).await?;
        let mut task = self
            .store
            .lock_task(&write, on.task_id)
            .await?
            .found("task", on.task_id)?;
        task.check_etag(on.etag.as_deref())?;
        let catalog = self.catalog_in(&write).await?;
        let calendar = catalog.calendar(task.calendar.as_deref());
        let counting = catalog.counting(&calendar);
        let agent = on.acting.actor.as_str();
        let event = match verb {
            TaskVerb::Accept => {
                task.accept(agent, counting, now)?;
                EventType::TaskAccepted
            }
            TaskVerb::Complete { outcome } => {
                task.complete(agent, outcome, counting, now)?;
                EventType::TaskCompleted
            }
            TaskVerb::Decline { reason } => {
                task.decline(reason, counting, now)?;
                EventType::TaskDeclined
            }
        };
        task.bump(now);
        self.store.update_task(&write, &task).await?;
        let finished = !task.is_open();
        let mut changed = self
            .task_changed(&write, &ticket_on, &task, now, event, |t| {
                if finished {
                    t.open_tasks = t.open_tasks.saturating_sub(1);
                }
            })
            .await?;
        if event == EventType::TaskCompleted
            && let Some(milestone) = &task.milestone
        {
            let message = self
                .change_in(&write, &ticket_on, now, |t| {
                    let mut change = Change::of(EventType::CommentAdded);
                    change.note.comment = Some(NewComment {
                        visibility: Visibility::Public,
                        author: agent.to_owned(),
                        author_role: AuthorRole::Agent,
                        body: task::milestone_message(t, milestone),
                        request_id: None,
                    });
                    Ok(change)
                })
                .await?;
            changed.ticket = message.ticket;
            changed.events.extend(message.events);
        }
        self.finish(write, changed).await?;
        Ok(task)
    }

    /// Cancels the open tasks of the ticket `on` names, inside `write`, for a resolve that
    /// goes ahead without them: a TASK_CANCELLED each.
    pub(crate) async fn cancel_open_tasks(
        &self,
        write: &Write,
        on: &On,
        ticket: &Ticket,
        now: DateTime<Utc>,
    ) -> Result<Vec<TicketEvent>> {
        let tasks = self.store.lock_open_tasks(write, ticket.id).await?;
        if tasks.is_empty() {
            return Ok(Vec::new());
        }
        let catalog = self.catalog_in(write).await?;
        let mut events = Vec::new();
        for mut task in tasks {
            let calendar = catalog.calendar(task.calendar.as_deref());
            let counting = catalog.counting(&calendar);
            task.cancel(
                format!("ticket {} resolved without it", ticket.number),
                counting,
                now,
            );
            task.bump(now);
            self.store.update_task(write, &task).await?;
            let changed = self
                .task_changed(write, on, &task, now, EventType::TaskCancelled, |t| {
                    t.open_tasks = t.open_tasks.saturating_sub(1);
                })
                .await?;
            events.extend(changed.events);
        }
        Ok(events)
    }

    /// Records `event` about `task` on its ticket, with what `change` does to the ticket.
    async fn task_changed(
        &self,
        write: &Write,
        on: &On,
        task: &Task,
        now: DateTime<Utc>,
        event: EventType,
        change: impl FnOnce(&mut Ticket),
    ) -> Result<Changed> {
        self.change_in(write, on, now, |t| {
            change(t);
            let mut recorded = Change::of(event).reason(task.note.clone());
            recorded.note.task = Some(TaskNote {
                task: task.clone(),
                alert: None,
            });
            Ok(recorded)
        })
        .await
    }

    /// One scheduler pass over the tasks whose clocks need a look by `now`: TASK_AT_RISK and
    /// TASK_OVERDUE once per clock, the latter alerting the team's supervisor. Returns the
    /// events recorded.
    pub(crate) async fn task_pass(&self, now: DateTime<Utc>) -> Result<usize> {
        let mut recorded = 0;
        loop {
            let due = self.store.tasks_due(now, super::sla::BATCH).await?;
            let mut progress = false;
            for &(task_id, ticket_id) in &due {
                match self.fire_task(task_id, ticket_id, now).await {
                    Ok(events) => {
                        progress |= events > 0;
                        recorded += events;
                    }
                    Err(error) => tracing::warn!(task = task_id, %error, "task check failed"),
                }
            }
            if due.len() < super::sla::BATCH as usize || !progress {
                return Ok(recorded);
            }
        }
    }

    async fn fire_task(&self, task_id: i64, ticket_id: i64, now: DateTime<Utc>) -> Result<usize> {
        let write = self.store.begin().await?;
        if self.store.lock_ticket(&write, ticket_id).await?.is_none() {
            return Ok(0);
        }
        let Some(mut task) = self.store.lock_task(&write, task_id).await? else {
            return Ok(0);
        };
        let fired = task.check(now);
        if fired.is_empty() {
            // Nothing left to record: the clock moved meanwhile. Store its next wake time.
            self.store.update_task(&write, &task).await?;
            self.store.commit(write).await?;
            return Ok(0);
        }
        task.bump(now);
        self.store.update_task(&write, &task).await?;
        // The team's supervisor hears of a task at risk and of one overdue, as of a ticket's.
        let supervisor = self
            .store
            .team(&task.team)
            .await?
            .and_then(|t| t.supervisor);
        let on = On::system(ticket_id, actor::SLA);
        let mut recorded = 0;
        for (which, trigger) in fired {
            let event = match trigger {
                Trigger::AtRisk => EventType::TaskAtRisk,
                Trigger::Breached => EventType::TaskOverdue,
            };
            let changed = self
                .change_in(&write, &on, now, |_| {
                    let mut change = Change::of(event).because(task.describe(which, trigger));
                    change.note.task = Some(TaskNote {
                        task: task.clone(),
                        alert: supervisor.clone(),
                    });
                    Ok(change)
                })
                .await?;
            recorded += changed.events.len();
        }
        self.store.commit(write).await?;
        Ok(recorded)
    }
}

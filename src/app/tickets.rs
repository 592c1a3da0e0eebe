//! Tickets: intake, reads, and every change of one ticket — the lifecycle verbs, comments and
//! updates. Each change locks the ticket, checks the caller's etag, lets the domain change it,
//! keeps its SLA clocks in step and records its events, all in one transaction.

use std::sync::Arc;

use chrono::{DateTime, Utc};

use super::App;
use super::intake::{Request, TakenIn};
use crate::domain::access::{Acting, Caller, Principal, Role};
use crate::domain::acknowledgement::{Acknowledgement, acknowledge};
use crate::domain::assignment::Pool;
use crate::domain::attachment::Attachment;
use crate::domain::contact::missing_contact;
use crate::domain::error::{Refusal, Versioned};
use crate::domain::event::EventType;
use crate::domain::event::{Change, Note, TicketEvent, diff};
use crate::domain::idempotency::{check_replay, fingerprint};
use crate::domain::language::{self, Language};
use crate::domain::lifecycle::{self, Action, Verb};
use crate::domain::patch::Patch;
use crate::domain::query::{MAX_COUNTED, Named, Position, TicketFilter, TicketOrder, WatchFilter};
use crate::domain::sla;
use crate::domain::staff::{Duty, QUEUED, cannot_keep};
use crate::domain::task;
use crate::domain::ticket::{
    AuthorRole, Comment, Customer, Edit, NewComment, NewTicket, Resolution, Ticket, Visibility,
};
use crate::error::{Error, Found, Result};
use crate::events::{EventHub, EventStream};
use crate::store::{TeamLock, Write};

/// Which ticket a read names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TicketKey {
    Id(i64),
    Number(String),
}

/// A change someone asks for on a ticket: which one, the etag they saw (none: no check), who
/// it is recorded under, and the credential that asks (the ticket must be in its scope).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct On {
    pub ticket_id: i64,
    pub etag: Option<String>,
    pub actor: String,
    /// Who acted on the actor's behalf.
    pub via: Option<String>,
    pub by: Arc<Principal>,
}

impl On {
    /// A change the service makes itself (the router, the SLA, surveys), as `actor`.
    pub fn system(ticket_id: i64, actor: &str) -> On {
        static SYSTEM: std::sync::LazyLock<Arc<Principal>> =
            std::sync::LazyLock::new(|| Arc::new(Principal::system()));
        On {
            ticket_id,
            etag: None,
            actor: actor.to_owned(),
            via: None,
            by: SYSTEM.clone(),
        }
    }

    /// Who the change is recorded under.
    pub fn acting(&self) -> Acting {
        Acting {
            actor: self.actor.clone(),
            via: self.via.clone(),
        }
    }

    /// A change `caller` asks for, recorded as `acting`.
    pub fn by(caller: &Caller, ticket_id: i64, etag: Option<String>, acting: Acting) -> On {
        On {
            ticket_id,
            etag,
            actor: acting.actor,
            via: acting.via,
            by: caller.principal.clone(),
        }
    }
}

/// A ticket given to a team and/or an agent by hand.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Assignment {
    pub team: Option<String>,
    pub agent: Option<String>,
    pub transfer_ownership: bool,
    pub reason: Option<String>,
}

/// How a ticket is resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolve {
    pub summary: String,
    pub resolution: Resolution,
    /// The number of the ticket a MERGED one duplicates.
    pub merged_into: Option<String>,
    /// Go ahead with tasks open, cancelling them.
    pub cancel_open_tasks: bool,
    /// Resolved with its parent: from any open status, by whoever resolves the parent.
    pub with_parent: bool,
}

/// What intake answers: the ticket as routed, and where it waits if nobody took it.
#[derive(Debug, Clone)]
pub struct Intake {
    pub ticket: Ticket,
    pub replayed: bool,
    /// 1 = next in its team's queue; 0 when an agent has it.
    pub queue_position: u32,
    /// What to tell the customer now.
    pub acknowledgement: Acknowledgement,
}

/// One ticket changed in a transaction: as it stands after, and the events recorded.
pub(crate) struct Changed {
    pub ticket: Ticket,
    pub events: Vec<TicketEvent>,
}

impl App {
    // --- Reads ---

    /// The ticket `key` names, if `by` may see it: one outside its scope is as missing.
    pub async fn ticket(&self, key: &TicketKey, by: &Principal) -> Result<Ticket> {
        let found = match key {
            TicketKey::Id(id) => self.store.ticket(*id).await?,
            TicketKey::Number(number) => self.store.ticket_by_number(number).await?,
        };
        let visible = found.filter(|t| by.sees(t));
        match key {
            TicketKey::Id(id) => visible.found("ticket", id),
            TicketKey::Number(number) => visible.found("ticket", number),
        }
    }

    /// Ticket `id`, if `by` may see it.
    pub(crate) async fn visible_ticket(&self, id: i64, by: &Principal) -> Result<Ticket> {
        self.ticket(&TicketKey::Id(id), by).await
    }

    /// Up to `limit` tickets matching `filter` in `order`, after `after`, and how many match
    /// in all, up to [`MAX_COUNTED`] and one more.
    pub async fn list_tickets(
        &self,
        by: &Principal,
        filter: TicketFilter,
        order: TicketOrder,
        after: Option<Position>,
        limit: u64,
    ) -> Result<(Vec<Ticket>, u64)> {
        self.check_named(filter.named()).await?;
        let filter = &TicketFilter {
            scope: by.scope(),
            ..filter
        };
        let tickets = self.store.list_tickets(filter, order, after, limit).await?;
        let total = self.store.count_tickets(filter, MAX_COUNTED + 1).await?;
        Ok((tickets, total))
    }

    /// Follows the event log for `filter` after `after_cursor` (see [`EventHub::watch`]),
    /// once what the filter names is known to exist: a typo would otherwise watch nothing,
    /// forever.
    pub async fn watch(
        &self,
        hub: &Arc<EventHub>,
        by: &Principal,
        filter: WatchFilter,
        after_cursor: Option<i64>,
    ) -> Result<EventStream> {
        self.check_named(filter.named()).await?;
        if let Some(id) = filter.ticket_id {
            self.visible_ticket(id, by).await?;
        }
        let filter = WatchFilter {
            scope: by.scope(),
            ..filter
        };
        hub.watch(filter, after_cursor).await
    }

    /// The language to write to `customer` in: theirs, else their ticket's, else the
    /// service's default.
    pub(crate) fn language_of(
        &self,
        customer: &Customer,
        title: &str,
        description: &str,
    ) -> Language {
        language::settle(
            customer.language,
            title,
            description,
            self.settings.language,
        )
    }

    /// Refuses with NOT_FOUND the first of `named` that nobody knows: a team or agent that
    /// is configured or named on some ticket (a deleted one still finds its old tickets), a
    /// product some ticket is about, a ticket that exists.
    pub async fn check_named(&self, named: Vec<Named<'_>>) -> Result<()> {
        for name in named {
            let configured = match name {
                Named::Team(id) => self.store.team(id).await?.is_some(),
                Named::Agent(id) => self.store.agent(id).await?.is_some(),
                Named::Ticket(_) | Named::Product(_) => false,
            };
            if !configured && !self.store.named_on_a_ticket(name).await? {
                return Err(Error::not_found(name.resource(), name.key()));
            }
        }
        Ok(())
    }

    /// Up to `limit` events of a ticket of `types` (every change when empty) after `cursor`,
    /// as `by` may see them.
    pub async fn ticket_events(
        &self,
        id: i64,
        types: &[EventType],
        cursor: i64,
        limit: u64,
        by: &Principal,
    ) -> Result<Vec<TicketEvent>> {
        self.visible_ticket(id, by).await?;
        let changes;
        let types = if types.is_empty() {
            changes = EventType::changes();
            &changes
        } else {
            types
        };
        // Events the caller may not see are skipped, and more are read in their place so that
        // a short page still means the end.
        let mut visible = Vec::new();
        let mut cursor = cursor;
        loop {
            let events = self.store.ticket_events(id, types, cursor, limit).await?;
            let read = events.len() as u64;
            cursor = events.last().map_or(cursor, |e| e.cursor);
            visible.extend(events.into_iter().filter_map(|e| by.view(e)));
            if visible.len() as u64 >= limit || read < limit {
                break;
            }
        }
        visible.truncate(limit as usize);
        Ok(visible)
    }

    /// Up to `limit` comments of a ticket after comment `after`, of `visibility` if given,
    /// each with the files attached to it; public ones alone for those who do not see
    /// internal notes.
    pub async fn comments(
        &self,
        id: i64,
        visibility: Option<Visibility>,
        after: i64,
        limit: u64,
        by: &Principal,
    ) -> Result<Vec<(Comment, Vec<Attachment>)>> {
        self.visible_ticket(id, by).await?;
        let visibility = match visibility {
            _ if !by.sees_internal() => Some(Visibility::Public),
            given => given,
        };
        let comments = self
            .store
            .list_comments(id, visibility, after, limit)
            .await?;
        let ids: Vec<i64> = comments.iter().map(|c| c.id).collect();
        let mut files = self
            .store
            .comments_attachments(&ids, !by.sees_internal())
            .await?;
        Ok(comments
            .into_iter()
            .map(|c| {
                let attached = files.remove(&c.id).unwrap_or_default();
                (c, attached)
            })
            .collect())
    }

    // --- Intake ---

    /// Takes a ticket in: routes it, numbers it, starts its clocks and records it; a waiting
    /// ticket is assigned by the reactions when someone has room. A repeat of a request_id
    /// answers with the first ticket.
    pub async fn create_ticket(&self, by: &Principal, mut new: NewTicket) -> Result<Intake> {
        by.check_intake(&mut new)?;
        let acting = Acting {
            actor: new.actor.clone(),
            via: new.via.clone(),
        };
        self.check_acting(by, &acting).await?;
        let now = self.now();
        self.check_sender(&new.customer, now).await?;
        let held = self.suspicion(&new, now).await?;
        let routing = std::time::Instant::now();
        let route = self.decide(&new, now).await?.route;
        self.metrics.routed(routing.elapsed());
        let hash = fingerprint(&new);
        new.customer.language = Some(self.language_of(&new.customer, &new.title, &new.description));
        let members = self.store.team_members(&route.team).await?;
        let duty = Duty::of(&members);
        let room = Pool::of(members, None).room();
        let TakenIn {
            ticket,
            replayed,
            cursor,
            acknowledgement,
        } = self
            .intake
            .take_in(Request {
                hash,
                new,
                route,
                now,
                zone: self.settings.zone,
                duty,
                held,
            })
            .await?;
        // Only a team with room can take the ticket at once: then the reply waits for the
        // reactions to hand it to an agent, and names them. Otherwise it waits in the queue,
        // and waiting for a dispatch that can assign nothing would only slow the reply.
        if !replayed && room > 0 {
            self.settled(cursor).await;
        }
        let ticket = self.fresh(ticket).await?;
        let queue_position = self.store.queue_position(&ticket).await?;
        // A replay is told where the ticket stands now.
        let acknowledgement = match acknowledgement {
            Some(told) => told,
            None => {
                let duty = match (&ticket.assignee, &ticket.team) {
                    (None, Some(team)) => self.duty(team).await?,
                    _ => Duty::OnDuty,
                };
                acknowledge(&ticket, duty)
            }
        };
        Ok(Intake {
            acknowledgement,
            ticket,
            replayed,
            queue_position,
        })
    }

    // --- Changes ---

    /// Changes the descriptive fields the patch names.
    pub async fn update_ticket(&self, on: On, patch: Patch<Ticket, Edit>) -> Result<Ticket> {
        self.change(on, self.now(), |t| {
            lifecycle::check_allowed(t, Verb::Update)?;
            patch.apply(t);
            if t.customer.language.is_none() {
                t.customer.language = Some(self.language_of(&t.customer, &t.title, &t.description));
            }
            if let Some((field, why)) = missing_contact(t.channel, &t.customer) {
                return Err(Refusal::invalid(format!("ticket.{field}"), why).into());
            }
            Ok(Change::of(EventType::TicketUpdated))
        })
        .await
    }

    /// Gives a ticket to a team and/or an agent. The team and agent must exist, and the agent
    /// must be in the (new) team and have room, all checked under their locks.
    pub async fn assign(&self, on: On, assignment: Assignment) -> Result<Ticket> {
        let now = self.now();
        let write = self.store.begin().await?;
        if let Some(team) = &assignment.team {
            self.store
                .lock_team(&write, team, TeamLock::Keep)
                .await?
                .found("team", team)?;
        }
        let agent = match &assignment.agent {
            Some(id) => Some(
                self.store
                    .lock_agent(&write, id)
                    .await?
                    .found("agent", id)?,
            ),
            None => None,
        };
        let changed = self
            .change_in(&write, &on, now, |t| {
                if let Some(agent) = &agent {
                    agent.can_take(t, assignment.team.as_deref())?;
                }
                lifecycle::apply(
                    t,
                    Action::Assign {
                        team: assignment.team.clone(),
                        agent: assignment.agent.clone(),
                        transfer_ownership: assignment.transfer_ownership,
                    },
                    now,
                )?;
                Ok(Change::of(EventType::TicketAssigned).reason(assignment.reason.clone()))
            })
            .await?;
        self.finish(write, changed).await
    }

    /// The assignee confirms the ticket; `on.actor` is the agent.
    pub async fn acknowledge(&self, on: On) -> Result<Ticket> {
        let agent = on.actor.clone();
        self.act(on, Action::Acknowledge { agent }, None).await
    }

    /// The ticket waits on the customer, for `reason`.
    pub async fn set_pending(&self, on: On, reason: Option<String>) -> Result<Ticket> {
        self.act(
            on,
            Action::SetPending {
                reason: reason.clone(),
            },
            reason,
        )
        .await
    }

    /// Work goes on after waiting on the customer.
    pub async fn resume(&self, on: On) -> Result<Ticket> {
        self.act(on, Action::Resume, None).await
    }

    /// Closes a resolved ticket.
    pub async fn close(&self, on: On) -> Result<Ticket> {
        self.act(on, Action::Close, None).await
    }

    /// Resolves a ticket and, in the same transaction, plans its satisfaction survey: sent at
    /// once (SURVEY_INVITED), scheduled, or not at all (the TICKET_RESOLVED reason says why).
    pub async fn resolve(&self, on: On, resolve: Resolve) -> Result<Ticket> {
        if let Some(number) = &resolve.merged_into {
            let into = self
                .store
                .ticket_by_number(number)
                .await?
                .filter(|t| on.by.sees(t))
                .found("ticket", number)?;
            if into.id == on.ticket_id {
                return Err(Error::invalid(
                    "merged_into",
                    "is this ticket: name the one it duplicates",
                ));
            }
        }
        let now = self.now();
        let write = self.store.begin().await?;
        let changed = self.resolve_in(&write, on, &resolve, now).await?;
        self.finish(write, changed).await
    }

    /// [`App::resolve`] inside `write`: the ticket `on` names, with its open tasks cancelled
    /// if `resolve` says so, and its survey planned.
    pub(crate) async fn resolve_in(
        &self,
        write: &Write,
        on: On,
        resolve: &Resolve,
        now: DateTime<Utc>,
    ) -> Result<Changed> {
        let ticket = self.lock_for(write, &on).await?;
        // Checked once: cancelling tasks moves the version on before the resolve itself.
        ticket.check_etag(on.etag.as_deref())?;
        let on = On { etag: None, ..on };
        let supervisor = match ticket.team.as_deref() {
            Some(team) => self.store.team(team).await?.and_then(|t| t.supervisor),
            None => None,
        };
        if resolve.with_parent {
            lifecycle::check_allowed(&ticket, Verb::Dispose)?;
        } else {
            lifecycle::check_resolve(
                &ticket,
                resolve.resolution,
                &on.actor,
                supervisor.as_deref(),
            )?;
        }
        task::check_resolve(&ticket, resolve.cancel_open_tasks)?;
        let cancelled = match resolve.cancel_open_tasks {
            true => self.cancel_open_tasks(write, &on, &ticket, now).await?,
            false => Vec::new(),
        };
        let planned = self
            .plan_survey(write, &ticket, resolve.resolution, now)
            .await?;
        let mut changed = self
            .change_in(write, &on, now, |t| {
                lifecycle::apply(
                    t,
                    Action::Resolve {
                        summary: resolve.summary.clone(),
                        resolution: resolve.resolution,
                        merged_into: resolve.merged_into.clone(),
                        with_parent: resolve.with_parent,
                    },
                    now,
                )?;
                Ok(Change::of(EventType::TicketResolved).reason(planned.reason.clone()))
            })
            .await?;
        changed.events.splice(0..0, cancelled);
        if let Some(invitation) = planned.invitation {
            let event = self
                .survey_event(
                    write,
                    &changed.ticket,
                    EventType::SurveyInvited,
                    &invitation,
                    &Acting::service(crate::domain::event::actor::SURVEY),
                    now,
                )
                .await?;
            changed.events.push(event);
        }
        Ok(changed)
    }

    /// Brings a resolved or closed ticket back into work and routes it again in the same
    /// transaction: it stays with its assignee if they are still in its team, online and have
    /// room for it; otherwise it goes back to the team's queue.
    pub async fn reopen(&self, on: On, reason: String) -> Result<Ticket> {
        let now = self.now();
        // The assignee's lock comes before the ticket's (see the lock order), so the assignee
        // is read first, and read again under the locks: if it changed meanwhile, start over.
        let current = self
            .store
            .ticket(on.ticket_id)
            .await?
            .filter(|t| on.by.works_on(t))
            .found("ticket", on.ticket_id)?;
        // A blocked sender may no more reopen a ticket than open one.
        if matches!(on.by.role, Role::Customer | Role::Connector) {
            self.check_sender(&current.customer, now).await?;
        }
        let mut assignee = current.assignee;
        let (write, agent) = loop {
            let write = self.store.begin().await?;
            let agent = match &assignee {
                Some(a) => self.store.lock_agent(&write, a).await?,
                None => None,
            };
            let now_assigned = self.lock_for(&write, &on).await?.assignee;
            if now_assigned == assignee {
                break (write, agent);
            }
            assignee = now_assigned;
        };
        let changed = self
            .change_in(&write, &on, now, |t| {
                lifecycle::apply(
                    t,
                    Action::Reopen {
                        reason: reason.clone(),
                    },
                    now,
                )?;
                let mut note = reason.clone();
                if let Some(why) = cannot_keep(t, agent.as_ref()) {
                    lifecycle::apply(
                        t,
                        Action::Assign {
                            team: None,
                            agent: None,
                            transfer_ownership: false,
                        },
                        now,
                    )?;
                    note = format!("{note} ({why}: back in the queue)");
                }
                Ok(Change::of(EventType::TicketReopened).because(note))
            })
            .await?;
        self.finish(write, changed).await
    }

    /// Adds a comment and applies its effect on the ticket (first response, a customer's
    /// message ending the wait on them) in one transaction with its event. A repeat of the
    /// same request_id answers with the first comment and the ticket as it is now.
    pub async fn add_comment(&self, on: On, new: NewComment) -> Result<(Comment, Ticket)> {
        let now = self.now();
        let ticket_id = on.ticket_id;
        let write = self.store.begin().await?;
        // Locked first, so a concurrent retry waits here and then finds the first comment.
        let current = self.lock_for(&write, &on).await?;
        on.by.check_comment(&current, &new)?;
        // A blocked sender's messages are refused as their tickets are.
        if new.author_role == AuthorRole::Customer {
            self.check_sender(&current.customer, now).await?;
        }
        if let Some(request_id) = &new.request_id
            && let Some((first, hash)) =
                self.store.comment_by_request_id(&write, request_id).await?
        {
            if first.ticket_id != ticket_id {
                return Err(Refusal::RequestReused {
                    request_id: crate::domain::error::shorten(request_id),
                }
                .into());
            }
            check_replay(request_id, hash.as_deref(), &fingerprint(&new))?;
            return Ok((first, current));
        }
        let action = Action::Comment {
            visibility: new.visibility,
            role: new.author_role,
        };
        let changed = self
            .change_in(&write, &on, now, |t| {
                lifecycle::apply(t, action, now)?;
                let mut change = Change::of(EventType::CommentAdded);
                change.note.comment = Some(new);
                Ok(change)
            })
            .await?;
        let comment = changed
            .events
            .first()
            .and_then(|e| e.comment.clone())
            .ok_or_else(|| Error::Internal("a comment's change recorded no comment".into()))?;
        let ticket = self.finish(write, changed).await?;
        Ok((comment, ticket))
    }

    /// A lifecycle verb that needs nothing locked but the ticket.
    async fn act(&self, on: On, action: Action, reason: Option<String>) -> Result<Ticket> {
        let now = self.now();
        let event = action.event_type();
        self.change(on, now, |t| {
            lifecycle::apply(t, action, now)?;
            Ok(Change::of(event).reason(reason))
        })
        .await
    }

    /// Changes one ticket at `now` in a transaction of its own.
    pub(crate) async fn change(
        &self,
        on: On,
        now: DateTime<Utc>,
        change: impl FnOnce(&mut Ticket) -> Result<Change>,
    ) -> Result<Ticket> {
        let write = self.store.begin().await?;
        let changed = self.change_in(&write, &on, now, change).await?;
        self.finish(write, changed).await
    }

    /// Commits a change of one ticket (nothing to commit when nothing changed), waits for the
    /// reactions to it, and answers with the ticket as it stands then.
    pub(crate) async fn finish(&self, write: Write, changed: Changed) -> Result<Ticket> {
        if changed.events.is_empty() {
            return Ok(changed.ticket);
        }
        self.store.commit(write).await?;
        self.settled_events(&changed.events).await;
        self.fresh(changed.ticket).await
    }

    /// Locks the ticket `on` names inside `write`, if its caller may work on it: one outside
    /// their scope is as missing, one they only read (a task asked their team) is refused.
    pub(crate) async fn lock_for(&self, write: &Write, on: &On) -> Result<Ticket> {
        let ticket = self
            .store
            .lock_ticket(write, on.ticket_id)
            .await?
            .filter(|t| on.by.sees(t))
            .found("ticket", on.ticket_id)?;
        on.by.check_works_on(&ticket)?;
        Ok(ticket)
    }

    /// Refuses a supervisor acting for an agent who is in none of their teams.
    pub(crate) async fn check_acting(&self, by: &Principal, acting: &Acting) -> Result<()> {
        if acting.via.is_none() || by.role != Role::Supervisor {
            return Ok(());
        }
        let agent = acting.actor.as_str();
        let teams = match self.store.agent(agent).await? {
            Some(agent) => agent.teams,
            None => Vec::new(),
        };
        by.check_supervises(agent, &teams)?;
        Ok(())
    }

    /// `ticket` as it stands now when a reaction may have moved it on (it waited in a queue).
    async fn fresh(&self, ticket: Ticket) -> Result<Ticket> {
        let waiting =
            ticket.team.is_some() && ticket.assignee.is_none() && QUEUED.contains(&ticket.status);
        if !waiting {
            return Ok(ticket);
        }
        let id = ticket.id;
        self.store.ticket(id).await?.found("ticket", id)
    }

    /// Changes one ticket inside `write`: locks it, checks `on.etag`, lets `change` edit it
    /// and name its event, keeps its SLA clocks in step, and writes the row, its tags, its
    /// comment and its events: the main one, one per lifecycle step the change noted (each
    /// with the fields it changed), then the clocks'. An unchanged ticket writes and records
    /// nothing.
    pub(crate) async fn change_in(
        &self,
        write: &Write,
        on: &On,
        now: DateTime<Utc>,
        change: impl FnOnce(&mut Ticket) -> Result<Change>,
    ) -> Result<Changed> {
        let id = on.ticket_id;
        let before = self.lock_for(write, on).await?;
        before.check_etag(on.etag.as_deref())?;
        self.check_acting(&on.by, &on.acting()).await?;
        let mut after = before.clone();
        let Change { event, note } = change(&mut after)?;
        let clocks = self
            .follow_sla(write, Some(&before), &mut after, now)
            .await?;
        let changes = diff(&before, &after);
        let says_more = note.comment.is_some()
            || note.sla.is_some()
            || note.task.is_some()
            || note.link.is_some()
            || note.attachment.is_some();
        if changes.is_empty() && !says_more {
            return Ok(Changed {
                ticket: before,
                events: Vec::new(),
            });
        }
        after.bump(now);
        self.store.update_ticket(write, &before, &after).await?;
        let Note {
            reason,
            comment,
            survey,
            sla,
            task,
            link,
            request_hash,
            steps,
            attachment,
        } = note;
        let comment = match comment {
            Some(new) => {
                let hash = new
                    .request_id
                    .as_ref()
                    .map(|_| request_hash.unwrap_or_else(|| fingerprint(&new)));
                let stored = self
                    .store
                    .insert_comment(write, id, &new, hash, now)
                    .await?;
                Some(stored.ok_or_else(|| Refusal::RequestReused {
                    request_id: crate::domain::error::shorten(
                        new.request_id.as_deref().unwrap_or_default(),
                    ),
                })?)
            }
            None => None,
        };
        // Each step's event carries what the step changed; the main event the rest.
        let ends: Vec<&Ticket> = steps.iter().map(|s| &s.from).chain([&after]).collect();
        let changes = match steps.first() {
            Some(step) => diff(&before, &step.from),
            None => changes,
        };
        let mut events = vec![TicketEvent {
            changes,
            reason,
            comment,
            survey,
            sla,
            task,
            link,
            attachment,
            via: on.via.clone(),
            ..TicketEvent::on(&after, event, &on.actor, now)
        }];
        events.extend(steps.iter().zip(&ends[1..]).map(|(step, end)| TicketEvent {
            changes: diff(&step.from, end),
            reason: step.reason.clone(),
            via: on.via.clone(),
            ..TicketEvent::on(&after, step.event, &on.actor, now)
        }));
        events.extend(clocks.into_iter().map(|c| c.event(&after, now)));
        let cursors = self.record_events(write, &events).await?;
        for (event, cursor) in events.iter_mut().zip(cursors) {
            event.cursor = cursor;
        }
        Ok(Changed {
            ticket: after,
            events,
        })
    }

    /// Brings the clocks of `after` in step with its change from `before`, and returns what
    /// changed; reads the policies only when something they depend on did.
    pub(crate) async fn follow_sla(
        &self,
        write: &Write,
        before: Option<&Ticket>,
        after: &mut Ticket,
        now: DateTime<Utc>,
    ) -> Result<Vec<sla::ClockChange>> {
        if before.is_some_and(|b| !sla::concerns(b, after)) {
            return Ok(Vec::new());
        }
        let catalog = self.catalog_in(write).await?;
        Ok(sla::follow(before, after, &catalog, now))
    }
}

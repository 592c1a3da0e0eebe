//! What the router reads and writes: the stored classifier, the history behind a ticket's
//! priority, team queues, and assignment under the locks that keep capacity honest.
//!
//! Lock order, the same everywhere, so writers never wait on each other crosswise: the team
//! row, then agent rows in id order, then ticket rows, then the event log (taken last, at
//! append).

use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Expr, LockType, Query};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, ConnectionTrait, EntityTrait, PaginatorTrait,
    QueryFilter, QueryOrder, QuerySelect, QueryTrait,
};

use super::entity::{model, team, ticket};
use super::tickets::Note;
use super::{Store, convert};
use crate::domain::assignment::{self, Pick, Pool, PoolAgent, Strategy};
use crate::domain::classifier::{Example, RoutingModel};
use crate::domain::event::{EventType, TicketEvent};
use crate::domain::lifecycle::{self, Action};
use crate::domain::routing::{text_of, wanted_skills};
use crate::domain::staff::{Agent, QUEUED};
use crate::domain::ticket::{Customer, Identity, Priority, Ticket};
use crate::error::{Error, Result};

/// The actor recorded for what the router does by itself.
pub const ROUTER: &str = "router";

/// The largest queue position reported; a ticket further back is reported at it.
pub const MAX_QUEUE_POSITION: u32 = 1_000;

/// Most resolved tickets one training reads: the newest.
const MAX_EXAMPLES: u64 = 50_000;

/// A stored classifier and what is known of its training.
#[derive(Debug, Clone)]
pub struct StoredModel {
    pub version: i64,
    pub trained_at: DateTime<Utc>,
    pub trained_by: String,
    pub examples: i32,
    pub category_accuracy: f64,
    pub team_accuracy: f64,
    pub model: RoutingModel,
}

/// An agent's change of hands for one ticket, for manual assignment.
#[derive(Debug, Clone)]
pub struct Assignment {
    pub team: Option<String>,
    pub agent: Option<String>,
    pub transfer_ownership: bool,
    pub reason: Option<String>,
}

impl Store {
    /// The version of what routing reads (rules, the set of teams, the model): one number to
    /// ask before each routing, so that the rest can be cached.
    pub async fn routing_version(&self) -> Result<i64> {
        let row = self
            .db
            .query_one_raw(
                self.statement("SELECT version FROM routing_config WHERE id = 1", vec![]),
            )
            .await?
            .ok_or_else(|| Error::Internal("routing_config has no row".into()))?;
        Ok(row.try_get_by_index::<i64>(0)?)
    }

    /// Moves the routing version on, inside the write that changes what routing reads.
    pub(crate) async fn routing_changed(&self, write: &super::Write) -> Result<()> {
        write
            .conn()
            .execute_raw(self.statement(
                "UPDATE routing_config SET version = version + 1 WHERE id = 1",
                vec![],
            ))
            .await?;
        Ok(())
    }

    /// The newest model, if any.
    pub async fn latest_model(&self) -> Result<Option<StoredModel>> {
        let row = model::Entity::find()
            .order_by_desc(model::Column::Id)
            .one(&self.db)
            .await?;
        row.map(|row| {
            Ok(StoredModel {
                version: row.id,
                trained_at: row.trained_at,
                trained_by: row.trained_by,
                examples: row.examples,
                category_accuracy: row.category_accuracy,
                team_accuracy: row.team_accuracy,
                model: serde_json::from_str(&row.model)
                    .map_err(|e| Error::Internal(format!("stored classifier: {e}")))?,
            })
        })
        .transpose()
    }

    /// Stores a newly trained model; it is in use from the next routing on, on every instance.
    pub async fn save_model(&self, m: &StoredModel) -> Result<i64> {
        let text = serde_json::to_string(&m.model).expect("a model serializes");
        let write = self.begin().await?;
        let row = model::ActiveModel {
            trained_at: sea_orm::Set(m.trained_at),
            trained_by: sea_orm::Set(m.trained_by.clone()),
            examples: sea_orm::Set(m.examples),
            category_accuracy: sea_orm::Set(m.category_accuracy),
            team_accuracy: sea_orm::Set(m.team_accuracy),
            model: sea_orm::Set(text),
            ..Default::default()
        }
        .insert(write.conn())
        .await?;
        self.routing_changed(&write).await?;
        self.commit(write).await?;
        Ok(row.id)
    }

    /// The newest resolved and closed tickets as training examples: their final category and
    /// team, the triage team left out as a destination.
    pub async fn training_examples(&self, triage: &str) -> Result<Vec<Example>> {
        let rows: Vec<(String, String, Option<String>, Option<String>)> = ticket::Entity::find()
            .select_only()
            .columns([
                ticket::Column::Title,
                ticket::Column::Description,
                ticket::Column::Category,
                ticket::Column::Team,
            ])
            .filter(ticket::Column::Status.is_in(["RESOLVED", "CLOSED"]))
            .filter(
                Condition::any()
                    .add(ticket::Column::Category.is_not_null())
                    .add(ticket::Column::Team.ne(triage)),
            )
            .order_by_desc(ticket::Column::Id)
            .limit(MAX_EXAMPLES)
            .into_tuple()
            .all(&self.db)
            .await?;
        // Oldest first, so that the held-out fifth spreads over the whole period.
        Ok(rows
            .into_iter()
            .rev()
            .map(|(title, description, category, team)| Example {
                text: text_of(&title, &description),
                category,
                team: team.filter(|t| t != triage),
            })
            .collect())
    }

    /// Other customers' tickets about `product` and `category` created since `since`.
    pub async fn similar_reports(
        &self,
        product: &str,
        category: Option<&str>,
        customer: &Customer,
        since: DateTime<Utc>,
    ) -> Result<usize> {
        let Some(category) = category else {
            return Ok(0);
        };
        let mut query = ticket::Entity::find()
            .filter(ticket::Column::Category.eq(category))
            .filter(ticket::Column::Product.eq(product))
            .filter(ticket::Column::CreatedAt.gte(since));
        if let Some(same) = customer_match(customer) {
            query = query.filter(same.not());
        }
        Ok(query.count(&self.db).await? as usize)
    }

    /// The number of the customer's newest ticket since `since` about the same product (when
    /// there is one) or the same category.
    pub async fn earlier_ticket(
        &self,
        customer: &Customer,
        product: &str,
        category: Option<&str>,
        since: DateTime<Utc>,
    ) -> Result<Option<String>> {
        let Some(same_customer) = customer_match(customer) else {
            return Ok(None);
        };
        let mut matter = Condition::any();
        if !product.is_empty() {
            matter = matter.add(ticket::Column::Product.eq(product));
        }
        if let Some(category) = category {
            matter = matter.add(ticket::Column::Category.eq(category));
        }
        if matter.is_empty() {
            return Ok(None);
        }
        Ok(ticket::Entity::find()
            .select_only()
            .column(ticket::Column::Number)
            .filter(same_customer)
            .filter(matter)
            .filter(ticket::Column::CreatedAt.gte(since))
            // Served by (customer column, created_at): the newest first, stopping at the first
            // about the same matter.
            .order_by_desc(ticket::Column::CreatedAt)
            .into_tuple()
            .one(&self.db)
            .await?)
    }

    /// Up to `limit` tickets waiting in `team`'s queue, in the order they will be served,
    /// after the ticket at `after` (its priority rank and id).
    pub async fn team_queue(
        &self,
        team: &str,
        after: Option<(i16, i64)>,
        limit: u64,
    ) -> Result<Vec<Ticket>> {
        let mut query = queued(team);
        if let Some((rank, id)) = after {
            query = query.filter(behind(rank, id));
        }
        let rows = query.limit(limit).all(&self.db).await?;
        rows.into_iter().map(convert::ticket).collect()
    }

    /// Where a waiting ticket stands in its team's queue, 1 = next; 0 when it is not waiting.
    pub async fn queue_position(&self, ticket: &Ticket) -> Result<u32> {
        let (Some(team), None) = (&ticket.team, &ticket.assignee) else {
            return Ok(0);
        };
        if !QUEUED.contains(&ticket.status) {
            return Ok(0);
        }
        // Counted up to a cap, so that a long queue costs no more than a short one.
        let ahead = queued(team)
            .filter(behind(ticket.priority.rank(), ticket.id).not())
            .filter(ticket::Column::Id.ne(ticket.id))
            .select_only()
            .column(ticket::Column::Id)
            .limit(u64::from(MAX_QUEUE_POSITION) - 1)
            .into_query();
        let count = Query::select()
            .expr(Expr::cust("COUNT(*)"))
            .from_subquery(ahead, "ahead")
            .to_owned();
        let row = self
            .db
            .query_one(&count)
            .await?
            .ok_or_else(|| Error::Internal("COUNT returned no row".into()))?;
        Ok(row.try_get_by_index::<i64>(0)? as u32 + 1)
    }

    /// Assigns `team`'s waiting tickets, most urgent then oldest first, to its members with
    /// room, by each ticket's strategy (or the team's). Returns the events recorded.
    pub async fn dispatch(&self, team_id: &str, now: DateTime<Utc>) -> Result<Vec<TicketEvent>> {
        // Most passes find nobody with room: say so from a read, without taking the write
        // lock. Safe, because whatever makes room commits first and dispatches after.
        if pool(self.team_members(team_id).await?, None).room() == 0 {
            return Ok(Vec::new());
        }
        let write = self.begin().await?;
        let team = match self.lock_team(&write, team_id, LockType::NoKeyUpdate).await {
            Ok(team) => team,
            Err(Error::NotFound { .. }) => return Ok(Vec::new()),
            Err(e) => return Err(e),
        };
        let agents = self.lock_members(&write, team_id).await?;
        let mut pool = pool(agents, team_last_assignee(&write, team_id).await?);
        let room = pool.room();
        if room == 0 {
            return Ok(Vec::new());
        }
        // Lock every ticket this pass may take before recording any event (see the lock order).
        let mut waiting = queued(team_id).limit(u64::from(room));
        if self.backend() == sea_orm::DbBackend::Postgres {
            waiting = waiting.lock_exclusive();
        }
        let waiting = waiting.all(write.conn()).await?;
        let mut events = Vec::new();
        for row in waiting {
            let ticket = convert::ticket(row)?;
            let strategy = ticket.assignment_strategy.unwrap_or(team.strategy);
            let Some(pick) = pool.take(strategy, &skills_for(&ticket)) else {
                break;
            };
            let (_, event) = self
                .change_in(&write, ticket.id, None, ROUTER, now, |t| {
                    lifecycle::apply(
                        t,
                        Action::Assign {
                            team: None,
                            agent: Some(pick.agent),
                            transfer_ownership: false,
                        },
                        now,
                    )?;
                    Ok((
                        EventType::TicketAssigned,
                        Note {
                            reason: Some(pick.reason),
                            ..Note::default()
                        },
                    ))
                })
                .await?;
            events.extend(event);
        }
        if events.is_empty() {
            return Ok(events);
        }
        team::ActiveModel {
            id: sea_orm::Set(team_id.to_owned()),
            last_assignee: sea_orm::Set(pool.last),
            ..Default::default()
        }
        .update(write.conn())
        .await?;
        self.commit(write).await?;
        Ok(events)
    }

    /// Who would get a new ticket in `team` now, of `priority` and needing `wanted`, after the
    /// waiting tickets served before it; `None` when it would wait. Reads only.
    pub async fn preview_pick(
        &self,
        team_id: &str,
        priority: Priority,
        strategy: Option<Strategy>,
        wanted: &[String],
    ) -> Result<(Strategy, std::result::Result<Pick, String>)> {
        let team = self.get_team(team_id).await?;
        let strategy = strategy.unwrap_or(team.strategy);
        let agents = self.team_members(team_id).await?;
        let last = team::Entity::find_by_id(team_id)
            .one(&self.db)
            .await?
            .and_then(|t| t.last_assignee);
        let mut pool = pool(agents, last);
        let room = pool.room();
        let ahead = queued(team_id)
            .filter(ticket::Column::PriorityRank.lte(priority.rank()))
            .limit(u64::from(room) + 1)
            .all(&self.db)
            .await?;
        for row in &ahead {
            let ticket = convert::ticket(row.clone())?;
            let strategy = ticket.assignment_strategy.unwrap_or(team.strategy);
            pool.take(strategy, &skills_for(&ticket));
        }
        let pick = pool.take(strategy, wanted).ok_or_else(|| {
            if room == 0 {
                format!("nobody in {team_id} is online with room: it would wait in the queue")
            } else {
                format!(
                    "{} waiting tickets come first and fill the room left: it would wait in \
                     the queue",
                    ahead.len()
                )
            }
        });
        Ok((strategy, pick))
    }

    /// Gives a ticket to a team and/or an agent by hand. The agent must exist, be a member of
    /// the ticket's (new) team and have room, all checked under the agent's lock.
    pub async fn assign(
        &self,
        id: i64,
        etag: Option<&str>,
        assignment: Assignment,
        actor: &str,
        now: DateTime<Utc>,
    ) -> Result<(Ticket, Option<TicketEvent>)> {
        let write = self.begin().await?;
        if let Some(team) = &assignment.team {
            self.lock_team(&write, team, LockType::KeyShare).await?;
        }
        let agent = match &assignment.agent {
            Some(id) => Some(
                self.lock_agents(&write, std::slice::from_ref(id))
                    .await?
                    .pop()
                    .ok_or_else(|| Error::not_found("agent", id))?,
            ),
            None => None,
        };
        let Assignment {
            team,
            agent: agent_id,
            transfer_ownership,
            reason,
        } = assignment;
        let (ticket, event) = self
            .change_in(&write, id, etag, actor, now, |t| {
                if let Some(agent) = &agent {
                    check_can_take(agent, t, team.as_deref())?;
                }
                lifecycle::apply(
                    t,
                    Action::Assign {
                        team,
                        agent: agent_id,
                        transfer_ownership,
                    },
                    now,
                )?;
                Ok((
                    EventType::TicketAssigned,
                    Note {
                        reason,
                        ..Note::default()
                    },
                ))
            })
            .await?;
        if event.is_some() {
            self.commit(write).await?;
        }
        Ok((ticket, event))
    }

    /// Reopens a ticket and routes it again in the same transaction: it stays with its
    /// assignee if they are still in its team, online and have room for it; otherwise it
    /// goes back to the team's queue.
    pub async fn reopen(
        &self,
        id: i64,
        etag: Option<&str>,
        reason: String,
        actor: &str,
        now: DateTime<Utc>,
    ) -> Result<(Ticket, Option<TicketEvent>)> {
        // The assignee's lock comes before the ticket's (see the lock order), so the assignee
        // is read first, and read again under the locks: if it changed meanwhile, start over.
        let mut assignee = self.get_ticket(id).await?.assignee;
        let (write, agent) = loop {
            let write = self.begin().await?;
            let agent = match &assignee {
                Some(a) => self
                    .lock_agents(&write, std::slice::from_ref(a))
                    .await?
                    .pop(),
                None => None,
            };
            let now_assigned = self.lock_ticket(&write, id).await?.assignee;
            if now_assigned == assignee {
                break (write, agent);
            }
            assignee = now_assigned;
        };
        let (ticket, event) = self
            .change_in(&write, id, etag, actor, now, |t| {
                lifecycle::apply(
                    t,
                    Action::Reopen {
                        reason: reason.clone(),
                    },
                    now,
                )?;
                let mut note = reason;
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
                Ok((
                    EventType::TicketReopened,
                    Note {
                        reason: Some(note),
                        ..Note::default()
                    },
                ))
            })
            .await?;
        if event.is_some() {
            self.commit(write).await?;
        }
        Ok((ticket, event))
    }
}

/// Why a reopened ticket cannot stay with its assignee, if it cannot. `agent` is the
/// assignee as locked before the ticket (the ticket's resolved state did not count).
fn cannot_keep(ticket: &Ticket, agent: Option<&Agent>) -> Option<String> {
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
    if agent.availability != assignment::Availability::Online {
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

/// Refuses to give `ticket` to `agent` unless they are in its (new) team and have room.
pub(super) fn check_can_take(agent: &Agent, ticket: &Ticket, new_team: Option<&str>) -> Result<()> {
    let team = new_team.or(ticket.team.as_deref());
    let refuse = |description: String| {
        Err(Error::FailedPrecondition {
            subject: format!("agent {}", agent.id),
            description,
        })
    };
    match team {
        None => return refuse("the ticket has no team yet: name one".into()),
        Some(team) if !agent.teams.iter().any(|t| t == team) => {
            return refuse(format!(
                "{} is not a member of team {team} (their teams: {})",
                agent.id,
                if agent.teams.is_empty() {
                    "none".to_owned()
                } else {
                    agent.teams.join(", ")
                }
            ));
        }
        Some(_) => {}
    }
    let already_theirs = ticket.assignee.as_deref() == Some(agent.id.as_str());
    if !already_theirs && !agent.has_room() {
        return refuse(format!(
            "{} is at capacity ({} of {} open tickets)",
            agent.id, agent.open_tickets, agent.capacity
        ));
    }
    Ok(())
}

fn pool(agents: Vec<Agent>, last: Option<String>) -> Pool {
    Pool {
        agents: agents
            .into_iter()
            .map(|a| PoolAgent {
                id: a.id,
                availability: a.availability,
                capacity: a.capacity,
                open_tickets: a.open_tickets,
                skills: a.skills,
            })
            .collect(),
        last,
    }
}

fn skills_for(ticket: &Ticket) -> Vec<String> {
    wanted_skills(
        &ticket.product,
        ticket.category.as_deref(),
        &text_of(&ticket.title, &ticket.description),
    )
}

/// A team's waiting tickets in the order they are served.
fn queued(team: &str) -> sea_orm::Select<ticket::Entity> {
    ticket::Entity::find()
        .filter(ticket::Column::Team.eq(team))
        .filter(ticket::Column::Assignee.is_null())
        .filter(ticket::Column::Status.is_in(QUEUED.iter().map(|s| s.as_str())))
        .order_by_asc(ticket::Column::PriorityRank)
        .order_by_asc(ticket::Column::Id)
}

/// Queued tickets served after the one of priority `rank` and `id`.
fn behind(rank: i16, id: i64) -> Condition {
    Condition::any()
        .add(ticket::Column::PriorityRank.gt(rank))
        .add(
            Condition::all()
                .add(ticket::Column::PriorityRank.eq(rank))
                .add(ticket::Column::Id.gt(id)),
        )
}

async fn team_last_assignee(write: &super::Write, team_id: &str) -> Result<Option<String>> {
    Ok(team::Entity::find_by_id(team_id)
        .one(write.conn())
        .await?
        .and_then(|t| t.last_assignee))
}

/// The tickets of the same customer, by what identifies them.
fn customer_match(customer: &Customer) -> Option<Condition> {
    let (identity, value) = customer.identity()?;
    let column = match identity {
        Identity::ExternalId => ticket::Column::CustomerExternalId,
        Identity::Phone => ticket::Column::CustomerPhone,
        Identity::Email => ticket::Column::CustomerEmail,
    };
    Some(Condition::all().add(column.eq(value)))
}

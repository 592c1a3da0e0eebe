//! Teams and agents: their rows, memberships, and the counts that go with them (members,
//! queued tickets, open tickets per agent).

use std::collections::HashMap;

use sea_orm::sea_query::{Expr, ExprTrait, LockType};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, DbBackend, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder,
    QuerySelect,
};

use super::entity::{agent, member, team, ticket};
use super::{Store, Write, check_etag, convert};
use crate::domain::staff::{Agent, OPEN, QUEUED, Team};
use crate::error::{Error, Result};

/// A duplicate key means the id is taken; anything else is the database's error.
pub(super) fn taken(resource: &'static str, id: &str) -> impl FnOnce(sea_orm::DbErr) -> Error {
    let key = id.to_owned();
    move |err| {
        if super::is_unique_violation(&err) {
            Error::AlreadyExists { resource, key }
        } else {
            err.into()
        }
    }
}

fn names(statuses: &[crate::domain::ticket::Status]) -> Vec<&'static str> {
    statuses.iter().map(|s| s.as_str()).collect()
}

impl Store {
    pub async fn create_team(&self, team: Team) -> Result<Team> {
        self.check_calendar("team.calendar", team.calendar.as_deref())
            .await?;
        let write = self.begin().await?;
        convert::team_row(&team)
            .insert(write.conn())
            .await
            .map_err(taken("team", &team.id))?;
        self.routing_changed(&write).await?;
        self.commit(write).await?;
        self.get_team(&team.id).await
    }

    /// Creates the team unless it exists; for the triage team at start.
    pub async fn ensure_team(&self, team: Team) -> Result<()> {
        super::created_or_there(self.create_team(team).await)
    }

    pub async fn get_team(&self, id: &str) -> Result<Team> {
        let row = team::Entity::find_by_id(id).one(&self.db).await?;
        let row = row.ok_or_else(|| Error::not_found("team", id))?;
        Ok(self.complete_teams(vec![row]).await?.remove(0))
    }

    /// Up to `limit` teams by id, after `after`.
    pub async fn list_teams(&self, after: Option<&str>, limit: u64) -> Result<Vec<Team>> {
        let mut query = team::Entity::find().order_by_asc(team::Column::Id);
        if let Some(after) = after {
            query = query.filter(team::Column::Id.gt(after));
        }
        let rows = query.limit(limit).all(&self.db).await?;
        self.complete_teams(rows).await
    }

    /// Every team id.
    pub async fn team_ids(&self) -> Result<Vec<String>> {
        Ok(team::Entity::find()
            .select_only()
            .column(team::Column::Id)
            .into_tuple()
            .all(&self.db)
            .await?)
    }

    /// Changes a team under its lock; `change` edits it.
    pub async fn update_team(
        &self,
        id: &str,
        etag: Option<&str>,
        now: chrono::DateTime<chrono::Utc>,
        change: impl FnOnce(&mut Team) -> Result<()>,
    ) -> Result<Team> {
        let write = self.begin().await?;
        let mut team = self.lock_team(&write, id, LockType::NoKeyUpdate).await?;
        check_etag(etag, team.etag())?;
        let before = team.clone();
        change(&mut team)?;
        if team.calendar != before.calendar {
            self.check_calendar("team.calendar", team.calendar.as_deref())
                .await?;
        }
        if team != before {
            team.version += 1;
            team.updated_at = now;
            let mut row = convert::team_row(&team);
            row.last_assignee = sea_orm::ActiveValue::NotSet;
            row.update(write.conn()).await?;
            self.commit(write).await?;
        }
        self.get_team(id).await
    }

    /// Deletes a team without open tickets.
    pub async fn delete_team(&self, id: &str, etag: Option<&str>) -> Result<()> {
        let write = self.begin().await?;
        let team = self.lock_team(&write, id, LockType::Update).await?;
        check_etag(etag, team.etag())?;
        let open = ticket::Entity::find()
            .filter(ticket::Column::Team.eq(id))
            .filter(ticket::Column::Status.is_not_in(["RESOLVED", "CLOSED"]))
            .count(write.conn())
            .await?;
        if open > 0 {
            return Err(Error::FailedPrecondition {
                subject: format!("team {id}"),
                description: format!(
                    "it holds {open} open tickets; move them to another team first"
                ),
            });
        }
        let rules = self.rules_routing_to(&write, id).await?;
        if !rules.is_empty() {
            return Err(Error::FailedPrecondition {
                subject: format!("team {id}"),
                description: format!("rules route to it: {}", rules.join(", ")),
            });
        }
        let policies = self.policies_escalating_to(&write, id).await?;
        if !policies.is_empty() {
            return Err(Error::FailedPrecondition {
                subject: format!("team {id}"),
                description: format!("SLA policies escalate to it: {}", policies.join(", ")),
            });
        }
        team::Entity::delete_by_id(id).exec(write.conn()).await?;
        self.routing_changed(&write).await?;
        self.commit(write).await
    }

    /// Reads a team inside a write, locking its row (SQLite's single writer already does)
    /// `how`: [`LockType::NoKeyUpdate`] serializes dispatches without blocking the foreign-key
    /// checks of memberships; [`LockType::Update`] also keeps tickets out while it is deleted;
    /// [`LockType::KeyShare`] keeps it from being deleted.
    pub(crate) async fn lock_team(&self, write: &Write, id: &str, how: LockType) -> Result<Team> {
        let mut query = team::Entity::find_by_id(id);
        if self.backend() == DbBackend::Postgres {
            query = query.lock(how);
        }
        let row = query.one(write.conn()).await?;
        let row = row.ok_or_else(|| Error::not_found("team", id))?;
        convert::team(row, Vec::new(), 0)
    }

    /// Teams with their members and queue lengths.
    async fn complete_teams(&self, rows: Vec<team::Model>) -> Result<Vec<Team>> {
        let ids: Vec<String> = rows.iter().map(|r| r.id.clone()).collect();
        let mut members = memberships(&self.db, member::Column::TeamId, &ids).await?;
        let queued = tickets_per(
            &self.db,
            ticket::Column::Team,
            ids,
            QUEUED,
            ticket::Column::Assignee.is_null(),
        )
        .await?;
        rows.into_iter()
            .map(|row| {
                let id = row.id.clone();
                convert::team(
                    row,
                    members.remove(&id).unwrap_or_default(),
                    queued.get(&id).copied().unwrap_or(0),
                )
            })
            .collect()
    }

    pub async fn create_agent(&self, agent: Agent) -> Result<Agent> {
        let write = self.begin().await?;
        convert::agent_row(&agent)
            .insert(write.conn())
            .await
            .map_err(taken("agent", &agent.id))?;
        self.set_memberships(&write, &agent).await?;
        self.commit(write).await?;
        self.get_agent(&agent.id).await
    }

    pub async fn get_agent(&self, id: &str) -> Result<Agent> {
        let row = agent::Entity::find_by_id(id).one(&self.db).await?;
        let row = row.ok_or_else(|| Error::not_found("agent", id))?;
        Ok(self.complete_agents(&self.db, vec![row]).await?.remove(0))
    }

    /// Up to `limit` agents by id after `after`, of `team` and with `availability` if given.
    pub async fn list_agents(
        &self,
        team: Option<&str>,
        availability: Option<crate::domain::assignment::Availability>,
        after: Option<&str>,
        limit: u64,
    ) -> Result<Vec<Agent>> {
        let mut query = agent::Entity::find().order_by_asc(agent::Column::Id);
        if let Some(team) = team {
            query = query.filter(
                agent::Column::Id.in_subquery(
                    sea_orm::sea_query::Query::select()
                        .column(member::Column::AgentId)
                        .from(member::Entity)
                        .and_where(member::Column::TeamId.eq(team))
                        .to_owned(),
                ),
            );
        }
        if let Some(availability) = availability {
            query = query.filter(agent::Column::Availability.eq(availability.as_str()));
        }
        if let Some(after) = after {
            query = query.filter(agent::Column::Id.gt(after));
        }
        let rows = query.limit(limit).all(&self.db).await?;
        self.complete_agents(&self.db, rows).await
    }

    /// Every member of `team`, with their load.
    pub async fn team_members(&self, team: &str) -> Result<Vec<Agent>> {
        // The databases take a limit up to i64::MAX.
        self.list_agents(Some(team), None, None, i64::MAX as u64)
            .await
    }

    /// Changes an agent under their lock; `change` edits them. Returns the agent before and
    /// after.
    pub async fn update_agent(
        &self,
        id: &str,
        etag: Option<&str>,
        now: chrono::DateTime<chrono::Utc>,
        change: impl FnOnce(&mut Agent) -> Result<()>,
    ) -> Result<(Agent, Agent)> {
        let write = self.begin().await?;
        let before = self.lock_agents(&write, &[id.to_owned()]).await?;
        let before = before
            .into_iter()
            .next()
            .ok_or_else(|| Error::not_found("agent", id))?;
        check_etag(etag, before.etag())?;
        let mut after = before.clone();
        change(&mut after)?;
        if after != before {
            after.version += 1;
            after.updated_at = now;
            convert::agent_row(&after).update(write.conn()).await?;
            if after.teams != before.teams {
                member::Entity::delete_many()
                    .filter(member::Column::AgentId.eq(id))
                    .exec(write.conn())
                    .await?;
                self.set_memberships(&write, &after).await?;
            }
            self.commit(write).await?;
        }
        Ok((before, after))
    }

    /// Deletes an agent who holds no open tickets.
    pub async fn delete_agent(&self, id: &str, etag: Option<&str>) -> Result<()> {
        let write = self.begin().await?;
        let agent = self
            .lock_agents(&write, &[id.to_owned()])
            .await?
            .into_iter()
            .next()
            .ok_or_else(|| Error::not_found("agent", id))?;
        check_etag(etag, agent.etag())?;
        if agent.open_tickets > 0 {
            return Err(Error::FailedPrecondition {
                subject: format!("agent {id}"),
                description: format!(
                    "they hold {} open tickets; reassign them first",
                    agent.open_tickets
                ),
            });
        }
        agent::Entity::delete_by_id(id).exec(write.conn()).await?;
        self.commit(write).await
    }

    /// Reads agents inside a write, locking their rows in id order (so two writers never
    /// wait on each other crosswise), with their teams and open tickets as of the lock.
    pub(crate) async fn lock_agents(&self, write: &Write, ids: &[String]) -> Result<Vec<Agent>> {
        let mut query = agent::Entity::find()
            .filter(agent::Column::Id.is_in(ids.iter().cloned()))
            .order_by_asc(agent::Column::Id);
        if self.backend() == DbBackend::Postgres {
            query = query.lock_exclusive();
        }
        let rows = query.all(write.conn()).await?;
        self.complete_agents(write.conn(), rows).await
    }

    /// The members of a team, locked as [`Store::lock_agents`] locks them.
    pub(crate) async fn lock_members(&self, write: &Write, team: &str) -> Result<Vec<Agent>> {
        let ids: Vec<String> = member::Entity::find()
            .select_only()
            .column(member::Column::AgentId)
            .filter(member::Column::TeamId.eq(team))
            .into_tuple()
            .all(write.conn())
            .await?;
        // Someone may have left the team between reading the ids and taking the locks.
        let mut agents = self.lock_agents(write, &ids).await?;
        agents.retain(|a| a.teams.iter().any(|t| t == team));
        Ok(agents)
    }

    /// Agents with their teams and open tickets.
    async fn complete_agents(
        &self,
        conn: &impl sea_orm::ConnectionTrait,
        rows: Vec<agent::Model>,
    ) -> Result<Vec<Agent>> {
        if rows.is_empty() {
            return Ok(Vec::new());
        }
        let ids: Vec<String> = rows.iter().map(|r| r.id.clone()).collect();
        let mut teams = memberships(conn, member::Column::AgentId, &ids).await?;
        let open = tickets_per(
            conn,
            ticket::Column::Assignee,
            ids,
            OPEN,
            ticket::Column::Assignee.is_not_null(),
        )
        .await?;
        rows.into_iter()
            .map(|row| {
                let id = row.id.clone();
                convert::agent(
                    row,
                    teams.remove(&id).unwrap_or_default(),
                    open.get(&id).copied().unwrap_or(0),
                )
            })
            .collect()
    }

    /// Makes the agent a member of each of their teams, which must exist.
    async fn set_memberships(&self, write: &Write, agent: &Agent) -> Result<()> {
        if agent.teams.is_empty() {
            return Ok(());
        }
        let known: Vec<String> = team::Entity::find()
            .select_only()
            .column(team::Column::Id)
            .filter(team::Column::Id.is_in(agent.teams.clone()))
            .into_tuple()
            .all(write.conn())
            .await?;
        if let Some(missing) = agent.teams.iter().find(|t| !known.contains(t)) {
            return Err(Error::not_found("team", missing));
        }
        member::Entity::insert_many(agent.teams.iter().map(|team| member::ActiveModel {
            team_id: sea_orm::Set(team.clone()),
            agent_id: sea_orm::Set(agent.id.clone()),
        }))
        .exec_without_returning(write.conn())
        .await?;
        Ok(())
    }
}

/// The other side of each membership of `ids`, sorted: a team's agents (`by` TeamId) or an
/// agent's teams (`by` AgentId).
async fn memberships(
    conn: &impl sea_orm::ConnectionTrait,
    by: member::Column,
    ids: &[String],
) -> Result<HashMap<String, Vec<String>>> {
    let mut found: HashMap<String, Vec<String>> = HashMap::new();
    let rows = member::Entity::find()
        .filter(by.is_in(ids.iter().cloned()))
        .order_by_asc(member::Column::TeamId)
        .order_by_asc(member::Column::AgentId)
        .all(conn)
        .await?;
    for m in rows {
        let (key, other) = match by {
            member::Column::TeamId => (m.team_id, m.agent_id),
            member::Column::AgentId => (m.agent_id, m.team_id),
        };
        found.entry(key).or_default().push(other);
    }
    Ok(found)
}

/// How many tickets in `statuses` (and meeting `also`) each of `keys` holds in `column`.
async fn tickets_per(
    conn: &impl sea_orm::ConnectionTrait,
    column: ticket::Column,
    keys: Vec<String>,
    statuses: &[crate::domain::ticket::Status],
    also: sea_orm::sea_query::SimpleExpr,
) -> Result<HashMap<String, i64>> {
    Ok(ticket::Entity::find()
        .select_only()
        .column(column)
        .column_as(Expr::col(ticket::Column::Id).count(), "count")
        .filter(column.is_in(keys))
        .filter(ticket::Column::Status.is_in(names(statuses)))
        .filter(also)
        .group_by(column)
        .into_tuple::<(String, i64)>()
        .all(conn)
        .await?
        .into_iter()
        .collect())
}

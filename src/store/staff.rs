//! Teams and agents: their rows, memberships, and the counts that go with them (members,
//! queued tickets, open tickets per agent).

use std::collections::HashMap;

use sea_orm::sea_query::{Expr, ExprTrait, LockType};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DbBackend, EntityTrait, PaginatorTrait,
    QueryFilter, QueryOrder, QuerySelect,
};

use super::entity::{agent, calendar, member, team, ticket};
use super::{Inserted, Store, Write, convert, inserted};
use crate::domain::assignment::Availability;
use crate::domain::calendar::DEFAULT_CALENDAR;
use crate::domain::staff::{Agent, OPEN, QUEUED, Team};
use crate::domain::ticket::Status;
use crate::error::Result;

/// How a team's row is locked for the rest of a write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TeamLock {
    /// Keeps it from being deleted: for a ticket or a membership that names it.
    Keep,
    /// Serializes its changes and dispatches, without blocking what names it.
    Change,
    /// Also keeps new tickets and memberships from naming it, while it is deleted.
    Delete,
}

fn names(statuses: &[Status]) -> Vec<&'static str> {
    statuses.iter().map(|s| s.as_str()).collect()
}

impl Store {
    // --- Teams ---

    pub async fn insert_team(&self, write: &Write, team: &Team) -> Result<Inserted> {
        inserted(convert::team_row(team).insert(write.conn()).await)
    }

    /// Writes a team's row; its round-robin position stays as it is.
    pub async fn update_team(&self, write: &Write, team: &Team) -> Result<()> {
        convert::team_row(team).update(write.conn()).await?;
        Ok(())
    }

    pub async fn delete_team(&self, write: &Write, id: &str) -> Result<()> {
        team::Entity::delete_by_id(id).exec(write.conn()).await?;
        Ok(())
    }

    pub async fn team(&self, id: &str) -> Result<Option<Team>> {
        let row = team::Entity::find_by_id(id).one(&self.db).await?;
        Ok(self.complete_teams(row.into_iter().collect()).await?.pop())
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

    /// Which of `ids` name no team, read inside `write`.
    pub async fn missing_teams(&self, write: &Write, ids: &[String]) -> Result<Vec<String>> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let known: Vec<String> = team::Entity::find()
            .select_only()
            .column(team::Column::Id)
            .filter(team::Column::Id.is_in(ids.iter().cloned()))
            .into_tuple()
            .all(write.conn())
            .await?;
        Ok(ids.iter().filter(|t| !known.contains(t)).cloned().collect())
    }

    /// Reads a team inside a write, locking its row `how` (SQLite's single writer already
    /// excludes other writers). Members, queue and zone are not read.
    pub async fn lock_team(&self, write: &Write, id: &str, how: TeamLock) -> Result<Option<Team>> {
        let mut query = team::Entity::find_by_id(id);
        if self.backend() == DbBackend::Postgres {
            query = query.lock(match how {
                TeamLock::Keep => LockType::KeyShare,
                TeamLock::Change => LockType::NoKeyUpdate,
                TeamLock::Delete => LockType::Update,
            });
        }
        query
            .one(write.conn())
            .await?
            .map(|row| convert::team(row, Vec::new(), 0, String::new()))
            .transpose()
    }

    /// Who got the team's last ticket from its queue (round robin goes on after them).
    pub async fn last_assignee(&self, conn: Option<&Write>, team: &str) -> Result<Option<String>> {
        let query = team::Entity::find_by_id(team);
        let row = match conn {
            Some(write) => query.one(write.conn()).await?,
            None => query.one(&self.db).await?,
        };
        Ok(row.and_then(|t| t.last_assignee))
    }

    pub async fn set_last_assignee(
        &self,
        write: &Write,
        team: &str,
        last: Option<String>,
    ) -> Result<()> {
        team::ActiveModel {
            id: sea_orm::Set(team.to_owned()),
            last_assignee: sea_orm::Set(last),
            ..Default::default()
        }
        .update(write.conn())
        .await?;
        Ok(())
    }

    /// How many open tickets `team` holds, read inside `write`.
    pub async fn open_tickets_of_team(&self, write: &Write, team: &str) -> Result<u64> {
        Ok(ticket::Entity::find()
            .filter(ticket::Column::Team.eq(team))
            .filter(
                ticket::Column::Status
                    .is_not_in([Status::Resolved.as_str(), Status::Closed.as_str()]),
            )
            .count(write.conn())
            .await?)
    }

    /// Teams with their members and queue lengths.
    async fn complete_teams(&self, rows: Vec<team::Model>) -> Result<Vec<Team>> {
        if rows.is_empty() {
            return Ok(Vec::new());
        }
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
        // A team that names no calendar works by the default one.
        let calendar_of = |row: &team::Model| {
            row.calendar
                .clone()
                .unwrap_or_else(|| DEFAULT_CALENDAR.to_owned())
        };
        let zones: HashMap<String, String> = calendar::Entity::find()
            .select_only()
            .columns([calendar::Column::Id, calendar::Column::TimeZone])
            .filter(calendar::Column::Id.is_in(rows.iter().map(calendar_of)))
            .into_tuple()
            .all(&self.db)
            .await?
            .into_iter()
            .collect();
        rows.into_iter()
            .map(|row| {
                let id = row.id.clone();
                let zone = zones.get(&calendar_of(&row)).cloned().unwrap_or_default();
                convert::team(
                    row,
                    members.remove(&id).unwrap_or_default(),
                    queued.get(&id).copied().unwrap_or(0),
                    zone,
                )
            })
            .collect()
    }

    /// The ids of a team's members, read inside `write`.
    pub async fn member_ids(&self, write: &Write, team: &str) -> Result<Vec<String>> {
        let ids = [team.to_owned()];
        let mut members = memberships(write.conn(), member::Column::TeamId, &ids).await?;
        Ok(members.remove(team).unwrap_or_default())
    }

    // --- Agents ---

    /// Inserts an agent with their memberships; every team must exist.
    pub async fn insert_agent(&self, write: &Write, agent: &Agent) -> Result<Inserted> {
        let done = inserted(convert::agent_row(agent).insert(write.conn()).await)?;
        if done == Inserted::Done {
            self.set_memberships(write, agent).await?;
        }
        Ok(done)
    }

    /// Writes an agent's row, and their memberships when their teams changed since `before`.
    pub async fn update_agent(&self, write: &Write, before: &Agent, after: &Agent) -> Result<()> {
        convert::agent_row(after).update(write.conn()).await?;
        if after.teams != before.teams {
            member::Entity::delete_many()
                .filter(member::Column::AgentId.eq(after.id.as_str()))
                .exec(write.conn())
                .await?;
            self.set_memberships(write, after).await?;
        }
        Ok(())
    }

    pub async fn delete_agent(&self, write: &Write, id: &str) -> Result<()> {
        agent::Entity::delete_by_id(id).exec(write.conn()).await?;
        Ok(())
    }

    pub async fn agent(&self, id: &str) -> Result<Option<Agent>> {
        let row = agent::Entity::find_by_id(id).one(&self.db).await?;
        Ok(self
            .complete_agents(&self.db, row.into_iter().collect())
            .await?
            .pop())
    }

    /// Up to `limit` agents by id after `after`, of `team` and with `availability` if given.
    pub async fn list_agents(
        &self,
        team: Option<&str>,
        availability: Option<Availability>,
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

    /// Reads agents inside a write, locking their rows in id order (so two writers never
    /// wait on each other crosswise), with their teams and open tickets as of the lock.
    pub async fn lock_agents(&self, write: &Write, ids: &[String]) -> Result<Vec<Agent>> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let mut query = agent::Entity::find()
            .filter(agent::Column::Id.is_in(ids.iter().cloned()))
            .order_by_asc(agent::Column::Id);
        if self.backend() == DbBackend::Postgres {
            query = query.lock_exclusive();
        }
        let rows = query.all(write.conn()).await?;
        self.complete_agents(write.conn(), rows).await
    }

    /// One agent, locked as [`Store::lock_agents`] locks them.
    pub async fn lock_agent(&self, write: &Write, id: &str) -> Result<Option<Agent>> {
        Ok(self.lock_agents(write, &[id.to_owned()]).await?.pop())
    }

    /// The members of a team, locked as [`Store::lock_agents`] locks them.
    pub async fn lock_members(&self, write: &Write, team: &str) -> Result<Vec<Agent>> {
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
        conn: &impl ConnectionTrait,
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

    /// Makes the agent a member of each of their teams.
    async fn set_memberships(&self, write: &Write, agent: &Agent) -> Result<()> {
        if agent.teams.is_empty() {
            return Ok(());
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
    conn: &impl ConnectionTrait,
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
    conn: &impl ConnectionTrait,
    column: ticket::Column,
    keys: Vec<String>,
    statuses: &[Status],
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

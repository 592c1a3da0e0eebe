//! Tasks: their rows, the lock a change takes, a team's queue and the scheduler's range.

use chrono::{DateTime, Utc};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, DbBackend, EntityTrait, QueryFilter, QueryOrder, QuerySelect,
    Set,
};

use super::entity::task;
use super::{Inserted, Store, Write, convert, inserted};
use crate::domain::task::{Task, TaskStatus};
use crate::error::Result;

/// Which tasks a list reads.
#[derive(Debug, Clone, Default)]
pub struct TaskFilter {
    pub team: Option<String>,
    pub ticket_id: Option<i64>,
    pub agent: Option<String>,
    pub statuses: Vec<TaskStatus>,
}

impl Store {
    /// Stores a new task with the fingerprint of the request that asked it; `None` when its
    /// request_id was taken meanwhile.
    pub async fn insert_task(
        &self,
        write: &Write,
        task: &Task,
        request_hash: Option<String>,
    ) -> Result<Option<Task>> {
        let mut row = convert::task_row(task)?;
        row.request_hash = Set(request_hash);
        let mut stored = None;
        let result = row.insert(write.conn()).await.map(|row| stored = Some(row));
        match inserted(result)? {
            Inserted::Done => stored.map(convert::task).transpose(),
            Inserted::Taken => Ok(None),
        }
    }

    /// Writes a changed task.
    pub async fn update_task(&self, write: &Write, task: &Task) -> Result<()> {
        let mut row = convert::task_row(task)?;
        row.id = Set(task.id);
        row.update(write.conn()).await?;
        Ok(())
    }

    pub async fn task(&self, id: i64) -> Result<Option<Task>> {
        task::Entity::find_by_id(id)
            .one(&self.db)
            .await?
            .map(convert::task)
            .transpose()
    }

    /// Locks a task inside `write` (its ticket is locked first: see the lock order).
    pub async fn lock_task(&self, write: &Write, id: i64) -> Result<Option<Task>> {
        let mut query = task::Entity::find_by_id(id);
        if self.backend() == DbBackend::Postgres {
            query = query.lock_exclusive();
        }
        query
            .one(write.conn())
            .await?
            .map(convert::task)
            .transpose()
    }

    /// The task asked under `request_id`, with the fingerprint of that request.
    pub async fn task_by_request_id(
        &self,
        write: &Write,
        request_id: &str,
    ) -> Result<Option<(Task, Option<String>)>> {
        let Some(row) = task::Entity::find()
            .filter(task::Column::RequestId.eq(request_id))
            .one(write.conn())
            .await?
        else {
            return Ok(None);
        };
        let hash = row.request_hash.clone();
        Ok(Some((convert::task(row)?, hash)))
    }

    /// The open tasks of a ticket, locked inside `write`, oldest first.
    pub async fn lock_open_tasks(&self, write: &Write, ticket_id: i64) -> Result<Vec<Task>> {
        let mut query = task::Entity::find()
            .filter(task::Column::TicketId.eq(ticket_id))
            .filter(task::Column::Status.is_in(open_statuses()))
            .order_by_asc(task::Column::Id);
        if self.backend() == DbBackend::Postgres {
            query = query.lock_exclusive();
        }
        query
            .all(write.conn())
            .await?
            .into_iter()
            .map(convert::task)
            .collect()
    }

    /// Up to `limit` tasks matching `filter` after task id `after`, oldest first.
    pub async fn list_tasks(
        &self,
        filter: &TaskFilter,
        after: i64,
        limit: u64,
    ) -> Result<Vec<Task>> {
        let mut query = task::Entity::find().filter(task::Column::Id.gt(after));
        if let Some(team) = &filter.team {
            query = query.filter(task::Column::Team.eq(team.as_str()));
        }
        if let Some(id) = filter.ticket_id {
            query = query.filter(task::Column::TicketId.eq(id));
        }
        if let Some(agent) = &filter.agent {
            query = query.filter(task::Column::Agent.eq(agent.as_str()));
        }
        if !filter.statuses.is_empty() {
            query = query
                .filter(task::Column::Status.is_in(filter.statuses.iter().map(|s| s.as_str())));
        }
        query
            .order_by_asc(task::Column::Id)
            .limit(limit)
            .all(&self.db)
            .await?
            .into_iter()
            .map(convert::task)
            .collect()
    }

    /// Up to `limit` tasks whose clocks need a look by `now`, soonest first.
    pub async fn tasks_due(&self, now: DateTime<Utc>, limit: u64) -> Result<Vec<(i64, i64)>> {
        Ok(task::Entity::find()
            .select_only()
            .columns([task::Column::Id, task::Column::TicketId])
            .filter(task::Column::WakeAt.lte(now))
            .order_by_asc(task::Column::WakeAt)
            .limit(limit)
            .into_tuple()
            .all(&self.db)
            .await?)
    }
}

fn open_statuses() -> [&'static str; 2] {
    [TaskStatus::Open.as_str(), TaskStatus::Accepted.as_str()]
}

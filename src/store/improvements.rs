//! Improvements: one row each, numbered by the database, listed newest first.

use sea_orm::ActiveValue::Set;
use sea_orm::sea_query::LockType;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, DbBackend, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect,
};

use super::entity::improvement::{self as row, Column as C};
use super::{Store, Write, is_unique_violation};
use crate::domain::improvement::{Improvement, ImprovementFilter, Status};
use crate::error::{Error, Result};

/// Most improvements of the issues of one top issues report read at once.
const MOST_OF_ISSUES: u64 = 1_000;

impl Store {
    /// Stores a new improvement, with the idempotency key it was created with and that
    /// request's fingerprint; returns its number, or `None` when another call took the key
    /// meanwhile.
    pub async fn insert_improvement(
        &self,
        write: &Write,
        i: &Improvement,
        request: Option<(String, String)>,
    ) -> Result<Option<i64>> {
        let mut model = active(i);
        model.id = sea_orm::ActiveValue::NotSet;
        if let Some((id, hash)) = request {
            model.request_id = Set(Some(id));
            model.request_hash = Set(Some(hash));
        }
        match model.insert(write.conn()).await {
            Ok(row) => Ok(Some(row.id)),
            Err(err) if is_unique_violation(&err) => Ok(None),
            Err(err) => Err(err.into()),
        }
    }

    pub async fn update_improvement(&self, write: &Write, i: &Improvement) -> Result<()> {
        let mut model = active(i);
        model.request_id = sea_orm::ActiveValue::NotSet;
        model.request_hash = sea_orm::ActiveValue::NotSet;
        model.update(write.conn()).await?;
        Ok(())
    }

    pub async fn delete_improvement(&self, write: &Write, id: i64) -> Result<()> {
        row::Entity::delete_by_id(id).exec(write.conn()).await?;
        Ok(())
    }

    pub async fn improvement(&self, id: i64) -> Result<Option<Improvement>> {
        row::Entity::find_by_id(id)
            .one(&self.db)
            .await?
            .map(improvement)
            .transpose()
    }

    /// Improvement `id` inside `write`, locked against other writers.
    pub async fn lock_improvement(&self, write: &Write, id: i64) -> Result<Option<Improvement>> {
        let mut query = row::Entity::find_by_id(id);
        if self.backend() == DbBackend::Postgres {
            query = query.lock(LockType::Update);
        }
        query.one(write.conn()).await?.map(improvement).transpose()
    }

    /// The improvement created under `request_id`, with the fingerprint of that request.
    pub async fn improvement_by_request_id(
        &self,
        write: &Write,
        request_id: &str,
    ) -> Result<Option<(Improvement, Option<String>)>> {
        let Some(found) = row::Entity::find()
            .filter(C::RequestId.eq(request_id))
            .one(write.conn())
            .await?
        else {
            return Ok(None);
        };
        let hash = found.request_hash.clone();
        Ok(Some((improvement(found)?, hash)))
    }

    /// Up to `limit` improvements matching `filter`, newest first, before number `before`.
    pub async fn list_improvements(
        &self,
        filter: &ImprovementFilter,
        before: Option<i64>,
        limit: u64,
    ) -> Result<Vec<Improvement>> {
        let mut cond = Condition::all();
        if !filter.statuses.is_empty() {
            cond = cond.add(C::Status.is_in(filter.statuses.iter().map(|s| s.as_str())));
        }
        if let Some(team) = &filter.owner_team {
            cond = cond.add(C::OwnerTeam.eq(team.clone()));
        }
        if let Some(key) = &filter.issue_key {
            cond = cond.add(C::IssueKey.eq(key.clone()));
        }
        if let Some(before) = before {
            cond = cond.add(C::Id.lt(before));
        }
        row::Entity::find()
            .filter(cond)
            .order_by_desc(C::Id)
            .limit(limit)
            .all(&self.db)
            .await?
            .into_iter()
            .map(improvement)
            .collect()
    }

    /// The improvements naming any of `keys`, newest first (at most a thousand).
    pub async fn improvements_of_issues(&self, keys: &[String]) -> Result<Vec<Improvement>> {
        if keys.is_empty() {
            return Ok(Vec::new());
        }
        row::Entity::find()
            .filter(C::IssueKey.is_in(keys.iter().cloned()))
            .order_by_desc(C::Id)
            .limit(MOST_OF_ISSUES)
            .all(&self.db)
            .await?
            .into_iter()
            .map(improvement)
            .collect()
    }

    /// The ids of the first few open (PLANNED or IN_PROGRESS) improvements of team `id`, read
    /// inside `write`: what keeps the team from being deleted.
    pub async fn open_improvements_of_team(&self, write: &Write, id: &str) -> Result<Vec<String>> {
        let rows = row::Entity::find()
            .filter(C::OwnerTeam.eq(id))
            .filter(C::Status.is_in([Status::Planned.as_str(), Status::InProgress.as_str()]))
            .order_by_asc(C::Id)
            .limit(5)
            .all(write.conn())
            .await?;
        Ok(rows
            .into_iter()
            .map(|r| crate::domain::improvement::name(r.id))
            .collect())
    }
}

fn improvement(r: row::Model) -> Result<Improvement> {
    Ok(Improvement {
        id: r.id,
        title: r.title,
        description: r.description,
        issue_key: r.issue_key,
        owner_team: r.owner_team,
        due_at: r.due_at,
        status: r
            .status
            .parse()
            .map_err(|e| Error::Internal(format!("stored data: {e}")))?,
        done_at: r.done_at,
        created_by: r.created_by,
        version: r.version,
        created_at: r.created_at,
        updated_at: r.updated_at,
    })
}

fn active(i: &Improvement) -> row::ActiveModel {
    row::ActiveModel {
        id: Set(i.id),
        title: Set(i.title.clone()),
        description: Set(i.description.clone()),
        issue_key: Set(i.issue_key.clone()),
        owner_team: Set(i.owner_team.clone()),
        due_at: Set(i.due_at),
        status: Set(i.status.as_str().to_owned()),
        done_at: Set(i.done_at),
        created_by: Set(i.created_by.clone()),
        version: Set(i.version),
        created_at: Set(i.created_at),
        updated_at: Set(i.updated_at),
        request_id: Set(None),
        request_hash: Set(None),
    }
}

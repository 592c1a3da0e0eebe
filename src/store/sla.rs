//! SLA: policies and business calendars, what the clocks are counted by, and the tickets
//! whose clocks need a look.

use std::sync::Mutex;

use chrono::{DateTime, Utc};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DbBackend, EntityTrait, QueryFilter,
    QueryOrder, QuerySelect, sea_query::LockType,
};

use super::entity::{calendar as stored_calendar, config_change, sla_policy, team, ticket};
use super::{Inserted, Store, Write, convert, inserted};
use crate::domain::calendar::BusinessCalendar;
use crate::domain::sla::{Catalog, Policy};
use crate::error::Result;

impl Store {
    // --- Calendars ---

    pub async fn insert_calendar(&self, write: &Write, c: &BusinessCalendar) -> Result<Inserted> {
        inserted(convert::calendar_row(c)?.insert(write.conn()).await)
    }

    pub async fn update_calendar(&self, write: &Write, c: &BusinessCalendar) -> Result<()> {
        convert::calendar_row(c)?.update(write.conn()).await?;
        Ok(())
    }

    pub async fn delete_calendar(&self, write: &Write, id: &str) -> Result<()> {
        stored_calendar::Entity::delete_by_id(id)
            .exec(write.conn())
            .await?;
        Ok(())
    }

    pub async fn calendar(&self, id: &str) -> Result<Option<BusinessCalendar>> {
        stored_calendar::Entity::find_by_id(id)
            .one(&self.db)
            .await?
            .map(convert::calendar)
            .transpose()
    }

    /// Whether calendar `id` exists, read inside `write`.
    pub async fn calendar_exists(&self, write: &Write, id: &str) -> Result<bool> {
        Ok(stored_calendar::Entity::find_by_id(id)
            .one(write.conn())
            .await?
            .is_some())
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

    pub async fn lock_calendar(&self, write: &Write, id: &str) -> Result<Option<BusinessCalendar>> {
        let mut query = stored_calendar::Entity::find_by_id(id);
        if self.backend() == DbBackend::Postgres {
            query = query.lock(LockType::Update);
        }
        query
            .one(write.conn())
            .await?
            .map(convert::calendar)
            .transpose()
    }

    /// The teams that work by calendar `id`, by id.
    pub async fn teams_working_by(&self, write: &Write, id: &str) -> Result<Vec<String>> {
        Ok(team::Entity::find()
            .select_only()
            .column(team::Column::Id)
            .filter(team::Column::Calendar.eq(id))
            .order_by_asc(team::Column::Id)
            .into_tuple()
            .all(write.conn())
            .await?)
    }

    // --- Policies ---

    pub async fn insert_policy(&self, write: &Write, p: &Policy) -> Result<Inserted> {
        inserted(convert::policy_row(p)?.insert(write.conn()).await)
    }

    pub async fn update_policy(&self, write: &Write, p: &Policy) -> Result<()> {
        convert::policy_row(p)?.update(write.conn()).await?;
        Ok(())
    }

    pub async fn delete_policy(&self, write: &Write, id: &str) -> Result<()> {
        sla_policy::Entity::delete_by_id(id)
            .exec(write.conn())
            .await?;
        Ok(())
    }

    pub async fn policy(&self, id: &str) -> Result<Option<Policy>> {
        sla_policy::Entity::find_by_id(id)
            .one(&self.db)
            .await?
            .map(convert::policy)
            .transpose()
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

    pub async fn lock_policy(&self, write: &Write, id: &str) -> Result<Option<Policy>> {
        let mut query = sla_policy::Entity::find_by_id(id);
        if self.backend() == DbBackend::Postgres {
            query = query.lock(LockType::Update);
        }
        query
            .one(write.conn())
            .await?
            .map(convert::policy)
            .transpose()
    }

    /// Another policy than `policy` covering the same priority, kind and tier, if any.
    pub async fn policy_of_same_scope(
        &self,
        write: &Write,
        policy: &Policy,
    ) -> Result<Option<String>> {
        let any = "";
        Ok(sla_policy::Entity::find()
            .select_only()
            .column(sla_policy::Column::Id)
            .filter(sla_policy::Column::Priority.eq(policy.priority.as_str()))
            .filter(sla_policy::Column::Kind.eq(policy.kind.map_or(any, |k| k.as_str())))
            .filter(sla_policy::Column::Tier.eq(policy.tier.map_or(any, |t| t.as_str())))
            .filter(sla_policy::Column::Id.ne(policy.id.as_str()))
            .into_tuple()
            .one(write.conn())
            .await?)
    }

    /// Every policy, read inside `write`.
    pub async fn policies_in(&self, write: &Write) -> Result<Vec<Policy>> {
        sla_policy::Entity::find()
            .order_by_asc(sla_policy::Column::Id)
            .all(write.conn())
            .await?
            .into_iter()
            .map(convert::policy)
            .collect()
    }

    /// Whether any policy exists.
    pub async fn has_policies(&self) -> Result<bool> {
        Ok(sla_policy::Entity::find().one(&self.db).await?.is_some())
    }

    // --- What the clocks are counted by ---

    /// The policies, the calendars and the teams' calendars, as the clocks need them; the
    /// at-risk share is the caller's to set.
    pub async fn catalog(&self) -> Result<Catalog> {
        read_catalog(&self.db).await
    }

    /// [`Store::catalog`] inside a write. Every change to a policy, a calendar or a team is
    /// recorded in the configuration log by its own transaction, so while the log stands still
    /// so does the catalog: it is read again only when the log has moved on, and otherwise
    /// costs one statement instead of three and their parsing (each intake batch and each
    /// roll-up pass needs it).
    pub async fn catalog_in(&self, write: &Write) -> Result<Catalog> {
        let position = super::newest_id(write.conn(), config_change::Column::Id).await?;
        if let Some(catalog) = self.catalog.at(position) {
            return Ok(catalog);
        }
        let catalog = read_catalog(write.conn()).await?;
        self.catalog.keep(position, &catalog);
        Ok(catalog)
    }

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
}

/// The catalog as last read, and the position in the configuration log it was read at.
#[derive(Default)]
pub(super) struct CatalogCache(Mutex<Option<(i64, Catalog)>>);

impl CatalogCache {
    fn at(&self, position: i64) -> Option<Catalog> {
        let kept = self.0.lock().unwrap_or_else(|e| e.into_inner());
        kept.as_ref()
            .filter(|(at, _)| *at == position)
            .map(|(_, catalog)| catalog.clone())
    }

    fn keep(&self, position: i64, catalog: &Catalog) {
        *self.0.lock().unwrap_or_else(|e| e.into_inner()) = Some((position, catalog.clone()));
    }
}

async fn read_catalog(conn: &impl ConnectionTrait) -> Result<Catalog> {
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
        at_risk_share: 0.0,
    })
}

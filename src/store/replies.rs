//! Reply templates: stored whole, one row each, listed by id within what the caller sees.

use sea_orm::sea_query::{Expr, ExprTrait, Func, LikeExpr, LockType};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, DbBackend, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect,
};

use super::entity::reply_template::{self as row, Column as C};
use super::{Inserted, Store, Write, convert, inserted};
use crate::domain::reply::{ReplyTemplate, TemplateFilter};
use crate::error::Result;

impl Store {
    pub async fn insert_reply_template(
        &self,
        write: &Write,
        t: &ReplyTemplate,
    ) -> Result<Inserted> {
        inserted(convert::reply_template_row(t)?.insert(write.conn()).await)
    }

    pub async fn update_reply_template(&self, write: &Write, t: &ReplyTemplate) -> Result<()> {
        convert::reply_template_row(t)?.update(write.conn()).await?;
        Ok(())
    }

    pub async fn delete_reply_template(&self, write: &Write, id: &str) -> Result<()> {
        row::Entity::delete_by_id(id).exec(write.conn()).await?;
        Ok(())
    }

    pub async fn reply_template(&self, id: &str) -> Result<Option<ReplyTemplate>> {
        row::Entity::find_by_id(id)
            .one(&self.db)
            .await?
            .map(convert::reply_template)
            .transpose()
    }

    pub async fn lock_reply_template(
        &self,
        write: &Write,
        id: &str,
    ) -> Result<Option<ReplyTemplate>> {
        let mut query = row::Entity::find_by_id(id);
        if self.backend() == DbBackend::Postgres {
            query = query.lock(LockType::Update);
        }
        query
            .one(write.conn())
            .await?
            .map(convert::reply_template)
            .transpose()
    }

    /// The ids of the first few templates of team `id`, read inside `write`: what keeps the
    /// team from being deleted.
    pub async fn reply_templates_of_team(&self, write: &Write, id: &str) -> Result<Vec<String>> {
        let rows = row::Entity::find()
            .filter(C::Team.eq(id))
            .order_by_asc(C::Id)
            .limit(5)
            .all(write.conn())
            .await?;
        Ok(rows.into_iter().map(|r| r.id).collect())
    }

    /// Up to `limit` templates matching `filter`, by id, after `after`.
    pub async fn list_reply_templates(
        &self,
        filter: &TemplateFilter,
        after: Option<&str>,
        limit: u64,
    ) -> Result<Vec<ReplyTemplate>> {
        let mut cond = Condition::all();
        if let Some(teams) = &filter.visible {
            cond = cond.add(
                Condition::any()
                    .add(C::Team.is_null())
                    .add(C::Team.is_in(teams.iter().cloned())),
            );
        }
        if let Some(team) = &filter.team {
            cond = cond.add(C::Team.eq(team.clone()));
        }
        if filter.global_only {
            cond = cond.add(C::Team.is_null());
        }
        if let Some(text) = &filter.text {
            // Lower-cased as the database's lower() does it: SQLite folds ASCII letters only,
            // PostgreSQL all of Unicode.
            let folded = match self.backend() {
                DbBackend::Sqlite => text.to_ascii_lowercase(),
                _ => text.to_lowercase(),
            };
            let pattern = format!("%{}%", super::tickets::escape_like(&folded));
            cond = cond.add(
                Expr::expr(Func::lower(Expr::col(C::Title)))
                    .like(LikeExpr::new(pattern).escape('\\')),
            );
        }
        if let Some(after) = after {
            cond = cond.add(C::Id.gt(after));
        }
        let rows = row::Entity::find()
            .filter(cond)
            .order_by_asc(C::Id)
            .limit(limit)
            .all(&self.db)
            .await?;
        rows.into_iter().map(convert::reply_template).collect()
    }
}

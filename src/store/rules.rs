//! Routing rules in their order. Rule writes take a table lock on PostgreSQL, so two
//! instances reordering at once cannot interleave positions (SQLite has one writer anyway).

use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DbBackend, EntityTrait, QueryFilter, QueryOrder,
};

use super::entity::rule;
use super::{Store, Write, convert};
use crate::domain::rules::Rule;
use crate::error::Result;

impl Store {
    /// Every rule, first tried first.
    pub async fn list_rules(&self) -> Result<Vec<Rule>> {
        read_rules(&self.db).await
    }

    /// Locks the rules table against other writers of rules until `write` ends (SQLite's
    /// single writer already excludes them).
    pub async fn lock_rules_table(&self, write: &Write) -> Result<()> {
        if self.backend() == DbBackend::Postgres {
            write
                .conn()
                .execute_unprepared("LOCK TABLE routing_rules IN SHARE ROW EXCLUSIVE MODE")
                .await?;
        }
        Ok(())
    }

    /// Every rule inside `write`, with the rules table locked against other writers of rules.
    pub async fn lock_rules(&self, write: &Write) -> Result<Vec<Rule>> {
        self.lock_rules_table(write).await?;
        read_rules(write.conn()).await
    }

    /// Inserts a rule (at the end; see [`Store::set_positions`]) with the idempotency key it
    /// was created with and that request's fingerprint; returns its id.
    pub async fn insert_rule(
        &self,
        write: &Write,
        rule: &Rule,
        request: Option<(String, String)>,
    ) -> Result<i64> {
        let mut row = convert::rule_row(rule)?;
        if let Some((id, hash)) = request {
            row.request_id = sea_orm::Set(Some(id));
            row.request_hash = sea_orm::Set(Some(hash));
        }
        Ok(row.insert(write.conn()).await?.id)
    }

    pub async fn update_rule(&self, write: &Write, rule: &Rule) -> Result<()> {
        convert::rule_row(rule)?.update(write.conn()).await?;
        Ok(())
    }

    pub async fn delete_rule(&self, write: &Write, id: i64) -> Result<()> {
        rule::Entity::delete_by_id(id).exec(write.conn()).await?;
        Ok(())
    }

    /// Stores each rule's position, touching only rules whose position changed.
    pub async fn set_positions(&self, write: &Write, rules: &[Rule]) -> Result<()> {
        let stored: Vec<(i64, i64)> = rule::Entity::find()
            .all(write.conn())
            .await?
            .into_iter()
            .map(|r| (r.id, r.position))
            .collect();
        for r in rules {
            let position = r.position as i64;
            if !stored.contains(&(r.id, position)) {
                rule::ActiveModel {
                    id: sea_orm::Set(r.id),
                    position: sea_orm::Set(position),
                    ..Default::default()
                }
                .update(write.conn())
                .await?;
            }
        }
        Ok(())
    }

    /// The rule created under `request_id`, with the fingerprint of that request.
    pub async fn rule_by_request_id(
        &self,
        write: &Write,
        request_id: &str,
    ) -> Result<Option<(Rule, Option<String>)>> {
        let Some(row) = rule::Entity::find()
            .filter(rule::Column::RequestId.eq(request_id))
            .one(write.conn())
            .await?
        else {
            return Ok(None);
        };
        let hash = row.request_hash.clone();
        Ok(Some((convert::rule(row)?, hash)))
    }
}

/// Every rule in order, each with its place in it (1 = first).
async fn read_rules(conn: &impl ConnectionTrait) -> Result<Vec<Rule>> {
    rule::Entity::find()
        .order_by_asc(rule::Column::Position)
        .order_by_asc(rule::Column::Id)
        .all(conn)
        .await?
        .into_iter()
        .enumerate()
        .map(|(i, row)| {
            let mut rule = convert::rule(row)?;
            rule.position = i + 1;
            Ok(rule)
        })
        .collect()
}

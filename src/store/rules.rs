//! Routing rules in their order. Rule writes take a table lock on PostgreSQL, so two
//! instances reordering at once cannot interleave positions (SQLite has one writer anyway).

use chrono::{DateTime, Utc};
use sea_orm::{ActiveModelTrait, ConnectionTrait, DbBackend, EntityTrait, QueryOrder};

use super::entity::rule;
use super::{Store, Write, check_etag, convert};
use crate::domain::rules::Rule;
use crate::error::{Error, Result};

impl Store {
    /// Every rule, first tried first.
    pub async fn list_rules(&self) -> Result<Vec<Rule>> {
        read_rules(&self.db).await
    }

    /// Inserts `rule` at `position` (1 = first; `None` or beyond the end appends it). Returns
    /// it with the position it got.
    pub async fn create_rule(&self, rule: Rule, position: Option<usize>) -> Result<(Rule, usize)> {
        let write = self.begin_rules().await?;
        let mut rules = read_rules(write.conn()).await?;
        let row = convert::rule_row(&rule, 0).insert(write.conn()).await?;
        let created = convert::rule(row)?;
        let at = position.map_or(rules.len(), |p| (p - 1).min(rules.len()));
        rules.insert(at, created.clone());
        self.renumber(&write, &rules).await?;
        self.routing_changed(&write).await?;
        self.commit(write).await?;
        Ok((created, at + 1))
    }

    /// Changes a rule; `change` edits it. Returns it with its position (1 = first).
    pub async fn update_rule(
        &self,
        id: i64,
        etag: Option<&str>,
        now: DateTime<Utc>,
        change: impl FnOnce(&mut Rule) -> Result<()>,
    ) -> Result<(Rule, usize)> {
        let write = self.begin_rules().await?;
        let rules = read_rules(write.conn()).await?;
        let position = rules
            .iter()
            .position(|r| r.id == id)
            .ok_or_else(|| Error::not_found("routing rule", id))?;
        let mut rule = rules[position].clone();
        check_etag(etag, rule.etag())?;
        let before = rule.clone();
        change(&mut rule)?;
        if rule != before {
            rule.version += 1;
            rule.updated_at = now;
            convert::rule_row(&rule, position as i64 + 1)
                .update(write.conn())
                .await?;
            self.routing_changed(&write).await?;
            self.commit(write).await?;
        }
        Ok((rule, position + 1))
    }

    pub async fn delete_rule(&self, id: i64, etag: Option<&str>) -> Result<()> {
        let write = self.begin_rules().await?;
        let mut rules = read_rules(write.conn()).await?;
        let position = rules
            .iter()
            .position(|r| r.id == id)
            .ok_or_else(|| Error::not_found("routing rule", id))?;
        check_etag(etag, rules[position].etag())?;
        rule::Entity::delete_by_id(id).exec(write.conn()).await?;
        rules.remove(position);
        self.renumber(&write, &rules).await?;
        self.routing_changed(&write).await?;
        self.commit(write).await
    }

    /// Puts the rules in the order of `ids`, which must name each rule exactly once.
    pub async fn reorder_rules(&self, ids: &[i64]) -> Result<Vec<Rule>> {
        let write = self.begin_rules().await?;
        let rules = read_rules(write.conn()).await?;
        let mut sorted_given = ids.to_vec();
        sorted_given.sort_unstable();
        let mut sorted_have: Vec<i64> = rules.iter().map(|r| r.id).collect();
        sorted_have.sort_unstable();
        if sorted_given != sorted_have {
            return Err(Error::invalid(
                "rule_ids",
                format!(
                    "must name every rule exactly once; the rules are {sorted_have:?}, given \
                     {ids:?}"
                ),
            ));
        }
        let ordered: Vec<Rule> = ids
            .iter()
            .map(|id| {
                rules
                    .iter()
                    .find(|r| r.id == *id)
                    .cloned()
                    .expect("checked")
            })
            .collect();
        self.renumber(&write, &ordered).await?;
        self.routing_changed(&write).await?;
        self.commit(write).await?;
        Ok(ordered)
    }

    /// The names of rules that send tickets to `team`.
    pub(crate) async fn rules_routing_to(&self, write: &Write, team: &str) -> Result<Vec<String>> {
        Ok(read_rules(write.conn())
            .await?
            .into_iter()
            .filter(|r| r.actions.team.as_deref() == Some(team))
            .map(|r| r.name)
            .collect())
    }

    async fn begin_rules(&self) -> Result<Write> {
        let write = self.begin().await?;
        if self.backend() == DbBackend::Postgres {
            write
                .conn()
                .execute_unprepared("LOCK TABLE routing_rules IN SHARE ROW EXCLUSIVE MODE")
                .await?;
        }
        Ok(write)
    }

    /// Stores positions 1..n for `rules` in their order, touching only rules that moved.
    async fn renumber(&self, write: &Write, rules: &[Rule]) -> Result<()> {
        let stored: Vec<(i64, i64)> = rule::Entity::find()
            .all(write.conn())
            .await?
            .into_iter()
            .map(|r| (r.id, r.position))
            .collect();
        for (i, r) in rules.iter().enumerate() {
            let position = i as i64 + 1;
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
}

async fn read_rules(conn: &impl ConnectionTrait) -> Result<Vec<Rule>> {
    rule::Entity::find()
        .order_by_asc(rule::Column::Position)
        .order_by_asc(rule::Column::Id)
        .all(conn)
        .await?
        .into_iter()
        .map(convert::rule)
        .collect()
}

//! Routing rules in their order: created at a position, changed, deleted and reordered, each
//! in one transaction with the rules table locked, and each moving the routing version on so
//! that every instance routes by the new rules from its next ticket.

use super::App;
use super::admin::{Change, Resource};
use crate::domain::access::Caller;
use crate::domain::error::Refusal;
use crate::domain::idempotency::Requested;
use crate::domain::patch::Patch;
use crate::domain::rules::{self, Rule};
use crate::error::{Found, Result};
use crate::store::{Inserted, Store, Write};

impl Resource for Rule {
    const KIND: &'static str = "routing rule";
    type Key = i64;

    fn key(&self) -> String {
        self.id.to_string()
    }

    /// Every rule write may move the others: the table is locked first, before the routing
    /// version, by creates, updates, deletes and reorders alike.
    async fn lock_kind(store: &Store, write: &Write) -> Result<()> {
        store.lock_rules_table(write).await
    }

    async fn lock(store: &Store, write: &Write, key: &i64) -> Result<Option<Rule>> {
        Ok(store
            .lock_rules(write)
            .await?
            .into_iter()
            .find(|r| r.id == *key))
    }

    /// Takes its place in the order (its `position`, or last) and moves the others along.
    async fn insert(
        &mut self,
        store: &Store,
        write: &Write,
        request: Option<&Requested>,
    ) -> Result<Inserted> {
        let mut order = store.lock_rules(write).await?;
        let request = request.map(|r| (r.id.clone(), r.hash.clone()));
        self.id = store.insert_rule(write, self, request).await?;
        rules::place(&mut order, self.clone());
        store.set_positions(write, &order).await?;
        if let Some(placed) = order.iter().find(|r| r.id == self.id) {
            self.position = placed.position;
        }
        Ok(Inserted::Done)
    }

    async fn update(store: &Store, write: &Write, _: &Rule, after: &Rule) -> Result<()> {
        store.update_rule(write, after).await
    }

    async fn delete(&self, store: &Store, write: &Write) -> Result<()> {
        store.delete_rule(write, self.id).await?;
        let mut order = store.lock_rules(write).await?;
        rules::renumber(&mut order);
        store.set_positions(write, &order).await
    }

    async fn created_by(
        store: &Store,
        write: &Write,
        request_id: &str,
    ) -> Result<Option<(Rule, Option<String>)>> {
        let Some((mut rule, hash)) = store.rule_by_request_id(write, request_id).await? else {
            return Ok(None);
        };
        // Its place now, which later changes may have moved.
        if let Some(placed) = store
            .lock_rules(write)
            .await?
            .into_iter()
            .find(|r| r.id == rule.id)
        {
            rule.position = placed.position;
        }
        Ok(Some((rule, hash)))
    }

    async fn guard(app: &App, write: &Write, change: Change<'_, Rule>) -> Result<()> {
        let team = match change {
            Change::Create(rule) => rule.actions.team.as_deref(),
            Change::Update { before, after } if after.actions.team != before.actions.team => {
                after.actions.team.as_deref()
            }
            _ => None,
        };
        if let Some(team) = team
            && !app
                .store
                .missing_teams(write, &[team.to_owned()])
                .await?
                .is_empty()
        {
            return Err(Refusal::not_found("team", team).into());
        }
        // Rules are part of what routing reads.
        app.store.routing_changed(write).await
    }
}

impl App {
    /// Creates a rule at its `position` (0 or beyond the end: last). A retry of `request`
    /// answers with the rule the first call created.
    pub async fn create_rule(
        &self,
        by: &Caller,
        rule: Rule,
        request: Option<Requested>,
    ) -> Result<Rule> {
        self.create(rule, request, by).await
    }

    pub async fn rule(&self, id: i64) -> Result<Rule> {
        self.store
            .list_rules()
            .await?
            .into_iter()
            .find(|r| r.id == id)
            .found(Rule::KIND, id)
    }

    /// Up to `limit` rules in their order, after position `after`.
    pub async fn list_rules(&self, after: Option<usize>, limit: u64) -> Result<Vec<Rule>> {
        Ok(self
            .store
            .list_rules()
            .await?
            .into_iter()
            .filter(|r| after.is_none_or(|after| r.position > after))
            .take(usize::try_from(limit).unwrap_or(usize::MAX))
            .collect())
    }

    pub async fn update_rule(
        &self,
        by: &Caller,
        id: i64,
        etag: Option<&str>,
        patch: &Patch<Rule>,
    ) -> Result<Rule> {
        self.update(&id, etag, patch, by).await
    }

    pub async fn delete_rule(&self, by: &Caller, id: i64, etag: Option<&str>) -> Result<()> {
        self.delete::<Rule>(&id, etag, by).await
    }

    /// Puts the rules in the order of `ids`, which must name each rule exactly once.
    pub async fn reorder_rules(&self, by: &Caller, ids: &[i64]) -> Result<Vec<Rule>> {
        let write = self.store.begin().await?;
        let rules = self.store.lock_rules(&write).await?;
        let ordered = rules::reorder(rules.clone(), ids)?;
        self.store.set_positions(&write, &ordered).await?;
        self.store.routing_changed(&write).await?;
        let change = crate::domain::config::ConfigChange::of(
            "routing rules",
            "order".into(),
            Some(&rules.iter().map(|r| r.id).collect::<Vec<_>>()),
            Some(&ordered.iter().map(|r| r.id).collect::<Vec<_>>()),
            by,
            self.now(),
        );
        self.record_config(write, change).await?;
        Ok(ordered)
    }
}

//! Improvements (整改) as configuration: created and changed in one transaction under the
//! configuration audit, their owner team kept from being deleted while they are open, their
//! status moved by the domain's rules; read with their effect once DONE.

use super::App;
use super::admin::{Change, Resource};
use crate::domain::access::Caller;
use crate::domain::config::ConfigChange;
use crate::domain::error::{Refusal, Versioned};
use crate::domain::idempotency::Requested;
use crate::domain::improvement::{self, Effect, Improvement, ImprovementFilter, Status};
use crate::domain::insights::Dimension;
use crate::domain::patch::Patch;
use crate::domain::period::Period;
use crate::domain::query::Named;
use crate::domain::top_issues::IssueKey;
use crate::error::{Found, Result};
use crate::store::{FactsQuery, Inserted, Store, TeamLock, Write};

/// What the configuration log calls an improvement.
pub const IMPROVEMENT_KIND: &str = "improvement";

impl Resource for Improvement {
    const KIND: &'static str = IMPROVEMENT_KIND;
    type Key = i64;

    fn key(&self) -> String {
        self.name()
    }

    async fn lock(store: &Store, write: &Write, key: &i64) -> Result<Option<Improvement>> {
        store.lock_improvement(write, *key).await
    }

    /// Takes the number the database gives it.
    async fn insert(
        &mut self,
        store: &Store,
        write: &Write,
        request: Option<&Requested>,
    ) -> Result<Inserted> {
        let request = request.map(|r| (r.id.clone(), r.hash.clone()));
        match store.insert_improvement(write, self, request).await? {
            Some(id) => {
                self.id = id;
                Ok(Inserted::Done)
            }
            None => Err(Refusal::Conflict {
                description: "another call created an improvement under this request_id at the \
                              same moment"
                    .into(),
            }
            .into()),
        }
    }

    async fn created_by(
        store: &Store,
        write: &Write,
        request_id: &str,
    ) -> Result<Option<(Improvement, Option<String>)>> {
        store.improvement_by_request_id(write, request_id).await
    }

    async fn update(
        store: &Store,
        write: &Write,
        _: &Improvement,
        after: &Improvement,
    ) -> Result<()> {
        store.update_improvement(write, after).await
    }

    async fn delete(&self, store: &Store, write: &Write) -> Result<()> {
        store.delete_improvement(write, self.id).await
    }

    /// Its owner team exists, and is kept from being deleted meanwhile.
    async fn guard(app: &App, write: &Write, change: Change<'_, Improvement>) -> Result<()> {
        let team = match change {
            Change::Create(i) => Some(&i.owner_team),
            Change::Update { before, after } => {
                Some(&after.owner_team).filter(|t| **t != before.owner_team)
            }
            Change::Delete(_) => None,
        };
        if let Some(team) = team {
            app.store
                .lock_team(write, team, TeamLock::Keep)
                .await?
                .found("team", team)?;
        }
        Ok(())
    }
}

impl App {
    /// Creates an improvement, recorded as created by the caller, in the status it gives
    /// (PLANNED unless given). A retry of `request` answers with the first one.
    pub async fn create_improvement(
        &self,
        by: &Caller,
        mut new: Improvement,
        request: Option<Requested>,
    ) -> Result<(Improvement, Option<Effect>)> {
        let now = self.now();
        new.created_by = by.actor();
        new.created_at = now;
        new.start(now)?;
        let created = self.create(new, request, by).await?;
        let effect = self.improvement_effect(&created).await?;
        Ok((created, effect))
    }

    /// Improvement number `id`, with its effect once DONE.
    pub async fn improvement(&self, id: i64) -> Result<(Improvement, Option<Effect>)> {
        let found = self
            .store
            .improvement(id)
            .await?
            .found(Improvement::KIND, improvement::name(id))?;
        let effect = self.improvement_effect(&found).await?;
        Ok((found, effect))
    }

    /// Changes the fields `patch` names on improvement `id`, if `etag` (when given) is
    /// current; a status moves only as [`improvement::Status::next`] allows, and DONE records
    /// when. An update that changes nothing writes nothing.
    pub async fn update_improvement(
        &self,
        by: &Caller,
        id: i64,
        etag: Option<&str>,
        patch: &Patch<Improvement>,
    ) -> Result<(Improvement, Option<Effect>)> {
        let now = self.now();
        let write = self.store.begin().await?;
        let before = self
            .store
            .lock_improvement(&write, id)
            .await?
            .found(Improvement::KIND, improvement::name(id))?;
        before.check_etag(etag)?;
        let mut after = before.clone();
        patch.apply(&mut after);
        after.moved_from(&before, now)?;
        if after == before {
            drop(write);
            let effect = self.improvement_effect(&before).await?;
            return Ok((before, effect));
        }
        after.bump(now);
        let change = Change::Update {
            before: &before,
            after: &after,
        };
        Improvement::guard(self, &write, change).await?;
        self.store.update_improvement(&write, &after).await?;
        let change = ConfigChange::of(
            Improvement::KIND,
            after.key(),
            Some(&before),
            Some(&after),
            by,
            now,
        );
        self.record_config(write, change).await?;
        let effect = self.improvement_effect(&after).await?;
        Ok((after, effect))
    }

    /// Up to `limit` improvements matching `filter`, newest first, before number `before`.
    /// A team filtered by must be known.
    pub async fn list_improvements(
        &self,
        filter: ImprovementFilter,
        before: Option<i64>,
        limit: u64,
    ) -> Result<Vec<Improvement>> {
        if let Some(team) = filter.owner_team.as_deref() {
            self.check_named(vec![Named::Team(team)]).await?;
        }
        self.store.list_improvements(&filter, before, limit).await
    }

    /// What a DONE improvement changed: its issue's tickets in equal windows before and after
    /// it was done (see [`improvement::effect_window`]); none before it is DONE.
    pub async fn improvement_effect(&self, i: &Improvement) -> Result<Option<Effect>> {
        let (Some(done), Status::Done) = (i.done_at, i.status) else {
            return Ok(None);
        };
        let Some(key) = IssueKey::parse(&i.issue_key) else {
            return Ok(None);
        };
        let window = improvement::effect_window(done, self.now());
        let facts = if window > chrono::Duration::zero() {
            let around = Period {
                start: done - window,
                end: done + window,
            };
            let scope = Some((Dimension::Category, key.category.clone()));
            let facts = self.facts(FactsQuery::created(around, scope)).await;
            // Too many tickets to weigh: the improvement, saved or read, stands without its
            // effect rather than failing.
            let left_out = format!("the effect of improvement {}", i.id);
            let Some(facts) = super::insights::unless_over_bound(facts, &left_out)? else {
                return Ok(None);
            };
            facts
        } else {
            Vec::new()
        };
        Ok(Some(improvement::effect(&key, done, window, &facts)))
    }
}

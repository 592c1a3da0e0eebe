//! Configuration resources — teams, agents, routing rules, SLA policies, calendars, survey
//! templates — are created, updated and deleted the same way: in one transaction, under the
//! row's lock, checked against the caller's etag, with what must hold for that resource
//! ([`Resource::guard`]) and a record in the configuration log. The reactions to the change
//! (an agent online serves their queues) run before the call answers.

use std::future::Future;

use serde::Serialize;

use super::App;
use crate::domain::access::Caller;
use crate::domain::config::ConfigChange;
use crate::domain::error::{Refusal, Versioned};
use crate::domain::idempotency::{Requested, check_replay};
use crate::domain::patch::Patch;
use crate::error::{Found, Result};
use crate::store::{Inserted, Store, Write};

/// A change of a resource, as its guard sees it.
pub enum Change<'a, R> {
    Create(&'a R),
    Update { before: &'a R, after: &'a R },
    Delete(&'a R),
}

// References only: copied whatever `R` is (a derive would ask `R: Copy`).
impl<R> Clone for Change<'_, R> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<R> Copy for Change<'_, R> {}

/// A configuration resource: how the store keeps it, and what must hold when it changes.
pub trait Resource:
    Versioned + Clone + PartialEq + Serialize + Send + Sync + Sized + 'static
{
    /// Its name in messages and in the configuration log: `team`, `SLA policy` …
    const KIND: &'static str;
    /// What names one: a text id, or a number.
    type Key: std::fmt::Display + Send + Sync + ?Sized;

    fn key(&self) -> String;

    /// Locks what every writer of this kind of resource locks first, before anything else
    /// (the rules table, for rules, whose order every write may change); nothing by default.
    fn lock_kind(_store: &Store, _write: &Write) -> impl Future<Output = Result<()>> + Send {
        async { Ok(()) }
    }

    /// Reads it inside `write`, locked against other writers.
    fn lock(
        store: &Store,
        write: &Write,
        key: &Self::Key,
    ) -> impl Future<Output = Result<Option<Self>>> + Send;

    /// Stores a new one, with the request that created it when it has a request_id; sets
    /// what the store assigns (a rule's id).
    fn insert(
        &mut self,
        store: &Store,
        write: &Write,
        request: Option<&Requested>,
    ) -> impl Future<Output = Result<Inserted>> + Send;

    /// The one created by the request with id `request_id`, and that request's fingerprint;
    /// resources whose create takes no request_id (their key is the caller's) have none.
    fn created_by(
        _store: &Store,
        _write: &Write,
        _request_id: &str,
    ) -> impl Future<Output = Result<Option<(Self, Option<String>)>>> + Send {
        async { Ok(None) }
    }

    /// Writes a changed one.
    fn update(
        store: &Store,
        write: &Write,
        before: &Self,
        after: &Self,
    ) -> impl Future<Output = Result<()>> + Send;

    fn delete(&self, store: &Store, write: &Write) -> impl Future<Output = Result<()>> + Send;

    /// What must hold, and what else changes, when the resource changes: checked in its
    /// transaction before it is written.
    fn guard(
        app: &App,
        write: &Write,
        change: Change<'_, Self>,
    ) -> impl Future<Output = Result<()>> + Send;

    /// What else changes once it is created or updated, in the same transaction, where that
    /// needs the resource's own row (a new team's members join it); nothing by default.
    fn written(
        _app: &App,
        _write: &Write,
        _change: Change<'_, Self>,
        _by: &Caller,
    ) -> impl Future<Output = Result<()>> + Send {
        async { Ok(()) }
    }
}

impl App {
    /// Creates `value` (version 1, created now). A retry of `request` answers with what the
    /// first call created.
    pub(crate) async fn create<R: Resource>(
        &self,
        mut value: R,
        request: Option<Requested>,
        by: &Caller,
    ) -> Result<R> {
        let now = self.now();
        *value.version_mut() = 1;
        value.touch(now);
        let write = self.store.begin().await?;
        R::lock_kind(&self.store, &write).await?;
        if let Some(request) = &request
            && let Some((first, hash)) = R::created_by(&self.store, &write, &request.id).await?
        {
            check_replay(&request.id, hash.as_deref(), &request.hash)?;
            return Ok(first);
        }
        R::guard(self, &write, Change::Create(&value)).await?;
        if value.insert(&self.store, &write, request.as_ref()).await? == Inserted::Taken {
            return Err(Refusal::already_exists(R::KIND, value.key()).into());
        }
        R::written(self, &write, Change::Create(&value), by).await?;
        let change = ConfigChange::of(R::KIND, value.key(), None, Some(&value), by, now);
        self.record_config(write, change).await?;
        Ok(value)
    }

    /// Changes the fields `patch` names on resource `key`, if `etag` (when given) is current.
    /// An update that changes nothing writes nothing.
    pub(crate) async fn update<R: Resource, V: Sync>(
        &self,
        key: &R::Key,
        etag: Option<&str>,
        patch: &Patch<R, V>,
        by: &Caller,
    ) -> Result<R> {
        let now = self.now();
        let write = self.store.begin().await?;
        R::lock_kind(&self.store, &write).await?;
        let before = R::lock(&self.store, &write, key)
            .await?
            .found(R::KIND, key)?;
        before.check_etag(etag)?;
        let mut after = before.clone();
        patch.apply(&mut after);
        if after == before {
            return Ok(before);
        }
        after.bump(now);
        let change = Change::Update {
            before: &before,
            after: &after,
        };
        R::guard(self, &write, change).await?;
        R::update(&self.store, &write, &before, &after).await?;
        R::written(self, &write, change, by).await?;
        let change = ConfigChange::of(R::KIND, after.key(), Some(&before), Some(&after), by, now);
        self.record_config(write, change).await?;
        Ok(after)
    }

    /// Deletes resource `key`, if `etag` (when given) is current and its guard allows.
    pub(crate) async fn delete<R: Resource>(
        &self,
        key: &R::Key,
        etag: Option<&str>,
        by: &Caller,
    ) -> Result<()> {
        let now = self.now();
        let write = self.store.begin().await?;
        R::lock_kind(&self.store, &write).await?;
        let gone = R::lock(&self.store, &write, key)
            .await?
            .found(R::KIND, key)?;
        gone.check_etag(etag)?;
        R::guard(self, &write, Change::Delete(&gone)).await?;
        gone.delete(&self.store, &write).await?;
        let change = ConfigChange::of(R::KIND, gone.key(), Some(&gone), None, by, now);
        self.record_config(write, change).await
    }

    /// Records `change` in the log, commits, and waits for the reactions to it.
    pub(crate) async fn record_config(&self, write: Write, change: ConfigChange) -> Result<()> {
        let id = self.store.record_config_change(&write, &change).await?;
        self.store.commit(write).await?;
        self.settled_config(&change, id).await;
        Ok(())
    }
}

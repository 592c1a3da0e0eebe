//! Malicious complaints (恶意投诉): intake refuses a blocked sender and holds a suspected
//! ticket for review; a reviewer releases it (routed as if new) or confirms it (closed as
//! spam, and every identifier of its sender blocked for the restriction, in the same
//! transaction). Blocks are configuration: each change is in the audit, with who and why.

use chrono::{DateTime, Utc};

use super::App;
use super::admin::{Change as ResourceChange, Resource};
use super::tickets::On;
use crate::domain::abuse::{self, BlockedSender, senders};
use crate::domain::access::Caller;
use crate::domain::config::ConfigChange;
use crate::domain::error::Refusal;
use crate::domain::event::{Change, EventType};
use crate::domain::idempotency::Requested;
use crate::domain::lifecycle::{self, Action, Verb};
use crate::domain::ticket::{Customer, NewTicket, Ticket};
use crate::error::{Found, Result};
use crate::store::{Inserted, Store, Write};

/// What the configuration log calls a block.
pub const BLOCK_KIND: &str = "blocked sender";

/// The most of a sender's recent tickets a new one is compared with.
const RECENT: u64 = 100;

impl Resource for BlockedSender {
    const KIND: &'static str = BLOCK_KIND;
    type Key = str;

    fn key(&self) -> String {
        BlockedSender::key(self)
    }

    async fn lock(store: &Store, write: &Write, key: &str) -> Result<Option<BlockedSender>> {
        store.lock_blocked_sender(write, key).await
    }

    async fn insert(
        &mut self,
        store: &Store,
        write: &Write,
        _: Option<&Requested>,
    ) -> Result<Inserted> {
        store.insert_blocked_sender(write, self).await
    }

    async fn update(store: &Store, write: &Write, _: &Self, after: &Self) -> Result<()> {
        store.update_blocked_sender(write, after).await
    }

    async fn delete(&self, store: &Store, write: &Write) -> Result<()> {
        store.delete_blocked_sender(write, &self.key()).await
    }

    async fn guard(_: &App, _: &Write, _: ResourceChange<'_, Self>) -> Result<()> {
        Ok(())
    }
}

impl App {
    /// Refuses a ticket from a sender blocked now.
    pub(crate) async fn check_sender(&self, customer: &Customer, now: DateTime<Utc>) -> Result<()> {
        let keys: Vec<String> = senders(customer)
            .into_iter()
            .map(|(kind, value)| BlockedSender::key_of(kind, &value))
            .collect();
        if let Some(block) = self.store.blocks_in_force(&keys, now).await?.first() {
            self.metrics.intake_blocked();
            return Err(block.refusal().into());
        }
        Ok(())
    }

    /// Why a new ticket is held for review, if it is: it says nothing, or its sender sent
    /// enough near-identical ones within the window.
    pub(crate) async fn suspicion(
        &self,
        new: &NewTicket,
        now: DateTime<Utc>,
    ) -> Result<Option<String>> {
        let policy = &self.settings.abuse;
        if policy.threshold == 0 {
            return Ok(None);
        }
        let earlier = self
            .store
            .recent_texts(&new.customer, now - policy.window, RECENT)
            .await?;
        let why = abuse::suspect(&new.title, &new.description, &earlier, policy);
        if why.is_some() {
            self.metrics.intake_quarantined();
        }
        Ok(why)
    }

    /// Finds a held ticket genuine: it goes to its team's queue as if it were new, its SLA
    /// clocks starting now.
    pub async fn release_ticket(&self, on: On, reason: Option<String>) -> Result<Ticket> {
        let now = self.now();
        self.change(on, now, |t| {
            lifecycle::apply(t, Action::Release, now)?;
            Ok(Change::of(EventType::TicketReleased).reason(reason))
        })
        .await
    }

    /// Finds a held ticket malicious: closes it as spam and blocks every identifier of its
    /// sender for `restriction` (the policy's when `None`), all in one transaction. Answers
    /// with the ticket and the blocks as they stand.
    pub async fn confirm_abuse(
        &self,
        on: On,
        by: &Caller,
        reason: String,
        restriction: Option<chrono::Duration>,
    ) -> Result<(Ticket, Vec<BlockedSender>)> {
        let now = self.now();
        let until = now + restriction.unwrap_or(self.settings.abuse.restriction);
        let write = self.store.begin().await?;
        // The lock order: the ticket, its sender's blocks by key, then the logs at append.
        let held = self.lock_for(&write, &on).await?;
        lifecycle::check_allowed(&held, Verb::ConfirmAbuse)?;
        let mut wanted: Vec<BlockedSender> = senders(&held.customer)
            .into_iter()
            .map(|(kind, value)| BlockedSender {
                ticket: Some(held.number.clone()),
                ..BlockedSender::new(kind, &value, &reason, Some(until), &by.actor(), now)
            })
            .collect();
        wanted.sort_by_key(BlockedSender::key);
        let mut blocks = Vec::new();
        let mut audit = Vec::new();
        for block in wanted {
            let (block, change) = self.block_in(&write, block, true, by, now).await?;
            blocks.push(block);
            audit.extend(change);
        }
        let summary = reason.clone();
        let changed = self
            .change_in(&write, &on, now, |t| {
                lifecycle::apply(t, Action::ConfirmAbuse { summary }, now)?;
                Ok(Change::of(EventType::AbuseConfirmed).because(reason))
            })
            .await?;
        for change in &audit {
            self.store.record_config_change(&write, change).await?;
        }
        let ticket = self.finish(write, changed).await?;
        Ok((ticket, blocks))
    }

    /// Blocks a sender, or changes the block in force, as `block` says.
    pub async fn block_sender(&self, block: BlockedSender, by: &Caller) -> Result<BlockedSender> {
        let write = self.store.begin().await?;
        let (block, change) = self.block_in(&write, block, false, by, self.now()).await?;
        match change {
            Some(change) => self.record_config(write, change).await?,
            None => self.store.commit(write).await?,
        }
        Ok(block)
    }

    /// Lifts the block of `key`.
    pub async fn unblock_sender(&self, key: &str, etag: Option<&str>, by: &Caller) -> Result<()> {
        self.delete::<BlockedSender>(key, etag, by).await
    }

    /// The block of `key`.
    pub async fn blocked_sender(&self, key: &str) -> Result<BlockedSender> {
        self.store.blocked_sender(key).await?.found(BLOCK_KIND, key)
    }

    /// Up to `limit` blocks by key after `after`; ended ones too when `ended`.
    pub async fn blocked_senders(
        &self,
        after: Option<&str>,
        ended: bool,
        limit: u64,
    ) -> Result<Vec<BlockedSender>> {
        self.store
            .blocked_senders(after, ended, self.now(), limit)
            .await
    }

    /// Writes `block` inside `write`: a new block, or the one there changed to it (only ever
    /// lengthened when `lengthen_only`: a confirmation does not shorten a longer block given
    /// by hand). Answers with the block and, when anything changed, its entry for the audit.
    async fn block_in(
        &self,
        write: &Write,
        block: BlockedSender,
        lengthen_only: bool,
        by: &Caller,
        now: DateTime<Utc>,
    ) -> Result<(BlockedSender, Option<ConfigChange>)> {
        let key = block.key();
        let before = self.store.lock_blocked_sender(write, &key).await?;
        let after = match &before {
            None => {
                if self.store.insert_blocked_sender(write, &block).await? == Inserted::Taken {
                    return Err(Refusal::Conflict {
                        description: format!(
                            "{key} was blocked by another call at the same moment"
                        ),
                    }
                    .into());
                }
                block
            }
            Some(before) => {
                let after = before.renewed(block, lengthen_only, now);
                if after == *before {
                    return Ok((after, None));
                }
                self.store.update_blocked_sender(write, &after).await?;
                after
            }
        };
        let change = ConfigChange::of(BLOCK_KIND, key, before.as_ref(), Some(&after), by, now);
        Ok((after, Some(change)))
    }
}

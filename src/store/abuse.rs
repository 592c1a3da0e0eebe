//! Malicious complaints: blocked senders, and a sender's latest texts that intake compares a
//! new ticket with.

use chrono::{DateTime, Utc};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, DbBackend, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect, sea_query::LockType,
};

use super::entity::{blocked_sender, ticket};
use super::routing::customer_match;
use super::{Inserted, Store, Write, convert, inserted};
use crate::domain::abuse::BlockedSender;
use crate::domain::ticket::Customer;
use crate::error::Result;

impl Store {
    pub async fn insert_blocked_sender(
        &self,
        write: &Write,
        b: &BlockedSender,
    ) -> Result<Inserted> {
        inserted(convert::blocked_sender_row(b).insert(write.conn()).await)
    }

    pub async fn update_blocked_sender(&self, write: &Write, b: &BlockedSender) -> Result<()> {
        convert::blocked_sender_row(b).update(write.conn()).await?;
        Ok(())
    }

    pub async fn delete_blocked_sender(&self, write: &Write, key: &str) -> Result<()> {
        blocked_sender::Entity::delete_by_id(key)
            .exec(write.conn())
            .await?;
        Ok(())
    }

    pub async fn lock_blocked_sender(
        &self,
        write: &Write,
        key: &str,
    ) -> Result<Option<BlockedSender>> {
        let mut query = blocked_sender::Entity::find_by_id(key);
        if self.backend() == DbBackend::Postgres {
            query = query.lock(LockType::Update);
        }
        query
            .one(write.conn())
            .await?
            .map(convert::blocked_sender)
            .transpose()
    }

    pub async fn blocked_sender(&self, key: &str) -> Result<Option<BlockedSender>> {
        blocked_sender::Entity::find_by_id(key)
            .one(&self.db)
            .await?
            .map(convert::blocked_sender)
            .transpose()
    }

    /// The blocks among `keys` still in force at `now`.
    pub async fn blocks_in_force(
        &self,
        keys: &[String],
        now: DateTime<Utc>,
    ) -> Result<Vec<BlockedSender>> {
        if keys.is_empty() {
            return Ok(Vec::new());
        }
        blocked_sender::Entity::find()
            .filter(blocked_sender::Column::Key.is_in(keys.iter().cloned()))
            .filter(in_force(now))
            .all(&self.db)
            .await?
            .into_iter()
            .map(convert::blocked_sender)
            .collect()
    }

    /// Up to `limit` blocks by key after `after`; ended ones too when `ended`.
    pub async fn blocked_senders(
        &self,
        after: Option<&str>,
        ended: bool,
        now: DateTime<Utc>,
        limit: u64,
    ) -> Result<Vec<BlockedSender>> {
        let mut query = blocked_sender::Entity::find().order_by_asc(blocked_sender::Column::Key);
        if let Some(after) = after {
            query = query.filter(blocked_sender::Column::Key.gt(after));
        }
        if !ended {
            query = query.filter(in_force(now));
        }
        query
            .limit(limit)
            .all(&self.db)
            .await?
            .into_iter()
            .map(convert::blocked_sender)
            .collect()
    }

    /// The title and description of up to `limit` of `customer`'s newest tickets since
    /// `since`.
    pub async fn recent_texts(
        &self,
        customer: &Customer,
        since: DateTime<Utc>,
        limit: u64,
    ) -> Result<Vec<String>> {
        let Some(same_customer) = customer_match(customer) else {
            return Ok(Vec::new());
        };
        let rows: Vec<(String, String)> = ticket::Entity::find()
            .select_only()
            .columns([ticket::Column::Title, ticket::Column::Description])
            .filter(same_customer)
            .filter(ticket::Column::CreatedAt.gte(since))
            // Served by (customer column, created_at), as the repeat check is.
            .order_by_desc(ticket::Column::CreatedAt)
            .limit(limit)
            .into_tuple()
            .all(&self.db)
            .await?;
        Ok(rows
            .into_iter()
            .map(|(title, description)| format!("{title} {description}"))
            .collect())
    }
}

/// Blocks that have not ended at `now`.
fn in_force(now: DateTime<Utc>) -> Condition {
    Condition::any()
        .add(blocked_sender::Column::Until.is_null())
        .add(blocked_sender::Column::Until.gt(now))
}

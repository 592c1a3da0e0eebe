//! What routing reads and writes: the routing version, the stored classifier and its training
//! examples, the history behind a ticket's priority, and team queues.

use chrono::{DateTime, Utc};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, ConnectionTrait, DbBackend, EntityTrait, QueryFilter,
    QueryOrder, QuerySelect,
};

use super::entity::{model, ticket};
use super::{Store, Write, convert};
use crate::domain::classifier::{Example, RoutingModel};
use crate::domain::routing::text_of;
use crate::domain::staff::{MAX_QUEUE_POSITION, QUEUED};
use crate::domain::ticket::{Customer, Identity, Priority, Resolution, Status, Ticket};
use crate::error::{Error, Result};

/// Most resolved tickets one training reads: the newest.
const MAX_EXAMPLES: u64 = 50_000;

/// A stored classifier and what is known of its training.
#[derive(Debug, Clone)]
pub struct StoredModel {
    pub version: i64,
    pub trained_at: DateTime<Utc>,
    pub trained_by: String,
    pub examples: i32,
    pub category_accuracy: f64,
    pub team_accuracy: f64,
    pub model: RoutingModel,
}

impl Store {
    /// The version of what routing reads (rules, the set of teams, the model): one number to
    /// ask before each routing, so that the rest can be cached.
    pub async fn routing_version(&self) -> Result<i64> {
        let row = self
            .db
            .query_one_raw(
                self.statement("SELECT version FROM routing_config WHERE id = 1", vec![]),
            )
            .await?
            .ok_or_else(|| Error::Internal("routing_config has no row".into()))?;
        Ok(row.try_get_by_index::<i64>(0)?)
    }

    /// Moves the routing version on, inside the write that changes what routing reads.
    pub async fn routing_changed(&self, write: &Write) -> Result<()> {
        write
            .conn()
            .execute_raw(self.statement(
                "UPDATE routing_config SET version = version + 1 WHERE id = 1",
                vec![],
            ))
            .await?;
        Ok(())
    }

    /// Claims the classifier's training for this instance unless another claimed it after
    /// `stale_before`; true when the claim is ours.
    pub async fn claim_retraining(
        &self,
        now: DateTime<Utc>,
        stale_before: DateTime<Utc>,
    ) -> Result<bool> {
        let claimed = self
            .db
            .execute_raw(self.statement(
                "UPDATE routing_config SET retraining_since = $1 \
                 WHERE id = 1 AND (retraining_since IS NULL OR retraining_since < $2)",
                vec![now.into(), stale_before.into()],
            ))
            .await?;
        Ok(claimed.rows_affected() == 1)
    }

    /// Gives the training claim up.
    pub async fn end_retraining(&self) -> Result<()> {
        self.db
            .execute_raw(self.statement(
                "UPDATE routing_config SET retraining_since = NULL WHERE id = 1",
                vec![],
            ))
            .await?;
        Ok(())
    }

    /// The newest model, if any.
    pub async fn latest_model(&self) -> Result<Option<StoredModel>> {
        let row = model::Entity::find()
            .order_by_desc(model::Column::Id)
            .one(&self.db)
            .await?;
        row.map(|row| {
            Ok(StoredModel {
                version: row.id,
                trained_at: row.trained_at,
                trained_by: row.trained_by,
                examples: row.examples,
                category_accuracy: row.category_accuracy,
                team_accuracy: row.team_accuracy,
                model: serde_json::from_str(&row.model)
                    .map_err(|e| Error::Internal(format!("stored classifier: {e}")))?,
            })
        })
        .transpose()
    }

    /// Stores a newly trained model; returns its version.
    pub async fn insert_model(&self, write: &Write, m: &StoredModel) -> Result<i64> {
        let text = serde_json::to_string(&m.model)
            .map_err(|e| Error::Internal(format!("a model that does not serialize: {e}")))?;
        let row = model::ActiveModel {
            trained_at: sea_orm::Set(m.trained_at),
            trained_by: sea_orm::Set(m.trained_by.clone()),
            examples: sea_orm::Set(m.examples),
            category_accuracy: sea_orm::Set(m.category_accuracy),
            team_accuracy: sea_orm::Set(m.team_accuracy),
            model: sea_orm::Set(text),
            ..Default::default()
        }
        .insert(write.conn())
        .await?;
        Ok(row.id)
    }

    /// The newest resolved and closed tickets but spam as training examples: their final
    /// category and team, the triage team left out as a destination.
    pub async fn training_examples(&self, triage: &str) -> Result<Vec<Example>> {
        let rows: Vec<(String, String, Option<String>, Option<String>)> = ticket::Entity::find()
            .select_only()
            .columns([
                ticket::Column::Title,
                ticket::Column::Description,
                ticket::Column::Category,
                ticket::Column::Team,
            ])
            .filter(
                ticket::Column::Status.is_in([Status::Resolved.as_str(), Status::Closed.as_str()]),
            )
            .filter(
                Condition::any()
                    .add(ticket::Column::Category.is_not_null())
                    .add(ticket::Column::Team.ne(triage)),
            )
            // Spam says nothing of where real complaints belong.
            .filter(not_spam())
            .order_by_desc(ticket::Column::Id)
            .limit(MAX_EXAMPLES)
            .into_tuple()
            .all(&self.db)
            .await?;
        // Oldest first, so that the held-out fifth spreads over the whole period.
        Ok(rows
            .into_iter()
            .rev()
            .map(|(title, description, category, team)| Example {
                text: text_of(&title, &description),
                category,
                team: team.filter(|t| t != triage),
            })
            .collect())
    }

    /// Other customers' tickets about `product` and `category` created since `since`, counted
    /// up to `cap`.
    pub async fn similar_reports(
        &self,
        product: &str,
        category: Option<&str>,
        customer: &Customer,
        since: DateTime<Utc>,
        cap: usize,
    ) -> Result<usize> {
        let Some(category) = category else {
            return Ok(0);
        };
        let mut query = ticket::Entity::find()
            .filter(ticket::Column::Category.eq(category))
            .filter(ticket::Column::Product.eq(product))
            .filter(ticket::Column::CreatedAt.gte(since))
            .filter(genuine());
        if let Some(same) = customer_match(customer) {
            query = query.filter(same.not());
        }
        Ok(self.count_up_to(query, cap as u64).await? as usize)
    }

    /// The number of the customer's newest ticket since `since` about the same product (when
    /// there is one) or the same category.
    pub async fn earlier_ticket(
        &self,
        customer: &Customer,
        product: &str,
        category: Option<&str>,
        since: DateTime<Utc>,
    ) -> Result<Option<String>> {
        let Some(same_customer) = customer_match(customer) else {
            return Ok(None);
        };
        let mut matter = Condition::any();
        if !product.is_empty() {
            matter = matter.add(ticket::Column::Product.eq(product));
        }
        if let Some(category) = category {
            matter = matter.add(ticket::Column::Category.eq(category));
        }
        if matter.is_empty() {
            return Ok(None);
        }
        Ok(ticket::Entity::find()
            .select_only()
            .column(ticket::Column::Number)
            .filter(same_customer)
            .filter(matter)
            .filter(ticket::Column::CreatedAt.gte(since))
            .filter(genuine())
            // Served by (customer column, created_at): the newest first, stopping at the first
            // about the same matter.
            .order_by_desc(ticket::Column::CreatedAt)
            .into_tuple()
            .one(&self.db)
            .await?)
    }

    /// Up to `limit` tickets waiting in `team`'s queue, in the order they will be served,
    /// after the ticket at `after` (its priority rank and id).
    pub async fn team_queue(
        &self,
        team: &str,
        after: Option<(i16, i64)>,
        limit: u64,
    ) -> Result<Vec<Ticket>> {
        let mut query = queued(team);
        if let Some((rank, id)) = after {
            query = query.filter(behind(rank, id));
        }
        let rows = query.limit(limit).all(&self.db).await?;
        rows.into_iter().map(convert::ticket).collect()
    }

    /// Where a waiting ticket stands in its team's queue, 1 = next; 0 when it is not waiting.
    pub async fn queue_position(&self, ticket: &Ticket) -> Result<u32> {
        let (Some(team), None) = (&ticket.team, &ticket.assignee) else {
            return Ok(0);
        };
        if !QUEUED.contains(&ticket.status) {
            return Ok(0);
        }
        // Unordered, and bounded by the rank, so that the count reads only the waiting
        // tickets ahead (idx_tickets_waiting), however many the team has closed.
        let rank = ticket.priority.rank();
        let ahead = waiting(team)
            .filter(ticket::Column::PriorityRank.lte(rank))
            .filter(behind(rank, ticket.id).not())
            .filter(ticket::Column::Id.ne(ticket.id));
        let counted = self
            .count_up_to(ahead, u64::from(MAX_QUEUE_POSITION) - 1)
            .await?;
        Ok(counted as u32 + 1)
    }

    /// Locks up to `limit` tickets waiting in `team`'s queue, in the order they are served.
    pub async fn lock_queue(&self, write: &Write, team: &str, limit: u64) -> Result<Vec<Ticket>> {
        let mut waiting = queued(team).limit(limit);
        if self.backend() == DbBackend::Postgres {
            waiting = waiting.lock_exclusive();
        }
        waiting
            .all(write.conn())
            .await?
            .into_iter()
            .map(convert::ticket)
            .collect()
    }

    /// Up to `limit` tickets waiting in `team`'s queue that a new ticket of `priority` would
    /// wait behind.
    pub async fn queue_ahead_of(
        &self,
        team: &str,
        priority: Priority,
        limit: u64,
    ) -> Result<Vec<Ticket>> {
        queued(team)
            .filter(ticket::Column::PriorityRank.lte(priority.rank()))
            .limit(limit)
            .all(&self.db)
            .await?
            .into_iter()
            .map(convert::ticket)
            .collect()
    }

    /// How many tickets wait in each team's queue, for the teams where any do.
    pub async fn queue_lengths(&self) -> Result<Vec<(String, i64)>> {
        Ok(ticket::Entity::find()
            .select_only()
            .column(ticket::Column::Team)
            .column_as(ticket::Column::Id.count(), "waiting")
            .filter(ticket::Column::Team.is_not_null())
            .filter(ticket::Column::Assignee.is_null())
            .filter(ticket::Column::Status.is_in(QUEUED.iter().map(|s| s.as_str())))
            .group_by(ticket::Column::Team)
            .into_tuple()
            .all(&self.db)
            .await?)
    }
}

/// A team's waiting tickets in the order they are served.
fn queued(team: &str) -> sea_orm::Select<ticket::Entity> {
    waiting(team)
        .order_by_asc(ticket::Column::PriorityRank)
        .order_by_asc(ticket::Column::Id)
}

/// The tickets waiting in `team`'s queue, in no order.
fn waiting(team: &str) -> sea_orm::Select<ticket::Entity> {
    ticket::Entity::find()
        .filter(ticket::Column::Team.eq(team))
        .filter(ticket::Column::Assignee.is_null())
        .filter(ticket::Column::Status.is_in(QUEUED.iter().map(|s| s.as_str())))
}

/// Queued tickets served after the one of priority `rank` and `id`.
fn behind(rank: i16, id: i64) -> Condition {
    Condition::any()
        .add(ticket::Column::PriorityRank.gt(rank))
        .add(
            Condition::all()
                .add(ticket::Column::PriorityRank.eq(rank))
                .add(ticket::Column::Id.gt(id)),
        )
}

/// Tickets not held or found malicious: a flood makes no impact, nor a repeat.
fn genuine() -> Condition {
    Condition::all()
        .add(ticket::Column::Status.ne(Status::Quarantined.as_str()))
        .add(not_spam())
}

fn not_spam() -> Condition {
    Condition::any()
        .add(ticket::Column::Resolution.is_null())
        .add(ticket::Column::Resolution.ne(Resolution::Spam.as_str()))
}

/// The tickets of the same customer, by what identifies them.
pub(super) fn customer_match(customer: &Customer) -> Option<Condition> {
    let (identity, value) = customer.identity()?;
    let column = match identity {
        Identity::ExternalId => ticket::Column::CustomerExternalId,
        Identity::Phone => ticket::Column::CustomerPhone,
        Identity::Email => ticket::Column::CustomerEmail,
    };
    Some(Condition::all().add(column.eq(value)))
}

//! Webhooks and their queues: the outbox position that fills them from the event log, the
//! deliveries in order, every attempt, and the lease that lets one instance at a time work a
//! webhook's queue.

use chrono::{DateTime, Utc};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DbBackend, EntityTrait, QueryFilter,
    QueryOrder, QuerySelect, QueryTrait,
    sea_query::{Expr, ExprTrait, LockType},
};

use super::entity::{event, webhook, webhook_attempt, webhook_delivery, webhook_outbox};
use super::{Inserted, Store, Write, convert, inserted};
use crate::domain::event::TicketEvent;
use crate::domain::webhook::{Attempt, Circuit, Delivery, DeliveryState, Webhook, WebhookStatus};
use crate::error::Result;

/// A delivery to queue.
#[derive(Debug, Clone)]
pub struct Queued {
    pub webhook_id: String,
    /// Queued by RedeliverEvents, not by the event's commit.
    pub redelivery: bool,
    pub event_cursor: i64,
    pub event_type: crate::domain::event::EventType,
    pub ticket_id: i64,
    pub event_at: DateTime<Utc>,
}

impl Store {
    // --- Webhooks ---

    pub async fn insert_webhook(&self, write: &Write, w: &Webhook) -> Result<Inserted> {
        inserted(convert::webhook_row(w)?.insert(write.conn()).await)
    }

    pub async fn update_webhook(&self, write: &Write, w: &Webhook) -> Result<()> {
        convert::webhook_row(w)?.update(write.conn()).await?;
        Ok(())
    }

    pub async fn delete_webhook(&self, write: &Write, id: &str) -> Result<()> {
        webhook::Entity::delete_by_id(id).exec(write.conn()).await?;
        Ok(())
    }

    pub async fn lock_webhook(&self, write: &Write, id: &str) -> Result<Option<Webhook>> {
        let mut query = webhook::Entity::find_by_id(id);
        if self.backend() == DbBackend::Postgres {
            query = query.lock(LockType::Update);
        }
        query
            .one(write.conn())
            .await?
            .as_ref()
            .map(convert::webhook)
            .transpose()
    }

    /// A webhook with how its deliveries stand.
    pub async fn webhook(&self, id: &str) -> Result<Option<WebhookStatus>> {
        let rows = webhook::Entity::find_by_id(id).all(&self.db).await?;
        Ok(self.with_status(rows).await?.pop())
    }

    /// Up to `limit` webhooks after `after`, by id, with how their deliveries stand.
    pub async fn list_webhooks(
        &self,
        after: Option<&str>,
        limit: u64,
    ) -> Result<Vec<WebhookStatus>> {
        let mut query = webhook::Entity::find().order_by_asc(webhook::Column::Id);
        if let Some(after) = after {
            query = query.filter(webhook::Column::Id.gt(after));
        }
        let rows = query.limit(limit).all(&self.db).await?;
        self.with_status(rows).await
    }

    /// The webhooks of `rows` with their pending and dead deliveries, counted for all of them
    /// in one query.
    async fn with_status(&self, rows: Vec<webhook::Model>) -> Result<Vec<WebhookStatus>> {
        let counted: Vec<(String, String, i64)> = webhook_delivery::Entity::find()
            .select_only()
            .column(webhook_delivery::Column::WebhookId)
            .column(webhook_delivery::Column::State)
            .column_as(webhook_delivery::Column::Id.count(), "n")
            .filter(webhook_delivery::Column::WebhookId.is_in(rows.iter().map(|r| r.id.clone())))
            .filter(webhook_delivery::Column::State.is_in([
                DeliveryState::Pending.as_str(),
                DeliveryState::Dead.as_str(),
            ]))
            .group_by(webhook_delivery::Column::WebhookId)
            .group_by(webhook_delivery::Column::State)
            .into_tuple()
            .all(&self.db)
            .await?;
        let count = |id: &str, state: DeliveryState| {
            counted
                .iter()
                .find(|(w, s, _)| w == id && s == state.as_str())
                .map_or(0, |(_, _, n)| *n)
        };
        rows.iter()
            .map(|row| {
                Ok(WebhookStatus {
                    webhook: convert::webhook(row)?,
                    circuit: convert::circuit(row),
                    pending: count(&row.id, DeliveryState::Pending),
                    dead: count(&row.id, DeliveryState::Dead),
                })
            })
            .collect()
    }

    /// Every webhook, inside `write`.
    pub async fn all_webhooks(&self, write: &Write) -> Result<Vec<Webhook>> {
        webhook::Entity::find()
            .order_by_asc(webhook::Column::Id)
            .all(write.conn())
            .await?
            .iter()
            .map(convert::webhook)
            .collect()
    }

    // --- The outbox ---

    /// The last event put in the queues, locked until `write` ends so that one instance at
    /// a time moves it (SQLite's single writer already does).
    pub async fn lock_outbox(&self, write: &Write) -> Result<i64> {
        let mut query = webhook_outbox::Entity::find_by_id(1);
        if self.backend() == DbBackend::Postgres {
            query = query.lock(LockType::Update);
        }
        Ok(query
            .one(write.conn())
            .await?
            .map_or(0, |row| row.event_cursor))
    }

    /// Whether there are webhooks and events the outbox has not put in their queues yet.
    pub async fn outbox_behind(&self) -> Result<bool> {
        let any_webhook = webhook::Entity::find().one(&self.db).await?.is_some();
        if !any_webhook {
            return Ok(false);
        }
        let at = webhook_outbox::Entity::find_by_id(1)
            .one(&self.db)
            .await?
            .map_or(0, |row| row.event_cursor);
        Ok(self.last_cursor().await? > at)
    }

    /// Puts `deliveries` at the end of their webhooks' queues, due at `now`.
    pub async fn enqueue(
        &self,
        write: &Write,
        deliveries: &[Queued],
        now: DateTime<Utc>,
    ) -> Result<()> {
        // A statement takes at most 32,766 values on SQLite: a thousand rows of 11 each.
        for chunk in deliveries.chunks(1_000) {
            let rows = chunk.iter().map(|d| webhook_delivery::ActiveModel {
                webhook_id: sea_orm::Set(d.webhook_id.clone()),
                event_cursor: sea_orm::Set(d.event_cursor),
                event_type: sea_orm::Set(d.event_type.as_str().to_owned()),
                ticket_id: sea_orm::Set(d.ticket_id),
                state: sea_orm::Set(DeliveryState::Pending.as_str().to_owned()),
                attempts: sea_orm::Set(0),
                next_attempt_at: sea_orm::Set(now),
                event_at: sea_orm::Set(d.event_at),
                created_at: sea_orm::Set(now),
                delivered_at: sea_orm::Set(None),
                redelivery: sea_orm::Set(d.redelivery),
                ..Default::default()
            });
            webhook_delivery::Entity::insert_many(rows)
                .exec(write.conn())
                .await?;
        }
        Ok(())
    }

    /// Moves the outbox past the event at `cursor`.
    pub async fn advance_outbox(&self, write: &Write, cursor: i64) -> Result<()> {
        webhook_outbox::Entity::update_many()
            .col_expr(webhook_outbox::Column::EventCursor, Expr::value(cursor))
            .filter(webhook_outbox::Column::Id.eq(1))
            .exec(write.conn())
            .await?;
        Ok(())
    }

    // --- Delivering ---

    /// The ids of webhooks, not paused, with deliveries waiting: one index probe per
    /// webhook, however long their delivery history.
    pub async fn webhooks_with_work(&self) -> Result<Vec<String>> {
        let pending = webhook_delivery::Entity::find()
            .select_only()
            .expr(Expr::value(1))
            .filter(
                Expr::col((
                    webhook_delivery::Entity,
                    webhook_delivery::Column::WebhookId,
                ))
                .equals((webhook::Entity, webhook::Column::Id)),
            )
            .filter(webhook_delivery::Column::State.eq(DeliveryState::Pending.as_str()))
            .into_query();
        Ok(webhook::Entity::find()
            .select_only()
            .column(webhook::Column::Id)
            .filter(webhook::Column::Paused.eq(false))
            .filter(Expr::exists(pending))
            .into_tuple()
            .all(&self.db)
            .await?)
    }

    /// Forgets deliveries accepted before `before`, with their attempts; returns how many.
    /// Dead letters stay until they are sent again or their webhook goes.
    pub async fn prune_deliveries(&self, before: DateTime<Utc>) -> Result<u64> {
        let pruned = webhook_delivery::Entity::delete_many()
            .filter(webhook_delivery::Column::State.eq(DeliveryState::Delivered.as_str()))
            .filter(webhook_delivery::Column::DeliveredAt.lt(before))
            .exec(&self.db)
            .await?;
        Ok(pruned.rows_affected)
    }

    /// Takes or renews `holder`'s lease of webhook `id`'s queue until `until`, unless another
    /// holds it past `now`; true when the lease is `holder`'s.
    pub async fn lease_webhook(
        &self,
        id: &str,
        holder: &str,
        now: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> Result<bool> {
        let taken = self
            .db
            .execute_raw(self.statement(
                "UPDATE webhooks SET lease_holder = $1, lease_until = $2 WHERE id = $3 \
                 AND (lease_holder IS NULL OR lease_holder = $1 OR lease_until < $4)",
                vec![holder.into(), until.into(), id.into(), now.into()],
            ))
            .await?;
        Ok(taken.rows_affected() == 1)
    }

    /// Gives `holder`'s lease of webhook `id` up.
    pub async fn release_webhook(&self, id: &str, holder: &str) -> Result<()> {
        self.db
            .execute_raw(self.statement(
                "UPDATE webhooks SET lease_holder = NULL, lease_until = NULL \
                 WHERE id = $1 AND lease_holder = $2",
                vec![id.into(), holder.into()],
            ))
            .await?;
        Ok(())
    }

    /// The webhook as its deliverer reads it: its configuration, its circuit, and who holds
    /// its lease.
    pub async fn webhook_circuit(
        &self,
        id: &str,
    ) -> Result<Option<(Webhook, Circuit, Option<String>)>> {
        webhook::Entity::find_by_id(id)
            .one(&self.db)
            .await?
            .map(|row| {
                let webhook = convert::webhook(&row)?;
                Ok((webhook, convert::circuit(&row), row.lease_holder))
            })
            .transpose()
    }

    /// The next `limit` deliveries waiting in webhook `id`'s queue, in order, each with its
    /// event (`None` if the log no longer has it).
    pub async fn next_deliveries(
        &self,
        id: &str,
        limit: u64,
    ) -> Result<Vec<(Delivery, Option<TicketEvent>)>> {
        let rows = webhook_delivery::Entity::find()
            .filter(webhook_delivery::Column::WebhookId.eq(id))
            .filter(webhook_delivery::Column::State.eq(DeliveryState::Pending.as_str()))
            .order_by_asc(webhook_delivery::Column::Id)
            .limit(limit)
            .all(&self.db)
            .await?;
        let cursors: Vec<i64> = rows.iter().map(|r| r.event_cursor).collect();
        let events: Vec<TicketEvent> = event::Entity::find()
            .filter(event::Column::Id.is_in(cursors))
            .all(&self.db)
            .await?
            .into_iter()
            .map(convert::event)
            .collect::<Result<_>>()?;
        rows.into_iter()
            .map(|row| {
                let event = events
                    .iter()
                    .find(|e| e.cursor == row.event_cursor)
                    .cloned();
                Ok((convert::delivery(row)?, event))
            })
            .collect()
    }

    /// Records an attempt at `delivery` (as it stands after it) and the webhook's circuit,
    /// if `holder` still holds the webhook's lease; false (and nothing to commit) otherwise.
    pub async fn record_attempt(
        &self,
        write: &Write,
        holder: &str,
        delivery: &Delivery,
        attempt: &Attempt,
        circuit: &Circuit,
    ) -> Result<bool> {
        let still_held = webhook::Entity::update_many()
            .col_expr(
                webhook::Column::ConsecutiveFailures,
                Expr::value(circuit.consecutive_failures as i32),
            )
            .col_expr(
                webhook::Column::CircuitOpenUntil,
                Expr::value(circuit.open_until),
            )
            .col_expr(
                webhook::Column::LastSuccessAt,
                Expr::value(circuit.last_success_at),
            )
            .col_expr(
                webhook::Column::LastFailureAt,
                Expr::value(circuit.last_failure_at),
            )
            .col_expr(
                webhook::Column::LastError,
                Expr::value(circuit.last_error.clone()),
            )
            .filter(webhook::Column::Id.eq(&delivery.webhook_id))
            .filter(webhook::Column::LeaseHolder.eq(holder))
            .exec(write.conn())
            .await?;
        if still_held.rows_affected != 1 {
            return Ok(false);
        }
        webhook_attempt::ActiveModel {
            delivery_id: sea_orm::Set(delivery.id),
            number: sea_orm::Set(attempt.number as i32),
            started_at: sea_orm::Set(attempt.started_at),
            duration_ms: sea_orm::Set(attempt.duration.num_milliseconds()),
            http_status: sea_orm::Set(attempt.http_status.map(i32::from)),
            error: sea_orm::Set(attempt.error.clone()),
            ..Default::default()
        }
        .insert(write.conn())
        .await?;
        webhook_delivery::ActiveModel {
            id: sea_orm::Set(delivery.id),
            state: sea_orm::Set(delivery.state.as_str().to_owned()),
            attempts: sea_orm::Set(delivery.attempts as i32),
            next_attempt_at: sea_orm::Set(delivery.next_attempt_at),
            delivered_at: sea_orm::Set(delivery.delivered_at),
            ..Default::default()
        }
        .update(write.conn())
        .await?;
        Ok(true)
    }

    /// The ids of the webhooks that name team `id`, read inside `write`.
    pub async fn webhooks_of_team(&self, write: &Write, id: &str) -> Result<Vec<String>> {
        Ok(self
            .all_webhooks(write)
            .await?
            .into_iter()
            .filter(|w| w.teams.iter().any(|t| t == id))
            .map(|w| w.id)
            .collect())
    }

    // --- Reading and replaying ---

    /// Up to `limit` of webhook `id`'s deliveries before delivery `before` (newest first), in
    /// `state` if given, each with its attempts.
    pub async fn list_deliveries(
        &self,
        id: &str,
        state: Option<DeliveryState>,
        before: Option<i64>,
        limit: u64,
    ) -> Result<Vec<(Delivery, Vec<Attempt>)>> {
        let mut query = webhook_delivery::Entity::find()
            .filter(webhook_delivery::Column::WebhookId.eq(id))
            .order_by_desc(webhook_delivery::Column::Id);
        if let Some(state) = state {
            query = query.filter(webhook_delivery::Column::State.eq(state.as_str()));
        }
        if let Some(before) = before {
            query = query.filter(webhook_delivery::Column::Id.lt(before));
        }
        let rows = query.limit(limit).all(&self.db).await?;
        let ids: Vec<i64> = rows.iter().map(|r| r.id).collect();
        let attempts = webhook_attempt::Entity::find()
            .filter(webhook_attempt::Column::DeliveryId.is_in(ids))
            .order_by_asc(webhook_attempt::Column::Id)
            .all(&self.db)
            .await?;
        rows.into_iter()
            .map(|row| {
                let mine = attempts
                    .iter()
                    .filter(|a| a.delivery_id == row.id)
                    .cloned()
                    .map(convert::attempt)
                    .collect();
                Ok((convert::delivery(row)?, mine))
            })
            .collect()
    }

    /// Puts webhook `id`'s dead letters back in its queue, queued and due at `now`, each in
    /// its place by event order with its attempts counted afresh; returns how many.
    pub async fn requeue_dead(&self, write: &Write, id: &str, now: DateTime<Utc>) -> Result<u64> {
        let requeued = webhook_delivery::Entity::update_many()
            .col_expr(
                webhook_delivery::Column::State,
                Expr::value(DeliveryState::Pending.as_str()),
            )
            .col_expr(webhook_delivery::Column::Attempts, Expr::value(0))
            .col_expr(webhook_delivery::Column::NextAttemptAt, Expr::value(now))
            .col_expr(webhook_delivery::Column::CreatedAt, Expr::value(now))
            .col_expr(webhook_delivery::Column::Redelivery, Expr::value(true))
            .filter(webhook_delivery::Column::WebhookId.eq(id))
            .filter(webhook_delivery::Column::State.eq(DeliveryState::Dead.as_str()))
            .exec(write.conn())
            .await?;
        Ok(requeued.rows_affected)
    }
}

//! The event log: appended in the same transaction as the change it records, read by
//! cursor for history, replay and live fan-out.

use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DbBackend, EntityTrait, QueryFilter,
    QueryOrder, QuerySelect, prelude::Expr, sea_query::ExprTrait,
};

use super::entity::event;
use super::{Store, Write, convert};
use crate::domain::event::TicketEvent;
use crate::error::Result;

/// The PostgreSQL channel on which each commit that appended events is announced, so every
/// instance's watchers wake; the log itself stays the truth.
pub const NOTIFY_CHANNEL: &str = "feedbackd_events";

/// Any constant will do: the advisory lock that orders event appends across instances.
const EVENT_APPEND_LOCK: i64 = 0x6665_6564_6261_636b; // "feedback"

impl Store {
    /// Appends `event` to the log and returns its cursor. Call it last in the transaction.
    pub(crate) async fn append_event(&self, write: &Write, event: &TicketEvent) -> Result<i64> {
        self.order_appends(write).await?;
        Ok(convert::event_row(event).insert(write.conn()).await?.id)
    }

    /// Appends `events` to the log, in order, with one statement. Call it last in the
    /// transaction.
    pub(crate) async fn append_events(&self, write: &Write, events: &[TicketEvent]) -> Result<()> {
        self.order_appends(write).await?;
        let rows = events.iter().map(convert::event_row);
        event::Entity::insert_many(rows)
            .exec_without_returning(write.conn())
            .await?;
        Ok(())
    }

    /// On PostgreSQL, takes the transaction-scoped lock that hands out cursors in commit
    /// order: a reader that has seen cursor N will never later find a smaller one committed.
    /// (SQLite has a single writer, which gives the same order.) Also announces the commit
    /// to every instance's tailer.
    async fn order_appends(&self, write: &Write) -> Result<()> {
        if self.backend() == DbBackend::Postgres {
            write
                .conn()
                .execute_raw(self.statement(
                    "SELECT pg_advisory_xact_lock($1), pg_notify($2, '')",
                    vec![EVENT_APPEND_LOCK.into(), NOTIFY_CHANNEL.into()],
                ))
                .await?;
        }
        Ok(())
    }

    /// Up to `limit` events after `cursor`, in log order.
    pub async fn events_after(&self, cursor: i64, limit: u64) -> Result<Vec<TicketEvent>> {
        self.read_log(None, cursor, limit).await
    }

    /// Up to `limit` events of one ticket after `cursor`, oldest first.
    pub async fn ticket_events(
        &self,
        ticket_id: i64,
        cursor: i64,
        limit: u64,
    ) -> Result<Vec<TicketEvent>> {
        self.read_log(Some(ticket_id), cursor, limit).await
    }

    /// Every SLA event of one ticket, oldest first.
    pub async fn sla_events(&self, ticket_id: i64) -> Result<Vec<TicketEvent>> {
        let rows = event::Entity::find()
            .filter(event::Column::TicketId.eq(ticket_id))
            .filter(event::Column::Sla.is_not_null())
            .order_by_asc(event::Column::Id)
            .all(&self.db)
            .await?;
        rows.into_iter().map(convert::event).collect()
    }

    async fn read_log(
        &self,
        ticket_id: Option<i64>,
        cursor: i64,
        limit: u64,
    ) -> Result<Vec<TicketEvent>> {
        let mut query = event::Entity::find().filter(event::Column::Id.gt(cursor));
        if let Some(ticket_id) = ticket_id {
            query = query.filter(event::Column::TicketId.eq(ticket_id));
        }
        let rows = query
            .order_by_asc(event::Column::Id)
            .limit(limit)
            .all(&self.db)
            .await?;
        rows.into_iter().map(convert::event).collect()
    }

    /// The newest cursor in the log, 0 when it is empty.
    pub async fn last_cursor(&self) -> Result<i64> {
        let max: Option<Option<i64>> = event::Entity::find()
            .select_only()
            .column_as(Expr::col(event::Column::Id).max(), "max")
            .into_tuple()
            .one(&self.db)
            .await?;
        Ok(max.flatten().unwrap_or(0))
    }
}

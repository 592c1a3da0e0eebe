//! The event log: appended in the same transaction as the change it records, read by
//! cursor for history, replay and live fan-out.

use sea_orm::{
    ColumnTrait, ConnectionTrait, DbBackend, EntityTrait, QueryFilter, QueryOrder, QuerySelect,
};

use super::entity::event;
use super::{Store, Write, convert};
use crate::domain::event::{EventType, TicketEvent};
use crate::error::{Error, Result};

/// The PostgreSQL channel on which each commit that appended events is announced, so every
/// instance's watchers wake; the log itself stays the truth.
pub const NOTIFY_CHANNEL: &str = "feedbackd_events";

/// The PostgreSQL channel on which each commit that recorded a configuration change is
/// announced.
pub const CONFIG_CHANNEL: &str = "feedbackd_config";

/// Any constant will do: the advisory lock that orders event appends across instances.
const EVENT_APPEND_LOCK: i64 = 0x6665_6564_6261_636b; // "feedback"

impl Store {
    /// Appends `events` to the log in order, with one statement, and returns their cursors.
    /// Call it last in the transaction.
    pub async fn append_events(&self, write: &Write, events: Vec<TicketEvent>) -> Result<Vec<i64>> {
        if events.is_empty() {
            return Ok(Vec::new());
        }
        let count = events.len();
        self.order_appends(write, NOTIFY_CHANNEL, EVENT_APPEND_LOCK)
            .await?;
        write
            .appended_events
            .store(true, std::sync::atomic::Ordering::Relaxed);
        let rows = events
            .into_iter()
            .map(convert::event_row)
            .collect::<Result<Vec<_>>>()?;
        let mut ids = event::Entity::insert_many(rows)
            .exec_with_returning_keys(write.conn())
            .await?;
        // Both databases hand out ids in insert order; sorted, they line up with `events`.
        ids.sort_unstable();
        if ids.len() != count {
            return Err(Error::Internal("the log returned fewer cursors".into()));
        }
        Ok(ids)
    }

    /// On PostgreSQL, takes the transaction-scoped lock that hands out positions of a log in
    /// commit order: a reader that has seen cursor N will never later find a smaller one
    /// committed. (SQLite has a single writer, which gives the same order.) Also announces
    /// the commit on `channel` to every instance.
    pub(super) async fn order_appends(
        &self,
        write: &Write,
        channel: &str,
        lock: i64,
    ) -> Result<()> {
        if self.backend() == DbBackend::Postgres {
            write
                .conn()
                .execute_raw(self.statement(
                    "SELECT pg_advisory_xact_lock($1), pg_notify($2, '')",
                    vec![lock.into(), channel.into()],
                ))
                .await?;
        }
        Ok(())
    }

    /// Up to `limit` events after `cursor`, in log order.
    pub async fn events_after(&self, cursor: i64, limit: u64) -> Result<Vec<TicketEvent>> {
        read_log(&self.db, None, &[], cursor, limit).await
    }

    /// Up to `limit` events after `cursor`, read inside `write`.
    pub async fn events_after_in(
        &self,
        write: &Write,
        cursor: i64,
        limit: u64,
    ) -> Result<Vec<TicketEvent>> {
        read_log(write.conn(), None, &[], cursor, limit).await
    }

    /// Up to `limit` events of one ticket after `cursor`, oldest first, of `types` (all when
    /// empty).
    pub async fn ticket_events(
        &self,
        ticket_id: i64,
        types: &[EventType],
        cursor: i64,
        limit: u64,
    ) -> Result<Vec<TicketEvent>> {
        read_log(&self.db, Some(ticket_id), types, cursor, limit).await
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

    /// The newest cursor in the log, 0 when it is empty.
    pub async fn last_cursor(&self) -> Result<i64> {
        super::newest_id(&self.db, event::Column::Id).await
    }
}

/// Up to `limit` events after `cursor` on `conn`, in log order: of one ticket, and of `types`
/// (all when empty), when given.
async fn read_log(
    conn: &impl ConnectionTrait,
    ticket_id: Option<i64>,
    types: &[EventType],
    cursor: i64,
    limit: u64,
) -> Result<Vec<TicketEvent>> {
    let mut query = event::Entity::find().filter(event::Column::Id.gt(cursor));
    if let Some(ticket_id) = ticket_id {
        query = query.filter(event::Column::TicketId.eq(ticket_id));
    }
    if !types.is_empty() {
        query = query.filter(event::Column::EventType.is_in(types.iter().map(|t| t.as_str())));
    }
    let rows = query
        .order_by_asc(event::Column::Id)
        .limit(limit)
        .all(conn)
        .await?;
    rows.into_iter().map(convert::event).collect()
}

//! The log of configuration changes, recorded in the transaction of the change, and where the
//! reactions to committed changes have got to.

use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect,
};

use super::entity::{config_change, reactor_progress};
use super::{Store, Write, convert};
use crate::domain::config::ConfigChange;
use crate::error::Result;

/// Any constant will do: the advisory lock that orders configuration changes across instances.
const CONFIG_APPEND_LOCK: i64 = 0x636f_6e66_6967; // "config"

/// The last ticket event and configuration change reacted to.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord)]
pub struct ReactorProgress {
    pub events: i64,
    pub config: i64,
}

impl Store {
    /// Records a configuration change in the transaction that makes it; returns its position
    /// in the log. Call it last in the transaction.
    pub async fn record_config_change(&self, write: &Write, change: &ConfigChange) -> Result<i64> {
        self.order_appends(write, super::CONFIG_CHANNEL, CONFIG_APPEND_LOCK)
            .await?;
        write
            .recorded_config
            .store(true, std::sync::atomic::Ordering::Relaxed);
        let row = convert::config_change_row(change)
            .insert(write.conn())
            .await?;
        Ok(row.id)
    }

    /// Up to `limit` configuration changes after `cursor`, in log order.
    pub async fn config_changes_after(&self, cursor: i64, limit: u64) -> Result<Vec<ConfigChange>> {
        config_change::Entity::find()
            .filter(config_change::Column::Id.gt(cursor))
            .order_by_asc(config_change::Column::Id)
            .limit(limit)
            .all(&self.db)
            .await?
            .into_iter()
            .map(convert::config_change)
            .collect()
    }

    /// How far the reactions have got, as last saved. A database that lost the record
    /// starts from the logs' ends, as the migration that made it did.
    pub async fn reactor_progress(&self) -> Result<ReactorProgress> {
        if let Some(row) = reactor_progress::Entity::find_by_id(1)
            .one(&self.db)
            .await?
        {
            return Ok(ReactorProgress {
                events: row.event_cursor,
                config: row.config_cursor,
            });
        }
        self.db
            .execute_unprepared(
                "INSERT INTO reactor_progress (id, event_cursor, config_cursor) \
                 SELECT 1, COALESCE((SELECT MAX(id) FROM ticket_events), 0), \
                 COALESCE((SELECT MAX(id) FROM config_changes), 0) WHERE 1 = 1 \
                 ON CONFLICT (id) DO NOTHING",
            )
            .await?;
        let row = reactor_progress::Entity::find_by_id(1)
            .one(&self.db)
            .await?;
        Ok(
            row.map_or_else(ReactorProgress::default, |r| ReactorProgress {
                events: r.event_cursor,
                config: r.config_cursor,
            }),
        )
    }

    /// Saves how far the reactions have got; never moves it back, whichever instance saves.
    pub async fn save_reactor_progress(&self, progress: ReactorProgress) -> Result<()> {
        self.db
            .execute_raw(self.statement(
                "UPDATE reactor_progress SET \
                 event_cursor = CASE WHEN event_cursor < $1 THEN $1 ELSE event_cursor END, \
                 config_cursor = CASE WHEN config_cursor < $2 THEN $2 ELSE config_cursor END \
                 WHERE id = 1",
                vec![progress.events.into(), progress.config.into()],
            ))
            .await?;
        Ok(())
    }
}

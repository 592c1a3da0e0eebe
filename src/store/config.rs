//! The log of configuration changes, recorded in the transaction of the change, and where the
//! reactions to committed changes have got to.

use sea_orm::{
    ActiveModelTrait, ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect, Set,
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

    /// How far the reactions have got, as last saved.
    pub async fn reactor_progress(&self) -> Result<ReactorProgress> {
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

    /// Saves how far the reactions have got; never moves it back.
    pub async fn save_reactor_progress(&self, progress: ReactorProgress) -> Result<()> {
        let write = self.begin().await?;
        let stored = reactor_progress::Entity::find_by_id(1)
            .one(write.conn())
            .await?;
        let (events, config) = stored
            .as_ref()
            .map_or((0, 0), |r| (r.event_cursor, r.config_cursor));
        let row = reactor_progress::ActiveModel {
            id: Set(1),
            event_cursor: Set(events.max(progress.events)),
            config_cursor: Set(config.max(progress.config)),
        };
        match stored {
            Some(_) => row.update(write.conn()).await?,
            None => row.insert(write.conn()).await?,
        };
        self.commit(write).await
    }
}

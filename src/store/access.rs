//! API keys (by name, and by the hash a caller's key has), and the audit: the configuration
//! log read newest first.

use sea_orm::{
    ActiveModelTrait, ColumnTrait, DbBackend, EntityTrait, QueryFilter, QueryOrder, QuerySelect,
    sea_query::LockType,
};

use super::entity::{api_key, config_change};
use super::{Inserted, Store, Write, convert, inserted};
use crate::domain::access::ApiKey;
use crate::domain::config::ConfigChange;
use crate::error::Result;

impl Store {
    pub async fn insert_api_key(&self, write: &Write, key: &ApiKey) -> Result<Inserted> {
        inserted(convert::api_key_row(key)?.insert(write.conn()).await)
    }

    pub async fn update_api_key(&self, write: &Write, key: &ApiKey) -> Result<()> {
        convert::api_key_row(key)?.update(write.conn()).await?;
        Ok(())
    }

    pub async fn delete_api_key(&self, write: &Write, name: &str) -> Result<()> {
        api_key::Entity::delete_by_id(name)
            .exec(write.conn())
            .await?;
        Ok(())
    }

    pub async fn lock_api_key(&self, write: &Write, name: &str) -> Result<Option<ApiKey>> {
        let mut query = api_key::Entity::find_by_id(name);
        if self.backend() == DbBackend::Postgres {
            query = query.lock(LockType::Update);
        }
        query
            .one(write.conn())
            .await?
            .map(convert::api_key)
            .transpose()
    }

    /// The key named `name`, revoked or not.
    pub async fn api_key(&self, name: &str) -> Result<Option<ApiKey>> {
        api_key::Entity::find_by_id(name)
            .one(&self.db)
            .await?
            .map(convert::api_key)
            .transpose()
    }

    /// The key whose hash is `hash`, revoked or not.
    pub async fn api_key_by_hash(&self, hash: &str) -> Result<Option<ApiKey>> {
        api_key::Entity::find()
            .filter(api_key::Column::Hash.eq(hash))
            .one(&self.db)
            .await?
            .map(convert::api_key)
            .transpose()
    }

    /// Up to `limit` keys by name after `after`, revoked ones too when `revoked`.
    pub async fn api_keys(
        &self,
        after: Option<&str>,
        revoked: bool,
        limit: u64,
    ) -> Result<Vec<ApiKey>> {
        let mut query = api_key::Entity::find().order_by_asc(api_key::Column::Name);
        if let Some(after) = after {
            query = query.filter(api_key::Column::Name.gt(after));
        }
        if !revoked {
            query = query.filter(api_key::Column::RevokedAt.is_null());
        }
        query
            .limit(limit)
            .all(&self.db)
            .await?
            .into_iter()
            .map(convert::api_key)
            .collect()
    }

    /// Whether any admin key is in force.
    pub async fn has_admin_key(&self) -> Result<bool> {
        Ok(api_key::Entity::find()
            .filter(api_key::Column::Role.eq("admin"))
            .filter(api_key::Column::RevokedAt.is_null())
            .one(&self.db)
            .await?
            .is_some())
    }

    /// Up to `limit` configuration changes before `before` (newest first), of `resource` and
    /// by `actor` when given.
    pub async fn audit_entries(
        &self,
        before: Option<i64>,
        resource: Option<&str>,
        actor: Option<&str>,
        limit: u64,
    ) -> Result<Vec<ConfigChange>> {
        let mut query = config_change::Entity::find().order_by_desc(config_change::Column::Id);
        if let Some(before) = before {
            query = query.filter(config_change::Column::Id.lt(before));
        }
        if let Some(resource) = resource {
            query = query.filter(config_change::Column::Resource.eq(resource));
        }
        if let Some(actor) = actor {
            query = query.filter(config_change::Column::Actor.eq(actor));
        }
        query
            .limit(limit)
            .all(&self.db)
            .await?
            .into_iter()
            .map(convert::config_change)
            .collect()
    }
}

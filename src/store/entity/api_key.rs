use sea_orm::entity::prelude::*;

/// An API key: who it is for, and the hash of the key (never the key).
#[sea_orm::model]
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "api_keys")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub name: String,
    pub role: String,
    /// `[team id]` as JSON.
    pub teams: Json,
    pub agent: Option<String>,
    pub customer: Option<String>,
    #[sea_orm(unique)]
    pub hash: String,
    pub prefix: String,
    pub created_by: String,
    pub revoked_at: Option<DateTimeUtc>,
    pub version: i64,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

impl ActiveModelBehavior for ActiveModel {}

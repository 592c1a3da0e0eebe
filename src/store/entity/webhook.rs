use sea_orm::entity::prelude::*;

/// A webhook, and how delivery to it stands (the columns after `updated_at` are the
/// deliverer's, which configuration changes leave alone).
#[sea_orm::model]
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "webhooks")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    pub display_name: String,
    #[sea_orm(column_type = "Text")]
    pub url: String,
    /// `[EventType]` as JSON.
    pub event_types: Json,
    /// `[team id]` as JSON.
    pub teams: Json,
    #[sea_orm(column_type = "Text")]
    pub secret: String,
    pub max_attempts: Option<i32>,
    pub paused: bool,
    pub version: i64,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
    pub lease_holder: Option<String>,
    pub lease_until: Option<DateTimeUtc>,
    pub consecutive_failures: i32,
    pub circuit_open_until: Option<DateTimeUtc>,
    pub last_success_at: Option<DateTimeUtc>,
    pub last_failure_at: Option<DateTimeUtc>,
    #[sea_orm(column_type = "Text", nullable)]
    pub last_error: Option<String>,
}

impl ActiveModelBehavior for ActiveModel {}

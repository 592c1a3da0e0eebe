use sea_orm::entity::prelude::*;

#[sea_orm::model]
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "tasks")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub ticket_id: i64,
    /// The ticket's number, which never changes.
    pub ticket_number: String,
    pub team: String,
    pub agent: Option<String>,
    #[sea_orm(column_type = "Text")]
    pub ask: String,
    pub status: String,
    pub milestone: Option<String>,
    /// The accept and answer clocks.
    pub clocks: Json,
    pub calendar: Option<String>,
    /// The next instant the scheduler must look at the clocks.
    pub wake_at: Option<DateTimeUtc>,
    #[sea_orm(column_type = "Text", nullable)]
    pub note: Option<String>,
    /// The caller's request_id, prefixed with the caller: retries are the caller's own.
    #[sea_orm(unique)]
    pub request_id: Option<String>,
    /// The fingerprint of the request that created it under `request_id`.
    pub request_hash: Option<String>,
    pub created_by: String,
    pub accepted_by: Option<String>,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
    pub accepted_at: Option<DateTimeUtc>,
    pub finished_at: Option<DateTimeUtc>,
    pub version: i64,
}

impl ActiveModelBehavior for ActiveModel {}

use sea_orm::entity::prelude::*;

#[sea_orm::model]
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "improvements")]
pub struct Model {
    /// Its number: callers see `IMP-<id>`.
    #[sea_orm(primary_key)]
    pub id: i64,
    pub title: String,
    pub description: String,
    /// `category/product/phrase`, or `category/product/` for the whole of them.
    pub issue_key: String,
    pub owner_team: String,
    pub due_at: DateTimeUtc,
    pub status: String,
    pub done_at: Option<DateTimeUtc>,
    pub created_by: String,
    pub version: i64,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
    /// The idempotency key it was created with, and the fingerprint of that request.
    #[sea_orm(unique)]
    pub request_id: Option<String>,
    pub request_hash: Option<String>,
}

impl ActiveModelBehavior for ActiveModel {}

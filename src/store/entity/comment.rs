use sea_orm::entity::prelude::*;

#[sea_orm::model]
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "ticket_comments")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub ticket_id: i64,
    pub visibility: String,
    pub author: String,
    pub author_role: String,
    #[sea_orm(column_type = "Text")]
    pub body: String,
    #[sea_orm(unique)]
    pub request_id: Option<String>,
    /// The fingerprint of the request that created it under `request_id`.
    pub request_hash: Option<String>,
    pub created_at: DateTimeUtc,
}

impl ActiveModelBehavior for ActiveModel {}

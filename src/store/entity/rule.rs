use sea_orm::entity::prelude::*;

#[sea_orm::model]
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "routing_rules")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub name: String,
    /// Rules are tried by ascending position.
    pub position: i64,
    pub enabled: bool,
    pub conditions: Json,
    pub actions: Json,
    pub version: i64,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
    /// The idempotency key it was created with, and the fingerprint of that request.
    #[sea_orm(unique)]
    pub request_id: Option<String>,
    pub request_hash: Option<String>,
}

impl ActiveModelBehavior for ActiveModel {}

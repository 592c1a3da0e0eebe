use sea_orm::entity::prelude::*;

/// One try to deliver.
#[sea_orm::model]
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "webhook_attempts")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub delivery_id: i64,
    pub number: i32,
    pub started_at: DateTimeUtc,
    pub duration_ms: i64,
    pub http_status: Option<i32>,
    #[sea_orm(column_type = "Text", nullable)]
    pub error: Option<String>,
}

impl ActiveModelBehavior for ActiveModel {}

use sea_orm::entity::prelude::*;

/// How far the event log has been put into the webhooks' queues; one row, id 1.
#[sea_orm::model]
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "webhook_outbox")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: i32,
    pub event_cursor: i64,
}

impl ActiveModelBehavior for ActiveModel {}

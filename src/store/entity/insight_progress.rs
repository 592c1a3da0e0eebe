use sea_orm::entity::prelude::*;

/// How far the roll-ups have read the event log; one row, id 1.
#[sea_orm::model]
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "insight_progress")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: i32,
    pub event_cursor: i64,
}

impl ActiveModelBehavior for ActiveModel {}

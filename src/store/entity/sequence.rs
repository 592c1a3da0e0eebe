use sea_orm::entity::prelude::*;

/// The last ticket number handed out on a local day.
#[sea_orm::model]
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "ticket_sequences")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub day: String,
    pub last_value: i64,
}

impl ActiveModelBehavior for ActiveModel {}

use sea_orm::entity::prelude::*;

/// A sender whose tickets are refused at intake until `until` (for good when null).
#[sea_orm::model]
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "blocked_senders")]
pub struct Model {
    /// `kind:value`.
    #[sea_orm(primary_key, auto_increment = false)]
    pub key: String,
    pub kind: String,
    pub value: String,
    pub reason: String,
    pub until: Option<DateTimeUtc>,
    pub ticket: Option<String>,
    pub created_by: String,
    pub version: i64,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

impl ActiveModelBehavior for ActiveModel {}

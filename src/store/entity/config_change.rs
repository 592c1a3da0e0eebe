use sea_orm::entity::prelude::*;

/// One change of configuration, committed with it; `id` is the cursor reactions follow.
#[sea_orm::model]
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "config_changes")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub resource: String,
    pub key: String,
    pub action: String,
    pub actor: String,
    /// The caller's address.
    pub peer: Option<String>,
    pub occurred_at: DateTimeUtc,
    /// The resource before the change (none when created), as JSON.
    pub before: Option<Json>,
    /// The resource after the change (none when deleted), as JSON.
    pub after: Option<Json>,
}

impl ActiveModelBehavior for ActiveModel {}

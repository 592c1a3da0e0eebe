use sea_orm::entity::prelude::*;

#[sea_orm::model]
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "reply_templates")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    pub title: String,
    /// Null: a global template.
    pub team: Option<String>,
    pub body_zh: String,
    pub body_en: String,
    /// `[Variable]` as JSON.
    pub variables: Json,
    pub visibility: String,
    /// `Effects` as JSON.
    pub changes: Json,
    pub created_by: String,
    pub version: i64,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

impl ActiveModelBehavior for ActiveModel {}

use sea_orm::entity::prelude::*;

#[sea_orm::model]
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "calendars")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    pub display_name: String,
    /// IANA name.
    pub time_zone: String,
    /// `[[Period]; 7]` as JSON, Monday first.
    pub week: Json,
    /// `[date]` as JSON.
    pub holidays: Json,
    /// `{date: [Period]}` as JSON.
    pub extra_days: Json,
    pub version: i64,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

impl ActiveModelBehavior for ActiveModel {}

use sea_orm::entity::prelude::*;

/// What the tickets with one dimension value add up to in a span of 1, 4 or 24 hours.
#[sea_orm::model]
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "insight_rollups")]
pub struct Model {
    /// A dimension's name, or empty for the total.
    #[sea_orm(primary_key, auto_increment = false)]
    pub grouping: String,
    /// How many hours the row sums: 1, 4 or 24.
    #[sea_orm(primary_key, auto_increment = false)]
    pub hours: i64,
    #[sea_orm(primary_key, auto_increment = false)]
    pub value: String,
    /// Hours since the Unix epoch to the first it sums.
    #[sea_orm(primary_key, auto_increment = false)]
    pub hour: i64,
    /// The hour's tally, encoded.
    pub tally: Vec<u8>,
}

impl ActiveModelBehavior for ActiveModel {}

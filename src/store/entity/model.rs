use sea_orm::entity::prelude::*;

#[sea_orm::model]
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "classifier_models")]
pub struct Model {
    /// Increases with every training: the newest row is the model in use.
    #[sea_orm(primary_key)]
    pub id: i64,
    pub trained_at: DateTimeUtc,
    pub trained_by: String,
    pub examples: i32,
    pub category_accuracy: f64,
    pub team_accuracy: f64,
    /// The serialized `RoutingModel`.
    #[sea_orm(column_type = "Text")]
    pub model: String,
}

impl ActiveModelBehavior for ActiveModel {}

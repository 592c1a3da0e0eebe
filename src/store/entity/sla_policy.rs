use sea_orm::entity::prelude::*;

#[sea_orm::model]
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "sla_policies")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    pub display_name: String,
    pub priority: String,
    /// '' for any kind.
    pub kind: String,
    /// '' for any tier.
    pub tier: String,
    pub basis: String,
    pub acknowledge_ms: i64,
    pub first_response_ms: i64,
    pub resolution_ms: i64,
    /// `[EscalationLevel]` as JSON.
    pub escalations: Json,
    pub version: i64,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

impl ActiveModelBehavior for ActiveModel {}

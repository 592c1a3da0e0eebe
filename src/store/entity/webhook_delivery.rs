use sea_orm::entity::prelude::*;

/// One event in one webhook's queue.
#[sea_orm::model]
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "webhook_deliveries")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub webhook_id: String,
    pub event_cursor: i64,
    pub event_type: String,
    pub ticket_id: i64,
    /// `PENDING`, `DELIVERED` or `DEAD`.
    pub state: String,
    pub attempts: i32,
    pub next_attempt_at: DateTimeUtc,
    pub event_at: DateTimeUtc,
    pub created_at: DateTimeUtc,
    pub delivered_at: Option<DateTimeUtc>,
    /// Queued by RedeliverEvents, not by the event's commit.
    pub redelivery: bool,
}

impl ActiveModelBehavior for ActiveModel {}

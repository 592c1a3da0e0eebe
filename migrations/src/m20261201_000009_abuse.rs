//! Malicious complaints: the senders whose tickets are refused at intake, and until when.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum BlockedSenders {
    Table,
    /// `kind:value`, as `phone:13800138000`.
    Key,
    /// `customer`, `phone` or `email`.
    Kind,
    Value,
    Reason,
    /// When the restriction ends; never when null.
    Until,
    /// The number of the ticket whose confirmation blocked the sender, if one did.
    Ticket,
    CreatedBy,
    Version,
    CreatedAt,
    UpdatedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(BlockedSenders::Table)
                    .col(string(BlockedSenders::Key).primary_key())
                    .col(string(BlockedSenders::Kind))
                    .col(string(BlockedSenders::Value))
                    .col(string(BlockedSenders::Reason))
                    .col(timestamp_with_time_zone_null(BlockedSenders::Until))
                    .col(string_null(BlockedSenders::Ticket))
                    .col(string(BlockedSenders::CreatedBy))
                    .col(big_integer(BlockedSenders::Version))
                    .col(timestamp_with_time_zone(BlockedSenders::CreatedAt))
                    .col(timestamp_with_time_zone(BlockedSenders::UpdatedAt))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(BlockedSenders::Table).to_owned())
            .await
    }
}

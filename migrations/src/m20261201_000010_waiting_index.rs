//! Where a new ticket stands in its team's queue, at a cost that does not grow with the
//! tickets stored: the waiting tickets by team and status in the order they are served, so
//! counting those ahead reads only them, never the team's closed tickets.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Tickets {
    Table,
    Team,
    Assignee,
    Status,
    PriorityRank,
    Id,
}

const NAME: &str = "idx_tickets_waiting";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_index(
                Index::create()
                    .name(NAME)
                    .table(Tickets::Table)
                    .col(Tickets::Team)
                    .col(Tickets::Assignee)
                    .col(Tickets::Status)
                    .col(Tickets::PriorityRank)
                    .col(Tickets::Id)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_index(Index::drop().name(NAME).table(Tickets::Table).to_owned())
            .await
    }
}

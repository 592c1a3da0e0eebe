//! Two-dimension figures read the tickets active in a period: those still open and those done
//! after its start. Indexed by when each was done (null while open), that read and its count
//! follow the tickets active, not every ticket stored.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum TicketFacts {
    Table,
    ActiveUntil,
}

const NAME: &str = "idx_ticket_facts_active_until";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_index(
                Index::create()
                    .name(NAME)
                    .table(TicketFacts::Table)
                    .col(TicketFacts::ActiveUntil)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_index(
                Index::drop()
                    .name(NAME)
                    .table(TicketFacts::Table)
                    .to_owned(),
            )
            .await
    }
}

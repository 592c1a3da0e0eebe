//! Customer texts in the customer's language: each ticket's customer has one (tickets taken
//! in before were written to in English). One time zone truth: a team keeps the zone of the
//! calendar it works by, so its own `time_zone` column goes.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Tickets {
    Table,
    /// `zh` or `en`.
    CustomerLanguage,
}

#[derive(DeriveIden)]
enum Teams {
    Table,
    TimeZone,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(Tickets::Table)
                    .add_column(string(Tickets::CustomerLanguage).default("en"))
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(Teams::Table)
                    .drop_column(Teams::TimeZone)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(Tickets::Table)
                    .drop_column(Tickets::CustomerLanguage)
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(Teams::Table)
                    .add_column(string(Teams::TimeZone).default("UTC"))
                    .to_owned(),
            )
            .await
    }
}

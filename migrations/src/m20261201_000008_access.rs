//! Identity and access: API keys (only their hashes), where each configuration change came
//! from, and who acted for the actor of a ticket event.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum ApiKeys {
    Table,
    Name,
    /// `admin`, `supervisor`, `agent`, `connector`, `customer` or `analyst`.
    Role,
    /// `[team id]` as JSON.
    Teams,
    Agent,
    Customer,
    /// SHA-256 of the key, hex.
    Hash,
    Prefix,
    CreatedBy,
    RevokedAt,
    Version,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum ConfigChanges {
    Table,
    /// The caller's address.
    Peer,
}

#[derive(DeriveIden)]
enum TicketEvents {
    Table,
    /// Who acted on the actor's behalf (an admin or supervisor for an agent).
    Via,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(ApiKeys::Table)
                    .col(string(ApiKeys::Name).primary_key())
                    .col(string(ApiKeys::Role))
                    .col(json(ApiKeys::Teams))
                    .col(string_null(ApiKeys::Agent))
                    .col(string_null(ApiKeys::Customer))
                    .col(string_uniq(ApiKeys::Hash))
                    .col(string(ApiKeys::Prefix))
                    .col(string(ApiKeys::CreatedBy))
                    .col(timestamp_with_time_zone_null(ApiKeys::RevokedAt))
                    .col(big_integer(ApiKeys::Version))
                    .col(timestamp_with_time_zone(ApiKeys::CreatedAt))
                    .col(timestamp_with_time_zone(ApiKeys::UpdatedAt))
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(ConfigChanges::Table)
                    .add_column(string_null(ConfigChanges::Peer))
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(TicketEvents::Table)
                    .add_column(string_null(TicketEvents::Via))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(TicketEvents::Table)
                    .drop_column(TicketEvents::Via)
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(ConfigChanges::Table)
                    .drop_column(ConfigChanges::Peer)
                    .to_owned(),
            )
            .await?;
        manager
            .drop_table(Table::drop().table(ApiKeys::Table).to_owned())
            .await
    }
}

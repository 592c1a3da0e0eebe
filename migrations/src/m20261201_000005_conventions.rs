//! One convention each: a request_id with the fingerprint of its request on everything a
//! caller may retry creating, the log of configuration changes, and where the reactions to
//! committed changes have got to.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Tickets {
    Table,
    /// A fingerprint of the request that created the row under its request_id, so that a
    /// reuse of the id for another request is told apart from a retry.
    RequestHash,
}

#[derive(DeriveIden)]
enum TicketComments {
    Table,
    RequestHash,
}

#[derive(DeriveIden)]
enum RoutingRules {
    Table,
    RequestId,
    RequestHash,
}

#[derive(DeriveIden)]
enum Surveys {
    Table,
    RequestId,
    RequestHash,
}

/// Every change of configuration (teams, agents, rules, SLA policies, calendars, survey
/// templates), committed with the change: who, when, and the resource before and after.
#[derive(DeriveIden)]
enum ConfigChanges {
    Table,
    /// Monotonic: the cursor the reactions follow.
    Id,
    /// `team`, `agent`, `routing rule`, `routing rules` (their order), `SLA policy`,
    /// `calendar`, `survey template`.
    Resource,
    Key,
    /// CREATED, UPDATED or DELETED.
    Action,
    Actor,
    OccurredAt,
    Before,
    After,
}

/// Which instance retrains the classifier, so that a resolve seen by several instances starts
/// one training.
#[derive(DeriveIden)]
enum RoutingConfig {
    Table,
    /// When a training started, until it ends; a claim older than an hour is stale.
    RetrainingSince,
}

/// How far the reactions to committed changes have got: one row.
#[derive(DeriveIden)]
enum ReactorProgress {
    Table,
    Id,
    /// The last ticket event reacted to.
    EventCursor,
    /// The last configuration change reacted to.
    ConfigCursor,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // SQLite alters one column per statement, and adds no UNIQUE column: the unique keys
        // are indexes of their own.
        for (table, column) in [
            (Tickets::Table.into_iden(), Tickets::RequestHash.into_iden()),
            (
                TicketComments::Table.into_iden(),
                TicketComments::RequestHash.into_iden(),
            ),
            (
                RoutingRules::Table.into_iden(),
                RoutingRules::RequestId.into_iden(),
            ),
            (
                RoutingRules::Table.into_iden(),
                RoutingRules::RequestHash.into_iden(),
            ),
            (Surveys::Table.into_iden(), Surveys::RequestId.into_iden()),
            (Surveys::Table.into_iden(), Surveys::RequestHash.into_iden()),
        ] {
            manager
                .alter_table(
                    Table::alter()
                        .table(table)
                        .add_column(string_null(column))
                        .to_owned(),
                )
                .await?;
        }
        for (name, table, column) in [
            (
                "idx_routing_rules_request",
                RoutingRules::Table.into_iden(),
                RoutingRules::RequestId.into_iden(),
            ),
            (
                "idx_surveys_request",
                Surveys::Table.into_iden(),
                Surveys::RequestId.into_iden(),
            ),
        ] {
            manager
                .create_index(
                    Index::create()
                        .name(name)
                        .table(table)
                        .col(column)
                        .unique()
                        .to_owned(),
                )
                .await?;
        }

        manager
            .create_table(
                Table::create()
                    .table(ConfigChanges::Table)
                    .col(big_pk_auto(ConfigChanges::Id))
                    .col(string(ConfigChanges::Resource))
                    .col(string(ConfigChanges::Key))
                    .col(string(ConfigChanges::Action))
                    .col(string(ConfigChanges::Actor))
                    .col(timestamp_with_time_zone(ConfigChanges::OccurredAt))
                    .col(json_null(ConfigChanges::Before))
                    .col(json_null(ConfigChanges::After))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_config_changes_resource")
                    .table(ConfigChanges::Table)
                    .col(ConfigChanges::Resource)
                    .col(ConfigChanges::Key)
                    .col(ConfigChanges::Id)
                    .to_owned(),
            )
            .await?;

        manager
            .alter_table(
                Table::alter()
                    .table(RoutingConfig::Table)
                    .add_column(timestamp_with_time_zone_null(
                        RoutingConfig::RetrainingSince,
                    ))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(ReactorProgress::Table)
                    .col(integer(ReactorProgress::Id).primary_key())
                    .col(big_integer(ReactorProgress::EventCursor))
                    .col(big_integer(ReactorProgress::ConfigCursor))
                    .to_owned(),
            )
            .await?;
        // What happened before reactions were kept was reacted to by the code of its day.
        manager
            .get_connection()
            .execute_unprepared(
                "INSERT INTO reactor_progress (id, event_cursor, config_cursor) \
                 SELECT 1, COALESCE(MAX(id), 0), 0 FROM ticket_events",
            )
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(ReactorProgress::Table).to_owned())
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(RoutingConfig::Table)
                    .drop_column(RoutingConfig::RetrainingSince)
                    .to_owned(),
            )
            .await?;
        manager
            .drop_table(Table::drop().table(ConfigChanges::Table).to_owned())
            .await?;
        for (name, table) in [
            ("idx_routing_rules_request", RoutingRules::Table.into_iden()),
            ("idx_surveys_request", Surveys::Table.into_iden()),
        ] {
            manager
                .drop_index(Index::drop().name(name).table(table).to_owned())
                .await?;
        }
        for (table, column) in [
            (Tickets::Table.into_iden(), Tickets::RequestHash.into_iden()),
            (
                TicketComments::Table.into_iden(),
                TicketComments::RequestHash.into_iden(),
            ),
            (
                RoutingRules::Table.into_iden(),
                RoutingRules::RequestId.into_iden(),
            ),
            (
                RoutingRules::Table.into_iden(),
                RoutingRules::RequestHash.into_iden(),
            ),
            (Surveys::Table.into_iden(), Surveys::RequestId.into_iden()),
            (Surveys::Table.into_iden(), Surveys::RequestHash.into_iden()),
        ] {
            manager
                .alter_table(Table::alter().table(table).drop_column(column).to_owned())
                .await?;
        }
        Ok(())
    }
}

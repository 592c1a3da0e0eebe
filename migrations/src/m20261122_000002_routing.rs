//! Routing: teams, agents and their memberships, ordered routing rules, stored classifier
//! models, and the routing fields of tickets with the indexes the router reads by.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Teams {
    Table,
    Id,
    DisplayName,
    Supervisor,
    TimeZone,
    Calendar,
    Strategy,
    /// The agent who got the team's last ticket: where round robin continues.
    LastAssignee,
    Version,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum Agents {
    Table,
    Id,
    DisplayName,
    Skills,
    Capacity,
    Availability,
    Version,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum TeamMembers {
    Table,
    TeamId,
    AgentId,
}

#[derive(DeriveIden)]
enum RoutingRules {
    Table,
    Id,
    Name,
    Position,
    Enabled,
    Conditions,
    Actions,
    Version,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum ClassifierModels {
    Table,
    Id,
    TrainedAt,
    TrainedBy,
    Examples,
    CategoryAccuracy,
    TeamAccuracy,
    Model,
}

/// One row whose version moves with every change to what routing reads (rules, the set of
/// teams, the model), so that instances cache those and check one number per ticket.
#[derive(DeriveIden)]
enum RoutingConfig {
    Table,
    Id,
    Version,
}

#[derive(DeriveIden)]
enum Tickets {
    Table,
    Team,
    Assignee,
    Status,
    PriorityRank,
    CreatedAt,
    Id,
    Category,
    PriorityReasons,
    RepeatOf,
    RoutingReason,
    AssignmentStrategy,
    CustomerExternalId,
    CustomerPhone,
    CustomerEmail,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Teams::Table)
                    .col(string(Teams::Id).primary_key())
                    .col(string(Teams::DisplayName))
                    .col(string_null(Teams::Supervisor))
                    .col(string(Teams::TimeZone))
                    .col(string_null(Teams::Calendar))
                    .col(string(Teams::Strategy))
                    .col(string_null(Teams::LastAssignee))
                    .col(big_integer(Teams::Version))
                    .col(timestamp_with_time_zone(Teams::CreatedAt))
                    .col(timestamp_with_time_zone(Teams::UpdatedAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(Agents::Table)
                    .col(string(Agents::Id).primary_key())
                    .col(string(Agents::DisplayName))
                    .col(json(Agents::Skills))
                    .col(integer(Agents::Capacity))
                    .col(string(Agents::Availability))
                    .col(big_integer(Agents::Version))
                    .col(timestamp_with_time_zone(Agents::CreatedAt))
                    .col(timestamp_with_time_zone(Agents::UpdatedAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(TeamMembers::Table)
                    .col(string(TeamMembers::TeamId))
                    .col(string(TeamMembers::AgentId))
                    .primary_key(
                        Index::create()
                            .col(TeamMembers::TeamId)
                            .col(TeamMembers::AgentId),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .from(TeamMembers::Table, TeamMembers::TeamId)
                            .to(Teams::Table, Teams::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .from(TeamMembers::Table, TeamMembers::AgentId)
                            .to(Agents::Table, Agents::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_team_members_agent")
                    .table(TeamMembers::Table)
                    .col(TeamMembers::AgentId)
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(RoutingRules::Table)
                    .col(big_pk_auto(RoutingRules::Id))
                    .col(string(RoutingRules::Name))
                    .col(big_integer(RoutingRules::Position))
                    .col(boolean(RoutingRules::Enabled))
                    .col(json(RoutingRules::Conditions))
                    .col(json(RoutingRules::Actions))
                    .col(big_integer(RoutingRules::Version))
                    .col(timestamp_with_time_zone(RoutingRules::CreatedAt))
                    .col(timestamp_with_time_zone(RoutingRules::UpdatedAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(ClassifierModels::Table)
                    .col(big_pk_auto(ClassifierModels::Id))
                    .col(timestamp_with_time_zone(ClassifierModels::TrainedAt))
                    .col(string(ClassifierModels::TrainedBy))
                    .col(integer(ClassifierModels::Examples))
                    .col(double(ClassifierModels::CategoryAccuracy))
                    .col(double(ClassifierModels::TeamAccuracy))
                    .col(text(ClassifierModels::Model))
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(RoutingConfig::Table)
                    .col(integer(RoutingConfig::Id).primary_key())
                    .col(big_integer(RoutingConfig::Version))
                    .to_owned(),
            )
            .await?;
        manager
            .exec_stmt(
                Query::insert()
                    .into_table(RoutingConfig::Table)
                    .columns([RoutingConfig::Id, RoutingConfig::Version])
                    .values_panic([1.into(), 0.into()])
                    .to_owned(),
            )
            .await?;

        // SQLite alters one column per statement.
        for column in [
            string_null(Tickets::Category),
            json_null(Tickets::PriorityReasons),
            string_null(Tickets::RepeatOf),
            text_null(Tickets::RoutingReason),
            string_null(Tickets::AssignmentStrategy),
        ] {
            manager
                .alter_table(
                    Table::alter()
                        .table(Tickets::Table)
                        .add_column(column)
                        .to_owned(),
                )
                .await?;
        }
        for (name, columns) in [
            // A team's queue in the order it is served.
            (
                "idx_tickets_queue",
                vec![
                    Tickets::Team,
                    Tickets::Assignee,
                    Tickets::PriorityRank,
                    Tickets::Id,
                ],
            ),
            // An agent's open tickets, against their capacity.
            ("idx_tickets_load", vec![Tickets::Assignee, Tickets::Status]),
            // Similar reports within the impact window.
            (
                "idx_tickets_category",
                vec![Tickets::Category, Tickets::CreatedAt],
            ),
            // A customer's earlier tickets, newest first, for repeats.
            (
                "idx_tickets_customer_recent",
                vec![Tickets::CustomerExternalId, Tickets::CreatedAt],
            ),
            (
                "idx_tickets_customer_phone",
                vec![Tickets::CustomerPhone, Tickets::CreatedAt],
            ),
            (
                "idx_tickets_customer_email",
                vec![Tickets::CustomerEmail, Tickets::CreatedAt],
            ),
        ] {
            let mut index = Index::create();
            index.name(name).table(Tickets::Table);
            for column in columns {
                index.col(column);
            }
            manager.create_index(index.to_owned()).await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for name in [
            "idx_tickets_queue",
            "idx_tickets_load",
            "idx_tickets_category",
            "idx_tickets_customer_recent",
            "idx_tickets_customer_phone",
            "idx_tickets_customer_email",
        ] {
            manager
                .drop_index(Index::drop().name(name).table(Tickets::Table).to_owned())
                .await?;
        }
        for column in [
            Tickets::Category,
            Tickets::PriorityReasons,
            Tickets::RepeatOf,
            Tickets::RoutingReason,
            Tickets::AssignmentStrategy,
        ] {
            manager
                .alter_table(
                    Table::alter()
                        .table(Tickets::Table)
                        .drop_column(column)
                        .to_owned(),
                )
                .await?;
        }
        for table in [
            RoutingConfig::Table.into_iden(),
            ClassifierModels::Table.into_iden(),
            RoutingRules::Table.into_iden(),
            TeamMembers::Table.into_iden(),
            Agents::Table.into_iden(),
            Teams::Table.into_iden(),
        ] {
            manager
                .drop_table(Table::drop().table(table).to_owned())
                .await?;
        }
        Ok(())
    }
}

//! SLA: business calendars, policies, each ticket's clocks with the times the scheduler and
//! the list filters search by, and the clocks an event is about.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Calendars {
    Table,
    Id,
    DisplayName,
    TimeZone,
    /// Seven lists of working periods, Monday first.
    Week,
    Holidays,
    ExtraDays,
    Version,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum SlaPolicies {
    Table,
    Id,
    DisplayName,
    Priority,
    /// '' for any kind, so that the unique index covers the fallbacks too.
    Kind,
    /// '' for any tier.
    Tier,
    Basis,
    AcknowledgeMs,
    FirstResponseMs,
    ResolutionMs,
    Escalations,
    Version,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum Tickets {
    Table,
    /// The clocks, their policy and calendar, and the escalation level, as JSON.
    Sla,
    /// The next instant the scheduler must look at the ticket: at risk or due.
    SlaWakeAt,
    /// The earliest due time of a running clock.
    SlaDueAt,
    SlaBreached,
    SlaAtRisk,
}

#[derive(DeriveIden)]
enum TicketEvents {
    Table,
    Sla,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Calendars::Table)
                    .col(string(Calendars::Id).primary_key())
                    .col(string(Calendars::DisplayName))
                    .col(string(Calendars::TimeZone))
                    .col(json(Calendars::Week))
                    .col(json(Calendars::Holidays))
                    .col(json(Calendars::ExtraDays))
                    .col(big_integer(Calendars::Version))
                    .col(timestamp_with_time_zone(Calendars::CreatedAt))
                    .col(timestamp_with_time_zone(Calendars::UpdatedAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(SlaPolicies::Table)
                    .col(string(SlaPolicies::Id).primary_key())
                    .col(string(SlaPolicies::DisplayName))
                    .col(string(SlaPolicies::Priority))
                    .col(string(SlaPolicies::Kind))
                    .col(string(SlaPolicies::Tier))
                    .col(string(SlaPolicies::Basis))
                    .col(big_integer(SlaPolicies::AcknowledgeMs))
                    .col(big_integer(SlaPolicies::FirstResponseMs))
                    .col(big_integer(SlaPolicies::ResolutionMs))
                    .col(json(SlaPolicies::Escalations))
                    .col(big_integer(SlaPolicies::Version))
                    .col(timestamp_with_time_zone(SlaPolicies::CreatedAt))
                    .col(timestamp_with_time_zone(SlaPolicies::UpdatedAt))
                    .to_owned(),
            )
            .await?;
        // One policy per scope.
        manager
            .create_index(
                Index::create()
                    .name("idx_sla_policies_scope")
                    .table(SlaPolicies::Table)
                    .col(SlaPolicies::Priority)
                    .col(SlaPolicies::Kind)
                    .col(SlaPolicies::Tier)
                    .unique()
                    .to_owned(),
            )
            .await?;
        // SQLite alters one column per statement.
        for column in [
            json_null(Tickets::Sla),
            timestamp_with_time_zone_null(Tickets::SlaWakeAt),
            timestamp_with_time_zone_null(Tickets::SlaDueAt),
            boolean(Tickets::SlaBreached).default(false).to_owned(),
            boolean(Tickets::SlaAtRisk).default(false).to_owned(),
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
        for (name, column) in [
            // The scheduler reads the tickets coming due, never the open ones at large.
            ("idx_tickets_sla_wake", Tickets::SlaWakeAt),
            // The list filters.
            ("idx_tickets_sla_due", Tickets::SlaDueAt),
            ("idx_tickets_sla_breached", Tickets::SlaBreached),
            ("idx_tickets_sla_at_risk", Tickets::SlaAtRisk),
        ] {
            manager
                .create_index(
                    Index::create()
                        .name(name)
                        .table(Tickets::Table)
                        .col(column)
                        .to_owned(),
                )
                .await?;
        }
        manager
            .alter_table(
                Table::alter()
                    .table(TicketEvents::Table)
                    .add_column(json_null(TicketEvents::Sla))
                    .to_owned(),
            )
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(TicketEvents::Table)
                    .drop_column(TicketEvents::Sla)
                    .to_owned(),
            )
            .await?;
        for name in [
            "idx_tickets_sla_wake",
            "idx_tickets_sla_due",
            "idx_tickets_sla_breached",
            "idx_tickets_sla_at_risk",
        ] {
            manager
                .drop_index(Index::drop().name(name).table(Tickets::Table).to_owned())
                .await?;
        }
        for column in [
            Tickets::Sla,
            Tickets::SlaWakeAt,
            Tickets::SlaDueAt,
            Tickets::SlaBreached,
            Tickets::SlaAtRisk,
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
        manager
            .drop_table(Table::drop().table(SlaPolicies::Table).to_owned())
            .await?;
        manager
            .drop_table(Table::drop().table(Calendars::Table).to_owned())
            .await?;
        Ok(())
    }
}

//! Insights: each ticket's facts folded from its events, the hourly roll-ups of every
//! metric per dimension value, and how far the roll-ups have read the event log.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum TicketFacts {
    Table,
    TicketId,
    Number,
    CreatedAt,
    Kind,
    Channel,
    Team,
    Agent,
    Product,
    Category,
    Tier,
    Priority,
    Status,
    /// Neither resolved nor closed.
    Open,
    /// Counts in the figures: not held for review, not spam.
    Counted,
    Repeat,
    /// The last event's time once the ticket is done; null while it is open.
    ActiveUntil,
    /// Its key phrases, separated by spaces.
    Phrases,
    /// The SLA targets whose running clocks are at risk now, comma separated.
    AtRisk,
    /// The SLA targets whose clocks came due unmet and still run, comma separated.
    Breached,
    /// The whole `Facts` as JSON.
    Facts,
}

#[derive(DeriveIden)]
enum InsightRollups {
    Table,
    /// A dimension's name, or empty for the total.
    Grouping,
    Value,
    /// How many hours the row sums: 1, 4 or 24.
    Hours,
    /// Hours since the Unix epoch to the first it sums (a multiple of `Hours`).
    Hour,
    /// The hour's `Tally`, encoded.
    Tally,
}

#[derive(DeriveIden)]
enum InsightProgress {
    Table,
    Id,
    /// The last ticket event the roll-ups include.
    EventCursor,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(TicketFacts::Table)
                    .col(big_integer(TicketFacts::TicketId).primary_key())
                    .col(string(TicketFacts::Number))
                    .col(timestamp_with_time_zone(TicketFacts::CreatedAt))
                    .col(string(TicketFacts::Kind))
                    .col(string(TicketFacts::Channel))
                    .col(string(TicketFacts::Team))
                    .col(string(TicketFacts::Agent))
                    .col(string(TicketFacts::Product))
                    .col(string(TicketFacts::Category))
                    .col(string(TicketFacts::Tier))
                    .col(string(TicketFacts::Priority))
                    .col(string(TicketFacts::Status))
                    .col(boolean(TicketFacts::Open))
                    .col(boolean(TicketFacts::Counted))
                    .col(boolean(TicketFacts::Repeat))
                    .col(timestamp_with_time_zone_null(TicketFacts::ActiveUntil))
                    .col(text(TicketFacts::Phrases))
                    .col(string(TicketFacts::AtRisk))
                    .col(string(TicketFacts::Breached))
                    .col(json(TicketFacts::Facts))
                    .to_owned(),
            )
            .await?;
        // Intake counts, top issues, exports and two-dimension queries read by creation time.
        manager
            .create_index(
                Index::create()
                    .name("idx_ticket_facts_created")
                    .table(TicketFacts::Table)
                    .col(TicketFacts::CreatedAt)
                    .to_owned(),
            )
            .await?;
        // The dashboard's open backlog.
        manager
            .create_index(
                Index::create()
                    .name("idx_ticket_facts_open")
                    .table(TicketFacts::Table)
                    .col(TicketFacts::Open)
                    .col(TicketFacts::Counted)
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(InsightRollups::Table)
                    .col(string(InsightRollups::Grouping))
                    .col(string(InsightRollups::Value))
                    .col(big_integer(InsightRollups::Hours))
                    .col(big_integer(InsightRollups::Hour))
                    .col(binary(InsightRollups::Tally))
                    .primary_key(
                        Index::create()
                            .col(InsightRollups::Grouping)
                            .col(InsightRollups::Hours)
                            .col(InsightRollups::Value)
                            .col(InsightRollups::Hour),
                    )
                    .to_owned(),
            )
            .await?;
        // A grouping's spans across its values: a query grouped by team reads them by start.
        manager
            .create_index(
                Index::create()
                    .name("idx_insight_rollups_hour")
                    .table(InsightRollups::Table)
                    .col(InsightRollups::Grouping)
                    .col(InsightRollups::Hours)
                    .col(InsightRollups::Hour)
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(InsightProgress::Table)
                    .col(integer(InsightProgress::Id).primary_key())
                    .col(big_integer(InsightProgress::EventCursor))
                    .to_owned(),
            )
            .await?;
        // From the start of the log: the facts of tickets already there are folded in.
        manager
            .exec_stmt(
                Query::insert()
                    .into_table(InsightProgress::Table)
                    .columns([InsightProgress::Id, InsightProgress::EventCursor])
                    .values_panic([1.into(), 0i64.into()])
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            InsightProgress::Table.into_iden(),
            InsightRollups::Table.into_iden(),
            TicketFacts::Table.into_iden(),
        ] {
            manager
                .drop_table(Table::drop().table(table).to_owned())
                .await?;
        }
        Ok(())
    }
}

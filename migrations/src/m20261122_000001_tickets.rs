//! Tickets, their tags and comments, the daily number sequences and the event log.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Tickets {
    Table,
    Id,
    Number,
    RequestId,
    Channel,
    Kind,
    Status,
    Priority,
    PriorityRank,
    Title,
    Description,
    ExpectedOutcome,
    Product,
    CustomerExternalId,
    CustomerName,
    CustomerPhone,
    CustomerEmail,
    CustomerTier,
    OccurredAt,
    Metadata,
    Tags,
    Team,
    Assignee,
    Owner,
    ResolutionSummary,
    StatusReason,
    ReopenCount,
    CreatedAt,
    UpdatedAt,
    AssignedAt,
    AcknowledgedAt,
    FirstRespondedAt,
    ResolvedAt,
    ClosedAt,
    Version,
}

#[derive(DeriveIden)]
enum TicketTags {
    Table,
    TicketId,
    Tag,
}

#[derive(DeriveIden)]
enum TicketComments {
    Table,
    Id,
    TicketId,
    Visibility,
    Author,
    AuthorRole,
    Body,
    RequestId,
    CreatedAt,
}

#[derive(DeriveIden)]
enum TicketEvents {
    Table,
    Id,
    TicketId,
    EventType,
    Actor,
    OccurredAt,
    Changes,
    Reason,
    Comment,
    Ticket,
}

#[derive(DeriveIden)]
enum TicketSequences {
    Table,
    Day,
    LastValue,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Tickets::Table)
                    .col(big_pk_auto(Tickets::Id))
                    .col(string_uniq(Tickets::Number))
                    .col(string_null(Tickets::RequestId).unique_key())
                    .col(string(Tickets::Channel))
                    .col(string(Tickets::Kind))
                    .col(string(Tickets::Status))
                    .col(string(Tickets::Priority))
                    .col(small_integer(Tickets::PriorityRank))
                    .col(text(Tickets::Title))
                    .col(text(Tickets::Description))
                    .col(text(Tickets::ExpectedOutcome))
                    .col(string(Tickets::Product))
                    .col(string(Tickets::CustomerExternalId))
                    .col(string(Tickets::CustomerName))
                    .col(string(Tickets::CustomerPhone))
                    .col(string(Tickets::CustomerEmail))
                    .col(string(Tickets::CustomerTier))
                    .col(timestamp_with_time_zone_null(Tickets::OccurredAt))
                    .col(json(Tickets::Metadata))
                    // Read with the row; ticket_tags indexes them for the tag filter.
                    .col(json(Tickets::Tags))
                    .col(string_null(Tickets::Team))
                    .col(string_null(Tickets::Assignee))
                    .col(string_null(Tickets::Owner))
                    .col(text_null(Tickets::ResolutionSummary))
                    .col(text_null(Tickets::StatusReason))
                    .col(integer(Tickets::ReopenCount))
                    .col(timestamp_with_time_zone(Tickets::CreatedAt))
                    .col(timestamp_with_time_zone(Tickets::UpdatedAt))
                    .col(timestamp_with_time_zone_null(Tickets::AssignedAt))
                    .col(timestamp_with_time_zone_null(Tickets::AcknowledgedAt))
                    .col(timestamp_with_time_zone_null(Tickets::FirstRespondedAt))
                    .col(timestamp_with_time_zone_null(Tickets::ResolvedAt))
                    .col(timestamp_with_time_zone_null(Tickets::ClosedAt))
                    .col(big_integer(Tickets::Version))
                    .to_owned(),
            )
            .await?;
        // One index per list filter; the (key, id) pairs serve keyset pagination by update
        // time and by priority (by creation, the primary key serves).
        for (name, columns) in [
            ("idx_tickets_status", vec![Tickets::Status, Tickets::Id]),
            (
                "idx_tickets_priority",
                vec![Tickets::PriorityRank, Tickets::Id],
            ),
            ("idx_tickets_kind", vec![Tickets::Kind]),
            ("idx_tickets_channel", vec![Tickets::Channel]),
            ("idx_tickets_team", vec![Tickets::Team, Tickets::Id]),
            ("idx_tickets_assignee", vec![Tickets::Assignee, Tickets::Id]),
            (
                "idx_tickets_customer",
                vec![Tickets::CustomerExternalId, Tickets::Id],
            ),
            ("idx_tickets_product", vec![Tickets::Product]),
            ("idx_tickets_created", vec![Tickets::CreatedAt]),
            ("idx_tickets_updated", vec![Tickets::UpdatedAt, Tickets::Id]),
        ] {
            let mut index = Index::create();
            index.name(name).table(Tickets::Table);
            for column in columns {
                index.col(column);
            }
            manager.create_index(index.to_owned()).await?;
        }

        manager
            .create_table(
                Table::create()
                    .table(TicketTags::Table)
                    .col(big_integer(TicketTags::TicketId))
                    .col(string(TicketTags::Tag))
                    .primary_key(
                        Index::create()
                            .col(TicketTags::TicketId)
                            .col(TicketTags::Tag),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .from(TicketTags::Table, TicketTags::TicketId)
                            .to(Tickets::Table, Tickets::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_ticket_tags_tag")
                    .table(TicketTags::Table)
                    .col(TicketTags::Tag)
                    .col(TicketTags::TicketId)
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(TicketComments::Table)
                    .col(big_pk_auto(TicketComments::Id))
                    .col(big_integer(TicketComments::TicketId))
                    .col(string(TicketComments::Visibility))
                    .col(string(TicketComments::Author))
                    .col(string(TicketComments::AuthorRole))
                    .col(text(TicketComments::Body))
                    .col(string_null(TicketComments::RequestId).unique_key())
                    .col(timestamp_with_time_zone(TicketComments::CreatedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .from(TicketComments::Table, TicketComments::TicketId)
                            .to(Tickets::Table, Tickets::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_ticket_comments_ticket")
                    .table(TicketComments::Table)
                    .col(TicketComments::TicketId)
                    .col(TicketComments::Id)
                    .to_owned(),
            )
            .await?;

        // The event log: its id is the stream cursor.
        manager
            .create_table(
                Table::create()
                    .table(TicketEvents::Table)
                    .col(big_pk_auto(TicketEvents::Id))
                    .col(big_integer(TicketEvents::TicketId))
                    .col(string(TicketEvents::EventType))
                    .col(string(TicketEvents::Actor))
                    .col(timestamp_with_time_zone(TicketEvents::OccurredAt))
                    .col(json(TicketEvents::Changes))
                    .col(text_null(TicketEvents::Reason))
                    .col(json_null(TicketEvents::Comment))
                    .col(json(TicketEvents::Ticket))
                    .foreign_key(
                        ForeignKey::create()
                            .from(TicketEvents::Table, TicketEvents::TicketId)
                            .to(Tickets::Table, Tickets::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_ticket_events_ticket")
                    .table(TicketEvents::Table)
                    .col(TicketEvents::TicketId)
                    .col(TicketEvents::Id)
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(TicketSequences::Table)
                    .col(string(TicketSequences::Day).primary_key())
                    .col(big_integer(TicketSequences::LastValue))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            TicketSequences::Table.into_iden(),
            TicketEvents::Table.into_iden(),
            TicketComments::Table.into_iden(),
            TicketTags::Table.into_iden(),
            Tickets::Table.into_iden(),
        ] {
            manager
                .drop_table(Table::drop().table(table).to_owned())
                .await?;
        }
        Ok(())
    }
}

//! Outbound delivery: webhooks, the queue of deliveries each one has (filled from the event
//! log, with the log position it has reached kept in the same transaction), every attempt,
//! and the notifications the loop sends as events of their own.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Webhooks {
    Table,
    Id,
    DisplayName,
    Url,
    /// `["TICKET_CREATED", …]`; empty: every type.
    EventTypes,
    /// Team ids; empty: every team.
    Teams,
    Secret,
    /// `None`: the server's --webhook-max-attempts.
    MaxAttempts,
    Paused,
    Version,
    CreatedAt,
    UpdatedAt,
    /// The instance delivering its queue, until `lease_until`.
    LeaseHolder,
    LeaseUntil,
    ConsecutiveFailures,
    CircuitOpenUntil,
    LastSuccessAt,
    LastFailureAt,
    LastError,
}

#[derive(DeriveIden)]
enum WebhookDeliveries {
    Table,
    Id,
    WebhookId,
    EventCursor,
    EventType,
    TicketId,
    /// `PENDING`, `DELIVERED` or `DEAD`.
    State,
    Attempts,
    NextAttemptAt,
    /// When the event committed (its time in the log), for the delivery latency.
    EventAt,
    CreatedAt,
    DeliveredAt,
    /// Queued by RedeliverEvents, not by the event's commit.
    Redelivery,
}

#[derive(DeriveIden)]
enum WebhookAttempts {
    Table,
    Id,
    DeliveryId,
    Number,
    StartedAt,
    DurationMs,
    HttpStatus,
    Error,
}

#[derive(DeriveIden)]
enum WebhookOutbox {
    Table,
    Id,
    /// The last event put in the webhooks' queues.
    EventCursor,
}

#[derive(DeriveIden)]
enum TicketEvents {
    Table,
    /// The notification a NOTIFICATION event carries.
    Notification,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Webhooks::Table)
                    .col(string(Webhooks::Id).primary_key())
                    .col(string(Webhooks::DisplayName))
                    .col(text(Webhooks::Url))
                    .col(json(Webhooks::EventTypes))
                    .col(json(Webhooks::Teams))
                    .col(text(Webhooks::Secret))
                    .col(integer_null(Webhooks::MaxAttempts))
                    .col(boolean(Webhooks::Paused))
                    .col(big_integer(Webhooks::Version))
                    .col(timestamp_with_time_zone(Webhooks::CreatedAt))
                    .col(timestamp_with_time_zone(Webhooks::UpdatedAt))
                    .col(string_null(Webhooks::LeaseHolder))
                    .col(timestamp_with_time_zone_null(Webhooks::LeaseUntil))
                    .col(integer(Webhooks::ConsecutiveFailures).default(0))
                    .col(timestamp_with_time_zone_null(Webhooks::CircuitOpenUntil))
                    .col(timestamp_with_time_zone_null(Webhooks::LastSuccessAt))
                    .col(timestamp_with_time_zone_null(Webhooks::LastFailureAt))
                    .col(text_null(Webhooks::LastError))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(WebhookDeliveries::Table)
                    .col(big_pk_auto(WebhookDeliveries::Id))
                    .col(string(WebhookDeliveries::WebhookId))
                    .col(big_integer(WebhookDeliveries::EventCursor))
                    .col(string(WebhookDeliveries::EventType))
                    .col(big_integer(WebhookDeliveries::TicketId))
                    .col(string(WebhookDeliveries::State))
                    .col(integer(WebhookDeliveries::Attempts))
                    .col(timestamp_with_time_zone(WebhookDeliveries::NextAttemptAt))
                    .col(timestamp_with_time_zone(WebhookDeliveries::EventAt))
                    .col(timestamp_with_time_zone(WebhookDeliveries::CreatedAt))
                    .col(timestamp_with_time_zone_null(
                        WebhookDeliveries::DeliveredAt,
                    ))
                    .col(boolean(WebhookDeliveries::Redelivery))
                    .foreign_key(
                        ForeignKey::create()
                            .from(WebhookDeliveries::Table, WebhookDeliveries::WebhookId)
                            .to(Webhooks::Table, Webhooks::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        // A webhook's queue in order, and its deliveries by state.
        manager
            .create_index(
                Index::create()
                    .name("idx_webhook_deliveries_queue")
                    .table(WebhookDeliveries::Table)
                    .col(WebhookDeliveries::WebhookId)
                    .col(WebhookDeliveries::State)
                    .col(WebhookDeliveries::Id)
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(WebhookAttempts::Table)
                    .col(big_pk_auto(WebhookAttempts::Id))
                    .col(big_integer(WebhookAttempts::DeliveryId))
                    .col(integer(WebhookAttempts::Number))
                    .col(timestamp_with_time_zone(WebhookAttempts::StartedAt))
                    .col(big_integer(WebhookAttempts::DurationMs))
                    .col(integer_null(WebhookAttempts::HttpStatus))
                    .col(text_null(WebhookAttempts::Error))
                    .foreign_key(
                        ForeignKey::create()
                            .from(WebhookAttempts::Table, WebhookAttempts::DeliveryId)
                            .to(WebhookDeliveries::Table, WebhookDeliveries::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_webhook_attempts_delivery")
                    .table(WebhookAttempts::Table)
                    .col(WebhookAttempts::DeliveryId)
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(WebhookOutbox::Table)
                    .col(integer(WebhookOutbox::Id).primary_key())
                    .col(big_integer(WebhookOutbox::EventCursor))
                    .to_owned(),
            )
            .await?;
        // Webhooks created from now on want events from now on.
        manager
            .get_connection()
            .execute_unprepared(
                "INSERT INTO webhook_outbox (id, event_cursor) \
                 SELECT 1, COALESCE(MAX(id), 0) FROM ticket_events",
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(TicketEvents::Table)
                    .add_column(json_null(TicketEvents::Notification))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(TicketEvents::Table)
                    .drop_column(TicketEvents::Notification)
                    .to_owned(),
            )
            .await?;
        for table in [
            WebhookOutbox::Table.into_iden(),
            WebhookAttempts::Table.into_iden(),
            WebhookDeliveries::Table.into_iden(),
            Webhooks::Table.into_iden(),
        ] {
            manager
                .drop_table(Table::drop().table(table).to_owned())
                .await?;
        }
        Ok(())
    }
}

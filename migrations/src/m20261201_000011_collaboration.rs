//! Working a ticket together. Tasks (协作清单): work a ticket asks of another team, with its
//! own clocks; on each ticket, the teams it asked, how many of its tasks are still open, and
//! its links to other tickets (parent, child, related, merged).

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Tasks {
    Table,
    Id,
    TicketId,
    /// The ticket's number, which never changes: a team's queue shows it without a join.
    TicketNumber,
    /// The team asked.
    Team,
    /// The agent of that team named for it, if any.
    Agent,
    /// What is asked, for staff.
    Ask,
    /// OPEN, ACCEPTED, DONE, DECLINED or CANCELLED.
    Status,
    /// The customer-facing name of the milestone its completion reaches, if it is one.
    Milestone,
    /// The accept and done clocks, as JSON.
    Clocks,
    /// The calendar the clocks count by; null: calendar time.
    Calendar,
    /// The next instant the scheduler must look at the clocks.
    WakeAt,
    /// The outcome on DONE, the reason on DECLINED or CANCELLED.
    Note,
    RequestId,
    RequestHash,
    CreatedBy,
    AcceptedBy,
    CreatedAt,
    UpdatedAt,
    AcceptedAt,
    FinishedAt,
    Version,
}

#[derive(DeriveIden)]
enum Tickets {
    Table,
    OpenTasks,
    TaskTeams,
    Links,
}

#[derive(DeriveIden)]
enum TicketEvents {
    Table,
    Task,
    Link,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Tasks::Table)
                    .col(big_pk_auto(Tasks::Id))
                    .col(big_integer(Tasks::TicketId))
                    .col(string(Tasks::TicketNumber))
                    .col(string(Tasks::Team))
                    .col(string_null(Tasks::Agent))
                    .col(text(Tasks::Ask))
                    .col(string(Tasks::Status))
                    .col(string_null(Tasks::Milestone))
                    .col(json(Tasks::Clocks))
                    .col(string_null(Tasks::Calendar))
                    .col(timestamp_with_time_zone_null(Tasks::WakeAt))
                    .col(text_null(Tasks::Note))
                    .col(string_null(Tasks::RequestId).unique_key())
                    .col(string_null(Tasks::RequestHash))
                    .col(string(Tasks::CreatedBy))
                    .col(string_null(Tasks::AcceptedBy))
                    .col(timestamp_with_time_zone(Tasks::CreatedAt))
                    .col(timestamp_with_time_zone(Tasks::UpdatedAt))
                    .col(timestamp_with_time_zone_null(Tasks::AcceptedAt))
                    .col(timestamp_with_time_zone_null(Tasks::FinishedAt))
                    .col(big_integer(Tasks::Version))
                    .to_owned(),
            )
            .await?;
        for (name, columns) in [
            // A ticket's tasks, in the order they were asked.
            ("idx_tasks_ticket", vec![Tasks::TicketId, Tasks::Id]),
            // A team's work queue by status, and all of it; an agent's tasks.
            (
                "idx_tasks_queue",
                vec![Tasks::Team, Tasks::Status, Tasks::Id],
            ),
            ("idx_tasks_team", vec![Tasks::Team, Tasks::Id]),
            ("idx_tasks_agent", vec![Tasks::Agent, Tasks::Id]),
            // The scheduler's range: clocks that need a look by now.
            ("idx_tasks_wake", vec![Tasks::WakeAt]),
        ] {
            let mut index = Index::create();
            index.name(name).table(Tasks::Table);
            for column in columns {
                index.col(column);
            }
            manager.create_index(index.to_owned()).await?;
        }
        for column in [
            integer(Tickets::OpenTasks).default(0).to_owned(),
            json_null(Tickets::TaskTeams),
            json_null(Tickets::Links),
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
        for column in [TicketEvents::Task, TicketEvents::Link] {
            manager
                .alter_table(
                    Table::alter()
                        .table(TicketEvents::Table)
                        .add_column(json_null(column))
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for column in [TicketEvents::Task, TicketEvents::Link] {
            manager
                .alter_table(
                    Table::alter()
                        .table(TicketEvents::Table)
                        .drop_column(column)
                        .to_owned(),
                )
                .await?;
        }
        for column in [Tickets::OpenTasks, Tickets::TaskTeams, Tickets::Links] {
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
            .drop_table(Table::drop().table(Tasks::Table).to_owned())
            .await
    }
}

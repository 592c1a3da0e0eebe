//! Satisfaction surveys: templates, one row per invitation holding the customer's response
//! once given, the resolution kind of tickets (spam and merged tickets are not surveyed),
//! and the survey an event is about.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum SurveyTemplates {
    Table,
    Id,
    DisplayName,
    Questions,
    IsDefault,
    Version,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum Surveys {
    Table,
    Id,
    Token,
    TicketId,
    TemplateId,
    /// The template's questions as they were when the survey was sent.
    Questions,
    /// Who the customer is, for the per-customer limit: CRM id, else phone, else email.
    CustomerKey,
    /// What the ticket was when it was resolved, for filters and stats.
    Team,
    Agent,
    Kind,
    Channel,
    Product,
    State,
    CreatedAt,
    SendAt,
    ExpireAt,
    AnsweredAt,
    Answers,
    Scores,
    LowestRating,
    HasComment,
    Outcome,
}

#[derive(DeriveIden)]
enum Tickets {
    Table,
    Id,
    Resolution,
    MergedInto,
}

#[derive(DeriveIden)]
enum TicketEvents {
    Table,
    Survey,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(SurveyTemplates::Table)
                    .col(string(SurveyTemplates::Id).primary_key())
                    .col(string(SurveyTemplates::DisplayName))
                    .col(json(SurveyTemplates::Questions))
                    .col(boolean(SurveyTemplates::IsDefault))
                    .col(big_integer(SurveyTemplates::Version))
                    .col(timestamp_with_time_zone(SurveyTemplates::CreatedAt))
                    .col(timestamp_with_time_zone(SurveyTemplates::UpdatedAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(Surveys::Table)
                    .col(big_pk_auto(Surveys::Id))
                    .col(string_uniq(Surveys::Token))
                    .col(big_integer(Surveys::TicketId))
                    .col(string(Surveys::TemplateId))
                    .col(json(Surveys::Questions))
                    .col(string_null(Surveys::CustomerKey))
                    .col(string_null(Surveys::Team))
                    .col(string_null(Surveys::Agent))
                    .col(string(Surveys::Kind))
                    .col(string(Surveys::Channel))
                    .col(string(Surveys::Product))
                    .col(string(Surveys::State))
                    .col(timestamp_with_time_zone(Surveys::CreatedAt))
                    .col(timestamp_with_time_zone(Surveys::SendAt))
                    .col(timestamp_with_time_zone(Surveys::ExpireAt))
                    .col(timestamp_with_time_zone_null(Surveys::AnsweredAt))
                    .col(json_null(Surveys::Answers))
                    .col(json_null(Surveys::Scores))
                    .col(integer_null(Surveys::LowestRating))
                    .col(boolean(Surveys::HasComment))
                    .col(string_null(Surveys::Outcome))
                    .foreign_key(
                        ForeignKey::create()
                            .from(Surveys::Table, Surveys::TicketId)
                            .to(Tickets::Table, Tickets::Id),
                    )
                    .to_owned(),
            )
            .await?;
        for (name, columns) in [
            // The scheduler's work: surveys coming due to be sent, and open ones expiring.
            ("idx_surveys_sending", vec![Surveys::State, Surveys::SendAt]),
            (
                "idx_surveys_expiring",
                vec![Surveys::State, Surveys::ExpireAt],
            ),
            // The per-customer limit.
            (
                "idx_surveys_customer",
                vec![Surveys::CustomerKey, Surveys::CreatedAt],
            ),
            ("idx_surveys_ticket", vec![Surveys::TicketId]),
            // Responses by period, team and agent; stats by the period they were sent in.
            (
                "idx_surveys_answered",
                vec![Surveys::AnsweredAt, Surveys::Id],
            ),
            ("idx_surveys_team", vec![Surveys::Team, Surveys::AnsweredAt]),
            (
                "idx_surveys_agent",
                vec![Surveys::Agent, Surveys::AnsweredAt],
            ),
        ] {
            let mut index = Index::create();
            index.name(name).table(Surveys::Table);
            for column in columns {
                index.col(column);
            }
            manager.create_index(index.to_owned()).await?;
        }
        // SQLite alters one column per statement.
        for column in [
            string_null(Tickets::Resolution),
            string_null(Tickets::MergedInto),
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
        manager
            .alter_table(
                Table::alter()
                    .table(TicketEvents::Table)
                    .add_column(json_null(TicketEvents::Survey))
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
                    .drop_column(TicketEvents::Survey)
                    .to_owned(),
            )
            .await?;
        for column in [Tickets::Resolution, Tickets::MergedInto] {
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
            .drop_table(Table::drop().table(Surveys::Table).to_owned())
            .await?;
        manager
            .drop_table(Table::drop().table(SurveyTemplates::Table).to_owned())
            .await?;
        Ok(())
    }
}

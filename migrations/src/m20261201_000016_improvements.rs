//! Improvements (整改): actions against a top issue, with an owner team, a due date and a
//! status; found by their issue (for top issues) and by their team.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Improvements {
    Table,
    /// Its number: the id callers see is `IMP-<id>`.
    Id,
    Title,
    Description,
    /// The top issue it answers: `category/product/phrase`, or `category/product/`.
    IssueKey,
    /// The team that carries it out.
    OwnerTeam,
    DueAt,
    /// `PLANNED`, `IN_PROGRESS`, `DONE` or `DROPPED`.
    Status,
    /// When it became DONE.
    DoneAt,
    CreatedBy,
    Version,
    CreatedAt,
    UpdatedAt,
    /// The idempotency key it was created with, and the fingerprint of that request.
    RequestId,
    RequestHash,
}

const BY_ISSUE: &str = "idx_improvements_issue_key";
const BY_TEAM: &str = "idx_improvements_owner_team";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Improvements::Table)
                    .col(big_pk_auto(Improvements::Id))
                    .col(string(Improvements::Title))
                    .col(text(Improvements::Description))
                    .col(string(Improvements::IssueKey))
                    .col(string(Improvements::OwnerTeam))
                    .col(timestamp_with_time_zone(Improvements::DueAt))
                    .col(string(Improvements::Status))
                    .col(timestamp_with_time_zone_null(Improvements::DoneAt))
                    .col(string(Improvements::CreatedBy))
                    .col(big_integer(Improvements::Version))
                    .col(timestamp_with_time_zone(Improvements::CreatedAt))
                    .col(timestamp_with_time_zone(Improvements::UpdatedAt))
                    .col(string_null(Improvements::RequestId).unique_key())
                    .col(string_null(Improvements::RequestHash))
                    .to_owned(),
            )
            .await?;
        // The improvements of the issues a top issues report lists, newest first.
        manager
            .create_index(
                Index::create()
                    .name(BY_ISSUE)
                    .table(Improvements::Table)
                    .col(Improvements::IssueKey)
                    .col(Improvements::Id)
                    .to_owned(),
            )
            .await?;
        // A team's improvements, for its lists and to keep it while it has open ones.
        manager
            .create_index(
                Index::create()
                    .name(BY_TEAM)
                    .table(Improvements::Table)
                    .col(Improvements::OwnerTeam)
                    .col(Improvements::Id)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(Improvements::Table).to_owned())
            .await
    }
}

//! Canned replies: reply templates, global or of one team, listed by id and by team.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum ReplyTemplates {
    Table,
    Id,
    Title,
    /// The team whose staff alone use it; null: every team.
    Team,
    /// Empty when the template has no body in that language.
    BodyZh,
    BodyEn,
    /// `[Variable]` as JSON.
    Variables,
    /// `PUBLIC` or `INTERNAL`.
    Visibility,
    /// `Effects` as JSON: status, priority, tags, resolution summary.
    Changes,
    CreatedBy,
    Version,
    CreatedAt,
    UpdatedAt,
}

const BY_TEAM: &str = "idx_reply_templates_team";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(ReplyTemplates::Table)
                    .col(string(ReplyTemplates::Id).primary_key())
                    .col(string(ReplyTemplates::Title))
                    .col(string_null(ReplyTemplates::Team))
                    .col(text(ReplyTemplates::BodyZh))
                    .col(text(ReplyTemplates::BodyEn))
                    .col(json(ReplyTemplates::Variables))
                    .col(string(ReplyTemplates::Visibility))
                    .col(json(ReplyTemplates::Changes))
                    .col(string(ReplyTemplates::CreatedBy))
                    .col(big_integer(ReplyTemplates::Version))
                    .col(timestamp_with_time_zone(ReplyTemplates::CreatedAt))
                    .col(timestamp_with_time_zone(ReplyTemplates::UpdatedAt))
                    .to_owned(),
            )
            .await?;
        // A team's templates, by id, for its staff's lists.
        manager
            .create_index(
                Index::create()
                    .name(BY_TEAM)
                    .table(ReplyTemplates::Table)
                    .col(ReplyTemplates::Team)
                    .col(ReplyTemplates::Id)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(ReplyTemplates::Table).to_owned())
            .await
    }
}

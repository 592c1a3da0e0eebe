//! Attachments: files on tickets. Their bytes are stored once per SHA-256 (a blob), in the
//! database in chunks of at most 1 MiB or, with --attachment-dir, in a file named by the
//! hash; each attachment row references its blob. The event log carries the attachment an
//! ATTACHMENT_ADDED or ATTACHMENT_REMOVED event is about.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Attachments {
    Table,
    Id,
    TicketId,
    CommentId,
    FileName,
    /// The MIME type the bytes show.
    ContentType,
    /// The MIME type the uploader declared.
    DeclaredType,
    Size,
    Sha256,
    /// `PUBLIC` or `INTERNAL`.
    Visibility,
    UploadedBy,
    UploadedVia,
    RequestId,
    /// The fingerprint of the upload that created it under `request_id`.
    RequestHash,
    CreatedAt,
}

#[derive(DeriveIden)]
enum AttachmentBlobs {
    Table,
    /// Lower-case hex.
    Sha256,
    Size,
    /// `DATABASE` (chunks below) or `DIRECTORY` (a file named by the hash).
    Storage,
    CreatedAt,
}

#[derive(DeriveIden)]
enum AttachmentChunks {
    Table,
    Sha256,
    /// 0, 1, … in the order of the bytes.
    Seq,
    Data,
}

#[derive(DeriveIden)]
enum TicketEvents {
    Table,
    /// The attachment an ATTACHMENT_* event is about.
    Attachment,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(AttachmentBlobs::Table)
                    .col(string(AttachmentBlobs::Sha256).primary_key())
                    .col(big_integer(AttachmentBlobs::Size))
                    .col(string(AttachmentBlobs::Storage))
                    .col(timestamp_with_time_zone(AttachmentBlobs::CreatedAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(AttachmentChunks::Table)
                    .col(string(AttachmentChunks::Sha256))
                    .col(integer(AttachmentChunks::Seq))
                    .col(binary(AttachmentChunks::Data))
                    .primary_key(
                        Index::create()
                            .col(AttachmentChunks::Sha256)
                            .col(AttachmentChunks::Seq),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .from(AttachmentChunks::Table, AttachmentChunks::Sha256)
                            .to(AttachmentBlobs::Table, AttachmentBlobs::Sha256)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(Attachments::Table)
                    .col(big_pk_auto(Attachments::Id))
                    .col(big_integer(Attachments::TicketId))
                    .col(big_integer_null(Attachments::CommentId))
                    .col(string(Attachments::FileName))
                    .col(string(Attachments::ContentType))
                    .col(string_null(Attachments::DeclaredType))
                    .col(big_integer(Attachments::Size))
                    .col(string(Attachments::Sha256))
                    .col(string(Attachments::Visibility))
                    .col(string(Attachments::UploadedBy))
                    .col(string_null(Attachments::UploadedVia))
                    .col(string_null(Attachments::RequestId).unique_key())
                    .col(string_null(Attachments::RequestHash))
                    .col(timestamp_with_time_zone(Attachments::CreatedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .from(Attachments::Table, Attachments::Sha256)
                            .to(AttachmentBlobs::Table, AttachmentBlobs::Sha256),
                    )
                    .to_owned(),
            )
            .await?;
        // A ticket's files in order (lists, the quota's sum); a comment's; a blob's users.
        for (name, cols) in [
            (
                "idx_attachments_ticket",
                vec![Attachments::TicketId, Attachments::Id],
            ),
            (
                "idx_attachments_comment",
                vec![Attachments::CommentId, Attachments::Id],
            ),
            ("idx_attachments_sha256", vec![Attachments::Sha256]),
        ] {
            let mut index = Index::create();
            index.name(name).table(Attachments::Table);
            for col in cols {
                index.col(col);
            }
            manager.create_index(index.to_owned()).await?;
        }
        manager
            .alter_table(
                Table::alter()
                    .table(TicketEvents::Table)
                    .add_column(json_null(TicketEvents::Attachment))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(TicketEvents::Table)
                    .drop_column(TicketEvents::Attachment)
                    .to_owned(),
            )
            .await?;
        for table in [
            Attachments::Table.into_iden(),
            AttachmentChunks::Table.into_iden(),
            AttachmentBlobs::Table.into_iden(),
        ] {
            manager
                .drop_table(Table::drop().table(table).to_owned())
                .await?;
        }
        Ok(())
    }
}

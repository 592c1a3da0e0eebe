use sea_orm::entity::prelude::*;

/// A file on a ticket; its bytes are the blob of its `sha256`.
#[sea_orm::model]
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "attachments")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub ticket_id: i64,
    pub comment_id: Option<i64>,
    pub file_name: String,
    pub content_type: String,
    pub declared_type: Option<String>,
    pub size: i64,
    pub sha256: String,
    pub visibility: String,
    pub uploaded_by: String,
    pub uploaded_via: Option<String>,
    #[sea_orm(unique)]
    pub request_id: Option<String>,
    /// The fingerprint of the upload that created it under `request_id`.
    pub request_hash: Option<String>,
    pub created_at: DateTimeUtc,
}

impl ActiveModelBehavior for ActiveModel {}

use sea_orm::entity::prelude::*;

/// One survey sent (or to be sent) about one ticket, with the customer's response once given.
#[sea_orm::model]
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "surveys")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    #[sea_orm(unique)]
    pub token: String,
    pub ticket_id: i64,
    pub template_id: String,
    /// `[Question]` as JSON, as the template was when the survey was created.
    pub questions: Json,
    pub customer_key: Option<String>,
    pub team: Option<String>,
    pub agent: Option<String>,
    pub kind: String,
    pub channel: String,
    pub product: String,
    pub state: String,
    pub created_at: DateTimeUtc,
    pub send_at: DateTimeUtc,
    pub expire_at: DateTimeUtc,
    pub answered_at: Option<DateTimeUtc>,
    /// `{key: Answer}` as JSON.
    pub answers: Option<Json>,
    /// `[Scored]` as JSON.
    pub scores: Option<Json>,
    pub lowest_rating: Option<i32>,
    pub has_comment: bool,
    pub outcome: Option<String>,
    /// The idempotency key of the SendSurvey that created it, and that request's fingerprint.
    #[sea_orm(unique)]
    pub request_id: Option<String>,
    pub request_hash: Option<String>,
}

impl ActiveModelBehavior for ActiveModel {}

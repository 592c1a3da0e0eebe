use sea_orm::entity::prelude::*;

#[sea_orm::model]
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "tickets")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    #[sea_orm(unique)]
    pub number: String,
    #[sea_orm(unique)]
    pub request_id: Option<String>,
    /// The fingerprint of the request that created it under `request_id`.
    pub request_hash: Option<String>,
    pub channel: String,
    pub kind: String,
    pub status: String,
    pub priority: String,
    /// 1 (urgent) … 4 (low): sorts by urgency where the name would sort by spelling.
    pub priority_rank: i16,
    #[sea_orm(column_type = "Text")]
    pub title: String,
    #[sea_orm(column_type = "Text")]
    pub description: String,
    #[sea_orm(column_type = "Text")]
    pub expected_outcome: String,
    pub product: String,
    pub customer_external_id: String,
    pub customer_name: String,
    pub customer_phone: String,
    pub customer_email: String,
    pub customer_tier: String,
    /// `zh` or `en`: what the customer is written to in.
    pub customer_language: String,
    pub occurred_at: Option<DateTimeUtc>,
    pub metadata: Json,
    /// The sorted tags, read with the row; `ticket_tags` indexes them for the tag filter.
    pub tags: Json,
    pub team: Option<String>,
    pub assignee: Option<String>,
    pub owner: Option<String>,
    #[sea_orm(column_type = "Text", nullable)]
    pub resolution_summary: Option<String>,
    #[sea_orm(column_type = "Text", nullable)]
    pub status_reason: Option<String>,
    pub reopen_count: i32,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
    pub assigned_at: Option<DateTimeUtc>,
    pub acknowledged_at: Option<DateTimeUtc>,
    pub first_responded_at: Option<DateTimeUtc>,
    pub resolved_at: Option<DateTimeUtc>,
    pub closed_at: Option<DateTimeUtc>,
    pub category: Option<String>,
    pub priority_reasons: Option<Json>,
    pub repeat_of: Option<String>,
    #[sea_orm(column_type = "Text", nullable)]
    pub routing_reason: Option<String>,
    pub assignment_strategy: Option<String>,
    pub resolution: Option<String>,
    pub merged_into: Option<String>,
    /// The clocks, their policy and calendar, and the escalation level.
    pub sla: Option<Json>,
    /// The next instant the scheduler must look at the ticket.
    pub sla_wake_at: Option<DateTimeUtc>,
    /// The earliest due time of a running clock.
    pub sla_due_at: Option<DateTimeUtc>,
    pub sla_breached: bool,
    pub sla_at_risk: bool,
    /// Tasks not finished yet.
    pub open_tasks: i32,
    /// The teams its tasks asked, as a JSON list.
    pub task_teams: Option<Json>,
    /// Its links to other tickets, as JSON.
    pub links: Option<Json>,
    pub version: i64,
}

impl ActiveModelBehavior for ActiveModel {}

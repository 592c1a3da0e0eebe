use sea_orm::entity::prelude::*;

use crate::domain::ticket::Ticket;

/// The ticket as an event stores it, JSON read straight into the ticket: the log is read
/// back after every commit, and a JSON tree in between cost as much again.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize, FromJsonQueryResult)]
#[serde(transparent)]
pub struct StoredTicket(pub Ticket);

/// One row of the event log; `id` is the stream cursor.
#[sea_orm::model]
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "ticket_events")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub ticket_id: i64,
    pub event_type: String,
    pub actor: String,
    /// Who acted on the actor's behalf.
    pub via: Option<String>,
    pub occurred_at: DateTimeUtc,
    /// `[FieldChange]` as JSON.
    pub changes: Json,
    #[sea_orm(column_type = "Text", nullable)]
    pub reason: Option<String>,
    /// The comment added, for COMMENT_ADDED.
    pub comment: Option<Json>,
    /// The ticket as it stood right after the event.
    pub ticket: StoredTicket,
    /// The survey the event is about.
    pub survey: Option<Json>,
    /// The clocks an SLA event is about.
    pub sla: Option<Json>,
    /// The message a NOTIFICATION event carries.
    pub notification: Option<Json>,
    /// The task a TASK_* event is about.
    pub task: Option<Json>,
    /// The link a TICKET_LINKED or TICKET_UNLINKED event is about.
    pub link: Option<Json>,
    /// The attachment an ATTACHMENT_* event is about.
    pub attachment: Option<Json>,
}

impl ActiveModelBehavior for ActiveModel {}

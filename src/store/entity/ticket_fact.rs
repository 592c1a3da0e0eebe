use sea_orm::FromJsonQueryResult;
use sea_orm::entity::prelude::*;

use crate::domain::insights::Facts;

/// A ticket's facts, decoded straight from the column's JSON: every fact-summing query reads
/// thousands of them, and a JSON tree in between cost as much again.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize, FromJsonQueryResult)]
#[serde(transparent)]
pub struct StoredFacts(pub Facts);

/// One ticket's facts for the figures, folded from its events.
#[sea_orm::model]
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "ticket_facts")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub ticket_id: i64,
    pub number: String,
    pub created_at: DateTimeUtc,
    pub kind: String,
    pub channel: String,
    pub team: String,
    pub agent: String,
    pub product: String,
    pub category: String,
    pub tier: String,
    pub priority: String,
    pub status: String,
    pub open: bool,
    pub counted: bool,
    pub repeat: bool,
    /// The last event's time once done; null while open.
    pub active_until: Option<DateTimeUtc>,
    /// Key phrases, separated by spaces.
    pub phrases: String,
    /// SLA targets at risk now, comma separated.
    pub at_risk: String,
    /// SLA targets breached and still running, comma separated.
    pub breached: String,
    /// `Facts` as JSON.
    pub facts: StoredFacts,
}

impl ActiveModelBehavior for ActiveModel {}

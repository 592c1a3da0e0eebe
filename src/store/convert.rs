//! Rows ↔ domain values.

use std::collections::BTreeMap;
use std::str::FromStr;

use sea_orm::ActiveValue::Set;

use super::entity::{comment, event, ticket};
use crate::domain::event::{FieldChange, TicketEvent};
use crate::domain::ticket::{Comment, Customer, Ticket, UnknownName};
use crate::error::{Error, Result};

fn parse<T: FromStr<Err = UnknownName>>(s: &str) -> Result<T> {
    s.parse()
        .map_err(|e: UnknownName| Error::Internal(format!("stored data: {e}")))
}

fn from_json<T: serde::de::DeserializeOwned>(what: &str, value: serde_json::Value) -> Result<T> {
    serde_json::from_value(value).map_err(|e| Error::Internal(format!("stored {what}: {e}")))
}

fn to_json<T: serde::Serialize>(value: &T) -> serde_json::Value {
    serde_json::to_value(value).expect("domain values serialize to JSON")
}

pub fn ticket(row: ticket::Model) -> Result<Ticket> {
    Ok(Ticket {
        id: row.id,
        number: row.number,
        request_id: row.request_id,
        channel: parse(&row.channel)?,
        kind: parse(&row.kind)?,
        status: parse(&row.status)?,
        priority: parse(&row.priority)?,
        title: row.title,
        description: row.description,
        expected_outcome: row.expected_outcome,
        product: row.product,
        customer: Customer {
            external_id: row.customer_external_id,
            name: row.customer_name,
            phone: row.customer_phone,
            email: row.customer_email,
            tier: parse(&row.customer_tier)?,
        },
        tags: from_json("tags", row.tags)?,
        occurred_at: row.occurred_at,
        metadata: from_json::<BTreeMap<String, String>>("metadata", row.metadata)?,
        team: row.team,
        assignee: row.assignee,
        owner: row.owner,
        resolution_summary: row.resolution_summary,
        status_reason: row.status_reason,
        reopen_count: row.reopen_count,
        created_at: row.created_at,
        updated_at: row.updated_at,
        assigned_at: row.assigned_at,
        acknowledged_at: row.acknowledged_at,
        first_responded_at: row.first_responded_at,
        resolved_at: row.resolved_at,
        closed_at: row.closed_at,
        version: row.version,
    })
}

/// Every column of a ticket's row, set from the domain value; the id only when it has one.
pub fn ticket_row(t: &Ticket) -> ticket::ActiveModel {
    let mut row = ticket::ActiveModel {
        number: Set(t.number.clone()),
        request_id: Set(t.request_id.clone()),
        channel: Set(t.channel.as_str().to_owned()),
        kind: Set(t.kind.as_str().to_owned()),
        status: Set(t.status.as_str().to_owned()),
        priority: Set(t.priority.as_str().to_owned()),
        priority_rank: Set(t.priority.rank()),
        title: Set(t.title.clone()),
        description: Set(t.description.clone()),
        expected_outcome: Set(t.expected_outcome.clone()),
        product: Set(t.product.clone()),
        customer_external_id: Set(t.customer.external_id.clone()),
        customer_name: Set(t.customer.name.clone()),
        customer_phone: Set(t.customer.phone.clone()),
        customer_email: Set(t.customer.email.clone()),
        customer_tier: Set(t.customer.tier.as_str().to_owned()),
        occurred_at: Set(t.occurred_at),
        metadata: Set(to_json(&t.metadata)),
        tags: Set(to_json(&t.tags)),
        team: Set(t.team.clone()),
        assignee: Set(t.assignee.clone()),
        owner: Set(t.owner.clone()),
        resolution_summary: Set(t.resolution_summary.clone()),
        status_reason: Set(t.status_reason.clone()),
        reopen_count: Set(t.reopen_count),
        created_at: Set(t.created_at),
        updated_at: Set(t.updated_at),
        assigned_at: Set(t.assigned_at),
        acknowledged_at: Set(t.acknowledged_at),
        first_responded_at: Set(t.first_responded_at),
        resolved_at: Set(t.resolved_at),
        closed_at: Set(t.closed_at),
        version: Set(t.version),
        ..Default::default()
    };
    if t.id != 0 {
        row.id = Set(t.id);
    }
    row
}

pub fn comment(row: comment::Model) -> Result<Comment> {
    Ok(Comment {
        id: row.id,
        ticket_id: row.ticket_id,
        visibility: parse(&row.visibility)?,
        author: row.author,
        author_role: parse(&row.author_role)?,
        body: row.body,
        created_at: row.created_at,
    })
}

pub fn event(row: event::Model) -> Result<TicketEvent> {
    Ok(TicketEvent {
        cursor: row.id,
        ticket_id: row.ticket_id,
        event_type: parse(&row.event_type)?,
        actor: row.actor,
        occurred_at: row.occurred_at,
        changes: from_json::<Vec<FieldChange>>("changes", row.changes)?,
        reason: row.reason,
        comment: row.comment.map(|c| from_json("comment", c)).transpose()?,
        ticket: from_json("ticket", row.ticket)?,
    })
}

/// The row recording an event; the id (cursor) is assigned by the database.
pub fn event_row(e: &TicketEvent) -> event::ActiveModel {
    event::ActiveModel {
        ticket_id: Set(e.ticket_id),
        event_type: Set(e.event_type.as_str().to_owned()),
        actor: Set(e.actor.clone()),
        occurred_at: Set(e.occurred_at),
        changes: Set(to_json(&e.changes)),
        reason: Set(e.reason.clone()),
        comment: Set(e.comment.as_ref().map(to_json)),
        ticket: Set(to_json(&e.ticket)),
        ..Default::default()
    }
}

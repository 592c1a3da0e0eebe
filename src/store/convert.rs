//! Rows ↔ domain values.

use std::collections::BTreeMap;
use std::str::FromStr;

use sea_orm::ActiveValue::Set;

use super::entity::{
    agent, api_key, attachment, blocked_sender, calendar, comment, config_change, event,
    reply_template, rule, sla_policy, survey, survey_template, task, team, ticket, webhook,
    webhook_attempt, webhook_delivery,
};
use crate::domain::abuse::BlockedSender;
use crate::domain::access::ApiKey;
use crate::domain::attachment::Attachment;
use crate::domain::calendar::{BusinessCalendar, Calendar};
use crate::domain::config::ConfigChange;
use crate::domain::event::{FieldChange, TicketEvent};
use crate::domain::language::Language;
use crate::domain::reply::ReplyTemplate;
use crate::domain::rules::Rule;
use crate::domain::sla::{Policy, Targets};
use crate::domain::staff::{Agent, Team};
use crate::domain::survey::{Survey, Template};
use crate::domain::task::Task;
use crate::domain::ticket::{Comment, Customer, Ticket, UnknownName};
use crate::domain::webhook::{Attempt, Circuit, Delivery, Webhook};
use crate::error::{Error, Result};

fn parse<T: FromStr<Err = UnknownName>>(s: &str) -> Result<T> {
    s.parse()
        .map_err(|e: UnknownName| Error::Internal(format!("stored data: {e}")))
}

fn language(tag: &str) -> Result<Language> {
    Language::parse(tag)
        .ok_or_else(|| Error::Internal(format!("stored data: unknown language {tag:?}")))
}

pub(super) fn from_json<T: serde::de::DeserializeOwned>(
    what: &str,
    value: serde_json::Value,
) -> Result<T> {
    serde_json::from_value(value).map_err(|e| Error::Internal(format!("stored {what}: {e}")))
}

fn to_json<T: serde::Serialize>(value: &T) -> Result<serde_json::Value> {
    serde_json::to_value(value).map_err(|e| Error::Internal(format!("not storable as JSON: {e}")))
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
            language: Some(language(&row.customer_language)?),
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
        category: row.category,
        priority_reasons: row
            .priority_reasons
            .map(|r| from_json("priority_reasons", r))
            .transpose()?
            .unwrap_or_default(),
        repeat_of: row.repeat_of,
        routing_reason: row.routing_reason,
        assignment_strategy: row.assignment_strategy.as_deref().map(parse).transpose()?,
        resolution: row.resolution.as_deref().map(parse).transpose()?,
        merged_into: row.merged_into,
        sla: row
            .sla
            .map(|s| from_json("sla", s))
            .transpose()?
            .unwrap_or_default(),
        open_tasks: row.open_tasks.max(0) as u32,
        task_teams: row
            .task_teams
            .map(|t| from_json("task_teams", t))
            .transpose()?
            .unwrap_or_default(),
        links: row
            .links
            .map(|l| from_json("links", l))
            .transpose()?
            .unwrap_or_default(),
        version: row.version,
    })
}

/// Every column of a ticket's row, set from the domain value; the id only when it has one.
pub fn ticket_row(t: &Ticket) -> Result<ticket::ActiveModel> {
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
        customer_language: Set(t.language().as_str().to_owned()),
        occurred_at: Set(t.occurred_at),
        metadata: Set(to_json(&t.metadata)?),
        tags: Set(to_json(&t.tags)?),
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
        category: Set(t.category.clone()),
        priority_reasons: Set(Some(to_json(&t.priority_reasons)?)),
        repeat_of: Set(t.repeat_of.clone()),
        routing_reason: Set(t.routing_reason.clone()),
        assignment_strategy: Set(t.assignment_strategy.map(|s| s.as_str().to_owned())),
        resolution: Set(t.resolution.map(|r| r.as_str().to_owned())),
        merged_into: Set(t.merged_into.clone()),
        sla: Set(Some(to_json(&t.sla)?)),
        sla_wake_at: Set(t.sla.wake_at()),
        sla_due_at: Set(t.sla.due_at()),
        sla_breached: Set(t.sla.breached()),
        sla_at_risk: Set(t.sla.at_risk()),
        open_tasks: Set(t.open_tasks as i32),
        task_teams: Set(Some(to_json(&t.task_teams)?)),
        links: Set(Some(to_json(&t.links)?)),
        version: Set(t.version),
        ..Default::default()
    };
    if t.id != 0 {
        row.id = Set(t.id);
    }
    Ok(row)
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

pub fn attachment(row: attachment::Model) -> Result<Attachment> {
    Ok(Attachment {
        id: row.id,
        ticket_id: row.ticket_id,
        comment_id: row.comment_id,
        file_name: row.file_name,
        content_type: row.content_type,
        declared_type: row.declared_type,
        size: row.size,
        sha256: row.sha256,
        visibility: parse(&row.visibility)?,
        uploaded_by: row.uploaded_by,
        uploaded_via: row.uploaded_via,
        created_at: row.created_at,
    })
}

pub fn event(row: event::Model) -> Result<TicketEvent> {
    Ok(TicketEvent {
        cursor: row.id,
        ticket_id: row.ticket_id,
        event_type: parse(&row.event_type)?,
        actor: row.actor,
        via: row.via,
        occurred_at: row.occurred_at,
        changes: from_json::<Vec<FieldChange>>("changes", row.changes)?,
        reason: row.reason,
        comment: row.comment.map(|c| from_json("comment", c)).transpose()?,
        ticket: row.ticket.0,
        survey: row.survey.map(|s| from_json("survey", s)).transpose()?,
        sla: row.sla.map(|s| from_json("sla", s)).transpose()?,
        notification: row
            .notification
            .map(|n| from_json("notification", n))
            .transpose()?,
        task: row.task.map(|t| from_json("task", t)).transpose()?,
        link: row.link.map(|l| from_json("link", l)).transpose()?,
        attachment: row
            .attachment
            .map(|a| from_json("attachment", a))
            .transpose()?,
    })
}

/// The row recording an event; the id (cursor) is assigned by the database.
pub fn event_row(e: TicketEvent) -> Result<event::ActiveModel> {
    Ok(event::ActiveModel {
        ticket_id: Set(e.ticket_id),
        event_type: Set(e.event_type.as_str().to_owned()),
        actor: Set(e.actor),
        via: Set(e.via),
        occurred_at: Set(e.occurred_at),
        changes: Set(to_json(&e.changes)?),
        reason: Set(e.reason),
        comment: Set(e.comment.as_ref().map(to_json).transpose()?),
        ticket: Set(event::StoredTicket(e.ticket)),
        survey: Set(e.survey.as_ref().map(to_json).transpose()?),
        sla: Set(e.sla.as_ref().map(to_json).transpose()?),
        notification: Set(e.notification.as_ref().map(to_json).transpose()?),
        task: Set(e.task.as_ref().map(to_json).transpose()?),
        link: Set(e.link.as_ref().map(to_json).transpose()?),
        attachment: Set(e.attachment.as_ref().map(to_json).transpose()?),
        ..Default::default()
    })
}

pub fn team(row: team::Model, members: Vec<String>, queued: i64, zone: String) -> Result<Team> {
    Ok(Team {
        id: row.id,
        display_name: row.display_name,
        supervisor: row.supervisor,
        time_zone: zone,
        calendar: row.calendar,
        strategy: parse(&row.strategy)?,
        members,
        queued: queued as u32,
        version: row.version,
        created_at: row.created_at,
        updated_at: row.updated_at,
    })
}

/// A team's row; the round-robin position is left as it is.
pub fn team_row(t: &Team) -> team::ActiveModel {
    team::ActiveModel {
        id: Set(t.id.clone()),
        display_name: Set(t.display_name.clone()),
        supervisor: Set(t.supervisor.clone()),
        calendar: Set(t.calendar.clone()),
        strategy: Set(t.strategy.as_str().to_owned()),
        last_assignee: sea_orm::ActiveValue::NotSet,
        version: Set(t.version),
        created_at: Set(t.created_at),
        updated_at: Set(t.updated_at),
    }
}

pub fn agent(row: agent::Model, teams: Vec<String>, open: i64) -> Result<Agent> {
    Ok(Agent {
        id: row.id,
        display_name: row.display_name,
        teams,
        skills: from_json("skills", row.skills)?,
        capacity: row.capacity.max(0) as u32,
        availability: parse(&row.availability)?,
        open_tickets: open as u32,
        version: row.version,
        created_at: row.created_at,
        updated_at: row.updated_at,
    })
}

pub fn agent_row(a: &Agent) -> agent::ActiveModel {
    agent::ActiveModel {
        id: Set(a.id.clone()),
        display_name: Set(a.display_name.clone()),
        // A list of strings is always JSON.
        skills: Set(serde_json::Value::from(a.skills.clone())),
        capacity: Set(a.capacity as i32),
        availability: Set(a.availability.as_str().to_owned()),
        version: Set(a.version),
        created_at: Set(a.created_at),
        updated_at: Set(a.updated_at),
    }
}

pub fn rule(row: rule::Model) -> Result<Rule> {
    Ok(Rule {
        id: row.id,
        position: row.position.max(0) as usize,
        name: row.name,
        enabled: row.enabled,
        conditions: from_json("rule conditions", row.conditions)?,
        actions: from_json("rule actions", row.actions)?,
        version: row.version,
        created_at: row.created_at,
        updated_at: row.updated_at,
    })
}

/// A rule's row; the id only when it has one.
pub fn rule_row(r: &Rule) -> Result<rule::ActiveModel> {
    let mut row = rule::ActiveModel {
        name: Set(r.name.clone()),
        position: Set(r.position as i64),
        enabled: Set(r.enabled),
        conditions: Set(to_json(&r.conditions)?),
        actions: Set(to_json(&r.actions)?),
        version: Set(r.version),
        created_at: Set(r.created_at),
        updated_at: Set(r.updated_at),
        ..Default::default()
    };
    if r.id != 0 {
        row.id = Set(r.id);
    }
    Ok(row)
}

pub fn template(row: survey_template::Model) -> Result<Template> {
    Ok(Template {
        id: row.id,
        display_name: row.display_name,
        questions: from_json("questions", row.questions)?,
        is_default: row.is_default,
        version: row.version,
        created_at: row.created_at,
        updated_at: row.updated_at,
    })
}

pub fn template_row(t: &Template) -> Result<survey_template::ActiveModel> {
    Ok(survey_template::ActiveModel {
        id: Set(t.id.clone()),
        display_name: Set(t.display_name.clone()),
        questions: Set(to_json(&t.questions)?),
        is_default: Set(t.is_default),
        version: Set(t.version),
        created_at: Set(t.created_at),
        updated_at: Set(t.updated_at),
    })
}

pub fn reply_template(row: reply_template::Model) -> Result<ReplyTemplate> {
    Ok(ReplyTemplate {
        id: row.id,
        title: row.title,
        team: row.team,
        body_zh: row.body_zh,
        body_en: row.body_en,
        variables: from_json("variables", row.variables)?,
        visibility: parse(&row.visibility)?,
        effects: from_json("changes", row.changes)?,
        created_by: row.created_by,
        version: row.version,
        created_at: row.created_at,
        updated_at: row.updated_at,
    })
}

pub fn reply_template_row(t: &ReplyTemplate) -> Result<reply_template::ActiveModel> {
    Ok(reply_template::ActiveModel {
        id: Set(t.id.clone()),
        title: Set(t.title.clone()),
        team: Set(t.team.clone()),
        body_zh: Set(t.body_zh.clone()),
        body_en: Set(t.body_en.clone()),
        variables: Set(to_json(&t.variables)?),
        visibility: Set(t.visibility.as_str().to_owned()),
        changes: Set(to_json(&t.effects)?),
        created_by: Set(t.created_by.clone()),
        version: Set(t.version),
        created_at: Set(t.created_at),
        updated_at: Set(t.updated_at),
    })
}

pub fn survey(row: survey::Model) -> Result<Survey> {
    Ok(Survey {
        id: row.id,
        token: row.token,
        ticket_id: row.ticket_id,
        template_id: row.template_id,
        questions: from_json("questions", row.questions)?,
        customer_key: row.customer_key,
        team: row.team,
        agent: row.agent,
        kind: parse(&row.kind)?,
        channel: parse(&row.channel)?,
        product: row.product,
        state: parse(&row.state)?,
        created_at: row.created_at,
        send_at: row.send_at,
        expire_at: row.expire_at,
        answered_at: row.answered_at,
        answers: row
            .answers
            .map(|a| from_json("answers", a))
            .transpose()?
            .unwrap_or_default(),
        scores: row
            .scores
            .map(|s| from_json("scores", s))
            .transpose()?
            .unwrap_or_default(),
        has_comment: row.has_comment,
        outcome: row.outcome.as_deref().map(parse).transpose()?,
    })
}

/// A new survey's row; the id is assigned by the database.
pub fn survey_row(s: &Survey) -> Result<survey::ActiveModel> {
    Ok(survey::ActiveModel {
        token: Set(s.token.clone()),
        ticket_id: Set(s.ticket_id),
        template_id: Set(s.template_id.clone()),
        questions: Set(to_json(&s.questions)?),
        customer_key: Set(s.customer_key.clone()),
        team: Set(s.team.clone()),
        agent: Set(s.agent.clone()),
        kind: Set(s.kind.as_str().to_owned()),
        channel: Set(s.channel.as_str().to_owned()),
        product: Set(s.product.clone()),
        state: Set(s.state.as_str().to_owned()),
        created_at: Set(s.created_at),
        send_at: Set(s.send_at),
        expire_at: Set(s.expire_at),
        answered_at: Set(s.answered_at),
        answers: Set(None),
        scores: Set(None),
        lowest_rating: Set(None),
        has_comment: Set(false),
        outcome: Set(None),
        ..Default::default()
    })
}

/// The columns a response sets on its survey.
pub fn response_row(s: &Survey) -> Result<survey::ActiveModel> {
    Ok(survey::ActiveModel {
        state: Set(s.state.as_str().to_owned()),
        answered_at: Set(s.answered_at),
        answers: Set(Some(to_json(&s.answers)?)),
        scores: Set(Some(to_json(&s.scores)?)),
        lowest_rating: Set(crate::domain::survey::lowest_rating(&s.scores)),
        has_comment: Set(s.has_comment),
        outcome: Set(s.outcome.map(|o| o.as_str().to_owned())),
        ..Default::default()
    })
}

pub fn calendar(row: calendar::Model) -> Result<BusinessCalendar> {
    let zone: chrono_tz::Tz = row
        .time_zone
        .parse()
        .map_err(|e| Error::Internal(format!("stored time zone: {e}")))?;
    let calendar = Calendar::new(
        zone,
        from_json("calendar week", row.week)?,
        from_json("calendar holidays", row.holidays)?,
        from_json("calendar extra days", row.extra_days)?,
    )
    .map_err(|e| Error::Internal(format!("stored calendar {}: {e}", row.id)))?;
    Ok(BusinessCalendar {
        id: row.id,
        display_name: row.display_name,
        calendar,
        version: row.version,
        created_at: row.created_at,
        updated_at: row.updated_at,
    })
}

pub fn calendar_row(c: &BusinessCalendar) -> Result<calendar::ActiveModel> {
    Ok(calendar::ActiveModel {
        id: Set(c.id.clone()),
        display_name: Set(c.display_name.clone()),
        time_zone: Set(c.calendar.zone().name().to_owned()),
        week: Set(to_json(c.calendar.week())?),
        holidays: Set(to_json(c.calendar.holidays())?),
        extra_days: Set(to_json(c.calendar.extra_days())?),
        version: Set(c.version),
        created_at: Set(c.created_at),
        updated_at: Set(c.updated_at),
    })
}

pub fn policy(row: sla_policy::Model) -> Result<Policy> {
    fn any(name: &str) -> Option<&str> {
        (!name.is_empty()).then_some(name)
    }
    let ms = chrono::Duration::milliseconds;
    Ok(Policy {
        id: row.id,
        display_name: row.display_name,
        priority: parse(&row.priority)?,
        kind: any(&row.kind).map(parse).transpose()?,
        tier: any(&row.tier).map(parse).transpose()?,
        targets: Targets {
            acknowledge: ms(row.acknowledge_ms),
            first_response: ms(row.first_response_ms),
            resolution: ms(row.resolution_ms),
        },
        basis: parse(&row.basis)?,
        escalations: from_json("escalations", row.escalations)?,
        version: row.version,
        created_at: row.created_at,
        updated_at: row.updated_at,
    })
}

pub fn policy_row(p: &Policy) -> Result<sla_policy::ActiveModel> {
    Ok(sla_policy::ActiveModel {
        id: Set(p.id.clone()),
        display_name: Set(p.display_name.clone()),
        priority: Set(p.priority.as_str().to_owned()),
        kind: Set(p.kind.map(|k| k.as_str()).unwrap_or_default().to_owned()),
        tier: Set(p.tier.map(|t| t.as_str()).unwrap_or_default().to_owned()),
        basis: Set(p.basis.as_str().to_owned()),
        acknowledge_ms: Set(p.targets.acknowledge.num_milliseconds()),
        first_response_ms: Set(p.targets.first_response.num_milliseconds()),
        resolution_ms: Set(p.targets.resolution.num_milliseconds()),
        escalations: Set(to_json(&p.escalations)?),
        version: Set(p.version),
        created_at: Set(p.created_at),
        updated_at: Set(p.updated_at),
    })
}

pub fn config_change(row: config_change::Model) -> Result<ConfigChange> {
    Ok(ConfigChange {
        id: row.id,
        resource: row.resource,
        key: row.key,
        action: parse(&row.action)?,
        actor: row.actor,
        peer: row.peer,
        occurred_at: row.occurred_at,
        before: row.before,
        after: row.after,
    })
}

/// The row recording a configuration change; the id (its cursor) is assigned by the database.
pub fn config_change_row(c: &ConfigChange) -> config_change::ActiveModel {
    config_change::ActiveModel {
        resource: Set(c.resource.clone()),
        key: Set(c.key.clone()),
        action: Set(c.action.as_str().to_owned()),
        actor: Set(c.actor.clone()),
        peer: Set(c.peer.clone()),
        occurred_at: Set(c.occurred_at),
        before: Set(c.before.clone()),
        after: Set(c.after.clone()),
        ..Default::default()
    }
}

pub fn webhook(row: &webhook::Model) -> Result<Webhook> {
    Ok(Webhook {
        id: row.id.clone(),
        display_name: row.display_name.clone(),
        url: row.url.clone(),
        event_types: from_json("webhook event types", row.event_types.clone())?,
        teams: from_json("webhook teams", row.teams.clone())?,
        secret: row.secret.clone(),
        max_attempts: row.max_attempts.map(|n| n.max(1) as u32),
        paused: row.paused,
        version: row.version,
        created_at: row.created_at,
        updated_at: row.updated_at,
    })
}

pub fn circuit(row: &webhook::Model) -> Circuit {
    Circuit {
        consecutive_failures: row.consecutive_failures.max(0) as u32,
        open_until: row.circuit_open_until,
        last_success_at: row.last_success_at,
        last_failure_at: row.last_failure_at,
        last_error: row.last_error.clone(),
    }
}

/// A webhook's configuration columns; how its delivery stands is left as it is.
pub fn webhook_row(w: &Webhook) -> Result<webhook::ActiveModel> {
    Ok(webhook::ActiveModel {
        id: Set(w.id.clone()),
        display_name: Set(w.display_name.clone()),
        url: Set(w.url.clone()),
        event_types: Set(to_json(&w.event_types)?),
        teams: Set(to_json(&w.teams)?),
        secret: Set(w.secret.clone()),
        max_attempts: Set(w.max_attempts.map(|n| n as i32)),
        paused: Set(w.paused),
        version: Set(w.version),
        created_at: Set(w.created_at),
        updated_at: Set(w.updated_at),
        ..Default::default()
    })
}

pub fn delivery(row: webhook_delivery::Model) -> Result<Delivery> {
    Ok(Delivery {
        id: row.id,
        webhook_id: row.webhook_id,
        event_cursor: row.event_cursor,
        event_type: parse(&row.event_type)?,
        ticket_id: row.ticket_id,
        state: parse(&row.state)?,
        attempts: row.attempts.max(0) as u32,
        next_attempt_at: row.next_attempt_at,
        event_at: row.event_at,
        created_at: row.created_at,
        delivered_at: row.delivered_at,
        redelivery: row.redelivery,
    })
}

pub fn attempt(row: webhook_attempt::Model) -> Attempt {
    Attempt {
        number: row.number.max(0) as u32,
        started_at: row.started_at,
        duration: chrono::Duration::milliseconds(row.duration_ms),
        http_status: row.http_status.and_then(|s| u16::try_from(s).ok()),
        error: row.error,
    }
}

pub fn api_key(row: api_key::Model) -> Result<ApiKey> {
    Ok(ApiKey {
        role: parse(&row.role)?,
        teams: from_json("key teams", row.teams)?,
        name: row.name,
        agent: row.agent,
        customer: row.customer,
        hash: row.hash,
        prefix: row.prefix,
        created_by: row.created_by,
        revoked_at: row.revoked_at,
        version: row.version,
        created_at: row.created_at,
        updated_at: row.updated_at,
    })
}

pub fn api_key_row(k: &ApiKey) -> Result<api_key::ActiveModel> {
    Ok(api_key::ActiveModel {
        name: Set(k.name.clone()),
        role: Set(k.role.as_str().to_owned()),
        teams: Set(to_json(&k.teams)?),
        agent: Set(k.agent.clone()),
        customer: Set(k.customer.clone()),
        hash: Set(k.hash.clone()),
        prefix: Set(k.prefix.clone()),
        created_by: Set(k.created_by.clone()),
        revoked_at: Set(k.revoked_at),
        version: Set(k.version),
        created_at: Set(k.created_at),
        updated_at: Set(k.updated_at),
    })
}

pub fn blocked_sender(row: blocked_sender::Model) -> Result<BlockedSender> {
    Ok(BlockedSender {
        kind: parse(&row.kind)?,
        value: row.value,
        reason: row.reason,
        until: row.until,
        ticket: row.ticket,
        created_by: row.created_by,
        version: row.version,
        created_at: row.created_at,
        updated_at: row.updated_at,
    })
}

pub fn blocked_sender_row(b: &BlockedSender) -> blocked_sender::ActiveModel {
    blocked_sender::ActiveModel {
        key: Set(b.key()),
        kind: Set(b.kind.as_str().to_owned()),
        value: Set(b.value.clone()),
        reason: Set(b.reason.clone()),
        until: Set(b.until),
        ticket: Set(b.ticket.clone()),
        created_by: Set(b.created_by.clone()),
        version: Set(b.version),
        created_at: Set(b.created_at),
        updated_at: Set(b.updated_at),
    }
}

pub fn task(row: task::Model) -> Result<Task> {
    Ok(Task {
        id: row.id,
        ticket_id: row.ticket_id,
        ticket_number: row.ticket_number,
        team: row.team,
        agent: row.agent,
        ask: row.ask,
        status: parse(&row.status)?,
        milestone: row.milestone,
        clocks: from_json("clocks", row.clocks)?,
        calendar: row.calendar,
        note: row.note,
        request_id: row.request_id,
        created_by: row.created_by,
        accepted_by: row.accepted_by,
        created_at: row.created_at,
        updated_at: row.updated_at,
        accepted_at: row.accepted_at,
        finished_at: row.finished_at,
        version: row.version,
    })
}

/// A task's row; the id is the database's for a new one.
pub fn task_row(t: &Task) -> Result<task::ActiveModel> {
    Ok(task::ActiveModel {
        ticket_id: Set(t.ticket_id),
        ticket_number: Set(t.ticket_number.clone()),
        team: Set(t.team.clone()),
        agent: Set(t.agent.clone()),
        ask: Set(t.ask.clone()),
        status: Set(t.status.as_str().to_owned()),
        milestone: Set(t.milestone.clone()),
        clocks: Set(to_json(&t.clocks)?),
        calendar: Set(t.calendar.clone()),
        wake_at: Set(t.wake_at()),
        note: Set(t.note.clone()),
        request_id: Set(t.request_id.clone()),
        created_by: Set(t.created_by.clone()),
        accepted_by: Set(t.accepted_by.clone()),
        created_at: Set(t.created_at),
        updated_at: Set(t.updated_at),
        accepted_at: Set(t.accepted_at),
        finished_at: Set(t.finished_at),
        version: Set(t.version),
        ..Default::default()
    })
}

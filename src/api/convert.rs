//! Domain values ↔ protobuf messages.

use chrono::{DateTime, Utc};
use prost_types::Timestamp;

use crate::domain::calendar::BusinessCalendar;
use crate::domain::error::Versioned;
use crate::domain::{
    abuse, access, assignment, event, insights, link, notification, period, reply, rules, sla,
    staff, survey, task, ticket, webhook,
};
use crate::proto::feedback::v1 as pb;

/// Pairs each protobuf enum with its domain twin, variant by variant, both ways. The
/// protobuf's `*_UNSPECIFIED` has no twin: it decodes to `None`.
macro_rules! enum_pairs {
    ($($pb:ident <=> $domain:path { $first:ident $(, $variant:ident)* $(,)? })+) => {$(
        enum_pairs!(@pair $pb <=> $domain { $first, $($variant),* } $first);
    )+};
    (@pair $pb:ident <=> $domain:path { $($variant:ident),+ } $first:ident) => {
        impl From<$domain> for pb::$pb {
            fn from(value: $domain) -> Self {
                use $domain as D;
                match value { $(D::$variant => pb::$pb::$variant),+ }
            }
        }

        impl EnumField for $domain {
            const PLACEHOLDER: Self = Self::$first;

            fn from_wire(value: i32) -> Result<Option<Self>, ()> {
                use $domain as D;
                match pb::$pb::try_from(value).map_err(|_| ())? {
                    pb::$pb::Unspecified => Ok(None),
                    $(pb::$pb::$variant => Ok(Some(D::$variant)),)+
                }
            }
        }
    };
}

/// A domain enum as it arrives in a request: an `i32` that may be unspecified or unknown.
pub trait EnumField: Sized {
    /// A value that stands in for a missing or unknown one in a request that is refused
    /// anyway, so that checking never stops at the first bad field.
    const PLACEHOLDER: Self;

    /// `Ok(None)` for unspecified, `Err` for a number the API does not define.
    fn from_wire(value: i32) -> Result<Option<Self>, ()>;
}

enum_pairs! {
    Channel <=> ticket::Channel { Hotline, App, WebForm, Email, SocialMedia, Wechat, InPerson, Api }
    TicketKind <=> ticket::Kind { Suggestion, Complaint, Problem, Inquiry }
    Priority <=> ticket::Priority { Urgent, High, Medium, Low }
    TicketStatus <=> ticket::Status {
        New, Assigned, Acknowledged, InProgress, PendingCustomer, Resolved, Closed, Reopened,
        Quarantined
    }
    CustomerTier <=> ticket::Tier { Standard, Premium, Vip }
    Dimension <=> insights::Dimension {
        Kind, Channel, Team, Agent, Product, Category, CustomerTier, Priority
    }
    TimeBucket <=> period::Bucket { Hour, Day, Week, Month }
    CommentVisibility <=> ticket::Visibility { Public, Internal }
    AuthorRole <=> ticket::AuthorRole { Agent, Customer }
    AssignmentStrategy <=> assignment::Strategy { RoundRobin, LeastLoaded, Skills }
    Availability <=> assignment::Availability { Online, Away, Offline }
    EventType <=> event::EventType {
        TicketCreated, TicketUpdated, TicketAssigned, TicketAcknowledged, CommentAdded,
        TicketPending, TicketResumed, TicketResolved, TicketClosed, TicketReopened,
        SurveyInvited, SurveyAnswered, SurveyExpired, SlaStarted, SlaPaused, SlaResumed, SlaMet,
        SlaRecomputed, SlaRestarted, SlaAtRisk, SlaBreached, SlaEscalated, Notification,
        TicketQuarantined, TicketReleased, AbuseConfirmed, TaskCreated, TaskAccepted,
        TaskCompleted, TaskDeclined, TaskCancelled, TaskAtRisk, TaskOverdue, TicketLinked,
        TicketUnlinked, AttachmentAdded, AttachmentRemoved
    }
    TaskStatus <=> task::TaskStatus { Open, Accepted, Done, Declined, Cancelled }
    LinkKind <=> link::LinkKind { Parent, Child, Related, MergedInto, MergedFrom }
    SlaTarget <=> sla::Target { Acknowledge, FirstResponse, Resolution }
    SlaClockState <=> sla::ClockState { Running, Paused, Met, Breached }
    SlaBasis <=> sla::Basis { CalendarTime, BusinessHours }
    SlaTrigger <=> sla::Trigger { AtRisk, Breached }
    EscalationAction <=> sla::EscalationAction {
        NotifySupervisor, RaisePriority, ReassignToSupervisor, ReassignToTeam
    }
    Resolution <=> ticket::Resolution { Solved, Spam, Merged }
    SurveyOutcome <=> survey::Outcome { Closed, Reopened, Recorded }
    SurveyState <=> survey::SurveyState { Scheduled, Open, Answered, Expired, Withdrawn }
    NotificationKind <=> notification::NotificationKind {
        Acknowledgement, Assignment, Progress, SurveyInvitation, Escalation
    }
    DeliveryState <=> webhook::DeliveryState { Pending, Delivered, Dead }
    Role <=> access::Role { Admin, Supervisor, Agent, Connector, Customer, Analyst }
    SenderKind <=> abuse::SenderKind { Customer, Phone, Email }
}

pub fn timestamp(time: DateTime<Utc>) -> Timestamp {
    Timestamp {
        seconds: time.timestamp(),
        nanos: time.timestamp_subsec_nanos() as i32,
    }
}

fn optional_timestamp(time: Option<DateTime<Utc>>) -> Option<Timestamp> {
    time.map(timestamp)
}

/// A timestamp from a request, or `None` when it is out of range.
pub fn from_timestamp(ts: &Timestamp) -> Option<DateTime<Utc>> {
    if !(0..1_000_000_000).contains(&ts.nanos) {
        return None;
    }
    DateTime::from_timestamp(ts.seconds, ts.nanos as u32)
}

pub fn ticket(t: ticket::Ticket) -> pb::Ticket {
    let etag = t.etag();
    pb::Ticket {
        id: t.id,
        number: t.number,
        channel: pb::Channel::from(t.channel).into(),
        kind: pb::TicketKind::from(t.kind).into(),
        status: pb::TicketStatus::from(t.status).into(),
        priority: pb::Priority::from(t.priority).into(),
        title: t.title,
        description: t.description,
        expected_outcome: t.expected_outcome,
        product: t.product,
        customer: Some(customer(t.customer)),
        tags: t.tags,
        occurred_at: optional_timestamp(t.occurred_at),
        metadata: t.metadata.into_iter().collect(),
        team: t.team.unwrap_or_default(),
        assignee: t.assignee.unwrap_or_default(),
        owner: t.owner.unwrap_or_default(),
        resolution_summary: t.resolution_summary.unwrap_or_default(),
        reopen_count: t.reopen_count,
        create_time: Some(timestamp(t.created_at)),
        update_time: Some(timestamp(t.updated_at)),
        assign_time: optional_timestamp(t.assigned_at),
        acknowledge_time: optional_timestamp(t.acknowledged_at),
        first_response_time: optional_timestamp(t.first_responded_at),
        resolve_time: optional_timestamp(t.resolved_at),
        close_time: optional_timestamp(t.closed_at),
        etag,
        request_id: t.request_id.unwrap_or_default(),
        status_reason: t.status_reason.unwrap_or_default(),
        category: t.category.unwrap_or_default(),
        priority_reasons: t.priority_reasons,
        repeat_of: t.repeat_of.unwrap_or_default(),
        routing_reason: t.routing_reason.unwrap_or_default(),
        assignment_strategy: t
            .assignment_strategy
            .map_or(0, |s| pb::AssignmentStrategy::from(s).into()),
        resolution: t.resolution.map_or(0, |r| pb::Resolution::from(r).into()),
        merged_into: t.merged_into.unwrap_or_default(),
        sla: Some(ticket_sla(t.sla)),
        open_tasks: t.open_tasks as i32,
        repeat_count: t
            .links
            .iter()
            .filter(|l| l.kind == link::LinkKind::MergedFrom)
            .count() as i32,
        links: t.links.into_iter().map(ticket_link).collect(),
        task_teams: t.task_teams,
    }
}

pub fn ticket_link(l: link::Link) -> pb::TicketLink {
    pb::TicketLink {
        kind: pb::LinkKind::from(l.kind).into(),
        ticket_id: l.ticket_id,
        ticket_number: l.number,
    }
}

pub fn task(t: task::Task) -> pb::Task {
    let etag = t.etag();
    let overdue = t.overdue();
    pb::Task {
        id: t.id,
        ticket_id: t.ticket_id,
        ticket_number: t.ticket_number,
        team: t.team,
        agent: t.agent.unwrap_or_default(),
        ask: t.ask,
        status: pb::TaskStatus::from(t.status).into(),
        milestone: t.milestone.unwrap_or_default(),
        accept_clock: Some(recorded_clock(&t.clocks.accept)),
        answer_clock: Some(recorded_clock(&t.clocks.answer)),
        calendar: t.calendar.unwrap_or_default(),
        note: t.note.unwrap_or_default(),
        created_by: t.created_by,
        accepted_by: t.accepted_by.unwrap_or_default(),
        create_time: Some(timestamp(t.created_at)),
        update_time: Some(timestamp(t.updated_at)),
        accept_time: optional_timestamp(t.accepted_at),
        finish_time: optional_timestamp(t.finished_at),
        overdue,
        etag,
    }
}

fn ticket_sla(s: sla::Sla) -> pb::TicketSla {
    pb::TicketSla {
        policy: s.policy.unwrap_or_default(),
        calendar: s.calendar.unwrap_or_default(),
        clocks: s.clocks.iter().map(recorded_clock).collect(),
        escalation_level: s.escalation_level as i32,
        off_hours_until: optional_timestamp(s.off_hours_until),
    }
}

/// A clock as last recorded, without a calendar at hand.
fn recorded_clock(c: &sla::SlaClock) -> pb::SlaClock {
    sla_clock(c, c.used(), c.recorded_at())
}

/// A clock with the working time it used by `as_of`.
pub fn sla_clock(
    c: &sla::SlaClock,
    elapsed: chrono::Duration,
    as_of: DateTime<Utc>,
) -> pb::SlaClock {
    pb::SlaClock {
        target: pb::SlaTarget::from(c.target).into(),
        state: pb::SlaClockState::from(c.state).into(),
        budget: Some(duration(c.budget)),
        due_time: optional_timestamp(c.due),
        at_risk_time: optional_timestamp(c.at_risk_at),
        elapsed: Some(duration(elapsed)),
        elapsed_as_of: Some(timestamp(as_of)),
        paused: Some(duration(c.paused(as_of))),
        start_time: Some(timestamp(c.started_at)),
        stop_time: optional_timestamp(c.stopped_at),
        at_risk: c.warned,
    }
}

pub fn duration(d: chrono::Duration) -> prost_types::Duration {
    prost_types::Duration {
        seconds: d.num_seconds(),
        nanos: d.subsec_nanos(),
    }
}

/// A duration from a request, or `None` when it is out of chrono's range or not a valid
/// protobuf Duration (nanos of another sign than the seconds, or a second or more).
pub fn from_duration(d: &prost_types::Duration) -> Option<chrono::Duration> {
    let same_sign = d.seconds == 0 || d.nanos == 0 || (d.seconds > 0) == (d.nanos > 0);
    if d.nanos.abs() >= 1_000_000_000 || !same_sign {
        return None;
    }
    chrono::Duration::try_seconds(d.seconds)?
        .checked_add(&chrono::Duration::nanoseconds(d.nanos.into()))
}

pub fn policy(p: sla::Policy) -> pb::SlaPolicy {
    pb::SlaPolicy {
        etag: p.etag(),
        id: p.id,
        display_name: p.display_name,
        priority: pb::Priority::from(p.priority).into(),
        kind: p.kind.map_or(0, |k| pb::TicketKind::from(k).into()),
        tier: p.tier.map_or(0, |t| pb::CustomerTier::from(t).into()),
        acknowledge_within: Some(duration(p.targets.acknowledge)),
        first_response_within: Some(duration(p.targets.first_response)),
        resolve_within: Some(duration(p.targets.resolution)),
        basis: pb::SlaBasis::from(p.basis).into(),
        escalation_levels: p
            .escalations
            .into_iter()
            .map(|l| pb::EscalationLevel {
                target: pb::SlaTarget::from(l.target).into(),
                trigger: pb::SlaTrigger::from(l.trigger).into(),
                actions: l
                    .actions
                    .into_iter()
                    .map(|a| pb::EscalationAction::from(a).into())
                    .collect(),
                team: l.team.unwrap_or_default(),
            })
            .collect(),
        create_time: Some(timestamp(p.created_at)),
        update_time: Some(timestamp(p.updated_at)),
    }
}

pub fn calendar(c: BusinessCalendar) -> pb::Calendar {
    let periods = |periods: &[crate::domain::calendar::Period]| {
        periods
            .iter()
            .map(|p| pb::WorkingPeriod {
                start: p.start(),
                end: p.end(),
            })
            .collect()
    };
    let rules = &c.calendar;
    pb::Calendar {
        etag: c.etag(),
        id: c.id,
        display_name: c.display_name,
        time_zone: rules.zone().name().to_owned(),
        weekly_hours: (1..)
            .zip(rules.week())
            .filter(|(_, p)| !p.is_empty())
            .map(|(weekday, p)| pb::WeekdayHours {
                weekday,
                periods: periods(p),
            })
            .collect(),
        holidays: rules.holidays().iter().map(|d| d.to_string()).collect(),
        extra_working_days: rules
            .extra_days()
            .iter()
            .map(|(date, p)| pb::ExtraWorkingDay {
                date: date.to_string(),
                periods: periods(p),
            })
            .collect(),
        description: rules.describe(),
        create_time: Some(timestamp(c.created_at)),
        update_time: Some(timestamp(c.updated_at)),
    }
}

fn customer(c: ticket::Customer) -> pb::Customer {
    pb::Customer {
        external_id: c.external_id,
        name: c.name,
        phone: c.phone,
        email: c.email,
        tier: pb::CustomerTier::from(c.tier).into(),
        language: c
            .language
            .map(|l| l.as_str().to_owned())
            .unwrap_or_default(),
    }
}

pub fn comment(c: ticket::Comment) -> pb::Comment {
    pb::Comment {
        id: c.id,
        ticket_id: c.ticket_id,
        visibility: pb::CommentVisibility::from(c.visibility).into(),
        author: c.author,
        author_role: pb::AuthorRole::from(c.author_role).into(),
        body: c.body,
        create_time: Some(timestamp(c.created_at)),
        attachments: Vec::new(),
    }
}

pub fn attachment(a: crate::domain::attachment::Attachment) -> pb::Attachment {
    pb::Attachment {
        id: a.id,
        ticket_id: a.ticket_id,
        comment_id: a.comment_id.unwrap_or_default(),
        file_name: a.file_name,
        content_type: a.content_type,
        declared_content_type: a.declared_type.unwrap_or_default(),
        size_bytes: a.size,
        sha256: a.sha256,
        visibility: pb::CommentVisibility::from(a.visibility).into(),
        uploaded_by: a.uploaded_by,
        uploaded_via: a.uploaded_via.unwrap_or_default(),
        create_time: Some(timestamp(a.created_at)),
    }
}

/// An event as the history shows it: without a survey's token, which only the live stream
/// carries, for the connector that delivers it.
pub fn history_event(mut e: event::TicketEvent) -> pb::TicketEvent {
    e.hide_survey_token();
    event(e)
}

pub fn event(e: event::TicketEvent) -> pb::TicketEvent {
    let notification = e
        .notification
        .map(|n| self::notification(n, &e.ticket.customer));
    pb::TicketEvent {
        notification,
        cursor: e.cursor,
        ticket_id: e.ticket_id,
        r#type: pb::EventType::from(e.event_type).into(),
        actor: e.actor,
        acted_by: e.via.unwrap_or_default(),
        time: Some(timestamp(e.occurred_at)),
        changes: e.changes.into_iter().map(field_change).collect(),
        reason: e.reason.unwrap_or_default(),
        comment: e.comment.map(comment),
        task: e.task.map(|n| task(n.task)),
        link: e.link.map(ticket_link),
        attachment: e.attachment.map(attachment),
        ticket: Some(ticket(e.ticket)),
        sla: e.sla.map(|n| {
            let escalation = n.escalation.unwrap_or(event::Escalation {
                level: 0,
                actions: Vec::new(),
                notify: None,
            });
            pb::SlaEventDetail {
                targets: n
                    .targets
                    .into_iter()
                    .map(|t| pb::SlaTarget::from(t).into())
                    .collect(),
                escalation_level: escalation.level as i32,
                actions: escalation
                    .actions
                    .into_iter()
                    .map(|a| pb::EscalationAction::from(a).into())
                    .collect(),
                notify: escalation.notify.unwrap_or_default(),
            }
        }),
        survey: e.survey.map(|s| pb::SurveyRef {
            survey_id: s.survey_id,
            token: s.token.unwrap_or_default(),
            template_id: s.template_id,
            expire_time: Some(timestamp(s.expire_at)),
            score: s.score.unwrap_or_default(),
            outcome: s.outcome.map_or(0, |o| pb::SurveyOutcome::from(o).into()),
        }),
    }
}

/// A notification; a customer recipient is `customer`, with their contact details.
fn notification(n: notification::Notification, to: &ticket::Customer) -> pb::Notification {
    pb::Notification {
        kind: pb::NotificationKind::from(n.kind).into(),
        recipient: Some(pb::NotificationRecipient {
            who: Some(match n.recipient {
                notification::Recipient::Customer => {
                    pb::notification_recipient::Who::Customer(customer(to.clone()))
                }
                notification::Recipient::Agent(id) => pb::notification_recipient::Who::AgentId(id),
            }),
        }),
        channel: n.channel.map_or(0, |c| pb::Channel::from(c).into()),
        language: n.language.as_str().to_owned(),
        text: n.text,
        link: n.link.unwrap_or_default(),
    }
}

pub fn team(t: staff::Team) -> pb::Team {
    let etag = t.etag();
    pb::Team {
        id: t.id,
        display_name: t.display_name,
        supervisor: t.supervisor.unwrap_or_default(),
        time_zone: t.time_zone,
        calendar: t.calendar.unwrap_or_default(),
        strategy: pb::AssignmentStrategy::from(t.strategy).into(),
        members: t.members,
        queued_tickets: t.queued as i32,
        etag,
        create_time: Some(timestamp(t.created_at)),
        update_time: Some(timestamp(t.updated_at)),
    }
}

pub fn agent(a: staff::Agent) -> pb::Agent {
    let etag = a.etag();
    pb::Agent {
        id: a.id,
        display_name: a.display_name,
        teams: a.teams,
        skills: a.skills,
        capacity: a.capacity as i32,
        availability: pb::Availability::from(a.availability).into(),
        open_tickets: a.open_tickets as i32,
        etag,
        create_time: Some(timestamp(a.created_at)),
        update_time: Some(timestamp(a.updated_at)),
    }
}

/// A rule at its position (1 = tried first).
pub fn rule(r: rules::Rule) -> pb::RoutingRule {
    let etag = r.etag();
    let c = r.conditions;
    let a = r.actions;
    pb::RoutingRule {
        id: r.id,
        name: r.name,
        position: i32::try_from(r.position).unwrap_or(i32::MAX),
        disabled: !r.enabled,
        conditions: Some(pb::RuleConditions {
            kinds: c
                .kinds
                .into_iter()
                .map(|v| pb::TicketKind::from(v).into())
                .collect(),
            channels: c
                .channels
                .into_iter()
                .map(|v| pb::Channel::from(v).into())
                .collect(),
            products: c.products,
            categories: c.categories,
            tiers: c
                .tiers
                .into_iter()
                .map(|v| pb::CustomerTier::from(v).into())
                .collect(),
            priorities: c
                .priorities
                .into_iter()
                .map(|v| pb::Priority::from(v).into())
                .collect(),
            tags: c.tags,
            keywords: c.keywords,
        }),
        actions: Some(pb::RuleActions {
            team: a.team.unwrap_or_default(),
            category: a.category.unwrap_or_default(),
            priority_floor: a.priority_floor.map_or(0, |p| pb::Priority::from(p).into()),
            tags: a.tags,
            strategy: a
                .strategy
                .map_or(0, |s| pb::AssignmentStrategy::from(s).into()),
        }),
        etag,
        create_time: Some(timestamp(r.created_at)),
        update_time: Some(timestamp(r.updated_at)),
    }
}

pub fn question(q: survey::Question) -> pb::SurveyQuestion {
    let (kind, options, max_length) = match q.kind {
        survey::QuestionKind::Rating => (pb::QuestionType::Rating, Vec::new(), 0),
        survey::QuestionKind::Nps => (pb::QuestionType::Nps, Vec::new(), 0),
        survey::QuestionKind::Choice(options) => (pb::QuestionType::Choice, options, 0),
        survey::QuestionKind::Text(max) => (pb::QuestionType::Text, Vec::new(), max as i32),
    };
    pb::SurveyQuestion {
        key: q.key,
        prompt: q.prompt,
        r#type: kind.into(),
        required: q.required,
        options,
        max_length,
        translations: q
            .translations
            .into_iter()
            .map(|(language, prompt)| (language.as_str().to_owned(), prompt))
            .collect(),
    }
}

pub fn template(t: survey::Template) -> pb::SurveyTemplate {
    pb::SurveyTemplate {
        etag: t.etag(),
        id: t.id,
        display_name: t.display_name,
        questions: t.questions.into_iter().map(question).collect(),
        default: t.is_default,
        create_time: Some(timestamp(t.created_at)),
        update_time: Some(timestamp(t.updated_at)),
    }
}

/// One field's change, as events and previews show it.
pub fn field_change(c: event::FieldChange) -> pb::FieldChange {
    pb::FieldChange {
        field: c.field,
        before: c.before,
        after: c.after,
    }
}

pub fn reply_template(t: reply::ReplyTemplate) -> pb::ReplyTemplate {
    use reply::VariableKind as K;
    let e = t.effects.clone();
    pb::ReplyTemplate {
        etag: t.etag(),
        id: t.id,
        title: t.title,
        body_zh: t.body_zh,
        body_en: t.body_en,
        variables: t
            .variables
            .into_iter()
            .map(|v| {
                let (kind, choices) = match v.kind {
                    K::Text => (pb::ReplyVariableType::Text, Vec::new()),
                    K::Number => (pb::ReplyVariableType::Number, Vec::new()),
                    K::Date => (pb::ReplyVariableType::Date, Vec::new()),
                    K::Choice(choices) => (pb::ReplyVariableType::Choice, choices),
                };
                pb::ReplyVariable {
                    name: v.name,
                    r#type: kind.into(),
                    required: v.required,
                    default_value: v.default.unwrap_or_default(),
                    choices,
                    label: v.label,
                }
            })
            .collect(),
        team: t.team.unwrap_or_default(),
        visibility: pb::CommentVisibility::from(t.visibility).into(),
        changes: Some(pb::ReplyFieldChanges {
            status: e.status.map_or(0, |s| pb::TicketStatus::from(s).into()),
            priority: e.priority.map_or(0, |p| pb::Priority::from(p).into()),
            add_tags: e.add_tags,
            remove_tags: e.remove_tags,
            resolution_summary: e.resolution_summary.unwrap_or_default(),
        }),
        create_time: Some(timestamp(t.created_at)),
        update_time: Some(timestamp(t.updated_at)),
        created_by: t.created_by,
    }
}

pub fn invitation(s: survey::Survey) -> pb::SurveyInvitation {
    pb::SurveyInvitation {
        survey_id: s.id,
        ticket_id: s.ticket_id,
        score: survey::lowest_rating(&s.scores).unwrap_or_default(),
        outcome: s.outcome.map_or(0, |o| pb::SurveyOutcome::from(o).into()),
        submit_time: optional_timestamp(s.answered_at),
        template_id: s.template_id,
        token: s.token,
        state: pb::SurveyState::from(s.state).into(),
        send_time: Some(timestamp(s.send_at)),
        expire_time: Some(timestamp(s.expire_at)),
    }
}

/// An SLA event as ExplainSla's timeline shows it.
pub fn timeline_entry(e: event::TicketEvent) -> pb::SlaTimelineEntry {
    let note = e.sla.unwrap_or_default();
    pb::SlaTimelineEntry {
        time: Some(timestamp(e.occurred_at)),
        r#type: pb::EventType::from(e.event_type).into(),
        targets: note
            .targets
            .into_iter()
            .map(|t| pb::SlaTarget::from(t).into())
            .collect(),
        reason: e.reason.unwrap_or_default(),
        escalation_level: note.escalation.map_or(0, |x| x.level as i32),
        cursor: e.cursor,
    }
}

/// The answers of a response, in question order.
fn answers(s: &survey::Survey) -> Vec<pb::SurveyAnswer> {
    use pb::survey_answer::Value;
    s.questions
        .iter()
        .filter_map(|q| {
            let value = match s.answers.get(&q.key)? {
                survey::Answer::Score(score) => Value::Score(*score),
                survey::Answer::Choice(choice) => Value::Choice(choice.clone()),
                survey::Answer::Text(text) => Value::Text(text.clone()),
            };
            Some(pb::SurveyAnswer {
                question_key: q.key.clone(),
                value: Some(value),
            })
        })
        .collect()
}

pub fn response(s: survey::Survey, ticket_number: String) -> pb::SurveyResponse {
    pb::SurveyResponse {
        survey_id: s.id,
        ticket_id: s.ticket_id,
        ticket_number,
        answers: answers(&s),
        score: survey::lowest_rating(&s.scores).unwrap_or_default(),
        has_comment: s.has_comment,
        outcome: s.outcome.map_or(0, |o| pb::SurveyOutcome::from(o).into()),
        send_time: Some(timestamp(s.send_at)),
        submit_time: optional_timestamp(s.answered_at),
        kind: pb::TicketKind::from(s.kind).into(),
        channel: pb::Channel::from(s.channel).into(),
        template_id: s.template_id,
        team: s.team.unwrap_or_default(),
        agent: s.agent.unwrap_or_default(),
        product: s.product,
    }
}

pub fn figures(s: survey::Stats) -> pb::SurveyFigures {
    pb::SurveyFigures {
        invitations: s.invitations as i64,
        responses: s.responses as i64,
        response_rate: s.response_rate,
        csat: s.csat,
        averages: s
            .averages
            .into_iter()
            .map(|(question_key, (average, answers))| pb::QuestionAverage {
                question_key,
                average,
                answers: answers as i64,
            })
            .collect(),
        nps: s.nps,
        nps_answers: s.nps_answers as i64,
        reopened_by_survey: s.reopened as i64,
    }
}

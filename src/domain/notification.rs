//! The messages the loop sends to people — the acknowledgement, the assignee's to-do
//! reminder, progress at milestones, the survey invitation, escalation alerts — decided from
//! the events of a change and written in the reader's language. They are recorded as
//! NOTIFICATION events in the change's own transaction, so whatever delivers them (a webhook
//! to an SMS gateway, a desk watching the stream) gets each exactly when its change commits.

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};

use super::acknowledgement::Acknowledgement;
use super::event::{EventType, TicketEvent, actor};
use super::language::Language;
use super::link::LinkKind;
use super::sla::Target;
use super::ticket::{AuthorRole, Channel, Resolution, Ticket, Visibility, named_enum};

named_enum!(
    /// Why a notification is sent.
    NotificationKind {
        Acknowledgement = "ACKNOWLEDGEMENT",
        Assignment = "ASSIGNMENT",
        Progress = "PROGRESS",
        SurveyInvitation = "SURVEY_INVITATION",
        Escalation = "ESCALATION",
    }
);

/// Whom a notification is for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Recipient {
    /// The ticket's customer, reached by the ticket's contact details.
    Customer,
    /// A member of staff.
    Agent(String),
}

/// A message to one person.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Notification {
    pub kind: NotificationKind,
    pub recipient: Recipient,
    /// The customer's channel; `None` for staff.
    pub channel: Option<Channel>,
    pub language: Language,
    pub text: String,
    /// The survey link, for an invitation with a link template.
    pub link: Option<String>,
}

/// How notifications are written.
#[derive(Debug, Clone)]
pub struct Notifier {
    /// What staff read (customers read their own language).
    pub staff_language: Language,
    /// The zone times are written in for staff.
    pub zone: Tz,
    /// The survey link with `{token}` where the token goes; `None`: no link.
    pub survey_link: Option<String>,
}

impl Notifier {
    /// The notification events that `events` (the events of one change, in order) call for,
    /// each following its cause.
    pub fn for_events(&self, events: &[TicketEvent]) -> Vec<TicketEvent> {
        events
            .iter()
            .flat_map(|e| self.for_event(e).into_iter().map(move |n| event(e, n)))
            .collect()
    }

    /// The customer's acknowledgement of a ticket just taken in, as its reply says it.
    pub fn acknowledgement(&self, created: &TicketEvent, ack: &Acknowledgement) -> TicketEvent {
        let t = &created.ticket;
        event(
            created,
            Notification {
                kind: NotificationKind::Acknowledgement,
                recipient: Recipient::Customer,
                channel: Some(t.channel),
                language: t.language(),
                text: ack.text.clone(),
                link: None,
            },
        )
    }

    fn for_event(&self, e: &TicketEvent) -> Vec<Notification> {
        let t = &e.ticket;
        let mut out = Vec::new();
        if e.event_type == EventType::SlaEscalated
            && let Some(escalation) = e.sla.as_ref().and_then(|s| s.escalation.as_ref())
            && let Some(supervisor) = &escalation.notify
        {
            let why = e.reason.as_deref().unwrap_or_default();
            let text = match self.staff_language {
                Language::Zh => format!("工单 {}「{}」已升级：{why}", t.number, t.title),
                Language::En => format!("Ticket {} \"{}\" escalated: {why}", t.number, t.title),
            };
            out.push(self.to_staff(NotificationKind::Escalation, supervisor, text));
        }
        // A supervisor an escalation hands the ticket to has the alert, which says so.
        let alerted = e
            .sla
            .as_ref()
            .and_then(|s| s.escalation.as_ref())
            .and_then(|s| s.notify.as_deref());
        if let Some(agent) = newly_assigned(e).filter(|a| Some(*a) != alerted) {
            out.push(self.to_staff(
                NotificationKind::Assignment,
                agent,
                self.todo(t, e.occurred_at),
            ));
        }
        if let Some(note) = &e.task {
            let task = &note.task;
            let staff = match (e.event_type, &note.alert, &task.agent) {
                (EventType::TaskAtRisk | EventType::TaskOverdue, Some(supervisor), _) => {
                    let why = e.reason.as_deref().unwrap_or_default();
                    let late = e.event_type == EventType::TaskOverdue;
                    let text = match (self.staff_language, late) {
                        (Language::Zh, true) => format!("工单 {} 的协作任务逾期：{why}", t.number),
                        (Language::Zh, false) => {
                            format!("工单 {} 的协作任务即将逾期：{why}", t.number)
                        }
                        (Language::En, true) => {
                            format!("Task on ticket {} overdue: {why}", t.number)
                        }
                        (Language::En, false) => {
                            format!("Task on ticket {} at risk: {why}", t.number)
                        }
                    };
                    Some((NotificationKind::Escalation, supervisor, text))
                }
                // The ticket's assignee hears the answer to what their ticket asked.
                (EventType::TaskCompleted | EventType::TaskDeclined, _, _)
                    if t.assignee.is_some() =>
                {
                    let verb = match (self.staff_language, e.event_type) {
                        (Language::Zh, EventType::TaskCompleted) => "已完成",
                        (Language::Zh, _) => "被拒绝",
                        (Language::En, EventType::TaskCompleted) => "done",
                        (Language::En, _) => "declined",
                    };
                    let note = task.note.as_deref().unwrap_or_default();
                    let text = match self.staff_language {
                        Language::Zh => format!(
                            "工单 {} 请 {} 协助的任务{verb}：{note}",
                            t.number, task.team
                        ),
                        Language::En => format!(
                            "Ticket {}: the task asked of {} is {verb}: {note}",
                            t.number, task.team
                        ),
                    };
                    t.assignee
                        .as_ref()
                        .map(|a| (NotificationKind::Assignment, a, text))
                }
                (EventType::TaskCreated, _, Some(agent)) => {
                    let text = match self.staff_language {
                        Language::Zh => format!("工单 {} 请您协助：{}", t.number, task.ask),
                        Language::En => {
                            format!("Ticket {} asks for your help: {}", t.number, task.ask)
                        }
                    };
                    Some((NotificationKind::Assignment, agent, text))
                }
                _ => None,
            };
            if let Some((kind, agent, text)) = staff {
                out.push(self.to_staff(kind, agent, text));
            }
        }
        let lang = t.language();
        let progress = match e.event_type {
            EventType::TicketAcknowledged => Some(match lang {
                Language::Zh => format!("您的工单 {} 已有专人受理，正在处理中。", t.number),
                Language::En => format!(
                    "Your ticket {} has been taken up by our team and is being worked on.",
                    t.number
                ),
            }),
            EventType::CommentAdded => e
                .comment
                .as_ref()
                .filter(|c| {
                    c.visibility == Visibility::Public && c.author_role == AuthorRole::Agent
                })
                .map(|c| match lang {
                    Language::Zh => format!("关于您的工单 {} 的回复：{}", t.number, c.body),
                    Language::En => format!("A reply on your ticket {}: {}", t.number, c.body),
                }),
            EventType::TicketPending => Some(match (lang, e.reason.as_deref()) {
                (Language::Zh, Some(why)) => {
                    format!("处理您的工单 {} 需要您提供更多信息：{why}", t.number)
                }
                (Language::Zh, None) => {
                    format!("处理您的工单 {} 需要您提供更多信息，请回复我们。", t.number)
                }
                (Language::En, Some(why)) => {
                    format!(
                        "To go on with your ticket {} we need something from you: {why}",
                        t.number
                    )
                }
                (Language::En, None) => format!(
                    "To go on with your ticket {} we need something from you; please reply.",
                    t.number
                ),
            }),
            EventType::TicketResolved => self.resolved(t),
            // The primary's customer hears that the same problem was reported again; the other
            // ticket may be another customer's, so it is not named.
            EventType::TicketLinked
                if e.link
                    .as_ref()
                    .is_some_and(|l| l.kind == LinkKind::MergedFrom) =>
            {
                Some(match lang {
                    Language::Zh => format!(
                        "关于您的工单 {} 的同一问题又有反馈，已合并到此工单一并处理。",
                        t.number
                    ),
                    Language::En => format!(
                        "The same matter as your ticket {} was reported again; we merged it \
                         into your ticket and handle both together.",
                        t.number
                    ),
                })
            }
            EventType::TicketReopened => Some(match lang {
                Language::Zh => format!("您的工单 {} 已重新打开，我们会继续跟进。", t.number),
                Language::En => {
                    format!(
                        "Your ticket {} has been reopened; we are on it again.",
                        t.number
                    )
                }
            }),
            _ => None,
        };
        if let Some(text) = progress {
            out.push(to_customer(t, NotificationKind::Progress, text, None));
        }
        if e.event_type == EventType::SurveyInvited
            && let Some(token) = e.survey.as_ref().and_then(|s| s.token.as_deref())
        {
            let link = self
                .survey_link
                .as_ref()
                .map(|l| l.replace("{token}", token));
            let text = match (lang, &link) {
                (Language::Zh, Some(link)) => {
                    format!("您的工单 {} 已处理完毕，请为本次服务评分：{link}", t.number)
                }
                (Language::Zh, None) => {
                    format!("您的工单 {} 已处理完毕，请为本次服务评分。", t.number)
                }
                (Language::En, Some(link)) => {
                    format!(
                        "How did we do with your ticket {}? Tell us here: {link}",
                        t.number
                    )
                }
                (Language::En, None) => {
                    format!(
                        "How did we do with your ticket {}? We would like to know.",
                        t.number
                    )
                }
            };
            out.push(to_customer(
                t,
                NotificationKind::SurveyInvitation,
                text,
                link,
            ));
        }
        out
    }

    /// The to-do reminder of a ticket assigned at `now`: what it is, and by when to confirm
    /// it (at once, when that time has passed).
    fn todo(&self, t: &Ticket, now: DateTime<Utc>) -> String {
        let due = t
            .sla
            .clock(Target::Acknowledge)
            .filter(|c| c.stopped_at.is_none())
            .and_then(|c| c.due);
        let at = |d: DateTime<Utc>| self.staff_language.datetime(d, self.zone);
        match (self.staff_language, due) {
            (Language::Zh, Some(due)) if due <= now => format!(
                "新工单待处理：{}「{}」，优先级 {}，确认已超时，请立即确认。",
                t.number, t.title, t.priority
            ),
            (Language::En, Some(due)) if due <= now => format!(
                "New ticket for you: {} \"{}\", priority {}. It is overdue: please acknowledge \
                 it now.",
                t.number, t.title, t.priority
            ),
            (Language::Zh, Some(due)) => format!(
                "新工单待处理：{}「{}」，优先级 {}，请在 {} 前确认。",
                t.number,
                t.title,
                t.priority,
                at(due)
            ),
            (Language::Zh, None) => format!(
                "新工单待处理：{}「{}」，优先级 {}。",
                t.number, t.title, t.priority
            ),
            (Language::En, Some(due)) => format!(
                "New ticket for you: {} \"{}\", priority {}. Please acknowledge it by {}.",
                t.number,
                t.title,
                t.priority,
                at(due)
            ),
            (Language::En, None) => format!(
                "New ticket for you: {} \"{}\", priority {}.",
                t.number, t.title, t.priority
            ),
        }
    }

    /// What the customer is told of the resolve; nothing for spam.
    fn resolved(&self, t: &Ticket) -> Option<String> {
        let summary = t.resolution_summary.as_deref().unwrap_or_default();
        Some(match (t.language(), t.resolution) {
            (_, Some(Resolution::Spam)) => return None,
            // The other ticket may be another customer's: its number is not theirs to see.
            (Language::Zh, Some(Resolution::Merged)) => format!(
                "您的工单 {} 反映的问题已在另一张工单中处理，我们会一并跟进并告知您结果。",
                t.number
            ),
            (Language::En, Some(Resolution::Merged)) => format!(
                "Your ticket {} is about a matter we are already handling under another \
                 ticket; we will keep you informed there.",
                t.number
            ),
            (Language::Zh, _) => format!("您的工单 {} 已处理完毕：{summary}", t.number),
            (Language::En, _) => format!("Your ticket {} is resolved: {summary}", t.number),
        })
    }

    fn to_staff(&self, kind: NotificationKind, agent: &str, text: String) -> Notification {
        Notification {
            kind,
            recipient: Recipient::Agent(agent.to_owned()),
            channel: None,
            language: self.staff_language,
            text,
            link: None,
        }
    }
}

fn to_customer(
    t: &Ticket,
    kind: NotificationKind,
    text: String,
    link: Option<String>,
) -> Notification {
    Notification {
        kind,
        recipient: Recipient::Customer,
        channel: Some(t.channel),
        language: t.language(),
        text,
        link,
    }
}

/// The agent an event gave the ticket to, when it changed hands.
fn newly_assigned(e: &TicketEvent) -> Option<&str> {
    let before = e.before("assignee")?;
    let after = e.ticket.assignee.as_deref()?;
    (after != before).then_some(after)
}

/// The NOTIFICATION event of `n`, caused by `cause`.
fn event(cause: &TicketEvent, n: Notification) -> TicketEvent {
    TicketEvent {
        survey: cause
            .survey
            .clone()
            .filter(|_| n.kind == NotificationKind::SurveyInvitation),
        notification: Some(n),
        ..TicketEvent::on(
            &cause.ticket,
            EventType::Notification,
            actor::NOTIFIER,
            cause.occurred_at,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::event::FieldChange;
    use crate::domain::ticket::{Comment, Customer, Kind, Status};

    fn notifier() -> Notifier {
        Notifier {
            staff_language: Language::En,
            zone: chrono_tz::UTC,
            survey_link: None,
        }
    }

    fn event(event_type: EventType, edit: impl FnOnce(&mut TicketEvent)) -> TicketEvent {
        let ticket =
            crate::domain::ticket::sample(Kind::Complaint, Customer::default(), Utc::now());
        let mut e = TicketEvent::on(&ticket, event_type, "ann", Utc::now());
        edit(&mut e);
        e
    }

    fn kinds(e: &TicketEvent) -> Vec<(NotificationKind, Recipient)> {
        notifier()
            .for_events(std::slice::from_ref(e))
            .into_iter()
            .map(|n| {
                assert_eq!(n.event_type, EventType::Notification);
                let n = n.notification.unwrap();
                (n.kind, n.recipient)
            })
            .collect()
    }

    fn comment(visibility: Visibility, author_role: AuthorRole) -> Option<Comment> {
        Some(Comment {
            id: 1,
            ticket_id: 1,
            visibility,
            author: "ann".into(),
            author_role,
            body: "on it".into(),
            created_at: Utc::now(),
        })
    }

    #[test]
    fn only_public_staff_replies_reach_the_customer() {
        let reply = event(EventType::CommentAdded, |e| {
            e.comment = comment(Visibility::Public, AuthorRole::Agent)
        });
        assert_eq!(
            kinds(&reply),
            [(NotificationKind::Progress, Recipient::Customer)]
        );
        for (visibility, role) in [
            (Visibility::Internal, AuthorRole::Agent),
            (Visibility::Public, AuthorRole::Customer),
        ] {
            let quiet = event(EventType::CommentAdded, |e| {
                e.comment = comment(visibility, role)
            });
            assert!(kinds(&quiet).is_empty(), "{visibility} by {role}");
        }
    }

    #[test]
    fn a_new_assignee_gets_a_reminder_and_the_same_one_does_not() {
        let handover = |before: &str| {
            event(EventType::TicketAssigned, |e| {
                e.ticket.assignee = Some("bob".into());
                e.changes = vec![FieldChange {
                    field: "assignee".into(),
                    before: before.into(),
                    after: "bob".into(),
                }];
            })
        };
        assert_eq!(
            kinds(&handover("ann")),
            [(NotificationKind::Assignment, Recipient::Agent("bob".into()))]
        );
        assert_eq!(kinds(&handover("")).len(), 1, "from the queue too");
        let untouched = event(EventType::TicketUpdated, |e| {
            e.ticket.assignee = Some("bob".into())
        });
        assert!(
            kinds(&untouched).is_empty(),
            "no change of hands, no reminder"
        );
    }

    #[test]
    fn a_reminder_past_its_acknowledgement_time_says_it_is_overdue() {
        let now = Utc::now();
        let mut ticket = crate::domain::ticket::sample(Kind::Complaint, Customer::default(), now);
        let calendar = crate::domain::calendar::Calendar::always();
        let by = crate::domain::sla::Counting {
            calendar: &calendar,
            at_risk_share: 0.8,
        };
        let hour = chrono::Duration::hours(1);
        ticket.sla.clocks = vec![crate::domain::sla::SlaClock::start(
            Target::Acknowledge,
            hour,
            now,
            by,
        )];
        let reminder = |at| notifier().todo(&ticket, at);
        assert!(
            reminder(now).contains("Please acknowledge it by"),
            "{}",
            reminder(now)
        );
        assert!(
            reminder(now + hour * 2).contains("overdue"),
            "{}",
            reminder(now + hour * 2)
        );
    }

    #[test]
    fn spam_is_resolved_without_telling_anyone() {
        let resolved = |resolution| {
            event(EventType::TicketResolved, |e| {
                e.ticket.status = Status::Resolved;
                e.ticket.resolution = Some(resolution);
                e.ticket.resolution_summary = Some("done".into());
            })
        };
        assert!(kinds(&resolved(Resolution::Spam)).is_empty());
        assert_eq!(kinds(&resolved(Resolution::Solved)).len(), 1);
    }
}

//! The ticket state machine: which verb may move a ticket from which status, and what each
//! verb does to it.
//!
//! ```text
//! NEW → ASSIGNED → ACKNOWLEDGED → IN_PROGRESS ⇄ PENDING_CUSTOMER → RESOLVED → CLOSED
//!                                                      RESOLVED | CLOSED → REOPENED → work
//! QUARANTINED → NEW (released) | CLOSED (abuse confirmed)
//! ```

use chrono::{DateTime, Utc};

use super::error::Refusal;
use super::event::EventType;
use super::ticket::{AuthorRole, Resolution, Status, Ticket, Visibility, named_enum};

named_enum!(
    /// A request that changes a ticket, named as the RPC a caller uses for it.
    Verb {
        Update = "UpdateTicket",
        Assign = "AssignTicket",
        Acknowledge = "AcknowledgeTicket",
        Reply = "AddComment(PUBLIC)",
        SetPending = "SetPending",
        Resume = "ResumeTicket",
        Resolve = "ResolveTicket",
        /// Resolving as SPAM or MERGED: closing what needs no work, from any open status.
        Dispose = "ResolveTicket(SPAM|MERGED)",
        Close = "CloseTicket",
        Reopen = "ReopenTicket",
        /// A suspected malicious complaint found genuine: routed as if new.
        Release = "ReleaseTicket",
        /// A suspected malicious complaint found malicious.
        ConfirmAbuse = "ConfirmAbuse",
    }
);

/// The verbs a ticket in `status` accepts. Internal notes and customer messages are accepted
/// in every status and are not listed.
pub fn allowed_verbs(status: Status) -> &'static [Verb] {
    use Verb::*;
    match status {
        Status::New => &[Update, Assign, Dispose],
        Status::Assigned => &[Update, Assign, Acknowledge, Dispose],
        Status::Acknowledged | Status::InProgress => {
            &[Update, Assign, Reply, SetPending, Resolve, Dispose]
        }
        Status::PendingCustomer => &[Update, Assign, Reply, Resume, Resolve, Dispose],
        Status::Reopened => &[
            Update,
            Assign,
            Acknowledge,
            Reply,
            SetPending,
            Resolve,
            Dispose,
        ],
        Status::Resolved => &[Update, Close, Reopen],
        Status::Closed => &[Reopen],
        Status::Quarantined => &[Release, ConfirmAbuse],
    }
}

/// Refuses `verb` unless the ticket's status accepts it.
pub fn check_allowed(ticket: &Ticket, verb: Verb) -> Result<(), Refusal> {
    let allowed = allowed_verbs(ticket.status);
    if allowed.contains(&verb) {
        Ok(())
    } else {
        Err(Refusal::NotAllowed {
            status: ticket.status,
            verb,
            allowed: allowed.to_vec(),
        })
    }
}

/// Refuses to resolve `ticket` as `resolution` by `actor` unless the status allows it, and,
/// for spam or a duplicate that nobody works on yet (NEW, or ASSIGNED and not acknowledged),
/// unless `actor` is the team's `supervisor` or the assignee: disposing of it is their call.
pub fn check_resolve(
    ticket: &Ticket,
    resolution: Resolution,
    actor: &str,
    supervisor: Option<&str>,
) -> Result<(), Refusal> {
    let verb = Action::Resolve {
        summary: String::new(),
        resolution,
        merged_into: None,
        with_parent: false,
    }
    .verb()
    .unwrap_or(Verb::Resolve);
    check_allowed(ticket, verb)?;
    if allowed_verbs(ticket.status).contains(&Verb::Resolve)
        || Some(actor) == supervisor
        || Some(actor) == ticket.assignee.as_deref()
    {
        return Ok(());
    }
    let team = ticket.team.as_deref().unwrap_or("its team");
    Err(Refusal::precondition(
        format!("ticket {}", ticket.number),
        format!(
            "a {} ticket is closed as {resolution} only by the supervisor of {team} ({}) or \
             its assignee; actor is \"{}\"",
            ticket.status,
            supervisor.unwrap_or("none yet: set one with UpdateTeam"),
            super::error::shorten(actor)
        ),
    ))
}

/// A lifecycle change a caller asks for.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// Give the ticket to a team and/or an agent; no agent puts it in the team's queue.
    Assign {
        team: Option<String>,
        agent: Option<String>,
        transfer_ownership: bool,
    },
    /// The assignee confirms.
    Acknowledge {
        agent: String,
    },
    /// A comment was written; only its effect on the ticket is decided here.
    Comment {
        visibility: Visibility,
        role: AuthorRole,
    },
    SetPending {
        reason: Option<String>,
    },
    Resume,
    Resolve {
        summary: String,
        resolution: Resolution,
        /// The ticket number a MERGED ticket went into.
        merged_into: Option<String>,
        /// Resolved with its parent (an incident): from any open status, worked or not.
        with_parent: bool,
    },
    Close,
    Reopen {
        reason: String,
    },
    /// A held ticket is found genuine: it goes to its team's queue as if it were new.
    Release,
    /// A held ticket is found malicious: closed as spam, with why.
    ConfirmAbuse {
        summary: String,
    },
}

impl Action {
    /// The verb whose rules apply, or `None` for what any status accepts (internal notes,
    /// customer messages).
    pub fn verb(&self) -> Option<Verb> {
        Some(match self {
            Action::Assign { .. } => Verb::Assign,
            Action::Acknowledge { .. } => Verb::Acknowledge,
            Action::Comment {
                visibility: Visibility::Public,
                role: AuthorRole::Agent,
            } => Verb::Reply,
            Action::Comment { .. } => return None,
            Action::SetPending { .. } => Verb::SetPending,
            Action::Resume => Verb::Resume,
            Action::Resolve {
                resolution: Resolution::Spam | Resolution::Merged,
                ..
            }
            | Action::Resolve {
                with_parent: true, ..
            } => Verb::Dispose,
            Action::Resolve { .. } => Verb::Resolve,
            Action::Close => Verb::Close,
            Action::Reopen { .. } => Verb::Reopen,
            Action::Release => Verb::Release,
            Action::ConfirmAbuse { .. } => Verb::ConfirmAbuse,
        })
    }

    /// The type of the event that records the action.
    pub fn event_type(&self) -> EventType {
        match self {
            Action::Assign { .. } => EventType::TicketAssigned,
            Action::Acknowledge { .. } => EventType::TicketAcknowledged,
            Action::Comment { .. } => EventType::CommentAdded,
            Action::SetPending { .. } => EventType::TicketPending,
            Action::Resume => EventType::TicketResumed,
            Action::Resolve { .. } => EventType::TicketResolved,
            Action::Close => EventType::TicketClosed,
            Action::Reopen { .. } => EventType::TicketReopened,
            Action::Release => EventType::TicketReleased,
            Action::ConfirmAbuse { .. } => EventType::AbuseConfirmed,
        }
    }
}

/// Applies `action` to `ticket` at `now`, or refuses it leaving the ticket untouched.
pub fn apply(ticket: &mut Ticket, action: Action, now: DateTime<Utc>) -> Result<(), Refusal> {
    if let Some(verb) = action.verb() {
        check_allowed(ticket, verb)?;
    }
    match action {
        Action::Assign {
            team,
            agent,
            transfer_ownership,
        } => {
            if let Some(team) = team {
                ticket.team = Some(team);
            }
            // A new person, or none: whatever the old one acknowledged or waited for is theirs.
            let handed_over = ticket.assignee != agent;
            if handed_over {
                ticket.acknowledged_at = None;
                ticket.assigned_at = agent.as_ref().map(|_| now);
                // What the customer was asked is moot; why it was reopened still matters.
                if ticket.status == Status::PendingCustomer {
                    ticket.status_reason = None;
                }
            }
            match agent {
                Some(agent) => {
                    if handed_over {
                        ticket.status = Status::Assigned;
                    }
                    if ticket.owner.is_none() || transfer_ownership {
                        ticket.owner = Some(agent.clone());
                    }
                    ticket.assignee = Some(agent);
                }
                None => {
                    ticket.assignee = None;
                    // A reopened ticket stays marked as such while it waits.
                    if ticket.status != Status::Reopened {
                        ticket.status = Status::New;
                    }
                }
            }
        }
        Action::Acknowledge { agent } => {
            if ticket.assignee.as_deref() != Some(agent.as_str()) {
                return Err(Refusal::precondition(
                    format!("ticket {}", ticket.number),
                    format!(
                        "only the assignee ({}) can acknowledge it, not {agent}",
                        ticket.assignee.as_deref().unwrap_or("nobody")
                    ),
                ));
            }
            ticket.status = Status::Acknowledged;
            ticket.acknowledged_at = Some(now);
        }
        Action::Comment {
            visibility: Visibility::Public,
            role: AuthorRole::Agent,
        } => {
            if ticket.first_responded_at.is_none() {
                ticket.first_responded_at = Some(now);
            }
            if matches!(ticket.status, Status::Acknowledged | Status::Reopened) {
                ticket.status = Status::InProgress;
            }
        }
        Action::Comment {
            role: AuthorRole::Customer,
            ..
        } => {
            if ticket.status == Status::PendingCustomer {
                ticket.status = Status::InProgress;
                ticket.status_reason = None;
            }
        }
        Action::Comment { .. } => {}
        Action::SetPending { reason } => {
            ticket.status = Status::PendingCustomer;
            ticket.status_reason = reason;
        }
        Action::Resume => {
            ticket.status = Status::InProgress;
            ticket.status_reason = None;
        }
        Action::Resolve {
            summary,
            resolution,
            merged_into,
            with_parent: _,
        } => {
            ticket.status = Status::Resolved;
            ticket.resolution_summary = Some(summary);
            ticket.resolution = Some(resolution);
            ticket.merged_into = merged_into;
            ticket.resolved_at = Some(now);
            ticket.status_reason = None;
        }
        Action::Close => {
            ticket.status = Status::Closed;
            ticket.closed_at = Some(now);
        }
        Action::Reopen { reason } => {
            ticket.status = Status::Reopened;
            ticket.reopen_count += 1;
            ticket.resolved_at = None;
            ticket.closed_at = None;
            ticket.resolution_summary = None;
            ticket.resolution = None;
            ticket.merged_into = None;
            ticket.status_reason = Some(reason);
        }
        Action::Release => {
            ticket.status = Status::New;
            ticket.status_reason = None;
        }
        Action::ConfirmAbuse { summary } => {
            ticket.status = Status::Closed;
            ticket.status_reason = None;
            ticket.resolution = Some(Resolution::Spam);
            ticket.resolution_summary = Some(summary);
            ticket.resolved_at = Some(now);
            ticket.closed_at = Some(now);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::ticket::{Customer, Kind};

    fn ticket() -> Ticket {
        crate::domain::ticket::sample(Kind::Problem, Customer::default(), Utc::now())
    }

    fn assign(agent: &str) -> Action {
        Action::Assign {
            team: Some("support".into()),
            agent: Some(agent.into()),
            transfer_ownership: false,
        }
    }

    const REPLY: Action = Action::Comment {
        visibility: Visibility::Public,
        role: AuthorRole::Agent,
    };
    const CUSTOMER: Action = Action::Comment {
        visibility: Visibility::Public,
        role: AuthorRole::Customer,
    };

    #[test]
    fn the_whole_happy_path() {
        let now = Utc::now();
        let mut t = ticket();
        apply(&mut t, assign("ann"), now).unwrap();
        assert_eq!(
            (t.status, t.owner.as_deref()),
            (Status::Assigned, Some("ann"))
        );
        apply(
            &mut t,
            Action::Acknowledge {
                agent: "ann".into(),
            },
            now,
        )
        .unwrap();
        apply(&mut t, REPLY, now).unwrap();
        assert_eq!(
            (t.status, t.first_responded_at),
            (Status::InProgress, Some(now))
        );
        apply(
            &mut t,
            Action::SetPending {
                reason: Some("order id?".into()),
            },
            now,
        )
        .unwrap();
        apply(&mut t, CUSTOMER, now).unwrap();
        assert_eq!(t.status, Status::InProgress);
        apply(
            &mut t,
            Action::Resolve {
                summary: "refunded".into(),
                resolution: Resolution::Solved,
                merged_into: None,
                with_parent: false,
            },
            now,
        )
        .unwrap();
        apply(&mut t, Action::Close, now).unwrap();
        apply(
            &mut t,
            Action::Reopen {
                reason: "not refunded".into(),
            },
            now,
        )
        .unwrap();
        assert_eq!(
            (t.status, t.reopen_count, t.closed_at),
            (Status::Reopened, 1, None)
        );
        apply(&mut t, REPLY, now).unwrap();
        assert_eq!(t.status, Status::InProgress);
    }

    #[test]
    fn every_status_refuses_every_verb_it_does_not_list() {
        let now = Utc::now();
        for &status in Status::ALL {
            for &verb in Verb::ALL {
                let mut t = ticket();
                t.status = status;
                let before = t.clone();
                let action = match verb {
                    Verb::Update => continue, // not an Action: UpdateTicket checks it directly
                    Verb::Assign => assign("ann"),
                    Verb::Acknowledge => Action::Acknowledge {
                        agent: "ann".into(),
                    },
                    Verb::Reply => REPLY,
                    Verb::SetPending => Action::SetPending { reason: None },
                    Verb::Resume => Action::Resume,
                    Verb::Resolve => Action::Resolve {
                        summary: "s".into(),
                        resolution: Resolution::Solved,
                        merged_into: None,
                        with_parent: false,
                    },
                    Verb::Dispose => Action::Resolve {
                        summary: "s".into(),
                        resolution: Resolution::Spam,
                        merged_into: None,
                        with_parent: false,
                    },
                    Verb::Close => Action::Close,
                    Verb::Reopen => Action::Reopen { reason: "r".into() },
                    Verb::Release => Action::Release,
                    Verb::ConfirmAbuse => Action::ConfirmAbuse {
                        summary: "s".into(),
                    },
                };
                t.assignee = Some("ann".into());
                let result = apply(&mut t, action, now);
                if allowed_verbs(status).contains(&verb) {
                    assert!(result.is_ok(), "{status} should accept {verb}: {result:?}");
                } else {
                    assert!(
                        matches!(result, Err(Refusal::NotAllowed { status: s, verb: v, .. }) if s == status && v == verb),
                        "{status} should refuse {verb}"
                    );
                    t.assignee = before.assignee.clone();
                    assert_eq!(t, before, "a refused verb leaves the ticket as it was");
                }
            }
        }
    }

    #[test]
    fn spam_untouched_by_anyone_is_the_supervisors_or_the_assignees_to_close() {
        let mut t = ticket();
        let spam = |t: &Ticket, actor: &str| check_resolve(t, Resolution::Spam, actor, Some("sue"));
        assert!(spam(&t, "sue").is_ok());
        let refused = spam(&t, "ann").unwrap_err().to_string();
        assert!(
            refused.contains("closed as SPAM only by the supervisor of support (sue)"),
            "{refused}"
        );
        assert!(
            check_resolve(&t, Resolution::Solved, "sue", Some("sue")).is_err(),
            "a NEW ticket is not solved before anyone worked on it"
        );
        let unled = check_resolve(&t, Resolution::Merged, "ann", None).unwrap_err();
        assert!(unled.to_string().contains("none yet"), "{unled}");
        apply(&mut t, assign("ann"), Utc::now()).unwrap();
        assert!(spam(&t, "ann").is_ok(), "the assignee may, unacknowledged");
        t.status = Status::InProgress;
        assert!(spam(&t, "anyone").is_ok(), "in work, as any resolve");
        t.status = Status::Resolved;
        assert!(spam(&t, "sue").is_err(), "not twice");
    }

    #[test]
    fn only_the_assignee_acknowledges() {
        let mut t = ticket();
        apply(&mut t, assign("ann"), Utc::now()).unwrap();
        let err = apply(
            &mut t,
            Action::Acknowledge {
                agent: "bob".into(),
            },
            Utc::now(),
        );
        assert!(matches!(err, Err(Refusal::Precondition { .. })));
        assert_eq!(t.status, Status::Assigned);
    }

    #[test]
    fn reassignment_keeps_the_first_owner_unless_transferred() {
        let now = Utc::now();
        let mut t = ticket();
        apply(&mut t, assign("ann"), now).unwrap();
        apply(
            &mut t,
            Action::Acknowledge {
                agent: "ann".into(),
            },
            now,
        )
        .unwrap();
        apply(&mut t, assign("bob"), now).unwrap();
        assert_eq!(
            (t.status, t.assignee.as_deref(), t.owner.as_deref()),
            (Status::Assigned, Some("bob"), Some("ann"))
        );
        let transfer = Action::Assign {
            team: None,
            agent: Some("cid".into()),
            transfer_ownership: true,
        };
        apply(&mut t, transfer, now).unwrap();
        assert_eq!(t.owner.as_deref(), Some("cid"));
        let queue = Action::Assign {
            team: Some("finance".into()),
            agent: None,
            transfer_ownership: false,
        };
        apply(
            &mut t,
            Action::Acknowledge {
                agent: "cid".into(),
            },
            now,
        )
        .unwrap();
        apply(
            &mut t,
            Action::SetPending {
                reason: Some("order id?".into()),
            },
            now,
        )
        .unwrap();
        apply(&mut t, queue, now).unwrap();
        assert_eq!(
            (t.status, t.assignee.as_deref(), t.team.as_deref()),
            (Status::New, None, Some("finance"))
        );
        assert_eq!(
            (t.assigned_at, t.acknowledged_at, t.status_reason.as_deref()),
            (None, None, None),
            "nothing of the old assignee's is left"
        );
    }

    #[test]
    fn a_reopen_reason_stays_with_the_ticket_whoever_takes_it() {
        let now = Utc::now();
        let mut t = ticket();
        t.status = Status::Closed;
        apply(
            &mut t,
            Action::Reopen {
                reason: "money never arrived".into(),
            },
            now,
        )
        .unwrap();
        apply(&mut t, assign("bob"), now).unwrap();
        assert_eq!(
            (t.status, t.status_reason.as_deref()),
            (Status::Assigned, Some("money never arrived"))
        );
    }

    #[test]
    fn internal_notes_and_customer_messages_go_anywhere() {
        for &status in Status::ALL {
            let mut t = ticket();
            t.status = status;
            apply(
                &mut t,
                Action::Comment {
                    visibility: Visibility::Internal,
                    role: AuthorRole::Agent,
                },
                Utc::now(),
            )
            .unwrap();
            apply(&mut t, CUSTOMER, Utc::now()).unwrap();
        }
    }
}

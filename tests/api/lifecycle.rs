//! A ticket's life through the verbs, its history, and the transitions the state machine
//! refuses.

use feedbackd::proto::feedback::v1 as pb;
use pb::TicketStatus as S;
use tonic::Code;

use crate::both;
use crate::support::{Backend, Client, TestServer, create, status_of};

both!(
    whole_lifecycle,
    illegal_transitions_name_status_and_verbs,
    history_records_before_and_after,
    stale_etag_is_aborted,
    update_changes_only_masked_fields,
    spam_and_duplicates_close_from_the_queue,
);

async fn whole_lifecycle(backend: Backend) {
    let s = TestServer::start(backend).await;
    s.seed_staff().await;
    let mut c = s.client.clone();
    let created = c
        .create_ticket(crate::support::new_ticket("Refund missing"))
        .await
        .unwrap()
        .into_inner();
    let t = created.ticket.unwrap();
    assert!(!created.replayed);
    assert_eq!(status_of(&t), S::New);
    assert_eq!(
        t.priority,
        pb::Priority::High as i32,
        "a complaint defaults to HIGH"
    );
    assert!(
        created.acknowledgement.contains(&t.number),
        "{}",
        created.acknowledgement
    );
    // It waits in triage, where nobody works yet: no time is promised that nobody keeps.
    assert_eq!(t.team, "triage");
    assert!(
        created
            .acknowledgement
            .ends_with("It is in our queue, and we will get back to you as soon as one of our team can take it."),
        "{}",
        created.acknowledgement
    );
    assert_eq!(
        (
            created.expected_response_within,
            created.expected_response_by
        ),
        (None, None)
    );
    let first_response = t
        .sla
        .as_ref()
        .unwrap()
        .clocks
        .iter()
        .find(|c| c.target == pb::SlaTarget::FirstResponse as i32)
        .unwrap();
    assert_eq!(
        first_response.budget.unwrap().seconds,
        4 * 3600,
        "the clock runs all the same"
    );
    assert!(t.create_time.is_some() && t.assign_time.is_none());

    let t = c
        .assign_ticket(pb::AssignTicketRequest {
            ticket_id: t.id,
            team: "after-sales".into(),
            agent: "ann".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .ticket
        .unwrap();
    assert_eq!(
        (
            status_of(&t),
            t.team.as_str(),
            t.assignee.as_str(),
            t.owner.as_str()
        ),
        (S::Assigned, "after-sales", "ann", "ann")
    );
    assert!(t.assign_time.is_some());

    let t = c
        .acknowledge_ticket(pb::AcknowledgeTicketRequest {
            ticket_id: t.id,
            agent: "ann".into(),
            etag: t.etag.clone(),
        })
        .await
        .unwrap()
        .into_inner()
        .ticket
        .unwrap();
    assert_eq!(status_of(&t), S::Acknowledged);
    assert!(t.acknowledge_time.is_some());

    let note = comment(
        &mut c,
        t.id,
        pb::CommentVisibility::Internal,
        pb::AuthorRole::Agent,
        "checking with finance",
    )
    .await;
    assert!(
        note.ticket.as_ref().unwrap().first_response_time.is_none(),
        "an internal note is no response"
    );
    let reply = comment(
        &mut c,
        t.id,
        pb::CommentVisibility::Public,
        pb::AuthorRole::Agent,
        "We are on it",
    )
    .await;
    let t = reply.ticket.unwrap();
    assert_eq!(status_of(&t), S::InProgress);
    let first_response = t.first_response_time.expect("first response recorded");

    let t = c
        .set_pending(pb::SetPendingRequest {
            ticket_id: t.id,
            reason: "need the order number".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .ticket
        .unwrap();
    assert_eq!(
        (status_of(&t), t.status_reason.as_str()),
        (S::PendingCustomer, "need the order number")
    );
    let t = comment(
        &mut c,
        t.id,
        pb::CommentVisibility::Public,
        pb::AuthorRole::Customer,
        "It is 1234",
    )
    .await
    .ticket
    .unwrap();
    assert_eq!(
        status_of(&t),
        S::InProgress,
        "the customer's answer resumes work"
    );
    let t = c
        .set_pending(pb::SetPendingRequest {
            ticket_id: t.id,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .ticket
        .unwrap();
    let t = c
        .resume_ticket(pb::ResumeTicketRequest {
            ticket_id: t.id,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .ticket
        .unwrap();
    assert_eq!(status_of(&t), S::InProgress);
    let t = comment(
        &mut c,
        t.id,
        pb::CommentVisibility::Public,
        pb::AuthorRole::Agent,
        "Refund sent",
    )
    .await
    .ticket
    .unwrap();
    assert_eq!(
        t.first_response_time,
        Some(first_response),
        "only the first reply is the first response"
    );

    let t = c
        .resolve_ticket(pb::ResolveTicketRequest {
            ticket_id: t.id,
            resolution_summary: "Refunded 120 CNY".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .ticket
        .unwrap();
    assert_eq!(
        (status_of(&t), t.resolution_summary.as_str()),
        (S::Resolved, "Refunded 120 CNY")
    );
    assert!(t.resolve_time.is_some());
    let t = c
        .close_ticket(pb::CloseTicketRequest {
            ticket_id: t.id,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .ticket
        .unwrap();
    assert_eq!(status_of(&t), S::Closed);
    assert!(t.close_time.is_some());

    s.routing()
        .await
        .set_agent_availability(pb::SetAgentAvailabilityRequest {
            id: "ann".into(),
            availability: pb::Availability::Online.into(),
        })
        .await
        .unwrap();
    let t = c
        .reopen_ticket(pb::ReopenTicketRequest {
            ticket_id: t.id,
            reason: "money never arrived".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .ticket
        .unwrap();
    assert_eq!((status_of(&t), t.reopen_count), (S::Reopened, 1));
    assert!(t.close_time.is_none() && t.resolve_time.is_none());
    assert_eq!(
        (t.assignee.as_str(), t.owner.as_str()),
        ("ann", "ann"),
        "a reopened ticket goes back to its people while they can take it"
    );
    assert_eq!(t.status_reason, "money never arrived");
    let t = c
        .assign_ticket(pb::AssignTicketRequest {
            ticket_id: t.id,
            agent: "bob".into(),
            reason: "ann is away".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .ticket
        .unwrap();
    assert_eq!(
        (t.assignee.as_str(), t.owner.as_str()),
        ("bob", "ann"),
        "first-contact ownership stays"
    );
    assert_eq!(
        t.status_reason, "money never arrived",
        "why it was reopened stays with the ticket for whoever takes it"
    );
    let t = c
        .acknowledge_ticket(pb::AcknowledgeTicketRequest {
            ticket_id: t.id,
            agent: "bob".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .ticket
        .unwrap();
    let t = c
        .resolve_ticket(pb::ResolveTicketRequest {
            ticket_id: t.id,
            resolution_summary: "Bank transfer traced".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .ticket
        .unwrap();
    let t = c
        .close_ticket(pb::CloseTicketRequest {
            ticket_id: t.id,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .ticket
        .unwrap();
    assert_eq!(status_of(&t), S::Closed);

    let by_number = c
        .get_ticket(pb::GetTicketRequest {
            key: Some(pb::get_ticket_request::Key::Number(t.number.clone())),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(by_number, t, "what the verbs returned is what is stored");
    let comments = c
        .list_comments(pb::ListCommentsRequest {
            ticket_id: t.id,
            visibility: pb::CommentVisibility::Public.into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    let bodies: Vec<_> = comments.comments.iter().map(|c| c.body.as_str()).collect();
    assert_eq!(
        bodies,
        ["We are on it", "It is 1234", "Refund sent"],
        "the customer sees public progress only"
    );
    s.stop().await;
}

async fn comment(
    c: &mut Client,
    id: i64,
    visibility: pb::CommentVisibility,
    role: pb::AuthorRole,
    body: &str,
) -> pb::AddCommentResponse {
    c.add_comment(pb::AddCommentRequest {
        ticket_id: id,
        visibility: visibility.into(),
        body: body.into(),
        author: if role == pb::AuthorRole::Customer {
            "Li Lei".into()
        } else {
            "ann".into()
        },
        author_role: role.into(),
        request_id: String::new(),
    })
    .await
    .unwrap()
    .into_inner()
}

/// Drives a new ticket to `status` through the verbs.
async fn ticket_in(c: &mut Client, status: S) -> pb::Ticket {
    let t = create(c, &format!("ticket in {status:?}")).await;
    let path: &[S] = match status {
        S::New => &[],
        S::Assigned => &[S::Assigned],
        S::Acknowledged => &[S::Assigned, S::Acknowledged],
        S::InProgress => &[S::Assigned, S::Acknowledged, S::InProgress],
        S::PendingCustomer => &[S::Assigned, S::Acknowledged, S::PendingCustomer],
        S::Resolved => &[S::Assigned, S::Acknowledged, S::Resolved],
        S::Closed => &[S::Assigned, S::Acknowledged, S::Resolved, S::Closed],
        S::Reopened => &[S::Assigned, S::Acknowledged, S::Resolved, S::Reopened],
        // Quarantine is the abuse check's, not a verb's (tests/api/abuse.rs).
        S::Quarantined | S::Unspecified => unreachable!(),
    };
    for step in path {
        apply(c, *step, t.id).await.unwrap();
    }
    let t = c
        .get_ticket(pb::GetTicketRequest {
            key: Some(pb::get_ticket_request::Key::TicketId(t.id)),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(status_of(&t), status);
    t
}

/// The verb that leads to `target`, applied to ticket `id`.
async fn apply(c: &mut Client, target: S, id: i64) -> Result<pb::Ticket, tonic::Status> {
    match target {
        S::Assigned => c
            .assign_ticket(pb::AssignTicketRequest {
                ticket_id: id,
                team: "support".into(),
                agent: "ann".into(),
                ..Default::default()
            })
            .await
            .map(|r| r.into_inner().ticket.unwrap_or_default()),
        S::Acknowledged => c
            .acknowledge_ticket(pb::AcknowledgeTicketRequest {
                ticket_id: id,
                agent: "ann".into(),
                ..Default::default()
            })
            .await
            .map(|r| r.into_inner().ticket.unwrap_or_default()),
        S::InProgress => {
            return c
                .add_comment(pb::AddCommentRequest {
                    ticket_id: id,
                    visibility: pb::CommentVisibility::Public.into(),
                    body: "hello".into(),
                    author: "ann".into(),
                    ..Default::default()
                })
                .await
                .map(|r| r.into_inner().ticket.unwrap());
        }
        S::PendingCustomer => c
            .set_pending(pb::SetPendingRequest {
                ticket_id: id,
                ..Default::default()
            })
            .await
            .map(|r| r.into_inner().ticket.unwrap_or_default()),
        S::Resolved => c
            .resolve_ticket(pb::ResolveTicketRequest {
                ticket_id: id,
                resolution_summary: "done".into(),
                ..Default::default()
            })
            .await
            .map(|r| r.into_inner().ticket.unwrap_or_default()),
        S::Closed => c
            .close_ticket(pb::CloseTicketRequest {
                ticket_id: id,
                ..Default::default()
            })
            .await
            .map(|r| r.into_inner().ticket.unwrap_or_default()),
        S::Reopened => c
            .reopen_ticket(pb::ReopenTicketRequest {
                ticket_id: id,
                reason: "again".into(),
                ..Default::default()
            })
            .await
            .map(|r| r.into_inner().ticket.unwrap_or_default()),
        S::New | S::Quarantined | S::Unspecified => unreachable!(),
    }
}

async fn illegal_transitions_name_status_and_verbs(backend: Backend) {
    let s = TestServer::start(backend).await;
    s.seed_staff().await;
    let mut c = s.client.clone();
    // Every status, and every verb its row of the state machine does not list.
    let refused: &[(S, &[(&str, S)])] = &[
        (
            S::New,
            &[
                ("AcknowledgeTicket", S::Acknowledged),
                ("AddComment", S::InProgress),
                ("SetPending", S::PendingCustomer),
                ("ResolveTicket", S::Resolved),
                ("CloseTicket", S::Closed),
                ("ReopenTicket", S::Reopened),
            ],
        ),
        (
            S::Assigned,
            &[
                ("AddComment", S::InProgress),
                ("SetPending", S::PendingCustomer),
                ("ResolveTicket", S::Resolved),
                ("CloseTicket", S::Closed),
                ("ReopenTicket", S::Reopened),
            ],
        ),
        (
            S::Acknowledged,
            &[
                ("AcknowledgeTicket", S::Acknowledged),
                ("CloseTicket", S::Closed),
                ("ReopenTicket", S::Reopened),
            ],
        ),
        (
            S::InProgress,
            &[
                ("AcknowledgeTicket", S::Acknowledged),
                ("CloseTicket", S::Closed),
                ("ReopenTicket", S::Reopened),
            ],
        ),
        (
            S::PendingCustomer,
            &[
                ("AcknowledgeTicket", S::Acknowledged),
                ("SetPending", S::PendingCustomer),
                ("CloseTicket", S::Closed),
                ("ReopenTicket", S::Reopened),
            ],
        ),
        (
            S::Resolved,
            &[
                ("AssignTicket", S::Assigned),
                ("AcknowledgeTicket", S::Acknowledged),
                ("AddComment", S::InProgress),
                ("SetPending", S::PendingCustomer),
                ("ResolveTicket", S::Resolved),
            ],
        ),
        (
            S::Closed,
            &[
                ("AssignTicket", S::Assigned),
                ("AcknowledgeTicket", S::Acknowledged),
                ("AddComment", S::InProgress),
                ("SetPending", S::PendingCustomer),
                ("ResolveTicket", S::Resolved),
                ("CloseTicket", S::Closed),
            ],
        ),
        (
            S::Reopened,
            &[("CloseTicket", S::Closed), ("ReopenTicket", S::Reopened)],
        ),
    ];
    for (status, verbs) in refused {
        let t = ticket_in(&mut c, *status).await;
        for (verb, target) in *verbs {
            let err = apply(&mut c, *target, t.id)
                .await
                .expect_err(&format!("{verb} from {status:?}"));
            assert_eq!(
                err.code(),
                Code::FailedPrecondition,
                "{verb} from {status:?}: {err:?}"
            );
            let name = status.as_str_name().trim_start_matches("TICKET_STATUS_");
            assert!(
                err.message().contains(name),
                "{verb} from {status:?} names the status: {}",
                err.message()
            );
            assert!(
                err.message().contains("allowed now:"),
                "and the allowed verbs: {}",
                err.message()
            );
            let after = c
                .get_ticket(pb::GetTicketRequest {
                    key: Some(pb::get_ticket_request::Key::TicketId(t.id)),
                })
                .await
                .unwrap()
                .into_inner();
            assert_eq!(after, t, "a refused verb changes nothing");
        }
    }
    // The UpdateTicket verb is closed to closed tickets.
    let closed = ticket_in(&mut c, S::Closed).await;
    let err = c
        .update_ticket(pb::UpdateTicketRequest {
            ticket: Some(pb::Ticket {
                id: closed.id,
                title: "new".into(),
                ..Default::default()
            }),
            update_mask: Some(prost_types::FieldMask {
                paths: vec!["title".into()],
            }),
            actor: String::new(),
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::FailedPrecondition);
    // Only the assignee acknowledges.
    let assigned = ticket_in(&mut c, S::Assigned).await;
    let err = c
        .acknowledge_ticket(pb::AcknowledgeTicketRequest {
            ticket_id: assigned.id,
            agent: "mallory".into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::FailedPrecondition);
    assert!(err.message().contains("ann"), "{}", err.message());
    s.stop().await;
}

async fn history_records_before_and_after(backend: Backend) {
    let s = TestServer::start(backend).await;
    s.seed_staff().await;
    let mut c = s.client.clone();
    let t = ticket_in(&mut c, S::Resolved).await;
    let events = c
        .list_ticket_events(pb::ListTicketEventsRequest {
            ticket_id: t.id,
            page_size: 2,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(events.events.len(), 2);
    assert!(!events.next_page_token.is_empty());
    let rest = c
        .list_ticket_events(pb::ListTicketEventsRequest {
            ticket_id: t.id,
            page_size: 6,
            page_token: events.next_page_token,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert!(rest.next_page_token.is_empty());
    let all: Vec<_> = events.events.into_iter().chain(rest.events).collect();
    let types: Vec<_> = all
        .iter()
        .map(|e| pb::EventType::try_from(e.r#type).unwrap())
        .collect();
    assert_eq!(
        types,
        [
            pb::EventType::TicketCreated,
            pb::EventType::SlaStarted,
            pb::EventType::TicketAssigned,
            pb::EventType::TicketAcknowledged,
            pb::EventType::SlaMet,
            pb::EventType::TicketResolved,
            pb::EventType::SlaMet,
            pb::EventType::SurveyInvited
        ]
    );
    assert!(all.windows(2).all(|w| w[0].cursor < w[1].cursor));
    let assigned = &all[2];
    // No actor named: the change is recorded under the caller's credential.
    assert_eq!(assigned.actor, "key:admin");
    let status = assigned
        .changes
        .iter()
        .find(|c| c.field == "status")
        .expect("status change");
    assert_eq!(
        (status.before.as_str(), status.after.as_str()),
        ("NEW", "ASSIGNED")
    );
    let agent = assigned
        .changes
        .iter()
        .find(|c| c.field == "assignee")
        .expect("assignee change");
    assert_eq!((agent.before.as_str(), agent.after.as_str()), ("", "ann"));
    assert_eq!(
        assigned.ticket.as_ref().unwrap().status,
        S::Assigned as i32,
        "the ticket as it stood after the event"
    );
    assert_eq!(all[5].ticket.as_ref().unwrap(), &t);
    let missing = c
        .list_ticket_events(pb::ListTicketEventsRequest {
            ticket_id: t.id + 1000,
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(missing.code(), Code::NotFound);
    s.stop().await;
}

async fn stale_etag_is_aborted(backend: Backend) {
    let s = TestServer::start(backend).await;
    s.seed_staff().await;
    let mut c = s.client.clone();
    let t = create(&mut c, "etag").await;
    let update = |etag: String, title: &str| pb::UpdateTicketRequest {
        ticket: Some(pb::Ticket {
            id: t.id,
            etag,
            title: title.into(),
            ..Default::default()
        }),
        update_mask: Some(prost_types::FieldMask {
            paths: vec!["title".into()],
        }),
        actor: "ann".into(),
    };
    let first = c
        .update_ticket(update(t.etag.clone(), "first"))
        .await
        .unwrap()
        .into_inner()
        .ticket
        .unwrap();
    assert_ne!(first.etag, t.etag);
    let err = c
        .update_ticket(update(t.etag.clone(), "second"))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::Aborted, "{err:?}");
    let err = c
        .assign_ticket(pb::AssignTicketRequest {
            ticket_id: t.id,
            agent: "ann".into(),
            etag: t.etag.clone(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::Aborted, "verbs check etags too");
    let now = c
        .get_ticket(pb::GetTicketRequest {
            key: Some(pb::get_ticket_request::Key::TicketId(t.id)),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!((now.title.as_str(), now.etag), ("first", first.etag));
    s.stop().await;
}

async fn update_changes_only_masked_fields(backend: Backend) {
    let s = TestServer::start(backend).await;
    let mut c = s.client.clone();
    let t = create(&mut c, "before").await;
    let patch = pb::Ticket {
        id: t.id,
        title: "after".into(),
        description: "not in the mask".into(),
        priority: pb::Priority::Urgent.into(),
        tags: vec!["VIP".into(), "refund".into(), "vip".into()],
        customer: Some(pb::Customer {
            phone: "13900139000".into(),
            ..Default::default()
        }),
        ..Default::default()
    };
    let paths = ["title", "priority", "tags", "customer.phone"]
        .map(String::from)
        .to_vec();
    let u = c
        .update_ticket(pb::UpdateTicketRequest {
            ticket: Some(patch),
            update_mask: Some(prost_types::FieldMask { paths }),
            actor: "ann".into(),
        })
        .await
        .unwrap()
        .into_inner()
        .ticket
        .unwrap();
    assert_eq!(u.title, "after");
    assert_eq!(u.description, t.description);
    assert_eq!(u.priority, pb::Priority::Urgent as i32);
    assert_eq!(u.tags, ["refund", "vip"]);
    let customer = u.customer.unwrap();
    assert_eq!(
        (customer.phone.as_str(), customer.email.as_str()),
        ("13900139000", "li.lei@example.com")
    );
    let history = c
        .list_ticket_events(pb::ListTicketEventsRequest {
            ticket_id: t.id,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .events;
    // After TICKET_CREATED and SLA_STARTED.
    let update = &history[2];
    let fields: Vec<_> = update.changes.iter().map(|c| c.field.as_str()).collect();
    assert_eq!(update.r#type, pb::EventType::TicketUpdated as i32);
    assert_eq!(update.actor, "ann");
    for f in ["title", "priority", "tags", "customer.phone"] {
        assert!(fields.contains(&f), "{f} in {fields:?}");
    }
    s.stop().await;
}

async fn spam_and_duplicates_close_from_the_queue(backend: Backend) {
    let s = TestServer::start(backend).await;
    let mut c = s.client.clone();
    let mut r = s.routing().await;
    let spam = create(&mut c, "Cheap watches, click here").await;
    assert_eq!(
        (status_of(&spam), spam.team.as_str()),
        (S::New, "triage"),
        "no rule, no model: it waits in triage"
    );
    let resolver = c.clone();
    let resolve = |id: i64, resolution: pb::Resolution, merged_into: &str, actor: &str| {
        let mut c = resolver.clone();
        let request = pb::ResolveTicketRequest {
            ticket_id: id,
            resolution_summary: "not a customer request".into(),
            resolution: resolution.into(),
            merged_into: merged_into.into(),
            actor: actor.into(),
            ..Default::default()
        };
        async move { c.resolve_ticket(request).await }
    };
    let unled = resolve(spam.id, pb::Resolution::Spam, "", "bob")
        .await
        .unwrap_err();
    assert_eq!(unled.code(), Code::FailedPrecondition);
    assert!(unled.message().contains("none yet"), "{}", unled.message());

    // The triage team gets a supervisor; only they dispose of what nobody works on.
    r.create_agent(pb::CreateAgentRequest {
        agent: Some(pb::Agent {
            id: "sue".into(),
            ..Default::default()
        }),
    })
    .await
    .unwrap();
    r.update_team(pb::UpdateTeamRequest {
        team: Some(pb::Team {
            id: "triage".into(),
            supervisor: "sue".into(),
            ..Default::default()
        }),
        update_mask: Some(prost_types::FieldMask {
            paths: vec!["supervisor".into()],
        }),
    })
    .await
    .unwrap();
    let not_theirs = resolve(spam.id, pb::Resolution::Spam, "", "bob")
        .await
        .unwrap_err();
    assert!(
        not_theirs
            .message()
            .contains("only by the supervisor of triage (sue)"),
        "{}",
        not_theirs.message()
    );
    let solved = resolve(spam.id, pb::Resolution::Solved, "", "sue")
        .await
        .unwrap_err();
    assert_eq!(
        solved.code(),
        Code::FailedPrecondition,
        "solving still needs someone to work on it"
    );
    let closed = resolve(spam.id, pb::Resolution::Spam, "", "sue")
        .await
        .unwrap()
        .into_inner()
        .ticket
        .unwrap();
    assert_eq!(
        (status_of(&closed), closed.resolution),
        (S::Resolved, pb::Resolution::Spam as i32)
    );
    let queue = r
        .list_team_queue(pb::ListTeamQueueRequest {
            team: "triage".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert!(queue.tickets.is_empty(), "out of the queue");
    let events = c
        .list_ticket_events(pb::ListTicketEventsRequest {
            ticket_id: spam.id,
            event_types: vec![pb::EventType::TicketResolved.into()],
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .events;
    assert_eq!(
        (events[0].actor.as_str(), events[0].reason.as_str()),
        ("sue", "no survey: marked spam")
    );

    // A duplicate goes into the ticket it repeats, straight from the queue.
    let first = create(&mut c, "Refund late").await;
    let again = create(&mut c, "Refund late (again)").await;
    let merged = resolve(again.id, pb::Resolution::Merged, &first.number, "sue")
        .await
        .unwrap()
        .into_inner()
        .ticket
        .unwrap();
    assert_eq!(
        (merged.resolution, merged.merged_into.as_str()),
        (pb::Resolution::Merged as i32, first.number.as_str())
    );
    s.stop().await;
}

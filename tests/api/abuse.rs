//! Malicious complaints: a flood of near-identical tickets, or one that says nothing, is held
//! for review; a reviewer releases it or confirms it, which blocks its sender; a blocked
//! sender is refused at intake with nothing written, until the block ends or is lifted.

use std::sync::Arc;

use feedbackd::domain::clock::SystemClock;
use feedbackd::proto::feedback::v1 as pb;
use pb::abuse_service_client::AbuseServiceClient;
use pb::access_service_client::AccessServiceClient;
use tonic::Code;
use tonic_types::StatusExt;

use crate::both;
use crate::support::{
    Authed, Backend, Client, TestDb, TestServer, bad_fields, create_with, new_ticket, status_of,
};

type Abuse = AbuseServiceClient<Authed>;

/// A server that holds the fifth near-identical ticket from one sender within ten minutes,
/// with the team `mall` (agent ann online, sue its supervisor) that its tickets go to.
async fn server(backend: Backend) -> (TestServer, Abuse, Abuse) {
    let db = Arc::new(TestDb::new(backend).await);
    let s = TestServer::start_on(db, Arc::new(SystemClock), |config| {
        config.abuse_threshold = 5;
    })
    .await;
    let mut routing = s.routing().await;
    let agents = [("ann", true), ("sue", false)];
    crate::support::product_team(&mut routing, "mall", "", &agents, "sue").await;
    let supervisor = s.key("sue", pb::Role::Supervisor, &["mall"], "", "").await;
    let admin = AbuseServiceClient::new(s.channel());
    let sue = AbuseServiceClient::new(s.channel_as(&supervisor));
    (s, admin, sue)
}

/// A ticket from customer `customer` (phone `phone`) that says `title` and the usual text.
fn from(customer: &str, phone: &str, title: &str) -> pb::CreateTicketRequest {
    let mut request = new_ticket(title);
    let c = request.customer.as_mut().unwrap();
    c.external_id = customer.into();
    c.phone = phone.into();
    c.email = format!("{customer}@example.com");
    request
}

async fn total(c: &mut Client) -> i64 {
    c.list_tickets(pb::ListTicketsRequest::default())
        .await
        .unwrap()
        .into_inner()
        .total_size
}

async fn events(c: &mut Client, id: i64) -> Vec<pb::TicketEvent> {
    c.list_ticket_events(pb::ListTicketEventsRequest {
        ticket_id: id,
        page_size: 100,
        ..Default::default()
    })
    .await
    .unwrap()
    .into_inner()
    .events
}

fn types(events: &[pb::TicketEvent]) -> Vec<pb::EventType> {
    events.iter().map(|e| e.r#type()).collect()
}

async fn a_flood_is_held_for_review_and_a_confirmed_sender_refused(backend: Backend) {
    let (s, _, mut sue) = server(backend).await;
    let mut c = s.client.clone();
    let flood = |n: usize| {
        from(
            "u-66",
            "13800138066",
            &format!("Refund not received!! ({n})"),
        )
    };
    let mut earlier = Vec::new();
    for n in 1..=4 {
        let t = create_with(&mut c, flood(n)).await;
        assert_ne!(status_of(&t), pb::TicketStatus::Quarantined, "ticket {n}");
        earlier.push(t);
    }
    // Another customer's tickets, and the same customer's other matters, are no flood.
    let other = create_with(
        &mut c,
        from("u-1", "13800138001", "Refund not received!! (1)"),
    )
    .await;
    assert_ne!(status_of(&other), pb::TicketStatus::Quarantined);

    let held = create_with(&mut c, flood(5)).await;
    assert_eq!(status_of(&held), pb::TicketStatus::Quarantined);
    assert_eq!(held.team, "mall", "it keeps the team that reviews it");
    assert!(
        held.status_reason.starts_with("5 near-identical tickets"),
        "reviewers see why in the list: {}",
        held.status_reason
    );
    assert!(held.assignee.is_empty(), "{held:?}");
    assert!(
        held.sla.as_ref().is_none_or(|s| s.clocks.is_empty()),
        "{:?}",
        held.sla
    );
    let history = events(&mut c, held.id).await;
    assert_eq!(
        types(&history),
        [
            pb::EventType::TicketCreated,
            pb::EventType::TicketQuarantined
        ]
    );
    assert!(
        history[1].reason.starts_with("5 near-identical tickets"),
        "{}",
        history[1].reason
    );
    // The customer was told of the others, never of the held one: a flood in someone else's
    // name does not reach their phone.
    let told = |id: i64| pb::ListTicketEventsRequest {
        ticket_id: id,
        event_types: vec![pb::EventType::Notification.into()],
        ..Default::default()
    };
    for (ticket, was_told) in [(&earlier[0], true), (&held, false)] {
        let notes = c.list_ticket_events(told(ticket.id)).await.unwrap();
        let notes = notes.into_inner().events;
        assert_eq!(!notes.is_empty(), was_told, "{}: {notes:?}", ticket.number);
    }
    // Reviewers find it by its status; no verb but the review's moves it.
    let listed = c
        .list_tickets(pb::ListTicketsRequest {
            statuses: vec![pb::TicketStatus::Quarantined.into()],
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .tickets;
    assert_eq!(listed.iter().map(|t| t.id).collect::<Vec<_>>(), [held.id]);
    let assign = c
        .assign_ticket(pb::AssignTicketRequest {
            ticket_id: held.id,
            agent: "ann".into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(assign.code(), Code::FailedPrecondition, "{assign:?}");

    // Confirmed: closed as spam, and the sender blocked by every identifier it has.
    let confirmed = sue
        .confirm_abuse(pb::ConfirmAbuseRequest {
            ticket_id: held.id,
            reason: "the same refund complaint five times in a minute".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    let ticket = confirmed.ticket.unwrap();
    assert_eq!(status_of(&ticket), pb::TicketStatus::Closed);
    assert_eq!(ticket.resolution, pb::Resolution::Spam as i32);
    let mut keys: Vec<_> = confirmed.blocks.iter().map(|b| b.key.as_str()).collect();
    keys.sort();
    assert_eq!(
        keys,
        [
            "customer:u-66",
            "email:u-66@example.com",
            "phone:13800138066"
        ]
    );
    let block = &confirmed.blocks[0];
    let week = block.until.as_ref().unwrap().seconds - block.create_time.as_ref().unwrap().seconds;
    assert_eq!(week, 7 * 24 * 3600, "--abuse-restriction by default");
    assert_eq!(block.ticket_number, held.number);
    assert_eq!(block.created_by, "key:sue");

    // The sender is refused, by any one identifier however spelled, and nothing of it is
    // written.
    let before = total(&mut c).await;
    let mut shouting = from("someone-else", "", "From the same address");
    shouting.customer.as_mut().unwrap().email = "U-66@Example.com".into();
    for request in [
        flood(6),
        from("u-66", "", "A new matter entirely"),
        from(
            "someone-else",
            "138 0013-8066",
            "Calling from the same phone",
        ),
        shouting,
    ] {
        let refused = c.create_ticket(request).await.unwrap_err();
        assert_eq!(refused.code(), Code::PermissionDenied, "{refused:?}");
        let info = refused.get_details_error_info().expect("an ErrorInfo");
        assert_eq!(info.reason, "SENDER_BLOCKED");
        assert!(info.metadata.contains_key("until"), "{info:?}");
        assert!(refused.message().contains("until"), "{}", refused.message());
    }
    assert_eq!(total(&mut c).await, before, "nothing was written");
    // Nor are their messages taken, nor may they reopen what was closed as abuse.
    let connector = s.key("wechat", pb::Role::Connector, &[], "", "").await;
    let mut connector = crate::support::Client::new(s.channel_as(&connector));
    let message = connector
        .add_comment(pb::AddCommentRequest {
            ticket_id: earlier[0].id,
            visibility: pb::CommentVisibility::Public.into(),
            body: "Still waiting!!".into(),
            author: "u-66".into(),
            author_role: pb::AuthorRole::Customer.into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    let reopen = connector
        .reopen_ticket(pb::ReopenTicketRequest {
            ticket_id: held.id,
            reason: "I was not done".into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    for refused in [message, reopen] {
        assert_eq!(
            refused.get_details_error_info().map(|i| i.reason),
            Some("SENDER_BLOCKED".to_owned()),
            "{refused:?}"
        );
    }

    // The confirmation and its blocks are on the record.
    let audit = AccessServiceClient::new(s.channel())
        .list_audit_entries(pb::ListAuditEntriesRequest {
            resource: "blocked sender".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .entries;
    assert_eq!(audit.len(), 3, "{audit:?}");
    assert!(
        audit
            .iter()
            .all(|e| e.actor == "key:sue" && e.action == "CREATED")
    );
    let history = events(&mut c, held.id).await;
    let last = history.last().unwrap();
    assert_eq!(last.r#type(), pb::EventType::AbuseConfirmed);
    assert_eq!(
        (last.actor.as_str(), last.reason.as_str()),
        (
            "key:sue",
            "the same refund complaint five times in a minute"
        )
    );
    s.stop().await;
}

async fn a_held_ticket_found_genuine_is_routed_as_if_new(backend: Backend) {
    let (s, _, mut sue) = server(backend).await;
    let mut c = s.client.clone();
    // A ticket that says nothing is held at once.
    let mut empty = from("u-7", "13800138007", "???");
    empty.description = "aaaa aaaa".into();
    let held = create_with(&mut c, empty).await;
    assert_eq!(status_of(&held), pb::TicketStatus::Quarantined);
    let reason = &events(&mut c, held.id).await[1].reason;
    assert!(reason.contains("says nothing"), "{reason}");

    let released = sue
        .release_ticket(pb::ReleaseTicketRequest {
            ticket_id: held.id,
            reason: "the customer called: a real refund problem".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .ticket
        .unwrap();
    // It joined the queue and ann, online, took it; its clocks started at the release.
    assert_eq!(released.assignee, "ann", "{released:?}");
    assert!(released.status_reason.is_empty(), "{released:?}");
    assert_eq!(released.sla.as_ref().unwrap().clocks.len(), 3);
    let history = types(&events(&mut c, held.id).await);
    assert_eq!(
        history[..3],
        [
            pb::EventType::TicketCreated,
            pb::EventType::TicketQuarantined,
            pb::EventType::TicketReleased,
        ]
    );
    assert!(history.contains(&pb::EventType::SlaStarted), "{history:?}");
    assert!(
        history.contains(&pb::EventType::TicketAssigned),
        "{history:?}"
    );
    // Released once is released: the review's verbs are for held tickets only.
    let again = sue
        .confirm_abuse(pb::ConfirmAbuseRequest {
            ticket_id: held.id,
            reason: "changed my mind".into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(again.code(), Code::FailedPrecondition, "{again:?}");
    s.stop().await;
}

async fn senders_are_blocked_by_hand_until_lifted(backend: Backend) {
    let (s, mut admin, mut sue) = server(backend).await;
    let mut c = s.client.clone();
    let block = |kind: pb::SenderKind, value: &str| pb::BlockSenderRequest {
        sender: Some(pb::BlockedSender {
            kind: kind.into(),
            value: value.into(),
            reason: "threatens staff".into(),
            ..Default::default()
        }),
    };
    let blocked = admin
        .block_sender(block(pb::SenderKind::Email, "x@example.com"))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(blocked.key, "email:x@example.com");
    assert!(blocked.until.is_none(), "for good");
    let mut request = from("u-x", "13800138099", "Hello");
    request.customer.as_mut().unwrap().email = "x@example.com".into();
    let refused = c.create_ticket(request.clone()).await.unwrap_err();
    assert_eq!(refused.code(), Code::PermissionDenied);
    assert!(
        refused.message().contains("threatens staff"),
        "{}",
        refused.message()
    );

    // Supervisors read the list; only admins block and lift.
    let listed = sue
        .list_blocked_senders(pb::ListBlockedSendersRequest::default())
        .await
        .unwrap()
        .into_inner()
        .senders;
    assert_eq!(listed.len(), 1);
    let denied = sue
        .unblock_sender(pb::UnblockSenderRequest {
            kind: pb::SenderKind::Email.into(),
            value: "x@example.com".into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(denied.code(), Code::PermissionDenied);

    // Bad input names its field.
    for (request, field) in [
        (block(pb::SenderKind::Unspecified, "x"), "sender.kind"),
        (block(pb::SenderKind::Phone, "call me"), "sender.value"),
        (
            block(pb::SenderKind::Email, "not-an-address"),
            "sender.value",
        ),
        (
            pb::BlockSenderRequest {
                sender: Some(pb::BlockedSender {
                    until: Some(prost_types::Timestamp {
                        seconds: 1_000_000_000,
                        nanos: 0,
                    }),
                    ..block(pb::SenderKind::Customer, "u-1").sender.unwrap()
                }),
            },
            "sender.until",
        ),
    ] {
        let bad = admin.block_sender(request).await.unwrap_err();
        assert_eq!(bad.code(), Code::InvalidArgument, "{bad:?}");
        assert_eq!(bad_fields(&bad), [field], "{bad:?}");
    }

    // Lifted: the sender is heard again at once.
    admin
        .unblock_sender(pb::UnblockSenderRequest {
            kind: pb::SenderKind::Email.into(),
            value: "x@example.com".into(),
            etag: blocked.etag.clone(),
        })
        .await
        .unwrap();
    let missing = admin
        .get_blocked_sender(pb::GetBlockedSenderRequest {
            kind: pb::SenderKind::Email.into(),
            value: "x@example.com".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(missing.code(), Code::NotFound);
    create_with(&mut c, request).await;
    s.stop().await;
}

both!(
    a_flood_is_held_for_review_and_a_confirmed_sender_refused,
    a_held_ticket_found_genuine_is_routed_as_if_new,
    senders_are_blocked_by_hand_until_lifted,
);

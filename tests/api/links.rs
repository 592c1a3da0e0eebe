//! Linked tickets: a duplicate merged into its primary (its messages copied, both customers
//! told), an incident and the complaints it caused (no circles; resolving the incident
//! resolves them), related tickets, and what an agent sees beside a ticket.

use std::sync::Arc;

use feedbackd::domain::clock::SystemClock;
use feedbackd::proto::feedback::v1 as pb;
use tonic::Code;

use crate::both;
use crate::support::{
    Backend, Client, TestDb, TestServer, bad_fields, create_with, get, history, new_ticket,
};

both!(
    a_duplicate_merges_into_its_primary,
    an_incident_resolves_the_complaints_it_caused,
    links_are_checked,
);

/// A server with team `mall` (agent ann online, supervisor sue) that takes the tickets.
async fn server(backend: Backend) -> TestServer {
    let db = Arc::new(TestDb::new(backend).await);
    let s = TestServer::start_on(db, Arc::new(SystemClock), |_| {}).await;
    let mut routing = s.routing().await;
    crate::support::product_team(
        &mut routing,
        "mall",
        "",
        &[("ann", true), ("sue", false)],
        "sue",
    )
    .await;
    s
}

/// A ticket of `customer` saying `title`.
async fn ticket_of(c: &mut Client, customer: &str, title: &str) -> pb::Ticket {
    let mut request = new_ticket(title);
    let who = request.customer.as_mut().unwrap();
    who.external_id = customer.into();
    who.phone = String::new();
    who.email = format!("{customer}@example.com");
    create_with(c, request).await
}

fn link(kind: pb::LinkKind, other: &pb::Ticket) -> pb::TicketLink {
    pb::TicketLink {
        kind: kind.into(),
        ticket_id: other.id,
        ticket_number: other.number.clone(),
    }
}

async fn a_duplicate_merges_into_its_primary(backend: Backend) {
    let s = server(backend).await;
    let mut c = s.client.clone();
    let primary = ticket_of(&mut c, "c-1", "Charged twice for order 1234").await;
    let duplicate = ticket_of(&mut c, "c-1", "Double charge again!").await;
    c.add_comment(pb::AddCommentRequest {
        ticket_id: duplicate.id,
        visibility: pb::CommentVisibility::Public.into(),
        author_role: pb::AuthorRole::Customer.into(),
        author: "c-1".into(),
        body: "Here is my bank statement line: 99.00 x2".into(),
        ..Default::default()
    })
    .await
    .unwrap();
    let mut files = pb::attachment_service_client::AttachmentServiceClient::new(s.channel());
    let statement = crate::attachments::png(2_000, 7);
    crate::attachments::upload(
        &mut files,
        crate::attachments::public(duplicate.id, "statement.png"),
        &statement,
    )
    .await
    .unwrap();
    let merge = pb::MergeTicketsRequest {
        duplicate_ticket_id: duplicate.id,
        primary_ticket_id: primary.id,
        actor: "sue".into(),
        ..Default::default()
    };
    let merged = c.merge_tickets(merge.clone()).await.unwrap().into_inner();
    let (p, d) = (merged.primary.unwrap(), merged.duplicate.unwrap());
    assert_eq!(d.status(), pb::TicketStatus::Resolved);
    assert_eq!(d.resolution(), pb::Resolution::Merged);
    assert_eq!(d.merged_into, primary.number);
    assert_eq!(d.links, [link(pb::LinkKind::MergedInto, &primary)]);
    assert_eq!(p.links, [link(pb::LinkKind::MergedFrom, &duplicate)]);
    assert_eq!(p.repeat_count, 1);
    // The primary holds the duplicate's words, the customer's message included.
    let linked = history(&mut c, primary.id, &[pb::EventType::TicketLinked]).await;
    let note = linked[0]
        .comment
        .clone()
        .expect("the note comes with the link");
    assert_eq!(note.visibility(), pb::CommentVisibility::Internal);
    assert!(note.body.contains(&duplicate.number), "{}", note.body);
    assert!(note.body.contains("99.00 x2"), "{}", note.body);
    assert!(note.body.contains("statement.png"), "{}", note.body);
    let other_side = history(&mut c, duplicate.id, &[pb::EventType::TicketLinked]).await;
    assert_eq!(
        other_side[0].link,
        Some(link(pb::LinkKind::MergedInto, &primary))
    );
    // Both tickets' customers hear of it.
    for (id, says) in [
        (primary.id, "reported again"),
        (duplicate.id, "another ticket"),
    ] {
        let told = history(&mut c, id, &[pb::EventType::Notification]).await;
        assert!(
            told.iter()
                .any(|e| e.notification.as_ref().is_some_and(|n| n.kind()
                    == pb::NotificationKind::Progress
                    && n.text.contains(says))),
            "ticket {id}: {told:?}"
        );
    }
    // A retry finds the merge done and answers the same.
    let again = c.merge_tickets(merge).await.unwrap().into_inner();
    assert_eq!(again.primary.unwrap().links, p.links);
    let undo = c
        .unlink_tickets(pb::UnlinkTicketsRequest {
            ticket_id: primary.id,
            other_ticket_id: duplicate.id,
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(undo.code(), Code::FailedPrecondition);

    // Another customer's ticket merges only when asked.
    let stranger = ticket_of(&mut c, "c-2", "Charged twice too").await;
    let across = pb::MergeTicketsRequest {
        duplicate_ticket_id: stranger.id,
        primary_ticket_id: primary.id,
        actor: "sue".into(),
        ..Default::default()
    };
    let refused = c.merge_tickets(across.clone()).await.unwrap_err();
    assert_eq!(refused.code(), Code::FailedPrecondition);
    assert!(
        refused.message().contains("allow_other_customer"),
        "{}",
        refused.message()
    );
    let untouched = get(&mut c, stranger.id).await;
    assert!(untouched.links.is_empty() && untouched.merged_into.is_empty());
    let allowed = c
        .merge_tickets(pb::MergeTicketsRequest {
            allow_other_customer: true,
            ..across
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(allowed.primary.unwrap().repeat_count, 2);
    // Into itself, or into a ticket merged away: refused, nothing written.
    let itself = c
        .merge_tickets(pb::MergeTicketsRequest {
            duplicate_ticket_id: primary.id,
            primary_ticket_id: primary.id,
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(bad_fields(&itself), ["primary_ticket_id"]);
    let third = ticket_of(&mut c, "c-1", "And once more").await;
    let into_merged = c
        .merge_tickets(pb::MergeTicketsRequest {
            duplicate_ticket_id: third.id,
            primary_ticket_id: duplicate.id,
            actor: "sue".into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(into_merged.code(), Code::FailedPrecondition);
    assert!(get(&mut c, third.id).await.links.is_empty());
    s.stop().await;
}

async fn an_incident_resolves_the_complaints_it_caused(backend: Backend) {
    let s = server(backend).await;
    let mut c = s.client.clone();
    let incident = ticket_of(&mut c, "monitoring", "Payments fail for everyone").await;
    let first = ticket_of(&mut c, "c-1", "Cannot pay").await;
    let second = ticket_of(&mut c, "c-2", "Payment failed twice").await;
    let earlier = ticket_of(&mut c, "c-1", "Last month: late parcel").await;
    for complaint in [&first, &second] {
        let linked = c
            .link_tickets(pb::LinkTicketsRequest {
                ticket_id: complaint.id,
                other_ticket_id: incident.id,
                kind: pb::LinkKind::Parent.into(),
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner();
        assert_eq!(
            linked.ticket.unwrap().links,
            [link(pb::LinkKind::Parent, &incident)]
        );
    }
    let parent = get(&mut c, incident.id).await;
    assert_eq!(
        parent.links,
        [
            link(pb::LinkKind::Child, &first),
            link(pb::LinkKind::Child, &second)
        ]
    );
    // No circles: the incident cannot become a child of its own complaint.
    let circle = c
        .link_tickets(pb::LinkTicketsRequest {
            ticket_id: incident.id,
            other_ticket_id: first.id,
            kind: pb::LinkKind::Related.into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(circle.code(), Code::FailedPrecondition, "already linked");
    let deeper = ticket_of(&mut c, "c-3", "Wallet top-up fails").await;
    c.link_tickets(pb::LinkTicketsRequest {
        ticket_id: deeper.id,
        other_ticket_id: first.id,
        kind: pb::LinkKind::Parent.into(),
        ..Default::default()
    })
    .await
    .unwrap();
    let circle = c
        .link_tickets(pb::LinkTicketsRequest {
            ticket_id: incident.id,
            other_ticket_id: deeper.id,
            kind: pb::LinkKind::Parent.into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(bad_fields(&circle), ["other_ticket_id"]);

    // Beside the first complaint: its incident, and the customer's earlier ticket.
    let context = c
        .get_ticket_context(pb::GetTicketContextRequest {
            ticket_id: first.id,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    let linked: Vec<i64> = context.linked.iter().map(|t| t.id).collect();
    assert_eq!(linked, [deeper.id, incident.id], "newest link first");
    assert!(context.history.is_empty(), "nothing of c-1 came before it");
    let later = c
        .get_ticket_context(pb::GetTicketContextRequest {
            ticket_id: earlier.id,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        later.history.iter().map(|t| t.id).collect::<Vec<_>>(),
        [first.id]
    );

    // Resolving the incident resolves each complaint, with a message to each customer.
    let ann = c
        .assign_ticket(pb::AssignTicketRequest {
            ticket_id: incident.id,
            agent: "ann".into(),
            ..Default::default()
        })
        .await
        .unwrap();
    drop(ann);
    c.acknowledge_ticket(pb::AcknowledgeTicketRequest {
        ticket_id: incident.id,
        agent: "ann".into(),
        ..Default::default()
    })
    .await
    .unwrap();
    let done = c
        .resolve_with_children(pb::ResolveWithChildrenRequest {
            ticket_id: incident.id,
            resolution_summary: "The payment provider fixed the outage at 14:05".into(),
            actor: "ann".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(done.ticket.unwrap().status(), pb::TicketStatus::Resolved);
    let resolved: Vec<i64> = done.resolved.iter().map(|t| t.id).collect();
    assert_eq!(resolved, [first.id, second.id]);
    assert!(done.skipped.is_empty(), "{:?}", done.skipped);
    for complaint in [&first, &second] {
        let told = history(&mut c, complaint.id, &[pb::EventType::Notification]).await;
        assert!(
            told.iter().any(|e| e
                .notification
                .as_ref()
                .is_some_and(|n| n.text.contains("fixed the outage"))),
            "{told:?}"
        );
    }
    // Unlinking removes the link from both sides, with an event on each.
    c.unlink_tickets(pb::UnlinkTicketsRequest {
        ticket_id: deeper.id,
        other_ticket_id: first.id,
        ..Default::default()
    })
    .await
    .unwrap();
    assert!(get(&mut c, deeper.id).await.links.is_empty());
    assert_eq!(get(&mut c, first.id).await.links.len(), 1);
    let unlinked = history(&mut c, first.id, &[pb::EventType::TicketUnlinked]).await;
    assert_eq!(unlinked[0].link, Some(link(pb::LinkKind::Child, &deeper)));
    s.stop().await;
}

async fn links_are_checked(backend: Backend) {
    let s = server(backend).await;
    let mut c = s.client.clone();
    let a = ticket_of(&mut c, "c-1", "One").await;
    let bad = c
        .link_tickets(pb::LinkTicketsRequest {
            ticket_id: a.id,
            other_ticket_id: a.id,
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(bad_fields(&bad), ["kind"]);
    let itself = c
        .link_tickets(pb::LinkTicketsRequest {
            ticket_id: a.id,
            other_ticket_id: a.id,
            kind: pb::LinkKind::Related.into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(bad_fields(&itself), ["other_ticket_id"]);
    let merged_kind = c
        .link_tickets(pb::LinkTicketsRequest {
            ticket_id: a.id,
            other_ticket_id: 999_999,
            kind: pb::LinkKind::MergedInto.into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(bad_fields(&merged_kind), ["kind"]);
    let missing = c
        .link_tickets(pb::LinkTicketsRequest {
            ticket_id: a.id,
            other_ticket_id: 999_999,
            kind: pb::LinkKind::Related.into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(missing.code(), Code::NotFound);
    let b = ticket_of(&mut c, "c-1", "Two").await;
    let not_linked = c
        .unlink_tickets(pb::UnlinkTicketsRequest {
            ticket_id: a.id,
            other_ticket_id: b.id,
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(not_linked.code(), Code::FailedPrecondition);
    let history = c
        .get_ticket_context(pb::GetTicketContextRequest {
            ticket_id: a.id,
            history_size: 51,
        })
        .await
        .unwrap_err();
    assert_eq!(bad_fields(&history), ["history_size"]);
    // Links are made by their verbs, never written by UpdateTicket.
    let output_only = c
        .update_ticket(pb::UpdateTicketRequest {
            ticket: Some(pb::Ticket {
                id: a.id,
                ..Default::default()
            }),
            update_mask: Some(prost_types::FieldMask {
                paths: vec!["links".into()],
            }),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert!(
        bad_fields(&output_only)[0].starts_with("update_mask"),
        "{output_only:?}"
    );
    assert!(get(&mut c, a.id).await.links.is_empty());
    s.stop().await;
}

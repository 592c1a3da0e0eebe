//! Bad input is refused with INVALID_ARGUMENT naming every bad field, and nothing is written.

use feedbackd::proto::feedback::v1 as pb;
use tonic::Code;

use crate::both;
use crate::support::{Backend, TestServer, bad_fields, create, new_ticket};

both!(
    create_names_every_bad_field,
    channels_need_a_way_back,
    other_requests_name_their_fields,
    lookups_of_missing_tickets
);

async fn create_names_every_bad_field(backend: Backend) {
    let s = TestServer::start(backend).await;
    let mut c = s.client.clone();
    let bad = pb::CreateTicketRequest {
        request_id: "r".repeat(129),
        channel: pb::Channel::Unspecified.into(),
        kind: 42,
        title: "   ".into(),
        description: String::new(),
        expected_outcome: "x".repeat(2001),
        customer: Some(pb::Customer {
            phone: "call me".into(),
            email: "not-an-email".into(),
            ..Default::default()
        }),
        tags: vec!["ok".into(), "".into()],
        occurred_at: Some(prost_types::Timestamp {
            seconds: 4_102_444_800,
            nanos: 0,
        }), // 2100
        metadata: [("".to_owned(), "v".to_owned())].into(),
        priority: 9,
        ..Default::default()
    };
    let err = c.create_ticket(bad).await.unwrap_err();
    let mut fields = bad_fields(&err);
    fields.sort();
    assert_eq!(
        fields,
        [
            "channel",
            "customer.email",
            "customer.phone",
            "description",
            "expected_outcome",
            "kind",
            "metadata[\"\"]",
            "occurred_at",
            "priority",
            "request_id",
            "tags[1]",
            "title"
        ],
        "{err:?}"
    );
    let ancient = pb::CreateTicketRequest {
        occurred_at: Some(prost_types::Timestamp {
            seconds: -8_000_000_000_000,
            nanos: 0,
        }),
        ..new_ticket("x")
    };
    assert_eq!(
        bad_fields(&c.create_ticket(ancient).await.unwrap_err()),
        ["occurred_at"]
    );
    let precise = pb::CreateTicketRequest {
        occurred_at: Some(prost_types::Timestamp {
            seconds: 1_700_000_000,
            nanos: 123_456_789,
        }),
        ..new_ticket("nanos")
    };
    let created = c
        .create_ticket(precise)
        .await
        .unwrap()
        .into_inner()
        .ticket
        .unwrap();
    assert_eq!(
        created.occurred_at.unwrap().nanos,
        123_456_000,
        "kept to microseconds, as stored"
    );
    let stored = c
        .get_ticket(pb::GetTicketRequest {
            key: Some(pb::get_ticket_request::Key::TicketId(created.id)),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(stored, created);
    let too_long = pb::CreateTicketRequest {
        title: "长".repeat(201),
        ..new_ticket("x")
    };
    assert_eq!(
        bad_fields(&c.create_ticket(too_long).await.unwrap_err()),
        ["title"]
    );
    let exactly = pb::CreateTicketRequest {
        title: "长".repeat(200),
        ..new_ticket("x")
    };
    c.create_ticket(exactly)
        .await
        .expect("200 characters, counted as characters not bytes");

    let listed = c
        .list_tickets(pb::ListTicketsRequest::default())
        .await
        .unwrap()
        .into_inner();
    assert_eq!(listed.tickets.len(), 2, "refused requests wrote nothing");
    let events = c
        .list_ticket_events(pb::ListTicketEventsRequest {
            ticket_id: listed.tickets[0].id,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    // TICKET_CREATED and SLA_STARTED.
    assert_eq!(events.events.len(), 2);
    s.stop().await;
}

async fn channels_need_a_way_back(backend: Backend) {
    let s = TestServer::start(backend).await;
    let mut c = s.client.clone();
    let anonymous = |channel: pb::Channel| pb::CreateTicketRequest {
        channel: channel.into(),
        customer: None,
        ..new_ticket("no contact")
    };
    assert_eq!(
        bad_fields(
            &c.create_ticket(anonymous(pb::Channel::Hotline))
                .await
                .unwrap_err()
        ),
        ["customer.phone"]
    );
    assert_eq!(
        bad_fields(
            &c.create_ticket(anonymous(pb::Channel::Email))
                .await
                .unwrap_err()
        ),
        ["customer.email"]
    );
    assert_eq!(
        bad_fields(
            &c.create_ticket(anonymous(pb::Channel::WebForm))
                .await
                .unwrap_err()
        ),
        ["customer"]
    );
    assert_eq!(
        bad_fields(
            &c.create_ticket(anonymous(pb::Channel::App))
                .await
                .unwrap_err()
        ),
        ["customer"]
    );
    c.create_ticket(anonymous(pb::Channel::InPerson))
        .await
        .expect("in person needs no contact");
    // Taking the only contact away later is refused too.
    let t = create(&mut c, "hotline").await;
    let err = c
        .update_ticket(pb::UpdateTicketRequest {
            ticket: Some(pb::Ticket {
                id: t.id,
                customer: Some(pb::Customer::default()),
                ..Default::default()
            }),
            update_mask: Some(prost_types::FieldMask {
                paths: vec!["customer".into()],
            }),
            actor: String::new(),
        })
        .await
        .unwrap_err();
    assert_eq!(bad_fields(&err), ["ticket.customer"]);
    s.stop().await;
}

async fn other_requests_name_their_fields(backend: Backend) {
    let s = TestServer::start(backend).await;
    let mut c = s.client.clone();
    let t = create(&mut c, "fields").await;
    let mask = |paths: &[&str]| {
        Some(prost_types::FieldMask {
            paths: paths.iter().map(|p| p.to_string()).collect(),
        })
    };

    let err = c
        .update_ticket(pb::UpdateTicketRequest {
            ticket: Some(pb::Ticket {
                id: t.id,
                ..Default::default()
            }),
            update_mask: mask(&["status", "assignee", "number", "colour"]),
            actor: String::new(),
        })
        .await
        .unwrap_err();
    assert_eq!(
        bad_fields(&err),
        [
            "update_mask.paths[status]",
            "update_mask.paths[assignee]",
            "update_mask.paths[number]",
            "update_mask.paths[colour]"
        ]
    );
    assert!(
        err.message().contains("lifecycle verbs"),
        "{}",
        err.message()
    );
    let err = c
        .update_ticket(pb::UpdateTicketRequest {
            ticket: Some(pb::Ticket {
                id: t.id,
                ..Default::default()
            }),
            update_mask: None,
            actor: String::new(),
        })
        .await
        .unwrap_err();
    assert_eq!(bad_fields(&err), ["update_mask"]);
    let err = c
        .update_ticket(pb::UpdateTicketRequest {
            ticket: Some(pb::Ticket {
                id: t.id,
                ..Default::default()
            }),
            update_mask: mask(&["title", "priority"]),
            actor: String::new(),
        })
        .await
        .unwrap_err();
    assert_eq!(bad_fields(&err), ["ticket.title", "ticket.priority"]);

    let err = c
        .assign_ticket(pb::AssignTicketRequest {
            ticket_id: 0,
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(bad_fields(&err), ["agent", "ticket_id"]);
    let err = c
        .acknowledge_ticket(pb::AcknowledgeTicketRequest {
            ticket_id: t.id,
            agent: "a".repeat(300),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(bad_fields(&err), ["agent"]);
    let err = c
        .add_comment(pb::AddCommentRequest {
            ticket_id: t.id,
            author_role: pb::AuthorRole::Customer.into(),
            visibility: pb::CommentVisibility::Internal.into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    // No author: the caller is the author.
    assert_eq!(bad_fields(&err), ["body", "visibility"]);
    let err = c
        .resolve_ticket(pb::ResolveTicketRequest {
            ticket_id: t.id,
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(bad_fields(&err), ["resolution_summary"]);
    let err = c
        .reopen_ticket(pb::ReopenTicketRequest {
            ticket_id: t.id,
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(bad_fields(&err), ["reason"]);
    let err = c
        .list_tickets(pb::ListTicketsRequest {
            statuses: vec![0, 42],
            order_by: "colour".into(),
            page_size: -1,
            page_token: "garbage".into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    // Every bad field at once, the page token among them.
    assert_eq!(
        bad_fields(&err),
        ["statuses[1]", "order_by", "page_size", "page_token"]
    );
    let err = c
        .list_tickets(pb::ListTicketsRequest {
            page_token: "garbage".into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(bad_fields(&err), ["page_token"]);
    let err = c
        .get_ticket(pb::GetTicketRequest { key: None })
        .await
        .unwrap_err();
    assert_eq!(bad_fields(&err), ["key"]);
    let err = c
        .watch_tickets(pb::WatchTicketsRequest {
            event_types: vec![99],
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(bad_fields(&err), ["event_types[0]"]);

    let now = c
        .get_ticket(pb::GetTicketRequest {
            key: Some(pb::get_ticket_request::Key::TicketId(t.id)),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(now, t, "nothing was written");
    s.stop().await;
}

async fn lookups_of_missing_tickets(backend: Backend) {
    let s = TestServer::start(backend).await;
    let mut c = s.client.clone();
    let err = c
        .get_ticket(pb::GetTicketRequest {
            key: Some(pb::get_ticket_request::Key::Number("FB202601010001".into())),
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::NotFound);
    let err = c
        .resolve_ticket(pb::ResolveTicketRequest {
            ticket_id: 777,
            resolution_summary: "x".into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::NotFound);
    let err = c
        .add_comment(pb::AddCommentRequest {
            ticket_id: 777,
            visibility: 1,
            body: "x".into(),
            author: "a".into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::NotFound);
    s.stop().await;
}

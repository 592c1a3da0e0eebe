//! ListTickets: filters, orders, and keyset pages that return each ticket exactly once while
//! new tickets keep arriving.

use std::collections::HashSet;

use feedbackd::proto::feedback::v1 as pb;

use crate::both;
use crate::support::{Backend, Client, TestServer, create_with, missing, new_ticket};

both!(
    filters_match_what_they_name,
    staff_filters_owner_repeats_reopens_resolutions_and_event_types,
    pages_see_each_ticket_once_while_inserts_run,
    orders_by_priority_and_update_time,
    naming_nobody_is_not_found,
    open_tickets_and_the_total,
);

async fn filters_match_what_they_name(backend: Backend) {
    let s = TestServer::start(backend).await;
    s.seed_staff().await;
    let mut c = s.client.clone();
    let email = create_with(
        &mut c,
        pb::CreateTicketRequest {
            channel: pb::Channel::Email.into(),
            kind: pb::TicketKind::Inquiry.into(),
            title: "Invoice question".into(),
            product: "billing".into(),
            tags: vec!["Invoice".into()],
            ..new_ticket("")
        },
    )
    .await;
    let app = create_with(
        &mut c,
        pb::CreateTicketRequest {
            title: "App crashes on login".into(),
            kind: pb::TicketKind::Problem.into(),
            description: "白屏 after the update 50%_off. Ärger mit der Anmeldung".into(),
            ..new_ticket("")
        },
    )
    .await;
    let vip = create_with(
        &mut c,
        pb::CreateTicketRequest {
            priority: pb::Priority::Urgent.into(),
            customer: Some(pb::Customer {
                external_id: "vip-9".into(),
                phone: "13800138000".into(),
                tier: pb::CustomerTier::Vip.into(),
                ..Default::default()
            }),
            ..new_ticket("Charged twice")
        },
    )
    .await;
    c.assign_ticket(pb::AssignTicketRequest {
        ticket_id: app.id,
        team: "tech".into(),
        agent: "tom".into(),
        ..Default::default()
    })
    .await
    .unwrap();

    let ids = |tickets: Vec<pb::Ticket>| tickets.into_iter().map(|t| t.id).collect::<Vec<_>>();
    let list = |r: pb::ListTicketsRequest| {
        let mut c = c.clone();
        async move { ids(c.list_tickets(r).await.unwrap().into_inner().tickets) }
    };
    assert_eq!(
        list(pb::ListTicketsRequest {
            channels: vec![pb::Channel::Email.into()],
            ..Default::default()
        })
        .await,
        [email.id]
    );
    assert_eq!(
        list(pb::ListTicketsRequest {
            kinds: vec![
                pb::TicketKind::Problem.into(),
                pb::TicketKind::Inquiry.into()
            ],
            ..Default::default()
        })
        .await,
        [email.id, app.id]
    );
    assert_eq!(
        list(pb::ListTicketsRequest {
            priorities: vec![pb::Priority::Urgent.into()],
            ..Default::default()
        })
        .await,
        [vip.id]
    );
    assert_eq!(
        list(pb::ListTicketsRequest {
            statuses: vec![pb::TicketStatus::Assigned.into()],
            ..Default::default()
        })
        .await,
        [app.id]
    );
    assert_eq!(
        list(pb::ListTicketsRequest {
            team: "tech".into(),
            ..Default::default()
        })
        .await,
        [app.id]
    );
    assert_eq!(
        list(pb::ListTicketsRequest {
            assignee: "tom".into(),
            ..Default::default()
        })
        .await,
        [app.id]
    );
    assert_eq!(
        list(pb::ListTicketsRequest {
            customer_external_id: "vip-9".into(),
            ..Default::default()
        })
        .await,
        [vip.id]
    );
    assert_eq!(
        list(pb::ListTicketsRequest {
            product: "billing".into(),
            ..Default::default()
        })
        .await,
        [email.id]
    );
    assert_eq!(
        list(pb::ListTicketsRequest {
            tag: "invoice".into(),
            ..Default::default()
        })
        .await,
        [email.id]
    );
    assert_eq!(
        list(pb::ListTicketsRequest {
            text: "CRASHES".into(),
            ..Default::default()
        })
        .await,
        [app.id]
    );
    assert_eq!(
        list(pb::ListTicketsRequest {
            text: "白屏".into(),
            ..Default::default()
        })
        .await,
        [app.id]
    );
    for text in ["Ärger", "ANMELDUNG"] {
        let found = list(pb::ListTicketsRequest {
            text: text.into(),
            ..Default::default()
        })
        .await;
        assert_eq!(
            found,
            [app.id],
            "{text}: exact non-ASCII letters, any case of ASCII ones"
        );
    }
    assert_eq!(
        list(pb::ListTicketsRequest {
            text: "50%_".into(),
            ..Default::default()
        })
        .await,
        [app.id],
        "% and _ are literal"
    );
    assert!(
        list(pb::ListTicketsRequest {
            text: "5%".into(),
            ..Default::default()
        })
        .await
        .is_empty()
    );
    assert_eq!(
        list(pb::ListTicketsRequest {
            team: "tech".into(),
            kinds: vec![pb::TicketKind::Inquiry.into()],
            ..Default::default()
        })
        .await,
        Vec::<i64>::new()
    );
    let after = vip.create_time.unwrap();
    assert_eq!(
        list(pb::ListTicketsRequest {
            created_after: Some(after),
            ..Default::default()
        })
        .await,
        [vip.id]
    );
    assert_eq!(
        list(pb::ListTicketsRequest {
            created_before: Some(after),
            ..Default::default()
        })
        .await,
        [email.id, app.id]
    );
    s.stop().await;
}

async fn pages_see_each_ticket_once_while_inserts_run(backend: Backend) {
    let s = TestServer::start(backend).await;
    let mut c = s.client.clone();
    for i in 0..60 {
        create_with(&mut c, new_ticket(&format!("existing {i}"))).await;
    }
    let writer = {
        let mut w = s.client().await;
        tokio::spawn(async move {
            for i in 0..60 {
                create_with(&mut w, new_ticket(&format!("new {i}"))).await;
            }
        })
    };
    for order_by in [
        "create_time",
        "create_time desc",
        "priority",
        "update_time desc",
    ] {
        let mut seen = Vec::new();
        let mut token = String::new();
        loop {
            let page = c
                .list_tickets(pb::ListTicketsRequest {
                    page_size: 7,
                    page_token: token,
                    order_by: order_by.into(),
                    ..Default::default()
                })
                .await
                .unwrap()
                .into_inner();
            seen.extend(page.tickets.iter().map(|t| (t.id, t.title.clone())));
            token = page.next_page_token;
            if token.is_empty() {
                break;
            }
        }
        let unique: HashSet<i64> = seen.iter().map(|(id, _)| *id).collect();
        assert_eq!(unique.len(), seen.len(), "{order_by}: no ticket twice");
        for i in 0..60 {
            assert!(
                seen.iter()
                    .any(|(_, title)| *title == format!("existing {i}")),
                "{order_by}: existing {i} seen"
            );
        }
    }
    writer.await.unwrap();
    let err = c
        .list_tickets(pb::ListTicketsRequest {
            page_size: 5,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .next_page_token;
    let mismatched = c
        .list_tickets(pb::ListTicketsRequest {
            page_size: 5,
            page_token: err,
            team: "other".into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(
        crate::support::bad_fields(&mismatched),
        ["page_token"],
        "a token only continues its own query"
    );
    s.stop().await;
}

async fn orders_by_priority_and_update_time(backend: Backend) {
    let s = TestServer::start(backend).await;
    s.seed_staff().await;
    let mut c = s.client.clone();
    let mut made = Vec::new();
    for (title, priority) in [
        ("low", pb::Priority::Low),
        ("urgent", pb::Priority::Urgent),
        ("medium", pb::Priority::Medium),
        ("high", pb::Priority::High),
        ("urgent2", pb::Priority::Urgent),
    ] {
        made.push(
            create_with(
                &mut c,
                pb::CreateTicketRequest {
                    priority: priority.into(),
                    ..new_ticket(title)
                },
            )
            .await,
        );
    }
    let titles =
        |r: pb::ListTicketsResponse| r.tickets.into_iter().map(|t| t.title).collect::<Vec<_>>();
    let by_priority = c
        .list_tickets(pb::ListTicketsRequest {
            order_by: "priority".into(),
            page_size: 2,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    let token = by_priority.next_page_token.clone();
    let mut all = titles(by_priority);
    let rest = c
        .list_tickets(pb::ListTicketsRequest {
            order_by: "priority".into(),
            page_size: 10,
            page_token: token,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    all.extend(titles(rest));
    assert_eq!(all, ["urgent", "urgent2", "high", "medium", "low"]);
    // Touch the first ticket: it becomes the most recently updated.
    c.assign_ticket(pb::AssignTicketRequest {
        ticket_id: made[0].id,
        team: "ops".into(),
        ..Default::default()
    })
    .await
    .unwrap();
    let recent = c
        .list_tickets(pb::ListTicketsRequest {
            order_by: "update_time desc".into(),
            page_size: 1,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(titles(recent), ["low"]);
    s.stop().await;
}

/// The ids of the tickets `request` lists.
async fn ids(c: &mut Client, request: pb::ListTicketsRequest) -> Vec<i64> {
    c.list_tickets(request)
        .await
        .unwrap()
        .into_inner()
        .tickets
        .iter()
        .map(|t| t.id)
        .collect()
}

/// Takes a ticket from NEW to RESOLVED as `resolution`, handled by `agent`.
async fn resolve(c: &mut Client, id: i64, agent: &str, resolution: pb::Resolution) {
    c.assign_ticket(pb::AssignTicketRequest {
        ticket_id: id,
        team: "support".into(),
        agent: agent.into(),
        ..Default::default()
    })
    .await
    .unwrap();
    c.acknowledge_ticket(pb::AcknowledgeTicketRequest {
        ticket_id: id,
        agent: agent.into(),
        ..Default::default()
    })
    .await
    .unwrap();
    c.resolve_ticket(pb::ResolveTicketRequest {
        ticket_id: id,
        resolution_summary: "done".into(),
        resolution: resolution.into(),
        ..Default::default()
    })
    .await
    .unwrap();
}

async fn staff_filters_owner_repeats_reopens_resolutions_and_event_types(backend: Backend) {
    let s = TestServer::start(backend).await;
    s.seed_staff().await;
    let mut c = s.client.clone();
    let first = create_with(&mut c, new_ticket("Refund late")).await;
    // The same customer about the same product within the repeat window: a repeat.
    let repeat = create_with(&mut c, new_ticket("Refund still late")).await;
    assert_eq!(repeat.repeat_of, first.number);
    let spam = create_with(
        &mut c,
        pb::CreateTicketRequest {
            customer: Some(pb::Customer {
                external_id: "someone-else".into(),
                ..Default::default()
            }),
            product: "other".into(),
            ..new_ticket("Buy now")
        },
    )
    .await;
    resolve(&mut c, first.id, "ann", pb::Resolution::Solved).await;
    resolve(&mut c, spam.id, "bob", pb::Resolution::Spam).await;
    c.reopen_ticket(pb::ReopenTicketRequest {
        ticket_id: first.id,
        reason: "still no money".into(),
        ..Default::default()
    })
    .await
    .unwrap();

    let by = |edit: fn(&mut pb::ListTicketsRequest)| {
        let mut request = pb::ListTicketsRequest::default();
        edit(&mut request);
        request
    };
    assert_eq!(
        ids(&mut c, by(|r| r.owner = "ann".into())).await,
        [first.id]
    );
    assert_eq!(ids(&mut c, by(|r| r.owner = "bob".into())).await, [spam.id]);
    let repeats = ids(&mut c, by(|r| r.repeat_of = String::new())).await;
    assert_eq!(repeats.len(), 3, "an empty filter filters nothing");
    let repeats_of_first = pb::ListTicketsRequest {
        repeat_of: first.number.clone(),
        ..Default::default()
    };
    assert_eq!(ids(&mut c, repeats_of_first).await, [repeat.id]);
    assert_eq!(
        ids(&mut c, by(|r| r.reopened = Some(true))).await,
        [first.id]
    );
    assert_eq!(
        ids(&mut c, by(|r| r.reopened = Some(false))).await,
        [repeat.id, spam.id]
    );
    assert_eq!(
        ids(
            &mut c,
            by(|r| r.resolutions = vec![pb::Resolution::Spam.into()])
        )
        .await,
        [spam.id],
        "the reopened ticket is resolved no more"
    );

    // A ticket's history of one kind of event.
    let events = c
        .list_ticket_events(pb::ListTicketEventsRequest {
            ticket_id: first.id,
            event_types: vec![
                pb::EventType::TicketResolved.into(),
                pb::EventType::TicketReopened.into(),
            ],
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .events;
    let types: Vec<_> = events
        .iter()
        .map(|e| pb::EventType::try_from(e.r#type).unwrap())
        .collect();
    assert_eq!(
        types,
        [pb::EventType::TicketResolved, pb::EventType::TicketReopened]
    );
    s.stop().await;
}

async fn naming_nobody_is_not_found(backend: Backend) {
    let s = TestServer::start(backend).await;
    s.seed_staff().await;
    let mut c = s.client.clone();
    let t = create_with(&mut c, new_ticket("Refund late")).await;
    let list = |edit: fn(&mut pb::ListTicketsRequest)| {
        let mut request = pb::ListTicketsRequest::default();
        edit(&mut request);
        let mut c = c.clone();
        async move { c.list_tickets(request).await }
    };
    let named = |result: Result<tonic::Response<_>, tonic::Status>| missing(&result.unwrap_err());
    let pair = |kind: &str, key: &str| (kind.to_owned(), key.to_owned());
    assert_eq!(
        named(list(|r| r.team = "no-such-team".into()).await),
        pair("team", "no-such-team")
    );
    assert_eq!(
        named(list(|r| r.assignee = "nobody".into()).await),
        pair("agent", "nobody")
    );
    assert_eq!(
        named(list(|r| r.owner = "nobody".into()).await),
        pair("agent", "nobody")
    );
    assert_eq!(
        named(list(|r| r.product = "mal".into()).await),
        pair("product", "mal")
    );
    // Known, with nothing to show: a team without tickets, a product some ticket is about.
    let listed = |result: Result<tonic::Response<pb::ListTicketsResponse>, _>| {
        result.unwrap().into_inner().tickets.len()
    };
    assert_eq!(listed(list(|r| r.team = "billing".into()).await), 0);
    assert_eq!(listed(list(|r| r.product = "mall".into()).await), 1);

    let watch = |request: pb::WatchTicketsRequest| {
        let mut c = c.clone();
        async move { c.watch_tickets(request).await.map(|_| ()) }
    };
    assert_eq!(
        missing(
            &watch(pb::WatchTicketsRequest {
                team: "no-such-team".into(),
                ..Default::default()
            })
            .await
            .unwrap_err()
        ),
        pair("team", "no-such-team")
    );
    assert_eq!(
        missing(
            &watch(pb::WatchTicketsRequest {
                ticket_id: t.id + 1000,
                ..Default::default()
            })
            .await
            .unwrap_err()
        ),
        pair("ticket", &(t.id + 1000).to_string())
    );
    watch(pb::WatchTicketsRequest {
        team: "billing".into(),
        assignee: "ann".into(),
        ..Default::default()
    })
    .await
    .expect("a known team and agent are watched, tickets or not");

    let mut routing = s.routing().await;
    let agents = routing
        .list_agents(pb::ListAgentsRequest {
            team: "no-such-team".into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(missing(&agents), pair("team", "no-such-team"));
    let mut surveys =
        feedbackd::proto::feedback::v1::survey_service_client::SurveyServiceClient::new(
            s.channel(),
        );
    let responses = surveys
        .list_survey_responses(pb::ListSurveyResponsesRequest {
            agent: "nobody".into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(missing(&responses), pair("agent", "nobody"));
    s.stop().await;
}

async fn open_tickets_and_the_total(backend: Backend) {
    let s = TestServer::start(backend).await;
    s.seed_staff().await;
    let mut c = s.client.clone();
    let mut open = Vec::new();
    for title in ["One", "Two", "Three"] {
        open.push(create_with(&mut c, new_ticket(title)).await.id);
    }
    let done = create_with(&mut c, new_ticket("Done")).await;
    resolve(&mut c, done.id, "ann", pb::Resolution::Solved).await;

    // Page by page, each page counts the whole match.
    let mut seen = Vec::new();
    let mut page_token = String::new();
    loop {
        let page = c
            .list_tickets(pb::ListTicketsRequest {
                open: true,
                page_size: 2,
                page_token,
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner();
        assert_eq!(page.total_size, 3);
        seen.extend(page.tickets.iter().map(|t| t.id));
        if page.next_page_token.is_empty() {
            break;
        }
        page_token = page.next_page_token;
    }
    assert_eq!(seen, open);
    let both = c
        .list_tickets(pb::ListTicketsRequest {
            open: true,
            statuses: vec![
                pb::TicketStatus::New.into(),
                pb::TicketStatus::Resolved.into(),
            ],
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        (both.tickets.len(), both.total_size),
        (3, 3),
        "open and statuses both hold: the resolved one is out"
    );
    let all = c
        .list_tickets(pb::ListTicketsRequest::default())
        .await
        .unwrap()
        .into_inner();
    assert_eq!(all.total_size, 4);
    s.stop().await;
}

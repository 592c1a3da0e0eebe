//! RoutingService and routing inside CreateTicket: rules, the classifier, priority, queues,
//! fair assignment under concurrency, explanations and the stream.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

use feedbackd::domain::clock::SystemClock;
use feedbackd::proto::feedback::v1 as pb;
use feedbackd::proto::feedback::v1::sla_service_client::SlaServiceClient;
use futures::future::join_all;
use tonic::Code;

use crate::both;
use crate::support::{
    Backend, Client, Routing, TestServer, bad_fields, create_with, missing, status_of,
};

both!(
    rules_apply_in_order_with_every_condition,
    round_robin_spreads_tickets_evenly,
    least_loaded_never_exceeds_capacity_across_instances,
    queued_tickets_are_assigned_as_capacity_frees,
    explain_route_agrees_with_create,
    routing_decisions_are_on_the_stream,
    staff_and_rules_refuse_bad_input,
    manual_assignment_respects_membership_and_capacity,
    classifier_learns_from_history_and_every_instance_uses_it,
    priority_follows_urgency_impact_tier_and_repeats,
    a_team_comes_with_its_people_and_its_calendars_zone,
);

type S = pb::TicketStatus;

/// A complaint in neutral words, from a customer of its own (so nothing is a repeat).
fn draft(title: &str, description: &str) -> pb::CreateTicketRequest {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    pb::CreateTicketRequest {
        channel: pb::Channel::WebForm.into(),
        kind: pb::TicketKind::Complaint.into(),
        title: title.into(),
        description: description.into(),
        customer: Some(pb::Customer {
            external_id: format!("c-{}", NEXT.fetch_add(1, Ordering::Relaxed)),
            email: "someone@example.com".into(),
            ..Default::default()
        }),
        actor: "web".into(),
        ..Default::default()
    }
}

async fn create(c: &mut Client, request: pb::CreateTicketRequest) -> pb::CreateTicketResponse {
    c.create_ticket(request).await.expect("create").into_inner()
}

async fn team(r: &mut Routing, id: &str, strategy: pb::AssignmentStrategy) -> pb::Team {
    r.create_team(pb::CreateTeamRequest {
        team: Some(pb::Team {
            id: id.into(),
            strategy: strategy.into(),
            ..Default::default()
        }),
    })
    .await
    .expect("create team")
    .into_inner()
}

async fn agent(
    r: &mut Routing,
    id: &str,
    teams: &[&str],
    capacity: i32,
    online: bool,
) -> pb::Agent {
    let availability = if online {
        pb::Availability::Online
    } else {
        pb::Availability::Offline
    };
    r.create_agent(pb::CreateAgentRequest {
        agent: Some(pb::Agent {
            id: id.into(),
            teams: teams.iter().map(|t| t.to_string()).collect(),
            capacity,
            availability: availability.into(),
            ..Default::default()
        }),
    })
    .await
    .expect("create agent")
    .into_inner()
}

async fn rule(
    r: &mut Routing,
    name: &str,
    conditions: pb::RuleConditions,
    actions: pb::RuleActions,
) -> pb::RoutingRule {
    r.create_routing_rule(pb::CreateRoutingRuleRequest {
        rule: Some(pb::RoutingRule {
            name: name.into(),
            conditions: Some(conditions),
            actions: Some(actions),
            ..Default::default()
        }),
        position: 0,
        ..Default::default()
    })
    .await
    .expect("create rule")
    .into_inner()
}

fn to_team(team: &str) -> pb::RuleActions {
    pb::RuleActions {
        team: team.into(),
        ..Default::default()
    }
}

async fn get(c: &mut Client, id: i64) -> pb::Ticket {
    c.get_ticket(pb::GetTicketRequest {
        key: Some(pb::get_ticket_request::Key::TicketId(id)),
    })
    .await
    .unwrap()
    .into_inner()
}

async fn open_tickets(r: &mut Routing, agent: &str) -> i32 {
    r.get_agent(pb::GetAgentRequest { id: agent.into() })
        .await
        .unwrap()
        .into_inner()
        .open_tickets
}

async fn queue(r: &mut Routing, team: &str) -> Vec<i64> {
    r.list_team_queue(pb::ListTeamQueueRequest {
        team: team.into(),
        page_size: 500,
        ..Default::default()
    })
    .await
    .unwrap()
    .into_inner()
    .tickets
    .iter()
    .map(|t| t.id)
    .collect()
}

/// Takes a ticket from ASSIGNED to RESOLVED as its assignee.
async fn work_off(c: &mut Client, t: &pb::Ticket) -> pb::Ticket {
    c.acknowledge_ticket(pb::AcknowledgeTicketRequest {
        ticket_id: t.id,
        agent: t.assignee.clone(),
        ..Default::default()
    })
    .await
    .unwrap();
    c.resolve_ticket(pb::ResolveTicketRequest {
        ticket_id: t.id,
        resolution_summary: "done".into(),
        actor: t.assignee.clone(),
        ..Default::default()
    })
    .await
    .unwrap()
    .into_inner()
    .ticket
    .unwrap()
}

async fn rules_apply_in_order_with_every_condition(backend: Backend) {
    let s = TestServer::start(backend).await;
    let (mut c, mut r) = (s.client.clone(), s.routing().await);
    for id in [
        "product",
        "finance",
        "vip-desk",
        "app",
        "escalations",
        "logistics",
    ] {
        team(&mut r, id, pb::AssignmentStrategy::Unspecified).await;
    }
    rule(
        &mut r,
        "suggestions",
        pb::RuleConditions {
            kinds: vec![pb::TicketKind::Suggestion.into()],
            ..Default::default()
        },
        to_team("product"),
    )
    .await;
    rule(
        &mut r,
        "refunds zh",
        pb::RuleConditions {
            keywords: vec!["退款".into()],
            ..Default::default()
        },
        pb::RuleActions {
            team: "finance".into(),
            category: "refund".into(),
            ..Default::default()
        },
    )
    .await;
    rule(
        &mut r,
        "refunds en",
        pb::RuleConditions {
            keywords: vec!["refund".into(), "money back".into()],
            ..Default::default()
        },
        to_team("finance"),
    )
    .await;
    let vip = rule(
        &mut r,
        "vip",
        pb::RuleConditions {
            tiers: vec![pb::CustomerTier::Vip.into()],
            ..Default::default()
        },
        to_team("vip-desk"),
    )
    .await;
    rule(
        &mut r,
        "app crashes",
        pb::RuleConditions {
            channels: vec![pb::Channel::App.into()],
            products: vec!["mobile".into()],
            tags: vec!["crash".into()],
            ..Default::default()
        },
        to_team("app"),
    )
    .await;
    rule(
        &mut r,
        "urgent",
        pb::RuleConditions {
            priorities: vec![pb::Priority::Urgent.into()],
            ..Default::default()
        },
        to_team("escalations"),
    )
    .await;
    rule(
        &mut r,
        "delivery",
        pb::RuleConditions {
            categories: vec!["delivery".into()],
            ..Default::default()
        },
        to_team("logistics"),
    )
    .await;
    let listed = r
        .list_routing_rules(pb::ListRoutingRulesRequest::default())
        .await
        .unwrap()
        .into_inner()
        .rules;
    assert_eq!(
        listed.iter().map(|r| r.position).collect::<Vec<_>>(),
        [1, 2, 3, 4, 5, 6, 7]
    );

    let routed = |t: &pb::CreateTicketResponse| {
        let t = t.ticket.clone().unwrap();
        (t.team, t.routing_reason)
    };
    let suggestion = pb::CreateTicketRequest {
        kind: pb::TicketKind::Suggestion.into(),
        ..draft("Dark mode please", "退款 aside, I would like a dark mode")
    };
    let (team_of, why) = routed(&create(&mut c, suggestion).await);
    assert_eq!(team_of, "product", "the first matching rule wins: {why}");
    assert_eq!(why, "rule \"suggestions\" matched (kind SUGGESTION)");

    let zh = create(&mut c, draft("申请退款", "订单取消后一直没有退款到账")).await;
    assert_eq!(routed(&zh).0, "finance");
    assert_eq!(zh.ticket.as_ref().unwrap().category, "refund");
    assert_eq!(
        routed(&zh).1,
        "rule \"refunds zh\" matched (keyword \"退款\")"
    );
    let en = create(&mut c, draft("Money back", "I want my MONEY BACK now")).await;
    assert_eq!(
        routed(&en),
        (
            "finance".into(),
            "rule \"refunds en\" matched (keyword \"money back\")".into()
        )
    );
    let not_a_word = create(&mut c, draft("Refunded", "It was refunded, thanks")).await;
    assert_eq!(
        routed(&not_a_word).0,
        "triage",
        "Latin keywords match whole words only"
    );
    assert_eq!(
        routed(&not_a_word).1,
        "no rule matched; no classifier is trained yet: triage"
    );

    let mut vip_draft = draft("Parcel", "Where is my parcel?");
    vip_draft.customer.as_mut().unwrap().tier = pb::CustomerTier::Vip.into();
    assert_eq!(
        routed(&create(&mut c, vip_draft.clone()).await).0,
        "vip-desk"
    );

    let crash = pb::CreateTicketRequest {
        channel: pb::Channel::App.into(),
        product: "mobile".into(),
        tags: vec!["Crash".into()],
        ..draft("Crash on start", "The app closes at once")
    };
    assert_eq!(routed(&create(&mut c, crash.clone()).await).0, "app");
    // Other customers each, so that neither is a repeat (which would raise its priority).
    let no_tag = pb::CreateTicketRequest {
        tags: vec![],
        customer: draft("", "").customer,
        ..crash.clone()
    };
    assert_eq!(routed(&create(&mut c, no_tag).await).0, "triage");
    let other_channel = pb::CreateTicketRequest {
        channel: pb::Channel::Wechat.into(),
        customer: draft("", "").customer,
        ..crash
    };
    assert_eq!(routed(&create(&mut c, other_channel).await).0, "triage");

    let urgent = create(&mut c, draft("Charged twice", "My card was charged twice")).await;
    assert_eq!(routed(&urgent).0, "escalations");
    let delivery = pb::CreateTicketRequest {
        category: "delivery".into(),
        ..draft("Late", "Still waiting")
    };
    assert_eq!(routed(&create(&mut c, delivery).await).0, "logistics");
    let by_category = c
        .list_tickets(pb::ListTicketsRequest {
            category: "refund".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .tickets;
    assert_eq!(
        by_category.iter().map(|t| t.id).collect::<Vec<_>>(),
        [zh.ticket.as_ref().unwrap().id],
        "only the ticket the rule categorized"
    );

    // The VIP rule first: it now wins over the refund rules.
    let mut order: Vec<i64> = listed.iter().map(|r| r.id).collect();
    order.retain(|&id| id != vip.id);
    order.insert(0, vip.id);
    let reordered = r
        .reorder_routing_rules(pb::ReorderRoutingRulesRequest {
            rule_ids: order.clone(),
        })
        .await
        .unwrap()
        .into_inner()
        .rules;
    assert_eq!(reordered.iter().map(|r| r.id).collect::<Vec<_>>(), order);
    let mut vip_refund = draft("退款", "退款");
    vip_refund.customer.as_mut().unwrap().tier = pb::CustomerTier::Vip.into();
    assert_eq!(
        routed(&create(&mut c, vip_refund.clone()).await).0,
        "vip-desk"
    );

    // Disabled, it is skipped, and the explanation says so.
    let current = r
        .get_routing_rule(pb::GetRoutingRuleRequest { id: vip.id })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(current.position, 1);
    r.update_routing_rule(pb::UpdateRoutingRuleRequest {
        rule: Some(pb::RoutingRule {
            id: vip.id,
            disabled: true,
            etag: current.etag.clone(),
            ..Default::default()
        }),
        update_mask: Some(prost_types::FieldMask {
            paths: vec!["disabled".into()],
        }),
    })
    .await
    .unwrap();
    assert_eq!(
        routed(&create(&mut c, vip_refund.clone()).await).0,
        "finance"
    );
    let explained = r
        .explain_route(pb::ExplainRouteRequest {
            ticket: Some(vip_refund),
        })
        .await
        .unwrap()
        .into_inner();
    let trials: Vec<_> = explained
        .rules
        .iter()
        .map(|t| (t.rule_name.as_str(), t.matched, t.why.as_str()))
        .collect();
    assert_eq!(
        trials,
        [
            ("vip", false, "disabled"),
            (
                "suggestions",
                false,
                "kind is COMPLAINT, the rule wants SUGGESTION"
            ),
            ("refunds zh", true, "keyword \"退款\""),
        ]
    );
    r.delete_routing_rule(pb::DeleteRoutingRuleRequest {
        id: vip.id,
        etag: String::new(),
    })
    .await
    .unwrap();
    assert_eq!(
        r.list_routing_rules(pb::ListRoutingRulesRequest::default())
            .await
            .unwrap()
            .into_inner()
            .rules
            .len(),
        6
    );
}

async fn round_robin_spreads_tickets_evenly(backend: Backend) {
    let s = TestServer::start(backend).await;
    let (c, mut r) = (s.client.clone(), s.routing().await);
    team(&mut r, "desk", pb::AssignmentStrategy::RoundRobin).await;
    for id in ["ann", "bob", "cid", "dan"] {
        agent(&mut r, id, &["desk"], 1000, true).await;
    }
    rule(&mut r, "everything", Default::default(), to_team("desk")).await;
    // Ten callers at a time, so intake and dispatch both see concurrent work.
    for round in 0..10 {
        join_all((0..10).map(|i| {
            let mut c = c.clone();
            async move { create(&mut c, draft(&format!("t{round}-{i}"), "help")).await }
        }))
        .await;
    }
    let mut counts = HashMap::new();
    for id in ["ann", "bob", "cid", "dan"] {
        counts.insert(id, open_tickets(&mut r, id).await);
    }
    assert_eq!(
        counts,
        HashMap::from([("ann", 25), ("bob", 25), ("cid", 25), ("dan", 25)]),
        "100 tickets over four agents"
    );
    assert!(queue(&mut r, "desk").await.is_empty());
}

async fn least_loaded_never_exceeds_capacity_across_instances(backend: Backend) {
    let s = TestServer::start(backend).await;
    let other = TestServer::start_on(s.db.clone(), Arc::new(SystemClock), |_| {}).await;
    let mut r = s.routing().await;
    team(&mut r, "desk", pb::AssignmentStrategy::LeastLoaded).await;
    let capacity = [("ann", 3), ("bob", 5), ("cid", 2)];
    for (id, cap) in capacity {
        agent(&mut r, id, &["desk"], cap, true).await;
    }
    rule(&mut r, "everything", Default::default(), to_team("desk")).await;
    let clients = [s.client.clone(), other.client.clone()];
    let replies = join_all((0..50).map(|i| {
        let mut c = clients[i % 2].clone();
        async move { create(&mut c, draft(&format!("t{i}"), "help")).await }
    }))
    .await;
    let assigned = replies.iter().filter(|r| r.queue_position == 0).count();
    assert!(assigned <= 10, "{assigned} tickets assigned with 10 places");
    for (id, cap) in capacity {
        assert_eq!(
            open_tickets(&mut r, id).await,
            cap,
            "{id} is full, never over"
        );
    }
    assert_eq!(queue(&mut r, "desk").await.len(), 40);
    // Every ticket has at most one assignment in its history.
    let mut c = s.client.clone();
    for reply in &replies {
        let id = reply.ticket.as_ref().unwrap().id;
        let events = c
            .list_ticket_events(pb::ListTicketEventsRequest {
                ticket_id: id,
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner()
            .events;
        let assignments = events
            .iter()
            .filter(|e| e.r#type == pb::EventType::TicketAssigned as i32)
            .count();
        assert!(assignments <= 1, "ticket {id} assigned {assignments} times");
    }
    other.stop().await;
}

async fn queued_tickets_are_assigned_as_capacity_frees(backend: Backend) {
    let s = TestServer::start(backend).await;
    let (mut c, mut r) = (s.client.clone(), s.routing().await);
    team(&mut r, "desk", pb::AssignmentStrategy::LeastLoaded).await;
    agent(&mut r, "ann", &["desk"], 1, true).await;
    rule(&mut r, "everything", Default::default(), to_team("desk")).await;
    let inquiry = |title: &str| pb::CreateTicketRequest {
        kind: pb::TicketKind::Inquiry.into(),
        ..draft(title, "a question")
    };
    let first = create(&mut c, inquiry("first")).await;
    assert_eq!(first.queue_position, 0);
    let first = first.ticket.unwrap();
    assert_eq!(
        (first.assignee.as_str(), status_of(&first)),
        ("ann", S::Assigned)
    );
    let low = create(&mut c, inquiry("low")).await;
    let high = create(&mut c, draft("high", "a complaint")).await;
    let urgent = create(&mut c, draft("urgent", "the heater caught fire")).await;
    assert_eq!(
        (
            low.queue_position,
            high.queue_position,
            urgent.queue_position
        ),
        (1, 1, 1),
        "each went to the head of what it outranks"
    );
    let (low, high, urgent) = (
        low.ticket.unwrap().id,
        high.ticket.unwrap().id,
        urgent.ticket.unwrap().id,
    );
    assert_eq!(
        queue(&mut r, "desk").await,
        [urgent, high, low],
        "most urgent first"
    );

    // Ann resolves her ticket: the most urgent waiting one is hers at once.
    work_off(&mut c, &first).await;
    assert_eq!(get(&mut c, urgent).await.assignee, "ann");
    // Bob comes online: the next one is his.
    agent(&mut r, "bob", &["desk"], 1, false).await;
    assert_eq!(get(&mut c, high).await.assignee, "", "bob is offline");
    r.set_agent_availability(pb::SetAgentAvailabilityRequest {
        id: "bob".into(),
        availability: pb::Availability::Online.into(),
    })
    .await
    .unwrap();
    assert_eq!(get(&mut c, high).await.assignee, "bob");
    // Ann gets more room: the last one is hers.
    let ann = r
        .get_agent(pb::GetAgentRequest { id: "ann".into() })
        .await
        .unwrap()
        .into_inner();
    r.update_agent(pb::UpdateAgentRequest {
        agent: Some(pb::Agent {
            id: "ann".into(),
            capacity: 2,
            etag: ann.etag,
            ..Default::default()
        }),
        update_mask: Some(prost_types::FieldMask {
            paths: vec!["capacity".into()],
        }),
    })
    .await
    .unwrap();
    assert_eq!(get(&mut c, low).await.assignee, "ann");
    assert!(queue(&mut r, "desk").await.is_empty());

    // A reopened ticket whose agent went offline goes back to the queue, and on to the
    // next agent with room.
    let high_ticket = get(&mut c, high).await;
    let resolved = work_off(&mut c, &high_ticket).await;
    r.set_agent_availability(pb::SetAgentAvailabilityRequest {
        id: "bob".into(),
        availability: pb::Availability::Offline.into(),
    })
    .await
    .unwrap();
    let urgent_ticket = get(&mut c, urgent).await;
    work_off(&mut c, &urgent_ticket).await;
    let reopened = c
        .reopen_ticket(pb::ReopenTicketRequest {
            ticket_id: resolved.id,
            reason: "still broken".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .ticket
        .unwrap();
    assert_eq!(
        (reopened.assignee.as_str(), reopened.owner.as_str()),
        ("ann", "bob"),
        "bob is offline: ann has room; bob stays the customer's contact"
    );
}

async fn explain_route_agrees_with_create(backend: Backend) {
    let s = TestServer::start(backend).await;
    let (mut c, mut r) = (s.client.clone(), s.routing().await);
    team(&mut r, "finance", pb::AssignmentStrategy::Skills).await;
    let mut skilled = pb::Agent {
        id: "zhang".into(),
        teams: vec!["finance".into()],
        skills: vec!["lang:zh".into(), "category:refund".into()],
        capacity: 1,
        availability: pb::Availability::Online.into(),
        ..Default::default()
    };
    r.create_agent(pb::CreateAgentRequest {
        agent: Some(skilled.clone()),
    })
    .await
    .unwrap();
    skilled.id = "smith".into();
    skilled.skills = vec!["lang:en".into()];
    r.create_agent(pb::CreateAgentRequest {
        agent: Some(skilled),
    })
    .await
    .unwrap();
    rule(
        &mut r,
        "refunds",
        pb::RuleConditions {
            keywords: vec!["退款".into(), "refund".into()],
            ..Default::default()
        },
        pb::RuleActions {
            team: "finance".into(),
            category: "refund".into(),
            priority_floor: pb::Priority::High.into(),
            tags: vec!["money".into()],
            ..Default::default()
        },
    )
    .await;
    for (title, agent) in [
        ("退款没到账", "zhang"),
        ("Refund missing", "smith"),
        ("退款", ""),
    ] {
        let request = pb::CreateTicketRequest {
            kind: pb::TicketKind::Inquiry.into(),
            ..draft(title, title)
        };
        let explained = r
            .explain_route(pb::ExplainRouteRequest {
                ticket: Some(request.clone()),
            })
            .await
            .unwrap()
            .into_inner();
        let created = create(&mut c, request).await;
        let t = created.ticket.unwrap();
        assert_eq!(explained.agent, agent, "{explained:?}");
        assert_eq!(
            (
                explained.team,
                explained.category,
                explained.priority,
                explained.priority_reasons,
                explained.routing_reason,
                explained.agent,
                explained.tags,
            ),
            (
                t.team,
                t.category,
                t.priority,
                t.priority_reasons,
                t.routing_reason,
                t.assignee,
                t.tags,
            ),
            "ExplainRoute said what CreateTicket did"
        );
        if agent.is_empty() {
            assert!(
                explained.assignment_reason.contains("wait in the queue"),
                "{}",
                explained.assignment_reason
            );
            assert_eq!(created.queue_position, 1);
        } else {
            assert!(
                explained.assignment_reason.starts_with("SKILLS: "),
                "{}",
                explained.assignment_reason
            );
        }
    }
}

async fn routing_decisions_are_on_the_stream(backend: Backend) {
    let s = TestServer::start(backend).await;
    let (mut c, mut r) = (s.client.clone(), s.routing().await);
    team(&mut r, "desk", pb::AssignmentStrategy::RoundRobin).await;
    agent(&mut r, "ann", &["desk"], 5, true).await;
    agent(&mut r, "bob", &["desk"], 5, false).await;
    rule(&mut r, "everything", Default::default(), to_team("desk")).await;
    let mut stream = c
        .watch_tickets(pb::WatchTicketsRequest {
            after_cursor: Some(0),
            team: "desk".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    let t = create(&mut c, draft("help", "help")).await.ticket.unwrap();
    c.assign_ticket(pb::AssignTicketRequest {
        ticket_id: t.id,
        agent: "bob".into(),
        reason: "bob knows this customer".into(),
        actor: "lead".into(),
        ..Default::default()
    })
    .await
    .unwrap();
    // The ticket's own changes; its clocks have their own test.
    let mut events = Vec::new();
    while events.len() < 3 {
        let message = stream.message().await.unwrap().unwrap();
        events.extend(message.events.into_iter().filter(|e| e.sla.is_none()));
    }
    let seen: Vec<_> = events
        .iter()
        .map(|e| {
            (
                pb::EventType::try_from(e.r#type).unwrap(),
                e.actor.as_str(),
                e.reason.as_str(),
            )
        })
        .collect();
    assert_eq!(
        seen,
        [
            (
                pb::EventType::TicketCreated,
                "web",
                "rule \"everything\" matched (no conditions)"
            ),
            (
                pb::EventType::TicketAssigned,
                "router",
                "ROUND_ROBIN: ann had room (0 of 5 open)"
            ),
            (
                pb::EventType::TicketAssigned,
                "lead",
                "bob knows this customer"
            ),
        ]
    );
    assert_eq!(
        events[2].ticket.as_ref().unwrap().owner,
        "ann",
        "first contact"
    );
}

async fn staff_and_rules_refuse_bad_input(backend: Backend) {
    let s = TestServer::start(backend).await;
    let mut r = s.routing().await;
    let bad = r
        .create_team(pb::CreateTeamRequest {
            team: Some(pb::Team {
                id: "two words".into(),
                time_zone: "Mars/Base".into(),
                strategy: 9,
                ..Default::default()
            }),
        })
        .await
        .unwrap_err();
    assert_eq!(
        bad_fields(&bad),
        ["team.id", "team.strategy"],
        "time_zone is output only: the calendar's"
    );
    let desk = team(&mut r, "desk", pb::AssignmentStrategy::Unspecified).await;
    assert_eq!(
        (
            desk.strategy,
            desk.time_zone.as_str(),
            desk.display_name.as_str()
        ),
        (pb::AssignmentStrategy::RoundRobin as i32, "UTC", "desk")
    );
    let again = r
        .create_team(pb::CreateTeamRequest {
            team: Some(pb::Team {
                id: "desk".into(),
                ..Default::default()
            }),
        })
        .await
        .unwrap_err();
    assert_eq!(again.code(), Code::AlreadyExists);
    let no_boss = r
        .create_team(pb::CreateTeamRequest {
            team: Some(pb::Team {
                id: "other".into(),
                supervisor: "nobody".into(),
                ..Default::default()
            }),
        })
        .await
        .unwrap_err();
    assert_eq!(no_boss.code(), Code::NotFound, "{no_boss:?}");

    let bad = r
        .create_agent(pb::CreateAgentRequest {
            agent: Some(pb::Agent {
                id: "ann".into(),
                capacity: -1,
                skills: vec!["".into()],
                teams: vec!["bad team".into()],
                availability: 7,
                ..Default::default()
            }),
        })
        .await
        .unwrap_err();
    assert_eq!(
        bad_fields(&bad),
        [
            "agent.teams[0]",
            "agent.skills[0]",
            "agent.capacity",
            "agent.availability"
        ]
    );
    let unknown_team = r
        .create_agent(pb::CreateAgentRequest {
            agent: Some(pb::Agent {
                id: "ann".into(),
                teams: vec!["desk".into(), "ghosts".into()],
                ..Default::default()
            }),
        })
        .await
        .unwrap_err();
    assert_eq!(unknown_team.code(), Code::NotFound);
    assert!(
        r.get_agent(pb::GetAgentRequest { id: "ann".into() })
            .await
            .is_err(),
        "nothing half-written"
    );
    let ann = agent(&mut r, "ann", &["desk"], 0, false).await;
    assert_eq!(
        (ann.capacity, ann.availability),
        (10, pb::Availability::Offline as i32)
    );
    let stale = r
        .update_agent(pb::UpdateAgentRequest {
            agent: Some(pb::Agent {
                id: "ann".into(),
                capacity: 3,
                etag: "W/\"0\"".into(),
                ..Default::default()
            }),
            update_mask: Some(prost_types::FieldMask {
                paths: vec!["capacity".into()],
            }),
        })
        .await
        .unwrap_err();
    assert_eq!(stale.code(), Code::Aborted);
    let bad_mask = r
        .update_agent(pb::UpdateAgentRequest {
            agent: Some(pb::Agent {
                id: "ann".into(),
                ..Default::default()
            }),
            update_mask: Some(prost_types::FieldMask {
                paths: vec!["open_tickets".into()],
            }),
        })
        .await
        .unwrap_err();
    assert_eq!(bad_fields(&bad_mask), ["update_mask.paths[open_tickets]"]);
    let no_capacity = r
        .update_agent(pb::UpdateAgentRequest {
            agent: Some(pb::Agent {
                id: "ann".into(),
                ..Default::default()
            }),
            update_mask: Some(prost_types::FieldMask {
                paths: vec!["capacity".into()],
            }),
        })
        .await
        .unwrap_err();
    assert_eq!(bad_fields(&no_capacity), ["agent.capacity"]);
    let only_masked = r
        .update_agent(pb::UpdateAgentRequest {
            agent: Some(pb::Agent {
                id: "ann".into(),
                capacity: 4,
                skills: vec!["".into()],
                ..Default::default()
            }),
            update_mask: Some(prost_types::FieldMask {
                paths: vec!["capacity".into()],
            }),
        })
        .await
        .expect("fields outside the mask are not read")
        .into_inner();
    assert_eq!((only_masked.capacity, only_masked.skills.len()), (4, 0));
    let no_strategy = r
        .update_team(pb::UpdateTeamRequest {
            team: Some(pb::Team {
                id: "desk".into(),
                ..Default::default()
            }),
            update_mask: Some(prost_types::FieldMask {
                paths: vec!["strategy".into()],
            }),
        })
        .await
        .unwrap_err();
    assert_eq!(bad_fields(&no_strategy), ["team.strategy"]);

    let no_action = r
        .create_routing_rule(pb::CreateRoutingRuleRequest {
            rule: Some(pb::RoutingRule {
                name: " ".into(),
                conditions: Some(pb::RuleConditions {
                    kinds: vec![42],
                    keywords: vec!["".into()],
                    ..Default::default()
                }),
                ..Default::default()
            }),
            position: -1,
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(
        bad_fields(&no_action),
        [
            "rule.name",
            "rule.conditions.kinds[0]",
            "rule.conditions.keywords[0]",
            "rule.actions",
            "position"
        ]
    );
    let nowhere = r
        .create_routing_rule(pb::CreateRoutingRuleRequest {
            rule: Some(pb::RoutingRule {
                name: "to nowhere".into(),
                actions: Some(to_team("ghosts")),
                ..Default::default()
            }),
            position: 0,
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(nowhere.code(), Code::NotFound);
    let to_desk = rule(&mut r, "to desk", Default::default(), to_team("desk")).await;
    let in_use = r
        .delete_team(pb::DeleteTeamRequest {
            id: "desk".into(),
            etag: String::new(),
        })
        .await
        .unwrap_err();
    assert_eq!(in_use.code(), Code::FailedPrecondition);
    assert!(in_use.message().contains("to desk"), "{}", in_use.message());
    let triage = r
        .delete_team(pb::DeleteTeamRequest {
            id: "triage".into(),
            etag: String::new(),
        })
        .await
        .unwrap_err();
    // The triage team stays, as the default calendar does: a refusal of the state of things.
    assert_eq!(triage.code(), Code::FailedPrecondition);
    assert!(
        triage.message().contains("triage team"),
        "{}",
        triage.message()
    );
    let reorder = r
        .reorder_routing_rules(pb::ReorderRoutingRulesRequest {
            rule_ids: vec![to_desk.id, to_desk.id],
        })
        .await
        .unwrap_err();
    assert_eq!(bad_fields(&reorder), ["rule_ids"]);
    let missing = r
        .get_routing_rule(pb::GetRoutingRuleRequest { id: 999 })
        .await
        .unwrap_err();
    assert_eq!(missing.code(), Code::NotFound);
    // Every other RPC names its bad field too.
    let bad = |status: tonic::Status| bad_fields(&status);
    let get_team = r.get_team(pb::GetTeamRequest { id: "a b".into() });
    assert_eq!(bad(get_team.await.unwrap_err()), ["id"]);
    let queue = r.list_team_queue(pb::ListTeamQueueRequest {
        team: String::new(),
        page_size: -1,
        ..Default::default()
    });
    assert_eq!(bad(queue.await.unwrap_err()), ["team", "page_size"]);
    let listed = r.list_agents(pb::ListAgentsRequest {
        availability: 9,
        page_token: "nonsense".into(),
        ..Default::default()
    });
    // Every bad field at once, the page token among them.
    assert_eq!(
        bad(listed.await.unwrap_err()),
        ["availability", "page_token"]
    );
    let teams = r.list_teams(pb::ListTeamsRequest {
        page_token: "nonsense".into(),
        ..Default::default()
    });
    assert_eq!(bad(teams.await.unwrap_err()), ["page_token"]);
    let availability = r.set_agent_availability(pb::SetAgentAvailabilityRequest {
        id: "ann".into(),
        availability: 0,
    });
    assert_eq!(bad(availability.await.unwrap_err()), ["availability"]);
    let delete_agent = r.delete_agent(pb::DeleteAgentRequest::default());
    assert_eq!(bad(delete_agent.await.unwrap_err()), ["id"]);
    let get_rule = r.get_routing_rule(pb::GetRoutingRuleRequest { id: 0 });
    assert_eq!(bad(get_rule.await.unwrap_err()), ["id"]);
    let delete_rule = r.delete_routing_rule(pb::DeleteRoutingRuleRequest::default());
    assert_eq!(bad(delete_rule.await.unwrap_err()), ["id"]);
    let update_rule = r.update_routing_rule(pb::UpdateRoutingRuleRequest {
        rule: Some(pb::RoutingRule {
            id: to_desk.id,
            name: String::new(),
            ..Default::default()
        }),
        update_mask: Some(prost_types::FieldMask {
            paths: vec!["name".into(), "position".into()],
        }),
    });
    assert_eq!(
        bad(update_rule.await.unwrap_err()),
        ["update_mask.paths[position]", "rule.name"]
    );
    let retrain = r.retrain_classifier(pb::RetrainClassifierRequest {
        actor: "x".repeat(200),
    });
    assert_eq!(bad(retrain.await.unwrap_err()), ["actor"]);
    let unchanged = r
        .get_routing_rule(pb::GetRoutingRuleRequest { id: to_desk.id })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        (unchanged.name.as_str(), unchanged.etag.as_str()),
        ("to desk", to_desk.etag.as_str()),
        "nothing written"
    );
    let explain = r
        .explain_route(pb::ExplainRouteRequest {
            ticket: Some(pb::CreateTicketRequest::default()),
        })
        .await
        .unwrap_err();
    assert_eq!(
        bad_fields(&explain),
        [
            "ticket.channel",
            "ticket.kind",
            "ticket.title",
            "ticket.description"
        ]
    );
}

async fn manual_assignment_respects_membership_and_capacity(backend: Backend) {
    let s = TestServer::start(backend).await;
    let (mut c, mut r) = (s.client.clone(), s.routing().await);
    team(&mut r, "desk", pb::AssignmentStrategy::RoundRobin).await;
    team(&mut r, "finance", pb::AssignmentStrategy::RoundRobin).await;
    agent(&mut r, "ann", &["desk"], 1, false).await;
    agent(&mut r, "fay", &["finance"], 1, false).await;
    let t = create(&mut c, draft("one", "one")).await.ticket.unwrap();
    assert_eq!(t.team, "triage");
    let assign = |agent: &str, team: &str, id: i64| pb::AssignTicketRequest {
        ticket_id: id,
        agent: agent.into(),
        team: team.into(),
        reason: "by hand".into(),
        ..Default::default()
    };
    let outsider = c.assign_ticket(assign("ann", "", t.id)).await.unwrap_err();
    assert_eq!(outsider.code(), Code::FailedPrecondition);
    assert!(
        outsider.message().contains("not a member of team triage"),
        "{}",
        outsider.message()
    );
    let ghost = c
        .assign_ticket(assign("ghost", "desk", t.id))
        .await
        .unwrap_err();
    assert_eq!(ghost.code(), Code::NotFound);
    let no_team = c
        .assign_ticket(assign("", "ghosts", t.id))
        .await
        .unwrap_err();
    assert_eq!(no_team.code(), Code::NotFound);
    assert_eq!(
        get(&mut c, t.id).await.etag,
        t.etag,
        "refusals change nothing"
    );

    let t = c
        .assign_ticket(assign("ann", "desk", t.id))
        .await
        .unwrap()
        .into_inner()
        .ticket
        .unwrap();
    assert_eq!((t.team.as_str(), t.assignee.as_str()), ("desk", "ann"));
    let second = create(&mut c, draft("two", "two")).await.ticket.unwrap();
    let full = c
        .assign_ticket(assign("ann", "desk", second.id))
        .await
        .unwrap_err();
    assert_eq!(full.code(), Code::FailedPrecondition);
    assert!(
        full.message().contains("at capacity (1 of 1"),
        "{}",
        full.message()
    );
    // To another team, where fay works: ann keeps being the customer's contact.
    let moved = c
        .assign_ticket(assign("fay", "finance", t.id))
        .await
        .unwrap()
        .into_inner()
        .ticket
        .unwrap();
    assert_eq!(
        (
            moved.team.as_str(),
            moved.assignee.as_str(),
            moved.owner.as_str()
        ),
        ("finance", "fay", "ann")
    );
    assert_eq!(open_tickets(&mut r, "ann").await, 0);
    // Unassigned, it waits in finance's queue.
    let queued = c
        .assign_ticket(pb::AssignTicketRequest {
            ticket_id: t.id,
            team: "finance".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .ticket
        .unwrap();
    assert_eq!((queued.assignee.as_str(), status_of(&queued)), ("", S::New));
    assert_eq!(queue(&mut r, "finance").await, [t.id]);
}

async fn classifier_learns_from_history_and_every_instance_uses_it(backend: Backend) {
    let s = TestServer::start(backend).await;
    let (mut c, mut r) = (s.client.clone(), s.routing().await);
    let untrained = r
        .retrain_classifier(pb::RetrainClassifierRequest::default())
        .await
        .unwrap_err();
    assert_eq!(untrained.code(), Code::FailedPrecondition);
    assert!(
        !r.get_classifier(pb::GetClassifierRequest {})
            .await
            .unwrap()
            .into_inner()
            .trained
    );
    for (id, team_id) in [("fay", "finance"), ("leo", "logistics")] {
        team(&mut r, team_id, pb::AssignmentStrategy::RoundRobin).await;
        agent(&mut r, id, &[team_id], 100, true).await;
    }
    let refund = rule(
        &mut r,
        "refunds",
        pb::RuleConditions {
            keywords: vec!["refund".into(), "退款".into()],
            ..Default::default()
        },
        pb::RuleActions {
            team: "finance".into(),
            category: "refund".into(),
            ..Default::default()
        },
    )
    .await;
    let parcel = rule(
        &mut r,
        "parcels",
        pb::RuleConditions {
            keywords: vec!["parcel".into(), "快递".into()],
            ..Default::default()
        },
        pb::RuleActions {
            team: "logistics".into(),
            category: "delivery".into(),
            ..Default::default()
        },
    )
    .await;
    let history = [
        "refund for order not received yet",
        "退款申请后一直没有到账",
        "please refund the cancelled order",
        "the refund amount is wrong",
        "退款被拒绝了为什么",
        "parcel lost by the courier",
        "快递三天了还没送到",
        "parcel arrived damaged and late",
        "the parcel tracking has not moved",
        "快递员没有打电话就走了",
    ];
    for round in 0..3 {
        for text in history {
            let t = create(&mut c, draft(&format!("{text} #{round}"), text))
                .await
                .ticket
                .unwrap();
            work_off(&mut c, &t).await;
        }
    }
    // An agent's correction is what the classifier learns.
    let wrong = create(
        &mut c,
        draft("Invoice title wrong", "please refund the invoice fee"),
    )
    .await
    .ticket
    .unwrap();
    assert_eq!(wrong.category, "refund");
    c.update_ticket(pb::UpdateTicketRequest {
        ticket: Some(pb::Ticket {
            id: wrong.id,
            category: "invoice".into(),
            ..Default::default()
        }),
        update_mask: Some(prost_types::FieldMask {
            paths: vec!["category".into()],
        }),
        actor: "fay".into(),
    })
    .await
    .unwrap();
    work_off(&mut c, &wrong).await;
    for id in [refund.id, parcel.id] {
        r.delete_routing_rule(pb::DeleteRoutingRuleRequest {
            id,
            etag: String::new(),
        })
        .await
        .unwrap();
    }
    let info = r
        .retrain_classifier(pb::RetrainClassifierRequest {
            actor: "ops".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        (
            info.trained,
            info.examples,
            info.categories.clone(),
            info.teams.clone(),
            info.trained_by.as_str()
        ),
        (
            true,
            31,
            vec![
                "delivery".to_owned(),
                "invoice".to_owned(),
                "refund".to_owned()
            ],
            vec!["finance".to_owned(), "logistics".to_owned()],
            "ops"
        )
    );

    // Another instance on the same database routes with it at once.
    let other = TestServer::start_on(s.db.clone(), Arc::new(SystemClock), |_| {}).await;
    let mut oc = other.client.clone();
    let t = create(
        &mut oc,
        draft(
            "Refund not received",
            "refund for the cancelled order not received yet",
        ),
    )
    .await
    .ticket
    .unwrap();
    assert_eq!(
        (t.team.as_str(), t.category.as_str()),
        ("finance", "refund")
    );
    assert!(
        t.routing_reason
            .starts_with("no rule matched; the classifier proposes finance ("),
        "{}",
        t.routing_reason
    );
    let t = create(&mut oc, draft("快递", "快递还没送到"))
        .await
        .ticket
        .unwrap();
    assert_eq!(
        (t.team.as_str(), t.category.as_str()),
        ("logistics", "delivery")
    );
    let seen = other
        .routing()
        .await
        .get_classifier(pb::GetClassifierRequest {})
        .await
        .unwrap()
        .into_inner();
    assert_eq!(seen.version, info.version);
    other.stop().await;
}

async fn priority_follows_urgency_impact_tier_and_repeats(backend: Backend) {
    let s = TestServer::start(backend).await;
    let mut c = s.client.clone();
    let mut vip = draft("Parcel", "Where is my parcel?");
    vip.customer.as_mut().unwrap().tier = pb::CustomerTier::Vip.into();
    let t = create(&mut c, vip).await.ticket.unwrap();
    assert_eq!(
        (t.priority, t.priority_reasons),
        (
            pb::Priority::Urgent as i32,
            vec![
                "HIGH by default for COMPLAINT tickets".to_owned(),
                "URGENT: VIP customer".to_owned()
            ]
        )
    );

    let mut first = draft("Kettle", "The lid is loose");
    first.kind = pb::TicketKind::Inquiry.into();
    first.product = "kettle".into();
    let earlier = create(&mut c, first.clone()).await.ticket.unwrap();
    assert_eq!(earlier.priority, pb::Priority::Low as i32);
    let again = create(&mut c, first).await.ticket.unwrap();
    assert_eq!(again.repeat_of, earlier.number);
    assert_eq!(again.priority, pb::Priority::Medium as i32);
    assert_eq!(
        again.priority_reasons.last().unwrap(),
        &format!("MEDIUM: repeats {}", earlier.number)
    );

    let report = |i: usize| pb::CreateTicketRequest {
        kind: pb::TicketKind::Problem.into(),
        product: "wifi".into(),
        category: "outage".into(),
        ..draft(&format!("No signal {i}"), "no signal since this morning")
    };
    for i in 0..5 {
        let t = create(&mut c, report(i)).await.ticket.unwrap();
        assert_eq!(t.priority, pb::Priority::Medium as i32, "report {i}");
    }
    let sixth = create(&mut c, report(5)).await.ticket.unwrap();
    assert_eq!(sixth.priority, pb::Priority::High as i32);
    assert_eq!(
        sixth.priority_reasons.last().unwrap(),
        "HIGH: 5 other customers reported the same"
    );

    let given = pb::CreateTicketRequest {
        priority: pb::Priority::Low.into(),
        ..draft("Fire", "the charger caught fire")
    };
    let t = create(&mut c, given).await.ticket.unwrap();
    assert_eq!(
        t.priority,
        pb::Priority::Low as i32,
        "the caller's priority wins"
    );
    assert_eq!(t.priority_reasons.last().unwrap(), "LOW: set by the caller");
}

async fn a_team_comes_with_its_people_and_its_calendars_zone(backend: Backend) {
    let s = TestServer::start(backend).await;
    let mut r = s.routing().await;
    let mut c = s.client().await;
    for (id, online) in [("sue", false), ("ann", false), ("bob", true)] {
        agent(&mut r, id, &[], 5, online).await;
    }
    let ann_before = r
        .get_agent(pb::GetAgentRequest { id: "ann".into() })
        .await
        .unwrap()
        .into_inner();

    // One call: the team, its supervisor and its members.
    let desk = r
        .create_team(pb::CreateTeamRequest {
            team: Some(pb::Team {
                id: "desk".into(),
                supervisor: "sue".into(),
                members: vec!["sue".into(), "ann".into()],
                time_zone: "Europe/Paris".into(),
                ..Default::default()
            }),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        (desk.supervisor.as_str(), desk.members.clone()),
        ("sue", vec!["ann".to_owned(), "sue".to_owned()])
    );
    assert_eq!(
        desk.time_zone, "UTC",
        "the default calendar's zone, whatever the request said"
    );
    let ann = r
        .get_agent(pb::GetAgentRequest { id: "ann".into() })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(ann.teams, ["desk"]);
    assert_ne!(ann.etag, ann_before.etag, "joining changes the agent");

    // Nobody online: a ticket waits, until the member list brings bob, who is.
    let waiting = create_with(&mut c, draft("Parcel lost", "Nothing came")).await;
    let waiting = c
        .assign_ticket(pb::AssignTicketRequest {
            ticket_id: waiting.id,
            team: "desk".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .ticket
        .unwrap();
    assert_eq!(waiting.assignee, "");
    let desk = r
        .update_team(pb::UpdateTeamRequest {
            team: Some(pb::Team {
                id: "desk".into(),
                members: vec!["ann".into(), "bob".into()],
                ..Default::default()
            }),
            update_mask: Some(prost_types::FieldMask {
                paths: vec!["members".into()],
            }),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(desk.members, ["ann", "bob"]);
    let sue = r
        .get_agent(pb::GetAgentRequest { id: "sue".into() })
        .await
        .unwrap()
        .into_inner();
    assert!(sue.teams.is_empty(), "sue left: {:?}", sue.teams);
    let taken = c
        .get_ticket(pb::GetTicketRequest {
            key: Some(pb::get_ticket_request::Key::TicketId(waiting.id)),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        taken.assignee, "bob",
        "bob joined online: the queue reached him"
    );

    // A member who does not exist: NOT_FOUND, and no team.
    let ghost = r
        .create_team(pb::CreateTeamRequest {
            team: Some(pb::Team {
                id: "ghosts".into(),
                members: vec!["ann".into(), "casper".into()],
                ..Default::default()
            }),
        })
        .await
        .unwrap_err();
    assert_eq!(missing(&ghost), ("agent".into(), "casper".into()));
    let gone = r
        .get_team(pb::GetTeamRequest {
            id: "ghosts".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(gone.code(), Code::NotFound, "nothing half-written");

    // The zone is the calendar's: named by the calendar, not set on the team.
    let zone = r
        .update_team(pb::UpdateTeamRequest {
            team: Some(pb::Team {
                id: "desk".into(),
                time_zone: "Asia/Shanghai".into(),
                ..Default::default()
            }),
            update_mask: Some(prost_types::FieldMask {
                paths: vec!["time_zone".into()],
            }),
        })
        .await
        .unwrap_err();
    assert_eq!(bad_fields(&zone), ["update_mask.paths[time_zone]"]);
    assert!(zone.message().contains("calendar"), "{}", zone.message());
    let mut sla = SlaServiceClient::new(s.channel());
    sla.create_calendar(pb::CreateCalendarRequest {
        calendar: Some(pb::Calendar {
            id: "shanghai".into(),
            time_zone: "Asia/Shanghai".into(),
            weekly_hours: vec![pb::WeekdayHours {
                weekday: 1,
                periods: vec![pb::WorkingPeriod {
                    start: "09:00".into(),
                    end: "18:00".into(),
                }],
            }],
            ..Default::default()
        }),
    })
    .await
    .unwrap();
    let desk = r
        .update_team(pb::UpdateTeamRequest {
            team: Some(pb::Team {
                id: "desk".into(),
                calendar: "shanghai".into(),
                ..Default::default()
            }),
            update_mask: Some(prost_types::FieldMask {
                paths: vec!["calendar".into()],
            }),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(desk.time_zone, "Asia/Shanghai");
    s.stop().await;
}

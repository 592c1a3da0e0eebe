//! Who may do what: every RPC called as every role (from the permission table itself), ticket
//! scope in and out, credentials that are missing, revoked, forged or expired, actors that
//! are not the caller, what customers and agents may see, rate limits and the audit.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use feedbackd::domain::access::{Permission, RPCS, Role};
use feedbackd::domain::clock::SystemClock;
use feedbackd::proto::feedback::v1 as pb;
use pb::access_service_client::AccessServiceClient;
use pb::routing_service_client::RoutingServiceClient;
use pb::ticket_service_client::TicketServiceClient;
use prost::Message;
use prost_reflect::{DescriptorPool, DynamicMessage};
use tonic::Code;
use tonic_types::StatusExt;

use crate::both;
use crate::support::{Authed, Backend, Bytes, Client, TestServer, create_with, new_ticket};

/// The roles, each with the key the scenario gives it.
const ROLES: [(Role, pb::Role); 6] = [
    (Role::Admin, pb::Role::Admin),
    (Role::Supervisor, pb::Role::Supervisor),
    (Role::Agent, pb::Role::Agent),
    (Role::Connector, pb::Role::Connector),
    (Role::Customer, pb::Role::Customer),
    (Role::Analyst, pb::Role::Analyst),
];

/// Two teams, an agent in each, a ticket of each (of two customers), and a key per role,
/// named after it: the first admin key, the supervisor and the agent of `billing`, the
/// customer `c-1`.
struct Scenario {
    s: TestServer,
    keys: HashMap<Role, String>,
    /// In billing, of customer c-1.
    mine: pb::Ticket,
    /// In tech, of customer c-2.
    theirs: pb::Ticket,
}

impl Scenario {
    async fn new(backend: Backend) -> Scenario {
        Self::start(backend, |_| {}).await
    }

    async fn start(
        backend: Backend,
        configure: impl FnOnce(&mut feedbackd::config::Config),
    ) -> Scenario {
        let db = Arc::new(crate::support::TestDb::new(backend).await);
        let s = TestServer::start_on(db, Arc::new(SystemClock), configure).await;
        let mut routing = s.routing().await;
        for (team, agent) in [("billing", "ann"), ("tech", "bob")] {
            crate::support::product_team(&mut routing, team, "", &[(agent, false)], "").await;
        }
        let mut c = s.client.clone();
        let ticket = |product: &str, customer: &str| {
            let mut request = new_ticket("Refund missing");
            request.product = product.into();
            request.customer.as_mut().unwrap().external_id = customer.into();
            request
        };
        // A global reply template, for the replies' calls on a ticket.
        pb::reply_service_client::ReplyServiceClient::new(s.channel())
            .create_reply_template(pb::CreateReplyTemplateRequest {
                template: Some(pb::ReplyTemplate {
                    id: "thanks".into(),
                    title: "Thanks".into(),
                    body_en: "Thank you, {{customer.name}}.".into(),
                    ..Default::default()
                }),
            })
            .await
            .unwrap();
        let mine = create_with(&mut c, ticket("billing", "c-1")).await;
        let theirs = create_with(&mut c, ticket("tech", "c-2")).await;
        assert_eq!(mine.team, "billing");
        assert_eq!(theirs.team, "tech");
        let mut keys = HashMap::new();
        keys.insert(Role::Admin, s.admin_key.clone());
        for (role, wire) in ROLES.into_iter().skip(1) {
            let (teams, agent, customer): (&[&str], &str, &str) = match role {
                Role::Supervisor => (&["billing"], "", ""),
                Role::Agent => (&["billing"], "ann", ""),
                Role::Customer => (&[], "", "c-1"),
                _ => (&[], "", ""),
            };
            let key = s.key(role.as_str(), wire, teams, agent, customer).await;
            keys.insert(role, key);
        }
        Scenario {
            s,
            keys,
            mine,
            theirs,
        }
    }

    fn channel(&self, role: Role) -> Authed {
        self.s.channel_as(&self.keys[&role])
    }

    fn client(&self, role: Role) -> Client {
        TicketServiceClient::new(self.channel(role))
    }
}

/// Ann takes ticket `id` and acknowledges it (the admin acting for her), so that it may be
/// replied to and resolved.
async fn take(admin: &mut Client, id: i64) {
    admin
        .assign_ticket(pb::AssignTicketRequest {
            ticket_id: id,
            agent: "ann".into(),
            ..Default::default()
        })
        .await
        .unwrap();
    admin
        .acknowledge_ticket(pb::AcknowledgeTicketRequest {
            ticket_id: id,
            agent: "ann".into(),
            ..Default::default()
        })
        .await
        .unwrap();
}

/// Calls `method` (`Service/Method`) with the request `json` describes, as whoever `channel`
/// calls as; the answer's code (a stream that opens is OK).
async fn call(channel: Authed, method: &str, json: &str) -> tonic::Status {
    let pool = DescriptorPool::decode(feedbackd::proto::FILE_DESCRIPTOR_SET).unwrap();
    let (service, name) = method.split_once('/').unwrap();
    let service = pool
        .get_service_by_name(&format!("feedback.v1.{service}"))
        .unwrap_or_else(|| panic!("no service {service}"));
    let descriptor = service
        .methods()
        .find(|m| m.name() == name)
        .unwrap_or_else(|| panic!("no method {method}"));
    let mut deserializer = serde_json::Deserializer::from_str(json);
    let request = DynamicMessage::deserialize(descriptor.input(), &mut deserializer)
        .unwrap_or_else(|e| panic!("{method} {json}: {e}"));
    let path: http::uri::PathAndQuery = format!("/feedback.v1.{method}").parse().unwrap();
    let mut grpc = tonic::client::Grpc::new(channel);
    grpc.ready().await.unwrap();
    let request = tonic::Request::new(request.encode_to_vec());
    let answer = if descriptor.is_server_streaming() {
        grpc.server_streaming(request, path, Bytes).await.map(drop)
    } else {
        grpc.unary(request, path, Bytes).await.map(drop)
    };
    match answer {
        Ok(()) => tonic::Status::ok(""),
        Err(status) => status,
    }
}

/// The permission an answer says the caller lacks.
fn denied(status: &tonic::Status) -> Option<String> {
    (status.code() == Code::PermissionDenied).then(|| {
        status
            .get_details_error_info()
            .and_then(|info| info.metadata.get("permission").cloned())
            .unwrap_or_default()
    })
}

/// Where a holder of the permission may still be refused: their scope is narrower than the
/// RPC (a supervisor's reports are of their teams).
fn scope_refusal(role: Role, method: &str) -> bool {
    role == Role::Supervisor
        && matches!(
            method,
            "SurveyService/GetSurveyStats"
                | "SurveyService/ListSurveyResponses"
                | "InsightsService/GetDashboard"
                | "InsightsService/WatchDashboard"
                | "InsightsService/QueryMetrics"
                | "InsightsService/GetTopIssues"
                | "InsightsService/RenderReport"
                | "InsightsService/ExportTickets"
        )
}

async fn every_rpc_answers_every_role_as_the_table_says(backend: Backend) {
    let sc = Scenario::new(backend).await;
    for rpc in RPCS {
        for (role, _) in ROLES {
            let answer = call(sc.channel(role), rpc.method, "{}").await;
            let holds = rpc.permission.held_by(role);
            match denied(&answer) {
                Some(permission) if !holds => {
                    assert_eq!(
                        permission,
                        rpc.permission.as_str(),
                        "{} as {role}",
                        rpc.method
                    )
                }
                None if !holds => panic!("{} as {role} should be refused: {answer:?}", rpc.method),
                Some(_) if scope_refusal(role, rpc.method) => {}
                Some(_) => panic!("{} as {role} holds the permission: {answer:?}", rpc.method),
                None => assert_ne!(answer.code(), Code::Unauthenticated, "{}", rpc.method),
            }
        }
        // Without a credential, no RPC answers.
        let answer = call(sc.s.channel_as("fbk_not-a-key"), rpc.method, "{}").await;
        assert_eq!(answer.code(), Code::Unauthenticated, "{}", rpc.method);
    }
    sc.s.stop().await;
}

/// The RPCs that name one ticket, with the request that names ticket `{id}`.
const ON_A_TICKET: &[(&str, &str)] = &[
    ("TicketService/GetTicket", r#"{"ticket_id": {id}}"#),
    ("TicketService/ListTicketEvents", r#"{"ticket_id": {id}}"#),
    ("TicketService/ListComments", r#"{"ticket_id": {id}}"#),
    ("TicketService/WatchTickets", r#"{"ticket_id": {id}}"#),
    (
        "TicketService/UpdateTicket",
        r#"{"ticket": {"id": {id}, "priority": "PRIORITY_URGENT"}, "update_mask": "priority"}"#,
    ),
    // To bob, who is in neither the billing supervisor's nor ann's scope.
    (
        "TicketService/AssignTicket",
        r#"{"ticket_id": {id}, "agent": "bob"}"#,
    ),
    ("TicketService/AcknowledgeTicket", r#"{"ticket_id": {id}}"#),
    (
        "TicketService/AddComment",
        r#"{"ticket_id": {id}, "visibility": "COMMENT_VISIBILITY_PUBLIC", "body": "Any news?"}"#,
    ),
    (
        "TicketService/SetPending",
        r#"{"ticket_id": {id}, "reason": "waiting"}"#,
    ),
    ("TicketService/ResumeTicket", r#"{"ticket_id": {id}}"#),
    (
        "TicketService/ResolveTicket",
        r#"{"ticket_id": {id}, "resolution_summary": "done"}"#,
    ),
    ("TicketService/CloseTicket", r#"{"ticket_id": {id}}"#),
    (
        "TicketService/ReopenTicket",
        r#"{"ticket_id": {id}, "reason": "not solved"}"#,
    ),
    ("TicketService/GetTicketContext", r#"{"ticket_id": {id}}"#),
    ("SlaService/ExplainSla", r#"{"ticket_id": {id}}"#),
    ("SurveyService/SendSurvey", r#"{"ticket_id": {id}}"#),
    ("SurveyService/ListTicketSurveys", r#"{"ticket_id": {id}}"#),
    ("AbuseService/ReleaseTicket", r#"{"ticket_id": {id}}"#),
    (
        "AbuseService/ConfirmAbuse",
        r#"{"ticket_id": {id}, "reason": "a flood"}"#,
    ),
    (
        "ReplyService/RenderReply",
        r#"{"template_id": "thanks", "ticket_id": {id}}"#,
    ),
    (
        "ReplyService/ApplyReply",
        r#"{"template_id": "thanks", "ticket_id": {id}}"#,
    ),
    (
        "AttachmentService/ListAttachments",
        r#"{"ticket_id": {id}}"#,
    ),
    // The metadata alone: a ticket in scope answers that the file is empty.
    (
        "AttachmentService/UploadAttachment",
        r#"{"metadata": {"ticket_id": {id}, "file_name": "a.png", "visibility": "COMMENT_VISIBILITY_PUBLIC"}}"#,
    ),
];

/// Whose scope holds which ticket: the billing supervisor and agent and customer c-1 see
/// `mine` alone; admins, connectors and analysts see both.
fn in_scope(role: Role, mine: bool) -> bool {
    mine || matches!(role, Role::Admin | Role::Connector | Role::Analyst)
}

async fn a_ticket_outside_the_scope_answers_as_a_missing_one(backend: Backend) {
    let sc = Scenario::new(backend).await;
    for &(method, template) in ON_A_TICKET {
        let permission = RPCS.iter().find(|r| r.method == method).unwrap().permission;
        for (role, _) in ROLES {
            // Out of scope first: an in-scope call may change what the next one finds.
            for (ticket, mine) in [(&sc.theirs, false), (&sc.mine, true)] {
                let json = template.replace("{id}", &ticket.id.to_string());
                let answer = call(sc.channel(role), method, &json).await;
                let whose = if mine { "their" } else { "another" };
                let what = format!("{method} as {role} on {whose} ticket");
                if !permission.held_by(role) {
                    assert_eq!(
                        denied(&answer).as_deref(),
                        Some(permission.as_str()),
                        "{what}"
                    );
                } else if in_scope(role, mine) {
                    assert_ne!(answer.code(), Code::NotFound, "{what}: {answer:?}");
                } else {
                    // Exactly as a missing one: the words for an id nobody has.
                    let json = template.replace("{id}", "987654");
                    let missing = call(sc.channel(Role::Admin), method, &json).await;
                    assert_eq!(answer.code(), Code::NotFound, "{what}: {answer:?}");
                    assert_eq!(
                        answer.message().replace(&ticket.id.to_string(), "987654"),
                        missing.message(),
                        "{what}"
                    );
                }
            }
        }
    }
    // Whatever was called, nobody outside its scope changed the other ticket.
    let outsiders = ["key:supervisor", "ann", "customer:c-1"];
    let events =
        sc.s.client
            .clone()
            .list_ticket_events(pb::ListTicketEventsRequest {
                ticket_id: sc.theirs.id,
                page_size: 1000,
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner()
            .events;
    assert!(events.len() > 3, "the admin and the connector worked on it");
    for e in &events {
        assert!(
            !outsiders.contains(&e.actor.as_str()) && !outsiders.contains(&e.acted_by.as_str()),
            "{} changed a ticket outside their scope: {e:?}",
            e.actor
        );
    }
    sc.s.stop().await;
}

async fn lists_and_streams_hold_only_what_the_caller_may_see(backend: Backend) {
    let sc = Scenario::new(backend).await;
    let numbers = |tickets: Vec<pb::Ticket>| {
        let mut n: Vec<String> = tickets.into_iter().map(|t| t.number).collect();
        n.sort();
        n
    };
    let mut both = vec![sc.mine.number.clone(), sc.theirs.number.clone()];
    both.sort();
    for (role, _) in ROLES {
        let listed = sc
            .client(role)
            .list_tickets(pb::ListTicketsRequest::default())
            .await
            .unwrap()
            .into_inner();
        let expected = if in_scope(role, false) {
            both.clone()
        } else {
            vec![sc.mine.number.clone()]
        };
        assert_eq!(numbers(listed.tickets), expected, "{role}");
        assert_eq!(listed.total_size as usize, expected.len(), "{role}");
    }
    // Analysts read contact details masked.
    let analyst = sc
        .client(Role::Analyst)
        .get_ticket(pb::GetTicketRequest {
            key: Some(pb::get_ticket_request::Key::TicketId(sc.mine.id)),
        })
        .await
        .unwrap()
        .into_inner();
    let customer = analyst.customer.unwrap();
    assert_eq!(customer.email, "l•••@example.com");
    assert!(
        customer.phone.ends_with("00") && customer.phone.contains('•'),
        "{}",
        customer.phone
    );
    // Nor may they learn from a routing draft whether a customer complained before.
    let mut draft = new_ticket("Refund missing");
    draft.actor.clear();
    draft.product = "billing".into();
    draft.customer.as_mut().unwrap().external_id = "c-1".into();
    let mut repeats = Vec::new();
    for role in [Role::Admin, Role::Analyst] {
        let explained = RoutingServiceClient::new(sc.channel(role))
            .explain_route(pb::ExplainRouteRequest {
                ticket: Some(draft.clone()),
            })
            .await
            .unwrap()
            .into_inner();
        repeats.push(explained.repeat_of);
    }
    assert_eq!(repeats, [sc.mine.number.clone(), String::new()]);
    sc.s.stop().await;
}

async fn customers_see_their_own_public_conversation_and_nothing_else(backend: Backend) {
    let sc = Scenario::new(backend).await;
    let mut admin = sc.s.client.clone();
    take(&mut admin, sc.mine.id).await;
    let mut customer = sc.client(Role::Customer);
    let mut watch = customer
        .watch_tickets(pb::WatchTicketsRequest {
            after_cursor: Some(0),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    for (visibility, body) in [
        (
            pb::CommentVisibility::Internal,
            "Customer is difficult; check order 1234 first",
        ),
        (
            pb::CommentVisibility::Public,
            "We are looking into your refund",
        ),
    ] {
        admin
            .add_comment(pb::AddCommentRequest {
                ticket_id: sc.mine.id,
                visibility: visibility.into(),
                body: body.into(),
                ..Default::default()
            })
            .await
            .unwrap();
    }
    let comments = customer
        .list_comments(pb::ListCommentsRequest {
            ticket_id: sc.mine.id,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .comments;
    let bodies: Vec<_> = comments.iter().map(|c| c.body.as_str()).collect();
    assert_eq!(bodies, ["We are looking into your refund"]);
    let history = customer
        .list_ticket_events(pb::ListTicketEventsRequest {
            ticket_id: sc.mine.id,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .events;
    let commented: Vec<_> = history.iter().filter_map(|e| e.comment.as_ref()).collect();
    assert_eq!(commented.len(), 1, "{commented:?}");
    assert_eq!(commented[0].body, "We are looking into your refund");
    // The stream carries the public reply and never the note, nor the other customer's
    // ticket.
    let mut seen = Vec::new();
    while !seen.iter().any(|e: &pb::TicketEvent| e.comment.is_some()) {
        let batch = tokio::time::timeout(Duration::from_secs(10), watch.message())
            .await
            .expect("the public reply arrives")
            .unwrap()
            .unwrap();
        seen.extend(batch.events);
    }
    assert!(seen.iter().all(|e| e.ticket_id == sc.mine.id), "{seen:?}");
    assert!(
        seen.iter()
            .filter_map(|e| e.comment.as_ref())
            .all(|c| c.visibility == pb::CommentVisibility::Public as i32)
    );
    // A customer writes as themselves, publicly, on their own ticket only.
    let own = customer
        .add_comment(pb::AddCommentRequest {
            ticket_id: sc.mine.id,
            visibility: pb::CommentVisibility::Public.into(),
            body: "Thanks, still waiting".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .comment
        .unwrap();
    assert_eq!(
        (own.author.as_str(), own.author_role),
        ("c-1", pb::AuthorRole::Customer as i32)
    );
    let note = customer
        .add_comment(pb::AddCommentRequest {
            ticket_id: sc.mine.id,
            visibility: pb::CommentVisibility::Internal.into(),
            body: "let me in".into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(note.code(), Code::InvalidArgument, "{note:?}");
    // And opens tickets for themselves alone.
    let mut request = new_ticket("Another one");
    request.actor.clear();
    request.customer.as_mut().unwrap().external_id = "c-2".into();
    let other = customer.create_ticket(request).await.unwrap_err();
    assert_eq!(
        denied(&other).as_deref(),
        Some("tickets.create"),
        "{other:?}"
    );
    let mut request = new_ticket("Mine again");
    request.actor.clear();
    request.customer.as_mut().unwrap().external_id.clear();
    let created = customer
        .create_ticket(request)
        .await
        .unwrap()
        .into_inner()
        .ticket
        .unwrap();
    assert_eq!(created.customer.unwrap().external_id, "c-1");
    // Triage, not the customer, says how urgent a ticket is and what tier it is served at.
    let mut request = new_ticket("Urgent, I say");
    request.actor.clear();
    request.priority = pb::Priority::Urgent.into();
    request.customer.as_mut().unwrap().external_id.clear();
    let urgent = customer.create_ticket(request).await.unwrap_err();
    assert_eq!(urgent.code(), Code::InvalidArgument, "{urgent:?}");
    assert_eq!(
        urgent.get_details_bad_request().unwrap().field_violations[0].field,
        "priority"
    );
    let mut request = new_ticket("Treat me as a VIP");
    request.actor.clear();
    request.customer.as_mut().unwrap().external_id.clear();
    request.customer.as_mut().unwrap().tier = pb::CustomerTier::Vip.into();
    let claimed = customer
        .create_ticket(request)
        .await
        .unwrap()
        .into_inner()
        .ticket
        .unwrap();
    assert_eq!(
        claimed.customer.unwrap().tier,
        pb::CustomerTier::Standard as i32
    );
    sc.s.stop().await;
}

async fn actors_may_only_restate_the_caller(backend: Backend) {
    let sc = Scenario::new(backend).await;
    let mut agent = sc.client(Role::Agent);
    let spoofed = agent
        .assign_ticket(pb::AssignTicketRequest {
            ticket_id: sc.mine.id,
            agent: "ann".into(),
            actor: "bob".into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(
        denied(&spoofed).as_deref(),
        Some("act_on_behalf"),
        "{spoofed:?}"
    );
    let taken = agent
        .assign_ticket(pb::AssignTicketRequest {
            ticket_id: sc.mine.id,
            agent: "ann".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .ticket
        .unwrap();
    assert_eq!(taken.assignee, "ann");
    // An admin acts for an agent: the event records both.
    sc.s.client
        .clone()
        .acknowledge_ticket(pb::AcknowledgeTicketRequest {
            ticket_id: sc.mine.id,
            agent: "ann".into(),
            ..Default::default()
        })
        .await
        .unwrap();
    let events =
        sc.s.client
            .clone()
            .list_ticket_events(pb::ListTicketEventsRequest {
                ticket_id: sc.mine.id,
                event_types: vec![
                    pb::EventType::TicketAssigned.into(),
                    pb::EventType::TicketAcknowledged.into(),
                ],
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner()
            .events;
    let who: Vec<_> = events
        .iter()
        .map(|e| (e.actor.as_str(), e.acted_by.as_str()))
        .collect();
    assert_eq!(who, [("ann", ""), ("ann", "key:admin")]);
    // A supervisor acts for the agents of their teams only.
    let mut supervisor = sc.client(Role::Supervisor);
    let outside = supervisor
        .set_pending(pb::SetPendingRequest {
            ticket_id: sc.mine.id,
            actor: "bob".into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(
        denied(&outside).as_deref(),
        Some("act_on_behalf"),
        "{outside:?}"
    );
    sc.s.stop().await;
}

async fn survey_tokens_reach_those_who_deliver_surveys_alone(backend: Backend) {
    let sc = Scenario::start(backend, |config| config.survey_delay = Duration::ZERO).await;
    let watch = |role: Role| {
        let mut client = sc.client(role);
        async move {
            client
                .watch_tickets(pb::WatchTicketsRequest {
                    event_types: vec![pb::EventType::SurveyInvited.into()],
                    ..Default::default()
                })
                .await
                .unwrap()
                .into_inner()
        }
    };
    let mut connector = watch(Role::Connector).await;
    let mut agent = watch(Role::Agent).await;
    let mut admin = sc.s.client.clone();
    take(&mut admin, sc.mine.id).await;
    admin
        .resolve_ticket(pb::ResolveTicketRequest {
            ticket_id: sc.mine.id,
            resolution_summary: "Refunded".into(),
            ..Default::default()
        })
        .await
        .unwrap();
    let first = async |stream: &mut tonic::Streaming<pb::WatchTicketsResponse>| {
        let batch = tokio::time::timeout(Duration::from_secs(10), stream.message())
            .await
            .expect("the invitation arrives")
            .unwrap()
            .unwrap();
        batch.events[0].survey.clone().expect("a survey")
    };
    let delivered = first(&mut connector).await;
    let seen_by_agent = first(&mut agent).await;
    assert!(!delivered.token.is_empty(), "the connector gets the token");
    assert_eq!(seen_by_agent.token, "", "the agent does not");
    assert_eq!(seen_by_agent.survey_id, delivered.survey_id);
    sc.s.stop().await;
}

async fn keys_are_revoked_at_once_on_every_instance(backend: Backend) {
    let sc = Scenario::new(backend).await;
    let other = TestServer::start_on(sc.s.db.clone(), Arc::new(SystemClock), |_| {}).await;
    let key = sc.keys[&Role::Agent].clone();
    let mut here = TicketServiceClient::new(sc.s.channel_as(&key));
    let mut there = TicketServiceClient::new(other.channel_as(&key));
    for client in [&mut here, &mut there] {
        client
            .list_tickets(pb::ListTicketsRequest::default())
            .await
            .unwrap();
    }
    // A stream the key holds open on the other instance.
    let mut watching = there
        .watch_tickets(pb::WatchTicketsRequest::default())
        .await
        .unwrap()
        .into_inner();
    let revoked = AccessServiceClient::new(sc.s.channel())
        .revoke_api_key(pb::RevokeApiKeyRequest {
            name: "agent".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert!(revoked.revoke_time.is_some());
    // At once on the instance that revoked it.
    let refused = here
        .list_tickets(pb::ListTicketsRequest::default())
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Code::Unauthenticated, "{refused:?}");
    assert_eq!(
        refused.get_details_error_info().unwrap().reason,
        "API_KEY_REVOKED"
    );
    // As soon as the change reaches the other: a notification on PostgreSQL, the next poll
    // of the configuration log (a second) on SQLite.
    let started = std::time::Instant::now();
    loop {
        match there.list_tickets(pb::ListTicketsRequest::default()).await {
            Err(status) if status.code() == Code::Unauthenticated => break,
            Ok(_) if started.elapsed() < Duration::from_secs(3) => {
                tokio::time::sleep(Duration::from_millis(20)).await
            }
            other => panic!("the other instance still takes the revoked key: {other:?}"),
        }
    }
    // And the stream it held open there ends, refused as a call would be.
    let ended = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            match watching.message().await {
                Ok(Some(_)) => continue,
                other => return other,
            }
        }
    })
    .await
    .expect("the stream ends");
    let status = ended.unwrap_err();
    assert_eq!(
        (
            status.code(),
            status.get_details_error_info().unwrap().reason
        ),
        (Code::Unauthenticated, "API_KEY_REVOKED".to_owned())
    );
    other.stop().await;
    sc.s.stop().await;
}

async fn jwts_from_the_identity_provider_are_accepted_until_they_expire(backend: Backend) {
    const SECRET: &str = "a shared secret of at least 32 bytes";
    let sc = Scenario::start(backend, |config| {
        config.jwt_issuer = Some("https://idp.example.com".into());
        config.jwt_hs256_secret = Some(SECRET.into());
    })
    .await;
    let mint = |secret: &str, expires_in: i64, role: &str| {
        let claims = serde_json::json!({
            "iss": "https://idp.example.com",
            "aud": "feedbackd",
            "sub": "ann@example.com",
            "exp": chrono::Utc::now().timestamp() + expires_in,
            "role": role,
            "agent": "ann",
            "teams": ["billing"],
        });
        jsonwebtoken::encode(
            &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
            &claims,
            &jsonwebtoken::EncodingKey::from_secret(secret.as_bytes()).unwrap(),
        )
        .unwrap()
    };
    let me = AccessServiceClient::new(sc.s.channel_as(&mint(SECRET, 600, "agent")))
        .get_caller(pb::GetCallerRequest {})
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        (me.name.as_str(), me.actor.as_str()),
        ("jwt:ann@example.com", "ann")
    );
    assert_eq!(me.role, pb::Role::Agent as i32);
    for (why, token) in [
        ("expired", mint(SECRET, -600, "agent")),
        (
            "forged",
            mint("another secret, as long as the first", 600, "agent"),
        ),
        ("no such role", mint(SECRET, 600, "owner")),
    ] {
        let refused = TicketServiceClient::new(sc.s.channel_as(&token))
            .list_tickets(pb::ListTicketsRequest::default())
            .await
            .unwrap_err();
        assert_eq!(refused.code(), Code::Unauthenticated, "{why}: {refused:?}");
    }
    sc.s.stop().await;
}

async fn a_caller_over_its_rate_is_told_when_to_retry(backend: Backend) {
    let sc = Scenario::start(backend, |config| {
        config.rate_limit = feedbackd::api::limits::parse_rates("customer=3/m").unwrap();
        config.rate_limit_intake = feedbackd::api::limits::Rate::parse("2/h").unwrap();
    })
    .await;
    let mut customer = sc.client(Role::Customer);
    for _ in 0..3 {
        customer
            .list_tickets(pb::ListTicketsRequest::default())
            .await
            .unwrap();
    }
    let over = customer
        .list_tickets(pb::ListTicketsRequest::default())
        .await
        .unwrap_err();
    assert_eq!(over.code(), Code::ResourceExhausted, "{over:?}");
    let retry = over.get_details_retry_info().unwrap().retry_delay.unwrap();
    assert!(
        retry > Duration::from_secs(5) && retry <= Duration::from_secs(20),
        "{retry:?}"
    );
    let quota = over.get_details_quota_failure().unwrap();
    assert_eq!(quota.violations[0].subject, "customer:c-1");
    // Intake per customer, whoever sends: the admin made two of c-1's tickets already… of c-2's one.
    let mut admin = sc.s.client.clone();
    let mut request = new_ticket("Third");
    request.customer.as_mut().unwrap().external_id = "c-2".into();
    admin.create_ticket(request.clone()).await.unwrap();
    let flood = admin.create_ticket(request).await.unwrap_err();
    assert_eq!(flood.code(), Code::ResourceExhausted, "{flood:?}");
    assert_eq!(
        flood.get_details_quota_failure().unwrap().violations[0].subject,
        "customer:c-2"
    );
    sc.s.stop().await;
}

async fn configuration_changes_are_audited_with_who_where_and_what(backend: Backend) {
    let sc = Scenario::new(backend).await;
    let mut access = AccessServiceClient::new(sc.s.channel());
    let entries = access
        .list_audit_entries(pb::ListAuditEntriesRequest {
            resource: "team".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .entries;
    let tech = entries
        .iter()
        .find(|e| e.key == "tech" && e.action == "CREATED")
        .unwrap();
    assert_eq!(tech.actor, "key:admin");
    assert!(tech.peer.starts_with("127.0.0.1:"), "{}", tech.peer);
    assert!(tech.before.is_none());
    assert!(tech.after.as_ref().unwrap().fields.contains_key("calendar"));
    // Newest first, paged.
    let all = access
        .list_audit_entries(pb::ListAuditEntriesRequest {
            page_size: 2,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(all.entries.len(), 2);
    assert!(all.entries[0].id > all.entries[1].id);
    let keys = access
        .list_audit_entries(pb::ListAuditEntriesRequest {
            resource: "API key".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .entries;
    assert_eq!(
        keys.len(),
        ROLES.len(),
        "the first admin key and one per other role"
    );
    // Neither a secret nor its hash is in the audit.
    let text = format!("{keys:?}");
    assert!(!text.contains("hash"), "{text}");
    assert!(
        sc.keys
            .values()
            .all(|secret| !text.contains(secret.as_str())),
        "{text}"
    );
    sc.s.stop().await;
}

async fn a_request_id_belongs_to_its_caller(backend: Backend) {
    let sc = Scenario::new(backend).await;
    let mut connector = sc.client(Role::Connector);
    let mut request = new_ticket("Parcel lost");
    request.request_id = "msg-1".into();
    request.actor.clear();
    let first = connector
        .create_ticket(request.clone())
        .await
        .unwrap()
        .into_inner();
    let again = connector
        .create_ticket(request.clone())
        .await
        .unwrap()
        .into_inner();
    assert!(again.replayed);
    assert_eq!(again.ticket.unwrap().id, first.ticket.as_ref().unwrap().id);
    // Another caller with the same request_id gets an error, never the first caller's ticket.
    let mut customer = sc.client(Role::Customer);
    request.customer.as_mut().unwrap().external_id = "c-1".into();
    let reused = customer.create_ticket(request).await.unwrap_err();
    assert_eq!(reused.code(), Code::AlreadyExists, "{reused:?}");
    assert!(!reused.message().contains("li.lei"), "{reused:?}");
    sc.s.stop().await;
}

async fn api_keys_are_shown_once_listed_without_secrets_and_checked(backend: Backend) {
    let sc = Scenario::new(backend).await;
    let mut access = AccessServiceClient::new(sc.s.channel());
    let keys = access
        .list_api_keys(pb::ListApiKeysRequest::default())
        .await
        .unwrap()
        .into_inner()
        .keys;
    let names: Vec<_> = keys.iter().map(|k| k.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "admin",
            "agent",
            "analyst",
            "connector",
            "customer",
            "supervisor"
        ]
    );
    assert!(
        keys.iter()
            .all(|k| k.prefix.starts_with("fbk_") && k.prefix.len() < 16)
    );
    for (key, field) in [
        (
            pb::ApiKey {
                name: "x".into(),
                role: pb::Role::Agent.into(),
                ..Default::default()
            },
            "agent",
        ),
        (
            pb::ApiKey {
                name: "x".into(),
                role: pb::Role::Customer.into(),
                ..Default::default()
            },
            "customer",
        ),
        (
            pb::ApiKey {
                name: "x".into(),
                role: pb::Role::Supervisor.into(),
                ..Default::default()
            },
            "teams",
        ),
        (
            pb::ApiKey {
                name: "x".into(),
                ..Default::default()
            },
            "key.role",
        ),
        (
            pb::ApiKey {
                name: "Bad Name!".into(),
                role: pb::Role::Analyst.into(),
                ..Default::default()
            },
            "key.name",
        ),
    ] {
        let refused = access
            .create_api_key(pb::CreateApiKeyRequest { key: Some(key) })
            .await
            .unwrap_err();
        assert_eq!(crate::support::bad_fields(&refused), [field]);
    }
    let taken = access
        .create_api_key(pb::CreateApiKeyRequest {
            key: Some(pb::ApiKey {
                name: "agent".into(),
                role: pb::Role::Analyst.into(),
                ..Default::default()
            }),
        })
        .await
        .unwrap_err();
    assert_eq!(taken.code(), Code::AlreadyExists);
    let nobody = access
        .create_api_key(pb::CreateApiKeyRequest {
            key: Some(pb::ApiKey {
                name: "zed".into(),
                role: pb::Role::Agent.into(),
                agent: "zed".into(),
                ..Default::default()
            }),
        })
        .await
        .unwrap_err();
    assert_eq!(
        crate::support::missing(&nobody),
        ("agent".into(), "zed".into())
    );
    // Every role may ask who it is, with the permissions its role holds.
    let me = AccessServiceClient::new(sc.channel(Role::Customer))
        .get_caller(pb::GetCallerRequest {})
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        (me.actor.as_str(), me.customer.as_str()),
        ("customer:c-1", "c-1")
    );
    let expected: Vec<_> = Permission::ALL
        .iter()
        .filter(|p| p.held_by(Role::Customer))
        .map(|p| p.as_str())
        .collect();
    assert_eq!(me.permissions, expected);
    sc.s.stop().await;
}

/// One live event reaches every watcher as its own role may see it, though the server encodes
/// it once per way it looks: masked for the analyst, whole for the admin, and the same again
/// for a second admin.
async fn one_event_looks_to_each_watcher_as_their_role_allows(backend: Backend) {
    let sc = Scenario::new(backend).await;
    let mut streams = Vec::new();
    for role in [Role::Admin, Role::Analyst, Role::Admin] {
        let stream = sc
            .client(role)
            .watch_tickets(pb::WatchTicketsRequest {
                ticket_id: sc.mine.id,
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner();
        streams.push(stream);
    }
    let mut admin = sc.s.client.clone();
    take(&mut admin, sc.mine.id).await;
    let mut phones = Vec::new();
    for stream in &mut streams {
        let message = tokio::time::timeout(Duration::from_secs(10), stream.message())
            .await
            .expect("the change arrives")
            .unwrap()
            .expect("the stream is open");
        let event = &message.events[0];
        assert_eq!(event.r#type(), pb::EventType::TicketAssigned);
        phones.push(
            event
                .ticket
                .as_ref()
                .unwrap()
                .customer
                .as_ref()
                .unwrap()
                .phone
                .clone(),
        );
    }
    let whole = sc.mine.customer.as_ref().unwrap().phone.clone();
    assert_eq!(phones[0], whole);
    assert_ne!(phones[1], whole);
    assert!(phones[1].contains('•'), "{}", phones[1]);
    assert_eq!(phones[2], whole);
    sc.s.stop().await;
}

both!(
    one_event_looks_to_each_watcher_as_their_role_allows,
    every_rpc_answers_every_role_as_the_table_says,
    a_ticket_outside_the_scope_answers_as_a_missing_one,
    lists_and_streams_hold_only_what_the_caller_may_see,
    customers_see_their_own_public_conversation_and_nothing_else,
    actors_may_only_restate_the_caller,
    survey_tokens_reach_those_who_deliver_surveys_alone,
    keys_are_revoked_at_once_on_every_instance,
    jwts_from_the_identity_provider_are_accepted_until_they_expire,
    a_caller_over_its_rate_is_told_when_to_retry,
    configuration_changes_are_audited_with_who_where_and_what,
    a_request_id_belongs_to_its_caller,
    api_keys_are_shown_once_listed_without_secrets_and_checked,
);

//! The conventions every service keeps: a request_id belongs to one request, an oversized or
//! malformed request costs little and is refused clearly, and a stale etag is refused the
//! same way on every resource.

use feedbackd::proto::feedback::v1 as pb;
use pb::routing_service_client::RoutingServiceClient;
use pb::sla_service_client::SlaServiceClient;
use pb::survey_service_client::SurveyServiceClient;
use prost_types::FieldMask;
use tonic::Code;
use tonic_types::StatusExt;

use crate::both;
use crate::support::{Backend, TestServer, bad_fields, create, new_ticket};

both!(
    a_request_id_belongs_to_one_request,
    oversized_requests_are_refused_at_their_size,
    malformed_messages_are_the_callers_mistake,
    every_resource_carries_its_etag
);

/// The reason of a refusal's ErrorInfo.
fn reason(status: &tonic::Status) -> String {
    status
        .get_details_error_info()
        .map(|info| info.reason)
        .unwrap_or_default()
}

async fn a_request_id_belongs_to_one_request(backend: Backend) {
    let s = TestServer::start(backend).await;
    s.seed_staff().await;
    let mut c = s.client.clone();
    let mut r = RoutingServiceClient::new(s.channel());
    let mut sv = SurveyServiceClient::new(s.channel());

    // Intake: the same request again answers with the first ticket; another request under
    // the same key is refused, and creates nothing.
    let request = pb::CreateTicketRequest {
        request_id: "web-1".into(),
        ..new_ticket("first")
    };
    let first = c.create_ticket(request.clone()).await.unwrap().into_inner();
    let again = c.create_ticket(request.clone()).await.unwrap().into_inner();
    assert!(!first.replayed && again.replayed);
    assert_eq!(first.ticket.as_ref().unwrap().id, again.ticket.unwrap().id);
    let other = c
        .create_ticket(pb::CreateTicketRequest {
            title: "another matter".into(),
            ..request
        })
        .await
        .unwrap_err();
    assert_eq!(other.code(), Code::AlreadyExists, "{other:?}");
    assert_eq!(reason(&other), "REQUEST_ID_REUSED");
    let tickets = c
        .list_tickets(pb::ListTicketsRequest::default())
        .await
        .unwrap()
        .into_inner()
        .tickets;
    assert_eq!(tickets.len(), 1, "the other request created nothing");

    // A comment: the same.
    let ticket = first.ticket.unwrap();
    let note = pb::AddCommentRequest {
        ticket_id: ticket.id,
        visibility: pb::CommentVisibility::Internal.into(),
        author: "ann".into(),
        body: "called the bank".into(),
        request_id: "note-1".into(),
        ..Default::default()
    };
    let noted = c.add_comment(note.clone()).await.unwrap().into_inner();
    let renoted = c.add_comment(note.clone()).await.unwrap().into_inner();
    assert_eq!(noted.comment.unwrap().id, renoted.comment.unwrap().id);
    let reused = c
        .add_comment(pb::AddCommentRequest {
            body: "something else".into(),
            ..note
        })
        .await
        .unwrap_err();
    assert_eq!(reused.code(), Code::AlreadyExists);

    // A routing rule, whose id the server assigns, is created once per request_id.
    let rule = pb::CreateRoutingRuleRequest {
        rule: Some(pb::RoutingRule {
            name: "refunds".into(),
            actions: Some(pb::RuleActions {
                team: "finance".into(),
                ..Default::default()
            }),
            ..Default::default()
        }),
        request_id: "rule-1".into(),
        ..Default::default()
    };
    let made = r
        .create_routing_rule(rule.clone())
        .await
        .unwrap()
        .into_inner();
    let remade = r
        .create_routing_rule(rule.clone())
        .await
        .unwrap()
        .into_inner();
    assert_eq!((made.id, made.etag.clone()), (remade.id, remade.etag));
    let rules = r
        .list_routing_rules(pb::ListRoutingRulesRequest::default())
        .await
        .unwrap()
        .into_inner()
        .rules;
    assert_eq!(rules.len(), 1, "one rule for two calls");
    let mut renamed = rule.clone();
    renamed.rule.as_mut().unwrap().name = "other".into();
    let reused = r.create_routing_rule(renamed).await.unwrap_err();
    assert_eq!(reused.code(), Code::AlreadyExists);

    // A survey sent by hand, once per request_id.
    c.assign_ticket(pb::AssignTicketRequest {
        ticket_id: ticket.id,
        team: "support".into(),
        agent: "ann".into(),
        ..Default::default()
    })
    .await
    .unwrap();
    c.acknowledge_ticket(pb::AcknowledgeTicketRequest {
        ticket_id: ticket.id,
        agent: "ann".into(),
        ..Default::default()
    })
    .await
    .unwrap();
    c.resolve_ticket(pb::ResolveTicketRequest {
        ticket_id: ticket.id,
        resolution_summary: "refunded".into(),
        ..Default::default()
    })
    .await
    .unwrap();
    let send = pb::SendSurveyRequest {
        ticket_id: ticket.id,
        request_id: "survey-1".into(),
        ..Default::default()
    };
    let sent = sv.send_survey(send.clone()).await.unwrap().into_inner();
    let resent = sv.send_survey(send.clone()).await.unwrap().into_inner();
    assert_eq!(
        (sent.survey_id, sent.token.clone()),
        (resent.survey_id, resent.token)
    );
    let reused = sv
        .send_survey(pb::SendSurveyRequest {
            actor: "someone else".into(),
            ..send
        })
        .await
        .unwrap_err();
    assert_eq!(reused.code(), Code::AlreadyExists);
    // The resolve's own survey was withdrawn by the first send, and nothing by the retry.
    let surveys = sv
        .list_ticket_surveys(pb::ListTicketSurveysRequest {
            ticket_id: ticket.id,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .surveys;
    let states: Vec<_> = surveys
        .iter()
        .map(|s| pb::SurveyState::try_from(s.state).unwrap())
        .collect();
    assert_eq!(
        states,
        [pb::SurveyState::Open, pb::SurveyState::Withdrawn],
        "newest first"
    );
    assert_eq!(surveys[0].survey_id, sent.survey_id);
    assert_eq!(surveys[0].token, sent.token);
    s.stop().await;
}

/// An error's whole size on the wire: its message and its details.
fn size(status: &tonic::Status) -> usize {
    status.message().len() + status.details().len()
}

async fn oversized_requests_are_refused_at_their_size(backend: Backend) {
    let s = TestServer::start(backend).await;
    let mut c = s.client.clone();
    let mut sla = SlaServiceClient::new(s.channel());
    let ticket = create(&mut c, "a ticket").await;

    // A repeated field beyond its documented bound is one violation, whatever its length.
    for statuses in [vec![999; 200_000], vec![1; 40_000]] {
        let refused = c
            .list_tickets(pb::ListTicketsRequest {
                statuses,
                ..Default::default()
            })
            .await
            .unwrap_err();
        assert_eq!(bad_fields(&refused), ["statuses"]);
        assert!(size(&refused) < 1_000, "{} bytes", size(&refused));
    }
    let tagged = c
        .create_ticket(pb::CreateTicketRequest {
            tags: vec![String::new(); 5_000],
            metadata: (0..10_000).map(|i| (format!("k{i}"), "v".into())).collect(),
            ..new_ticket("tagged")
        })
        .await
        .unwrap_err();
    assert_eq!(bad_fields(&tagged), ["tags", "metadata"]);
    let masked = c
        .update_ticket(pb::UpdateTicketRequest {
            ticket: Some(pb::Ticket {
                id: ticket.id,
                ..Default::default()
            }),
            update_mask: Some(FieldMask {
                paths: vec!["title".into(); 10_000],
            }),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(bad_fields(&masked), ["update_mask.paths"]);
    let events = c
        .list_ticket_events(pb::ListTicketEventsRequest {
            ticket_id: ticket.id,
            event_types: vec![1; 100_000],
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(bad_fields(&events), ["event_types"]);

    // Many bad fields: twenty are named, the rest counted.
    let many = c
        .create_ticket(pb::CreateTicketRequest {
            tags: vec!["\u{7}".into(); 20],
            metadata: (0..40).map(|i| (format!("k{i}"), "\u{7}".into())).collect(),
            ..new_ticket("bells")
        })
        .await
        .unwrap_err();
    assert_eq!(bad_fields(&many).len(), 20);
    assert!(
        many.message().ends_with("and 40 more"),
        "{}",
        many.message()
    );

    // A huge value is quoted by a short prefix at most.
    let huge = "Z".repeat(1 << 20);
    let number = c
        .get_ticket(pb::GetTicketRequest {
            key: Some(pb::get_ticket_request::Key::Number(huge.clone())),
        })
        .await
        .unwrap_err();
    assert_eq!(bad_fields(&number), ["number"]);
    assert!(size(&number) < 500, "{} bytes", size(&number));
    let etag = c
        .close_ticket(pb::CloseTicketRequest {
            ticket_id: ticket.id,
            etag: huge.clone(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(bad_fields(&etag), ["etag"]);
    let holiday = sla
        .create_calendar(pb::CreateCalendarRequest {
            calendar: Some(pb::Calendar {
                id: "huge".into(),
                time_zone: "Asia/Shanghai".into(),
                weekly_hours: vec![pb::WeekdayHours {
                    weekday: 1,
                    periods: vec![pb::WorkingPeriod {
                        start: "09:00".into(),
                        end: "18:00".into(),
                    }],
                }],
                holidays: vec![huge.clone()],
                ..Default::default()
            }),
        })
        .await
        .unwrap_err();
    assert_eq!(bad_fields(&holiday), ["calendar.holidays[0]"]);
    assert!(size(&holiday) < 500, "{} bytes", size(&holiday));

    // What the database would choke on is refused before it sees it.
    let nul = c
        .get_ticket(pb::GetTicketRequest {
            key: Some(pb::get_ticket_request::Key::Number("FB\0".into())),
        })
        .await
        .unwrap_err();
    assert_eq!(bad_fields(&nul), ["number"]);

    // A duration beyond what time can hold is a bad field, not a crash.
    let forever = prost_types::Duration {
        seconds: i64::MAX,
        nanos: 0,
    };
    let policy = sla
        .create_sla_policy(pb::CreateSlaPolicyRequest {
            policy: Some(pb::SlaPolicy {
                id: "forever".into(),
                priority: pb::Priority::Low.into(),
                kind: pb::TicketKind::Inquiry.into(),
                acknowledge_within: Some(forever),
                first_response_within: Some(forever),
                resolve_within: Some(prost_types::Duration {
                    seconds: -1,
                    nanos: 5,
                }),
                basis: pb::SlaBasis::CalendarTime.into(),
                ..Default::default()
            }),
        })
        .await
        .unwrap_err();
    assert_eq!(
        bad_fields(&policy),
        [
            "policy.acknowledge_within",
            "policy.first_response_within",
            "policy.resolve_within"
        ]
    );
    // The server is still there, and nothing was written.
    let listed = c
        .list_tickets(pb::ListTicketsRequest::default())
        .await
        .unwrap()
        .into_inner();
    assert_eq!(listed.tickets.len(), 1);
    s.stop().await;
}

async fn malformed_messages_are_the_callers_mistake(backend: Backend) {
    let s = TestServer::start(backend).await;
    let channel = s.channel();
    let path = http::uri::PathAndQuery::from_static("/feedback.v1.TicketService/GetTicket");
    for (what, bytes) in [
        // number (field 2) holding bytes that are not UTF-8.
        ("invalid UTF-8", vec![0x12, 0x02, 0xff, 0xfe]),
        // number announcing ten bytes and carrying two.
        ("a truncated field", vec![0x12, 0x0a, b'F', b'B']),
        // ticket_id (field 1) sent with the wire type of a string.
        ("a wrong wire type", vec![0x0a, 0x01, 0x01]),
    ] {
        let mut grpc = tonic::client::Grpc::new(channel.clone());
        grpc.ready().await.unwrap();
        let refused = grpc
            .unary(
                tonic::Request::new(bytes),
                path.clone(),
                crate::support::Bytes,
            )
            .await
            .unwrap_err();
        assert_eq!(refused.code(), Code::InvalidArgument, "{what}: {refused:?}");
    }
    s.stop().await;
}

async fn every_resource_carries_its_etag(backend: Backend) {
    let s = TestServer::start(backend).await;
    let mut sla = SlaServiceClient::new(s.channel());
    let mut sv = SurveyServiceClient::new(s.channel());
    let stale = "W/\"99\"".to_owned();
    let mask = |path: &str| {
        Some(FieldMask {
            paths: vec![path.into()],
        })
    };

    let policy = sla
        .update_sla_policy(pb::UpdateSlaPolicyRequest {
            policy: Some(pb::SlaPolicy {
                id: "high".into(),
                display_name: "High".into(),
                etag: stale.clone(),
                ..Default::default()
            }),
            update_mask: mask("display_name"),
        })
        .await
        .unwrap_err();
    assert_eq!(policy.code(), Code::Aborted);
    assert_eq!(reason(&policy), "STALE_ETAG");
    let calendar = sla
        .update_calendar(pb::UpdateCalendarRequest {
            calendar: Some(pb::Calendar {
                id: "default".into(),
                display_name: "Office".into(),
                etag: stale.clone(),
                ..Default::default()
            }),
            update_mask: mask("display_name"),
        })
        .await
        .unwrap_err();
    assert_eq!(calendar.code(), Code::Aborted);
    let template = sv
        .update_survey_template(pb::UpdateSurveyTemplateRequest {
            template: Some(pb::SurveyTemplate {
                id: "default".into(),
                display_name: "Satisfaction".into(),
                etag: stale.clone(),
                ..Default::default()
            }),
            update_mask: mask("display_name"),
        })
        .await
        .unwrap_err();
    assert_eq!(template.code(), Code::Aborted);

    // Delete takes the etag the resource carries, on templates as on every resource.
    let short = sv
        .create_survey_template(pb::CreateSurveyTemplateRequest {
            template: Some(pb::SurveyTemplate {
                id: "short".into(),
                questions: vec![pb::SurveyQuestion {
                    key: "result".into(),
                    prompt: "Solved?".into(),
                    r#type: pb::QuestionType::Rating.into(),
                    required: true,
                    ..Default::default()
                }],
                ..Default::default()
            }),
        })
        .await
        .unwrap()
        .into_inner();
    let refused = sv
        .delete_survey_template(pb::DeleteSurveyTemplateRequest {
            id: "short".into(),
            etag: stale,
        })
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Code::Aborted);
    sv.delete_survey_template(pb::DeleteSurveyTemplateRequest {
        id: "short".into(),
        etag: short.etag,
    })
    .await
    .unwrap();
    let gone = sv
        .get_survey_template(pb::GetSurveyTemplateRequest { id: "short".into() })
        .await
        .unwrap_err();
    assert_eq!(gone.code(), Code::NotFound);
    s.stop().await;
}

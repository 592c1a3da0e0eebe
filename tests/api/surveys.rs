//! SurveyService and the closed loop: a resolve invites, the customer's answer closes or
//! reopens, no answer expires and closes; limits, bad answers and figures.

use std::sync::Arc;
use std::time::Duration;

use crate::support::Authed;
use feedbackd::domain::clock::ManualClock;
use feedbackd::proto::feedback::v1 as pb;
use pb::survey_answer::Value;
use pb::survey_service_client::SurveyServiceClient;
use tonic::Code;

use crate::both;
use crate::support::{
    Backend, Client, Routing, TestDb, TestServer, bad_fields, missing, product_team, status_of,
};

both!(
    the_loop_closes_when_the_customer_says_so,
    unanswered_surveys_expire_and_close,
    invitations_respect_limits_and_resolutions,
    bad_answers_and_templates_are_named,
    figures_match_a_hand_count,
);

type Surveys = SurveyServiceClient<Authed>;
type E = pb::EventType;

async fn surveys(s: &TestServer) -> Surveys {
    SurveyServiceClient::new(s.channel())
}

/// A server whose clock the test moves, with a scheduler that runs every 20 ms.
async fn start(backend: Backend, delay: Duration) -> (TestServer, ManualClock) {
    let clock = ManualClock::new(chrono::Utc::now());
    let s = TestServer::start_on(
        Arc::new(TestDb::new(backend).await),
        Arc::new(clock.clone()),
        |config| {
            config.survey_interval = Duration::from_millis(20);
            config.survey_delay = delay;
        },
    )
    .await;
    (s, clock)
}

/// A team whose tickets all go to it, with ann ONLINE and, when given, a supervisor who is an
/// OFFLINE member (so the router never picks them).
async fn desk(r: &mut Routing, team: &str, supervisor: Option<&str>) {
    let ann = format!("{team}-ann");
    let mut agents = vec![(ann.as_str(), true)];
    agents.extend(supervisor.map(|sup| (sup, false)));
    product_team(r, team, "", &agents, supervisor.unwrap_or_default()).await;
}

/// A complaint about `team`'s product from `customer`, assigned by the router.
async fn ticket(c: &mut Client, team: &str, customer: &str) -> pb::Ticket {
    c.create_ticket(pb::CreateTicketRequest {
        channel: pb::Channel::Hotline.into(),
        kind: pb::TicketKind::Complaint.into(),
        title: "Refund missing".into(),
        description: "My refund has not arrived".into(),
        product: team.into(),
        customer: Some(pb::Customer {
            external_id: customer.into(),
            phone: "13800138000".into(),
            ..Default::default()
        }),
        actor: "hotline".into(),
        ..Default::default()
    })
    .await
    .unwrap()
    .into_inner()
    .ticket
    .unwrap()
}

async fn get(c: &mut Client, id: i64) -> pb::Ticket {
    c.get_ticket(pb::GetTicketRequest {
        key: Some(pb::get_ticket_request::Key::TicketId(id)),
    })
    .await
    .unwrap()
    .into_inner()
}

/// Acknowledges and resolves a ticket as its assignee.
async fn resolve(c: &mut Client, t: &pb::Ticket) -> pb::Ticket {
    resolve_as(c, t, pb::Resolution::Unspecified, "")
        .await
        .unwrap()
}

async fn resolve_as(
    c: &mut Client,
    t: &pb::Ticket,
    resolution: pb::Resolution,
    merged_into: &str,
) -> Result<pb::Ticket, tonic::Status> {
    let t = get(c, t.id).await;
    if status_of(&t) == pb::TicketStatus::Assigned {
        c.acknowledge_ticket(pb::AcknowledgeTicketRequest {
            ticket_id: t.id,
            agent: t.assignee.clone(),
            ..Default::default()
        })
        .await?;
    }
    c.resolve_ticket(pb::ResolveTicketRequest {
        ticket_id: t.id,
        resolution_summary: "refunded".into(),
        actor: t.assignee.clone(),
        resolution: resolution.into(),
        merged_into: merged_into.into(),
        ..Default::default()
    })
    .await
    .map(|r| r.into_inner().ticket.unwrap_or_default())
}

async fn events(c: &mut Client, id: i64) -> Vec<pb::TicketEvent> {
    c.list_ticket_events(pb::ListTicketEventsRequest {
        ticket_id: id,
        page_size: 1000,
        ..Default::default()
    })
    .await
    .unwrap()
    .into_inner()
    .events
}

fn of_type(events: &[pb::TicketEvent], kind: E) -> Vec<&pb::TicketEvent> {
    events.iter().filter(|e| e.r#type == kind as i32).collect()
}

/// The token of the ticket's newest invitation, as a connector reads it: from the live
/// stream. The history staff read leaves it out.
async fn token(c: &mut Client, id: i64) -> String {
    let history = events(c, id).await;
    let invited = of_type(&history, E::SurveyInvited);
    assert!(!invited.is_empty(), "an invitation");
    assert!(
        invited
            .iter()
            .all(|e| e.survey.as_ref().unwrap().token.is_empty()),
        "no token in the history"
    );
    let mut stream = c
        .watch_tickets(pb::WatchTicketsRequest {
            after_cursor: Some(0),
            ticket_id: id,
            event_types: vec![E::SurveyInvited.into()],
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    let mut seen = Vec::new();
    while seen.len() < invited.len() {
        seen.extend(stream.message().await.unwrap().unwrap().events);
    }
    seen.last().unwrap().survey.as_ref().unwrap().token.clone()
}

/// Waits for the background scheduler to record an event of `kind` on the ticket.
async fn wait_for(c: &mut Client, id: i64, kind: E) -> pb::TicketEvent {
    for _ in 0..500 {
        if let Some(e) = of_type(&events(c, id).await, kind).pop() {
            return e.clone();
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("no {kind:?} on ticket {id} within 10 s");
}

fn score(key: &str, value: i32) -> pb::SurveyAnswer {
    pb::SurveyAnswer {
        question_key: key.into(),
        value: Some(Value::Score(value)),
    }
}

fn text(key: &str, value: &str) -> pb::SurveyAnswer {
    pb::SurveyAnswer {
        question_key: key.into(),
        value: Some(Value::Text(value.into())),
    }
}

/// Answers the default template: result, attitude, timeliness.
async fn submit(
    sv: &mut Surveys,
    token: &str,
    ratings: [i32; 3],
) -> Result<pb::SubmitSurveyResponseResponse, tonic::Status> {
    let [result, attitude, timeliness] = ratings;
    sv.submit_survey_response(pb::SubmitSurveyResponseRequest {
        token: token.into(),
        answers: vec![
            score("result", result),
            score("attitude", attitude),
            score("timeliness", timeliness),
        ],
    })
    .await
    .map(|r| r.into_inner())
}

async fn the_loop_closes_when_the_customer_says_so(backend: Backend) {
    let (s, _clock) = start(backend, Duration::ZERO).await;
    let (mut c, mut r, mut sv) = (s.client.clone(), s.routing().await, surveys(&s).await);
    desk(&mut r, "desk", Some("sue")).await;
    let t = ticket(&mut c, "desk", "cust-1").await;
    assert_eq!(t.assignee, "desk-ann");
    let mut stream = c
        .watch_tickets(pb::WatchTicketsRequest {
            after_cursor: Some(0),
            ticket_id: t.id,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();

    // Resolve → invite, on the stream with the token a connector delivers.
    resolve(&mut c, &t).await;
    let invited = loop {
        let batch = stream.message().await.unwrap().unwrap().events;
        if let Some(e) = batch.iter().find(|e| e.r#type == E::SurveyInvited as i32) {
            break e.clone();
        }
    };
    let first = invited.survey.unwrap();
    assert_eq!(first.token.len(), 32, "192 random bits");
    let shown = sv
        .get_survey(pb::GetSurveyRequest {
            token: first.token.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        (shown.ticket_number, shown.ticket_title),
        (t.number.clone(), t.title.clone())
    );
    let keys: Vec<_> = shown.questions.iter().map(|q| q.key.as_str()).collect();
    assert_eq!(keys, ["result", "attitude", "timeliness", "comment"]);
    assert_eq!(shown.state, pb::SurveyState::Open as i32);

    // A low score reopens, one step more urgent, to the supervisor; the owner stays.
    let reply = submit(&mut sv, &first.token, [4, 2, 3]).await.unwrap();
    assert!(reply.message.contains("open again"), "{}", reply.message);
    let reopened = get(&mut c, t.id).await;
    assert_eq!(
        (
            reopened.assignee.as_str(),
            reopened.owner.as_str(),
            reopened.priority,
            reopened.reopen_count
        ),
        ("sue", "desk-ann", pb::Priority::Urgent as i32, 1)
    );
    assert_eq!(
        reopened.status_reason,
        "survey: the customer rated attitude 2, timeliness 3"
    );
    assert!(
        reopened
            .priority_reasons
            .last()
            .unwrap()
            .starts_with("URGENT: dissatisfied survey (attitude 2, timeliness 3)"),
        "{:?}",
        reopened.priority_reasons
    );
    let history = events(&mut c, t.id).await;
    // The ticket's own changes; the clocks' events (the resolution clock restarted) between.
    let changes: Vec<_> = history.iter().filter(|e| e.sla.is_none()).collect();
    let tail: Vec<_> = changes[changes.len() - 3..]
        .iter()
        .map(|e| (E::try_from(e.r#type).unwrap(), e.actor.as_str()))
        .collect();
    assert_eq!(
        tail,
        [
            (E::SurveyAnswered, "customer"),
            (E::TicketReopened, "survey"),
            (E::TicketAssigned, "survey")
        ]
    );
    let reopen = changes[changes.len() - 2];
    assert_eq!(
        reopen.ticket.as_ref().unwrap().status,
        pb::TicketStatus::Reopened as i32
    );
    let link = reopen.survey.as_ref().unwrap();
    assert_eq!(
        (
            link.survey_id,
            link.score,
            link.outcome,
            link.token.as_str()
        ),
        (first.survey_id, 2, pb::SurveyOutcome::Reopened as i32, ""),
        "the reopen links the response, without the secret"
    );
    assert!(
        history
            .last()
            .unwrap()
            .reason
            .contains("to sue, the supervisor of team desk"),
        "{}",
        history.last().unwrap().reason
    );

    // Once only.
    let again = submit(&mut sv, &first.token, [5, 5, 5]).await.unwrap_err();
    assert_eq!(again.code(), Code::AlreadyExists, "{again:?}");

    // The supervisor resolves; the same customer is asked again about the same ticket.
    let reopened = resolve(&mut c, &reopened).await;
    assert_eq!(status_of(&reopened), pb::TicketStatus::Resolved);
    let second = token(&mut c, t.id).await;
    assert_ne!(second, first.token);
    let reply = sv
        .submit_survey_response(pb::SubmitSurveyResponseRequest {
            token: second.clone(),
            answers: vec![
                score("result", 5),
                score("attitude", 5),
                score("timeliness", 4),
                text("comment", "Sue sorted it out"),
            ],
        })
        .await
        .unwrap()
        .into_inner();
    assert!(reply.message.contains("settled"), "{}", reply.message);
    let closed = get(&mut c, t.id).await;
    assert_eq!(status_of(&closed), pb::TicketStatus::Closed);
    let last = events(&mut c, t.id).await.pop().unwrap();
    assert_eq!(
        (E::try_from(last.r#type).unwrap(), last.actor.as_str()),
        (E::TicketClosed, "survey")
    );
    assert!(last.reason.contains("satisfied"), "{}", last.reason);

    // Both responses, newest first, and the filters.
    let lister = sv.clone();
    let list = |filter: pb::ListSurveyResponsesRequest| {
        let mut sv = lister.clone();
        async move {
            sv.list_survey_responses(filter)
                .await
                .unwrap()
                .into_inner()
                .responses
        }
    };
    let all = list(pb::ListSurveyResponsesRequest {
        ticket_id: t.id,
        ..Default::default()
    })
    .await;
    let summary: Vec<_> = all
        .iter()
        .map(|x| (x.score, x.outcome, x.has_comment, x.agent.as_str()))
        .collect();
    assert_eq!(
        summary,
        [
            (4, pb::SurveyOutcome::Closed as i32, true, "sue"),
            (2, pb::SurveyOutcome::Reopened as i32, false, "desk-ann"),
        ]
    );
    assert_eq!(all[0].answers.len(), 4);
    let low = list(pb::ListSurveyResponsesRequest {
        max_score: 3,
        team: "desk".into(),
        ..Default::default()
    })
    .await;
    assert_eq!(low.iter().map(|x| x.score).collect::<Vec<_>>(), [2]);
    let commented = list(pb::ListSurveyResponsesRequest {
        has_comment: Some(true),
        ..Default::default()
    })
    .await;
    assert_eq!(
        commented
            .iter()
            .map(|x| x.agent.as_str())
            .collect::<Vec<_>>(),
        ["sue"]
    );
    // The dimensions the figures group by filter the list too.
    let same = list(pb::ListSurveyResponsesRequest {
        product: all[0].product.clone(),
        kinds: vec![all[0].kind],
        channels: vec![all[0].channel],
        ..Default::default()
    })
    .await;
    assert_eq!(same.len(), 2);
    let elsewhere = sv
        .list_survey_responses(pb::ListSurveyResponsesRequest {
            product: "no-such-product".into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(
        missing(&elsewhere),
        ("product".into(), "no-such-product".into()),
        "a product no ticket is about is a typo, not a quiet day"
    );
    let other_kind = list(pb::ListSurveyResponsesRequest {
        kinds: vec![pb::TicketKind::Suggestion.into()],
        channels: vec![all[0].channel],
        ..Default::default()
    })
    .await;
    assert!(other_kind.is_empty(), "{other_kind:?}");
    // Staff see every survey of the ticket without following the stream.
    let surveys = sv
        .list_ticket_surveys(pb::ListTicketSurveysRequest {
            ticket_id: t.id,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .surveys;
    assert_eq!(
        surveys
            .iter()
            .map(|x| (x.state, x.score, x.submit_time.is_some()))
            .collect::<Vec<_>>(),
        [
            (pb::SurveyState::Answered as i32, 4, true),
            (pb::SurveyState::Answered as i32, 2, true),
        ]
    );
    assert_eq!(surveys[0].token, second);
    let paged = sv
        .list_survey_responses(pb::ListSurveyResponsesRequest {
            page_size: 1,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    let rest = list(pb::ListSurveyResponsesRequest {
        page_size: 1,
        page_token: paged.next_page_token,
        ..Default::default()
    })
    .await;
    assert_eq!(
        [paged.responses[0].survey_id, rest[0].survey_id],
        [all[0].survey_id, all[1].survey_id]
    );
    s.stop().await;
}

async fn unanswered_surveys_expire_and_close(backend: Backend) {
    let (s, clock) = start(backend, Duration::from_secs(3600)).await;
    let (mut c, mut r, mut sv) = (s.client.clone(), s.routing().await, surveys(&s).await);
    desk(&mut r, "desk", None).await;
    let kept = ticket(&mut c, "desk", "cust-1").await;
    let reopened = ticket(&mut c, "desk", "cust-2").await;
    let resolved = resolve(&mut c, &kept).await;
    assert_eq!(status_of(&resolved), pb::TicketStatus::Resolved);
    let resolved_event = of_type(&events(&mut c, kept.id).await, E::TicketResolved)[0].clone();
    assert!(
        resolved_event.reason.contains("to be sent at"),
        "{}",
        resolved_event.reason
    );
    let back = resolve(&mut c, &reopened).await;
    c.reopen_ticket(pb::ReopenTicketRequest {
        ticket_id: back.id,
        reason: "the customer called again".into(),
        actor: "desk-ann".into(),
        ..Default::default()
    })
    .await
    .unwrap();

    // The delay: nothing is sent until the clock passes it.
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(of_type(&events(&mut c, kept.id).await, E::SurveyInvited).is_empty());
    clock.advance(chrono::Duration::hours(1));
    let invited = wait_for(&mut c, kept.id, E::SurveyInvited).await;
    assert_eq!(invited.actor, "survey");
    let secret = token(&mut c, kept.id).await;

    // Seven days without an answer: expired once, and the ticket closed.
    clock.advance(chrono::Duration::days(7));
    let closed = wait_for(&mut c, kept.id, E::TicketClosed).await;
    assert_eq!(closed.actor, "survey");
    assert!(
        closed.reason.starts_with("no survey response by"),
        "{}",
        closed.reason
    );
    tokio::time::sleep(Duration::from_millis(100)).await;
    let history = events(&mut c, kept.id).await;
    assert_eq!(of_type(&history, E::SurveyExpired).len(), 1);
    assert_eq!(of_type(&history, E::TicketClosed).len(), 1);
    let late = submit(&mut sv, &secret, [5, 5, 5]).await.unwrap_err();
    assert_eq!(late.code(), Code::FailedPrecondition);
    assert!(late.message().contains("expired"), "{late:?}");
    let shown = sv
        .get_survey(pb::GetSurveyRequest { token: secret })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(shown.state, pb::SurveyState::Expired as i32);

    // The ticket back in work by the send time was never surveyed.
    let history = events(&mut c, back.id).await;
    assert!(of_type(&history, E::SurveyInvited).is_empty());
    assert_eq!(
        status_of(&get(&mut c, back.id).await),
        pb::TicketStatus::Reopened
    );
    s.stop().await;
}

async fn invitations_respect_limits_and_resolutions(backend: Backend) {
    let (s, _clock) = start(backend, Duration::ZERO).await;
    let (mut c, mut r, mut sv) = (s.client.clone(), s.routing().await, surveys(&s).await);
    desk(&mut r, "desk", None).await;
    let reason = |events: &[pb::TicketEvent]| {
        of_type(events, E::TicketResolved)
            .last()
            .map(|e| e.reason.clone())
            .unwrap()
    };

    // One customer, two tickets: the second is not surveyed, unless by hand.
    let a = ticket(&mut c, "desk", "cust-1").await;
    let b = ticket(&mut c, "desk", "cust-1").await;
    resolve(&mut c, &a).await;
    resolve(&mut c, &b).await;
    assert_eq!(
        of_type(&events(&mut c, a.id).await, E::SurveyInvited).len(),
        1
    );
    let b_events = events(&mut c, b.id).await;
    assert!(of_type(&b_events, E::SurveyInvited).is_empty());
    assert!(
        reason(&b_events).contains("no survey: the customer was surveyed about another ticket"),
        "{}",
        reason(&b_events)
    );
    let by_hand = sv
        .send_survey(pb::SendSurveyRequest {
            ticket_id: b.id,
            actor: "lead".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(by_hand.state, pb::SurveyState::Open as i32);
    assert_eq!(token(&mut c, b.id).await, by_hand.token);

    // Concurrent resolves of one customer's tickets: exactly one survey.
    let many: Vec<pb::Ticket> = futures::future::join_all((0..5).map(|_| {
        let mut c = c.clone();
        async move { ticket(&mut c, "desk", "cust-9").await }
    }))
    .await;
    futures::future::join_all(many.iter().map(|t| {
        let mut c = c.clone();
        async move { resolve(&mut c, t).await }
    }))
    .await;
    let mut invited = 0;
    for t in &many {
        invited += of_type(&events(&mut c, t.id).await, E::SurveyInvited).len();
    }
    assert_eq!(invited, 1, "one survey per customer per window");

    // A resolve that sends no survey withdraws the one of an earlier resolve.
    let earlier = ticket(&mut c, "desk", "cust-5").await;
    resolve(&mut c, &earlier).await;
    let earlier_token = token(&mut c, earlier.id).await;
    c.reopen_ticket(pb::ReopenTicketRequest {
        ticket_id: earlier.id,
        reason: "it was an advert after all".into(),
        actor: "lead".into(),
        ..Default::default()
    })
    .await
    .unwrap();
    resolve_as(&mut c, &earlier, pb::Resolution::Spam, "")
        .await
        .unwrap();
    let withdrawn = sv
        .get_survey(pb::GetSurveyRequest {
            token: earlier_token.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(withdrawn.state, pb::SurveyState::Withdrawn as i32);
    let refused = submit(&mut sv, &earlier_token, [1, 1, 1])
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Code::FailedPrecondition);
    assert!(refused.message().contains("withdrawn"), "{refused:?}");

    // Spam and merged tickets are not surveyed.
    let spam = ticket(&mut c, "desk", "cust-2").await;
    let spam = resolve_as(&mut c, &spam, pb::Resolution::Spam, "")
        .await
        .unwrap();
    assert_eq!(spam.resolution, pb::Resolution::Spam as i32);
    assert_eq!(
        reason(&events(&mut c, spam.id).await),
        "no survey: marked spam"
    );
    let dup = ticket(&mut c, "desk", "cust-3").await;
    let missing = resolve_as(&mut c, &dup, pb::Resolution::Merged, "")
        .await
        .unwrap_err();
    assert_eq!(bad_fields(&missing), ["merged_into"]);
    let unknown = resolve_as(&mut c, &dup, pb::Resolution::Merged, "FB199901010001")
        .await
        .unwrap_err();
    // A ticket that does not exist is NOT_FOUND, as every missing reference is.
    assert_eq!(
        crate::support::missing(&unknown),
        ("ticket".into(), "FB199901010001".into())
    );
    let itself = resolve_as(&mut c, &dup, pb::Resolution::Merged, &dup.number)
        .await
        .unwrap_err();
    assert_eq!(bad_fields(&itself), ["merged_into"]);
    let merged = resolve_as(&mut c, &dup, pb::Resolution::Merged, &a.number)
        .await
        .unwrap();
    assert_eq!(merged.merged_into, a.number);
    assert_eq!(
        reason(&events(&mut c, dup.id).await),
        "no survey: merged into another ticket"
    );
    for (ticket_id, want) in [
        (spam.id, Code::FailedPrecondition),
        (999_999, Code::NotFound),
    ] {
        let refused = sv
            .send_survey(pb::SendSurveyRequest {
                ticket_id,
                ..Default::default()
            })
            .await
            .unwrap_err();
        assert_eq!(refused.code(), want, "{refused:?}");
    }
    let open = ticket(&mut c, "desk", "cust-4").await;
    let refused = sv
        .send_survey(pb::SendSurveyRequest {
            ticket_id: open.id,
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Code::FailedPrecondition);
    assert!(
        refused
            .message()
            .contains("only a resolved or closed ticket"),
        "{refused:?}"
    );
    s.stop().await;
}

async fn bad_answers_and_templates_are_named(backend: Backend) {
    let (s, _clock) = start(backend, Duration::ZERO).await;
    let (mut c, mut r, mut sv) = (s.client.clone(), s.routing().await, surveys(&s).await);
    desk(&mut r, "desk", None).await;
    let question = |key: &str, kind: pb::QuestionType, required: bool| pb::SurveyQuestion {
        key: key.into(),
        prompt: format!("{key}?"),
        r#type: kind.into(),
        required,
        ..Default::default()
    };
    let mut choice = question("via", pb::QuestionType::Choice, false);
    choice.options = vec!["phone".into(), "app".into()];
    let mut note = question("note", pb::QuestionType::Text, false);
    note.max_length = 10;
    let good = pb::SurveyTemplate {
        id: "short".into(),
        questions: vec![
            question("result", pb::QuestionType::Rating, true),
            question("nps", pb::QuestionType::Nps, true),
            choice,
            note,
        ],
        default: true,
        ..Default::default()
    };

    // Templates: each bad part is named, a taken id and the default are guarded.
    let mut bad = good.clone();
    bad.id = "two words".into();
    bad.questions[1].key = "result".into();
    bad.questions[2].options = vec!["only".into()];
    bad.questions[3].r#type = 0;
    bad.questions.push(pb::SurveyQuestion {
        options: vec!["x".into(), "y".into()],
        ..question("mood", pb::QuestionType::Rating, false)
    });
    let refused = sv
        .create_survey_template(pb::CreateSurveyTemplateRequest {
            template: Some(bad),
        })
        .await
        .unwrap_err();
    assert_eq!(
        bad_fields(&refused),
        [
            "template.id",
            "template.questions[3].type",
            "template.questions[3].max_length",
            "template.questions[4].options",
            "template.questions[1].key",
            "template.questions[2].options",
        ]
    );
    let created = sv
        .create_survey_template(pb::CreateSurveyTemplateRequest {
            template: Some(good.clone()),
        })
        .await
        .unwrap()
        .into_inner();
    assert!(created.default);
    let taken = sv
        .create_survey_template(pb::CreateSurveyTemplateRequest {
            template: Some(good.clone()),
        })
        .await
        .unwrap_err();
    assert_eq!(taken.code(), Code::AlreadyExists);
    let old = sv
        .get_survey_template(pb::GetSurveyTemplateRequest {
            id: "default".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert!(!old.default, "one default at a time");
    let kept = sv
        .delete_survey_template(pb::DeleteSurveyTemplateRequest {
            id: "short".into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(kept.code(), Code::FailedPrecondition);
    let unset = sv
        .update_survey_template(pb::UpdateSurveyTemplateRequest {
            template: Some(pb::SurveyTemplate {
                id: "short".into(),
                ..Default::default()
            }),
            update_mask: Some(prost_types::FieldMask {
                paths: vec!["default".into(), "etag".into()],
            }),
        })
        .await
        .unwrap_err();
    assert_eq!(
        bad_fields(&unset),
        ["update_mask.paths[etag]", "template.default"]
    );
    let stale = sv
        .update_survey_template(pb::UpdateSurveyTemplateRequest {
            template: Some(pb::SurveyTemplate {
                id: "short".into(),
                display_name: "Short".into(),
                etag: "W/\"99\"".into(),
                ..Default::default()
            }),
            update_mask: Some(prost_types::FieldMask {
                paths: vec!["display_name".into()],
            }),
        })
        .await
        .unwrap_err();
    assert_eq!(stale.code(), Code::Aborted);
    let missing = sv
        .get_survey_template(pb::GetSurveyTemplateRequest { id: "nope".into() })
        .await
        .unwrap_err();
    assert_eq!(missing.code(), Code::NotFound);
    let listed = sv
        .list_survey_templates(pb::ListSurveyTemplatesRequest::default())
        .await
        .unwrap()
        .into_inner();
    let ids: Vec<_> = listed.templates.iter().map(|t| t.id.as_str()).collect();
    assert_eq!(ids, ["default", "short"]);

    // Answers: every kind of bad answer is named, and nothing is written.
    let t = ticket(&mut c, "desk", "cust-1").await;
    resolve(&mut c, &t).await;
    let secret = token(&mut c, t.id).await;
    let shown = sv
        .get_survey(pb::GetSurveyRequest {
            token: secret.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(shown.questions.len(), 4, "the new default was sent");
    let wrong = sv
        .submit_survey_response(pb::SubmitSurveyResponseRequest {
            token: secret.clone(),
            answers: vec![
                score("result", 6),
                pb::SurveyAnswer {
                    question_key: "via".into(),
                    value: Some(Value::Choice("fax".into())),
                },
                text("note", "far too long for ten"),
                score("colour", 3),
                score("result", 5),
                pb::SurveyAnswer {
                    question_key: "nps".into(),
                    value: None,
                },
            ],
        })
        .await
        .unwrap_err();
    assert_eq!(
        bad_fields(&wrong),
        ["answers[4].question_key", "answers[5]"]
    );
    let wrong = sv
        .submit_survey_response(pb::SubmitSurveyResponseRequest {
            token: secret.clone(),
            answers: vec![
                score("result", 6),
                pb::SurveyAnswer {
                    question_key: "via".into(),
                    value: Some(Value::Choice("fax".into())),
                },
                text("note", "far too long for ten"),
                score("colour", 3),
            ],
        })
        .await
        .unwrap_err();
    assert_eq!(
        bad_fields(&wrong),
        [
            "answers[3].question_key",
            "answers[0]",
            "answers",
            "answers[1]",
            "answers[2]"
        ]
    );
    assert!(
        wrong.message().contains("6 is not a rating from 1 to 5"),
        "{wrong:?}"
    );
    let wrong_kind = sv
        .submit_survey_response(pb::SubmitSurveyResponseRequest {
            token: secret.clone(),
            answers: vec![score("result", 5), text("nps", "ten")],
        })
        .await
        .unwrap_err();
    assert_eq!(bad_fields(&wrong_kind), ["answers[1]"]);
    assert_eq!(
        status_of(&get(&mut c, t.id).await),
        pb::TicketStatus::Resolved
    );
    let good_answer = sv
        .submit_survey_response(pb::SubmitSurveyResponseRequest {
            token: secret.clone(),
            answers: vec![score("result", 5), score("nps", 9)],
        })
        .await;
    assert!(good_answer.is_ok(), "{good_answer:?}");

    // Tokens and figures.
    let unknown = sv
        .get_survey(pb::GetSurveyRequest {
            token: "not-a-token".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(unknown.code(), Code::NotFound);
    let empty = sv
        .submit_survey_response(pb::SubmitSurveyResponseRequest::default())
        .await
        .unwrap_err();
    assert_eq!(bad_fields(&empty), ["token"]);
    let no_period = sv
        .get_survey_stats(pb::GetSurveyStatsRequest {
            group_by: 9,
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(
        bad_fields(&no_period),
        ["sent_after", "sent_before", "group_by"]
    );
    let bounds = sv
        .list_survey_responses(pb::ListSurveyResponsesRequest {
            min_score: 4,
            max_score: 9,
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(bad_fields(&bounds), ["max_score"]);
    s.stop().await;
}

async fn figures_match_a_hand_count(backend: Backend) {
    let (s, _clock) = start(backend, Duration::ZERO).await;
    let (mut c, mut r, mut sv) = (s.client.clone(), s.routing().await, surveys(&s).await);
    desk(&mut r, "desk", None).await;
    desk(&mut r, "ops", None).await;
    let start = chrono::Utc::now() - chrono::Duration::hours(1);
    // desk: (5,5,4) satisfied, (2,3,4) reopened, one unanswered; ops: (4,4,4).
    let plan: [(&str, Option<[i32; 3]>); 4] = [
        ("desk", Some([5, 5, 4])),
        ("desk", Some([2, 3, 4])),
        ("desk", None),
        ("ops", Some([4, 4, 4])),
    ];
    for (i, (team, ratings)) in plan.iter().enumerate() {
        let t = ticket(&mut c, team, &format!("cust-{i}")).await;
        resolve(&mut c, &t).await;
        if let Some(ratings) = ratings {
            let secret = token(&mut c, t.id).await;
            submit(&mut sv, &secret, *ratings).await.unwrap();
            if ratings[0] == 2 {
                // Without a supervisor, the queue; the router then gives it to ann.
                let history = events(&mut c, t.id).await;
                let assigned = of_type(&history, E::TicketAssigned);
                let reasons: Vec<_> = assigned[assigned.len() - 2..]
                    .iter()
                    .map(|e| (e.actor.as_str(), e.reason.as_str()))
                    .collect();
                assert_eq!(
                    reasons,
                    [
                        (
                            "survey",
                            "survey: team desk has no supervisor; back in the queue of desk"
                        ),
                        ("router", "ROUND_ROBIN: desk-ann had room (0 of 50 open)")
                    ]
                );
            }
        }
    }
    let stats = sv
        .get_survey_stats(pb::GetSurveyStatsRequest {
            sent_after: Some(prost_types::Timestamp {
                seconds: start.timestamp(),
                nanos: 0,
            }),
            sent_before: Some(prost_types::Timestamp {
                seconds: start.timestamp() + 7200,
                nanos: 0,
            }),
            group_by: pb::SurveyGrouping::Team.into(),
        })
        .await
        .unwrap()
        .into_inner();
    let total = stats.total.unwrap();
    assert_eq!(
        (total.invitations, total.responses, total.reopened_by_survey),
        (4, 3, 1)
    );
    assert_eq!(total.response_rate, Some(0.75));
    // Ratings 5 5 4 / 2 3 4 / 4 4 4: seven of nine are 4 or 5.
    assert_eq!(total.csat, Some(7.0 / 9.0));
    let averages: Vec<_> = total
        .averages
        .iter()
        .map(|a| (a.question_key.as_str(), a.average, a.answers))
        .collect();
    assert_eq!(
        averages,
        [
            ("attitude", 12.0 / 3.0, 3),
            ("result", 11.0 / 3.0, 3),
            ("timeliness", 4.0, 3)
        ]
    );
    assert_eq!((total.nps, total.nps_answers), (None, 0));
    let groups: Vec<_> = stats
        .groups
        .iter()
        .map(|g| {
            let f = g.figures.as_ref().unwrap();
            (
                g.key.as_str(),
                f.invitations,
                f.responses,
                f.csat,
                f.reopened_by_survey,
            )
        })
        .collect();
    assert_eq!(
        groups,
        [
            ("desk", 3, 2, Some(4.0 / 6.0), 1),
            ("ops", 1, 1, Some(1.0), 0)
        ]
    );
    s.stop().await;
}

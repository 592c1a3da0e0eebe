//! Tasks (协作清单): a ticket asks another team for something with a deadline counted in that
//! team's calendar; the team accepts, completes or declines it; the ticket's stream shows each
//! step; an unaccepted task comes due and alerts the team's supervisor; open tasks hold the
//! resolve; a milestone tells the customer.

use std::sync::Arc;
use std::time::Duration;

use chrono::{TimeZone, Utc};
use feedbackd::domain::clock::ManualClock;
use feedbackd::proto::feedback::v1 as pb;
use pb::sla_service_client::SlaServiceClient;
use pb::task_service_client::TaskServiceClient;
use tonic::Code;
use tonic_types::StatusExt;

use crate::both;
use crate::support::{
    Authed, Backend, Client, TestDb, TestServer, bad_fields, create_with, get, history, new_ticket,
};

type Tasks = TaskServiceClient<Authed>;

both!(
    a_task_is_accepted_and_done_on_the_tickets_stream,
    an_unaccepted_task_comes_due_and_alerts_the_supervisor,
    open_tasks_hold_the_resolve_unless_it_cancels_them,
    task_requests_are_checked_and_scoped,
);

/// Monday 23 November 2026, `hour`:`minute` UTC: inside the default calendar's office hours.
fn monday(hour: u32, minute: u32) -> chrono::DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 23, hour, minute, 0).unwrap()
}

fn minutes(m: i64) -> Option<prost_types::Duration> {
    Some(prost_types::Duration {
        seconds: m * 60,
        nanos: 0,
    })
}

/// A server at `clock` with team `mall` (agent ann, supervisor sue) whose tickets the tests
/// open, and team `billing` (agent bob, supervisor kim) that they ask for help; with
/// `scheduler`, the SLA pass runs every 20 ms.
struct Floor {
    s: TestServer,
    tasks: Tasks,
    /// Bob of billing.
    bob: Tasks,
    bob_tickets: Client,
    /// The ticket's customer.
    customer: Client,
}

async fn floor(backend: Backend, clock: &ManualClock, scheduler: bool) -> Floor {
    let db = Arc::new(TestDb::new(backend).await);
    let s = TestServer::start_on(db, Arc::new(clock.clone()), |config| {
        if scheduler {
            config.sla_interval = Duration::from_millis(20);
        }
    })
    .await;
    let mut routing = s.routing().await;
    crate::support::product_team(
        &mut routing,
        "mall",
        "",
        &[("ann", true), ("sue", false)],
        "sue",
    )
    .await;
    crate::support::product_team(
        &mut routing,
        "billing",
        "",
        &[("bob", true), ("kim", false)],
        "kim",
    )
    .await;
    let bob = s.key("bob", pb::Role::Agent, &["billing"], "bob", "").await;
    let customer = s.key("cust-1", pb::Role::Customer, &[], "", "cust-1").await;
    Floor {
        tasks: TaskServiceClient::new(s.channel()),
        bob: TaskServiceClient::new(s.channel_as(&bob)),
        bob_tickets: pb::ticket_service_client::TicketServiceClient::new(s.channel_as(&bob)),
        customer: pb::ticket_service_client::TicketServiceClient::new(s.channel_as(&customer)),
        s,
    }
}

/// A mall ticket, taken up by ann so that it can be worked and resolved.
async fn worked_ticket(c: &mut Client) -> pb::Ticket {
    let t = create_with(c, new_ticket("Charged twice for order 1234")).await;
    c.acknowledge_ticket(pb::AcknowledgeTicketRequest {
        ticket_id: t.id,
        agent: "ann".into(),
        ..Default::default()
    })
    .await
    .expect("ann has the ticket and acknowledges it")
    .into_inner()
    .ticket
    .unwrap()
}

fn refund_task(ticket_id: i64) -> pb::CreateTaskRequest {
    pb::CreateTaskRequest {
        ticket_id,
        team: "billing".into(),
        ask: "Refund the second charge of order 1234".into(),
        due_within: minutes(240),
        milestone: "退款已批准 (refund approved)".into(),
        actor: "ann".into(),
        ..Default::default()
    }
}

/// The notifications recorded on a ticket, which its history lists only when asked.
async fn notifications(c: &mut Client, id: i64) -> Vec<pb::Notification> {
    history(c, id, &[pb::EventType::Notification])
        .await
        .into_iter()
        .filter_map(|e| e.notification)
        .collect()
}

fn types(events: &[pb::TicketEvent]) -> Vec<pb::EventType> {
    events.iter().map(|e| e.r#type()).collect()
}

async fn a_task_is_accepted_and_done_on_the_tickets_stream(backend: Backend) {
    let clock = ManualClock::new(monday(10, 0));
    let mut f = floor(backend, &clock, false).await;
    let mut c = f.s.client.clone();
    let t = worked_ticket(&mut c).await;
    // The owner's desk watches the ticket from here on.
    let last = history(&mut c, t.id, &[]).await.last().unwrap().cursor;
    let mut stream = c
        .watch_tickets(pb::WatchTicketsRequest {
            ticket_id: t.id,
            after_cursor: Some(last),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    // So does billing's desk, watching its team: the ticket asked it.
    let mut billing = f
        .bob_tickets
        .watch_tickets(pb::WatchTicketsRequest {
            team: "billing".into(),
            after_cursor: Some(last),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();

    let task = f
        .tasks
        .create_task(refund_task(t.id))
        .await
        .unwrap()
        .into_inner()
        .task
        .unwrap();
    assert_eq!(task.status(), pb::TaskStatus::Open);
    assert_eq!(
        (task.team.as_str(), task.created_by.as_str()),
        ("billing", "ann")
    );
    // Accept within the default hour of billing's calendar; answer within four working hours.
    let accept = task.accept_clock.unwrap();
    let answer = task.answer_clock.unwrap();
    assert_eq!(accept.due_time.unwrap().seconds, monday(11, 0).timestamp());
    assert_eq!(answer.due_time.unwrap().seconds, monday(14, 0).timestamp());
    assert_eq!(task.calendar, "default");
    let held = get(&mut c, t.id).await;
    assert_eq!(
        (held.open_tasks, held.task_teams.clone()),
        (1, vec!["billing".to_string()])
    );

    // Billing sees the ticket and its queue, but the ticket stays mall's to work on.
    assert_eq!(get(&mut f.bob_tickets, t.id).await.id, t.id);
    let queue = f
        .bob
        .list_tasks(pb::ListTasksRequest {
            team: "billing".into(),
            statuses: vec![pb::TaskStatus::Open.into()],
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        queue.tasks.iter().map(|t| t.id).collect::<Vec<_>>(),
        vec![task.id]
    );
    let not_theirs = f
        .bob_tickets
        .set_pending(pb::SetPendingRequest {
            ticket_id: t.id,
            reason: "?".into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(not_theirs.code(), Code::PermissionDenied);
    assert!(
        not_theirs.message().contains("mall"),
        "{}",
        not_theirs.message()
    );
    // The customer sees neither the task nor whom it asked.
    let theirs = get(&mut f.customer, t.id).await;
    assert_eq!((theirs.open_tasks, theirs.task_teams.len()), (0, 0));

    clock.advance(chrono::Duration::minutes(20));
    let accepted = f
        .bob
        .accept_task(pb::AcceptTaskRequest {
            task_id: task.id,
            etag: task.etag.clone(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .task
        .unwrap();
    assert_eq!(accepted.status(), pb::TaskStatus::Accepted);
    assert_eq!(
        (accepted.agent.as_str(), accepted.accepted_by.as_str()),
        ("bob", "bob")
    );
    assert_eq!(
        accepted.accept_clock.unwrap().state(),
        pb::SlaClockState::Met
    );

    let done = f
        .bob
        .complete_task(pb::CompleteTaskRequest {
            task_id: task.id,
            outcome: "Refunded 99.00 to the card".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .task
        .unwrap();
    assert_eq!(done.status(), pb::TaskStatus::Done);
    assert_eq!(done.note, "Refunded 99.00 to the card");
    assert!(!done.overdue);
    assert_eq!(get(&mut c, t.id).await.open_tasks, 0);

    // The owner saw every step live, and the milestone's message for the customer.
    let mut seen = Vec::new();
    while seen.len() < 4 {
        let message = tokio::time::timeout(Duration::from_secs(10), stream.message())
            .await
            .expect("the stream goes on")
            .unwrap()
            .unwrap();
        seen.extend(message.events);
    }
    use pb::EventType as E;
    assert_eq!(
        types(&seen),
        [
            E::TaskCreated,
            E::TaskAccepted,
            E::TaskCompleted,
            E::CommentAdded
        ]
    );
    assert_eq!(
        seen[2].task.as_ref().unwrap().note,
        "Refunded 99.00 to the card"
    );
    let first = tokio::time::timeout(Duration::from_secs(10), billing.message())
        .await
        .expect("billing hears of it")
        .unwrap()
        .unwrap();
    assert_eq!(first.events[0].r#type(), E::TaskCreated);
    let message = seen[3].comment.clone().unwrap();
    assert_eq!(message.visibility(), pb::CommentVisibility::Public);
    assert!(message.body.contains("退款已批准"), "{}", message.body);
    // It went to the customer as progress, and did not count as the first response.
    let sent = notifications(&mut c, t.id).await;
    assert!(
        sent.iter()
            .any(|n| n.kind() == pb::NotificationKind::Progress && n.text.contains("退款已批准")),
        "{sent:?}"
    );
    assert!(get(&mut c, t.id).await.first_response_time.is_none());
    // The customer reads the message, never the task between departments.
    let theirs = history(&mut f.customer, t.id, &[]).await;
    assert!(theirs.iter().any(|e| e.r#type() == E::CommentAdded));
    assert!(
        theirs.iter().all(|e| e.task.is_none()),
        "{:?}",
        types(&theirs)
    );
    f.s.stop().await;
}

async fn an_unaccepted_task_comes_due_and_alerts_the_supervisor(backend: Backend) {
    let clock = ManualClock::new(monday(10, 0));
    let mut f = floor(backend, &clock, true).await;
    let mut c = f.s.client.clone();
    let t = worked_ticket(&mut c).await;
    let task = f
        .tasks
        .create_task(pb::CreateTaskRequest {
            accept_within: minutes(30),
            milestone: String::new(),
            ..refund_task(t.id)
        })
        .await
        .unwrap()
        .into_inner()
        .task
        .unwrap();
    let wait_for = async |c: &mut Client, kind: pb::EventType| {
        for _ in 0..1_000 {
            let history = history(c, t.id, &[]).await;
            if let Some(e) = history.iter().find(|e| e.r#type() == kind) {
                return (e.clone(), history);
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("no {kind:?}");
    };
    // 80 % of the half hour: at risk.
    clock.advance(chrono::Duration::minutes(25));
    let (at_risk, _) = wait_for(&mut c, pb::EventType::TaskAtRisk).await;
    assert!(
        at_risk.reason.contains("not yet accepted"),
        "{}",
        at_risk.reason
    );
    assert_eq!(at_risk.actor, "sla");
    // Past it: overdue, and kim, billing's supervisor, is told.
    clock.advance(chrono::Duration::minutes(6));
    let (overdue, _) = wait_for(&mut c, pb::EventType::TaskOverdue).await;
    assert!(
        overdue.reason.contains("did not accept"),
        "{}",
        overdue.reason
    );
    assert!(overdue.task.as_ref().unwrap().overdue);
    let alert = notifications(&mut c, t.id)
        .await
        .into_iter()
        .find(|n| n.kind() == pb::NotificationKind::Escalation)
        .expect("the supervisor is alerted");
    assert_eq!(
        alert.recipient.as_ref().unwrap().who,
        Some(pb::notification_recipient::Who::AgentId("kim".into()))
    );
    // Once each: more passes record nothing more.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let again = history(&mut c, t.id, &[]).await;
    let count = |k: pb::EventType| again.iter().filter(|e| e.r#type() == k).count();
    assert_eq!(
        (
            count(pb::EventType::TaskAtRisk),
            count(pb::EventType::TaskOverdue)
        ),
        (1, 1)
    );

    // ExplainSla shows the task's clocks beside the ticket's.
    let explained = SlaServiceClient::new(f.s.channel())
        .explain_sla(pb::ExplainSlaRequest { ticket_id: t.id })
        .await
        .unwrap()
        .into_inner();
    let clocks = explained
        .tasks
        .iter()
        .find(|x| x.task_id == task.id)
        .unwrap();
    let accept = clocks.accept.clone().unwrap();
    assert_eq!(accept.clock.unwrap().state(), pb::SlaClockState::Breached);
    assert!(accept.remaining.unwrap().seconds < 0);
    assert!(accept.why.contains("calendar default"), "{}", accept.why);
    let bob_view = f
        .bob
        .get_task(pb::GetTaskRequest { task_id: task.id })
        .await
        .unwrap();
    assert!(bob_view.into_inner().overdue);
    f.s.stop().await;
}

async fn open_tasks_hold_the_resolve_unless_it_cancels_them(backend: Backend) {
    let clock = ManualClock::new(monday(10, 0));
    let mut f = floor(backend, &clock, false).await;
    let mut c = f.s.client.clone();
    let t = worked_ticket(&mut c).await;
    let task = f
        .tasks
        .create_task(refund_task(t.id))
        .await
        .unwrap()
        .into_inner()
        .task
        .unwrap();
    let resolve = pb::ResolveTicketRequest {
        ticket_id: t.id,
        resolution_summary: "Refunded".into(),
        actor: "ann".into(),
        ..Default::default()
    };
    let held = c.resolve_ticket(resolve.clone()).await.unwrap_err();
    assert_eq!(held.code(), Code::FailedPrecondition);
    assert!(
        held.message().contains("1 of its tasks is still open"),
        "{}",
        held.message()
    );
    let before = history(&mut c, t.id, &[]).await.len();
    let etag = get(&mut c, t.id).await.etag;
    let resolved = c
        .resolve_ticket(pb::ResolveTicketRequest {
            cancel_open_tasks: true,
            etag,
            ..resolve
        })
        .await
        .unwrap()
        .into_inner()
        .ticket
        .unwrap();
    assert_eq!(resolved.status(), pb::TicketStatus::Resolved);
    assert_eq!(resolved.open_tasks, 0);
    let history = history(&mut c, t.id, &[]).await;
    let new: Vec<_> = types(&history[before..])
        .into_iter()
        .filter(|t| *t != pb::EventType::Notification)
        .collect();
    assert_eq!(
        &new[..2],
        [pb::EventType::TaskCancelled, pb::EventType::TicketResolved]
    );
    let cancelled = f
        .tasks
        .get_task(pb::GetTaskRequest { task_id: task.id })
        .await
        .unwrap();
    let cancelled = cancelled.into_inner();
    assert_eq!(cancelled.status(), pb::TaskStatus::Cancelled);
    assert!(
        cancelled.note.contains("resolved without it"),
        "{}",
        cancelled.note
    );
    // A finished task takes no more answers.
    let late = f
        .bob
        .complete_task(pb::CompleteTaskRequest {
            task_id: task.id,
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(late.code(), Code::FailedPrecondition);
    // Nor is a resolved ticket asked for help.
    let closed = f.tasks.create_task(refund_task(t.id)).await.unwrap_err();
    assert_eq!(closed.code(), Code::FailedPrecondition);
    f.s.stop().await;
}

async fn task_requests_are_checked_and_scoped(backend: Backend) {
    let clock = ManualClock::new(monday(10, 0));
    let mut f = floor(backend, &clock, false).await;
    let mut c = f.s.client.clone();
    let t = worked_ticket(&mut c).await;
    let refused = |status: tonic::Status| bad_fields(&status);

    let past = f
        .tasks
        .create_task(pb::CreateTaskRequest {
            due_within: None,
            due_time: Some(prost_types::Timestamp {
                seconds: monday(9, 0).timestamp(),
                nanos: 0,
            }),
            ..refund_task(t.id)
        })
        .await
        .unwrap_err();
    assert_eq!(refused(past), ["due_time"]);
    let empty = f
        .tasks
        .create_task(pb::CreateTaskRequest {
            ticket_id: t.id,
            accept_within: minutes(-5),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(refused(empty), ["team", "ask", "due_time", "accept_within"]);
    let unknown = f
        .tasks
        .create_task(pb::CreateTaskRequest {
            team: "legal".into(),
            ..refund_task(t.id)
        })
        .await
        .unwrap_err();
    assert_eq!(unknown.code(), Code::NotFound);
    assert_eq!(
        unknown.get_details_resource_info().unwrap().resource_name,
        "legal"
    );
    let outsider = f
        .tasks
        .create_task(pb::CreateTaskRequest {
            agent: "ann".into(),
            ..refund_task(t.id)
        })
        .await
        .unwrap_err();
    assert_eq!(outsider.code(), Code::FailedPrecondition);
    // A retry with the same request_id is the same task; another request under it is not.
    let once = pb::CreateTaskRequest {
        request_id: "task-1".into(),
        ..refund_task(t.id)
    };
    let first = f
        .tasks
        .create_task(once.clone())
        .await
        .unwrap()
        .into_inner()
        .task
        .unwrap();
    let again = f
        .tasks
        .create_task(once.clone())
        .await
        .unwrap()
        .into_inner()
        .task
        .unwrap();
    assert_eq!(first.id, again.id);
    let reused = f
        .tasks
        .create_task(pb::CreateTaskRequest {
            ask: "Something else".into(),
            ..once
        })
        .await
        .unwrap_err();
    assert_eq!(reused.code(), Code::AlreadyExists);
    assert_eq!(get(&mut c, t.id).await.open_tasks, 1);

    // An agent of another team neither sees nor answers the task.
    let ann = f.s.key("ann", pb::Role::Agent, &["mall"], "ann", "").await;
    let mut ann = TaskServiceClient::new(f.s.channel_as(&ann));
    let not_hers = ann
        .accept_task(pb::AcceptTaskRequest {
            task_id: first.id,
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(not_hers.code(), Code::NotFound);
    let queue = ann
        .list_tasks(pb::ListTasksRequest {
            team: "billing".into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(queue.code(), Code::NotFound);
    // But she reads the tasks of her team's ticket.
    let mine = ann
        .list_tasks(pb::ListTasksRequest {
            ticket_id: t.id,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(mine.tasks.len(), 1);

    let stale = f
        .bob
        .accept_task(pb::AcceptTaskRequest {
            task_id: first.id,
            etag: "W/\"99\"".into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(stale.code(), Code::Aborted);
    let no_reason = f
        .bob
        .decline_task(pb::DeclineTaskRequest {
            task_id: first.id,
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(refused(no_reason), ["reason"]);
    let declined = f
        .bob
        .decline_task(pb::DeclineTaskRequest {
            task_id: first.id,
            reason: "Order 1234 was paid in cash at the shop".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .task
        .unwrap();
    assert_eq!(declined.status(), pb::TaskStatus::Declined);
    assert_eq!(get(&mut c, t.id).await.open_tasks, 0);
    let twice = f
        .bob
        .accept_task(pb::AcceptTaskRequest {
            task_id: first.id,
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(twice.code(), Code::FailedPrecondition);
    let listed = f
        .tasks
        .list_tasks(pb::ListTasksRequest::default())
        .await
        .unwrap_err();
    assert_eq!(refused(listed), ["team"]);
    f.s.stop().await;
}

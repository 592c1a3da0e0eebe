//! WatchTickets: replay then live with no gap and no duplicate, resume by cursor, slow
//! watchers, many watchers, filters, and shutdown.

use std::time::Duration;

use feedbackd::proto::feedback::v1 as pb;
use futures::future::join_all;
use tonic::{Code, Streaming};

use crate::both;
use crate::support::{Backend, Client, TestDb, TestServer, create, new_ticket};

both!(
    large_tickets_are_split_across_messages_and_pages,
    resume_with_cursor_loses_nothing_and_repeats_nothing,
    a_slow_watcher_catches_up_from_the_log,
    thousand_watchers_all_receive_an_event,
    filters_follow_tickets_out_of_a_queue,
    cursor_beyond_the_log_is_out_of_range,
    shutdown_ends_streams_with_a_resume_cursor,
    a_watcher_that_stops_reading_does_not_hold_up_shutdown
);

const PATIENCE: Duration = Duration::from_secs(20);

async fn next(stream: &mut Streaming<pb::WatchTicketsResponse>) -> Vec<pb::TicketEvent> {
    tokio::time::timeout(PATIENCE, stream.message())
        .await
        .expect("a message in time")
        .expect("stream ok")
        .expect("stream open")
        .events
}

/// Reads until `n` events have arrived.
async fn take(stream: &mut Streaming<pb::WatchTicketsResponse>, n: usize) -> Vec<pb::TicketEvent> {
    let mut events = Vec::new();
    while events.len() < n {
        events.extend(next(stream).await);
    }
    events
}

/// Events an intake records: TICKET_CREATED, SLA_STARTED, and the NOTIFICATION of the
/// customer's acknowledgement.
const PER_INTAKE: usize = 3;

/// Every event type, notifications included: the whole log, for tests that count it.
fn everything() -> Vec<i32> {
    (1..=pb::EventType::Notification as i32).collect()
}

async fn watch(
    c: &mut Client,
    request: pb::WatchTicketsRequest,
) -> Streaming<pb::WatchTicketsResponse> {
    c.watch_tickets(request)
        .await
        .expect("watch starts")
        .into_inner()
}

fn cursors(events: &[pb::TicketEvent]) -> Vec<i64> {
    events.iter().map(|e| e.cursor).collect()
}

async fn resume_with_cursor_loses_nothing_and_repeats_nothing(backend: Backend) {
    let s = TestServer::start(backend).await;
    let mut c = s.client.clone();
    for i in 0..5 {
        create(&mut c, &format!("before {i}")).await;
    }
    // From the start of the log: replay, then live.
    let mut stream = watch(
        &mut c,
        pb::WatchTicketsRequest {
            after_cursor: Some(0),
            event_types: everything(),
            ..Default::default()
        },
    )
    .await;
    let mut writer = s.client().await;
    let producer = tokio::spawn(async move {
        for i in 0..40 {
            create(&mut writer, &format!("during {i}")).await;
        }
    });
    let first = take(&mut stream, 12).await;
    drop(stream); // disconnect mid-stream
    let last_seen = first.last().unwrap().cursor;
    producer.await.unwrap();
    let mut resumed = watch(
        &mut c,
        pb::WatchTicketsRequest {
            after_cursor: Some(last_seen),
            event_types: everything(),
            ..Default::default()
        },
    )
    .await;
    let rest = take(&mut resumed, 45 * PER_INTAKE - first.len()).await;
    let mut all = cursors(&first);
    all.extend(cursors(&rest));
    let expected: Vec<i64> = (1..=45 * PER_INTAKE as i64).collect();
    assert_eq!(
        all, expected,
        "every event once, in order, across the reconnect"
    );
    let titles: Vec<_> = first
        .iter()
        .chain(&rest)
        .map(|e| e.ticket.as_ref().unwrap().title.clone())
        .collect();
    assert_eq!(titles[0], "before 0");
    assert_eq!(titles[45 * PER_INTAKE - 1], "during 39");
    // Nothing more arrives: no duplicate at the seam.
    let extra = tokio::time::timeout(Duration::from_millis(300), resumed.message()).await;
    assert!(extra.is_err(), "no further events: {extra:?}");
    s.stop().await;
}

async fn a_slow_watcher_catches_up_from_the_log(backend: Backend) {
    let db = std::sync::Arc::new(crate::support::TestDb::new(backend).await);
    let s = TestServer::start_on(
        db,
        std::sync::Arc::new(feedbackd::domain::clock::SystemClock),
        |c| c.watch_buffer = 2,
    )
    .await;
    // A reader on a tiny HTTP/2 window: the server can send it almost nothing until it reads,
    // so its live buffer overflows and it must catch up from the log.
    let channel = tonic::transport::Endpoint::from_shared(s.server.url())
        .unwrap()
        .initial_stream_window_size(Some(1024))
        .initial_connection_window_size(Some(1024))
        .connect()
        .await
        .unwrap();
    let mut slow = watch(
        &mut pb::ticket_service_client::TicketServiceClient::new(
            tonic::service::interceptor::InterceptedService::new(
                channel,
                crate::support::Bearer::new(&s.admin_key),
            ),
        ),
        pb::WatchTicketsRequest {
            event_types: everything(),
            ..Default::default()
        },
    )
    .await;
    let mut writer = s.client().await;
    for i in 0..300 {
        create(&mut writer, &format!("burst {i}")).await;
    }
    let events = take(&mut slow, 300 * PER_INTAKE).await;
    assert_eq!(
        cursors(&events),
        (1..=300 * PER_INTAKE as i64).collect::<Vec<i64>>(),
        "nothing dropped, nothing twice"
    );
    s.stop().await;
}

async fn thousand_watchers_all_receive_an_event(backend: Backend) {
    let s = TestServer::start(backend).await;
    // 10 connections of 100 streams each, as 1,000 agent desktops behind a few proxies.
    let mut clients = Vec::new();
    for _ in 0..10 {
        clients.push(s.client().await);
    }
    let streams = join_all((0..1000).map(|i| {
        let mut c = clients[i % 10].clone();
        async move { watch(&mut c, pb::WatchTicketsRequest::default()).await }
    }))
    .await;
    let mut c = s.client.clone();
    let t = create(&mut c, "for everyone").await;
    let received = join_all(
        streams
            .into_iter()
            .map(|mut stream| async move { next(&mut stream).await }),
    )
    .await;
    assert_eq!(received.len(), 1000);
    for events in received {
        assert!(events.iter().all(|e| e.ticket_id == t.id), "{events:?}");
        assert_eq!(events[0].r#type, pb::EventType::TicketCreated as i32);
    }
    s.stop().await;
}

async fn filters_follow_tickets_out_of_a_queue(backend: Backend) {
    let s = TestServer::start(backend).await;
    s.seed_staff().await;
    let mut c = s.client.clone();
    let t = create(&mut c, "moving").await;
    let other = create(&mut c, "other").await;
    let mut billing = watch(
        &mut c,
        pb::WatchTicketsRequest {
            team: "billing".into(),
            ..Default::default()
        },
    )
    .await;
    let mut comments = watch(
        &mut c,
        pb::WatchTicketsRequest {
            ticket_id: t.id,
            event_types: vec![pb::EventType::CommentAdded.into()],
            ..Default::default()
        },
    )
    .await;
    let mut customer = watch(
        &mut c,
        pb::WatchTicketsRequest {
            customer_external_id: "cust-1".into(),
            after_cursor: Some(0),
            ..Default::default()
        },
    )
    .await;
    c.assign_ticket(pb::AssignTicketRequest {
        ticket_id: t.id,
        team: "billing".into(),
        agent: "bea".into(),
        ..Default::default()
    })
    .await
    .unwrap();
    c.assign_ticket(pb::AssignTicketRequest {
        ticket_id: other.id,
        team: "tech".into(),
        ..Default::default()
    })
    .await
    .unwrap();
    c.acknowledge_ticket(pb::AcknowledgeTicketRequest {
        ticket_id: t.id,
        agent: "bea".into(),
        ..Default::default()
    })
    .await
    .unwrap();
    c.add_comment(pb::AddCommentRequest {
        ticket_id: t.id,
        visibility: 1,
        body: "hi".into(),
        author: "bea".into(),
        ..Default::default()
    })
    .await
    .unwrap();
    c.assign_ticket(pb::AssignTicketRequest {
        ticket_id: t.id,
        team: "finance".into(),
        agent: "fay".into(),
        ..Default::default()
    })
    .await
    .unwrap();

    let seen = take(&mut billing, 6).await;
    let types: Vec<_> = seen
        .iter()
        .map(|e| pb::EventType::try_from(e.r#type).unwrap())
        .collect();
    use pb::EventType as E;
    assert_eq!(
        types,
        [
            E::TicketAssigned,
            E::TicketAcknowledged,
            E::SlaMet, // acknowledged in time
            E::CommentAdded,
            E::SlaMet, // the first reply, in time
            E::TicketAssigned
        ]
    );
    assert!(
        seen.iter().all(|e| e.ticket_id == t.id),
        "tech's ticket is not billing's business"
    );
    assert_eq!(
        seen[5].ticket.as_ref().unwrap().team,
        "finance",
        "billing sees the ticket leave"
    );
    let comment = take(&mut comments, 1).await;
    assert_eq!(comment[0].comment.as_ref().unwrap().body, "hi");
    // Two intakes of two events each, two assignments, the acknowledgement, the comment and
    // the reassignment, with the two clocks met.
    let all_of_customer = take(&mut customer, 11).await;
    assert_eq!(
        all_of_customer.len(),
        11,
        "both tickets' events, replayed then live"
    );
    s.stop().await;
}

async fn cursor_beyond_the_log_is_out_of_range(backend: Backend) {
    let s = TestServer::start(backend).await;
    let mut c = s.client.clone();
    create(&mut c, "one").await;
    let err = c
        .watch_tickets(pb::WatchTicketsRequest {
            after_cursor: Some(4),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::OutOfRange, "{err:?}");
    let mut at_end = watch(
        &mut c,
        pb::WatchTicketsRequest {
            after_cursor: Some(3),
            event_types: everything(),
            ..Default::default()
        },
    )
    .await;
    create(&mut c, "two").await;
    assert_eq!(cursors(&take(&mut at_end, 3).await), [4, 5, 6]);
    s.stop().await;
}

async fn shutdown_ends_streams_with_a_resume_cursor(backend: Backend) {
    let s = TestServer::start(backend).await;
    let mut c = s.client.clone();
    let mut stream = watch(&mut c, pb::WatchTicketsRequest::default()).await;
    create(&mut c, "last before shutdown").await;
    assert_eq!(cursors(&take(&mut stream, 2).await), [1, 2]);
    // The acknowledgement's notification (3) is not for this watcher, but its resume cursor
    // is past it: a reconnect reads nothing it already passed.
    let stopping = tokio::spawn(s.server.shutdown());
    let end = tokio::time::timeout(PATIENCE, stream.message())
        .await
        .expect("the stream ends promptly");
    let status = end.expect_err("ends with a status");
    assert_eq!(status.code(), Code::Unavailable, "{status:?}");
    assert!(
        status.message().contains("after_cursor=3"),
        "{}",
        status.message()
    );
    tokio::time::timeout(PATIENCE, stopping)
        .await
        .expect("shutdown completes")
        .unwrap()
        .expect("clean");
    let refused = new_ticket("after shutdown");
    assert!(c.create_ticket(refused).await.is_err(), "no longer serving");
}

/// 200 tickets of 8,000 Chinese characters are about 5 MB of events: more than a client takes
/// in one message by default. Replay and listing split them instead of failing.
async fn large_tickets_are_split_across_messages_and_pages(backend: Backend) {
    let s = TestServer::start(backend).await;
    let mut c = s.client.clone();
    let description = "退款迟迟没有到账".repeat(1000);
    for i in 0..200 {
        let request = pb::CreateTicketRequest {
            description: description.clone(),
            ..new_ticket(&format!("large {i}"))
        };
        c.create_ticket(request).await.unwrap();
    }
    let mut replay = watch(
        &mut c,
        pb::WatchTicketsRequest {
            after_cursor: Some(0),
            event_types: everything(),
            ..Default::default()
        },
    )
    .await;
    assert_eq!(
        cursors(&take(&mut replay, 200 * PER_INTAKE).await),
        (1..=200 * PER_INTAKE as i64).collect::<Vec<i64>>()
    );

    let mut seen = 0;
    let mut pages = 0;
    let mut token = String::new();
    loop {
        let page = c
            .list_tickets(pb::ListTicketsRequest {
                page_size: 500,
                page_token: token,
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner();
        seen += page.tickets.len();
        pages += 1;
        token = page.next_page_token;
        if token.is_empty() {
            break;
        }
    }
    assert_eq!(seen, 200);
    assert!(
        pages > 1,
        "a page stops at the reply size limit, not only at page_size"
    );
    s.stop().await;
}

async fn a_watcher_that_stops_reading_does_not_hold_up_shutdown(backend: Backend) {
    let s = TestServer::start_on(
        std::sync::Arc::new(TestDb::new(backend).await),
        std::sync::Arc::new(feedbackd::domain::clock::SystemClock),
        |config| config.shutdown_grace = Duration::from_secs(120),
    )
    .await;
    let c = s.client.clone();
    // About 14 MB of events: far more than HTTP/2 lets the server send ahead of a reader
    // (hyper's client windows take 2 MB a stream, 5 MB a connection).
    let description = "退款迟迟没有到账".repeat(1000);
    for batch in 0..6 {
        join_all((0..50).map(|i| {
            let mut c = c.clone();
            let request = pb::CreateTicketRequest {
                description: description.clone(),
                ..new_ticket(&format!("large {batch}-{i}"))
            };
            async move { c.create_ticket(request).await.unwrap() }
        }))
        .await;
    }
    let mut stalled_client = s.client().await;
    let _stalled = watch(
        &mut stalled_client,
        pb::WatchTicketsRequest {
            after_cursor: Some(0),
            ..Default::default()
        },
    )
    .await;
    // Never read: the server fills the stream's window and its buffers, and waits.
    tokio::time::sleep(Duration::from_millis(500)).await;
    // Far sooner than the grace period: the stream that is not read is closed once no call
    // is at work and the other replies have gone out.
    tokio::time::timeout(Duration::from_secs(60), s.stop())
        .await
        .expect("shutdown does not wait out the grace period for a caller that stopped reading");
}

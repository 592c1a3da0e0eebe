//! Idempotent intake and ticket numbering under concurrency, on one server and on two
//! servers sharing one database.

use std::collections::HashSet;
use std::sync::Arc;

use chrono::TimeZone;
use feedbackd::domain::clock::{ManualClock, SystemClock};
use feedbackd::proto::feedback::v1 as pb;
use futures::future::join_all;

use crate::both;
use crate::support::{Backend, TestServer, new_ticket};

both!(
    retries_across_instances_make_one_ticket,
    concurrent_retries_make_one_ticket,
    concurrent_creates_get_gap_free_numbers,
    numbers_follow_the_service_time_zone,
    comment_retries_add_one_comment,
    two_instances_share_numbering_and_events
);

async fn concurrent_retries_make_one_ticket(backend: Backend) {
    let s = TestServer::start(backend).await;
    let request = pb::CreateTicketRequest {
        request_id: "connector-42:msg-9".into(),
        ..new_ticket("retried")
    };
    let mut clients = Vec::new();
    for _ in 0..4 {
        clients.push(s.client().await);
    }
    let replies = join_all((0..20).map(|i| {
        let mut c = clients[i % clients.len()].clone();
        let request = request.clone();
        async move {
            c.create_ticket(request)
                .await
                .expect("every retry succeeds")
                .into_inner()
        }
    }))
    .await;
    let ids: HashSet<i64> = replies
        .iter()
        .map(|r| r.ticket.as_ref().unwrap().id)
        .collect();
    assert_eq!(ids.len(), 1, "one ticket for twenty retries");
    assert_eq!(
        replies.iter().filter(|r| !r.replayed).count(),
        1,
        "exactly one call created it"
    );
    let mut c = s.client.clone();
    let all = c
        .list_tickets(pb::ListTicketsRequest::default())
        .await
        .unwrap()
        .into_inner()
        .tickets;
    assert_eq!(all.len(), 1);
    assert_eq!(all[0].request_id, "connector-42:msg-9");
    let next = c
        .create_ticket(new_ticket("next"))
        .await
        .unwrap()
        .into_inner()
        .ticket
        .unwrap();
    assert!(
        next.number.ends_with("0002"),
        "the losers gave their numbers back: {}",
        next.number
    );
    s.stop().await;
}

async fn concurrent_creates_get_gap_free_numbers(backend: Backend) {
    let s = TestServer::start(backend).await;
    let mut clients = Vec::new();
    for _ in 0..8 {
        clients.push(s.client().await);
    }
    let numbers = join_all((0..200).map(|i| {
        let mut c = clients[i % clients.len()].clone();
        async move {
            c.create_ticket(new_ticket(&format!("t{i}")))
                .await
                .expect("create")
                .into_inner()
                .ticket
                .unwrap()
                .number
        }
    }))
    .await;
    let prefix = format!("FB{}", chrono::Utc::now().format("%Y%m%d"));
    let mut sequences: Vec<u32> = numbers
        .iter()
        .map(|n| {
            n.strip_prefix(&prefix)
                .unwrap_or_else(|| panic!("{n} has today's date"))
                .parse()
                .unwrap()
        })
        .collect();
    sequences.sort();
    assert_eq!(
        sequences,
        (1..=200).collect::<Vec<_>>(),
        "200 distinct numbers, no gaps"
    );
    s.stop().await;
}

async fn numbers_follow_the_service_time_zone(backend: Backend) {
    let db = Arc::new(crate::support::TestDb::new(backend).await);
    // 17:30 UTC on 21 November is already the 22nd in Shanghai.
    let clock = ManualClock::new(
        chrono::Utc
            .with_ymd_and_hms(2026, 11, 21, 17, 30, 0)
            .unwrap(),
    );
    let s = TestServer::start_on(db, Arc::new(clock.clone()), |c| {
        c.timezone = chrono_tz::Asia::Shanghai
    })
    .await;
    let mut c = s.client.clone();
    let first = c
        .create_ticket(new_ticket("a"))
        .await
        .unwrap()
        .into_inner()
        .ticket
        .unwrap();
    let second = c
        .create_ticket(new_ticket("b"))
        .await
        .unwrap()
        .into_inner()
        .ticket
        .unwrap();
    assert_eq!(
        (first.number.as_str(), second.number.as_str()),
        ("FB202611220001", "FB202611220002")
    );
    assert_eq!(
        first.create_time.unwrap().seconds,
        clock_now_secs(&clock),
        "times come from the injected clock"
    );
    // The next local day starts its own sequence.
    clock.advance(chrono::Duration::days(1));
    let next_day = c
        .create_ticket(new_ticket("c"))
        .await
        .unwrap()
        .into_inner()
        .ticket
        .unwrap();
    assert_eq!(next_day.number, "FB202611230001");
    s.stop().await;
}

fn clock_now_secs(clock: &ManualClock) -> i64 {
    use feedbackd::domain::clock::Clock;
    clock.now().timestamp()
}

async fn comment_retries_add_one_comment(backend: Backend) {
    let s = TestServer::start(backend).await;
    let mut c = s.client.clone();
    let t = crate::support::create(&mut c, "comments").await;
    let request = pb::AddCommentRequest {
        ticket_id: t.id,
        visibility: pb::CommentVisibility::Internal.into(),
        body: "called the courier".into(),
        author: "ann".into(),
        request_id: "desk-7:note-1".into(),
        ..Default::default()
    };
    let replies = join_all((0..10).map(|_| {
        let mut c = c.clone();
        let request = request.clone();
        async move {
            c.add_comment(request)
                .await
                .expect("retry succeeds")
                .into_inner()
        }
    }))
    .await;
    let ids: HashSet<i64> = replies
        .iter()
        .map(|r| r.comment.as_ref().unwrap().id)
        .collect();
    assert_eq!(ids.len(), 1);
    let listed = c
        .list_comments(pb::ListCommentsRequest {
            ticket_id: t.id,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(listed.comments.len(), 1);
    s.stop().await;
}

/// Several server processes on one PostgreSQL: numbers stay unique and gap-free, and an event
/// committed on one instance reaches watchers on the other. (On SQLite: two servers on one file.)
async fn two_instances_share_numbering_and_events(backend: Backend) {
    let a = TestServer::start(backend).await;
    let b = TestServer::start_on(a.db.clone(), Arc::new(SystemClock), |_| {}).await;
    let mut watch_b = b
        .client
        .clone()
        .watch_tickets(pb::WatchTicketsRequest::default())
        .await
        .unwrap()
        .into_inner();
    let numbers = join_all((0..60).map(|i| {
        let mut c = if i % 2 == 0 {
            a.client.clone()
        } else {
            b.client.clone()
        };
        async move {
            c.create_ticket(new_ticket(&format!("t{i}")))
                .await
                .expect("create")
                .into_inner()
                .ticket
                .unwrap()
                .number
        }
    }))
    .await;
    let mut sequences: Vec<u32> = numbers.iter().map(|n| n[10..].parse().unwrap()).collect();
    sequences.sort();
    assert_eq!(sequences, (1..=60).collect::<Vec<_>>());
    // Each intake records TICKET_CREATED and SLA_STARTED.
    let mut seen = Vec::new();
    while seen.len() < 120 {
        let message = tokio::time::timeout(std::time::Duration::from_secs(10), watch_b.message())
            .await
            .expect("events from both instances reach the watcher on b")
            .unwrap()
            .expect("stream open");
        seen.extend(message.events.into_iter().map(|e| e.cursor));
    }
    assert_eq!(seen.len(), 120);
    assert!(
        seen.windows(2).all(|w| w[0] < w[1]),
        "in log order, no duplicates"
    );
    b.stop().await;
    a.stop().await;
}

/// Retries of one intake reaching two instances at once: whichever commits first wins, the
/// other instance's batch gives way, and everyone gets the same ticket.
async fn retries_across_instances_make_one_ticket(backend: Backend) {
    let a = TestServer::start(backend).await;
    let b = TestServer::start_on(a.db.clone(), Arc::new(SystemClock), |_| {}).await;
    for round in 0..3 {
        let request = pb::CreateTicketRequest {
            request_id: format!("sms-gateway:{round}"),
            ..new_ticket("twice sent")
        };
        let replies = join_all((0..30).map(|i| {
            // Unrelated intakes in the same batches, so the duplicate shares them.
            let mut c = if i % 2 == 0 {
                a.client.clone()
            } else {
                b.client.clone()
            };
            let request = if i % 3 == 0 {
                new_ticket(&format!("other {round}/{i}"))
            } else {
                request.clone()
            };
            async move {
                (
                    request.request_id.clone(),
                    c.create_ticket(request).await.expect("create").into_inner(),
                )
            }
        }))
        .await;
        let ids: HashSet<i64> = replies
            .iter()
            .filter(|(rid, _)| !rid.is_empty())
            .map(|(_, r)| r.ticket.as_ref().unwrap().id)
            .collect();
        assert_eq!(ids.len(), 1, "round {round}: one ticket for all retries");
    }
    let mut c = a.client.clone();
    let mut token = String::new();
    let mut numbers = Vec::new();
    loop {
        let page = c
            .list_tickets(pb::ListTicketsRequest {
                page_token: token,
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner();
        numbers.extend(
            page.tickets
                .iter()
                .map(|t| t.number[10..].parse::<u32>().unwrap()),
        );
        token = page.next_page_token;
        if token.is_empty() {
            break;
        }
    }
    numbers.sort();
    assert_eq!(
        numbers,
        (1..=numbers.len() as u32).collect::<Vec<_>>(),
        "still gap-free"
    );
    assert_eq!(
        numbers.len(),
        3 * (1 + 10),
        "3 rounds of one retried ticket and 10 others"
    );
    b.stop().await;
    a.stop().await;
}

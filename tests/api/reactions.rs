//! What follows a commit follows the committed logs: a change committed by a process that
//! died before reacting to it is reacted to when the service starts again.

use std::sync::Arc;
use std::time::Duration;

use feedbackd::app::App;
use feedbackd::app::tickets::{On, Resolve};
use feedbackd::config::Config;
use feedbackd::domain::access::Caller;
use feedbackd::domain::assignment::Availability;
use feedbackd::domain::clock::SystemClock;
use feedbackd::domain::patch::Patch;
use feedbackd::domain::staff::Agent;
use feedbackd::domain::ticket::Resolution;
use feedbackd::metrics::Metrics;
use feedbackd::proto::feedback::v1 as pb;
use feedbackd::store::{Store, StoreOptions};
use futures::StreamExt;

use crate::both;
use crate::support::{Backend, Client, TestDb, TestServer, new_ticket, product_team};

both!(a_restart_reacts_to_what_a_crash_left);

/// A server whose periodic queue sweep never comes: whatever is dispatched is the reactions'.
async fn server(db: &Arc<TestDb>) -> TestServer {
    TestServer::start_on(db.clone(), Arc::new(SystemClock), |config| {
        config.dispatch_interval = Duration::from_secs(3600);
    })
    .await
}

/// Waits, from the start of the log, for the router to assign ticket `id` to someone.
async fn assigned(c: &mut Client, id: i64) -> String {
    let mut stream = c
        .watch_tickets(pb::WatchTicketsRequest {
            after_cursor: Some(0),
            ticket_id: id,
            event_types: vec![pb::EventType::TicketAssigned.into()],
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    let wait = async {
        while let Some(message) = stream.next().await {
            for event in message.unwrap().events {
                if event.actor == "router" {
                    return event.ticket.unwrap().assignee;
                }
            }
        }
        String::new()
    };
    tokio::time::timeout(Duration::from_secs(30), wait)
        .await
        .expect("the ticket was assigned")
}

async fn create(c: &mut Client, title: &str) -> pb::Ticket {
    c.create_ticket(pb::CreateTicketRequest {
        product: "desk".into(),
        kind: pb::TicketKind::Inquiry.into(),
        ..new_ticket(title)
    })
    .await
    .unwrap()
    .into_inner()
    .ticket
    .unwrap()
}

async fn a_restart_reacts_to_what_a_crash_left(backend: Backend) {
    let db = Arc::new(TestDb::new(backend).await);
    let s = server(&db).await;
    let mut c = s.client.clone();
    let mut r = s.routing().await;
    // Ann takes one ticket at a time; Bob is offline.
    product_team(&mut r, "desk", "", &[("ann", true), ("bob", false)], "").await;
    r.update_agent(pb::UpdateAgentRequest {
        agent: Some(pb::Agent {
            id: "ann".into(),
            capacity: 1,
            ..Default::default()
        }),
        update_mask: Some(prost_types::FieldMask {
            paths: vec!["capacity".into()],
        }),
    })
    .await
    .unwrap();
    let first = create(&mut c, "first").await;
    assert_eq!(first.assignee, "ann");
    let second = create(&mut c, "second").await;
    let third = create(&mut c, "third").await;
    assert_eq!(
        (second.assignee.as_str(), third.assignee.as_str()),
        ("", "")
    );
    c.acknowledge_ticket(pb::AcknowledgeTicketRequest {
        ticket_id: first.id,
        agent: "ann".into(),
        ..Default::default()
    })
    .await
    .unwrap();
    s.stop().await;

    // A process commits two changes and dies before it reacts to them: the use cases alone,
    // with no reactions running. Ann resolves her ticket; Bob comes online.
    let store = Store::connect(&db.url, &StoreOptions::default())
        .await
        .unwrap();
    let metrics = Metrics::new(&store);
    let app = App::new(
        store,
        Arc::new(SystemClock),
        Config::with_database(db.url.clone()).settings(),
        metrics,
    );
    app.resolve(
        On::system(first.id, "ann"),
        Resolve {
            summary: "answered".into(),
            resolution: Resolution::Solved,
            merged_into: None,
            cancel_open_tasks: false,
            with_parent: false,
        },
    )
    .await
    .unwrap();
    let mut online = app.agent("bob").await.unwrap();
    online.availability = Availability::Online;
    let fields: Vec<feedbackd::domain::patch::Field<Agent, Agent>> =
        vec![("availability", |a, v| a.availability = v.availability)];
    app.update_agent(&Caller::system(), "bob", None, &Patch::new(online, fields))
        .await
        .unwrap();
    drop(app);

    // The next start reacts to both, from the log: nobody swept the queues.
    let s = server(&db).await;
    let mut c = s.client.clone();
    let mut who = vec![
        assigned(&mut c, second.id).await,
        assigned(&mut c, third.id).await,
    ];
    who.sort();
    assert_eq!(
        who,
        ["ann", "bob"],
        "ann had room again, and bob came online"
    );
    s.stop().await;
}

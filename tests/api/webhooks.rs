//! Webhooks, against a real HTTP receiver on 127.0.0.1 that the test starts, stops and
//! breaks: every event once and in order, signed; a receiver down for a while gets
//! everything after it returns; one that always fails ends in dead letters while another
//! webhook goes on; two instances never both deliver.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::support::Authed;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use feedbackd::domain::clock::SystemClock;
use feedbackd::proto::feedback::v1 as pb;
use hmac::{KeyInit, Mac};
use pb::webhook_service_client::WebhookServiceClient;
use tokio_util::sync::CancellationToken;

use crate::both;
use crate::support::{Backend, TestDb, TestServer, bad_fields, create, missing};

type Webhooks = WebhookServiceClient<Authed>;

const SECRET: &str = "a-secret-of-some-length";

/// One POST as the receiver got it.
#[derive(Debug, Clone)]
struct Received {
    event_id: i64,
    event_type: String,
    attempt: u32,
    json: serde_json::Value,
}

/// How the receiver answers.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Mode {
    Accept,
    Fail(u16),
}

#[derive(Default)]
struct Log {
    received: Vec<Received>,
    /// Posts whose signature did not verify.
    forged: usize,
    mode: Option<Mode>,
}

/// An HTTP receiver on 127.0.0.1 that records what it accepts and can be stopped and
/// started again on the same port.
struct Receiver {
    address: SocketAddr,
    log: Arc<Mutex<Log>>,
    running: Option<CancellationToken>,
}

impl Receiver {
    async fn start(mode: Mode) -> Receiver {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let mut receiver = Receiver {
            address: listener.local_addr().unwrap(),
            log: Arc::new(Mutex::new(Log {
                mode: Some(mode),
                ..Log::default()
            })),
            running: None,
        };
        receiver.serve(listener);
        receiver
    }

    fn url(&self) -> String {
        format!("http://{}/hooks", self.address)
    }

    fn serve(&mut self, listener: tokio::net::TcpListener) {
        let stop = CancellationToken::new();
        let app = axum::Router::new()
            .route("/hooks", axum::routing::post(receive))
            .with_state(self.log.clone());
        let until = stop.clone();
        tokio::spawn(async move {
            axum::serve(listener, app)
                .with_graceful_shutdown(async move { until.cancelled().await })
                .await
                .unwrap();
        });
        self.running = Some(stop);
    }

    /// Stops answering: connections are refused.
    fn stop(&mut self) {
        if let Some(stop) = self.running.take() {
            stop.cancel();
        }
    }

    /// Answers again on the same address.
    async fn restart(&mut self) {
        let listener = loop {
            match tokio::net::TcpListener::bind(self.address).await {
                Ok(listener) => break listener,
                Err(_) => tokio::time::sleep(Duration::from_millis(20)).await,
            }
        };
        self.serve(listener);
    }

    fn set_mode(&self, mode: Mode) {
        self.log.lock().unwrap().mode = Some(mode);
    }

    fn received(&self) -> Vec<Received> {
        self.log.lock().unwrap().received.clone()
    }

    fn forged(&self) -> usize {
        self.log.lock().unwrap().forged
    }

    /// Waits until `done` holds for what was received, or fails naming what was.
    async fn wait_for(&self, what: &str, done: impl Fn(&[Received]) -> bool) -> Vec<Received> {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let received = self.received();
            if done(&received) {
                return received;
            }
            assert!(
                Instant::now() < deadline,
                "waited 30 s for {what}; received {:?}",
                received
                    .iter()
                    .map(|r| (r.event_id, &r.event_type))
                    .collect::<Vec<_>>()
            );
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Checks the signature as a receiver would, then records the post or fails it.
async fn receive(
    State(log): State<Arc<Mutex<Log>>>,
    headers: HeaderMap,
    body: Bytes,
) -> StatusCode {
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned()
    };
    let mut log = log.lock().unwrap();
    if !verifies(&header("Feedbackd-Signature"), &body) {
        log.forged += 1;
        return StatusCode::UNAUTHORIZED;
    }
    match log.mode {
        Some(Mode::Fail(code)) => StatusCode::from_u16(code).unwrap(),
        _ => {
            log.received.push(Received {
                event_id: header("Feedbackd-Event-Id").parse().unwrap_or(-1),
                event_type: header("Feedbackd-Event-Type"),
                attempt: header("Feedbackd-Attempt").parse().unwrap_or(0),
                json: serde_json::from_slice(&body).unwrap_or_default(),
            });
            StatusCode::NO_CONTENT
        }
    }
}

/// `t=<seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>">`, sent within the last five minutes.
fn verifies(signature: &str, body: &[u8]) -> bool {
    let mut parts = signature.split(',');
    let (Some(t), Some(v1)) = (
        parts.next().and_then(|p| p.strip_prefix("t=")),
        parts.next().and_then(|p| p.strip_prefix("v1=")),
    ) else {
        return false;
    };
    let Ok(sent) = t.parse::<i64>() else {
        return false;
    };
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(SECRET.as_bytes()).unwrap();
    mac.update(format!("{t}.").as_bytes());
    mac.update(body);
    let expected: String = mac
        .finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    (chrono::Utc::now().timestamp() - sent).abs() < 300 && expected == v1
}

async fn webhooks(s: &TestServer) -> Webhooks {
    WebhookServiceClient::new(s.channel())
}

fn hook(id: &str, url: &str) -> pb::Webhook {
    pb::Webhook {
        id: id.into(),
        url: url.into(),
        secret: SECRET.into(),
        ..Default::default()
    }
}

async fn subscribe(w: &mut Webhooks, webhook: pb::Webhook) -> pb::Webhook {
    w.create_webhook(pb::CreateWebhookRequest {
        webhook: Some(webhook),
    })
    .await
    .unwrap()
    .into_inner()
}

/// Every event of `tickets`, by cursor.
async fn events_of(client: &mut crate::support::Client, tickets: &[i64]) -> Vec<i64> {
    let mut cursors = Vec::new();
    for &ticket_id in tickets {
        let events = client
            .list_ticket_events(pb::ListTicketEventsRequest {
                ticket_id,
                page_size: 1_000,
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner()
            .events;
        cursors.extend(events.iter().map(|e| e.cursor));
    }
    cursors.sort();
    cursors
}

/// A server whose retries come quickly, so a test sees several in a second.
async fn quick_server(db: Arc<TestDb>) -> TestServer {
    TestServer::start_on(db, Arc::new(SystemClock), |config| {
        config.metrics_listen = Some(([127, 0, 0, 1], 0).into());
        config.webhook_retry_initial = Duration::from_millis(20);
        config.webhook_breaker_cooldown = Duration::from_millis(100);
        config.webhook_timeout = Duration::from_secs(2);
    })
    .await
}

both!(
    every_event_is_delivered_once_in_order_and_signed,
    a_receiver_down_for_a_while_gets_everything_after_it_returns,
    a_receiver_that_always_fails_ends_in_dead_letters_while_another_receives,
    two_instances_deliver_each_event_once,
    bad_webhooks_are_refused_naming_the_field,
);

async fn every_event_is_delivered_once_in_order_and_signed(backend: Backend) {
    let s = quick_server(Arc::new(TestDb::new(backend).await)).await;
    let receiver = Receiver::start(Mode::Accept).await;
    let mut w = webhooks(&s).await;
    let created = subscribe(&mut w, hook("crm", &receiver.url())).await;
    let sms = Receiver::start(Mode::Accept).await;
    subscribe(
        &mut w,
        pb::Webhook {
            event_types: vec![pb::EventType::Notification.into()],
            ..hook("sms", &sms.url())
        },
    )
    .await;
    assert!(created.secret == SECRET, "the reply shows the secret once");
    let got = w
        .get_webhook(pb::GetWebhookRequest { id: "crm".into() })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(got.secret, "", "and never again");

    let mut client = s.client().await;
    let mut tickets = Vec::new();
    for title in ["Parcel lost", "App crashes", "Refund missing"] {
        tickets.push(create(&mut client, title).await.id);
    }
    let expected = events_of(&mut client, &tickets).await;
    let received = receiver
        .wait_for("every event", |r| r.len() >= expected.len())
        .await;
    let ids: Vec<i64> = received.iter().map(|r| r.event_id).collect();
    assert_eq!(ids, expected, "each event once, in log order");
    assert_eq!(receiver.forged(), 0, "every signature verifies");
    for r in &received {
        assert_eq!(r.attempt, 1);
        assert_eq!(
            r.json["cursor"].as_str(),
            Some(r.event_id.to_string().as_str()),
            "the body is the event in the protobuf JSON mapping"
        );
        assert_eq!(
            r.json["type"].as_str(),
            Some(format!("EVENT_TYPE_{}", r.event_type).as_str())
        );
    }
    assert!(
        received.iter().all(|r| r.event_type != "NOTIFICATION"),
        "notifications only where named"
    );
    // The SMS gateway gets each customer's acknowledgement, with the number and the contact.
    let texts = sms
        .wait_for("three acknowledgements", |r| r.len() >= 3)
        .await;
    assert_eq!(texts.len(), 3);
    for r in &texts {
        let n = &r.json["notification"];
        assert_eq!(r.event_type, "NOTIFICATION");
        assert_eq!(n["kind"], "NOTIFICATION_KIND_ACKNOWLEDGEMENT", "{n}");
        assert_eq!(n["channel"], "CHANNEL_APP", "{n}");
        assert!(n["recipient"]["customer"].is_object(), "{n}");
        let number = r.json["ticket"]["number"].as_str().unwrap();
        assert!(n["text"].as_str().unwrap().contains(number), "{n}");
    }

    // The last acceptance is recorded a moment after the receiver has the POST.
    let deadline = Instant::now() + Duration::from_secs(10);
    let deliveries = loop {
        let page = w
            .list_deliveries(pb::ListDeliveriesRequest {
                webhook_id: "crm".into(),
                page_size: 2,
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner();
        if page.deliveries[0].state() == pb::DeliveryState::Delivered {
            break page;
        }
        assert!(Instant::now() < deadline, "still {page:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert_eq!(deliveries.deliveries.len(), 2);
    let newest = &deliveries.deliveries[0];
    assert_eq!(
        newest.event_cursor,
        *expected.last().unwrap(),
        "newest first"
    );
    assert_eq!(newest.state(), pb::DeliveryState::Delivered);
    assert_eq!(newest.attempts.len(), 1);
    assert_eq!(newest.attempts[0].http_status, 204);
    assert!(!deliveries.next_page_token.is_empty());

    let ping = w
        .test_webhook(pb::TestWebhookRequest { id: "crm".into() })
        .await
        .unwrap()
        .into_inner();
    assert!(ping.delivered, "{ping:?}");
    assert_eq!(ping.http_status, 204);
    s.stop().await;
}

async fn a_receiver_down_for_a_while_gets_everything_after_it_returns(backend: Backend) {
    let s = quick_server(Arc::new(TestDb::new(backend).await)).await;
    let mut receiver = Receiver::start(Mode::Accept).await;
    let mut w = webhooks(&s).await;
    subscribe(
        &mut w,
        pb::Webhook {
            event_types: vec![pb::EventType::TicketCreated.into()],
            max_attempts: 50,
            ..hook("crm", &receiver.url())
        },
    )
    .await;
    receiver.stop();
    let mut client = s.client().await;
    let mut created = Vec::new();
    for i in 0..5 {
        created.push(
            create(&mut client, &format!("Order {i} never came"))
                .await
                .id,
        );
    }
    // The first delivery fails again and again: the receiver refuses connections.
    let deadline = Instant::now() + Duration::from_secs(30);
    let failing = loop {
        let webhook = w
            .get_webhook(pb::GetWebhookRequest { id: "crm".into() })
            .await
            .unwrap()
            .into_inner();
        let state = webhook.state.unwrap();
        // All five queued behind the first, which fails again and again.
        if state.consecutive_failures >= 3 && state.pending == 5 {
            break state;
        }
        assert!(Instant::now() < deadline, "not all waiting: {state:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert!(failing.last_error.contains("connect"), "{failing:?}");

    receiver.restart().await;
    let received = receiver
        .wait_for("the five creations", |r| r.len() >= 5)
        .await;
    let tickets: Vec<i64> = received
        .iter()
        .map(|r| r.json["ticketId"].as_str().unwrap().parse().unwrap())
        .collect();
    assert_eq!(tickets, created, "in order, none lost, none twice");
    assert!(received[0].attempt >= 3, "the first came after its retries");
    // The last acceptance is recorded a moment after the receiver has the POST.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let state = w
            .get_webhook(pb::GetWebhookRequest { id: "crm".into() })
            .await
            .unwrap()
            .into_inner()
            .state
            .unwrap();
        if (state.pending, state.dead, state.consecutive_failures) == (0, 0, 0) {
            break;
        }
        assert!(Instant::now() < deadline, "still {state:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    s.stop().await;
}

async fn a_receiver_that_always_fails_ends_in_dead_letters_while_another_receives(
    backend: Backend,
) {
    let s = quick_server(Arc::new(TestDb::new(backend).await)).await;
    let broken = Receiver::start(Mode::Fail(500)).await;
    let fine = Receiver::start(Mode::Accept).await;
    let mut w = webhooks(&s).await;
    let created_only = vec![pb::EventType::TicketCreated.into()];
    subscribe(
        &mut w,
        pb::Webhook {
            event_types: created_only.clone(),
            max_attempts: 2,
            ..hook("broken", &broken.url())
        },
    )
    .await;
    subscribe(
        &mut w,
        pb::Webhook {
            event_types: created_only,
            ..hook("fine", &fine.url())
        },
    )
    .await;
    let mut client = s.client().await;
    for i in 0..4 {
        create(&mut client, &format!("Charged twice, case {i}")).await;
    }
    fine.wait_for("four creations", |r| r.len() == 4).await;

    let deadline = Instant::now() + Duration::from_secs(30);
    let dead = loop {
        let dead = w
            .list_deliveries(pb::ListDeliveriesRequest {
                webhook_id: "broken".into(),
                state: pb::DeliveryState::Dead.into(),
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner()
            .deliveries;
        if dead.len() == 4 {
            break dead;
        }
        assert!(Instant::now() < deadline, "dead letters so far: {dead:?}");
        tokio::time::sleep(Duration::from_millis(25)).await;
    };
    for d in &dead {
        assert_eq!(d.attempts.len(), 2, "max_attempts attempts each: {d:?}");
        assert!(
            d.attempts
                .iter()
                .all(|a| a.http_status == 500 && a.error == "HTTP 500 Internal Server Error"),
            "{d:?}"
        );
    }
    let state = w
        .get_webhook(pb::GetWebhookRequest {
            id: "broken".into(),
        })
        .await
        .unwrap()
        .into_inner()
        .state
        .unwrap();
    assert_eq!((state.dead, state.pending), (4, 0));

    // Fixed: the dead letters go again, with the same event ids, in their order.
    broken.set_mode(Mode::Accept);
    let queued = w
        .redeliver_events(pb::RedeliverEventsRequest {
            webhook_id: "broken".into(),
            what: Some(pb::redeliver_events_request::What::DeadLetters(true)),
        })
        .await
        .unwrap()
        .into_inner()
        .queued;
    assert_eq!(queued, 4);
    let again = broken
        .wait_for("the redelivered four", |r| r.len() == 4)
        .await;
    let mut ids: Vec<i64> = dead.iter().map(|d| d.event_cursor).collect();
    ids.sort();
    assert_eq!(again.iter().map(|r| r.event_id).collect::<Vec<_>>(), ids);

    // A range of the log goes again too: the fine receiver gets its four a second time.
    let queued = w
        .redeliver_events(pb::RedeliverEventsRequest {
            webhook_id: "fine".into(),
            what: Some(pb::redeliver_events_request::What::Range(pb::CursorRange {
                first: ids[0],
                last: ids[3],
            })),
        })
        .await
        .unwrap()
        .into_inner()
        .queued;
    assert_eq!(queued, 4);
    let twice = fine.wait_for("the four again", |r| r.len() == 8).await;
    assert_eq!(
        twice[4..].iter().map(|r| r.event_id).collect::<Vec<_>>(),
        ids
    );

    // The figures: the success rate per webhook, and commit-to-first-attempt latency (of
    // deliveries the commits queued, not the redeliveries).
    let address = s.server.metrics_addr.expect("a metrics endpoint");
    let expected = [
        "feedbackd_webhook_attempts_total{webhook=\"broken\",outcome=\"failed\"} 8",
        "feedbackd_webhook_attempts_total{webhook=\"broken\",outcome=\"delivered\"} 4",
        "feedbackd_webhook_attempts_total{webhook=\"fine\",outcome=\"delivered\"} 8",
        "feedbackd_webhook_delivery_latency_seconds_count{webhook=\"fine\"} 4",
        "feedbackd_webhook_delivery_latency_seconds_count{webhook=\"broken\"} 4",
    ];
    let text =
        crate::metrics::scrape_until(address, |text| expected.iter().all(|e| text.contains(e)))
            .await;
    for e in expected {
        assert!(text.contains(e), "{e} not in\n{text}");
    }
    s.stop().await;
}

async fn two_instances_deliver_each_event_once(backend: Backend) {
    let db = Arc::new(TestDb::new(backend).await);
    let one = quick_server(db.clone()).await;
    let two = quick_server(db).await;
    let receiver = Receiver::start(Mode::Accept).await;
    subscribe(
        &mut webhooks(&one).await,
        pb::Webhook {
            event_types: vec![pb::EventType::TicketCreated.into()],
            ..hook("crm", &receiver.url())
        },
    )
    .await;
    let (mut a, mut b) = (one.client().await, two.client().await);
    let mut created = Vec::new();
    for i in 0..10 {
        let client = if i % 2 == 0 { &mut a } else { &mut b };
        created.push(create(client, &format!("Broken screen {i}")).await.id);
    }
    let received = receiver.wait_for("ten creations", |r| r.len() >= 10).await;
    // Long enough for a second instance's duplicate to show.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let received_now = receiver.received();
    assert_eq!(received_now.len(), 10, "no event twice: {received_now:?}");
    let mut ids: Vec<i64> = received.iter().map(|r| r.event_id).collect();
    let in_order = ids.clone();
    ids.sort();
    assert_eq!(in_order, ids, "in log order across instances");
    one.stop().await;
    two.stop().await;
}

async fn bad_webhooks_are_refused_naming_the_field(backend: Backend) {
    let s = TestServer::start(backend).await;
    let mut w = webhooks(&s).await;
    let refused = |w: pb::Webhook| pb::CreateWebhookRequest { webhook: Some(w) };
    let status = w
        .create_webhook(refused(pb::Webhook {
            id: "Bad Id".into(),
            url: "ftp://example.com/x".into(),
            secret: "short".into(),
            max_attempts: 51,
            event_types: vec![99],
            ..Default::default()
        }))
        .await
        .unwrap_err();
    assert_eq!(status.code(), tonic::Code::InvalidArgument);
    assert_eq!(
        bad_fields(&status),
        [
            "webhook.id",
            "webhook.url",
            "webhook.secret",
            "webhook.max_attempts",
            "webhook.event_types[0]"
        ]
    );
    let status = w
        .create_webhook(refused(pb::Webhook {
            teams: vec!["nowhere".into()],
            ..hook("crm", "https://crm.example.com/hooks")
        }))
        .await
        .unwrap_err();
    assert_eq!(status.code(), tonic::Code::NotFound);
    assert_eq!(missing(&status), ("team".into(), "nowhere".into()));

    let status = w
        .create_webhook(refused(hook(
            "crm",
            "https://crm:hunter2@crm.example.com/hooks",
        )))
        .await
        .unwrap_err();
    assert_eq!(bad_fields(&status), ["webhook.url"], "no passwords in URLs");
    let status = w
        .redeliver_events(pb::RedeliverEventsRequest {
            webhook_id: "crm".into(),
            what: Some(pb::redeliver_events_request::What::Range(pb::CursorRange {
                first: 1,
                last: 1_001,
            })),
        })
        .await
        .unwrap_err();
    assert_eq!(
        bad_fields(&status),
        ["range.last"],
        "a thousand events at a time"
    );

    // A webhook that follows a team keeps the team from going.
    let mut routing = s.routing().await;
    routing
        .create_team(pb::CreateTeamRequest {
            team: Some(pb::Team {
                id: "ops".into(),
                ..Default::default()
            }),
        })
        .await
        .unwrap();
    subscribe(
        &mut w,
        pb::Webhook {
            teams: vec!["ops".into()],
            ..hook("ops-pager", "https://pager.example.com/hooks")
        },
    )
    .await;
    let status = routing
        .delete_team(pb::DeleteTeamRequest {
            id: "ops".into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(status.code(), tonic::Code::FailedPrecondition);
    assert!(
        status.message().contains("webhooks follow it: ops-pager"),
        "{status:?}"
    );
    let status = w
        .redeliver_events(pb::RedeliverEventsRequest {
            webhook_id: "ops-pager".into(),
            what: Some(pb::redeliver_events_request::What::Range(pb::CursorRange {
                first: 1_000_000,
                last: 1_000_001,
            })),
        })
        .await
        .unwrap_err();
    assert_eq!(status.code(), tonic::Code::OutOfRange, "{status:?}");
    w.delete_webhook(pb::DeleteWebhookRequest {
        id: "ops-pager".into(),
        etag: String::new(),
    })
    .await
    .unwrap();

    // Generated when not given.
    let created = subscribe(
        &mut w,
        pb::Webhook {
            secret: String::new(),
            ..hook("crm", "https://crm.example.com/hooks")
        },
    )
    .await;
    assert!(created.secret.starts_with("whsec_") && created.secret.len() > 30);
    let status = w
        .create_webhook(refused(hook("crm", "https://crm.example.com/hooks")))
        .await
        .unwrap_err();
    assert_eq!(status.code(), tonic::Code::AlreadyExists);

    let status = w
        .update_webhook(pb::UpdateWebhookRequest {
            webhook: Some(pb::Webhook {
                id: "crm".into(),
                ..Default::default()
            }),
            update_mask: Some(prost_types::FieldMask {
                paths: vec!["secret".into()],
            }),
        })
        .await
        .unwrap_err();
    assert_eq!(bad_fields(&status), ["webhook.secret"]);
    let status = w
        .update_webhook(pb::UpdateWebhookRequest {
            webhook: Some(pb::Webhook {
                id: "crm".into(),
                etag: "W/\"7\"".into(),
                paused: true,
                ..Default::default()
            }),
            update_mask: Some(prost_types::FieldMask {
                paths: vec!["paused".into()],
            }),
        })
        .await
        .unwrap_err();
    assert_eq!(status.code(), tonic::Code::Aborted);
    let paused = w
        .update_webhook(pb::UpdateWebhookRequest {
            webhook: Some(pb::Webhook {
                id: "crm".into(),
                paused: true,
                ..Default::default()
            }),
            update_mask: Some(prost_types::FieldMask {
                paths: vec!["paused".into()],
            }),
        })
        .await
        .unwrap()
        .into_inner();
    assert!(paused.paused);
    assert_eq!(
        paused.url, "https://crm.example.com/hooks",
        "the rest stays"
    );

    let status = w
        .redeliver_events(pb::RedeliverEventsRequest {
            webhook_id: "crm".into(),
            what: Some(pb::redeliver_events_request::What::Range(pb::CursorRange {
                first: 5,
                last: 2,
            })),
        })
        .await
        .unwrap_err();
    assert_eq!(bad_fields(&status), ["range.last"]);
    let status = w
        .redeliver_events(pb::RedeliverEventsRequest {
            webhook_id: "crm".into(),
            what: None,
        })
        .await
        .unwrap_err();
    assert_eq!(bad_fields(&status), ["what"]);
    for status in [
        w.get_webhook(pb::GetWebhookRequest { id: "gone".into() })
            .await
            .unwrap_err(),
        w.test_webhook(pb::TestWebhookRequest { id: "gone".into() })
            .await
            .unwrap_err(),
        w.list_deliveries(pb::ListDeliveriesRequest {
            webhook_id: "gone".into(),
            ..Default::default()
        })
        .await
        .unwrap_err(),
    ] {
        assert_eq!(status.code(), tonic::Code::NotFound, "{status:?}");
        assert_eq!(missing(&status), ("webhook".into(), "gone".into()));
    }

    // Nobody listens on a port just released: the ping says so, and nothing is queued.
    let closed = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap()
    };
    subscribe(&mut w, hook("nobody", &format!("http://{closed}/hooks"))).await;
    let ping = w
        .test_webhook(pb::TestWebhookRequest {
            id: "nobody".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert!(!ping.delivered);
    assert_eq!(ping.http_status, 0);
    assert!(ping.error.contains("connect"), "{ping:?}");

    w.delete_webhook(pb::DeleteWebhookRequest {
        id: "nobody".into(),
        etag: String::new(),
    })
    .await
    .unwrap();
    let listed = w
        .list_webhooks(pb::ListWebhooksRequest::default())
        .await
        .unwrap()
        .into_inner()
        .webhooks;
    assert_eq!(
        listed.iter().map(|w| w.id.as_str()).collect::<Vec<_>>(),
        ["crm"]
    );
    assert!(listed.iter().all(|w| w.secret.is_empty()));
    s.stop().await;
}

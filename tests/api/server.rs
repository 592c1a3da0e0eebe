//! What every gRPC user relies on before the first ticket: health, reflection, clear
//! startup failures.

use feedbackd::config::Config;
use feedbackd::server::RunningServer;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::{HealthCheckRequest, health_client::HealthClient};

use crate::both;
use crate::support::{Backend, TestServer};

both!(
    health_reports_serving_overall_and_per_service,
    reflection_lists_every_service,
    open_health_watches_do_not_hold_up_shutdown,
    connections_beyond_the_most_are_closed_as_they_come,
    silent_connections_are_closed_and_live_ones_kept,
);

/// Whether the server closes `stream` within `within` (a read ends or fails).
async fn closed_within(stream: &mut tokio::net::TcpStream, within: std::time::Duration) -> bool {
    use tokio::io::AsyncReadExt;
    let mut buf = [0u8; 1024];
    let until = tokio::time::Instant::now() + within;
    loop {
        match tokio::time::timeout_at(until, stream.read(&mut buf)).await {
            Err(_) => return false,
            Ok(Ok(0) | Err(_)) => return true,
            // The server's HTTP/2 settings: read on.
            Ok(Ok(_)) => {}
        }
    }
}

async fn connections_beyond_the_most_are_closed_as_they_come(backend: Backend) {
    use std::time::Duration;
    let s = TestServer::start_on(
        std::sync::Arc::new(crate::support::TestDb::new(backend).await),
        std::sync::Arc::new(feedbackd::domain::clock::SystemClock),
        |config| config.max_connections = 2,
    )
    .await;
    // The test's client holds one; a raw socket the other.
    s.client
        .clone()
        .list_tickets(feedbackd::proto::feedback::v1::ListTicketsRequest::default())
        .await
        .unwrap();
    let mut second = tokio::net::TcpStream::connect(s.server.addr).await.unwrap();
    assert!(
        !closed_within(&mut second, Duration::from_millis(300)).await,
        "the second stays"
    );
    let mut third = tokio::net::TcpStream::connect(s.server.addr).await.unwrap();
    assert!(
        closed_within(&mut third, Duration::from_secs(5)).await,
        "the third is closed"
    );
    // A place freed is taken again.
    drop(second);
    let mut fourth = tokio::net::TcpStream::connect(s.server.addr).await.unwrap();
    let mut taken = false;
    for _ in 0..50 {
        if !closed_within(&mut fourth, Duration::from_millis(200)).await {
            taken = true;
            break;
        }
        fourth = tokio::net::TcpStream::connect(s.server.addr).await.unwrap();
    }
    assert!(taken, "a connection is served once another closed");
    s.client
        .clone()
        .list_tickets(feedbackd::proto::feedback::v1::ListTicketsRequest::default())
        .await
        .unwrap();
    drop(fourth);
    s.stop().await;
}

async fn silent_connections_are_closed_and_live_ones_kept(backend: Backend) {
    use feedbackd::proto::feedback::v1 as pb;
    use std::time::Duration;
    let s = TestServer::start_on(
        std::sync::Arc::new(crate::support::TestDb::new(backend).await),
        std::sync::Arc::new(feedbackd::domain::clock::SystemClock),
        |config| {
            config.idle_timeout = Duration::from_millis(400);
            config.http2_keepalive_interval = Duration::from_millis(100);
        },
    )
    .await;
    // A watch that sees nothing for longer than the idle timeout: its client answers the
    // keepalive pings, so its connection stays.
    let mut watch = s
        .client
        .clone()
        .watch_tickets(pb::WatchTicketsRequest::default())
        .await
        .unwrap()
        .into_inner();
    // A socket that never says a word is closed.
    let mut silent = tokio::net::TcpStream::connect(s.server.addr).await.unwrap();
    assert!(
        closed_within(&mut silent, Duration::from_secs(5)).await,
        "the silent one is closed"
    );
    tokio::time::sleep(Duration::from_millis(600)).await;
    let created = crate::support::create(&mut s.client.clone(), "Still there?").await;
    let batch = tokio::time::timeout(Duration::from_secs(5), watch.message())
        .await
        .expect("the event arrives")
        .expect("the stream is intact")
        .expect("a message");
    assert_eq!(batch.events[0].ticket_id, created.id);
    s.stop().await;
}

async fn health_reports_serving_overall_and_per_service(backend: Backend) {
    let s = TestServer::start(backend).await;
    let mut health = HealthClient::new(channel(&s).await);
    for service in ["", "feedback.v1.TicketService"] {
        let reply = health
            .check(HealthCheckRequest {
                service: service.into(),
            })
            .await
            .unwrap()
            .into_inner();
        assert_eq!(reply.status, ServingStatus::Serving as i32, "{service:?}");
    }
    let unknown = health
        .check(HealthCheckRequest {
            service: "nope.v1.Nothing".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(unknown.code(), tonic::Code::NotFound);
    s.stop().await;
}

async fn reflection_lists_every_service(backend: Backend) {
    use tonic_reflection::pb::v1::{
        ServerReflectionRequest, server_reflection_client::ServerReflectionClient,
        server_reflection_request::MessageRequest, server_reflection_response::MessageResponse,
    };
    let s = TestServer::start(backend).await;
    let mut reflection = ServerReflectionClient::new(channel(&s).await);
    let request = ServerReflectionRequest {
        host: String::new(),
        message_request: Some(MessageRequest::ListServices(String::new())),
    };
    let mut replies = reflection
        .server_reflection_info(futures::stream::iter([request]))
        .await
        .unwrap()
        .into_inner();
    let Some(MessageResponse::ListServicesResponse(list)) =
        replies.message().await.unwrap().unwrap().message_response
    else {
        panic!("a service list")
    };
    let mut names: Vec<_> = list.service.into_iter().map(|s| s.name).collect();
    names.sort();
    assert_eq!(
        names,
        [
            "feedback.v1.AbuseService",
            "feedback.v1.AccessService",
            "feedback.v1.AttachmentService",
            "feedback.v1.InsightsService",
            "feedback.v1.ReplyService",
            "feedback.v1.RoutingService",
            "feedback.v1.SlaService",
            "feedback.v1.SurveyService",
            "feedback.v1.TaskService",
            "feedback.v1.TicketService",
            "feedback.v1.WebhookService",
            "grpc.health.v1.Health",
            "grpc.reflection.v1.ServerReflection"
        ]
    );
    // Older clients (grpcurl before v1 reflection) ask v1alpha.
    {
        use tonic_reflection::pb::v1alpha::{
            ServerReflectionRequest, server_reflection_client::ServerReflectionClient,
            server_reflection_request::MessageRequest, server_reflection_response::MessageResponse,
        };
        let mut alpha = ServerReflectionClient::new(channel(&s).await);
        let request = ServerReflectionRequest {
            host: String::new(),
            message_request: Some(MessageRequest::ListServices(String::new())),
        };
        let mut replies = alpha
            .server_reflection_info(futures::stream::iter([request]))
            .await
            .unwrap()
            .into_inner();
        let Some(MessageResponse::ListServicesResponse(list)) =
            replies.message().await.unwrap().unwrap().message_response
        else {
            panic!("a service list from v1alpha")
        };
        assert!(
            list.service
                .iter()
                .any(|s| s.name == "feedback.v1.TicketService")
        );
    }
    // The descriptors carry the .proto comments, which `grpcurl describe` prints.
    let request = ServerReflectionRequest {
        host: String::new(),
        message_request: Some(MessageRequest::FileContainingSymbol(
            "feedback.v1.TicketService".into(),
        )),
    };
    let mut replies = reflection
        .server_reflection_info(futures::stream::iter([request]))
        .await
        .unwrap()
        .into_inner();
    let Some(MessageResponse::FileDescriptorResponse(files)) =
        replies.message().await.unwrap().unwrap().message_response
    else {
        panic!("descriptors")
    };
    assert!(!files.file_descriptor_proto.is_empty());
    // So do google.rpc's, so that a client decodes the error details.
    let request = ServerReflectionRequest {
        host: String::new(),
        message_request: Some(MessageRequest::FileContainingSymbol(
            "google.rpc.BadRequest".into(),
        )),
    };
    let mut replies = reflection
        .server_reflection_info(futures::stream::iter([request]))
        .await
        .unwrap()
        .into_inner();
    let Some(MessageResponse::FileDescriptorResponse(files)) =
        replies.message().await.unwrap().unwrap().message_response
    else {
        panic!("the error details' descriptors")
    };
    assert!(!files.file_descriptor_proto.is_empty());
    s.stop().await;
}

async fn open_health_watches_do_not_hold_up_shutdown(backend: Backend) {
    let s = TestServer::start(backend).await;
    let mut health = HealthClient::new(channel(&s).await);
    let mut updates = health
        .watch(HealthCheckRequest {
            service: String::new(),
        })
        .await
        .unwrap()
        .into_inner();
    let first = updates.message().await.unwrap().unwrap();
    assert_eq!(first.status, ServingStatus::Serving as i32);
    let started = std::time::Instant::now();
    s.server.shutdown().await.unwrap();
    // Well inside the 10 s grace period the watch would otherwise have held it for.
    assert!(
        started.elapsed() < std::time::Duration::from_secs(5),
        "shutdown took {:?}",
        started.elapsed()
    );
    // Watchers hear NOT_SERVING (if the update wins the race) and then the end of the stream.
    while let Ok(Some(update)) = updates.message().await {
        assert_eq!(update.status, ServingStatus::NotServing as i32);
    }
}

async fn channel(s: &TestServer) -> tonic::transport::Channel {
    tonic::transport::Endpoint::from_shared(s.server.url())
        .unwrap()
        .connect()
        .await
        .unwrap()
}

#[tokio::test]
async fn an_unopenable_database_fails_at_once() {
    let config = Config::with_database("sqlite:///nonexistent-dir/for/sure/x.db?mode=rwc");
    let err = RunningServer::start(config)
        .await
        .err()
        .expect("start fails");
    assert!(
        err.to_string().contains("cannot open the database"),
        "{err}"
    );
}

/// PostgreSQL only: SQLite is a file in the process and cannot go away underneath it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lost_database_is_unavailable_and_unhealthy() {
    use sea_orm::{ConnectionTrait, Database};
    let s = TestServer::start(Backend::Postgres).await;
    let mut c = s.client.clone();
    let t = crate::support::create(&mut c, "before the outage").await;

    // Cut the server off: refuse new connections to its database and end the open ones.
    let name = s.db.url.rsplit('/').next().unwrap().to_owned();
    let admin = Database::connect(std::env::var("FEEDBACKD_TEST_POSTGRES_URL").unwrap())
        .await
        .unwrap();
    admin
        .execute_unprepared(&format!("ALTER DATABASE {name} ALLOW_CONNECTIONS false"))
        .await
        .unwrap();
    admin
        .execute_unprepared(&format!(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{name}'"
        ))
        .await
        .unwrap();

    use feedbackd::proto::feedback::v1::{GetTicketRequest, get_ticket_request::Key};
    let by_number = GetTicketRequest {
        key: Some(Key::Number(t.number.clone())),
    };
    let err = c.get_ticket(by_number).await.unwrap_err();
    assert_eq!(err.code(), tonic::Code::Unavailable, "{err:?}");
    // A ticket kept in memory answers only while the event log can be read: a few seconds
    // later it is read from the database too, and is unavailable like it.
    let get = GetTicketRequest {
        key: Some(Key::TicketId(t.id)),
    };
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let err = loop {
        match c.get_ticket(get.clone()).await {
            Err(err) => break err,
            Ok(_) => {
                assert!(
                    std::time::Instant::now() < deadline,
                    "the kept ticket still answers without the database"
                );
                tokio::time::sleep(std::time::Duration::from_millis(200)).await;
            }
        }
    };
    assert_eq!(err.code(), tonic::Code::Unavailable, "{err:?}");

    let mut health = HealthClient::new(channel(&s).await);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let status = health
            .check(HealthCheckRequest {
                service: String::new(),
            })
            .await
            .unwrap()
            .into_inner()
            .status;
        if status == ServingStatus::NotServing as i32 {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "health never reported NOT_SERVING"
        );
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }

    // Back again: calls and health recover without a restart.
    admin
        .execute_unprepared(&format!("ALTER DATABASE {name} ALLOW_CONNECTIONS true"))
        .await
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while c.get_ticket(get.clone()).await.is_err() {
        assert!(
            std::time::Instant::now() < deadline,
            "calls never recovered"
        );
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    s.stop().await;
}

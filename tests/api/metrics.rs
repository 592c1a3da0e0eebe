//! The Prometheus endpoint (`--metrics-listen`), scraped as Prometheus does.

use std::sync::Arc;
use std::time::{Duration, Instant};

use feedbackd::domain::clock::SystemClock;
use feedbackd::proto::feedback::v1 as pb;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::both;
use crate::support::{Backend, TestDb, TestServer, create};

both!(the_metrics_endpoint_counts_calls_watchers_and_queues);

async fn the_metrics_endpoint_counts_calls_watchers_and_queues(backend: Backend) {
    let s = TestServer::start_on(
        Arc::new(TestDb::new(backend).await),
        Arc::new(SystemClock),
        |config| {
            config.metrics_listen = Some(([127, 0, 0, 1], 0).into());
            config.dispatch_interval = Duration::from_millis(50);
        },
    )
    .await;
    let address = s.server.metrics_addr.expect("a metrics endpoint");
    let mut client = s.client().await;

    // Nobody staffs triage: the ticket waits in its queue.
    let ticket = create(&mut client, "The app crashes at login").await;
    let missing = client
        .get_ticket(pb::GetTicketRequest {
            key: Some(pb::get_ticket_request::Key::TicketId(ticket.id + 1_000)),
        })
        .await
        .unwrap_err();
    assert_eq!(missing.code(), tonic::Code::NotFound);
    let watch = client
        .watch_tickets(pb::WatchTicketsRequest::default())
        .await
        .unwrap()
        .into_inner();

    let expected = [
        "feedbackd_queue_length{team=\"triage\"} 1",
        "feedbackd_watchers 1",
        "feedbackd_rpc_requests_total{method=\"/feedback.v1.TicketService/CreateTicket\",code=\"Ok\"} 1",
        "feedbackd_rpc_requests_total{method=\"/feedback.v1.TicketService/GetTicket\",code=\"NotFound\"} 1",
        "feedbackd_rpc_duration_seconds_count{method=\"/feedback.v1.TicketService/CreateTicket\",code=\"Ok\"} 1",
        "feedbackd_intake_batch_size_count 1",
        "feedbackd_routing_duration_seconds_count 1",
        "feedbackd_watchers_lagging 0",
        "feedbackd_pass_duration_seconds_count{pass=\"dispatch\"}",
        "feedbackd_pass_duration_seconds_count{pass=\"sla\"}",
        "feedbackd_pass_lag_seconds{pass=\"survey\"}",
        "feedbackd_database_connections_max ",
        "feedbackd_database_connections_idle ",
        "feedbackd_connections_refused_total 0",
        "feedbackd_connections_idle_closed_total 0",
    ];
    // The sweep and the passes come a moment later: wait for all, then name what is missing.
    let text = scrape_until(address, |text| expected.iter().all(|e| text.contains(e))).await;
    for expected in expected {
        assert!(text.contains(expected), "no {expected:?} in\n{text}");
    }

    // A stream that ends is no longer counted; a method nobody serves is counted under one
    // name, so inventing paths cannot grow the registry.
    drop(watch);
    let unknown = tonic::transport::Endpoint::from_shared(s.server.url())
        .unwrap()
        .connect()
        .await
        .unwrap();
    let mut grpc = tonic::client::Grpc::new(unknown);
    grpc.ready().await.unwrap();
    let invented: Result<tonic::Response<()>, _> = grpc
        .unary(
            tonic::Request::new(()),
            "/feedback.v1.TicketService/NoSuchMethod".parse().unwrap(),
            tonic_prost::ProstCodec::<(), ()>::default(),
        )
        .await;
    assert_eq!(invented.unwrap_err().code(), tonic::Code::Unimplemented);
    let text = scrape_until(address, |text| text.contains("feedbackd_watchers 0")).await;
    assert!(text.contains("feedbackd_watchers 0"), "{text}");
    assert!(
        text.contains("feedbackd_rpc_requests_total{method=\"unknown\",code=\"Unimplemented\"} 1"),
        "{text}"
    );
    assert!(!text.contains("NoSuchMethod"), "{text}");
    s.stop().await;
}

/// Scrapes `/metrics` until `done` holds for its text (the queue sweep and the end of a
/// stream come a moment later), and returns it.
pub async fn scrape_until(address: std::net::SocketAddr, done: impl Fn(&str) -> bool) -> String {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let text = scrape(address).await;
        if done(&text) || Instant::now() > deadline {
            return text;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// One scrape, as plain HTTP/1.0; checks the status and the content type Prometheus reads.
async fn scrape(address: std::net::SocketAddr) -> String {
    let mut stream = tokio::net::TcpStream::connect(address).await.unwrap();
    stream
        .write_all(b"GET /metrics HTTP/1.0\r\nHost: feedbackd\r\n\r\n")
        .await
        .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).await.unwrap();
    let (head, body) = response.split_once("\r\n\r\n").unwrap();
    assert!(head.starts_with("HTTP/1.0 200"), "{head}");
    assert!(
        head.to_ascii_lowercase()
            .contains("content-type: text/plain; version=0.0.4"),
        "{head}"
    );
    body.to_owned()
}

//! Load generator: drives the real server through the generated client and prints
//! throughput and latency for CreateTicket, GetTicket, and GetCaller against the health check
//! (the cost of authentication), and WatchTickets delivery latency,
//! on SQLite and (when a cluster is given) on PostgreSQL.
//!
//! Absolute numbers drift on shared machines, so the same run drives a minimal echo server
//! on the same tonic stack with the same load and prints every unary figure also relative to
//! that ceiling. Client and server share one runtime in one process, as they share the cores.
//!
//! `cargo bench --bench load` runs SQLite only; `scripts/with-postgres.sh cargo bench --bench
//! load` adds PostgreSQL. `BENCH_SECONDS` (default 5) sets the length of each measurement,
//! which follows a one-second warm-up; `BENCH_ONLY=watch` runs the watch measurement alone,
//! `BENCH_ONLY=webhook` the webhook delivery measurement.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime};

use anyhow::Context as _;
use feedbackd::config::Config;
use feedbackd::proto::feedback::v1 as pb;
use feedbackd::server::RunningServer;
use hdrhistogram::Histogram;
use pb::access_service_client::AccessServiceClient;
use pb::ticket_service_client::TicketServiceClient;
use prost::Message as _;
use sea_orm::ConnectionTrait;
use tokio_util::sync::CancellationToken;
use tonic::metadata::{Ascii, MetadataValue};
use tonic::service::interceptor::InterceptedService;
use tonic::transport::server::TcpIncoming;
use tonic::transport::{Channel, Endpoint, Server};
use tonic::{Request, Response, Status, Streaming};

#[allow(clippy::all)]
mod echo {
    tonic::include_proto!("bench.echo");
}

use echo::echo_client::EchoClient;
use echo::echo_server::{Echo, EchoServer};

/// Calls in flight, each measured on its own.
const CONCURRENCY: [usize; 3] = [1, 16, 64];
/// HTTP/2 connections the unary workers share round-robin, for echo and feedbackd alike.
const MAX_CHANNELS: usize = 4;
/// Not counted: lets connections, pools and caches settle.
const WARMUP: Duration = Duration::from_secs(1);
const WATCHERS: usize = 1_000;
const WATCH_CHANNELS: usize = 10;
const EVENTS_PER_SECOND: u32 = 100;
/// How long watchers may take to receive the last events once publishing has stopped.
const DRAIN: Duration = Duration::from_secs(10);

/// Goals, as a share of the echo ceiling at concurrency 64.
const GOAL_CONCURRENCY: usize = 64;
const CREATE_GOAL_SQLITE: f64 = 0.20;
const CREATE_GOAL_POSTGRES: f64 = 0.10;
const GET_GOAL: f64 = 0.40;
/// Goal for the 99th percentile of watch delivery.
const WATCH_P99_GOAL: Duration = Duration::from_millis(50);

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let measure = match std::env::var("BENCH_SECONDS") {
        Ok(text) => Duration::from_secs_f64(text.parse().context("BENCH_SECONDS: seconds")?),
        Err(_) => Duration::from_secs(5),
    };
    // Echo carries bytes as large as a ticket request, so both sides move similar frames.
    let payload = vec![b'x'; new_ticket(0).encoded_len()];
    println!(
        "feedbackd load: {} cores, {:.0} s per measurement after {:.0} s warm-up, echo payload {} bytes",
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        measure.as_secs_f64(),
        WARMUP.as_secs_f64(),
        payload.len(),
    );

    let echo = Addr {
        url: start_echo().await?,
        key: format!("fbk_{}", "x".repeat(64)),
    };
    let echo = connect(&echo, MAX_CHANNELS).await?;
    let mut targets = vec![Target::sqlite().await?];
    match std::env::var("FEEDBACKD_TEST_POSTGRES_URL") {
        Ok(base) => targets.push(Target::postgres(&base).await?),
        Err(_) => println!(
            "PostgreSQL skipped: FEEDBACKD_TEST_POSTGRES_URL is not set; run \
             `scripts/with-postgres.sh cargo bench --bench load` to include it"
        ),
    }

    // BENCH_ONLY=watch or =webhook measures that alone.
    let only = std::env::var("BENCH_ONLY").ok();
    let runs = |what: &str| only.as_deref().is_none_or(|only| only == what);
    let unary = runs("unary");
    let mut rows = Vec::new();
    for concurrency in CONCURRENCY.into_iter().filter(|_| unary) {
        // Echo first at each concurrency: each ratio compares figures taken seconds apart, so
        // drift of the machine hits both alike.
        let payload = payload.clone();
        let (ceiling, _) = drive(&echo, concurrency, measure, move |channel, _| {
            let payload = payload.clone();
            async move {
                EchoClient::new(channel)
                    .unary(echo::EchoMessage { payload })
                    .await
                    .map(drop)
            }
        })
        .await;
        rows.push(Row::new(
            "echo",
            "Unary",
            concurrency,
            ceiling,
            ceiling,
            None,
        ));

        for target in &mut targets {
            let (created, ids) = drive(
                &target.channels,
                concurrency,
                measure,
                |channel, n| async move {
                    let response = TicketServiceClient::new(channel)
                        .create_ticket(new_ticket(n))
                        .await?;
                    let ticket = response.into_inner().ticket;
                    ticket
                        .map(|t| t.id)
                        .ok_or_else(|| Status::internal("CreateTicket returned no ticket"))
                },
            )
            .await;
            target.ids.extend(ids);
            let goal = (concurrency == GOAL_CONCURRENCY).then_some(target.create_goal);
            rows.push(Row::new(
                target.name,
                "CreateTicket",
                concurrency,
                created,
                ceiling,
                goal,
            ));

            // Reads spread over every ticket created so far.
            anyhow::ensure!(
                !target.ids.is_empty(),
                "{}: no ticket was created",
                target.name
            );
            let ids = Arc::new(target.ids.clone());
            let (read, _) = drive(&target.channels, concurrency, measure, move |channel, n| {
                let key = pb::get_ticket_request::Key::TicketId(ids[n % ids.len()]);
                async move {
                    TicketServiceClient::new(channel)
                        .get_ticket(pb::GetTicketRequest { key: Some(key) })
                        .await
                        .map(drop)
                }
            })
            .await;
            let goal = (concurrency == GOAL_CONCURRENCY).then_some(GET_GOAL);
            rows.push(Row::new(
                target.name,
                "GetTicket",
                concurrency,
                read,
                ceiling,
                goal,
            ));
        }

        // Authentication alone: GetCaller reads nothing but the credential, and the health
        // check, on the same server and its layers, needs none; the difference is the gate
        // (the key, the permission, the rate limit).
        let (health, _) = drive(
            &targets[0].channels,
            concurrency,
            measure,
            |channel, _| async move {
                tonic_health::pb::health_client::HealthClient::new(channel)
                    .check(tonic_health::pb::HealthCheckRequest::default())
                    .await
                    .map(drop)
            },
        )
        .await;
        rows.push(Row::new(
            targets[0].name,
            "Health/Check",
            concurrency,
            health,
            ceiling,
            None,
        ));
        let (authed, _) = drive(
            &targets[0].channels,
            concurrency,
            measure,
            |channel, _| async move {
                AccessServiceClient::new(channel)
                    .get_caller(pb::GetCallerRequest {})
                    .await
                    .map(drop)
            },
        )
        .await;
        rows.push(Row::new(
            targets[0].name,
            "GetCaller",
            concurrency,
            authed,
            ceiling,
            None,
        ));
    }

    let mut watches = Vec::new();
    for target in targets.iter().filter(|_| runs("watch")) {
        watches.push((target.name, watch(&target.addr, measure).await?));
    }
    let mut webhooks = Vec::new();
    for target in targets.iter().filter(|_| runs("webhook")) {
        webhooks.push((target.name, webhook(&target.addr, measure).await?));
    }

    print_unary(&rows);
    print_watch(&watches);
    print_webhooks(&webhooks);

    for target in targets {
        target.server.shutdown().await?;
    }
    Ok(())
}

/// A feedbackd server under test, and what the run learned about it.
struct Target {
    name: &'static str,
    server: RunningServer,
    addr: Addr,
    channels: Vec<Authed>,
    /// Tickets created so far, for GetTicket to read.
    ids: Vec<i64>,
    create_goal: f64,
    /// Keeps the SQLite file until the end.
    _dir: Option<tempfile::TempDir>,
}

impl Target {
    async fn sqlite() -> anyhow::Result<Target> {
        let dir = tempfile::tempdir()?;
        let url = format!(
            "sqlite://{}?mode=rwc",
            dir.path().join("bench.db").display()
        );
        Self::start("sqlite", url, CREATE_GOAL_SQLITE, Some(dir)).await
    }

    /// A fresh database on the cluster at `base` (a URL ending in `/postgres`).
    async fn postgres(base: &str) -> anyhow::Result<Target> {
        let name = format!("bench_{}", std::process::id());
        let admin = sea_orm::Database::connect(base).await?;
        admin
            .execute_unprepared(&format!("CREATE DATABASE {name}"))
            .await?;
        admin.close().await?;
        let (cluster, _) = base
            .rsplit_once('/')
            .context("a URL with a database name")?;
        Self::start(
            "postgres",
            format!("{cluster}/{name}"),
            CREATE_GOAL_POSTGRES,
            None,
        )
        .await
    }

    async fn start(
        name: &'static str,
        url: String,
        create_goal: f64,
        dir: Option<tempfile::TempDir>,
    ) -> anyhow::Result<Target> {
        // The server's defaults: this measures what an operator gets out of the box, but for
        // where its admin key goes.
        let keys = tempfile::tempdir()?;
        let mut config = Config::with_database(url);
        config.admin_key_file = Some(keys.path().join("admin-key"));
        // One admin key carries the whole load here, where a deployment gives each service
        // its own key and bucket. Its bucket is still checked on every call, so what rate
        // limiting costs is measured; only its refusals are not.
        config.rate_limit = feedbackd::api::limits::parse_rates("admin=10000000/s")
            .map_err(|e| anyhow::anyhow!(e))?;
        let server = RunningServer::start(config).await?;
        let addr = Addr {
            url: server.url(),
            key: std::fs::read_to_string(keys.path().join("admin-key"))?
                .trim()
                .to_owned(),
        };
        let channels = connect(&addr, MAX_CHANNELS).await?;
        Ok(Target {
            name,
            server,
            addr,
            channels,
            ids: Vec::new(),
            create_goal,
            _dir: dir,
        })
    }
}

/// The echo server: the same tonic stack with no work behind it. Serves until the process
/// exits; returns its URL.
async fn start_echo() -> anyhow::Result<String> {
    struct Service;

    #[tonic::async_trait]
    impl Echo for Service {
        async fn unary(
            &self,
            request: Request<echo::EchoMessage>,
        ) -> Result<Response<echo::EchoMessage>, Status> {
            Ok(Response::new(request.into_inner()))
        }
    }

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}", listener.local_addr()?);
    tokio::spawn(
        Server::builder()
            .add_service(EchoServer::new(Service))
            // No Nagle delay, like feedbackd's own listener.
            .serve_with_incoming(TcpIncoming::from(listener).with_nodelay(Some(true))),
    );
    Ok(url)
}

/// A connection that sends `authorization: Bearer <key>` with every call.
type Authed = InterceptedService<Channel, Bearer>;

#[derive(Clone)]
struct Bearer(MetadataValue<Ascii>);

impl tonic::service::Interceptor for Bearer {
    fn call(&mut self, mut request: Request<()>) -> Result<Request<()>, Status> {
        request
            .metadata_mut()
            .insert("authorization", self.0.clone());
        Ok(request)
    }
}

/// Where a server listens, and the key to call it with.
#[derive(Clone)]
struct Addr {
    url: String,
    key: String,
}

/// `count` separate HTTP/2 connections to `to`, each sending its key (echo gets one of the
/// same length, so both sides carry the same header).
async fn connect(to: &Addr, count: usize) -> anyhow::Result<Vec<Authed>> {
    let endpoint = Endpoint::from_shared(to.url.clone())?;
    let bearer = Bearer(format!("Bearer {}", to.key).parse()?);
    let mut channels = Vec::with_capacity(count);
    for _ in 0..count {
        channels.push(InterceptedService::new(
            endpoint.connect().await?,
            bearer.clone(),
        ));
    }
    Ok(channels)
}

/// A valid intake request (an app complaint with full contact details), `n` in its title.
fn new_ticket(n: usize) -> pb::CreateTicketRequest {
    pb::CreateTicketRequest {
        channel: pb::Channel::App.into(),
        kind: pb::TicketKind::Complaint.into(),
        title: format!("Refund not received ({n})"),
        description: "The refund for order 1234 has not arrived after two weeks.".into(),
        product: "mall".into(),
        customer: Some(pb::Customer {
            // Many customers, as real intake has: each customer's intake is rate-limited.
            external_id: format!("cust-{}", n % 10_000),
            name: "Li Lei".into(),
            phone: "+86 138 0013 8000".into(),
            email: "li.lei@example.com".into(),
            tier: pb::CustomerTier::Standard.into(),
            ..Default::default()
        }),
        tags: vec!["refund".into()],
        actor: "app-connector".into(),
        ..Default::default()
    }
}

/// Throughput and latency of one measurement.
#[derive(Clone, Copy)]
struct Figures {
    per_second: f64,
    p50: Duration,
    p99: Duration,
    errors: u64,
}

/// Runs `concurrency` workers, each calling `call` back to back on one of at most
/// `MAX_CHANNELS` connections, for the warm-up and then `measure`. `call` gets a connection
/// and a number unique to the call. Returns the figures and the successful calls' results
/// (both counting only calls started after the warm-up).
async fn drive<T, F, Fut>(
    channels: &[Authed],
    concurrency: usize,
    measure: Duration,
    call: F,
) -> (Figures, Vec<T>)
where
    T: Send + 'static,
    F: Fn(Authed, usize) -> Fut + Clone + Send + 'static,
    Fut: Future<Output = Result<T, Status>> + Send + 'static,
{
    let channels = &channels[..channels.len().min(concurrency)];
    let counted_from = Instant::now() + WARMUP;
    let until = counted_from + measure;
    let workers: Vec<_> = (0..concurrency)
        .map(|worker| {
            let channel = channels[worker % channels.len()].clone();
            let call = call.clone();
            tokio::spawn(async move {
                let (mut micros, mut values, mut errors) = (Vec::new(), Vec::new(), Vec::new());
                for round in 0.. {
                    let began = Instant::now();
                    if began >= until {
                        break;
                    }
                    let result = call(channel.clone(), round * concurrency + worker).await;
                    let took = began.elapsed();
                    if began < counted_from {
                        continue;
                    }
                    match result {
                        Ok(value) => {
                            micros.push(took.as_micros() as u64);
                            values.push(value);
                        }
                        Err(status) => errors.push(status),
                    }
                }
                (micros, values, errors)
            })
        })
        .collect();

    let (mut micros, mut values, mut errors) = (Vec::new(), Vec::new(), Vec::new());
    for worker in workers {
        let (m, v, e) = worker.await.expect("load worker panicked");
        micros.extend(m);
        values.extend(v);
        errors.extend(e);
    }
    if let Some(status) = errors.first() {
        eprintln!("{} calls failed, the first with {status:?}", errors.len());
    }
    let latency = histogram(&micros);
    let figures = Figures {
        per_second: micros.len() as f64 / measure.as_secs_f64(),
        p50: quantile(&latency, 0.50),
        p99: quantile(&latency, 0.99),
        errors: errors.len() as u64,
    };
    (figures, values)
}

/// Samples in microseconds, collected in plain vectors: a histogram per worker (or per
/// watcher) would cost far more memory than the samples themselves.
fn histogram(micros: &[u64]) -> Histogram<u64> {
    let mut histogram = Histogram::new(3).expect("3 significant figures is valid");
    for &us in micros {
        histogram
            .record(us.max(1))
            .expect("histogram grows as needed");
    }
    histogram
}

fn quantile(histogram: &Histogram<u64>, q: f64) -> Duration {
    Duration::from_micros(histogram.value_at_quantile(q))
}

fn ms(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1e3
}

/// One line of the unary table.
struct Row {
    backend: &'static str,
    rpc: &'static str,
    concurrency: usize,
    figures: Figures,
    echo: Figures,
    /// The lowest acceptable share of echo throughput, where there is a goal.
    goal: Option<f64>,
}

impl Row {
    /// Also reports the figures on stderr at once, as progress.
    fn new(
        backend: &'static str,
        rpc: &'static str,
        concurrency: usize,
        figures: Figures,
        echo: Figures,
        goal: Option<f64>,
    ) -> Row {
        eprintln!(
            "  {backend} {rpc} c={concurrency}: {:.0}/s, p99 {:.2} ms",
            figures.per_second,
            ms(figures.p99)
        );
        Row {
            backend,
            rpc,
            concurrency,
            figures,
            echo,
            goal,
        }
    }
}

fn print_unary(rows: &[Row]) {
    if rows.is_empty() {
        return;
    }
    println!();
    println!(
        "Unary calls (% echo: throughput against echo at the same concurrency; x echo: latency against echo's)"
    );
    println!(
        "{:<9} {:<13} {:>4} {:>9} {:>7} {:>8} {:>8} {:>8} {:>8} {:>6}  goal",
        "backend", "rpc", "conc", "req/s", "% echo", "p50 ms", "p99 ms", "p50 x", "p99 x", "errors"
    );
    for row in rows {
        let (f, echo) = (row.figures, row.echo);
        let share = f.per_second / echo.per_second;
        let goal = match row.goal {
            Some(goal) if share >= goal => format!("PASS (>= {:.0} %)", goal * 100.0),
            Some(goal) => format!("MISS (>= {:.0} %)", goal * 100.0),
            None => String::new(),
        };
        println!(
            "{:<9} {:<13} {:>4} {:>9.0} {:>7.1} {:>8.3} {:>8.3} {:>8.1} {:>8.1} {:>6}  {goal}",
            row.backend,
            row.rpc,
            row.concurrency,
            f.per_second,
            share * 100.0,
            ms(f.p50),
            ms(f.p99),
            f.p50.as_secs_f64() / echo.p50.as_secs_f64(),
            f.p99.as_secs_f64() / echo.p99.as_secs_f64(),
            f.errors,
        );
    }
}

/// What the watchers saw of one publishing run.
struct WatchFigures {
    subscribe: Duration,
    published: u64,
    failed_creates: u64,
    publish: Histogram<u64>,
    delivered: u64,
    broken_streams: u64,
    latency: Histogram<u64>,
}

/// Subscribes `WATCHERS` live watchers, publishes `EVENTS_PER_SECOND` new tickets a second
/// for `measure`, and measures each delivery from the event's time to its arrival.
async fn watch(to: &Addr, measure: Duration) -> anyhow::Result<WatchFigures> {
    let channels = connect(to, WATCH_CHANNELS).await?;
    let began = Instant::now();
    // Each call returns once the server has subscribed the watcher to the live feed.
    let streams = futures::future::try_join_all((0..WATCHERS).map(|i| {
        let mut client = TicketServiceClient::new(channels[i % channels.len()].clone());
        async move {
            let response = client
                .watch_tickets(pb::WatchTicketsRequest::default())
                .await?;
            Ok::<_, Status>(response.into_inner())
        }
    }))
    .await?;
    let subscribe = began.elapsed();

    let stop = CancellationToken::new();
    let delivered = Arc::new(AtomicU64::new(0));
    let watchers: Vec<_> = streams
        .into_iter()
        .map(|stream| tokio::spawn(receive(stream, stop.clone(), delivered.clone())))
        .collect();

    let (total, publish_micros) = publish(to, measure).await?;
    let published = publish_micros.len() as u64;

    let expected = published * WATCHERS as u64;
    let deadline = Instant::now() + DRAIN;
    while delivered.load(Ordering::Relaxed) < expected && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    stop.cancel();

    let mut micros = Vec::with_capacity(expected as usize);
    let mut broken_streams = 0;
    for watcher in watchers {
        let (seen, broken) = watcher.await?;
        micros.extend(seen);
        broken_streams += u64::from(broken);
    }
    Ok(WatchFigures {
        subscribe,
        published,
        failed_creates: total as u64 - published,
        publish: histogram(&publish_micros),
        delivered: micros.len() as u64,
        broken_streams,
        latency: histogram(&micros),
    })
}

/// Creates `EVENTS_PER_SECOND` tickets a second for `measure`, in an open loop from its own
/// connection: each create is spawned on its tick, so a slow commit does not delay the next.
/// Returns how many were sent and the latency of each that succeeded, in microseconds. The
/// events' time is stamped when the server starts the create, so a delivery delay includes
/// the create's own latency: worth showing next to it.
async fn publish(to: &Addr, measure: Duration) -> anyhow::Result<(usize, Vec<u64>)> {
    let publisher = TicketServiceClient::new(connect(to, 1).await?.remove(0));
    let total = (measure.as_secs_f64() * f64::from(EVENTS_PER_SECOND)) as usize;
    let mut tick = tokio::time::interval(Duration::from_secs(1) / EVENTS_PER_SECOND);
    let mut creates = Vec::with_capacity(total);
    for n in 0..total {
        tick.tick().await;
        let mut client = publisher.clone();
        creates.push(tokio::spawn(async move {
            let began = Instant::now();
            client
                .create_ticket(new_ticket(n))
                .await
                .map(|_| began.elapsed())
        }));
    }
    let mut micros = Vec::with_capacity(total);
    for create in creates {
        if let Ok(took) = create.await? {
            micros.push(took.as_micros() as u64);
        }
    }
    Ok((total, micros))
}

/// What a webhook receiver saw of one publishing run.
struct WebhookFigures {
    published: u64,
    publish: Histogram<u64>,
    delivered: u64,
    /// Event ids received more than once.
    duplicates: u64,
    latency: Histogram<u64>,
}

/// Subscribes a webhook for TICKET_CREATED to a receiver on 127.0.0.1, publishes
/// `EVENTS_PER_SECOND` tickets a second for `measure`, and measures each delivery from the
/// event's time to its arrival at the receiver.
async fn webhook(to: &Addr, measure: Duration) -> anyhow::Result<WebhookFigures> {
    use pb::webhook_service_client::WebhookServiceClient;
    let seen = Arc::new(std::sync::Mutex::new(Vec::<(i64, u64)>::new()));
    let record = seen.clone();
    let receiver = axum::Router::new().route(
        "/hooks",
        axum::routing::post(move |body: axum::body::Bytes| {
            let record = record.clone();
            async move {
                let now = chrono::Utc::now();
                let event: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
                let id = event["cursor"]
                    .as_str()
                    .and_then(|c| c.parse().ok())
                    .unwrap_or(-1);
                let stamped = event["time"]
                    .as_str()
                    .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok());
                let delay = stamped.map_or(0, |t| {
                    (now - t.with_timezone(&chrono::Utc))
                        .num_microseconds()
                        .unwrap_or(0)
                });
                record.lock().unwrap().push((id, delay.max(0) as u64));
                axum::http::StatusCode::NO_CONTENT
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let hook = format!("http://{}/hooks", listener.local_addr()?);
    tokio::spawn(async move { axum::serve(listener, receiver).await });
    WebhookServiceClient::new(connect(to, 1).await?.remove(0))
        .create_webhook(pb::CreateWebhookRequest {
            webhook: Some(pb::Webhook {
                id: "bench".into(),
                url: hook,
                event_types: vec![pb::EventType::TicketCreated.into()],
                ..Default::default()
            }),
        })
        .await?;

    let (_, publish_micros) = publish(to, measure).await?;
    let published = publish_micros.len() as u64;
    let deadline = Instant::now() + DRAIN;
    while (seen.lock().unwrap().len() as u64) < published && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let seen = seen.lock().unwrap().clone();
    let mut ids: Vec<i64> = seen.iter().map(|(id, _)| *id).collect();
    ids.sort_unstable();
    ids.dedup();
    let micros: Vec<u64> = seen.iter().map(|(_, delay)| *delay).collect();
    Ok(WebhookFigures {
        published,
        publish: histogram(&publish_micros),
        delivered: ids.len() as u64,
        duplicates: (seen.len() - ids.len()) as u64,
        latency: histogram(&micros),
    })
}

fn print_webhooks(webhooks: &[(&str, WebhookFigures)]) {
    if webhooks.is_empty() {
        return;
    }
    println!();
    println!(
        "Webhooks: one subscription to TICKET_CREATED, {EVENTS_PER_SECOND} tickets/s published, \
         a receiver on 127.0.0.1. Delay from the event's time (stamped when the server starts \
         the create) to the POST's arrival; create: the publisher's latency meanwhile."
    );
    println!(
        "{:<9} {:>9} {:>19} {:>10} {:>8} {:>8} {:>8} {:>10} {:>10}",
        "backend",
        "published",
        "delivered/expected",
        "duplicates",
        "p50 ms",
        "p99 ms",
        "max ms",
        "create p50",
        "create p99",
    );
    for (backend, w) in webhooks {
        println!(
            "{:<9} {:>9} {:>19} {:>10} {:>8.2} {:>8.2} {:>8.2} {:>10.2} {:>10.2}",
            backend,
            w.published,
            format!("{}/{}", w.delivered, w.published),
            w.duplicates,
            ms(quantile(&w.latency, 0.50)),
            ms(quantile(&w.latency, 0.99)),
            w.latency.max() as f64 / 1e3,
            ms(quantile(&w.publish, 0.50)),
            ms(quantile(&w.publish, 0.99)),
        );
    }
}

/// One watcher: the delay of every event it receives until `stop`, in microseconds, and
/// whether its stream failed.
async fn receive(
    mut stream: Streaming<pb::WatchTicketsResponse>,
    stop: CancellationToken,
    delivered: Arc<AtomicU64>,
) -> (Vec<u64>, bool) {
    let mut micros = Vec::new();
    loop {
        let message = tokio::select! {
            () = stop.cancelled() => return (micros, false),
            message = stream.message() => message,
        };
        let events = match message {
            Ok(Some(message)) => message.events,
            Ok(None) => return (micros, false),
            Err(_) => return (micros, true),
        };
        let now = SystemTime::now();
        // Each create makes two events (created, SLA started): the created ones are counted,
        // one per ticket published.
        let mut created = 0;
        for event in events
            .iter()
            .filter(|e| e.r#type() == pb::EventType::TicketCreated)
        {
            // Both clocks are this machine's: the server stamps the event, we stamp arrival.
            let stamped = event.time.and_then(|t| SystemTime::try_from(t).ok());
            let delay = stamped.map_or(Duration::ZERO, |t| {
                now.duration_since(t).unwrap_or_default()
            });
            micros.push(delay.as_micros() as u64);
            created += 1;
        }
        delivered.fetch_add(created, Ordering::Relaxed);
    }
}

fn print_watch(watches: &[(&str, WatchFigures)]) {
    if watches.is_empty() {
        return;
    }
    println!();
    println!(
        "WatchTickets: {WATCHERS} watchers on {WATCH_CHANNELS} connections, {EVENTS_PER_SECOND} \
         tickets/s published. Delay from the event's time (stamped when the server starts the \
         create) to arrival; create: the publisher's CreateTicket latency meanwhile. Absolute \
         figures: echo has no stream to compare with."
    );
    println!(
        "{:<9} {:>12} {:>9} {:>19} {:>8} {:>8} {:>8} {:>10} {:>10}  goal",
        "backend",
        "subscribe s",
        "published",
        "delivered/expected",
        "p50 ms",
        "p99 ms",
        "max ms",
        "create p50",
        "create p99",
    );
    for (backend, w) in watches {
        let p99 = quantile(&w.latency, 0.99);
        let verdict = if p99 <= WATCH_P99_GOAL {
            "PASS"
        } else {
            "MISS"
        };
        println!(
            "{:<9} {:>12.2} {:>9} {:>19} {:>8.2} {:>8.2} {:>8.2} {:>10.2} {:>10.2}  {verdict} (p99 <= {} ms)",
            backend,
            w.subscribe.as_secs_f64(),
            w.published,
            format!("{}/{}", w.delivered, w.published * WATCHERS as u64),
            ms(quantile(&w.latency, 0.50)),
            ms(p99),
            w.latency.max() as f64 / 1e3,
            ms(quantile(&w.publish, 0.50)),
            ms(quantile(&w.publish, 0.99)),
            WATCH_P99_GOAL.as_millis(),
        );
        if w.failed_creates > 0 || w.broken_streams > 0 {
            println!(
                "{:<9} {} creates failed, {} streams broke",
                "", w.failed_creates, w.broken_streams
            );
        }
    }
}

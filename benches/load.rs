//! Load generator: starts the release binary as its own process, as operators run it, and
//! drives it through the generated client from this one: CreateTicket and GetTicket at
//! several concurrencies, GetCaller against the health check (the cost of authentication),
//! CreateTicket on databases already holding 10,000 to 1,000,000 tickets, WatchTickets
//! delivery to 1,000 and 10,000 watchers, and webhook delivery; on SQLite and (when a cluster
//! is given) on PostgreSQL. The requests vary as real intake does: a unique request_id, 10,000
//! customers, several products, Chinese and English.
//!
//! Absolute numbers drift on shared machines, so the same run drives a minimal echo server
//! (this binary again, in a process of its own) on the same tonic stack with the same load,
//! and prints every unary figure also relative to that ceiling.
//!
//! `cargo bench --bench load` runs SQLite only; `scripts/with-postgres.sh cargo bench --bench
//! load` adds PostgreSQL. `BENCH_SECONDS` (default 5) sets the length of each measurement,
//! which follows a one-second warm-up; `BENCH_ONLY=unary|stored|watch|webhook` runs one part
//! alone; `BENCH_STORED=10000,100000` changes the stored-ticket counts.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime};

use anyhow::Context as _;
use feedbackd::proto::feedback::v1 as pb;
use hdrhistogram::Histogram;
use pb::access_service_client::AccessServiceClient;
use pb::ticket_service_client::TicketServiceClient;
use prost::Message as _;
use sea_orm::ConnectionTrait;
use tokio_util::sync::CancellationToken;
use tonic::transport::Server;
use tonic::transport::server::TcpIncoming;
use tonic::{Request, Response, Status, Streaming};

#[allow(clippy::all)]
mod common;
mod echo {
    tonic::include_proto!("bench.echo");
}

use common::{Addr, Authed, Database, Served, connect};
use echo::echo_client::EchoClient;
use echo::echo_server::{Echo, EchoServer};

/// Calls in flight, each measured on its own.
const CONCURRENCY: [usize; 3] = [1, 16, 64];
/// HTTP/2 connections the unary workers share round-robin, for echo and feedbackd alike.
const MAX_CHANNELS: usize = 4;
/// Not counted: lets connections, pools and caches settle.
const WARMUP: Duration = Duration::from_secs(1);
const WATCH_CHANNELS: usize = 10;
/// The webhook measurement's publishing rate.
const EVENTS_PER_SECOND: u32 = 100;
/// How long watchers may take to receive the last events once publishing has stopped.
const DRAIN: Duration = Duration::from_secs(10);

/// Goals, as a share of the echo ceiling at concurrency 64.
const GOAL_CONCURRENCY: usize = 64;
const CREATE_GOAL_SQLITE: f64 = 0.20;
const CREATE_GOAL_POSTGRES: f64 = 0.10;
const GET_GOAL: f64 = 0.50;
/// Goal for the 99th percentile of watch delivery.
const WATCH_P99_GOAL: Duration = Duration::from_millis(50);
/// The same with 10,000 watchers.
const WATCH_P99_GOAL_10K: Duration = Duration::from_millis(200);

fn main() -> anyhow::Result<()> {
    let runtime = tokio::runtime::Runtime::new()?;
    if std::env::var_os("BENCH_ECHO_SERVER").is_some() {
        return runtime.block_on(serve_echo());
    }
    runtime.block_on(bench())
}

async fn bench() -> anyhow::Result<()> {
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

    let (_echo_process, echo_url) = start_echo().await?;
    let echo = Addr {
        url: echo_url,
        key: format!("fbk_{}", "x".repeat(64)),
    };
    let echo = connect(&echo, MAX_CHANNELS).await?;
    let mut databases = vec![Database::Sqlite];
    match std::env::var("FEEDBACKD_TEST_POSTGRES_URL") {
        Ok(base) => databases.push(Database::Postgres(base)),
        Err(_) => println!(
            "PostgreSQL skipped: FEEDBACKD_TEST_POSTGRES_URL is not set; run \
             `scripts/with-postgres.sh cargo bench --bench load` to include it"
        ),
    }
    let mut targets = Vec::new();
    for database in &databases {
        targets.push(Target::start(database, 0).await?);
    }

    // BENCH_ONLY=watch or =webhook measures that alone.
    let only = std::env::var("BENCH_ONLY").ok();
    let runs = |what: &str| only.as_deref().is_none_or(|only| only == what);
    let unary = runs("unary");
    let mut rows = Vec::new();
    for concurrency in CONCURRENCY.into_iter().filter(|_| unary) {
        // Echo first at each concurrency: each ratio compares figures taken seconds apart, so
        // drift of the machine hits both alike.
        let ceiling = echo_ceiling(&echo, concurrency, measure, &payload).await;
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
        for (watchers, rate) in WATCH_CASES {
            let figures = watch(target, watchers, rate, measure).await?;
            watches.push((target.name, figures));
        }
    }
    let mut stalls = Vec::new();
    for target in targets.iter().filter(|_| runs("watch")) {
        stalls.push((target.name, stalled(target, measure).await?));
    }
    let mut webhooks = Vec::new();
    for target in targets.iter().filter(|_| runs("webhook")) {
        webhooks.push((target.name, webhook(&target.addr, measure).await?));
    }

    // Intake as the database grows: a fresh server on a database that already holds them.
    let mut stored_rows = Vec::new();
    let stored: Vec<u64> = match std::env::var("BENCH_STORED") {
        Ok(list) => list
            .split(',')
            .map(|n| {
                n.trim()
                    .parse()
                    .context("BENCH_STORED: counts, comma-separated")
            })
            .collect::<anyhow::Result<_>>()?,
        Err(_) => STORED.to_vec(),
    };
    for database in databases.iter().filter(|_| runs("stored")) {
        for &count in &stored {
            let target = Target::start(database, count).await?;
            let ceiling = echo_ceiling(&echo, GOAL_CONCURRENCY, measure, &payload).await;
            let (created, _) = drive(&target.channels, GOAL_CONCURRENCY, measure, create).await;
            eprintln!(
                "  {} CreateTicket c={GOAL_CONCURRENCY} with {count} stored: {:.0}/s",
                target.name, created.per_second
            );
            stored_rows.push((target.name, count, created, ceiling));
        }
    }

    print_unary(&rows);
    print_stored(&stored_rows);
    print_watch(&watches);
    print_stalled(&stalls);
    print_webhooks(&webhooks);
    Ok(())
}

/// Tickets stored before intake is measured again (BENCH_STORED overrides).
const STORED: [u64; 3] = [10_000, 100_000, 1_000_000];

fn print_stored(rows: &[(&str, u64, Figures, Figures)]) {
    if rows.is_empty() {
        return;
    }
    println!();
    println!(
        "CreateTicket at concurrency {GOAL_CONCURRENCY} on a database already holding tickets \
         (1 % of them waiting in the triage queue, a tenth about the same product and category)"
    );
    println!(
        "{:<9} {:>9} {:>9} {:>7} {:>8} {:>8}",
        "backend", "stored", "req/s", "% echo", "p50 ms", "p99 ms"
    );
    for (backend, stored, f, echo) in rows {
        println!(
            "{:<9} {:>9} {:>9.0} {:>7.1} {:>8.3} {:>8.3}",
            backend,
            stored,
            f.per_second,
            f.per_second / echo.per_second * 100.0,
            ms(f.p50),
            ms(f.p99),
        );
    }
}

/// A feedbackd server under test, and what the run learned about it.
struct Target {
    name: &'static str,
    server: Served,
    addr: Addr,
    channels: Vec<Authed>,
    /// Tickets created so far, for GetTicket to read.
    ids: Vec<i64>,
    create_goal: f64,
}

/// The CreateTicket goal on `database`, as a share of echo.
fn create_goal(database: &Database) -> f64 {
    match database {
        Database::Sqlite => CREATE_GOAL_SQLITE,
        Database::Postgres(_) => CREATE_GOAL_POSTGRES,
    }
}

impl Target {
    /// The server on a fresh database, with `stored` tickets written into it first.
    async fn start(database: &Database, stored: u64) -> anyhow::Result<Target> {
        let dir = tempfile::tempdir()?;
        let url = database.fresh(dir.path()).await?;
        let server = Served::start(&url, dir).await?;
        if stored > 0 {
            let began = Instant::now();
            seed(&url, stored).await?;
            eprintln!(
                "  {}: {stored} tickets stored in {:.1} s",
                database.name(),
                began.elapsed().as_secs_f64()
            );
        }
        let channels = connect(&server.addr, MAX_CHANNELS).await?;
        Ok(Target {
            name: database.name(),
            addr: server.addr.clone(),
            server,
            channels,
            ids: Vec::new(),
            create_goal: create_goal(database),
        })
    }
}

/// Writes `count` tickets straight into the database behind a running server, as a year of
/// intake would have left them: most closed long ago, one in a hundred from the last hour and
/// still waiting in the triage queue, spread over 200,000 customers and 50 products, a tenth
/// about the product and category the bench's own tickets are about. One statement.
async fn seed(url: &str, count: u64) -> anyhow::Result<()> {
    let db = sea_orm::Database::connect(url).await?;
    let backend = db.get_database_backend();
    let now = chrono::Utc::now();
    let sql = "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < $1) \
        INSERT INTO tickets (number, channel, kind, status, priority, priority_rank, title, \
          description, expected_outcome, product, category, team, customer_external_id, \
          customer_name, customer_phone, customer_email, customer_tier, metadata, tags, \
          reopen_count, created_at, updated_at, version, sla_breached, sla_at_risk) \
        SELECT 'S' || i, 'APP', 'COMPLAINT', \
          CASE WHEN i % 100 = 0 THEN 'NEW' ELSE 'CLOSED' END, 'MEDIUM', 3, \
          'Seeded ticket ' || i, 'What an earlier customer wrote.', '', \
          CASE WHEN i % 10 = 0 THEN 'mall' ELSE 'product-' || (i % 50) END, \
          CASE WHEN i % 10 = 0 THEN 'refund' ELSE NULL END, 'triage', \
          'seeded-' || (i % 200000), 'Customer', '', '', 'STANDARD', $2, $3, 0, \
          CASE WHEN i % 100 = 0 THEN $4 ELSE $5 END, \
          CASE WHEN i % 100 = 0 THEN $4 ELSE $5 END, 1, false, false \
        FROM n";
    let json = |value: serde_json::Value| sea_orm::Value::Json(Some(Box::new(value)));
    let values: Vec<sea_orm::Value> = vec![
        (count as i64).into(),
        json(serde_json::json!({})),
        json(serde_json::json!([])),
        (now - chrono::Duration::hours(1)).into(),
        (now - chrono::Duration::days(60)).into(),
    ];
    if backend == sea_orm::DbBackend::Sqlite {
        db.execute_unprepared("PRAGMA synchronous = OFF").await?;
    }
    db.execute_raw(sea_orm::Statement::from_sql_and_values(
        backend, sql, values,
    ))
    .await?;
    db.execute_unprepared(match backend {
        sea_orm::DbBackend::Postgres => "ANALYZE tickets",
        _ => "ANALYZE",
    })
    .await?;
    db.close().await?;
    Ok(())
}

/// The echo server: the same tonic stack with no work behind it, in a process of its own
/// like feedbackd (this bench's binary again, told so by `BENCH_ECHO_SERVER`). Returns its URL.
async fn start_echo() -> anyhow::Result<(tokio::process::Child, String)> {
    use tokio::io::AsyncBufReadExt as _;
    let mut process = tokio::process::Command::new(std::env::current_exe()?)
        .env("BENCH_ECHO_SERVER", "1")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()?;
    let stdout = process.stdout.take().context("the echo server's stdout")?;
    let url = tokio::io::BufReader::new(stdout)
        .lines()
        .next_line()
        .await?
        .context("the echo server printed no URL")?;
    Ok((process, url))
}

/// Serves echo on a free port, prints its URL, and serves until killed.
async fn serve_echo() -> anyhow::Result<()> {
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
    println!("http://{}", listener.local_addr()?);
    Server::builder()
        .add_service(EchoServer::new(Service))
        // No Nagle delay, like feedbackd's own listener.
        .serve_with_incoming(TcpIncoming::from(listener).with_nodelay(Some(true)))
        .await?;
    Ok(())
}

/// What customers write, in both languages, and about which product.
const COMPLAINTS: [(&str, &str, &str); 6] = [
    (
        "mall",
        "Refund not received",
        "The refund for order {n} has not arrived after two weeks.",
    ),
    (
        "mall",
        "退款未到账",
        "订单{n}的退款已经两周了还没有到账，请尽快处理。",
    ),
    (
        "pay",
        "Payment failed",
        "Paying for order {n} failed twice, and my card was charged.",
    ),
    ("pay", "支付失败", "订单{n}支付失败，但是银行卡已经扣款。"),
    (
        "app",
        "App closes at login",
        "Since the last update the app closes when I log in ({n}).",
    ),
    (
        "delivery",
        "配送太慢",
        "包裹{n}已经五天没有更新物流信息了。",
    ),
];

/// A valid intake request, as a channel connector sends it: a complaint from one of 10,000
/// customers (each with their own phone and e-mail), in Chinese or English, about one of
/// several products, under a request_id unique to the run.
fn new_ticket(n: usize) -> pb::CreateTicketRequest {
    static SENT: AtomicU64 = AtomicU64::new(0);
    let sent = SENT.fetch_add(1, Ordering::Relaxed);
    let (product, title, description) = COMPLAINTS[n % COMPLAINTS.len()];
    let customer = n % 10_000;
    pb::CreateTicketRequest {
        request_id: format!("bench-{}-{sent}", std::process::id()),
        channel: pb::Channel::App.into(),
        kind: pb::TicketKind::Complaint.into(),
        title: title.into(),
        description: description.replace("{n}", &n.to_string()),
        product: product.into(),
        customer: Some(pb::Customer {
            external_id: format!("cust-{customer}"),
            name: "Li Lei".into(),
            phone: format!("+86 138 {customer:04} 8000"),
            email: format!("customer{customer}@example.com"),
            tier: pb::CustomerTier::Standard.into(),
            ..Default::default()
        }),
        actor: "app-connector".into(),
        ..Default::default()
    }
}

/// The echo server's figures at `concurrency`, carrying `payload` each way.
async fn echo_ceiling(
    echo: &[Authed],
    concurrency: usize,
    measure: Duration,
    payload: &[u8],
) -> Figures {
    let payload = payload.to_vec();
    let (ceiling, _) = drive(echo, concurrency, measure, move |channel, _| {
        let payload = payload.clone();
        async move {
            EchoClient::new(channel)
                .unary(echo::EchoMessage { payload })
                .await
                .map(drop)
        }
    })
    .await;
    ceiling
}

/// Creates ticket number `n` of a measurement.
async fn create(channel: Authed, n: usize) -> Result<(), Status> {
    TicketServiceClient::new(channel)
        .create_ticket(new_ticket(n))
        .await
        .map(drop)
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
    watchers: usize,
    rate: u32,
    subscribe: Duration,
    /// The server's resident memory per watcher, from before subscribing to after.
    bytes_per_watcher: f64,
    /// The publisher's latency at the same rate with nobody watching.
    alone: Histogram<u64>,
    published: u64,
    failed_creates: u64,
    publish: Histogram<u64>,
    delivered: u64,
    broken_streams: u64,
    latency: Histogram<u64>,
}

/// The fan-out cases: watchers, and tickets published a second.
const WATCH_CASES: [(usize, u32); 2] = [(1_000, 100), (10_000, 10)];

/// Publishes `rate` tickets a second for `measure` with nobody watching; then subscribes
/// `watchers` live watchers, publishes again, and measures each delivery from the event's
/// time to its arrival.
async fn watch(
    target: &Target,
    watchers: usize,
    rate: u32,
    measure: Duration,
) -> anyhow::Result<WatchFigures> {
    let to = &target.addr;
    let (_, alone) = publish(to, measure, rate).await?;
    let channels = connect(to, WATCH_CHANNELS).await?;
    let memory_before = target.server.resident_bytes();
    let began = Instant::now();
    let streams = subscribe(&channels, watchers).await?;
    let subscribe = began.elapsed();
    // Let the server's allocator settle before reading its memory.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let bytes_per_watcher = match (memory_before, target.server.resident_bytes()) {
        (Some(before), Some(after)) => after.saturating_sub(before) as f64 / watchers as f64,
        _ => f64::NAN,
    };

    let stop = CancellationToken::new();
    let delivered = Arc::new(AtomicU64::new(0));
    let receivers: Vec<_> = streams
        .into_iter()
        .map(|stream| tokio::spawn(receive(stream, stop.clone(), delivered.clone())))
        .collect();

    let (total, publish_micros) = publish(to, measure, rate).await?;
    let published = publish_micros.len() as u64;

    let expected = published * watchers as u64;
    let deadline = Instant::now() + DRAIN;
    while delivered.load(Ordering::Relaxed) < expected && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    stop.cancel();

    let mut micros = Vec::with_capacity(expected as usize);
    let mut broken_streams = 0;
    for receiver in receivers {
        let (seen, broken) = receiver.await?;
        micros.extend(seen);
        broken_streams += u64::from(broken);
    }
    Ok(WatchFigures {
        watchers,
        rate,
        subscribe,
        bytes_per_watcher,
        alone: histogram(&alone),
        published,
        failed_creates: total as u64 - published,
        publish: histogram(&publish_micros),
        delivered: micros.len() as u64,
        broken_streams,
        latency: histogram(&micros),
    })
}

/// `count` live watch streams spread over `channels`; each call returns once the server has
/// subscribed its watcher to the live feed.
async fn subscribe(channels: &[Authed], count: usize) -> Result<Vec<Streaming<Delivered>>, Status> {
    futures::future::try_join_all((0..count).map(|i| {
        let channel = channels[i % channels.len()].clone();
        async move {
            let mut client = tonic::client::Grpc::new(channel);
            client
                .ready()
                .await
                .map_err(|e| Status::unavailable(e.to_string()))?;
            let path =
                http::uri::PathAndQuery::from_static("/feedback.v1.TicketService/WatchTickets");
            let codec = tonic_prost::ProstCodec::<pb::WatchTicketsRequest, Delivered>::default();
            let response = client
                .server_streaming(
                    Request::new(pb::WatchTicketsRequest::default()),
                    path,
                    codec,
                )
                .await?;
            Ok(response.into_inner())
        }
    }))
    .await
}

/// Watch streams whose client never reads them, as a desk that froze leaves them.
const STALLED: usize = 2_000;
/// The intake measured beside them.
const STALLED_CONCURRENCY: usize = 16;

/// CreateTicket alone, then again while `STALLED` watch streams go unread: what frozen desks
/// cost everyone else.
async fn stalled(target: &Target, measure: Duration) -> anyhow::Result<(Figures, Figures)> {
    let (alone, _) = drive(&target.channels, STALLED_CONCURRENCY, measure, create).await;
    let channels = connect(&target.addr, WATCH_CHANNELS).await?;
    let streams = subscribe(&channels, STALLED).await?;
    let (beside, _) = drive(&target.channels, STALLED_CONCURRENCY, measure, create).await;
    drop(streams);
    Ok((alone, beside))
}

/// What a watcher decodes of each stream message: an agent desktop decodes whole events on
/// its own machine, but here the watchers share the server's two cores, so they read only
/// what the bench counts (protobuf skips the other fields).
#[derive(Clone, PartialEq, prost::Message)]
struct Delivered {
    #[prost(message, repeated, tag = "1")]
    events: Vec<DeliveredEvent>,
}

#[derive(Clone, PartialEq, prost::Message)]
struct DeliveredEvent {
    #[prost(enumeration = "pb::EventType", tag = "3")]
    r#type: i32,
    #[prost(message, optional, tag = "5")]
    time: Option<prost_types::Timestamp>,
}

/// Creates `rate` tickets a second for `measure`, in an open loop from its own connection:
/// each create is spawned on its tick, so a slow commit does not delay the next. Returns how
/// many were sent and the latency of each that succeeded, in microseconds. The events' time
/// is stamped when the server starts the create, so a delivery delay includes the create's
/// own latency: worth showing next to it.
async fn publish(to: &Addr, measure: Duration, rate: u32) -> anyhow::Result<(usize, Vec<u64>)> {
    let publisher = TicketServiceClient::new(connect(to, 1).await?.remove(0));
    let total = (measure.as_secs_f64() * f64::from(rate)) as usize;
    let mut tick = tokio::time::interval(Duration::from_secs(1) / rate);
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

    let (_, publish_micros) = publish(to, measure, EVENTS_PER_SECOND).await?;
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

fn print_stalled(stalls: &[(&str, (Figures, Figures))]) {
    if stalls.is_empty() {
        return;
    }
    println!();
    println!(
        "CreateTicket at concurrency {STALLED_CONCURRENCY}, alone and beside {STALLED} watch \
         streams whose client never reads"
    );
    println!(
        "{:<9} {:>12} {:>12} {:>12} {:>12}",
        "backend", "alone req/s", "alone p99", "beside req/s", "beside p99"
    );
    for (backend, (alone, beside)) in stalls {
        println!(
            "{:<9} {:>12.0} {:>12.2} {:>12.0} {:>12.2}",
            backend,
            alone.per_second,
            ms(alone.p99),
            beside.per_second,
            ms(beside.p99),
        );
    }
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
    mut stream: Streaming<Delivered>,
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
        // A create makes several events (created, its acknowledgement, SLA started): the
        // created ones are counted, one per ticket published.
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
        "WatchTickets: watchers on {WATCH_CHANNELS} connections, tickets published at a steady \
         rate. Delay from the event's time (stamped when the server starts the create) to \
         arrival; create: the publisher's CreateTicket latency meanwhile, and alone at the same \
         rate with nobody watching; memory: the server's resident memory per idle watcher."
    );
    println!(
        "{:<9} {:>8} {:>6} {:>11} {:>9} {:>9} {:>21} {:>8} {:>8} {:>8} {:>10} {:>10}  goal",
        "backend",
        "watchers",
        "rate/s",
        "subscribe s",
        "memory KB",
        "published",
        "delivered/expected",
        "p50 ms",
        "p99 ms",
        "max ms",
        "create p99",
        "alone p99",
    );
    for (backend, w) in watches {
        let p99 = quantile(&w.latency, 0.99);
        let goal = if w.watchers >= 10_000 {
            WATCH_P99_GOAL_10K
        } else {
            WATCH_P99_GOAL
        };
        let create_p99 = quantile(&w.publish, 0.99);
        let alone_p99 = quantile(&w.alone, 0.99);
        let complete = w.delivered == w.published * w.watchers as u64;
        let verdict = if p99 <= goal && complete && create_p99 <= alone_p99 * 2 {
            "PASS"
        } else {
            "MISS"
        };
        println!(
            "{:<9} {:>8} {:>6} {:>11.2} {:>9.1} {:>9} {:>21} {:>8.2} {:>8.2} {:>8.2} {:>10.2} {:>10.2}  \
             {verdict} (all delivered, p99 <= {} ms, create p99 <= 2x alone)",
            backend,
            w.watchers,
            w.rate,
            w.subscribe.as_secs_f64(),
            w.bytes_per_watcher / 1024.0,
            w.published,
            format!("{}/{}", w.delivered, w.published * w.watchers as u64),
            ms(quantile(&w.latency, 0.50)),
            ms(p99),
            w.latency.max() as f64 / 1e3,
            ms(create_p99),
            ms(alone_p99),
            goal.as_millis(),
        );
        if w.failed_creates > 0 || w.broken_streams > 0 {
            println!(
                "{:<9} {} creates failed, {} streams broke",
                "", w.failed_creates, w.broken_streams
            );
        }
    }
}

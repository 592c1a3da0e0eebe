//! The `feedbackd` binary as an operator runs it: zero-flag start, clear startup failures,
//! graceful stop on SIGTERM, `migrate`.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

fn feedbackd(dir: &std::path::Path, args: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_feedbackd"));
    command
        .args(args)
        .current_dir(dir)
        .env("RUST_LOG", "info")
        .env_remove("NO_COLOR")
        .env_remove("FEEDBACKD_DATABASE_URL");
    command
}

/// A channel to the server on `port` that calls with the admin key its first start wrote in
/// `dir`.
fn authed(
    dir: &std::path::Path,
    port: u16,
) -> tonic::service::interceptor::InterceptedService<
    tonic::transport::Channel,
    impl tonic::service::Interceptor + Clone,
> {
    let key = std::fs::read_to_string(dir.join("feedbackd.admin-key")).expect("the admin key file");
    let credential: tonic::metadata::MetadataValue<_> =
        format!("Bearer {}", key.trim()).parse().unwrap();
    let channel = tonic::transport::Channel::from_shared(format!("http://127.0.0.1:{port}"))
        .unwrap()
        .connect_lazy();
    tonic::service::interceptor::InterceptedService::new(
        channel,
        move |mut request: tonic::Request<()>| {
            request
                .metadata_mut()
                .insert("authorization", credential.clone());
            Ok(request)
        },
    )
}

/// The server's log, line by line, as it writes it.
struct Log(std::sync::mpsc::Receiver<String>);

impl Log {
    /// The log a server writes to its stderr.
    fn of(child: &mut Child) -> Log {
        Log::read(child.stderr.take().expect("piped stderr"))
    }

    fn read(from: impl std::io::Read + Send + 'static) -> Log {
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            // Keep draining after the caller stops listening: a closed pipe would fail the
            // writer's next line.
            for line in BufReader::new(from).lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
        Log(rx)
    }

    /// Waits for a line containing `needle`, returning every line read until it.
    fn wait_for(&mut self, needle: &str) -> Vec<String> {
        let deadline = Instant::now() + Duration::from_secs(30);
        let mut lines = Vec::new();
        while let Ok(line) = self
            .0
            .recv_timeout(deadline.saturating_duration_since(Instant::now()))
        {
            let found = line.contains(needle);
            lines.push(line);
            if found {
                return lines;
            }
        }
        panic!("no line with {needle:?}; got {lines:#?}");
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[test]
fn serves_with_no_flags_and_stops_cleanly_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    // No flags but the port, so parallel test runs do not collide on 50051.
    let port = free_port();
    let mut child = feedbackd(dir.path(), &["--listen", &format!("127.0.0.1:{port}")])
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let lines = Log::of(&mut child).wait_for("feedbackd serving");
    let started = lines.last().unwrap();
    for part in [
        &format!("127.0.0.1:{port}"),
        "sqlite",
        env!("CARGO_PKG_VERSION"),
    ] {
        assert!(
            started.contains(part),
            "the startup line names {part}: {started}"
        );
    }
    assert!(
        dir.path().join("feedbackd.db").exists(),
        "a SQLite file in the working directory"
    );
    let killed = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let status = child.wait().unwrap();
    assert!(status.success(), "a clean exit on SIGTERM: {status:?}");
    // Checkpointed: the database file holds everything, its write-ahead log is empty.
    let wal = dir.path().join("feedbackd.db-wal");
    let logged = std::fs::metadata(&wal).map_or(0, |m| m.len());
    assert_eq!(logged, 0, "{} holds {logged} bytes", wal.display());
}

#[test]
fn a_taken_port_ends_the_process_with_one_line() {
    let dir = tempfile::tempdir().unwrap();
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let output = feedbackd(dir.path(), &["--listen", &addr])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    let errors: Vec<_> = stderr.lines().filter(|l| l.contains("ERROR")).collect();
    assert_eq!(errors.len(), 1, "{stderr}");
    assert!(
        errors[0].contains("cannot listen on") && errors[0].contains(&addr),
        "{stderr}"
    );
}

#[test]
fn an_unopenable_database_ends_the_process_with_one_line() {
    let dir = tempfile::tempdir().unwrap();
    let output = feedbackd(
        dir.path(),
        &["--database-url", "sqlite:///no/such/dir/x.db?mode=rwc"],
    )
    .output()
    .unwrap();
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    let errors: Vec<_> = stderr.lines().filter(|l| l.contains("ERROR")).collect();
    assert_eq!(errors.len(), 1, "{stderr}");
    assert!(errors[0].contains("cannot open the database"), "{stderr}");
}

#[test]
fn an_unusable_attachment_dir_ends_the_process_with_one_line() {
    let dir = tempfile::tempdir().unwrap();
    // A file where the directory should be.
    std::fs::write(dir.path().join("files"), "not a directory").unwrap();
    let listen = format!("127.0.0.1:{}", free_port());
    let output = feedbackd(
        dir.path(),
        &["--listen", &listen, "--attachment-dir", "files"],
    )
    .output()
    .unwrap();
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    let errors: Vec<_> = stderr.lines().filter(|l| l.contains("ERROR")).collect();
    assert_eq!(errors.len(), 1, "{stderr}");
    assert!(
        errors[0].contains("--attachment-dir files is not usable"),
        "{stderr}"
    );
}

#[test]
fn help_never_shows_a_password_from_the_environment() {
    let dir = tempfile::tempdir().unwrap();
    let help = feedbackd(dir.path(), &["--help"])
        .env(
            "FEEDBACKD_DATABASE_URL",
            "postgres://app:s3cret@db/feedback",
        )
        .env(
            "FEEDBACKD_OTLP_ENDPOINT",
            "https://key:t0ken@collector:4317",
        )
        .env(
            "FEEDBACKD_JWT_HS256_SECRET",
            "sh4red-secret-of-the-identity-provider",
        )
        .output()
        .unwrap();
    assert!(help.status.success());
    let text = String::from_utf8_lossy(&help.stdout);
    assert!(text.contains("FEEDBACKD_DATABASE_URL"), "{text}");
    assert!(
        !text.contains("s3cret") && !text.contains("t0ken") && !text.contains("sh4red"),
        "a secret in --help:\n{text}"
    );
}

#[test]
fn the_first_start_writes_an_admin_key_for_its_owner_alone_and_logs_only_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let (child, mut log) = spawn(dir.path(), port, &[]);
    let stop = Stop(child);
    let lines = log.wait_for("feedbackd serving");
    let file = dir.path().join("feedbackd.admin-key");
    let key = std::fs::read_to_string(&file).unwrap();
    let key = key.trim();
    assert!(key.starts_with("fbk_") && key.len() > 60, "{key}");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&file).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "{mode:o}");
    }
    let told = lines
        .iter()
        .find(|l| l.contains("admin key"))
        .expect("a line about the key");
    assert!(told.contains("feedbackd.admin-key"), "{told}");
    assert!(
        lines.iter().all(|l| !l.contains(key)),
        "the key in the log: {lines:?}"
    );
    drop(stop);
    // A second start finds the key in force and makes none.
    let (child, mut log) = spawn(dir.path(), port, &[]);
    let _stop = Stop(child);
    let lines = log.wait_for("feedbackd serving");
    assert!(lines.iter().all(|l| !l.contains("admin key")), "{lines:?}");
    assert_eq!(std::fs::read_to_string(&file).unwrap().trim(), key);
}

#[test]
fn keys_are_made_listed_and_revoked_from_the_command_line() {
    let dir = tempfile::tempdir().unwrap();
    let run = |args: &[&str]| {
        let out = feedbackd(dir.path(), args).output().unwrap();
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    };
    let made = run(&["keys", "create", "--role", "connector", "--name", "wechat"]);
    let secret = made.lines().last().unwrap();
    assert!(
        secret.starts_with("fbk_") && !secret.contains(' '),
        "{made}"
    );
    let listed = run(&["keys", "list"]);
    assert!(listed.contains("wechat\tconnector"), "{listed}");
    assert!(!listed.contains(secret), "{listed}");
    run(&["keys", "revoke", "wechat"]);
    assert!(!run(&["keys", "list"]).contains("wechat"));
    assert!(run(&["keys", "list", "--all"]).contains("wechat"));
    // A role that is none, or a scope the role cannot have, is refused with the flag named.
    let out = feedbackd(
        dir.path(),
        &["keys", "create", "--role", "owner", "--name", "x"],
    )
    .output()
    .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--role"));
    let out = feedbackd(
        dir.path(),
        &["keys", "create", "--role", "agent", "--name", "x"],
    )
    .output()
    .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("agent"));
}

#[test]
fn an_unusable_tls_certificate_ends_the_process_with_one_line() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("key.pem"), "-----BEGIN PRIVATE KEY-----\n").unwrap();
    let port = free_port().to_string();
    let listen = format!("127.0.0.1:{port}");
    for (cert, says) in [
        ("missing.pem", "cannot read the TLS certificate missing.pem"),
        (
            "key.pem",
            "the TLS certificate key.pem holds no PEM \"BEGIN CERTIFICATE\"",
        ),
    ] {
        let output = feedbackd(
            dir.path(),
            &[
                "--listen",
                &listen,
                "--tls-cert",
                cert,
                "--tls-key",
                "key.pem",
            ],
        )
        .output()
        .unwrap();
        assert_eq!(output.status.code(), Some(1));
        let stderr = String::from_utf8_lossy(&output.stderr);
        let errors: Vec<_> = stderr.lines().filter(|l| l.contains("ERROR")).collect();
        assert_eq!(errors.len(), 1, "{stderr}");
        assert!(errors[0].contains(says), "{stderr}");
    }
}

#[test]
fn migrate_alone_then_exit() {
    let dir = tempfile::tempdir().unwrap();
    let output = feedbackd(dir.path(), &["migrate", "--log-format", "json"])
        .output()
        .unwrap();
    assert!(output.status.success(), "{output:?}");
    let stderr = String::from_utf8_lossy(&output.stderr);
    let last = stderr.lines().last().expect("a log line");
    let parsed: serde_json::Value =
        serde_json::from_str(last).expect("JSON logs with --log-format json");
    assert_eq!(
        parsed["fields"]["message"], "database schema is up to date",
        "{last}"
    );
    assert!(dir.path().join("feedbackd.db").exists());
}

#[test]
fn a_fresh_install_warns_while_nobody_takes_triage_tickets() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let (child, mut log) = spawn(dir.path(), port, &["--dispatch-interval", "100ms"]);
    let _stop = Stop(child);
    const WARNING: &str = "nobody online can take the triage team's tickets";
    // At start, and again at each sweep of the queues.
    for _ in 0..3 {
        let lines = log.wait_for(WARNING);
        let warning = lines.last().unwrap();
        assert!(
            warning.contains("WARN") && warning.contains("members=0 supervisor=none"),
            "{warning}"
        );
    }
}

/// Kills the server when the test ends, passed or failed.
struct Stop(Child);

impl Drop for Stop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test]
async fn logs_are_plain_text_name_the_call_and_a_callers_mistake_is_not_a_warning() {
    use feedbackd::proto::feedback::v1 as pb;
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let (child, mut log) = spawn(dir.path(), port, &[]);
    let _stop = Stop(child);
    let started = log.wait_for("feedbackd serving");
    let mut client = pb::ticket_service_client::TicketServiceClient::new(authed(dir.path(), port));
    let missing = client
        .get_ticket(pb::GetTicketRequest {
            key: Some(pb::get_ticket_request::Key::TicketId(424242)),
        })
        .await
        .unwrap_err();
    assert_eq!(missing.code(), tonic::Code::NotFound);
    let refused = log.wait_for("rpc refused");
    let line = refused.last().unwrap();
    assert!(
        line.contains(" INFO ") && line.contains("code=NotFound") && line.contains("GetTicket"),
        "{line}"
    );
    client
        .list_tickets(pb::ListTicketsRequest::default())
        .await
        .unwrap();
    let done = log.wait_for("rpc done");
    let line = done.last().unwrap();
    assert!(
        line.contains("duration_ms=") && line.contains("peer=127.0.0.1:"),
        "{line}"
    );

    // A caller's request id is logged and answered; without one, the server makes one up.
    let mut request = tonic::Request::new(pb::ListTicketsRequest::default());
    request
        .metadata_mut()
        .insert("x-request-id", "crm-7f3a".parse().unwrap());
    let reply = client.list_tickets(request).await.unwrap();
    assert_eq!(reply.metadata().get("x-request-id").unwrap(), "crm-7f3a");
    let named = log.wait_for("request_id=crm-7f3a");
    assert!(named.last().unwrap().contains("rpc done"), "{named:?}");
    let made_up = client
        .list_tickets(pb::ListTicketsRequest::default())
        .await
        .unwrap();
    assert_eq!(
        made_up.metadata().get("x-request-id").unwrap().len(),
        16,
        "{:?}",
        made_up.metadata()
    );

    // A customer's phone and email are theirs: no log line carries them, even when the call
    // that brought them is refused.
    let customer = pb::Customer {
        external_id: "u-77".into(),
        phone: "13912345678".into(),
        email: "wang.fang@example.com".into(),
        ..Default::default()
    };
    let ticket = pb::CreateTicketRequest {
        channel: pb::Channel::Email.into(),
        kind: pb::TicketKind::Complaint.into(),
        title: "Invoice wrong".into(),
        description: "The invoice lists the wrong amount".into(),
        customer: Some(customer.clone()),
        ..Default::default()
    };
    client.create_ticket(ticket.clone()).await.unwrap();
    let bad_email = pb::CreateTicketRequest {
        customer: Some(pb::Customer {
            email: "wang.fang@@example.com".into(),
            ..customer
        }),
        ..ticket
    };
    assert_eq!(
        client.create_ticket(bad_email).await.unwrap_err().code(),
        tonic::Code::InvalidArgument
    );
    let mut logged = log.wait_for("rpc done");
    logged.extend(log.wait_for("rpc refused"));
    assert!(
        logged.iter().any(|l| l.contains("CreateTicket")),
        "{logged:?}"
    );
    for line in &logged {
        assert!(
            !line.contains("13912345678") && !line.contains("wang.fang"),
            "personal data in the log: {line}"
        );
    }

    // Piped, not a terminal: no colour codes anywhere.
    for line in started.iter().chain(&refused).chain(&done).chain(&named) {
        assert!(!line.contains('\u{1b}'), "an escape code in {line:?}");
    }
}

#[tokio::test]
async fn a_call_past_its_deadline_is_answered_and_logged_as_deadline_exceeded() {
    use feedbackd::proto::feedback::v1 as pb;
    use sea_orm::{ConnectionTrait, TransactionTrait};
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let (child, mut log) = spawn(dir.path(), port, &["--request-timeout", "300ms"]);
    let _stop = Stop(child);
    log.wait_for("feedbackd serving");
    // Another process holds SQLite's write lock, so the intake waits on the database.
    let url = format!("sqlite://{}", dir.path().join("feedbackd.db").display());
    let other = sea_orm::Database::connect(&url).await.unwrap();
    let holding = other.begin().await.unwrap();
    holding
        .execute_unprepared("CREATE TABLE held (x INTEGER)")
        .await
        .unwrap();
    let mut client = pb::ticket_service_client::TicketServiceClient::new(authed(dir.path(), port));
    let late = client
        .create_ticket(pb::CreateTicketRequest {
            channel: pb::Channel::App.into(),
            kind: pb::TicketKind::Problem.into(),
            title: "Cannot log in".into(),
            description: "The app says the password is wrong".into(),
            customer: Some(pb::Customer {
                external_id: "u-1".into(),
                ..Default::default()
            }),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(late.code(), tonic::Code::DeadlineExceeded, "{late:?}");
    assert!(late.message().contains("--request-timeout"), "{late:?}");
    let logged = log.wait_for("code=DeadlineExceeded");
    let line = logged.last().unwrap();
    assert!(
        line.contains(" WARN ") && line.contains("CreateTicket") && line.contains("duration_ms=3"),
        "{line}"
    );

    // The caller's own deadline, when sooner, is answered the same way, and logged.
    let mut hurried = tonic::Request::new(pb::CreateTicketRequest {
        channel: pb::Channel::App.into(),
        kind: pb::TicketKind::Problem.into(),
        title: "Still cannot log in".into(),
        description: "Same as before".into(),
        customer: Some(pb::Customer {
            external_id: "u-1".into(),
            ..Default::default()
        }),
        ..Default::default()
    });
    hurried.set_timeout(Duration::from_millis(150));
    hurried
        .metadata_mut()
        .insert("x-request-id", "hurried".parse().unwrap());
    let late = client.create_ticket(hurried).await.unwrap_err();
    // tonic's client gives up at the same moment: either answer may reach it first.
    assert!(
        matches!(
            late.code(),
            tonic::Code::DeadlineExceeded | tonic::Code::Cancelled
        ),
        "{late:?}"
    );
    let logged = log.wait_for("request_id=hurried");
    let line = logged.last().unwrap();
    assert!(
        line.contains("code=DeadlineExceeded") && line.contains("CreateTicket"),
        "{line}"
    );
    holding.rollback().await.unwrap();
}

/// The agent desktop example, as `cargo test` builds it beside the tests.
fn agent_desktop() -> Command {
    let deps = std::env::current_exe().unwrap();
    let path = deps
        .parent()
        .and_then(|d| d.parent())
        .unwrap()
        .join("examples/agent_desktop");
    assert!(
        path.exists(),
        "{} is missing: run the whole `cargo test`, which builds the examples",
        path.display()
    );
    Command::new(path)
}

/// Starts the server on `port` over the SQLite file in `dir` with `flags`, reading its log.
fn spawn(dir: &std::path::Path, port: u16, flags: &[&str]) -> (Child, Log) {
    let listen = format!("127.0.0.1:{port}");
    let mut args = vec!["--listen", listen.as_str()];
    args.extend_from_slice(flags);
    let mut child = feedbackd(dir, &args)
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let log = Log::of(&mut child);
    (child, log)
}

/// Starts the server on `port` over the SQLite file in `dir`, and waits until it serves.
fn server(dir: &std::path::Path, port: u16) -> Stop {
    let (child, mut log) = spawn(dir, port, &[]);
    log.wait_for("feedbackd serving");
    Stop(child)
}

#[tokio::test]
async fn the_agent_desktop_lists_its_queue_then_follows_and_waits_out_a_restart() {
    use feedbackd::proto::feedback::v1 as pb;
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let url = format!("http://127.0.0.1:{port}");
    let running = server(dir.path(), port);
    let mut routing =
        pb::routing_service_client::RoutingServiceClient::new(authed(dir.path(), port));
    routing
        .create_team(pb::CreateTeamRequest {
            team: Some(pb::Team {
                id: "desk".into(),
                ..Default::default()
            }),
        })
        .await
        .unwrap();
    // A ticket in the desk's queue, as the desktop will see it; on a connection of its own,
    // as the server restarts in between.
    let queued = |title: &'static str| {
        let mut tickets =
            pb::ticket_service_client::TicketServiceClient::new(authed(dir.path(), port));
        async move {
            let t = tickets
                .create_ticket(pb::CreateTicketRequest {
                    channel: pb::Channel::Api.into(),
                    kind: pb::TicketKind::Problem.into(),
                    title: title.into(),
                    description: "It stopped working".into(),
                    ..Default::default()
                })
                .await
                .unwrap()
                .into_inner()
                .ticket
                .unwrap();
            tickets
                .assign_ticket(pb::AssignTicketRequest {
                    ticket_id: t.id,
                    team: "desk".into(),
                    ..Default::default()
                })
                .await
                .unwrap();
            t.number
        }
    };
    let first = queued("Printer jammed").await;

    let key = std::fs::read_to_string(dir.path().join("feedbackd.admin-key")).unwrap();
    let mut desktop = agent_desktop()
        .env("FEEDBACKD_KEY", key.trim())
        .args([url.as_str(), "desk"])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut shown = Log::read(desktop.stdout.take().unwrap());
    let _desktop = Stop(desktop);
    shown.wait_for("1 open tickets");
    let listed = shown.wait_for(&first);
    assert!(
        listed.last().unwrap().contains("Printer jammed"),
        "{listed:?}"
    );

    let second = queued("Screen flickers").await;
    let moved = shown.wait_for("TICKET_ASSIGNED");
    assert!(moved.last().unwrap().contains(&second), "{moved:?}");

    // The server goes away: the desktop waits longer each time, then resumes where it was.
    drop(running);
    shown.wait_for("trying again in 1 s");
    shown.wait_for("trying again in 2 s");
    let _running = server(dir.path(), port);
    shown.wait_for("reconnected; resuming after #");
    let third = queued("Keyboard missing keys").await;
    let after = shown.wait_for("TICKET_ASSIGNED");
    assert!(after.last().unwrap().contains(&third), "{after:?}");

    // A team that does not exist is not waited for.
    let wrong = agent_desktop()
        .env("FEEDBACKD_KEY", key.trim())
        .args([url.as_str(), "no-such-team"])
        .output()
        .unwrap();
    assert_eq!(wrong.status.code(), Some(2));
    let said = String::from_utf8_lossy(&wrong.stderr);
    assert!(said.contains("team no-such-team not found"), "{said}");
}

/// A stand-in OTLP collector: hands every span it is sent to the test.
struct Collector(tokio::sync::mpsc::UnboundedSender<opentelemetry_proto::tonic::trace::v1::Span>);

#[tonic::async_trait]
impl opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::TraceService
    for Collector
{
    async fn export(
        &self,
        request: tonic::Request<
            opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest,
        >,
    ) -> Result<
        tonic::Response<
            opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceResponse,
        >,
        tonic::Status,
    > {
        for resource in request.into_inner().resource_spans {
            for scope in resource.scope_spans {
                for span in scope.spans {
                    let _ = self.0.send(span);
                }
            }
        }
        Ok(tonic::Response::new(Default::default()))
    }
}

// Two threads: the collector must answer while the test waits for the server to stop.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn traces_go_to_the_otlp_collector_joined_to_the_callers_trace() {
    use feedbackd::proto::feedback::v1 as pb;
    use opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::TraceServiceServer;
    let (spans, mut received) = tokio::sync::mpsc::unbounded_channel();
    let collector = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let collector_addr = collector.local_addr().unwrap();
    tokio::spawn(
        tonic::transport::Server::builder()
            .add_service(TraceServiceServer::new(Collector(spans)))
            .serve_with_incoming(tonic::transport::server::TcpIncoming::from(collector)),
    );

    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let collector_url = format!("http://{collector_addr}");
    let (mut child, mut log) = spawn(dir.path(), port, &["--otlp-endpoint", &collector_url]);
    log.wait_for("feedbackd serving");
    let mut routing =
        pb::routing_service_client::RoutingServiceClient::new(authed(dir.path(), port));
    // The caller's trace, as W3C Trace Context writes it: version, trace id, parent span id,
    // flags (sampled).
    let trace_id = "4bf92f3577b34da6a3ce929d0e0e4736";
    let parent_id = "00f067aa0ba902b7";
    let mut request = tonic::Request::new(pb::CreateTeamRequest {
        team: Some(pb::Team {
            id: "billing".into(),
            ..Default::default()
        }),
    });
    request.metadata_mut().insert(
        "traceparent",
        format!("00-{trace_id}-{parent_id}-01").parse().unwrap(),
    );
    routing.create_team(request).await.unwrap();
    drop(routing);

    // A clean stop sends what is buffered.
    let stopped = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(stopped.success());
    let exited = tokio::task::spawn_blocking(move || child.wait().unwrap())
        .await
        .unwrap();
    assert!(
        exited.success(),
        "{exited:?}: {:?}",
        log.wait_for("stopped")
    );

    // The server flushed its spans before it exited, and the collector took them.
    let mut ours = Vec::new();
    while let Ok(span) = received.try_recv() {
        if hex(&span.trace_id) == trace_id {
            ours.push(span);
        }
    }
    let rpc = ours
        .iter()
        .find(|s| s.name == "rpc")
        .unwrap_or_else(|| panic!("no rpc span in the caller's trace: {ours:#?}"));
    assert_eq!(hex(&rpc.parent_span_id), parent_id, "{rpc:#?}");
    let method = rpc
        .attributes
        .iter()
        .find(|a| a.key == "method")
        .and_then(|a| a.value.as_ref())
        .map(|v| format!("{v:?}"))
        .unwrap_or_default();
    assert!(
        method.contains("/feedback.v1.RoutingService/CreateTeam"),
        "{rpc:#?}"
    );
    let transaction = ours
        .iter()
        .find(|s| s.name == "db.transaction")
        .unwrap_or_else(|| panic!("no transaction span in the caller's trace: {ours:#?}"));
    assert_eq!(transaction.parent_span_id, rpc.span_id, "{transaction:#?}");
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A receiver that holds the first POST without answering (the server is killed while it
/// waits) and accepts the rest, recording each POST's event id.
async fn holding_receiver() -> (String, std::sync::Arc<std::sync::Mutex<Vec<i64>>>) {
    use axum::http::{HeaderMap, StatusCode};
    let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::<i64>::new()));
    let record = seen.clone();
    let app = axum::Router::new().route(
        "/hooks",
        axum::routing::post(move |headers: HeaderMap| {
            let record = record.clone();
            async move {
                let id = headers
                    .get("Feedbackd-Event-Id")
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| v.parse().ok())
                    .unwrap_or(-1);
                let first = {
                    let mut seen = record.lock().unwrap();
                    seen.push(id);
                    seen.len() == 1
                };
                if first {
                    std::future::pending::<()>().await;
                }
                StatusCode::OK
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hooks", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (url, seen)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_killed_mid_delivery_delivers_again_after_the_restart_with_the_same_event_id() {
    use feedbackd::proto::feedback::v1 as pb;
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let flags = [
        "--webhook-timeout",
        "2s",
        "--webhook-retry-initial",
        "100ms",
    ];
    let (receiver, seen) = holding_receiver().await;
    let (child, mut log) = spawn(dir.path(), port, &flags);
    let mut first = Stop(child);
    log.wait_for("feedbackd serving");
    pb::webhook_service_client::WebhookServiceClient::new(authed(dir.path(), port))
        .create_webhook(pb::CreateWebhookRequest {
            webhook: Some(pb::Webhook {
                id: "crm".into(),
                url: receiver,
                event_types: vec![pb::EventType::TicketCreated.into()],
                ..Default::default()
            }),
        })
        .await
        .unwrap();
    let mut client = pb::ticket_service_client::TicketServiceClient::new(authed(dir.path(), port));
    for title in ["Parcel lost", "App crashes", "Refund missing"] {
        client
            .create_ticket(pb::CreateTicketRequest {
                channel: pb::Channel::App.into(),
                kind: pb::TicketKind::Complaint.into(),
                title: title.into(),
                description: "It went wrong".into(),
                customer: Some(pb::Customer {
                    external_id: "c-1".into(),
                    ..Default::default()
                }),
                ..Default::default()
            })
            .await
            .unwrap();
    }
    let deadline = Instant::now() + Duration::from_secs(30);
    while seen.lock().unwrap().is_empty() {
        assert!(Instant::now() < deadline, "no delivery began");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // SIGKILL while the receiver holds the first delivery: nothing records its end.
    first.0.kill().unwrap();
    first.0.wait().unwrap();
    let held = seen.lock().unwrap().clone();
    assert_eq!(held.len(), 1, "one delivery at a time: {held:?}");

    let (child, mut log) = spawn(dir.path(), port, &flags);
    let _second = Stop(child);
    log.wait_for("feedbackd serving");
    let deadline = Instant::now() + Duration::from_secs(30);
    let all = loop {
        let all = seen.lock().unwrap().clone();
        if all.len() >= 4 {
            break all;
        }
        assert!(Instant::now() < deadline, "after the restart: {all:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert_eq!(
        all[1], held[0],
        "the interrupted delivery again, same event id: {all:?}"
    );
    assert!(
        all[1] < all[2] && all[2] < all[3],
        "then the rest in order: {all:?}"
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(seen.lock().unwrap().len(), 4, "nothing more");
}

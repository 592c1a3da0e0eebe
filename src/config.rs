//! Configuration: flags, each with an environment variable, and defaults that just work.

use std::net::SocketAddr;
use std::time::Duration;

use chrono_tz::Tz;
use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::app::{Settings, SurveySettings};
use crate::domain::language::Language;
use crate::domain::notification::Notifier;
use crate::domain::survey::{InvitePolicy, ReopenTo};
use crate::domain::webhook::RetryPolicy;

/// feedbackd: customer feedback and complaints, from intake to a closed loop, over gRPC.
#[derive(Debug, Parser)]
#[command(name = "feedbackd", version, about)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
    #[command(flatten)]
    pub config: Config,
}

#[derive(Debug, Clone, PartialEq, Eq, Subcommand)]
pub enum Command {
    /// Migrate the database and serve gRPC (the default).
    Serve,
    /// Bring the database schema up to date, then exit.
    Migrate,
    /// Create, list and revoke API keys, on the database directly (a running server refuses
    /// a revoked key as soon as it reads the change, within a second).
    #[command(subcommand)]
    Keys(KeysCommand),
}

#[derive(Debug, Clone, PartialEq, Eq, Subcommand)]
pub enum KeysCommand {
    /// Create a key and print it, alone on the last line (it is shown nowhere else).
    Create {
        /// admin, supervisor, agent, connector, customer or analyst.
        #[arg(long)]
        role: String,
        /// Its name, unique: lower-case letters, digits, '-', '_' and '.'.
        #[arg(long)]
        name: String,
        /// A team a supervisor or agent works in; repeat for several.
        #[arg(long = "team")]
        teams: Vec<String>,
        /// The agent an agent key is.
        #[arg(long)]
        agent: Option<String>,
        /// The customer (external id) a customer key is.
        #[arg(long)]
        customer: Option<String>,
    },
    /// List the keys in force (with --all, the revoked ones too).
    List {
        #[arg(long)]
        all: bool,
    },
    /// Revoke a key for good.
    Revoke {
        /// The key's name.
        name: String,
    },
}

#[derive(Debug, Clone, Args)]
pub struct Config {
    /// Address to serve gRPC on.
    #[arg(
        long,
        env = "FEEDBACKD_LISTEN",
        default_value = "127.0.0.1:50051",
        global = true
    )]
    pub listen: SocketAddr,

    /// OTLP/gRPC collector to export traces to, e.g. `http://127.0.0.1:4317`: a span per RPC
    /// (joined to the caller's `traceparent`) and per database transaction. Off unless given.
    #[arg(long, env = "FEEDBACKD_OTLP_ENDPOINT", hide_env_values = true, value_parser = parse_endpoint, global = true)]
    pub otlp_endpoint: Option<String>,

    /// The server's TLS certificate chain (PEM). With --tls-key, gRPC is served over TLS only;
    /// without, in plaintext (fit for loopback alone).
    #[arg(long, env = "FEEDBACKD_TLS_CERT", requires = "tls_key", global = true)]
    pub tls_cert: Option<std::path::PathBuf>,

    /// The private key of --tls-cert (PEM).
    #[arg(long, env = "FEEDBACKD_TLS_KEY", requires = "tls_cert", global = true)]
    pub tls_key: Option<std::path::PathBuf>,

    /// Certificate authorities (PEM) whose client certificates are accepted: with it, every
    /// client must present one (mutual TLS).
    #[arg(
        long,
        env = "FEEDBACKD_TLS_CLIENT_CA",
        requires = "tls_cert",
        global = true
    )]
    pub tls_client_ca: Option<std::path::PathBuf>,

    /// Address to serve Prometheus metrics on, at /metrics (plain HTTP). Off unless given.
    #[arg(long, env = "FEEDBACKD_METRICS_LISTEN", global = true)]
    pub metrics_listen: Option<SocketAddr>,

    /// Database: `sqlite://FILE?mode=rwc` (created if missing) or `postgres://USER:PASS@HOST/DB`.
    /// `--help` does not show a value taken from the environment: it may hold a password.
    #[arg(
        long,
        env = "FEEDBACKD_DATABASE_URL",
        hide_env_values = true,
        default_value = "sqlite://feedbackd.db?mode=rwc",
        global = true
    )]
    pub database_url: String,

    /// Time zone of ticket numbers' dates and of customer-facing times (IANA name).
    #[arg(long, env = "FEEDBACKD_TIMEZONE", default_value = "UTC", value_parser = parse_zone, global = true)]
    pub timezone: Tz,

    /// Language of customer texts when the customer names none and their ticket's text does not
    /// say (Chinese characters say `zh`): `zh` or `en`.
    #[arg(long, env = "FEEDBACKD_LANGUAGE", default_value = "en", value_parser = parse_language, global = true)]
    pub language: Language,

    /// Log format: human-readable text or one JSON object per line. Levels come from RUST_LOG.
    #[arg(
        long,
        env = "FEEDBACKD_LOG_FORMAT",
        value_enum,
        default_value = "text",
        global = true
    )]
    pub log_format: LogFormat,

    /// Most database connections to hold open. Default: 4 on SQLite (one writer at a time,
    /// and each connection is a thread), 16 on PostgreSQL.
    #[arg(long, env = "FEEDBACKD_DB_MAX_CONNECTIONS", global = true)]
    pub db_max_connections: Option<u32>,

    /// Tickets kept in memory for reads, about 3 KB each; 0 keeps none. Each instance keeps
    /// its own, and learns of other instances' changes from the event log.
    #[arg(
        long,
        env = "FEEDBACKD_TICKET_CACHE",
        default_value_t = 20_000,
        global = true
    )]
    pub ticket_cache: usize,

    /// Longest a call may take to answer before it fails with DEADLINE_EXCEEDED (the
    /// caller's own deadline, if sooner, counts too); a stream's later messages are not
    /// limited.
    #[arg(long, env = "FEEDBACKD_REQUEST_TIMEOUT", default_value = "30s", value_parser = parse_duration, global = true)]
    pub request_timeout: Duration,

    /// Most client connections open at once; one more is closed as it comes. Keep it below
    /// the process's open-file limit (`ulimit -n`), less the database pool.
    #[arg(
        long,
        env = "FEEDBACKD_MAX_CONNECTIONS",
        default_value_t = 1000,
        global = true
    )]
    pub max_connections: usize,

    /// A connection from which nothing arrives for this long is closed (a live client
    /// answers the keepalive pings); 0 never closes one for that.
    #[arg(long, env = "FEEDBACKD_IDLE_TIMEOUT", default_value = "2m", value_parser = parse_duration, global = true)]
    pub idle_timeout: Duration,

    /// How often the server pings a connection to check its client is there; 0: never.
    #[arg(long, env = "FEEDBACKD_HTTP2_KEEPALIVE_INTERVAL", default_value = "30s", value_parser = parse_duration, global = true)]
    pub http2_keepalive_interval: Duration,

    /// How long a client has to answer a keepalive ping before its connection is closed.
    #[arg(long, env = "FEEDBACKD_HTTP2_KEEPALIVE_TIMEOUT", default_value = "10s", value_parser = parse_duration, global = true)]
    pub http2_keepalive_timeout: Duration,

    /// Streams a client may open and reset before the server answers them, per connection
    /// (the HTTP/2 "rapid reset" attack); more closes the connection.
    #[arg(
        long,
        env = "FEEDBACKD_HTTP2_MAX_PENDING_RESETS",
        default_value_t = 20,
        global = true
    )]
    pub http2_max_pending_resets: usize,

    /// Streams the server may reset for a client's protocol errors, per connection, before it
    /// closes the connection.
    #[arg(
        long,
        env = "FEEDBACKD_HTTP2_MAX_ERROR_RESETS",
        default_value_t = 1024,
        global = true
    )]
    pub http2_max_error_resets: usize,

    /// Most calls in progress per connection, streams included.
    #[arg(
        long,
        env = "FEEDBACKD_MAX_CONCURRENT_STREAMS",
        default_value_t = 4096,
        global = true
    )]
    pub max_concurrent_streams: u32,

    /// Event batches a watcher may trail the live broadcast by before it is switched to
    /// catching up from the event log.
    #[arg(
        long,
        env = "FEEDBACKD_WATCH_BUFFER",
        default_value_t = 1024,
        global = true
    )]
    pub watch_buffer: usize,

    /// The team that takes tickets no rule and no confident prediction decides; created at
    /// start if missing.
    #[arg(
        long,
        env = "FEEDBACKD_TRIAGE_TEAM",
        default_value = "triage",
        global = true
    )]
    pub triage_team: String,

    /// Least confidence (0 to 1) at which the classifier's proposal of a category or a team is
    /// acted on; below it the ticket goes to triage.
    #[arg(long, env = "FEEDBACKD_CLASSIFIER_THRESHOLD", default_value_t = 0.6, value_parser = parse_share, global = true)]
    pub classifier_threshold: f64,

    /// How old the classifier's model may grow before a resolved or closed ticket makes it
    /// retrain on the resolved tickets (0 turns retraining by itself off).
    #[arg(long, env = "FEEDBACKD_RETRAIN_INTERVAL", default_value = "24h", value_parser = parse_duration, global = true)]
    pub retrain_interval: Duration,

    /// How far back other customers' reports of the same product and category count towards
    /// a ticket's impact (five or more raise its priority).
    #[arg(long, env = "FEEDBACKD_IMPACT_WINDOW", default_value = "2h", value_parser = parse_duration, global = true)]
    pub impact_window: Duration,

    /// How far back a customer's earlier ticket about the same product or category makes a
    /// new one a repeat (which raises its priority and links the two).
    #[arg(long, env = "FEEDBACKD_REPEAT_WINDOW", default_value = "7d", value_parser = parse_duration, global = true)]
    pub repeat_window: Duration,

    /// How often each instance looks for queued tickets that an agent has room for, beyond
    /// the moment capacity frees (a safety net, e.g. after a crash).
    #[arg(long, env = "FEEDBACKD_DISPATCH_INTERVAL", default_value = "30s", value_parser = parse_duration, global = true)]
    pub dispatch_interval: Duration,

    /// How long after a resolve the satisfaction survey is sent (0: at once).
    #[arg(long, env = "FEEDBACKD_SURVEY_DELAY", default_value = "0s", value_parser = parse_duration, global = true)]
    pub survey_delay: Duration,

    /// How long a customer has to answer a survey, from its send; unanswered, the ticket
    /// closes.
    #[arg(long, env = "FEEDBACKD_SURVEY_EXPIRY", default_value = "7d", value_parser = parse_duration, global = true)]
    pub survey_expiry: Duration,

    /// At most one survey per customer within this window (counting other tickets only: a
    /// ticket reopened and resolved again is surveyed again).
    #[arg(long, env = "FEEDBACKD_SURVEY_CUSTOMER_INTERVAL", default_value = "30d", value_parser = parse_duration, global = true)]
    pub survey_customer_interval: Duration,

    /// A rating (1 to 5) at or below this on any rating question reopens the ticket.
    #[arg(long, env = "FEEDBACKD_SURVEY_LOW_SCORE", default_value_t = 3, value_parser = clap::value_parser!(i32).range(1..=4), global = true)]
    pub survey_low_score: i32,

    /// Where a ticket reopened by a low score goes: "supervisor" (of the team that resolved
    /// it, when they can take it; else that team's queue) or "team" (that team's queue).
    #[arg(long, env = "FEEDBACKD_SURVEY_REOPEN_TO", default_value = "supervisor", value_parser = ["supervisor", "team"], global = true)]
    pub survey_reopen_to: String,

    /// How often each instance sends surveys that come due and expires unanswered ones.
    #[arg(long, env = "FEEDBACKD_SURVEY_INTERVAL", default_value = "30s", value_parser = parse_duration, global = true)]
    pub survey_interval: Duration,

    /// The share of an SLA target after which its clock is at risk (SLA_AT_RISK).
    #[arg(long, env = "FEEDBACKD_SLA_AT_RISK", default_value_t = 0.8, value_parser = parse_share, global = true)]
    pub sla_at_risk: f64,

    /// How often each instance looks for SLA clocks at risk or due. Its cost follows the
    /// tickets coming due, not the open ones.
    #[arg(long, env = "FEEDBACKD_SLA_INTERVAL", default_value = "15s", value_parser = parse_duration, global = true)]
    pub sla_interval: Duration,

    /// The working time (in the team's calendar) a team has to accept a task when the task
    /// names none; past it the task is overdue and the team's supervisor is alerted.
    #[arg(long, env = "FEEDBACKD_TASK_ACCEPT_WITHIN", default_value = "1h", value_parser = parse_duration, global = true)]
    pub task_accept_within: Duration,

    /// How long a webhook receiver has to answer an attempt.
    #[arg(long, env = "FEEDBACKD_WEBHOOK_TIMEOUT", default_value = "10s", value_parser = parse_duration, global = true)]
    pub webhook_timeout: Duration,

    /// Attempts before a webhook delivery becomes a dead letter, unless the webhook sets its
    /// own (1 to 50).
    #[arg(long, env = "FEEDBACKD_WEBHOOK_MAX_ATTEMPTS", default_value_t = 8, value_parser = clap::value_parser!(u32).range(1..=50), global = true)]
    pub webhook_max_attempts: u32,

    /// The wait before a failed webhook delivery is tried again; it doubles with each
    /// further failure, up to an hour, with jitter (5s: 2.5-5s, then 5-10s, …).
    #[arg(long, env = "FEEDBACKD_WEBHOOK_RETRY_INITIAL", default_value = "5s", value_parser = parse_duration, global = true)]
    pub webhook_retry_initial: Duration,

    /// How long a webhook's circuit stays open after 5 failed attempts in a row: nothing is
    /// sent to it meanwhile, then one attempt probes it.
    #[arg(long, env = "FEEDBACKD_WEBHOOK_BREAKER_COOLDOWN", default_value = "5m", value_parser = parse_duration, global = true)]
    pub webhook_breaker_cooldown: Duration,

    /// How long a webhook's accepted deliveries stay listed (ListDeliveries); dead letters
    /// stay until they are sent again.
    #[arg(long, env = "FEEDBACKD_WEBHOOK_HISTORY", default_value = "7d", value_parser = parse_duration, global = true)]
    pub webhook_history: Duration,

    /// The survey link that survey invitations carry, with `{token}` where the survey's token
    /// goes, e.g. `https://example.com/s/{token}`. Without it invitations carry no link.
    #[arg(long, env = "FEEDBACKD_SURVEY_URL_TEMPLATE", value_parser = parse_link_template, global = true)]
    pub survey_url_template: Option<String>,

    /// Where the first start writes the admin key it creates when no admin key is in force
    /// (readable by its owner alone). Default: `feedbackd.admin-key` beside the SQLite
    /// database, or in the working directory.
    #[arg(long, env = "FEEDBACKD_ADMIN_KEY_FILE", global = true)]
    pub admin_key_file: Option<std::path::PathBuf>,

    /// Accept JWTs from this issuer (`iss`), signed by --jwt-jwks-file or --jwt-hs256-secret:
    /// claims `sub`, `role`, and `agent`, `teams`, `customer` as the role needs. Off unless
    /// given.
    #[arg(long, env = "FEEDBACKD_JWT_ISSUER", global = true)]
    pub jwt_issuer: Option<String>,

    /// The audience (`aud`) a JWT must name.
    #[arg(
        long,
        env = "FEEDBACKD_JWT_AUDIENCE",
        default_value = "feedbackd",
        global = true
    )]
    pub jwt_audience: String,

    /// The identity provider's public keys (a JWKS document; each key with `kid` and `alg`).
    #[arg(
        long,
        env = "FEEDBACKD_JWT_JWKS_FILE",
        requires = "jwt_issuer",
        global = true
    )]
    pub jwt_jwks_file: Option<std::path::PathBuf>,

    /// The HS256 secret JWTs are signed with, at least 32 bytes (better in the environment
    /// than on a command line others can read).
    #[arg(
        long,
        env = "FEEDBACKD_JWT_HS256_SECRET",
        hide_env_values = true,
        requires = "jwt_issuer",
        conflicts_with = "jwt_jwks_file",
        global = true
    )]
    pub jwt_hs256_secret: Option<String>,

    /// Calls per credential, by role, as `role=N/s|m|h,…`; roles not named keep their
    /// default (admin=1000/s, connector=2000/s, supervisor=100/s, agent=100/s, analyst=50/s,
    /// customer=5/s). Per instance.
    #[arg(long, env = "FEEDBACKD_RATE_LIMIT", default_value = "", value_parser = crate::api::limits::parse_rates, global = true)]
    pub rate_limit:
        std::collections::HashMap<crate::domain::access::Role, crate::api::limits::Rate>,

    /// Tickets one customer may open, whoever sends them. Per instance.
    #[arg(long, env = "FEEDBACKD_RATE_LIMIT_INTAKE", default_value = "10/m", value_parser = crate::api::limits::Rate::parse, global = true)]
    pub rate_limit_intake: crate::api::limits::Rate,

    /// How far back a sender's tickets count when intake looks for a flood of near-identical
    /// ones.
    #[arg(long, env = "FEEDBACKD_ABUSE_WINDOW", default_value = "10m", value_parser = parse_duration, global = true)]
    pub abuse_window: Duration,

    /// Near-identical tickets from one sender within the window (the new one included) that
    /// hold it for review as a suspected malicious complaint; 0 turns the check off, and with
    /// it the hold of tickets that say nothing.
    #[arg(
        long,
        env = "FEEDBACKD_ABUSE_THRESHOLD",
        default_value_t = 5,
        global = true
    )]
    pub abuse_threshold: usize,

    /// How alike two tickets' texts must be (0 to 1, shared character pairs) to count as
    /// near-identical.
    #[arg(long, env = "FEEDBACKD_ABUSE_SIMILARITY", default_value_t = 0.7, value_parser = parse_share, global = true)]
    pub abuse_similarity: f64,

    /// How long a sender confirmed malicious (ConfirmAbuse) may not open tickets.
    #[arg(long, env = "FEEDBACKD_ABUSE_RESTRICTION", default_value = "7d", value_parser = parse_duration, global = true)]
    pub abuse_restriction: Duration,

    /// How long shutdown waits for calls in progress before it gives up on them.
    #[arg(long, env = "FEEDBACKD_SHUTDOWN_GRACE", default_value = "10s", value_parser = parse_duration, global = true)]
    pub shutdown_grace: Duration,

    /// The most bytes one attachment may have: a number with an optional unit (KB, MB, GB in
    /// powers of 1000; KiB, MiB, GiB in powers of 1024). Larger uploads are refused as soon
    /// as they pass it.
    #[arg(long, env = "FEEDBACKD_ATTACHMENT_MAX_BYTES", default_value = "10MB", value_parser = parse_bytes, global = true)]
    pub attachment_max_bytes: u64,

    /// The most bytes the attachments of one ticket may have together.
    #[arg(long, env = "FEEDBACKD_ATTACHMENT_TICKET_MAX_BYTES", default_value = "50MB", value_parser = parse_bytes, global = true)]
    pub attachment_ticket_max_bytes: u64,

    /// The file types attachments may be, as their bytes show them (not their names), by
    /// extension, comma-separated: jpg, png, gif, webp, pdf, mp4, mov, docx, xlsx, zip, …
    /// (any type the `infer` crate's table knows).
    #[arg(long, env = "FEEDBACKD_ATTACHMENT_TYPES", default_value = "jpg,png,pdf,mp4", value_delimiter = ',', value_parser = parse_file_type, global = true)]
    pub attachment_types: Vec<String>,

    /// Keep attachments' bytes in this directory (a file per distinct content, named by its
    /// SHA-256) instead of the database. Created if missing; attachments stored while it was
    /// set are read from it, so keep it set once used.
    #[arg(long, env = "FEEDBACKD_ATTACHMENT_DIR", global = true)]
    pub attachment_dir: Option<std::path::PathBuf>,

    /// The most tickets one insights read may sum ticket by ticket: QueryMetrics by two
    /// dimensions, and the top issues of GetTopIssues and RenderReport. A read over more is
    /// refused (RESOURCE_EXHAUSTED) before it starts; memory and time follow this number.
    #[arg(long, env = "FEEDBACKD_INSIGHTS_MAX_TICKETS", default_value_t = 200_000, value_parser = clap::value_parser!(u64).range(1..), global = true)]
    pub insights_max_tickets: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

impl Config {
    /// The defaults, on another database; for tests and tools that embed the server.
    pub fn with_database(database_url: impl Into<String>) -> Config {
        let mut config = Cli::parse_from(["feedbackd"]).config;
        config.database_url = database_url.into();
        config
    }

    /// How the use cases behave, from these flags.
    pub fn settings(&self) -> Settings {
        let duration = |d: Duration| chrono::Duration::from_std(d).unwrap_or(chrono::Duration::MAX);
        Settings {
            zone: self.timezone,
            language: self.language,
            routing: crate::domain::routing::Settings {
                triage_team: self.triage_team.clone(),
                confidence_threshold: self.classifier_threshold,
            },
            impact_window: duration(self.impact_window),
            repeat_window: duration(self.repeat_window),
            abuse: crate::domain::abuse::Policy {
                window: duration(self.abuse_window),
                threshold: self.abuse_threshold,
                similarity: self.abuse_similarity,
                restriction: duration(self.abuse_restriction),
            },
            retrain_interval: duration(self.retrain_interval),
            dispatch_interval: self.dispatch_interval,
            survey: SurveySettings {
                policy: InvitePolicy {
                    delay: duration(self.survey_delay),
                    expiry: duration(self.survey_expiry),
                    per_customer: duration(self.survey_customer_interval),
                },
                low_score: self.survey_low_score,
                reopen_to: match self.survey_reopen_to.as_str() {
                    "team" => ReopenTo::Team,
                    _ => ReopenTo::Supervisor,
                },
                interval: self.survey_interval,
            },
            sla_interval: self.sla_interval,
            sla_at_risk: self.sla_at_risk,
            task_accept_within: duration(self.task_accept_within),
            notifier: Notifier {
                staff_language: self.language,
                zone: self.timezone,
                survey_link: self.survey_url_template.clone(),
            },
            webhooks: crate::app::webhooks::Settings {
                retry: RetryPolicy {
                    initial: duration(self.webhook_retry_initial),
                    max_attempts: self.webhook_max_attempts,
                    breaker_cooldown: duration(self.webhook_breaker_cooldown),
                },
                timeout: self.webhook_timeout,
                history: duration(self.webhook_history),
            },
            attachments: crate::domain::attachment::Policy {
                max_bytes: self.attachment_max_bytes,
                ticket_max_bytes: self.attachment_ticket_max_bytes,
                types: self.attachment_types.clone(),
            },
            attachment_dir: self.attachment_dir.clone(),
            insights_max_tickets: self.insights_max_tickets,
        }
    }

    /// Where the first admin key is written: --admin-key-file, else beside the SQLite
    /// database, else in the working directory.
    pub fn admin_key_path(&self) -> std::path::PathBuf {
        const NAME: &str = "feedbackd.admin-key";
        if let Some(path) = &self.admin_key_file {
            return path.clone();
        }
        let file = self
            .database_url
            .strip_prefix("sqlite://")
            .or_else(|| self.database_url.strip_prefix("sqlite:"))
            .map(|rest| rest.split('?').next().unwrap_or_default())
            .filter(|file| !file.is_empty() && !file.starts_with(':'));
        match file.and_then(|f| std::path::Path::new(f).parent()) {
            Some(dir) => dir.join(NAME),
            None => std::path::PathBuf::from(NAME),
        }
    }

    /// The kind of database, for the startup log line (never the URL: it may hold a password).
    pub fn database_kind(&self) -> &'static str {
        match self.database_url.split_once(':').map(|(scheme, _)| scheme) {
            Some("postgres" | "postgresql") => "postgresql",
            Some("sqlite") => "sqlite",
            _ => "unknown",
        }
    }
}

fn parse_zone(name: &str) -> Result<Tz, String> {
    name.parse()
        .map_err(|_| format!("unknown time zone {name:?}; use an IANA name such as Asia/Shanghai"))
}

fn parse_language(tag: &str) -> Result<Language, String> {
    Language::parse(tag)
        .ok_or_else(|| format!("{tag:?} is not a language of customer texts: zh or en"))
}

fn parse_share(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(share) if (0.0..=1.0).contains(&share) => Ok(share),
        _ => Err(format!("{text:?} is not a number from 0 to 1")),
    }
}

/// Whether `text` is an http:// or https:// address with a host.
fn is_web_address(text: &str) -> bool {
    text.parse::<http::Uri>()
        .is_ok_and(|uri| matches!(uri.scheme_str(), Some("http" | "https")) && uri.host().is_some())
}

fn parse_endpoint(text: &str) -> Result<String, String> {
    if is_web_address(text) {
        Ok(text.to_owned())
    } else {
        Err(format!(
            "{text:?} is not an http:// or https:// address such as http://127.0.0.1:4317"
        ))
    }
}

/// A survey link template: an http(s) URL with `{token}` in it.
fn parse_link_template(text: &str) -> Result<String, String> {
    let example = "such as https://example.com/s/{token}";
    if !text.contains("{token}") {
        return Err(format!("{text:?} has no {{token}}; give a link {example}"));
    }
    if is_web_address(&text.replace("{token}", "t")) {
        Ok(text.to_owned())
    } else {
        Err(format!(
            "{text:?} is not an http:// or https:// link {example}"
        ))
    }
}

/// `500ms`, `30s`, `5m`, `1h` or `7d`.
/// A size in bytes: a number, with an optional unit (B, KB, MB, GB, KiB, MiB, GiB).
fn parse_bytes(text: &str) -> Result<u64, String> {
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let scale: u64 = match unit.trim() {
        "" | "B" => 1,
        "KB" | "kB" => 1000,
        "MB" => 1000 * 1000,
        "GB" => 1000 * 1000 * 1000,
        "KiB" => 1 << 10,
        "MiB" => 1 << 20,
        "GiB" => 1 << 30,
        _ => {
            return Err(format!(
                "{text:?} is not a size: a number and B, KB, MB, GB, KiB, MiB or GiB"
            ));
        }
    };
    number
        .parse::<u64>()
        .ok()
        .and_then(|n| n.checked_mul(scale))
        .filter(|&n| n > 0)
        .ok_or_else(|| format!("{text:?} is not a size above zero"))
}

/// A file type by its extension, as the type table knows it.
fn parse_file_type(text: &str) -> Result<String, String> {
    let name = text.trim().trim_start_matches('.').to_ascii_lowercase();
    if crate::domain::attachment::known_type(&name) {
        Ok(name)
    } else {
        Err(format!(
            "{text:?} is no file type the server can recognise by its bytes"
        ))
    }
}

fn parse_duration(text: &str) -> Result<Duration, String> {
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (digits, unit) = text.split_at(split);
    let n: u64 = digits
        .parse()
        .map_err(|_| format!("{text:?} is not a duration such as 30s"))?;
    Ok(match unit {
        "ms" => Duration::from_millis(n),
        "s" | "" => Duration::from_secs(n),
        "m" => Duration::from_secs(n * 60),
        "h" => Duration::from_secs(n * 3600),
        "d" => Duration::from_secs(n * 86_400),
        _ => {
            return Err(format!(
                "{text:?} has an unknown unit; use ms, s, m, h or d"
            ));
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_need_no_flags() {
        let cli = Cli::try_parse_from(["feedbackd"]).unwrap();
        assert_eq!(cli.command, None);
        assert_eq!(cli.config.listen, "127.0.0.1:50051".parse().unwrap());
        assert_eq!(cli.config.database_kind(), "sqlite");
        assert_eq!(cli.config.timezone, chrono_tz::UTC);
    }

    #[test]
    fn observability_is_off_unless_asked_for_and_takes_only_addresses() {
        let cli = Cli::try_parse_from(["feedbackd"]).unwrap();
        assert_eq!(cli.config.otlp_endpoint, None);
        assert_eq!(cli.config.metrics_listen, None);
        let cli = Cli::try_parse_from([
            "feedbackd",
            "--otlp-endpoint",
            "http://collector:4317",
            "--metrics-listen",
            "0.0.0.0:9464",
        ])
        .unwrap();
        assert_eq!(
            cli.config.otlp_endpoint.as_deref(),
            Some("http://collector:4317")
        );
        assert_eq!(
            cli.config.metrics_listen,
            Some("0.0.0.0:9464".parse().unwrap())
        );
        for bad in ["collector:4317", "ftp://collector", "http://", "not a url"] {
            assert!(
                Cli::try_parse_from(["feedbackd", "--otlp-endpoint", bad]).is_err(),
                "{bad}"
            );
        }
    }

    #[test]
    fn flags_after_the_subcommand() {
        let cli = Cli::try_parse_from([
            "feedbackd",
            "migrate",
            "--database-url",
            "postgres://x/y",
            "--timezone",
            "Asia/Shanghai",
        ])
        .unwrap();
        assert_eq!(cli.command, Some(Command::Migrate));
        assert_eq!(cli.config.database_kind(), "postgresql");
        assert_eq!(cli.config.timezone, chrono_tz::Asia::Shanghai);
        assert!(Cli::try_parse_from(["feedbackd", "--timezone", "Mars/Base"]).is_err());
    }

    #[test]
    fn survey_links_need_a_token_and_a_web_address() {
        assert!(parse_link_template("https://example.com/s/{token}").is_ok());
        assert!(parse_link_template("https://example.com/s/").is_err());
        assert!(parse_link_template("example.com/{token}").is_err());
        assert!(Cli::try_parse_from(["feedbackd", "--webhook-max-attempts", "0"]).is_err());
    }

    #[test]
    fn sizes_and_file_types() {
        assert_eq!(parse_bytes("10MB"), Ok(10_000_000));
        assert_eq!(parse_bytes("1MiB"), Ok(1_048_576));
        assert_eq!(parse_bytes("512"), Ok(512));
        assert!(parse_bytes("0").is_err());
        assert!(parse_bytes("10 parsecs").is_err());
        assert_eq!(parse_file_type(".PDF"), Ok("pdf".into()));
        assert!(parse_file_type("photo").is_err());
        let cli = Cli::try_parse_from(["feedbackd", "--attachment-types", "png,webp"]).unwrap();
        assert_eq!(cli.config.attachment_types, ["png", "webp"]);
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert!(parse_duration("soon").is_err());
    }
}

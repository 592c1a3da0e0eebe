//! Starting the real server for a test, on SQLite or on the PostgreSQL that
//! `scripts/test.sh` starts, and talking to it through the generated clients.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

use feedbackd::config::Config;
use feedbackd::domain::clock::{Clock, SystemClock};
use feedbackd::proto::feedback::v1 as pb;
use feedbackd::server::RunningServer;
use pb::routing_service_client::RoutingServiceClient;
use pb::ticket_service_client::TicketServiceClient;
use sea_orm::{ConnectionTrait, Database};
use tonic::metadata::{Ascii, MetadataValue};
use tonic::service::Interceptor;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::Channel;

/// A connection that sends a credential with every call.
pub type Authed = InterceptedService<Channel, Bearer>;
pub type Client = TicketServiceClient<Authed>;
pub type Routing = RoutingServiceClient<Authed>;

/// Puts `authorization: Bearer <key>` on every call.
#[derive(Clone)]
pub struct Bearer(MetadataValue<Ascii>);

impl Bearer {
    pub fn new(key: &str) -> Bearer {
        Bearer(format!("Bearer {key}").parse().expect("a key is ASCII"))
    }
}

impl Interceptor for Bearer {
    fn call(
        &mut self,
        mut request: tonic::Request<()>,
    ) -> Result<tonic::Request<()>, tonic::Status> {
        request
            .metadata_mut()
            .insert("authorization", self.0.clone());
        Ok(request)
    }
}

/// The database a test runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// A fresh, empty database for one test, and the directory of its SQLite file and of the
/// admin key the first server writes; they live as long as this value.
pub struct TestDb {
    pub url: String,
    dir: tempfile::TempDir,
}

impl TestDb {
    pub async fn new(backend: Backend) -> TestDb {
        let dir = tempfile::tempdir().expect("temp dir");
        let url = match backend {
            Backend::Sqlite => format!(
                "sqlite://{}?mode=rwc",
                dir.path().join("feedbackd.db").display()
            ),
            Backend::Postgres => fresh_postgres_database().await,
        };
        TestDb { url, dir }
    }

    /// Where the first server on this database writes its admin key.
    pub fn admin_key_file(&self) -> std::path::PathBuf {
        self.dir.path().join("feedbackd.admin-key")
    }

    /// The admin key the first server on this database wrote.
    pub fn admin_key(&self) -> String {
        std::fs::read_to_string(self.admin_key_file())
            .expect("the first server wrote its admin key")
            .trim()
            .to_owned()
    }
}

/// Creates an empty database on the test cluster and returns its URL.
async fn fresh_postgres_database() -> String {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let base = std::env::var("FEEDBACKD_TEST_POSTGRES_URL").expect(
        "FEEDBACKD_TEST_POSTGRES_URL is not set: run the suite with scripts/test.sh, which starts a \
         throwaway PostgreSQL cluster for it",
    );
    let name = format!(
        "t_{}_{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    );
    let admin = Database::connect(&base)
        .await
        .expect("connect to the test cluster");
    admin
        .execute_unprepared(&format!("CREATE DATABASE {name}"))
        .await
        .expect("create a test database");
    admin.close().await.ok();
    let (prefix, _) = base.rsplit_once('/').expect("a URL with a database name");
    format!("{prefix}/{name}")
}

/// The real server on 127.0.0.1 and a connected client, calling as the admin.
pub struct TestServer {
    pub server: RunningServer,
    pub client: Client,
    pub db: Arc<TestDb>,
    /// The admin key the tests call with.
    pub admin_key: String,
}

impl TestServer {
    pub async fn start(backend: Backend) -> TestServer {
        Self::start_on(
            Arc::new(TestDb::new(backend).await),
            Arc::new(SystemClock),
            |_| {},
        )
        .await
    }

    /// A server on an existing database (a second instance), with a clock and settings.
    pub async fn start_on(
        db: Arc<TestDb>,
        clock: Arc<dyn Clock>,
        configure: impl FnOnce(&mut Config),
    ) -> TestServer {
        // The server's logs, for a failing test: RUST_LOG=feedbackd=debug cargo test -- --nocapture
        let _ = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
            .with_test_writer()
            .try_init();
        let mut config = Config::with_database(db.url.clone());
        // SLA passes only where a test asks for them: tests that move a manual clock by days
        // would otherwise see escalations they did not set up.
        config.sla_interval = std::time::Duration::from_secs(3600);
        config.admin_key_file = Some(db.admin_key_file());
        // Tests make many calls and tickets for one customer; the rate limit test sets its own.
        config.rate_limit = feedbackd::api::limits::parse_rates(
            "admin=100000/s,connector=100000/s,supervisor=100000/s,agent=100000/s,\
             analyst=100000/s,customer=100000/s",
        )
        .unwrap();
        config.rate_limit_intake = feedbackd::api::limits::Rate::parse("100000/s").unwrap();
        // Nor are those many near-identical tickets a flood; the abuse tests set a threshold.
        config.abuse_threshold = 0;
        configure(&mut config);
        let server = RunningServer::start_with_clock(config, clock)
            .await
            .expect("server starts");
        let admin_key = db.admin_key();
        let client = TicketServiceClient::new(authed(&server, &admin_key));
        TestServer {
            server,
            client,
            db,
            admin_key,
        }
    }

    /// A connection of its own, calling as the admin.
    pub fn channel(&self) -> Authed {
        authed(&self.server, &self.admin_key)
    }

    /// A connection of its own, calling with `key`.
    pub fn channel_as(&self, key: &str) -> Authed {
        authed(&self.server, key)
    }

    /// Another client on its own connection.
    pub async fn client(&self) -> Client {
        TicketServiceClient::new(self.channel())
    }

    /// A RoutingService client on its own connection.
    pub async fn routing(&self) -> Routing {
        RoutingServiceClient::new(self.channel())
    }

    /// A new API key of `role` named `name`, with `teams`, `agent` and `customer` as the
    /// role needs; returns its secret.
    pub async fn key(
        &self,
        name: &str,
        role: pb::Role,
        teams: &[&str],
        agent: &str,
        customer: &str,
    ) -> String {
        pb::access_service_client::AccessServiceClient::new(self.channel())
            .create_api_key(pb::CreateApiKeyRequest {
                key: Some(pb::ApiKey {
                    name: name.into(),
                    role: role.into(),
                    teams: teams.iter().map(|t| t.to_string()).collect(),
                    agent: agent.into(),
                    customer: customer.into(),
                    ..Default::default()
                }),
            })
            .await
            .expect("create an API key")
            .into_inner()
            .secret
    }

    /// The teams and agents the ticket tests assign to: every agent OFFLINE, so nothing is
    /// assigned behind the test's back, and in every team.
    pub async fn seed_staff(&self) {
        let mut routing = self.routing().await;
        let teams = [
            "after-sales",
            "billing",
            "finance",
            "ops",
            "support",
            "tech",
        ];
        for team in teams {
            routing
                .create_team(pb::CreateTeamRequest {
                    team: Some(pb::Team {
                        id: team.into(),
                        ..Default::default()
                    }),
                })
                .await
                .expect("create team");
        }
        for agent in ["ann", "bea", "bob", "fay", "tom"] {
            routing
                .create_agent(pb::CreateAgentRequest {
                    agent: Some(pb::Agent {
                        id: agent.into(),
                        teams: teams.map(String::from).to_vec(),
                        ..Default::default()
                    }),
                })
                .await
                .expect("create agent");
        }
    }

    pub async fn stop(self) {
        self.server.shutdown().await.expect("clean shutdown");
    }
}

/// A lazily connected channel to `server` that calls with `key`.
pub fn authed(server: &RunningServer, key: &str) -> Authed {
    let channel = Channel::from_shared(server.url())
        .expect("a server URL")
        .connect_lazy();
    InterceptedService::new(channel, Bearer::new(key))
}

/// Runs an async test body once on SQLite and once on PostgreSQL: `both!(name)` makes
/// `name::sqlite` and `name::postgres` from `async fn name(backend: Backend)`.
#[macro_export]
macro_rules! both {
    ($($name:ident),+ $(,)?) => {$(
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                super::$name($crate::support::Backend::Sqlite).await
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                super::$name($crate::support::Backend::Postgres).await
            }
        }
    )+};
}

/// A valid request; tests change what they need.
pub fn new_ticket(title: &str) -> pb::CreateTicketRequest {
    pb::CreateTicketRequest {
        channel: pb::Channel::App.into(),
        kind: pb::TicketKind::Complaint.into(),
        title: title.to_owned(),
        description: "The refund for order 1234 has not arrived after two weeks.".into(),
        product: "mall".into(),
        customer: Some(pb::Customer {
            external_id: "cust-1".into(),
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

pub async fn create(client: &mut Client, title: &str) -> pb::Ticket {
    create_with(client, new_ticket(title)).await
}

pub async fn create_with(client: &mut Client, request: pb::CreateTicketRequest) -> pb::Ticket {
    client
        .create_ticket(request)
        .await
        .expect("create")
        .into_inner()
        .ticket
        .expect("ticket")
}

/// The field names of an INVALID_ARGUMENT's BadRequest details.
pub fn bad_fields(status: &tonic::Status) -> Vec<String> {
    use tonic_types::StatusExt;
    assert_eq!(status.code(), tonic::Code::InvalidArgument, "{status:?}");
    let bad = status
        .get_details_bad_request()
        .expect("BadRequest details");
    bad.field_violations.into_iter().map(|v| v.field).collect()
}

/// What a NOT_FOUND's ResourceInfo details name: the kind of thing and its key.
pub fn missing(status: &tonic::Status) -> (String, String) {
    use tonic_types::StatusExt;
    assert_eq!(status.code(), tonic::Code::NotFound, "{status:?}");
    let info = status
        .get_details_resource_info()
        .expect("ResourceInfo details");
    (info.resource_type, info.resource_name)
}

/// A ticket's history: every change, or the events of `types` (NOTIFICATION only when named).
pub async fn history(c: &mut Client, id: i64, types: &[pb::EventType]) -> Vec<pb::TicketEvent> {
    c.list_ticket_events(pb::ListTicketEventsRequest {
        ticket_id: id,
        event_types: types.iter().map(|&t| t.into()).collect(),
        page_size: 1_000,
        ..Default::default()
    })
    .await
    .expect("the ticket's history")
    .into_inner()
    .events
}

/// The ticket as it stands.
pub async fn get(c: &mut Client, id: i64) -> pb::Ticket {
    c.get_ticket(pb::GetTicketRequest {
        key: Some(pb::get_ticket_request::Key::TicketId(id)),
    })
    .await
    .expect("the ticket")
    .into_inner()
}

pub fn status_of(t: &pb::Ticket) -> pb::TicketStatus {
    pb::TicketStatus::try_from(t.status).expect("known status")
}

/// A team whose tickets about product `team` all go to it, with `agents` (id, online) and
/// a supervisor (none when empty), working by `calendar` (the default when empty).
pub async fn product_team(
    r: &mut Routing,
    team: &str,
    calendar: &str,
    agents: &[(&str, bool)],
    supervisor: &str,
) {
    r.create_team(pb::CreateTeamRequest {
        team: Some(pb::Team {
            id: team.into(),
            calendar: calendar.into(),
            ..Default::default()
        }),
    })
    .await
    .unwrap();
    for &(id, online) in agents {
        let availability = if online {
            pb::Availability::Online
        } else {
            pb::Availability::Offline
        };
        r.create_agent(pb::CreateAgentRequest {
            agent: Some(pb::Agent {
                id: id.into(),
                teams: vec![team.into()],
                capacity: 50,
                availability: availability.into(),
                ..Default::default()
            }),
        })
        .await
        .unwrap();
    }
    if !supervisor.is_empty() {
        r.update_team(pb::UpdateTeamRequest {
            team: Some(pb::Team {
                id: team.into(),
                supervisor: supervisor.into(),
                ..Default::default()
            }),
            update_mask: Some(prost_types::FieldMask {
                paths: vec!["supervisor".into()],
            }),
        })
        .await
        .unwrap();
    }
    r.create_routing_rule(pb::CreateRoutingRuleRequest {
        rule: Some(pb::RoutingRule {
            name: format!("{team} product"),
            conditions: Some(pb::RuleConditions {
                products: vec![team.into()],
                ..Default::default()
            }),
            actions: Some(pb::RuleActions {
                team: team.into(),
                ..Default::default()
            }),
            ..Default::default()
        }),
        position: 0,
        ..Default::default()
    })
    .await
    .unwrap();
}

/// Request bytes sent as they are, and reply bytes taken as they come.
#[derive(Clone, Default)]
pub struct Bytes;

impl tonic::codec::Codec for Bytes {
    type Encode = Vec<u8>;
    type Decode = Vec<u8>;
    type Encoder = Bytes;
    type Decoder = Bytes;

    fn encoder(&mut self) -> Bytes {
        Bytes
    }

    fn decoder(&mut self) -> Bytes {
        Bytes
    }
}

impl tonic::codec::Encoder for Bytes {
    type Item = Vec<u8>;
    type Error = tonic::Status;

    fn encode(
        &mut self,
        item: Vec<u8>,
        dst: &mut tonic::codec::EncodeBuf<'_>,
    ) -> Result<(), tonic::Status> {
        use bytes::BufMut;
        dst.put_slice(&item);
        Ok(())
    }
}

impl tonic::codec::Decoder for Bytes {
    type Item = Vec<u8>;
    type Error = tonic::Status;

    fn decode(
        &mut self,
        src: &mut tonic::codec::DecodeBuf<'_>,
    ) -> Result<Option<Vec<u8>>, tonic::Status> {
        use bytes::Buf;
        Ok(Some(src.copy_to_bytes(src.remaining()).to_vec()))
    }
}

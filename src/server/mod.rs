//! Assembles the gRPC server: the services, health, reflection, tower layers, and a
//! graceful shutdown that ends watch streams with a status clients can act on.

mod auth;
mod connections;
pub mod keys;
mod metrics_endpoint;
mod rpc;
mod runtimes;
pub mod telemetry;
mod webhook_sender;
mod write_behind;

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tokio_util::task::AbortOnDropHandle;
use tonic::codec::CompressionEncoding;
use tonic::transport::server::TcpIncoming;
use tonic::transport::{Certificate, Identity, ServerTlsConfig};

use futures::{Stream, StreamExt};
use tonic::server::NamedService;
use tonic_health::ServingStatus;
use tonic_health::pb::health_server::{Health, HealthServer};
use tonic_health::pb::{HealthCheckRequest, HealthCheckResponse};
use tonic_health::server::{HealthReporter, HealthService};

use crate::api::limits::RateLimits;
use crate::api::{
    AbuseApi, AccessApi, AttachmentApi, Context, InsightsApi, ReplyApi, RoutingApi, SlaApi,
    SurveyApi, TaskApi, TicketApi, WebhookApi,
};
use crate::app::App;
use crate::config::Config;
use crate::domain::clock::{Clock, SystemClock};
use crate::events::EventHub;
use crate::metrics::Metrics;
use crate::proto::feedback::v1::abuse_service_server::AbuseServiceServer;
use crate::proto::feedback::v1::access_service_server::AccessServiceServer;
use crate::proto::feedback::v1::attachment_service_server::AttachmentServiceServer;
use crate::proto::feedback::v1::insights_service_server::InsightsServiceServer;
use crate::proto::feedback::v1::reply_service_server::ReplyServiceServer;
use crate::proto::feedback::v1::routing_service_server::RoutingServiceServer;
use crate::proto::feedback::v1::sla_service_server::SlaServiceServer;
use crate::proto::feedback::v1::survey_service_server::SurveyServiceServer;
use crate::proto::feedback::v1::task_service_server::TaskServiceServer;
use crate::proto::feedback::v1::ticket_service_server::TicketServiceServer;
use crate::proto::feedback::v1::webhook_service_server::WebhookServiceServer;
use crate::runtime::AppRuntime;
use crate::store::{Store, StoreOptions};

/// How long a shutdown waits for a background pass in progress to finish.
const BACKGROUND_GRACE: Duration = Duration::from_secs(10);

/// Largest request accepted, in bytes.
const MAX_MESSAGE: usize = 4 * 1024 * 1024;

/// Opens and migrates the database the configuration names.
pub async fn open_store(config: &Config) -> anyhow::Result<Store> {
    let options = StoreOptions {
        max_connections: config.db_max_connections,
        ticket_cache: config.ticket_cache,
        ..StoreOptions::default()
    };
    let store = Store::connect(&config.database_url, &options)
        .await
        .map_err(|e| anyhow::anyhow!("cannot open the database: {e}"))?;
    store
        .migrate()
        .await
        .map_err(|e| anyhow::anyhow!("cannot migrate the database: {e}"))?;
    Ok(store)
}

/// Where a server listens: gRPC, and the metrics endpoint when `--metrics-listen` asks for one.
pub struct Listeners {
    pub grpc: TcpListener,
    pub metrics: Option<TcpListener>,
    /// Told once the server serves (for an embedding that waits for it).
    ready: Option<tokio::sync::oneshot::Sender<()>>,
}

impl Listeners {
    /// Binds the addresses `config` names, and says which one could not be.
    pub async fn bind(config: &Config) -> anyhow::Result<Listeners> {
        Self::bind_to(config.listen, config.metrics_listen).await
    }

    async fn bind_to(grpc: SocketAddr, metrics: Option<SocketAddr>) -> anyhow::Result<Listeners> {
        let bind = |addr: SocketAddr| async move {
            TcpListener::bind(addr)
                .await
                .map_err(|e| anyhow::anyhow!("cannot listen on {addr}: {e}"))
        };
        Ok(Listeners {
            grpc: bind(grpc).await?,
            metrics: match metrics {
                Some(addr) => Some(bind(addr).await?),
                None => None,
            },
            ready: None,
        })
    }
}

/// Every feedbackd service the same way: gzip both ways and the largest request accepted.
macro_rules! service {
    ($server:ident, $api:expr) => {
        $server::new($api)
            .accept_compressed(CompressionEncoding::Gzip)
            .send_compressed(CompressionEncoding::Gzip)
            .max_decoding_message_size(MAX_MESSAGE)
    };
}

/// The innermost cause of an error from a library that wraps its causes (tonic's
/// "transport error", reqwest's "error sending request"): what actually went wrong.
fn root_cause(e: &(dyn std::error::Error + 'static)) -> String {
    let mut cause = e;
    while let Some(next) = cause.source() {
        cause = next;
    }
    cause.to_string()
}

/// Makes sure --attachment-dir, when given, is a directory the server can write: a start
/// that could store no upload says so instead.
async fn attachment_dir(config: &Config) -> anyhow::Result<()> {
    let Some(dir) = &config.attachment_dir else {
        return Ok(());
    };
    let unusable = |e: &dyn std::fmt::Display| {
        anyhow::anyhow!("--attachment-dir {} is not usable: {e}", dir.display())
    };
    tokio::fs::create_dir_all(dir)
        .await
        .map_err(|e| unusable(&e))?;
    // A spool made and dropped: the folder for uploads in progress exists and takes files.
    crate::store::Spool::create(Some(dir))
        .await
        .map_err(|e| unusable(&e))?;
    Ok(())
}

/// The JWTs that `config` accepts: `None` unless --jwt-issuer is given.
fn jwt(config: &Config) -> anyhow::Result<Option<auth::Jwt>> {
    let Some(issuer) = &config.jwt_issuer else {
        return Ok(None);
    };
    let audience = &config.jwt_audience;
    match (&config.jwt_jwks_file, &config.jwt_hs256_secret) {
        (Some(file), _) => {
            let jwks = std::fs::read(file)
                .map_err(|e| anyhow::anyhow!("cannot read the JWKS {}: {e}", file.display()))?;
            auth::Jwt::with_jwks(issuer, audience, &jwks).map(Some)
        }
        (None, Some(secret)) if secret.len() >= 32 => {
            auth::Jwt::with_secret(issuer, audience, secret.as_bytes()).map(Some)
        }
        (None, Some(_)) => anyhow::bail!("--jwt-hs256-secret must be at least 32 bytes"),
        (None, None) => {
            anyhow::bail!(
                "--jwt-issuer needs the keys to check with: --jwt-jwks-file or --jwt-hs256-secret"
            )
        }
    }
}

/// How often rate-limit buckets that are full again are forgotten.
const FORGET_IDLE_BUCKETS: Duration = Duration::from_secs(60);

/// The TLS that `config` asks for: `None` for plaintext.
fn tls(config: &Config) -> anyhow::Result<Option<ServerTlsConfig>> {
    let (Some(cert), Some(key)) = (&config.tls_cert, &config.tls_key) else {
        return Ok(None);
    };
    // Reads a PEM file and checks it holds what it should, which rustls would only report as
    // "no certificates" or "transport error".
    let read = |path: &std::path::Path, what: &str, marker: &str| {
        let pem = std::fs::read(path)
            .map_err(|e| anyhow::anyhow!("cannot read the {what} {}: {e}", path.display()))?;
        if !String::from_utf8_lossy(&pem).contains(marker) {
            anyhow::bail!("the {what} {} holds no PEM \"{marker}\"", path.display());
        }
        Ok(pem)
    };
    let mut tls = ServerTlsConfig::new().identity(Identity::from_pem(
        read(cert, "TLS certificate", "BEGIN CERTIFICATE")?,
        read(key, "TLS key", "PRIVATE KEY")?,
    ));
    if let Some(ca) = &config.tls_client_ca {
        tls = tls.client_ca_root(Certificate::from_pem(read(
            ca,
            "client CA",
            "BEGIN CERTIFICATE",
        )?));
    }
    Ok(Some(tls))
}

/// Serves on `listener` until `signal` resolves, then shuts down gracefully: health turns
/// NOT_SERVING, watch streams end with UNAVAILABLE and their resume cursor, calls in
/// progress get `config.shutdown_grace` to finish.
pub async fn serve(
    config: &Config,
    store: Store,
    clock: Arc<dyn Clock>,
    listeners: Listeners,
    signal: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    // A certificate or key that cannot serve ends the start before anything else.
    let mut builder = tonic::transport::Server::builder();
    match tls(config)? {
        Some(tls) => {
            builder = builder.tls_config(tls).map_err(|e| {
                // tonic says "transport error"; what went wrong is its source.
                anyhow::anyhow!(
                    "the TLS certificate, key or client CA is not usable: {}",
                    root_cause(&e)
                )
            })?;
        }
        None if !config.listen.ip().is_loopback() => tracing::warn!(
            address = %config.listen,
            "serving plaintext gRPC beyond loopback: anyone on the network can read and send \
             calls; give --tls-cert and --tls-key"
        ),
        None => {}
    }
    let jwt = jwt(config)?;
    attachment_dir(config).await?;
    let shutdown = CancellationToken::new();
    // However serve() ends, its background tasks (tailer, reactions, passes) end with it.
    let _stop_tasks = shutdown.clone().drop_guard();
    let database = store.clone();
    let metrics = Metrics::new(&store);
    let app = App::new(store.clone(), clock, config.settings(), metrics.clone());
    app.install_defaults()
        .await
        .map_err(|e| anyhow::anyhow!("cannot install the defaults: {e}"))?;
    app.warn_if_triage_unattended().await?;
    let admin_key = config.admin_key_path();
    if app
        .ensure_admin_key(&admin_key)
        .await
        .map_err(|e| anyhow::anyhow!("cannot create the first admin key: {e}"))?
    {
        tracing::warn!(
            file = %admin_key.display(),
            "no admin key was in force: created one and wrote it to the file; every call \
             needs `authorization: Bearer <key>`"
        );
    }
    let hub = EventHub::start(
        store.clone(),
        config.watch_buffer,
        shutdown.clone(),
        metrics.clone(),
    )
    .await?;
    let sender = Arc::new(webhook_sender::HttpSender::new(config.webhook_timeout)?);
    let background = app.run(hub.clone(), sender, shutdown.clone());
    let limits = Arc::new(RateLimits::new(
        &config.rate_limit,
        config.rate_limit_intake,
    ));
    tokio::spawn({
        let (limits, stop) = (limits.clone(), shutdown.clone());
        async move {
            while stop
                .run_until_cancelled(tokio::time::sleep(FORGET_IDLE_BUCKETS))
                .await
                .is_some()
            {
                limits.forget_idle();
            }
        }
    });
    let gate = Arc::new(auth::Gate {
        app: app.clone(),
        jwt,
        limits: limits.clone(),
    });
    let cx = Context { app, hub, limits };

    // Said once everything above is ready: a start that fails says why instead.
    if let Some(listener) = listeners.metrics {
        tracing::info!(address = %listener.local_addr()?, "metrics at /metrics");
        tokio::spawn(metrics_endpoint::serve(
            listener,
            metrics.clone(),
            shutdown.clone(),
        ));
    }
    tracing::info!(
        address = %listeners.grpc.local_addr()?,
        database = config.database_kind(),
        timezone = %config.timezone,
        version = env!("CARGO_PKG_VERSION"),
        "feedbackd serving"
    );
    let (health, _) = tonic_health::server::health_reporter();
    set_health(&health, ServingStatus::Serving).await;
    if let Some(ready) = listeners.ready {
        let _ = ready.send(());
    }
    let health_service = HealthServer::new(EndingHealth {
        inner: HealthService::from_health_reporter(health.clone()),
        stop: shutdown.clone(),
    });
    tokio::spawn(watch_database(store, health.clone(), shutdown.clone()));
    // The API's own descriptors, the health service's, and google.rpc's, so that a client
    // such as grpcurl can decode the error details too.
    let reflection = || {
        tonic_reflection::server::Builder::configure()
            .register_encoded_file_descriptor_set(crate::proto::FILE_DESCRIPTOR_SET)
            .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
            .register_encoded_file_descriptor_set(tonic_types::pb::FILE_DESCRIPTOR_SET)
    };

    let draining = shutdown.clone();
    let health_on_stop = health.clone();
    let stop = async move {
        signal.await;
        tracing::info!("shutting down: refusing new calls, ending streams");
        set_health(&health_on_stop, ServingStatus::NotServing).await;
        draining.cancel();
    };

    let in_flight = Arc::new(rpc::InFlight::default());
    let connection_metrics = metrics.clone();
    let network = runtimes::Network::start()?;
    let incoming = {
        let _on = network.handle().enter();
        // Replies are small and latency matters: no Nagle delay on accepted connections.
        TcpIncoming::from(tokio::net::TcpListener::from_std(
            listeners.grpc.into_std()?,
        )?)
        .with_nodelay(Some(true))
    };
    let server = builder
        .max_concurrent_streams(config.max_concurrent_streams)
        .http2_keepalive_interval(Some(config.http2_keepalive_interval).filter(|d| !d.is_zero()))
        .http2_keepalive_timeout(Some(config.http2_keepalive_timeout))
        .http2_max_pending_accept_reset_streams(Some(config.http2_max_pending_resets))
        .http2_max_local_error_reset_streams(Some(config.http2_max_error_resets))
        .layer(runtimes::OnApp {
            app: AppRuntime::current(),
        })
        .layer(rpc::RpcLayer {
            limit: config.request_timeout,
            metrics,
            in_flight: in_flight.clone(),
        })
        .layer(auth::AuthLayer { gate })
        .add_service(health_service)
        .add_service(reflection().build_v1()?)
        .add_service(reflection().build_v1alpha()?)
        .add_service(service!(TicketServiceServer, TicketApi::new(cx.clone())))
        .add_service(service!(RoutingServiceServer, RoutingApi::new(cx.clone())))
        .add_service(service!(SurveyServiceServer, SurveyApi::new(cx.clone())))
        .add_service(service!(SlaServiceServer, SlaApi::new(cx.clone())))
        .add_service(service!(WebhookServiceServer, WebhookApi::new(cx.clone())))
        .add_service(service!(AccessServiceServer, AccessApi::new(cx.clone())))
        .add_service(service!(AbuseServiceServer, AbuseApi::new(cx.clone())))
        .add_service(service!(TaskServiceServer, TaskApi::new(cx.clone())))
        .add_service(service!(ReplyServiceServer, ReplyApi::new(cx.clone())))
        .add_service(service!(
            AttachmentServiceServer,
            AttachmentApi::new(cx.clone())
        ))
        .add_service(service!(InsightsServiceServer, InsightsApi::new(cx)))
        .serve_with_incoming_shutdown(
            connections::limited(
                incoming,
                connections::Limits {
                    max: config.max_connections,
                    idle: Some(config.idle_timeout).filter(|d| !d.is_zero()),
                },
                connection_metrics,
            ),
            stop,
        );

    let mut server = AbortOnDropHandle::new(network.handle().spawn(server));
    tokio::select! {
        result = &mut server => result??,
        () = async { shutdown.cancelled().await; in_flight.settle(config.shutdown_grace).await } => {}
    }
    drop(server);
    drop(network);
    shutdown.cancel();
    // The passes and reactions finish what they hold; nothing writes after the checkpoint.
    for task in background {
        if tokio::time::timeout(BACKGROUND_GRACE, task).await.is_err() {
            tracing::warn!("a background pass did not finish in time; stopping anyway");
        }
    }
    if let Err(error) = database.checkpoint().await {
        tracing::warn!(%error, "could not checkpoint the database; it recovers at the next start");
    }
    tracing::info!("stopped");
    Ok(())
}

/// The services health reports on, besides the server as a whole ("").
const SERVICES: [&str; 11] = [
    <TicketServiceServer<TicketApi> as NamedService>::NAME,
    <RoutingServiceServer<RoutingApi> as NamedService>::NAME,
    <SurveyServiceServer<SurveyApi> as NamedService>::NAME,
    <SlaServiceServer<SlaApi> as NamedService>::NAME,
    <WebhookServiceServer<WebhookApi> as NamedService>::NAME,
    <AccessServiceServer<AccessApi> as NamedService>::NAME,
    <AbuseServiceServer<AbuseApi> as NamedService>::NAME,
    <TaskServiceServer<TaskApi> as NamedService>::NAME,
    <ReplyServiceServer<ReplyApi> as NamedService>::NAME,
    <AttachmentServiceServer<AttachmentApi> as NamedService>::NAME,
    <InsightsServiceServer<InsightsApi> as NamedService>::NAME,
];

/// Sets the status overall and of each service.
async fn set_health(health: &HealthReporter, status: ServingStatus) {
    health.set_service_status("", status).await;
    for service in SERVICES {
        health.set_service_status(service, status).await;
    }
}

/// The standard health service, except that its Watch streams end at shutdown: left open,
/// they would hold the server up for the whole grace period.
struct EndingHealth {
    inner: HealthService,
    stop: CancellationToken,
}

#[tonic::async_trait]
impl Health for EndingHealth {
    async fn check(
        &self,
        request: tonic::Request<HealthCheckRequest>,
    ) -> Result<tonic::Response<HealthCheckResponse>, tonic::Status> {
        self.inner.check(request).await
    }

    type WatchStream =
        Pin<Box<dyn Stream<Item = Result<HealthCheckResponse, tonic::Status>> + Send>>;

    async fn watch(
        &self,
        request: tonic::Request<HealthCheckRequest>,
    ) -> Result<tonic::Response<Self::WatchStream>, tonic::Status> {
        let updates = self.inner.watch(request).await?.into_inner();
        let until_stop = updates.take_until(self.stop.clone().cancelled_owned());
        Ok(tonic::Response::new(Box::pin(until_stop)))
    }
}

/// How often health checks the database.
const DATABASE_CHECK: Duration = Duration::from_secs(5);

/// Reports NOT_SERVING, overall and for every service, while the database does not answer,
/// so load balancers route around an instance that cannot work.
async fn watch_database(store: Store, health: HealthReporter, shutdown: CancellationToken) {
    let mut serving = true;
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tokio::time::sleep(DATABASE_CHECK) => {}
        }
        let reachable = store.ping().await;
        if reachable.is_ok() == serving {
            continue;
        }
        serving = reachable.is_ok();
        let status = if serving {
            ServingStatus::Serving
        } else {
            ServingStatus::NotServing
        };
        match &reachable {
            Ok(()) => tracing::info!("database reachable again; serving"),
            Err(error) => tracing::error!(%error, "database unreachable; reporting NOT_SERVING"),
        }
        set_health(&health, status).await;
    }
}

/// A server running in the background on an ephemeral port: for tests, examples and the
/// load generator, which all speak to it only through the generated clients.
pub struct RunningServer {
    pub addr: SocketAddr,
    /// The metrics endpoint's address, when the configuration asked for one.
    pub metrics_addr: Option<SocketAddr>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: JoinHandle<anyhow::Result<()>>,
}

impl RunningServer {
    /// Opens the configured database and serves on 127.0.0.1 on a free port.
    pub async fn start(config: Config) -> anyhow::Result<RunningServer> {
        Self::start_with_clock(config, Arc::new(SystemClock)).await
    }

    pub async fn start_with_clock(
        config: Config,
        clock: Arc<dyn Clock>,
    ) -> anyhow::Result<RunningServer> {
        let store = open_store(&config).await?;
        let listeners =
            Listeners::bind_to(([127, 0, 0, 1], 0).into(), config.metrics_listen).await?;
        let addr = listeners.grpc.local_addr()?;
        let metrics_addr = match &listeners.metrics {
            Some(listener) => Some(listener.local_addr()?),
            None => None,
        };
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let (ready, serving) = tokio::sync::oneshot::channel();
        let listeners = Listeners {
            ready: Some(ready),
            ..listeners
        };
        let mut task = tokio::spawn(async move {
            serve(&config, store, clock, listeners, async {
                let _ = stopped.await;
            })
            .await
        });
        // Ready when it serves (plaintext or TLS alike); a server that could not start says
        // why here, rather than leaving its callers to find a closed port.
        tokio::select! {
            ended = &mut task => {
                ended??;
                anyhow::bail!("the server stopped as it started");
            }
            _ = serving => {}
        }
        Ok(RunningServer {
            addr,
            metrics_addr,
            stop: Some(stop),
            task,
        })
    }

    /// `http://127.0.0.1:PORT`, for a client to connect to.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Shuts down gracefully and waits until the server has stopped.
    pub async fn shutdown(mut self) -> anyhow::Result<()> {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        (&mut self.task).await?
    }
}

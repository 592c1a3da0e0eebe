//! What the benches share: a fresh database, the release binary serving on it as an operator
//! runs it, and connections that carry an API key. Each bench uses its own part of it.
#![allow(dead_code)]

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use sea_orm::ConnectionTrait;
use tonic::metadata::{Ascii, MetadataValue};
use tonic::service::interceptor::InterceptedService;
use tonic::transport::{Channel, Endpoint};
use tonic::{Request, Status};

/// Where a fresh database for one server comes from.
pub enum Database {
    /// A new file in a temporary directory.
    Sqlite,
    /// A new database on the cluster at this URL (one ending in `/postgres`).
    Postgres(String),
}

impl Database {
    pub fn name(&self) -> &'static str {
        match self {
            Database::Sqlite => "sqlite",
            Database::Postgres(_) => "postgres",
        }
    }

    /// The URL of a database nobody has used, in `dir` for SQLite.
    pub async fn fresh(&self, dir: &std::path::Path) -> anyhow::Result<String> {
        match self {
            Database::Sqlite => Ok(format!(
                "sqlite://{}?mode=rwc",
                dir.join("bench.db").display()
            )),
            Database::Postgres(base) => {
                static DATABASES: AtomicU64 = AtomicU64::new(0);
                let name = format!(
                    "bench_{}_{}",
                    std::process::id(),
                    DATABASES.fetch_add(1, Ordering::Relaxed)
                );
                let admin = sea_orm::Database::connect(base).await?;
                admin
                    .execute_unprepared(&format!("CREATE DATABASE {name}"))
                    .await?;
                admin.close().await?;
                let (cluster, _) = base
                    .rsplit_once('/')
                    .context("a URL with a database name")?;
                Ok(format!("{cluster}/{name}"))
            }
        }
    }
}

/// The release binary serving on a port of its own, as an operator runs it, with its
/// defaults but for where its admin key goes and how fast one key may call. Killed when
/// dropped.
pub struct Served {
    pub process: tokio::process::Child,
    pub addr: Addr,
    /// Keeps the SQLite file, the key file and the server's log until the end.
    dir: tempfile::TempDir,
}

impl Served {
    pub async fn start(url: &str, dir: tempfile::TempDir) -> anyhow::Result<Served> {
        let listen = free_port()?;
        let key_file = dir.path().join("admin-key");
        let log = std::fs::File::create(dir.path().join("server.log"))?;
        let process = tokio::process::Command::new(env!("CARGO_BIN_EXE_feedbackd"))
            .arg("--listen")
            .arg(&listen)
            .arg("--database-url")
            .arg(url)
            .arg("--admin-key-file")
            .arg(&key_file)
            // One admin key carries the whole load here, where a deployment gives each
            // service its own key and bucket. Its bucket is still checked on every call, so
            // what rate limiting costs is measured; only its refusals are not. Likewise the
            // customers' intake buckets.
            .args(["--rate-limit", "admin=10000000/s"])
            .args(["--rate-limit-intake", "10000000/s"])
            .args(["--max-connections", "20000"])
            .env("RUST_LOG", "warn")
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(log)
            .kill_on_drop(true)
            .spawn()
            .context("starting the feedbackd binary")?;
        let url = format!("http://{listen}");
        // Ready once it has written its key and answers the health check.
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let ready = match std::fs::read_to_string(&key_file) {
                Ok(key) if !key.trim().is_empty() => {
                    let addr = Addr {
                        url: url.clone(),
                        key: key.trim().to_owned(),
                    };
                    match connect(&addr, 1).await {
                        Ok(mut channels) => {
                            tonic_health::pb::health_client::HealthClient::new(channels.remove(0))
                                .check(tonic_health::pb::HealthCheckRequest::default())
                                .await
                                .ok()
                                .map(|_| addr)
                        }
                        Err(_) => None,
                    }
                }
                _ => None,
            };
            if let Some(addr) = ready {
                return Ok(Served { process, addr, dir });
            }
            anyhow::ensure!(
                Instant::now() < deadline,
                "feedbackd did not start; its log: {}",
                std::fs::read_to_string(dir.path().join("server.log")).unwrap_or_default()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// What the server has written to its log, and how it ended if it has: for an error that
    /// finds it gone.
    pub fn log(&mut self) -> String {
        let log = std::fs::read_to_string(self.dir.path().join("server.log")).unwrap_or_default();
        match self.process.try_wait() {
            Ok(Some(ended)) => format!("{log}\n(the server ended: {ended})"),
            _ => log,
        }
    }

    /// The server's resident memory, from /proc.
    pub fn resident_bytes(&self) -> Option<u64> {
        let pid = self.process.id()?;
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
        let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
        let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
        Some(kb * 1024)
    }
}

/// A port nobody listens on, for a server about to start.
pub fn free_port() -> anyhow::Result<String> {
    let probe = std::net::TcpListener::bind("127.0.0.1:0")?;
    Ok(probe.local_addr()?.to_string())
}

/// A connection that sends `authorization: Bearer <key>` with every call.
pub type Authed = InterceptedService<Channel, Bearer>;

#[derive(Clone)]
pub struct Bearer(pub MetadataValue<Ascii>);

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
pub struct Addr {
    pub url: String,
    pub key: String,
}

/// `count` separate HTTP/2 connections to `to`, each sending its key (echo gets one of the
/// same length, so both sides carry the same header).
pub async fn connect(to: &Addr, count: usize) -> anyhow::Result<Vec<Authed>> {
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

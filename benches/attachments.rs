//! Attachment throughput and memory: starts the release binary as its own process (as
//! benches/load.rs does) and uploads 10 MB files through the generated client, in 1 MiB
//! chunks: one at a time, then four at once, then downloads one. For each upload it reads the
//! server's peak resident memory (the kernel's high-water mark, reset before the upload) less
//! its resident memory before it: what an upload costs the server in memory. Storage in the
//! database and in a directory (--attachment-dir), on SQLite and (when a cluster is given) on
//! PostgreSQL.
//!
//! `cargo bench --bench attachments` runs SQLite only; `scripts/with-postgres.sh cargo bench
//! --bench attachments` adds PostgreSQL.

use std::time::{Duration, Instant};

use anyhow::Context as _;
use feedbackd::proto::feedback::v1 as pb;
use pb::attachment_service_client::AttachmentServiceClient;
use pb::ticket_service_client::TicketServiceClient;
use pb::upload_attachment_request::Part;

mod common;
use common::Database;
use tonic::metadata::{Ascii, MetadataValue};
use tonic::service::interceptor::InterceptedService;
use tonic::transport::{Channel, Endpoint};

/// The file size the issue asks about: 10 MB, the default limit.
const FILE: usize = 10_000_000;
const CHUNK: usize = 1024 * 1024;
const SEQUENTIAL: usize = 5;
const CONCURRENT: usize = 4;
const MB: f64 = 1_000_000.0;

#[derive(Clone)]
struct Bearer(MetadataValue<Ascii>);

impl tonic::service::Interceptor for Bearer {
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

type Authed = InterceptedService<Channel, Bearer>;

fn main() -> anyhow::Result<()> {
    tokio::runtime::Runtime::new()?.block_on(bench())
}

async fn bench() -> anyhow::Result<()> {
    println!(
        "feedbackd attachments: {} cores, {SEQUENTIAL} uploads of {FILE} bytes one at a time, \
         {CONCURRENT} at once, one download; chunks of {CHUNK} bytes",
        std::thread::available_parallelism().map_or(0, |n| n.get()),
    );
    let mut databases = vec![None];
    match std::env::var("FEEDBACKD_TEST_POSTGRES_URL") {
        Ok(base) => databases.push(Some(base)),
        Err(_) => println!(
            "PostgreSQL skipped: run `scripts/with-postgres.sh cargo bench --bench attachments` \
             to include it"
        ),
    }
    for database in &databases {
        for in_directory in [false, true] {
            measure(database.as_deref(), in_directory).await?;
        }
    }
    Ok(())
}

async fn measure(postgres: Option<&str>, in_directory: bool) -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let database = match postgres {
        None => Database::Sqlite,
        Some(base) => Database::Postgres(base.to_owned()),
    };
    let url = database.fresh(dir.path()).await?;
    let blobs = dir.path().join("blobs");
    let mut args = vec![
        // One ticket takes every upload here.
        "--attachment-ticket-max-bytes".to_owned(),
        "1GB".to_owned(),
    ];
    if in_directory {
        args.push("--attachment-dir".into());
        args.push(blobs.display().to_string());
    }
    let server = Served::start(&url, dir.path(), &args).await?;
    let channel = server.channel().await?;
    let mut tickets = TicketServiceClient::new(channel.clone());
    let ticket = tickets
        .create_ticket(pb::CreateTicketRequest {
            channel: pb::Channel::App.into(),
            kind: pb::TicketKind::Complaint.into(),
            title: "Parcel arrived broken".into(),
            description: "Video of the unboxing attached.".into(),
            customer: Some(pb::Customer {
                external_id: "bench".into(),
                phone: "+8613800138000".into(),
                ..Default::default()
            }),
            ..Default::default()
        })
        .await?
        .into_inner()
        .ticket
        .context("a ticket")?;
    let name = format!(
        "{} {}",
        if postgres.is_some() {
            "PostgreSQL"
        } else {
            "SQLite"
        },
        if in_directory {
            "directory"
        } else {
            "database"
        }
    );

    // One at a time, each file different so that each is stored.
    let mut rates = Vec::new();
    let mut growths = Vec::new();
    let mut last = 0;
    for n in 0..SEQUENTIAL {
        let messages = upload(ticket.id, n as u8);
        let mut files = AttachmentServiceClient::new(channel.clone());
        let before = server.reset_peak()?;
        let began = Instant::now();
        last = files
            .upload_attachment(futures::stream::iter(messages))
            .await?
            .into_inner()
            .attachment
            .context("an attachment")?
            .id;
        rates.push(FILE as f64 / MB / began.elapsed().as_secs_f64());
        growths.push(server.peak()?.saturating_sub(before));
    }
    rates.sort_by(f64::total_cmp);
    println!(
        "{name}: upload {:.1} MB/s (median of {SEQUENTIAL}; {:.1} to {:.1}); server peak memory \
         per upload {:.1} MiB above its {:.1} MiB before (largest of {SEQUENTIAL})",
        rates[SEQUENTIAL / 2],
        rates[0],
        rates[SEQUENTIAL - 1],
        *growths.iter().max().unwrap_or(&0) as f64 / CHUNK as f64,
        server.resident()? as f64 / CHUNK as f64,
    );

    // Several at once, on connections of their own.
    let batches: Vec<_> = (0..CONCURRENT)
        .map(|n| upload(ticket.id, (SEQUENTIAL + n) as u8))
        .collect();
    let mut clients = Vec::new();
    for _ in 0..CONCURRENT {
        clients.push(AttachmentServiceClient::new(server.channel().await?));
    }
    let before = server.reset_peak()?;
    let began = Instant::now();
    let calls = clients
        .into_iter()
        .zip(batches)
        .map(|(mut files, messages)| async move {
            files
                .upload_attachment(futures::stream::iter(messages))
                .await
        });
    for answer in futures::future::join_all(calls).await {
        answer?;
    }
    let elapsed = began.elapsed().as_secs_f64();
    let growth = server.peak()?.saturating_sub(before);
    println!(
        "{name}: {CONCURRENT} uploads at once {:.1} MB/s together; server peak memory {:.1} MiB \
         above before, {:.1} MiB per upload",
        (CONCURRENT * FILE) as f64 / MB / elapsed,
        growth as f64 / CHUNK as f64,
        growth as f64 / CHUNK as f64 / CONCURRENT as f64,
    );

    // And back.
    let mut files = AttachmentServiceClient::new(channel);
    let began = Instant::now();
    let mut stream = files
        .download_attachment(pb::DownloadAttachmentRequest {
            attachment_id: last,
        })
        .await?
        .into_inner();
    let mut bytes = 0;
    while let Some(message) = stream.message().await? {
        if let Some(pb::download_attachment_response::Part::Chunk(chunk)) = message.part {
            bytes += chunk.len();
        }
    }
    anyhow::ensure!(bytes == FILE, "downloaded {bytes} bytes");
    println!(
        "{name}: download {:.1} MB/s",
        FILE as f64 / MB / began.elapsed().as_secs_f64()
    );
    Ok(())
}

/// The messages of one upload: metadata, then a 10 MB file whose bytes say PNG, varied by
/// `seed`, in 1 MiB chunks.
fn upload(ticket_id: i64, seed: u8) -> Vec<pb::UploadAttachmentRequest> {
    let mut file = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR".to_vec();
    file.extend((file.len()..FILE).map(|i| (i as u8).wrapping_mul(31) ^ seed));
    let mut messages = vec![pb::UploadAttachmentRequest {
        part: Some(Part::Metadata(pb::AttachmentMetadata {
            ticket_id,
            file_name: format!("unboxing-{seed}.png"),
            visibility: pb::CommentVisibility::Public.into(),
            ..Default::default()
        })),
    }];
    messages.extend(file.chunks(CHUNK).map(|c| pb::UploadAttachmentRequest {
        part: Some(Part::Chunk(c.to_vec())),
    }));
    messages
}

/// The release binary on a port of its own; killed when dropped.
struct Served {
    process: tokio::process::Child,
    url: String,
    key: String,
}

impl Served {
    async fn start(url: &str, dir: &std::path::Path, args: &[String]) -> anyhow::Result<Served> {
        let listen = std::net::TcpListener::bind("127.0.0.1:0")?
            .local_addr()?
            .to_string();
        let key_file = dir.join("admin-key");
        let process = tokio::process::Command::new(env!("CARGO_BIN_EXE_feedbackd"))
            .args(["--listen", &listen, "--database-url", url])
            .arg("--admin-key-file")
            .arg(&key_file)
            .args(args)
            .env("RUST_LOG", "warn")
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::fs::File::create(dir.join("server.log"))?)
            .kill_on_drop(true)
            .spawn()
            .context("starting the feedbackd binary")?;
        let deadline = Instant::now() + Duration::from_secs(60);
        let key = loop {
            if let Ok(key) = std::fs::read_to_string(&key_file)
                && !key.trim().is_empty()
            {
                break key.trim().to_owned();
            }
            anyhow::ensure!(Instant::now() < deadline, "feedbackd did not start");
            tokio::time::sleep(Duration::from_millis(50)).await;
        };
        let served = Served {
            process,
            url: format!("http://{listen}"),
            key,
        };
        while served.channel().await.is_err() {
            anyhow::ensure!(Instant::now() < deadline, "feedbackd did not answer");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Ok(served)
    }

    async fn channel(&self) -> anyhow::Result<Authed> {
        let channel = Endpoint::from_shared(self.url.clone())?.connect().await?;
        Ok(InterceptedService::new(
            channel,
            Bearer(format!("Bearer {}", self.key).parse()?),
        ))
    }

    /// A field of /proc/PID/status, in bytes.
    fn status(&self, field: &str) -> anyhow::Result<u64> {
        let pid = self.process.id().context("the server is running")?;
        let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
        let kb: u64 = status
            .lines()
            .find(|l| l.starts_with(field))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|kb| kb.parse().ok())
            .with_context(|| format!("{field} in /proc/{pid}/status"))?;
        Ok(kb * 1024)
    }

    fn resident(&self) -> anyhow::Result<u64> {
        self.status("VmRSS:")
    }

    fn peak(&self) -> anyhow::Result<u64> {
        self.status("VmHWM:")
    }

    /// Resets the server's peak resident memory to what it holds now, and returns that.
    fn reset_peak(&self) -> anyhow::Result<u64> {
        let pid = self.process.id().context("the server is running")?;
        std::fs::write(format!("/proc/{pid}/clear_refs"), "5")
            .context("resetting the peak resident memory (/proc/PID/clear_refs)")?;
        self.resident()
    }
}

//! Attachments: uploads by client stream and downloads by server stream, byte for byte; the
//! type decided by the bytes; the limits refused as they are crossed, leaving nothing; the
//! same bytes stored once, in the database or a directory; INTERNAL files kept from
//! customers and connectors in lists, downloads and events; removal for redaction.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use feedbackd::domain::clock::SystemClock;
use feedbackd::proto::feedback::v1 as pb;
use futures::StreamExt;
use pb::attachment_service_client::AttachmentServiceClient;
use pb::upload_attachment_request::Part;
use sea_orm::{ConnectionTrait, Database};
use sha2::Digest;
use tonic::{Code, Status};
use tonic_types::StatusExt;

use crate::both;
use crate::support::{Authed, Backend, Client, TestDb, TestServer, bad_fields, create, missing};

both!(
    an_upload_comes_back_byte_for_byte_with_its_event,
    the_bytes_decide_the_type_not_the_name,
    limits_are_refused_as_they_are_crossed_and_leave_nothing,
    the_same_bytes_are_stored_once_in_the_database,
    a_directory_keeps_one_file_per_content_and_removal_erases_it,
    a_cancelled_upload_leaves_nothing,
    internal_files_never_reach_customers_or_connectors,
    bad_uploads_are_refused_naming_the_field,
);

type Files = AttachmentServiceClient<Authed>;

const PATIENCE: Duration = Duration::from_secs(20);
const MIB: usize = 1024 * 1024;

/// A file of `len` bytes whose bytes say PNG, the rest varied by `seed`.
pub(crate) fn png(len: usize, seed: u8) -> Vec<u8> {
    let mut bytes = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR".to_vec();
    bytes.extend((0..len.saturating_sub(bytes.len())).map(|i| (i as u8).wrapping_mul(31) ^ seed));
    bytes.truncate(len);
    bytes
}

fn metadata(
    ticket_id: i64,
    name: &str,
    visibility: pb::CommentVisibility,
) -> pb::AttachmentMetadata {
    pb::AttachmentMetadata {
        ticket_id,
        file_name: name.into(),
        visibility: visibility.into(),
        ..Default::default()
    }
}

pub(crate) fn public(ticket_id: i64, name: &str) -> pb::AttachmentMetadata {
    metadata(ticket_id, name, pb::CommentVisibility::Public)
}

/// The messages of an upload: the metadata, then the bytes in chunks of `chunk`.
fn messages(
    meta: pb::AttachmentMetadata,
    bytes: &[u8],
    chunk: usize,
) -> Vec<pb::UploadAttachmentRequest> {
    let mut messages = vec![pb::UploadAttachmentRequest {
        part: Some(Part::Metadata(meta)),
    }];
    messages.extend(bytes.chunks(chunk).map(|c| pb::UploadAttachmentRequest {
        part: Some(Part::Chunk(c.to_vec())),
    }));
    messages
}

pub(crate) async fn upload(
    files: &mut Files,
    meta: pb::AttachmentMetadata,
    bytes: &[u8],
) -> Result<pb::Attachment, Status> {
    let stream = futures::stream::iter(messages(meta, bytes, MIB));
    Ok(files
        .upload_attachment(stream)
        .await?
        .into_inner()
        .attachment
        .expect("an attachment"))
}

async fn download(files: &mut Files, id: i64) -> Result<(pb::Attachment, Vec<u8>), Status> {
    use pb::download_attachment_response::Part;
    let mut stream = files
        .download_attachment(pb::DownloadAttachmentRequest { attachment_id: id })
        .await?
        .into_inner();
    let Some(Part::Metadata(meta)) = stream.message().await?.and_then(|m| m.part) else {
        panic!("the metadata first");
    };
    let mut bytes = Vec::new();
    while let Some(message) = stream.message().await? {
        let Some(Part::Chunk(chunk)) = message.part else {
            panic!("chunks after the metadata");
        };
        assert!(chunk.len() <= MIB, "a chunk of {} bytes", chunk.len());
        bytes.extend(chunk);
    }
    Ok((meta, bytes))
}

async fn list(files: &mut Files, ticket_id: i64) -> Result<Vec<pb::Attachment>, Status> {
    Ok(files
        .list_attachments(pb::ListAttachmentsRequest {
            ticket_id,
            ..Default::default()
        })
        .await?
        .into_inner()
        .attachments)
}

async fn events(c: &mut Client, ticket_id: i64) -> Vec<pb::TicketEvent> {
    c.list_ticket_events(pb::ListTicketEventsRequest {
        ticket_id,
        page_size: 1000,
        ..Default::default()
    })
    .await
    .expect("events")
    .into_inner()
    .events
}

fn sha256(bytes: &[u8]) -> String {
    sha2::Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

async fn watch(c: &mut Client, ticket_id: i64) -> tonic::Streaming<pb::WatchTicketsResponse> {
    c.watch_tickets(pb::WatchTicketsRequest {
        ticket_id,
        event_types: vec![pb::EventType::AttachmentAdded.into()],
        ..Default::default()
    })
    .await
    .expect("watch")
    .into_inner()
}

async fn next_event(stream: &mut tonic::Streaming<pb::WatchTicketsResponse>) -> pb::TicketEvent {
    loop {
        let message = tokio::time::timeout(PATIENCE, stream.message())
            .await
            .expect("an event in time")
            .expect("stream ok")
            .expect("stream open");
        if let Some(event) = message.events.into_iter().next() {
            return event;
        }
    }
}

/// Rows in a table of the test's database.
async fn rows(s: &TestServer, table: &str) -> i64 {
    let db = Database::connect(&s.db.url).await.expect("connect");
    let row = db
        .query_one_raw(sea_orm::Statement::from_string(
            db.get_database_backend(),
            format!("SELECT CAST(COUNT(*) AS BIGINT) FROM {table}"),
        ))
        .await
        .expect("count")
        .expect("a row");
    row.try_get_by_index::<i64>(0).expect("a count")
}

async fn an_upload_comes_back_byte_for_byte_with_its_event(backend: Backend) {
    let s = TestServer::start(backend).await;
    let mut c = s.client.clone();
    let mut files = AttachmentServiceClient::new(s.channel());
    let ticket = create(&mut c, "Broken screen on arrival").await;
    let mut stream = watch(&mut c, ticket.id).await;
    let before = events(&mut c, ticket.id).await.len();
    // Three chunks, the last a short one.
    let bytes = png(2 * MIB + 12_345, 7);
    let mut meta = public(ticket.id, "screen.png");
    meta.content_type = "image/png".into();
    let stored = upload(&mut files, meta, &bytes).await.expect("upload");
    assert_eq!(stored.ticket_id, ticket.id);
    assert_eq!(stored.file_name, "screen.png");
    assert_eq!(stored.content_type, "image/png");
    assert_eq!(stored.declared_content_type, "image/png");
    assert_eq!(stored.size_bytes, bytes.len() as i64);
    assert_eq!(stored.sha256, sha256(&bytes));
    assert!(stored.uploaded_by.starts_with("key:"), "{stored:?}");

    let (meta, copy) = download(&mut files, stored.id).await.expect("download");
    assert_eq!(meta, stored);
    assert_eq!(copy.len(), bytes.len());
    assert_eq!(sha256(&copy), stored.sha256);
    assert!(copy == bytes, "the bytes come back as they went");
    assert_eq!(
        list(&mut files, ticket.id).await.unwrap(),
        std::slice::from_ref(&stored)
    );

    // The upload is a change of the ticket, on the stream and in the history.
    let live = next_event(&mut stream).await;
    assert_eq!(live.r#type(), pb::EventType::AttachmentAdded);
    assert_eq!(live.attachment.as_ref(), Some(&stored));
    let history = events(&mut c, ticket.id).await;
    assert_eq!(history.len(), before + 1);
    assert_eq!(history.last().unwrap().attachment.as_ref(), Some(&stored));
    s.stop().await;
}

async fn the_bytes_decide_the_type_not_the_name(backend: Backend) {
    let s = TestServer::start(backend).await;
    let mut c = s.client.clone();
    let mut files = AttachmentServiceClient::new(s.channel());
    let ticket = create(&mut c, "Receipts attached").await;
    let allowed: [(&str, &[u8], &str); 4] = [
        (
            "receipt.jpg",
            b"\xff\xd8\xff\xe0\0\x10JFIF\0\x01\x01",
            "image/jpeg",
        ),
        ("screen.png", b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR", "image/png"),
        (
            "invoice.pdf",
            b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n",
            "application/pdf",
        ),
        (
            "unboxing.mp4",
            b"\0\0\0\x18ftypisom\0\0\x02\0isomiso2",
            "video/mp4",
        ),
    ];
    for (name, bytes, content_type) in allowed {
        let stored = upload(&mut files, public(ticket.id, name), bytes)
            .await
            .expect(name);
        assert_eq!(stored.content_type, content_type, "{name}");
    }
    // A name is only a name: PNG bytes called .jpg are a PNG.
    let renamed = upload(&mut files, public(ticket.id, "photo.jpg"), &png(64, 1))
        .await
        .unwrap();
    assert_eq!(renamed.content_type, "image/png");
    let before = (
        list(&mut files, ticket.id).await.unwrap(),
        events(&mut c, ticket.id).await,
    );
    // A Windows program and a web page dressed as photos.
    let disguised: [&[u8]; 2] = [
        b"MZ\x90\0\x03\0\0\0\x04\0\0\0\xff\xff\0\0",
        b"<!DOCTYPE html><html><script>alert(1)</script></html>",
    ];
    for bytes in disguised {
        let mut meta = public(ticket.id, "photo.jpg");
        meta.content_type = "image/jpeg".into();
        let refused = upload(&mut files, meta, bytes).await.unwrap_err();
        assert_eq!(bad_fields(&refused), ["chunk"], "{refused:?}");
    }
    // The type is known from the first 8 KiB: a large disguised file is refused then.
    let mut large = b"MZ\x90\0".to_vec();
    large.resize(3 * MIB, 0);
    let refused = upload(&mut files, public(ticket.id, "photo.jpg"), &large)
        .await
        .unwrap_err();
    assert_eq!(bad_fields(&refused), ["chunk"]);
    let after = (
        list(&mut files, ticket.id).await.unwrap(),
        events(&mut c, ticket.id).await,
    );
    assert_eq!(before, after, "a refused upload writes nothing");
    s.stop().await;
}

async fn limits_are_refused_as_they_are_crossed_and_leave_nothing(backend: Backend) {
    let db = Arc::new(TestDb::new(backend).await);
    let s = TestServer::start_on(db, Arc::new(SystemClock), |config| {
        config.attachment_max_bytes = 100_000;
        config.attachment_ticket_max_bytes = 250_000;
    })
    .await;
    let mut c = s.client.clone();
    let mut files = AttachmentServiceClient::new(s.channel());
    let ticket = create(&mut c, "Too much to attach").await;
    let before = events(&mut c, ticket.id).await;

    // One byte over: INVALID_ARGUMENT on the bytes, whatever the chunking.
    let refused = upload(&mut files, public(ticket.id, "big.png"), &png(100_001, 2))
        .await
        .unwrap_err();
    assert_eq!(bad_fields(&refused), ["chunk"]);
    assert!(refused.message().contains("100000"), "{refused:?}");
    // A stream that would go on for 256 MiB is refused as soon as it passes the limit: the
    // answer comes while the client still has most of it to send.
    let endless = futures::stream::iter(messages(
        public(ticket.id, "endless.png"),
        &png(64 * 1024, 3),
        64 * 1024,
    ))
    .chain(futures::stream::iter((0..4096).map(|_| {
        pb::UploadAttachmentRequest {
            part: Some(Part::Chunk(vec![0; 64 * 1024])),
        }
    })));
    let refused = files.upload_attachment(endless).await.unwrap_err();
    assert_eq!(bad_fields(&refused), ["chunk"]);
    assert!(list(&mut files, ticket.id).await.unwrap().is_empty());
    assert_eq!(events(&mut c, ticket.id).await, before, "nothing recorded");

    // The ticket's files together: two fit, the third would pass 250 000 bytes.
    for n in 0..2 {
        upload(&mut files, public(ticket.id, "part.png"), &png(90_000, n))
            .await
            .unwrap();
    }
    let refused = upload(&mut files, public(ticket.id, "third.png"), &png(90_000, 9))
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Code::ResourceExhausted, "{refused:?}");
    let quota = refused.get_details_quota_failure().expect("QuotaFailure");
    assert_eq!(quota.violations[0].subject, format!("ticket:{}", ticket.id));
    assert_eq!(list(&mut files, ticket.id).await.unwrap().len(), 2);
    // What still fits is taken.
    upload(&mut files, public(ticket.id, "small.png"), &png(70_000, 4))
        .await
        .unwrap();
    // Another ticket has its own quota.
    let other = create(&mut c, "Another one").await;
    upload(&mut files, public(other.id, "part.png"), &png(90_000, 5))
        .await
        .unwrap();
    s.stop().await;
}

async fn the_same_bytes_are_stored_once_in_the_database(backend: Backend) {
    let s = TestServer::start(backend).await;
    let mut c = s.client.clone();
    let mut files = AttachmentServiceClient::new(s.channel());
    let (first, second) = (create(&mut c, "One").await, create(&mut c, "Two").await);
    let bytes = png(MIB + 10, 6);
    let a = upload(&mut files, public(first.id, "a.png"), &bytes)
        .await
        .unwrap();
    let b = upload(&mut files, public(second.id, "b.png"), &bytes)
        .await
        .unwrap();
    assert_ne!(a.id, b.id);
    assert_eq!(a.sha256, b.sha256);
    assert_eq!(rows(&s, "attachments").await, 2);
    assert_eq!(rows(&s, "attachment_blobs").await, 1, "one blob for both");
    assert_eq!(rows(&s, "attachment_chunks").await, 2, "of two chunks");
    // Removing one keeps the bytes for the other; removing both erases them.
    let remover = files.clone();
    let remove = |id| {
        let mut files = remover.clone();
        async move {
            files
                .delete_attachment(pb::DeleteAttachmentRequest {
                    attachment_id: id,
                    reason: "customer asked to remove their ID card".into(),
                })
                .await
        }
    };
    remove(a.id).await.unwrap();
    assert_eq!(download(&mut files, b.id).await.unwrap().1, bytes);
    let gone = download(&mut files, a.id).await.unwrap_err();
    assert_eq!(missing(&gone).0, "attachment");
    assert_eq!(rows(&s, "attachment_blobs").await, 1);
    remove(b.id).await.unwrap();
    assert_eq!(rows(&s, "attachment_blobs").await, 0);
    assert_eq!(rows(&s, "attachment_chunks").await, 0);
    assert_eq!(remove(b.id).await.unwrap_err().code(), Code::NotFound);
    // Each removal is recorded on its ticket, with the reason.
    let removed = events(&mut c, first.id).await.pop().unwrap();
    assert_eq!(removed.r#type(), pb::EventType::AttachmentRemoved);
    assert_eq!(removed.reason, "customer asked to remove their ID card");
    assert_eq!(removed.attachment.map(|a| a.id), Some(a.id));
    s.stop().await;
}

/// The blob files under `dir`, and the uploads in progress.
fn files_in(dir: &Path) -> (Vec<String>, usize) {
    let mut blobs = Vec::new();
    let mut incoming = 0;
    for shard in std::fs::read_dir(dir).unwrap() {
        let shard = shard.unwrap().path();
        let entries = std::fs::read_dir(&shard).unwrap();
        if shard.ends_with(".incoming") {
            incoming = entries.count();
            continue;
        }
        for entry in entries {
            blobs.push(entry.unwrap().file_name().to_string_lossy().into_owned());
        }
    }
    blobs.sort();
    (blobs, incoming)
}

async fn a_directory_keeps_one_file_per_content_and_removal_erases_it(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let blobs = dir.path().join("attachments");
    let db = Arc::new(TestDb::new(backend).await);
    let s = TestServer::start_on(db, Arc::new(SystemClock), |config| {
        config.attachment_dir = Some(blobs.clone());
    })
    .await;
    let mut c = s.client.clone();
    let mut files = AttachmentServiceClient::new(s.channel());
    let ticket = create(&mut c, "Photos").await;
    let bytes = png(3 * MIB, 8);
    let a = upload(&mut files, public(ticket.id, "a.png"), &bytes)
        .await
        .unwrap();
    let b = upload(&mut files, public(ticket.id, "again.png"), &bytes)
        .await
        .unwrap();
    let other = upload(&mut files, public(ticket.id, "other.png"), &png(5000, 9))
        .await
        .unwrap();
    let (stored, incoming) = files_in(&blobs);
    let mut expected = vec![a.sha256.clone(), other.sha256.clone()];
    expected.sort();
    assert_eq!(stored, expected, "a file per content, named by its hash");
    assert_eq!(incoming, 0, "no upload left behind");
    assert_eq!(
        std::fs::read(blobs.join(&a.sha256[..2]).join(&a.sha256)).unwrap(),
        bytes
    );
    assert_eq!(
        rows(&s, "attachment_chunks").await,
        0,
        "nothing in the database"
    );
    assert_eq!(download(&mut files, b.id).await.unwrap().1, bytes);
    // A refused upload leaves no file either.
    let refused = upload(
        &mut files,
        public(ticket.id, "x.jpg"),
        b"MZ\x90\0\x03\0\0\0",
    )
    .await;
    assert_eq!(refused.unwrap_err().code(), Code::InvalidArgument);
    assert_eq!(files_in(&blobs), (expected, 0));
    for id in [a.id, b.id] {
        files
            .delete_attachment(pb::DeleteAttachmentRequest {
                attachment_id: id,
                reason: "wrong photo".into(),
            })
            .await
            .unwrap();
    }
    assert_eq!(files_in(&blobs), (vec![other.sha256.clone()], 0));
    s.stop().await;
}

async fn a_cancelled_upload_leaves_nothing(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let blobs = dir.path().to_owned();
    let db = Arc::new(TestDb::new(backend).await);
    let s = TestServer::start_on(db, Arc::new(SystemClock), |config| {
        config.attachment_dir = Some(blobs.clone());
    })
    .await;
    let mut c = s.client.clone();
    let files = AttachmentServiceClient::new(s.channel());
    let ticket = create(&mut c, "Video of the fault").await;
    let before = events(&mut c, ticket.id).await;
    let (tx, rx) = tokio::sync::mpsc::channel(4);
    let call = tokio::spawn({
        let mut files = files.clone();
        async move {
            files
                .upload_attachment(tokio_stream::wrappers::ReceiverStream::new(rx))
                .await
        }
    });
    for message in messages(public(ticket.id, "fault.png"), &png(2 * MIB, 1), MIB) {
        tx.send(message).await.unwrap();
    }
    // The server has begun to spool it...
    let incoming = blobs.join(".incoming");
    let deadline = tokio::time::Instant::now() + PATIENCE;
    while !incoming.exists() || std::fs::read_dir(&incoming).unwrap().count() == 0 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the upload never began"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    // ... when the client goes away mid-file.
    call.abort();
    let _ = call.await;
    drop(tx);
    let deadline = tokio::time::Instant::now() + PATIENCE;
    while std::fs::read_dir(&incoming).unwrap().count() > 0 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the spool was left behind"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(files_in(&blobs), (Vec::new(), 0));
    assert!(
        list(&mut files.clone(), ticket.id)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(events(&mut c, ticket.id).await, before);
    assert_eq!(rows(&s, "attachment_blobs").await, 0);
    s.stop().await;
}

async fn internal_files_never_reach_customers_or_connectors(backend: Backend) {
    let s = TestServer::start(backend).await;
    let mut c = s.client.clone();
    let mut staff = AttachmentServiceClient::new(s.channel());
    let ticket = create(&mut c, "Damaged parcel").await;
    let customer_key = s.key("li-lei", pb::Role::Customer, &[], "", "cust-1").await;
    let connector_key = s.key("app", pb::Role::Connector, &[], "", "").await;
    let mut customer = AttachmentServiceClient::new(s.channel_as(&customer_key));
    let mut connector = AttachmentServiceClient::new(s.channel_as(&connector_key));
    let mut customer_tickets = Client::new(s.channel_as(&customer_key));
    let mut stream = watch(&mut customer_tickets, ticket.id).await;

    let internal = upload(
        &mut staff,
        metadata(
            ticket.id,
            "courier-report.pdf",
            pb::CommentVisibility::Internal,
        ),
        b"%PDF-1.4\n% internal\n",
    )
    .await
    .unwrap();
    let shown = upload(&mut staff, public(ticket.id, "label.png"), &png(300, 1))
        .await
        .unwrap();
    // The customer's stream skips the INTERNAL file's event: the next it sees is the public one.
    assert_eq!(
        next_event(&mut stream).await.attachment,
        Some(shown.clone())
    );

    for (who, files) in [("customer", &mut customer), ("connector", &mut connector)] {
        assert_eq!(
            list(files, ticket.id).await.unwrap(),
            std::slice::from_ref(&shown),
            "{who}"
        );
        let refused = download(files, internal.id).await.unwrap_err();
        assert_eq!(
            missing(&refused),
            ("attachment".into(), internal.id.to_string()),
            "{who}"
        );
        assert_eq!(download(files, shown.id).await.unwrap().0, shown, "{who}");
        let refused = upload(
            files,
            metadata(ticket.id, "mine.pdf", pb::CommentVisibility::Internal),
            b"%PDF-1.4\n",
        )
        .await
        .unwrap_err();
        assert_eq!(refused.code(), Code::PermissionDenied, "{who}: {refused:?}");
    }
    let history = events(&mut customer_tickets, ticket.id).await;
    let seen: Vec<_> = history
        .iter()
        .filter_map(|e| e.attachment.clone())
        .collect();
    assert_eq!(seen, std::slice::from_ref(&shown), "the customer's history");
    assert_eq!(
        list(&mut staff, ticket.id).await.unwrap(),
        [internal, shown]
    );

    // The customer attaches a photo to their own ticket, and a connector one for them.
    let theirs = upload(
        &mut customer,
        public(ticket.id, "box.jpg"),
        b"\xff\xd8\xff\xe0\0\x10JFIF\0",
    )
    .await
    .unwrap();
    assert_eq!(theirs.uploaded_by, "customer:cust-1");
    let relayed = upload(&mut connector, public(ticket.id, "box2.png"), &png(40, 2))
        .await
        .unwrap();
    assert_eq!(
        (relayed.uploaded_by.as_str(), relayed.uploaded_via.as_str()),
        ("customer:cust-1", "key:app")
    );
    // Another customer's ticket is as missing to them.
    let mut request = crate::support::new_ticket("Not theirs");
    request.customer.as_mut().unwrap().external_id = "cust-2".into();
    let other = crate::support::create_with(&mut c, request).await;
    let refused = upload(&mut customer, public(other.id, "x.png"), &png(40, 3))
        .await
        .unwrap_err();
    assert_eq!(missing(&refused), ("ticket".into(), other.id.to_string()));
    assert_eq!(
        list(&mut customer, other.id).await.unwrap_err().code(),
        Code::NotFound
    );
    // A blocked sender attaches nothing more, as they write nothing more.
    pb::abuse_service_client::AbuseServiceClient::new(s.channel())
        .block_sender(pb::BlockSenderRequest {
            sender: Some(pb::BlockedSender {
                kind: pb::SenderKind::Customer.into(),
                value: "cust-1".into(),
                reason: "threatens staff".into(),
                ..Default::default()
            }),
        })
        .await
        .unwrap();
    for files in [&mut customer, &mut connector] {
        let refused = upload(files, public(ticket.id, "more.png"), &png(40, 4))
            .await
            .unwrap_err();
        assert_eq!(refused.code(), Code::PermissionDenied, "{refused:?}");
    }
    upload(&mut staff, public(ticket.id, "staff.png"), &png(40, 5))
        .await
        .unwrap();
    s.stop().await;
}

async fn bad_uploads_are_refused_naming_the_field(backend: Backend) {
    let s = TestServer::start(backend).await;
    let mut c = s.client.clone();
    let mut files = AttachmentServiceClient::new(s.channel());
    let ticket = create(&mut c, "Odd uploads").await;
    let other = create(&mut c, "Another ticket").await;
    let chunk = |bytes: Vec<u8>| pb::UploadAttachmentRequest {
        part: Some(Part::Chunk(bytes)),
    };
    let first = || pb::UploadAttachmentRequest {
        part: Some(Part::Metadata(public(ticket.id, "a.png"))),
    };
    let cases: Vec<(Vec<pb::UploadAttachmentRequest>, &str)> = vec![
        (vec![], "metadata"),
        (vec![chunk(png(10, 0))], "metadata"),
        (vec![first(), first()], "metadata"),
        (vec![first()], "chunk"),
        (vec![first(), chunk(Vec::new())], "chunk"),
        (vec![first(), chunk(png(MIB + 1, 0))], "chunk"),
    ];
    for (stream, field) in cases {
        let refused = files
            .upload_attachment(futures::stream::iter(stream))
            .await
            .unwrap_err();
        assert_eq!(bad_fields(&refused), [field], "{refused:?}");
    }
    let bad_meta: [(pb::AttachmentMetadata, &str); 5] = [
        (public(0, "a.png"), "metadata.ticket_id"),
        (public(ticket.id, ""), "metadata.file_name"),
        (public(ticket.id, "../../etc/passwd"), "metadata.file_name"),
        (
            metadata(ticket.id, "a.png", pb::CommentVisibility::Unspecified),
            "metadata.visibility",
        ),
        (
            pb::AttachmentMetadata {
                comment_id: -1,
                ..public(ticket.id, "a.png")
            },
            "metadata.comment_id",
        ),
    ];
    for (meta, field) in bad_meta {
        let refused = upload(&mut files, meta, &png(10, 0)).await.unwrap_err();
        assert_eq!(bad_fields(&refused), [field], "{refused:?}");
    }
    let refused = upload(&mut files, public(987_654, "a.png"), &png(10, 0))
        .await
        .unwrap_err();
    assert_eq!(missing(&refused), ("ticket".into(), "987654".into()));

    // On a comment: of this ticket, with its visibility.
    let note = c
        .add_comment(pb::AddCommentRequest {
            ticket_id: other.id,
            visibility: pb::CommentVisibility::Internal.into(),
            body: "Courier says the box was dry".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .comment
        .unwrap();
    let on = |ticket_id, visibility| pb::AttachmentMetadata {
        comment_id: note.id,
        ..metadata(ticket_id, "a.png", visibility)
    };
    let refused = upload(
        &mut files,
        on(ticket.id, pb::CommentVisibility::Internal),
        &png(10, 0),
    )
    .await
    .unwrap_err();
    assert_eq!(missing(&refused), ("comment".into(), note.id.to_string()));
    let refused = upload(
        &mut files,
        on(other.id, pb::CommentVisibility::Public),
        &png(10, 0),
    )
    .await
    .unwrap_err();
    assert_eq!(bad_fields(&refused), ["metadata.visibility"]);
    let on_note = upload(
        &mut files,
        on(other.id, pb::CommentVisibility::Internal),
        &png(10, 0),
    )
    .await
    .unwrap();
    assert_eq!(on_note.comment_id, note.id);
    let of_note = files
        .list_attachments(pb::ListAttachmentsRequest {
            ticket_id: other.id,
            comment_id: note.id,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .attachments;
    assert_eq!(of_note, std::slice::from_ref(&on_note));
    // The comment shows its files.
    let comments = c
        .list_comments(pb::ListCommentsRequest {
            ticket_id: other.id,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .comments;
    assert_eq!(comments.len(), 1);
    assert_eq!(comments[0].attachments, [on_note]);
    assert!(
        list(&mut files, ticket.id).await.unwrap().is_empty(),
        "nothing of it written"
    );

    // A retry with its request_id answers with the first; other bytes under it are refused.
    let retried = || pb::AttachmentMetadata {
        request_id: "upload-7f3a".into(),
        ..public(ticket.id, "retry.png")
    };
    let first = upload(&mut files, retried(), &png(500, 1)).await.unwrap();
    let again = upload(&mut files, retried(), &png(500, 1)).await.unwrap();
    assert_eq!(first, again);
    let reused = upload(&mut files, retried(), &png(500, 2))
        .await
        .unwrap_err();
    assert_eq!(reused.code(), Code::AlreadyExists, "{reused:?}");
    assert_eq!(list(&mut files, ticket.id).await.unwrap(), [first]);
    s.stop().await;
}

//! AttachmentService: uploads as a client stream (metadata, then chunks), downloads as a server
//! stream, lists, and removal.

use std::pin::Pin;

use futures::{Stream, StreamExt};
use tonic::{Request, Response, Status, Streaming};

use super::check::Check;
use super::paging::Page;
use super::{Context, Reply, caller, convert, reply};
use crate::domain::attachment::{CONTENT_TYPE, MAX_CHUNK, NewAttachment, check_file_name};
use crate::domain::ticket::{Visibility, limits};
use crate::error::{Error, Result};
use crate::proto::feedback::v1::{
    self as pb, attachment_service_server::AttachmentService,
    download_attachment_response::Part as DownloadPart, upload_attachment_request::Part,
};
use crate::runtime::AppRuntime;

/// The AttachmentService handlers.
pub struct AttachmentApi {
    cx: Context,
}

impl AttachmentApi {
    pub fn new(cx: Context) -> Self {
        Self { cx }
    }
}

type DownloadStream =
    Pin<Box<dyn Stream<Item = std::result::Result<pb::DownloadAttachmentResponse, Status>> + Send>>;

/// An upload's first message, checked into what the use case takes.
fn metadata(first: Option<pb::UploadAttachmentRequest>) -> Result<NewAttachment> {
    let Some(Part::Metadata(m)) = first.and_then(|r| r.part) else {
        return Err(Error::invalid(
            "metadata",
            "the first message must carry the metadata alone; the chunks follow it",
        ));
    };
    let mut check = Check::new();
    let ticket_id = check.id("metadata.ticket_id", m.ticket_id);
    if m.comment_id < 0 {
        check.add("metadata.comment_id", "must be a comment id, or 0 for none");
    }
    if let Err(crate::domain::error::Refusal::Invalid { violations, .. }) =
        check_file_name(&m.file_name)
    {
        for v in violations {
            check.add(v.field, v.description);
        }
    }
    let declared_type = check.optional_text("metadata.content_type", &m.content_type, CONTENT_TYPE);
    let visibility: Visibility = check.required("metadata.visibility", m.visibility);
    let request_id = check.optional_text("metadata.request_id", &m.request_id, limits::REQUEST_ID);
    check.finish(NewAttachment {
        ticket_id,
        comment_id: Some(m.comment_id).filter(|&id| id > 0),
        file_name: m.file_name,
        declared_type,
        visibility,
        request_id,
    })
}

/// The bytes of one message after the first: a chunk of 1 byte to [`MAX_CHUNK`].
fn chunk(message: std::result::Result<pb::UploadAttachmentRequest, Status>) -> Result<Vec<u8>> {
    let message = message.map_err(|status| {
        Error::invalid(
            "chunk",
            format!("the upload broke off: {}", status.message()),
        )
    })?;
    match message.part {
        Some(Part::Chunk(bytes)) if bytes.len() > MAX_CHUNK => Err(Error::invalid(
            "chunk",
            format!(
                "holds {} bytes; a chunk may hold at most {MAX_CHUNK} (1 MiB)",
                bytes.len()
            ),
        )),
        Some(Part::Chunk(bytes)) if bytes.is_empty() => Err(Error::invalid(
            "chunk",
            "is empty; a chunk holds 1 byte to 1 MiB",
        )),
        Some(Part::Chunk(bytes)) => Ok(bytes),
        Some(Part::Metadata(_)) => Err(Error::invalid(
            "metadata",
            "comes once, in the first message; the following ones carry chunks",
        )),
        None => Err(Error::invalid(
            "chunk",
            "is required after the first message",
        )),
    }
}

#[tonic::async_trait]
impl AttachmentService for AttachmentApi {
    async fn upload_attachment(
        &self,
        request: Request<Streaming<pb::UploadAttachmentRequest>>,
    ) -> Reply<pb::UploadAttachmentResponse> {
        let by = caller(&request)?;
        let mut stream = request.into_inner();
        reply(
            async {
                let first = stream.message().await.map_err(|status| {
                    Error::invalid(
                        "metadata",
                        format!("the upload broke off: {}", status.message()),
                    )
                })?;
                let new = metadata(first)?;
                let attachment = self
                    .cx
                    .app
                    .upload_attachment(&by, new, stream.map(chunk))
                    .await?;
                Ok(pb::UploadAttachmentResponse {
                    attachment: Some(convert::attachment(attachment)),
                })
            }
            .await,
        )
    }

    type DownloadAttachmentStream = DownloadStream;

    async fn download_attachment(
        &self,
        request: Request<pb::DownloadAttachmentRequest>,
    ) -> Reply<Self::DownloadAttachmentStream> {
        let by = caller(&request)?;
        let r = request.into_inner();
        let mut check = Check::new();
        let id = check.id("attachment_id", r.attachment_id);
        let (attachment, bytes) = match check.done() {
            Ok(()) => self.cx.app.download_attachment(id, &by).await?,
            Err(error) => return Err(error.into()),
        };
        let first = pb::DownloadAttachmentResponse {
            part: Some(DownloadPart::Metadata(convert::attachment(attachment))),
        };
        let chunks = bytes.map(|read| {
            read.map(|chunk| pb::DownloadAttachmentResponse {
                part: Some(DownloadPart::Chunk(chunk)),
            })
            .map_err(Status::from)
        });
        let stream = futures::stream::once(async { Ok(first) }).chain(chunks);
        let stream: DownloadStream = Box::pin(AppRuntime::current().stream(stream));
        Ok(Response::new(stream))
    }

    async fn list_attachments(
        &self,
        request: Request<pb::ListAttachmentsRequest>,
    ) -> Reply<pb::ListAttachmentsResponse> {
        let by = caller(&request)?;
        let r = request.into_inner();
        reply(
            async {
                let mut check = Check::new();
                let id = check.id("ticket_id", r.ticket_id);
                if r.comment_id < 0 {
                    check.add("comment_id", "must be a comment id, or 0 for every file");
                }
                let page: Page<i64> = Page::read(&mut check, &r);
                check.done()?;
                let comment_id = Some(r.comment_id).filter(|&id| id > 0);
                let attachments = self
                    .cx
                    .app
                    .list_attachments(id, comment_id, page.after.unwrap_or(0), page.fetch(), &by)
                    .await?;
                let (attachments, next_page_token) =
                    page.finish(attachments, convert::attachment, |a| a.id);
                Ok(pb::ListAttachmentsResponse {
                    attachments,
                    next_page_token,
                })
            }
            .await,
        )
    }

    async fn delete_attachment(
        &self,
        request: Request<pb::DeleteAttachmentRequest>,
    ) -> Reply<pb::DeleteAttachmentResponse> {
        let by = caller(&request)?;
        let r = request.into_inner();
        reply(
            async {
                let mut check = Check::new();
                let id = check.id("attachment_id", r.attachment_id);
                let reason = check.text("reason", &r.reason, true, limits::REASON);
                check.done()?;
                let attachment = self.cx.app.delete_attachment(&by, id, reason).await?;
                Ok(pb::DeleteAttachmentResponse {
                    attachment: Some(convert::attachment(attachment)),
                })
            }
            .await,
        )
    }
}

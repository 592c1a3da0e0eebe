//! Attachments: upload (checked as the bytes arrive, stored with its event in one
//! transaction), download, list, and removal for redaction.

use futures::{Stream, StreamExt};

use super::App;
use super::tickets::On;
use crate::domain::access::{Caller, Principal, Role};
use crate::domain::attachment::{Attachment, NewAttachment, Received, SNIFF};
use crate::domain::error::{Refusal, shorten};
use crate::domain::event::{Change, EventType};
use crate::domain::idempotency::{check_replay, fingerprint};
use crate::domain::ticket::{Comment, Ticket};
use crate::error::{Error, Found, Result};
use crate::store::Spool;

/// What a download streams: the attachment, then its bytes a chunk at a time.
pub type Download = (
    Attachment,
    std::pin::Pin<Box<dyn Stream<Item = Result<Vec<u8>>> + Send>>,
);

impl App {
    /// Takes an upload in: `new` says what and where, `chunks` bring the bytes. Who may attach
    /// what, and the ticket's room, are checked before the first byte; the file's size and the
    /// ticket's quota with every chunk, and its type once its first bytes are in, each refused
    /// at once. The bytes are spooled to a temporary file, never held whole; the attachment,
    /// its blob (unless the same bytes are stored already) and its ATTACHMENT_ADDED event are
    /// committed together. A refusal, a failure or a caller who goes away leaves nothing.
    pub async fn upload_attachment(
        &self,
        by: &Caller,
        new: NewAttachment,
        chunks: impl Stream<Item = Result<Vec<u8>>>,
    ) -> Result<Attachment> {
        let policy = &self.settings.attachments;
        let dir = self.settings.attachment_dir.as_deref();
        let ticket_id = new.ticket_id;
        let ticket = self
            .store
            .ticket(ticket_id)
            .await?
            .filter(|t| by.works_on(t))
            .found("ticket", ticket_id)?;
        let comment = self.attachment_comment(&ticket, new.comment_id, by).await?;
        by.check_attach(&new, comment.as_ref())?;
        // A blocked sender's files are refused as their messages are.
        if matches!(by.role, Role::Customer | Role::Connector) {
            self.check_sender(&ticket.customer, self.now()).await?;
        }
        let stored = self.store.attachment_bytes(ticket_id).await?;
        policy.check_ticket_total(ticket_id, stored, 1)?;

        let mut spool = Spool::create(dir).await?;
        let mut head = Vec::new();
        let mut content_type = None;
        let mut chunks = std::pin::pin!(chunks);
        while let Some(chunk) = chunks.next().await {
            let chunk = chunk?;
            let size = spool.size() + chunk.len() as u64;
            policy.check_size(size)?;
            policy.check_ticket_total(ticket_id, stored, size)?;
            if content_type.is_none() {
                let take = chunk.len().min(SNIFF - head.len());
                head.extend_from_slice(&chunk[..take]);
                if head.len() == SNIFF {
                    content_type = Some(policy.check_type(&head)?);
                    head = Vec::new();
                }
            }
            spool.write(&chunk).await?;
        }
        if spool.size() == 0 {
            return Err(Error::invalid("chunk", "the file is empty: send its bytes"));
        }
        let content_type = match content_type {
            Some(known) => known,
            None => policy.check_type(&head)?,
        };
        let spooled = spool.finish().await?;
        let received = Received {
            size: spooled.size as i64,
            sha256: spooled.sha256.clone(),
            content_type: content_type.to_owned(),
        };

        let now = self.now();
        let uploader = by.uploader(&ticket.customer.external_id);
        let on = On {
            ticket_id,
            etag: None,
            actor: uploader.0.clone(),
            via: uploader.1.clone(),
            by: by.principal.clone(),
        };
        // The same request is the same file, to the same place, from the same uploader.
        let hash = new
            .request_id
            .as_ref()
            .map(|_| fingerprint(&(&new, &received, &uploader)));
        let write = self.store.begin().await?;
        // Locked first: a concurrent retry waits here and then finds the first upload, and
        // the quota is counted with no other upload to the ticket in between.
        self.lock_for(&write, &on).await?;
        if let Some(request_id) = &new.request_id
            && let Some((first, first_hash)) = self
                .store
                .attachment_by_request_id(&write, request_id)
                .await?
        {
            if first.ticket_id != ticket_id {
                return Err(Refusal::RequestReused {
                    request_id: shorten(request_id),
                }
                .into());
            }
            check_replay(
                request_id,
                first_hash.as_deref(),
                hash.as_deref().unwrap_or_default(),
            )?;
            return Ok(first);
        }
        let stored = self.store.attachment_bytes_in(&write, ticket_id).await?;
        policy.check_ticket_total(ticket_id, stored, spooled.size)?;
        let file = self.store.put_blob(&write, spooled, dir, now).await?;
        let attachment = self
            .store
            .insert_attachment(&write, &new, &received, uploader, hash, now)
            .await?
            .ok_or_else(|| Refusal::RequestReused {
                request_id: shorten(new.request_id.as_deref().unwrap_or_default()),
            })?;
        let changed = self
            .change_in(&write, &on, now, |_| {
                let mut change = Change::of(EventType::AttachmentAdded);
                change.note.attachment = Some(attachment.clone());
                Ok(change)
            })
            .await?;
        match self.finish(write, changed).await {
            Ok(_) => Ok(attachment),
            Err(error) => {
                // Not committed: the file renamed into place is nobody's.
                file.remove().await;
                Err(error)
            }
        }
    }

    /// The attachment `id`, if `by` sees its ticket and, for an INTERNAL one, internal notes:
    /// otherwise as missing.
    pub async fn attachment(&self, id: i64, by: &Principal) -> Result<Attachment> {
        let attachment = self.store.attachment(id).await?.found("attachment", id)?;
        let ticket = self.store.ticket(attachment.ticket_id).await?;
        if ticket.is_some_and(|t| by.sees(&t)) && by.sees_attachment(&attachment) {
            Ok(attachment)
        } else {
            Err(Error::not_found("attachment", id))
        }
    }

    /// Attachment `id` and a stream of its bytes, if `by` may see it.
    pub async fn download_attachment(&self, id: i64, by: &Principal) -> Result<Download> {
        let attachment = self.attachment(id, by).await?;
        let bytes = self
            .store
            .read_blob(&attachment.sha256, self.settings.attachment_dir.as_deref())
            .await?;
        Ok((attachment, Box::pin(bytes)))
    }

    /// Up to `limit` attachments of ticket `ticket_id` (of one of its comments, if given) after
    /// attachment `after`, as `by` may see them: PUBLIC ones alone for those who do not see
    /// internal notes.
    pub async fn list_attachments(
        &self,
        ticket_id: i64,
        comment_id: Option<i64>,
        after: i64,
        limit: u64,
        by: &Principal,
    ) -> Result<Vec<Attachment>> {
        let ticket = self.visible_ticket(ticket_id, by).await?;
        if comment_id.is_some() {
            self.attachment_comment(&ticket, comment_id, by).await?;
        }
        self.store
            .list_attachments(ticket_id, comment_id, !by.sees_internal(), after, limit)
            .await
    }

    /// Removes attachment `id` from its ticket, for `reason`, with an ATTACHMENT_REMOVED
    /// event; its bytes are erased once no other attachment has them.
    pub async fn delete_attachment(
        &self,
        by: &Caller,
        id: i64,
        reason: String,
    ) -> Result<Attachment> {
        let attachment = self.attachment(id, by).await?;
        let now = self.now();
        let on = On {
            ticket_id: attachment.ticket_id,
            etag: None,
            actor: by.actor(),
            via: None,
            by: by.principal.clone(),
        };
        let dir = self.settings.attachment_dir.as_deref();
        let write = self.store.begin().await?;
        self.lock_for(&write, &on).await?;
        let file = self
            .store
            .delete_attachment(&write, &attachment, dir)
            .await?
            // Removed meanwhile by someone else.
            .found("attachment", id)?;
        let changed = self
            .change_in(&write, &on, now, |_| {
                let mut change = Change::of(EventType::AttachmentRemoved).because(reason);
                change.note.attachment = Some(attachment.clone());
                Ok(change)
            })
            .await?;
        self.finish(write, changed).await?;
        file.remove().await;
        Ok(attachment)
    }

    /// The comment `comment_id` of `ticket`, as `by` may see it; none asked, none found.
    async fn attachment_comment(
        &self,
        ticket: &Ticket,
        comment_id: Option<i64>,
        by: &Principal,
    ) -> Result<Option<Comment>> {
        let Some(id) = comment_id else {
            return Ok(None);
        };
        let comment = self
            .store
            .comment(id)
            .await?
            .filter(|c| c.ticket_id == ticket.id)
            .filter(|c| {
                by.sees_internal() || c.visibility == crate::domain::ticket::Visibility::Public
            })
            .found("comment", id)?;
        Ok(Some(comment))
    }
}

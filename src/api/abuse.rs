//! AbuseService: held tickets released or confirmed malicious, and blocked senders.

use tonic::Request;

use super::check::Check;
use super::convert::{self, timestamp};
use super::paging::by_id;
use super::tickets::verb;
use super::{Context, Reply, caller, etag, reply};
use crate::app::tickets::On;
use crate::domain::abuse::{BlockedSender, SenderKind};
use crate::domain::contact::{is_valid_email, is_valid_phone};
use crate::domain::error::{Versioned, quote};
use crate::domain::ticket::limits;
use crate::proto::feedback::v1::{self as pb, abuse_service_server::AbuseService};

/// The AbuseService handlers.
pub struct AbuseApi {
    cx: Context,
}

impl AbuseApi {
    pub fn new(cx: Context) -> Self {
        Self { cx }
    }
}

/// The sender a request names: its kind, and a value that could identify one of that kind.
fn sender(check: &mut Check, prefix: &str, kind: i32, value: &str) -> (SenderKind, String) {
    let kind: SenderKind = check.required(&format!("{prefix}kind"), kind);
    let field = format!("{prefix}value");
    let (max, valid): (usize, fn(&str) -> bool) = match kind {
        SenderKind::Customer => (limits::EXTERNAL_ID, |_| true),
        SenderKind::Phone => (limits::PHONE, is_valid_phone),
        SenderKind::Email => (limits::EMAIL, is_valid_email),
    };
    let value = check.text(&field, value, true, max);
    if !value.is_empty() && !valid(&value) {
        check.add(
            field,
            format!("{} is not a {kind} as tickets carry it", quote(&value)),
        );
    }
    (kind, value)
}

fn blocked_sender(b: BlockedSender) -> pb::BlockedSender {
    pb::BlockedSender {
        key: b.key(),
        kind: pb::SenderKind::from(b.kind).into(),
        etag: b.etag(),
        value: b.value,
        reason: b.reason,
        until: b.until.map(timestamp),
        ticket_number: b.ticket.unwrap_or_default(),
        created_by: b.created_by,
        create_time: Some(timestamp(b.created_at)),
        update_time: Some(timestamp(b.updated_at)),
    }
}

#[tonic::async_trait]
impl AbuseService for AbuseApi {
    async fn release_ticket(
        &self,
        request: Request<pb::ReleaseTicketRequest>,
    ) -> Reply<pb::ReleaseTicketResponse> {
        let by = caller(&request)?;
        let r = request.into_inner();
        let app = &self.cx.app;
        let call = async |on, reason| app.release_ticket(on, reason).await;
        let read = |check: &mut Check| check.optional_text("reason", &r.reason, limits::REASON);
        let target = (r.ticket_id, r.etag.as_str(), ("actor", ""));
        let ticket = verb(&by, target, read, call).await;
        reply(ticket.map(|ticket| pb::ReleaseTicketResponse { ticket }))
    }

    async fn confirm_abuse(
        &self,
        request: Request<pb::ConfirmAbuseRequest>,
    ) -> Reply<pb::ConfirmAbuseResponse> {
        let by = caller(&request)?;
        let r = request.into_inner();
        reply(
            async {
                let mut check = Check::new();
                let id = check.id("ticket_id", r.ticket_id);
                let reason = check.text("reason", &r.reason, true, limits::REASON);
                let restriction = r.restriction.as_ref().and_then(|d| {
                    check.duration(
                        "restriction",
                        d,
                        chrono::Duration::minutes(1),
                        chrono::Duration::days(3650),
                    )
                });
                let seen = etag(&r.etag).map(|e| check.text("etag", e, false, limits::KEY));
                check.done()?;
                let on = On::by(&by, id, seen, by.acting("", "")?);
                let (ticket, blocks) = self
                    .cx
                    .app
                    .confirm_abuse(on, &by, reason, restriction)
                    .await?;
                Ok(pb::ConfirmAbuseResponse {
                    ticket: Some(convert::ticket(ticket)),
                    blocks: blocks.into_iter().map(blocked_sender).collect(),
                })
            }
            .await,
        )
    }

    async fn block_sender(
        &self,
        request: Request<pb::BlockSenderRequest>,
    ) -> Reply<pb::BlockedSender> {
        let by = caller(&request)?;
        let r = request.into_inner();
        let app = &self.cx.app;
        reply(
            async {
                let mut check = Check::new();
                let given = r.sender.unwrap_or_default();
                let (kind, value) = sender(&mut check, "sender.", given.kind, &given.value);
                let reason = check.text("sender.reason", &given.reason, true, limits::REASON);
                let until = check.timestamp("sender.until", given.until.as_ref());
                if until.is_some_and(|until| until <= app.now()) {
                    check.add("sender.until", "lies in the past: the block would not hold");
                }
                check.done()?;
                let block =
                    BlockedSender::new(kind, &value, &reason, until, &by.actor(), app.now());
                Ok(blocked_sender(app.block_sender(block, &by).await?))
            }
            .await,
        )
    }

    async fn unblock_sender(
        &self,
        request: Request<pb::UnblockSenderRequest>,
    ) -> Reply<pb::UnblockSenderResponse> {
        let by = caller(&request)?;
        let r = request.into_inner();
        reply(
            async {
                let mut check = Check::new();
                let (kind, value) = sender(&mut check, "", r.kind, &r.value);
                let seen = etag(&r.etag).map(|e| check.text("etag", e, false, limits::KEY));
                check.done()?;
                let key = BlockedSender::key_of(kind, &value);
                self.cx
                    .app
                    .unblock_sender(&key, seen.as_deref(), &by)
                    .await?;
                Ok(pb::UnblockSenderResponse {})
            }
            .await,
        )
    }

    async fn get_blocked_sender(
        &self,
        request: Request<pb::GetBlockedSenderRequest>,
    ) -> Reply<pb::BlockedSender> {
        let r = request.into_inner();
        reply(
            async {
                let mut check = Check::new();
                let (kind, value) = sender(&mut check, "", r.kind, &r.value);
                check.done()?;
                let key = BlockedSender::key_of(kind, &value);
                Ok(blocked_sender(self.cx.app.blocked_sender(&key).await?))
            }
            .await,
        )
    }

    async fn list_blocked_senders(
        &self,
        request: Request<pb::ListBlockedSendersRequest>,
    ) -> Reply<pb::ListBlockedSendersResponse> {
        let r = request.into_inner();
        reply(
            async {
                let app = &self.cx.app;
                let (senders, next_page_token) = by_id(
                    &r,
                    |after, rows| async move {
                        app.blocked_senders(after.as_deref(), r.show_ended, rows)
                            .await
                    },
                    blocked_sender,
                    |b| b.key(),
                )
                .await?;
                Ok(pb::ListBlockedSendersResponse {
                    senders,
                    next_page_token,
                })
            }
            .await,
        )
    }
}

//! WebhookService.

use chrono::{DateTime, Utc};
use tonic::Request;

use super::check::{Check, given, key, keys, only_key};
use super::convert::{duration, timestamp};
use super::mask::patch;
use super::paging::{Page, by_id};
use super::{Context, Reply, caller, etag, reply};
use crate::app::webhooks::{MAX_REDELIVER, Redeliver};
use crate::domain::error::{Versioned, quote};
use crate::domain::patch::{Field, Patch};
use crate::domain::ticket::limits;
use crate::domain::webhook::{Attempt, Delivery, DeliveryState, Webhook, WebhookStatus};
use crate::proto::feedback::v1::{self as pb, webhook_service_server::WebhookService};

/// Most event types and teams a webhook names.
const MAX_FILTERS: usize = 50;
/// The longest URL.
const MAX_URL: usize = 2_048;
/// The shortest and the longest secret.
const SECRET: std::ops::RangeInclusive<usize> = 16..=256;
/// The most attempts a webhook may ask for.
const MAX_ATTEMPTS: i32 = 50;

/// The fields UpdateWebhook may change.
const WEBHOOK_FIELDS: &[Field<Webhook, Webhook>] = &[
    ("display_name", |w, v| {
        w.display_name = v.display_name.clone()
    }),
    ("url", |w, v| w.url = v.url.clone()),
    ("event_types", |w, v| w.event_types = v.event_types.clone()),
    ("teams", |w, v| w.teams = v.teams.clone()),
    ("secret", |w, v| w.secret = v.secret.clone()),
    ("max_attempts", |w, v| w.max_attempts = v.max_attempts),
    ("paused", |w, v| w.paused = v.paused),
];

/// The WebhookService handlers.
pub struct WebhookApi {
    cx: Context,
}

impl WebhookApi {
    pub fn new(cx: Context) -> Self {
        Self { cx }
    }
}

/// A webhook from a request; an empty secret is left empty (create generates one).
fn webhook(check: &mut Check, w: &pb::Webhook, now: DateTime<Utc>) -> Webhook {
    let id = key(check, "webhook.id", &w.id);
    let display_name = check
        .optional_text("webhook.display_name", &w.display_name, limits::NAME)
        .unwrap_or_else(|| id.clone());
    let url = w.url.trim();
    match url.parse::<http::Uri>() {
        _ if url.is_empty() => check.add(
            "webhook.url",
            "is required, e.g. https://crm.example.com/hooks",
        ),
        _ if url.len() > MAX_URL => {
            check.add("webhook.url", format!("is longer than {MAX_URL} bytes"))
        }
        Ok(uri) if uri.authority().is_some_and(|a| a.as_str().contains('@')) => check.add(
            "webhook.url",
            "carries a user name or password, which every reader of the webhook would see: \
             the signature tells the receiver who sends",
        ),
        Ok(uri) if matches!(uri.scheme_str(), Some("http" | "https")) && uri.host().is_some() => {}
        _ => check.add(
            "webhook.url",
            format!("{} is not an http:// or https:// URL", quote(url)),
        ),
    }
    let secret = w.secret.trim();
    if !secret.is_empty() && !SECRET.contains(&secret.chars().count()) {
        check.add(
            "webhook.secret",
            format!("must be {} to {} characters", SECRET.start(), SECRET.end()),
        );
    }
    let max_attempts = match w.max_attempts {
        0 => None,
        n @ 1..=MAX_ATTEMPTS => Some(n as u32),
        n => {
            check.add(
                "webhook.max_attempts",
                format!("{n} is not from 1 to {MAX_ATTEMPTS} (0: the server's default)"),
            );
            None
        }
    };
    Webhook {
        id,
        display_name,
        url: url.to_owned(),
        event_types: check.enums("webhook.event_types", &w.event_types, MAX_FILTERS),
        teams: keys(check, "webhook.teams", &w.teams, MAX_FILTERS),
        secret: secret.to_owned(),
        max_attempts,
        paused: w.paused,
        version: 1,
        created_at: now,
        updated_at: now,
    }
}

fn webhook_message(s: WebhookStatus) -> pb::Webhook {
    let WebhookStatus {
        webhook: w,
        circuit,
        pending,
        dead,
    } = s;
    pb::Webhook {
        etag: w.etag(),
        id: w.id,
        display_name: w.display_name,
        url: w.url,
        event_types: w
            .event_types
            .into_iter()
            .map(|t| pb::EventType::from(t).into())
            .collect(),
        teams: w.teams,
        secret: w.secret,
        max_attempts: w.max_attempts.map_or(0, |n| n as i32),
        paused: w.paused,
        state: Some(pb::WebhookState {
            pending,
            dead,
            consecutive_failures: circuit.consecutive_failures as i32,
            circuit_open_until: circuit.open_until.map(timestamp),
            last_success_time: circuit.last_success_at.map(timestamp),
            last_failure_time: circuit.last_failure_at.map(timestamp),
            last_error: circuit.last_error.unwrap_or_default(),
        }),
        create_time: Some(timestamp(w.created_at)),
        update_time: Some(timestamp(w.updated_at)),
    }
}

fn attempt_message(a: Attempt) -> pb::DeliveryAttempt {
    pb::DeliveryAttempt {
        number: a.number as i32,
        time: Some(timestamp(a.started_at)),
        duration: Some(duration(a.duration)),
        http_status: a.http_status.map_or(0, i32::from),
        error: a.error.unwrap_or_default(),
    }
}

fn delivery_message((d, attempts): (Delivery, Vec<Attempt>)) -> pb::Delivery {
    pb::Delivery {
        id: d.id,
        webhook_id: d.webhook_id,
        event_cursor: d.event_cursor,
        event_type: pb::EventType::from(d.event_type).into(),
        ticket_id: d.ticket_id,
        state: pb::DeliveryState::from(d.state).into(),
        create_time: Some(timestamp(d.created_at)),
        next_attempt_time: (d.state == DeliveryState::Pending)
            .then(|| timestamp(d.next_attempt_at)),
        deliver_time: d.delivered_at.map(timestamp),
        attempts: attempts.into_iter().map(attempt_message).collect(),
        redelivery: d.redelivery,
    }
}

#[tonic::async_trait]
impl WebhookService for WebhookApi {
    async fn create_webhook(
        &self,
        request: Request<pb::CreateWebhookRequest>,
    ) -> Reply<pb::Webhook> {
        let by = caller(&request)?;
        let r = request.into_inner();
        reply(
            async {
                let mut check = Check::new();
                let given = given(&mut check, "webhook", r.webhook);
                let new = webhook(&mut check, &given, self.cx.app.now());
                let new = check.finish(new)?;
                Ok(webhook_message(self.cx.app.create_webhook(&by, new).await?))
            }
            .await,
        )
    }

    async fn get_webhook(&self, request: Request<pb::GetWebhookRequest>) -> Reply<pb::Webhook> {
        reply(
            async {
                let id = only_key("id", &request.get_ref().id)?;
                Ok(webhook_message(self.cx.app.webhook(&id).await?))
            }
            .await,
        )
    }

    async fn list_webhooks(
        &self,
        request: Request<pb::ListWebhooksRequest>,
    ) -> Reply<pb::ListWebhooksResponse> {
        let r = request.into_inner();
        reply(
            async {
                let app = &self.cx.app;
                let (webhooks, next_page_token) = by_id(
                    &r,
                    |after, rows| app.list_webhooks(after, rows),
                    webhook_message,
                    |w| w.webhook.id.clone(),
                )
                .await?;
                Ok(pb::ListWebhooksResponse {
                    webhooks,
                    next_page_token,
                })
            }
            .await,
        )
    }

    async fn update_webhook(
        &self,
        request: Request<pb::UpdateWebhookRequest>,
    ) -> Reply<pb::Webhook> {
        let by = caller(&request)?;
        let r = request.into_inner();
        reply(
            async {
                let mut check = Check::new();
                let given = given(&mut check, "webhook", r.webhook);
                let now = self.cx.app.now();
                let patch: Patch<Webhook> = patch(
                    &mut check,
                    "webhook",
                    r.update_mask.as_ref(),
                    WEBHOOK_FIELDS,
                    |check| webhook(check, &given, now),
                );
                if patch.names("secret") && patch.value.secret.is_empty() {
                    check.add(
                        "webhook.secret",
                        format!(
                            "is required to change it: {} to {} characters",
                            SECRET.start(),
                            SECRET.end()
                        ),
                    );
                }
                check.done()?;
                let id = patch.value.id.clone();
                let updated = self
                    .cx
                    .app
                    .update_webhook(&by, &id, etag(&given.etag), &patch)
                    .await?;
                Ok(webhook_message(updated))
            }
            .await,
        )
    }

    async fn delete_webhook(
        &self,
        request: Request<pb::DeleteWebhookRequest>,
    ) -> Reply<pb::DeleteWebhookResponse> {
        let by = caller(&request)?;
        let r = request.into_inner();
        reply(
            async {
                let id = only_key("id", &r.id)?;
                self.cx.app.delete_webhook(&by, &id, etag(&r.etag)).await?;
                Ok(pb::DeleteWebhookResponse {})
            }
            .await,
        )
    }

    async fn test_webhook(
        &self,
        request: Request<pb::TestWebhookRequest>,
    ) -> Reply<pb::TestWebhookResponse> {
        reply(
            async {
                let id = only_key("id", &request.get_ref().id)?;
                let tried = self.cx.app.test_webhook(&id).await?;
                Ok(pb::TestWebhookResponse {
                    delivered: tried.delivered(),
                    http_status: tried.http_status.map_or(0, i32::from),
                    error: tried.error.unwrap_or_default(),
                    duration: Some(duration(tried.duration)),
                })
            }
            .await,
        )
    }

    async fn list_deliveries(
        &self,
        request: Request<pb::ListDeliveriesRequest>,
    ) -> Reply<pb::ListDeliveriesResponse> {
        let r = request.into_inner();
        reply(
            async {
                let mut check = Check::new();
                let id = key(&mut check, "webhook_id", &r.webhook_id);
                let state = check.optional_enum::<DeliveryState>("state", r.state);
                let page: Page<i64> = Page::read(&mut check, &r);
                check.done()?;
                let rows = self
                    .cx
                    .app
                    .list_deliveries(&id, state, page.after, page.fetch())
                    .await?;
                let (deliveries, next_page_token) =
                    page.finish(rows, delivery_message, |(d, _)| d.id);
                Ok(pb::ListDeliveriesResponse {
                    deliveries,
                    next_page_token,
                })
            }
            .await,
        )
    }

    async fn redeliver_events(
        &self,
        request: Request<pb::RedeliverEventsRequest>,
    ) -> Reply<pb::RedeliverEventsResponse> {
        use pb::redeliver_events_request::What;
        let r = request.into_inner();
        reply(
            async {
                let mut check = Check::new();
                let id = key(&mut check, "webhook_id", &r.webhook_id);
                let what = match r.what {
                    Some(What::DeadLetters(true)) => Redeliver::DeadLetters,
                    Some(What::DeadLetters(false)) => {
                        check.add("dead_letters", "must be true, or give a range instead");
                        Redeliver::DeadLetters
                    }
                    Some(What::Range(range)) => {
                        if range.first < 1 {
                            check.add("range.first", "must be at least 1");
                        } else if range.last < range.first {
                            check.add("range.last", "must be at least range.first");
                        } else if range.last - range.first >= MAX_REDELIVER {
                            check.add(
                                "range.last",
                                format!("is more than {MAX_REDELIVER} events after range.first"),
                            );
                        }
                        Redeliver::Range(range.first, range.last)
                    }
                    None => {
                        check.add("what", "is required: dead_letters or range");
                        Redeliver::DeadLetters
                    }
                };
                let what = check.finish(what)?;
                let queued = self.cx.app.redeliver(&id, what).await?;
                Ok(pb::RedeliverEventsResponse {
                    queued: queued as i64,
                })
            }
            .await,
        )
    }
}

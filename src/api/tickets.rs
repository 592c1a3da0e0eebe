//! TicketService.

use std::collections::BTreeMap;
use std::pin::Pin;

use futures::{Stream, StreamExt};
use tonic::{Request, Status};

use super::convert;
use super::paging::{self, DEFAULT_PAGE, MAX_PAGE};
use super::validate::{Check, actor};
use super::verbs::{VerbCall, VerbRequest};
use super::{Context, Reply, etag as etag_of, reply};
use crate::domain::acknowledgement::{acknowledgement_text, expected_response};
use crate::domain::contact::{is_valid_email, is_valid_phone, missing_contact};
use crate::domain::event::EventType;
use crate::domain::lifecycle::{self, Action, Verb};
use crate::domain::query::{SortKey, TicketFilter, TicketOrder, WatchFilter};
use crate::domain::ticket::{Customer, NewTicket, Tier, limits};
use crate::error::{Error, Result};
use crate::proto::feedback::v1::{self as pb, ticket_service_server::TicketService};
use crate::store::{Assignment, NewComment, Note, position_of};

const DEFAULT_EVENT_PAGE: u64 = 100;
const MAX_EVENT_PAGE: u64 = 1_000;
/// How far in the future an `occurred_at` may lie, for clocks that disagree.
const CLOCK_SKEW: chrono::Duration = chrono::Duration::minutes(5);

/// The TicketService handlers.
pub struct TicketApi {
    cx: Context,
}

impl TicketApi {
    pub fn new(cx: Context) -> Self {
        Self { cx }
    }

    /// Validates a lifecycle verb's request, applies it and records its event, then lets the
    /// router act on it (capacity freed, a ticket back in a queue, a reopen).
    async fn verb(&self, request: impl VerbRequest) -> Result<pb::Ticket> {
        let mut check = Check::new();
        let VerbCall {
            ticket_id,
            etag,
            actor,
            reason,
            action,
        } = request.read(&mut check);
        check.finish()?;
        let now = self.cx.now();
        let event_type = action.event_type();
        let etag = etag_of(&etag);
        let (ticket, event) = match action {
            Action::Assign {
                team,
                agent,
                transfer_ownership,
            } => {
                let assignment = Assignment {
                    team,
                    agent,
                    transfer_ownership,
                    reason,
                };
                self.cx
                    .store
                    .assign(ticket_id, etag, assignment, &actor, now)
                    .await?
            }
            action @ Action::Resolve { .. } => {
                if let Action::Resolve {
                    merged_into: Some(number),
                    ..
                } = &action
                {
                    let into = match self.cx.store.get_ticket_by_number(number).await {
                        Err(Error::NotFound { .. }) => {
                            return Err(Error::invalid(
                                "merged_into",
                                format!("no ticket {number} exists"),
                            ));
                        }
                        other => other?,
                    };
                    if into.id == ticket_id {
                        return Err(Error::invalid(
                            "merged_into",
                            "is this ticket: name the one it duplicates",
                        ));
                    }
                }
                let policy = &self.cx.surveys.settings().policy;
                self.cx
                    .store
                    .resolve(ticket_id, etag, action, &actor, now, policy)
                    .await?
            }
            Action::Reopen { reason } => {
                self.cx
                    .store
                    .reopen(ticket_id, etag, reason, &actor, now)
                    .await?
            }
            action => {
                self.cx
                    .store
                    .change_ticket(ticket_id, etag, &actor, now, |t| {
                        lifecycle::apply(t, action, now)?;
                        Ok((
                            event_type,
                            Note {
                                reason,
                                ..Note::default()
                            },
                        ))
                    })
                    .await?
            }
        };
        let Some(event) = event else {
            return Ok(convert::ticket(ticket));
        };
        self.cx.router.after_change(&event).await;
        // The router may have moved it on (assigned from the queue, or back into it).
        Ok(convert::ticket(self.cx.store.get_ticket(ticket_id).await?))
    }
}

/// The customer's fields, each checked and named under `field`.
fn customer(check: &mut Check, field: &str, c: Option<&pb::Customer>) -> Customer {
    let Some(c) = c else {
        return Customer::default();
    };
    let phone = check.text(&format!("{field}.phone"), &c.phone, false, 32);
    if !phone.is_empty() && !is_valid_phone(&phone) {
        check.add(
            format!("{field}.phone"),
            "is not a phone number (5 to 20 digits, optional leading +)",
        );
    }
    let email = check.text(&format!("{field}.email"), &c.email, false, 254);
    if !email.is_empty() && !is_valid_email(&email) {
        check.add(format!("{field}.email"), "is not an email address");
    }
    Customer {
        external_id: check.text(
            &format!("{field}.external_id"),
            &c.external_id,
            false,
            limits::EXTERNAL_ID,
        ),
        name: check.text(&format!("{field}.name"), &c.name, false, limits::NAME),
        phone,
        email,
        tier: check
            .optional_enum(&format!("{field}.tier"), c.tier)
            .unwrap_or(Tier::Standard),
    }
}

fn tags(check: &mut Check, field: &str, tags: &[String]) -> Vec<String> {
    check.labels(field, tags, limits::TAGS, limits::TAG)
}

fn metadata(
    check: &mut Check,
    field: &str,
    map: &std::collections::HashMap<String, String>,
) -> BTreeMap<String, String> {
    if map.len() > limits::METADATA_ENTRIES {
        check.add(
            field,
            format!("has more than {} entries", limits::METADATA_ENTRIES),
        );
    }
    for (key, value) in map {
        if key.trim().is_empty() || key.chars().count() > limits::METADATA_KEY {
            check.add(
                format!("{field}[{key:?}]"),
                format!("keys are 1 to {} characters", limits::METADATA_KEY),
            );
        }
        if value.chars().count() > limits::METADATA_VALUE {
            check.add(
                format!("{field}[{key:?}]"),
                format!("is longer than {} characters", limits::METADATA_VALUE),
            );
        }
    }
    map.iter().map(|(k, v)| (k.clone(), v.clone())).collect()
}

fn occurred_at(
    check: &mut Check,
    field: &str,
    ts: Option<&prost_types::Timestamp>,
    now: chrono::DateTime<chrono::Utc>,
) -> Option<chrono::DateTime<chrono::Utc>> {
    let time = check.timestamp(field, ts)?;
    if time > now + CLOCK_SKEW {
        check.add(field, "lies in the future");
    }
    Some(time)
}

/// A CreateTicket request, checked; ExplainRoute reads its draft the same way.
pub(super) fn new_ticket(
    r: pb::CreateTicketRequest,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<NewTicket> {
    let mut check = Check::new();
    let request_id = check.optional_text("request_id", &r.request_id, limits::REQUEST_ID);
    let channel = check.required_enum("channel", r.channel);
    let kind = check.required_enum("kind", r.kind);
    let title = check.text("title", &r.title, true, limits::TITLE);
    let description = check.text("description", &r.description, true, limits::DESCRIPTION);
    let expected_outcome = check.text(
        "expected_outcome",
        &r.expected_outcome,
        false,
        limits::EXPECTED_OUTCOME,
    );
    let product = check.text("product", &r.product, false, limits::PRODUCT);
    let customer = customer(&mut check, "customer", r.customer.as_ref());
    if let Some((field, why)) = channel.and_then(|c| missing_contact(c, &customer)) {
        check.add(field, why);
    }
    let tags = tags(&mut check, "tags", &r.tags);
    let occurred_at = occurred_at(&mut check, "occurred_at", r.occurred_at.as_ref(), now);
    let metadata = metadata(&mut check, "metadata", &r.metadata);
    let priority = check.optional_enum("priority", r.priority);
    let category = check.optional_text("category", &r.category, limits::CATEGORY);
    let actor = actor(&mut check, "actor", &r.actor);
    check.finish()?;
    Ok(NewTicket {
        request_id,
        channel: channel.expect("checked"),
        kind: kind.expect("checked"),
        title,
        description,
        expected_outcome,
        product,
        customer,
        tags,
        occurred_at,
        metadata,
        priority,
        category,
        actor,
    })
}

fn order(check: &mut Check, order_by: &str) -> TicketOrder {
    let words: Vec<String> = order_by.split_whitespace().map(str::to_lowercase).collect();
    let (key, direction) = match words.as_slice() {
        [] => return TicketOrder::default(),
        [key] => (key.as_str(), "asc"),
        [key, direction] => (key.as_str(), direction.as_str()),
        _ => ("", ""),
    };
    let key = match key {
        "create_time" => Some(SortKey::CreateTime),
        "update_time" => Some(SortKey::UpdateTime),
        "priority" => Some(SortKey::Priority),
        _ => None,
    };
    match (key, direction) {
        (Some(key), "asc" | "desc") => TicketOrder {
            key,
            descending: direction == "desc",
        },
        _ => {
            check.add(
                "order_by",
                "must be create_time, update_time or priority, optionally followed by desc",
            );
            TicketOrder::default()
        }
    }
}

fn filter(check: &mut Check, r: &pb::ListTicketsRequest) -> TicketFilter {
    let optional = |check: &mut Check, field: &str, value: &str| {
        check.optional_text(field, value, limits::TEAM)
    };
    let filter = TicketFilter {
        statuses: check.enums("statuses", &r.statuses),
        priorities: check.enums("priorities", &r.priorities),
        kinds: check.enums("kinds", &r.kinds),
        channels: check.enums("channels", &r.channels),
        team: optional(check, "team", &r.team),
        assignee: optional(check, "assignee", &r.assignee),
        customer_external_id: optional(check, "customer_external_id", &r.customer_external_id),
        product: optional(check, "product", &r.product),
        tag: optional(check, "tag", &r.tag),
        category: optional(check, "category", &r.category),
        created_after: check.timestamp("created_after", r.created_after.as_ref()),
        created_before: check.timestamp("created_before", r.created_before.as_ref()),
        text: check.optional_text("text", &r.text, limits::TITLE),
        sla_breached: r.sla_breached,
        sla_at_risk: r.sla_at_risk,
        sla_due_before: check.timestamp("sla_due_before", r.sla_due_before.as_ref()),
    };
    if let (Some(after), Some(before)) = (filter.created_after, filter.created_before)
        && after >= before
    {
        check.add("created_before", "must be later than created_after");
    }
    filter
}

/// Checks the update mask's paths against what UpdateTicket may change.
fn update_paths(check: &mut Check, mask: Option<&prost_types::FieldMask>) -> Vec<String> {
    const UPDATABLE: &[&str] = &[
        "title",
        "description",
        "expected_outcome",
        "product",
        "customer",
        "customer.external_id",
        "customer.name",
        "customer.phone",
        "customer.email",
        "customer.tier",
        "tags",
        "metadata",
        "occurred_at",
        "kind",
        "priority",
        "category",
    ];
    let paths = mask.map(|m| m.paths.clone()).unwrap_or_default();
    if paths.is_empty() {
        check.add("update_mask", "is required: name the fields to change");
    }
    for path in &paths {
        if !UPDATABLE.contains(&path.as_str()) {
            let why = match path.as_str() {
                "status" | "team" | "assignee" | "owner" | "resolution_summary"
                | "status_reason" | "reopen_count" => {
                    "is changed only by the lifecycle verbs (AssignTicket, ResolveTicket, …)"
                }
                "id" | "number" | "etag" | "request_id" | "create_time" | "update_time"
                | "channel" => "cannot be changed",
                _ if path.ends_with("_time") => "is set by the lifecycle verbs",
                _ => "is not a field of Ticket that can be updated",
            };
            check.add(format!("update_mask.paths[{path}]"), why);
        }
    }
    paths
}

#[tonic::async_trait]
impl TicketService for TicketApi {
    async fn create_ticket(
        &self,
        request: Request<pb::CreateTicketRequest>,
    ) -> Reply<pb::CreateTicketResponse> {
        let now = self.cx.now();
        reply(
            async {
                let new = new_ticket(request.into_inner(), now)?;
                let route = self.cx.router.decide(&new).await?.route;
                let (mut ticket, replayed) = self
                    .cx
                    .store
                    .create_ticket(new, route, now, self.cx.zone)
                    .await?;
                if !replayed && let Some(team) = ticket.team.clone() {
                    match self.cx.router.dispatch(&team).await {
                        Ok(assigned) => {
                            if let Some(event) = assigned.iter().find(|e| e.ticket_id == ticket.id)
                            {
                                ticket = event.ticket.clone();
                            }
                        }
                        // Taken in all the same: it waits, and the next pass assigns it.
                        Err(error) => tracing::warn!(%team, %error, "dispatch after intake failed"),
                    }
                }
                if ticket.assignee.is_none() {
                    // Another pass (the sweep, another instance) may have assigned it.
                    ticket = self.cx.store.get_ticket(ticket.id).await?;
                }
                let queue_position = self.cx.store.queue_position(&ticket).await?;
                let expected = expected_response(&ticket);
                Ok(pb::CreateTicketResponse {
                    acknowledgement: acknowledgement_text(&ticket),
                    expected_response_within: expected.map(|(within, _)| convert::duration(within)),
                    expected_response_by: expected.and_then(|(_, by)| by).map(convert::timestamp),
                    off_hours: ticket.sla.off_hours_until.is_some(),
                    replayed,
                    queue_position: queue_position as i32,
                    ticket: Some(convert::ticket(ticket)),
                })
            }
            .await,
        )
    }

    async fn get_ticket(&self, request: Request<pb::GetTicketRequest>) -> Reply<pb::Ticket> {
        use pb::get_ticket_request::Key;
        reply(
            async {
                let ticket = match request.into_inner().key {
                    Some(Key::Id(id)) if id > 0 => self.cx.store.get_ticket(id).await?,
                    Some(Key::Number(number)) if !number.trim().is_empty() => {
                        self.cx.store.get_ticket_by_number(number.trim()).await?
                    }
                    Some(Key::Id(_)) => {
                        return Err(Error::invalid("id", "must be a positive ticket id"));
                    }
                    Some(Key::Number(_)) => {
                        return Err(Error::invalid("number", "must not be blank"));
                    }
                    None => return Err(Error::invalid("key", "set id or number")),
                };
                Ok(convert::ticket(ticket))
            }
            .await,
        )
    }

    async fn list_tickets(
        &self,
        request: Request<pb::ListTicketsRequest>,
    ) -> Reply<pb::ListTicketsResponse> {
        let r = request.into_inner();
        reply(
            async {
                let mut check = Check::new();
                let filter = filter(&mut check, &r);
                let order = order(&mut check, &r.order_by);
                let limit = check.page_size("page_size", r.page_size, DEFAULT_PAGE, MAX_PAGE);
                check.finish()?;
                let query = paging::fingerprint(&pb::ListTicketsRequest {
                    page_size: 0,
                    page_token: String::new(),
                    ..r.clone()
                });
                let after = paging::decode(query, &r.page_token)?;
                let tickets = self
                    .cx
                    .store
                    .list_tickets(&filter, order, after, limit + 1)
                    .await?;
                let (tickets, next_page_token) =
                    paging::page(tickets, limit, query, convert::ticket, |t| {
                        position_of(t, order)
                    });
                Ok(pb::ListTicketsResponse {
                    tickets,
                    next_page_token,
                })
            }
            .await,
        )
    }

    async fn update_ticket(&self, request: Request<pb::UpdateTicketRequest>) -> Reply<pb::Ticket> {
        let r = request.into_inner();
        let now = self.cx.now();
        reply(
            async {
                let mut check = Check::new();
                let Some(patch) = r.ticket else {
                    return Err(Error::invalid(
                        "ticket",
                        "is required: set ticket.id and the new values",
                    ));
                };
                let id = check.id("ticket.id", patch.id);
                let paths = update_paths(&mut check, r.update_mask.as_ref());
                let has = |p: &str| paths.iter().any(|path| path == p);
                let title = check.text("ticket.title", &patch.title, has("title"), limits::TITLE);
                let description = check.text(
                    "ticket.description",
                    &patch.description,
                    has("description"),
                    limits::DESCRIPTION,
                );
                let expected_outcome = check.text(
                    "ticket.expected_outcome",
                    &patch.expected_outcome,
                    false,
                    limits::EXPECTED_OUTCOME,
                );
                let product = check.text("ticket.product", &patch.product, false, limits::PRODUCT);
                let customer = customer(&mut check, "ticket.customer", patch.customer.as_ref());
                let tags = tags(&mut check, "ticket.tags", &patch.tags);
                let metadata = metadata(&mut check, "ticket.metadata", &patch.metadata);
                let occurred_at = occurred_at(
                    &mut check,
                    "ticket.occurred_at",
                    patch.occurred_at.as_ref(),
                    now,
                );
                let kind = if has("kind") {
                    check.required_enum("ticket.kind", patch.kind)
                } else {
                    None
                };
                let priority = if has("priority") {
                    check.required_enum("ticket.priority", patch.priority)
                } else {
                    None
                };
                let category =
                    check.optional_text("ticket.category", &patch.category, limits::CATEGORY);
                let actor = actor(&mut check, "actor", &r.actor);
                check.finish()?;
                let etag = etag_of(&patch.etag);
                let (ticket, _) = self
                    .cx
                    .store
                    .change_ticket(id, etag, &actor, now, |t| {
                        lifecycle::check_allowed(t, Verb::Update)?;
                        for path in &paths {
                            match path.as_str() {
                                "title" => t.title = title.clone(),
                                "description" => t.description = description.clone(),
                                "expected_outcome" => t.expected_outcome = expected_outcome.clone(),
                                "product" => t.product = product.clone(),
                                "customer" => t.customer = customer.clone(),
                                "customer.external_id" => {
                                    t.customer.external_id = customer.external_id.clone()
                                }
                                "customer.name" => t.customer.name = customer.name.clone(),
                                "customer.phone" => t.customer.phone = customer.phone.clone(),
                                "customer.email" => t.customer.email = customer.email.clone(),
                                "customer.tier" => t.customer.tier = customer.tier,
                                "tags" => {
                                    t.tags = crate::domain::ticket::normalize_tags(tags.clone())
                                }
                                "metadata" => t.metadata = metadata.clone(),
                                "occurred_at" => t.occurred_at = occurred_at,
                                "kind" => t.kind = kind.expect("checked"),
                                "priority" => {
                                    let priority = priority.expect("checked");
                                    if priority != t.priority {
                                        t.priority_reasons
                                            .push(format!("{priority}: set by {actor}"));
                                        t.priority = priority;
                                    }
                                }
                                "category" => t.category = category.clone(),
                                other => unreachable!("update path {other} passed the check"),
                            }
                        }
                        if let Some((field, why)) = missing_contact(t.channel, &t.customer) {
                            return Err(Error::invalid(format!("ticket.{field}"), why));
                        }
                        Ok((EventType::TicketUpdated, Note::default()))
                    })
                    .await?;
                Ok(convert::ticket(ticket))
            }
            .await,
        )
    }

    async fn assign_ticket(&self, request: Request<pb::AssignTicketRequest>) -> Reply<pb::Ticket> {
        reply(self.verb(request.into_inner()).await)
    }

    async fn acknowledge_ticket(
        &self,
        request: Request<pb::AcknowledgeTicketRequest>,
    ) -> Reply<pb::Ticket> {
        reply(self.verb(request.into_inner()).await)
    }

    async fn add_comment(
        &self,
        request: Request<pb::AddCommentRequest>,
    ) -> Reply<pb::AddCommentResponse> {
        let r = request.into_inner();
        let now = self.cx.now();
        reply(
            async {
                let mut check = Check::new();
                let id = check.id("ticket_id", r.ticket_id);
                let visibility = check.required_enum("visibility", r.visibility);
                let body = check.text("body", &r.body, true, limits::COMMENT);
                let author = check.text("author", &r.author, true, limits::ACTOR);
                let author_role = check
                    .optional_enum("author_role", r.author_role)
                    .unwrap_or(crate::domain::ticket::AuthorRole::Agent);
                if author_role == crate::domain::ticket::AuthorRole::Customer
                    && visibility == Some(crate::domain::ticket::Visibility::Internal)
                {
                    check.add("visibility", "a customer's message is always PUBLIC");
                }
                let request_id =
                    check.optional_text("request_id", &r.request_id, limits::REQUEST_ID);
                check.finish()?;
                let new = NewComment {
                    visibility: visibility.expect("checked"),
                    author,
                    author_role,
                    body,
                    request_id,
                };
                let (comment, ticket) = self.cx.store.add_comment(id, new, now).await?;
                Ok(pb::AddCommentResponse {
                    comment: Some(convert::comment(comment)),
                    ticket: Some(convert::ticket(ticket)),
                })
            }
            .await,
        )
    }

    async fn list_comments(
        &self,
        request: Request<pb::ListCommentsRequest>,
    ) -> Reply<pb::ListCommentsResponse> {
        let r = request.into_inner();
        reply(
            async {
                let mut check = Check::new();
                let id = check.id("ticket_id", r.ticket_id);
                let visibility = check.optional_enum("visibility", r.visibility);
                let limit = check.page_size("page_size", r.page_size, DEFAULT_PAGE, MAX_PAGE);
                check.finish()?;
                let query = paging::fingerprint(&pb::ListCommentsRequest {
                    page_size: 0,
                    page_token: String::new(),
                    ..r.clone()
                });
                let after: i64 = paging::decode(query, &r.page_token)?.unwrap_or(0);
                let comments = self
                    .cx
                    .store
                    .list_comments(id, visibility, after, limit + 1)
                    .await?;
                let (comments, next_page_token) =
                    paging::page(comments, limit, query, convert::comment, |c| c.id);
                Ok(pb::ListCommentsResponse {
                    comments,
                    next_page_token,
                })
            }
            .await,
        )
    }

    async fn set_pending(&self, request: Request<pb::SetPendingRequest>) -> Reply<pb::Ticket> {
        reply(self.verb(request.into_inner()).await)
    }

    async fn resume_ticket(&self, request: Request<pb::ResumeTicketRequest>) -> Reply<pb::Ticket> {
        reply(self.verb(request.into_inner()).await)
    }

    async fn resolve_ticket(
        &self,
        request: Request<pb::ResolveTicketRequest>,
    ) -> Reply<pb::Ticket> {
        reply(self.verb(request.into_inner()).await)
    }

    async fn close_ticket(&self, request: Request<pb::CloseTicketRequest>) -> Reply<pb::Ticket> {
        reply(self.verb(request.into_inner()).await)
    }

    async fn reopen_ticket(&self, request: Request<pb::ReopenTicketRequest>) -> Reply<pb::Ticket> {
        reply(self.verb(request.into_inner()).await)
    }

    async fn list_ticket_events(
        &self,
        request: Request<pb::ListTicketEventsRequest>,
    ) -> Reply<pb::ListTicketEventsResponse> {
        let r = request.into_inner();
        reply(
            async {
                let mut check = Check::new();
                let id = check.id("ticket_id", r.ticket_id);
                let limit =
                    check.page_size("page_size", r.page_size, DEFAULT_EVENT_PAGE, MAX_EVENT_PAGE);
                check.finish()?;
                let query = paging::fingerprint(&pb::ListTicketEventsRequest {
                    page_size: 0,
                    page_token: String::new(),
                    ..r.clone()
                });
                let after: i64 = paging::decode(query, &r.page_token)?.unwrap_or(0);
                self.cx.store.get_ticket(id).await?;
                let events = self.cx.store.ticket_events(id, after, limit + 1).await?;
                let (events, next_page_token) =
                    paging::page(events, limit, query, convert::history_event, |e| e.cursor);
                Ok(pb::ListTicketEventsResponse {
                    events,
                    next_page_token,
                })
            }
            .await,
        )
    }

    type WatchTicketsStream =
        Pin<Box<dyn Stream<Item = std::result::Result<pb::WatchTicketsResponse, Status>> + Send>>;

    async fn watch_tickets(
        &self,
        request: Request<pb::WatchTicketsRequest>,
    ) -> Reply<Self::WatchTicketsStream> {
        let r = request.into_inner();
        reply(
            async {
                let mut check = Check::new();
                if r.ticket_id < 0 {
                    check.add("ticket_id", "must be a positive ticket id");
                }
                let filter = WatchFilter {
                    ticket_id: Some(r.ticket_id).filter(|&id| id > 0),
                    team: check.optional_text("team", &r.team, limits::TEAM),
                    assignee: check.optional_text("assignee", &r.assignee, limits::TEAM),
                    customer_external_id: check.optional_text(
                        "customer_external_id",
                        &r.customer_external_id,
                        limits::EXTERNAL_ID,
                    ),
                    event_types: check.enums("event_types", &r.event_types),
                };
                check.finish()?;
                let events = self.cx.hub.watch(filter, r.after_cursor).await?;
                // Each batch leaves as one message, or several when it is too large for one.
                let stream = events.flat_map(|batch| {
                    let messages: Vec<_> = match batch {
                        Ok(events) => paging::chunks(events.into_iter().map(convert::event))
                            .into_iter()
                            .map(|events| Ok(pb::WatchTicketsResponse { events }))
                            .collect(),
                        Err(error) => vec![Err(Status::from(error))],
                    };
                    futures::stream::iter(messages)
                });
                Ok(Box::pin(stream) as Self::WatchTicketsStream)
            }
            .await,
        )
    }
}

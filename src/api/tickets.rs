//! TicketService: each request is checked into domain values, one use case is called, and its
//! answer converted.

use std::collections::BTreeMap;
use std::pin::Pin;

use chrono::{DateTime, Utc};
use futures::{Stream, StreamExt};
use tonic::{Request, Status};

use super::check::{Check, optional_key, request_id};
use super::mask::patch_explained;
use super::paging::{Page, chunks};
use super::{Context, Reply, caller, convert, etag, reply};
use crate::app::access::Rejected;
use crate::app::tickets::{Assignment, On, Resolve, TicketKey};
use crate::domain::access::{Acting, Caller, Role, Scope};
use crate::domain::contact::{is_valid_email, is_valid_phone, missing_contact};
use crate::domain::error::quote;
use crate::domain::language::Language;
use crate::domain::link::LinkKind;
use crate::domain::patch::Field;
use crate::domain::query::{
    Position, SortKey, TicketFilter, TicketOrder, WatchFilter, position_of,
};
use crate::domain::ticket::{
    AuthorRole, Customer, Edit, NewComment, NewTicket, Resolution, Ticket, Tier, Visibility,
    limits, normalize_tags,
};
use crate::error::Result;
use crate::proto::feedback::v1::{self as pb, ticket_service_server::TicketService};

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
}

/// The fields UpdateTicket may change, and how each is copied onto the stored ticket.
const UPDATABLE: &[Field<Ticket, Edit>] = &[
    ("title", |t, v| t.title = v.title.clone()),
    ("description", |t, v| t.description = v.description.clone()),
    ("expected_outcome", |t, v| {
        t.expected_outcome = v.expected_outcome.clone()
    }),
    ("product", |t, v| t.product = v.product.clone()),
    ("customer", |t, v| t.customer = v.customer.clone()),
    ("customer.external_id", |t, v| {
        t.customer.external_id = v.customer.external_id.clone()
    }),
    ("customer.name", |t, v| {
        t.customer.name = v.customer.name.clone()
    }),
    ("customer.phone", |t, v| {
        t.customer.phone = v.customer.phone.clone()
    }),
    ("customer.email", |t, v| {
        t.customer.email = v.customer.email.clone()
    }),
    ("customer.tier", |t, v| t.customer.tier = v.customer.tier),
    ("customer.language", |t, v| {
        t.customer.language = v.customer.language
    }),
    ("tags", |t, v| t.tags = normalize_tags(v.tags.clone())),
    ("metadata", |t, v| t.metadata = v.metadata.clone()),
    ("occurred_at", |t, v| t.occurred_at = v.occurred_at),
    ("kind", |t, v| {
        if let Some(kind) = v.kind {
            t.kind = kind
        }
    }),
    ("priority", |t, v| {
        if let Some(priority) = v.priority {
            t.set_priority(priority, &v.actor)
        }
    }),
    ("category", |t, v| t.category = v.category.clone()),
];

/// Why a field of Ticket outside [`UPDATABLE`] cannot be named in UpdateTicket's mask.
fn not_updatable(path: &str) -> Option<&'static str> {
    Some(match path {
        "status" | "team" | "assignee" | "owner" | "resolution_summary" | "status_reason"
        | "reopen_count" | "resolution" | "merged_into" => {
            "is changed only by the lifecycle verbs (AssignTicket, ResolveTicket, …)"
        }
        "id" | "number" | "etag" | "request_id" | "create_time" | "update_time" | "channel" => {
            "cannot be changed"
        }
        "open_tasks" | "task_teams" => "is changed by the tasks of TaskService",
        "links" | "repeat_count" => "is changed by LinkTickets, UnlinkTickets and MergeTickets",
        _ if path.ends_with("_time") => "is set by the lifecycle verbs",
        _ => return None,
    })
}

/// The customer's fields, each checked and named under `field`.
fn customer(check: &mut Check, field: &str, c: Option<&pb::Customer>) -> Customer {
    let Some(c) = c else {
        return Customer::default();
    };
    let phone = check.text(&format!("{field}.phone"), &c.phone, false, limits::PHONE);
    if !phone.is_empty() && !is_valid_phone(&phone) {
        check.add(
            format!("{field}.phone"),
            "is not a phone number (5 to 20 digits, optional leading +)",
        );
    }
    let email = check.text(&format!("{field}.email"), &c.email, false, limits::EMAIL);
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
        language: language(check, &format!("{field}.language"), &c.language),
    }
}

/// A language tag naming one customer texts exist in; empty: none given.
fn language(check: &mut Check, field: &str, tag: &str) -> Option<Language> {
    if tag.trim().is_empty() {
        return None;
    }
    let language = Language::parse(tag);
    if language.is_none() {
        check.add(
            field,
            format!(
                "{} is not a language customer texts exist in: zh or en",
                quote(tag)
            ),
        );
    }
    language
}

fn tags(check: &mut Check, field: &str, tags: &[String]) -> Vec<String> {
    check.labels(field, tags, limits::TAGS, limits::TAG)
}

fn metadata(
    check: &mut Check,
    field: &str,
    map: &std::collections::HashMap<String, String>,
) -> BTreeMap<String, String> {
    if !check.at_most(field, map.len(), limits::METADATA_ENTRIES) {
        return BTreeMap::new();
    }
    for (key, value) in map {
        let name = format!("{field}[{}]", quote(key));
        if key.trim().is_empty() || key.chars().count() > limits::METADATA_KEY {
            check.add(
                name.clone(),
                format!("keys are 1 to {} characters", limits::METADATA_KEY),
            );
        }
        check.text(&name, value, false, limits::METADATA_VALUE);
    }
    map.iter().map(|(k, v)| (k.clone(), v.clone())).collect()
}

fn occurred_at(
    check: &mut Check,
    field: &str,
    ts: Option<&prost_types::Timestamp>,
    now: DateTime<Utc>,
) -> Option<DateTime<Utc>> {
    let time = check.timestamp(field, ts)?;
    if time > now + CLOCK_SKEW {
        check.add(field, "lies in the future");
    }
    Some(time)
}

/// A CreateTicket request, checked; ExplainRoute reads its draft the same way, with every
/// field named under `prefix`.
pub(super) fn new_ticket(
    r: &pb::CreateTicketRequest,
    prefix: &str,
    now: DateTime<Utc>,
    by: &Caller,
) -> Result<NewTicket> {
    let acting = by.acting(&format!("{prefix}actor"), &r.actor)?;
    let mut check = Check::new();
    let f = |name: &str| format!("{prefix}{name}");
    let request_id = request_id(&mut check, &r.request_id);
    let channel = check.required(&f("channel"), r.channel);
    let kind = check.required(&f("kind"), r.kind);
    let title = check.text(&f("title"), &r.title, true, limits::TITLE);
    let description = check.text(&f("description"), &r.description, true, limits::DESCRIPTION);
    let expected_outcome = check.text(
        &f("expected_outcome"),
        &r.expected_outcome,
        false,
        limits::EXPECTED_OUTCOME,
    );
    let product = check.text(&f("product"), &r.product, false, limits::PRODUCT);
    let mut customer = customer(&mut check, &f("customer"), r.customer.as_ref());
    // A customer's own key says who they are.
    if let Some(own) = by
        .customer
        .as_ref()
        .filter(|_| customer.external_id.is_empty())
    {
        customer.external_id = own.clone();
    }
    // How to answer depends on the channel: only a channel that was given says.
    if let Ok(Some(given)) =
        <crate::domain::ticket::Channel as convert::EnumField>::from_wire(r.channel)
        && let Some((field, why)) = missing_contact(given, &customer)
    {
        check.add(f(field), why);
    }
    let new = NewTicket {
        request_id,
        channel,
        kind,
        title,
        description,
        expected_outcome,
        product,
        customer,
        tags: tags(&mut check, &f("tags"), &r.tags),
        occurred_at: occurred_at(&mut check, &f("occurred_at"), r.occurred_at.as_ref(), now),
        metadata: metadata(&mut check, &f("metadata"), &r.metadata),
        priority: check.optional_enum(&f("priority"), r.priority),
        category: check.optional_text(&f("category"), &r.category, limits::CATEGORY),
        actor: acting.actor,
        via: acting.via,
    };
    check.finish(new)
}

/// The descriptive fields of an UpdateTicket's ticket, each named under `ticket.`.
fn edit(check: &mut Check, given: &pb::Ticket, actor: &str, now: DateTime<Utc>) -> Edit {
    Edit {
        title: check.text("ticket.title", &given.title, true, limits::TITLE),
        description: check.text(
            "ticket.description",
            &given.description,
            true,
            limits::DESCRIPTION,
        ),
        expected_outcome: check.text(
            "ticket.expected_outcome",
            &given.expected_outcome,
            false,
            limits::EXPECTED_OUTCOME,
        ),
        product: check.text("ticket.product", &given.product, false, limits::PRODUCT),
        customer: customer(check, "ticket.customer", given.customer.as_ref()),
        tags: tags(check, "ticket.tags", &given.tags),
        metadata: metadata(check, "ticket.metadata", &given.metadata),
        occurred_at: occurred_at(check, "ticket.occurred_at", given.occurred_at.as_ref(), now),
        kind: Some(check.required("ticket.kind", given.kind)),
        priority: Some(check.required("ticket.priority", given.priority)),
        category: check.optional_text("ticket.category", &given.category, limits::CATEGORY),
        actor: actor.to_owned(),
    }
}

fn order(check: &mut Check, order_by: &str) -> TicketOrder {
    let words: Vec<String> = order_by
        .split_whitespace()
        .take(3)
        .map(str::to_lowercase)
        .collect();
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
    let most = limits::FILTER_VALUES;
    let text = |check: &mut Check, field: &str, value: &str| {
        check.optional_text(field, value, limits::TEAM)
    };
    let filter = TicketFilter {
        scope: Default::default(),
        statuses: check.enums("statuses", &r.statuses, most),
        open: r.open,
        priorities: check.enums("priorities", &r.priorities, most),
        kinds: check.enums("kinds", &r.kinds, most),
        channels: check.enums("channels", &r.channels, most),
        resolutions: check.enums("resolutions", &r.resolutions, most),
        team: text(check, "team", &r.team),
        assignee: text(check, "assignee", &r.assignee),
        owner: text(check, "owner", &r.owner),
        customer_external_id: text(check, "customer_external_id", &r.customer_external_id),
        product: text(check, "product", &r.product),
        tag: text(check, "tag", &r.tag),
        category: text(check, "category", &r.category),
        repeat_of: text(check, "repeat_of", &r.repeat_of),
        reopened: r.reopened,
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

/// A ticket for a verb's response.
fn ticket(t: Ticket) -> Option<pb::Ticket> {
    Some(convert::ticket(t))
}

/// The ticket a verb names, the etag seen and who acts (the field that names them, and its
/// value).
pub(super) type Target<'a> = (i64, &'a str, (&'a str, &'a str));

/// A lifecycle verb: checks which ticket, the etag seen and who acts, with what `read` takes
/// of the verb's own fields (every bad field named at once), then calls the use case and
/// answers with the ticket it leaves.
pub(super) async fn verb<T>(
    by: &Caller,
    (ticket_id, etag_seen, (actor_field, actor)): Target<'_>,
    read: impl FnOnce(&mut Check) -> T,
    call: impl AsyncFnOnce(On, T) -> Result<Ticket>,
) -> Result<Option<pb::Ticket>> {
    let acting = by.acting(actor_field, actor)?;
    let mut check = Check::new();
    let fields = read(&mut check);
    let id = check.id("ticket_id", ticket_id);
    let etag = etag(etag_seen).map(|e| check.text("etag", e, false, limits::KEY));
    check.done()?;
    let changed = call(On::by(by, id, etag, acting), fields).await?;
    Ok(ticket(by.view_ticket(changed)))
}

type WatchStream =
    Pin<Box<dyn Stream<Item = std::result::Result<pb::WatchTicketsResponse, Status>> + Send>>;

#[tonic::async_trait]
impl TicketService for TicketApi {
    async fn merge_tickets(
        &self,
        request: Request<pb::MergeTicketsRequest>,
    ) -> Reply<pb::MergeTicketsResponse> {
        let by = caller(&request)?;
        let r = request.into_inner();
        reply(
            async {
                let acting = by.acting("actor", &r.actor)?;
                let mut check = Check::new();
                let duplicate = check.id("duplicate_ticket_id", r.duplicate_ticket_id);
                let primary = check.id("primary_ticket_id", r.primary_ticket_id);
                let etag = etag(&r.etag).map(|e| check.text("etag", e, false, limits::KEY));
                if r.duplicate_ticket_id == r.primary_ticket_id && r.primary_ticket_id > 0 {
                    check.add(
                        "primary_ticket_id",
                        "is the duplicate itself: a ticket is not merged into itself",
                    );
                }
                check.done()?;
                let on = On::by(&by, duplicate, etag, acting);
                let (primary, duplicate) = self
                    .cx
                    .app
                    .merge_tickets(on, primary, r.allow_other_customer)
                    .await?;
                Ok(pb::MergeTicketsResponse {
                    primary: ticket(primary),
                    duplicate: ticket(duplicate),
                })
            }
            .await,
        )
    }

    async fn link_tickets(
        &self,
        request: Request<pb::LinkTicketsRequest>,
    ) -> Reply<pb::LinkTicketsResponse> {
        let by = caller(&request)?;
        let r = request.into_inner();
        reply(
            async {
                let acting = by.acting("actor", &r.actor)?;
                let mut check = Check::new();
                let id = check.id("ticket_id", r.ticket_id);
                let other = check.id("other_ticket_id", r.other_ticket_id);
                let kind: LinkKind = check.required("kind", r.kind);
                if matches!(kind, LinkKind::MergedInto | LinkKind::MergedFrom) {
                    check.add("kind", "MERGED_* links are made by MergeTickets");
                }
                check.done()?;
                let on = On::by(&by, id, None, acting);
                let (t, other) = self.cx.app.link_tickets(on, other, kind).await?;
                Ok(pb::LinkTicketsResponse {
                    ticket: ticket(t),
                    other: ticket(other),
                })
            }
            .await,
        )
    }

    async fn unlink_tickets(
        &self,
        request: Request<pb::UnlinkTicketsRequest>,
    ) -> Reply<pb::UnlinkTicketsResponse> {
        let by = caller(&request)?;
        let r = request.into_inner();
        reply(
            async {
                let acting = by.acting("actor", &r.actor)?;
                let mut check = Check::new();
                let id = check.id("ticket_id", r.ticket_id);
                let other = check.id("other_ticket_id", r.other_ticket_id);
                check.done()?;
                let on = On::by(&by, id, None, acting);
                let (t, other) = self.cx.app.unlink_tickets(on, other).await?;
                Ok(pb::UnlinkTicketsResponse {
                    ticket: ticket(t),
                    other: ticket(other),
                })
            }
            .await,
        )
    }

    async fn resolve_with_children(
        &self,
        request: Request<pb::ResolveWithChildrenRequest>,
    ) -> Reply<pb::ResolveWithChildrenResponse> {
        let by = caller(&request)?;
        let r = request.into_inner();
        let app = &self.cx.app;
        reply(
            async {
                let acting = by.acting("actor", &r.actor)?;
                let mut check = Check::new();
                let id = check.id("ticket_id", r.ticket_id);
                let summary = check.text(
                    "resolution_summary",
                    &r.resolution_summary,
                    true,
                    limits::RESOLUTION,
                );
                let etag = etag(&r.etag).map(|e| check.text("etag", e, false, limits::KEY));
                check.done()?;
                let cascade = app
                    .resolve_with_children(On::by(&by, id, etag, acting), summary)
                    .await?;
                Ok(pb::ResolveWithChildrenResponse {
                    ticket: cascade.ticket.and_then(ticket),
                    resolved: cascade.resolved.into_iter().map(convert::ticket).collect(),
                    skipped: cascade
                        .skipped
                        .into_iter()
                        .map(|(ticket_number, reason)| pb::SkippedChild {
                            ticket_number,
                            reason,
                        })
                        .collect(),
                })
            }
            .await,
        )
    }

    async fn get_ticket_context(
        &self,
        request: Request<pb::GetTicketContextRequest>,
    ) -> Reply<pb::GetTicketContextResponse> {
        let by = caller(&request)?;
        let r = request.into_inner();
        reply(
            async {
                let mut check = Check::new();
                let id = check.id("ticket_id", r.ticket_id);
                let history = match r.history_size {
                    0 => 10,
                    n @ 1..=50 => n as u64,
                    n => {
                        check.add("history_size", format!("{n} is not between 0 and 50"));
                        0
                    }
                };
                check.done()?;
                let c = self.cx.app.ticket_context(id, history, &by).await?;
                Ok(pb::GetTicketContextResponse {
                    ticket: ticket(c.ticket),
                    linked: c.linked.into_iter().map(convert::ticket).collect(),
                    history: c.history.into_iter().map(convert::ticket).collect(),
                })
            }
            .await,
        )
    }

    async fn create_ticket(
        &self,
        request: Request<pb::CreateTicketRequest>,
    ) -> Reply<pb::CreateTicketResponse> {
        let by = caller(&request)?;
        let app = &self.cx.app;
        reply(
            async {
                let mut new = new_ticket(request.get_ref(), "", app.now(), &by)?;
                // Before the allowance is spent, so no one spends another customer's.
                by.check_intake(&mut new)?;
                if let Some((_, customer)) = new.customer.identity() {
                    self.cx.limits.intake(customer)?;
                }
                let intake = app.create_ticket(&by, new).await?;
                let t = intake.ticket;
                let expected = intake.acknowledgement.expected;
                Ok(pb::CreateTicketResponse {
                    acknowledgement: intake.acknowledgement.text,
                    expected_response_within: expected.map(|(within, _)| convert::duration(within)),
                    expected_response_by: expected.and_then(|(_, by)| by).map(convert::timestamp),
                    off_hours: t.sla.off_hours_until.is_some(),
                    replayed: intake.replayed,
                    queue_position: intake.queue_position as i32,
                    ticket: ticket(t),
                })
            }
            .await,
        )
    }

    async fn get_ticket(&self, request: Request<pb::GetTicketRequest>) -> Reply<pb::Ticket> {
        let by = caller(&request)?;
        use pb::get_ticket_request::Key;
        reply(
            async {
                let mut check = Check::new();
                let key = match &request.get_ref().key {
                    Some(Key::TicketId(id)) => TicketKey::Id(check.id("ticket_id", *id)),
                    Some(Key::Number(number)) => {
                        TicketKey::Number(check.text("number", number, true, limits::KEY))
                    }
                    None => {
                        check.add("key", "set ticket_id or number");
                        TicketKey::Id(0)
                    }
                };
                let key = check.finish(key)?;
                let found = self.cx.app.ticket(&key, &by).await?;
                Ok(convert::ticket(by.view_ticket(found)))
            }
            .await,
        )
    }

    async fn list_tickets(
        &self,
        request: Request<pb::ListTicketsRequest>,
    ) -> Reply<pb::ListTicketsResponse> {
        let by = caller(&request)?;
        let r = request.into_inner();
        reply(
            async {
                let mut check = Check::new();
                let filter = filter(&mut check, &r);
                let order = order(&mut check, &r.order_by);
                let page: Page<Position> = Page::read(&mut check, &r);
                check.done()?;
                let (tickets, total) = self
                    .cx
                    .app
                    .list_tickets(&by, filter, order, page.after, page.fetch())
                    .await?;
                let view = |t| convert::ticket(by.view_ticket(t));
                let (tickets, next_page_token) =
                    page.finish(tickets, view, |t| position_of(t, order));
                Ok(pb::ListTicketsResponse {
                    tickets,
                    next_page_token,
                    total_size: i64::try_from(total).unwrap_or(i64::MAX),
                })
            }
            .await,
        )
    }

    async fn update_ticket(
        &self,
        request: Request<pb::UpdateTicketRequest>,
    ) -> Reply<pb::UpdateTicketResponse> {
        let by = caller(&request)?;
        let r = request.into_inner();
        let now = self.cx.app.now();
        reply(
            async {
                let mut check = Check::new();
                if r.ticket.is_none() {
                    check.add("ticket", "is required: set ticket.id and the new values");
                }
                let given = r.ticket.unwrap_or_default();
                let acting = by.acting("actor", &r.actor)?;
                let patch = patch_explained(
                    &mut check,
                    "ticket",
                    r.update_mask.as_ref(),
                    UPDATABLE,
                    not_updatable,
                    |check| edit(check, &given, &acting.actor, now),
                );
                let id = check.id("ticket.id", given.id);
                let etag =
                    etag(&given.etag).map(|e| check.text("ticket.etag", e, false, limits::KEY));
                check.done()?;
                let on = On::by(&by, id, etag, acting);
                let updated = self.cx.app.update_ticket(on, patch).await?;
                Ok(pb::UpdateTicketResponse {
                    ticket: ticket(updated),
                })
            }
            .await,
        )
    }

    async fn assign_ticket(
        &self,
        request: Request<pb::AssignTicketRequest>,
    ) -> Reply<pb::AssignTicketResponse> {
        let by = caller(&request)?;
        let r = request.into_inner();
        let app = &self.cx.app;
        let read = |check: &mut Check| {
            let team = optional_key(check, "team", &r.team);
            let agent = optional_key(check, "agent", &r.agent);
            if team.is_none() && agent.is_none() {
                check.add("agent", "set a team, an agent, or both");
            }
            if r.transfer_ownership && agent.is_none() {
                check.add("transfer_ownership", "needs an agent to own the ticket");
            }
            Assignment {
                team,
                agent,
                transfer_ownership: r.transfer_ownership,
                reason: check.optional_text("reason", &r.reason, limits::REASON),
            }
        };
        let call = async |on, assignment| app.assign(on, assignment).await;
        let ticket = verb(&by, (r.ticket_id, &r.etag, ("actor", &r.actor)), read, call).await;
        reply(ticket.map(|ticket| pb::AssignTicketResponse { ticket }))
    }

    async fn acknowledge_ticket(
        &self,
        request: Request<pb::AcknowledgeTicketRequest>,
    ) -> Reply<pb::AcknowledgeTicketResponse> {
        let by = caller(&request)?;
        let r = request.into_inner();
        let app = &self.cx.app;
        // The acknowledging agent is also the actor: the caller's own agent when not named.
        let call = async |on, ()| app.acknowledge(on).await;
        let target = (r.ticket_id, r.etag.as_str(), ("agent", r.agent.as_str()));
        let ticket = verb(&by, target, |_| (), call).await;
        reply(ticket.map(|ticket| pb::AcknowledgeTicketResponse { ticket }))
    }
    async fn add_comment(
        &self,
        request: Request<pb::AddCommentRequest>,
    ) -> Reply<pb::AddCommentResponse> {
        let by = caller(&request)?;
        let r = request.into_inner();
        reply(
            async {
                let mut check = Check::new();
                let id = check.id("ticket_id", r.ticket_id);
                let visibility: Visibility = check.required("visibility", r.visibility);
                let body = check.text("body", &r.body, true, limits::COMMENT);
                let author_role = check.optional_enum("author_role", r.author_role).unwrap_or(
                    if by.sees_internal() {
                        AuthorRole::Agent
                    } else {
                        AuthorRole::Customer
                    },
                );
                // Staff write as themselves (or, admins and supervisors, for an agent); a
                // customer as themselves; a connector names the customer it speaks for, and the
                // event records both.
                let (author, acting) = match by.role {
                    Role::Customer => (
                        by.customer
                            .clone()
                            .filter(|_| r.author.is_empty())
                            .unwrap_or_else(|| r.author.clone()),
                        by.acting("author", "")?,
                    ),
                    Role::Connector => {
                        let author = check.text("author", &r.author, true, limits::ACTOR);
                        let acting = Acting {
                            actor: format!("customer:{author}"),
                            via: Some(by.actor()),
                        };
                        (author, acting)
                    }
                    _ => {
                        let acting = by.acting("author", &r.author)?;
                        (acting.actor.clone(), acting)
                    }
                };
                if author_role == AuthorRole::Customer && visibility == Visibility::Internal {
                    check.add("visibility", "a customer's message is always PUBLIC");
                }
                let new = NewComment {
                    visibility,
                    author,
                    author_role,
                    body,
                    request_id: request_id(&mut check, &r.request_id),
                };
                let new = check.finish(new)?;
                let on = On::by(&by, id, None, acting);
                let (comment, t) = self.cx.app.add_comment(on, new).await?;
                Ok(pb::AddCommentResponse {
                    comment: Some(convert::comment(comment)),
                    ticket: ticket(by.view_ticket(t)),
                })
            }
            .await,
        )
    }

    async fn list_comments(
        &self,
        request: Request<pb::ListCommentsRequest>,
    ) -> Reply<pb::ListCommentsResponse> {
        let by = caller(&request)?;
        let r = request.into_inner();
        reply(
            async {
                let mut check = Check::new();
                let id = check.id("ticket_id", r.ticket_id);
                let visibility = check.optional_enum("visibility", r.visibility);
                let page: Page<i64> = Page::read(&mut check, &r);
                check.done()?;
                let comments = self
                    .cx
                    .app
                    .comments(id, visibility, page.after.unwrap_or(0), page.fetch(), &by)
                    .await?;
                let (comments, next_page_token) = page.finish(
                    comments,
                    |(comment, attached)| pb::Comment {
                        attachments: attached.into_iter().map(convert::attachment).collect(),
                        ..convert::comment(comment)
                    },
                    |(c, _)| c.id,
                );
                Ok(pb::ListCommentsResponse {
                    comments,
                    next_page_token,
                })
            }
            .await,
        )
    }

    async fn set_pending(
        &self,
        request: Request<pb::SetPendingRequest>,
    ) -> Reply<pb::SetPendingResponse> {
        let by = caller(&request)?;
        let r = request.into_inner();
        let app = &self.cx.app;
        let read = |check: &mut Check| check.optional_text("reason", &r.reason, limits::REASON);
        let call = async |on, reason| app.set_pending(on, reason).await;
        let ticket = verb(&by, (r.ticket_id, &r.etag, ("actor", &r.actor)), read, call).await;
        reply(ticket.map(|ticket| pb::SetPendingResponse { ticket }))
    }

    async fn resume_ticket(
        &self,
        request: Request<pb::ResumeTicketRequest>,
    ) -> Reply<pb::ResumeTicketResponse> {
        let by = caller(&request)?;
        let r = request.into_inner();
        let app = &self.cx.app;
        let call = async |on, ()| app.resume(on).await;
        let ticket = verb(
            &by,
            (r.ticket_id, &r.etag, ("actor", &r.actor)),
            |_| (),
            call,
        )
        .await;
        reply(ticket.map(|ticket| pb::ResumeTicketResponse { ticket }))
    }

    async fn resolve_ticket(
        &self,
        request: Request<pb::ResolveTicketRequest>,
    ) -> Reply<pb::ResolveTicketResponse> {
        let by = caller(&request)?;
        let r = request.into_inner();
        let app = &self.cx.app;
        let read = |check: &mut Check| {
            let resolution = check
                .optional_enum("resolution", r.resolution)
                .unwrap_or(Resolution::Solved);
            let merged_into = check.optional_text("merged_into", &r.merged_into, limits::KEY);
            match (resolution, &merged_into) {
                (Resolution::Merged, None) => {
                    check.add("merged_into", "is required when resolution is MERGED")
                }
                (Resolution::Solved | Resolution::Spam, Some(_)) => {
                    check.add("merged_into", "is only for resolution MERGED")
                }
                _ => {}
            }
            Resolve {
                summary: check.text(
                    "resolution_summary",
                    &r.resolution_summary,
                    true,
                    limits::RESOLUTION,
                ),
                resolution,
                merged_into,
                cancel_open_tasks: r.cancel_open_tasks,
                with_parent: false,
            }
        };
        let call = async |on, resolve| app.resolve(on, resolve).await;
        let ticket = verb(&by, (r.ticket_id, &r.etag, ("actor", &r.actor)), read, call).await;
        reply(ticket.map(|ticket| pb::ResolveTicketResponse { ticket }))
    }

    async fn close_ticket(
        &self,
        request: Request<pb::CloseTicketRequest>,
    ) -> Reply<pb::CloseTicketResponse> {
        let by = caller(&request)?;
        let r = request.into_inner();
        let app = &self.cx.app;
        let call = async |on, ()| app.close(on).await;
        let ticket = verb(
            &by,
            (r.ticket_id, &r.etag, ("actor", &r.actor)),
            |_| (),
            call,
        )
        .await;
        reply(ticket.map(|ticket| pb::CloseTicketResponse { ticket }))
    }

    async fn reopen_ticket(
        &self,
        request: Request<pb::ReopenTicketRequest>,
    ) -> Reply<pb::ReopenTicketResponse> {
        let by = caller(&request)?;
        let r = request.into_inner();
        let app = &self.cx.app;
        let read = |check: &mut Check| check.text("reason", &r.reason, true, limits::REASON);
        let call = async |on, reason| app.reopen(on, reason).await;
        let ticket = verb(&by, (r.ticket_id, &r.etag, ("actor", &r.actor)), read, call).await;
        reply(ticket.map(|ticket| pb::ReopenTicketResponse { ticket }))
    }
    async fn list_ticket_events(
        &self,
        request: Request<pb::ListTicketEventsRequest>,
    ) -> Reply<pb::ListTicketEventsResponse> {
        let by = caller(&request)?;
        let r = request.into_inner();
        reply(
            async {
                let mut check = Check::new();
                let id = check.id("ticket_id", r.ticket_id);
                let types = check.enums("event_types", &r.event_types, limits::FILTER_VALUES);
                let page: Page<i64> = Page::read(&mut check, &r);
                check.done()?;
                let events = self
                    .cx
                    .app
                    .ticket_events(id, &types, page.after.unwrap_or(0), page.fetch(), &by)
                    .await?;
                let (events, next_page_token) =
                    page.finish(events, convert::history_event, |e| e.cursor);
                Ok(pb::ListTicketEventsResponse {
                    events,
                    next_page_token,
                })
            }
            .await,
        )
    }

    type WatchTicketsStream = WatchStream;

    async fn watch_tickets(
        &self,
        request: Request<pb::WatchTicketsRequest>,
    ) -> Reply<Self::WatchTicketsStream> {
        let by = caller(&request)?;
        let r = request.into_inner();
        reply(
            async {
                let mut check = Check::new();
                if r.ticket_id < 0 {
                    check.add("ticket_id", "must be a positive ticket id");
                }
                let filter = WatchFilter {
                    scope: Scope::All,
                    ticket_id: Some(r.ticket_id).filter(|&id| id > 0),
                    team: check.optional_text("team", &r.team, limits::TEAM),
                    assignee: check.optional_text("assignee", &r.assignee, limits::TEAM),
                    customer_external_id: check.optional_text(
                        "customer_external_id",
                        &r.customer_external_id,
                        limits::EXTERNAL_ID,
                    ),
                    event_types: check.enums("event_types", &r.event_types, limits::FILTER_VALUES),
                };
                check.done()?;
                let events = self
                    .cx
                    .app
                    .watch(&self.cx.hub, &by, filter, r.after_cursor)
                    .await?;
                let principal = by.principal.clone();
                let look = principal.look();
                // Each batch leaves as one message, or several when it is too large for one.
                // An event is encoded once for every watcher it looks the same to.
                let stream = events.flat_map(move |batch| {
                    let messages: Vec<_> = match batch {
                        Ok(events) => chunks(
                            events
                                .iter()
                                .filter(|shared| by.shows(&shared.event))
                                .map(|shared| {
                                    shared.encoded(look, |event| {
                                        prost::Message::encode_to_vec(&convert::event(event)).into()
                                    })
                                }),
                            |encoded| encoded.len(),
                        )
                        .into_iter()
                        .map(|events| Ok(pb::WatchTicketsResponse::encoded(events)))
                        .collect(),
                        Err(error) => vec![Err(Status::from(error))],
                    };
                    futures::stream::iter(messages)
                });
                // A key revoked while it watches ends its stream, refused as its next call
                // would be; the stream's own end (a shutdown) ends it as before.
                let app = self.cx.app.clone();
                let revoked = futures::stream::once(async move {
                    app.revocation(&principal).await;
                    Some(Err(Status::from(Rejected::Revoked)))
                });
                let stream = stream
                    .map(Some)
                    .chain(futures::stream::once(async { None }));
                let stream = futures::stream::select(stream, revoked)
                    .take_while(|item| std::future::ready(item.is_some()))
                    .filter_map(std::future::ready);
                Ok(Box::pin(stream) as Self::WatchTicketsStream)
            }
            .await,
        )
    }
}

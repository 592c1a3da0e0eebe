//! Links between tickets: linking and unlinking, merging a duplicate into its primary,
//! resolving an incident with the complaints it caused, and what an agent sees beside a
//! ticket. A link changes both tickets in one transaction; they lock in id order.

use chrono::{DateTime, Utc};

use super::App;
use super::tickets::{Changed, On, Resolve};
use crate::domain::access::Principal;
use crate::domain::error::{Refusal, Versioned};
use crate::domain::event::{Change, EventType};
use crate::domain::link::{self, Link, LinkKind};
use crate::domain::query::{TicketFilter, TicketOrder};
use crate::domain::ticket::{
    AuthorRole, NewComment, Resolution, Status, Ticket, Visibility, limits,
};
use crate::error::{Found, Result};
use crate::store::Write;

/// Linked tickets GetTicketContext returns, at most.
const MAX_LINKED: usize = 50;

/// Public messages of a duplicate copied into the primary's note, at most.
const MESSAGES_COPIED: u64 = 50;

/// What ResolveWithChildren did to each child.
#[derive(Debug, Clone, Default)]
pub struct Cascade {
    pub ticket: Option<Ticket>,
    pub resolved: Vec<Ticket>,
    /// Children left as they were: number and why.
    pub skipped: Vec<(String, String)>,
}

/// What GetTicketContext answers.
#[derive(Debug, Clone)]
pub struct Context {
    pub ticket: Ticket,
    pub linked: Vec<Ticket>,
    pub history: Vec<Ticket>,
}

impl App {
    /// Links the ticket `on` names to `other` as `kind` (what `other` is to it).
    pub async fn link_tickets(
        &self,
        on: On,
        other: i64,
        kind: LinkKind,
    ) -> Result<(Ticket, Ticket)> {
        let now = self.now();
        let write = self.store.begin().await?;
        let (mut a, mut b) = self.lock_pair(&write, &on, other).await?;
        // A parent's chain of parents must not hold the child.
        let (child, parent) = match kind {
            LinkKind::Parent => (&a, &b),
            _ => (&b, &a),
        };
        if kind != LinkKind::Related {
            let ancestors = self.ancestors(parent).await?;
            link::check_no_cycle(child, &ancestors)?;
        }
        link::link(&mut a, &mut b, kind)?;
        let changed = self
            .relink(&write, &on, now, EventType::TicketLinked, kind, a, b)
            .await?;
        self.finish_pair(write, changed).await
    }

    /// Removes the link between the ticket `on` names and `other`.
    pub async fn unlink_tickets(&self, on: On, other: i64) -> Result<(Ticket, Ticket)> {
        let now = self.now();
        let write = self.store.begin().await?;
        let (mut a, mut b) = self.lock_pair(&write, &on, other).await?;
        let kind = link::unlink(&mut a, &mut b)?;
        let changed = self
            .relink(&write, &on, now, EventType::TicketUnlinked, kind, a, b)
            .await?;
        self.finish_pair(write, changed).await
    }

    /// Merges the duplicate `on` names into `primary`: the duplicate resolves as MERGED, the
    /// primary takes a note of its text and public messages, and both record the link. A
    /// repeat of a merge done already answers with both tickets as they stand.
    pub async fn merge_tickets(
        &self,
        on: On,
        primary: i64,
        across_customers: bool,
    ) -> Result<(Ticket, Ticket)> {
        let now = self.now();
        let write = self.store.begin().await?;
        let (duplicate, main) = self.lock_pair(&write, &on, primary).await?;
        if duplicate.merged_into.as_deref() == Some(main.number.as_str())
            && duplicate.links.iter().any(|l| l.ticket_id == main.id)
        {
            return Ok((main, duplicate));
        }
        duplicate.check_etag(on.etag.as_deref())?;
        link::check_merge(&duplicate, &main, across_customers)?;
        if main.status == Status::Quarantined {
            return Err(Refusal::precondition(
                format!("ticket {}", main.number),
                "is held for review: release it before merging into it",
            )
            .into());
        }
        let mut note = format!(
            "Merged from {} ({}, customer {}): {}\n{}",
            duplicate.number,
            duplicate.channel,
            if duplicate.customer.name.is_empty() {
                "unnamed"
            } else {
                &duplicate.customer.name
            },
            duplicate.title,
            duplicate.description
        );
        // One more than is copied, to say whether some were left out.
        let messages = self
            .store
            .list_comments(
                duplicate.id,
                Some(Visibility::Public),
                0,
                MESSAGES_COPIED + 1,
            )
            .await?;
        for m in messages.iter().take(MESSAGES_COPIED as usize) {
            note += &format!(
                "\n— {} ({}): {}",
                m.author,
                m.created_at.format("%Y-%m-%d %H:%M"),
                m.body
            );
        }
        if messages.len() as u64 > MESSAGES_COPIED {
            note += &format!("\n… more messages on {}", duplicate.number);
        }
        // Its public files stay where they are, referenced by id for DownloadAttachment.
        let files = self
            .store
            .list_attachments(duplicate.id, None, true, 0, MESSAGES_COPIED)
            .await?;
        for f in &files {
            note += &format!(
                "\n📎 {} ({}, {} bytes): attachment {}",
                f.file_name, f.content_type, f.size, f.id
            );
        }
        let note: String = note.chars().take(limits::COMMENT).collect();
        // Another customer's ticket number is not the duplicate's customer's to read.
        let same_customer = duplicate.customer.external_id == main.customer.external_id;
        let resolve = Resolve {
            summary: if same_customer {
                format!("Merged into {}", main.number)
            } else {
                "Merged into the ticket that handles the same matter".to_owned()
            },
            resolution: Resolution::Merged,
            merged_into: Some(main.number.clone()),
            cancel_open_tasks: false,
            with_parent: false,
        };
        let (mut duplicate_after, mut main_after) = (duplicate.clone(), main.clone());
        link::link(&mut duplicate_after, &mut main_after, LinkKind::MergedInto)?;
        let duplicate_after = Side::of(duplicate_after, &main, LinkKind::MergedInto);
        let main_after = Side::of(main_after, &duplicate, LinkKind::MergedFrom);
        // The duplicate resolves, carrying its side of the link in the same change.
        let mut resolved = self.resolve_in(&write, on.clone(), &resolve, now).await?;
        let linked = EventType::TicketLinked;
        let merged = self
            .set_links(
                &write,
                &on.at(duplicate.id),
                now,
                linked,
                &duplicate_after,
                None,
            )
            .await?;
        resolved.events.extend(merged.events);
        resolved.ticket = merged.ticket;
        let note = NewComment {
            visibility: Visibility::Internal,
            author: on.actor.clone(),
            author_role: AuthorRole::Agent,
            body: note,
            request_id: None,
        };
        let primary_side = self
            .set_links(
                &write,
                &on.beside(main.id),
                now,
                linked,
                &main_after,
                Some(note),
            )
            .await?;
        let (primary_after, duplicate_after) =
            self.finish_pair(write, (primary_side, resolved)).await?;
        Ok((primary_after, duplicate_after))
    }

    /// Resolves the parent ticket `on` names and each of its children that can be resolved
    /// now, in one transaction; the others are listed with the reason.
    pub async fn resolve_with_children(&self, on: On, summary: String) -> Result<Cascade> {
        let now = self.now();
        // The parent and its children lock in id order, as every pair of linked tickets does:
        // read the children first, lock them all, then read the parent again under its lock.
        let seen = self
            .store
            .ticket(on.ticket_id)
            .await?
            .filter(|t| on.by.sees(t))
            .found("ticket", on.ticket_id)?;
        let mut ids: Vec<i64> = link::children(&seen).map(|l| l.ticket_id).collect();
        ids.push(seen.id);
        ids.sort_unstable();
        let write = self.store.begin().await?;
        for &id in &ids {
            self.store.lock_ticket(&write, id).await?;
        }
        let parent = self.lock_for(&write, &on).await?;
        let mut resolve = Resolve {
            summary,
            resolution: Resolution::Solved,
            merged_into: None,
            cancel_open_tasks: false,
            with_parent: false,
        };
        let mut cascade = Cascade::default();
        let mut changed = self.resolve_in(&write, on.clone(), &resolve, now).await?;
        resolve.with_parent = true;
        // A child linked since the first read waits for its lock in this loop's order; the
        // chance of a deadlock with a concurrent link is that small window alone.
        for child in link::children(&parent) {
            let child_on = On {
                etag: None,
                ..on.at(child.ticket_id)
            };
            let current = self.store.lock_ticket(&write, child.ticket_id).await?;
            let skip = match &current {
                None => Some("no longer exists".to_owned()),
                Some(t) if !on.by.works_on(t) => Some("outside your scope".to_owned()),
                Some(t) if matches!(t.status, Status::Resolved | Status::Closed) => {
                    Some(format!("already {}", t.status))
                }
                Some(_) => None,
            };
            if let Some(why) = skip {
                cascade.skipped.push((child.number.clone(), why));
                continue;
            }
            // The checks come before anything is written: a refusal leaves the child as it is.
            match self.resolve_in(&write, child_on, &resolve, now).await {
                Ok(done) => {
                    cascade.resolved.push(done.ticket.clone());
                    changed.events.extend(done.events);
                }
                Err(crate::error::Error::Refused(why)) => {
                    cascade
                        .skipped
                        .push((child.number.clone(), why.to_string()));
                }
                Err(other) => return Err(other),
            }
        }
        cascade.ticket = Some(self.finish(write, changed).await?);
        Ok(cascade)
    }

    /// The ticket with what is linked to it and its customer's earlier tickets.
    pub async fn ticket_context(&self, id: i64, history: u64, by: &Principal) -> Result<Context> {
        let ticket = self.visible_ticket(id, by).await?;
        // The newest links first, as many as a reply holds comfortably.
        let mut linked = Vec::new();
        for l in ticket.links.iter().rev().take(MAX_LINKED) {
            if let Some(t) = self.store.ticket(l.ticket_id).await?.filter(|t| by.sees(t)) {
                linked.push(by.view_ticket(t));
            }
        }
        let earlier = match ticket.customer.external_id.as_str() {
            "" => Vec::new(),
            customer => {
                let filter = TicketFilter {
                    scope: by.scope(),
                    customer_external_id: Some(customer.to_owned()),
                    created_before: Some(ticket.created_at),
                    ..TicketFilter::default()
                };
                let newest_first = TicketOrder {
                    descending: true,
                    ..TicketOrder::default()
                };
                self.store
                    .list_tickets(&filter, newest_first, None, history)
                    .await?
                    .into_iter()
                    .filter(|t| t.id != ticket.id)
                    .map(|t| by.view_ticket(t))
                    .collect()
            }
        };
        Ok(Context {
            ticket: by.view_ticket(ticket),
            linked,
            history: earlier,
        })
    }

    /// Locks the ticket `on` names, which its caller must work on, and `other`, which it must
    /// see (an agent links a complaint to another team's incident), in id order; answers them
    /// in the order named.
    async fn lock_pair(&self, write: &Write, on: &On, other: i64) -> Result<(Ticket, Ticket)> {
        if other == on.ticket_id {
            return Err(Refusal::invalid("other_ticket_id", "is this ticket: name another").into());
        }
        let lock_other = async || {
            self.store
                .lock_ticket(write, other)
                .await?
                .filter(|t| on.by.sees(t))
                .found("ticket", other)
        };
        if on.ticket_id < other {
            let a = self.lock_for(write, on).await?;
            Ok((a, lock_other().await?))
        } else {
            let b = lock_other().await?;
            Ok((self.lock_for(write, on).await?, b))
        }
    }

    /// The ids of `ticket`'s parent, its parent's parent, and so on (up to the depth limit).
    async fn ancestors(&self, ticket: &Ticket) -> Result<Vec<i64>> {
        let mut chain = Vec::new();
        let mut next = link::parent(ticket).map(|l| l.ticket_id);
        while let Some(id) = next {
            if chain.contains(&id) || chain.len() >= link::MAX_DEPTH {
                break;
            }
            chain.push(id);
            next = self
                .store
                .ticket(id)
                .await?
                .and_then(|t| link::parent(&t).map(|l| l.ticket_id));
        }
        Ok(chain)
    }

    /// Records the links of `a` and `b` as they are now (`kind` is what `b` is to `a`), each
    /// ticket with its own event.
    #[allow(clippy::too_many_arguments)]
    async fn relink(
        &self,
        write: &Write,
        on: &On,
        now: DateTime<Utc>,
        event: EventType,
        kind: LinkKind,
        a: Ticket,
        b: Ticket,
    ) -> Result<(Changed, Changed)> {
        let b = Side::of(b, &a, kind.inverse());
        let a = Side::of(a, &b.ticket, kind);
        let first = self
            .set_links(write, &on.at(a.ticket.id), now, event, &a, None)
            .await?;
        let second = self
            .set_links(write, &on.beside(b.ticket.id), now, event, &b, None)
            .await?;
        Ok((first, second))
    }

    /// Gives the ticket `on` names the links of `side`, recording `event` about the link it
    /// sees, with `note` when one goes with it.
    async fn set_links(
        &self,
        write: &Write,
        on: &On,
        now: DateTime<Utc>,
        event: EventType,
        side: &Side,
        note: Option<NewComment>,
    ) -> Result<Changed> {
        self.change_in(write, on, now, |t| {
            t.links = side.ticket.links.clone();
            let mut change = Change::of(event);
            change.note.link = Some(side.link.clone());
            change.note.comment = note;
            Ok(change)
        })
        .await
    }

    /// Commits the change of two tickets and answers with both as they stand.
    async fn finish_pair(
        &self,
        write: Write,
        (a, b): (Changed, Changed),
    ) -> Result<(Ticket, Ticket)> {
        let other = b.ticket.clone();
        let events = b.events;
        let mut first = a;
        first.events.extend(events);
        let a = self.finish(write, first).await?;
        Ok((a, other))
    }
}

/// One ticket of a link as it stands after the link changed, and the link as it sees it.
struct Side {
    ticket: Ticket,
    link: Link,
}

impl Side {
    /// `ticket`, seeing `other` as `kind`.
    fn of(ticket: Ticket, other: &Ticket, kind: LinkKind) -> Side {
        let link = Link::to(other, kind);
        Side { ticket, link }
    }
}

impl On {
    /// The same change, on another ticket.
    fn at(&self, ticket_id: i64) -> On {
        On {
            ticket_id,
            etag: None,
            ..self.clone()
        }
    }

    /// The same actor's change of the other ticket of a link, which the caller need only see:
    /// recorded under them, made by the service on their behalf.
    fn beside(&self, ticket_id: i64) -> On {
        On {
            actor: self.actor.clone(),
            via: self.via.clone(),
            ..On::system(ticket_id, &self.actor)
        }
    }
}

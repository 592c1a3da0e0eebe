//! Tickets: intake with numbering and idempotency, reads, the list, and changes that
//! commit together with their event.

use chrono::{DateTime, Utc};
use sea_orm::sea_query::{ExprTrait, Func, LikeExpr, Query};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, DbBackend, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect, Select, prelude::Expr,
};

use super::entity::{tag, ticket};
use super::{Store, Write, check_etag, convert};
use crate::domain::event::{EventType, TicketEvent, diff};
use crate::domain::query::{Position, SortKey, TicketFilter, TicketOrder};
use crate::domain::ticket::Ticket;

use super::comments::NewComment;
use crate::error::{Error, Result};

/// What a change records besides the fields it changed.
#[derive(Debug, Default)]
pub struct Note {
    pub reason: Option<String>,
    /// A comment to store with the change; the event carries it as stored.
    pub comment: Option<NewComment>,
    /// The survey behind the change.
    pub survey: Option<crate::domain::survey::SurveyRef>,
    /// The clocks and escalation an SLA change is about.
    pub sla: Option<crate::domain::event::SlaNote>,
}

impl Store {
    pub async fn get_ticket(&self, id: i64) -> Result<Ticket> {
        let row = ticket::Entity::find_by_id(id).one(&self.db).await?;
        ticket_of(row)?.ok_or_else(|| Error::not_found("ticket", id))
    }

    pub async fn get_ticket_by_number(&self, number: &str) -> Result<Ticket> {
        let row = ticket::Entity::find()
            .filter(ticket::Column::Number.eq(number))
            .one(&self.db)
            .await?;
        ticket_of(row)?.ok_or_else(|| Error::not_found("ticket", number))
    }

    /// Up to `limit` tickets matching `filter` in `order`, strictly after `after`.
    pub async fn list_tickets(
        &self,
        filter: &TicketFilter,
        order: TicketOrder,
        after: Option<Position>,
        limit: u64,
    ) -> Result<Vec<Ticket>> {
        let query = order_and_seek(filtered(filter, self.backend()), order, after).limit(limit);
        let rows = query.all(&self.db).await?;
        rows.into_iter().map(convert::ticket).collect()
    }

    /// Changes a ticket under its lock: `change` edits it and names the event; the new state
    /// and its event commit together. An unchanged ticket writes nothing and records nothing.
    /// `etag`, when given, must be the ticket's current one.
    pub async fn change_ticket<F>(
        &self,
        id: i64,
        etag: Option<&str>,
        actor: &str,
        now: DateTime<Utc>,
        change: F,
    ) -> Result<(Ticket, Option<TicketEvent>)>
    where
        F: FnOnce(&mut Ticket) -> Result<(EventType, Note)>,
    {
        let write = self.begin().await?;
        let (ticket, event) = self.change_in(&write, id, etag, actor, now, change).await?;
        if event.is_some() {
            self.commit(write).await?;
        }
        Ok((ticket, event))
    }

    /// [`Store::change_ticket`] inside a write the caller commits.
    pub(crate) async fn change_in<F>(
        &self,
        write: &Write,
        id: i64,
        etag: Option<&str>,
        actor: &str,
        now: DateTime<Utc>,
        change: F,
    ) -> Result<(Ticket, Option<TicketEvent>)>
    where
        F: FnOnce(&mut Ticket) -> Result<(EventType, Note)>,
    {
        let before = self.lock_ticket(write, id).await?;
        check_etag(etag, before.etag())?;
        let mut after = before.clone();
        let (event_type, note) = change(&mut after)?;
        let clocks = self
            .follow_sla(write, Some(&before), &mut after, now)
            .await?;
        let changes = diff(&before, &after);
        if changes.is_empty() && note.comment.is_none() && note.sla.is_none() {
            return Ok((before, None));
        }
        after.version += 1;
        after.updated_at = now;
        convert::ticket_row(&after).update(write.conn()).await?;
        if after.tags != before.tags {
            tag::Entity::delete_many()
                .filter(tag::Column::TicketId.eq(id))
                .exec(write.conn())
                .await?;
            self.insert_tags(write, [&after]).await?;
        }
        let comment = match note.comment {
            Some(new) => Some(self.insert_comment(write, id, new, now).await?),
            None => None,
        };
        let mut event = TicketEvent {
            changes,
            reason: note.reason,
            comment,
            survey: note.survey,
            sla: note.sla,
            ..TicketEvent::on(&after, event_type, actor, now)
        };
        event.cursor = self.append_event(write, &event).await?;
        let clock_events = super::sla::clock_events(&after, clocks, now);
        if !clock_events.is_empty() {
            self.append_events(write, &clock_events).await?;
        }
        Ok((after, Some(event)))
    }

    /// The numbers of the tickets `ids`, by id.
    pub(crate) async fn ticket_numbers(
        &self,
        ids: impl IntoIterator<Item = i64>,
    ) -> Result<std::collections::HashMap<i64, String>> {
        let rows: Vec<(i64, String)> = ticket::Entity::find()
            .select_only()
            .columns([ticket::Column::Id, ticket::Column::Number])
            .filter(ticket::Column::Id.is_in(ids))
            .into_tuple()
            .all(&self.db)
            .await?;
        Ok(rows.into_iter().collect())
    }

    /// Reads a ticket inside a write, locking its row against concurrent changes (SQLite's
    /// single writer already excludes them).
    pub(crate) async fn lock_ticket(&self, write: &Write, id: i64) -> Result<Ticket> {
        let mut query = ticket::Entity::find_by_id(id);
        if self.backend() == DbBackend::Postgres {
            query = query.lock_exclusive();
        }
        let row = query.one(write.conn()).await?;
        ticket_of(row)?.ok_or_else(|| Error::not_found("ticket", id))
    }

    /// Indexes the tickets' tags for the tag filter.
    pub(crate) async fn insert_tags<'a>(
        &self,
        write: &Write,
        tickets: impl IntoIterator<Item = &'a Ticket>,
    ) -> Result<()> {
        let rows: Vec<_> = tickets
            .into_iter()
            .flat_map(|t| {
                t.tags.iter().map(|tag| tag::ActiveModel {
                    ticket_id: sea_orm::Set(t.id),
                    tag: sea_orm::Set(tag.clone()),
                })
            })
            .collect();
        if !rows.is_empty() {
            tag::Entity::insert_many(rows)
                .exec_without_returning(write.conn())
                .await?;
        }
        Ok(())
    }
}

/// The ticket of `row`, if there is one.
pub(crate) fn ticket_of(row: Option<ticket::Model>) -> Result<Option<Ticket>> {
    row.map(convert::ticket).transpose()
}

fn filtered(f: &TicketFilter, backend: DbBackend) -> Select<ticket::Entity> {
    use ticket::Column as C;
    let names = |values: Vec<&'static str>| values.into_iter().map(str::to_owned);
    let mut cond = Condition::all();
    if !f.statuses.is_empty() {
        cond = cond.add(C::Status.is_in(names(f.statuses.iter().map(|s| s.as_str()).collect())));
    }
    if !f.priorities.is_empty() {
        cond =
            cond.add(C::Priority.is_in(names(f.priorities.iter().map(|s| s.as_str()).collect())));
    }
    if !f.kinds.is_empty() {
        cond = cond.add(C::Kind.is_in(names(f.kinds.iter().map(|s| s.as_str()).collect())));
    }
    if !f.channels.is_empty() {
        cond = cond.add(C::Channel.is_in(names(f.channels.iter().map(|s| s.as_str()).collect())));
    }
    for (column, value) in [
        (C::Team, &f.team),
        (C::Assignee, &f.assignee),
        (C::CustomerExternalId, &f.customer_external_id),
        (C::Product, &f.product),
        (C::Category, &f.category),
    ] {
        if let Some(value) = value {
            cond = cond.add(column.eq(value.clone()));
        }
    }
    if let Some(tag) = &f.tag {
        cond = cond.add(
            C::Id.in_subquery(
                Query::select()
                    .column(tag::Column::TicketId)
                    .from(tag::Entity)
                    .and_where(tag::Column::Tag.eq(tag.trim().to_lowercase()))
                    .to_owned(),
            ),
        );
    }
    if let Some(after) = f.created_after {
        cond = cond.add(C::CreatedAt.gte(after));
    }
    if let Some(before) = f.created_before {
        cond = cond.add(C::CreatedAt.lt(before));
    }
    if f.sla_breached {
        cond = cond.add(C::SlaBreached.eq(true));
    }
    if f.sla_at_risk {
        cond = cond.add(C::SlaAtRisk.eq(true));
    }
    if let Some(before) = f.sla_due_before {
        cond = cond.add(C::SlaDueAt.lt(before));
    }
    if let Some(text) = &f.text {
        // Lower-cased as the database's lower() does it: SQLite folds ASCII letters only,
        // PostgreSQL all of Unicode.
        let folded = match backend {
            DbBackend::Sqlite => text.to_ascii_lowercase(),
            _ => text.to_lowercase(),
        };
        let pattern = format!("%{}%", escape_like(&folded));
        let contains = |column: C| {
            Expr::expr(Func::lower(Expr::col(column)))
                .like(LikeExpr::new(pattern.clone()).escape('\\'))
        };
        cond = cond.add(
            Condition::any()
                .add(contains(C::Title))
                .add(contains(C::Description)),
        );
    }
    ticket::Entity::find().filter(cond)
}

fn escape_like(text: &str) -> String {
    text.replace('\\', "\\\\")
        .replace('%', "\\%")
        .replace('_', "\\_")
}

/// Orders by the sort key then id, and starts strictly after the previous page's last row.
fn order_and_seek(
    query: Select<ticket::Entity>,
    order: TicketOrder,
    after: Option<Position>,
) -> Select<ticket::Entity> {
    use sea_orm::Order;
    use ticket::Column as C;
    let direction = if order.descending {
        Order::Desc
    } else {
        Order::Asc
    };
    // Strictly after (key, id) in the chosen direction.
    let beyond = |column: C, key: sea_orm::Value, id: i64| {
        let (key_beyond, id_beyond) = if order.descending {
            (column.lt(key.clone()), C::Id.lt(id))
        } else {
            (column.gt(key.clone()), C::Id.gt(id))
        };
        Condition::any()
            .add(key_beyond)
            .add(Condition::all().add(column.eq(key)).add(id_beyond))
    };
    let query = match order.key {
        SortKey::CreateTime => query,
        SortKey::UpdateTime => query.order_by(C::UpdatedAt, direction.clone()),
        SortKey::Priority => query.order_by(C::PriorityRank, direction.clone()),
    };
    let query = query.order_by(C::Id, direction);
    match after {
        None => query,
        Some(Position::Id(id)) if order.descending => query.filter(C::Id.lt(id)),
        Some(Position::Id(id)) => query.filter(C::Id.gt(id)),
        Some(Position::UpdateTime(time, id)) => query.filter(beyond(C::UpdatedAt, time.into(), id)),
        Some(Position::Priority(rank, id)) => {
            query.filter(beyond(C::PriorityRank, rank.into(), id))
        }
    }
}

/// Where a page that ends with `ticket` stops, for `order`.
pub fn position_of(ticket: &Ticket, order: TicketOrder) -> Position {
    match order.key {
        SortKey::CreateTime => Position::Id(ticket.id),
        SortKey::UpdateTime => Position::UpdateTime(ticket.updated_at, ticket.id),
        SortKey::Priority => Position::Priority(ticket.priority.rank(), ticket.id),
    }
}

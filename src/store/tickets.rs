//! Tickets: reads, the list with its filters and keyset order, the row lock and write of a
//! change, and intake's batch insert with its daily numbering.

use std::collections::HashMap;

use sea_orm::sea_query::{ExprTrait, Func, LikeExpr, Query};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, ConnectionTrait, DbBackend, EntityTrait, QueryFilter,
    QueryOrder, QuerySelect, Select, prelude::Expr,
};

use super::entity::{tag, ticket};
use super::{Store, Write, convert};
use crate::domain::access::Scope;
use crate::domain::query::{Named, Position, SortKey, TicketFilter, TicketOrder};
use crate::domain::ticket::{Status, Ticket};
use crate::error::{Error, Result};

impl Store {
    /// Ticket `id` as last committed: from the ticket cache when it holds it (see
    /// `cache.rs` for how far that may trail another instance's commit), else read.
    pub async fn ticket(&self, id: i64) -> Result<Option<Ticket>> {
        if let Some(held) = self.tickets.get(id) {
            return Ok(Some(held));
        }
        let found = ticket_of(ticket::Entity::find_by_id(id).one(&self.db).await?)?;
        if let Some(ticket) = &found {
            self.tickets.remember(ticket.clone());
        }
        Ok(found)
    }

    /// Keeps what other instances committed, as the event log tells it, for reads.
    pub fn remember_tickets<'a>(&self, tickets: impl IntoIterator<Item = &'a Ticket>) {
        for ticket in tickets {
            self.tickets.remember(ticket.clone());
        }
    }

    /// The event log was read to its end: the tickets kept for reads are current.
    pub fn read_the_log(&self) {
        self.tickets.read_the_log();
    }

    /// The event log could not be read: reads go to the database until it is read again.
    pub fn lost_the_log(&self) {
        self.tickets.lost_the_log();
    }

    /// Whether any ticket, open or long closed, names `named` (an agent as assignee or owner).
    pub async fn named_on_a_ticket(&self, named: Named<'_>) -> Result<bool> {
        use ticket::Column as C;
        let on = match named {
            Named::Ticket(id) => Condition::all().add(C::Id.eq(id)),
            Named::Team(team) => Condition::all().add(C::Team.eq(team)),
            Named::Agent(agent) => Condition::any()
                .add(C::Assignee.eq(agent))
                .add(C::Owner.eq(agent)),
            Named::Product(product) => Condition::all().add(C::Product.eq(product)),
        };
        let found: Option<i64> = ticket::Entity::find()
            .select_only()
            .column(C::Id)
            .filter(on)
            .limit(1)
            .into_tuple()
            .one(&self.db)
            .await?;
        Ok(found.is_some())
    }

    pub async fn ticket_by_number(&self, number: &str) -> Result<Option<Ticket>> {
        let row = ticket::Entity::find()
            .filter(ticket::Column::Number.eq(number))
            .one(&self.db)
            .await?;
        ticket_of(row)
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

    /// How many tickets match `filter`, up to `cap`.
    pub async fn count_tickets(&self, filter: &TicketFilter, cap: u64) -> Result<u64> {
        self.count_up_to(filtered(filter, self.backend()), cap)
            .await
    }

    /// The numbers of the tickets `ids`, by id.
    pub async fn ticket_numbers(
        &self,
        ids: impl IntoIterator<Item = i64>,
    ) -> Result<HashMap<i64, String>> {
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
    pub async fn lock_ticket(&self, write: &Write, id: i64) -> Result<Option<Ticket>> {
        let mut query = ticket::Entity::find_by_id(id);
        if self.backend() == DbBackend::Postgres {
            query = query.lock_exclusive();
        }
        ticket_of(query.one(write.conn()).await?)
    }

    /// Writes a changed ticket's row, and its tags when they changed since `before`.
    pub async fn update_ticket(
        &self,
        write: &Write,
        before: &Ticket,
        after: &Ticket,
    ) -> Result<()> {
        convert::ticket_row(after)?.update(write.conn()).await?;
        write.wrote(after);
        if after.tags != before.tags {
            tag::Entity::delete_many()
                .filter(tag::Column::TicketId.eq(after.id))
                .exec(write.conn())
                .await?;
            self.insert_tags(write, [after]).await?;
        }
        Ok(())
    }

    /// Stores new tickets, numbered, with their tags, and gives each its id. `hashes` are the
    /// fingerprints of the requests that created them.
    pub async fn insert_tickets(
        &self,
        write: &Write,
        tickets: &mut [Ticket],
        hashes: &[Option<String>],
    ) -> Result<()> {
        let rows = tickets
            .iter()
            .zip(hashes)
            .map(|(t, hash)| {
                let mut row = convert::ticket_row(t)?;
                row.request_hash = sea_orm::Set(hash.clone());
                Ok(row)
            })
            .collect::<Result<Vec<_>>>()?;
        let rows = ticket::Entity::insert_many(rows)
            .exec_with_returning(write.conn())
            .await?;
        let ids: HashMap<String, i64> = rows.into_iter().map(|r| (r.number, r.id)).collect();
        for ticket in tickets.iter_mut() {
            ticket.id = *ids
                .get(&ticket.number)
                .ok_or_else(|| Error::Internal(format!("no id returned for {}", ticket.number)))?;
        }
        for ticket in tickets.iter() {
            write.wrote(ticket);
        }
        self.insert_tags(write, tickets.iter()).await
    }

    /// The tickets stored under `request_ids`, with the fingerprints of the requests that
    /// created them.
    pub async fn tickets_by_request_ids(
        &self,
        request_ids: &[&str],
    ) -> Result<HashMap<String, (Ticket, Option<String>)>> {
        if request_ids.is_empty() {
            return Ok(HashMap::new());
        }
        let rows = ticket::Entity::find()
            .filter(ticket::Column::RequestId.is_in(request_ids.iter().copied()))
            .all(&self.db)
            .await?;
        rows.into_iter()
            .map(|row| {
                let hash = row.request_hash.clone();
                let ticket = convert::ticket(row)?;
                Ok((
                    ticket.request_id.clone().unwrap_or_default(),
                    (ticket, hash),
                ))
            })
            .collect()
    }

    /// Takes the next `count` numbers of the local day `day` inside the creating transaction
    /// and returns the last: a rolled-back intake gives its numbers back, so numbers have no
    /// gaps. The day's row stays locked until commit.
    pub async fn advance_sequence(&self, write: &Write, day: &str, count: i64) -> Result<i64> {
        let row = write
            .conn()
            .query_one_raw(self.statement(
                "INSERT INTO ticket_sequences (day, last_value) VALUES ($1, $2) \
                 ON CONFLICT (day) DO UPDATE SET last_value = ticket_sequences.last_value + $2 \
                 RETURNING last_value",
                vec![day.into(), count.into()],
            ))
            .await?
            .ok_or_else(|| Error::Internal("sequence upsert returned no row".into()))?;
        Ok(row.try_get_by_index::<i64>(0)?)
    }

    /// Indexes the tickets' tags for the tag filter.
    async fn insert_tags<'a>(
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
    if f.open {
        let open = Status::ALL
            .iter()
            .filter(|s| s.is_open())
            .map(|s| s.as_str());
        cond = cond.add(C::Status.is_in(names(open.collect())));
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
    if !f.resolutions.is_empty() {
        cond = cond
            .add(C::Resolution.is_in(names(f.resolutions.iter().map(|s| s.as_str()).collect())));
    }
    match f.reopened {
        Some(true) => cond = cond.add(C::ReopenCount.gt(0)),
        Some(false) => cond = cond.add(C::ReopenCount.eq(0)),
        None => {}
    }
    for (column, value) in [
        (C::Team, &f.team),
        (C::Assignee, &f.assignee),
        (C::Owner, &f.owner),
        (C::CustomerExternalId, &f.customer_external_id),
        (C::Product, &f.product),
        (C::Category, &f.category),
        (C::RepeatOf, &f.repeat_of),
    ] {
        if let Some(value) = value {
            cond = cond.add(column.eq(value.clone()));
        }
    }
    match &f.scope {
        Scope::All => {}
        Scope::Teams { teams, agent } => {
            let mut visible = Condition::any().add(C::Team.is_in(teams.clone()));
            if let Some(agent) = agent {
                visible = visible
                    .add(C::Assignee.eq(agent.clone()))
                    .add(C::Owner.eq(agent.clone()));
            }
            cond = cond.add(visible);
        }
        Scope::Customer(id) => cond = cond.add(C::CustomerExternalId.eq(id.clone())),
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

pub(super) fn escape_like(text: &str) -> String {
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

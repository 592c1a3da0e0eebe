//! Intake in batches: concurrent CreateTicket calls share one transaction.
//!
//! Numbering is gap-free and event cursors follow commit order, so intake is serialized
//! anyway; what a batch changes is how often that serialized section runs. Its tickets take
//! one range of numbers, and their rows, tags and events go in with one statement each, so N
//! tickets cost about what one did. A batch that fails for any reason (a request_id committed
//! meanwhile by another instance, say) is retried one ticket at a time, which sorts out who
//! gets what.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter};
use tokio::sync::{mpsc, oneshot};

use super::entity::ticket;
use super::sla::clock_events;
use super::tickets::ticket_of;
use super::{Store, Write, convert};
use crate::domain::event::{EventType, TicketEvent};
use crate::domain::number::{day_key, format_number, numbering_day};
use crate::domain::routing::Route;
use crate::domain::sla;
use crate::domain::ticket::{NewTicket, Ticket};
use crate::error::{Error, Result};

/// Most tickets taken in by one transaction.
const MAX_BATCH: usize = 128;
/// Intakes waiting for the batcher; callers beyond that wait to queue.
const QUEUE: usize = 1024;

/// One caller's intake, and where its answer goes.
pub(crate) struct Job {
    new: NewTicket,
    route: Route,
    now: DateTime<Utc>,
    zone: Tz,
    reply: oneshot::Sender<Result<(Ticket, bool)>>,
}

/// Starts the batcher for `store`; it ends when the returned sender and its clones are gone.
pub(crate) fn start(store: Store) -> mpsc::Sender<Job> {
    let (jobs, queue) = mpsc::channel(QUEUE);
    tokio::spawn(run(store, queue));
    jobs
}

impl Store {
    /// Takes a ticket in as routed: numbers it, stores it and records TICKET_CREATED, together
    /// with whatever other intakes are waiting. Returns the ticket and whether it already
    /// existed under the same request_id.
    pub async fn create_ticket(
        &self,
        new: NewTicket,
        route: Route,
        now: DateTime<Utc>,
        zone: Tz,
    ) -> Result<(Ticket, bool)> {
        let Some(intake) = &self.intake else {
            return self.create_one(new, route, now, zone).await;
        };
        let (reply, answer) = oneshot::channel();
        let stopped = || Error::Unavailable("intake has stopped".into());
        intake
            .send(Job {
                new,
                route,
                now,
                zone,
                reply,
            })
            .await
            .map_err(|_| stopped())?;
        answer.await.map_err(|_| stopped())?
    }
}

impl Store {
    /// Takes one ticket in, in a transaction of its own. Returns the ticket and whether it
    /// already existed under the same request_id. [`Store::create_ticket`] batches
    /// concurrent intakes and falls back to this.
    pub(crate) async fn create_one(
        &self,
        new: NewTicket,
        route: Route,
        now: DateTime<Utc>,
        zone: Tz,
    ) -> Result<(Ticket, bool)> {
        if let Some(existing) = self.find_by_request_id(new.request_id.as_deref()).await? {
            return Ok((existing, true));
        }
        let request_id = new.request_id.clone();
        match insert_batch(self, vec![(new, route, now, zone)]).await {
            Ok(mut tickets) => Ok((tickets.remove(0), false)),
            // A concurrent retry won the race: answer with its ticket.
            Err(error) => match self.find_by_request_id(request_id.as_deref()).await? {
                Some(existing) => Ok((existing, true)),
                None => Err(error),
            },
        }
    }

    async fn find_by_request_id(&self, request_id: Option<&str>) -> Result<Option<Ticket>> {
        let Some(request_id) = request_id else {
            return Ok(None);
        };
        let row = ticket::Entity::find()
            .filter(ticket::Column::RequestId.eq(request_id))
            .one(&self.db)
            .await?;
        ticket_of(row)
    }

    /// Takes the next `count` numbers of the local day `day` inside the creating transaction
    /// and returns the last: a rolled-back intake gives its numbers back, so numbers have no
    /// gaps. The day's row stays locked until commit.
    pub(crate) async fn advance_sequence(
        &self,
        write: &Write,
        day: &str,
        count: i64,
    ) -> Result<i64> {
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
}

/// Takes whatever has queued up as one batch, until nobody can send any more.
async fn run(store: Store, mut queue: mpsc::Receiver<Job>) {
    while let Some(first) = queue.recv().await {
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match queue.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        if batch.len() == 1 {
            let job = batch.pop().expect("one job");
            let _ = job.reply.send(
                store
                    .create_one(job.new, job.route, job.now, job.zone)
                    .await,
            );
        } else {
            take_in(&store, batch).await;
        }
    }
}

/// Answers every job of a batch: replays of known request_ids, then the new tickets from one
/// transaction, or one by one if that fails.
async fn take_in(store: &Store, batch: Vec<Job>) {
    tracing::debug!(tickets = batch.len(), "taking tickets in as one batch");
    let known = match known_request_ids(store, &batch).await {
        Ok(known) => known,
        Err(_) => return one_by_one(store, batch).await,
    };
    // The first job of each new request_id creates the ticket; repeats get that ticket too.
    let mut fresh = Vec::new();
    let mut repeats = Vec::new();
    let mut leaders: HashMap<String, usize> = HashMap::new();
    for job in batch {
        match job.new.request_id.clone() {
            Some(id) if known.contains_key(&id) => {
                let _ = job.reply.send(Ok((known[&id].clone(), true)));
            }
            Some(id) if leaders.contains_key(&id) => repeats.push((leaders[&id], job)),
            Some(id) => {
                leaders.insert(id, fresh.len());
                fresh.push(job);
            }
            None => fresh.push(job),
        }
    }
    let news: Vec<_> = fresh
        .iter()
        .map(|j| (j.new.clone(), j.route.clone(), j.now, j.zone))
        .collect();
    match insert_batch(store, news).await {
        Ok(tickets) => {
            for (leader, job) in repeats {
                let _ = job.reply.send(Ok((tickets[leader].clone(), true)));
            }
            for (job, ticket) in fresh.into_iter().zip(tickets) {
                let _ = job.reply.send(Ok((ticket, false)));
            }
        }
        Err(error) => {
            tracing::debug!(%error, "batched intake failed; taking the tickets one by one");
            let retry = fresh
                .into_iter()
                .chain(repeats.into_iter().map(|(_, job)| job))
                .collect();
            one_by_one(store, retry).await;
        }
    }
}

async fn one_by_one(store: &Store, jobs: Vec<Job>) {
    for job in jobs {
        let _ = job.reply.send(
            store
                .create_one(job.new, job.route, job.now, job.zone)
                .await,
        );
    }
}

/// The tickets already stored under the batch's request_ids.
async fn known_request_ids(store: &Store, batch: &[Job]) -> Result<HashMap<String, Ticket>> {
    let ids: Vec<&str> = batch
        .iter()
        .filter_map(|j| j.new.request_id.as_deref())
        .collect();
    if ids.is_empty() {
        return Ok(HashMap::new());
    }
    let rows = ticket::Entity::find()
        .filter(ticket::Column::RequestId.is_in(ids))
        .all(&store.db)
        .await?;
    rows.into_iter()
        .map(|row| {
            let ticket = convert::ticket(row)?;
            Ok((ticket.request_id.clone().unwrap_or_default(), ticket))
        })
        .collect()
}

/// Stores new tickets in one transaction, in order, numbered consecutively per local day.
async fn insert_batch(
    store: &Store,
    news: Vec<(NewTicket, Route, DateTime<Utc>, Tz)>,
) -> Result<Vec<Ticket>> {
    let write = store.begin().await?;
    let days: Vec<_> = news
        .iter()
        .map(|(_, _, now, zone)| numbering_day(*now, *zone))
        .collect();
    let mut next_number: HashMap<_, i64> = HashMap::new();
    for day in &days {
        *next_number.entry(*day).or_default() += 1;
    }
    for (day, next) in next_number.iter_mut() {
        let count = *next;
        *next = store
            .advance_sequence(&write, &day_key(*day), count)
            .await?
            - count
            + 1;
    }
    let catalog = store.catalog_in(&write).await?;
    let mut tickets: Vec<Ticket> = Vec::with_capacity(news.len());
    let mut actors = Vec::with_capacity(news.len());
    let mut clocks = Vec::with_capacity(news.len());
    for ((new, route, now, _), day) in news.into_iter().zip(days) {
        let sequence = next_number.get_mut(&day).expect("counted above");
        actors.push(new.actor.clone());
        let mut ticket = Ticket::intake(new, route, format_number(day, *sequence), now);
        clocks.push((sla::follow(None, &mut ticket, &catalog, now), now));
        tickets.push(ticket);
        *sequence += 1;
    }
    let rows = ticket::Entity::insert_many(tickets.iter().map(convert::ticket_row))
        .exec_with_returning(write.conn())
        .await?;
    let ids: HashMap<String, i64> = rows.into_iter().map(|r| (r.number, r.id)).collect();
    for ticket in &mut tickets {
        ticket.id = *ids
            .get(&ticket.number)
            .ok_or_else(|| Error::Internal(format!("no id returned for {}", ticket.number)))?;
    }
    store.insert_tags(&write, &tickets).await?;
    let events: Vec<_> = tickets
        .iter()
        .zip(actors)
        .zip(clocks)
        .flat_map(|((t, actor), (changes, now))| {
            std::iter::once(created(t, actor)).chain(clock_events(t, changes, now))
        })
        .collect();
    store.append_events(&write, &events).await?;
    store.commit(write).await?;
    Ok(tickets)
}

/// The event that records a ticket's intake.
fn created(ticket: &Ticket, actor: String) -> TicketEvent {
    TicketEvent {
        // How it was routed.
        reason: ticket.routing_reason.clone(),
        ..TicketEvent::on(ticket, EventType::TicketCreated, &actor, ticket.created_at)
    }
}
